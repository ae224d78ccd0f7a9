#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Generic scripted fake HTTP/1.1 upstream server for tests.

Run as a program (see README.md in this directory for the full contract):

    python3 tests/fake/scripted.py [--host 127.0.0.1] [--port 0] \
        --port-file PATH [--script FILE.json] [--log FILE]

or use in-process:

    from scripted import ScriptedServer
    srv = ScriptedServer(script={"routes": [...]}).start()
    ... srv.port ...
    srv.stop()

Responses are written as raw bytes on the socket (status line, headers,
body pieces) so tests control framing and timing exactly.  Subclasses
(tests/fake/github.py, m365.py) hook in through handle_request(),
handle_control() and expect_continue(); see ScriptedServer.

Python 3 standard library only.
"""

import argparse
import base64
import binascii
import http
import itertools
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from urllib.parse import parse_qs

CONTROL_PREFIX = "/__fake/"
MAX_HEADER_BYTES = 1 << 20      # request line + headers
MAX_LINE_BYTES = 64 * 1024      # chunk-size / trailer lines
POLL_STEP = 0.05                # seconds; granularity of close detection
REPEAT_PIECE = 64 * 1024        # natural piece size of "repeat" bodies
WAIT_CAP_MS = 120000            # upper bound of /__fake/wait timeout

# Keys allowed in a ROUTE (and in a response description returned by a
# handle_request() hook).  Subclasses may extend this set.
ROUTE_KEYS = frozenset({
    # matching
    "method", "path", "path_prefix", "times",
    # documentation only
    "name", "comment",
    # status / headers
    "status", "reason", "headers",
    # body sources
    "body", "body_b64", "json", "sse", "repeat", "echo",
    # framing
    "chunked", "no_length",
    # splitting / timing / failures
    "split", "split_every", "delay_ms", "headers_delay_ms",
    "stall_after_bytes", "stall_ms", "close_after_bytes",
    "close_before_headers", "reset",
    # request handling
    "expect_100",
})
BODY_KEYS = ("body", "body_b64", "json", "sse", "repeat", "echo")

_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSION_RE = re.compile(r"^HTTP/(\d)\.(\d)$")


class ScriptError(ValueError):
    """Invalid script or route."""


class BadRequest(Exception):
    """Malformed request: answer 400 and close."""


class ClientGone(Exception):
    """The peer closed / reset the connection."""


class ServerStopping(Exception):
    """The server is shutting down."""


class CloseConnection(Exception):
    """Scripted abrupt close (FIN, or RST when reset is true)."""

    def __init__(self, reset=False):
        super().__init__("close")
        self.reset = reset


# --------------------------------------------------------------------------
# Script validation

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and v >= 0)


def validate_route(route, allowed_keys=ROUTE_KEYS):
    """Validate one ROUTE; return a normalized copy.

    Normalization: "headers" becomes a list of [name, value] string pairs
    (an object or a list of pairs is accepted); "method" is upper-cased.
    Raises ScriptError.
    """
    if not isinstance(route, dict):
        raise ScriptError("route must be an object")
    unknown = sorted(set(route) - set(allowed_keys))
    if unknown:
        raise ScriptError("unknown route key(s): %s" % ", ".join(unknown))
    r = dict(route)
    for k in ("method", "path", "path_prefix", "reason", "name", "body"):
        if k in r and not isinstance(r[k], str):
            raise ScriptError("%s must be a string" % k)
    if "method" in r:
        r["method"] = r["method"].upper()
    if "comment" in r and not isinstance(r["comment"], (str, list)):
        raise ScriptError("comment must be a string")
    if "times" in r and not (_is_int(r["times"]) and r["times"] >= 0):
        raise ScriptError("times must be an integer >= 0")
    if "status" in r and not (_is_int(r["status"])
                              and 100 <= r["status"] <= 999):
        raise ScriptError("status must be an integer 100..999")
    if "headers" in r:
        h = r["headers"]
        pairs = []
        if isinstance(h, dict):
            items = list(h.items())
        elif isinstance(h, list):
            items = h
        else:
            raise ScriptError("headers must be an object or a list of pairs")
        for item in items:
            if (not isinstance(item, (list, tuple)) or len(item) != 2
                    or not isinstance(item[0], str)):
                raise ScriptError("bad header entry: %r" % (item,))
            name, value = item
            if isinstance(value, bool) or not isinstance(
                    value, (str, int, float)):
                raise ScriptError("header %s: value must be a string" % name)
            pairs.append([name, str(value)])
        r["headers"] = pairs
    sources = [k for k in BODY_KEYS if k in r and not (k == "echo"
                                                       and not r[k])]
    if len(sources) > 1:
        raise ScriptError("only one body source allowed, got %s"
                          % ", ".join(sources))
    if "body_b64" in r:
        if not isinstance(r["body_b64"], str):
            raise ScriptError("body_b64 must be a string")
        try:
            base64.b64decode(r["body_b64"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise ScriptError("body_b64: %s" % e)
    if "sse" in r:
        if not isinstance(r["sse"], list):
            raise ScriptError("sse must be a list")
    if "repeat" in r:
        rp = r["repeat"]
        if (not isinstance(rp, dict) or not isinstance(rp.get("text"), str)
                or not _is_int(rp.get("count")) or rp["count"] < 0
                or set(rp) - {"text", "count"}):
            raise ScriptError('repeat must be {"text": str, "count": int}')
    for k in ("echo", "chunked", "no_length", "close_before_headers",
              "reset", "expect_100"):
        if k in r and not isinstance(r[k], bool):
            raise ScriptError("%s must be a boolean" % k)
    if r.get("chunked") and r.get("no_length"):
        raise ScriptError("chunked and no_length are exclusive")
    if "split" in r:
        s = r["split"]
        if not isinstance(s, list) or not all(_is_int(x) and x >= 0
                                              for x in s):
            raise ScriptError("split must be a list of byte offsets")
        r["split"] = sorted(set(s))
    if "split_every" in r and not (_is_int(r["split_every"])
                                   and r["split_every"] > 0):
        raise ScriptError("split_every must be an integer > 0")
    if "split" in r and "split_every" in r:
        raise ScriptError("split and split_every are exclusive")
    for k in ("delay_ms", "headers_delay_ms", "stall_ms"):
        if k in r and not _is_num(r[k]):
            raise ScriptError("%s must be a number >= 0" % k)
    for k in ("stall_after_bytes", "close_after_bytes"):
        if k in r and not (_is_int(r[k]) and r[k] >= 0):
            raise ScriptError("%s must be an integer >= 0" % k)
    return r


def validate_script(script, allowed_keys=ROUTE_KEYS):
    """Validate a script object; return the normalized list of routes."""
    if not isinstance(script, dict):
        raise ScriptError("script must be an object")
    if set(script) - {"routes", "comment"}:
        raise ScriptError("unknown script key(s): %s"
                          % ", ".join(sorted(set(script)
                                             - {"routes", "comment"})))
    routes = script.get("routes", [])
    if not isinstance(routes, list):
        raise ScriptError("routes must be a list")
    out = []
    for i, route in enumerate(routes):
        try:
            out.append(validate_route(route, allowed_keys))
        except ScriptError as e:
            raise ScriptError("route %d: %s" % (i, e))
    return out


def compact_json(obj):
    return json.dumps(obj, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------
# Body generation

def _repeat_gen(text, count):
    if not text or count <= 0:
        return
    reps = max(1, REPEAT_PIECE // len(text))
    block = text * reps
    full, rest = divmod(count, reps)
    for _ in range(full):
        yield block
    if rest:
        yield text * rest


def rechunk(chunks, cuts, max_piece=None):
    """Re-cut a stream of byte chunks at absolute offsets.

    chunks: iterable of bytes.  cuts: iterator of increasing absolute
    offsets.  Once cuts are exhausted, the rest is one piece, or pieces of
    at most max_piece bytes if max_piece is set.  Empty pieces are never
    produced.
    """
    pos = 0
    pending = bytearray()
    cut = next(cuts, None)
    for chunk in chunks:
        i = 0
        n = len(chunk)
        while i < n:
            while cut is not None and cut <= pos:
                cut = next(cuts, None)
            if cut is not None:
                limit = cut - pos
            elif max_piece:
                limit = max_piece
            else:
                pending += chunk[i:]
                break
            take = min(limit - len(pending), n - i)
            pending += chunk[i:i + take]
            i += take
            if len(pending) >= limit:
                yield bytes(pending)
                pos += len(pending)
                pending = bytearray()
    if pending:
        yield bytes(pending)


def sse_event_bytes(item):
    if isinstance(item, str):
        if item == "[DONE]":
            return b"data: [DONE]\n\n"
        return item.encode("utf-8")
    return b"data: " + compact_json(item) + b"\n\n"


# --------------------------------------------------------------------------
# Requests

class Request:
    """A parsed request.  headers_list keeps the order and case."""

    def __init__(self, method, target, version, header_list, conn_id):
        self.method = method
        self.target = target
        self.version = version
        self.header_list = header_list
        self.conn_id = conn_id
        path = target
        if "://" in target and not target.startswith("/"):
            rest = target.split("://", 1)[1]
            slash = rest.find("/")
            path = rest[slash:] if slash >= 0 else "/"
        if "?" in path:
            path, query = path.split("?", 1)
        else:
            query = ""
        self.path = path
        self.query = query
        self.body = b""
        self.chunked = False
        self.seq = None
        self.time = None
        self.control = path.startswith(CONTROL_PREFIX)

    @property
    def headers(self):
        """Lower-cased name -> value (duplicates joined with ', ')."""
        d = {}
        for name, value in self.header_list:
            k = name.lower()
            d[k] = value if k not in d else d[k] + ", " + value
        return d

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def header_tokens(self, name):
        v = self.header(name, "")
        return [t.strip().lower() for t in v.split(",") if t.strip()]

    @property
    def query_params(self):
        return parse_qs(self.query, keep_blank_values=True)

    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def wants_close(self):
        tokens = self.header_tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens

    def to_record(self):
        return {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "header_list": [[n, v] for n, v in self.header_list],
            "body": self.text(),
            "body_len": len(self.body),
            "conn_id": self.conn_id,
        }

    def echo_object(self):
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.text(),
        }


def _decode_header_text(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


# --------------------------------------------------------------------------
# Connections

class Connection:
    def __init__(self, server, sock, conn_id, peer):
        self.server = server
        self.sock = sock
        self.conn_id = conn_id
        self.buf = bytearray()
        self.info = {
            "conn_id": conn_id,
            "opened": time.time(),
            "closed": None,
            "closed_by": None,
            "requests": 0,
            "scripted_requests": 0,
            "peer": "%s:%s" % (peer[0], peer[1]) if peer else None,
        }
        self._closed = False
        self._close_lock = threading.Lock()
        self._poller = select.poll()
        self._poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)

    # -- bookkeeping --
    def mark_closed(self, by):
        with self.server._lock:
            if self.info["closed"] is None:
                self.info["closed"] = time.time()
                self.info["closed_by"] = by
                self.server.log("conn=%d closed by %s" % (self.conn_id, by))
                self.server._cond.notify_all()

    # -- reading --
    def _recv_into_buf(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, OSError):
            raise ClientGone()
        if not data:
            raise ClientGone()
        self.buf += data

    def read_until(self, marker, limit, what):
        start = 0
        while True:
            i = self.buf.find(marker, start)
            if i >= 0:
                end = i + len(marker)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if len(self.buf) > limit:
                raise BadRequest("%s too large" % what)
            start = max(0, len(self.buf) - len(marker) + 1)
            self._recv_into_buf()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._recv_into_buf()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    # -- writing --
    def send(self, data):
        if self.server._stopping.is_set():
            raise ServerStopping()
        try:
            self.sock.sendall(data)
        except (ConnectionError, OSError):
            if self.server._stopping.is_set():
                raise ServerStopping()
            raise ClientGone()

    def wait(self, seconds):
        """Sleep, watching the socket: raise ClientGone if the peer closes
        (checked every <= POLL_STEP s), ServerStopping on shutdown.  Data
        the peer sends meanwhile (pipelining) is kept in the buffer."""
        deadline = time.monotonic() + seconds
        while True:
            if self.server._stopping.is_set():
                raise ServerStopping()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            step = min(remaining, POLL_STEP)
            try:
                events = self._poller.poll(max(1, int(step * 1000 + 0.999)))
            except OSError:
                raise ClientGone()
            if events:
                if len(self.buf) > MAX_HEADER_BYTES * 16:
                    # Don't buffer without bound; just sleep the step.
                    time.sleep(step)
                    continue
                self._recv_into_buf()

    # -- closing --
    def close(self, reset=False):
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            else:
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                # Drain unread input so close() sends FIN, not RST.
                try:
                    self.sock.setblocking(False)
                    for _ in range(64):
                        if not self.sock.recv(65536):
                            break
                except (BlockingIOError, OSError):
                    pass
            self.sock.close()
        except OSError:
            pass

    def shutdown_from_server(self):
        self.mark_closed("server")
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# --------------------------------------------------------------------------
# Server

class ScriptedServer:
    """Scripted fake HTTP/1.1 server.

    Hooks for subclasses (all called from connection threads):

    handle_request(req) -> dict or None
        Called for every non-control request after it was read and
        recorded, before the route table is consulted.  Return a response
        description (same keys as a ROUTE, validated with validate_route)
        to answer it, or None to fall through to the routes.
    handle_control(req) -> (status, json_obj) or None
        Called for /__fake/... paths the base class does not know.
    expect_continue(req) -> bool
        Whether to send "100 Continue" to a request with
        "Expect: 100-continue" (default: yes, unless the route that would
        match says "expect_100": false).
    ROUTE_KEYS
        Class attribute: allowed route keys (extend for extra keys).
    """

    ROUTE_KEYS = ROUTE_KEYS

    def __init__(self, host="127.0.0.1", port=0, script=None, log=None):
        self.host = host
        self.req_port = port
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._routes = []
        self._used = []
        self._script = {"routes": []}
        self._requests = []
        self._seq = 0
        self._conns = []          # Connection objects, in accept order
        self._conn_seq = 0
        self._stopping = threading.Event()
        self._lsock = None
        self._thread = None
        self._log_file = None
        self._own_log = False
        self._log_lock = threading.Lock()
        self._threads = []
        if isinstance(log, str):
            self._log_file = open(log, "a", buffering=1, encoding="utf-8")
            self._own_log = True
        elif log is not None:
            self._log_file = log
        if script is not None:
            self.set_script(script)

    # -- logging --
    def log(self, msg):
        if self._log_file is None:
            return
        with self._log_lock:
            try:
                self._log_file.write("%.6f %s\n" % (time.time(), msg))
                self._log_file.flush()
            except (OSError, ValueError):
                pass

    def _log_exception(self, where):
        text = "%s: unexpected error\n%s" % (where, traceback.format_exc())
        if self._log_file is not None:
            self.log(text)
        else:
            sys.stderr.write(text)

    # -- script / state API --
    def set_script(self, script):
        """Replace the routes (resets the "times" counters)."""
        routes = validate_script(script, self.ROUTE_KEYS)
        with self._lock:
            self._script = script
            self._routes = routes
            self._used = [0] * len(routes)

    def set_routes(self, routes):
        self.set_script({"routes": routes})

    def match_route(self, req, consume=True):
        """First route matching req with "times" left (or None).  With
        consume, its use counter is incremented."""
        with self._lock:
            for i, r in enumerate(self._routes):
                if "method" in r and r["method"] != req.method:
                    continue
                if "path" in r and r["path"] != req.path:
                    continue
                if ("path_prefix" in r
                        and not req.path.startswith(r["path_prefix"])):
                    continue
                if "times" in r and self._used[i] >= r["times"]:
                    continue
                if consume:
                    self._used[i] += 1
                return r
        return None

    def requests(self):
        with self._lock:
            return [r.to_record() for r in self._requests]

    def request_objects(self):
        with self._lock:
            return list(self._requests)

    def clear_requests(self):
        with self._lock:
            self._requests = []

    def wait_requests(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    break
                self._cond.wait(min(remaining, 0.1))
            return len(self._requests)

    def connections(self):
        with self._lock:
            return [dict(c.info) for c in self._conns]

    def _record(self, req):
        with self._lock:
            self._seq += 1
            req.seq = self._seq
            req.time = time.time()
            self._requests.append(req)
            self._cond.notify_all()

    # -- hooks --
    def handle_request(self, req):
        return None

    def handle_control(self, req):
        return None

    def expect_continue(self, req):
        if req.control:
            return True
        route = self.match_route(req, consume=False)
        return route is None or route.get("expect_100", True)

    # -- lifecycle --
    def bind(self):
        if self._lsock is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.req_port))
        s.listen(128)
        self._lsock = s
        return self

    @property
    def port(self):
        return self._lsock.getsockname()[1] if self._lsock else None

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d" % (host, self.port)

    def serve_forever(self):
        """Accept connections until stop is requested.  Closes the
        listening socket and all connections before returning."""
        self.bind()
        self.log("listening on %s:%d" % (self.host, self.port))
        try:
            while not self._stopping.is_set():
                try:
                    r, _, _ = select.select([self._lsock], [], [], 0.1)
                except (OSError, ValueError):
                    break
                if not r:
                    continue
                try:
                    sock, peer = self._lsock.accept()
                except OSError:
                    continue
                self._start_connection(sock, peer)
        finally:
            self._stopping.set()
            try:
                self._lsock.close()
            except OSError:
                pass
            self._close_all()

    def start(self):
        """Bind and serve in a background daemon thread; returns self."""
        self.bind()
        self._thread = threading.Thread(target=self.serve_forever,
                                        name="fake-accept", daemon=True)
        self._thread.start()
        return self

    def request_stop(self):
        """Ask serve_forever() to return (safe from signal handlers)."""
        self._stopping.set()

    def stop(self, join_timeout=1.0):
        """Stop serving, close every socket, wait (bounded) for the
        connection threads to finish."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        else:
            self._close_all()
        deadline = time.monotonic() + join_timeout
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._own_log and self._log_file is not None:
            with self._log_lock:
                try:
                    self._log_file.close()
                except OSError:
                    pass
                self._log_file = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _close_all(self):
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.shutdown_from_server()

    def _start_connection(self, sock, peer):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self._lock:
            self._conn_seq += 1
            conn = Connection(self, sock, self._conn_seq, peer)
            self._conns.append(conn)
        self.log("conn=%d opened from %s" % (conn.conn_id,
                                             conn.info["peer"]))
        t = threading.Thread(target=self._conn_main, args=(conn,),
                             name="fake-conn-%d" % conn.conn_id, daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
        t.start()

    # -- connection thread --
    def _conn_main(self, conn):
        reset = False
        try:
            while True:
                req = self._read_request(conn)
                if not self._handle(conn, req):
                    break
            conn.mark_closed("server")
        except ClientGone:
            conn.mark_closed("server" if self._stopping.is_set()
                             else "client")
        except ServerStopping:
            conn.mark_closed("server")
        except CloseConnection as e:
            reset = e.reset
            conn.mark_closed("server")
        except BadRequest as e:
            self.log("conn=%d bad request: %s" % (conn.conn_id, e))
            try:
                body = compact_json({"error": {"message": "bad request: %s"
                                               % e, "type": "fake"}})
                conn.send(b"HTTP/1.1 400 Bad Request\r\n"
                          b"Content-Type: application/json\r\n"
                          b"Content-Length: %d\r\n"
                          b"Connection: close\r\n\r\n" % len(body) + body)
                conn.mark_closed("server")
            except (ClientGone, ServerStopping):
                conn.mark_closed("client")
        except Exception:
            self._log_exception("conn=%d" % conn.conn_id)
            conn.mark_closed("server")
        finally:
            conn.close(reset=reset)

    def _read_request(self, conn):
        # Ignore empty lines before a request line (RFC 9112 2.2).
        while True:
            while len(conn.buf) < 2:
                conn._recv_into_buf()
            if conn.buf[:2] == b"\r\n":
                del conn.buf[:2]
            else:
                break
        head = conn.read_until(b"\r\n\r\n", MAX_HEADER_BYTES, "headers")
        lines = head[:-4].split(b"\r\n")
        try:
            line = lines[0].decode("ascii")
        except UnicodeDecodeError:
            raise BadRequest("request line is not ASCII")
        parts = line.split(" ")
        if len(parts) != 3:
            raise BadRequest("malformed request line")
        method, target, version = parts
        if not _TOKEN_RE.match(method) or not _VERSION_RE.match(version):
            raise BadRequest("malformed request line")
        if not target or not (target.startswith("/") or target == "*"
                              or "://" in target):
            raise BadRequest("malformed request target")
        header_list = []
        for raw in lines[1:]:
            if not raw or raw[:1] in (b" ", b"\t"):
                raise BadRequest("malformed header line")
            name, sep, value = raw.partition(b":")
            if not sep:
                raise BadRequest("header line without colon")
            name_s = name.decode("latin-1")
            if not _TOKEN_RE.match(name_s):
                raise BadRequest("invalid header name")
            header_list.append((name_s,
                                _decode_header_text(value.strip(b" \t"))))
        req = Request(method, target, version, header_list, conn.conn_id)
        with self._lock:
            conn.info["requests"] += 1

        te = req.header_tokens("transfer-encoding")
        cl = req.header("content-length")
        if te:
            if te[-1] != "chunked":
                raise BadRequest("unsupported transfer-encoding")
            req.chunked = True
        elif cl is not None:
            vals = {v.strip() for v in cl.split(",")}
            if len(vals) != 1 or not next(iter(vals)).isdigit():
                raise BadRequest("invalid content-length")
            length = int(next(iter(vals)))
        else:
            length = 0
        has_body = req.chunked or length > 0
        if (has_body and version == "HTTP/1.1"
                and "100-continue" in req.header_tokens("expect")
                and self.expect_continue(req)):
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if req.chunked:
            req.body = self._read_chunked(conn)
        elif length:
            req.body = conn.read_exact(length)
        return req

    def _read_chunked(self, conn):
        body = bytearray()
        while True:
            line = conn.read_until(b"\r\n", MAX_LINE_BYTES, "chunk line")
            size_s = line[:-2].split(b";", 1)[0].strip()
            try:
                if not size_s or not re.match(rb"^[0-9a-fA-F]+$", size_s):
                    raise ValueError
                size = int(size_s, 16)
            except ValueError:
                raise BadRequest("invalid chunk size")
            if size == 0:
                while True:  # trailers
                    t = conn.read_until(b"\r\n", MAX_LINE_BYTES, "trailer")
                    if t == b"\r\n":
                        return bytes(body)
            body += conn.read_exact(size)
            if conn.read_exact(2) != b"\r\n":
                raise BadRequest("missing CRLF after chunk data")

    def _handle(self, conn, req):
        """Answer one request; return True to keep the connection."""
        if req.control:
            try:
                res = self._control(req)
            except ScriptError as e:
                res = (400, {"error": {"message": str(e), "type": "fake"}})
            status, obj = res
            self.log("conn=%d control %s %s -> %d" % (
                conn.conn_id, req.method, req.target, status))
            return self._respond(conn, req, {"status": status,
                                             "json": obj})
        with self._lock:
            conn.info["scripted_requests"] += 1
        self._record(req)
        try:
            resp = self.handle_request(req)
            if resp is not None:
                resp = validate_route(resp, self.ROUTE_KEYS)
                origin = "hook"
        except Exception as e:
            self._log_exception("conn=%d handle_request" % conn.conn_id)
            resp = {"status": 500,
                    "json": {"error": {"message": "fake hook error: %r" % e,
                                       "type": "fake"}}}
            origin = "hook error"
        if resp is None:
            resp = self.match_route(req, consume=True)
            origin = "route"
            if resp is None:
                origin = "no route"
                resp = {"status": 404,
                        "json": {"error": {"message": "no route",
                                           "type": "fake"}}}
        self.log("conn=%d #%d %s %s -> %s %s" % (
            conn.conn_id, req.seq, req.method, req.target,
            resp.get("status", 200), origin))
        return self._respond(conn, req, resp)

    # -- control endpoints --
    def _control(self, req):
        path, m = req.path, req.method
        name = path[len(CONTROL_PREFIX):]
        if name == "health":
            if m in ("GET", "HEAD"):
                return 200, {"ok": True}
        elif name == "requests":
            if m in ("GET", "HEAD"):
                return 200, self.requests()
            if m == "DELETE":
                self.clear_requests()
                return 200, {"ok": True}
        elif name == "script":
            if m == "POST" or m == "PUT":
                try:
                    script = req.json()
                except (ValueError, UnicodeDecodeError) as e:
                    raise ScriptError("invalid JSON: %s" % e)
                self.set_script(script)
                return 200, {"ok": True}
            if m in ("GET", "HEAD"):
                with self._lock:
                    return 200, self._script
        elif name == "connections":
            if m in ("GET", "HEAD"):
                return 200, self.connections()
        elif name == "wait":
            if m in ("GET", "HEAD"):
                q = req.query_params
                try:
                    n = int(q.get("requests", ["1"])[0])
                    t = float(q.get("timeout_ms", ["5000"])[0])
                except ValueError:
                    raise ScriptError("bad wait parameters")
                t = max(0.0, min(t, WAIT_CAP_MS))
                count = self.wait_requests(n, t / 1000.0)
                return 200, {"count": count, "timed_out": count < n}
        else:
            res = self.handle_control(req)
            if res is not None:
                return res
            return 404, {"error": {"message": "no such control endpoint",
                                   "type": "fake"}}
        return 405, {"error": {"message": "method not allowed",
                               "type": "fake"}}

    # -- response writing --
    def _body_pieces(self, r, req):
        """Return (iterator of pieces, total length, default type)."""
        ctype = None
        natural = None
        total = 0
        max_piece = None
        if r.get("echo"):
            data = compact_json(req.echo_object())
            natural, total, ctype = [data], len(data), "application/json"
        elif "body" in r:
            data = r["body"].encode("utf-8")
            natural, total = [data], len(data)
        elif "body_b64" in r:
            data = base64.b64decode(r["body_b64"])
            natural, total = [data], len(data)
        elif "json" in r:
            data = compact_json(r["json"])
            natural, total, ctype = [data], len(data), "application/json"
        elif "sse" in r:
            natural = [sse_event_bytes(e) for e in r["sse"]]
            total = sum(len(e) for e in natural)
            ctype = "text/event-stream"
        elif "repeat" in r:
            text = r["repeat"]["text"].encode("utf-8")
            count = r["repeat"]["count"]
            natural = _repeat_gen(text, count)
            total = len(text) * count
            max_piece = REPEAT_PIECE
        else:
            natural = []
        if "split" in r:
            pieces = rechunk(natural, iter(r["split"]), max_piece)
        elif "split_every" in r:
            k = r["split_every"]
            pieces = rechunk(natural, itertools.count(k, k), max_piece)
        elif max_piece:
            pieces = rechunk(natural, iter(()), max_piece)
        else:
            pieces = natural
        return pieces, total, ctype

    def _respond(self, conn, req, r):
        if r.get("headers_delay_ms"):
            conn.wait(r["headers_delay_ms"] / 1000.0)
        reset = bool(r.get("reset"))
        if r.get("close_before_headers"):
            raise CloseConnection(reset=reset)
        if reset and "close_after_bytes" not in r:
            raise CloseConnection(reset=True)

        status = r.get("status", 200)
        reason = r.get("reason")
        if reason is None:
            try:
                reason = http.HTTPStatus(status).phrase
            except ValueError:
                reason = "Unknown"
        pieces, total, ctype = self._body_pieces(r, req)
        headers = [tuple(h) for h in r.get("headers", [])]
        names = {n.lower() for n, _ in headers}
        chunked = bool(r.get("chunked"))
        no_length = bool(r.get("no_length"))
        bodyless = 100 <= status < 200 or status in (204, 304)
        if ctype and "content-type" not in names:
            headers.append(("Content-Type", ctype))
        if "content-length" not in names and "transfer-encoding" not in names:
            if chunked:
                headers.append(("Transfer-Encoding", "chunked"))
            elif not no_length and not bodyless:
                headers.append(("Content-Length", str(total)))
        route_close = any(n.lower() == "connection"
                          and "close" in v.lower() for n, v in headers)
        will_close = req.wants_close or no_length or route_close
        if (req.wants_close and "connection" not in names
                and not no_length):
            headers.append(("Connection", "close"))

        head = ["HTTP/1.1 %d %s\r\n" % (status, reason)]
        head += ["%s: %s\r\n" % (n, v) for n, v in headers]
        head.append("\r\n")
        conn.send("".join(head).encode("utf-8"))

        if req.method == "HEAD" or bodyless:
            pieces, chunked = [], False
        self._write_body(conn, pieces, chunked, r)
        if will_close:
            raise CloseConnection(reset=False)
        return True

    def _write_body(self, conn, pieces, chunked, r):
        delay = r.get("delay_ms", 0) / 1000.0
        close_after = r.get("close_after_bytes")
        stall_after = r.get("stall_after_bytes")
        stall_s = r.get("stall_ms", 0) / 1000.0
        reset = bool(r.get("reset"))
        sent = 0
        first = True
        stalled = stall_after is None

        def checkpoints():
            nonlocal stalled
            if not stalled and sent == stall_after:
                stalled = True
                conn.wait(stall_s)
            if close_after is not None and sent == close_after:
                raise CloseConnection(reset=reset)

        for piece in pieces:
            if not piece:
                continue
            if not first and delay:
                conn.wait(delay)
            first = False
            n = len(piece)
            off = 0
            while off < n:
                checkpoints()
                end = n
                for b in (close_after, None if stalled else stall_after):
                    if b is not None and sent < b < sent + (n - off):
                        end = min(end, off + (b - sent))
                out = piece[off:end]
                if chunked:
                    if off == 0:
                        out = b"%x\r\n" % n + out
                    if end == n:
                        out += b"\r\n"
                conn.send(out)
                sent += end - off
                off = end
        checkpoints()
        if chunked:
            conn.send(b"0\r\n\r\n")


# --------------------------------------------------------------------------
# CLI

def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def main(argv=None, server_class=None, add_arguments=None,
         server_kwargs=None, description="Scripted fake HTTP server"):
    """CLI entry point, reusable by subclass fakes:

        scripted.main(server_class=MyFake,
                      add_arguments=lambda ap: ap.add_argument("--x"),
                      server_kwargs=lambda args: {"x": args.x})
    """
    server_class = server_class or ScriptedServer
    # Install the signal handlers first so an early SIGTERM still exits 0.
    holder = {"server": None, "stop": False}

    def on_signal(signum, frame):
        holder["stop"] = True
        if holder["server"] is not None:
            holder["server"].request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--script")
    ap.add_argument("--log")
    if add_arguments:
        add_arguments(ap)
    args = ap.parse_args(argv)

    script = None
    if args.script:
        try:
            with open(args.script, encoding="utf-8") as f:
                script = json.load(f)
            validate_script(script, server_class.ROUTE_KEYS)
        except (OSError, ValueError) as e:
            sys.stderr.write("%s: bad script %s: %s\n"
                             % (ap.prog, args.script, e))
            return 2
    kwargs = server_kwargs(args) if server_kwargs else {}
    server = server_class(args.host, args.port, script=script,
                          log=args.log, **kwargs)
    server.bind()
    holder["server"] = server
    if holder["stop"]:
        server.request_stop()
    write_port_file(args.port_file, server.port)
    server.serve_forever()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
