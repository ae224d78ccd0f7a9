#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Recorded Copilot streams, replayed by the scripted routes of the GitHub
fake (tests/integration/1107-recorded-streams.sh).

    relay_recorded.py script NAME SPLIT BASE   prints a fake script
    relay_recorded.py expect NAME              prints what a client must get

NAME picks a stream (see STREAMS); SPLIT is "none", a byte count, "all"
(every byte boundary: one write per byte) or "random" (seeded offsets).
BASE is the path prefix the token's endpoints.api names (e.g. /alt): the
script answers BASE/models with the fake's own model list and
BASE/chat/completions with the stream.

The streams follow what Copilot really sends (the upstream notes, 1.5a): a
first chunk with "choices": [] and prompt_filter_results, chunks without
"object", content_filter_offsets, usage on the finish_reason chunk, Claude
answers with the text in choices[0] and the tool call in choices[1].
Variants use CRLF line ends, "data:" without a space, comments, JSON spread
over two data: lines, no [DONE], no trailing blank line, an error object
inside a 200 stream, an empty 200 stream, and a plain JSON answer
(json_answer) to a stream request.

Python 3 standard library only.
"""

import json
import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fake"))
import github  # noqa: E402

FILTER = {"hate": {"filtered": False, "severity": "safe"},
          "self_harm": {"filtered": False, "severity": "safe"},
          "sexual": {"filtered": False, "severity": "safe"},
          "violence": {"filtered": False, "severity": "safe"}}
BASE = {"created": 1761000000, "id": "chatcmpl-CRrEc0rd3dSTr3am",
        "model": "gpt-4o-2024-11-20", "system_fingerprint": "fp_ee1d74bde0"}
TEXT = ["", "Hello", ", wor", "ld! ", "\u00fcn\u00ef", "c\u00f6d\u00e9 ",
        "\u2603 \U0001d11e", " done."]
USAGE = {"completion_tokens": 12, "prompt_tokens": 31, "total_tokens": 43,
         "prompt_tokens_details": {"cached_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 0}}


def j(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


def text_chunks():
    out = [{"choices": [], "created": 0, "id": "",
            "prompt_filter_results": [{"content_filter_results": FILTER,
                                       "prompt_index": 0}]}]
    off = 0
    for i, t in enumerate(TEXT):
        d = {"content": t}
        if i == 0:
            d["role"] = "assistant"
        c = {"index": 0, "delta": d, "content_filter_offsets": {
            "check_offset": 80, "start_offset": off, "end_offset": off + len(t)},
            "content_filter_results": FILTER}
        off += len(t)
        out.append(dict(BASE, choices=[c]))
    out.append(dict(BASE, choices=[{"index": 0, "finish_reason": "stop",
                                    "delta": {"content": None}}],
                    usage=USAGE))
    return out


def claude_tool_chunks():
    base = dict(BASE, model="claude-sonnet-4.5", id="msg_vrtx_01Rec")
    args = j({"city": "Z\u00fcrich", "units": "metric"})
    out = [dict(base, choices=[{"index": 0, "delta": {
        "role": "assistant", "content": "Let me check "}}])]
    out.append(dict(base, choices=[{"index": 0, "delta": {
        "content": "the weather."}}]))
    out.append(dict(base, choices=[{"index": 1, "delta": {
        "role": "assistant", "tool_calls": [{
            "index": 0, "id": "toolu_vrtx_01AbCdEfGhIjKlMnOp",
            "type": "function", "function": {"name": "get_weather",
                                             "arguments": ""}}]}}]))
    for k in range(0, len(args), 3):
        out.append(dict(base, choices=[{"index": 1, "delta": {
            "tool_calls": [{"index": 0, "function": {
                "arguments": args[k:k + 3]}}]}}]))
    out.append(dict(base, choices=[
        {"index": 0, "finish_reason": "tool_calls", "delta": {}},
        {"index": 1, "finish_reason": "tool_calls", "delta": {}}],
        usage=USAGE))
    return out, args


def events(name):
    """Returns the list of raw SSE event strings of a stream."""
    if name == "claude_tools":
        chunks, _ = claude_tool_chunks()
        return ["data: %s\n\n" % j(c) for c in chunks] + ["data: [DONE]\n\n"]
    chunks = text_chunks()
    ev = ["data: %s\n\n" % j(c) for c in chunks]
    if name == "text":
        return ev + ["data: [DONE]\n\n"]
    if name == "text_usage_chunk":
        # Usage on the finish chunk AND in a usage-only chunk.
        return ev + ["data: %s\n\n" % j(dict(BASE, choices=[], usage=USAGE)),
                     "data: [DONE]\n\n"]
    if name == "crlf":
        out = []
        for i, c in enumerate(chunks):
            s = j(c)
            if i == 2:
                # One JSON text over two data: lines (joined by \n).
                half = s.index(",\"delta\"")
                out.append(": keep-alive\r\n\r\ndata:%s\r\ndata:%s\r\n\r\n"
                           % (s[:half], s[half:]))
            else:
                out.append("data:%s\r\n\r\n" % s)
        return out + ["data:[DONE]\r\n\r\n"]
    if name == "no_done":
        return ev
    if name == "no_trailing_blank":
        return ev + ["data: [DONE]"]
    if name == "no_finish":
        return ev[:-1]
    if name == "empty":
        return [""]
    if name == "error_inside":
        return ev[:4] + ["data: %s\n\n" % j({"error": {
            "message": "upstream model overloaded, try again",
            "code": "model_overloaded", "type": "server_error",
            "param": None}})]
    raise SystemExit("unknown stream %s" % name)


def expect(name):
    """What the client must end up with."""
    if name == "claude_tools":
        _, args = claude_tool_chunks()
        return {"content": "Let me check the weather.",
                "tool": ["get_weather", args,
                         "toolu_vrtx_01AbCdEfGhIjKlMnOp"],
                "finish": ["tool_calls", "tool_calls"]}
    return {"content": "".join(TEXT), "finish": ["stop"]}


def json_answer():
    """A whole chat.completion, as Copilot answers a non-stream call."""
    return dict(BASE, object="chat.completion", choices=[{
        "index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "".join(TEXT)}}],
        usage=USAGE)


def script(name, split, base):
    models = {"method": "GET", "path": base + "/models",
              "json": {"data": github.default_models(), "object": "list"}}
    if name == "json_answer":
        # A stream was asked for; Copilot answers with plain JSON.
        return {"routes": [models, {"method": "POST",
                                    "path": base + "/chat/completions",
                                    "json": json_answer()}]}
    body = "".join(events(name))
    route = {"method": "POST", "path": base + "/chat/completions",
             "headers": {"Content-Type": "text/event-stream",
                         "x-request-id": "rec-1"},
             "sse": events(name), "chunked": True}
    n = len(body.encode("utf-8"))
    if split == "all":
        route["split_every"] = 1
    elif split == "random":
        rng = random.Random(name)
        cuts, pos = [], 0
        while True:
            pos += rng.randint(1, 9)
            if pos >= n:
                break
            cuts.append(pos)
        route["split"] = cuts
    elif split != "none":
        route["split_every"] = int(split)
    return {"routes": [models, route]}


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "script":
        print(json.dumps(script(sys.argv[2], sys.argv[3], sys.argv[4])))
    elif len(sys.argv) == 3 and sys.argv[1] == "expect":
        print(json.dumps(expect(sys.argv[2])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
