#!/bin/bash
# SPDX-License-Identifier: ISC
# Anthropic Messages against upstream answers scripted byte for byte (the
# GitHub fake's token names "<fake>/alt" as the API base, and /alt/... is
# served by scripted routes): what Copilot really sends (design 1.5a) and
# what can go wrong. Translation: a first chunk with "choices": [] and a
# long silence before the first choice (pings must not come before
# message_start), cached prompt tokens (cache_read_input_tokens, streamed
# and not), usage on the finish chunk and again in a usage-only chunk
# (counted once), text after a tool call in the same choice, empty tool
# arguments, content_filter, tool arguments that are not JSON, a stream
# that ends without a finish_reason, a 200 whose body is not JSON. Native:
# cache tokens passed through, a stream ending without message_stop, and
# an error event from upstream (exactly one error event reaches the
# client). Every stream is checked with anthropic_validate.py.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
AV='anthropic-version: 2023-06-01'
VALIDATE=$GW_SOURCE_DIR/tests/integration/anthropic_validate.py

# script ROUTES_JSON: the /alt routes (the model list is always there).
script() {
	$PY - "$FAKE" "$1" >"$T/script.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import github
routes = json.loads(sys.argv[2])
routes.append({"path": "/alt/models",
               "json": {"object": "list", "data": github.default_models()}})
print(json.dumps({"routes": routes}))
PY
	curl -fsS -X POST -H "$CT" --data-binary "@$T/script.json" \
	    "$GH_URL/__fake/script" >/dev/null || fail "cannot script the fake"
}

# sse_route PATH EXTRA EVENTS...: a scripted SSE route; EXTRA is JSON
# merged into the route; an event is JSON (sent as data:) or a whole
# "event: ..." text.
sse_route() {
	$PY - "$@" <<'PY'
import json, sys
path, extra, evs = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
r = {"path": path, "headers": {"content-type": "text/event-stream"},
     "chunked": True,
     "sse": [e.rstrip("\n") + "\n\n" if e.startswith("event:")
             else e if e == "[DONE]" else json.loads(e) for e in evs]}
r.update(extra)
print(json.dumps([r]))
PY
}

# smsg BODY [VALIDATOR OPTS]: a streamed request; summary in $T/sum.
smsg() {
	_b=$1
	shift
	req POST /v1/messages -H "$CT" -H "$AV" -d "$_b"
	[ "$STATUS" = 200 ] || fail "status $STATUS: $BODY"
	if ! $PY "$VALIDATE" "$T/body" "$@" >"$T/sum" 2>"$T/verr"; then
		echo "---- the stream" >&2
		head -c 5000 "$T/body" | tr '\0' '@' >&2
		fail "$(cat "$T/verr")"
	fi
}
sj() { json "$T/sum" "$1"; }

C='"choices"'
BASE='"id":"chatcmpl-q1","created":1,"model":"gpt-4o-2024-11-20"'
EMPTY='{"choices":[],"created":0,"id":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}'
ROLE="{$BASE,$C:[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}"
txt() { printf '{%s,%s:[{"index":0,"delta":{"content":"%s"}}]}' "$BASE" "$C" "$1"; }
USAGE='"usage":{"prompt_tokens":100,"completion_tokens":7,"total_tokens":107,"prompt_tokens_details":{"cached_tokens":30}}'
fin() { printf '{%s,%s:[{"index":0,"finish_reason":"%s","delta":{}}]%s}' "$BASE" "$C" "$1" "${2:+,$2}"; }
tc() { # tc INDEX [ID NAME] ARGS
	if [ $# -eq 4 ]; then
		printf '{%s,%s:[{"index":0,"delta":{"tool_calls":[{"index":%s,"id":"%s","type":"function","function":{"name":"%s","arguments":%s}}]}}]}' \
		    "$BASE" "$C" "$1" "$2" "$3" "$4"
	else
		printf '{%s,%s:[{"index":0,"delta":{"tool_calls":[{"index":%s,"function":{"arguments":%s}}]}}]}' \
		    "$BASE" "$C" "$1" "$2"
	fi
}
Q='{"model":"gpt-4o","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"q"}]}'
QT='{"model":"gpt-4o","max_tokens":100,"stream":true,"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"q"}]}'
QN='{"model":"gpt-4o","max_tokens":100,"messages":[{"role":"user","content":"q"}]}'

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "timeouts": { "stream_keepalive": "200ms" } }
JSON
start_github
gh_config "{\"copilot_api_base\": \"$GH_URL/alt\"}"
login_github
script '[]'
start_gw

# ------------------------------------------------------------ translation
# Cached prompt tokens, not streamed.
script "[{\"path\":\"/alt/chat/completions\",\"json\":{$BASE,\"object\":\"chat.completion\",$C:[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"cached answer\"},\"finish_reason\":\"stop\"}],$USAGE}}]"
req POST /v1/messages -H "$CT" -H "$AV" -d "$QN"
assert_eq "$STATUS $(json "$T/body" 'j["content"][0]["text"]')" \
    "200 cached answer" "scripted upstream reached"
assert_eq "$(json "$T/body" '[j["usage"]["input_tokens"], j["usage"]["cache_read_input_tokens"], j["usage"]["output_tokens"]]')" \
    '[70, 30, 7]' "cached_tokens -> cache_read_input_tokens; input_tokens the rest"

# Streamed, with usage on the finish chunk and again in a usage-only chunk.
script "$(sse_route /alt/chat/completions '{}' "$EMPTY" "$ROLE" \
    "$(txt 'Hel')" "$(txt 'lo')" "$(fin stop "$USAGE")" \
    "{$BASE,$C:[],$USAGE}" '[DONE]')"
smsg "$Q"
assert_eq "$(sj '[j["content"], j["stop_reason"]]')" \
    '[[{"type": "text", "text": "Hello"}], "end_turn"]' \
    "a Copilot-like chat stream becomes a valid message"
assert_eq "$(sj '[j["usage"].get("input_tokens"), j["usage"].get("cache_read_input_tokens"), j["usage"]["output_tokens"]]')" \
    '[70, 30, 7]' "streamed usage: cache read split out, counted once"

# Text, a tool call, then more text in the same choice; empty arguments.
script "$(sse_route /alt/chat/completions '{}' "$EMPTY" "$ROLE" \
    "$(txt 'Let me look.')" "$(tc 0 call_A f '""')" "$(tc 0 '"{\"a\":"')" \
    "$(tc 0 '"1}"')" "$(tc 1 call_B f '""')" "$(txt ' Done.')" \
    "$(fin tool_calls "$USAGE")" '[DONE]')"
smsg "$QT"
assert_eq "$(sj '[[c["type"], c.get("text"), c.get("input")] for c in j["content"]]')" \
    '[["text", "Let me look.", null], ["tool_use", null, {"a": 1}], ["tool_use", null, {}], ["text", " Done.", null]]' \
    "text, two tool calls (one without arguments), text: in upstream order"
assert_eq "$(sj '[j["stop_reason"], [c.get("id") for c in j["content"]][1:3]]')" \
    '["tool_use", ["call_A", "call_B"]]' "stop_reason tool_use, the calls' ids"

# content_filter -> refusal.
script "$(sse_route /alt/chat/completions '{}' "$ROLE" "$(txt 'I can')" \
    "$(fin content_filter)" '[DONE]')"
smsg "$Q"
assert_eq "$(sj 'j["stop_reason"]')" refusal "content_filter -> stop_reason refusal"

# The stream ends (cleanly) before any finish_reason: an error event.
script "$(sse_route /alt/chat/completions '{}' "$ROLE" "$(txt 'half an ans')")"
smsg "$Q" --expect-error
assert_eq "$(sj 'j["error"]["type"]')" api_error \
    "a stream that ends without a finish_reason: an error event"

# Tool arguments that are not JSON.
script "$(sse_route /alt/chat/completions '{}' "$ROLE" \
    "$(tc 0 call_C f '"{\"a\":"')" "$(fin tool_calls)" '[DONE]')"
smsg "$QT" --expect-error
assert_eq "$(sj 'j["error"]["type"]')" api_error \
    "streamed tool arguments that are not JSON: an error event"
script "[{\"path\":\"/alt/chat/completions\",\"json\":{$BASE,$C:[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{oops\"}}]},\"finish_reason\":\"tool_calls\"}]}}]"
req POST /v1/messages -H "$CT" -H "$AV" -d "${QT/\"stream\":true,/}"
assert_eq "$STATUS $(json "$T/body" 'j["type"] + " " + j["error"]["type"]')" \
    "502 error api_error" "tool arguments that are not JSON: 502 api_error"

# A 200 whose body is not JSON.
script '[{"path":"/alt/chat/completions","headers":{"content-type":"application/json"},"body":"<html>oops</html>"}]'
req POST /v1/messages -H "$CT" -H "$AV" -d "$QN"
assert_eq "$STATUS $(json "$T/body" 'j["type"] + " " + j["error"]["type"]')" \
    "502 error api_error" "a 200 that is not JSON: 502 api_error"

# ----------------------------------------------------------------- native
NQ='{"model":"claude-sonnet-4.5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"q"}]}'
ev() { printf 'event: %s\ndata: %s\n\n' "$1" "$2"; }
MSTART=$(ev message_start '{"type":"message_start","message":{"id":"msg_01N","type":"message","role":"assistant","model":"claude-sonnet-4.5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_read_input_tokens":40,"cache_creation_input_tokens":0,"output_tokens":1}}}')
BSTART=$(ev content_block_start '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}')
BDELTA=$(ev content_block_delta '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"native"}}')
BSTOP=$(ev content_block_stop '{"type":"content_block_stop","index":0}')
MDELTA=$(ev message_delta '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}')
MSTOP=$(ev message_stop '{"type":"message_stop"}')
UERR=$(ev error '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')

script "$(sse_route /alt/v1/messages '{}' "$MSTART" "$BSTART" "$BDELTA" "$BSTOP" "$MDELTA" "$MSTOP")"
smsg "$NQ"
assert_eq "$(sj '[j["content"], j["usage"]["cache_read_input_tokens"], j["usage"]["input_tokens"]]')" \
    '[[{"type": "text", "text": "native"}], 40, 12]' \
    "native: events and cache tokens pass through"

script "$(sse_route /alt/v1/messages '{}' "$MSTART" "$BSTART" "$BDELTA")"
smsg "$NQ" --expect-error
ok "native: a stream ending without message_stop ends in an error event"

script "$(sse_route /alt/v1/messages '{}' "$MSTART" "$BSTART" "$BDELTA" "$UERR")"
smsg "$NQ" --expect-error
assert_eq "$(sj 'j["error"]["type"]')" overloaded_error \
    "native: Copilot's error event reaches the client, alone"

# ------------------------------------------------------------ keep-alive
# A first chunk without choices, then a long silence: pings keep the
# client alive, but only after message_start.
script "$(sse_route /alt/chat/completions '{}' "$EMPTY" "$ROLE" "$(txt 'late')" "$(fin stop "$USAGE")" '[DONE]')"
$PY - "$T/script.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
r = s["routes"][0]
ev0 = "data: " + json.dumps(r["sse"][0], separators=(",", ":")) + "\n\n"
r["stall_after_bytes"] = len(ev0.encode())
r["stall_ms"] = 1200
json.dump(s, open(sys.argv[1], "w"))
PY
curl -fsS -X POST -H "$CT" --data-binary "@$T/script.json" \
    "$GH_URL/__fake/script" >/dev/null
smsg "$Q" --allow-ping-before-start
assert_eq "$(sj '[j["content"], j["pings"] >= 2]')" \
    '[[{"type": "text", "text": "late"}], true]' \
    "a silence after a choice-less first chunk: pings, then the answer"
if ! $PY "$VALIDATE" "$T/body" >/dev/null 2>"$T/verr"; then
	fail "a silence after a choice-less first chunk: $(cat "$T/verr")"
fi
ok "message_start comes before the first ping"

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy after all that"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
