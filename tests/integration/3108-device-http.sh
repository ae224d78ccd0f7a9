#!/bin/bash
# SPDX-License-Identifier: ISC
# The device-code login over the admin API: POST /auth/device/start
# answers tx_id, user_code, verification_uri, expires_in, interval and
# message; GET /auth/device/status/{tx} is pending, then complete with the
# new account and a new client key bound to it, shown exactly once (later
# reads give only key_id). The transaction lives in the store: a restart
# while it is pending loses nothing. A denied and an expired login end as
# denied and expired, with no account. Client keys may not start logins;
# bad bodies are 400; unknown transactions 404. Everything is audited and
# no secret reaches the logs.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'

start_github
GW_AUTH=1 start_gw
ADMIN=$(cat "$GW_HOME/admin-key")
H="Authorization: Bearer $ADMIN"

# status TX: GETs the status of TX into $T/body.
status() { req GET "/auth/device/status/$1" -H "$H"; }
# wait_status TX NOT SECONDS: polls until the status is not NOT.
wait_status() {
	_n=$(($3 * 5))
	while [ $_n -gt 0 ]; do
		status "$1"
		[ "$(json "$T/body" 'j["status"]')" != "$2" ] && return 0
		_n=$((_n - 1))
		sleep 0.2
	done
	fail "device login $1 still '$2' after $3 s: $(cat "$T/body")"
}

# --- start ------------------------------------------------------------------------
gh_config '{"device": {"interval": 1, "pending_polls": 3, "login": "devuser"}}'
req POST /auth/device/start -H "$H" -H "$CT" -d '{"provider":"github","label":"dev-laptop"}'
assert_eq "$STATUS" 201 "POST /auth/device/start: 201 (a transaction was created)"
assert_eq "$(json "$T/body" 'sorted(j)')" \
    '["expires_in", "interval", "message", "tx_id", "user_code", "verification_uri"]' \
    "... with tx_id, user_code, verification_uri, expires_in, interval, message"
TX=$(json "$T/body" 'j["tx_id"]')
UC=$(json "$T/body" 'j["user_code"]')
assert_eq "$(gh_state 'j["device_codes"][-1]["user_code"]')" "$UC" \
    "the user code is the one GitHub issued"
assert_contains "$(json "$T/body" 'j["message"]')" "$UC" "the message names the code"
status "$TX"
assert_eq "$STATUS $(json "$T/body" 'j["status"]')" "200 pending" "status: pending"

# --- a restart while pending loses nothing ----------------------------------------
stop_gw
assert_eq "$(sqlite3 -readonly "$GW_HOME/copilot-gw.db" "SELECT status FROM device_tx WHERE id = '$TX'")" \
    pending "the transaction is in the store"
GW_AUTH=1 start_gw
wait_status "$TX" pending 20
assert_eq "$STATUS $(json "$T/body" 'j["status"]')" "200 complete" \
    "after a restart the login completes"
assert_eq "$(json "$T/body" '[j["account"]["login"], j["account"]["label"]]')" \
    '["devuser", "dev-laptop"]' "... with the new account"
KEY_SECRET=$(json "$T/body" 'j["key"]["secret"]')
KEY_ID=$(json "$T/body" 'j["key"]["id"]')
ACCT=$(json "$T/body" 'j["account"]["id"]')
printf '%s\n' "$KEY_SECRET" | grep -Eq '^sk-cgw-[A-Za-z0-9_-]{43}$' ||
    fail "no key secret in the completed status: $(cat "$T/body")"
ok "... and a new client key, shown"
assert_eq "$(json "$T/body" '[j["key"]["tier"], j["key"]["account_id"]]')" \
    "[\"client\", $ACCT]" "the key is a client key bound to the new account"
status "$TX"
assert_eq "$(json "$T/body" '[j["status"], "key" in j, j.get("key_id")]')" \
    "[\"complete\", false, \"$KEY_ID\"]" "a second read shows only the key id, never the secret"
assert_eq "$(gw accounts list --json | json - 'sorted(a["login"] for a in j)')" \
    '["devuser"]' "the account is in the store"
sleep 1.2	# serve picks the new key up
req GET /v1/models -H "Authorization: Bearer $KEY_SECRET"
assert_eq "$STATUS" 200 "the new key works"

# --- denied and expired -----------------------------------------------------------
gh_config '{"device": {"interval": 1, "pending_polls": 1, "outcome": "denied", "login": "nobody"}}'
req POST /auth/device/start -H "$H" -H "$CT" -d '{"provider":"github"}'
TXD=$(json "$T/body" 'j["tx_id"]')
wait_status "$TXD" pending 15
assert_eq "$(json "$T/body" '[j["status"], "key" in j, "account" in j]')" \
    '["denied", false, false]' "a denied login: denied, no key, no account"
gh_config '{"device": {"interval": 1, "pending_polls": 1, "outcome": "expired", "login": "nobody"}}'
req POST /auth/device/start -H "$H" -H "$CT" -d '{"provider":"github"}'
TXE=$(json "$T/body" 'j["tx_id"]')
wait_status "$TXE" pending 15
assert_eq "$(json "$T/body" '[j["status"], "key" in j]')" '["expired", false]' \
    "an expired code: expired, no key"
assert_eq "$(gw accounts list --json | json - 'len(j)')" 1 "neither made an account"

# --- refusals ---------------------------------------------------------------------
gw keys create --label cl --json >"$T/cl.json" || fail "keys create failed"
CL=$(json "$T/cl.json" 'j["secret"]')
sleep 1.2
req POST /auth/device/start -H "Authorization: Bearer $CL" -H "$CT" -d '{"provider":"github"}'
assert_eq "$STATUS" 403 "a client key cannot start a login"
req POST /auth/device/start -H "$CT" -d '{"provider":"github"}'
assert_eq "$STATUS" 401 "no key: 401"
req POST /auth/device/start -H "$H" -H "$CT" -d '{"provider":"gitlab"}'
assert_eq "$STATUS" 400 "an unknown provider: 400"
req POST /auth/device/start -H "$H" -H "$CT" -d '{"provider":"github","label":"key_0123456789abcdef"}'
assert_eq "$STATUS" 400 "a label shaped like a key id: 400"
req POST /auth/device/start -H "$H" -H "$CT" -d 'not json'
assert_eq "$STATUS" 400 "bad JSON: 400"
status tx_nosuchthing
assert_eq "$STATUS" 404 "an unknown transaction: 404"
req GET "/auth/device/status/$TX" -H "Authorization: Bearer $CL"
assert_eq "$STATUS" 403 "a client key cannot read a login's status"

# --- audit and secrets ------------------------------------------------------------
stop_gw
assert_eq "$(gw audit --json | json - 'sorted(set(x["action"] for x in j if x["action"].startswith(("login.", "account.")) or (x["action"] == "key.create" and x["detail"] == "device login")))')" \
    '["account.add", "key.create", "login.complete", "login.fail", "login.start"]' \
    "audited: login.start, login.complete, login.fail, account.add, key.create (device login)"
assert_not_contains "$(cat "$T/gw.log" "$T/gw.out.log" 2>/dev/null)" "${KEY_SECRET:7:20}" \
    "the key secret is in no log"
assert_not_contains "$(sqlite3 -readonly "$GW_HOME/copilot-gw.db" .dump)" "${KEY_SECRET:7:20}" \
    "... nor in the database"
assert_eq "$(sqlite3 -readonly "$GW_HOME/copilot-gw.db" "SELECT count(*) FROM device_tx WHERE status != 'pending' AND device_code != ''")" \
    0 "finished transactions keep no device code"
done_testing
