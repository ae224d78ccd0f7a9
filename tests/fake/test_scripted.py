#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Self-test of tests/fake/scripted.py (run: python3 tests/fake/test_scripted.py).

Starts the fake as a subprocess on 127.0.0.1 port 0 and exercises every
feature, mostly with raw sockets.  Prints one line per test and a final
"N passed, M failed"; exit status 0 only if everything passed.
"""

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep the source tree clean

from fakelib import (start_fake, stop_fake, get_json, post_json,  # noqa: E402
                     request, delete, set_script)
from scripted import ScriptedServer  # noqa: E402

PORT = None
TESTS = []


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
# Raw HTTP client

class Raw:
    def __init__(self, port=None, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port or PORT),
                                          timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            self.eof = True
            raise EOFError("connection closed")
        self.buf += d

    def read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self):
        try:
            while True:
                self._fill()
        except EOFError:
            pass
        out, self.buf = self.buf, b""
        return out

    def at_eof(self, timeout=2.0):
        """True if the peer closes (with no more data) within timeout."""
        if self.buf:
            return False
        self.s.settimeout(timeout)
        try:
            return self.s.recv(1) == b""
        except socket.timeout:
            return False

    def read_head(self):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head[:-4].split("\r\n")
        proto, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        check(proto == "HTTP/1.1", "bad status line %r" % lines[0])
        headers = [tuple(x.split(": ", 1)) for x in lines[1:]]
        return int(status), reason, headers

    def read_chunked_raw(self):
        """Read a chunked body, checking the framing strictly.  Returns
        (list of chunk payloads, raw bytes)."""
        chunks = []
        raw = b""
        while True:
            line = self.read_until(b"\r\n")
            raw += line
            size_s = line[:-2]
            check(size_s and all(c in b"0123456789abcdefABCDEF"
                                 for c in size_s), "bad chunk line %r" % line)
            size = int(size_s, 16)
            if size == 0:
                end = self.read_exact(2)
                raw += end
                eq(end, b"\r\n", "chunked terminator")
                return chunks, raw
            data = self.read_exact(size)
            crlf = self.read_exact(2)
            raw += data + crlf
            eq(crlf, b"\r\n", "CRLF after chunk")
            chunks.append(data)

    def read_response(self, method="GET"):
        status, reason, headers = self.read_head()
        h = {k.lower(): v for k, v in headers}
        resp = {"status": status, "reason": reason, "headers": headers,
                "h": h, "chunks": None}
        if method == "HEAD" or status in (204, 304):
            resp["body"] = b""
        elif h.get("transfer-encoding") == "chunked":
            resp["chunks"], _ = self.read_chunked_raw()
            resp["body"] = b"".join(resp["chunks"])
        elif "content-length" in h:
            resp["body"] = self.read_exact(int(h["content-length"]))
        else:
            resp["body"] = self.read_to_eof()
        return resp

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def get_req(path, extra=""):
    return ("GET %s HTTP/1.1\r\nHost: fake\r\n%s\r\n" % (path, extra)).encode()


def raw_get(path, extra="Connection: close\r\n", method="GET"):
    r = Raw()
    try:
        r.send(("%s %s HTTP/1.1\r\nHost: fake\r\n%s\r\n"
                % (method, path, extra)).encode())
        return r.read_response(method)
    finally:
        r.close()


def timed_recvs(r, total_min, limit=10.0):
    """recv in a loop until EOF (or total_min bytes after the head);
    returns list of (time, bytes)."""
    out = []
    got = 0
    deadline = time.monotonic() + limit
    r.s.settimeout(limit)
    while time.monotonic() < deadline:
        d = r.s.recv(65536)
        if not d:
            break
        out.append((time.monotonic(), d))
        got += len(d)
        data = b"".join(x for _, x in out)
        if b"\r\n\r\n" in data and (
                len(data) - data.index(b"\r\n\r\n") - 4 >= total_min):
            break
    return out


def body_byte_times(recvs):
    """Map recv list -> (body bytes, per-body-byte arrival time, per-byte
    recv index)."""
    data = b"".join(x for _, x in recvs)
    start = data.index(b"\r\n\r\n") + 4
    times, idx = [], []
    pos = 0
    for i, (t, d) in enumerate(recvs):
        for _ in d:
            if pos >= start:
                times.append(t)
                idx.append(i)
            pos += 1
    return data[start:], times, idx


def records():
    return get_json(PORT, "/__fake/requests")


def conn_of(path):
    recs = [r for r in records() if r["path"] == path]
    check(recs, "no request recorded for %s" % path)
    return recs[-1]["conn_id"]


def wait_recorded(path, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r["path"] == path for r in records()):
            return
        time.sleep(0.02)
    raise AssertionError("%s never recorded" % path)


def connection(conn_id):
    for c in get_json(PORT, "/__fake/connections"):
        if c["conn_id"] == conn_id:
            return c
    raise AssertionError("connection %d not listed" % conn_id)


def wait_closed(conn_id, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = connection(conn_id)
        if c["closed"] is not None:
            return c
        time.sleep(0.02)
    raise AssertionError("connection %d not seen closed" % conn_id)


# --------------------------------------------------------------------------
# Tests

@test
def health_and_initial_script_file():
    eq(get_json(PORT, "/__fake/health"), {"ok": True}, "health")
    # route from the --script file given at start-up
    status, _, body = request(PORT, "GET", "/initial")
    eq((status, body), (200, b"from file"), "initial script")


@test
def script_replacement_and_validation():
    status, _, body = request(PORT, "POST", "/__fake/script", body="{bad")
    eq(status, 400, "invalid JSON")
    status, _, _ = request(PORT, "POST", "/__fake/script",
                           body={"routes": [{"path": "/a", "bogus": 1}]})
    eq(status, 400, "unknown key")
    status, _, _ = request(PORT, "POST", "/__fake/script",
                           body={"routes": [{"body": "x", "json": 1}]})
    eq(status, 400, "two body sources")
    eq(post_json(PORT, "/__fake/script",
                 {"routes": [{"path": "/new", "body": "new"}]}),
       {"ok": True}, "replace")
    eq(request(PORT, "GET", "/initial")[0], 404, "old route gone")
    eq(request(PORT, "GET", "/new")[2], b"new", "new route")
    eq(get_json(PORT, "/__fake/script")["routes"][0]["path"], "/new",
       "GET script")


@test
def matching_method_path_prefix_and_404():
    set_script(PORT, {"routes": [
        {"method": "POST", "path": "/m", "body": "post"},
        {"path_prefix": "/v1/", "body": "prefix"},
        {"method": "get", "path": "/m", "body": "get"},
    ]})
    eq(request(PORT, "POST", "/m", body="x")[2], b"post", "POST /m")
    eq(request(PORT, "GET", "/m")[2], b"get", "GET /m")
    eq(request(PORT, "GET", "/v1/models?x=1")[2], b"prefix", "prefix")
    status, headers, body = request(PORT, "GET", "/m/sub")
    eq(status, 404, "no route status")
    eq(json.loads(body), {"error": {"message": "no route", "type": "fake"}},
       "no route body")
    eq(request(PORT, "PUT", "/m", body="x")[0], 404, "method mismatch")


@test
def times_sequencing():
    set_script(PORT, {"routes": [
        {"path": "/seq", "times": 1, "status": 401, "json": {"e": 1}},
        {"path": "/seq", "times": 2, "body": "ok"},
    ]})
    got = [request(PORT, "GET", "/seq")[0] for _ in range(4)]
    eq(got, [401, 200, 200, 404], "sequence")
    # replacing the script resets the counters
    set_script(PORT, {"routes": [{"path": "/seq", "times": 1, "body": "a"}]})
    eq(request(PORT, "GET", "/seq")[0], 200, "after reset")
    eq(request(PORT, "GET", "/seq")[0], 404, "after reset, used up")


@test
def status_reason_headers_verbatim():
    set_script(PORT, {"routes": [
        {"path": "/h", "status": 418, "reason": "Teapot Time",
         "headers": {"X-Zeta": "1", "X-Alpha": "two"}, "body": "t"},
        {"path": "/dup", "headers": [["Set-Cookie", "a=1"],
                                     ["Set-Cookie", "b=2"]], "body": ""},
        {"path": "/cl", "headers": {"Content-Length": "3"}, "body": "abc"},
        {"path": "/nc", "status": 204},
    ]})
    r = raw_get("/h", extra="")
    eq((r["status"], r["reason"]), (418, "Teapot Time"), "status line")
    eq(r["headers"][:3], [("X-Zeta", "1"), ("X-Alpha", "two"),
                          ("Content-Length", "1")], "header order")
    eq(r["body"], b"t", "body")
    r = raw_get("/dup", extra="")
    eq([h for h in r["headers"] if h[0] == "Set-Cookie"],
       [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], "duplicate headers")
    r = raw_get("/cl", extra="")
    eq([h for h in r["headers"] if h[0].lower() == "content-length"],
       [("Content-Length", "3")], "route Content-Length kept, not added")
    r = raw_get("/nc", extra="")
    eq((r["status"], r["h"].get("content-length")), (204, None), "204")


@test
def body_sources():
    blob = bytes(range(256))
    set_script(PORT, {"routes": [
        {"path": "/b64", "body_b64": base64.b64encode(blob).decode()},
        {"path": "/json", "json": {"a": [1, 2], "s": "é"}},
        {"path": "/json2", "json": [1], "headers": {"content-type": "x/y"}},
        {"path": "/utf8", "body": "héllo"},
        {"path": "/sse", "sse": [{"a": 1}, "event: x\ndata: y\n\n",
                                 "[DONE]"]},
    ]})
    eq(raw_get("/b64")["body"], blob, "body_b64")
    r = raw_get("/json")
    eq(r["body"], '{"a":[1,2],"s":"é"}'.encode(), "compact json")
    eq(r["h"]["content-type"], "application/json", "json content-type")
    r = raw_get("/json2")
    eq([h for h in r["headers"] if h[0].lower() == "content-type"],
       [("content-type", "x/y")], "json keeps route content-type")
    eq(raw_get("/utf8")["body"], "héllo".encode(), "utf-8 body")
    r = raw_get("/sse")
    eq(r["body"], b'data: {"a":1}\n\nevent: x\ndata: y\n\ndata: [DONE]\n\n',
       "sse body")
    eq(r["h"]["content-type"], "text/event-stream", "sse content-type")


@test
def repeat_large_body():
    n = 3 * 1024 * 1024
    set_script(PORT, {"routes": [
        {"path": "/big", "repeat": {"text": "abc", "count": n}},
        {"path": "/bigc", "repeat": {"text": "xy", "count": 100000},
         "chunked": True},
    ]})
    status, headers, body = request(PORT, "GET", "/big")
    eq(status, 200, "status")
    eq(headers["Content-Length"], str(3 * n), "content-length")
    eq(len(body), 3 * n, "length")
    check(body[:9] == b"abcabcabc" and body[-6:] == b"abcabc"
          and body.count(b"abc") == n, "content")
    r = raw_get("/bigc")
    eq(r["body"], b"xy" * 100000, "chunked repeat body")
    check(max(len(c) for c in r["chunks"]) <= 65536, "bounded pieces")


@test
def split_offsets_arrive_separately():
    body = b"0123456789ABCDEFGHIJ"
    set_script(PORT, {"routes": [
        {"path": "/split", "body": body.decode(), "split": [5, 12],
         "delay_ms": 150}]})
    r = Raw()
    try:
        r.send(get_req("/split", "Connection: close\r\n"))
        recvs = timed_recvs(r, len(body))
    finally:
        r.close()
    data, times, idx = body_byte_times(recvs)
    eq(data, body, "body")
    for cut in (5, 12):
        gap = times[cut] - times[cut - 1]
        check(gap >= 0.12, "gap at %d only %.3fs" % (cut, gap))
        check(idx[cut] != idx[cut - 1], "bytes across cut %d in one recv"
              % cut)
    for a, b in ((0, 4), (5, 11), (12, 19)):
        check(times[b] - times[a] < 0.1, "piece %d-%d not together" % (a, b))


@test
def split_every_and_chunked_framing():
    set_script(PORT, {"routes": [
        {"path": "/c", "chunked": True, "body": "abcdefghij",
         "split": [3, 7]},
        {"path": "/ce", "chunked": True, "body": "abcdefghij",
         "split_every": 4},
        {"path": "/cs", "chunked": True,
         "sse": [{"i": 1}, {"i": 2}, "[DONE]"]},
        {"path": "/c0", "chunked": True, "body": ""},
    ]})
    r = Raw()
    try:
        r.send(get_req("/c", "Connection: close\r\n"))
        status, _, headers = r.read_head()
        check(("Transfer-Encoding", "chunked") in headers, "TE header")
        check(not any(k.lower() == "content-length" for k, _ in headers),
              "no Content-Length with chunked")
        eq(r.read_to_eof(), b"3\r\nabc\r\n4\r\ndefg\r\n3\r\nhij\r\n0\r\n\r\n",
           "raw chunked body")
    finally:
        r.close()
    eq([len(c) for c in raw_get("/ce")["chunks"]], [4, 4, 2], "split_every")
    eq(raw_get("/cs")["chunks"], [b'data: {"i":1}\n\n', b'data: {"i":2}\n\n',
                                  b"data: [DONE]\n\n"], "sse events as chunks")
    r = raw_get("/c0")
    eq((r["chunks"], r["body"]), ([], b""), "empty chunked body")


@test
def sse_delay_between_events():
    set_script(PORT, {"routes": [
        {"path": "/sd", "sse": ["data: a\n\n", "data: b\n\n", "data: c\n\n"],
         "delay_ms": 120}]})
    r = Raw()
    try:
        r.send(get_req("/sd", "Connection: close\r\n"))
        recvs = timed_recvs(r, 27)
    finally:
        r.close()
    data, times, _ = body_byte_times(recvs)
    eq(data, b"data: a\n\ndata: b\n\ndata: c\n\n", "body")
    check(times[9] - times[8] >= 0.1 and times[18] - times[17] >= 0.1,
          "events not delayed")


@test
def headers_delay_and_no_length():
    set_script(PORT, {"routes": [
        {"path": "/hd", "headers_delay_ms": 300, "body": "late"},
        {"path": "/nl", "no_length": True, "body": "until close"},
    ]})
    t0 = time.monotonic()
    r = raw_get("/hd", extra="")
    check(time.monotonic() - t0 >= 0.28, "headers not delayed")
    eq(r["body"], b"late", "body")
    r = Raw()
    try:
        r.send(get_req("/nl"))  # keep-alive request: server must still close
        status, _, headers = r.read_head()
        names = {k.lower() for k, _ in headers}
        check("content-length" not in names
              and "transfer-encoding" not in names, "no framing headers")
        eq(r.read_to_eof(), b"until close", "body until close")
    finally:
        r.close()


@test
def close_after_bytes():
    set_script(PORT, {"routes": [
        {"path": "/ca", "body": "x" * 100, "close_after_bytes": 10},
        {"path": "/ca0", "body": "abcdef", "chunked": True,
         "close_after_bytes": 0},
        {"path": "/cam", "body": "abcdef", "chunked": True,
         "close_after_bytes": 3},
        {"path": "/cas", "body": "abcdefgh", "split": [4], "delay_ms": 50,
         "close_after_bytes": 6},
    ]})
    for path, want_cl, want_rest in (("/ca", "100", b"x" * 10),
                                     ("/ca0", None, b""),
                                     ("/cam", None, b"6\r\nabc"),
                                     ("/cas", "8", b"abcdef")):
        r = Raw()
        try:
            r.send(get_req(path))  # keep-alive: only the script closes it
            status, _, headers = r.read_head()
            h = {k.lower(): v for k, v in headers}
            eq(h.get("content-length"), want_cl, path + " content-length")
            eq(r.read_to_eof(), want_rest, path + " truncated body")
        finally:
            r.close()
        c = wait_closed(conn_of(path))
        eq(c["closed_by"], "server", path + " closed_by")


@test
def close_before_headers_and_reset():
    set_script(PORT, {"routes": [
        {"path": "/cbh", "close_before_headers": True},
        {"path": "/rst", "reset": True},
        {"path": "/rst5", "body": "0123456789", "reset": True,
         "close_after_bytes": 5},
    ]})
    r = Raw()
    try:
        r.send(get_req("/cbh"))
        eq(r.read_to_eof(), b"", "nothing before close")
    finally:
        r.close()
    r = Raw()
    try:
        r.send(get_req("/rst"))
        try:
            d = r.s.recv(100)
            raise AssertionError("expected reset, got %r" % d)
        except ConnectionResetError:
            pass
    finally:
        r.close()
    r = Raw()
    try:
        r.send(get_req("/rst5"))
        got = b""
        try:
            while True:
                d = r.s.recv(100)
                if not d:
                    raise AssertionError("FIN instead of RST")
                got += d
        except ConnectionResetError:
            pass
        check(b"\r\n\r\n" in got and b"6789" not in got, "partial then RST")
    finally:
        r.close()
    paths = [x["path"] for x in records()]
    check("/cbh" in paths and "/rst" in paths, "still recorded")


@test
def stall_then_client_close_is_noticed():
    set_script(PORT, {"routes": [
        {"path": "/stall", "body": "x" * 100, "stall_after_bytes": 10,
         "stall_ms": 600000},
        {"path": "/stall0", "chunked": True, "body": "abc",
         "stall_after_bytes": 0, "stall_ms": 600000},
        {"path": "/slow", "body": "ab", "split": [1], "delay_ms": 600000},
        {"path": "/hdelay", "body": "a", "headers_delay_ms": 600000},
        {"path": "/short", "body": "0123456789", "stall_after_bytes": 5,
         "stall_ms": 300},
    ]})
    for path, before in (("/stall", 10), ("/stall0", 0), ("/slow", 1),
                         ("/hdelay", None)):
        r = Raw()
        try:
            r.send(get_req(path))
            if before is not None:
                r.read_head()
                eq(len(r.read_exact(before)), before, path + " prefix")
                r.s.settimeout(0.3)
                try:
                    extra = r.s.recv(100)
                except socket.timeout:
                    extra = b""
                eq(extra, b"", path + " stalls")
            else:
                wait_recorded(path)
                time.sleep(0.2)
            conn_id = conn_of(path)
            eq(connection(conn_id)["closed"], None, path + " still open")
        finally:
            r.close()
        t_close = time.time()
        c = wait_closed(conn_id)
        eq(c["closed_by"], "client", path + " closed_by")
        check(c["closed"] - t_close < 1.0, "%s: close noticed after %.3fs"
              % (path, c["closed"] - t_close))
    # a finite stall ends and the body completes
    t0 = time.monotonic()
    r = raw_get("/short")
    check(time.monotonic() - t0 >= 0.28, "stall too short")
    eq(r["body"], b"0123456789", "body after stall")


@test
def client_gone_during_big_write():
    set_script(PORT, {"routes": [
        {"path": "/huge", "repeat": {"text": "z" * 1000, "count": 1000000}}]})
    r = Raw()
    try:
        r.send(get_req("/huge"))
        r.read_head()
        r.read_exact(100000)
    finally:
        r.close()
    t_close = time.time()
    c = wait_closed(conn_of("/huge"))
    eq(c["closed_by"], "client", "closed_by")
    check(c["closed"] - t_close < 1.0, "noticed late")


@test
def echo_content_length_chunked_and_expect_100():
    set_script(PORT, {"routes": [
        {"path": "/echo", "echo": True},
        {"path": "/noexp", "echo": True, "expect_100": False},
    ]})
    status, headers, body = request(PORT, "POST", "/echo?x=1&y=2",
                                    body="hello", headers={"X-Test": "yes"})
    e = json.loads(body)
    eq((status, e["method"], e["path"], e["query"], e["body"]),
       (200, "POST", "/echo", "x=1&y=2", "hello"), "echo")
    eq(e["headers"]["x-test"], "yes", "echo headers lowercased")
    check(headers["Content-Type"] == "application/json", "echo ctype")
    # chunked request body (with a chunk extension and a trailer)
    r = Raw()
    try:
        r.send(b"POST /echo HTTP/1.1\r\nHost: f\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n")
        resp = r.read_response()
        eq(json.loads(resp["body"])["body"], "hello world", "chunked body")
        # Expect: 100-continue on the same connection
        r.send(b"PUT /echo HTTP/1.1\r\nHost: f\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
        eq(r.read_until(b"\r\n\r\n"), b"HTTP/1.1 100 Continue\r\n\r\n",
           "100 Continue")
        r.send(b"abcde")
        resp = r.read_response()
        e = json.loads(resp["body"])
        eq((resp["status"], e["method"], e["body"]), (200, "PUT", "abcde"),
           "after 100")
        # chunked + Expect
        r.send(b"POST /echo HTTP/1.1\r\nHost: f\r\nExpect: 100-continue\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        eq(r.read_until(b"\r\n\r\n"), b"HTTP/1.1 100 Continue\r\n\r\n",
           "100 Continue (chunked)")
        r.send(b"3\r\nxyz\r\n0\r\n\r\n")
        eq(json.loads(r.read_response()["body"])["body"], "xyz",
           "chunked after 100")
        # route that refuses to send 100 Continue
        r.send(b"POST /noexp HTTP/1.1\r\nHost: f\r\nContent-Length: 2\r\n"
               b"Expect: 100-continue\r\n\r\n")
        r.s.settimeout(0.4)
        try:
            early = r.s.recv(100)
        except socket.timeout:
            early = b""
        eq(early, b"", "no 100 Continue")
        r.s.settimeout(5)
        r.send(b"ok")
        resp = r.read_response()
        eq(json.loads(resp["body"])["body"], "ok", "noexp body")
    finally:
        r.close()


@test
def keep_alive_pipelining_and_connection_close():
    set_script(PORT, {"routes": [{"path_prefix": "/ka", "body": "k"}]})
    delete(PORT, "/__fake/requests")
    r = Raw()
    try:
        r.send(get_req("/ka1"))
        eq(r.read_response()["body"], b"k", "first")
        r.send(get_req("/ka2"))
        eq(r.read_response()["body"], b"k", "second")
        r.send(get_req("/ka3") + get_req("/ka4"))  # pipelined
        eq(r.read_response()["body"], b"k", "pipelined 1")
        eq(r.read_response()["body"], b"k", "pipelined 2")
        r.send(get_req("/ka5", "Connection: close\r\n"))
        resp = r.read_response()
        eq(resp["h"].get("connection"), "close", "Connection: close echoed")
        check(r.at_eof(), "server closed after Connection: close")
    finally:
        r.close()
    recs = records()
    eq([x["path"] for x in recs], ["/ka1", "/ka2", "/ka3", "/ka4", "/ka5"],
       "paths")
    eq(len({x["conn_id"] for x in recs}), 1, "one connection")
    c = wait_closed(recs[0]["conn_id"])
    eq((c["requests"], c["closed_by"]), (5, "server"), "connection entry")


@test
def head_has_no_body():
    set_script(PORT, {"routes": [{"path": "/hb", "body": "0123456789"}]})
    r = Raw()
    try:
        r.send(b"HEAD /hb HTTP/1.1\r\nHost: f\r\n\r\n")
        resp = r.read_response("HEAD")
        eq(resp["h"]["content-length"], "10", "HEAD content-length")
        r.send(get_req("/hb"))
        resp = r.read_response()
        eq((resp["status"], resp["body"]), (200, b"0123456789"),
           "GET after HEAD on same connection")
    finally:
        r.close()


@test
def recording_and_wait():
    set_script(PORT, {"routes": [{"path": "/rec", "body": "r"}]})
    eq(delete(PORT, "/__fake/requests"), {"ok": True}, "clear")
    eq(records(), [], "cleared")
    t0 = time.time()
    r = Raw()
    try:
        body = "héllo".encode()
        r.send(b"POST /rec?a=1&b=2 HTTP/1.1\r\nHost: f\r\nX-One: 1\r\n"
               b"x-two: 2\r\nX-One: 3\r\nContent-Length: %d\r\n\r\n"
               % len(body) + body)
        r.read_response()
        r.send(b"POST /rec HTTP/1.1\r\nHost: f\r\nContent-Length: 2\r\n\r\n"
               b"\xff\xfe")
        r.read_response()
    finally:
        r.close()
    get_json(PORT, "/__fake/health")
    get_json(PORT, "/__fake/connections")
    recs = records()
    eq(len(recs), 2, "control requests are not recorded")
    a, b = recs
    eq((a["method"], a["path"], a["query"], a["body"], a["body_len"]),
       ("POST", "/rec", "a=1&b=2", "héllo", 6), "record fields")
    eq(a["headers"]["x-one"], "1, 3", "duplicate header values")
    eq(a["headers"]["x-two"], "2", "lowercased")
    eq(a["header_list"][:4], [["Host", "f"], ["X-One", "1"], ["x-two", "2"],
                              ["X-One", "3"]], "header_list in order")
    check(b["seq"] > a["seq"] and a["conn_id"] == b["conn_id"], "seq/conn")
    check(t0 - 1 < a["time"] <= b["time"] < time.time() + 1, "time")
    eq((b["body"], b["body_len"]), ("\ufffd\ufffd", 2), "replace errors")
    check(isinstance(get_json(PORT, "/__fake/connections")[0]["opened"],
                     float), "connections opened")

    # wait: satisfied by a request arriving later
    delete(PORT, "/__fake/requests")
    threading.Timer(0.3, lambda: request(PORT, "GET", "/rec")).start()
    t1 = time.monotonic()
    w = get_json(PORT, "/__fake/wait?requests=1&timeout_ms=5000")
    el = time.monotonic() - t1
    eq(w["count"], 1, "wait count")
    check(0.2 <= el < 3, "wait elapsed %.3f" % el)
    t1 = time.monotonic()
    w = get_json(PORT, "/__fake/wait?requests=50&timeout_ms=200")
    el = time.monotonic() - t1
    eq(w["count"], 1, "wait timeout count")
    check(0.15 <= el < 2, "wait timeout elapsed %.3f" % el)


@test
def malformed_requests_get_400():
    for bad in (b"GARBAGE\r\n\r\n",
                b"GET /x HTTP/1.1\r\nNoColonHere\r\n\r\n",
                b"POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"zz\r\n",
                b"GET /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                b"\x00\x01\x02 / HTTP/1.1\r\n\r\n"):
        r = Raw()
        try:
            r.send(bad)
            resp = r.read_response()
            eq(resp["status"], 400, "status for %r" % bad)
            check(r.at_eof(), "closed after 400")
        finally:
            r.close()
    # client vanishing mid-request is harmless too
    r = Raw()
    r.send(b"POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
    r.close()
    eq(get_json(PORT, "/__fake/health"), {"ok": True}, "still healthy")


@test
def in_process_subclass_hook():
    class Sub(ScriptedServer):
        def handle_request(self, req):
            if req.path == "/hook":
                return {"json": {"hooked": req.method, "n": len(req.body)}}
            if req.path == "/boom":
                raise RuntimeError("boom")
            return None

        def handle_control(self, req):
            if req.path == "/__fake/extra":
                return 200, {"extra": True}
            return None

    logbuf = io.StringIO()
    srv = Sub(script={"routes": [{"path": "/route", "body": "r"}]},
              log=logbuf).start()
    try:
        port = srv.port
        status, _, body = request(port, "POST", "/hook", body="abc")
        eq((status, json.loads(body)), (200, {"hooked": "POST", "n": 3}),
           "hook")
        eq(request(port, "GET", "/route")[2], b"r", "falls back to routes")
        eq(get_json(port, "/__fake/extra"), {"extra": True}, "extra control")
        eq(request(port, "GET", "/boom")[0], 500, "hook exception -> 500")
        check("RuntimeError" in logbuf.getvalue(), "hook error logged")
        eq([x["path"] for x in srv.requests()], ["/hook", "/route", "/boom"],
           "recorded in-process")
        srv.set_routes([{"path": "/route", "body": "r2"}])
        eq(request(port, "GET", "/route")[2], b"r2", "set_routes")
        eq(srv.wait_requests(4, 1.0), 4, "wait_requests")
    finally:
        srv.stop()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        raise AssertionError("still listening after stop()")
    except ConnectionRefusedError:
        pass


@test
def sigterm_and_sigint_exit_zero_promptly():
    for sig in (signal.SIGTERM, signal.SIGINT):
        tmp = tempfile.mkdtemp(prefix="fake-log-")
        log = os.path.join(tmp, "log")
        proc, port = start_fake(
            {"routes": [{"path": "/s", "body": "x" * 10,
                         "stall_after_bytes": 2, "stall_ms": 600000}]},
            extra_args=["--log", log])
        idle = Raw(port)
        stalled = Raw(port)
        try:
            stalled.send(get_req("/s"))
            stalled.read_head()
            stalled.read_exact(2)
            idle.send(get_req("/__fake/health"))
            idle.read_response()
            t0 = time.monotonic()
            proc.send_signal(sig)
            try:
                rc = proc.wait(2.0)
            except subprocess.TimeoutExpired:
                rc = "timeout"
            el = time.monotonic() - t0
        finally:
            idle.close()
            stalled.close()
            stop_fake(proc)
        eq(rc, 0, "exit status after %s" % sig.name)
        check(el < 2.0, "exit took %.3fs" % el)
        with open(log) as f:
            text = f.read()
        check("/s" in text, "log file written")
        os.unlink(log)
        os.rmdir(tmp)


def main():
    global PORT
    t_start = time.monotonic()
    proc, PORT = start_fake({"routes": [{"path": "/initial",
                                         "body": "from file"}]})
    passed = failed = 0
    try:
        for fn in TESTS:
            t0 = time.monotonic()
            try:
                fn()
                passed += 1
                print("PASS %s (%.2fs)" % (fn.__name__, time.monotonic() - t0))
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
        print("FAIL main fake exit status %r" % rc)
    print("total %.1fs" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
