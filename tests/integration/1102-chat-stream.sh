#!/bin/bash
# SPDX-License-Identifier: ISC
# Streaming chat completions: chunks relayed as they arrive, the shape
# clients rely on (chat.completion.chunk, no empty-choices chunks, the
# usage chunk only when asked, [DONE] last), stream_options upstream,
# tool calls (single, interleaved, in a second choice, round trip), the
# same result whatever byte boundaries Copilot's SSE is split at, models
# that cannot stream (o1) answered as SSE, and keep-alive comments through
# a silent stretch.
. "$(dirname "$0")/lib.sh"

RC=$GW_SOURCE_DIR/tests/integration/relay_client.py

# sse BODY [CLIENT ARGS]: streams BODY from /v1/chat/completions (or the
# path given with --path) into $T/sse.json.
sse() {
	_b=$1
	shift
	$PY "$RC" sse --port "$GW_PORT" --body "$_b" "$@" >"$T/sse.json" ||
	    fail "relay_client failed"
}

# sj EXPR: EXPR over the last stream's summary j.
sj() {
	json "$T/sse.json" "$1"
}

# up_last PATH EXPR: EXPR over the last request the fake recorded on PATH
# (r, with headers lowercased) and its parsed body b.
up_last() {
	curl -fsS "$GH_URL/__fake/requests" | $PY -c '
import json, sys
rs = [r for r in json.load(sys.stdin) if r["path"] == sys.argv[1]]
r = rs[-1] if rs else {"headers": {}, "body": "null"}
b = json.loads(r["body"] or "null")
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
' "$1" "$2"
}

H=/cp/chat/completions
mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "timeouts": { "stream_keepalive": "300ms" } }
JSON
start_github
login_github
start_gw

# A plain stream.
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hello there"}]}'
assert_eq "$(sj 'j["status"]')" 200 "stream: 200"
assert_contains "$(sj 'j["headers"]["content-type"]')" text/event-stream \
    "stream: text/event-stream"
assert_eq "$(sj 'j["content"]')" "echo: hello there" \
    "stream: the content deltas add up to the answer"
assert_eq "$(sj 'j["choices"]["0"]["role"]')" assistant \
    "stream: the role comes in a delta"
assert_eq "$(sj 'j["choices"]["0"]["finish_reason"]')" stop \
    "stream: finish_reason stop"
assert_eq "$(sj 'list(j["objects"])')" '["chat.completion.chunk"]' \
    "stream: every chunk has object chat.completion.chunk"
assert_eq "$(sj 'j["empty_choices"]')" 0 \
    "stream: chunks without choices (prompt_filter_results) are dropped"
assert_eq "$(sj 'j["usage_chunks"]')" "[]" \
    "stream: no usage chunk when the client did not ask"
assert_eq "$(sj '[j["done"], j["after_done"], j["events"][-1]["data"]]')" \
    '[true, 0, "[DONE]"]' "stream: ends with data: [DONE]"
assert_eq "$(sj '[j["errors"], j["unparsable"], j["clean_end"]]')" \
    '[[], 0, true]' "stream: no errors, a clean end"
assert_eq "$(up_last $H '[b.get("stream"), b.get("stream_options")]')" \
    '[true, {"include_usage": true}]' \
    "stream_options.include_usage=true is requested upstream"

# Without /v1, and with the usage chunk asked for.
sse '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"count me"}]}' \
    --path /chat/completions
assert_eq "$(sj '[j["status"], j["content"]]')" '[200, "echo: count me"]' \
    "/chat/completions streams too"
assert_eq "$(sj 'len(j["usage_chunks"])')" 1 \
    "include_usage: exactly one usage chunk"
assert_eq "$(sj 'j["usage_chunks"][0]["prompt_tokens"] > 0 and j["usage_chunks"][0]["completion_tokens"] > 0')" \
    true "the usage chunk has the token counts"
assert_eq "$(sj '[json.loads(j["events"][-2]["data"])["choices"], json.loads(j["events"][-2]["data"]).get("object"), j["events"][-1]["data"]]')" \
    '[[], "chat.completion.chunk", "[DONE]"]' \
    "the usage chunk ({\"choices\":[]}) comes last, before [DONE]"
assert_eq "$(sj '[json.loads(e["data"]).get("usage") for e in j["events"][:-2]] == [None] * (len(j["events"]) - 2)')" \
    true "no other chunk carries usage (Copilot's usage on the finish chunk is not passed on twice)"

# Relayed as it arrives: with 300 ms between upstream writes, the first
# content chunk reaches the client well before the last.
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"SLOW please"}]}'
assert_eq "$(sj 'j["content"]')" "echo: SLOW please" "SLOW: the whole answer"
fc=$(sj 'j["first_content_t"]')
lt=$(sj 'j["last_t"]')
assert_eq "$($PY -c "print($lt - $fc >= 0.9)")" True \
    "SLOW: the first content arrives long before the end (first ${fc}s, last ${lt}s)"

# Tool calls: id and name in the first delta, the arguments in fragments.
TOOLS='"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]'
sse '{"model":"gpt-4o","stream":true,'"$TOOLS"',"messages":[{"role":"user","content":"weather in Paris"}]}'
tc='j["choices"]["0"]["tool_calls"]'
assert_eq "$(sj "len($tc)")" 1 "tools: one tool call"
assert_eq "$(sj "[$tc['0']['name'], $tc['0']['id'].startswith('call_'), $tc['0']['first_has_id_and_name']]")" \
    '["get_weather", true, true]' "tools: id and name in the first delta"
assert_eq "$(sj "json.loads($tc['0']['arguments'])")" \
    '{"echo": "weather in Paris"}' "tools: the argument fragments add up"
assert_eq "$(sj "$tc['0']['deltas'] > 2")" true \
    "tools: the arguments came in several deltas"
assert_eq "$(sj '[j["choices"]["0"]["finish_reason"], j["done"]]')" \
    '["tool_calls", true]' "tools: finish_reason tool_calls, then [DONE]"

# Two interleaved calls.
sse '{"model":"gpt-4o","stream":true,'"$TOOLS"',"messages":[{"role":"user","content":"INTERLEAVE both"}]}'
assert_eq "$(sj "sorted((v['name'], v['arguments']) for v in $tc.values())")" \
    '[["get_time", "{\"n\": 1, \"echo\": \"INTERLEAVE both\"}"], ["get_weather", "{\"n\": 0, \"echo\": \"INTERLEAVE both\"}"]]' \
    "INTERLEAVE: both calls arrive intact"
assert_eq "$(sj "len({v['id'] for v in $tc.values()}) == 2 and all(v['first_has_id_and_name'] and not v.get('id_changed') for v in $tc.values())")" \
    true "INTERLEAVE: two distinct ids, each in its call's first delta"

# Text in choice 0, a tool call in choice 1.
sse '{"model":"claude-sonnet-4.5","stream":true,'"$TOOLS"',"messages":[{"role":"user","content":"TWO_CHOICES now"}]}'
assert_eq "$(sj 'j["choices"]["0"]["content"]')" "echo: TWO_CHOICES now" \
    "TWO_CHOICES: the text of choice 0"
assert_eq "$(sj '[j["choices"]["1"]["tool_calls"]["0"]["name"], json.loads(j["choices"]["1"]["tool_calls"]["0"]["arguments"]), j["choices"]["1"]["tool_calls"]["0"]["id"].startswith("toolu_")]')" \
    '["get_weather", {"echo": "TWO_CHOICES now"}, true]' \
    "TWO_CHOICES: the tool call of choice 1"
assert_eq "$(sj '[j["choices"]["0"]["finish_reason"], j["choices"]["1"]["finish_reason"], j["done"]]')" \
    '["tool_calls", "tool_calls", true]' "TWO_CHOICES: both choices finish"

# A round trip: the tool's result goes back as a tool message.
sse '{"model":"gpt-4o","stream":true,'"$TOOLS"',"messages":[{"role":"user","content":"weather in Paris"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_abc123","content":"sunny, 21C"}]}'
assert_eq "$(sj '[j["content"], j["done"]]')" '["tool said: sunny, 21C", true]' \
    "round trip: Copilot answers from the tool's result"
assert_eq "$(up_last $H 'r["headers"].get("x-initiator")')" agent \
    "round trip: X-Initiator agent"

# SSE split at awkward byte boundaries (inside UTF-8 sequences, inside
# "data:", between \n and \n): the client gets exactly the same.
U='h\u00e9llo w\u00f6rld \u2603 \ud834\udd1e \u00fcn\u00efc\u00f6d\u00e9 \u4e2d\u6587'
for split in null 1 3 7 '"random"'; do
	gh_config '{"sse_split": '"$split"', "sse_seed": 7}'
	sse '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"'"$U"'"}]}' --summary
	$PY -c 'import json, sys; j = json.load(open(sys.argv[1])); print(json.dumps([j["content"], j["done"], len(j["usage_chunks"]), j["errors"], j["unparsable"], j["empty_choices"], list(j["objects"])]))' \
	    "$T/sse.json" >"$T/text.$split"
	sse '{"model":"gpt-4o","stream":true,'"$TOOLS"',"messages":[{"role":"user","content":"INTERLEAVE '"$U"'"}]}' --summary
	$PY -c 'import json, sys; j = json.load(open(sys.argv[1])); c = j["choices"]["0"]["tool_calls"]; print(json.dumps([sorted((v["name"], v["arguments"], v["first_has_id_and_name"]) for v in c.values()), j["done"], j["errors"], j["unparsable"]]))' \
	    "$T/sse.json" >"$T/tools.$split"
	if [ "$split" = null ]; then
		assert_eq "$(cat "$T/text.null")" \
		    "$($PY -c 'import json, sys; print(json.dumps(["echo: " + json.loads("\"" + sys.argv[1] + "\""), True, 1, [], 0, 0, ["chat.completion.chunk"]]))' "$U")" \
		    "unsplit: the non-ASCII answer arrives whole"
		assert_eq "$($PY -c 'import json, sys; t = json.load(open(sys.argv[1])); print(len(t[0]) == 2 and all(json.loads(a)["echo"].startswith("INTERLEAVE ") for _, a, _ in t[0]) and t[1])' "$T/tools.null")" \
		    True "unsplit: both tool calls arrive whole"
		continue
	fi
	assert_eq "$(cat "$T/text.$split")" "$(cat "$T/text.null")" \
	    "sse_split $split: the same content, usage and [DONE]"
	assert_eq "$(cat "$T/tools.$split")" "$(cat "$T/tools.null")" \
	    "sse_split $split: the same tool calls"
done
gh_config '{"sse_split": null}'

# o1 cannot stream: one non-streaming call upstream, answered as SSE.
sse '{"model":"o1","stream":true,"stream_options":{"include_usage":true},"max_tokens":100,"messages":[{"role":"user","content":"deep thought"}]}'
assert_eq "$(sj 'j["status"]')" 200 "o1 stream: 200"
assert_eq "$(up_last $H '[bool(b.get("stream")), "stream_options" in b, b.get("max_completion_tokens"), "max_tokens" in b]')" \
    '[false, false, 100, false]' "o1 stream: sent upstream without streaming"
assert_eq "$(sj '[j["choices"]["0"]["role"], j["content"], j["choices"]["0"]["finish_reason"]]')" \
    '["assistant", "echo: deep thought", "stop"]' \
    "o1 stream: a role+content chunk with its finish_reason"
assert_eq "$(sj '[len(j["usage_chunks"]), j["done"], j["events"][-1]["data"], list(j["objects"])]')" \
    '[1, true, "[DONE]", ["chat.completion.chunk"]]' \
    "o1 stream: the usage chunk asked for, then [DONE]"
sse '{"model":"o1","stream":true,"messages":[{"role":"user","content":"no usage"}]}'
assert_eq "$(sj '[j["content"], len(j["usage_chunks"]), j["done"]]')" \
    '["echo: no usage", 0, true]' "o1 stream without include_usage: no usage chunk"

# Keep-alive: through 2 s of upstream silence the client gets comments
# every ~300 ms, and the stream completes.
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"SILENT:2 wait"}]}'
assert_eq "$(sj '[j["content"], j["done"]]')" '["echo: SILENT:2 wait", true]' \
    "SILENT: the stream completes after the silence"
assert_eq "$(sj 'sum(1 for c in j["comments"] if c["text"] == "keep-alive") >= 3')" \
    true "SILENT: ': keep-alive' comments during the silence ($(sj 'len(j["comments"])') seen)"
assert_eq "$(sj 'all(c["t"] < j["last_t"] for c in j["comments"])')" true \
    "SILENT: the comments came before the end of the answer"

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
