#!/bin/bash
# SPDX-License-Identifier: ISC
# The Copilot token's life inside `copilot-gw serve` (upstreams.md 1.2):
# one exchange for many concurrent requests, /healthz token state, a
# background refresh at refresh_in - 60 s (never after expiry), one
# refresh and one retry when Copilot answers 401, and failed exchanges
# retried with back-off until they recover, requests meanwhile getting a
# 502 that names the token problem; the gateway never crashes.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'

chat() {
	req POST /v1/chat/completions -H "$CT" \
	    -d "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"${1:-hi}\"}]}"
}

# acct EXPR: EXPR over a, serve's /healthz entry for the only account.
acct() {
	req GET /healthz
	json "$T/body" "(lambda a: $1)(j['accounts'][0])"
}

# exchanges_since T: times of the fake's token exchanges at or after T
# (unix seconds), with their statuses: [[time, status], ...].
exchanges_since() {
	gh_state "[[e['time'], e['status']] for e in j['token_exchange_log']
	    if e['time'] >= $1]"
}

# wait_exchanges T N SECONDS: waits until N exchanges happened since T.
wait_exchanges() {
	_n=$(($3 * 10))
	until [ "$(exchanges_since "$1" | json - 'len(j)')" -ge "$2" ]; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || fail "no $2 token exchanges within $3 s" \
		    "(got: $(exchanges_since "$1"))"
		sleep 0.1
	done
}

now() {
	$PY -c 'import time; print(time.time())'
}

start_github
login_github
gh_config '{"token_latency_ms": 800}'
T0=$(now)
start_gw
sleep 0.3
assert_eq "$(exchanges_since "$T0" | json - 'len(j)')" 0 \
    "no token exchange before a request needs one"

# --- concurrent requests wait for one exchange ----------------------------------
cpids=""
for i in 1 2 3 4 5; do
	curl -sS -m 20 -o /dev/null -w '%{http_code}\n' -H "$CT" -d \
	    '{"model":"gpt-4o","messages":[{"role":"user","content":"c'$i'"}]}' \
	    "$GW_URL/v1/chat/completions" >"$T/conc.$i" &
	cpids="$cpids $!"
done
for p in $cpids; do
	wait "$p" || true
done
assert_eq "$(cat "$T"/conc.* | sort | uniq -c | awk '{print $1, $2}')" \
    "5 200" "five concurrent requests on a cold token all succeed"
assert_eq "$(exchanges_since "$T0" | json - 'len(j)')" 1 \
    "five concurrent requests cause one token exchange"
gh_config '{"token_latency_ms": 0}'
assert_eq "$(acct 'a["token"]')" fresh "healthz: the token is fresh"
assert_eq "$(acct 'a["token_exchanges"]')" 1 "healthz: one exchange"
assert_eq "$(acct '1490 <= a["token_expires_in"] <= 1500')" true \
    "healthz: token_expires_in is the token's life"
assert_eq "$(acct '"last_error" in a')" false "healthz: no last_error"
assert_eq "$(acct 'any("tid=" in str(v) for v in a.values())')" false \
    "healthz: no token value"

# --- Copilot answers 401: one refresh, one retry ----------------------------------
n_ex=$(gh_state 'j["token_exchanges"]')
n_401=$(gh_state 'j["unauthorized_calls"]')
curl -fsS -X POST "$GH_URL/__fake/github/expire" >/dev/null
chat after-revoke
assert_eq "$STATUS" 200 "a revoked token: refreshed and retried, 200"
assert_eq "$(gh_state 'j["unauthorized_calls"] - '"$n_401")" 1 \
    "a revoked token: one 401 from Copilot"
assert_eq "$(gh_state 'j["token_exchanges"] - '"$n_ex")" 1 \
    "a revoked token: one refresh"
# The refresh this causes brings a token with refresh_in 63 (used below).
gh_config '{"refresh_in": 63}'
n_ex=$(gh_state 'j["token_exchanges"]')
n_401=$(gh_state 'j["unauthorized_calls"]')
T_R=$(now)
chat "FAIL_401 always"
assert_eq "$STATUS" 502 "Copilot always answers 401: 502"
assert_eq "$(gh_state 'j["unauthorized_calls"] - '"$n_401")" 2 \
    "Copilot always answers 401: the request is retried once"
assert_eq "$(gh_state 'j["token_exchanges"] - '"$n_ex")" 1 \
    "Copilot always answers 401: one refresh, not a loop"
assert_eq "$(acct 'a["token"]')" fresh "healthz: still fresh"

# --- the background refresh at refresh_in - 60 s -----------------------------------
calls=$(gh_state 'j["chat_calls"]')
n_gw=$(acct 'a["token_exchanges"]')
wait_exchanges "$T_R" 2 8
gap=$(exchanges_since "$T_R" | json - 'round(j[1][0] - j[0][0], 2)')
assert_eq "$($PY -c "print(2.5 <= $gap <= 4.5)")" True \
    "refresh_in 63: refreshed in the background after ~3 s ($gap s)"
assert_eq "$(gh_state 'j["chat_calls"]')" "$calls" \
    "the refresh needed no request"
assert_eq "$(acct '[a["token"], a["token_exchanges"]]')" \
    "[\"fresh\", $((n_gw + 1))]" \
    "healthz: fresh after the background refresh, one more exchange"
chat after-refresh
assert_eq "$STATUS" 200 "a request after the refresh: 200"
NEWEST=$(gh_state 'j["copilot_tokens"][-1]["token"]')
assert_eq "$(curl -fsS "$GH_URL/__fake/requests" | json - \
    '[r["headers"].get("authorization") for r in j
      if r["path"] == "/cp/chat/completions"][-1]')" "Bearer $NEWEST" \
    "the request used the refreshed token"

# --- never refreshed after expiry --------------------------------------------------
# The next token lives 40 s but says refresh_in 1000: the gateway must
# refresh it well before it expires (and before its 30 s margin).
gh_config '{"token_ttl": 40, "refresh_in": 1000}'
T1=$(now)
wait_exchanges "$T1" 1 6
wait_exchanges "$T1" 2 12
gap=$(exchanges_since "$T1" | json - 'round(j[1][0] - j[0][0], 2)')
assert_eq "$($PY -c "print(1 <= $gap <= 10)")" True \
    "a 40 s token with refresh_in 1000 is refreshed within its life ($gap s)"
assert_eq "$(acct 'a["token"]')" fresh "healthz: fresh"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"

# --- failing exchanges: 502, back-off, recovery ---------------------------------------
gh_config '{"token_ttl": 1500, "refresh_in": null, "token_failures": 3}'
T2=$(now)
start_gw
chat during-failure
T2B=$(now)
assert_eq "$STATUS" 502 "a request while the exchange fails: 502"
msg=$(json "$T/body" 'j["error"]["message"]')
assert_contains "$msg" "Copilot token" "the 502 names the Copilot token problem"
assert_contains "$msg" "500" "the 502 says what GitHub answered"
assert_eq "$(acct 'a["token"]')" failing "healthz: the token is failing"
assert_contains "$(acct 'a.get("last_error", "")')" "500" \
    "healthz: last_error says what failed"
# Recovery without any further request.
n=0
while [ "$(acct 'a["token"]')" != fresh ]; do
	n=$((n + 1))
	[ $n -lt 150 ] || fail "the token did not recover within 15 s" \
	    "($(exchanges_since "$T2"))"
	kill -0 "$GW_PID" 2>/dev/null || fail "serve died while retrying"
	sleep 0.1
done
ok "the exchange is retried in the background until it succeeds"
exchanges_since "$T2" >"$T/ex.json"
assert_eq "$(json "$T/ex.json" '[s for t, s in j]')" "[500, 500, 500, 200]" \
    "three failures, then one success (no hammering)"
assert_eq "$(json "$T/ex.json" 'j[3][0] - j[2][0] >= 1.9')" true \
    "the retries back off (2 s or more before the fourth attempt)"
assert_eq "$(json "$T/ex.json" 'j[3][0] - j[0][0] <= 12')" true \
    "the back-off stays short at first (recovered within 12 s)"
assert_eq "$(acct '"last_error" in a')" false \
    "healthz: last_error is cleared after the recovery"
chat after-recovery
assert_eq "$STATUS" 200 "requests work again after the recovery"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0 after failing exchanges"

# --- no token in the logs ------------------------------------------------------------
gh_state 'list(j["gh_tokens"]) + [t["token"] for t in j["copilot_tokens"]]' |
    json - '"\n".join(j)' >"$T/tokens"
while read -r tok; do
	[ -n "$tok" ] || continue
	if grep -qF "$tok" "$T/gw.log" "$T/gw.out.log"; then
		fail "a token (${tok:0:8}...) is in serve's log"
	fi
done <"$T/tokens"
ok "no GitHub or Copilot token in serve's logs"

# The model list and the request itself both need the token: one request
# must still cause one exchange, not one for each (a failing GitHub would
# get two calls per client request, outside the back-off).
assert_eq "$(json "$T/ex.json" "len([t for t, s in j if t <= $T2B])")" 1 \
    "a request during a failure causes one token exchange, not two"
done_testing
