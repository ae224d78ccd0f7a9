#!/bin/bash
# SPDX-License-Identifier: ISC
# When things go wrong around a relayed answer: the client disconnects
# mid-stream (the upstream transfer is cancelled at once and the request
# is logged with client_gone), Copilot stalls (upstream_idle: an error
# event in a stream, 504 otherwise), Copilot closes early (an error event,
# never a silent truncation), and Copilot cannot be reached at all (502
# naming it). The gateway stays healthy throughout.
. "$(dirname "$0")/lib.sh"

RC=$GW_SOURCE_DIR/tests/integration/relay_client.py
CT='content-type: application/json'

sse() {
	_b=$1
	shift
	$PY "$RC" sse --port "$GW_PORT" --body "$_b" "$@" >"$T/sse.json" ||
	    fail "relay_client failed"
}

sj() {
	json "$T/sse.json" "$1"
}

# log_request RID: the gateway's "request" log line of that request id,
# waiting up to 3 s for it.
log_request() {
	_n=60
	while [ $_n -gt 0 ]; do
		_l=$(grep '"msg":"request"' "$T/gw.log" | grep -F "\"request_id\":\"$1\"" || true)
		if [ -n "$_l" ]; then
			echo "$_l"
			return
		fi
		_n=$((_n - 1))
		sleep 0.05
	done
}

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "timeouts": { "upstream_idle": "1s", "stream_keepalive": "300ms" } }
JSON
start_github
login_github
start_gw

# The client goes away while Copilot stalls mid-stream.
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"STALL gone-1"}]}' \
    --max-events 2
assert_eq "$(sj '[j["status"], j["closed_by_client"], j["done"]]')" \
    '[200, true, false]' "disconnect: the client left after 2 events"
closed_at=$(sj 'j["closed_at"]')
rid=$(sj 'j["headers"]["x-request-id"]')
sleep 1.2
c=$(upstream_conn gone-1)
assert_eq "$(echo "$c" | json - 'j["closed_by"]')" client \
    "disconnect: the gateway closed the stalled upstream connection"
assert_eq "$(echo "$c" | json - "j['closed'] - $closed_at < 1.0")" true \
    "disconnect: within 1 s of the client ($(echo "$c" | json - "round(j['closed'] - $closed_at, 3)") s)"
line=$(log_request "$rid")
assert_contains "$line" '"client_gone":true' \
    "disconnect: the request is logged with client_gone true"

# The client goes away from a slow, flowing stream.
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"SLOW LONG:60 gone-2"}]}' \
    --max-events 3
closed_at=$(sj 'j["closed_at"]')
rid=$(sj 'j["headers"]["x-request-id"]')
sleep 1.2
c=$(upstream_conn gone-2)
assert_eq "$(echo "$c" | json - "[j['closed_by'], j['closed'] - $closed_at < 1.0]")" \
    '["client", true]' "disconnect from a flowing stream: upstream closed within 1 s"
assert_contains "$(log_request "$rid")" '"client_gone":true' \
    "disconnect from a flowing stream: logged with client_gone true"

# The client goes away before anything was sent: while the gateway waits
# for a token exchange, and while o1 (answered as SSE) is thinking.
gh_config '{"token_latency_ms": 1500}'
curl -fsS -X POST "$GH_URL/__fake/github/expire" >/dev/null
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"gone-3"}]}' \
    --timeout 0.4
assert_contains "$(sj 'j["error"]')" "timed out" \
    "disconnect while a token exchange runs (the client gave up)"
gh_config '{"token_latency_ms": 0, "chat_latency_ms": 2000}'
n=100
until curl -fsS "$GW_URL/healthz" | grep -q '"token":"fresh"'; do
	n=$((n - 1))
	[ $n -gt 0 ] || fail "the token exchange did not finish"
	sleep 0.05
done
sse '{"model":"o1","stream":true,"messages":[{"role":"user","content":"gone-4"}]}' \
    --timeout 0.8
assert_contains "$(sj 'j["error"]')" "timed out" \
    "disconnect while o1 thinks (the client gave up)"
gh_config '{"chat_latency_ms": 0}'
n=30
while c=$(upstream_conn gone-4); [ "$(echo "$c" | json - 'j and j["closed_by"]')" != client ]; do
	n=$((n - 1))
	[ $n -gt 0 ] || break
	sleep 0.05
done
assert_eq "$(echo "$c" | json - 'j and j["closed_by"]')" client \
    "the o1 upstream call was cancelled too"

req GET /healthz
assert_eq "$STATUS" 200 "healthy after the disconnects"
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"still here"}]}'
assert_eq "$(sj '[j["content"], j["done"]]')" '["echo: still here", true]' \
    "a new stream works after the disconnects"

# Copilot stalls mid-stream: after timeouts.upstream_idle the stream ends
# with an error event, not [DONE].
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"STALL stall-1"}]}'
assert_eq "$(sj '[j["status"], j["done"], len(j["errors"])]')" \
    '[200, false, 1]' "upstream stall in a stream: one error event, no [DONE]"
assert_eq "$(sj 'isinstance(j["errors"][0].get("error"), dict) and bool(j["errors"][0]["error"].get("message"))')" \
    true "the error event is data: {\"error\":{\"message\":...}}"
assert_eq "$(sj 'j["events"][-1]["data"].startswith("{\"error\"")')" true \
    "the error event is the last one"
assert_eq "$(sj 'j["content"].startswith("echo")')" true \
    "what came before the stall was relayed"
assert_eq "$(sj 'j["clean_end"] and j["elapsed"] < 10')" true \
    "the stream is closed properly, soon after the idle timeout ($(sj 'j["elapsed"]') s)"

# Copilot stalls before answering a non-stream request: 504.
t0=$(date +%s)
req POST /v1/chat/completions -H "$CT" \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"STALL stall-2"}]}'
assert_eq "$STATUS" 504 "upstream stall, non-stream: 504"
assert_eq "$(json "$T/body" 'j["error"]["type"]')" timeout_error \
    "the 504 is an OpenAI timeout_error"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" \
    "127.0.0.1:$GH_PORT" "the 504 names the upstream"
assert_eq "$(( $(date +%s) - t0 < 10 ))" 1 "the 504 comes soon after the idle timeout"

# Copilot closes the connection early.
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"CLOSE_EARLY please"}]}'
assert_eq "$(sj '[j["status"], j["done"], len(j["errors"])]')" \
    '[200, false, 1]' "CLOSE_EARLY in a stream: an error event, no [DONE]"
assert_eq "$(sj 'bool(j["errors"][0]["error"]["message"]) and j["clean_end"]')" \
    true "CLOSE_EARLY: the error says what happened, the stream ends properly"
req POST /v1/chat/completions -H "$CT" \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"CLOSE_EARLY please"}]}'
assert_eq "$STATUS" 502 "CLOSE_EARLY, non-stream: 502, not a truncated 200"
assert_eq "$(json "$T/body" 'j["error"]["type"]')" api_error \
    "the 502 is an OpenAI error"
sse '{"model":"gpt-4o","stream":true,"input":"CLOSE_EARLY please"}' \
    --path /v1/responses
assert_eq "$(sj '[j["status"], "error" in j["event_names"], j["event_names"][-1], "response.completed" in j["event_names"]]')" \
    '[200, true, "error", false]' "CLOSE_EARLY on /v1/responses: event: error, no response.completed"

# Copilot refuses a stream request before it starts: a plain HTTP error.
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"FAIL_400"}]}'
assert_eq "$(sj 'j["status"]')" 400 "an upstream 400 to a stream request: HTTP 400"
assert_eq "$(sj 'json.loads(j["body"])["error"]["code"]')" \
    model_max_prompt_tokens_exceeded "with Copilot's error code, as JSON"

# Copilot unreachable: the token is cached, then the fake goes away.
req POST /v1/chat/completions -H "$CT" \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"last one"}]}'
assert_eq "$STATUS" 200 "a call before the upstream goes away"
kill "$GH_PID"
wait "$GH_PID" 2>/dev/null || true
req POST /v1/chat/completions -H "$CT" \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"anyone?"}]}'
assert_eq "$STATUS" 502 "upstream unreachable: 502"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" \
    "127.0.0.1:$GH_PORT" "the 502 names the upstream"
sse '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"anyone?"}]}'
assert_eq "$(sj 'j["status"]')" 502 "upstream unreachable, stream requested: 502"
req GET /healthz
assert_eq "$STATUS" 200 "the gateway stays healthy"

stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
