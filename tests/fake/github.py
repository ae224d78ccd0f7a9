#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Fake of github.com + api.github.com + the GitHub Copilot API, on ONE port.

    python3 tests/fake/github.py [--host 127.0.0.1] [--port 0] \
        --port-file PATH [--log FILE] [--script FILE.json] [--config FILE.json]

Point upstreams.github.github_url, api_url and copilot_url at
http://127.0.0.1:PORT.  The Copilot API itself is served under the /cp
prefix only, and the token exchange announces it as endpoints.api =
"<base>/cp": a client that ignores endpoints.api fails.

GitHub endpoints are answered first; any other path falls through to the
scripted routes of scripted.py (which keep all their features, as do the
/__fake/... control endpoints: every non-control request, including the
/cp calls, is recorded with headers and body in /__fake/requests).

The knobs, magic phrases and control endpoints are documented in
tests/fake/README.md ("GitHub fake") and in DEFAULT_KNOBS below.

Python 3 standard library only.
"""

import base64
import copy
import gzip
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import string
import struct
import sys
import threading
import time
import uuid
from urllib.parse import parse_qs, urlencode

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import scripted  # noqa: E402
from scripted import ScriptedServer, ScriptError, compact_json  # noqa: E402

CONTROL = "/__fake/github/"
CP = "/cp"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DOCS_URL = "https://docs.github.com/rest"
DEVICE_ERROR_URI = ("https://docs.github.com/developers/apps/"
                    "authorizing-oauth-apps#error-codes-for-the-device-flow")
STALL_FOREVER_MS = 600000
UNAUTHORIZED_TEXT = "unauthorized: token expired"

DEFAULT_DEVICE = {
    "pending_polls": 0,          # authorization_pending answers before outcome
    "slow_down_polls": [],       # 1-based poll numbers answered slow_down
    "slow_down_interval": None,  # new interval sent with slow_down (else +5)
    "slow_down_include_interval": False,  # send "interval" in slow_down
    "outcome": "success",        # success | expired | denied | pending
    "interval": 5,
    "expires_in": 900,
    "enforce_interval": True,    # too-fast polls get slow_down
    "poll_tolerance_ms": 100,    # slack for the too-fast check
    "login": "octocat",          # login of the token the flow issues
    "user_code": None,           # fixed user code (else random ABCD-1234)
}

DEFAULT_KNOBS = {
    "token_ttl": 1500,           # copilot token lifetime, seconds
    "refresh_in": None,          # default max(token_ttl - 60, 1)
    "device": DEFAULT_DEVICE,
    "client_id": None,           # required client_id (None: any)
    "token_failures": 0,         # next N token exchanges fail
    "token_failure_status": 500,
    "token_latency_ms": 0,
    "no_copilot_logins": [],     # logins without a Copilot seat
    "no_copilot_status": 403,    # 403 or 404
    "users": {},                 # preloaded gh token -> login
    "plan": "individual",        # default copilot_plan
    "plans": {},                 # login -> plan
    "quota": {},                 # quota_snapshots overrides, by name
    "quota_reset_date": None,    # default: first day of next month
    "base_url": None,            # default http://<Host header>
    "copilot_api_base": None,    # endpoints.api override (default base+/cp)
    "sse_split": None,           # None | N bytes | "random"
    "sse_seed": 1,
    "chunked": True,             # streams use chunked transfer encoding
    "gzip": True,                # gzip non-stream JSON when accepted
    "chat_latency_ms": 0,        # before headers on generation endpoints
    "usage_on_finish": True,     # usage on the finish_reason chunk
    "response_model": "version",  # "version" (gpt-4o-2024-11-20) or "id"
    "require_vision_header": True,
    "vision_header_misuse_status": 429,  # header without images; 0: off
    "require_anthropic_version": False,
    "model_policy": {},          # model id -> policy state
    "models_extra": [],          # extra /models entries
    "models_remove": [],         # ids hidden from /models and refused
    "api_fail_next": [],         # next POST /cp calls fail: [{status,...}]
}

_KNOB_CHECKS = {
    "token_ttl": "pos", "refresh_in": "num?", "client_id": "str?",
    "token_failures": "int", "token_failure_status": "int",
    "token_latency_ms": "num", "no_copilot_logins": "strlist",
    "no_copilot_status": "int", "users": "strdict", "plan": "str",
    "plans": "strdict", "quota": "dict", "quota_reset_date": "str?",
    "base_url": "str?", "copilot_api_base": "str?", "sse_split": "split",
    "sse_seed": "int", "chunked": "bool", "gzip": "bool",
    "chat_latency_ms": "num", "usage_on_finish": "bool",
    "response_model": "str", "require_vision_header": "bool",
    "vision_header_misuse_status": "int",
    "require_anthropic_version": "bool", "model_policy": "strdict",
    "models_extra": "list", "models_remove": "strlist",
    "api_fail_next": "list",
}
_DEVICE_CHECKS = {
    "pending_polls": "int", "slow_down_polls": "intlist",
    "slow_down_interval": "num?", "slow_down_include_interval": "bool",
    "outcome": "outcome", "interval": "pos", "expires_in": "pos",
    "enforce_interval": "bool", "poll_tolerance_ms": "num",
    "login": "str", "user_code": "str?",
}
_MERGE_DICTS = ("users", "plans", "quota", "model_policy")

FILTER_RESULTS = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
SKUS = {
    "free": "free_limited_copilot",
    "individual": "monthly_subscriber_quota",
    "individual_pro": "plus_monthly_subscriber_quota",
    "business": "copilot_for_business_seat_quota",
    "enterprise": "copilot_enterprise_seat_quota",
}
PREMIUM_ENTITLEMENT = {"free": 50, "individual": 300, "individual_pro": 1500,
                       "business": 300, "enterprise": 1000}


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_value(kind, v, name):
    ok = True
    if kind.endswith("?"):
        if v is None:
            return
        kind = kind[:-1]
    if kind == "pos":
        ok = _is_num(v) and v > 0
    elif kind == "num":
        ok = _is_num(v) and v >= 0
    elif kind == "int":
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= 0
    elif kind == "bool":
        ok = isinstance(v, bool)
    elif kind == "str":
        ok = isinstance(v, str)
    elif kind == "list":
        ok = isinstance(v, list)
    elif kind == "dict":
        ok = isinstance(v, dict)
    elif kind == "strlist":
        ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
    elif kind == "intlist":
        ok = isinstance(v, list) and all(
            isinstance(x, int) and not isinstance(x, bool) for x in v)
    elif kind == "strdict":
        ok = isinstance(v, dict) and all(isinstance(x, str)
                                         for x in v.values())
    elif kind == "split":
        ok = v is None or v == "random" or (
            isinstance(v, int) and not isinstance(v, bool) and v > 0)
    elif kind == "outcome":
        ok = v in ("success", "expired", "denied", "pending")
    if not ok:
        raise ScriptError("bad value for knob %s: %r" % (name, v))


def merge_knobs(knobs, update):
    """Validate update and merge it into a copy of knobs."""
    if not isinstance(update, dict):
        raise ScriptError("config must be a JSON object")
    out = copy.deepcopy(knobs)
    for k, v in update.items():
        if k == "device":
            if not isinstance(v, dict):
                raise ScriptError("device must be an object")
            for dk, dv in v.items():
                if dk not in _DEVICE_CHECKS:
                    raise ScriptError("unknown device knob: %s" % dk)
                _check_value(_DEVICE_CHECKS[dk], dv, "device." + dk)
                out["device"][dk] = copy.deepcopy(dv)
            continue
        if k not in _KNOB_CHECKS:
            raise ScriptError("unknown knob: %s" % k)
        _check_value(_KNOB_CHECKS[k], v, k)
        if k in _MERGE_DICTS:
            out[k].update(copy.deepcopy(v))
        else:
            out[k] = copy.deepcopy(v)
    for e in out["api_fail_next"]:
        if not isinstance(e, dict) or not (
                isinstance(e.get("status", 500), int)):
            raise ScriptError("api_fail_next entries must be objects "
                              "with an integer status")
    return out


# --------------------------------------------------------------------------
# Models

VISION_OPENAI = {"max_prompt_image_size": 3145728, "max_prompt_images": 1,
                 "supported_media_types": ["image/jpeg", "image/png",
                                           "image/webp", "image/gif"]}
VISION_CLAUDE = {"max_prompt_image_size": 3145728, "max_prompt_images": 5,
                 "supported_media_types": ["image/jpeg", "image/png",
                                           "image/webp"]}


def _chat_model(mid, name, vendor, version, family, ctx, out, prompt,
                endpoints, vision=None, streaming=True, parallel=True,
                structured=True, premium=0.0, preview=False, terms=None,
                extra_supports=None, tokenizer="o200k_base"):
    limits = {"max_context_window_tokens": ctx, "max_output_tokens": out,
              "max_prompt_tokens": prompt}
    if vision:
        limits["vision"] = dict(vision)
    supports = {"tool_calls": True, "parallel_tool_calls": parallel,
                "streaming": streaming, "vision": bool(vision),
                "structured_outputs": structured}
    supports.update(extra_supports or {})
    m = {
        "id": mid, "name": name, "object": "model", "vendor": vendor,
        "version": version, "preview": preview,
        "model_picker_enabled": True,
        "is_chat_default": mid == "gpt-4.1",
        "is_chat_fallback": mid == "gpt-4.1",
        "policy": {"state": "enabled",
                   "terms": terms or ("Enable access to the latest %s model "
                                      "from %s." % (name, vendor))},
        "billing": {"is_premium": premium > 0, "multiplier": premium},
        "supported_endpoints": list(endpoints),
        "capabilities": {"family": family, "type": "chat",
                         "object": "model_capabilities",
                         "tokenizer": tokenizer, "limits": limits,
                         "supports": supports},
    }
    return m


def default_models():
    return [
        _chat_model("gpt-4o", "GPT-4o", "Azure OpenAI", "gpt-4o-2024-11-20",
                    "gpt-4o", 128000, 4096, 64000,
                    ["/chat/completions", "/responses"],
                    vision=VISION_OPENAI),
        _chat_model("gpt-4.1", "GPT-4.1", "Azure OpenAI",
                    "gpt-4.1-2025-04-14", "gpt-4.1", 128000, 16384, 128000,
                    ["/chat/completions", "/responses"],
                    vision=VISION_OPENAI),
        _chat_model("o1", "o1 (Preview)", "Azure OpenAI", "o1-2024-12-17",
                    "o1", 200000, 100000, 20000, ["/chat/completions"],
                    streaming=False, parallel=False, premium=10.0,
                    preview=True),
        _chat_model("gpt-5.1-codex", "GPT-5.1-Codex", "OpenAI",
                    "gpt-5.1-codex", "gpt-5.1-codex", 400000, 128000, 128000,
                    ["/responses"], vision=VISION_OPENAI, premium=1.0,
                    extra_supports={"reasoning_effort": ["low", "medium",
                                                         "high"]}),
        _chat_model("claude-sonnet-4.5", "Claude Sonnet 4.5", "Anthropic",
                    "claude-sonnet-4.5", "claude-sonnet-4.5", 144000, 16000,
                    128000, ["/chat/completions", "/v1/messages"],
                    vision=VISION_CLAUDE, structured=False, premium=1.0,
                    extra_supports={"max_thinking_budget": 32000,
                                    "min_thinking_budget": 1024}),
        _chat_model("claude-haiku-4.5", "Claude Haiku 4.5", "Anthropic",
                    "claude-haiku-4.5", "claude-haiku-4.5", 144000, 16000,
                    128000, ["/chat/completions", "/v1/messages"],
                    vision=VISION_CLAUDE, structured=False, premium=0.33,
                    extra_supports={"max_thinking_budget": 32000,
                                    "min_thinking_budget": 1024}),
        _chat_model("claude-opus-4.1", "Claude Opus 4.1", "Anthropic",
                    "claude-opus-4.1", "claude-opus-4.1", 80000, 16000,
                    80000, ["/chat/completions"], vision=VISION_CLAUDE,
                    structured=False, premium=10.0),
        {
            "id": "text-embedding-3-small", "name": "Embedding V3 small",
            "object": "model", "vendor": "Azure OpenAI",
            "version": "text-embedding-3-small", "preview": False,
            "model_picker_enabled": False,
            "policy": {"state": "enabled", "terms": ""},
            "billing": {"is_premium": False, "multiplier": 0},
            "supported_endpoints": ["/embeddings"],
            "capabilities": {"family": "text-embedding-3-small",
                             "type": "embeddings",
                             "object": "model_capabilities",
                             "tokenizer": "cl100k_base",
                             "limits": {"max_inputs": 512},
                             "supports": {"dimensions": True}},
        },
    ]


# --------------------------------------------------------------------------
# Helpers: text, tokens, magic phrases

def tokens_of(nchars):
    """The fake's deterministic token count: characters // 4 + 1."""
    return nchars // 4 + 1


def tools_chars(tools):
    """Characters the tool definitions add to a prompt: like the real
    APIs, the fake bills the tools it was given (as compact JSON)."""
    if not isinstance(tools, list) or not tools:
        return 0
    return len(json.dumps(tools, separators=(",", ":")))


def parts_text(content):
    """(text, image_count) of a string or an array of content parts
    (OpenAI chat, Responses and Anthropic part types)."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    if isinstance(content, list):
        texts, images = [], 0
        for p in content:
            if isinstance(p, str):
                texts.append(p)
            elif isinstance(p, dict):
                t = p.get("type")
                if t in ("text", "input_text", "output_text"):
                    texts.append(str(p.get("text", "")))
                elif t in ("image_url", "input_image", "image"):
                    images += 1
        return "\n".join(texts), images
    return str(content), 0


def pieces(text, n=4):
    return [text[i:i + n] for i in range(0, len(text), n)] or [""]


MAGIC_ERRORS = ("FAIL_401", "FAIL_400", "FAIL_429", "FAIL_500", "FAIL_408")


def parse_magic(text):
    m = {}
    for name in MAGIC_ERRORS:
        if name in text:
            m["error"] = name
            break
    for name in ("STALL", "CLOSE_EARLY", "SLOW", "TWO_CHOICES",
                 "INTERLEAVE"):
        if name in text:
            m[name] = True
    x = re.search(r"LONG:(\d+)", text)
    if x:
        m["LONG"] = min(int(x.group(1)), 1000000)
    x = re.search(r"SILENT:(\d+(?:\.\d+)?)", text)
    if x:
        m["SILENT"] = float(x.group(1))
    return m


def rand_id(prefix, n=24, alphabet=string.ascii_letters + string.digits):
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def openai_error(status, message, code, etype="invalid_request_error",
                 param=None, headers=None):
    r = {"status": status,
         "json": {"error": {"message": message, "code": code,
                            "type": etype, "param": param}}}
    if headers:
        r["headers"] = headers
    return r


def anthropic_error(status, etype, message, headers=None):
    r = {"status": status, "json": {"type": "error", "error": {
        "type": etype, "message": message}}}
    if headers:
        r["headers"] = headers
    return r


def unauthorized():
    return {"status": 401,
            "headers": [["Content-Type", "text/plain; charset=utf-8"]],
            "body": UNAUTHORIZED_TEXT}


def magic_error(name, flavor, model_meta):
    """Response for a FAIL_* magic phrase.  flavor: openai | anthropic."""
    limit = (model_meta or {}).get("capabilities", {}).get(
        "limits", {}).get("max_prompt_tokens", 128000)
    if name == "FAIL_401":
        return unauthorized()
    if flavor == "anthropic":
        if name == "FAIL_400":
            return anthropic_error(400, "invalid_request_error",
                                   "prompt is too long: %d tokens > %d "
                                   "maximum" % (limit + 1, limit))
        if name == "FAIL_429":
            return anthropic_error(429, "rate_limit_error",
                                   "Sorry, you have been rate-limited. "
                                   "Please wait a moment before trying "
                                   "again.",
                                   headers=[["Retry-After", "2"]])
        if name == "FAIL_408":
            return anthropic_error(408, "timeout_error",
                                   "Timed out waiting for the request")
        return anthropic_error(500, "api_error", "Internal server error")
    if name == "FAIL_400":
        return openai_error(400, "prompt token count of %d exceeds the "
                            "limit of %d" % (limit + 1, limit),
                            "model_max_prompt_tokens_exceeded")
    if name == "FAIL_429":
        return openai_error(429, "Sorry, you have been rate-limited. "
                            "Please wait a moment before trying again.",
                            "rate_limited", "rate_limit_error",
                            headers=[["Retry-After", "2"]])
    if name == "FAIL_408":
        return openai_error(408, "Timed out waiting for the request",
                            "user_request_timeout", "timeout_error")
    return openai_error(500, "Internal server error", "internal_error",
                        "server_error")


def embedding_vector(text, dims):
    out = []
    counter = 0
    while len(out) < dims:
        d = hashlib.sha256(("%d:%s" % (counter, text)).encode()).digest()
        for i in range(0, 32, 4):
            if len(out) >= dims:
                break
            v = int.from_bytes(d[i:i + 4], "big") / 4294967295.0 * 2 - 1
            out.append(round(v, 6))
        counter += 1
    return out


def sse_data(obj):
    return "data: " + compact_json(obj).decode("utf-8") + "\n\n"


def sse_event(name, obj):
    return ("event: %s\ndata: " % name
            + compact_json(obj).decode("utf-8") + "\n\n")


# --------------------------------------------------------------------------
# The server

class GitHubFake(ScriptedServer):
    """github.com + api.github.com + Copilot API fake (see module doc)."""

    def __init__(self, host="127.0.0.1", port=0, script=None, log=None,
                 config=None):
        super().__init__(host, port, script=script, log=log)
        self._gh = threading.RLock()
        self._sig_key = secrets.token_bytes(16)
        self.knobs = copy.deepcopy(DEFAULT_KNOBS)
        self._reset_state()
        if config:
            self.configure(config)

    # -- state --
    def _reset_state(self):
        with self._gh:
            self.st = {
                "token_exchanges": 0, "token_exchanges_ok": 0,
                "token_exchange_log": [],
                "device_code_requests": 0, "device_polls": [],
                "user_calls": 0, "copilot_user_calls": 0,
                "models_calls": 0, "chat_calls": 0, "responses_calls": 0,
                "embeddings_calls": 0, "messages_calls": 0,
                "unauthorized_calls": 0, "api_log": [],
                "initiators": {}, "premium_used": 0.0,
                "stream_count": 0,
            }
            self.device_codes = {}      # device_code -> entry
            self.gh_tokens = {}         # issued gh token -> login
            self.cp_tokens = {}         # copilot token -> entry

    def configure(self, update):
        with self._gh:
            self.knobs = merge_knobs(self.knobs, update)
            return copy.deepcopy(self.knobs)

    def reset(self):
        with self._gh:
            self.knobs = copy.deepcopy(DEFAULT_KNOBS)
            self._reset_state()

    def now(self):
        return time.time()

    def state(self):
        with self._gh:
            now = self.now()
            out = copy.deepcopy(self.st)
            out["now"] = now
            out["device_codes"] = [
                {k: v for k, v in e.items() if k != "scenario"}
                for e in self.device_codes.values()]
            out["gh_tokens"] = dict(self.gh_tokens)
            out["copilot_tokens"] = [
                dict(e, token=t, valid=self._cp_valid(t, now))
                for t, e in self.cp_tokens.items()]
            return out

    def _login_of(self, token):
        if token in self.gh_tokens:
            return self.gh_tokens[token]
        return self.knobs["users"].get(token)

    def _cp_valid(self, token, now=None):
        e = self.cp_tokens.get(token)
        if e is None or e["revoked"]:
            return False
        return (now if now is not None else self.now()) < e["expires_at"]

    def _plan(self, login):
        return self.knobs["plans"].get(login, self.knobs["plan"])

    def _base(self, req):
        if self.knobs["base_url"]:
            return self.knobs["base_url"].rstrip("/")
        host = req.header("host") or "127.0.0.1:%d" % self.port
        return "http://" + host

    # -- control endpoints --
    def handle_control(self, req):
        if not req.path.startswith(CONTROL):
            return None
        name = req.path[len(CONTROL):]
        m = req.method
        if name == "config":
            if m in ("POST", "PUT"):
                return 200, {"ok": True, "config":
                             self.configure(self._control_json(req))}
            if m == "GET":
                with self._gh:
                    return 200, copy.deepcopy(self.knobs)
        elif name == "state" and m == "GET":
            return 200, self.state()
        elif name == "expire" and m == "POST":
            body = self._control_json(req) if req.body else {}
            want = body.get("token") if isinstance(body, dict) else None
            n = 0
            with self._gh:
                for t, e in self.cp_tokens.items():
                    if (want is None or t == want) and not e["revoked"]:
                        e["revoked"] = True
                        n += 1
            self.log("github: revoked %d copilot token(s)" % n)
            return 200, {"ok": True, "revoked": n}
        elif name == "reset" and m == "POST":
            self.reset()
            return 200, {"ok": True}
        elif name in ("approve", "deny") and m == "POST":
            body = self._control_json(req) if req.body else {}
            with self._gh:
                ent = None
                for e in self.device_codes.values():
                    if e["state"] != "pending":
                        continue
                    if isinstance(body, dict) and (
                            body.get("user_code") not in (None, e["user_code"])
                            or body.get("device_code") not in
                            (None, e["device_code"])):
                        continue
                    ent = e
                if ent is None:
                    return 404, {"error": {"message": "no such device code",
                                           "type": "fake"}}
                ent["forced"] = "success" if name == "approve" else "denied"
                return 200, {"ok": True, "device_code": ent["device_code"]}
        else:
            return 404, {"error": {"message": "no such control endpoint",
                                   "type": "fake"}}
        return 405, {"error": {"message": "method not allowed",
                               "type": "fake"}}

    @staticmethod
    def _control_json(req):
        try:
            return req.json()
        except (ValueError, UnicodeDecodeError) as e:
            raise ScriptError("invalid JSON: %s" % e)

    # -- dispatch --
    def handle_request(self, req):
        p, m = req.path, req.method
        if p == "/login/device/code":
            return self._device_code(req) if m == "POST" else self._gh404()
        if p == "/login/oauth/access_token":
            return self._access_token(req) if m == "POST" else self._gh404()
        if p == "/login/device":
            return {"headers": [["Content-Type", "text/html; charset=utf-8"]],
                    "body": "<!DOCTYPE html><title>Device activation</title>"
                            "<h1>Enter the code displayed on your device"
                            "</h1>"}
        if p == "/user":
            return self._user(req) if m == "GET" else self._gh404()
        if p == "/copilot_internal/v2/token":
            return self._token(req) if m == "GET" else self._gh404()
        if p == "/copilot_internal/user":
            return self._copilot_user(req) if m == "GET" else self._gh404()
        if p.startswith(CP + "/"):
            sub = p[len(CP):]
            if sub in ("/models", "/chat/completions", "/responses",
                       "/embeddings", "/v1/messages"):
                return self._copilot_api(req, sub)
        return None

    # -- GitHub helpers --
    @staticmethod
    def _gh_headers():
        return [["X-GitHub-Media-Type", "github.v3; format=json"],
                ["X-GitHub-Request-Id", "%04X:%04X:%06X:%06X:%08X" % (
                    secrets.randbits(16), secrets.randbits(16),
                    secrets.randbits(24), secrets.randbits(24),
                    secrets.randbits(32))]]

    def _gh_json(self, status, obj, extra=()):
        return {"status": status, "json": obj,
                "headers": self._gh_headers() + [list(h) for h in extra]}

    def _gh404(self):
        return self._gh_json(404, {"message": "Not Found",
                                   "documentation_url": DOCS_URL})

    def _bad_credentials(self):
        return self._gh_json(401, {"message": "Bad credentials",
                                   "documentation_url": DOCS_URL,
                                   "status": "401"})

    @staticmethod
    def _auth_token(req, schemes=("token", "bearer")):
        v = req.header("authorization")
        if not v:
            return None
        parts = v.strip().split(None, 1)
        if len(parts) != 2 or parts[0].lower() not in schemes:
            return None
        return parts[1].strip()

    @staticmethod
    def _params(req):
        """Form, JSON or query parameters (later ones win)."""
        out = {k: v[-1] for k, v in req.query_params.items()}
        ctype = (req.header("content-type") or "").lower()
        if req.body:
            if "json" in ctype:
                try:
                    obj = req.json()
                    if isinstance(obj, dict):
                        out.update({k: v if isinstance(v, str) else
                                    json.dumps(v) if not isinstance(
                                        v, (int, float)) else str(v)
                                    for k, v in obj.items()})
                except (ValueError, UnicodeDecodeError):
                    pass
            else:
                q = parse_qs(req.text(), keep_blank_values=True)
                out.update({k: v[-1] for k, v in q.items()})
        return out

    def _oauth_answer(self, req, obj):
        """GitHub's OAuth endpoints answer JSON only when asked to;
        otherwise application/x-www-form-urlencoded.  Errors are 200."""
        if "json" in (req.header("accept") or "").lower():
            return self._gh_json(200, obj)
        return {"status": 200,
                "headers": self._gh_headers() + [
                    ["Content-Type",
                     "application/x-www-form-urlencoded; charset=utf-8"]],
                "body": urlencode({k: v for k, v in obj.items()})}

    @staticmethod
    def _oauth_error(error, desc):
        return {"error": error, "error_description": desc,
                "error_uri": DEVICE_ERROR_URI}

    # -- device flow --
    def _device_code(self, req):
        p = self._params(req)
        with self._gh:
            self.st["device_code_requests"] += 1
            want = self.knobs["client_id"]
            cid = p.get("client_id", "")
            if not cid or (want is not None and cid != want):
                return self._oauth_answer(req, self._oauth_error(
                    "incorrect_client_credentials",
                    "The client_id and/or client_secret passed are "
                    "incorrect."))
            sc = copy.deepcopy(self.knobs["device"])
            now = self.now()
            device_code = secrets.token_hex(20)
            user_code = sc["user_code"] or "%s-%s" % (
                "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ")
                        for _ in range(4)),
                "".join(secrets.choice(string.digits) for _ in range(4)))
            self.device_codes[device_code] = {
                "device_code": device_code, "user_code": user_code,
                "client_id": cid, "scope": p.get("scope", ""),
                "issued": now, "expires_at": now + sc["expires_in"],
                "interval": sc["interval"], "polls": 0, "pending_given": 0,
                "last_poll": None, "state": "pending", "forced": None,
                "scenario": sc,
            }
            self.log("github: device code %s user code %s"
                     % (device_code, user_code))
            return self._oauth_answer(req, {
                "device_code": device_code, "user_code": user_code,
                "verification_uri": self._base(req) + "/login/device",
                "expires_in": sc["expires_in"], "interval": sc["interval"]})

    def _access_token(self, req):
        p = self._params(req)
        with self._gh:
            now = self.now()
            if p.get("grant_type") != DEVICE_GRANT:
                return self._oauth_answer(req, self._oauth_error(
                    "unsupported_grant_type",
                    "The grant type is not supported."))
            code = p.get("device_code", "")
            ent = self.device_codes.get(code)
            rec = {"time": now, "device_code": code, "poll": None,
                   "since_prev": None}
            self.st["device_polls"].append(rec)
            if ent is None:
                rec["answer"] = "incorrect_device_code"
                return self._oauth_answer(req, self._oauth_error(
                    "incorrect_device_code",
                    "The device_code provided is not valid."))
            if p.get("client_id") != ent["client_id"]:
                rec["answer"] = "incorrect_client_credentials"
                return self._oauth_answer(req, self._oauth_error(
                    "incorrect_client_credentials",
                    "The client_id and/or client_secret passed are "
                    "incorrect."))
            sc = ent["scenario"]
            ent["polls"] += 1
            n = ent["polls"]
            rec["poll"] = n
            prev = ent["last_poll"]
            ent["last_poll"] = now
            if prev is not None:
                rec["since_prev"] = now - prev
            answer = self._poll_answer(ent, sc, n, now, prev, req)
            rec["answer"] = answer.get("error") or "success"
            rec["interval"] = ent["interval"]
            self.log("github: device poll %d -> %s" % (n, rec["answer"]))
            return self._oauth_answer(req, answer)

    def _poll_answer(self, ent, sc, n, now, prev, req):
        if ent["state"] == "consumed":
            return self._oauth_error("incorrect_device_code",
                                     "The device_code provided is not "
                                     "valid.")
        if ent["state"] == "expired" or now >= ent["expires_at"]:
            ent["state"] = "expired"
            return self._oauth_error("expired_token",
                                     "The device_code has expired.")
        if ent["state"] == "denied":
            return self._oauth_error("access_denied",
                                     "The authorization request was "
                                     "denied.")
        too_fast = (sc["enforce_interval"] and prev is not None
                    and now - prev < ent["interval"]
                    - sc["poll_tolerance_ms"] / 1000.0)
        if too_fast or n in sc["slow_down_polls"]:
            if sc["slow_down_interval"] is not None:
                ent["interval"] = sc["slow_down_interval"]
            else:
                ent["interval"] += 5
            err = self._oauth_error("slow_down", "Too many requests have "
                                    "been made in the same timeframe.")
            if (sc["slow_down_interval"] is not None
                    or sc["slow_down_include_interval"]):
                err["interval"] = ent["interval"]
            return err
        outcome = ent["forced"]
        if outcome is None:
            if (sc["outcome"] == "pending"
                    or ent["pending_given"] < sc["pending_polls"]):
                ent["pending_given"] += 1
                return self._oauth_error("authorization_pending",
                                         "The authorization request is "
                                         "still pending.")
            outcome = sc["outcome"]
        if outcome == "expired":
            ent["state"] = "expired"
            return self._oauth_error("expired_token",
                                     "The device_code has expired.")
        if outcome == "denied":
            ent["state"] = "denied"
            return self._oauth_error("access_denied",
                                     "The authorization request was "
                                     "denied.")
        ent["state"] = "consumed"
        token = rand_id("ghu_", 36)
        self.gh_tokens[token] = sc["login"]
        ent["access_token"] = token
        self.log("github: issued gh token %s for %s" % (token, sc["login"]))
        return {"access_token": token, "token_type": "bearer",
                "scope": ent["scope"] or "read:user"}

    # -- api.github.com --
    def _user(self, req):
        with self._gh:
            self.st["user_calls"] += 1
            login = self._login_of(self._auth_token(req) or "")
        if login is None:
            return self._bad_credentials()
        uid = int(hashlib.sha256(login.encode()).hexdigest()[:7], 16)
        return self._gh_json(200, {
            "login": login, "id": uid,
            "node_id": "U_kgDO" + base64.b64encode(
                str(uid).encode()).decode().rstrip("="),
            "avatar_url": "https://avatars.githubusercontent.com/u/%d?v=4"
                          % uid,
            "gravatar_id": "", "url": "https://api.github.com/users/" + login,
            "html_url": "https://github.com/" + login, "type": "User",
            "user_view_type": "private", "site_admin": False,
            "name": login.title(), "company": None, "blog": "",
            "location": None, "email": None, "hireable": None, "bio": None,
            "twitter_username": None, "public_repos": 3, "public_gists": 0,
            "followers": 1, "following": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z"},
            extra=[["X-OAuth-Scopes", "read:user"]])

    def _token(self, req):
        with self._gh:
            self.st["token_exchanges"] += 1
            tok = self._auth_token(req)
            rec = {"time": self.now(), "gh_token": tok, "status": None}
            self.st["token_exchange_log"].append(rec)
            latency = self.knobs["token_latency_ms"]
            resp = self._token_answer(tok, self._base(req))
            rec["status"] = resp.get("status", 200)
            if rec["status"] == 200:
                self.st["token_exchanges_ok"] += 1
        if latency:
            resp["headers_delay_ms"] = latency
        return resp

    def _token_answer(self, tok, base):
        if self.knobs["token_failures"] > 0:
            self.knobs["token_failures"] -= 1
            return self._gh_json(self.knobs["token_failure_status"],
                                 {"message": "Server Error"})
        if not tok:
            return self._gh_json(401, {"message": "Requires authentication",
                                       "documentation_url": DOCS_URL})
        if tok.startswith("ghp_") or tok.startswith("github_pat_"):
            return self._gh_json(403, {
                "message": "Personal access tokens are not supported for "
                           "GitHub Copilot: sign in with the device flow "
                           "(an OAuth or GitHub App user token) instead.",
                "documentation_url": DOCS_URL})
        login = self._login_of(tok)
        if login is None:
            return self._bad_credentials()
        if login in self.knobs["no_copilot_logins"]:
            if self.knobs["no_copilot_status"] == 404:
                return self._gh_json(404, {
                    "message": "Not Found: %s has no GitHub Copilot "
                               "access" % login,
                    "documentation_url": DOCS_URL})
            return self._gh_json(403, {
                "message": "You do not have access to GitHub Copilot. "
                           "%s has no Copilot seat or subscription." % login,
                "error_details": {
                    "url": "https://github.com/features/copilot",
                    "message": "You do not have access to GitHub Copilot.",
                    "title": "No Copilot access",
                    "notification_id": "no_copilot_access"},
                "documentation_url": DOCS_URL})
        return self._issue_copilot_token(tok, login, base)

    def _issue_copilot_token(self, gh_token, login, base):
        now = self.now()
        ttl = self.knobs["token_ttl"]
        exp = int(now + ttl)
        refresh_in = self.knobs["refresh_in"]
        if refresh_in is None:
            refresh_in = max(int(ttl) - 60, 1)
        plan = self._plan(login)
        sku = SKUS.get(plan, "monthly_subscriber_quota")
        mac = hmac.new(self._sig_key, secrets.token_bytes(16),
                       hashlib.sha256).hexdigest()
        token = ("tid=%s;exp=%d;sku=%s;proxy-ep=proxy.%s.githubcopilot.com;"
                 "st=dotcom;chat=1;cit=1;malfil=1;editor_preview_features=1;"
                 "ccr=1;rt=1;8kp=1;ip=127.0.0.1;asn=AS0:%s"
                 % (secrets.token_hex(16), exp, sku, plan, mac))
        self.cp_tokens[token] = {"login": login, "gh_token": gh_token,
                                 "issued": now, "expires_at": exp,
                                 "revoked": False}
        self.log("github: issued copilot token %s (exp %d) for %s"
                 % (token, exp, login))
        api = self.knobs["copilot_api_base"] or base + CP
        return self._gh_json(200, {
            "annotations_enabled": True, "chat_enabled": True,
            "chat_jetbrains_enabled": True, "code_quote_enabled": True,
            "code_review_enabled": True, "codesearch": True,
            "copilotignore_enabled": False,
            "endpoints": {"api": api, "origin-tracker":
                          base + "/origin-tracker", "proxy": base + "/proxy",
                          "telemetry": base + "/telemetry"},
            "expires_at": exp, "individual": plan in ("individual", "free",
                                                      "individual_pro"),
            "limited_user_quotas": None, "limited_user_reset_date": None,
            "prompt_8k": True, "public_suggestions": "disabled",
            "refresh_in": refresh_in, "sku": sku,
            "snippy_load_test_enabled": False, "telemetry": "disabled",
            "token": token, "tracking_id": secrets.token_hex(16),
            "vsc_electron_fetcher_v2": False, "xcode": True,
            "xcode_chat": False})

    def _copilot_user(self, req):
        with self._gh:
            self.st["copilot_user_calls"] += 1
            login = self._login_of(self._auth_token(req) or "")
            if login is None:
                return self._bad_credentials()
            if login in self.knobs["no_copilot_logins"]:
                return self._gh404()
            plan = self._plan(login)
            used = self.st["premium_used"]
            snaps = self._quota_snapshots(plan, used)
            reset = self.knobs["quota_reset_date"]
            if reset is None:
                t = time.gmtime(self.now())
                y, mo = (t.tm_year + 1, 1) if t.tm_mon == 12 else (
                    t.tm_year, t.tm_mon + 1)
                reset = "%04d-%02d-01" % (y, mo)
            return self._gh_json(200, {
                "login": login, "access_type_sku": SKUS.get(plan, plan),
                "analytics_tracking_id": hashlib.md5(
                    login.encode()).hexdigest(),
                "assigned_date": "2025-01-01T00:00:00Z",
                "can_signup_for_limited": False, "chat_enabled": True,
                "copilot_plan": plan, "organization_login_list": [],
                "organization_list": [],
                "quota_reset_date": reset,
                "quota_reset_date_utc": reset + "T00:00:00.000Z",
                "quota_snapshots": snaps})

    def _quota_snapshots(self, plan, used):
        ent = PREMIUM_ENTITLEMENT.get(plan, 300)
        rem = max(ent - used, 0)
        snaps = {
            "premium_interactions": {
                "entitlement": ent, "remaining": int(rem),
                "quota_remaining": float(rem),
                "percent_remaining": round(rem * 100.0 / ent, 2) if ent
                else 0.0,
                "unlimited": False,
                "overage_count": int(max(used - ent, 0)),
                "overage_permitted": False,
                "quota_id": "premium_interactions"},
        }
        for name, free_ent in (("chat", 50), ("completions", 2000)):
            if plan == "free":
                snaps[name] = {"entitlement": free_ent, "remaining": free_ent,
                               "quota_remaining": float(free_ent),
                               "percent_remaining": 100.0,
                               "unlimited": False, "overage_count": 0,
                               "overage_permitted": False, "quota_id": name}
            else:
                snaps[name] = {"entitlement": 0, "remaining": 0,
                               "quota_remaining": 0.0,
                               "percent_remaining": 100.0, "unlimited": True,
                               "overage_count": 0, "overage_permitted": False,
                               "quota_id": name}
        for name, over in self.knobs["quota"].items():
            if isinstance(over, dict):
                snaps.setdefault(name, {}).update(over)
        return snaps

    # -- Copilot API --
    def models(self):
        with self._gh:
            ms = [m for m in default_models()
                  if m["id"] not in self.knobs["models_remove"]]
            ms += copy.deepcopy(self.knobs["models_extra"])
            for m in ms:
                st = self.knobs["model_policy"].get(m.get("id"))
                if st is not None:
                    m.setdefault("policy", {})["state"] = st
            return ms

    def model(self, mid):
        for m in self.models():
            if m.get("id") == mid:
                return m
        return None

    def _cp_headers(self, req, ctype=None):
        h = [["x-request-id", req.header("x-request-id") or str(uuid.uuid4())],
             ["x-github-request-id", "%04X:%06X:%06X:%08X" % (
                 secrets.randbits(16), secrets.randbits(24),
                 secrets.randbits(24), secrets.randbits(32))]]
        if ctype:
            h.append(["Content-Type", ctype])
        return h

    def _cp_json(self, req, obj, status=200):
        """A JSON answer, gzip-compressed when accepted and enabled."""
        data = compact_json(obj)
        headers = self._cp_headers(req, "application/json")
        accept = (req.header("accept-encoding") or "").lower()
        if self.knobs["gzip"] and "gzip" in accept:
            data = gzip.compress(data)
            headers.append(["Content-Encoding", "gzip"])
        return {"status": status, "headers": headers,
                "body_b64": base64.b64encode(data).decode("ascii")}

    def _cp_error(self, req, resp):
        resp = dict(resp)
        resp["headers"] = self._cp_headers(req) + list(resp.get("headers",
                                                                []))
        return resp

    def _copilot_api(self, req, sub):
        counter = {"/models": "models_calls",
                   "/chat/completions": "chat_calls",
                   "/responses": "responses_calls",
                   "/embeddings": "embeddings_calls",
                   "/v1/messages": "messages_calls"}[sub]
        rec = {"time": self.now(), "path": req.path, "model": None,
               "stream": False, "status": None,
               "initiator": req.header("x-initiator"),
               "vision_header": req.header("copilot-vision-request"),
               "images": 0, "token": None}
        with self._gh:
            self.st[counter] += 1
            self.st["api_log"].append(rec)
        resp = self._copilot_api_inner(req, sub, rec)
        rec["status"] = resp.get("status", 200)
        if rec["status"] == 401:
            with self._gh:
                self.st["unauthorized_calls"] += 1
        return resp

    def _copilot_api_inner(self, req, sub, rec):
        tok = self._auth_token(req, schemes=("bearer",))
        rec["token"] = tok
        with self._gh:
            valid = tok is not None and self._cp_valid(tok)
        if not valid:
            return self._cp_error(req, unauthorized())
        if not req.header("copilot-integration-id"):
            return self._cp_error(req, openai_error(
                400, "missing required header Copilot-Integration-Id: "
                "requests without an integration id go to a restricted "
                "integrator and are refused",
                "missing_integration_id"))
        if sub == "/models":
            if req.method != "GET":
                return self._cp_error(req, openai_error(
                    405, "method not allowed", "method_not_allowed"))
            return self._cp_json(req, {"data": self.models(),
                                       "object": "list"})
        if req.method != "POST":
            return self._cp_error(req, openai_error(
                405, "method not allowed", "method_not_allowed"))
        try:
            body = req.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            return self._cp_error(req, openai_error(
                400, "invalid request body: %s" % e, "invalid_request_body"))
        rec["model"] = body.get("model")
        rec["stream"] = bool(body.get("stream"))
        with self._gh:
            fail = (self.knobs["api_fail_next"].pop(0)
                    if self.knobs["api_fail_next"] else None)
        if fail is not None:
            return self._cp_error(req, self._scripted_failure(fail))
        # Router-level checks: model known, endpoint, policy.
        meta = self.model(body.get("model"))
        if meta is None:
            return self._cp_error(req, openai_error(
                400, "The requested model is not supported.",
                "model_not_supported", param="model"))
        if sub not in meta.get("supported_endpoints", [sub]):
            return self._cp_error(req, openai_error(
                400, "model %s is not accessible via the %s endpoint"
                % (meta["id"], sub), "unsupported_api_for_model"))
        if meta.get("policy", {}).get("state", "enabled") != "enabled":
            return self._cp_error(req, openai_error(
                400, "The requested model is not supported: model %s is "
                "not enabled by policy (state %s)."
                % (meta["id"], meta["policy"]["state"]),
                "model_not_supported", param="model"))
        handler = {"/chat/completions": self._chat,
                   "/responses": self._responses,
                   "/embeddings": self._embeddings,
                   "/v1/messages": self._messages}[sub]
        resp = handler(req, body, meta, rec)
        if resp.get("status", 200) >= 400:
            return self._cp_error(req, resp)
        lat = self.knobs["chat_latency_ms"]
        if lat and "headers_delay_ms" not in resp:
            resp["headers_delay_ms"] = lat
        return resp

    @staticmethod
    def _scripted_failure(fail):
        status = fail.get("status", 500)
        if status == 401 and "message" not in fail:
            return unauthorized()
        headers = []
        if fail.get("retry_after") is not None:
            headers.append(["Retry-After", str(fail["retry_after"])])
        if "body" in fail:
            return {"status": status, "headers": headers + [
                ["Content-Type", "text/plain; charset=utf-8"]],
                "body": str(fail["body"])}
        return openai_error(status, fail.get("message", "scripted failure"),
                            fail.get("code", "fake_failure"),
                            fail.get("type", "server_error"
                                     if status >= 500 else
                                     "invalid_request_error"),
                            headers=headers or None)

    def _vision_checks(self, req, meta, images, flavor):
        hdr = (req.header("copilot-vision-request") or "").lower()
        if images:
            if not meta["capabilities"]["supports"].get("vision"):
                msg = "model %s does not support image input" % meta["id"]
                if flavor == "anthropic":
                    return anthropic_error(400, "invalid_request_error", msg)
                return openai_error(400, msg, "invalid_request_body")
            if self.knobs["require_vision_header"] and hdr != "true":
                return openai_error(
                    400, "missing required Copilot-Vision-Request header "
                    "for vision requests", "invalid_request_body")
        elif hdr == "true" and self.knobs["vision_header_misuse_status"]:
            return openai_error(
                self.knobs["vision_header_misuse_status"],
                "Copilot-Vision-Request sent without image content",
                "rate_limited", "rate_limit_error",
                headers=[["Retry-After", "2"]])
        return None

    def _count_usage(self, req, meta):
        init = req.header("x-initiator") or "none"
        with self._gh:
            d = self.st["initiators"]
            d[init] = d.get(init, 0) + 1
            billing = meta.get("billing", {})
            if init != "agent" and billing.get("is_premium"):
                self.st["premium_used"] += float(billing.get("multiplier",
                                                             1))

    def _resp_model(self, meta):
        if self.knobs["response_model"] == "version":
            return meta.get("version") or meta["id"]
        return meta["id"]

    # Streaming response helper: events is a list of str; marks gives the
    # event indices after which to stall / close.
    def _stream_resp(self, req, events, marks, magic):
        with self._gh:
            self.st["stream_count"] += 1
            nstream = self.st["stream_count"]
            split = self.knobs["sse_split"]
            seed = self.knobs["sse_seed"]
            chunked = self.knobs["chunked"]
        ends = []
        total = 0
        for e in events:
            total += len(e.encode("utf-8"))
            ends.append(total)

        def after(idx):
            idx = max(0, min(idx, len(ends) - 1))
            return ends[idx]
        r = {"status": 200,
             "headers": self._cp_headers(req, "text/event-stream") + [
                 ["Cache-Control", "no-cache"]],
             "sse": events, "chunked": chunked}
        if split == "random":
            rng = random.Random(seed * 1000003 + nstream)
            cuts, pos = [], 0
            while True:
                pos += rng.randint(1, 24)
                if pos >= total:
                    break
                cuts.append(pos)
            r["split"] = cuts
        elif split:
            r["split_every"] = split
        if magic.get("SLOW"):
            r["delay_ms"] = 300
        if magic.get("STALL"):
            r["stall_after_bytes"] = after(marks["first_delta"])
            r["stall_ms"] = STALL_FOREVER_MS
        elif "SILENT" in magic:
            r["stall_after_bytes"] = after(marks["role"])
            r["stall_ms"] = magic["SILENT"] * 1000.0
        if magic.get("CLOSE_EARLY"):
            r["close_after_bytes"] = after(marks["second_delta"])
        return r

    @staticmethod
    def _plen(magic):
        """Text delta size: LONG:n streams one "x " per delta."""
        return 2 if "LONG" in magic else 4

    def _plain_resp(self, req, obj, magic):
        r = self._cp_json(req, obj)
        if magic.get("STALL"):
            r["headers_delay_ms"] = STALL_FOREVER_MS
        elif magic.get("SLOW"):
            r["headers_delay_ms"] = 300
        if magic.get("CLOSE_EARLY"):
            r["close_after_bytes"] = len(base64.b64decode(r["body_b64"])) // 2
        return r

    # -- /chat/completions --
    def _chat(self, req, body, meta, rec):
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(
                isinstance(x, dict) for x in msgs):
            return openai_error(400, "messages: expected a non-empty array "
                                "of message objects", "invalid_request_body",
                                param="messages")
        stream = bool(body.get("stream"))
        supports = meta["capabilities"]["supports"]
        if stream and not supports.get("streaming", True):
            return openai_error(400, "Unsupported value: 'stream' does not "
                                "support true with this model. Supported "
                                "values are: false.", "unsupported_value",
                                param="stream")
        if meta["capabilities"]["family"] == "o1" and "max_tokens" in body:
            return openai_error(400, "Unsupported parameter: 'max_tokens' "
                                "is not supported with this model. Use "
                                "'max_completion_tokens' instead.",
                                "unsupported_parameter", param="max_tokens")
        last_user, images = "", 0
        nchars = tools_chars(body.get("tools"))
        all_images = 0
        for mm in msgs:
            t, im = parts_text(mm.get("content"))
            nchars += len(t)
            all_images += im
            for tc in mm.get("tool_calls") or []:
                if isinstance(tc, dict):
                    nchars += len(str((tc.get("function") or {}).get(
                        "arguments", "")))
            if mm.get("role") == "user":
                last_user, images = t, im
        rec["images"] = all_images
        magic = parse_magic(last_user)
        if "error" in magic:
            return magic_error(magic["error"], "openai", meta)
        err = self._vision_checks(req, meta, all_images, "openai")
        if err:
            return err
        prompt_tokens = tokens_of(nchars)
        limit = meta["capabilities"]["limits"].get("max_prompt_tokens")
        if limit and prompt_tokens > limit:
            return openai_error(400, "prompt token count of %d exceeds the "
                                "limit of %d" % (prompt_tokens, limit),
                                "model_max_prompt_tokens_exceeded")
        self._count_usage(req, meta)
        choices = self._chat_plan(body, msgs, meta, last_user, images, magic)
        max_toks = body.get("max_completion_tokens", body.get("max_tokens"))
        comp_chars = 0
        comp_tokens = None
        for c in choices:
            if c["text"] is not None:
                if (isinstance(max_toks, int) and max_toks > 0
                        and tokens_of(len(c["text"])) > max_toks):
                    c["text"] = c["text"][:max_toks * 4]
                    c["finish"] = "length"
                    comp_tokens = max_toks
                comp_chars += len(c["text"])
            for call in c["calls"]:
                comp_chars += len(call["arguments"])
        if comp_tokens is None:
            comp_tokens = tokens_of(comp_chars)
        usage = {"completion_tokens": comp_tokens,
                 "completion_tokens_details": {
                     "accepted_prediction_tokens": 0,
                     "rejected_prediction_tokens": 0,
                     "reasoning_tokens": 0},
                 "prompt_tokens": prompt_tokens,
                 "prompt_tokens_details": {"cached_tokens": 0},
                 "total_tokens": prompt_tokens + comp_tokens}
        cid = rand_id("chatcmpl-", 29)
        created = int(self.now())
        model = self._resp_model(meta)
        fp = "fp_" + hashlib.sha1(meta["id"].encode()).hexdigest()[:10]
        if not stream:
            out = []
            for c in choices:
                msg = {"role": "assistant", "content": c["text"]}
                if c["calls"]:
                    msg["tool_calls"] = [
                        {"id": k["id"], "type": "function",
                         "function": {"name": k["name"],
                                      "arguments": k["arguments"]}}
                        for k in c["calls"]]
                out.append({"index": c["index"], "message": msg,
                            "finish_reason": c["finish"],
                            "content_filter_results": FILTER_RESULTS})
            return self._plain_resp(req, {
                "choices": out, "created": created, "id": cid,
                "model": model, "object": "chat.completion",
                "prompt_filter_results": [{
                    "content_filter_results": FILTER_RESULTS,
                    "prompt_index": 0}],
                "system_fingerprint": fp, "usage": usage}, magic)
        return self._chat_stream(req, body, choices, usage, cid, created,
                                 model, fp, magic)

    def _chat_plan(self, body, msgs, meta, last_user, images, magic):
        last = msgs[-1]
        tools = [t for t in (body.get("tools") or [])
                 if isinstance(t, dict)]
        names = [((t.get("function") or {}).get("name") or t.get("name")
                  or "tool") for t in tools]
        tool_choice = body.get("tool_choice")
        is_claude = meta["capabilities"]["family"].startswith("claude")

        def call(name, args):
            prefix = "toolu_vrtx_" if is_claude else "call_"
            return {"id": rand_id(prefix, 24), "name": name,
                    "arguments": json.dumps(args, ensure_ascii=False)}
        if last.get("role") == "tool":
            t, _ = parts_text(last.get("content"))
            return [{"index": 0, "text": "tool said: " + t, "calls": [],
                     "finish": "stop"}]
        if "LONG" in magic:
            text = "x " * magic["LONG"]
        else:
            text = "echo: " + last_user
            if images:
                text += " [images: %d]" % images
        use_tools = (tools and last.get("role") == "user"
                     and tool_choice != "none")
        if use_tools and magic.get("TWO_CHOICES"):
            return [{"index": 0, "text": text, "calls": [],
                     "finish": "tool_calls"},
                    {"index": 1, "text": None,
                     "calls": [call(names[0], {"echo": last_user})],
                     "finish": "tool_calls"}]
        if use_tools and magic.get("INTERLEAVE") and len(tools) >= 2:
            return [{"index": 0, "text": None, "interleave": True,
                     "calls": [call(names[0], {"n": 0, "echo": last_user}),
                               call(names[1], {"n": 1, "echo": last_user})],
                     "finish": "tool_calls"}]
        if use_tools:
            name = names[0]
            if isinstance(tool_choice, dict):
                name = ((tool_choice.get("function") or {}).get("name")
                        or name)
            return [{"index": 0, "text": None,
                     "calls": [call(name, {"echo": last_user})],
                     "finish": "tool_calls"}]
        return [{"index": 0, "text": text, "calls": [], "finish": "stop"}]

    def _chat_stream(self, req, body, choices, usage, cid, created, model,
                     fp, magic):
        base = {"created": created, "id": cid, "model": model,
                "system_fingerprint": fp}
        events = [sse_data({
            "choices": [], "created": 0, "id": "",
            "prompt_filter_results": [{
                "content_filter_results": FILTER_RESULTS,
                "prompt_index": 0}]})]
        first = choices[0]
        events.append(sse_data(dict(base, object="chat.completion.chunk",
                                    choices=[{
                                        "index": 0,
                                        "delta": {"content": ""
                                                  if first["text"] is not None
                                                  else None,
                                                  "role": "assistant"},
                                        "finish_reason": None,
                                        "logprobs": None}])))
        marks = {"role": 1}
        deltas = []

        def delta(idx, d):
            events.append(sse_data(dict(base, choices=[{"index": idx,
                                                        "delta": d}])))
            deltas.append(len(events) - 1)
        for c in choices:
            i = c["index"]
            if c["text"] is not None:
                for k, piece in enumerate(pieces(c["text"],
                                                 self._plen(magic))):
                    d = {"content": piece}
                    if i > 0 and k == 0:
                        d["role"] = "assistant"
                    delta(i, d)
            calls = c["calls"]
            heads = [{"index": k, "id": x["id"], "type": "function",
                      "function": {"name": x["name"], "arguments": ""}}
                     for k, x in enumerate(calls)]
            frags = [[{"index": k, "function": {"arguments": p}}
                      for p in pieces(x["arguments"], 5)]
                     for k, x in enumerate(calls)]
            if c.get("interleave") and len(calls) >= 2:
                order = [heads[0], frags[0].pop(0), heads[1],
                         frags[1].pop(0)]
                while frags[0] or frags[1]:
                    for f in frags:
                        if f:
                            order.append(f.pop(0))
                for tc in order:
                    delta(i, {"tool_calls": [tc]})
            else:
                for k in range(len(calls)):
                    d = {"tool_calls": [heads[k]]}
                    if i > 0 and k == 0 and c["text"] is None:
                        d["role"] = "assistant"
                    delta(i, d)
                    for f in frags[k]:
                        delta(i, {"tool_calls": [f]})
        marks["first_delta"] = deltas[0] if deltas else 1
        marks["second_delta"] = deltas[1] if len(deltas) > 1 else (
            marks["first_delta"])
        fin = dict(base, object="chat.completion.chunk", choices=[
            {"index": c["index"], "finish_reason": c["finish"],
             "delta": {"content": None},
             "content_filter_results": FILTER_RESULTS} for c in choices])
        if self.knobs["usage_on_finish"]:
            fin["usage"] = usage
        events.append(sse_data(fin))
        so = body.get("stream_options")
        if isinstance(so, dict) and so.get("include_usage"):
            events.append(sse_data(dict(base, choices=[], usage=usage)))
        events.append("data: [DONE]\n\n")
        return self._stream_resp(req, events, marks, magic)

    # -- /responses --
    def _responses(self, req, body, meta, rec):
        inp = body.get("input")
        if not isinstance(inp, (str, list)) or not inp:
            return openai_error(400, "input: expected a string or a "
                                "non-empty array", "invalid_request_body",
                                param="input")
        stream = bool(body.get("stream"))
        items = [{"role": "user", "content": inp}] if isinstance(
            inp, str) else [x for x in inp if isinstance(x, dict)]
        nchars = len(str(body.get("instructions") or ""))
        last_user, images, all_images = "", 0, 0
        for it in items:
            typ = it.get("type", "message")
            if typ == "message" or "role" in it:
                t, im = parts_text(it.get("content"))
                nchars += len(t)
                all_images += im
                if it.get("role") == "user":
                    last_user, images = t, im
            elif typ == "function_call":
                nchars += len(str(it.get("arguments", "")))
            elif typ == "function_call_output":
                nchars += len(str(it.get("output", "")))
        rec["images"] = all_images
        magic = parse_magic(last_user)
        if "error" in magic:
            return magic_error(magic["error"], "openai", meta)
        err = self._vision_checks(req, meta, all_images, "openai")
        if err:
            return err
        prompt_tokens = tokens_of(nchars)
        self._count_usage(req, meta)
        last = items[-1] if items else {}
        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict)
                 and t.get("type", "function") == "function"]
        names = [t.get("name") or (t.get("function") or {}).get("name")
                 or "tool" for t in tools]
        output = []
        if meta["capabilities"]["family"].startswith("gpt-5"):
            output.append({"id": rand_id("rs_", 40), "type": "reasoning",
                           "summary": []})
        text = None
        call = None
        if last.get("type") == "function_call_output":
            text = "tool said: " + str(last.get("output", ""))
        elif (tools and last.get("role") == "user"
              and body.get("tool_choice") != "none"):
            call = {"id": rand_id("fc_", 40), "type": "function_call",
                    "status": "completed", "call_id": rand_id("call_", 24),
                    "name": names[0],
                    "arguments": json.dumps({"echo": last_user},
                                            ensure_ascii=False)}
        elif "LONG" in magic:
            text = "x " * magic["LONG"]
        else:
            text = "echo: " + last_user + (" [images: %d]" % images
                                           if images else "")
        status, incomplete = "completed", None
        max_out = body.get("max_output_tokens")
        if text is not None:
            comp = tokens_of(len(text))
            if isinstance(max_out, int) and max_out > 0 and comp > max_out:
                text = text[:max_out * 4]
                comp = max_out
                status = "incomplete"
                incomplete = {"reason": "max_output_tokens"}
            output.append({"id": rand_id("msg_", 40), "type": "message",
                           "status": status, "role": "assistant",
                           "content": [{"type": "output_text", "text": text,
                                        "annotations": [], "logprobs": []}]})
        else:
            comp = tokens_of(len(call["arguments"]))
            output.append(call)
        usage = {"input_tokens": prompt_tokens,
                 "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": comp,
                 "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": prompt_tokens + comp}
        resp = {"id": rand_id("resp_", 40), "object": "response",
                "created_at": int(self.now()), "status": status,
                "background": False, "error": None,
                "incomplete_details": incomplete,
                "instructions": body.get("instructions"),
                "max_output_tokens": max_out,
                "model": self._resp_model(meta), "output": output,
                "parallel_tool_calls": body.get("parallel_tool_calls", True),
                "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": (body.get("reasoning") or {}).get(
                    "effort"), "summary": None},
                "store": body.get("store", False),
                "temperature": body.get("temperature", 1.0),
                "text": {"format": {"type": "text"}},
                "tool_choice": body.get("tool_choice", "auto"),
                "tools": body.get("tools") or [],
                "top_p": body.get("top_p", 1.0), "truncation": "disabled",
                "usage": usage, "user": None, "metadata": {}}
        if not stream:
            return self._plain_resp(req, resp, magic)
        return self._responses_stream(req, resp, magic)

    def _responses_stream(self, req, resp, magic):
        events = []
        seq = [0]

        def ev(name, obj):
            obj = dict({"type": name, "sequence_number": seq[0]}, **obj)
            seq[0] += 1
            events.append(sse_event(name, obj))
        head = dict(resp, status="in_progress", output=[], usage=None,
                    incomplete_details=None)
        ev("response.created", {"response": head})
        ev("response.in_progress", {"response": head})
        marks = {"role": 1}
        deltas = []
        for oi, item in enumerate(resp["output"]):
            if item["type"] == "reasoning":
                ev("response.output_item.added",
                   {"output_index": oi, "item": item})
                ev("response.output_item.done",
                   {"output_index": oi, "item": item})
                continue
            if item["type"] == "message":
                text = item["content"][0]["text"]
                ev("response.output_item.added", {"output_index": oi, "item":
                                                  dict(item, content=[],
                                                       status="in_progress")})
                marks["role"] = len(events) - 1
                part0 = {"type": "output_text", "text": "",
                         "annotations": [], "logprobs": []}
                ev("response.content_part.added",
                   {"item_id": item["id"], "output_index": oi,
                    "content_index": 0, "part": part0})
                for p in pieces(text, self._plen(magic)):
                    ev("response.output_text.delta",
                       {"item_id": item["id"], "output_index": oi,
                        "content_index": 0, "delta": p, "logprobs": []})
                    deltas.append(len(events) - 1)
                ev("response.output_text.done",
                   {"item_id": item["id"], "output_index": oi,
                    "content_index": 0, "text": text, "logprobs": []})
                ev("response.content_part.done",
                   {"item_id": item["id"], "output_index": oi,
                    "content_index": 0, "part": item["content"][0]})
                ev("response.output_item.done",
                   {"output_index": oi, "item": item})
            else:
                ev("response.output_item.added", {"output_index": oi, "item":
                                                  dict(item, arguments="",
                                                       status="in_progress")})
                marks["role"] = len(events) - 1
                for p in pieces(item["arguments"], 5):
                    ev("response.function_call_arguments.delta",
                       {"item_id": item["id"], "output_index": oi,
                        "delta": p})
                    deltas.append(len(events) - 1)
                ev("response.function_call_arguments.done",
                   {"item_id": item["id"], "output_index": oi,
                    "arguments": item["arguments"]})
                ev("response.output_item.done",
                   {"output_index": oi, "item": item})
        marks["first_delta"] = deltas[0] if deltas else marks["role"]
        marks["second_delta"] = deltas[1] if len(deltas) > 1 else (
            marks["first_delta"])
        final = ("response.incomplete" if resp["status"] == "incomplete"
                 else "response.completed")
        ev(final, {"response": resp})
        return self._stream_resp(req, events, marks, magic)

    # -- /embeddings --
    def _embeddings(self, req, body, meta, rec):
        if meta["capabilities"].get("type") != "embeddings":
            return openai_error(400, "model %s does not support embeddings"
                                % meta["id"], "unsupported_api_for_model")
        inp = body.get("input")
        if isinstance(inp, str):
            inputs = [inp]
        elif (isinstance(inp, list) and inp
              and all(isinstance(x, str) for x in inp)):
            inputs = inp
        else:
            return openai_error(400, "input: expected a string or a "
                                "non-empty array of strings",
                                "invalid_request_body", param="input")
        limit = meta["capabilities"]["limits"].get("max_inputs")
        if limit and len(inputs) > limit:
            return openai_error(400, "too many inputs: %d > %d"
                                % (len(inputs), limit),
                                "invalid_request_body", param="input")
        dims = body.get("dimensions", 8)
        if not isinstance(dims, int) or not 1 <= dims <= 3072:
            return openai_error(400, "dimensions must be 1..3072",
                                "invalid_request_body", param="dimensions")
        b64 = body.get("encoding_format") == "base64"
        data = []
        ntok = 0
        for i, text in enumerate(inputs):
            vec = embedding_vector(text, dims)
            ntok += tokens_of(len(text))
            emb = (base64.b64encode(b"".join(
                struct.pack("<f", v) for v in vec)).decode()
                if b64 else vec)
            data.append({"object": "embedding", "index": i,
                         "embedding": emb})
        return self._cp_json(req, {"object": "list", "data": data,
                                   "model": meta["id"],
                                   "usage": {"prompt_tokens": ntok,
                                             "total_tokens": ntok}})

    # -- /v1/messages (Anthropic) --
    def _sig(self, thinking):
        d = hmac.new(self._sig_key, thinking.encode("utf-8"),
                     hashlib.sha256).digest()
        return base64.b64encode(d * 3).decode("ascii")

    def _messages(self, req, body, meta, rec):
        if (self.knobs["require_anthropic_version"]
                and not req.header("anthropic-version")):
            return anthropic_error(400, "invalid_request_error",
                                   "anthropic-version: header is required")
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(
                isinstance(x, dict) for x in msgs):
            return anthropic_error(400, "invalid_request_error",
                                   "messages: Field required")
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) \
                or max_tokens < 1:
            return anthropic_error(400, "invalid_request_error",
                                   "max_tokens: Field required")
        thinking = body.get("thinking") or {}
        think_on = isinstance(thinking, dict) and \
            thinking.get("type") == "enabled"
        if think_on:
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                return anthropic_error(400, "invalid_request_error",
                                       "thinking.enabled.budget_tokens: "
                                       "Input should be greater than or "
                                       "equal to 1024")
            if max_tokens <= budget:
                return anthropic_error(400, "invalid_request_error",
                                       "`max_tokens` must be greater than "
                                       "`thinking.budget_tokens`")
        system = body.get("system")
        nchars = len(parts_text(system)[0]) if system else 0
        nchars += tools_chars(body.get("tools"))
        last_user, images, all_images = "", 0, 0
        tool_result = None
        for mi, mm in enumerate(msgs):
            content = mm.get("content")
            blocks = content if isinstance(content, list) else []
            t, im = parts_text(content)
            nchars += len(t)
            all_images += im
            results = []
            for bi, b in enumerate(blocks):
                if not isinstance(b, dict):
                    continue
                typ = b.get("type")
                if typ == "thinking":
                    nchars += len(str(b.get("thinking", "")))
                    if (mm.get("role") == "assistant"
                            and b.get("signature") != self._sig(
                                str(b.get("thinking", "")))):
                        return anthropic_error(
                            400, "invalid_request_error",
                            "messages.%d.content.%d: Invalid `signature` in "
                            "`thinking` block" % (mi, bi))
                elif typ == "tool_use":
                    nchars += len(json.dumps(b.get("input", {})))
                elif typ == "tool_result":
                    rt, rim = parts_text(b.get("content"))
                    nchars += len(rt)
                    all_images += rim
                    results.append(rt)
            if mm.get("role") == "user":
                last_user, images = t, im
                tool_result = "\n".join(results) if results else None
        rec["images"] = all_images
        magic = parse_magic(last_user)
        if "error" in magic:
            return magic_error(magic["error"], "anthropic", meta)
        err = self._vision_checks(req, meta, all_images, "anthropic")
        if err:
            return err
        prompt_tokens = tokens_of(nchars)
        self._count_usage(req, meta)
        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict)]
        tc = body.get("tool_choice") or {}
        tc_type = tc.get("type") if isinstance(tc, dict) else None
        blocks = []
        out_chars = 0
        if think_on:
            th = "Thinking about: " + (last_user or tool_result or "")
            blocks.append({"type": "thinking", "thinking": th,
                           "signature": self._sig(th)})
            out_chars += len(th)
        stop = "end_turn"
        last_role = msgs[-1].get("role")
        if tool_result is not None and last_role == "user":
            text = "tool said: " + tool_result
        elif "LONG" in magic:
            text = "x " * magic["LONG"]
        else:
            text = "echo: " + last_user + (" [images: %d]" % images
                                           if images else "")
        if tools and last_role == "user" and tool_result is None \
                and tc_type != "none":
            name = tools[0].get("name", "tool")
            if tc_type == "tool" and tc.get("name"):
                name = tc["name"]
            blocks.append({"type": "tool_use", "id": rand_id("toolu_01", 22),
                           "name": name, "input": {"echo": last_user}})
            out_chars += len(json.dumps(blocks[-1]["input"]))
            stop = "tool_use"
            out_tokens = tokens_of(out_chars)
        else:
            out_tokens = tokens_of(out_chars + len(text))
            if out_tokens > max_tokens:
                text = text[:max(0, max_tokens * 4 - out_chars)]
                out_tokens = max_tokens
                stop = "max_tokens"
            blocks.append({"type": "text", "text": text})
        usage = {"input_tokens": prompt_tokens,
                 "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0,
                 "output_tokens": out_tokens}
        msg = {"id": rand_id("msg_01", 22), "type": "message",
               "role": "assistant", "model": meta["id"], "content": blocks,
               "stop_reason": stop, "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            return self._plain_resp(req, msg, magic)
        return self._messages_stream(req, msg, magic)

    def _messages_stream(self, req, msg, magic):
        events = []

        def ev(name, obj):
            events.append(sse_event(name, dict({"type": name}, **obj)))
        start = dict(msg, content=[], stop_reason=None,
                     usage=dict(msg["usage"], output_tokens=1))
        ev("message_start", {"message": start})
        marks = {"role": 0}
        deltas = []
        for i, b in enumerate(msg["content"]):
            if b["type"] == "thinking":
                ev("content_block_start", {"index": i, "content_block": {
                    "type": "thinking", "thinking": "", "signature": ""}})
                for p in pieces(b["thinking"]):
                    ev("content_block_delta", {"index": i, "delta": {
                        "type": "thinking_delta", "thinking": p}})
                    deltas.append(len(events) - 1)
                ev("content_block_delta", {"index": i, "delta": {
                    "type": "signature_delta", "signature": b["signature"]}})
            elif b["type"] == "text":
                ev("content_block_start", {"index": i, "content_block": {
                    "type": "text", "text": ""}})
                for p in pieces(b["text"], self._plen(magic)):
                    ev("content_block_delta", {"index": i, "delta": {
                        "type": "text_delta", "text": p}})
                    deltas.append(len(events) - 1)
            else:
                ev("content_block_start", {"index": i, "content_block": {
                    "type": "tool_use", "id": b["id"], "name": b["name"],
                    "input": {}}})
                args = json.dumps(b["input"], ensure_ascii=False)
                for p in [""] + pieces(args, 5):
                    ev("content_block_delta", {"index": i, "delta": {
                        "type": "input_json_delta", "partial_json": p}})
                    deltas.append(len(events) - 1)
            if i == 0:
                ev("ping", {})
            ev("content_block_stop", {"index": i})
        marks["first_delta"] = deltas[0] if deltas else 0
        marks["second_delta"] = deltas[1] if len(deltas) > 1 else (
            marks["first_delta"])
        ev("message_delta", {"delta": {"stop_reason": msg["stop_reason"],
                                       "stop_sequence": None},
                             "usage": {"output_tokens":
                                       msg["usage"]["output_tokens"]}})
        ev("message_stop", {})
        return self._stream_resp(req, events, marks, magic)


# --------------------------------------------------------------------------
# CLI

def _add_arguments(ap):
    ap.add_argument("--config", help="JSON file of initial knobs")


def _server_kwargs(args):
    if not args.config:
        return {}
    try:
        with open(args.config, encoding="utf-8") as f:
            cfg = json.load(f)
        merge_knobs(DEFAULT_KNOBS, cfg)
    except (OSError, ValueError) as e:
        sys.stderr.write("github.py: bad config %s: %s\n" % (args.config, e))
        sys.exit(2)
    return {"config": cfg}


def main(argv=None):
    return scripted.main(argv, server_class=GitHubFake,
                         add_arguments=_add_arguments,
                         server_kwargs=_server_kwargs,
                         description="Fake GitHub + Copilot API server")


if __name__ == "__main__":
    sys.exit(main())
