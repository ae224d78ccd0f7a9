#!/bin/bash
# SPDX-License-Identifier: ISC
# Non-streaming Anthropic Messages (/v1/messages, ?beta=true, /messages)
# on both paths. Native (claude-sonnet-4.5, whose supported_endpoints list
# /v1/messages): the body passes through with only the model renamed,
# anthropic-version and the client's anthropic-beta are forwarded, thinking
# blocks keep their signatures across a round trip, and a native refusal
# falls back to translation. Translation (gpt-4o, an alias, claude-opus-4.1
# which has no native endpoint): system as a string or blocks
# (cache_control dropped), text, images (base64 and URL, with
# copilot-vision-request), tool_use / tool_result (is_error, array
# content) in conversation order, tools and tool_choice, stop_sequences,
# max_tokens, temperature, top_p, metadata.user_id, unknown fields left
# out; answers with msg_ ids, content in upstream order (TWO_CHOICES
# merged), stop reasons and usage.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
AV='anthropic-version: 2023-06-01'

# msg BODY [PATH] [CURL ARGS]: POSTs an Anthropic request.
msg() {
	_b=$1 _p=${2:-/v1/messages}
	shift
	[ $# -eq 0 ] || shift
	req POST "$_p" -H "$CT" -H "$AV" "$@" -d "$_b"
}

# up_last PATH EXPR: EXPR over the last request the fake recorded on PATH:
# r (headers lowercased, body text) and b (the parsed body).
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

# up_count PATH: how many requests the fake recorded on PATH.
up_count() {
	curl -fsS "$GH_URL/__fake/requests" | $PY -c '
import json, sys
print(len([r for r in json.load(sys.stdin) if r["path"] == sys.argv[1]]))
' "$1"
}

# body_is EXPR MESSAGE: asserts a Python expression over the answer j.
body_is() {
	assert_eq "$(json "$T/body" "$1")" true "$2"
}

NAT=/cp/v1/messages
CHAT=/cp/chat/completions

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "models": { "aliases": { "house-model": "gpt-4.1" } } }
JSON
start_github
login_github
start_gw

# ---------------------------------------------------------------- native
for p in /v1/messages '/v1/messages?beta=true' /messages; do
	msg '{"model":"claude-sonnet-4-5-20250929","max_tokens":100,"messages":[{"role":"user","content":"hello native"}]}' "$p"
	assert_eq "$STATUS" 200 "native $p: 200"
	assert_contains "$(header content-type)" application/json \
	    "native $p: answered as JSON"
done
body_is 'j["type"] == "message" and j["role"] == "assistant"' \
    "native: a message from the assistant"
body_is 'j["id"].startswith("msg_")' "native: a msg_ id"
body_is 'j["content"] == [{"type": "text", "text": "echo: hello native"}]' \
    "native: Copilot's content"
body_is 'j["stop_reason"] == "end_turn" and j["stop_sequence"] is None' \
    "native: stop_reason end_turn"
body_is 'all(isinstance(j["usage"].get(k), int) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens")) and j["usage"]["input_tokens"] > 0 and j["usage"]["output_tokens"] > 0' \
    "native: usage with input, output and cache_read tokens"
assert_eq "$(up_count $NAT) $(up_count $CHAT)" "3 0" \
    "native: three calls to /v1/messages upstream, none to chat"
assert_eq "$(up_last $NAT 'b["model"]')" claude-sonnet-4.5 \
    "native: the dated id reaches Copilot as claude-sonnet-4.5"

# Pass-through: the body is the client's, only the model renamed; the
# version and beta headers are forwarded.
NATBODY='{"model":"claude-sonnet-4-5-20250929","max_tokens":200,"system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"cached turn","cache_control":{"type":"ephemeral","ttl":"5m"}}]}],"metadata":{"user_id":"user_abc_account_def_session_ghi"},"temperature":0.5,"top_k":7,"stop_sequences":["STOP!"]}'
msg "$NATBODY" '/v1/messages?beta=true' \
    -H 'anthropic-version: 2023-06-01' \
    -H 'anthropic-beta: interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14'
assert_eq "$STATUS" 200 "native with cache_control, metadata and betas: 200"
assert_eq "$(up_last $NAT 'r["headers"].get("anthropic-version")')" \
    2023-06-01 "native: anthropic-version forwarded"
assert_eq "$(up_last $NAT 'r["headers"].get("anthropic-beta")')" \
    interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14 \
    "native: the client's anthropic-beta forwarded as is"
want=$(printf '%s' "$NATBODY" | json - 'dict(j, model="claude-sonnet-4.5")')
assert_eq "$(up_last $NAT 'b')" "$want" \
    "native: the body passes through, only the model renamed"
assert_eq "$(up_last $NAT 'r["headers"].get("copilot-integration-id")')" \
    vscode-chat "native: Copilot's own headers are sent too"
assert_eq "$(up_last $NAT 'r["headers"].get("x-initiator")')" user \
    "native: X-Initiator user for a first turn"

# No anthropic-version from the client: the gateway sends one.
gh_config '{"require_anthropic_version": true}'
req POST /v1/messages -H "$CT" \
    -d '{"model":"claude-sonnet-4.5","max_tokens":50,"messages":[{"role":"user","content":"no version"}]}'
assert_eq "$STATUS" 200 "native without anthropic-version: 200"
assert_eq "$(up_last $NAT 'r["headers"].get("anthropic-version")')" \
    2023-06-01 "native: anthropic-version 2023-06-01 by default"
assert_eq "$(up_last $NAT '"anthropic-beta" in r["headers"]')" false \
    "native: no anthropic-beta unless the client sent one"
gh_config '{"require_anthropic_version": false}'

# Thinking: blocks and signatures kept, and accepted back by Copilot.
msg '{"model":"claude-sonnet-4-5-20250929","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[{"name":"Read","description":"Reads a file","input_schema":{"type":"object","properties":{"echo":{"type":"string"}}}}],"messages":[{"role":"user","content":"think then call"}]}'
assert_eq "$STATUS" 200 "native thinking + tools: 200"
body_is '[c["type"] for c in j["content"]] == ["thinking", "tool_use"]' \
    "native: a thinking block, then the tool_use"
body_is 'j["content"][0]["thinking"] == "Thinking about: think then call" and len(j["content"][0]["signature"]) > 40' \
    "native: the thinking text and its signature"
body_is 'j["stop_reason"] == "tool_use" and j["content"][1]["input"] == {"echo": "think then call"} and j["content"][1]["id"].startswith("toolu_")' \
    "native: stop_reason tool_use, the tool input parsed"
turn2=$($PY - "$T/body" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
tu = a["content"][1]
print(json.dumps({
    "model": "claude-sonnet-4-5-20250929", "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "tools": [{"name": "Read", "input_schema": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": "think then call"},
        {"role": "assistant", "content": a["content"]},
        {"role": "user", "content": [{"type": "tool_result",
                                      "tool_use_id": tu["id"],
                                      "content": "file body"}]}]}))
PY
)
msg "$turn2"
assert_eq "$STATUS" 200 "native: the signed thinking block is accepted back"
body_is '[c["type"] for c in j["content"]] == ["thinking", "text"] and j["content"][1]["text"] == "tool said: file body"' \
    "native: the tool result reached the model"
assert_eq "$(up_last $NAT 'r["headers"].get("x-initiator")')" agent \
    "native: X-Initiator agent with a tool result"
bad=$(printf '%s' "$turn2" | json - 'j["messages"][1]["content"][0].update(signature="AAAA" + j["messages"][1]["content"][0]["signature"][4:]) or j')
msg "$bad"
assert_eq "$STATUS" 400 "native: a tampered signature is refused (400)"
body_is 'j["type"] == "error" and j["error"]["type"] == "invalid_request_error" and "signature" in j["error"]["message"]' \
    "native: Copilot's 400 in Anthropic's shape, message kept"

# Native tool_use, max_tokens and an image.
msg '{"model":"claude-sonnet-4.5","max_tokens":5,"messages":[{"role":"user","content":"LONG:100"}]}'
body_is 'j["stop_reason"] == "max_tokens" and j["usage"]["output_tokens"] == 5' \
    "native: stop_reason max_tokens"
msg '{"model":"claude-sonnet-4.5","max_tokens":50,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"what is it"}]}]}'
assert_eq "$STATUS" 200 "native with an image: 200"
body_is 'j["content"][0]["text"] == "echo: what is it [images: 1]"' \
    "native: the image reached Copilot"
assert_eq "$(up_last $NAT 'r["headers"].get("copilot-vision-request")')" \
    true "native: copilot-vision-request: true with an image"

# A native refusal falls back to translation.
n0=$(up_count $CHAT)
gh_config '{"api_fail_next": [{"status": 400, "message": "thinking.type: value not supported for this model", "code": "invalid_request_body"}]}'
msg '{"model":"claude-sonnet-4.5","max_tokens":50,"messages":[{"role":"user","content":"fall back"}]}'
assert_eq "$STATUS" 200 "a refused native call is retried by translation: 200"
body_is 'j["content"] == [{"type": "text", "text": "echo: fall back"}] and j["id"].startswith("msg_")' \
    "the fallback answer is a proper message"
assert_eq "$(up_count $CHAT)" $((n0 + 1)) "the fallback went to chat/completions"
assert_eq "$(up_last $CHAT 'b["model"] + " " + b["messages"][-1]["content"]')" \
    "claude-sonnet-4.5 fall back" "the fallback body is translated"
# A refusal whose translation fails too (a "system" role inside messages
# cannot be translated): a 400 for the client, and the gateway lives on.
gh_config '{"api_fail_next": [{"status": 400, "message": "Extra inputs are not permitted", "code": "invalid_request_body"}]}'
req POST /v1/messages -H "$CT" -H "$AV" -d '{"model":"claude-sonnet-4.5","max_tokens":50,"messages":[{"role":"user","content":"hi"},{"role":"system","content":"x"}]}'
assert_eq "$STATUS $(json "$T/body" 'j["error"]["type"]')" "400 invalid_request_error" \
    "refused natively, untranslatable: 400 invalid_request_error"
req GET /healthz
assert_eq "$STATUS" 200 "... and the gateway still answers"

# ----------------------------------------------------------- translation
for p in /v1/messages '/v1/messages?beta=true' /messages; do
	msg '{"model":"gpt-4o","max_tokens":100,"messages":[{"role":"user","content":"hello chat"}]}' "$p"
	assert_eq "$STATUS" 200 "translated $p: 200"
done
body_is 'j["type"] == "message" and j["role"] == "assistant" and j["model"] == "gpt-4o"' \
    "translated: a message for model gpt-4o"
body_is 'j["id"].startswith("msg_") and len(j["id"]) > 8' "translated: a msg_ id"
body_is 'j["content"] == [{"type": "text", "text": "echo: hello chat"}]' \
    "translated: the answer's text"
body_is 'j["stop_reason"] == "end_turn" and j["stop_sequence"] is None' \
    "translated: stop_reason end_turn"
body_is 'all(isinstance(j["usage"].get(k), int) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens")) and j["usage"]["input_tokens"] > 0 and j["usage"]["output_tokens"] > 0' \
    "translated: usage with input, output and cache_read tokens"
assert_eq "$(up_last $CHAT 'b["model"]')" gpt-4o "translated: sent to chat"
msg '{"model":"gpt-4o","max_tokens":100,"messages":[{"role":"user","content":"id check"}]}'
id2=$(json "$T/body" 'j["id"]')
msg '{"model":"gpt-4o","max_tokens":100,"messages":[{"role":"user","content":"id check"}]}'
assert_eq "$([ "$id2" != "$(json "$T/body" 'j["id"]')" ] && echo fresh)" \
    fresh "translated: a fresh id per message"

# A request using every translated feature.
RICH=$(cat <<'JSON'
{"model":"gpt-4o","max_tokens":321,"temperature":0.25,"top_p":0.9,"top_k":5,
 "stop_sequences":["END","STOP"],"metadata":{"user_id":"user-42"},
 "service_tier":"auto","foo_unknown":{"x":1},"container":"c1",
 "thinking":{"type":"enabled","budget_tokens":1024},
 "system":[{"type":"text","text":"You are a helper."},
           {"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
 "tools":[{"name":"get_weather","description":"Weather by city",
           "input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},
           "cache_control":{"type":"ephemeral"}},
          {"name":"get_time","input_schema":{"type":"object","properties":{}}}],
 "tool_choice":{"type":"auto","disable_parallel_tool_use":true},
 "messages":[
  {"role":"user","content":[
    {"type":"text","text":"look at these"},
    {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
    {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]},
  {"role":"assistant","content":[
    {"type":"text","text":"Let me check."},
    {"type":"tool_use","id":"toolu_A","name":"get_weather","input":{"city":"Paris"}},
    {"type":"tool_use","id":"toolu_B","name":"get_time","input":{}}]},
  {"role":"user","content":[
    {"type":"tool_result","tool_use_id":"toolu_A","content":"sunny, 21C","cache_control":{"type":"ephemeral"}},
    {"type":"tool_result","tool_use_id":"toolu_B","is_error":true,
     "content":[{"type":"text","text":"clock broken"},{"type":"text","text":"try later"}]},
    {"type":"text","text":"and now?"},
    {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}]}]}
JSON
)
msg "$RICH"
assert_eq "$STATUS" 200 "translated: a request with every feature: 200"
up_last $CHAT 'b' >"$T/up.json"
uj() { json "$T/up.json" "$1"; }
assert_eq "$(uj 'j["messages"][0]')" \
    '{"role": "system", "content": "You are a helper.\n\nBe brief."}' \
    "system blocks joined into one system message"
assert_eq "$(uj 'j["messages"][1]')" \
    '{"role": "user", "content": [{"type": "text", "text": "look at these"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}' \
    "text and images (base64 and URL) become text and image_url parts"
assert_eq "$(uj '[m["role"] for m in j["messages"]]')" \
    '["system", "user", "assistant", "tool", "tool", "user"]' \
    "the conversation order: tool results first, then the user's text"
assert_eq "$(uj 'j["messages"][2]["content"]')" "Let me check." \
    "the assistant's text is kept"
assert_eq "$(uj '[(c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in j["messages"][2]["tool_calls"]]')" \
    '[["toolu_A", "function", "get_weather", {"city": "Paris"}], ["toolu_B", "function", "get_time", {}]]' \
    "tool_use blocks become tool_calls with JSON arguments"
assert_eq "$(uj '[j["messages"][3]["tool_call_id"], j["messages"][3]["content"]]')" \
    '["toolu_A", "sunny, 21C"]' "a tool_result becomes a tool message"
assert_eq "$(uj 'j["messages"][4]["tool_call_id"]')" toolu_B \
    "the second tool result, in order"
c4=$(uj 'j["messages"][4]["content"]')
assert_contains "$c4" "clock broken" "array tool_result content: first text"
assert_contains "$c4" "try later" "array tool_result content: second text"
assert_eq "$(uj '"error" in j["messages"][4]["content"].lower()')" true \
    "is_error is told to the model"
assert_eq "$(uj 'j["messages"][5]')" \
    '{"role": "user", "content": [{"type": "text", "text": "and now?"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]}' \
    "the user's text and image after the tool results"
assert_eq "$(uj 'j["tools"]')" \
    '[{"type": "function", "function": {"name": "get_weather", "description": "Weather by city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}, {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]' \
    "tools become functions with their schemas"
assert_eq "$(uj '[j.get("tool_choice"), j.get("parallel_tool_calls")]')" \
    '["auto", false]' \
    "tool_choice auto; disable_parallel_tool_use -> parallel_tool_calls false"
assert_eq "$(uj '[j["max_tokens"], j["temperature"], j["top_p"], j.get("stop"), j["user"]]')" \
    '[321, 0.25, 0.9, null, "user-42"]' \
    "max_tokens, temperature, top_p, user; stop_sequences are matched by the gateway, not sent"
assert_eq "$(uj '[j["stream"], j["stream_options"]]')" \
    '[true, {"include_usage": true}]' \
    "with stop_sequences the gateway streams from Copilot (to stop at a match)"
assert_eq "$(uj 'sorted(set(j) - {"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens", "temperature", "top_p", "user", "stream", "stream_options"})')" \
    '[]' "no unknown field sent upstream (top_k, thinking, service_tier, ...)"
assert_not_contains "$(cat "$T/up.json")" cache_control \
    "cache_control is not sent upstream"
assert_eq "$(up_last $CHAT 'r["headers"].get("copilot-vision-request")')" \
    true "copilot-vision-request: true with images"
assert_eq "$(up_last $CHAT 'r["headers"].get("x-initiator")')" agent \
    "X-Initiator agent with tool results"
body_is 'j["content"][0]["type"] == "tool_use" and j["content"][0]["name"] == "get_weather" and j["content"][0]["input"] == {"echo": "and now?"}' \
    "the answer (a call of tools[0]) follows the last user text"

# Images inside tool results (Claude Code's Read of a picture): a tool
# message carries only text, so they follow the tool messages in a user
# message of their own, named by tool call; the tool message says so.
msg '{"model":"gpt-4o","max_tokens":50,"messages":[
 {"role":"user","content":"look at the screenshot"},
 {"role":"assistant","content":[{"type":"tool_use","id":"toolu_S","name":"shot","input":{}},{"type":"tool_use","id":"toolu_T","name":"ls","input":{}}]},
 {"role":"user","content":[
  {"type":"tool_result","tool_use_id":"toolu_S","content":[{"type":"text","text":"screen.png"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},
  {"type":"tool_result","tool_use_id":"toolu_T","content":"a.c b.c"},
  {"type":"text","text":"what do you see?"}]}]}'
assert_eq "$STATUS" 200 "tool results with images: 200"
assert_eq "$(up_last $CHAT '[m["role"] for m in b["messages"]]')" \
    '["user", "assistant", "tool", "tool", "user", "user"]' \
    "the tool messages stay together; the images follow them, then the user's text"
assert_eq "$(up_last $CHAT 'b["messages"][4]["content"]')" \
    '[{"type": "text", "text": "Images returned by tool call toolu_S:"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]' \
    "the tool's image, named by its tool call"
assert_contains "$(up_last $CHAT 'b["messages"][2]["content"]')" "screen.png" \
    "the tool message keeps the result's text"
assert_contains "$(up_last $CHAT 'b["messages"][2]["content"]')" "images this tool returned" \
    "... and says its images follow"
assert_eq "$(up_last $CHAT 'r["headers"].get("copilot-vision-request")')" true \
    "copilot-vision-request: true for images in tool results"

# System as a plain string; no vision header without images.
msg '{"model":"gpt-4o","max_tokens":10,"system":"Just a string.","messages":[{"role":"user","content":"hi"}]}'
assert_eq "$(up_last $CHAT 'b["messages"]')" \
    '[{"role": "system", "content": "Just a string."}, {"role": "user", "content": "hi"}]' \
    "system as a string; string content kept"
assert_eq "$(up_last $CHAT '[r["headers"].get("copilot-vision-request"), r["headers"].get("x-initiator")]')" \
    '[null, "user"]' "no vision header without images; initiator user"
assert_eq "$(up_last $CHAT '[k for k in ("tools", "tool_choice", "parallel_tool_calls", "stop", "user", "temperature", "top_p") if k in b]')" \
    '[]' "absent fields stay absent"

# tool_choice: auto / any / tool / none.
TOOLS='"tools":[{"name":"first","input_schema":{"type":"object"}},{"name":"second","input_schema":{"type":"object"}}]'
for tc in '{"type":"auto"}|"auto"' '{"type":"any"}|"required"' \
    '{"type":"tool","name":"second"}|{"type": "function", "function": {"name": "second"}}' \
    '{"type":"none"}|"none"'; do
	msg "{\"model\":\"gpt-4o\",\"max_tokens\":50,$TOOLS,\"tool_choice\":${tc%%|*},\"messages\":[{\"role\":\"user\",\"content\":\"choose\"}]}"
	assert_eq "$STATUS $(up_last $CHAT 'json.dumps(b.get("tool_choice"))')" \
	    "200 ${tc#*|}" "tool_choice ${tc%%|*} -> ${tc#*|}"
	assert_eq "$(up_last $CHAT '"parallel_tool_calls" in b')" false \
	    "tool_choice ${tc%%|*}: parallel_tool_calls left alone"
done
body_is 'j["content"] == [{"type": "text", "text": "echo: choose"}] and j["stop_reason"] == "end_turn"' \
    "tool_choice none: a text answer"

# Answers: tool_use, text + tool_use over two choices, max_tokens.
msg "{\"model\":\"gpt-4o\",\"max_tokens\":50,$TOOLS,\"tool_choice\":{\"type\":\"tool\",\"name\":\"second\"},\"messages\":[{\"role\":\"user\",\"content\":\"use it\"}]}"
body_is 'j["stop_reason"] == "tool_use" and len(j["content"]) == 1' \
    "a tool call: stop_reason tool_use"
body_is 'j["content"][0]["type"] == "tool_use" and j["content"][0]["name"] == "second" and j["content"][0]["input"] == {"echo": "use it"} and j["content"][0]["id"].startswith("call_")' \
    "tool_use block with its id, name and parsed input"
msg "{\"model\":\"gpt-4o\",\"max_tokens\":50,$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"TWO_CHOICES go\"}]}"
body_is '[c["type"] for c in j["content"]] == ["text", "tool_use"]' \
    "TWO_CHOICES: the choices merged, text then tool_use"
body_is 'j["content"][0]["text"] == "echo: TWO_CHOICES go" and j["content"][1]["input"] == {"echo": "TWO_CHOICES go"} and j["stop_reason"] == "tool_use"' \
    "TWO_CHOICES: both blocks complete, stop_reason tool_use"
msg "{\"model\":\"gpt-4o\",\"max_tokens\":50,$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"INTERLEAVE two\"}]}"
body_is '[[c["name"], c["input"]["n"]] for c in j["content"]] == [["first", 0], ["second", 1]] and j["stop_reason"] == "tool_use"' \
    "two tool calls: two tool_use blocks in order"
msg '{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"LONG:100"}]}'
body_is 'j["stop_reason"] == "max_tokens" and j["content"][0]["text"] == "x " * 10 and j["usage"]["output_tokens"] == 5' \
    "max_tokens reached: stop_reason max_tokens"
assert_eq "$(up_last $CHAT 'b["max_tokens"]')" 5 "max_tokens sent upstream"

# A tool round trip, by translation.
msg "{\"model\":\"gpt-4o\",\"max_tokens\":50,$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"call\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"call_X\",\"name\":\"first\",\"input\":{\"echo\":\"call\"}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"call_X\",\"content\":[{\"type\":\"text\",\"text\":\"result text\"}]}]}]}"
body_is 'j["content"] == [{"type": "text", "text": "tool said: result text"}] and j["stop_reason"] == "end_turn"' \
    "tool round trip: the result reaches the model"
assert_eq "$(up_last $CHAT '[m["role"] for m in b["messages"]]')" \
    '["user", "assistant", "tool"]' "tool round trip: user, assistant, tool"
assert_eq "$(up_last $CHAT 'b["messages"][1]["content"]')" null \
    "an assistant turn of only tool_use has null content"

# An alias and a Claude model without a native endpoint.
msg '{"model":"house-model","max_tokens":20,"messages":[{"role":"user","content":"via alias"}]}'
assert_eq "$STATUS $(up_last $CHAT 'b["model"]')" "200 gpt-4.1" \
    "a models.aliases entry is translated to its target"
body_is 'j["model"] == "house-model" and j["content"][0]["text"] == "echo: via alias"' \
    "the alias answer names the model the client asked for"
n0=$(up_count $NAT)
msg '{"model":"claude-opus-4-1-20250805","max_tokens":20,"messages":[{"role":"user","content":"opus"}]}'
assert_eq "$STATUS $(up_last $CHAT 'b["model"]')" "200 claude-opus-4.1" \
    "claude-opus-4.1 (chat only) is translated"
assert_eq "$(up_count $NAT)" "$n0" "claude-opus-4.1 is not sent natively"

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy after all that"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
