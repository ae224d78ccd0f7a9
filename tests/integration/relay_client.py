#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Clients for the relay tests (tests/integration/11NN-*.sh).

    relay_client.py sse  --port P --path /v1/chat/completions --body JSON ...
    relay_client.py multi --port P --path ... --body JSON --n 64
    relay_client.py scan --state URL --file F ... [--db DB]

`sse` sends one POST over a raw socket (so the reading pace, the receive
buffer and the moment of disconnecting are under control), decodes the
HTTP/1.1 framing and the SSE stream, and prints a JSON summary: status,
headers, every event with its arrival time (seconds after the request was
sent), comments (": keep-alive"), the chat content and tool calls
reassembled per choice, Responses deltas and usage, whether [DONE] came
and whether the body ended cleanly. Options make it read slowly, pause,
disconnect after N events and sample a process's VmRSS meanwhile.

`multi` runs `sse` N times at once in threads (started together) and
prints the list of summaries.

`scan` fetches the GitHub fake's state (the GitHub and Copilot tokens it
issued) and prints every secret found in the given files and in the
request-log table of the given database, one "<secret prefix> in <where>"
line each; nothing when clean.

Python 3 standard library only.
"""

import argparse
import json
import socket
import sqlite3
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every 50 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.max = rss_kib(pid) or 0
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.wait(0.05):
            v = rss_kib(self.pid)
            if v is not None and v > self.max:
                self.max = v

    def stop(self):
        self.stop_ev.set()
        self.join(1)


class Agg:
    """Reassembles chat chunks and Responses events as they come."""

    def __init__(self, keep_events):
        self.keep = keep_events
        self.events = []
        self.nevents = 0
        self.comments = []
        self.done = False
        self.after_done = 0
        self.objects = {}
        self.empty_choices = 0
        self.usage_chunks = []
        self.usage_on_chunks = 0
        self.errors = []
        self.unparsable = 0
        self.choices = {}
        self.first_content_t = None
        self.last_t = None
        self.event_names = []
        self.resp_text = ""
        self.resp_args = ""
        self.resp_usage = None
        self.finish = {}

    def choice(self, i):
        return self.choices.setdefault(i, {
            "content": "", "role": None, "tool_calls": {},
            "finish_reason": None})

    def comment(self, t, text):
        self.comments.append({"t": round(t, 3), "text": text})

    def event(self, t, name, data):
        self.nevents += 1
        self.last_t = t
        if self.keep:
            self.events.append({"t": round(t, 3), "event": name,
                                "data": data})
        if name is not None:
            self.event_names.append(name)
        if self.done:
            self.after_done += 1
        if data == "[DONE]":
            self.done = True
            return
        try:
            o = json.loads(data)
        except ValueError:
            self.unparsable += 1
            return
        if not isinstance(o, dict):
            self.unparsable += 1
            return
        if "error" in o or o.get("type") == "error" or name == "error":
            self.errors.append(o)
            return
        if name is not None or "sequence_number" in o:
            self._responses(t, name, o)
            return
        obj = o.get("object")
        self.objects[str(obj)] = self.objects.get(str(obj), 0) + 1
        ch = o.get("choices")
        if o.get("usage") is not None:
            if isinstance(ch, list) and not ch:
                self.usage_chunks.append(o["usage"])
            else:
                self.usage_on_chunks += 1
        if not isinstance(ch, list) or not ch:
            if not (o.get("usage") is not None and isinstance(ch, list)):
                self.empty_choices += 1
            return
        for c in ch:
            i = c.get("index", 0)
            a = self.choice(i)
            d = c.get("delta") or {}
            if d.get("role"):
                a["role"] = d["role"]
            if d.get("content"):
                a["content"] += d["content"]
                if self.first_content_t is None:
                    self.first_content_t = t
            for tc in d.get("tool_calls") or []:
                k = tc.get("index", 0)
                f = tc.get("function") or {}
                cur = a["tool_calls"].get(str(k))
                if cur is None:
                    cur = a["tool_calls"][str(k)] = {
                        "id": tc.get("id"), "name": f.get("name"),
                        "arguments": "", "first_has_id_and_name":
                        bool(tc.get("id")) and bool(f.get("name")),
                        "deltas": 0}
                    if self.first_content_t is None:
                        self.first_content_t = t
                elif tc.get("id") and cur["id"] != tc.get("id"):
                    cur["id_changed"] = True
                cur["deltas"] += 1
                cur["arguments"] += f.get("arguments") or ""
            if c.get("finish_reason"):
                a["finish_reason"] = c["finish_reason"]

    def _responses(self, t, name, o):
        typ = o.get("type") or name
        if typ == "response.output_text.delta":
            self.resp_text += o.get("delta", "")
            if self.first_content_t is None:
                self.first_content_t = t
        elif typ == "response.function_call_arguments.delta":
            self.resp_args += o.get("delta", "")
        elif typ == "response.completed":
            self.resp_usage = (o.get("response") or {}).get("usage")

    def summary(self):
        return {
            "events": self.events, "nevents": self.nevents,
            "comments": self.comments, "done": self.done,
            "after_done": self.after_done, "objects": self.objects,
            "empty_choices": self.empty_choices,
            "usage_chunks": self.usage_chunks,
            "usage_on_chunks": self.usage_on_chunks,
            "errors": self.errors, "unparsable": self.unparsable,
            "choices": {str(k): v for k, v in self.choices.items()},
            "content": self.choices.get(0, {}).get("content", ""),
            "first_content_t": self.first_content_t,
            "last_t": self.last_t, "event_names": self.event_names,
            "resp_text": self.resp_text, "resp_args": self.resp_args,
            "resp_usage": self.resp_usage,
        }


class SSEParser:
    def __init__(self, agg, t0):
        self.agg = agg
        self.t0 = t0
        self.buf = b""
        self.data = []
        self.name = None

    def feed(self, b):
        self.buf += b
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                return
            line = self.buf[:i]
            self.buf = self.buf[i + 1:]
            if line.endswith(b"\r"):
                line = line[:-1]
            self.line(line.decode("utf-8", "replace"))

    def line(self, line):
        t = time.time() - self.t0
        if line == "":
            if self.data:
                self.agg.event(t, self.name, "\n".join(self.data))
            self.data = []
            self.name = None
            return
        if line.startswith(":"):
            self.agg.comment(t, line[1:].strip())
            return
        k, _, v = line.partition(":")
        if v.startswith(" "):
            v = v[1:]
        if k == "data":
            self.data.append(v)
        elif k == "event":
            self.name = v


def run_sse(a, barrier=None):
    """One request; returns the summary dict."""
    out = {"status": None, "headers": {}, "body": None, "bytes": 0,
           "clean_end": False, "closed_by_client": False, "error": None}
    agg = Agg(not a.summary)
    sampler = None
    if a.rss_pid:
        sampler = RssSampler(a.rss_pid)
        out["rss_before_kib"] = sampler.max
        sampler.start()
    body = a.body.encode("utf-8")
    if a.body.startswith("@"):
        with open(a.body[1:], "rb") as f:
            body = f.read()
    s = socket.socket()
    if a.rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
    s.settimeout(a.timeout)
    hdrs = ["POST %s HTTP/1.1" % a.path, "Host: 127.0.0.1:%d" % a.port,
            "Content-Type: application/json",
            "Content-Length: %d" % len(body), "Connection: close"]
    hdrs += a.header or []
    req = ("\r\n".join(hdrs) + "\r\n\r\n").encode() + body
    if barrier is not None:
        barrier.wait()
    t0 = time.time()
    out["t0"] = t0
    parser = SSEParser(agg, t0)
    raw = b""
    try:
        s.connect(("127.0.0.1", a.port))
        s.sendall(req)
        while b"\r\n\r\n" not in raw:
            b = s.recv(4096)
            if not b:
                raise EOFError("closed before the headers")
            raw += b
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        out["status"] = int(lines[0].split()[1])
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            out["headers"][k.strip().lower()] = v.strip()
        chunked = "chunked" in out["headers"].get(
            "transfer-encoding", "").lower()
        clen = out["headers"].get("content-length")
        is_sse = "text/event-stream" in out["headers"].get(
            "content-type", "")
        dec = ChunkDecoder() if chunked else None
        plain = []
        paused = False
        pending = rest
        while True:
            if pending:
                b, pending = pending, b""
            else:
                if dec is not None and dec.finished:
                    break
                if clen is not None and out["bytes"] >= int(clen):
                    break
                b = s.recv(a.recv_size)
                if not b:
                    break
            if dec is not None:
                payload = dec.feed(b)
            else:
                payload = b
            out["bytes"] += len(payload)
            if is_sse:
                parser.feed(payload)
            else:
                plain.append(payload)
            if (a.max_events and agg.nevents >= a.max_events):
                out["closed_by_client"] = True
                out["closed_at"] = time.time()
                break
            if (a.pause and not paused and agg.nevents >= a.pause_after):
                paused = True
                if sampler:
                    out["rss_pause_start_kib"] = rss_kib(a.rss_pid)
                time.sleep(a.pause)
                if sampler:
                    out["rss_pause_end_kib"] = rss_kib(a.rss_pid)
            if a.rate:
                # Keep to about `rate` bytes per second.
                ahead = out["bytes"] / a.rate - (time.time() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        if dec is not None:
            out["clean_end"] = dec.finished
        elif clen is not None:
            out["clean_end"] = out["bytes"] == int(clen)
        if not is_sse:
            out["body"] = b"".join(plain).decode("utf-8", "replace")
    except (OSError, EOFError, ValueError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        s.close()
    out["elapsed"] = round(time.time() - t0, 3)
    if sampler:
        sampler.stop()
        out["rss_max_kib"] = sampler.max
        out["rss_after_kib"] = rss_kib(a.rss_pid)
    out.update(agg.summary())
    return out


class ChunkDecoder:
    """Incremental HTTP/1.1 chunked transfer decoding."""

    def __init__(self):
        self.buf = b""
        self.left = None    # bytes left in the current chunk
        self.finished = False

    def feed(self, b):
        self.buf += b
        out = []
        while not self.finished:
            if self.left is None:
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                size = int(self.buf[:i].split(b";")[0], 16)
                self.buf = self.buf[i + 2:]
                if size == 0:
                    self.finished = True
                    break
                self.left = size
            if self.left > 0:
                take = self.buf[:self.left]
                out.append(take)
                self.buf = self.buf[len(take):]
                self.left -= len(take)
                if self.left > 0:
                    break
            if len(self.buf) < 2:
                break
            if self.buf[:2] != b"\r\n":
                raise ValueError("bad chunk framing")
            self.buf = self.buf[2:]
            self.left = None
        return b"".join(out)


def cmd_multi(a):
    barrier = threading.Barrier(a.n)
    res = [None] * a.n
    bodies = [a.body.replace("{i}", str(i)) for i in range(a.n)]

    def one(i):
        aa = argparse.Namespace(**vars(a))
        aa.body = bodies[i]
        res[i] = run_sse(aa, barrier)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(a.n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return res


def cmd_scan(a):
    with urllib.request.urlopen(a.state) as r:
        st = json.load(r)
    secrets = list(st.get("gh_tokens", {}).keys())
    secrets += [e["token"] for e in st.get("copilot_tokens", [])]
    secrets = [s for s in secrets if s]
    found = []
    if not secrets:
        found.append("no secrets issued by the fake (nothing to check)")
    for path in a.file or []:
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        for s in secrets:
            # A token's distinctive part is enough to count as a leak.
            for frag in (s, s[:24], s[-24:]):
                if frag in text:
                    found.append("%s... in %s" % (s[:12], path))
                    break
    if a.db:
        con = sqlite3.connect("file:%s?mode=ro" % a.db, uri=True)
        try:
            for tbl in ("requests", "audit"):
                try:
                    rows = con.execute("SELECT * FROM %s" % tbl).fetchall()
                except sqlite3.Error:
                    continue
                text = json.dumps(rows, default=str)
                for s in secrets:
                    for frag in (s, s[:24], s[-24:]):
                        if frag in text:
                            found.append("%s... in table %s" % (s[:12],
                                                                 tbl))
                            break
        finally:
            con.close()
    return found, len(secrets)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("sse", "multi"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--path", default="/v1/chat/completions")
        p.add_argument("--body", required=True,
                       help="JSON text, or @file")
        p.add_argument("--header", "-H", action="append")
        p.add_argument("--summary", action="store_true",
                       help="do not keep the events themselves")
        p.add_argument("--max-events", type=int, default=0,
                       help="disconnect after this many events")
        p.add_argument("--pause", type=float, default=0,
                       help="stop reading for this many seconds ...")
        p.add_argument("--pause-after", type=int, default=1,
                       help="... after this many events")
        p.add_argument("--rate", type=float, default=0,
                       help="read at most this many bytes per second")
        p.add_argument("--recv-size", type=int, default=65536)
        p.add_argument("--rcvbuf", type=int, default=0,
                       help="SO_RCVBUF of the client socket")
        p.add_argument("--rss-pid", type=int, default=0)
        p.add_argument("--timeout", type=float, default=30)
        if name == "multi":
            p.add_argument("--n", type=int, default=8)
    p = sub.add_parser("scan")
    p.add_argument("--state", required=True)
    p.add_argument("--file", action="append")
    p.add_argument("--db")
    a = ap.parse_args()
    if a.cmd == "sse":
        json.dump(run_sse(a), sys.stdout)
    elif a.cmd == "multi":
        json.dump(cmd_multi(a), sys.stdout)
    else:
        found, n = cmd_scan(a)
        for f in found:
            print(f)
        sys.stderr.write("# checked %d secrets\n" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
