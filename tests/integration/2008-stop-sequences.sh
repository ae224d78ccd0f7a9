#!/bin/bash
# SPDX-License-Identifier: ISC
# stop_sequences on the translated path (gpt-4o). Copilot's Chat
# Completions would strip a matched sequence and say only "stop", so the
# gateway matches the sequences itself and never sends "stop" upstream:
# the answer ends just before the earliest match, with stop_reason
# "stop_sequence" and the sequence that matched, both streamed (a sequence
# split across upstream chunks and SSE events cut at random offsets is
# still found; nothing after it reaches the client; the stream passes the
# order validator) and not streamed (the gateway streams from Copilot and
# answers whole). In both, the upstream transfer is cancelled at the match
# instead of running to the end of a long answer. Without a match the
# answer is whole with end_turn and stop_sequence null.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
AV='anthropic-version: 2023-06-01'
VALIDATE=$GW_SOURCE_DIR/tests/integration/anthropic_validate.py

# msg BODY: POSTs a Messages request; 200 expected.
msg() {
	req POST /v1/messages -H "$CT" -H "$AV" -d "$1"
	[ "$STATUS" = 200 ] || fail "messages: status $STATUS: $BODY"
}

# smsg BODY: a streamed request, validated; the summary goes to $T/sum.
smsg() {
	msg "$1"
	if ! $PY "$VALIDATE" "$T/body" >"$T/sum" 2>"$T/verr"; then
		head -c 4000 "$T/body" >&2
		fail "$(cat "$T/verr")"
	fi
}

# body TEXT STREAM STOPS: a gpt-4o request whose answer is "echo: TEXT".
body() {
	printf '{"model":"gpt-4o","max_tokens":500,"stream":%s,"stop_sequences":%s,"messages":[{"role":"user","content":"%s"}]}' \
	    "$2" "$3" "$1"
}

# last_chat EXPR: EXPR over the newest chat/completions request (b: its body).
last_chat() {
	$PY - "$GH_URL" "$1" <<'PY'
import json, sys, urllib.request
base, expr = sys.argv[1], sys.argv[2]
reqs = json.load(urllib.request.urlopen(base + "/__fake/requests"))
r = [r for r in reqs if r["path"].endswith("/chat/completions")][-1]
b = json.loads(r["body"])
print(json.dumps(eval(expr)))
PY
}

start_github
login_github
start_gw

# --- non-stream ---------------------------------------------------------------
# The fake streams "echo: abc STOP def" four characters a delta: "STOP"
# arrives split ("c ST", "OP d").
msg "$(body 'abc STOP def' false '["STOP", "never"]')"
assert_eq "$(json "$T/body" '[j["content"], j["stop_reason"], j["stop_sequence"]]')" \
    '[[{"type": "text", "text": "echo: abc "}], "stop_sequence", "STOP"]' \
    "non-stream: cut before the sequence, stop_reason stop_sequence, the sequence named"
assert_eq "$(last_chat '[b.get("stream"), "stop" in b]')" '[true, false]' \
    "non-stream: Copilot is asked for a stream, and never for 'stop'"
assert_eq "$(json "$T/body" '[j["type"], j["role"], j["id"][:4], j["usage"]["output_tokens"] > 0]')" \
    '["message", "assistant", "msg_", true]' "non-stream: a whole message with usage"
msg "$(body 'one two three' false '["two", "one t"]')"
assert_eq "$(json "$T/body" '[j["content"][0]["text"], j["stop_sequence"]]')" \
    '["echo: ", "one t"]' "the earliest match wins (the longer of two at one place)"
msg "$(body 'nothing here' false '["ZZZ"]')"
assert_eq "$(json "$T/body" '[j["content"], j["stop_reason"], j["stop_sequence"]]')" \
    '[[{"type": "text", "text": "echo: nothing here"}], "end_turn", null]' \
    "non-stream without a match: the whole answer, end_turn"

# --- stream -------------------------------------------------------------------
smsg "$(body 'abc STOP def' true '["STOP"]')"
assert_eq "$(json "$T/sum" '[j["content"], j["stop_reason"], j["stop_sequence"]]')" \
    '[[{"type": "text", "text": "echo: abc "}], "stop_sequence", "STOP"]' \
    "stream: cut before the sequence, stop_reason stop_sequence"
assert_not_contains "$(cat "$T/body")" "def" "stream: nothing after the sequence is sent"
assert_eq "$(last_chat '[b.get("stream"), "stop" in b]')" '[true, false]' \
    "stream: no 'stop' upstream"
smsg "$(body 'caf\u00e9 \u00e9t\u00e9 x' true '["\u00e9t\u00e9 x"]')"
assert_eq "$(json "$T/sum" '[j["content"][0]["text"] == "echo: caf\u00e9 ", j["stop_sequence"] == "\u00e9t\u00e9 x"]')" \
    '[true, true]' "stream: multi-byte text and sequence, whole characters"
smsg "$(body 'plain answer' true '["QQQ"]')"
assert_eq "$(json "$T/sum" '[j["content"], j["stop_reason"], j["stop_sequence"]]')" \
    '[[{"type": "text", "text": "echo: plain answer"}], "end_turn", null]' \
    "stream without a match: all the text (held-back tail included), end_turn"

# Split at random byte offsets upstream.
gh_config '{"sse_split": "random", "sse_seed": 7}'
for i in 1 2 3 4 5; do
	gh_config "{\"sse_seed\": $i}"
	smsg "$(body "round $i: the quick brown fox <END> jumps" true '["<END>"]')"
	assert_eq "$(json "$T/sum" '[j["content"][0]["text"], j["stop_sequence"]]')" \
	    "[\"echo: round $i: the quick brown fox \", \"<END>\"]" \
	    "stream split at random offsets (seed $i): the same cut"
done
gh_config '{"sse_split": null}'

# --- the upstream is cancelled at the match -----------------------------------
# LONG:20000 with SLOW would stream 20000 "x " deltas 300 ms apart.
msg "$(body 'SLOW LONG:20000 cancel-s' true '["x x"]')"
assert_contains "$(cat "$T/body")" '"stop_sequence":"x x"' "stream: matched in a long answer"
sleep 0.5
assert_eq "$(upstream_conn cancel-s | json - 'j["closed_by"]')" client \
    "stream: the gateway closed the upstream connection at the match"
msg "$(body 'SLOW LONG:20000 cancel-n' false '["x x"]')"
assert_eq "$(json "$T/body" '[j["content"], j["stop_sequence"]]')" \
    '[[], "x x"]' "non-stream: a match at the very start leaves no content"
sleep 0.5
assert_eq "$(upstream_conn cancel-n | json - 'j["closed_by"]')" client \
    "non-stream: the gateway closed the upstream connection at the match"

stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
