#!/bin/bash
# SPDX-License-Identifier: ISC
# POST /v1/messages/count_tokens (also ?beta=true and /messages/...):
# a local estimate, {"input_tokens": n}, with no upstream call and no
# account needed. It grows with the content and counts the system prompt,
# tools and images; it errs high: for each of several bodies relayed to
# the fake (natively and by translation), the prompt tokens the fake
# reports are at most the estimate for the same body. Fifty calls at once
# all succeed, quickly. Bad requests get Anthropic errors.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
AV='anthropic-version: 2023-06-01'

# count BODY [PATH]: POSTs to count_tokens; sets CNT to input_tokens.
count() {
	req POST "${2:-/v1/messages/count_tokens}" -H "$CT" -H "$AV" -d "$1"
	[ "$STATUS" = 200 ] || fail "count_tokens: status $STATUS: $BODY"
	CNT=$(json "$T/body" 'j["input_tokens"]')
}

# upstream_in BODY: sets UP to the input tokens the fake reported for BODY
# (relayed without streaming; input + cache read).
upstream_in() {
	req POST /v1/messages -H "$CT" -H "$AV" -d "$1"
	[ "$STATUS" = 200 ] || fail "messages: status $STATUS: $BODY"
	UP=$(json "$T/body" 'j["usage"]["input_tokens"] + j["usage"].get("cache_read_input_tokens", 0)')
}

calls() { gh_state 'j["messages_calls"] + j["chat_calls"]'; }

start_github
start_gw

# No account needed: nothing goes upstream.
count '{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":"hello there"}]}'
n=$CNT
assert_eq "$STATUS $(json "$T/body" 'sorted(j)')" '200 ["input_tokens"]' \
    "count_tokens without an account: 200 {\"input_tokens\": n}"
assert_eq "$([ "$n" -gt 0 ] && echo yes)" yes "input_tokens > 0 ($n)"
stop_gw

login_github
start_gw
for p in /v1/messages/count_tokens '/v1/messages/count_tokens?beta=true' \
    /messages/count_tokens; do
	count '{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":"hello there"}]}' "$p"
	m=$CNT
	assert_eq "$m" "$n" "$p: the same estimate"
done
assert_contains "$(header content-type)" application/json "answered as JSON"

# Grows with the content; counts system, tools and images.
base='"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":"hello there"}]'
count "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"$(printf 'lorem ipsum dolor sit amet %.0s' $(seq 200))\"}]}"
long=$CNT
assert_eq "$([ "$long" -gt $((n + 1000)) ] && echo yes)" yes \
    "a 5400-character message counts more ($long vs $n)"
count "{$base,\"system\":\"$(printf 'You are a careful assistant. %.0s' $(seq 20))\"}"
sys=$CNT
assert_eq "$([ "$sys" -gt $((n + 100)) ] && echo yes)" yes \
    "a system prompt is counted ($sys vs $n)"
count "{$base,\"system\":[{\"type\":\"text\",\"text\":\"$(printf 'You are a careful assistant. %.0s' $(seq 20))\",\"cache_control\":{\"type\":\"ephemeral\"}}]}"
sysb=$CNT
assert_eq "$([ "$sysb" -ge "$sys" ] && echo yes)" yes \
    "system blocks are counted ($sysb vs $sys)"
count "{$base,\"tools\":[{\"name\":\"read_file\",\"description\":\"Reads a file from the local disk and returns its content with line numbers.\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"The absolute path\"},\"offset\":{\"type\":\"integer\"}},\"required\":[\"path\"]}}]}"
tools=$CNT
assert_eq "$([ "$tools" -gt $((n + 30)) ] && echo yes)" yes \
    "tools are counted ($tools vs $n)"
count '{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":[{"type":"text","text":"hello there"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]}'
img=$CNT
assert_eq "$([ "$img" -gt $((n + 500)) ] && echo yes)" yes \
    "an image is counted ($img vs $n)"
count '{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":[{"type":"text","text":"hello there"},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}'
imgu=$CNT
assert_eq "$([ "$imgu" -gt $((n + 500)) ] && echo yes)" yes \
    "an image by URL is counted ($imgu vs $n)"
count '{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":"hello there"},{"role":"assistant","content":"hi, what can I do?"},{"role":"user","content":"tell me more"}]}'
two=$CNT
assert_eq "$([ "$two" -gt "$n" ] && echo yes)" yes \
    "more turns count more ($two vs $n)"

# Errs high: the fake's prompt tokens for the same body are never more.
BODIES=$T/bodies
$PY - >"$BODIES" <<'PY'
import json
lorem = ("The quick brown fox jumps over the lazy dog; "
         "pack my box with five dozen liquor jugs. ") * 60
code = "\n".join("    if (x[%d] != y[%d]) return (%d);" % (i, i, i)
                 for i in range(150))
bodies = [
    {"messages": [{"role": "user", "content": "hi"}]},
    {"system": "You are terse.",
     "messages": [{"role": "user", "content": lorem}]},
    {"system": [{"type": "text", "text": "Be careful.",
                 "cache_control": {"type": "ephemeral"}}],
     "messages": [{"role": "user", "content": "fix this:\n" + code},
                  {"role": "assistant", "content": "Done: " + code[:2000]},
                  {"role": "user", "content": [
                      {"type": "text", "text": "and now this " + lorem}]}]},
    {"tools": [{"name": "Edit", "input_schema": {
        "type": "object", "properties": {"file_path": {"type": "string"},
                                         "old_string": {"type": "string"},
                                         "new_string": {"type": "string"}}}}],
     "messages": [
         {"role": "user", "content": "edit it"},
         {"role": "assistant", "content": [
             {"type": "text", "text": "Editing."},
             {"type": "tool_use", "id": "toolu_1", "name": "Edit",
              "input": {"file_path": "/src/a.c", "old_string": code[:1500],
                        "new_string": code[1500:3000]}}]},
         {"role": "user", "content": [
             {"type": "tool_result", "tool_use_id": "toolu_1",
              "content": [{"type": "text", "text": code}]},
             {"type": "text", "text": "thanks"}]}]},
    {"messages": [{"role": "user", "content":
                   "日本語のテキストを数えてください。" * 80 + " héllo wörld" * 50}]},
    {"messages": [
        {"role": "user", "content": "numbers"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_2", "name": "plot",
             "input": {"points": [[i * 1.25, i * 2.5] for i in range(150)],
                       "ids": list(range(100000, 100300))}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_2",
             "content": "plotted"}]}]},
]
for b in bodies:
    print(json.dumps(b, ensure_ascii=False))
PY
i=0
while IFS= read -r b; do
	i=$((i + 1))
	for M in claude-sonnet-4-5-20250929 gpt-4o; do
		full=$(printf '%s' "$b" | json - "dict(j, model=\"$M\", max_tokens=50)")
		count "$full"
		est=$CNT
		upstream_in "$full"
		up=$UP
		assert_eq "$([ "$up" -le "$est" ] && echo yes)" yes \
		    "body $i, $M: the fake's $up prompt tokens <= the estimate $est"
	done
done <"$BODIES"

# Calibrated per model, after mapping: the prompt tokens Copilot reported
# for recent requests of a model scale that model's estimate (which stays
# high), and leave the other models alone.
CB=$($PY -c 'import json; print(json.dumps({"max_tokens": 50, "messages": [{"role": "user", "content": "Calibrate me: the quick brown fox jumps over the lazy dog. " * 60}]}))')
with_model() { printf '%s' "$CB" | json - "dict(j, model=\"$1\")"; }
count "$(with_model claude-haiku-4-5-20251001)"
h0=$CNT
count "$(with_model claude-haiku-4.5)"
assert_eq "$CNT" "$h0" "a dated id and the Copilot id it maps to count the same ($h0)"
count "$(with_model claude-opus-4.1)"
o0=$CNT
upstream_in "$(with_model claude-haiku-4-5-20251001)"
up=$UP
count "$(with_model claude-haiku-4.5)"
h1=$CNT
assert_eq "$([ "$h1" -lt "$h0" ] && [ "$h1" -ge "$up" ] && [ "$h1" -le $((up * 11 / 10 + 2)) ] && echo yes)" yes \
    "calibrated by one relayed request: $up <= $h1 <= 1.1 x $up (uncalibrated: $h0)"
count "$(with_model claude-haiku-4-5-20251001)"
assert_eq "$CNT" "$h1" "the calibration applies to the dated id too"
count "$(with_model claude-opus-4.1)"
assert_eq "$CNT" "$o0" "another model keeps its own (no) calibration"
req POST /v1/messages/count_tokens -H "$CT" -H "$AV" \
    -d "$(printf '%s' "$CB" | json - 'dict(j, model="claude-nonsense-9")')"
assert_eq "$STATUS $(json "$T/body" 'j["error"]["type"]')" \
    "404 not_found_error" "an unknown model: 404"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "claude-sonnet-4.5" \
    "... listing the models that are available"

# Cheap: fifty calls at once, all answered, nothing sent upstream.
before=$(calls)
res=$($PY - "$GW_PORT" <<'PY'
import http.client, json, sys, threading, time
port = int(sys.argv[1])
body = json.dumps({"model": "claude-sonnet-4-5-20250929", "system": "x" * 2000,
                   "messages": [{"role": "user", "content": "count me " * 200}]})
out = []
def one():
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/v1/messages/count_tokens?beta=true", body=body,
                  headers={"content-type": "application/json",
                           "anthropic-version": "2023-06-01"})
        r = c.getresponse()
        d = json.loads(r.read())
        out.append((r.status, d.get("input_tokens")))
    except Exception as e:
        out.append((0, str(e)))
ts = [threading.Thread(target=one) for _ in range(50)]
t0 = time.time()
for t in ts:
    t.start()
for t in ts:
    t.join()
el = time.time() - t0
print(json.dumps({"n": len(out), "ok": sum(1 for s, v in out if s == 200),
                  "same": len(set(v for s, v in out)) == 1,
                  "elapsed": round(el, 3)}))
PY
)
assert_eq "$(echo "$res" | json - '[j["n"], j["ok"], j["same"]]')" \
    '[50, 50, true]' "50 calls at once: all 200, the same count ($res)"
assert_eq "$(echo "$res" | json - 'j["elapsed"] < 3.0')" true \
    "50 calls at once take well under a few seconds ($res)"
assert_eq "$(calls)" "$before" "count_tokens calls nothing upstream"

# Errors in Anthropic's shape.
req POST /v1/messages/count_tokens -H "$CT" -d '{"model":'
assert_eq "$STATUS $(json "$T/body" 'j["type"] + " " + j["error"]["type"]')" \
    "400 error invalid_request_error" "count_tokens, bad JSON: 400"
req POST /v1/messages/count_tokens -H "$CT" -d '{"model":"claude-sonnet-4.5"}'
assert_eq "$STATUS $(json "$T/body" 'j["type"] + " " + j["error"]["type"]')" \
    "400 error invalid_request_error" "count_tokens without messages: 400"
req GET /v1/messages/count_tokens
assert_eq "$STATUS $(json "$T/body" 'j["type"]')" "405 error" \
    "GET count_tokens: 405 in Anthropic's shape"

# Numbers count by their length: a tool input of 400 ten-digit ids (last,
# as it is the body most likely to be undercounted).
nums=$($PY - <<'PY'
import json
print(json.dumps({"max_tokens": 50, "messages": [
    {"role": "user", "content": "look these up"},
    {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_3", "name": "lookup",
         "input": {"ids": [4000000000 + 7919 * i for i in range(400)]}}]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_3",
         "content": "found"}]}]}))
PY
)
for M in claude-sonnet-4-5-20250929 gpt-4o; do
	full=$(printf '%s' "$nums" | json - "dict(j, model=\"$M\")")
	count "$full"
	est=$CNT
	upstream_in "$full"
	up=$UP
	assert_eq "$([ "$up" -le "$est" ] && echo yes)" yes \
	    "400 ten-digit numbers, $M: the fake's $up prompt tokens <= the estimate $est"
done

stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
