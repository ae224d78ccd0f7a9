#!/bin/bash
# SPDX-License-Identifier: ISC
# doctor: every check passes against a fake upstream; an unreachable
# upstream, a bad config, a busy port and loose file modes are reported
# plainly and make it exit 1.
. "$(dirname "$0")/lib.sh"

start_fake
export COPILOT_GW_UPSTREAMS_GITHUB_GITHUB_URL=$FAKE_URL
export COPILOT_GW_UPSTREAMS_GITHUB_API_URL=$FAKE_URL/api
export COPILOT_GW_UPSTREAMS_GITHUB_COPILOT_URL=$FAKE_URL/copilot
export COPILOT_GW_UPSTREAMS_M365_LOGIN_URL=$FAKE_URL/login
export COPILOT_GW_UPSTREAMS_M365_GRAPH_URL=$FAKE_URL/graph
port=$(free_port)
export COPILOT_GW_LISTEN=127.0.0.1:$port

rc=0; out=$(gw doctor --timeout 3s) || rc=$?
echo "$out"
assert_eq "$rc" 0 "doctor passes with reachable fakes"
assert_contains "$out" "all checks passed" "doctor says so"
assert_contains "$out" "integrity ok" "doctor ran integrity_check"
assert_contains "$out" "journal wal" "doctor sees WAL"
assert_contains "$out" "127.0.0.1:$port is free" "doctor checked the port"
assert_eq "$(echo "$out" | grep -c '^ok    upstream')" 5 "doctor probed five upstreams"
paths=$(curl -s "$FAKE_URL/__fake/requests" | json - '" ".join(sorted(r["path"] for r in j))')
assert_eq "$paths" "/ /api /copilot /graph /login" "each upstream host was really asked"

js=$(gw doctor --json --timeout 3s)
assert_eq "$(echo "$js" | json - 'all(c["status"] != "fail" for c in j)')" true "doctor --json"

# Unreachable upstream: a plain failure, exit 1, quickly.
dead=$(free_port)
start=$(date +%s)
rc=0; out=$(COPILOT_GW_UPSTREAMS_M365_GRAPH_URL=http://127.0.0.1:$dead gw doctor --timeout 2s) || rc=$?
assert_eq "$rc" 1 "doctor fails when an upstream does not answer"
assert_contains "$(echo "$out" | grep '^fail  upstream')" "upstreams.m365.graph_url" \
    "the failing upstream is named"
assert_contains "$out" "1 check failed" "doctor counts failures"
[ $(( $(date +%s) - start )) -lt 10 ] || fail "doctor took too long"
ok "doctor is bounded by its timeout"
rc=0; out=$(COPILOT_GW_UPSTREAMS_GITHUB_API_URL=http://no-such-host.invalid gw doctor --timeout 2s) || rc=$?
assert_eq "$rc" 1 "unresolvable host fails"
assert_contains "$out" "no-such-host.invalid" "the host is named"

# A running gateway on the port is fine; a foreign listener is not.
start_gw
rc=0; out=$(COPILOT_GW_LISTEN=127.0.0.1:$GW_PORT gw doctor --timeout 2s) || rc=$?
assert_contains "$out" "served by a running copilot-gw" "doctor recognises a running gateway"
stop_gw

# Loose modes are failures with the fix.
chmod 755 "$GW_HOME"
chmod 644 "$GW_HOME/copilot-gw.db"
rc=0; out=$(gw doctor --timeout 2s) || rc=$?
assert_eq "$rc" 1 "loose modes fail"
assert_contains "$out" "chmod 700" "directory fix is given"
assert_contains "$out" "chmod 600" "database fix is given"
chmod 700 "$GW_HOME"; chmod 600 "$GW_HOME/copilot-gw.db"

echo '{"listen": {"port": -1}}' >"$GW_HOME/config.json"
rc=0; out=$(gw doctor --timeout 2s) || rc=$?
assert_eq "$rc" 1 "a bad config fails"
assert_contains "$(echo "$out" | grep '^fail  config')" "listen.port" "the bad key is named"

rc=0; gw doctor --timeout nope >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "a bad --timeout is a usage error"
done_testing
