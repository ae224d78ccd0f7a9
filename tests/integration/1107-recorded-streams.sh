#!/bin/bash
# SPDX-License-Identifier: ISC
# Recorded Copilot chat streams (tests/integration/relay_recorded.py),
# replayed whole, at every byte boundary and at random boundaries: a
# client gets the same content, tool calls, usage chunk and [DONE] every
# time. The recordings have what Copilot really sends (choices: [] with
# prompt_filter_results, chunks without "object", usage on the finish
# chunk, a Claude tool call in choices[1]) and the variants a parser must
# survive: CRLF, "data:" without a space, comments, JSON over two data:
# lines, no [DONE], no trailing blank line, a stream that stops before
# finishing, an error object inside a 200 stream, an empty stream, and
# a plain JSON answer where a stream was asked for.
. "$(dirname "$0")/lib.sh"

RC=$GW_SOURCE_DIR/tests/integration/relay_client.py
REC=$GW_SOURCE_DIR/tests/integration/relay_recorded.py

# play NAME SPLIT [CLIENT ARGS]: replays a recording, streams it into
# $T/sse.json (include_usage unless --no-usage comes first).
play() {
	_name=$1 _split=$2
	shift 2
	_so=',"stream_options":{"include_usage":true}'
	if [ "${1:-}" = --no-usage ]; then
		_so=
		shift
	fi
	$PY "$REC" script "$_name" "$_split" /alt >"$T/script.json"
	curl -fsS -X POST -H 'content-type: application/json' \
	    --data-binary @"$T/script.json" "$GH_URL/__fake/script" >/dev/null ||
	    fail "cannot load the recording $_name"
	$PY "$RC" sse --port "$GW_PORT" "$@" \
	    --body '{"model":"gpt-4o","stream":true'"$_so"',"messages":[{"role":"user","content":"replay"}]}' \
	    >"$T/sse.json" || fail "relay_client failed"
}

sj() {
	json "$T/sse.json" "$1"
}

# The account's API base is /alt, served by the scripted routes.
start_github
gh_config '{"copilot_api_base": "'"$GH_URL"'/alt"}'
login_github
start_gw

want=$($PY "$REC" expect text)
for split in none all 5 random; do
	play text $split
	assert_eq "$(sj '[j["status"], j["content"], j["choices"]["0"]["finish_reason"]]')" \
	    "$(echo "$want" | json - '[200, j["content"], "stop"]')" \
	    "text, split $split: the content, finish_reason stop"
	assert_eq "$(sj '[len(j["usage_chunks"]), j["usage_chunks"][0]["prompt_tokens"] if j["usage_chunks"] else None, j["done"], j["after_done"], j["events"][-1]["data"]]')" \
	    '[1, 31, true, 0, "[DONE]"]' \
	    "text, split $split: usage from the finish chunk in one usage chunk, then [DONE]"
	assert_eq "$(sj '[list(j["objects"]), j["empty_choices"], j["errors"], j["unparsable"]]')" \
	    '[["chat.completion.chunk"], 0, [], 0]' \
	    "text, split $split: only chat.completion.chunk chunks, none empty"
done
play text all --no-usage
assert_eq "$(sj '[j["content"], j["usage_chunks"], j["done"]]')" \
    "$(echo "$want" | json - '[j["content"], [], True]')" \
    "text, every byte, no include_usage: no usage chunk"
play text_usage_chunk all
assert_eq "$(sj '[j["content"], len(j["usage_chunks"]), j["done"]]')" \
    "$(echo "$want" | json - '[j["content"], 1, True]')" \
    "usage on the finish chunk and in a usage chunk: still one usage chunk"

for split in none all random; do
	play crlf $split
	assert_eq "$(sj '[j["content"], j["done"], j["errors"], j["unparsable"]]')" \
	    "$(echo "$want" | json - '[j["content"], True, [], 0]')" \
	    "CRLF, data: without a space, a comment, JSON over two lines, split $split"
done

want=$($PY "$REC" expect claude_tools)
for split in none all random; do
	play claude_tools $split
	assert_eq "$(sj '[j["choices"]["0"]["content"], [j["choices"]["1"]["tool_calls"]["0"][k] for k in ("name", "arguments", "id")], [j["choices"]["0"]["finish_reason"], j["choices"]["1"]["finish_reason"]]]')" \
	    "$(echo "$want" | json - '[j["content"], j["tool"], j["finish"]]')" \
	    "Claude text in choices[0], tool call in choices[1], split $split"
	assert_eq "$(sj '[j["choices"]["1"]["tool_calls"]["0"]["first_has_id_and_name"], j["done"], j["errors"]]')" \
	    '[true, true, []]' "the tool call's id and name come first, split $split"
done

want=$($PY "$REC" expect text)
play no_done all
assert_eq "$(sj '[j["content"], j["choices"]["0"]["finish_reason"], len(j["usage_chunks"]), j["done"], j["errors"]]')" \
    "$(echo "$want" | json - '[j["content"], "stop", 1, True, []]')" \
    "no [DONE] after the finish chunk: the gateway ends the stream with [DONE]"
play no_trailing_blank all
assert_eq "$(sj '[j["content"], j["done"], j["after_done"], j["errors"]]')" \
    "$(echo "$want" | json - '[j["content"], True, 0, []]')" "[DONE] without a trailing blank line still ends the stream"
play no_finish all
assert_eq "$(sj '[j["done"], len(j["errors"]), j["clean_end"]]')" '[false, 1, true]' \
    "a stream that stops before finishing: an error event, no [DONE]"
play error_inside all
assert_eq "$(sj '[j["done"], any("overloaded" in e.get("error", {}).get("message", "") for e in j["errors"])]')" \
    '[false, true]' "an error object inside the stream reaches the client, no [DONE]"

play empty none
assert_eq "$(sj '[j["status"], j["done"], len(j["errors"])]')" '[200, false, 1]' \
    "an empty 200 stream: an error event, not an empty success"
play json_answer none
assert_eq "$(sj '[j["status"], j["content"], j["choices"]["0"]["finish_reason"], len(j["usage_chunks"]), j["done"], list(j["objects"])]')" \
    "$(echo "$want" | json - '[200, j["content"], "stop", 1, True, ["chat.completion.chunk"]]')" \
    "a plain JSON answer to a stream request is turned into SSE"

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
