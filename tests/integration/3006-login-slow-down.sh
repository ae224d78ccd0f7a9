#!/bin/bash
# SPDX-License-Identifier: ISC
# `copilot-gw login github`: RFC 8628 slow_down during the device flow
# (upstreams.md 1.1) against the GitHub fake. With a new interval in the
# answer the gateway polls at that interval; without one it adds 5 s.
# Either way it never polls faster than asked (the fake answers a poll
# that comes too early with another slow_down) and tells the user.
. "$(dirname "$0")/lib.sh"

ALL="$T/all-output.txt"
: >"$ALL"

# run_login: runs `login github` (stdin /dev/null); sets LRC and LERR.
run_login() {
	LRC=0
	gw login github >"$T/login.out" 2>"$T/login.err" </dev/null || LRC=$?
	LERR=$(cat "$T/login.err")
	cat "$T/login.out" "$T/login.err" >>"$ALL"
	[ "$LRC" -lt 128 ] || fail "login github: killed by a signal" \
	    "(exit $LRC): $(tail -n 3 "$T/login.err")"
}

# polls EXPR: EXPR over the polls of the newest device code: P (list of
# {time, poll, answer, interval, since_prev}) and D (the code's entry).
polls() {
	gh_state "(lambda D: (lambda P: $1)([p for p in j['device_polls']
	    if p['device_code'] == D['device_code']]))(j['device_codes'][-1])"
}

naccounts() {
	gw accounts list --json | json - 'len(j)'
}

start_github
# A first login, so that the later ones are re-logins of the same account.
gh_config '{"device": {"interval": 1, "pending_polls": 0}}'
run_login
assert_eq "$LRC" 0 "a plain login succeeds"

# --- slow_down with a new interval -----------------------------------------
gh_config '{"device": {"interval": 1, "pending_polls": 2,
    "slow_down_polls": [2], "slow_down_interval": 2}}'
run_login
assert_eq "$LRC" 0 "login with a slow_down succeeds"
assert_eq "$(polls '[p["answer"] for p in P]')" \
    '["authorization_pending", "slow_down", "authorization_pending", "success"]' \
    "only the scripted poll got slow_down (never polled too fast)"
assert_eq "$(polls 'P[1]["since_prev"] >= 0.9 and P[1]["since_prev"] < 1.9')" \
    true "before slow_down the polls are 1 s apart"
assert_eq "$(polls 'all(p["since_prev"] >= 1.9 for p in P[2:])')" true \
    "after slow_down (interval 2) polls are at least 2 s apart"
assert_eq "$(polls 'all(p["since_prev"] < 3.5 for p in P[2:])')" true \
    "after slow_down the polls keep to the new 2 s interval"
assert_contains "$LERR" "slow" "the user is told GitHub asked to slow down"
assert_eq "$(naccounts)" 1 "the same login again: still one account"

# --- slow_down without an interval: add 5 s (RFC 8628 3.5) -----------------
gh_config '{"device": {"interval": 1, "pending_polls": 0,
    "slow_down_polls": [1], "slow_down_interval": null}}'
run_login
assert_eq "$LRC" 0 "login with a bare slow_down succeeds"
assert_eq "$(polls '[p["answer"] for p in P]')" '["slow_down", "success"]' \
    "slow_down then success"
assert_eq "$(polls 'P[1]["since_prev"] >= 5.9')" true \
    "a bare slow_down adds 5 s to the interval"
assert_eq "$(polls 'P[1]["since_prev"] < 8')" true \
    "the next poll comes at the new interval"

# --- no token in any output --------------------------------------------------
gh_state 'list(j["gh_tokens"]) + [t["token"] for t in j["copilot_tokens"]]' |
    json - '"\n".join(j)' >"$T/tokens"
while read -r tok; do
	[ -n "$tok" ] || continue
	if grep -qF "$tok" "$ALL"; then
		fail "a token (${tok:0:8}...) was printed"
	fi
done <"$T/tokens"
ok "no GitHub or Copilot token in any command output"
assert_not_contains "$(cat "$ALL")" Sanitizer "no sanitizer report from login"
done_testing
