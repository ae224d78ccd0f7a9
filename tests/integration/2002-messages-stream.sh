#!/bin/bash
# SPDX-License-Identifier: ISC
# Streamed Anthropic Messages on both paths (native claude-sonnet-4.5 and
# gpt-4o by translation). Every streamed answer is checked with
# anthropic_validate.py (message_start first; blocks started, filled with
# deltas of their type and stopped, with indexes 0, 1, 2... one at a time;
# message_delta with stop_reason and usage; message_stop last; pings only
# in between; an error event ends the stream), and the content it rebuilds
# is compared with what the fake answered: text, tool calls (one, several
# with interleaved argument fragments, after text, over two choices),
# thinking with signatures, long answers, max_tokens, SSE events split at
# random byte offsets, text streamed live (SLOW), ping events through an
# upstream silence (SILENT with a 300ms keep-alive), and an upstream that
# fails mid-stream (CLOSE_EARLY) ending in an error event. The validator
# itself is first shown to reject broken streams.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
AV='anthropic-version: 2023-06-01'
VALIDATE=$GW_SOURCE_DIR/tests/integration/anthropic_validate.py
NATIVE=claude-sonnet-4-5-20250929
CHATM=gpt-4o

# smsg BODY [PATH] [VALIDATOR OPTS]: POSTs a streaming request, checks the
# status and the stream; the validator's summary goes to $T/sum.
smsg() {
	_b=$1 _p=${2:-/v1/messages}
	shift
	[ $# -eq 0 ] || shift
	req POST "$_p" -H "$CT" -H "$AV" -d "$_b"
	[ "$STATUS" = 200 ] || fail "stream request: status $STATUS: $BODY"
	case "$(header content-type)" in
	text/event-stream*) ;;
	*) fail "stream request: content-type $(header content-type)" ;;
	esac
	if ! $PY "$VALIDATE" "$T/body" "$@" >"$T/sum" 2>"$T/verr"; then
		echo "---- the stream" >&2
		head -c 6000 "$T/body" >&2
		fail "$(cat "$T/verr") (request: $(printf '%s' "$_b" | head -c 300))"
	fi
}

# sj EXPR: EXPR over the validator's summary j.
sj() { json "$T/sum" "$1"; }

# sum_is EXPR MESSAGE: asserts EXPR over the summary.
sum_is() { assert_eq "$(sj "$1")" true "$2"; }

# body MODEL TEXT [EXTRA JSON MEMBERS]: a streaming request body.
body() {
	printf '{"model":"%s","max_tokens":%s,"stream":true%s,"messages":[{"role":"user","content":"%s"}]}' \
	    "$1" "${MAXT:-1000}" "${3:+,$3}" "$2"
}

TOOLS='"tools":[{"name":"alpha","description":"first","input_schema":{"type":"object","properties":{"echo":{"type":"string"}}}},{"name":"beta","input_schema":{"type":"object"}}]'

# ------------------------------------------------ the validator rejects
bad() {
	printf '%b' "$1" >"$T/bad"
	if $PY "$VALIDATE" "$T/bad" >/dev/null 2>"$T/verr"; then
		fail "the validator accepted a broken stream: $2"
	fi
	assert_contains "$(cat "$T/verr")" "invalid stream" "validator rejects: $2"
}
S='event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
TB0='event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
TD0='event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n'
TS0='event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
MD='event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}\n\n'
MS='event: message_stop\ndata: {"type":"message_stop"}\n\n'
PING='event: ping\ndata: {"type":"ping"}\n\n'
printf '%b' "$S$PING$TB0$TD0$PING$TS0$MD$PING$MS" >"$T/good"
assert_eq "$($PY "$VALIDATE" "$T/good" | json - 'j["content"]')" \
    '[{"type": "text", "text": "hi"}]' "the validator accepts a good stream"
bad "$TB0$S$TD0$TS0$MD$MS" "a block before message_start"
bad "$PING$S$TB0$TD0$TS0$MD$MS" "a ping before message_start"
bad "$S$PING\0$TB0$TD0$TS0$MD$MS" "a NUL byte before an event"
bad "$S$TB0$TD0$MD$MS" "a block never stopped"
bad "$S$TB0$TD0$TS0$MS" "no message_delta"
bad "$S$TB0$TD0$TS0$MD" "no message_stop"
bad "$S$TB0$TD0$TS0$MD$MS$PING" "an event after message_stop"
bad "$S${TB0//index\":0/index\":1}${TD0//index\":0/index\":1}${TS0//index\":0/index\":1}$MD$MS" \
    "a first block with index 1"
bad "$S$TB0$TB0$TD0$TS0$MD$MS" "two blocks open at once"
bad "$S$TB0${TD0//text_delta/input_json_delta}$TS0$MD$MS" \
    "an input_json_delta in a text block"
bad "$S$TB0$TD0$TS0"'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"x"}}\n\n'"$MD$MS" \
    "events after an error event"
bad "$S"'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}}\n\nevent: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\":"}}\n\n'"${TS0}$MD$MS" \
    "tool input that is not JSON"
bad "${S//message_start\",\"message/message_delta\",\"message}$MS" \
    "an event whose data.type is not its name"

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "timeouts": { "stream_keepalive": "300ms" } }
JSON
start_github
login_github
start_gw

for M in $NATIVE $CHATM; do
	case $M in
	claude*) P=native ;;
	*) P=translated ;;
	esac
	# Plain text, on every path.
	for p in /v1/messages '/v1/messages?beta=true' /messages; do
		smsg "$(body $M "hello $P")" "$p"
		sum_is 'j["content"] == [{"type": "text", "text": "echo: hello '"$P"'"}]' \
		    "$P $p: the text, rebuilt from a valid stream"
	done
	sum_is 'j["stop_reason"] == "end_turn" and j["id"].startswith("msg_")' \
	    "$P: stop_reason end_turn, a msg_ id"
	sum_is 'j["usage"]["output_tokens"] > 0 and isinstance(j["usage"].get("input_tokens"), int)' \
	    "$P: usage with input and output tokens"
	sum_is 'j["deltas"][0] >= 3' "$P: the text came in several deltas"

	# One tool call.
	smsg "$(body $M "call a tool" "$TOOLS")"
	sum_is '[[c["type"], c.get("name"), c.get("input")] for c in j["content"]] == [["tool_use", "alpha", {"echo": "call a tool"}]]' \
	    "$P: one tool_use block with its parsed input"
	sum_is 'j["stop_reason"] == "tool_use" and len(j["content"][0]["id"]) > 5' \
	    "$P: stop_reason tool_use, the call's id"

	# Long text and max_tokens.
	smsg "$(MAXT=4000 body $M "LONG:2000")"
	sum_is 'j["content"] == [{"type": "text", "text": "x " * 2000}] and j["stop_reason"] == "end_turn"' \
	    "$P: a long answer (2000 deltas) arrives whole"
	MAXT=5 smsg "$(MAXT=5 body $M "LONG:100")"
	sum_is 'j["stop_reason"] == "max_tokens" and j["content"][0]["text"] == "x " * 10' \
	    "$P: stop_reason max_tokens"

	# The upstream fails mid-stream: an error event ends the stream.
	smsg "$(body $M "CLOSE_EARLY now")" /v1/messages --expect-error
	sum_is 'j["error"]["type"] in ("api_error", "overloaded_error") and len(j["error"]["message"]) > 0' \
	    "$P: CLOSE_EARLY ends in an error event (api_error)"
	sum_is '"message_stop" not in j["events"] and "message_delta" not in j["events"]' \
	    "$P: no message_stop after a failed stream"

	# Events split at random byte offsets are put back together.
	gh_config '{"sse_split": "random", "sse_seed": 7}'
	smsg "$(body $M "split me up" "$TOOLS")"
	sum_is 'j["content"][0]["input"] == {"echo": "split me up"}' \
	    "$P: a tool call whose events come in random pieces"
	smsg "$(body $M "split text too")"
	sum_is 'j["content"] == [{"type": "text", "text": "echo: split text too"}]' \
	    "$P: text whose events come in random pieces"
	gh_config '{"sse_split": null}'
done

# ------------------------------------------------- translation specifics
smsg "$(body $CHATM "TWO_CHOICES both" "$TOOLS")"
sum_is '[c["type"] for c in j["content"]] == ["text", "tool_use"]' \
    "TWO_CHOICES: text then tool_use, merged from two choices"
sum_is 'j["content"][0]["text"] == "echo: TWO_CHOICES both" and j["content"][1]["input"] == {"echo": "TWO_CHOICES both"}' \
    "TWO_CHOICES: both blocks whole"
sum_is 'j["stop_reason"] == "tool_use"' "TWO_CHOICES: stop_reason tool_use"

smsg "$(body $CHATM "INTERLEAVE calls" "$TOOLS")"
sum_is '[[c["type"], c["name"], c["input"]] for c in j["content"]] == [["tool_use", "alpha", {"n": 0, "echo": "INTERLEAVE calls"}], ["tool_use", "beta", {"n": 1, "echo": "INTERLEAVE calls"}]]' \
    "INTERLEAVE: two tool_use blocks, each with its own arguments"
sum_is 'j["content"][0]["id"] != j["content"][1]["id"] and j["stop_reason"] == "tool_use"' \
    "INTERLEAVE: distinct ids, stop_reason tool_use"
gh_config '{"sse_split": "random", "sse_seed": 3}'
smsg "$(body $CHATM "INTERLEAVE TWO_CHOICES" "$TOOLS")"
sum_is '[c["type"] for c in j["content"]] == ["text", "tool_use"] and j["content"][1]["input"]["echo"] == "INTERLEAVE TWO_CHOICES"' \
    "two choices with events split at random"
gh_config '{"sse_split": null}'

# Usage only in the final chunk (include_usage), not on the finish chunk.
gh_config '{"usage_on_finish": false}'
smsg "$(body $CHATM "usage at the end")"
sum_is 'j["usage"]["output_tokens"] > 0 and j["usage"]["input_tokens"] > 0' \
    "usage from the final usage-only chunk"
gh_config '{"usage_on_finish": true}'

# A tool round trip, streamed.
smsg "{\"model\":\"$CHATM\",\"max_tokens\":100,\"stream\":true,$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"go\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"alpha\",\"input\":{\"echo\":\"go\"}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"call_1\",\"content\":\"42\"}]}]}"
sum_is 'j["content"] == [{"type": "text", "text": "tool said: 42"}] and j["stop_reason"] == "end_turn"' \
    "translated: a streamed answer to a tool result"

# ------------------------------------------------------ native specifics
smsg "{\"model\":\"$NATIVE\",\"max_tokens\":2048,\"stream\":true,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"ponder\"}]}"
sum_is '[c["type"] for c in j["content"]] == ["thinking", "tool_use"]' \
    "native: a thinking block then a tool_use"
sum_is 'j["content"][0]["thinking"] == "Thinking about: ponder" and len(j["content"][0]["signature"]) > 40' \
    "native: thinking_delta and signature_delta rebuild the block"
turn2=$($PY - "$T/sum" "$NATIVE" "$TOOLS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
tools = json.loads("{" + sys.argv[3] + "}")["tools"]
tu = s["content"][1]
print(json.dumps({
    "model": sys.argv[2], "max_tokens": 2048, "stream": True,
    "thinking": {"type": "enabled", "budget_tokens": 1024}, "tools": tools,
    "messages": [
        {"role": "user", "content": "ponder"},
        {"role": "assistant", "content": s["content"]},
        {"role": "user", "content": [{"type": "tool_result",
                                      "tool_use_id": tu["id"],
                                      "content": "pondered"}]}]}))
PY
)
smsg "$turn2"
sum_is 'j["content"][1] == {"type": "text", "text": "tool said: pondered"}' \
    "native: the streamed signature is accepted back by Copilot"

# --------------------------------------------------------- live streaming
# With SLOW the fake waits 300 ms between events: text must reach the
# client as it comes, not at the end.
timed() {
	$PY - "$GW_PORT" "$1" <<'PY'
import http.client, json, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
t0 = time.time()
c.request("POST", "/v1/messages", body=sys.argv[2],
          headers={"content-type": "application/json",
                   "anthropic-version": "2023-06-01"})
r = c.getresponse()
first = last = None
ev = None
while True:
    line = r.readline()
    if not line:
        break
    line = line.decode().rstrip("\n")
    if line.startswith("event: "):
        ev = line[7:]
        if ev == "content_block_delta" and first is None:
            first = time.time() - t0
        if ev == "message_stop":
            last = time.time() - t0
print(json.dumps({"first": first, "last": last}))
PY
}
for M in $NATIVE $CHATM; do
	t=$(timed "$(body $M "SLOW words arrive one by one")")
	assert_eq "$(echo "$t" | json - 'j["first"] is not None and j["last"] is not None and j["last"] - j["first"] > 1.0')" \
	    true "$M: text deltas are sent as they come ($t)"
done

# ------------------------------------------------------------ keep-alive
# An upstream silence (1.3 s, keep-alive every 300 ms): ping events keep
# the client's connection alive, and the stream around them stays valid.
for M in $NATIVE $CHATM; do
	smsg "$(body $M "SILENT:1.3 quiet")"
	sum_is 'j["pings"] >= 2' "$M: pings through a 1.3 s upstream silence"
	sum_is 'j["content"] == [{"type": "text", "text": "echo: SILENT:1.3 quiet"}] and j["stop_reason"] == "end_turn"' \
	    "$M: the answer after the silence is whole"
done
smsg "$(body $CHATM "SILENT:1 INTERLEAVE" "$TOOLS")"
sum_is 'j["pings"] >= 1 and [c["name"] for c in j["content"]] == ["alpha", "beta"]' \
    "pings, then two tool calls"

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy after all that"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
