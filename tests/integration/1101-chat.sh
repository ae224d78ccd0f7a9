#!/bin/bash
# SPDX-License-Identifier: ISC
# Non-streaming chat completions relayed to the Copilot API (the GitHub
# fake): the answer on /v1/chat/completions and /chat/completions, the
# header set Copilot gets (and the client's credentials it never gets),
# vision and initiator headers, max_tokens -> max_completion_tokens for
# the o-series and gpt-5 families, model prefix and aliases, models that
# live only on /v1/responses, request validation, upstream errors in the
# OpenAI shape, no account (503), and no secret in logs or the request log.
. "$(dirname "$0")/lib.sh"

RC=$GW_SOURCE_DIR/tests/integration/relay_client.py
CT='content-type: application/json'

# up_last PATH EXPR: EXPR over the last request the fake recorded on PATH:
# r (the request: headers lowercased, body text) and b (the parsed body).
up_last() {
	curl -fsS "$GH_URL/__fake/requests" | $PY -c '
import json, sys
rs = [r for r in json.load(sys.stdin) if r["path"] == sys.argv[1]]
r = rs[-1] if rs else {"headers": {}, "body": "null"}
b = json.loads(r["body"] or "null")
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
' "$1" "$2"
}

# up_all PATH EXPR: EXPR over rs, every request recorded on PATH.
up_all() {
	curl -fsS "$GH_URL/__fake/requests" | $PY -c '
import json, sys
rs = [r for r in json.load(sys.stdin) if r["path"] == sys.argv[1]]
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
' "$1" "$2"
}

chat() {
	req POST "${2:-/v1/chat/completions}" -H "$CT" -d "$1"
}

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "models": { "aliases": { "fast": "gpt-4o", "thinker": "o1" } } }
JSON
start_github

# No account yet: 503 telling what to run, and nothing reaches Copilot.
start_gw
chat '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
assert_eq "$STATUS" 503 "no account logged in: 503"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" \
    "copilot-gw login github" "the 503 says to run copilot-gw login github"
assert_eq "$(gh_state 'j["chat_calls"]')" 0 "nothing was sent upstream"
for p in /v1/responses /v1/embeddings; do
	req POST $p -H "$CT" -d '{"model":"gpt-4o","input":"hi"}'
	assert_eq "$STATUS $(json "$T/body" '"copilot-gw login github" in j["error"]["message"]')" \
	    "503 true" "no account: $p is 503 too"
done
req GET /v1/models
assert_eq "$STATUS" 503 "no account: /v1/models is 503 too"
stop_gw

login_github
start_gw

# Plain answers on both paths.
chat '{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}'
assert_eq "$STATUS" 200 "chat completion: 200"
assert_eq "$(json "$T/body" 'j["choices"][0]["message"]["content"]')" \
    "echo: hello" "the answer is Copilot's"
assert_eq "$(json "$T/body" 'j["object"]')" chat.completion \
    "object is chat.completion"
assert_eq "$(json "$T/body" 'j["choices"][0]["finish_reason"]')" stop \
    "finish_reason is passed on"
assert_eq "$(json "$T/body" 'j["usage"]["total_tokens"] > 0')" true \
    "usage is passed on"
assert_contains "$(header content-type)" application/json "answered as JSON"
chat '{"model":"gpt-4o","messages":[{"role":"user","content":"no v1"}]}' \
    /chat/completions
assert_eq "$STATUS $(json "$T/body" 'j["choices"][0]["message"]["content"]')" \
    "200 echo: no v1" "/chat/completions (without /v1) works too"

# The header set Copilot gets; the client's credentials stay home.
req POST /v1/chat/completions -H "$CT" \
    -H 'Authorization: Bearer sk-client-secret-0001' \
    -H 'x-api-key: client-api-key-0002' -H 'Cookie: session=cookie-0003' \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"headers"}]}'
assert_eq "$STATUS" 200 "a request with client credentials is answered"
# The token the gateway got in its own exchange: the last one issued.
cptok=$(gh_state 'j["copilot_tokens"][-1]["token"]')
H=/cp/chat/completions
assert_eq "$(up_last $H 'r["headers"].get("authorization")')" \
    "Bearer $cptok" "authorization is Bearer <the Copilot token>"
assert_eq "$(up_last $H 'r["headers"].get("copilot-integration-id")')" \
    vscode-chat "copilot-integration-id: vscode-chat"
assert_eq "$(up_last $H 'r["headers"].get("editor-version", "").startswith("vscode/")')" \
    true "editor-version: vscode/<version>"
assert_eq "$(up_last $H 'r["headers"].get("editor-plugin-version", "").startswith("copilot-chat/")')" \
    true "editor-plugin-version: copilot-chat/<version>"
assert_eq "$(up_last $H 'r["headers"].get("user-agent", "").startswith("GitHubCopilotChat/")')" \
    true "user-agent: GitHubCopilotChat/<version>"
assert_eq "$(up_last $H 'r["headers"].get("openai-intent")')" \
    conversation-panel "openai-intent: conversation-panel"
assert_eq "$(up_last $H '__import__("re").fullmatch(r"\d{4}-\d\d-\d\d", r["headers"].get("x-github-api-version", "")) is not None')" \
    true "x-github-api-version is a date"
assert_eq "$(up_last $H 'r["headers"].get("x-vscode-user-agent-library-version")')" \
    electron-fetch "x-vscode-user-agent-library-version: electron-fetch"
assert_eq "$(up_last $H 'r["headers"].get("x-initiator")')" user \
    "X-Initiator is user for a first turn"
assert_eq "$(up_last $H '"copilot-vision-request" in r["headers"]')" false \
    "no copilot-vision-request without images"
assert_eq "$(up_last $H '[k for k in r["headers"] if k in ("x-api-key", "cookie")]')" \
    "[]" "the client's x-api-key and cookie are not forwarded"
assert_not_contains "$(up_all $H 'rs')" "sk-client-secret-0001" \
    "the client's Authorization is not forwarded"
assert_not_contains "$(up_all $H 'rs')" "cookie-0003" \
    "no trace of the client's cookie upstream"
req POST /v1/chat/completions -H "$CT" -H 'X-Request-Id: client-chosen-id-42' \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"my id"}]}'
assert_eq "$STATUS $(header x-request-id)" "200 client-chosen-id-42" \
    "the client's request id is echoed to the client"
assert_not_contains "$(up_last $H 'r["headers"].get("x-request-id")')" \
    client-chosen "upstream gets the gateway's own x-request-id"
ids=$(up_all $H '[r["headers"].get("x-request-id") for r in rs]')
assert_eq "$(echo "$ids" | json - 'all(__import__("re").fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", i or "") for i in j)')" \
    true "every upstream request has a UUID x-request-id"
assert_eq "$(echo "$ids" | json - 'len(set(j)) == len(j) and len(j) >= 3')" \
    true "a fresh x-request-id per upstream request"

# Vision: the header only with an image part.
chat '{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}'
assert_eq "$STATUS" 200 "a request with an image is answered"
assert_eq "$(json "$T/body" 'j["choices"][0]["message"]["content"]')" \
    "echo: what is this [images: 1]" "the image reached Copilot"
assert_eq "$(up_last $H 'r["headers"].get("copilot-vision-request")')" true \
    "copilot-vision-request: true with an image_url part"

# Initiator: agent once the conversation has an assistant or tool turn.
chat '{"model":"gpt-4o","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}'
assert_eq "$STATUS $(up_last $H 'r["headers"].get("x-initiator")')" \
    "200 agent" "X-Initiator is agent after an assistant turn"
chat '{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"c"}]}'
assert_eq "$(up_last $H 'r["headers"].get("x-initiator")')" user \
    "a system message alone keeps X-Initiator user"

# max_tokens: renamed for the o1/o3/o4/gpt-5 families, kept for gpt-4o.
extra=$($PY - <<'PY'
import json
def m(mid, fam):
    return {"id": mid, "name": mid, "object": "model", "vendor": "OpenAI",
            "version": mid, "preview": False, "model_picker_enabled": True,
            "policy": {"state": "enabled", "terms": ""},
            "supported_endpoints": ["/chat/completions", "/responses"],
            "capabilities": {"family": fam, "type": "chat",
                             "tokenizer": "o200k_base",
                             "limits": {"max_prompt_tokens": 100000,
                                        "max_output_tokens": 100000},
                             "supports": {"streaming": True,
                                          "tool_calls": True}}}
print(json.dumps({"models_extra": [m("o3-mini", "o3-mini"),
                                   m("o4-mini", "o4-mini"),
                                   m("gpt-5-mini", "gpt-5-mini")]}))
PY
)
gh_config "$extra"
# The model list was fetched before the extra models existed: restart
# so that it is fetched again.
stop_gw
start_gw
chat '{"model":"o1","max_tokens":50,"messages":[{"role":"user","content":"think"}]}'
assert_eq "$STATUS" 200 "o1 with max_tokens is answered (Copilot refuses max_tokens for o1)"
assert_eq "$(up_last $H '[b.get("max_completion_tokens"), "max_tokens" in b]')" \
    "[50, false]" "o1: max_tokens becomes max_completion_tokens"
for m in o3-mini o4-mini gpt-5-mini; do
	chat '{"model":"'$m'","max_tokens":40,"messages":[{"role":"user","content":"x"}]}'
	assert_eq "$STATUS $(up_last $H '[b.get("model"), b.get("max_completion_tokens"), "max_tokens" in b]')" \
	    "200 [\"$m\", 40, false]" "$m: max_tokens becomes max_completion_tokens"
done
chat '{"model":"gpt-4o","max_tokens":30,"messages":[{"role":"user","content":"x"}]}'
assert_eq "$STATUS $(up_last $H '[b.get("max_tokens"), "max_completion_tokens" in b]')" \
    "200 [30, false]" "gpt-4o: max_tokens is left alone"

# Model names: the github_copilot/ prefix and configured aliases.
chat '{"model":"github_copilot/gpt-4.1","messages":[{"role":"user","content":"p"}]}'
assert_eq "$STATUS $(up_last $H 'b["model"]')" "200 gpt-4.1" \
    "the github_copilot/ prefix is stripped"
chat '{"model":"fast","messages":[{"role":"user","content":"q"}]}'
assert_eq "$STATUS $(up_last $H 'b["model"]')" "200 gpt-4o" \
    "models.aliases maps fast to gpt-4o"
chat '{"model":"thinker","max_tokens":9,"messages":[{"role":"user","content":"r"}]}'
assert_eq "$STATUS $(up_last $H '[b["model"], b.get("max_completion_tokens")]')" \
    "200 [\"o1\", 9]" "an alias of o1 gets the o1 treatment"

# A model that lives only on /responses: 400 naming /v1/responses, and
# Copilot's chat endpoint is not called.
before=$(gh_state 'j["chat_calls"]')
chat '{"model":"gpt-5.1-codex","messages":[{"role":"user","content":"code"}]}'
assert_eq "$STATUS" 400 "gpt-5.1-codex on chat completions: 400"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" /v1/responses \
    "the 400 points to /v1/responses"
assert_eq "$(gh_state 'j["chat_calls"]')" "$before" \
    "Copilot's chat endpoint was not called for it"

# Validation of the client's request.
chat '{"model": "gpt-4o", "messages": [}'
assert_eq "$STATUS $(json "$T/body" 'j["error"]["type"]')" \
    "400 invalid_request_error" "bad JSON: 400 invalid_request_error"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "byte 33" \
    "the message gives the byte position of the error"
chat '{"model":"gpt-4o","messages":['
assert_eq "$STATUS" 400 "a truncated body: 400"
truncated_msg=$(json "$T/body" 'j["error"]["message"]')
assert_contains "$truncated_msg" "byte 30" \
    "the truncated body's message gives the position (its end)"
assert_eq "$(echo "$truncated_msg" | grep -ci 'end')" 1 \
    "the truncated body's message says the JSON ended early (got: $truncated_msg)"
chat '{"messages":[{"role":"user","content":"x"}]}'
assert_eq "$STATUS" 400 "missing model: 400"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "'model'" \
    "the message names the model field"
chat '{"model":"gpt-4o"}'
assert_eq "$STATUS" 400 "missing messages: 400"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "'messages'" \
    "the message names the messages field"

# Upstream errors keep their status and come as OpenAI error objects.
chat '{"model":"gpt-4o","messages":[{"role":"user","content":"FAIL_400"}]}'
assert_eq "$STATUS" 400 "FAIL_400: 400"
assert_eq "$(json "$T/body" 'j["error"]["code"]')" \
    model_max_prompt_tokens_exceeded "the upstream error code is kept"
msg=$(json "$T/body" 'j["error"]["message"]')
assert_contains "$msg" "exceeds the limit" "the upstream message is kept"
assert_eq "$(json "$T/body" 'j["error"]["message"].lstrip()[:1] not in "{[" and "\"error\"" not in j["error"]["message"]')" \
    true "the message is plain text, not a nested JSON string"
assert_eq "$(json "$T/body" 'sorted(j["error"].keys())')" \
    '["code", "message", "param", "type"]' "a proper OpenAI error object"
chat '{"model":"gpt-4o","messages":[{"role":"user","content":"FAIL_500"}]}'
assert_eq "$STATUS" 500 "FAIL_500: 500"
assert_eq "$(json "$T/body" '"message" in j["error"] and "type" in j["error"]')" \
    true "the 500 is an OpenAI error object"
# Last: Copilot's Retry-After holds the account's next requests back.
chat '{"model":"gpt-4o","messages":[{"role":"user","content":"FAIL_429"}]}'
assert_eq "$STATUS $(json "$T/body" 'j["error"]["type"]')" \
    "429 rate_limit_error" "FAIL_429: 429 rate_limit_error"
assert_eq "$(header retry-after)" 2 "Copilot's Retry-After is passed on"

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy after all that"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"

# No secret in the logs or the request log.
leaks=$($PY "$RC" scan --state "$GH_URL/__fake/github/state" \
    --file "$T/gw.log" --file "$T/gw.out.log" --db "$GW_HOME/copilot-gw.db")
assert_eq "$leaks" "" "no GitHub or Copilot token in the logs or the request log"
done_testing
