#!/bin/bash
# SPDX-License-Identifier: ISC
# The other OpenAI routes relayed to Copilot: /v1/responses (plain and
# streamed: events passed through with their names, usage taken from
# response.completed; the codex models that live only there; tool calls,
# initiator and vision headers), /v1/embeddings (string and array input),
# and /v1/models (Copilot's list with capabilities, the configured
# aliases, single models, and the cache: one /models call per TTL).
. "$(dirname "$0")/lib.sh"

RC=$GW_SOURCE_DIR/tests/integration/relay_client.py
CT='content-type: application/json'

sse() {
	_b=$1
	shift
	$PY "$RC" sse --port "$GW_PORT" --path /v1/responses --body "$_b" "$@" \
	    >"$T/sse.json" || fail "relay_client failed"
}

sj() {
	json "$T/sse.json" "$1"
}

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

# usage_log RID: the gateway's "usage" log line of that request id.
usage_log() {
	_n=60
	while [ $_n -gt 0 ]; do
		_l=$(grep '"msg":"usage"' "$T/gw.log" | grep -F "\"request_id\":\"$1\"" || true)
		if [ -n "$_l" ]; then
			echo "$_l"
			return
		fi
		_n=$((_n - 1))
		sleep 0.05
	done
	echo '{}'
}

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "models": { "aliases": { "fast": "gpt-4o", "coder": "gpt-5.1-codex" } },
  "upstreams": { "github": { "models_ttl": "3s" } } }
JSON
start_github
login_github
start_gw
R=/cp/responses

# Responses, plain.
req POST /v1/responses -H "$CT" -d '{"model":"gpt-4o","input":"hello"}'
assert_eq "$STATUS" 200 "responses: 200"
assert_eq "$(json "$T/body" '[j["object"], j["status"], j["output"][-1]["content"][0]["text"]]')" \
    '["response", "completed", "echo: hello"]' "responses: Copilot's answer"
assert_eq "$(json "$T/body" 'j["usage"]["input_tokens"] > 0 and j["usage"]["output_tokens"] > 0')" \
    true "responses: usage is passed on"
req POST /responses -H "$CT" -d '{"model":"fast","input":[{"role":"user","content":"alias"}]}'
assert_eq "$STATUS $(json "$T/body" 'j["output"][-1]["content"][0]["text"]')" \
    "200 echo: alias" "/responses (without /v1) works, with an alias"
assert_eq "$(up_last $R 'b["model"]')" gpt-4o "the alias is mapped upstream"

# Responses, streamed: every event keeps its name; usage from
# response.completed reaches the gateway's accounting.
sse '{"model":"gpt-5.1-codex","stream":true,"input":"hello stream"}'
assert_eq "$(sj '[j["status"], j["event_names"][0], j["event_names"][-1]]')" \
    '[200, "response.created", "response.completed"]' \
    "responses stream: response.created ... response.completed"
assert_eq "$(sj 'len(j["event_names"]) == j["nevents"]')" true \
    "responses stream: every event has its event: name"
assert_eq "$(sj 'all(json.loads(e["data"])["type"] == e["event"] for e in j["events"])')" \
    true "responses stream: names match the events' types"
assert_eq "$(sj '[json.loads(e["data"])["sequence_number"] for e in j["events"]] == list(range(j["nevents"]))')" \
    true "responses stream: the events are passed through in order"
assert_eq "$(sj 'j["resp_text"]')" "echo: hello stream" \
    "responses stream: the text deltas add up"
assert_eq "$(sj 'json.loads(j["events"][2]["data"])["item"]["type"]')" reasoning \
    "responses stream: gpt-5.1-codex's reasoning item comes through"
assert_eq "$(sj 'j["errors"]')" "[]" "responses stream: no error events"
rid=$(sj 'j["headers"]["x-request-id"]')
assert_eq "$(usage_log "$rid" | json - '[j.get("prompt_tokens"), j.get("completion_tokens")]')" \
    "$(sj '[j["resp_usage"]["input_tokens"], j["resp_usage"]["output_tokens"]]')" \
    "responses stream: the usage of response.completed is accounted"

# The same events whatever byte boundaries Copilot's SSE is split at.
U='sp\u00e9cial \u2603 \ud83d\ude00 \u00fcml\u00e4ute'
for split in null 1 5 '"random"'; do
	gh_config '{"sse_split": '"$split"', "sse_seed": 3}'
	sse '{"model":"gpt-4o","stream":true,"input":"'"$U"'"}' --summary
	sj '[j["event_names"], j["resp_text"], j["resp_usage"], j["errors"], j["unparsable"], j["clean_end"]]' \
	    >"$T/resp.$split"
done
gh_config '{"sse_split": null}'
assert_eq "$(json "$T/resp.null" 'j[1]')" \
    "$($PY -c 'import json, sys; print("echo: " + json.loads("\"" + sys.argv[1] + "\""))' "$U")" \
    "responses stream: the non-ASCII text arrives whole"
for split in 1 5 '"random"'; do
	assert_eq "$(cat "$T/resp.$split")" "$(cat "$T/resp.null")" \
	    "responses stream, sse_split $split: the same events, text and usage"
done

# Tool calls, initiator and vision on /responses.
sse '{"model":"coder","stream":true,"tools":[{"type":"function","name":"lookup","parameters":{"type":"object","properties":{}}}],"input":"find it"}'
assert_eq "$(sj 'json.loads(j["resp_args"])')" '{"echo": "find it"}' \
    "responses stream: function call arguments add up"
assert_eq "$(up_last $R 'r["headers"].get("x-initiator")')" user \
    "responses: X-Initiator user for a first turn"
req POST /v1/responses -H "$CT" -d '{"model":"gpt-4o","input":[{"role":"user","content":"find it"},{"type":"function_call","call_id":"call_1","name":"lookup","arguments":"{}"},{"type":"function_call_output","call_id":"call_1","output":"found"}]}'
assert_eq "$STATUS $(json "$T/body" 'j["output"][-1]["content"][0]["text"]')" \
    "200 tool said: found" "responses: a function_call_output round trip"
assert_eq "$(up_last $R 'r["headers"].get("x-initiator")')" agent \
    "responses: X-Initiator agent after a function call"
req POST /v1/responses -H "$CT" -d '{"model":"gpt-4o","input":[{"role":"user","content":[{"type":"input_text","text":"see"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]}]}'
assert_eq "$STATUS $(up_last $R 'r["headers"].get("copilot-vision-request")')" \
    "200 true" "responses: copilot-vision-request with an input_image"

# A chat-only model on /v1/responses: 400 pointing to chat completions.
rc0=$(gh_state 'j["responses_calls"]')
req POST /v1/responses -H "$CT" -d '{"model":"o1","input":"hi"}'
assert_eq "$STATUS" 400 "o1 on /v1/responses: 400"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" /v1/chat/completions \
    "the 400 points to /v1/chat/completions"
assert_eq "$(gh_state 'j["responses_calls"]')" "$rc0" "Copilot was not called for it"
req POST /v1/responses -H "$CT" -d '{"model":"gpt-4o"}'
assert_eq "$STATUS" 400 "responses without input: 400"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "'input'" \
    "the message names the input field"

# Embeddings.
E=/cp/embeddings
req POST /v1/embeddings -H "$CT" -d '{"model":"text-embedding-3-small","input":"one text"}'
assert_eq "$STATUS $(json "$T/body" '[j["object"], len(j["data"]), j["data"][0]["object"], len(j["data"][0]["embedding"])]')" \
    '200 ["list", 1, "embedding", 8]' "embeddings of a string"
assert_eq "$(up_last $E 'b["input"]')" "one text" "the string input is passed on"
req POST /embeddings -H "$CT" -d '{"model":"text-embedding-3-small","input":["a","b","c"]}'
assert_eq "$STATUS $(json "$T/body" '[d["index"] for d in j["data"]]')" \
    "200 [0, 1, 2]" "embeddings of an array, on /embeddings too"
assert_eq "$(json "$T/body" 'j["usage"]["prompt_tokens"] > 0')" true \
    "embeddings: usage is passed on"
ec0=$(gh_state 'j["embeddings_calls"]')
req POST /v1/embeddings -H "$CT" -d '{"model":"text-embedding-3-small","input":[]}'
assert_eq "$STATUS" 400 "embeddings of an empty array: 400"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "'input'" \
    "the message names the input field"
assert_eq "$(gh_state 'j["embeddings_calls"]')" "$ec0" "Copilot was not called for it"

# Models: Copilot's list, passed through, plus the aliases; cached. The
# four requests go back to back (well within the 3 s TTL); the checks on
# their answers come after.
sleep 3.2	# the list fetched above is now stale
mc0=$(gh_state 'j["models_calls"]')
req GET /v1/models
cp "$T/body" "$T/models.json"
s1=$STATUS
req GET /models
cp "$T/body" "$T/models2.json"
s2=$STATUS
req GET /v1/models/fast
cp "$T/body" "$T/fast.json"
s3=$STATUS
req GET /v1/models/no-such-model
s4=$STATUS
assert_eq "$(gh_state 'j["models_calls"]')" $((mc0 + 1)) \
    "models: a stale list is fetched again, then served from the cache"
assert_eq "$s1 $(json "$T/models.json" 'j["object"]')" "200 list" "models: a list"
assert_eq "$(json "$T/models.json" 'all(m.get("object") == "model" for m in j["data"])')" \
    true "models: every entry has object model"
assert_eq "$(json "$T/models.json" '[m["id"] for m in j["data"] if "alias_of" not in m]')" \
    "$($PY -B -c '
import json, sys
sys.path.insert(0, sys.argv[1])
import github
print(json.dumps([m["id"] for m in github.default_models()]))' "$GW_SOURCE_DIR/tests/fake")" \
    "models: all of Copilot's models, in order"
assert_eq "$(json "$T/models.json" '[m for m in j["data"] if m["id"] == "gpt-4o"][0]["supported_endpoints"]')" \
    '["/chat/completions", "/responses"]' "models: supported_endpoints passed through"
assert_eq "$(json "$T/models.json" '[[m["capabilities"]["family"], m["capabilities"]["limits"]["max_prompt_tokens"], m["capabilities"]["supports"]["streaming"]] for m in j["data"] if m["id"] == "o1"][0]')" \
    '["o1", 20000, false]' "models: capabilities passed through"
assert_eq "$(json "$T/models.json" 'sorted((m["id"], m["alias_of"]) for m in j["data"] if "alias_of" in m)')" \
    '[["coder", "gpt-5.1-codex"], ["fast", "gpt-4o"]]' "models: the configured aliases, with alias_of"
assert_eq "$s2 $(json "$T/models2.json" '[m["id"] for m in j["data"]]')" \
    "200 $(json "$T/models.json" '[m["id"] for m in j["data"]]')" \
    "/models (without /v1) lists the same"
assert_eq "$s3 $(json "$T/fast.json" '[j["id"], j["alias_of"], j["object"]]')" \
    '200 ["fast", "gpt-4o", "model"]' "models: one alias by id"
assert_eq "$s4" 404 "models: an unknown id is 404"

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
