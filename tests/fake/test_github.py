#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Self-test of tests/fake/github.py (run: python3 tests/fake/test_github.py).

Starts the GitHub/Copilot fake as a subprocess on 127.0.0.1 port 0 and
exercises every endpoint, knob and magic phrase with urllib and raw
sockets.  Prints one line per test and a final "N passed, M failed"; exit
status 0 only if everything passed.
"""

import base64
import gzip
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep the source tree clean

from fakelib import start_fake, stop_fake, request, set_script  # noqa: E402

GITHUB = os.path.join(HERE, "github.py")
PORT = None
TESTS = []
CLIENT_ID = "Iv1.b507a08c87ecfe98"
GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


# --------------------------------------------------------------------------
# Helpers

def req(method, path, body=None, headers=None, timeout=10.0):
    return request(PORT, method, path, body=body, headers=headers,
                   timeout=timeout)


def jreq(method, path, body=None, headers=None):
    st, h, b = req(method, path, body, headers)
    if h.get("Content-Encoding") == "gzip":
        b = gzip.decompress(b)
    return st, h, (json.loads(b) if b else None)


def cfg(obj):
    st, _, b = jreq("POST", "/__fake/github/config", obj)
    eq(st, 200, "config status")
    return b["config"]


def state():
    return jreq("GET", "/__fake/github/state")[2]


def reset():
    eq(jreq("POST", "/__fake/github/reset")[0], 200, "reset")
    req("DELETE", "/__fake/requests")


def form_post(path, fields, accept_json=True):
    from urllib.parse import urlencode
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    if accept_json:
        h["Accept"] = "application/json"
    return req("POST", path, urlencode(fields), h)


def device_code(**fields):
    f = {"client_id": CLIENT_ID, "scope": "read:user"}
    f.update(fields)
    st, _, b = form_post("/login/device/code", f)
    eq(st, 200, "device code status")
    return json.loads(b)


def poll(code, client_id=CLIENT_ID, grant=GRANT):
    st, h, b = form_post("/login/oauth/access_token",
                         {"client_id": client_id, "device_code": code,
                          "grant_type": grant})
    eq(st, 200, "poll status (errors are 200)")
    return json.loads(b)


def gh_token(login="alice"):
    tok = "ghu_test_" + login
    cfg({"users": {tok: login}})
    return tok


def cp_token(login="alice"):
    st, _, b = jreq("GET", "/copilot_internal/v2/token",
                    headers={"Authorization": "token " + gh_token(login)})
    eq(st, 200, "token exchange")
    return b["token"]


def cp_headers(tok, **extra):
    h = {"Authorization": "Bearer " + tok,
         "Copilot-Integration-Id": "vscode-chat",
         "Editor-Version": "vscode/1.99.3",
         "Editor-Plugin-Version": "copilot-chat/0.26.7",
         "User-Agent": "GitHubCopilotChat/0.26.7",
         "Openai-Intent": "conversation-panel",
         "X-Github-Api-Version": "2025-04-01",
         "X-Request-Id": "11111111-2222-3333-4444-555555555555",
         "X-Vscode-User-Agent-Library-Version": "electron-fetch",
         "X-Initiator": "user"}
    for k, v in extra.items():
        k = k.replace("_", "-")
        if v is None:
            h = {a: b for a, b in h.items() if a.lower() != k.lower()}
        else:
            h[k] = v
    return h


def user_msg(text):
    return [{"role": "user", "content": text}]


def chat(tok, body, headers=None, path="/cp/chat/completions"):
    return req("POST", path, body, headers or cp_headers(tok))


def parse_sse(data):
    """Return a list of (event name or None, data string)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    out = []
    for block in data.split("\n\n"):
        if not block.strip():
            continue
        ev, lines = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("data: "):
                lines.append(line[6:])
        out.append((ev, "\n".join(lines)))
    return out


def chat_chunks(data):
    evs = parse_sse(data)
    eq(evs[-1][1], "[DONE]", "stream ends with [DONE]")
    return [json.loads(d) for _, d in evs[:-1]]


def rebuild_chat(chunks):
    """Merge a chat stream into {index: {"content", "tool_calls", "finish"}}
    plus the list of usages seen."""
    choices, usages = {}, []
    for c in chunks:
        if c.get("usage"):
            usages.append(c["usage"])
        for ch in c.get("choices", []):
            m = choices.setdefault(ch["index"], {"content": "", "calls": {},
                                                 "finish": None})
            d = ch.get("delta") or {}
            if d.get("content"):
                m["content"] += d["content"]
            for tc in d.get("tool_calls") or []:
                call = m["calls"].setdefault(tc["index"], {
                    "id": None, "name": None, "arguments": "", "heads": 0})
                if "id" in tc:
                    call["id"] = tc["id"]
                    call["heads"] += 1
                fn = tc.get("function") or {}
                if "name" in fn:
                    call["name"] = fn["name"]
                call["arguments"] += fn.get("arguments", "")
            if ch.get("finish_reason"):
                m["finish"] = ch["finish_reason"]
    return choices, usages


class Raw:
    """Minimal raw HTTP/1.1 client for timing and framing checks."""

    def __init__(self, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", PORT),
                                          timeout=timeout)
        self.buf = b""

    def send_json(self, path, obj, headers):
        body = json.dumps(obj).encode()
        head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path, PORT)
        for k, v in headers.items():
            head += "%s: %s\r\n" % (k, v)
        head += ("Content-Type: application/json\r\nContent-Length: %d\r\n"
                 "\r\n" % len(body))
        self.s.sendall(head.encode() + body)

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError()
        self.buf += d
        return d

    def read_until(self, marker):
        while marker not in self.buf:
            self.fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        lines = self.read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        h = {}
        for line in lines[1:]:
            if ": " in line:
                k, v = line.split(": ", 1)
                h[k.lower()] = v
        return status, h

    def chunk(self):
        """One chunk payload (b"" at the terminator)."""
        size = int(self.read_until(b"\r\n")[:-2], 16)
        if size == 0:
            self.read_exact(2)
            return b""
        data = self.read_exact(size)
        eq(self.read_exact(2), b"\r\n", "chunk CRLF")
        return data

    def chunks(self):
        out = []
        while True:
            c = self.chunk()
            if not c:
                return out
            out.append(c)

    def quiet_for(self, seconds):
        """True if nothing arrives (and no EOF) within seconds."""
        self.s.settimeout(seconds)
        try:
            d = self.s.recv(65536)
            self.buf += d
            return False
        except socket.timeout:
            return True
        finally:
            self.s.settimeout(5.0)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def last_conn_closed_by_client(timeout=3.0):
    reqs = jreq("GET", "/__fake/requests")[2]
    cid = reqs[-1]["conn_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in jreq("GET", "/__fake/connections")[2]:
            if c["conn_id"] == cid and c["closed_by"] == "client":
                return True
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------------
# Device flow

@test
def device_flow_pending_slowdown_success():
    reset()
    cfg({"device": {"interval": 1, "pending_polls": 1,
                    "slow_down_polls": [2], "slow_down_interval": 1}})
    d = device_code()
    check(re.match(r"^[A-Z]{4}-[0-9]{4}$", d["user_code"]), d["user_code"])
    eq(d["verification_uri"], "http://127.0.0.1:%d/login/device" % PORT,
       "verification_uri")
    eq(d["interval"], 1, "interval")
    eq(d["expires_in"], 900, "expires_in")
    eq(req("GET", "/login/device")[0], 200, "device page")
    eq(poll(d["device_code"])["error"], "authorization_pending", "poll 1")
    time.sleep(1.02)
    a = poll(d["device_code"])
    eq(a["error"], "slow_down", "poll 2")
    eq(a["interval"], 1, "new interval given with slow_down")
    check("error_description" in a and "error_uri" in a, "error fields")
    time.sleep(1.02)
    a = poll(d["device_code"])
    check(a.get("access_token", "").startswith("ghu_"), a)
    eq(a["token_type"], "bearer", "token_type")
    eq(a["scope"], "read:user", "scope")
    eq(poll(d["device_code"])["error"], "incorrect_device_code",
       "code is consumed")
    st = state()
    polls = [p for p in st["device_polls"]
             if p["device_code"] == d["device_code"]]
    eq([p["answer"] for p in polls], ["authorization_pending", "slow_down",
                                      "success", "incorrect_device_code"],
       "poll log")
    check(polls[1]["since_prev"] >= 1.0, "poll times recorded")
    eq(st["gh_tokens"][a["access_token"]], "octocat", "issued token login")
    s, _, u = jreq("GET", "/user",
                   headers={"Authorization": "token " + a["access_token"]})
    eq((s, u["login"]), (200, "octocat"), "/user with device token")


@test
def device_flow_too_fast_and_plus_five():
    reset()
    cfg({"device": {"interval": 1, "pending_polls": 10}})
    d = device_code()
    eq(poll(d["device_code"])["error"], "authorization_pending", "poll 1")
    a = poll(d["device_code"])          # immediately: too fast
    eq(a["error"], "slow_down", "too fast -> slow_down")
    check("interval" not in a, "no interval unless configured")
    ent = [e for e in state()["device_codes"]
           if e["device_code"] == d["device_code"]][0]
    eq(ent["interval"], 6, "interval += 5")
    time.sleep(1.05)                    # still sooner than 6 s
    eq(poll(d["device_code"])["error"], "slow_down", "enforced new interval")
    cfg({"device": {"slow_down_include_interval": True}})
    d = device_code()
    poll(d["device_code"])
    a = poll(d["device_code"])
    eq((a["error"], a["interval"]), ("slow_down", 6), "interval included")
    # Tolerance: a poll slightly early is still accepted.
    cfg({"device": {"interval": 0.3, "poll_tolerance_ms": 100,
                    "slow_down_include_interval": False}})
    d = device_code()
    poll(d["device_code"])
    time.sleep(0.22)
    eq(poll(d["device_code"])["error"], "authorization_pending",
       "within tolerance")


@test
def device_flow_outcomes():
    reset()
    cfg({"device": {"interval": 0.1, "outcome": "expired"}})
    d = device_code()
    eq(poll(d["device_code"])["error"], "expired_token", "expired outcome")
    cfg({"device": {"outcome": "denied"}})
    d = device_code()
    eq(poll(d["device_code"])["error"], "access_denied", "denied outcome")
    time.sleep(0.15)
    eq(poll(d["device_code"])["error"], "access_denied", "stays denied")
    cfg({"device": {"outcome": "success", "expires_in": 0.4,
                    "pending_polls": 100}})
    d = device_code()
    eq(poll(d["device_code"])["error"], "authorization_pending", "pending")
    time.sleep(0.5)
    eq(poll(d["device_code"])["error"], "expired_token", "expires_in passed")
    # Pending until approved / denied by a control call.
    cfg({"device": {"outcome": "pending", "expires_in": 900,
                    "user_code": "WXYZ-0001", "login": "bob"}})
    d = device_code()
    eq(d["user_code"], "WXYZ-0001", "fixed user code")
    eq(poll(d["device_code"])["error"], "authorization_pending", "pending")
    eq(jreq("POST", "/__fake/github/approve",
            {"user_code": "WXYZ-0001"})[0], 200, "approve")
    time.sleep(0.15)
    a = poll(d["device_code"])
    eq(state()["gh_tokens"][a["access_token"]], "bob", "approved login")
    d = device_code()
    jreq("POST", "/__fake/github/deny", {})
    eq(poll(d["device_code"])["error"], "access_denied", "deny control")
    # Errors of the request itself.
    eq(poll("nope")["error"], "incorrect_device_code", "unknown code")
    eq(poll(d["device_code"], grant="password")["error"],
       "unsupported_grant_type", "grant type")
    d = device_code()
    eq(poll(d["device_code"], client_id="other")["error"],
       "incorrect_client_credentials", "client id mismatch")
    cfg({"client_id": CLIENT_ID})
    st, _, b = form_post("/login/device/code", {"client_id": "Iv1.wrong"})
    eq(json.loads(b)["error"], "incorrect_client_credentials",
       "client_id knob")
    # JSON request body works too; without Accept json: form answer.
    st, h, b = req("POST", "/login/device/code",
                   {"client_id": CLIENT_ID, "scope": "read:user"},
                   {"Accept": "application/json"})
    check("device_code" in json.loads(b), "JSON body")
    st, h, b = form_post("/login/device/code", {"client_id": CLIENT_ID},
                         accept_json=False)
    check(h["Content-Type"].startswith("application/x-www-form-urlencoded"),
          h["Content-Type"])
    check(b.startswith(b"device_code="), b)
    eq(req("GET", "/login/oauth/access_token")[0], 404, "GET not allowed")


# --------------------------------------------------------------------------
# api.github.com

@test
def user_endpoint():
    reset()
    tok = gh_token("carol")
    s, h, u = jreq("GET", "/user", headers={"Authorization": "token " + tok})
    eq(s, 200, "status")
    eq(u["login"], "carol", "login")
    check(isinstance(u["id"], int), "id")
    s, _, u = jreq("GET", "/user", headers={"Authorization": "Bearer " + tok})
    eq(s, 200, "Bearer accepted")
    s, _, u = jreq("GET", "/user", headers={"Authorization": "token nope"})
    eq((s, u["message"]), (401, "Bad credentials"), "unknown token")
    eq(jreq("GET", "/user")[0], 401, "no token")
    eq(state()["user_calls"], 4, "user_calls")


@test
def token_exchange():
    reset()
    cfg({"token_ttl": 600})
    tok = gh_token("dave")
    t0 = time.time()
    s, h, b = jreq("GET", "/copilot_internal/v2/token",
                   headers={"Authorization": "token " + tok})
    eq(s, 200, "status")
    check(re.match(r"^tid=[0-9a-f]+;exp=\d+;sku=[a-z_]+;", b["token"]),
          b["token"])
    check(abs(b["expires_at"] - (t0 + 600)) <= 2, "expires_at")
    eq(b["refresh_in"], 540, "refresh_in = ttl - 60")
    eq(b["endpoints"]["api"], "http://127.0.0.1:%d/cp" % PORT, "api base")
    check("proxy" in b["endpoints"] and "telemetry" in b["endpoints"],
          "endpoints")
    eq(b["sku"], "monthly_subscriber_quota", "sku")
    # Classic PAT.
    s, _, b = jreq("GET", "/copilot_internal/v2/token",
                   headers={"Authorization": "token ghp_" + "a" * 36})
    eq(s, 403, "ghp_ status")
    check("personal access token" in b["message"].lower(), b["message"])
    # Unknown token.
    s, _, b = jreq("GET", "/copilot_internal/v2/token",
                   headers={"Authorization": "token ghu_unknown"})
    eq((s, b["message"]), (401, "Bad credentials"), "unknown token")
    # No Copilot seat: 403 then 404 variant.
    cfg({"no_copilot_logins": ["dave"]})
    s, _, b = jreq("GET", "/copilot_internal/v2/token",
                   headers={"Authorization": "token " + tok})
    eq(s, 403, "no copilot")
    check("copilot" in b["message"].lower(), b["message"])
    cfg({"no_copilot_status": 404})
    s, _, b = jreq("GET", "/copilot_internal/v2/token",
                   headers={"Authorization": "token " + tok})
    eq(s, 404, "no copilot 404")
    cfg({"no_copilot_logins": [], "token_failures": 2,
         "token_latency_ms": 250, "refresh_in": 30, "base_url":
         "http://gh.example"})
    codes = []
    t0 = time.monotonic()
    for _ in range(3):
        s, _, b = jreq("GET", "/copilot_internal/v2/token",
                       headers={"Authorization": "token " + tok})
        codes.append(s)
    check(time.monotonic() - t0 >= 0.7, "token latency")
    eq(codes, [500, 500, 200], "token failures")
    eq(b["refresh_in"], 30, "refresh_in knob")
    eq(b["endpoints"]["api"], "http://gh.example/cp", "base_url knob")
    cfg({"copilot_api_base": "http://other/x"})
    b = jreq("GET", "/copilot_internal/v2/token",
             headers={"Authorization": "token " + tok})[2]
    eq(b["endpoints"]["api"], "http://other/x", "copilot_api_base knob")
    st = state()
    eq(st["token_exchanges"], 9, "token_exchanges")
    eq(st["token_exchanges_ok"], 3, "token_exchanges_ok")
    eq(len(st["copilot_tokens"]), 3, "copilot tokens listed")
    check(all(t["login"] == "dave" for t in st["copilot_tokens"]), "login")


@test
def copilot_user_plan_and_quota():
    reset()
    tok = gh_token("erin")
    s, _, b = jreq("GET", "/copilot_internal/user",
                   headers={"Authorization": "token " + tok})
    eq(s, 200, "status")
    eq(b["copilot_plan"], "individual", "plan")
    check(re.match(r"^\d{4}-\d{2}-01$", b["quota_reset_date"]), "reset date")
    for name in ("premium_interactions", "chat", "completions"):
        q = b["quota_snapshots"][name]
        for k in ("entitlement", "remaining", "percent_remaining",
                  "unlimited", "overage_count", "overage_permitted"):
            check(k in q, "%s.%s" % (name, k))
    pi = b["quota_snapshots"]["premium_interactions"]
    eq((pi["entitlement"], pi["remaining"]), (300, 300), "premium")
    # A user-initiated call on a premium model is charged, agent is not.
    cp = cp_token("erin")
    for init in ("user", "agent", "user"):
        s, _, _ = chat(cp, {"model": "claude-sonnet-4.5",
                            "messages": user_msg("hi")},
                       cp_headers(cp, X_Initiator=init))
        eq(s, 200, "chat")
    chat(cp, {"model": "gpt-4o", "messages": user_msg("free")})
    b = jreq("GET", "/copilot_internal/user",
             headers={"Authorization": "token " + tok})[2]
    eq(b["quota_snapshots"]["premium_interactions"]["remaining"], 298,
       "premium used by user-initiated calls only")
    eq(state()["initiators"], {"user": 3, "agent": 1}, "initiators")
    cfg({"plans": {"erin": "business"}, "quota_reset_date": "2030-01-01",
         "quota": {"chat": {"unlimited": False, "remaining": 7}}})
    b = jreq("GET", "/copilot_internal/user",
             headers={"Authorization": "token " + tok})[2]
    eq(b["copilot_plan"], "business", "plans knob")
    eq(b["quota_reset_date"], "2030-01-01", "reset knob")
    eq(b["quota_snapshots"]["chat"]["remaining"], 7, "quota override")
    eq(jreq("GET", "/copilot_internal/user",
            headers={"Authorization": "token x"})[0], 401, "unknown")


# --------------------------------------------------------------------------
# Copilot API: auth, headers, models

@test
def copilot_auth_and_expiry():
    reset()
    tok = cp_token()
    body = {"model": "gpt-4o", "messages": user_msg("hello")}
    eq(chat(tok, body)[0], 200, "valid token")
    s, h, b = chat(tok, body, cp_headers("tid=bogus"))
    eq((s, b), (401, b"unauthorized: token expired"), "unknown token")
    check(h["Content-Type"].startswith("text/plain"), "plain text 401")
    s, _, b = chat(tok, body, cp_headers(tok, Authorization=None))
    eq(s, 401, "no token")
    # The Copilot API is only under /cp.
    eq(chat(tok, body, path="/chat/completions")[0], 404, "no /cp prefix")
    s, _, b = jreq("POST", "/cp/chat/completions", body,
                   cp_headers(tok, Copilot_Integration_Id=None))
    eq(s, 400, "no integration id")
    check("integrat" in b["error"]["message"], b)
    # Revocation by control call.
    eq(jreq("POST", "/__fake/github/expire")[2]["revoked"], 1, "revoked")
    s, _, b = chat(tok, body)
    eq((s, b), (401, b"unauthorized: token expired"), "revoked -> 401")
    tok2 = cp_token()
    eq(chat(tok2, body)[0], 200, "new token works")
    # Expiry by the clock.
    cfg({"token_ttl": 1})
    tok3 = cp_token()
    exp = [t for t in state()["copilot_tokens"] if t["token"] == tok3][0]
    eq(chat(tok3, body)[0] if time.time() < exp["expires_at"] - 0.1
       else 200, 200, "fresh token")
    time.sleep(max(0.0, exp["expires_at"] - time.time()) + 0.05)
    eq(chat(tok3, body)[0], 401, "expired by clock")
    st = state()
    check(st["unauthorized_calls"] >= 4, "unauthorized_calls")
    check(not [t for t in st["copilot_tokens"]
               if t["token"] == tok3][0]["valid"], "valid flag")


@test
def headers_recorded():
    reset()
    tok = cp_token()
    req("DELETE", "/__fake/requests")
    chat(tok, {"model": "gpt-4o", "messages": user_msg("rec")},
         cp_headers(tok, Copilot_Vision_Request=None))
    jreq("GET", "/__fake/github/state")        # control: not recorded
    reqs = jreq("GET", "/__fake/requests")[2]
    eq(len(reqs), 1, "one recorded request")
    r = reqs[0]
    eq(r["path"], "/cp/chat/completions", "path")
    for k in ("editor-version", "editor-plugin-version", "user-agent",
              "openai-intent", "x-github-api-version", "x-request-id",
              "x-vscode-user-agent-library-version", "x-initiator",
              "copilot-integration-id", "authorization"):
        check(k in r["headers"], "header %s recorded" % k)
    eq(json.loads(r["body"])["messages"][0]["content"], "rec", "body")
    log = state()["api_log"][-1]
    eq((log["path"], log["model"], log["initiator"], log["status"]),
       ("/cp/chat/completions", "gpt-4o", "user", 200), "api_log")


@test
def models_endpoint():
    reset()
    tok = cp_token()
    s, h, b = jreq("GET", "/cp/models",
                   headers=cp_headers(tok, Accept_Encoding="gzip"))
    eq(s, 200, "status")
    eq(h.get("Content-Encoding"), "gzip", "gzip")
    by = {m["id"]: m for m in b["data"]}
    for mid in ("gpt-4o", "gpt-4.1", "o1", "gpt-5.1-codex",
                "claude-sonnet-4.5", "claude-haiku-4.5", "claude-opus-4.1",
                "text-embedding-3-small"):
        check(mid in by, "model %s" % mid)
        m = by[mid]
        for k in ("id", "name", "vendor", "version", "preview",
                  "model_picker_enabled", "policy", "supported_endpoints",
                  "capabilities"):
            check(k in m, "%s.%s" % (mid, k))
        c = m["capabilities"]
        for k in ("family", "type", "tokenizer", "limits", "supports"):
            check(k in c, "%s.capabilities.%s" % (mid, k))
        check("state" in m["policy"] and "terms" in m["policy"], "policy")
    g = by["gpt-4o"]["capabilities"]
    for k in ("max_context_window_tokens", "max_output_tokens",
              "max_prompt_tokens", "vision"):
        check(k in g["limits"], "gpt-4o limits.%s" % k)
    for k in ("tool_calls", "parallel_tool_calls", "streaming", "vision",
              "structured_outputs"):
        check(k in g["supports"], "gpt-4o supports.%s" % k)
    eq(g["supports"]["vision"], True, "gpt-4o vision")
    eq(by["o1"]["capabilities"]["supports"]["streaming"], False, "o1")
    eq(by["gpt-5.1-codex"]["supported_endpoints"], ["/responses"], "codex")
    eq(by["claude-sonnet-4.5"]["vendor"], "Anthropic", "vendor")
    eq(by["claude-haiku-4.5"]["supported_endpoints"],
       ["/chat/completions", "/v1/messages"], "claude endpoints")
    eq(by["text-embedding-3-small"]["capabilities"]["type"], "embeddings",
       "embeddings type")
    cfg({"model_policy": {"gpt-4.1": "disabled"},
         "models_remove": ["claude-opus-4.1"],
         "models_extra": [{"id": "my-model", "name": "Mine",
                           "capabilities": {"type": "chat",
                                            "family": "mine",
                                            "limits": {},
                                            "supports": {}}}]})
    b = jreq("GET", "/cp/models", headers=cp_headers(tok))[2]
    by = {m["id"]: m for m in b["data"]}
    eq(by["gpt-4.1"]["policy"]["state"], "disabled", "policy knob")
    check("claude-opus-4.1" not in by and "my-model" in by, "remove/extra")
    s, _, e = jreq("POST", "/cp/chat/completions",
                   {"model": "gpt-4.1", "messages": user_msg("x")},
                   cp_headers(tok))
    eq((s, e["error"]["code"]), (400, "model_not_supported"), "disabled")
    s, _, e = jreq("POST", "/cp/chat/completions",
                   {"model": "claude-opus-4.1", "messages": user_msg("x")},
                   cp_headers(tok))
    eq(s, 400, "removed model")
    eq(state()["models_calls"], 2, "models_calls")


# --------------------------------------------------------------------------
# Chat completions

@test
def chat_non_stream_gzip():
    reset()
    tok = cp_token()
    msgs = [{"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello world"}]
    s, h, raw = chat(tok, {"model": "gpt-4o", "messages": msgs},
                     cp_headers(tok, Accept_Encoding="gzip, deflate"))
    eq((s, h["Content-Encoding"]), (200, "gzip"), "gzip answer")
    b = json.loads(gzip.decompress(raw))
    eq(b["object"], "chat.completion", "object")
    eq(b["model"], "gpt-4o-2024-11-20", "versioned model name")
    eq(b["choices"][0]["message"]["content"], "echo: hello world", "text")
    eq(b["choices"][0]["finish_reason"], "stop", "finish")
    p = len("be brief") + len("hello world")
    eq(b["usage"]["prompt_tokens"], p // 4 + 1, "prompt tokens")
    eq(b["usage"]["completion_tokens"], len("echo: hello world") // 4 + 1,
       "completion tokens")
    eq(b["usage"]["total_tokens"], b["usage"]["prompt_tokens"]
       + b["usage"]["completion_tokens"], "total")
    check("prompt_filter_results" in b, "prompt_filter_results")
    eq(h["x-request-id"], "11111111-2222-3333-4444-555555555555",
       "x-request-id echoed")
    s, h, raw = chat(tok, {"model": "gpt-4o", "messages": msgs})
    check("Content-Encoding" not in h, "no gzip unless asked")
    cfg({"gzip": False, "response_model": "id"})
    s, h, raw = chat(tok, {"model": "gpt-4o", "messages": msgs},
                     cp_headers(tok, Accept_Encoding="gzip"))
    check("Content-Encoding" not in h, "gzip knob off")
    eq(json.loads(raw)["model"], "gpt-4o", "response_model id")
    # Array content with an image part.
    img = [{"type": "text", "text": "look"},
           {"type": "image_url", "image_url": {"url": "data:image/png;"
                                               "base64,AAAA"}}]
    s, _, b = jreq("POST", "/cp/chat/completions",
                   {"model": "gpt-4o", "messages": user_msg(img)},
                   cp_headers(tok, Copilot_Vision_Request="true"))
    eq(b["choices"][0]["message"]["content"], "echo: look [images: 1]",
       "image echo")
    eq(state()["api_log"][-1]["images"], 1, "images counted")
    s, _, b = jreq("POST", "/cp/chat/completions",
                   {"model": "gpt-4o", "messages": user_msg(img)},
                   cp_headers(tok))
    eq(s, 400, "image without vision header")
    check("Vision" in b["error"]["message"], b)
    s, h, b = jreq("POST", "/cp/chat/completions",
                   {"model": "gpt-4o", "messages": user_msg("no image")},
                   cp_headers(tok, Copilot_Vision_Request="true"))
    eq(s, 429, "vision header without image")
    cfg({"vision_header_misuse_status": 0})
    s, h, b = jreq("POST", "/cp/chat/completions",
                   {"model": "gpt-4o", "messages": user_msg("no image")},
                   cp_headers(tok, Copilot_Vision_Request="true"))
    eq(s, 200, "misuse check off")
    s, _, b = jreq("POST", "/cp/chat/completions",
                   {"model": "o1", "messages": user_msg(img)},
                   cp_headers(tok, Copilot_Vision_Request="true"))
    eq(s, 400, "o1 has no vision")


@test
def chat_tools_non_stream():
    reset()
    tok = cp_token()
    tools = [{"type": "function", "function": {"name": "get_weather",
                                               "parameters": {}}}]
    b = jreq("POST", "/cp/chat/completions",
             {"model": "gpt-4o", "messages": user_msg("Paris?"),
              "tools": tools}, cp_headers(tok))[2]
    c = b["choices"][0]
    eq(c["finish_reason"], "tool_calls", "finish")
    tc = c["message"]["tool_calls"][0]
    eq(tc["function"]["name"], "get_weather", "name")
    eq(json.loads(tc["function"]["arguments"]), {"echo": "Paris?"}, "args")
    check(tc["id"].startswith("call_"), tc["id"])
    msgs = user_msg("Paris?") + [
        {"role": "assistant", "content": None, "tool_calls": [tc]},
        {"role": "tool", "tool_call_id": tc["id"], "content": "sunny"}]
    b = jreq("POST", "/cp/chat/completions",
             {"model": "gpt-4o", "messages": msgs, "tools": tools},
             cp_headers(tok, X_Initiator="agent"))[2]
    eq(b["choices"][0]["message"]["content"], "tool said: sunny", "tool")
    b = jreq("POST", "/cp/chat/completions",
             {"model": "gpt-4o", "messages": user_msg("x"), "tools": tools,
              "tool_choice": "none"}, cp_headers(tok))[2]
    eq(b["choices"][0]["message"]["content"], "echo: x", "tool_choice none")
    b = jreq("POST", "/cp/chat/completions",
             {"model": "claude-sonnet-4.5", "messages": user_msg("x"),
              "tools": tools}, cp_headers(tok))[2]
    check(b["choices"][0]["message"]["tool_calls"][0]["id"].startswith(
        "toolu_"), "claude tool ids")


@test
def chat_stream_text_and_usage():
    reset()
    tok = cp_token()
    body = {"model": "gpt-4o", "stream": True,
            "stream_options": {"include_usage": True},
            "messages": user_msg("stream me please")}
    s, h, raw = chat(tok, body)
    eq(s, 200, "status")
    check(h["Content-Type"].startswith("text/event-stream"), "sse type")
    chunks = chat_chunks(raw)
    eq(chunks[0]["choices"], [], "first chunk has no choices")
    check("prompt_filter_results" in chunks[0], "prompt filter results")
    check(any("object" not in c for c in chunks), "some chunks lack object")
    eq(chunks[1]["choices"][0]["delta"]["role"], "assistant", "role chunk")
    choices, usages = rebuild_chat(chunks)
    eq(choices[0]["content"], "echo: stream me please", "rebuilt text")
    eq(choices[0]["finish"], "stop", "finish")
    texts = [c["choices"][0]["delta"].get("content") for c in chunks[2:-2]]
    check(len(texts) >= 5 and all(len(t) <= 4 for t in texts), texts)
    fin = chunks[-2]
    eq(fin["choices"][0]["finish_reason"], "stop", "finish chunk")
    check("usage" in fin, "usage on finish chunk")
    eq(chunks[-1]["choices"], [], "include_usage chunk")
    eq(chunks[-1]["usage"], fin["usage"], "same usage")
    eq(fin["usage"]["prompt_tokens"], len("stream me please") // 4 + 1,
       "prompt tokens")
    # Without include_usage: no extra chunk; knob usage_on_finish off.
    body.pop("stream_options")
    chunks = chat_chunks(chat(tok, body)[2])
    check(chunks[-1]["choices"] and "usage" in chunks[-1], "usage on finish")
    cfg({"usage_on_finish": False})
    chunks = chat_chunks(chat(tok, body)[2])
    check(not any("usage" in c for c in chunks), "no usage at all")
    body["stream_options"] = {"include_usage": True}
    chunks = chat_chunks(chat(tok, body)[2])
    eq([i for i, c in enumerate(chunks) if "usage" in c], [len(chunks) - 1],
       "usage only in the final chunk")


@test
def chat_stream_tool_calls():
    reset()
    tok = cp_token()
    tools = [{"type": "function", "function": {"name": "f"}},
             {"type": "function", "function": {"name": "g"}}]
    raw = chat(tok, {"model": "gpt-4o", "stream": True, "tools": tools,
                     "messages": user_msg("call it")})[2]
    chunks = chat_chunks(raw)
    choices, usages = rebuild_chat(chunks)
    call = choices[0]["calls"][0]
    eq((call["name"], call["heads"]), ("f", 1), "id/name once")
    eq(json.loads(call["arguments"]), {"echo": "call it"}, "arguments")
    eq(choices[0]["finish"], "tool_calls", "finish")
    frags = [c for c in chunks if c.get("choices") and
             (c["choices"][0].get("delta") or {}).get("tool_calls")]
    check(len(frags) >= 4, "several fragments")
    check(all("id" not in c["choices"][0]["delta"]["tool_calls"][0]
              for c in frags[1:]), "id only in the first delta")
    eq(len(usages), 1, "usage once")
    # INTERLEAVE: two calls whose fragments interleave.
    chunks = chat_chunks(chat(tok, {"model": "gpt-4o", "stream": True,
                                    "tools": tools,
                                    "messages": user_msg("INTERLEAVE")})[2])
    order = [c["choices"][0]["delta"]["tool_calls"][0]["index"]
             for c in chunks if c.get("choices")
             and (c["choices"][0].get("delta") or {}).get("tool_calls")]
    check(order[:4] == [0, 0, 1, 1] and 0 in order[4:] and 1 in order[4:]
          and order != sorted(order), "interleaved: %r" % order)
    choices, _ = rebuild_chat(chunks)
    calls = choices[0]["calls"]
    eq((calls[0]["name"], calls[1]["name"]), ("f", "g"), "names")
    eq(json.loads(calls[0]["arguments"]), {"n": 0, "echo": "INTERLEAVE"},
       "call 0")
    eq(json.loads(calls[1]["arguments"]), {"n": 1, "echo": "INTERLEAVE"},
       "call 1")
    # TWO_CHOICES: text in choices[0], tool call in choices[1].
    chunks = chat_chunks(chat(tok, {"model": "claude-sonnet-4.5",
                                    "stream": True, "tools": tools,
                                    "messages": user_msg("TWO_CHOICES")})[2])
    choices, _ = rebuild_chat(chunks)
    eq(choices[0]["content"], "echo: TWO_CHOICES", "choice 0 text")
    eq(choices[1]["calls"][0]["name"], "f", "choice 1 tool call")
    b = jreq("POST", "/cp/chat/completions",
             {"model": "claude-sonnet-4.5", "tools": tools,
              "messages": user_msg("TWO_CHOICES")}, cp_headers(tok))[2]
    eq(len(b["choices"]), 2, "two choices non-stream")
    eq(b["choices"][1]["index"], 1, "second index")
    check(b["choices"][1]["message"]["tool_calls"], "tool call in [1]")


@test
def chat_limits_and_model_errors():
    reset()
    tok = cp_token()
    b = jreq("POST", "/cp/chat/completions",
             {"model": "gpt-4o", "max_tokens": 1,
              "messages": user_msg("a long enough question")},
             cp_headers(tok))[2]
    eq((b["choices"][0]["message"]["content"],
        b["choices"][0]["finish_reason"], b["usage"]["completion_tokens"]),
       ("echo", "length", 1), "truncated")
    chunks = chat_chunks(chat(tok, {"model": "gpt-4o", "max_tokens": 2,
                                    "stream": True,
                                    "messages": user_msg("long question")})
                         [2])
    choices, _ = rebuild_chat(chunks)
    eq((choices[0]["content"], choices[0]["finish"]),
       ("echo: lo", "length"), "truncated stream")
    s, _, e = jreq("POST", "/cp/chat/completions",
                   {"model": "o1", "stream": True,
                    "messages": user_msg("x")}, cp_headers(tok))
    eq((s, e["error"]["code"]), (400, "unsupported_value"), "o1 stream")
    s, _, e = jreq("POST", "/cp/chat/completions",
                   {"model": "o1", "max_tokens": 10,
                    "messages": user_msg("x")}, cp_headers(tok))
    eq((s, e["error"]["code"]), (400, "unsupported_parameter"), "o1 max")
    s, _, e = jreq("POST", "/cp/chat/completions",
                   {"model": "o1", "max_completion_tokens": 100,
                    "messages": user_msg("x")}, cp_headers(tok))
    eq(s, 200, "o1 non-stream")
    s, _, e = jreq("POST", "/cp/chat/completions",
                   {"model": "gpt-5.1-codex", "messages": user_msg("x")},
                   cp_headers(tok))
    eq(s, 400, "codex on chat")
    eq(e["error"], {"message": "model gpt-5.1-codex is not accessible via "
                    "the /chat/completions endpoint",
                    "code": "unsupported_api_for_model",
                    "type": "invalid_request_error", "param": None},
       "codex error")
    s, _, e = jreq("POST", "/cp/chat/completions",
                   {"model": "gpt-3.5-nope", "messages": user_msg("x")},
                   cp_headers(tok))
    eq((s, e["error"]["code"]), (400, "model_not_supported"), "unknown")
    s, _, e = jreq("POST", "/cp/chat/completions",
                   {"model": "gpt-4o", "messages": user_msg("y" * 260000)},
                   cp_headers(tok))
    eq((s, e["error"]["code"]), (400, "model_max_prompt_tokens_exceeded"),
       "real prompt limit")
    s, _, e = req("POST", "/cp/chat/completions", "{not json",
                  cp_headers(tok))
    eq(s, 400, "bad json")
    s, _, e = jreq("POST", "/cp/chat/completions", {"model": "gpt-4o"},
                   cp_headers(tok))
    eq(s, 400, "no messages")


@test
def magic_errors_and_scripted_failures():
    reset()
    tok = cp_token()

    def call(text):
        return chat(tok, {"model": "gpt-4o", "messages": user_msg(text),
                          "stream": True})
    s, h, b = call("please FAIL_400 now")
    eq((s, json.loads(b)["error"]["code"]),
       (400, "model_max_prompt_tokens_exceeded"), "FAIL_400")
    s, h, b = call("FAIL_429")
    eq((s, h["Retry-After"]), (429, "2"), "FAIL_429")
    check(json.loads(b)["error"]["message"], "429 json")
    s, h, b = call("FAIL_500")
    eq((s, "error" in json.loads(b)), (500, True), "FAIL_500")
    s, h, b = call("FAIL_401")
    eq((s, b), (401, b"unauthorized: token expired"), "FAIL_401")
    s, h, b = call("FAIL_408")
    eq((s, json.loads(b)["error"]["code"]), (408, "user_request_timeout"),
       "FAIL_408")
    cfg({"api_fail_next": [{"status": 429, "retry_after": 1},
                           {"status": 401},
                           {"status": 503, "body": "upstream down"}]})
    s, h, b = call("x")
    eq((s, h["Retry-After"]), (429, "1"), "scripted 429")
    eq(call("x")[:3:2], (401, b"unauthorized: token expired"),
       "scripted 401")
    eq(call("x")[:3:2], (503, b"upstream down"), "scripted body")
    eq(call("x")[0], 200, "then success")


@test
def stream_stall_and_close_early():
    reset()
    tok = cp_token()
    r = Raw()
    try:
        r.send_json("/cp/chat/completions",
                    {"model": "gpt-4o", "stream": True,
                     "messages": user_msg("STALL here")}, cp_headers(tok))
        status, h = r.head()
        eq((status, h.get("transfer-encoding")), (200, "chunked"), "head")
        got = b""
        while b"echo" not in got:
            got += r.chunk()
        evs = parse_sse(got)
        eq(len(evs), 3, "filter + role + first delta before the stall")
        check(r.quiet_for(0.5), "stalled")
    finally:
        r.close()
    check(last_conn_closed_by_client(), "client close ends the stall")
    # Non-stream STALL: no headers at all.
    r = Raw()
    try:
        r.send_json("/cp/chat/completions",
                    {"model": "gpt-4o", "messages": user_msg("STALL")},
                    cp_headers(tok))
        check(r.quiet_for(0.4) and r.buf == b"", "stall before headers")
    finally:
        r.close()
    check(last_conn_closed_by_client(), "client close ends it")
    # CLOSE_EARLY: two content deltas then EOF, no [DONE].
    r = Raw()
    try:
        r.send_json("/cp/chat/completions",
                    {"model": "gpt-4o", "stream": True,
                     "messages": user_msg("CLOSE_EARLY")}, cp_headers(tok))
        r.head()
        got = b""
        try:
            while True:
                got += r.chunk()
        except EOFError:
            pass
        evs = parse_sse(got)
        texts = [json.loads(d)["choices"][0]["delta"].get("content")
                 for _, d in evs[2:]]
        eq(texts, ["echo", ": CL"], "two deltas then close")
        check(b"[DONE]" not in got, "no [DONE]")
    finally:
        r.close()
    # Non-stream CLOSE_EARLY: body shorter than Content-Length.
    r = Raw()
    try:
        r.send_json("/cp/chat/completions",
                    {"model": "gpt-4o", "messages": user_msg("CLOSE_EARLY")},
                    cp_headers(tok))
        _, h = r.head()
        try:
            while True:
                r.fill()
        except EOFError:
            pass
        check(len(r.buf) < int(h["content-length"]), "short body")
    finally:
        r.close()


@test
def stream_timing_slow_silent_long_latency():
    reset()
    tok = cp_token()
    r = Raw()
    try:
        r.send_json("/cp/chat/completions",
                    {"model": "gpt-4o", "stream": True,
                     "messages": user_msg("SILENT:1")}, cp_headers(tok))
        r.head()
        eq(r.chunk().count(b"data: "), 1, "filter chunk")
        role = r.chunk()
        check(b'"role":"assistant"' in role, "role chunk")
        t0 = time.monotonic()
        nxt = r.chunk()
        check(time.monotonic() - t0 >= 0.9, "silent for 1 s")
        check(b"echo" in nxt, "then the rest")
        rest = r.chunks()
        check(b"[DONE]" in rest[-1], "completes")
    finally:
        r.close()
    t0 = time.monotonic()
    raw = chat(tok, {"model": "gpt-4o", "stream": True,
                     "messages": user_msg("SLOW")})[2]
    n = len(chat_chunks(raw)) + 1
    check(time.monotonic() - t0 >= 0.3 * (n - 1) - 0.05, "SLOW")
    chunks = chat_chunks(chat(tok, {"model": "gpt-4o", "stream": True,
                                    "messages": user_msg("LONG:50")})[2])
    texts = [c["choices"][0]["delta"].get("content") for c in chunks
             if c.get("choices") and (c["choices"][0].get("delta")
                                      or {}).get("content")]
    eq(texts, ["x "] * 50, "LONG:50 deltas")
    b = jreq("POST", "/cp/chat/completions",
             {"model": "gpt-4o", "messages": user_msg("LONG:3")},
             cp_headers(tok))[2]
    eq(b["choices"][0]["message"]["content"], "x x x ", "LONG non-stream")
    cfg({"chat_latency_ms": 300})
    t0 = time.monotonic()
    eq(chat(tok, {"model": "gpt-4o", "messages": user_msg("x")})[0], 200,
       "latency")
    check(time.monotonic() - t0 >= 0.3, "chat_latency_ms")


@test
def sse_split_knob():
    reset()
    tok = cp_token()
    body = {"model": "gpt-4o", "stream": True,
            "messages": user_msg("split this stream into pieces")}
    ref = chat(tok, body)[2]

    def raw_chunks():
        r = Raw()
        try:
            r.send_json("/cp/chat/completions", body, cp_headers(tok))
            r.head()
            return r.chunks()
        finally:
            r.close()
    plain = raw_chunks()
    check(all(c.endswith(b"\n\n") for c in plain), "one event per chunk")
    cfg({"sse_split": 7})
    ch = raw_chunks()
    check(all(len(c) == 7 for c in ch[:-1]) and len(ch[-1]) <= 7,
          "7-byte pieces")
    eq(rebuild_chat(chat_chunks(b"".join(ch)))[0][0]["content"],
       "echo: split this stream into pieces", "7-byte reassembly")
    cfg({"sse_split": "random", "sse_seed": 42})
    ch = raw_chunks()
    sizes = {len(c) for c in ch}
    check(len(sizes) > 3 and max(sizes) <= 24, "random sizes %r" % sizes)
    eq(rebuild_chat(chat_chunks(b"".join(ch)))[0][0]["content"],
       rebuild_chat(chat_chunks(ref))[0][0]["content"], "random reassembly")
    cfg({"sse_split": None, "chunked": False})
    s, h, raw = chat(tok, body)
    check("Content-Length" in h and "Transfer-Encoding" not in h,
          "chunked knob off")


# --------------------------------------------------------------------------
# Responses, embeddings, messages

@test
def responses_api():
    reset()
    tok = cp_token()
    s, _, b = jreq("POST", "/cp/responses",
                   {"model": "gpt-5.1-codex", "input": "hello codex"},
                   cp_headers(tok))
    eq((s, b["object"], b["status"]), (200, "response", "completed"), "ok")
    msg = [o for o in b["output"] if o["type"] == "message"][0]
    eq(msg["content"][0], {"type": "output_text", "text":
                           "echo: hello codex", "annotations": [],
                           "logprobs": []}, "output text")
    eq(b["output"][0]["type"], "reasoning", "reasoning item first")
    eq(b["usage"]["input_tokens"], len("hello codex") // 4 + 1, "usage")
    inp = [{"role": "user", "content": [{"type": "input_text",
                                         "text": "first"}]},
           {"type": "message", "role": "assistant", "content": [
               {"type": "output_text", "text": "ok"}]},
           {"role": "user", "content": "second"}]
    b = jreq("POST", "/cp/responses", {"model": "gpt-4o", "input": inp},
             cp_headers(tok))[2]
    eq(b["output"][0]["content"][0]["text"], "echo: second", "last input")
    tools = [{"type": "function", "name": "lookup", "parameters": {}}]
    b = jreq("POST", "/cp/responses", {"model": "gpt-4.1", "input": inp,
                                       "tools": tools}, cp_headers(tok))[2]
    fc = b["output"][0]
    eq((fc["type"], fc["name"], json.loads(fc["arguments"])),
       ("function_call", "lookup", {"echo": "second"}), "function call")
    inp2 = inp + [fc, {"type": "function_call_output",
                       "call_id": fc["call_id"], "output": "42"}]
    b = jreq("POST", "/cp/responses", {"model": "gpt-4.1", "input": inp2,
                                       "tools": tools}, cp_headers(tok))[2]
    eq(b["output"][0]["content"][0]["text"], "tool said: 42", "tool output")
    b = jreq("POST", "/cp/responses", {"model": "gpt-4o", "input": "abcdefgh",
                                       "max_output_tokens": 1},
             cp_headers(tok))[2]
    eq((b["status"], b["incomplete_details"]["reason"]),
       ("incomplete", "max_output_tokens"), "incomplete")
    s, _, e = jreq("POST", "/cp/responses", {"model": "o1", "input": "x"},
                   cp_headers(tok))
    eq((s, e["error"]["code"]), (400, "unsupported_api_for_model"), "o1")
    # Stream.
    s, h, raw = req("POST", "/cp/responses",
                    {"model": "gpt-5.1-codex", "input": "stream it",
                     "stream": True}, cp_headers(tok))
    evs = parse_sse(raw)
    names = [e for e, _ in evs]
    eq(names[:2], ["response.created", "response.in_progress"], "start")
    eq(names[-1], "response.completed", "end")
    check("response.output_item.added" in names and
          "response.output_text.done" in names, names)
    datas = [json.loads(d) for _, d in evs]
    check(all(d["type"] == e for e, d in zip(names, datas)), "types")
    eq([d["sequence_number"] for d in datas], list(range(len(datas))),
       "sequence numbers")
    text = "".join(d["delta"] for d in datas
                   if d["type"] == "response.output_text.delta")
    eq(text, "echo: stream it", "rebuilt text")
    eq(datas[-1]["response"]["usage"]["output_tokens"],
       len(text) // 4 + 1, "usage in completed")
    check(b"[DONE]" not in raw, "no [DONE] in Responses streams")
    raw = req("POST", "/cp/responses",
              {"model": "gpt-4.1", "input": inp, "tools": tools,
               "stream": True}, cp_headers(tok))[2]
    datas = [json.loads(d) for _, d in parse_sse(raw)]
    args = "".join(d["delta"] for d in datas
                   if d["type"] == "response.function_call_arguments.delta")
    eq(json.loads(args), {"echo": "second"}, "function call stream")
    s, h, b = req("POST", "/cp/responses", {"model": "gpt-4o",
                                            "input": "FAIL_429"},
                  cp_headers(tok))
    eq(s, 429, "magic on responses")
    eq(state()["responses_calls"], 9, "responses_calls")


@test
def embeddings_api():
    reset()
    tok = cp_token()
    b = jreq("POST", "/cp/embeddings",
             {"model": "text-embedding-3-small", "input": "hello"},
             cp_headers(tok))[2]
    eq(b["object"], "list", "object")
    e = b["data"][0]
    eq((e["object"], e["index"], len(e["embedding"])), ("embedding", 0, 8),
       "shape")
    check(all(-1 <= v <= 1 for v in e["embedding"]), "range")
    eq(b["usage"], {"prompt_tokens": 2, "total_tokens": 2}, "usage")
    b2 = jreq("POST", "/cp/embeddings",
              {"model": "text-embedding-3-small",
               "input": ["hello", "world"]}, cp_headers(tok))[2]
    eq(b2["data"][0]["embedding"], e["embedding"], "deterministic")
    check(b2["data"][1]["embedding"] != e["embedding"], "text-dependent")
    eq([d["index"] for d in b2["data"]], [0, 1], "indices")
    b3 = jreq("POST", "/cp/embeddings",
              {"model": "text-embedding-3-small", "input": "hello",
               "encoding_format": "base64", "dimensions": 8},
              cp_headers(tok))[2]
    vals = struct.unpack("<8f", base64.b64decode(b3["data"][0]["embedding"]))
    check(all(abs(a - b) < 1e-5 for a, b in zip(vals, e["embedding"])),
          "base64 floats")
    b4 = jreq("POST", "/cp/embeddings",
              {"model": "text-embedding-3-small", "input": "hello",
               "dimensions": 20}, cp_headers(tok))[2]
    eq(len(b4["data"][0]["embedding"]), 20, "dimensions")
    s, _, e = jreq("POST", "/cp/embeddings",
                   {"model": "gpt-4o", "input": "x"}, cp_headers(tok))
    eq((s, e["error"]["code"]), (400, "unsupported_api_for_model"), "chat")
    eq(jreq("POST", "/cp/embeddings", {"model": "text-embedding-3-small",
                                       "input": []}, cp_headers(tok))[0],
       400, "empty input")


@test
def messages_api():
    reset()
    tok = cp_token()
    hd = cp_headers(tok, Anthropic_Version="2023-06-01")
    s, _, b = jreq("POST", "/cp/v1/messages",
                   {"model": "claude-sonnet-4.5", "max_tokens": 100,
                    "system": "sys", "messages": user_msg("hi claude")}, hd)
    eq(s, 200, "status")
    eq((b["type"], b["role"], b["stop_reason"]),
       ("message", "assistant", "end_turn"), "message")
    eq(b["content"], [{"type": "text", "text": "echo: hi claude"}], "text")
    eq(b["usage"]["input_tokens"], len("syshi claude") // 4 + 1, "usage")
    tools = [{"name": "calc", "input_schema": {"type": "object"}}]
    b = jreq("POST", "/cp/v1/messages",
             {"model": "claude-haiku-4.5", "max_tokens": 100, "tools": tools,
              "messages": user_msg("2+2")}, hd)[2]
    tu = b["content"][0]
    eq((b["stop_reason"], tu["type"], tu["name"], tu["input"]),
       ("tool_use", "tool_use", "calc", {"echo": "2+2"}), "tool_use")
    msgs = user_msg("2+2") + [
        {"role": "assistant", "content": [tu]},
        {"role": "user", "content": [{"type": "tool_result",
                                      "tool_use_id": tu["id"],
                                      "content": "4"}]}]
    b = jreq("POST", "/cp/v1/messages",
             {"model": "claude-haiku-4.5", "max_tokens": 100, "tools": tools,
              "messages": msgs}, hd)[2]
    eq(b["content"][0]["text"], "tool said: 4", "tool_result")
    b = jreq("POST", "/cp/v1/messages",
             {"model": "claude-sonnet-4.5", "max_tokens": 2,
              "messages": user_msg("truncate me please")}, hd)[2]
    eq((b["stop_reason"], b["content"][0]["text"]),
       ("max_tokens", "echo: tr"), "max_tokens")
    # Thinking with a signature, replayed.
    think = {"type": "enabled", "budget_tokens": 1024}
    b = jreq("POST", "/cp/v1/messages",
             {"model": "claude-sonnet-4.5", "max_tokens": 2000,
              "thinking": think, "messages": user_msg("ponder")}, hd)[2]
    th = b["content"][0]
    eq((th["type"], th["thinking"]), ("thinking", "Thinking about: ponder"),
       "thinking block")
    check(len(th["signature"]) > 40, "signature")
    eq(b["content"][1]["text"], "echo: ponder", "text after thinking")
    replay = user_msg("ponder") + [
        {"role": "assistant", "content": b["content"]},
        {"role": "user", "content": "again"}]
    s, _, _ = jreq("POST", "/cp/v1/messages",
                   {"model": "claude-sonnet-4.5", "max_tokens": 2000,
                    "thinking": think, "messages": replay}, hd)
    eq(s, 200, "valid signature accepted")
    replay[1]["content"][0] = dict(th, signature="AAAA" + th["signature"])
    s, _, e = jreq("POST", "/cp/v1/messages",
                   {"model": "claude-sonnet-4.5", "max_tokens": 2000,
                    "thinking": think, "messages": replay}, hd)
    eq((s, e["type"], e["error"]["type"]),
       (400, "error", "invalid_request_error"), "bad signature")
    check("signature" in e["error"]["message"], e)
    s, _, e = jreq("POST", "/cp/v1/messages",
                   {"model": "claude-sonnet-4.5", "max_tokens": 100,
                    "thinking": think, "messages": user_msg("x")}, hd)
    eq(s, 400, "max_tokens must exceed budget")
    # Stream.
    raw = req("POST", "/cp/v1/messages",
              {"model": "claude-sonnet-4.5", "max_tokens": 2000,
               "stream": True, "thinking": think, "tools": tools,
               "messages": user_msg("go")}, hd)[2]
    evs = parse_sse(raw)
    names = [e for e, _ in evs]
    datas = [json.loads(d) for _, d in evs]
    eq(names[0], "message_start", "first")
    eq(names[-2:], ["message_delta", "message_stop"], "last")
    check("ping" in names, "ping")
    check(all(d["type"] == n for n, d in zip(names, datas)), "types")
    blocks = {}
    for d in datas:
        if d["type"] == "content_block_start":
            blocks[d["index"]] = dict(d["content_block"], json="")
        elif d["type"] == "content_block_delta":
            bl, dl = blocks[d["index"]], d["delta"]
            if dl["type"] == "thinking_delta":
                bl["thinking"] += dl["thinking"]
            elif dl["type"] == "signature_delta":
                bl["signature"] = dl["signature"]
            elif dl["type"] == "text_delta":
                bl["text"] += dl["text"]
            elif dl["type"] == "input_json_delta":
                bl["json"] += dl["partial_json"]
    eq(blocks[0]["thinking"], "Thinking about: go", "stream thinking")
    check(blocks[0]["signature"], "stream signature")
    eq((blocks[1]["type"], json.loads(blocks[1]["json"])),
       ("tool_use", {"echo": "go"}), "stream tool_use")
    eq(datas[-2]["delta"]["stop_reason"], "tool_use", "stop reason")
    # Routing and errors.
    s, _, e = jreq("POST", "/cp/v1/messages",
                   {"model": "claude-opus-4.1", "max_tokens": 10,
                    "messages": user_msg("x")}, hd)
    eq((s, e["error"]["code"]), (400, "unsupported_api_for_model"), "opus")
    s, _, e = jreq("POST", "/cp/v1/messages",
                   {"model": "claude-sonnet-4.5", "max_tokens": 10,
                    "messages": user_msg("FAIL_429")}, hd)
    eq((s, e["error"]["type"]), (429, "rate_limit_error"), "anthropic 429")
    cfg({"require_anthropic_version": True})
    s, _, e = jreq("POST", "/cp/v1/messages",
                   {"model": "claude-sonnet-4.5", "max_tokens": 10,
                    "messages": user_msg("x")}, cp_headers(tok))
    eq(s, 400, "anthropic-version required")
    eq(jreq("POST", "/cp/v1/messages",
            {"model": "claude-sonnet-4.5", "max_tokens": 10,
             "messages": user_msg("x")}, hd)[0], 200, "with version")
    eq(state()["messages_calls"], 13, "messages_calls")


@test
def stream_magic_on_responses_and_messages():
    reset()
    tok = cp_token()
    hd = cp_headers(tok)

    def raw_stream(path, body):
        r = Raw()
        try:
            r.send_json(path, body, hd)
            r.head()
            got = b""
            try:
                while True:
                    c = r.chunk()
                    if not c:
                        return got, True
                    got += c
            except EOFError:
                return got, False
        finally:
            r.close()
    got, complete = raw_stream("/cp/responses", {
        "model": "gpt-4o", "stream": True, "input": "CLOSE_EARLY"})
    names = [e for e, _ in parse_sse(got)]
    check(not complete and names.count("response.output_text.delta") == 2
          and names[-1] == "response.output_text.delta", names)
    got, complete = raw_stream("/cp/v1/messages", {
        "model": "claude-haiku-4.5", "stream": True, "max_tokens": 100,
        "messages": user_msg("CLOSE_EARLY")})
    names = [e for e, _ in parse_sse(got)]
    check(not complete and "message_stop" not in names
          and names[-1] == "content_block_delta", names)
    raw = req("POST", "/cp/v1/messages",
              {"model": "claude-haiku-4.5", "stream": True,
               "max_tokens": 100, "messages": user_msg("LONG:5")}, hd)[2]
    texts = [json.loads(d)["delta"]["text"] for e, d in parse_sse(raw)
             if e == "content_block_delta"]
    eq(texts, ["x "] * 5, "LONG on messages")
    raw = req("POST", "/cp/responses",
              {"model": "gpt-4o", "stream": True, "input": "LONG:4"}, hd)[2]
    texts = [json.loads(d)["delta"] for e, d in parse_sse(raw)
             if e == "response.output_text.delta"]
    eq(texts, ["x "] * 4, "LONG on responses")
    r = Raw()
    try:
        r.send_json("/cp/v1/messages",
                    {"model": "claude-haiku-4.5", "stream": True,
                     "max_tokens": 100, "messages": user_msg("STALL")}, hd)
        r.head()
        got = b""
        while b"text_delta" not in got:
            got += r.chunk()
        check(r.quiet_for(0.4), "messages stream stalls")
    finally:
        r.close()
    check(last_conn_closed_by_client(), "client close ends the stall")


# --------------------------------------------------------------------------
# Control plane, scripted fall-through, CLI

@test
def control_config_reset_and_fallthrough():
    reset()
    s, _, e = jreq("POST", "/__fake/github/config", {"nope": 1})
    eq(s, 400, "unknown knob")
    s, _, e = jreq("POST", "/__fake/github/config", {"token_ttl": "x"})
    eq(s, 400, "bad type")
    s, _, e = jreq("POST", "/__fake/github/config",
                   {"device": {"outcome": "maybe"}})
    eq(s, 400, "bad outcome")
    eq(jreq("GET", "/__fake/github/nothing")[0], 404, "unknown control")
    cfg({"token_ttl": 5, "users": {"ghu_a": "a"}})
    cfg({"users": {"ghu_b": "b"}})
    k = jreq("GET", "/__fake/github/config")[2]
    eq((k["token_ttl"], sorted(k["users"])), (5, ["ghu_a", "ghu_b"]),
       "merged")
    cp_token()
    reset()
    k = jreq("GET", "/__fake/github/config")[2]
    eq((k["token_ttl"], k["users"]), (1500, {}), "reset knobs")
    st = state()
    eq((st["token_exchanges"], st["copilot_tokens"]), (0, []), "reset state")
    # Scripted routes serve anything the GitHub fake does not know.
    set_script(PORT, {"routes": [
        {"path": "/custom", "body": "scripted"},
        {"path": "/user", "body": "never"},
        {"path_prefix": "/cp/extra", "json": {"extra": True}}]})
    try:
        eq(req("GET", "/custom")[2], b"scripted", "scripted route")
        eq(req("GET", "/user")[0], 401, "GitHub endpoints win")
        eq(jreq("GET", "/cp/extra/x")[2], {"extra": True}, "/cp fallthrough")
        eq(req("GET", "/nothing")[0], 404, "no route")
    finally:
        set_script(PORT, {"routes": []})


@test
def cli_config_file_and_exit():
    tmp = tempfile.mkdtemp(prefix="ghfake-")
    path = os.path.join(tmp, "cfg.json")
    with open(path, "w") as f:
        json.dump({"users": {"ghu_cli": "cli"}, "device": {"interval": 1}},
                  f)
    proc, port = start_fake(None, ["--config", path], program=GITHUB)
    try:
        s, _, b = request(port, "GET", "/user",
                          headers={"Authorization": "token ghu_cli"})
        eq((s, json.loads(b)["login"]), (200, "cli"), "preloaded user")
    finally:
        eq(stop_fake(proc), 0, "exit status 0 on SIGTERM")
    with open(path, "w") as f:
        json.dump({"bogus": 1}, f)
    pf = os.path.join(tmp, "port")
    r = subprocess.run([sys.executable, GITHUB, "--port", "0", "--port-file",
                        pf, "--config", path], stderr=subprocess.PIPE,
                       timeout=10)
    eq(r.returncode, 2, "bad config exits 2")
    check(b"bogus" in r.stderr, r.stderr)
    os.unlink(path)
    os.rmdir(tmp)


def main():
    global PORT
    t_start = time.monotonic()
    proc, PORT = start_fake(None, [], program=GITHUB)
    passed = failed = 0
    only = sys.argv[1:]
    try:
        for fn in TESTS:
            if only and fn.__name__ not in only:
                continue
            t0 = time.monotonic()
            try:
                fn()
                passed += 1
                print("PASS %s (%.2fs)" % (fn.__name__,
                                           time.monotonic() - t0))
            except Exception:
                failed += 1
                print("FAIL %s" % fn.__name__)
                traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        if proc.poll() is not None:
            failed += 1
            print("FAIL fake exited during the tests: %s" % proc.returncode)
    finally:
        rc = stop_fake(proc)
    if rc != 0:
        failed += 1
        print("FAIL fake exit status %r" % rc)
    print("total %.1fs" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
