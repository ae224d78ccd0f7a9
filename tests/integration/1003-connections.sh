#!/bin/bash
# SPDX-License-Identifier: ISC
# Connection-level behaviour of the listener: 200 concurrent keep-alive
# connections; connections that close at once or reset in the middle of
# a request (500 times each) leave the count in /healthz at 1; a client
# that pipelines without ever reading is dropped after timeouts.write; a
# client that half-closes after pipelining still gets every answer;
# limits.max_connections answers 503 with Retry-After and closes while
# the others go on; SIGTERM with 50 idle keep-alive connections exits at
# once; a second SIGTERM during a shutdown that waits on a stalled body
# exits at once. The socket work is in http_corpus.py.
. "$(dirname "$0")/lib.sh"

HC=$GW_SOURCE_DIR/tests/integration/http_corpus.py
CASES_FAILED=0

# hc SCENARIO [ARGS]: runs an http_corpus.py scenario; its "ok" line is a
# passing check, a "not ok" line a failure counted for the end.
hc() {
	_rc=0
	$PY "$HC" --port "$GW_PORT" "$@" >"$T/hc.out" 2>"$T/hc.err" || _rc=$?
	hc_result "$T/hc.out" "$_rc" "$*"
}

# hc_result FILE RC WHAT: turns the lines of an http_corpus.py run into
# checks.
hc_result() {
	_n=0
	while IFS= read -r _l; do
		case "$_l" in
		"ok "*) ok "${_l#ok }"; _n=$((_n + 1)) ;;
		"not ok "*)
			echo "$_l" >&2
			CASES_FAILED=$((CASES_FAILED + 1))
			_n=$((_n + 1))
			;;
		esac
	done <"$1"
	if [ "$2" -gt 1 ] || [ "$_n" -eq 0 ]; then
		cat "$T/hc.err" >&2
		fail "http_corpus.py $3 broke (exit $2)"
	fi
}

now_ms() { date +%s%3N; }

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "timeouts": { "header": "10s", "body": "10s", "idle": "10s",
                "write": "2s" } }
JSON
start_gw

hc concurrent --conns 200 --requests 5
hc connections --expect 1 --within 5
hc churn --count 500
hc connections --expect 1 --within 5
hc flood-noread --count 8000 --write 2
hc flood-halfclose --count 8000
hc connections --expect 1 --within 5

# SIGTERM with 50 idle keep-alive connections: they are closed at once.
$PY "$HC" --port "$GW_PORT" --count 50 --ready "$T/idle.ready" --wait 15 \
    hold-idle >"$T/idle.out" 2>"$T/hc.err" &
hold=$!
_PIDS="$_PIDS $hold"
wait_for_file "$T/idle.ready" 30
t0=$(now_ms)
stop_gw
dt=$(($(now_ms) - t0))
assert_eq "$GW_STATUS" 0 "serve exits 0 with 50 idle connections"
[ "$dt" -lt 3000 ] ||
    fail "serve took ${dt}ms to exit with 50 idle connections"
ok "serve exits in ${dt}ms (< 3s) with 50 idle connections"
rc=0
wait "$hold" || rc=$?
hc_result "$T/idle.out" "$rc" hold-idle

# limits.max_connections.
cat >"$GW_HOME/config.json" <<'JSON'
{ "limits": { "max_connections": 20 },
  "timeouts": { "header": "10s", "body": "30s", "idle": "10s",
                "shutdown": "30s" } }
JSON
start_gw
hc maxconn --limit 20
hc connections --expect 1 --within 5

# A second SIGTERM while the shutdown waits on a body that stalled: the
# first one waits (timeouts.body and .shutdown are 30s), the second one
# closes everything at once.
$PY "$HC" --port "$GW_PORT" --ready "$T/stall.ready" --wait 40 \
    stall-body >"$T/stall.out" 2>"$T/hc.err" &
stall=$!
_PIDS="$_PIDS $stall"
wait_for_file "$T/stall.ready" 30
sleep 0.2
kill -TERM "$GW_PID"
sleep 1
kill -0 "$GW_PID" 2>/dev/null ||
    fail "serve exited on the first SIGTERM with a request still arriving"
ok "the first SIGTERM waits for the stalled request"
if curl -s -o /dev/null "$GW_URL/healthz"; then
	fail "new connections are served during the shutdown"
fi
ok "no new connections during the shutdown"
t0=$(now_ms)
stop_gw TERM
dt=$(($(now_ms) - t0))
assert_eq "$GW_STATUS" 0 "serve exits 0 on the second SIGTERM"
[ "$dt" -lt 2000 ] ||
    fail "serve took ${dt}ms to exit after the second SIGTERM"
ok "serve exits ${dt}ms (< 2s) after the second SIGTERM"
rc=0
wait "$stall" || rc=$?
hc_result "$T/stall.out" "$rc" stall-body
assert_contains "$(cat "$T/gw.log")" '"immediate":true' \
    "the second signal is logged as immediate"

[ "$CASES_FAILED" -eq 0 ] ||
    fail "$CASES_FAILED scenarios failed (the not ok lines above)"
done_testing
