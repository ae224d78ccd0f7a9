#!/bin/bash
# SPDX-License-Identifier: ISC
# The Copilot token behind relayed requests: /healthz shows its state and
# the exchange count; a token Copilot refuses (401) is refreshed once and
# the request retried once, invisibly to the client; 64 concurrent streams
# that all meet the refused token share ONE exchange (single-flight); a
# 401 that persists becomes a 502 that blames the upstream, not the
# client; a failing exchange is retried with back-off; no token ever
# shows up in the logs (at debug level) or the request log; and a model
# list refused with 401 gets the same refresh-and-retry.
. "$(dirname "$0")/lib.sh"

RC=$GW_SOURCE_DIR/tests/integration/relay_client.py
CT='content-type: application/json'

health() {
	curl -fsS "$GW_URL/healthz" | json - "$1"
}

chat() {
	req POST /v1/chat/completions -H "$CT" \
	    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"'"$1"'"}]}'
}

# Debug logging: the scan for secrets at the end covers every log line.
mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "log": { "level": "debug" } }
JSON
start_github
login_github
start_gw

chat "first"
assert_eq "$STATUS" 200 "a first request"
assert_eq "$(health 'j["accounts"][0]["token"]')" fresh \
    "healthz: the account's token is fresh"
ex0=$(gh_state 'j["token_exchanges"]')
hx0=$(health 'j["accounts"][0]["token_exchanges"]')
assert_eq "$(( hx0 >= 1 ))" 1 "healthz counts the token exchanges ($hx0)"
chat "second"
assert_eq "$(gh_state 'j["token_exchanges"]')" "$ex0" \
    "a valid token is reused: no new exchange"

# Copilot refuses the token: one refresh, one retry, the client sees 200.
curl -fsS -X POST "$GH_URL/__fake/github/expire" >/dev/null
u0=$(gh_state 'j["unauthorized_calls"]')
chat "after expiry"
assert_eq "$STATUS $(json "$T/body" 'j["choices"][0]["message"]["content"]')" \
    "200 echo: after expiry" "after a revoked token the request succeeds"
assert_eq "$(gh_state 'j["token_exchanges"]')" $((ex0 + 1)) \
    "exactly one extra token exchange"
assert_eq "$(gh_state 'j["unauthorized_calls"]')" $((u0 + 1)) \
    "Copilot saw the stale token once"
curl -fsS "$GH_URL/__fake/requests" | $PY -c '
import json, sys
rs = [r for r in json.load(sys.stdin) if r["path"] == "/cp/chat/completions"][-2:]
print(json.dumps([rs[0]["body"] == rs[1]["body"],
                  rs[0]["headers"]["authorization"] != rs[1]["headers"]["authorization"],
                  rs[0]["headers"]["x-request-id"] != rs[1]["headers"]["x-request-id"]]))
' >"$T/retry.json"
assert_eq "$(cat "$T/retry.json")" "[true, true, true]" \
    "the retry sends the same body with the new token and a new x-request-id"
assert_eq "$(health '[j["accounts"][0]["token"], j["accounts"][0]["token_exchanges"]]')" \
    "[\"fresh\", $((hx0 + 1))]" "healthz: fresh again, one more exchange"

# The same for a stream: the retry happens before anything is sent.
curl -fsS -X POST "$GH_URL/__fake/github/expire" >/dev/null
ex1=$(gh_state 'j["token_exchanges"]')
$PY "$RC" sse --port "$GW_PORT" \
    --body '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"stream after expiry"}]}' \
    >"$T/s.json" || fail "relay_client failed"
assert_eq "$(json "$T/s.json" '[j["status"], j["content"], j["done"], j["errors"]]')" \
    '[200, "echo: stream after expiry", true, []]' \
    "a stream after a revoked token succeeds"
assert_eq "$(gh_state 'j["token_exchanges"]')" $((ex1 + 1)) \
    "exactly one extra exchange for the stream"

# 64 concurrent streams right after the token is revoked, with a slow
# exchange: all succeed, with ONE new exchange.
gh_config '{"token_latency_ms": 500}'
curl -fsS -X POST "$GH_URL/__fake/github/expire" >/dev/null
ex2=$(gh_state 'j["token_exchanges"]')
$PY "$RC" multi --n 64 --port "$GW_PORT" --summary --timeout 40 \
    --body '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"c{i}"}]}' \
    >"$T/multi.json" || fail "relay_client multi failed"
assert_eq "$(json "$T/multi.json" 'sorted({r["status"] for r in j})')" "[200]" \
    "64 concurrent streams: all 200"
assert_eq "$(json "$T/multi.json" 'sum(1 for i, r in enumerate(j) if r["content"] == "echo: c%d" % i and r["done"] and not r["errors"] and r["clean_end"])')" \
    64 "64 concurrent streams: every answer complete and right"
assert_eq "$(gh_state 'j["token_exchanges"]')" $((ex2 + 1)) \
    "64 concurrent streams: exactly ONE token exchange"

# Again, while half of the clients give up during the exchange: the
# others are not disturbed.
curl -fsS -X POST "$GH_URL/__fake/github/expire" >/dev/null
ex2=$(gh_state 'j["token_exchanges"]')
$PY "$RC" multi --n 32 --port "$GW_PORT" --summary --timeout 0.3 \
    --body '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"q{i}"}]}' \
    >"$T/quitters.json" &
quitters=$!
$PY "$RC" multi --n 32 --port "$GW_PORT" --summary --timeout 40 \
    --body '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"s{i}"}]}' \
    >"$T/stayers.json" || fail "relay_client multi failed"
wait "$quitters" || fail "relay_client multi (quitters) failed"
assert_eq "$(json "$T/quitters.json" 'sum(1 for r in j if r["status"] is None and "timed out" in r["error"])')" \
    32 "32 clients gave up while the token was refreshed"
assert_eq "$(json "$T/stayers.json" 'sum(1 for i, r in enumerate(j) if r["status"] == 200 and r["content"] == "echo: s%d" % i and r["done"] and not r["errors"])')" \
    32 "the 32 others all got their whole answers"
assert_eq "$(gh_state 'j["token_exchanges"]')" $((ex2 + 1)) \
    "still ONE token exchange"
gh_config '{"token_latency_ms": 0}'

# A 401 that persists (the token is fine, Copilot still says 401): one
# refresh and one retry, then a 502 that does not blame the client.
ex3=$(gh_state 'j["token_exchanges"]')
c3=$(gh_state 'j["chat_calls"]')
chat "FAIL_401"
assert_eq "$STATUS" 502 "a persistent 401 becomes 502"
assert_eq "$(json "$T/body" 'j["error"]["type"]')" api_error \
    "the 502 is an upstream error, not an authentication_error"
assert_eq "$(gh_state '[j["token_exchanges"], j["chat_calls"]]')" \
    "[$((ex3 + 1)), $((c3 + 2))]" "one refresh and one retry, no more"

# The exchange itself fails: a clear error now, a retry with back-off.
gh_config '{"token_failures": 1}'
curl -fsS -X POST "$GH_URL/__fake/github/expire" >/dev/null
chat "exchange fails"
assert_eq "$STATUS" 502 "a failing token exchange: 502"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "octocat" \
    "the message names the account"
n=100
until [ "$(health 'j["accounts"][0]["token"]')" = fresh ]; do
	n=$((n - 1))
	[ $n -gt 0 ] || fail "the token did not recover within 10 s"
	sleep 0.1
done
ok "the exchange is retried by itself and the token is fresh again"
chat "recovered"
assert_eq "$STATUS" 200 "requests succeed again"

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"

leaks=$($PY "$RC" scan --state "$GH_URL/__fake/github/state" \
    --file "$T/gw.log" --file "$T/gw.out.log" --file "$T/login.out" \
    --file "$T/login.err" --db "$GW_HOME/copilot-gw.db")
assert_eq "$leaks" "" "no GitHub or Copilot token in the logs or the request log"

# A stale model list meets a revoked token: GET /v1/models must refresh
# the token and retry, as relayed requests do. (Last: it fails today.)
cat >"$GW_HOME/config.json" <<'JSON'
{ "log": { "level": "debug" }, "upstreams": { "github": { "models_ttl": "1s" } } }
JSON
start_gw
req GET /v1/models
assert_eq "$STATUS" 200 "models_ttl 1s: the model list"
curl -fsS -X POST "$GH_URL/__fake/github/expire" >/dev/null
sleep 1.2
ex4=$(gh_state 'j["token_exchanges"]')
mc4=$(gh_state 'j["models_calls"]')
req GET /v1/models
models_status=$STATUS models_body=$BODY
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
assert_eq "$(gh_state '[j["token_exchanges"], j["models_calls"]]')" \
    "[$((ex4 + 1)), $((mc4 + 2))]" \
    "a /models call refused with 401 is retried once after one token refresh"
assert_eq "$models_status" 200 \
    "GET /v1/models after a revoked token: 200 (got: $models_body)"
done_testing
