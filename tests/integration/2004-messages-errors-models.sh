#!/bin/bash
# SPDX-License-Identifier: ISC
# Anthropic Messages errors and model names. Errors are
# {"type":"error","error":{"type","message"}} with the right status: no
# account (503), bad JSON and missing fields (400 invalid_request_error),
# unknown routes and methods, an unknown model (404 not_found_error listing
# the account's models, nothing sent upstream), upstream errors on both
# paths (400, 401 -> 502 api_error, 500, 429 rate_limit_error with
# Retry-After), for streaming requests too. Model names: Claude Code's
# dated ids map by family and version (claude-sonnet-4-5-20250929 ->
# claude-sonnet-4.5, claude-haiku-4-5-20251001 -> claude-haiku-4.5,
# claude-opus-4-1-20250805 -> claude-opus-4.1), a bare family takes the
# newest version offered, a version the account lacks is a 404 and never
# another version, the github_copilot/ prefix is stripped, and config
# aliases win. The model the fake saw is checked every time.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
AV='anthropic-version: 2023-06-01'

msg() {
	_b=$1 _p=${2:-/v1/messages}
	shift
	[ $# -eq 0 ] || shift
	req POST "$_p" -H "$CT" -H "$AV" "$@" -d "$_b"
}

# is_error STATUS TYPE MESSAGE: the last answer is an Anthropic error.
is_error() {
	_got=$($PY - "$T/body" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except ValueError:
    print("not JSON")
    sys.exit()
ok = (isinstance(j, dict) and sorted(j) == ["error", "type"]
      and j["type"] == "error" and isinstance(j["error"], dict)
      and isinstance(j["error"].get("message"), str)
      and j["error"]["message"] != "")
print(j["error"]["type"] if ok else "bad shape: " + json.dumps(j)[:300])
PY
)
	assert_eq "$STATUS $_got" "$1 $2" "$3"
}

# calls: messages + chat calls the fake has seen.
calls() { gh_state 'j["messages_calls"] + j["chat_calls"]'; }

# saw: the model of the last generation call the fake got.
saw() { gh_state '[r for r in j["api_log"] if r["path"] != "/cp/models"][-1]["model"]'; }

# maps NAME WANT PATH: NAME is answered by WANT, reached on PATH.
maps() {
	msg "{\"model\":\"$1\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"which\"}]}"
	assert_eq "$STATUS $(saw) $(gh_state '[r for r in j["api_log"] if r["path"] != "/cp/models"][-1]["path"]')" \
	    "200 $2 /cp$3" "$1 -> $2 ($3)"
}

# unmapped NAME: a 404 listing the models, nothing sent upstream.
unmapped() {
	_n=$(calls)
	msg "{\"model\":\"$1\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"which\"}]}"
	is_error 404 not_found_error "$1: 404 not_found_error"
	_m=$(json "$T/body" 'j["error"]["message"]')
	assert_contains "$_m" "$1" "$1: the message names the model asked for"
	assert_contains "$_m" "claude-sonnet-4.5" "$1: the message lists the account's models"
	assert_eq "$(calls)" "$_n" "$1: nothing is sent upstream"
}

start_github

# -------------------------------------------------------- no account: 503
start_gw
msg '{"model":"claude-sonnet-4.5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}'
is_error 503 api_error "no account: 503 api_error (not overloaded_error: nothing is overloaded)"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" \
    "copilot-gw login github" "no account: the 503 says what to run"
msg '{"model":"gpt-4o","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
is_error 503 api_error \
    "no account, streaming request: a 503 JSON error"
assert_eq "$(calls)" 0 "no account: nothing reached Copilot"
stop_gw

login_github
start_gw

# ---------------------------------------------------- request validation
msg '{"model":"gpt-4o","max_tokens":20,"messages":[' 
is_error 400 invalid_request_error "truncated JSON: 400 invalid_request_error"
msg '{"model":"gpt-4o",}'
is_error 400 invalid_request_error "bad JSON: 400 invalid_request_error"
msg '["model"]'
is_error 400 invalid_request_error "a JSON array body: 400"
msg '{"model":"gpt-4o","max_tokens":20,"messages":[]} trailing'
is_error 400 invalid_request_error "trailing data: 400"
req POST /v1/messages -H "$CT"
is_error 400 invalid_request_error "no body: 400"
msg '{"model":"claude-sonnet-4.5","messages":[{"role":"user","content":"hi"}]}'
is_error 400 invalid_request_error "missing max_tokens: 400"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" max_tokens \
    "missing max_tokens: the message names the field"
msg '{"model":"gpt-4o","max_tokens":"20","messages":[{"role":"user","content":"hi"}]}'
is_error 400 invalid_request_error "max_tokens as a string: 400"
msg '{"max_tokens":20,"messages":[{"role":"user","content":"hi"}]}'
is_error 400 invalid_request_error "missing model: 400"
msg '{"model":"gpt-4o","max_tokens":20}'
is_error 400 invalid_request_error "missing messages: 400"
msg '{"model":"gpt-4o","max_tokens":20,"messages":[{"role":"system","content":"hi"}]}'
is_error 400 invalid_request_error "a message with role system: 400"
msg '{"model":"gpt-4o","max_tokens":20,"messages":[{"role":"user","content":42}]}'
is_error 400 invalid_request_error "content that is neither text nor blocks: 400"
req GET /v1/messages
is_error 405 invalid_request_error "GET /v1/messages: 405 in Anthropic's shape"
req POST /v1/messages/nope -H "$CT" -d '{}'
is_error 404 not_found_error "an unknown path under /v1/messages: 404"
assert_eq "$(calls)" 0 "invalid requests reach nobody"

# -------------------------------------------------------------- upstream
for M in claude-sonnet-4.5 gpt-4o; do
	msg "{\"model\":\"$M\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"FAIL_400\"}]}"
	is_error 400 invalid_request_error "$M: upstream 400 -> 400 invalid_request_error"
	assert_contains "$(json "$T/body" 'j["error"]["message"]')" "prompt" \
	    "$M: Copilot's message is kept"
	assert_eq "$(json "$T/body" '"{" not in j["error"]["message"]')" true \
	    "$M: the message is text, not a nested JSON body"
	msg "{\"model\":\"$M\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"FAIL_500\"}]}"
	is_error 500 api_error "$M: upstream 500 -> 500 api_error"
	msg "{\"model\":\"$M\",\"max_tokens\":20,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"FAIL_500\"}]}"
	is_error 500 api_error "$M: upstream 500 on a stream -> a 500 JSON error"
	msg "{\"model\":\"$M\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"FAIL_401\"}]}"
	is_error 502 api_error "$M: Copilot refusing the token -> 502 api_error, not the client's fault"
done

# ------------------------------------------------- model names (default)
maps claude-sonnet-4-5-20250929 claude-sonnet-4.5 /v1/messages
maps claude-haiku-4-5-20251001 claude-haiku-4.5 /v1/messages
maps claude-opus-4-1-20250805 claude-opus-4.1 /chat/completions
maps claude-sonnet-4-5 claude-sonnet-4.5 /v1/messages
maps claude-sonnet-4.5 claude-sonnet-4.5 /v1/messages
maps github_copilot/claude-sonnet-4.5 claude-sonnet-4.5 /v1/messages
maps sonnet claude-sonnet-4.5 /v1/messages
maps haiku claude-haiku-4.5 /v1/messages
maps opus claude-opus-4.1 /chat/completions
maps gpt-4o gpt-4o /chat/completions
unmapped claude-sonnet-4-20250514
unmapped claude-opus-4-5-20251101
unmapped claude-3-5-sonnet-20241022
unmapped gpt-9-turbo
unmapped claude-mystery-1

# ---------------------------------- model names (more models, aliases)
stop_gw
gh_config "$($PY - "$FAKE" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import github
m = github._chat_model
print(json.dumps({"models_extra": [
    m("claude-sonnet-4", "Claude Sonnet 4", "Anthropic", "claude-sonnet-4",
      "claude-sonnet-4", 128000, 16000, 128000,
      ["/chat/completions", "/v1/messages"]),
    m("claude-3.7-sonnet", "Claude Sonnet 3.7", "Anthropic",
      "claude-3.7-sonnet", "claude-3.7-sonnet", 200000, 8192, 90000,
      ["/chat/completions"]),
    m("claude-opus-4", "Claude Opus 4", "Anthropic", "claude-opus-4",
      "claude-opus-4", 80000, 16000, 80000, ["/chat/completions"])]}))
PY
)"
cat >"$GW_HOME/config.json" <<'JSON'
{ "models": { "aliases": {
    "claude-haiku-4-5-20251001": "gpt-4.1",
    "opus": "claude-sonnet-4.5",
    "house": "claude-opus-4"
} } }
JSON
start_gw
maps sonnet claude-sonnet-4.5 /v1/messages
maps claude-sonnet-4-20250514 claude-sonnet-4 /v1/messages
maps claude-sonnet-4-5-20250929 claude-sonnet-4.5 /v1/messages
maps claude-3-7-sonnet-20250219 claude-3.7-sonnet /chat/completions
maps claude-opus-4-20250514 claude-opus-4 /chat/completions
maps claude-opus-4-1-20250805 claude-opus-4.1 /chat/completions
unmapped claude-3-5-sonnet-20241022
# Aliases win over the mapping.
maps claude-haiku-4-5-20251001 gpt-4.1 /chat/completions
maps opus claude-sonnet-4.5 /v1/messages
maps house claude-opus-4 /chat/completions
maps haiku claude-haiku-4.5 /v1/messages

# ----------------------------------------------------------- rate limits
# Last: a 429 with Retry-After pauses the account for two seconds.
for M in claude-sonnet-4.5 gpt-4o; do
	msg "{\"model\":\"$M\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"FAIL_429\"}]}"
	is_error 429 rate_limit_error "$M: upstream 429 -> 429 rate_limit_error"
	assert_eq "$(header retry-after)" 2 "$M: Retry-After is passed on"
	msg "{\"model\":\"$M\",\"max_tokens\":20,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"FAIL_429\"}]}"
	is_error 429 rate_limit_error "$M, streaming: 429 rate_limit_error as JSON"
done
msg '{"model":"claude-sonnet-4.5","max_tokens":20,"messages":[{"role":"user","content":"after the pause"}]}'
assert_eq "$STATUS $(json "$T/body" 'j["content"][0]["text"]')" \
    "200 echo: after the pause" "requests go through again after the pause"

stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
