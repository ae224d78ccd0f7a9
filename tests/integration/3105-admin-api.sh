#!/bin/bash
# SPDX-License-Identifier: ISC
# The HTTP admin plane (admin keys): GET/POST /auth/keys (201, the secret
# once), GET/DELETE /auth/keys/{id}, POST /auth/keys/{id}/label and
# /rotate (with grace_seconds), GET /accounts, DELETE /accounts/{id}; bad
# input gets 400/404 in the OpenAI shape. Then the audit trail (`audit`,
# `audit --json`, --since, and the table itself): keys created, labelled,
# rotated and revoked, accounts added by login and removed, admin calls,
# and auth failures recorded by a short hash prefix only, never the
# secret that was presented.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
DB=$GW_HOME/copilot-gw.db
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}'

# admin METHOD PATH [BODY]: an admin-key request.
admin() {
	if [ $# -gt 2 ]; then
		req "$1" "$2" -H "Authorization: Bearer $ADMIN_SECRET" -H "$CT" \
		    -d "$3"
	else
		req "$1" "$2" -H "Authorization: Bearer $ADMIN_SECRET"
	fi
}

# code SECRET: the status of a chat request with SECRET.
code() {
	curl -sS -o "$T/code.body" -w '%{http_code}' -H "$CT" \
	    -H "Authorization: Bearer $1" -d "$CHAT" \
	    "$GW_URL/v1/chat/completions" || echo 000
}

# wait_code SECRET WANT SECONDS: polls until a request with SECRET gets WANT.
wait_code() {
	_n=$(($3 * 10))
	until [ "$(code "$1")" = "$2" ]; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || fail "still not $2 after $3 s: $(cat "$T/code.body")"
		sleep 0.1
	done
}

# logins: the GitHub logins whose Copilot tokens the chat calls used.
logins() {
	gh_state '[{e["token"]: e["login"] for e in j["copilot_tokens"]}.get(a["token"]) for a in j["api_log"] if a["path"] == "/cp/chat/completions"]'
}

# is_error STATUS CODE WHAT: the last answer is an OpenAI error.
is_error() {
	assert_eq "$STATUS $(json "$T/body" 'isinstance(j["error"]["message"], str) and j["error"]["code"]')" \
	    "$1 $2" "$3: $1 $2"
}

sha256() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

start_github
login_github
gh_config '{"device": {"login": "hubot"}}'
login_github --label second
ACCT1=$(gw accounts list --json | json - '[a["id"] for a in j if a["login"] == "octocat"][0]')
ACCT2=$(gw accounts list --json | json - '[a["id"] for a in j if a["login"] == "hubot"][0]')
mkkey ADMIN --tier admin --label boss
GW_AUTH=1 start_gw

# --- GET /auth/keys ------------------------------------------------------------
admin GET /auth/keys
assert_eq "$STATUS" 200 "GET /auth/keys: 200"
assert_eq "$(json "$T/body" '[j["object"], [k["id"] for k in j["data"]]]')" \
    "[\"list\", [\"$ADMIN_ID\"]]" "GET /auth/keys: a list with the admin key"
assert_eq "$(json "$T/body" 'any("secret" in k or "hash" in k for k in j["data"])')" \
    false "GET /auth/keys: no secret or hash member"
assert_not_contains "$BODY" "${ADMIN_SECRET:7}" "GET /auth/keys: no secret"
assert_not_contains "$BODY" "$(sha256 "$ADMIN_SECRET")" "GET /auth/keys: no hash"

# --- POST /auth/keys ------------------------------------------------------------
admin POST /auth/keys "{\"label\":\"api-made\",\"models\":\"gpt-4o,claude-*\",\"rpm\":50,\"tpm\":100000,\"max_concurrent\":2,\"expires_in\":3600,\"account_id\":$ACCT1}"
assert_eq "$STATUS" 201 "POST /auth/keys: 201"
cp "$T/body" "$T/created.json"
K_SECRET=$(json "$T/created.json" 'j["secret"]')
K_ID=$(json "$T/created.json" 'j["id"]')
printf '%s\n' "$K_SECRET" | grep -Eq '^sk-cgw-[A-Za-z0-9_-]{43}$' ||
    fail "POST /auth/keys: secret '$K_SECRET'"
ok "POST /auth/keys: the answer has the secret"
assert_eq "$(json "$T/created.json" '[j["label"], j["tier"], j["models"], j["rpm"], j["tpm"], j["max_concurrent"], j["account_id"], j["status"], j["expires_at"] is not None]')" \
    "[\"api-made\", \"client\", \"gpt-4o,claude-*\", 50, 100000, 2, $ACCT1, \"active\", true]" \
    "POST /auth/keys: every field is kept"
assert_eq "$(sqlite3 -readonly "$DB" "SELECT hash FROM keys WHERE id = '$K_ID'")" \
    "$(sha256 "$K_SECRET")" "POST /auth/keys: only the hash is stored"
wait_code "$K_SECRET" 200 5
ok "the key made over HTTP works"
admin GET "/auth/keys/$K_ID"
assert_eq "$STATUS" 200 "GET /auth/keys/{id}: 200"
assert_eq "$(json "$T/body" '[j["id"], j["label"], "secret" in j]')" \
    "[\"$K_ID\", \"api-made\", false]" "GET /auth/keys/{id}: the key, no secret"
admin GET /auth/keys
assert_not_contains "$BODY" "${K_SECRET:7}" "the secret is not shown again"
admin POST /auth/keys '{"tier":"admin","label":"second-admin"}'
assert_eq "$STATUS $(json "$T/body" 'j["tier"]')" "201 admin" \
    "POST /auth/keys can make an admin key"
admin POST /auth/keys '{}'
assert_eq "$STATUS $(json "$T/body" '[j["tier"], j["label"]]')" \
    '201 ["client", ""]' "POST /auth/keys with {}: a client key"
admin POST /auth/keys ''
assert_eq "$STATUS" 201 "POST /auth/keys with no body: a client key"

# --- bad input --------------------------------------------------------------------
NK=$(sqlite3 -readonly "$DB" "SELECT count(*) FROM keys WHERE length(label) <= 64")
admin POST /auth/keys '{"tier":"root"}'
is_error 400 invalid_field "tier root"
admin POST /auth/keys '{"rpm":-1}'
is_error 400 invalid_field "rpm -1"
admin POST /auth/keys '{"rpm":"ten"}'
is_error 400 invalid_field "rpm as a string"
admin POST /auth/keys '{"account_id":9999}'
is_error 400 account_not_found "an unknown account"
admin POST /auth/keys "{\"label\":\"$(printf 'y%.0s' $(seq 1 65))\"}"
soft_eq "$STATUS" 400 "POST /auth/keys with a 65-character label is refused (labels are at most 64)"
admin POST /auth/keys '{"label":'
is_error 400 invalid_json "truncated JSON"
admin POST /auth/keys '[1,2]'
is_error 400 invalid_json "a JSON array"
assert_eq "$(sqlite3 -readonly "$DB" "SELECT count(*) FROM keys WHERE length(label) <= 64")" "$NK" \
    "bad input created no key"
# A list given in the wrong type must not widen the key to every model.
admin POST /auth/keys '{"label":"typed","models":["gpt-4o"]}'
if [ "$STATUS" = 201 ]; then
	soft_eq "$(json "$T/body" 'j["models"]')" gpt-4o \
	    "POST /auth/keys with models as an array: not silently 'all models'"
else
	soft_eq "$STATUS" 400 "POST /auth/keys with models as an array: 400"
fi
admin GET /auth/keys/key_zzzzzzzzzzzzzzzz
is_error 404 key_not_found "GET an unknown key"
admin GET /auth/keys/api-made
is_error 404 key_not_found "keys are addressed by id, not label"
admin POST /auth/keys/key_zzzzzzzzzzzzzzzz/label '{"label":"x"}'
is_error 404 key_not_found "label an unknown key"
admin POST /auth/keys/key_zzzzzzzzzzzzzzzz/rotate '{}'
is_error 404 key_not_found "rotate an unknown key"
admin DELETE /auth/keys/key_zzzzzzzzzzzzzzzz
is_error 404 key_not_found "revoke an unknown key"
admin POST "/auth/keys/$K_ID/frobnicate" '{}'
assert_eq "$STATUS" 404 "an unknown key action: 404"
admin PUT /auth/keys '{}'
assert_eq "$STATUS" 405 "PUT /auth/keys: 405"

# --- label ------------------------------------------------------------------------
admin POST "/auth/keys/$K_ID/label" '{"label":"renamed"}'
assert_eq "$STATUS $(json "$T/body" '[j["id"], j["label"]]')" \
    "200 [\"$K_ID\", \"renamed\"]" "POST /auth/keys/{id}/label"
assert_eq "$(gw keys show --json "$K_ID" | json - 'j["label"]')" renamed \
    "the CLI sees the new label"
admin POST "/auth/keys/$K_ID/label" '{}'
is_error 400 missing_field "label without a label"
admin POST "/auth/keys/$K_ID/label" "{\"label\":\"$(printf 'y%.0s' $(seq 1 65))\"}"
is_error 400 invalid_field "a 65-character label"
for bad in 'key_0123456789abcdef' 'tab\there' "sk-cgw-$(printf 'A%.0s' $(seq 1 43))"; do
	admin POST "/auth/keys/$K_ID/label" "$($PY -c 'import json,sys; print(json.dumps({"label": sys.argv[1].replace("\\t", "\t")}))' "$bad")"
	is_error 400 invalid_field "label '${bad:0:12}...' (an id, a control character, a secret) is refused"
done

# --- rotate with a grace period, then without ----------------------------------------
T0=$(date +%s.%N)
admin POST "/auth/keys/$K_ID/rotate" '{"grace_seconds": 5}'
assert_eq "$STATUS" 200 "POST /auth/keys/{id}/rotate: 200"
cp "$T/body" "$T/rotated.json"
assert_eq "$(code "$K_SECRET")" 200 "grace: the old secret still works"
K2_SECRET=$(json "$T/rotated.json" 'j["secret"]')
assert_eq "$(json "$T/rotated.json" '[j["id"], j["status"], j["previous_secret_valid_until"] is not None, j["prefix"]]')" \
    "[\"$K_ID\", \"rotating\", true, \"${K2_SECRET:0:11}...\"]" \
    "rotate: same id, rotating, the new secret's prefix"
wait_code "$K2_SECRET" 200 3
ok "grace: the new secret works"
wait_code "$K_SECRET" 401 10
DT=$($PY -c "import time; print(round(time.time() - $T0, 2))")
assert_eq "$($PY -c "print($DT >= 4.8)")" True \
    "grace_seconds 5: the old secret is refused after the grace ($DT s)"
assert_eq "$(code "$K2_SECRET")" 200 "the new secret keeps working"
admin POST "/auth/keys/$K_ID/rotate"
assert_eq "$STATUS" 200 "rotate without a body: 200"
K3_SECRET=$(json "$T/body" 'j["secret"]')
assert_eq "$(json "$T/body" '[j["status"], j["previous_secret_valid_until"]]')" \
    '["active", null]' "without grace: no previous secret"
wait_code "$K2_SECRET" 401 3
ok "without grace the previous secret is refused at once"
wait_code "$K3_SECRET" 200 3
ok "the newest secret works"
admin POST "/auth/keys/$K_ID/rotate" '{"grace_seconds": -5}'
is_error 400 invalid_field "a negative grace"
admin POST "/auth/keys/$K_ID/rotate" '{"grace_seconds": 9223372036854775807}'
is_error 400 invalid_field "a grace whose milliseconds overflow is refused, not wrapped"
admin POST /auth/keys '{"label":"forever","expires_in": 9223372036854775807}'
is_error 400 invalid_field "an expires_in whose milliseconds overflow is refused"

# --- revoke ----------------------------------------------------------------------------
admin DELETE "/auth/keys/$K_ID"
assert_eq "$STATUS $(json "$T/body" '[j["status"], j["revoked_at"] is not None]')" \
    '200 ["revoked", true]' "DELETE /auth/keys/{id}: revoked"
wait_code "$K3_SECRET" 401 3
ok "the revoked key is refused"
admin DELETE "/auth/keys/$K_ID"
is_error 404 key_not_found "revoking twice"
admin POST "/auth/keys/$K_ID/rotate" '{}'
is_error 404 key_not_found "a revoked key cannot be rotated"

# --- accounts ------------------------------------------------------------------------------
admin GET /accounts
assert_eq "$STATUS" 200 "GET /accounts: 200"
assert_eq "$(json "$T/body" '[j["object"], sorted(a["login"] for a in j["data"])]')" \
    '["list", ["hubot", "octocat"]]' "GET /accounts: both accounts"
assert_eq "$(json "$T/body" 'sorted(set(k for a in j["data"] for k in a if "token" in k))')" \
    '[]' "GET /accounts: no token member"
GH_TOKENS=$(gh_state '" ".join(list(j["gh_tokens"].keys()) + [e["token"][:40] for e in j["copilot_tokens"]])')
for t in $GH_TOKENS; do
	assert_not_contains "$BODY" "$t" "GET /accounts: no GitHub/Copilot token ${t:0:6}..."
done
admin POST /auth/keys "{\"label\":\"hubot-only\",\"account_id\":$ACCT2}"
assert_eq "$STATUS" 201 "a key bound to the second account"
HB_SECRET=$(json "$T/body" 'j["secret"]')
wait_code "$HB_SECRET" 200 5
assert_eq "$(logins | json - 'j[-1]')" hubot "it spends hubot"
admin DELETE "/accounts/$ACCT2"
assert_eq "$STATUS $(json "$T/body" '[j["login"], j["deleted"]]')" \
    '200 ["hubot", true]' "DELETE /accounts/{id}"
assert_eq "$(gw accounts list --json | json - '[a["login"] for a in j]')" \
    '["octocat"]' "the account is gone from the store"
admin GET /accounts
assert_eq "$(json "$T/body" '[a["login"] for a in j["data"]]')" '["octocat"]' \
    "GET /accounts: one left"
# The manual: "If the account is removed, the key's requests get status
# 503" -- never another account's.
sleep 1.2	# serve reloads the accounts
N_OCTO=$(logins | json - 'j.count("octocat")')
HB_CODE=$(code "$HB_SECRET")
soft_eq "$HB_CODE" 503 "a key bound to a removed account gets 503"
soft_eq "$(logins | json - 'j.count("octocat")')" "$N_OCTO" \
    "a key bound to a removed account does not spend another account (octocat)"
admin DELETE "/accounts/$ACCT2"
is_error 404 account_not_found "removing it twice"
admin DELETE /accounts/nosuch
is_error 404 account_not_found "DELETE /accounts/nosuch"
admin GET /accounts/1
assert_eq "$STATUS" 405 "GET /accounts/{id}: 405"

# --- auth failures: only a short hash prefix is audited ----------------------------------
BAD1=sk-cgw-$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)
BAD2="garbage-secret-$RANDOM-$RANDOM-$RANDOM"
req GET /v1/models -H "Authorization: Bearer $BAD1"
assert_eq "$STATUS" 401 "a bad well-formed key: 401"
req POST /v1/chat/completions -H "x-api-key: $BAD2" -H "$CT" -d "$CHAT"
assert_eq "$STATUS" 401 "a garbage key: 401"
req GET /auth/keys -H "Authorization: Bearer $BAD1"
assert_eq "$STATUS" 401 "a bad key on an admin route: 401"
stop_gw
assert_eq "$GW_STATUS" 0 "serve stopped cleanly (and flushed the audit rows)"

# --- the audit trail ---------------------------------------------------------------------
gw audit --json >"$T/audit.json" || fail "audit --json failed"
gw audit >"$T/audit.txt" || fail "audit failed"
AJ() { json "$T/audit.json" "$1"; }
assert_eq "$(AJ "sorted(set(x['action'] for x in j) & {'key.create', 'key.label', 'key.rotate', 'key.revoke', 'account.add', 'account.remove', 'admin.call', 'auth.failure'})")" \
    '["account.add", "account.remove", "admin.call", "auth.failure", "key.create", "key.label", "key.revoke", "key.rotate"]' \
    "audit --json: every kind of event"
assert_eq "$(AJ "[x['action'] for x in j if x['target'] == '$K_ID' and x['action'].startswith('key.')]")" \
    '["key.create", "key.label", "key.rotate", "key.rotate", "key.revoke"]' \
    "the HTTP-made key's history, in order"
assert_eq "$(AJ "sorted(set(x['actor'] for x in j if x['target'] == '$K_ID' and x['action'].startswith('key.')))")" \
    "[\"$ADMIN_ID\"]" "admin changes are audited under the admin key's id"
assert_eq "$(AJ "[x['detail'] for x in j if x['target'] == '$K_ID' and x['action'] == 'key.label']")" \
    '["renamed"]' "key.label records the new label"
assert_eq "$(AJ "sorted(x['detail'] for x in j if x['action'] == 'account.add')")" \
    '["hubot", "octocat"]' "account.add for both logins"
assert_eq "$(AJ "[x['detail'] for x in j if x['action'] == 'account.remove']")" \
    '["hubot"]' "account.remove for the removed account"
assert_eq "$(AJ "sorted(set(x['target'] for x in j if x['action'] == 'admin.call'))")" \
    "$($PY -c 'import json,sys; print(json.dumps(sorted(sys.argv[1:])))' /accounts "/accounts/$ACCT2" /accounts/nosuch /auth/keys "/auth/keys/$K_ID" "/auth/keys/$K_ID/label" "/auth/keys/$K_ID/rotate" /auth/keys/key_zzzzzzzzzzzzzzzz /auth/keys/key_zzzzzzzzzzzzzzzz/label /auth/keys/key_zzzzzzzzzzzzzzzz/rotate)" \
    "admin.call rows name the admin paths that ran"
assert_eq "$(AJ "sorted(set(x['actor'] for x in j if x['action'] == 'admin.call'))")" \
    "[\"$ADMIN_ID\"]" "admin.call rows name the calling key"
H1=sha256:$(sha256 "$BAD1" | cut -c1-8)
H2=sha256:$(sha256 "$BAD2" | cut -c1-8)
assert_eq "$(AJ "[sum(1 for x in j if x['action'] == 'auth.failure' and x['detail'] == h) for h in ('$H1', '$H2')]")" \
    '[2, 1]' "auth.failure rows carry sha256:<8 hex> of what was presented ($H1 twice, $H2 once)"
assert_eq "$(AJ "sorted(set(x['target'] for x in j if x['action'] == 'auth.failure' and x['target'] != ''))")" \
    "[\"$K_ID\"]" "refused old secrets of a known key name the key"
assert_eq "$(AJ "all(len(x['detail']) == 15 and x['detail'].startswith('sha256:') for x in j if x['action'] == 'auth.failure')")" \
    true "every auth.failure detail is sha256: and 8 hex digits"
assert_contains "$(cat "$T/audit.txt")" "auth.failure" "audit (text) shows auth failures"
assert_contains "$(cat "$T/audit.txt")" "account.remove" "audit (text) shows account removal"
sqlite3 -readonly "$DB" "SELECT * FROM audit" >"$T/audit.rows"
for s in "$BAD1" "$BAD2" "$ADMIN_SECRET" "$K_SECRET" "$K2_SECRET" "$K3_SECRET"; do
	for f in "$T/audit.rows" "$T/audit.json" "$T/audit.txt" "$T/gw.log"; do
		assert_not_contains "$(cat "$f")" "${s:7:20}" \
		    "${s:0:10}... is not in $(basename "$f")"
	done
done
assert_not_contains "$(cat "$T/audit.rows")" "$(sha256 "$BAD1" | cut -c1-12)" \
    "not even 12 hex digits of a bad key's hash"

# --- audit --since ---------------------------------------------------------------------------
sleep 2.2
gw keys create --label late >/dev/null
gw audit --since 2s --json >"$T/since.json" || fail "audit --since failed"
assert_eq "$(json "$T/since.json" '[x["action"] for x in j]')" '["key.create"]' \
    "audit --since 2s: only the newest event"
assert_eq "$(gw audit --since 1h --json | json - 'len(j)')" \
    "$(gw audit --json | json - 'len(j)')" "audit --since 1h: everything"

done_testing
