#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""sse_upstream.py: a small, fast streaming chat.completions upstream for
the benchmark (tests/bench/run.sh). Not a test fake: it knows only what the
benchmark needs.

It answers every POST with a text/event-stream of chat.completion.chunk
events (HTTP/1.1, chunked, keep-alive). What to send is read from the last
message's "content", so the gateway passes it through untouched:

    "bench chunks=N interval_us=U"

N content chunks (default 20), then a finish chunk, a usage chunk and
[DONE]. With interval_us=0 every event goes out in one write (a burst);
otherwise one write per chunk, U microseconds apart. Each content delta
is the upstream's CLOCK_MONOTONIC time in nanoseconds when the chunk was
written ("t=<ns>;"), so a client on the same machine can tell how long
each chunk took to reach it (time.monotonic_ns() is the same clock in
every process).

    sse_upstream.py --port 0 --port-file FILE
"""
import argparse
import asyncio
import json
import os
import re
import time

HEAD = (b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/event-stream\r\n"
        b"Cache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"\r\n")

PRE = (b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk",'
       b'"created":1700000000,"model":"gpt-4o-2024-11-20",'
       b'"system_fingerprint":"fp_bench","choices":[{"index":0,'
       b'"delta":{"content":"')
POST = b'"},"finish_reason":null}]}\n\n'
FIRST = (b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk",'
         b'"created":1700000000,"model":"gpt-4o-2024-11-20",'
         b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
         b'"finish_reason":null}]}\n\n')
FINISH = (b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk",'
          b'"created":1700000000,"model":"gpt-4o-2024-11-20",'
          b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
USAGE = (b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk",'
         b'"created":1700000000,"model":"gpt-4o-2024-11-20","choices":[],'
         b'"usage":{"prompt_tokens":8,"completion_tokens":%d,'
         b'"total_tokens":%d}}\n\n')
DONE = b"data: [DONE]\n\n"


def chunk(b):
    return b"%x\r\n%s\r\n" % (len(b), b)


def params(body):
    n, us = 20, 0
    try:
        msgs = json.loads(body)["messages"]
        text = msgs[-1]["content"]
        if isinstance(text, str):
            m = re.search(r"chunks=(\d+)", text)
            if m:
                n = int(m.group(1))
            m = re.search(r"interval_us=(\d+)", text)
            if m:
                us = int(m.group(1))
    except (ValueError, KeyError, IndexError, TypeError):
        pass
    return n, us


def content(i):
    return PRE + b"t=%d;" % time.monotonic_ns() + POST


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            clen = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    clen = int(v.strip())
            body = await reader.readexactly(clen) if clen else b""
            n, us = params(body)
            if us == 0:
                out = [HEAD, chunk(FIRST)]
                out += [chunk(content(i)) for i in range(n)]
                out += [chunk(FINISH), chunk(USAGE % (n, n + 8)),
                        chunk(DONE), b"0\r\n\r\n"]
                writer.write(b"".join(out))
            else:
                writer.write(HEAD + chunk(FIRST))
                t0 = time.monotonic()
                for i in range(n):
                    # Sleep to the next slot (no drift over a long stream).
                    d = t0 + (i + 1) * us / 1e6 - time.monotonic()
                    if d > 0:
                        await asyncio.sleep(d)
                    writer.write(chunk(content(i)))
                writer.write(chunk(FINISH) + chunk(USAGE % (n, n + 8)) +
                             chunk(DONE) + b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError,
            asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    srv = await asyncio.start_server(handle, a.host, a.port, backlog=1024)
    port = srv.sockets[0].getsockname()[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(a.port_file + ".tmp", a.port_file)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
