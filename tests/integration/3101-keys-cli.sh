#!/bin/bash
# SPDX-License-Identifier: ISC
# `copilot-gw keys`: the secret format (sk-cgw- + 43 base64url characters),
# shown exactly once (create, rotate, recover-admin) and never by list or
# show, which give only the public id and a masked prefix; the store keeps
# only the SHA-256 hash (checked with sqlite3, and the database files hold
# no secret at all); label, tier, bound account, allowed models, limits,
# expiry and the created/last-used/rotated/revoked times; --json shapes;
# lookups by id or label; usage errors exit 2, other failures 1; and with
# serve running, last_used_at is set shortly after a request (batched).
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
DB=$GW_HOME/copilot-gw.db

# sq SQL: one query on the database (read-only).
sq() {
	sqlite3 -readonly -batch -noheader "$DB" "$1"
}

# sha256 STRING: the hex SHA-256 of STRING (no newline).
sha256() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# count_of HAYSTACK NEEDLE: how many times NEEDLE occurs in HAYSTACK.
count_of() {
	printf '%s\n' "$1" | grep -oF -- "$2" | wc -l | tr -d ' '
}

# exit_code CMD...: prints the exit status of the command (output to $T).
exit_code() {
	_rc=0
	"$@" >"$T/ec.out" 2>"$T/ec.err" || _rc=$?
	echo "$_rc"
}

SECRET_RE='^sk-cgw-[A-Za-z0-9_-]{43}$'
ID_RE='^key_[a-z2-7]{16}$'

# --- create --json: the shape of a new key ----------------------------------
gw keys create --label cli-a --json >"$T/a.json" ||
    fail "keys create --json failed"
read -r A_SECRET A_ID <<EOF
$(json "$T/a.json" 'j["secret"] + " " + j["id"]')
EOF
printf '%s\n' "$A_SECRET" | grep -Eq "$SECRET_RE" ||
    fail "secret format: '$A_SECRET'"
ok "the secret is sk-cgw- and 43 base64url characters"
printf '%s\n' "$A_ID" | grep -Eq "$ID_RE" || fail "id format: '$A_ID'"
ok "the public id is key_ and 16 characters"
assert_eq "$(json "$T/a.json" 'j["prefix"]')" "${A_SECRET:0:11}..." \
    "the masked prefix is sk-cgw- and 4 secret characters"
assert_eq "$(json "$T/a.json" '[j["label"], j["tier"], j["status"]]')" \
    '["cli-a", "client", "active"]' "label, tier client (default), active"
assert_eq "$(json "$T/a.json" '[j["account_id"], j["models"], j["rpm"], j["tpm"], j["max_concurrent"], j["expires_at"]]')" \
    '[null, "", 0, 0, 0, null]' "defaults: no account, all models, no limits, no expiry"
assert_eq "$(json "$T/a.json" '[j["last_used_at"], j["rotated_at"], j["revoked_at"], j["previous_secret_valid_until"]]')" \
    '[null, null, null, null]' "a new key was never used, rotated or revoked"
json "$T/a.json" 'j["created_at"]' | grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' ||
    fail "created_at: $(json "$T/a.json" 'j["created_at"]')"
ok "created_at is a UTC time"
assert_eq "$(json "$T/a.json" '"hash" in j or any("hash" in k for k in j)')" \
    false "the JSON has no hash member"

# --- create (text): the secret once -----------------------------------------
gw keys create --label cli-b >"$T/b.out" 2>"$T/b.err" ||
    fail "keys create failed: $(cat "$T/b.err")"
B_SECRET=$(grep -Eo 'sk-cgw-[A-Za-z0-9_-]{43}' "$T/b.out" | head -n1)
[ -n "$B_SECRET" ] || fail "keys create printed no secret: $(cat "$T/b.out")"
assert_eq "$(count_of "$(cat "$T/b.out" "$T/b.err")" "$B_SECRET")" 1 \
    "keys create prints the secret exactly once"
B_ID=$(grep -Eo 'key_[a-z2-7]{16}' "$T/b.out" | head -n1)
assert_eq "$(gw keys show --json "$B_ID" | json - 'j["label"]')" cli-b \
    "the printed id names the key"
[ "$A_SECRET" != "$B_SECRET" ] || fail "two keys got the same secret"
ok "two keys get different secrets"

# --- list and show never print a secret -------------------------------------
gw keys list >"$T/list.txt" || fail "keys list failed"
gw keys list --json >"$T/list.json" || fail "keys list --json failed"
gw keys show cli-a >"$T/show.txt" || fail "keys show failed"
gw keys show --json "$A_ID" >"$T/show.json" || fail "keys show --json failed"
ALL_OUT=$(cat "$T/list.txt" "$T/list.json" "$T/show.txt" "$T/show.json")
for s in "$A_SECRET" "$B_SECRET"; do
	assert_not_contains "$ALL_OUT" "${s:11:20}" \
	    "list/show do not print secret ${s:0:11}..."
done
assert_contains "$(cat "$T/list.txt")" "$A_ID" "keys list names the key by id"
assert_contains "$(cat "$T/list.txt")" "${A_SECRET:0:11}..." \
    "keys list shows the masked prefix"
assert_eq "$(json "$T/list.json" 'sorted(x["id"] for x in j)')" \
    "$($PY -c 'import json,sys; print(json.dumps(sorted(sys.argv[1:])))' "$A_ID" "$B_ID")" \
    "keys list --json: both keys"
assert_eq "$(json "$T/list.json" 'any("secret" in x or "hash" in x for x in j)')" \
    false "keys list --json: no secret or hash member"
assert_eq "$(json "$T/show.json" '"secret" in j')" false \
    "keys show --json: no secret member"
assert_eq "$(json "$T/show.json" 'j["id"]')" "$A_ID" \
    "keys show by id"
assert_contains "$(cat "$T/show.txt")" "$A_ID" "keys show by label"

# --- the store: hashes only --------------------------------------------------
COLS=$(sq "SELECT group_concat(name, ' ') FROM pragma_table_info('keys')")
assert_not_contains " $COLS " " secret " "the keys table has no secret column"
assert_eq "$(sq "SELECT hash FROM keys WHERE id = '$A_ID'")" \
    "$(sha256 "$A_SECRET")" "hash = sha256(secret) in hex"
assert_eq "$(sq "SELECT hash FROM keys WHERE id = '$B_ID'")" \
    "$(sha256 "$B_SECRET")" "hash = sha256(secret) for the second key"
# No column of any row holds the secret or a fragment of it.
DUMP=$(sqlite3 -readonly "$DB" .dump)
for s in "$A_SECRET" "$B_SECRET"; do
	assert_not_contains "$DUMP" "${s:7:16}" \
	    "no table holds secret ${s:0:11}... (or a piece of it)"
done
for f in "$DB" "$DB-wal"; do
	[ -f "$f" ] || continue
	if grep -aqF -e "${A_SECRET:7:16}" -e "${B_SECRET:7:16}" "$f"; then
		fail "a secret is in $f"
	fi
done
ok "the database files hold no secret bytes"

# --- every option of create ----------------------------------------------------
NOW=$(date +%s)
gw keys create --label full --tier admin --models 'gpt-4o,claude-*' \
    --rpm 7 --tpm 9000 --max-concurrent 3 --expires 2h --json >"$T/full.json" ||
    fail "keys create with every option failed"
assert_eq "$(json "$T/full.json" '[j["tier"], j["models"], j["rpm"], j["tpm"], j["max_concurrent"]]')" \
    '["admin", "gpt-4o,claude-*", 7, 9000, 3]' \
    "tier, models and limits are kept"
EXP=$(json "$T/full.json" 'j["expires_at"]')
EXP_S=$($PY -c 'import calendar, sys, time; print(calendar.timegm(time.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")))' "$EXP")
D=$((EXP_S - NOW))
[ "$D" -ge 7190 ] && [ "$D" -le 7210 ] || fail "--expires 2h: expires_at $EXP is $D s away"
ok "--expires 2h: expires_at two hours ahead"
assert_eq "$(sq "SELECT tier || ' ' || models || ' ' || rpm || ' ' || tpm || ' ' || max_concurrent FROM keys WHERE label = 'full'")" \
    "admin gpt-4o,claude-* 7 9000 3" "the row holds the options"

# --- usage errors exit 2 ------------------------------------------------------
for args in "keys create --tier root" "keys create --rpm -1" \
    "keys create --rpm many" "keys create --tpm 1.5" \
    "keys create --max-concurrent x" "keys create --expires soon" \
    "keys create --expires 0" "keys create --bogus" "keys create extra" \
    "keys show" "keys show a b" "keys list extra" "keys label cli-a" \
    "keys label" "keys rotate" "keys rotate --grace later cli-a" \
    "keys revoke" "keys revoke a b" "keys frobnicate" "audit --since soon" \
    "audit extra"; do
	# shellcheck disable=SC2086
	assert_eq "$(exit_code gw $args)" 2 "usage error exits 2: $args"
done
assert_eq "$(sq "SELECT count(*) FROM keys")" 3 \
    "the usage errors created no key"

# --- other failures exit 1 with a clear message ------------------------------
assert_eq "$(exit_code gw keys show key_nosuchkey0000000)" 1 \
    "keys show of an unknown key exits 1"
assert_contains "$(cat "$T/ec.err")" "keys list" "... and says where to look"
assert_eq "$(exit_code gw keys create --account nobody)" 1 \
    "keys create --account of an unknown account exits 1"
assert_contains "$(cat "$T/ec.err")" "nobody" "... naming the account"
LONG_LABEL=$(printf 'x%.0s' $(seq 1 65))
assert_eq "$(exit_code gw keys label cli-a "$LONG_LABEL")" 1 \
    "a 65-character label is refused"
assert_eq "$(exit_code gw keys label cli-a key_0123456789abcdef)" 1 \
    "a label shaped like a key id (which it would shadow) is refused"
assert_eq "$(exit_code gw keys create --label "$(printf 'esc\033[31m')")" 2 \
    "a label with a control character is refused"
# The manual: "--label name: a label for the key, at most 64 characters".
NK=$(sq "SELECT count(*) FROM keys")
soft_eq "$(exit_code gw keys create --label "$LONG_LABEL" | sed 's/^[12]$/refused/')" \
    refused "keys create --label with 65 characters is refused"
soft_eq "$(sq "SELECT count(*) FROM keys")" "$NK" \
    "... and makes no key"
sqlite3 "$DB" "DELETE FROM keys WHERE length(label) > 64"

# --- label ------------------------------------------------------------------
gw keys label cli-b renamed >"$T/label.out" || fail "keys label failed"
assert_eq "$(gw keys show --json "$B_ID" | json - 'j["label"]')" renamed \
    "keys label changes the label"
assert_eq "$(gw keys show --json renamed | json - 'j["id"]')" "$B_ID" \
    "the key is found by its new label"
assert_eq "$(exit_code gw keys show cli-b)" 1 "the old label names nothing"

# --- rotate: the new secret once, the old hash gone --------------------------
gw keys rotate cli-a >"$T/rot.out" 2>&1 || fail "keys rotate failed"
A2_SECRET=$(grep -Eo 'sk-cgw-[A-Za-z0-9_-]{43}' "$T/rot.out" | head -n1)
printf '%s\n' "$A2_SECRET" | grep -Eq "$SECRET_RE" ||
    fail "keys rotate printed no secret: $(cat "$T/rot.out")"
assert_eq "$(count_of "$(cat "$T/rot.out")" "$A2_SECRET")" 1 \
    "keys rotate prints the new secret exactly once"
[ "$A2_SECRET" != "$A_SECRET" ] || fail "rotation kept the secret"
assert_eq "$(sq "SELECT hash FROM keys WHERE id = '$A_ID'")" \
    "$(sha256 "$A2_SECRET")" "after rotate: hash = sha256(new secret)"
assert_eq "$(sq "SELECT count(*) FROM keys WHERE hash = '$(sha256 "$A_SECRET")' OR (prev_hash = '$(sha256 "$A_SECRET")' AND prev_expires_ms > rotated_ms)")" \
    0 "without --grace the old hash is no longer valid (kept only to say 'rotated')"
gw keys show --json "$A_ID" >"$T/rs.json"
assert_eq "$(json "$T/rs.json" '[j["id"], j["label"], j["status"], j["prefix"]]')" \
    "[\"$A_ID\", \"cli-a\", \"active\", \"${A2_SECRET:0:11}...\"]" \
    "rotate keeps id and label; the prefix follows the new secret"
assert_eq "$(json "$T/rs.json" 'j["rotated_at"] is not None')" true \
    "rotated_at is set"
gw keys rotate --grace 10m --json cli-a >"$T/rg.json" ||
    fail "keys rotate --grace --json failed"
A3_SECRET=$(json "$T/rg.json" 'j["secret"]')
printf '%s\n' "$A3_SECRET" | grep -Eq "$SECRET_RE" ||
    fail "keys rotate --json: secret '$A3_SECRET'"
ok "keys rotate --json gives the new secret"
assert_eq "$(gw keys show --json "$A_ID" | json - '[j["status"], j["previous_secret_valid_until"] is not None]')" \
    '["rotating", true]' "--grace: keys show says rotating, with previous_secret_valid_until"
# The key printed by rotate --json is the key after the rotation.
gw keys show --json "$A_ID" >"$T/rg-show.json"
soft_eq "$(json "$T/rg.json" '[j["status"], j["previous_secret_valid_until"], j["rotated_at"]]')" \
    "$(json "$T/rg-show.json" '["rotating", j["previous_secret_valid_until"], j["rotated_at"]]')" "keys rotate --grace --json describes the rotated key (status, previous_secret_valid_until, rotated_at)"
assert_eq "$(sq "SELECT prev_hash FROM keys WHERE id = '$A_ID'")" \
    "$(sha256 "$A2_SECRET")" "--grace keeps the previous hash (only)"

# --- revoke -----------------------------------------------------------------
gw keys revoke "$B_ID" >"$T/rv.out" || fail "keys revoke failed"
gw keys show --json "$B_ID" >"$T/rv.json"
assert_eq "$(json "$T/rv.json" '[j["status"], j["revoked_at"] is not None]')" \
    '["revoked", true]' "revoked: status and revoked_at"
assert_eq "$(exit_code gw keys revoke "$B_ID")" 1 \
    "revoking twice exits 1"
assert_contains "$(cat "$T/ec.err")" "already revoked" "... saying so"
assert_eq "$(exit_code gw keys rotate "$B_ID")" 1 \
    "a revoked key cannot be rotated"
gw keys list --names >"$T/names.txt"
assert_not_contains "$(cat "$T/names.txt")" "$B_ID" \
    "keys list --names leaves out revoked keys"
assert_contains "$(cat "$T/names.txt")" "$A_ID" \
    "keys list --names lists live keys"

# --- label and revoke with --json ------------------------------------------------
# The issue lists "keys create|list|show|label|rotate|revoke with --json".
gw keys create --label json-me >/dev/null || fail "keys create failed"
RCJ=0
gw keys label --json json-me json-me-2 >"$T/lj.out" 2>"$T/lj.err" || RCJ=$?
soft_eq "$RCJ $($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["label"])' "$T/lj.out" 2>/dev/null)" \
    "0 json-me-2" "keys label --json prints the relabelled key as JSON"
RCJ=0
gw keys revoke --json "$(gw keys list --json | json - '[k["id"] for k in j if k["label"].startswith("json-me")][0]')" \
    >"$T/rj.out" 2>"$T/rj.err" || RCJ=$?
soft_eq "$RCJ $($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$T/rj.out" 2>/dev/null)" \
    "0 revoked" "keys revoke --json prints the revoked key as JSON"

# --- recover-admin ------------------------------------------------------------
gw keys recover-admin >"$T/rec.out" 2>&1 || fail "keys recover-admin failed"
R_SECRET=$(grep -Eo 'sk-cgw-[A-Za-z0-9_-]{43}' "$T/rec.out" | head -n1)
printf '%s\n' "$R_SECRET" | grep -Eq "$SECRET_RE" ||
    fail "recover-admin printed no secret: $(cat "$T/rec.out")"
assert_eq "$(count_of "$(cat "$T/rec.out")" "$R_SECRET")" 1 \
    "recover-admin prints the secret once"
assert_eq "$(sq "SELECT tier || ' ' || label FROM keys WHERE hash = '$(sha256 "$R_SECRET")'")" \
    "admin recovered-admin" "recover-admin makes an admin key"
gw keys recover-admin --json >"$T/rec.json" || fail "recover-admin --json"
assert_eq "$(json "$T/rec.json" '[j["tier"], j["secret"][:7]]')" \
    '["admin", "sk-cgw-"]' "recover-admin --json: admin key with its secret"
R2_SECRET=$(json "$T/rec.json" 'j["secret"]')
assert_eq "$(exit_code gw keys recover-admin extra)" 2 \
    "recover-admin with an operand is a usage error"

# --- audit of the CLI changes -------------------------------------------------
gw audit --json >"$T/audit.json" || fail "audit --json failed"
assert_eq "$(json "$T/audit.json" 'sorted(set(x["action"] for x in j))')" \
    '["key.create", "key.label", "key.recover_admin", "key.revoke", "key.rotate"]' \
    "the audit trail has create, label, rotate, revoke and recover-admin"
assert_eq "$(json "$T/audit.json" 'all(x["actor"].startswith("cli:") for x in j)')" \
    true "CLI changes are audited as cli:<user>"

# --- with serve running: binding and last_used_at ------------------------------
start_github
login_github
ACCT_ID=$(gw accounts list --json | json - 'j[0]["id"]')
ACCT_LABEL=$(gw accounts list --json | json - 'j[0]["label"]')
gw keys create --label bound --account "$ACCT_LABEL" --json >"$T/bound.json" ||
    fail "keys create --account LABEL failed"
assert_eq "$(json "$T/bound.json" 'j["account_id"]')" "$ACCT_ID" \
    "--account binds the key to the account"
U_SECRET=$(json "$T/bound.json" 'j["secret"]')
U_ID=$(json "$T/bound.json" 'j["id"]')
GW_AUTH=1 start_gw
req POST /v1/chat/completions -H "$CT" -H "Authorization: Bearer $U_SECRET" \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
assert_eq "$STATUS" 200 "the new key works against serve"
T0=$(date +%s)
until [ "$(sq "SELECT last_used_ms IS NOT NULL FROM keys WHERE id = '$U_ID'")" = 1 ]; do
	[ $(($(date +%s) - T0)) -lt 4 ] ||
	    fail "last_used_at still null 4 s after a request"
	sleep 0.1
done
USED=$(gw keys show --json "$U_ID" | json - 'j["last_used_at"]')
[ "$USED" != null ] || fail "keys show: last_used_at is null"
ok "last_used_at is set within ~2 s of a request"
assert_eq "$(gw keys show --json "$A_ID" | json - 'j["last_used_at"]')" \
    null "an unused key keeps last_used_at null"
stop_gw
assert_eq "$GW_STATUS" 0 "serve stopped cleanly"

# --- nothing secret in the logs ------------------------------------------------
LOGS=$(cat "$T"/*.log 2>/dev/null)
for s in "$A_SECRET" "$A2_SECRET" "$A3_SECRET" "$B_SECRET" "$R_SECRET" \
    "$R2_SECRET" "$U_SECRET"; do
	assert_not_contains "$LOGS" "${s:7:16}" \
	    "secret ${s:0:11}... is in no log"
done
sq "SELECT * FROM audit" >"$T/audit.rows"
assert_not_contains "$(cat "$T/audit.rows")" "sk-cgw-" \
    "the audit table holds no secret"

done_testing
