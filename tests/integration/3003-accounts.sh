#!/bin/bash
# SPDX-License-Identifier: ISC
# `copilot-gw accounts list|show|remove`: the table and --json shapes
# (id, label, provider, login, account_type, github_url, api_url,
# created_at), lookup by id or label, clear failures for unknown
# accounts (exit 1), usage errors (exit 2), and never a token in any
# output.
. "$(dirname "$0")/lib.sh"

ALL="$T/all-output.txt"
: >"$ALL"
TOK_ALICE=gho_AccountsTestAliceToken0000000000001
TOK_BOB=ghu_AccountsTestBobToken000000000000002
TOK_NUM=gho_AccountsTestNumericLabel0000000003

# acc ARGS: runs `accounts ARGS`; sets RC, OUT, ERR.
acc() {
	RC=0
	gw accounts "$@" >"$T/acc.out" 2>"$T/acc.err" || RC=$?
	OUT=$(cat "$T/acc.out")
	ERR=$(cat "$T/acc.err")
	cat "$T/acc.out" "$T/acc.err" >>"$ALL"
	[ "$RC" -lt 128 ] || fail "accounts $*: killed by a signal (exit $RC)"
}

tlogin() {
	_tok=$1
	shift
	printf '%s\n' "$_tok" | gw login github --token-stdin "$@" \
	    >>"$ALL" 2>&1 || fail "login --token-stdin $*: exit $?"
}

start_github
gh_config "{\"users\": {\"$TOK_ALICE\": \"alice\", \"$TOK_BOB\": \"bob\",
    \"$TOK_NUM\": \"numbers\"}}"

# --- no accounts yet --------------------------------------------------------
acc list
assert_eq "$RC" 0 "list with no accounts: exit 0"
assert_contains "$OUT" "copilot-gw login github" \
    "an empty list says how to add an account"
acc list --json
assert_eq "$RC" 0 "list --json with no accounts: exit 0"
assert_eq "$(echo "$OUT" | json - 'j')" "[]" "list --json: an empty array"

tlogin "$TOK_ALICE"
tlogin "$TOK_BOB" --label bob-work --account-type business

# --- list ----------------------------------------------------------------------
acc list
assert_eq "$RC" 0 "list: exit 0"
assert_eq "$(echo "$OUT" | wc -l)" 3 "list: a header and two rows"
assert_contains "$(echo "$OUT" | sed -n 1p)" LABEL "list: a header line"
row=$(echo "$OUT" | grep -w bob-work || true)
for w in 2 bob-work github bob business; do
	assert_contains " $row " " $w " "list: bob's row shows $w"
done
acc list --json
assert_eq "$RC" 0 "list --json: exit 0"
echo "$OUT" >"$T/list.json"
assert_eq "$(json "$T/list.json" 'len(j)')" 2 "list --json: two entries"
for f in id label provider login account_type github_url api_url created_at; do
	assert_eq "$(json "$T/list.json" "all('$f' in a for a in j)")" true \
	    "list --json: every entry has $f"
done
assert_eq "$(json "$T/list.json" \
    'any("token" in k for a in j for k in a)')" false \
    "list --json: no token field"
assert_eq "$(json "$T/list.json" \
    '[[a["id"], a["label"], a["provider"], a["login"], a["account_type"]]
      for a in j]')" \
    '[[1, "alice", "github", "alice", "individual"], [2, "bob-work", "github", "bob", "business"]]' \
    "list --json: the values"
assert_eq "$(json "$T/list.json" '[a["github_url"] for a in j]')" \
    "[\"$GH_URL\", \"$GH_URL\"]" "list --json: github_url"
assert_eq "$(json "$T/list.json" '[a["api_url"] for a in j]')" \
    "[\"$GH_URL\", \"$GH_URL\"]" "list --json: api_url"
assert_eq "$(json "$T/list.json" 'all(__import__("re").match(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", a["created_at"]) for a in j)')" \
    true "list --json: created_at is an ISO 8601 UTC time"
assert_eq "$(json "$T/list.json" 'isinstance(j[0]["id"], int)')" true \
    "list --json: ids are numbers"

# --- show ------------------------------------------------------------------------
acc show --json 2
assert_eq "$RC" 0 "show --json by id: exit 0"
echo "$OUT" >"$T/show2.json"
assert_eq "$(json "$T/show2.json" '[j["id"], j["label"], j["login"]]')" \
    '[2, "bob-work", "bob"]' "show --json by id: bob's account"
assert_eq "$($PY -c 'import json, sys
a = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))[1]
print(a == b)' "$T/show2.json" "$T/list.json")" True \
    "show --json is the same object as the list entry"
acc show --json bob-work
assert_eq "$RC" 0 "show --json by label: exit 0"
assert_eq "$(echo "$OUT" | json - 'j["id"]')" 2 "show by label finds bob"
acc show alice
assert_eq "$RC" 0 "show (text) by label: exit 0"
for f in id label provider login account_type github_url api_url created_at; do
	assert_contains "$OUT" "$f" "show: the text has $f"
done
assert_contains "$OUT" "never shown" "show: the token is said to be hidden"
acc show 1
assert_eq "$RC $(echo "$OUT" | awk '$1 == "login" { print $2 }')" "0 alice" \
    "show (text) by id"

# --- unknown accounts -------------------------------------------------------------
for key in 99 nobody 0; do
	acc show "$key"
	assert_eq "$RC" 1 "show $key (unknown): exit 1"
	assert_contains "$ERR" "no account '$key'" \
	    "show $key: the message names what was not found"
	assert_eq "$OUT" "" "show $key: nothing on standard output"
done
acc show --json nobody
assert_eq "$RC" 1 "show --json nobody: exit 1"
acc remove nobody
assert_eq "$RC" 1 "remove of an unknown label: exit 1"
assert_contains "$ERR" "no account 'nobody'" "remove nobody: a clear message"
acc remove 42
assert_eq "$RC" 1 "remove of an unknown id: exit 1"

# --- usage errors -----------------------------------------------------------------
usage() {
	acc "$@"
	assert_eq "$RC" 2 "accounts $*: exit 2"
}
usage
usage bogus
usage list extra
usage list --bogus
usage show
usage show 1 2
usage show --bogus 1
usage remove
usage remove 1 2
usage remove --json 1
assert_eq "$(gw accounts list --json | json - 'len(j)')" 2 \
    "usage errors changed nothing"

# --- remove -------------------------------------------------------------------------
acc remove bob-work
assert_eq "$RC" 0 "remove by label: exit 0"
assert_contains "$OUT" "bob-work" "remove: the message names the account"
acc list --json
assert_eq "$(echo "$OUT" | json - '[a["label"] for a in j]')" '["alice"]' \
    "bob's account is gone"
acc show bob-work
assert_eq "$RC" 1 "a removed account is unknown"
assert_eq "$(sqlite3 "$GW_HOME/copilot-gw.db" \
    "select count(*) from accounts where login='bob'")" 0 \
    "bob's row (and token) left the database"
acc remove 1
assert_eq "$RC" 0 "remove by id: exit 0"
acc remove 1
assert_eq "$RC" 1 "remove of an already removed id: exit 1"
acc list --json
assert_eq "$(echo "$OUT" | json - 'j')" "[]" "no accounts left"
assert_eq "$(sqlite3 "$GW_HOME/copilot-gw.db" \
    "select count(*) from audit where action='account.remove'")" 2 \
    "each removal is audited"

# --- no token anywhere ----------------------------------------------------------------
for tok in $TOK_ALICE $TOK_BOB; do
	if grep -qF "$tok" "$ALL"; then
		fail "a token (${tok:0:10}...) was printed"
	fi
done
ok "no token in any output"
assert_not_contains "$(cat "$ALL")" Sanitizer "no sanitizer report"

# --- a label that looks like an id ---------------------------------------------------
# A label the CLI accepted must be usable to find the account: an
# all-digit label is either refused or found by label when no id matches.
rc=0
printf '%s\n' "$TOK_NUM" | gw login github --token-stdin --label 77 \
    >>"$ALL" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
	acc show --json 77
	assert_eq "$RC $(echo "$OUT" | json - 'j["login"]' 2>/dev/null)" \
	    "0 numbers" "an all-digit label (77) that was accepted can be shown"
	acc remove 77
	assert_eq "$RC" 0 "an all-digit label (77) that was accepted can be removed"
else
	assert_eq "$rc" 2 "an all-digit label is refused as a usage error"
fi
acc list --json
assert_eq "$(echo "$OUT" | json - 'j')" "[]" "no accounts left at the end"
assert_not_contains "$(cat "$ALL")" "$TOK_NUM" "no token in these outputs either"
done_testing
