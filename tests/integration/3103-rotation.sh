#!/bin/bash
# SPDX-License-Identifier: ISC
# One store, several processes: with serve running, a key revoked or
# rotated from the CLI stops working for new requests within about a
# second, without a restart, while a stream already running on it
# finishes; rotate without --grace kills the old secret at once (and the
# new one works), rotate --grace keeps both valid for the grace period and
# then only the new one; a key created with --expires stops working when
# it expires.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
RC=$GW_SOURCE_DIR/tests/integration/relay_client.py
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}'

# code SECRET: the status of a chat request with SECRET.
code() {
	curl -sS -o "$T/code.body" -w '%{http_code}' -H "$CT" \
	    -H "Authorization: Bearer $1" -d "$CHAT" \
	    "$GW_URL/v1/chat/completions" || echo 000
}

# now_ms: wall-clock milliseconds.
now_ms() {
	$PY -c 'import time; print(int(time.time() * 1000))'
}

# wait_code SECRET WANT SECONDS: polls until a request with SECRET gets
# WANT; prints the milliseconds it took, or fails.
wait_code() {
	_t0=$(now_ms)
	_end=$((_t0 + $3 * 1000))
	while :; do
		_c=$(code "$1")
		[ "$_c" = "$2" ] && break
		[ "$(now_ms)" -lt "$_end" ] ||
		    fail "still $_c after $3 s, want $2 ($(cat "$T/code.body"))"
		sleep 0.1
	done
	echo $(($(now_ms) - _t0))
}

# stream NAME SECRET: starts a slow 20-delta stream in the background
# (its pid in STREAM_PID); its summary goes to $T/NAME.json.
stream() {
	$PY "$RC" sse --port "$GW_PORT" -H "Authorization: Bearer $2" \
	    --body '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"SLOW LONG:20"}]}' \
	    >"$T/$1.json" 2>"$T/$1.err" &
	STREAM_PID=$!
	_PIDS="$_PIDS $STREAM_PID"
}

start_github
login_github
mkkey NG --label nograce
mkkey GR --label grace
mkkey RV --label revoke
mkkey SR --label stream-revoke
mkkey SO --label stream-rotate
GW_AUTH=1 start_gw
for s in "$NG_SECRET" "$GR_SECRET" "$RV_SECRET" "$SR_SECRET" "$SO_SECRET"; do
	assert_eq "$(code "$s")" 200 "key ${s:0:11}... works at start"
done

# --- revoke from the CLI while serve runs ----------------------------------------
gw keys revoke revoke >/dev/null || fail "keys revoke failed"
MS=$(wait_code "$RV_SECRET" 401 3)
ok "a key revoked from the CLI is refused after $MS ms (no restart)"
assert_eq "$(json "$T/code.body" 'j["error"]["code"]')" revoked_api_key \
    "... as revoked_api_key"
assert_eq "$(code "$NG_SECRET")" 200 "other keys keep working"

# --- rotate without --grace: the old secret dies at once ------------------------
gw keys rotate --json nograce >"$T/ng.json" || fail "keys rotate failed"
NG2_SECRET=$(json "$T/ng.json" 'j["secret"]')
MS=$(wait_code "$NG_SECRET" 401 3)
ok "after rotate, the old secret is refused after $MS ms"
MS=$(wait_code "$NG2_SECRET" 200 3)
ok "the new secret works (after $MS ms)"
assert_eq "$(code "$NG_SECRET")" 401 "the old secret stays refused"
# The manual: "a request that presents it is refused with status 401
# saying the key was rotated".
soft_eq "$(json "$T/code.body" 'j["error"]["code"]')" rotated_api_key \
    "the old secret after a rotation without --grace is refused as rotated_api_key"

# --- rotate --grace: both work for the grace period, then only the new one -------
T0=$(now_ms)
gw keys rotate --grace 6s --json grace >"$T/gr.json" ||
    fail "keys rotate --grace failed"
GR2_SECRET=$(json "$T/gr.json" 'j["secret"]')
# Before or after serve reloads the keys, the old secret is valid.
assert_eq "$(code "$GR_SECRET")" 200 "right after rotate --grace the old secret works"
assert_eq "$(gw keys show --json grace | json - 'j["status"]')" rotating \
    "keys show: rotating during the grace period"
MS=$(wait_code "$GR2_SECRET" 200 3)
ok "with --grace the new secret works (after $MS ms)"
OLD_OK=0
for _ in 1 2 3 4 5; do
	# Only while well inside the grace period.
	[ $(($(now_ms) - T0)) -lt 4500 ] || break
	[ "$(code "$GR_SECRET")" = 200 ] || fail "the old secret failed inside the grace period: $(cat "$T/code.body")"
	OLD_OK=$((OLD_OK + 1))
	sleep 0.2
done
# (On a slow machine the period may be nearly over by now.)
ok "once the new secret works the old one still does ($OLD_OK requests)"
wait_code "$GR_SECRET" 401 12 >/dev/null
DT=$(($(now_ms) - T0))
[ "$DT" -ge 5800 ] || fail "the old secret died after $DT ms, before its 6 s grace"
ok "the old secret is refused once the grace period is over ($DT ms)"
assert_eq "$(json "$T/code.body" 'j["error"]["code"]')" rotated_api_key \
    "... as rotated_api_key"
assert_eq "$(code "$GR2_SECRET")" 200 "the new secret keeps working"
assert_eq "$(gw keys show --json grace | json - 'j["status"]')" active \
    "keys show: active after the grace period"

# --- running streams finish; new requests are refused --------------------------
stream srv "$SR_SECRET"
P1=$STREAM_PID
stream sro "$SO_SECRET"
P2=$STREAM_PID
sleep 1.5	# both streams are under way
gw keys revoke stream-revoke >/dev/null || fail "keys revoke failed"
gw keys rotate stream-rotate >/dev/null || fail "keys rotate failed"
MS=$(wait_code "$SR_SECRET" 401 3)
ok "revoked while streaming: new requests refused after $MS ms"
MS=$(wait_code "$SO_SECRET" 401 3)
ok "rotated while streaming: new requests refused after $MS ms"
wait "$P1" || fail "the first stream client failed: $(cat "$T/srv.err")"
wait "$P2" || fail "the second stream client failed: $(cat "$T/sro.err")"
for s in srv sro; do
	assert_eq "$(json "$T/$s.json" '[j["status"], j["done"], j["clean_end"], j["errors"]]')" \
	    '[200, true, true, []]' "$s: the running stream finished cleanly"
	assert_eq "$(json "$T/$s.json" 'j["content"].count("x")')" 20 \
	    "$s: with all 20 deltas"
	assert_eq "$(json "$T/$s.json" 'j["last_t"] > 3')" true \
	    "$s: it was still running when the key changed"
done

# --- expiry ------------------------------------------------------------------
mkkey EX --label expiring --expires 8s
T0=$(now_ms)
MS=$(wait_code "$EX_SECRET" 200 5)
ok "a key with --expires 8s works at first (after $MS ms)"
wait_code "$EX_SECRET" 401 12 >/dev/null
DT=$(($(now_ms) - T0))
[ "$DT" -ge 6500 ] || fail "the key expired after $DT ms, before its 8 s"
ok "it is refused once expired ($DT ms), without a restart"
assert_eq "$(json "$T/code.body" 'j["error"]["code"]')" expired_api_key \
    "... as expired_api_key"
assert_eq "$(gw keys show --json expiring | json - 'j["status"]')" expired \
    "keys show: expired"

stop_gw
assert_eq "$GW_STATUS" 0 "serve stopped cleanly"
LOGS=$(cat "$T/gw.log" "$T/gw.out.log")
for s in "$NG_SECRET" "$NG2_SECRET" "$GR_SECRET" "$GR2_SECRET" \
    "$RV_SECRET" "$SR_SECRET" "$SO_SECRET" "$EX_SECRET"; do
	assert_not_contains "$LOGS" "${s:7:16}" "secret ${s:0:11}... is not logged"
done

done_testing
