#!/bin/bash
# SPDX-License-Identifier: ISC
# A running `copilot-gw serve` follows the accounts table changed by other
# processes, without a restart: an account added by `login` serves
# requests within about a second (503 no_account before, 200 after), and
# `accounts remove` takes it away again (503). /healthz lists the
# accounts; no token reaches the gateway's logs.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'

chat() {
	req POST /v1/chat/completions -H "$CT" -d "$CHAT"
}

# wait_status WANT SECONDS: repeats the chat until it answers WANT; sets
# WAITED_MS (fails after SECONDS).
wait_status() {
	_t0=$(date +%s%N)
	_end=$((_t0 + $2 * 1000000000))
	while :; do
		chat
		[ "$STATUS" != "$1" ] || break
		[ "$(date +%s%N)" -lt "$_end" ] ||
		    fail "no $1 within $2 s (last: $STATUS $BODY)"
		sleep 0.1
	done
	WAITED_MS=$((($(date +%s%N) - _t0) / 1000000))
}

healthz_accounts() {
	req GET /healthz
	json "$T/body" "$1"
}

start_github
start_gw

chat
assert_eq "$STATUS" 503 "no account: 503"
assert_eq "$(json "$T/body" 'j["error"]["code"]')" no_account \
    "no account: the code is no_account"
assert_eq "$(healthz_accounts 'j["accounts"]')" "[]" "healthz: no accounts"

# login in another process: serve picks the account up by itself.
login_github
wait_status 200 4
[ "$WAITED_MS" -le 2500 ] ||
    fail "the new account took ${WAITED_MS} ms to be used"
ok "serve uses the account added by login within ${WAITED_MS} ms"
assert_eq "$(json "$T/body" 'j["choices"][0]["message"]["content"]')" \
    "echo: hi" "the answer comes from Copilot"
assert_eq "$(healthz_accounts '[[a["id"], a["label"], a["login"],
    a["provider"]] for a in j["accounts"]]')" '[[1, "octocat", "octocat", "github"]]' \
    "healthz lists the new account"
assert_eq "$(gh_state 'j["chat_calls"]')" 1 "one chat call reached Copilot"

# accounts remove in another process: serve drops it.
gw accounts remove octocat >/dev/null || fail "accounts remove failed"
wait_status 503 4
[ "$WAITED_MS" -le 2500 ] ||
    fail "the removed account was used for ${WAITED_MS} ms"
ok "serve drops the removed account within ${WAITED_MS} ms"
assert_eq "$(json "$T/body" 'j["error"]["code"]')" no_account \
    "after remove: no_account again"
assert_eq "$(healthz_accounts 'j["accounts"]')" "[]" \
    "healthz: the account is gone"
calls=$(gh_state 'j["chat_calls"]')

# Log in again (a new row): used again, with the new GitHub token.
login_github
wait_status 200 4
ok "a new login is used again within ${WAITED_MS} ms"
ID=$(gw accounts list --json | json - 'j[0]["id"]')
assert_eq "$(healthz_accounts '[a["id"] for a in j["accounts"]]')" "[$ID]" \
    "healthz shows the new account"
assert_eq "$(gh_state 'j["chat_calls"]')" $((calls + 1)) \
    "the request reached Copilot"
NEW_GH=$(sqlite3 "$GW_HOME/copilot-gw.db" "select token from accounts")
assert_eq "$(gh_state 'j["token_exchange_log"][-1]["gh_token"]')" "$NEW_GH" \
    "serve exchanged the newly stored GitHub token"

# The same login again (an update of the row): serve switches to the new
# GitHub token at its next exchange, keeping the account.
login_github
NEWER_GH=$(sqlite3 "$GW_HOME/copilot-gw.db" "select token from accounts")
[ "$NEWER_GH" != "$NEW_GH" ] || fail "the re-login did not change the token"
n=0
until [ "$(gh_state 'j["token_exchange_log"][-1]["gh_token"]')" = "$NEWER_GH" ]
do
	n=$((n + 1))
	chat
	[ $n -lt 40 ] || fail "serve kept using the old GitHub token"
	sleep 0.1
done
ok "after a re-login serve exchanges the new GitHub token"
chat
assert_eq "$STATUS" 200 "requests still work after the re-login"
assert_eq "$(healthz_accounts '[a["id"] for a in j["accounts"]]')" "[$ID]" \
    "the re-login kept the account (same id)"

stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"

# The request log's writes (once a second under traffic) do not make serve
# reload its accounts and keys; a change to a key does, once.
reloads() { grep -c '"msg":"accounts and keys reloaded"' "$T/gw.log" || true; }
: >"$T/gw.log"
start_gw --log-level debug
sleep 1
R0=$(reloads)
for _ in $(seq 1 25); do
	chat
	sleep 0.1
done
sleep 1.2
assert_eq "$(reloads)" "$R0" "2.5 s of traffic (request-log writes) reload nothing ($R0 at start)"
gw keys create --label reload-probe >/dev/null || fail "keys create failed"
sleep 1.2
assert_eq "$(reloads)" "$((R0 + 1))" "one key created from the CLI: one reload"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
gh_state 'list(j["gh_tokens"]) + [t["token"] for t in j["copilot_tokens"]]' |
    json - '"\n".join(j)' >"$T/tokens"
cat "$T/gw.log" "$T/gw.out.log" "$T/login.out" "$T/login.err" >"$T/logs"
while read -r tok; do
	[ -n "$tok" ] || continue
	if grep -qF "$tok" "$T/logs"; then
		fail "a token (${tok:0:8}...) is in a log"
	fi
done <"$T/tokens"
ok "no GitHub or Copilot token in serve's logs"
done_testing
