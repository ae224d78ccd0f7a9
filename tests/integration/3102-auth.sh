#!/bin/bash
# SPDX-License-Identifier: ISC
# Authentication on every API route: Authorization: Bearer or x-api-key;
# a missing, unknown, malformed, revoked or expired key gets 401 with
# WWW-Authenticate and an OpenAI-shaped error, and nothing reaches
# Copilot; the client's credentials are never forwarded upstream; a key
# spends the account it is bound to; a model outside a key's allow-list
# gets 403 naming it and /v1/models lists only the allowed models; client
# keys get 403 on the admin routes, admin keys may do everything;
# /healthz needs no key. Auth off is for loopback only: serve warns, and
# refuses to start on 0.0.0.0 with --allow-remote; with auth on it starts
# there. No secret (client keys, GitHub and Copilot tokens) reaches the
# logs or the audit table.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
RC=$GW_SOURCE_DIR/tests/integration/relay_client.py
DB=$GW_HOME/copilot-gw.db
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}'

# batch <SPEC: sends requests one by one, one connection each. Each line
# of SPEC is WHAT<TAB>METHOD<TAB>PATH<TAB>HEADER|-<TAB>BODY|-; the results,
# in $T/batch.tsv, are WHAT<TAB>status<TAB>WWW-Authenticate<TAB>error
# type<TAB>error code<TAB>message (- when absent).
cat >"$T/batch.py" <<'PYEOF'
import http.client, json, sys
port = int(sys.argv[1])
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line:
        continue
    what, method, path, hdr, body = line.split("\t")
    h = {}
    if hdr != "-":
        n, _, v = hdr.partition(":")
        h[n.strip()] = v.strip()
    data = None if body == "-" else body.encode()
    if data is not None:
        h["content-type"] = "application/json"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read().decode("utf-8", "replace")
    c.close()
    t = code = msg = "-"
    try:
        e = json.loads(raw)["error"]
        t, code, msg = e["type"], e["code"] or "-", e["message"] or "-"
    except Exception:
        pass
    out = [what, str(r.status), r.getheader("www-authenticate") or "-", t,
           code, " ".join(msg.split())]
    print("\t".join(out))
PYEOF
batch() {
	$PY "$T/batch.py" "$GW_PORT" >"$T/batch.tsv" ||
	    fail "the batch client failed"
}

# bres WHAT COLUMN: a column of a result of the last batch (2 status, 3
# WWW-Authenticate, 4 type, 5 code, 6 message).
bres() {
	awk -F'\t' -v w="$1" -v c="$2" '$1 == w { print $c; exit }' \
	    "$T/batch.tsv"
}

# check_401s: every result of the last batch is a 401 in the OpenAI shape.
check_401s() {
	while IFS="$(printf '\t')" read -r _w _st _wa _ty _co _msg; do
		assert_eq "$_st $_ty" "401 authentication_error" \
		    "$_w: 401, an OpenAI authentication_error"
		assert_contains "$_wa" Bearer "$_w: WWW-Authenticate: Bearer"
		[ "$_co" != - ] && [ "$_msg" != - ] ||
		    fail "$_w: the error has no code or message"
	done <"$T/batch.tsv"
}

# upstream_total: how many Copilot API calls the fake has seen.
upstream_total() {
	gh_state 'j["chat_calls"] + j["responses_calls"] + j["embeddings_calls"] + j["models_calls"]'
}

# last_login: the GitHub login whose Copilot token the last API call used.
last_login() {
	gh_state '{e["token"]: e["login"] for e in j["copilot_tokens"]}.get([a for a in j["api_log"] if a["path"] != "/cp/models"][-1]["token"])'
}

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "models": { "aliases": { "thinker": "o1", "fast": "gpt-4o" } } }
JSON
start_github
login_github
gh_config '{"device": {"login": "hubot"}}'
login_github --label second
gw accounts list --json >"$T/accounts.json"
assert_eq "$(json "$T/accounts.json" 'len(j)')" 2 "two accounts"
ACCT2=$(json "$T/accounts.json" '[a["id"] for a in j if a["login"] == "hubot"][0]')

mkkey ADMIN --tier admin --label admin
mkkey C --label client
mkkey M --label models --models 'gpt-4o,claude-*'
mkkey B --label bound --account "$ACCT2"
mkkey R --label revoked
gw keys revoke "$R_ID" >/dev/null || fail "keys revoke failed"
mkkey E --label expired --expires 1s
GW_AUTH=1 start_gw
sleep 1	# the expired key is past its time now
NKEYS=$($PY -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from keys").fetchone()[0])' "$DB")

# --- /healthz needs no key ----------------------------------------------------
req GET /healthz
assert_eq "$STATUS" 200 "/healthz answers without a key"

# --- every other route needs one --------------------------------------------
UP0=$(upstream_total)
ANYBODY='{"model":"gpt-4o","input":"x","messages":[{"role":"user","content":"x"}],"label":"x"}'
for r in "POST /v1/chat/completions" "POST /chat/completions" \
    "POST /v1/responses" "POST /responses" "POST /v1/embeddings" \
    "POST /embeddings" "GET /v1/models" "GET /models" \
    "GET /v1/models/gpt-4o" "GET /models/gpt-4o" "GET /auth/keys" \
    "POST /auth/keys" "GET /auth/keys/$C_ID" "POST /auth/keys/$C_ID/label" \
    "POST /auth/keys/$C_ID/rotate" "DELETE /auth/keys/$C_ID" \
    "GET /accounts" "DELETE /accounts/$ACCT2"; do
	printf 'no key: %s\t%s\t%s\t-\t%s\n' "$r" "${r% *}" "${r#* }" "$ANYBODY"
done | batch
check_401s
assert_eq "$(upstream_total)" "$UP0" "nothing reached Copilot without a key"
assert_eq "$(bres "no key: GET /v1/models" 5)" missing_api_key \
    "a missing key is called missing_api_key"
gw keys list --json >"$T/keys-after.json"
assert_eq "$(json "$T/keys-after.json" '[len(j), [k["label"] for k in j if k["id"] == "'"$C_ID"'"], sum(1 for k in j if k["status"] == "revoked")]')" \
    "[$NKEYS, [\"client\"], 1]" "the refused admin calls changed nothing"
assert_eq "$(gw accounts list --json | json - 'len(j)')" 2 \
    "the refused DELETE /accounts removed nothing"

# --- bad credentials ----------------------------------------------------------
BAD1=sk-cgw-$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)
BAD2="not-a-key-$RANDOM$RANDOM"
CC=/v1/chat/completions
{
	printf 'an unknown well-formed key\tPOST\t%s\tAuthorization: Bearer %s\t%s\n' "$CC" "$BAD1" "$CHAT"
	printf 'x-api-key with garbage\tPOST\t%s\tx-api-key: %s\t%s\n' "$CC" "$BAD2" "$CHAT"
	printf 'a valid secret under the Basic scheme\tPOST\t%s\tAuthorization: Basic %s\t%s\n' "$CC" "$C_SECRET" "$CHAT"
	printf 'Authorization: Bearer with no key\tPOST\t%s\tAuthorization: Bearer\t%s\n' "$CC" "$CHAT"
	printf 'a valid secret with a character added\tPOST\t%s\tAuthorization: Bearer %sx\t%s\n' "$CC" "$C_SECRET" "$CHAT"
	printf 'a valid secret with a character missing\tPOST\t%s\tAuthorization: Bearer %s\t%s\n' "$CC" "${C_SECRET%?}" "$CHAT"
	printf 'a revoked key\tPOST\t%s\tAuthorization: Bearer %s\t%s\n' "$CC" "$R_SECRET" "$CHAT"
	printf 'an expired key\tPOST\t%s\tAuthorization: Bearer %s\t%s\n' "$CC" "$E_SECRET" "$CHAT"
	printf 'a revoked key as x-api-key on /v1/models\tGET\t/v1/models\tx-api-key: %s\t-\n' "$R_SECRET"
	printf 'an expired key on an admin route\tGET\t/auth/keys\tAuthorization: Bearer %s\t-\n' "$E_SECRET"
} | batch
check_401s
assert_eq "$(bres "an unknown well-formed key" 5)" invalid_api_key \
    "an unknown key is invalid_api_key"
assert_eq "$(bres "a revoked key" 5)" revoked_api_key \
    "a revoked key is revoked_api_key"
assert_eq "$(bres "an expired key" 5)" expired_api_key \
    "an expired key is expired_api_key"
assert_eq "$(upstream_total)" "$UP0" "nothing reached Copilot for bad keys"

# --- good credentials, both ways -------------------------------------------------
req POST /v1/chat/completions -H "$CT" -H "Authorization: Bearer $C_SECRET" -d "$CHAT"
assert_eq "$STATUS" 200 "Authorization: Bearer <key>: 200"
assert_eq "$(json "$T/body" 'j["choices"][0]["message"]["content"]')" \
    "echo: hello" "... with Copilot's answer"
req POST /v1/chat/completions -H "$CT" -H "authorization: bearer $C_SECRET" -d "$CHAT"
assert_eq "$STATUS" 200 "the scheme is case-insensitive"
req POST /v1/chat/completions -H "$CT" -H "x-api-key: $C_SECRET" -d "$CHAT"
assert_eq "$STATUS" 200 "x-api-key: <key>: 200"
req POST /v1/chat/completions -H "$CT" -H "Authorization: Basic dXNlcjpwYXNz" \
    -H "x-api-key: $C_SECRET" -d "$CHAT"
assert_eq "$STATUS" 200 "Authorization: Basic (a reverse proxy's) does not hide x-api-key: 200"
# The Anthropic routes answer 401 in Anthropic's shape.
req POST /v1/messages -H "$CT" -H 'anthropic-version: 2023-06-01' \
    -d '{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
assert_eq "$STATUS $(json "$T/body" '[j["type"], j["error"]["type"]]')" \
    '401 ["error", "authentication_error"]' "/v1/messages without a key: 401 authentication_error"
assert_contains "$(header www-authenticate)" "Bearer" "... with WWW-Authenticate"
req POST /v1/messages -H "$CT" -H 'anthropic-version: 2023-06-01' -H "x-api-key: $C_SECRET" \
    -d '{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
assert_eq "$STATUS $(json "$T/body" 'j["type"]')" "200 message" "/v1/messages with x-api-key: 200"
req POST /v1/responses -H "$CT" -H "x-api-key: $C_SECRET" \
    -d '{"model":"gpt-4o","input":"hello"}'
assert_eq "$STATUS" 200 "/v1/responses with a key: 200"
req POST /v1/embeddings -H "$CT" -H "Authorization: Bearer $C_SECRET" \
    -d '{"model":"text-embedding-3-small","input":"hello"}'
assert_eq "$STATUS" 200 "/v1/embeddings with a key: 200"
$PY "$RC" sse --port "$GW_PORT" -H "Authorization: Bearer $C_SECRET" \
    --body '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"streamed"}]}' \
    >"$T/sse.json" || fail "relay_client failed"
assert_eq "$(json "$T/sse.json" '[j["status"], j["content"]]')" \
    '[200, "echo: streamed"]' "a stream with a key"
assert_eq "$(last_login)" octocat "an unbound key spends the default account"

# --- the client's credentials stay here -------------------------------------------
curl -fsS "$GH_URL/__fake/requests" >"$T/upstream.json"
assert_eq "$(json "$T/upstream.json" 'len([r for r in j if r["path"].startswith("/cp/")]) > 0')" \
    true "the fake recorded the Copilot calls"
UPTEXT=$(cat "$T/upstream.json")
assert_not_contains "$UPTEXT" "sk-cgw-" "no sk-cgw- anywhere in what Copilot got"
assert_not_contains "$UPTEXT" "${C_SECRET:7:16}" \
    "not even a piece of the client's key"
assert_eq "$(json "$T/upstream.json" 'sorted(set(h for r in j if r["path"].startswith("/cp/") for h in r["headers"] if h.lower() == "x-api-key"))')" \
    '[]' "no x-api-key header upstream"
assert_eq "$(json "$T/upstream.json" 'all(r["headers"].get("authorization", r["headers"].get("Authorization", "")).lower().startswith("bearer tid=") for r in j if r["path"].startswith("/cp/"))')" \
    true "Copilot gets the account's Copilot token as Authorization"

# --- a key spends its bound account --------------------------------------------------
req POST /v1/chat/completions -H "$CT" -H "Authorization: Bearer $B_SECRET" -d "$CHAT"
assert_eq "$STATUS" 200 "the bound key: 200"
assert_eq "$(last_login)" hubot "the bound key spends its account (hubot)"
req POST /v1/chat/completions -H "$CT" -H "x-api-key: $C_SECRET" -d "$CHAT"
assert_eq "$(last_login)" octocat "the next unbound request is octocat's again"

# --- allowed models ---------------------------------------------------------------
M_AUTH="Authorization: Bearer $M_SECRET"
req POST /v1/chat/completions -H "$CT" -H "$M_AUTH" -d "$CHAT"
assert_eq "$STATUS" 200 "allow-list: an exact id is allowed"
req POST /v1/chat/completions -H "$CT" -H "$M_AUTH" \
    -d '{"model":"claude-sonnet-4.5","messages":[{"role":"user","content":"x"}]}'
assert_eq "$STATUS" 200 "allow-list: a glob match is allowed"
UP1=$(gh_state 'j["chat_calls"] + j["responses_calls"] + j["embeddings_calls"]')
req POST /v1/chat/completions -H "$CT" -H "$M_AUTH" \
    -d '{"model":"o1","messages":[{"role":"user","content":"x"}]}'
assert_eq "$STATUS" 403 "allow-list: another model gets 403"
assert_eq "$(json "$T/body" 'j["error"]["type"]')" permission_error \
    "... a permission_error"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "'o1'" \
    "... naming the model"
req POST /v1/chat/completions -H "$CT" -H "$M_AUTH" \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}'
assert_eq "$STATUS" 403 "allow-list: an exact id is not a prefix"
req POST /v1/chat/completions -H "$CT" -H "$M_AUTH" \
    -d '{"model":"thinker","messages":[{"role":"user","content":"x"}]}'
assert_eq "$STATUS" 403 "allow-list: an alias of a refused model is refused"
req POST /v1/responses -H "$CT" -H "$M_AUTH" -d '{"model":"gpt-4.1","input":"x"}'
assert_eq "$STATUS" 403 "allow-list: /v1/responses too"
req POST /v1/embeddings -H "$CT" -H "$M_AUTH" \
    -d '{"model":"text-embedding-3-small","input":"x"}'
assert_eq "$STATUS" 403 "allow-list: /v1/embeddings too"
assert_eq "$(gh_state 'j["chat_calls"] + j["responses_calls"] + j["embeddings_calls"]')" \
    "$UP1" "refused models never reached Copilot"
req GET /v1/models -H "$M_AUTH"
assert_eq "$STATUS" 200 "/v1/models with a restricted key: 200"
IDS=$(json "$T/body" 'sorted(m["id"] for m in j["data"])')
assert_eq "$(json "$T/body" 'sorted(m["id"] for m in j["data"] if m["id"] == "gpt-4o" or m["id"].startswith("claude-"))')" \
    "$(json "$T/body" 'sorted(m["id"] for m in j["data"] if "alias_of" not in m)')" \
    "/v1/models lists only the allowed models: $IDS"
assert_contains "$IDS" '"gpt-4o"' "... gpt-4o is there"
assert_contains "$IDS" '"claude-sonnet-4.5"' "... and the claude models"
req GET /v1/models -H "Authorization: Bearer $C_SECRET"
assert_contains "$(json "$T/body" '[m["id"] for m in j["data"]]')" '"o1"' \
    "an unrestricted key sees every model"
req GET /v1/models/o1 -H "$M_AUTH"
assert_eq "$STATUS" 404 "GET /v1/models/o1 with a restricted key: 404"
req GET /v1/models/gpt-4o -H "$M_AUTH"
assert_eq "$STATUS" 200 "GET /v1/models/gpt-4o with a restricted key: 200"
# An alias is a model of its own in the list: one that names a refused
# model must not be offered to the key either.
req GET /v1/models -H "$M_AUTH"
soft_eq "$(json "$T/body" '[m["id"] for m in j["data"] if m["id"] == "thinker"]')" \
    '[]' "/v1/models does not list alias 'thinker' (-> o1) to a key that may not use o1"

# --- client keys are refused on the admin routes -----------------------------------
for r in "GET /auth/keys" "POST /auth/keys" "GET /auth/keys/$C_ID" \
    "POST /auth/keys/$C_ID/label" "POST /auth/keys/$C_ID/rotate" \
    "DELETE /auth/keys/$C_ID" "GET /accounts" "DELETE /accounts/$ACCT2"; do
	printf 'client key: %s\t%s\t%s\tAuthorization: Bearer %s\t{"label":"pwned"}\n' \
	    "$r" "${r% *}" "${r#* }" "$C_SECRET"
done | batch
while IFS="$(printf '\t')" read -r _w _st _wa _ty _co _msg; do
	assert_eq "$_st $_ty $_co" "403 permission_error admin_required" \
	    "$_w: 403 permission_error admin_required"
done <"$T/batch.tsv"
gw keys list --json >"$T/keys-after.json"
assert_eq "$(json "$T/keys-after.json" '[len(j), sum(1 for k in j if k["label"] == "pwned"), sum(1 for k in j if k["status"] == "revoked")]')" \
    "[$NKEYS, 0, 1]" "the client key changed nothing"
assert_eq "$(gw accounts list --json | json - 'len(j)')" 2 \
    "the client key removed no account"

# --- admin keys may do everything -------------------------------------------------
A_AUTH="Authorization: Bearer $ADMIN_SECRET"
req GET /auth/keys -H "$A_AUTH"
assert_eq "$STATUS" 200 "admin key: GET /auth/keys"
req GET /accounts -H "$A_AUTH"
assert_eq "$STATUS" 200 "admin key: GET /accounts"
req GET /auth/keys/$C_ID -H "x-api-key: $ADMIN_SECRET"
assert_eq "$STATUS" 200 "admin key as x-api-key: GET /auth/keys/{id}"
req POST /v1/chat/completions -H "$CT" -H "$A_AUTH" -d "$CHAT"
assert_eq "$STATUS" 200 "admin key: the API too"
req GET /v1/models -H "$A_AUTH"
assert_eq "$STATUS" 200 "admin key: /v1/models"
stop_gw
assert_eq "$GW_STATUS" 0 "serve stopped cleanly"

# --- no secret in the logs or the audit table ------------------------------------------
$PY "$RC" scan --state "$GH_URL/__fake/github/state" --db "$DB" \
    --file "$T/gw.log" --file "$T/gw.out.log" --file "$T/login.out" \
    --file "$T/login.err" >"$T/scan.out" 2>"$T/scan.err" ||
    fail "scan failed: $(cat "$T/scan.err")"
assert_eq "$(cat "$T/scan.out")" "" \
    "no GitHub or Copilot token in the logs or tables ($(cat "$T/scan.err"))"
sqlite3 -readonly "$DB" "SELECT * FROM audit" >"$T/audit.txt"
LOGS=$(cat "$T/gw.log" "$T/gw.out.log" "$T/audit.txt")
for s in "$ADMIN_SECRET" "$C_SECRET" "$M_SECRET" "$B_SECRET" "$R_SECRET" \
    "$E_SECRET" "$BAD1"; do
	assert_not_contains "$LOGS" "${s:7:16}" \
	    "secret ${s:0:11}... is not in the log or the audit table"
done
assert_not_contains "$LOGS" "$BAD2" "the garbage key is not logged"
assert_contains "$(cat "$T/audit.txt")" "auth.failure" \
    "auth failures are audited"

# --- auth off: loopback only ------------------------------------------------------------
: >"$T/gw.log"
start_gw	# lib.sh: COPILOT_GW_AUTH_ENABLED=false
req POST /v1/chat/completions -H "$CT" -d "$CHAT"
assert_eq "$STATUS" 200 "auth off on loopback: no key needed"
assert_contains "$(cat "$T/gw.log")" "auth is off" "auth off: serve warns at start"
stop_gw
P=$(free_port)
RC_OFF=0
cp "$GW_HOME/config.json" "$T/config.saved"
cat >"$GW_HOME/config.json" <<'JSON'
{ "auth": { "enabled": false } }
JSON
timeout 20 "$GW_BIN" serve --listen "0.0.0.0:$P" --allow-remote \
    >"$T/remote.out" 2>"$T/remote.err" || RC_OFF=$?
cp "$T/config.saved" "$GW_HOME/config.json"
assert_eq "$RC_OFF" 1 "auth.enabled false with --allow-remote on 0.0.0.0: exit 1"
assert_contains "$(cat "$T/remote.err")" "auth" \
    "... with a message about auth"
assert_contains "$(cat "$T/remote.err")" "0.0.0.0" "... naming the address"
curl -s -o /dev/null "http://127.0.0.1:$P/healthz" &&
    fail "something answers on port $P"
ok "nothing listens on the refused port"

RC_OFF=0
COPILOT_GW_AUTH_ENABLED=false timeout 20 "$GW_BIN" serve \
    --listen "0.0.0.0:$P" --allow-remote >/dev/null 2>"$T/remote.err" ||
    RC_OFF=$?
assert_eq "$RC_OFF" 1 "... and the same with COPILOT_GW_AUTH_ENABLED=false"
RC_OFF=0
timeout 20 "$GW_BIN" serve --listen "0.0.0.0:$P" >/dev/null \
    2>"$T/remote.err" || RC_OFF=$?
assert_eq "$RC_OFF" 1 "auth on, 0.0.0.0 without --allow-remote: exit 1"
assert_contains "$(cat "$T/remote.err")" "allow-remote" \
    "... pointing at --allow-remote"
# A refused start on a fresh home creates no admin key (file or row).
RC_OFF=0
COPILOT_GW_HOME=$T/fresh-home timeout 20 "$GW_BIN" serve \
    --listen "0.0.0.0:$P" </dev/null >"$T/fresh.out" 2>&1 || RC_OFF=$?
assert_eq "$RC_OFF" 1 "fresh home, 0.0.0.0 without --allow-remote: exit 1"
assert_eq "$(ls "$T/fresh-home/admin-key" 2>/dev/null; grep -c sk-cgw- "$T/fresh.out")" 0 \
    "... before any admin key was made or printed"

# --- auth on: --allow-remote starts --------------------------------------------------------
P=$(free_port)
GW_URL="http://127.0.0.1:$P"
"$GW_BIN" serve --listen "0.0.0.0:$P" --allow-remote \
    >>"$T/gw.out.log" 2>>"$T/gw.log" &
GW_PID=$!
_PIDS="$_PIDS $GW_PID"
n=200
until curl -fsS -o /dev/null "$GW_URL/healthz" 2>/dev/null; do
	n=$((n - 1))
	[ $n -gt 0 ] && kill -0 "$GW_PID" 2>/dev/null ||
	    fail "serve --allow-remote with auth on did not start"
	sleep 0.05
done
ok "auth on with --allow-remote on 0.0.0.0: serve starts"
req POST /v1/chat/completions -H "$CT" -d "$CHAT"
assert_eq "$STATUS" 401 "remote listener: no key, 401"
req POST /v1/chat/completions -H "$CT" -H "x-api-key: $C_SECRET" -d "$CHAT"
assert_eq "$STATUS" 200 "remote listener: a key works"
assert_contains "$(cat "$T/gw.log")" "non-loopback" \
    "serve warns about the non-loopback address"
stop_gw
assert_eq "$GW_STATUS" 0 "serve stopped cleanly"

done_testing
