#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Checks that a body is a well-formed Anthropic Messages event stream.

    python3 anthropic_validate.py FILE|- [--expect-error] [--allow-error]
        [--allow-ping-before-start]

Used by tests/integration/2xxx-*.sh (and the SDK tests in
tests/sdk-anthropic) on every streamed /v1/messages answer. The stream
must be a sequence of SSE events, each "event: NAME" with a JSON "data:"
object whose "type" is NAME, in this order:

  message_start                       first; message.id msg_..., content []
  (content_block_start                index 0, 1, 2, ... one block at a time
   content_block_delta*               delta type fits the block type
   content_block_stop)*               tool_use input must be a JSON object
  message_delta                       once, no block open; stop_reason, usage
  message_stop                        last; nothing after it

with ping events allowed anywhere between message_start and message_stop
(SSE comments are tolerated). An error event {"type":"error","error":
{"type","message"}} ends the stream wherever it comes: nothing may follow
it. Without --expect-error or --allow-error an error event is a failure;
with --expect-error the stream must end with one. A ping before
message_start is a failure unless --allow-ping-before-start is given.

On success it prints a JSON summary on stdout and exits 0: the message
rebuilt from the events (id, model, content blocks with text, parsed tool
input, thinking and signature), stop_reason, usage (message_start's
updated by message_delta's), the event names, ping count, the number of
deltas per block, and the error event if any. On a violation it prints
"invalid stream: ..." on stderr and exits 1.
"""

import json
import sys

TEXT_DELTAS = ("text_delta", "citations_delta")
BLOCK_DELTAS = {
    "text": TEXT_DELTAS,
    "tool_use": ("input_json_delta",),
    "server_tool_use": ("input_json_delta",),
    "thinking": ("thinking_delta", "signature_delta"),
    "redacted_thinking": (),
}
STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use",
                "pause_turn", "refusal", "model_context_window_exceeded")


USAGE = ("usage: anthropic_validate.py FILE|- [--expect-error] "
         "[--allow-error] [--allow-ping-before-start]\n")


class Invalid(Exception):
    pass


def parse_sse(text):
    """[(event name or None, data text, raw)] plus the comment count."""
    events, comments = [], 0
    name, data, raw = None, None, []
    # SSE line ends: \r\n, \n or \r.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for line in lines:
        if line == "":
            if data is not None or name is not None:
                events.append((name, data, "\n".join(raw)))
            name, data, raw = None, None, []
            continue
        raw.append(line)
        if line.startswith(":"):
            comments += 1
            raw.pop()
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data = value if data is None else data + "\n" + value
        elif field in ("id", "retry"):
            pass
        else:
            raise Invalid("unknown SSE field %r in line %r" % (field, line))
    if data is not None or name is not None:
        # The last event lacks its blank line: the stream was cut.
        raise Invalid("the stream ends inside an event (no blank line "
                      "after %r)" % "\n".join(raw)[:200])
    return events, comments


def need(cond, msg):
    if not cond:
        raise Invalid(msg)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_usage(u, where, fields):
    need(isinstance(u, dict), "%s: usage is not an object: %r" % (where, u))
    for f in fields:
        need(is_int(u.get(f)) and u[f] >= 0,
             "%s: usage.%s is not a non-negative integer: %r"
             % (where, f, u.get(f)))


def validate(text, expect_error=False, allow_error=False,
             no_ping_before_start=True):
    events, comments = parse_sse(text)
    need(events, "no events at all")
    out = {"id": None, "model": None, "role": None, "content": [],
           "stop_reason": None, "stop_sequence": None, "usage": {},
           "events": [], "pings": 0, "comments": comments, "deltas": [],
           "error": None}
    started = stopped = delta_seen = False
    block = None        # the open block: dict being rebuilt
    btype = None
    pjson = None        # tool_use partial JSON being gathered
    for n, (name, data, raw) in enumerate(events):
        where = "event %d (%s)" % (n, name)
        need(name is not None, "%s: an event without an event: line: %r"
             % (where, raw[:200]))
        need(data is not None, "%s: an event without data" % where)
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise Invalid("%s: data is not JSON (%s): %r" % (where, e,
                                                             data[:200]))
        need(isinstance(obj, dict), "%s: data is not an object" % where)
        need(obj.get("type") == name, "%s: data.type is %r, not the event "
             "name" % (where, obj.get("type")))
        need(not stopped, "%s after message_stop" % where)
        need(out["error"] is None, "%s after an error event" % where)
        out["events"].append(name)
        if name == "error":
            e = obj.get("error")
            need(isinstance(e, dict) and isinstance(e.get("type"), str)
                 and isinstance(e.get("message"), str),
                 "%s: not {type: error, error: {type, message}}: %r"
                 % (where, obj))
            out["error"] = e
            continue
        if name == "ping":
            need(started or not no_ping_before_start,
                 "%s: ping before message_start" % where)
            out["pings"] += 1
            continue
        if name == "message_start":
            need(not started, "%s: a second message_start" % where)
            need(n == 0 or all(e == "ping" for e in out["events"][:-1]),
                 "%s: message_start is not first" % where)
            started = True
            m = obj.get("message")
            need(isinstance(m, dict), "%s: no message object" % where)
            need(m.get("type") == "message", "%s: message.type is %r"
                 % (where, m.get("type")))
            need(m.get("role") == "assistant", "%s: message.role is %r"
                 % (where, m.get("role")))
            need(isinstance(m.get("id"), str) and m["id"].startswith("msg_")
                 and len(m["id"]) > 4, "%s: message.id is %r, not msg_..."
                 % (where, m.get("id")))
            need(isinstance(m.get("model"), str) and m["model"],
                 "%s: message.model is %r" % (where, m.get("model")))
            need(m.get("content") == [], "%s: message.content is %r, not []"
                 % (where, m.get("content")))
            need(m.get("stop_reason") is None, "%s: stop_reason already set"
                 % where)
            check_usage(m.get("usage"), where, ("input_tokens",
                                                "output_tokens"))
            out.update(id=m["id"], model=m["model"], role=m["role"])
            out["usage"] = dict(m["usage"])
            continue
        need(started, "%s before message_start" % where)
        if name == "content_block_start":
            need(block is None, "%s: block %d is still open"
                 % (where, len(out["content"]) - 1))
            need(not delta_seen, "%s after message_delta" % where)
            idx = obj.get("index")
            need(idx == len(out["content"]), "%s: index %r, want %d"
                 % (where, idx, len(out["content"])))
            cb = obj.get("content_block")
            need(isinstance(cb, dict) and cb.get("type") in BLOCK_DELTAS,
                 "%s: unknown content_block %r" % (where, cb))
            btype = cb["type"]
            if btype == "text":
                need(cb.get("text") == "", "%s: a text block must start "
                     "empty, got %r" % (where, cb.get("text")))
                block = {"type": "text", "text": ""}
            elif btype in ("tool_use", "server_tool_use"):
                need(isinstance(cb.get("id"), str) and cb["id"],
                     "%s: tool_use without an id" % where)
                need(isinstance(cb.get("name"), str) and cb["name"],
                     "%s: tool_use without a name" % where)
                need(cb.get("input") == {}, "%s: tool_use input must start "
                     "as {}, got %r" % (where, cb.get("input")))
                block = {"type": btype, "id": cb["id"], "name": cb["name"],
                         "input": None}
                pjson = ""
            elif btype == "thinking":
                need(cb.get("thinking") == "", "%s: a thinking block must "
                     "start empty" % where)
                block = {"type": "thinking", "thinking": "",
                         "signature": cb.get("signature") or ""}
            else:
                block = dict(cb)
            out["content"].append(block)
            out["deltas"].append(0)
            continue
        if name == "content_block_delta":
            need(block is not None, "%s: no block is open" % where)
            idx = obj.get("index")
            need(idx == len(out["content"]) - 1, "%s: index %r, but the "
                 "open block is %d" % (where, idx, len(out["content"]) - 1))
            d = obj.get("delta")
            need(isinstance(d, dict), "%s: no delta object" % where)
            dt = d.get("type")
            need(dt in BLOCK_DELTAS[btype], "%s: a %s delta in a %s block"
                 % (where, dt, btype))
            out["deltas"][-1] += 1
            if dt == "text_delta":
                need(isinstance(d.get("text"), str), "%s: text_delta "
                     "without text" % where)
                block["text"] += d["text"]
            elif dt == "input_json_delta":
                need(isinstance(d.get("partial_json"), str),
                     "%s: input_json_delta without partial_json" % where)
                pjson += d["partial_json"]
            elif dt == "thinking_delta":
                need(isinstance(d.get("thinking"), str), "%s: "
                     "thinking_delta without thinking" % where)
                block["thinking"] += d["thinking"]
            elif dt == "signature_delta":
                need(isinstance(d.get("signature"), str) and d["signature"],
                     "%s: signature_delta without a signature" % where)
                block["signature"] += d["signature"]
            continue
        if name == "content_block_stop":
            need(block is not None, "%s: no block is open" % where)
            idx = obj.get("index")
            need(idx == len(out["content"]) - 1, "%s: index %r, but the "
                 "open block is %d" % (where, idx, len(out["content"]) - 1))
            if btype in ("tool_use", "server_tool_use"):
                try:
                    inp = json.loads(pjson) if pjson.strip() else {}
                except ValueError as e:
                    raise Invalid("%s: the input_json_deltas of block %d do "
                                  "not make JSON (%s): %r"
                                  % (where, idx, e, pjson[:300]))
                need(isinstance(inp, dict), "%s: tool input is not an "
                     "object: %r" % (where, inp))
                block["input"] = inp
                pjson = None
            block = btype = None
            continue
        if name == "message_delta":
            need(block is None, "%s: block %d is still open"
                 % (where, len(out["content"]) - 1))
            need(not delta_seen, "%s: a second message_delta" % where)
            delta_seen = True
            d = obj.get("delta")
            need(isinstance(d, dict), "%s: no delta object" % where)
            need(d.get("stop_reason") in STOP_REASONS, "%s: stop_reason %r"
                 % (where, d.get("stop_reason")))
            check_usage(obj.get("usage"), where, ("output_tokens",))
            out["stop_reason"] = d["stop_reason"]
            out["stop_sequence"] = d.get("stop_sequence")
            for k, v in obj["usage"].items():
                if v is not None:
                    out["usage"][k] = v
            continue
        if name == "message_stop":
            need(delta_seen, "%s without a message_delta before it" % where)
            stopped = True
            continue
        raise Invalid("%s: unknown event type" % where)
    if out["error"] is not None:
        need(expect_error or allow_error, "an error event: %r"
             % out["error"])
        return out
    need(not expect_error, "no error event at the end (events: %s)"
         % " ".join(out["events"][-8:]))
    need(started, "no message_start")
    need(block is None, "the stream ends inside block %d"
         % (len(out["content"]) - 1))
    need(delta_seen, "no message_delta")
    need(stopped, "no message_stop at the end")
    return out


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    opts = [a for a in argv[1:] if a.startswith("--")]
    for o in opts:
        if o not in ("--expect-error", "--allow-error",
                     "--allow-ping-before-start"):
            sys.stderr.write(USAGE)
            return 2
    if len(args) != 1:
        sys.stderr.write(USAGE)
        return 2
    if args[0] == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(args[0], "rb") as f:
            data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.stderr.write("invalid stream: not UTF-8: %s\n" % e)
        return 1
    try:
        out = validate(text, "--expect-error" in opts,
                       "--allow-error" in opts,
                       "--allow-ping-before-start" not in opts)
    except Invalid as e:
        sys.stderr.write("invalid stream: %s\n" % e)
        return 1
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
