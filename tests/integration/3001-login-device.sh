#!/bin/bash
# SPDX-License-Identifier: ISC
# `copilot-gw login github` through the device flow (upstreams.md 1.1)
# against the GitHub fake: usage errors, the code shown to the user,
# polling no faster than the interval, expired_token, access_denied, the
# code's own lifetime, Ctrl-C, account types that could name another
# host, an account without Copilot, a second login, the private database
# and no token in any output. slow_down is in 3006-login-slow-down.sh.
. "$(dirname "$0")/lib.sh"

CLIENT_ID=Iv1.b507a08c87ecfe98
ALL="$T/all-output.txt"
: >"$ALL"

# run_login ARGS: runs `login github ARGS` (stdin /dev/null); sets LRC,
# LMS (wall time in ms), LOUT and LERR.
run_login() {
	_t0=$(date +%s%N)
	LRC=0
	gw login github "$@" >"$T/login.out" 2>"$T/login.err" </dev/null ||
	    LRC=$?
	LMS=$((($(date +%s%N) - _t0) / 1000000))
	LOUT=$(cat "$T/login.out")
	LERR=$(cat "$T/login.err")
	cat "$T/login.out" "$T/login.err" >>"$ALL"
	[ "$LRC" -lt 128 ] || fail "login github $*: killed by a signal" \
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

# --- usage errors ----------------------------------------------------------
rc=0
gw login >"$T/u.out" 2>"$T/u.err" || rc=$?
assert_eq "$rc" 2 "login without a provider: exit 2"
assert_contains "$(cat "$T/u.err")" github "the usage error lists github"
rc=0
gw login github --bogus >"$T/u.out" 2>"$T/u.err" || rc=$?
assert_eq "$rc" 2 "login github --bogus: exit 2"
assert_contains "$(cat "$T/u.err")" "usage:" "--bogus prints the usage"
rc=0
gw login github extra-arg >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "login github with a stray argument: exit 2"
rc=0
gw login gitlab >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "login with an unknown provider: exit 2"
rc=0
gw login github --label >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "--label without a value: exit 2"
assert_eq "$(gh_state 'j["device_code_requests"]')" 0 \
    "no usage error reached GitHub"

# --- account types that could name another host ------------------------------
for bad in "evil.com/x" "Business" "a b" "x@evil" ""; do
	run_login --account-type "$bad"
	assert_eq "$LRC" 1 "--account-type '$bad' is refused (exit 1)"
	assert_contains "$LERR" "[a-z0-9-]+" \
	    "the refusal of '$bad' names the allowed characters"
done
assert_eq "$(gh_state 'j["device_code_requests"]')" 0 \
    "a refused account type never starts the device flow"

# --- success after two pending polls ---------------------------------------
gh_config '{"device": {"interval": 1, "pending_polls": 2,
    "outcome": "success"}}'
run_login
assert_eq "$LRC" 0 "device-flow login succeeds: exit 0"
D_CODE=$(gh_state 'j["device_codes"][-1]["user_code"]')
assert_contains "$LOUT" "$GH_URL/login/device" \
    "the verification URL is printed"
code_lines=$(grep -cE "^[[:space:]]*${D_CODE}[[:space:]]*\$" "$T/login.out" ||
    true)
assert_eq "$code_lines" 1 "the user code $D_CODE is alone on a line"
assert_contains "$LOUT" "Logged in to GitHub as octocat" \
    "the outcome names the GitHub login"
assert_eq "$(polls 'D["client_id"]')" "$CLIENT_ID" \
    "the device code is asked with the Copilot client id"
assert_eq "$(polls 'D["scope"]')" "read:user" "the scope is read:user"
assert_eq "$(polls '[p["answer"] for p in P]')" \
    '["authorization_pending", "authorization_pending", "success"]' \
    "three polls: pending, pending, success (none too fast)"
assert_eq "$(polls 'round(P[0]["time"] - D["issued"], 3) >= 0.9')" true \
    "the first poll waits the interval"
assert_eq "$(polls 'all(p["since_prev"] >= 0.9 for p in P[1:])')" true \
    "polls are never closer than the 1 s interval"
assert_eq "$(polls 'all(p["since_prev"] < 2.5 for p in P[1:])')" true \
    "polls keep to the interval (not much slower)"
[ "$LMS" -lt 6000 ] || fail "login took ${LMS} ms (3 polls at 1 s)"
ok "the login took ${LMS} ms"
assert_eq "$(gh_state 'j["user_calls"]')" 1 "GET /user was asked once"
assert_eq "$(gh_state 'j["token_exchanges"]')" 1 \
    "Copilot access was checked with one token exchange"
GH_TOKEN1=$(gh_state 'list(j["gh_tokens"])[0]')
assert_eq "$(gh_state 'j["token_exchange_log"][0]["gh_token"]')" \
    "$GH_TOKEN1" "the token check used the new GitHub token"
assert_eq "$(naccounts)" 1 "the account is stored"
gw accounts list >"$T/list.out"
cat "$T/list.out" >>"$ALL"
assert_contains "$(cat "$T/list.out")" octocat "accounts list shows octocat"
assert_eq "$(gw accounts show --json octocat | json - \
    '[j["login"], j["provider"], j["account_type"], j["github_url"],
      j["api_url"]]')" \
    "[\"octocat\", \"github\", \"individual\", \"$GH_URL\", \"$GH_URL\"]" \
    "the account has the login, type and URLs"

# The database is private; the token is in it (and only there).
DB=$GW_HOME/copilot-gw.db
assert_eq "$(stat -c %a "$DB")" 600 "the database is 0600 after login"
for f in "$DB"-wal "$DB"-shm "$DB"-journal; do
	[ ! -e "$f" ] || [ "$(stat -c %a "$f")" = 600 ] ||
	    fail "$f is not 0600"
done
ok "database side files (if any) are 0600"
assert_eq "$(sqlite3 "$DB" "select token from accounts where login='octocat'")" \
    "$GH_TOKEN1" "the GitHub token is stored in accounts.token"

# --- expired_token and access_denied ---------------------------------------
gh_config '{"device": {"interval": 1, "pending_polls": 0, "slow_down_polls": [],
    "outcome": "expired"}}'
run_login
assert_eq "$LRC" 1 "expired_token: exit 1"
assert_contains "$LERR" "expired" "expired_token: the message says expired"
assert_not_contains "$LOUT" "Logged in" "expired_token: no success message"
assert_eq "$(polls 'len(P)')" 1 "expired_token: polling stops"

gh_config '{"device": {"outcome": "denied"}}'
run_login
assert_eq "$LRC" 1 "access_denied: exit 1"
assert_contains "$LERR" "denied" "access_denied: the message says denied"
assert_eq "$(polls 'len(P)')" 1 "access_denied: polling stops"
assert_eq "$(naccounts)" 1 "failed logins store nothing"

# --- the code runs out (expires_in) while still pending --------------------
gh_config '{"device": {"outcome": "pending", "interval": 1, "expires_in": 3}}'
run_login
assert_eq "$LRC" 1 "expires_in passed: exit 1"
assert_contains "$LERR" "expired" "expires_in passed: the message says expired"
[ "$LMS" -ge 2500 ] && [ "$LMS" -lt 5500 ] ||
    fail "expires_in 3: the login ended after ${LMS} ms"
ok "expires_in 3: the login ends at the code's lifetime (${LMS} ms)"
assert_eq "$(polls 'all(p["time"] <= D["expires_at"] + 0.5 for p in P)')" \
    true "no poll after the code's lifetime"

# --- Ctrl-C while waiting ---------------------------------------------------
gh_config '{"device": {"outcome": "pending", "interval": 1, "expires_in": 900}}'
# A background job of a non-interactive shell ignores SIGINT: give the
# login a terminal's default disposition, as a user at a prompt has.
$PY -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$GW_BIN" login github \
    >"$T/cc.out" 2>"$T/cc.err" </dev/null &
CC_PID=$!
_PIDS="$_PIDS $CC_PID"
n=0
until grep -q "$GH_URL/login/device" "$T/cc.out" 2>/dev/null; do
	n=$((n + 1))
	[ $n -lt 200 ] || fail "the login never showed its code"
	sleep 0.05
done
sleep 1.5
[ "$(polls 'len(P)')" -ge 1 ] || fail "the login did not poll before Ctrl-C"
t0=$(date +%s%N)
kill -INT "$CC_PID"
rc=0
wait "$CC_PID" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
_PIDS=$(echo "$_PIDS" | sed "s/ $CC_PID\b//")
cat "$T/cc.out" "$T/cc.err" >>"$ALL"
assert_eq "$rc" 1 "Ctrl-C: exit 1"
assert_contains "$(cat "$T/cc.err")" "login cancelled" \
    "Ctrl-C: 'login cancelled'"
[ "$ms" -lt 2000 ] || fail "Ctrl-C: the login took ${ms} ms to exit"
ok "Ctrl-C: the login exits promptly (${ms} ms)"
assert_not_contains "$(cat "$T/cc.err")" Sanitizer "Ctrl-C: no sanitizer report"
npolls=$(polls 'len(P)')
sleep 1.2
assert_eq "$(polls 'len(P)')" "$npolls" "Ctrl-C: polling stopped"
assert_eq "$(naccounts)" 1 "Ctrl-C: no account stored"

# --- a GitHub account without Copilot -----------------------------------------
gh_config '{"device": {"outcome": "success", "login": "nocopilot"},
    "no_copilot_logins": ["nocopilot"]}'
run_login
assert_eq "$LRC" 1 "no Copilot seat: exit 1"
assert_contains "$LERR" Copilot "no Copilot seat: the message mentions Copilot"
assert_contains "$LERR" nocopilot "no Copilot seat: the message names the login"
gh_config '{"no_copilot_status": 404}'
run_login
assert_eq "$LRC" 1 "no Copilot seat (404): exit 1"
assert_contains "$LERR" Copilot "no Copilot seat (404): the message mentions Copilot"
assert_eq "$(naccounts)" 1 "an account without Copilot is not stored"

# --- a second GitHub login gets its own account ------------------------------
gh_config '{"device": {"login": "hubot"}}'
run_login --label bot --account-type business
assert_eq "$LRC" 0 "a second login (hubot) succeeds"
assert_contains "$LOUT" "Logged in to GitHub as hubot" "the outcome names hubot"
assert_eq "$(gw accounts list --json | json - \
    '[[a["label"], a["login"], a["account_type"]] for a in j]')" \
    '[["octocat", "octocat", "individual"], ["bot", "hubot", "business"]]' \
    "hubot has its own account with the label and type given"

# --- no token in any output --------------------------------------------------
gh_state 'list(j["gh_tokens"]) + [t["token"] for t in j["copilot_tokens"]]' |
    json - '"\n".join(j)' >"$T/tokens"
[ "$(wc -l <"$T/tokens")" -ge 5 ] || fail "expected at least 5 tokens"
while read -r tok; do
	[ -n "$tok" ] || continue
	if grep -qF "$tok" "$ALL"; then
		fail "a token (${tok:0:8}...) was printed"
	fi
done <"$T/tokens"
ok "no GitHub or Copilot token in any command output"
assert_not_contains "$(cat "$ALL")" Sanitizer "no sanitizer report from login"
assert_not_contains "$(cat "$ALL")" "runtime error" "no UBSan report from login"
done_testing
