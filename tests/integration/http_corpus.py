#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""
http_corpus: raw-socket HTTP/1.1 cases for the listener tests
(1002-malformed-corpus.sh, 1003-connections.sh). Standard library only.

    http_corpus.py --port PORT list [GROUP]
    http_corpus.py --port PORT corpus [--group G] [--idle S] [NAME|GLOB ...]
    http_corpus.py --port PORT SCENARIO [OPTIONS]     (see --help)

`corpus` runs cases from the CASES table below. A case is a name, what
to send (bytes, or steps: a pause, a byte-by-byte drip, waiting for an
interim answer, a half-close) and what must come back: the status of
every response, the error code, whether the server keeps the connection
(checked by a follow-up request on it) or closes it (a clean FIN, no
reset, no stray bytes), and how soon. Every error must be a JSON body
{"error":{"message","type","code","param"}}; every response must carry
Content-Length (matching its body) and X-Request-Id.

Every case and scenario prints one line:

    ok NAME - 400 malformed_request, closed (0.01s)
    not ok NAME - want status 400, got 200 [...]

Exit status: 0 when every line is "ok", 1 when one is not, 2 on a usage
or internal error.
"""

import argparse
import fnmatch
import json
import random
import select
import socket
import ssl
import struct
import sys
import threading
import time

HOST = "127.0.0.1"
PORT = 0

# Time allowed for an answer that should come at once, generous for a
# loaded machine and a sanitizer build.
PROMPT = 3.0


class CaseFailure(Exception):
    pass


def now():
    return time.monotonic()


# ---------------------------------------------------------------------------
# Responses

class Resp:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers		# [(lower-case name, value)]
        self.body = body

    def h(self, name):
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def hall(self, name):
        return [v for n, v in self.headers if n == name]

    @property
    def interim(self):
        return 100 <= self.status < 200


def parse_responses(data):
    """Splits bytes into complete responses; returns (list, rest, error)."""
    out = []
    pos = 0
    data = bytes(data)
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end].decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or \
                not parts[1].isdigit():
            return out, data[pos:], "bad status line %r" % head[0][:80]
        headers = []
        for line in head[1:]:
            if ":" not in line:
                return out, data[pos:], "bad header line %r" % line[:80]
            n, v = line.split(":", 1)
            headers.append((n.strip().lower(), v.strip()))
        status = int(parts[1])
        r = Resp(parts[0], status, parts[2] if len(parts) > 2 else "",
                 headers, b"")
        body_at = end + 4
        if r.interim:
            out.append(r)
            pos = body_at
            continue
        cl = r.hall("content-length")
        if len(cl) != 1 or not cl[0].isdigit():
            return out, data[pos:], "response %d without one valid " \
                "Content-Length (%r)" % (status, cl)
        n = int(cl[0])
        if len(data) - body_at < n:
            break
        r.body = data[body_at:body_at + n]
        out.append(r)
        pos = body_at + n
    return out, data[pos:], None


def finals(resps):
    return [r for r in resps if not r.interim]


def check_error_body(r, code=None):
    """Checks the JSON error shape; returns the error code."""
    ct = r.h("content-type") or ""
    if not ct.startswith("application/json"):
        raise CaseFailure("%d has Content-Type %r, not JSON" % (r.status, ct))
    try:
        j = json.loads(r.body)
    except ValueError:
        raise CaseFailure("%d body is not JSON: %r" % (r.status, r.body[:200]))
    e = j.get("error") if isinstance(j, dict) else None
    if not isinstance(e, dict):
        raise CaseFailure("%d body has no error object: %r" % (r.status,
                          r.body[:200]))
    for k in ("message", "type", "code", "param"):
        if k not in e:
            raise CaseFailure("%d error object lacks %r: %r" % (r.status, k,
                              r.body[:200]))
    if not isinstance(e["message"], str) or not e["message"]:
        raise CaseFailure("%d error message is empty" % r.status)
    if not isinstance(e["type"], str) or not isinstance(e["code"], str):
        raise CaseFailure("%d error type/code are not strings" % r.status)
    if code is not None and e["code"] != code:
        raise CaseFailure("want error code %r, got %r (%s)" % (
            code, e["code"], e["message"]))
    return e["code"]


def check_common(r):
    rid = r.h("x-request-id")
    if not rid:
        raise CaseFailure("%d response has no X-Request-Id" % r.status)
    if r.status >= 400:
        return check_error_body(r)
    return None


# ---------------------------------------------------------------------------
# A client connection that reads while it writes

class Client:
    def __init__(self, rcvbuf=0, timeout=5.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((HOST, PORT))
        s.setblocking(False)
        self.s = s
        self.rx = bytearray()
        self.end = None		# None, "eof" or "rst"
        self.t_end = None
        self.t_send = None	# first byte sent
        self.send_error = None

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def rst(self):
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        self.s.close()

    def _read(self, limit=65536):
        try:
            b = self.s.recv(limit)
        except (BlockingIOError, InterruptedError):
            return
        except (ConnectionResetError, ConnectionAbortedError):
            self.end, self.t_end = "rst", now()
            return
        if not b:
            self.end, self.t_end = "eof", now()
            return
        self.rx += b

    def pump(self, until, stop=None, limit=65536):
        """Reads until the time `until`, the end, or stop() is true."""
        while True:
            if stop is not None and stop():
                return True
            if self.end is not None:
                return False
            left = until - now()
            if left <= 0:
                return False
            r, _, _ = select.select([self.s], [], [], min(left, 0.5))
            if r:
                self._read(limit)

    def send(self, data, until=None, read=True):
        """Sends everything (reading meanwhile unless read is false)."""
        if until is None:
            until = now() + 30
        view = memoryview(data)
        while len(view) > 0:
            if self.end == "rst" or self.send_error is not None:
                return False
            left = until - now()
            if left <= 0:
                raise CaseFailure("timed out sending (%d bytes left)" %
                                  len(view))
            rl = [self.s] if read and self.end is None else []
            r, w, _ = select.select(rl, [self.s], [], min(left, 0.5))
            if r:
                self._read()
            if w:
                try:
                    n = self.s.send(view[:262144])
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError) as e:
                    self.send_error = e.__class__.__name__
                    return False
                if self.t_send is None:
                    self.t_send = now()
                view = view[n:]
        return True

    def shut(self):
        try:
            self.s.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.send_error = e.__class__.__name__

    def responses(self):
        return parse_responses(self.rx)

    def want_finals(self, n):
        def stop():
            resps, _, err = self.responses()
            return err is not None or len(finals(resps)) >= n
        return stop


# ---------------------------------------------------------------------------
# Steps of a case

class Sleep:
    def __init__(self, s):
        self.s = s

    def run(self, c):
        c.pump(now() + self.s)


class Drip:
    """Sends one byte every interval; stops once an answer starts."""

    def __init__(self, data, interval):
        self.data = data
        self.interval = interval

    def run(self, c):
        for i in range(len(self.data)):
            if c.rx or c.end is not None:
                return
            if not c.send(self.data[i:i + 1]):
                return
            c.pump(now() + self.interval, stop=lambda: bool(c.rx))


class Await:
    """Waits until the bytes received contain `what`."""

    def __init__(self, what, timeout=PROMPT):
        self.what = what
        self.timeout = timeout

    def run(self, c):
        if not c.pump(now() + self.timeout, stop=lambda: self.what in c.rx):
            raise CaseFailure("no %r within %.1fs (got %r)" % (
                self.what, self.timeout, bytes(c.rx[:120])))


class Shut:
    def run(self, c):
        c.shut()


# ---------------------------------------------------------------------------
# The corpus

def rand_bytes(n, seed, first=b"\xff"):
    r = random.Random(seed)
    return first + bytes(r.getrandbits(8) for _ in range(n - len(first)))


def tls_client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


H2_PREFACE = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
              b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")	# + empty SETTINGS
GOOD = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
FOLLOWUP = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def get(extra=b"", target=b"/healthz", method=b"GET", version=b"HTTP/1.1"):
    return method + b" " + target + b" " + version + b"\r\nHost: x\r\n" + \
        extra + b"\r\n"


def post(headers, body=b"", target=b"/x"):
    return b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n" + headers + \
        b"\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked\r\n"


def hdrs(n, size=1, prefix=b"X-H"):
    return b"".join(prefix + b"%d: " % i + b"v" * size + b"\r\n"
                    for i in range(n))


CASES = []


def case(name, send, status, code=None, close=None, min_t=None, max_t=None,
         headers=None, close_header=None, group="main", why=""):
    """One corpus case: send (bytes or a list of bytes and steps), then
    expect the statuses (an int, a tuple of allowed ints, or a list for
    several responses; 1xx responses are listed too), the error code of
    the last response, and that the server closes (close=True) or keeps
    the connection (close=False; default: close for errors other than
    404/405) and, unless close_header is false, says Connection: close
    in the last response. min_t/max_t bound the time from the first byte
    sent to the last response."""
    if not isinstance(send, list):
        send = [send]
    statuses = status if isinstance(status, list) else [status]
    last = statuses[-1]
    if close is None:
        close = not (isinstance(last, int) and
                     (last < 400 or last in (404, 405)))
    if close_header is None:
        close_header = close
    CASES.append(dict(name=name, send=send, statuses=statuses, code=code,
                      close=close, close_header=close_header,
                      min_t=min_t, max_t=max_t,
                      headers=headers or {}, group=group, why=why))


def corpus():
    # The code of a 400 depends on which check catches the request first
    # (the parser's "malformed_request", "bad_header", ...): not pinned.
    M = None
    INC = "incomplete_request"
    TMO = "request_timeout"

    # Garbage and other protocols.
    case("garbage-text", b"GARBAGE\r\n\r\n", 400, M)
    case("garbage-binary-4k", rand_bytes(4096, 1002), 400, M)
    case("garbage-binary-256k", rand_bytes(262144, 1003), 400, M,
         why="more than the input buffer: drained, then a clean FIN")
    case("garbage-crlf-then-binary", b"\r\n\r\n\x00\x01\x02\x03", 400, M)
    case("garbage-tls-clienthello", tls_client_hello(), 400, M)
    case("garbage-h2-preface", H2_PREFACE, 400, M)

    # Request line.
    case("reqline-no-target", b"GET\r\n\r\n", 400, M)
    case("reqline-extra-token", b"GET /healthz HTTP/1.1 extra\r\n\r\n", 400, M)
    case("reqline-target-no-slash", get(target=b"healthz"), 400, M)
    case("reqline-nul-in-target", get(target=b"/heal\x00thz"), 400, M)
    case("reqline-nul-in-method", get(method=b"G\x00T"), 400, M)
    case("reqline-absolute-form", get(target=b"http://x/healthz"), 200)
    case("version-lowercase", get(version=b"http/1.1"), 400, M)
    case("version-not-a-number", get(version=b"HTTP/1.x"), 400, M)
    case("version-two-digit-major", get(version=b"HTTP/11.1"), 400, M)
    case("version-https", get(version=b"HTTPS/1.1"), 400, M)
    case("version-2.0", get(version=b"HTTP/2.0"), 505,
         "http_version_not_supported",
         why="an HTTP/2 version in an HTTP/1 request line is not HTTP/1.x")
    case("version-9.9", get(version=b"HTTP/9.9"), 505,
         "http_version_not_supported")
    case("version-1.2", get(version=b"HTTP/1.2"), 200,
         why="a higher minor version is answered as 1.1 and kept alive")
    case("version-1.0", get(version=b"HTTP/1.0"), 200, close=True,
         headers={"connection": "close"})
    case("http09-request-line", b"GET /\r\n", 400,
         why="a whole HTTP/0.9 request: refused at once, not with a 408 "
         "after timeouts.header")
    case("http09-with-blank-line", b"GET /healthz\r\n\r\n", 400,
         why="no HTTP version: must not be served as HTTP/1.1")

    # Methods.
    case("method-unknown", get(method=b"FOOBAR"), 400, M)
    case("method-lowercase", get(method=b"get"), 400, M)
    case("method-known-prefix", get(method=b"GETS"), 400, M)
    case("method-huge", get(method=b"A" * 4000), 400, M)
    case("method-propfind", get(method=b"PROPFIND"), 405,
         "method_not_allowed", headers={"allow": "GET, HEAD"})
    case("method-m-search", get(method=b"M-SEARCH"), 405, "method_not_allowed")
    case("method-delete-unknown-path", get(method=b"DELETE", target=b"/nope"),
         404, "not_found")
    case("method-connect", b"CONNECT example.com:443 HTTP/1.1\r\n"
         b"Host: example.com:443\r\n\r\n", 400, "bad_request_target")
    case("method-options-star", get(method=b"OPTIONS", target=b"*"), 404,
         "not_found")

    # Header limits (the script sets max_header_bytes 2KiB, max_headers 20).
    case("header-value-too-large", get(b"X-Big: " + b"c" * 3000 + b"\r\n"),
         431, "header_too_large")
    case("header-name-too-large", get(b"X-" + b"n" * 3000 + b": v\r\n"),
         431, "header_too_large")
    case("headers-total-too-large", get(hdrs(15, 200)), 431,
         "header_too_large")
    case("headers-too-many", get(hdrs(25)), 431, "too_many_headers")
    case("headers-at-max-count", get(hdrs(19)), 200,
         why="Host plus 19 is limits.max_headers exactly")
    case("header-value-huge-leading-whitespace",
         get(b"X-A:" + b" " * 100000 + b"v\r\n"), 431, "header_too_large",
         why="whitespace the parser skips still counts as header bytes")
    case("target-enormous", get(target=b"/" + b"a" * 100000), (414, 431),
         why="the target counts against the header limit")

    # Invalid header bytes.
    case("header-nul-in-name", get(b"X-A\x00B: v\r\n"), 400)
    case("header-nul-in-value", get(b"X-A: a\x00b\r\n"), 400)
    case("header-nul-value-only", get(b"X-A: \x00\r\n"), 400)
    case("header-nul-late-in-value",
         get(b"X-A: " + b"a" * 300 + b"\x00b\r\n"), 400)
    case("header-no-colon", get(b"NoColon\r\n"), 400, M)
    case("header-bad-token-char", get(b"X(A): v\r\n"), 400, M)
    case("header-space-in-name", get(b"X Foo: bar\r\n"), 400,
         why="SP is not a token character (RFC 9110 5.1)")
    case("header-space-before-colon",
         post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), 400,
         why="RFC 9112 5.1: MUST answer 400 to whitespace before the colon")
    case("header-bare-cr", get(b"X-A: b\rX-Request-Id: smuggled\r\n"), 400, M)
    case("header-bare-cr-ends-headers",
         b"GET /healthz HTTP/1.1\r\nHost: x\r\n\rX", 400,
         why="a bare CR is not a line ending")

    # Content-Length (the script sets max_body_bytes 4KiB).
    case("cl-conflicting", post(b"Content-Length: 5\r\nContent-Length: 6\r\n",
         b"hello"), 400, M)
    case("cl-duplicate-equal", post(b"Content-Length: 5\r\n"
         b"Content-Length: 5\r\n", b"hello"), 400, M)
    case("cl-list", post(b"Content-Length: 5, 5\r\n", b"hello"), 400, M)
    case("cl-negative", post(b"Content-Length: -1\r\n"), 400, M)
    case("cl-non-numeric", post(b"Content-Length: abc\r\n"), 400, M)
    case("cl-hex", post(b"Content-Length: 0x10\r\n"), 400, M)
    case("cl-plus-sign", post(b"Content-Length: +5\r\n", b"hello"), 400, M)
    case("cl-empty", post(b"Content-Length: \r\n"), 400, M)
    case("cl-overflow", post(b"Content-Length: 99999999999999999999999\r\n"),
         400, M)
    case("cl-2e64", post(b"Content-Length: 18446744073709551616\r\n"), 400, M)
    case("cl-over-limit", post(b"Content-Length: 5000\r\n"), 413,
         "body_too_large", why="rejected from the headers, before any body")
    case("cl-huge", post(b"Content-Length: 1000000000000000\r\n"), 413,
         "body_too_large")
    case("smuggle-cl-te", post(b"Content-Length: 6\r\n" + CHUNKED,
         b"0\r\n\r\nX"), 400, M)
    case("smuggle-te-cl", post(CHUNKED + b"Content-Length: 3\r\n",
         b"8\r\nSMUGGLED\r\n0\r\n\r\n"), 400, M)
    case("te-chunked-not-last", post(b"Transfer-Encoding: chunked, gzip\r\n"),
         400, M)
    case("te-unknown", post(b"Transfer-Encoding: gzip\r\n"), 400, M)

    # Chunked bodies.
    case("chunk-size-non-hex", post(CHUNKED, b"zz\r\nhello\r\n0\r\n\r\n"),
         400, M)
    case("chunk-size-negative", post(CHUNKED, b"-5\r\nhello\r\n0\r\n\r\n"),
         400, M)
    case("chunk-size-overflow",
         post(CHUNKED, b"FFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"), 400, M)
    case("chunk-missing-crlf", post(CHUNKED, b"5\r\nhelloXX0\r\n\r\n"), 400,
         why="chunk data must be followed by CRLF")
    case("chunk-size-bare-cr", post(CHUNKED, b"5\rXhello\r\n0\r\n\r\n"), 400,
         why="a bare CR is not a line ending")
    case("chunk-extension-ok",
         post(CHUNKED, b"5;name=value\r\nhello\r\n0\r\n\r\n"), 404,
         "not_found")
    case("chunk-trailer-ok",
         post(CHUNKED, b"5\r\nhello\r\n0\r\nX-T: v\r\n\r\n"), 404,
         "not_found")
    case("chunked-over-limit",
         post(CHUNKED, b"1400\r\n" + b"b" * 5120 + b"\r\n0\r\n\r\n"), 413,
         "body_too_large")
    case("chunk-size-huge-over-limit",
         post(CHUNKED, b"7FFFFFFFFFFFFFFF\r\n" + b"b" * 5000), 413,
         "body_too_large")

    # Expect.
    case("expect-unknown", post(b"Content-Length: 5\r\nExpect: something\r\n",
         b"hello"), 417, "expectation_failed")
    case("expect-100-continue",
         [post(b"Content-Length: 5\r\nExpect: 100-continue\r\n"),
          Await(b"\r\n\r\n"), b"hello"], [100, 404], "not_found")

    # Timeouts (the script sets timeouts.header and .body to 800ms).
    case("slowloris-headers",
         Drip(get(b"X-Slow: " + b"a" * 200 + b"\r\n"), 0.1), 408, TMO,
         min_t=0.6, max_t=2.5,
         why="one byte every 100 ms: 408 at the absolute header deadline")
    case("stalled-headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n", 408,
         TMO, min_t=0.6, max_t=2.5)
    case("stalled-body", post(b"Content-Length: 10\r\n", b"abc"), 408, TMO,
         min_t=0.6, max_t=2.5)
    case("stalled-chunked-body", post(CHUNKED, b"5\r\nhel"), 408, TMO,
         min_t=0.6, max_t=2.5)
    case("slow-headers-in-time",
         [b"GET /healthz HTT", Sleep(0.15), b"P/1.1\r\nHost: x\r\n",
          Sleep(0.15), b"\r\n"], 200,
         why="headers complete before the deadline are served")
    case("slow-body-with-progress",
         [post(b"Content-Length: 12\r\n"), Drip(b"abcdefghijkl", 0.15)], 404,
         "not_found", min_t=1.5,
         why="the body timeout is an inactivity timeout")

    # Half-close (shutdown(SHUT_WR)) in the middle of a request.
    case("halfclose-request-line", [b"GET /heal", Shut()], 400, INC)
    case("halfclose-headers", [b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
         Shut()], 400, INC)
    case("halfclose-body", [post(b"Content-Length: 10\r\n", b"abc"), Shut()],
         400, INC)
    case("halfclose-chunked-body", [post(CHUNKED, b"5\r\nhel"), Shut()], 400,
         INC)
    case("halfclose-after-100-continue",
         [post(b"Content-Length: 5\r\nExpect: 100-continue\r\n"),
          Await(b"\r\n\r\n"), Shut()], [100, 400], INC)
    case("halfclose-after-request", [GOOD, Shut()], 200, close=True,
         close_header=False,
         why="a complete request is answered, then the connection closes")
    case("halfclose-pipelined-partial", [GOOD + b"GET /hea", Shut()],
         [200, 400], INC)

    # Pipelining.
    case("pipeline-then-garbage", GOOD * 3 + b"GARBAGE\r\n\r\n",
         [200, 200, 200, 400], M)
    case("pipeline-body-then-get",
         post(b"Content-Length: 5\r\n", b"hello") + GOOD, [404, 200])

    # Run against a server with limits.max_header_bytes 1MiB: the limit
    # is the configured one, not the parser's built-in 80 KiB.
    case("biglimit-header-200k", get(b"X-Big: " + b"c" * 200000 + b"\r\n"),
         200, group="biglimit")
    case("biglimit-target-200k", get(target=b"/" + b"a" * 200000), 404,
         "not_found", group="biglimit")
    case("biglimit-header-over", get(b"X-Big: " + b"c" * 1100000 + b"\r\n"),
         431, "header_too_large", group="biglimit")


def status_ok(want, got):
    if isinstance(want, tuple):
        return got in want
    return got == want


def fmt_status(want):
    if isinstance(want, tuple):
        return "/".join(str(w) for w in want)
    return str(want)


def run_case(cs):
    c = Client()
    t0 = now()
    try:
        for step in cs["send"]:
            if isinstance(step, (bytes, bytearray)):
                c.send(step)
            else:
                step.run(c)
        start = c.t_send if c.t_send is not None else t0
        want = len(finals_of(cs["statuses"]))
        c.pump(now() + PROMPT + 2.0, stop=c.want_finals(want))
        t_resp = now() - start
        resps, rest, err = c.responses()
        if err:
            raise CaseFailure(err)
        got = [r.status for r in resps]
        if len(resps) != len(cs["statuses"]) or not all(
                status_ok(w, g) for w, g in zip(cs["statuses"], got)):
            raise CaseFailure("want status %s, got %s%s%s" % (
                ",".join(fmt_status(s) for s in cs["statuses"]),
                ",".join(str(g) for g in got) or "nothing",
                " then " + c.end if c.end else "",
                (" (%s)" % summary(resps[-1])) if resps else
                (" after %.1fs; %r" % (t_resp, bytes(rest[:80])))))
        last = resps[-1]
        code = None
        for r in finals(resps):
            code = check_common(r)
        if cs["code"] is not None:
            check_error_body(last, cs["code"])
        for name, value in cs["headers"].items():
            if last.h(name) != value:
                raise CaseFailure("want %s: %s, got %r" % (name, value,
                                  last.h(name)))
        if cs["min_t"] is not None and t_resp < cs["min_t"]:
            raise CaseFailure("answered after %.2fs, before %.2fs" % (
                t_resp, cs["min_t"]))
        if cs["max_t"] is not None and t_resp > cs["max_t"]:
            raise CaseFailure("answered after %.2fs, later than %.2fs" % (
                t_resp, cs["max_t"]))
        for r in finals(resps)[:-1]:
            if (r.h("connection") or "").lower() == "close":
                raise CaseFailure("Connection: close before the last response")
        if cs["close"]:
            conn = last.h("connection") or ""
            if cs["close_header"] and conn.lower() != "close":
                raise CaseFailure("%d without Connection: close" % last.status)
            c.pump(now() + PROMPT)
            if c.end is None:
                raise CaseFailure("connection still open %.1fs after the "
                                  "%d" % (PROMPT, last.status))
            if c.end != "eof":
                raise CaseFailure("connection reset instead of closed after "
                                  "the %d" % last.status)
            _, rest, _ = c.responses()
            if rest:
                raise CaseFailure("stray bytes after the response: %r" %
                                  bytes(rest[:80]))
            how = "closed"
        else:
            if (last.h("connection") or "").lower() == "close" or \
                    c.end is not None:
                raise CaseFailure("connection not kept alive after the %d" %
                                  last.status)
            if rest:
                raise CaseFailure("stray bytes after the response: %r" %
                                  bytes(rest[:80]))
            n = len(resps)
            c.send(FOLLOWUP)
            c.pump(now() + PROMPT, stop=c.want_finals(len(finals(resps)) + 1))
            resps, _, err = c.responses()
            if err or len(resps) != n + 1 or resps[-1].status != 200:
                raise CaseFailure("follow-up request on the kept connection "
                                  "not answered 200 (%s)" % (err or [
                                      r.status for r in resps[n:]]))
            how = "kept alive"
        return "%s%s, %s (%.2fs)" % (
            ",".join(str(r.status) for r in resps[:len(cs["statuses"])]),
            " " + code if code else "", how, t_resp)
    finally:
        c.close()


def finals_of(statuses):
    return [s for s in statuses if not (isinstance(s, int) and s < 200)]


def summary(r):
    s = "%d" % r.status
    if r.status >= 400:
        try:
            e = json.loads(r.body)["error"]
            s += " %s: %s" % (e.get("code"), e.get("message"))
        except (ValueError, KeyError, TypeError):
            s += " %r" % r.body[:80]
    return s


# ---------------------------------------------------------------------------
# Pipelines

def pipeline(count, slow=False, shut=False, idle=None):
    """count GET /healthz in one write, X-Request-Id pl-0001.. in order;
    the last says Connection: close unless idle is set, in which case the
    server must close the idle connection about `idle` seconds after the
    last answer. slow: a 4 KiB receive buffer read 2 KiB every 5 ms.
    shut: half-close right after the requests."""
    reqs = b"".join(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: pl-%04d\r\n%s\r\n"
        % (i, b"Connection: close\r\n" if i == count and idle is None
           else b"") for i in range(1, count + 1))
    c = Client(rcvbuf=4096 if slow else 0)
    try:
        t0 = now()
        c.send(reqs, read=not slow)
        if shut:
            c.shut()
        deadline = now() + 40

        def stop():
            # Count status lines first: parsing everything is slower.
            return c.rx.count(b"HTTP/1.1 ") >= count and \
                len(finals(c.responses()[0])) >= count
        if slow:
            while not stop() and c.end is None and now() < deadline:
                time.sleep(0.005)
                r, _, _ = select.select([c.s], [], [], 0.05)
                if r:
                    c._read(2048)
        else:
            c.pump(deadline, stop=stop)
        t_all = now()
        resps, rest, err = c.responses()
        if err:
            raise CaseFailure(err)
        bad = [r.status for r in resps if r.status != 200]
        rids = [r.h("x-request-id") for r in resps]
        want = ["pl-%04d" % i for i in range(1, count + 1)]
        if len(resps) != count:
            raise CaseFailure("%d of %d answered (then %s after %.1fs)" % (
                len(resps), count, c.end or "nothing", now() - t0))
        if bad:
            raise CaseFailure("non-200 answers: %s" % bad[:10])
        if rids != want:
            i = next(i for i in range(count) if rids[i] != want[i])
            raise CaseFailure("out of order at %d: want %s, got %s" % (
                i, want[i], rids[i]))
        if idle is None:
            if (resps[-1].h("connection") or "").lower() != "close":
                raise CaseFailure("last answer lacks Connection: close")
            c.pump(now() + PROMPT)
            if c.end != "eof" or rest:
                raise CaseFailure("not closed cleanly after the last "
                                  "answer (%s, %d stray bytes)" % (
                                      c.end, len(rest)))
            return "%d answered in order, closed (%.2fs)" % (count, t_all - t0)
        c.pump(now() + idle + 10)
        waited = (c.t_end or now()) - t_all
        if c.end is None or waited > idle + 2.0:
            raise CaseFailure("idle connection closed %.1fs after the last "
                              "answer, want about timeouts.idle (%.1fs)" % (
                                  waited, idle))
        return "%d answered in order; idle close after %.1fs" % (count,
                                                                  waited)
    finally:
        c.close()


def add_pipeline_cases():
    CASES.append(dict(name="pipeline-1000", group="main",
                      fn=lambda a: pipeline(1000)))
    CASES.append(dict(name="pipeline-1000-slow-reader", group="main",
                      fn=lambda a: pipeline(1000, slow=True)))
    CASES.append(dict(name="pipeline-1000-slow-reader-halfclose",
                      group="main",
                      fn=lambda a: pipeline(1000, slow=True, shut=True)))
    CASES.append(dict(name="pipeline-slow-reader-then-idle", group="main",
                      fn=lambda a: pipeline(300, slow=True, idle=a.idle)))


corpus()
add_pipeline_cases()


# ---------------------------------------------------------------------------
# Connection scenarios (1003)

def simple_get(c, rid=None, close=False, timeout=PROMPT):
    """Sends GET /healthz on a Client and returns its response."""
    n = len(finals(c.responses()[0]))
    extra = b""
    if rid:
        extra += b"X-Request-Id: " + rid.encode() + b"\r\n"
    if close:
        extra += b"Connection: close\r\n"
    c.send(get(extra))
    c.pump(now() + timeout, stop=c.want_finals(n + 1))
    resps, _, err = c.responses()
    if err:
        raise CaseFailure(err)
    if len(finals(resps)) < n + 1:
        raise CaseFailure("no answer to GET /healthz (%s)" % (c.end or
                          "timeout"))
    return finals(resps)[n]


def healthz(timeout=PROMPT):
    c = Client(timeout=timeout)
    try:
        r = simple_get(c, close=True, timeout=timeout)
        if r.status != 200:
            raise CaseFailure("healthz answered %d" % r.status)
        return json.loads(r.body)
    finally:
        c.close()


def sc_concurrent(a):
    n, m = a.conns, a.requests
    barrier = threading.Barrier(n + 1, timeout=60)
    results = [None] * n
    peak = {}

    def worker(i):
        c = None
        try:
            c = Client(timeout=30)
            barrier.wait()			# all connected
            for j in range(m):
                rid = "c%d-r%d" % (i, j)
                r = simple_get(c, rid=rid, timeout=30)
                if r.status != 200 or r.h("x-request-id") != rid or \
                        r.h("connection"):
                    raise CaseFailure("conn %d request %d: %d %s %s" % (
                        i, j, r.status, r.h("x-request-id"),
                        r.h("connection")))
            barrier.wait()			# all done, still open
            barrier.wait()			# peak measured
            if c.end is not None:
                raise CaseFailure("conn %d closed early (%s)" % (i, c.end))
            results[i] = "ok"
        except (CaseFailure, OSError, threading.BrokenBarrierError) as e:
            results[i] = "%s: %s" % (e.__class__.__name__, e)
            barrier.abort()
        finally:
            if c is not None:
                c.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    t0 = now()
    for t in ts:
        t.start()
    try:
        barrier.wait()
        barrier.wait()
        peak["connections"] = healthz()["connections"]
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    for t in ts:
        t.join(60)
    bad = [r for r in results if r != "ok"]
    if bad:
        raise CaseFailure("%d of %d connections failed; first: %s" % (
            len(bad), n, bad[0]))
    if peak.get("connections", 0) < n + 1:
        raise CaseFailure("healthz saw %s connections with %d open" % (
            peak.get("connections"), n + 1))
    return "%d connections x %d requests all 200; healthz saw %d " \
        "connections (%.1fs)" % (n, m, peak["connections"], now() - t0)


def sc_maxconn(a):
    limit = a.limit
    conns = []
    try:
        # Fill the table: `limit` connections, each answered once.
        for i in range(limit):
            c = Client()
            conns.append(c)
            r = simple_get(c, rid="mc-%d" % i)
            if r.status != 200:
                raise CaseFailure("connection %d of %d answered %d" % (
                    i + 1, limit, r.status))
        # One more: 503 at once, closed. Problems with the answer are
        # collected so that the rest is checked too.
        problems = []
        extra = Client()
        try:
            extra.pump(now() + PROMPT, stop=extra.want_finals(1))
            extra.pump(now() + PROMPT)	# until the server closes it
            resps, rest, err = extra.responses()
            if err or not resps:
                raise CaseFailure("connection %d: no answer (%s) %r" % (
                    limit + 1, err or extra.end, bytes(extra.rx[:200])))
            r = resps[0]
            if r.status != 503:
                raise CaseFailure("connection %d answered %d, want 503" % (
                    limit + 1, r.status))
            try:
                check_error_body(r, "too_many_connections")
            except CaseFailure as e:
                problems.append(str(e))
            if not r.h("retry-after"):
                problems.append("503 without Retry-After")
            if (r.h("connection") or "").lower() != "close":
                problems.append("503 without Connection: close")
            if rest:
                problems.append("the 503 body is longer than its "
                                "Content-Length: %s (stray %r)" % (
                                    r.h("content-length"), bytes(rest[:40])))
            if extra.end != "eof":
                problems.append("503 connection not closed cleanly (%s)" %
                                extra.end)
        finally:
            extra.close()
        # The others still work.
        for i, c in enumerate(conns):
            r = simple_get(c, rid="mc2-%d" % i)
            if r.status != 200:
                raise CaseFailure("connection %d answered %d after the 503"
                                  % (i + 1, r.status))
        # Free a slot: a new connection is served again.
        conns.pop().close()
        deadline = now() + 5
        while True:
            c = Client()
            try:
                r = simple_get(c, close=True)
            except CaseFailure:
                r = None
            c.close()
            if r is not None and r.status == 200:
                break
            if now() > deadline:
                raise CaseFailure("no slot free 5s after closing one")
            time.sleep(0.1)
        if problems:
            raise CaseFailure("; ".join(problems) + " (the rest passed: "
                              "the other %d still work, a freed slot is "
                              "reused)" % limit)
        return "%d served, connection %d got 503 + Retry-After and was " \
            "closed, the %d still work, a freed slot is reused" % (
                limit, limit + 1, limit)
    finally:
        for c in conns:
            c.close()


def sc_churn(a):
    n = a.count
    t0 = now()
    for i in range(n):
        # Connect and close at once.
        c = Client()
        c.close()
        # Half a request, then a reset.
        c = Client()
        c.send(b"GET /healthz HTTP/1.1\r\nHo")
        c.rst()
        if i % 5 == 0:
            # Half a body, then a reset.
            c = Client()
            c.send(post(b"Content-Length: 100\r\n", b"half"))
            c.rst()
            # A whole request, reset before reading the answer.
            c = Client()
            c.send(GOOD)
            c.rst()
    return "%d connect+close, %d half-request+RST, %d half-body+RST, %d " \
        "request+RST (%.1fs)" % (n, n, (n + 4) // 5, (n + 4) // 5, now() - t0)


def sc_connections(a):
    deadline = now() + a.within
    while True:
        n = healthz()["connections"]
        if n == a.expect:
            return "healthz connections == %d" % n
        if now() > deadline:
            raise CaseFailure("healthz connections is %d after %.0fs, "
                              "want %d" % (n, a.within, a.expect))
        time.sleep(0.1)


def sc_hold_idle(a):
    """Opens idle keep-alive connections, says so in --ready, and waits
    for the server to close them all."""
    conns = []
    try:
        for i in range(a.count):
            c = Client()
            conns.append(c)
            r = simple_get(c, rid="hold-%d" % i)
            if r.status != 200:
                raise CaseFailure("connection %d answered %d" % (i, r.status))
        t0 = now()
        with open(a.ready, "w") as f:
            f.write("ready\n")
        deadline = t0 + a.wait
        for c in conns:
            c.pump(deadline)
        ends = [c.end for c in conns]
        if None in ends:
            raise CaseFailure("%d of %d idle connections still open %.0fs "
                              "after ready" % (ends.count(None), a.count,
                                               a.wait))
        if ends.count("eof") != a.count:
            raise CaseFailure("%d of %d idle connections reset, not closed" % (
                ends.count("rst"), a.count))
        last = max(c.t_end for c in conns) - t0
        return "%d idle keep-alive connections closed by the server, the " \
            "last %.2fs after ready" % (a.count, last)
    finally:
        for c in conns:
            c.close()


def sc_stall_body(a):
    """Sends half a body, says so in --ready, and stays silent until the
    server closes the connection."""
    c = Client()
    try:
        c.send(post(b"Content-Length: 100\r\n", b"half"))
        t0 = now()
        with open(a.ready, "w") as f:
            f.write("ready\n")
        c.pump(t0 + a.wait)
        if c.end is None:
            raise CaseFailure("still open %.0fs after ready" % a.wait)
        resps, _, _ = c.responses()
        return "stalled connection ended (%s) %.2fs after ready%s" % (
            c.end, c.t_end - t0, ", answered %d" % resps[0].status
            if resps else ", no answer")
    finally:
        c.close()


def sc_flood_noread(a):
    """Pipelines GET /healthz without ever reading (a 4 KiB receive
    buffer), the last request with Connection: close, until the server
    has more to write than the sockets hold; the server must give up on
    the connection after timeouts.write without progress."""
    c = Client(rcvbuf=4096)
    t0 = now()
    try:
        one = get()
        c.send(one * (a.count - 1) + get(b"Connection: close\r\n"),
               read=False)
        t_sent = now()
        # The server stops reading when its output backs up: go by the
        # connection count instead.
        deadline = t_sent + a.write + 8
        while True:
            n = healthz(timeout=15)["connections"]
            if n <= 1:
                break
            if now() > deadline:
                raise CaseFailure("connection still open %.1fs after the "
                                  "requests were sent, timeouts.write is "
                                  "%.1fs (healthz connections %d)" % (
                                      now() - t_sent, a.write, n))
            time.sleep(0.2)
        return "non-reading client dropped %.1fs after its requests " \
            "(timeouts.write %.1fs)" % (now() - t_sent, a.write)
    finally:
        c.close()


def sc_flood_halfclose(a):
    """Pipelines GET /healthz (X-Request-Id fh-1..) into a 4 KiB receive
    buffer and half-closes at once; reads nothing until healthz says the
    server has handled them all (so answers are still queued when it sees
    the end of the input), then reads at full speed: every answer must
    arrive, in order, then the FIN."""
    n = a.count
    base = healthz()["requests_total"]
    c = Client(rcvbuf=4096)
    try:
        t0 = now()
        c.send(b"".join(get(b"X-Request-Id: fh-%d\r\n" % i)
                        for i in range(1, n + 1)), read=False)
        c.shut()
        deadline = now() + 30
        while healthz(timeout=15)["requests_total"] < base + n:
            if now() > deadline:
                raise CaseFailure("the server did not handle %d requests "
                                  "in 30s" % n)
            time.sleep(0.1)
        c.pump(now() + 30)
        resps, rest, err = c.responses()
        if err:
            raise CaseFailure(err)
        rids = [r.h("x-request-id") for r in resps]
        if len(resps) != n:
            raise CaseFailure("%d of %d pipelined requests answered before "
                              "the server closed (%s, %d stray bytes): "
                              "answers queued at the half-close were "
                              "dropped" % (len(resps), n, c.end or "open",
                                           len(rest)))
        if rids != ["fh-%d" % i for i in range(1, n + 1)]:
            raise CaseFailure("answers out of order")
        if any(r.status != 200 for r in resps):
            raise CaseFailure("non-200 answers")
        if c.end != "eof":
            raise CaseFailure("no clean FIN after the last answer (%s)" %
                              c.end)
        return "%d pipelined + half-close: all answered in order, then " \
            "FIN (%.1fs)" % (n, now() - t0)
    finally:
        c.close()


SCENARIOS = {
    "flood-halfclose": sc_flood_halfclose,
    "concurrent": sc_concurrent,
    "maxconn": sc_maxconn,
    "churn": sc_churn,
    "connections": sc_connections,
    "hold-idle": sc_hold_idle,
    "stall-body": sc_stall_body,
    "flood-noread": sc_flood_noread,
}


# ---------------------------------------------------------------------------

def report(name, fn):
    try:
        detail = fn()
    except CaseFailure as e:
        print("not ok %s - %s" % (name, e), flush=True)
        return False
    except OSError as e:
        print("not ok %s - %s: %s" % (name, e.__class__.__name__, e),
              flush=True)
        return False
    print("ok %s - %s" % (name, detail), flush=True)
    return True


def main():
    global PORT
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--idle", type=float, default=1.0,
                   help="timeouts.idle of the server, seconds")
    p.add_argument("--write", type=float, default=1.0,
                   help="timeouts.write of the server, seconds")
    p.add_argument("--group", default="main")
    p.add_argument("--conns", type=int, default=200)
    p.add_argument("--requests", type=int, default=5)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--expect", type=int, default=1)
    p.add_argument("--within", type=float, default=5.0)
    p.add_argument("--ready", default=None)
    p.add_argument("--wait", type=float, default=10.0)
    p.add_argument("what", help="list, corpus or a scenario: " +
                   ", ".join(sorted(SCENARIOS)))
    p.add_argument("names", nargs="*")
    a = p.parse_args()
    PORT = a.port

    if a.what == "list":
        for cs in CASES:
            if cs["group"] == (a.names[0] if a.names else cs["group"]):
                print(cs["name"])
        return 0
    if a.what == "corpus":
        sel = [cs for cs in CASES if (any(fnmatch.fnmatch(cs["name"], g)
               for g in a.names) if a.names else cs["group"] == a.group)]
        if not sel:
            print("http_corpus: no case matches", file=sys.stderr)
            return 2
        good = True
        for cs in sel:
            if "fn" in cs:
                good &= report(cs["name"], lambda: cs["fn"](a))
            else:
                good &= report(cs["name"], lambda: run_case(cs))
        return 0 if good else 1
    if a.what in SCENARIOS:
        return 0 if report(a.what, lambda: SCENARIOS[a.what](a)) else 1
    print("http_corpus: unknown command %r" % a.what, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException:
        import traceback
        traceback.print_exc()
        sys.exit(2)
