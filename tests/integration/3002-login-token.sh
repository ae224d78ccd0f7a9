#!/bin/bash
# SPDX-License-Identifier: ISC
# `copilot-gw login github --token-stdin` against the GitHub fake: OAuth
# and GitHub App user tokens are checked (GET /user, a Copilot token
# exchange) and stored; classic personal access tokens are refused
# locally, fine-grained ones by GitHub; unknown tokens are "rejected";
# accounts without Copilot are refused. Logging in again as the same
# GitHub login updates its account; labels (--label, automatic ones,
# taken ones); --account-type, --github-url and --api-url are stored;
# the token reaches the private database and no output.
. "$(dirname "$0")/lib.sh"

ALL="$T/all-output.txt"
: >"$ALL"
DB=$GW_HOME/copilot-gw.db

# Made-up tokens in the fake's users table.
TOK_ALICE=gho_AliceOAuthToken000000000000000000001
TOK_ALICE2=gho_AliceOAuthToken000000000000000000002
TOK_BOB=ghu_BobAppUserToken0000000000000000000003
TOK_CAROL=gho_CarolHasNoCopilotSeat00000000000004
TOK_DAVE=gho_DaveOAuthToken0000000000000000000005
TOK_ERIN=gho_ErinOAuthToken0000000000000000000006
TOK_PAT=ghp_ClassicPersonalAccessToken000000007
TOK_FGPAT=github_pat_11FineGrained00000000000000008
TOK_BAD=gho_NobodyKnowsThisToken00000000000000009
ALL_TOKENS="$TOK_ALICE $TOK_ALICE2 $TOK_BOB $TOK_CAROL $TOK_DAVE $TOK_ERIN
$TOK_PAT $TOK_FGPAT $TOK_BAD"

# tlogin TOKEN-TEXT ARGS: `login github --token-stdin ARGS` with
# TOKEN-TEXT on standard input; sets LRC, LOUT, LERR.
tlogin() {
	_tok=$1
	shift
	LRC=0
	printf '%s' "$_tok" | gw login github --token-stdin "$@" \
	    >"$T/login.out" 2>"$T/login.err" || LRC=$?
	LOUT=$(cat "$T/login.out")
	LERR=$(cat "$T/login.err")
	cat "$T/login.out" "$T/login.err" >>"$ALL"
	[ "$LRC" -lt 128 ] || fail "login github --token-stdin $*: killed" \
	    "by a signal (exit $LRC): $(tail -n 3 "$T/login.err")"
}

accounts() {
	gw accounts list --json | json - "$1"
}

start_github
gh_config "{\"users\": {\"$TOK_ALICE\": \"alice\", \"$TOK_ALICE2\": \"alice\",
    \"$TOK_BOB\": \"bob\", \"$TOK_CAROL\": \"carol\", \"$TOK_DAVE\": \"dave\",
    \"$TOK_ERIN\": \"erin\", \"$TOK_FGPAT\": \"frank\"},
    \"no_copilot_logins\": [\"carol\"]}"

# --- a valid OAuth token ----------------------------------------------------
tlogin "$TOK_ALICE
"
assert_eq "$LRC" 0 "--token-stdin with a gho_ token: exit 0"
assert_contains "$LOUT" "Logged in to GitHub as alice" \
    "the outcome names the GitHub login"
assert_eq "$(gh_state 'j["device_code_requests"]')" 0 \
    "--token-stdin does not start the device flow"
assert_eq "$(gh_state 'j["user_calls"]')" 1 "the token's identity was asked"
assert_eq "$(gh_state '[e["gh_token"] for e in j["token_exchange_log"]]')" \
    "[\"$TOK_ALICE\"]" "Copilot access was checked with the given token"
assert_eq "$(accounts '[[a["id"], a["label"], a["login"], a["account_type"]]
    for a in j]')" '[[1, "alice", "alice", "individual"]]' \
    "alice is stored with her login as the label"
assert_eq "$(sqlite3 "$DB" "select token from accounts where login='alice'")" \
    "$TOK_ALICE" "the token is stored (surrounding blanks trimmed)"
assert_eq "$(stat -c %a "$DB")" 600 "the database stays 0600"

# --- a GitHub App user token, another login: its own account -----------------
tlogin "  $TOK_BOB  " --account-type business
assert_eq "$LRC" 0 "--token-stdin with a ghu_ token: exit 0"
assert_contains "$LOUT" "Logged in to GitHub as bob" "the outcome names bob"
assert_eq "$(accounts '[[a["id"], a["label"], a["login"], a["account_type"]]
    for a in j]')" \
    '[[1, "alice", "alice", "individual"], [2, "bob", "bob", "business"]]' \
    "bob gets his own account, with --account-type business"

# --- the same login again updates the account ---------------------------------
created=$(gw accounts show --json alice | json - 'j["created_at"]')
tlogin "$TOK_ALICE2"
assert_eq "$LRC" 0 "alice logs in again with a new token"
assert_eq "$(accounts 'len([a for a in j if a["login"] == "alice"])')" 1 \
    "still one account for alice"
assert_eq "$(accounts 'len(j)')" 2 "still two accounts in all"
assert_eq "$(gw accounts show --json alice | json - '[j["id"], j["label"]]')" \
    '[1, "alice"]' "alice keeps her id and label"
assert_eq "$(gw accounts show --json alice | json - 'j["created_at"]')" \
    "$created" "alice keeps her creation time"
assert_eq "$(sqlite3 "$DB" "select token from accounts where login='alice'")" \
    "$TOK_ALICE2" "the new token replaced the old one"

# --- labels --------------------------------------------------------------------
tlogin "$TOK_BOB" --label work --account-type business
assert_eq "$LRC" 0 "bob logs in again with --label work"
assert_eq "$(accounts '[a["label"] for a in j]')" '["alice", "work"]' \
    "--label renames bob's account (no new row)"
tlogin "$TOK_BOB" --label alice
assert_eq "$LRC" 1 "a label taken by another account: exit 1"
assert_contains "$LERR" "label 'alice'" "the refusal names the label"
assert_contains "$LERR" "taken" "the refusal says the label is taken"
assert_eq "$(accounts '[a["label"] for a in j]')" '["alice", "work"]' \
    "the refused login changed nothing"
tlogin "$TOK_DAVE" --label erin
assert_eq "$LRC" 0 "dave logs in with --label erin"
tlogin "$TOK_ERIN"
assert_eq "$LRC" 0 "erin logs in (her login is dave's label)"
assert_eq "$(accounts '[[a["login"], a["label"]] for a in j]')" \
    '[["alice", "alice"], ["bob", "work"], ["dave", "erin"], ["erin", "erin-2"]]' \
    "a login whose name is taken as a label gets a free one"
tlogin "$TOK_DAVE" --label erin
assert_eq "$LRC" 0 "logging in again with one's own label is fine"
rc=0
printf '%s' "$TOK_DAVE" | gw login github --token-stdin --label "" \
    >/dev/null 2>"$T/e.err" || rc=$?
assert_eq "$rc" 2 "an empty --label: exit 2"

# --- tokens that are refused ---------------------------------------------------
before=$(gh_state '[j["user_calls"], j["token_exchanges"]]')
tlogin "$TOK_PAT"
assert_eq "$LRC" 1 "a classic ghp_ token: exit 1"
assert_contains "$LERR" "personal access token" \
    "the refusal is about personal access tokens"
assert_eq "$(gh_state 'j["token_exchanges"]')" \
    "$(echo "$before" | json - 'j[1]')" \
    "a ghp_ token is refused locally (no token exchange)"
assert_eq "$(gh_state '[j["user_calls"], j["token_exchanges"]]')" "$before" \
    "a ghp_ token never reaches GitHub"

tlogin "$TOK_FGPAT"
assert_eq "$LRC" 1 "a fine-grained github_pat_ token: exit 1"
assert_contains "$(echo "$LERR" | tr 'A-Z' 'a-z')" "personal access token" \
    "GitHub's refusal of a fine-grained PAT is passed on"

tlogin "$TOK_BAD"
assert_eq "$LRC" 1 "an unknown token: exit 1"
assert_contains "$LERR" rejected "an unknown token: the message says rejected"

tlogin "$TOK_CAROL"
assert_eq "$LRC" 1 "a login without Copilot: exit 1"
assert_contains "$LERR" Copilot "no Copilot: the message mentions Copilot"

tlogin ""
assert_eq "$LRC" 1 "empty standard input: exit 1"
assert_contains "$LERR" "no token" "empty standard input: the message says so"
tlogin "gho_two words"
assert_eq "$LRC" 1 "a token with a space: exit 1"

before=$(gh_state '[j["user_calls"], j["token_exchanges"]]')
tlogin "$TOK_DAVE" --account-type "evil.com/x"
assert_eq "$LRC" 1 "--account-type evil.com/x with --token-stdin: exit 1"
assert_contains "$LERR" "[a-z0-9-]+" "the refusal names the allowed characters"
assert_eq "$(gh_state '[j["user_calls"], j["token_exchanges"]]')" "$before" \
    "a refused account type never reaches GitHub"
assert_eq "$(accounts 'len(j)')" 4 "refused logins stored nothing"
assert_eq "$(accounts '[a["account_type"] for a in j if a["login"] == "dave"]')" \
    '["individual"]' "dave's account type is unchanged"

# --- explicit hosts (GHE data residency): stored without a trailing slash -------
HOST_URL="http://localhost:$GH_PORT"
tlogin "$TOK_ALICE2" --github-url "$HOST_URL/" --api-url "$HOST_URL//" \
    --label alice-ghe
assert_eq "$LRC" 0 "--github-url and --api-url: exit 0"
assert_eq "$(gw accounts show --json alice-ghe | json - \
    '[j["login"], j["github_url"], j["api_url"]]')" \
    "[\"alice\", \"$HOST_URL\", \"$HOST_URL\"]" \
    "the hosts are stored, trailing slashes removed"
assert_eq "$(accounts 'len(j)')" 5 \
    "the same login on another GitHub host is another account"
assert_eq "$(curl -fsS "$GH_URL/__fake/requests" | json - \
    '[r["headers"].get("host") for r in j if r["path"] == "/user"][-1]')" \
    "localhost:$GH_PORT" "the identity was asked at --api-url"

# --- no token in any output or log --------------------------------------------
gw accounts list >>"$ALL" 2>&1
gw accounts list --json >>"$ALL" 2>&1
gw accounts show alice >>"$ALL" 2>&1
for tok in $ALL_TOKENS; do
	if grep -qF "$tok" "$ALL"; then
		fail "a token (${tok:0:10}...) was printed"
	fi
done
ok "no token in any command output"
sqlite3 "$DB" "select * from audit" >"$T/audit.txt"
for tok in $ALL_TOKENS; do
	if grep -qF "$tok" "$T/audit.txt"; then
		fail "a token (${tok:0:10}...) is in the audit log"
	fi
done
ok "no token in the audit log"
assert_not_contains "$(cat "$ALL")" Sanitizer "no sanitizer report from login"
done_testing
