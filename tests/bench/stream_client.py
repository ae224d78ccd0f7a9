#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""stream_client.py: the streaming side of the benchmark (tests/bench/run.sh).

  seq   One keep-alive connection, R streaming requests one after the other.
        For each: TTFB (request written -> first response byte, i.e. the
        status line), time to the first event, total time (-> the last
        byte of the chunked body), and for each content chunk the time from
        the upstream writing it (its "t=<ns>;" stamp, CLOCK_MONOTONIC) to
        this client reading it. Prints one JSON object of medians/p99s.

  hold  S concurrent streams (one connection each). Once every stream has
        had its first content chunk, samples VmRSS of --pid every 50 ms
        until the first stream ends, then waits for all of them; prints
        JSON with how many completed, the largest VmRSS seen while all S
        were open (with its RssAnon, RssFile and Pss), and VmHWM at the end.

Both use raw sockets and a minimal HTTP/1.1 chunked decoder, so the cost
on the client side is the same whatever is being measured.
"""
import argparse
import asyncio
import json
import re
import socket
import statistics
import sys
import time

STAMP = re.compile(rb"t=(\d+);")


class Decoder:
    """Incremental HTTP/1.1 response parser (chunked or content-length)."""

    def __init__(self):
        self.buf = bytearray()
        self.state = "head"
        self.status = 0
        self.need = 0
        self.chunked = False
        self.body = bytearray()  # decoded body not yet split into events
        self.done = False

    def feed(self, data):
        """Feeds bytes; returns a list of complete SSE events (bytes)."""
        self.buf += data
        events = []
        while True:
            if self.state == "head":
                i = self.buf.find(b"\r\n\r\n")
                if i < 0:
                    break
                head = bytes(self.buf[:i]).split(b"\r\n")
                del self.buf[:i + 4]
                self.status = int(head[0].split()[1])
                self.chunked = False
                self.need = -1
                for h in head[1:]:
                    k, _, v = h.partition(b":")
                    k = k.strip().lower()
                    if k == b"transfer-encoding" and b"chunked" in v.lower():
                        self.chunked = True
                    elif k == b"content-length":
                        self.need = int(v.strip())
                self.state = "size" if self.chunked else "fixed"
            elif self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                n = int(bytes(self.buf[:i]).split(b";")[0], 16)
                del self.buf[:i + 2]
                if n == 0:
                    self.state = "trailer"
                else:
                    self.need = n
                    self.state = "data"
            elif self.state == "data":
                if len(self.buf) < self.need + 2:
                    break
                self.body += self.buf[:self.need]
                del self.buf[:self.need + 2]
                self.state = "size"
            elif self.state == "trailer":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                empty = i == 0
                del self.buf[:i + 2]
                if empty:
                    self.done = True
                    self.state = "end"
            elif self.state == "fixed":
                take = len(self.buf) if self.need < 0 else \
                    min(self.need, len(self.buf))
                self.body += self.buf[:take]
                del self.buf[:take]
                if self.need >= 0:
                    self.need -= take
                    if self.need == 0:
                        self.done = True
                        self.state = "end"
                break
            else:
                break
        while True:
            i = self.body.find(b"\n\n")
            if i < 0:
                break
            events.append(bytes(self.body[:i]))
            del self.body[:i + 2]
        return events


def request(host, port, path, headers, body):
    h = ["POST %s HTTP/1.1" % path, "Host: %s:%d" % (host, port),
         "Content-Type: application/json", "Accept: text/event-stream",
         "Content-Length: %d" % len(body)]
    h += headers
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def body_for(content):
    return json.dumps({"model": "gpt-4o", "stream": True,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": content}]},
                      separators=(",", ":")).encode()


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def run_seq(a):
    req = request(a.host, a.port, a.path, a.header, body_for(a.content))
    s = socket.create_connection((a.host, a.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ttfb, first, total, lat, nchunks, bad = [], [], [], [], [], 0
    for k in range(a.warmup + a.requests):
        d = Decoder()
        t0 = time.monotonic_ns()
        s.sendall(req)
        tb = tf = None
        lats, n, saw_done = [], 0, False
        while not d.done:
            data = s.recv(262144)
            now = time.monotonic_ns()
            if not data:
                raise SystemExit("connection closed mid-response")
            if tb is None:
                tb = now
            for ev in d.feed(data):
                if ev.startswith(b":"):
                    continue
                if tf is None and ev.startswith(b"data:"):
                    tf = now
                m = STAMP.search(ev)
                if m:
                    lats.append(now - int(m.group(1)))
                    n += 1
                elif b"[DONE]" in ev:
                    saw_done = True
        t1 = time.monotonic_ns()
        if d.status != 200 or not saw_done:
            bad += 1
        if k < a.warmup:
            continue
        ttfb.append(tb - t0)
        first.append((tf or t1) - t0)
        total.append(t1 - t0)
        lat.extend(lats)
        nchunks.append(n)
    s.close()
    us = 1e-3
    out = {
        "requests": a.requests, "bad": bad,
        "chunks_per_stream": statistics.median(nchunks) if nchunks else 0,
        "ttfb_p50_us": pct(ttfb, 50) * us, "ttfb_p99_us": pct(ttfb, 99) * us,
        "first_event_p50_us": pct(first, 50) * us,
        "first_event_p99_us": pct(first, 99) * us,
        "total_p50_us": pct(total, 50) * us,
        "total_p99_us": pct(total, 99) * us,
        "chunk_lat_p50_us": (pct(lat, 50) or 0) * us,
        "chunk_lat_p99_us": (pct(lat, 99) or 0) * us,
    }
    print(json.dumps(out))


def vm(pid):
    r = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                r[k] = int(v.split()[0])  # kB
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "Pss":
                r[k] = int(v.split()[0])
    return r


async def run_hold(a):
    req = request(a.host, a.port, a.path, a.header, body_for(a.content))
    started = asyncio.Event()
    nstarted = 0
    one_done = asyncio.Event()
    results = []

    async def one():
        nonlocal nstarted
        ok = False
        got_first = False
        try:
            r, w = await asyncio.open_connection(a.host, a.port)
            w.write(req)
            d = Decoder()
            saw_done = False
            while not d.done:
                data = await r.read(65536)
                if not data:
                    break
                for ev in d.feed(data):
                    if not got_first and STAMP.search(ev):
                        got_first = True
                        nstarted += 1
                        if nstarted == a.streams:
                            started.set()
                    if b"[DONE]" in ev:
                        saw_done = True
            ok = d.done and d.status == 200 and saw_done
            w.close()
        except OSError:
            pass
        if not got_first:
            nstarted += 1   # do not wait forever for a failed stream
            if nstarted == a.streams:
                started.set()
        one_done.set()
        results.append(ok)

    tasks = [asyncio.create_task(one()) for _ in range(a.streams)]
    samples = []
    try:
        await asyncio.wait_for(started.wait(), a.timeout)
    except asyncio.TimeoutError:
        pass
    all_open = started.is_set() and not one_done.is_set()
    while not one_done.is_set():
        samples.append(vm(a.pid))
        try:
            await asyncio.wait_for(one_done.wait(), 0.05)
        except asyncio.TimeoutError:
            pass
    await asyncio.wait(tasks, timeout=a.timeout)
    end = vm(a.pid)
    peak = max(samples, key=lambda s: s["VmRSS"]) if samples else end
    print(json.dumps({
        "streams": a.streams, "ok": sum(results), "all_open": all_open,
        "samples": len(samples), "rss_kb": peak["VmRSS"],
        "rss_anon_kb": peak.get("RssAnon"), "rss_file_kb": peak.get("RssFile"),
        "pss_kb": peak.get("Pss"),
        "hwm_kb": end["VmHWM"]}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("seq", "hold"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--content", default="bench chunks=20 interval_us=0")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--streams", type=int, default=256)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    if a.mode == "seq":
        run_seq(a)
    else:
        asyncio.run(run_hold(a))


if __name__ == "__main__":
    sys.exit(main())
