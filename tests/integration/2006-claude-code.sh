#!/bin/bash
# SPDX-License-Identifier: ISC
# Requests shaped like Claude Code's, on both paths (native
# claude-sonnet-4-5-20250929, and claude-opus-4-1-20250805 which Copilot
# serves only through chat completions): POST /v1/messages?beta=true with
# its headers (anthropic-beta, anthropic-version, x-app, x-api-key, ...),
# 30 tools with JSON schemas, system blocks with cache_control,
# metadata.user_id, thinking enabled, temperature 1 and a large
# max_tokens; streamed and not. A two-turn agent loop (tool call, then
# the tool result with the signed thinking block sent back) must work;
# every stream is checked with anthropic_validate.py. Also Claude Code's
# small side requests: the haiku quota probe, a title request, and
# count_tokens of the whole request.
. "$(dirname "$0")/lib.sh"

VALIDATE=$GW_SOURCE_DIR/tests/integration/anthropic_validate.py
NATIVE=claude-sonnet-4-5-20250929
TRANS=claude-opus-4-1-20250805
BETA=claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14

# cc FILE: POSTs a JSON body file the way Claude Code does.
cc() {
	req POST '/v1/messages?beta=true' \
	    -H 'content-type: application/json' \
	    -H 'anthropic-version: 2023-06-01' \
	    -H "anthropic-beta: $BETA" \
	    -H 'anthropic-dangerous-direct-browser-access: true' \
	    -H 'x-app: cli' -H 'user-agent: claude-cli/2.0.14 (external, cli)' \
	    -H 'x-api-key: sk-ant-api03-not-a-real-key' \
	    -H 'x-stainless-lang: js' -H 'x-stainless-retry-count: 0' \
	    -H 'accept: application/json' --data-binary "@$1"
}

# cc_stream FILE [OPTS]: cc, then the stream must be valid; the validator's
# summary goes to $T/sum.
cc_stream() {
	cc "$1"
	[ "$STATUS" = 200 ] || fail "status $STATUS: $(head -c 600 "$T/body")"
	if ! $PY "$VALIDATE" "$T/body" >"$T/sum" 2>"$T/verr"; then
		head -c 4000 "$T/body" >&2
		fail "$(cat "$T/verr")"
	fi
}

# up_last PATH EXPR: EXPR over the last request the fake got on PATH.
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

# Builds the request bodies: $T/cc-<model>-<stream|plain>-<turn>.json.
mkbodies() {
	$PY - "$T" "$@" <<'PY'
import json, sys
out, args = sys.argv[1], sys.argv[2:]
names = ["Task", "Bash", "Glob", "Grep", "ExitPlanMode", "Read", "Edit",
         "MultiEdit", "Write", "NotebookEdit", "WebFetch", "TodoWrite",
         "WebSearch", "BashOutput", "KillShell", "SlashCommand",
         "mcp__ide__getDiagnostics", "mcp__ide__executeCode",
         "mcp__github__create_issue", "mcp__github__list_issues",
         "mcp__github__get_pull_request", "mcp__fs__read_multiple",
         "mcp__fs__search_files", "mcp__db__query", "mcp__db__list_tables",
         "mcp__browser__navigate", "mcp__browser__click",
         "mcp__browser__screenshot", "mcp__slack__post", "mcp__jira__get"]
assert len(names) == 30
tools = []
for i, n in enumerate(names):
    tools.append({
        "name": n,
        "description": ("%s: does its job. " % n) * 12 +
                       "Usage notes:\n- Always pass absolute paths.\n"
                       "- Never guess; read first.",
        "input_schema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object", "additionalProperties": False,
            "properties": {
                "echo": {"type": "string", "description": "the input"},
                "path": {"type": "string",
                         "description": "The absolute path to the file"},
                "limit": {"type": "number", "minimum": 1},
                "mode": {"type": "string", "enum": ["a", "b", "c"]},
                "items": {"type": "array", "items": {
                    "type": "object", "properties": {
                        "content": {"type": "string", "minLength": 1},
                        "status": {"type": "string",
                                   "enum": ["pending", "in_progress",
                                            "completed"]}},
                    "required": ["content", "status"]}}},
            "required": ["echo"] if i == 0 else []},
    })
system = [
    {"type": "text",
     "text": "You are Claude Code, Anthropic's official CLI for Claude.",
     "cache_control": {"type": "ephemeral"}},
    {"type": "text",
     "text": "You are an interactive CLI tool that helps users with "
             "software engineering tasks.\n" + "# Tone and style\n" * 40 +
             "<env>\nWorking directory: /home/u/proj\nIs directory a git "
             "repo: Yes\nPlatform: linux\n</env>",
     "cache_control": {"type": "ephemeral"}}]
first_user = {"role": "user", "content": [
    {"type": "text", "text": "<system-reminder>\nAs you answer the user's "
     "questions, you can use the following context:\n# claudeMd\n"
     "Codebase and user instructions are shown below.\n"
     "</system-reminder>\n"},
    {"type": "text", "text": "fix the failing test in src/buf.c",
     "cache_control": {"type": "ephemeral"}}]}
def body(model, stream, messages):
    return {"model": model, "max_tokens": 32000, "temperature": 1,
            "stream": stream, "system": system, "tools": tools,
            "messages": messages,
            "metadata": {"user_id": "user_0f3c2d9e8b7a6f5e4d3c2b1a_account_"
                         "7d1c9a2e-5b4f-4c3d-9e8f-1a2b3c4d5e6f_session_"
                         "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"},
            "thinking": {"type": "enabled", "budget_tokens": 1024}}
for model in args:
    for stream in (True, False):
        tag = "%s-%s" % (model, "stream" if stream else "plain")
        with open("%s/cc-%s-1.json" % (out, tag), "w") as f:
            json.dump(body(model, stream, [first_user]), f)
with open("%s/cc-count.json" % out, "w") as f:
    b = body(args[0], False, [first_user])
    for k in ("max_tokens", "temperature", "stream", "metadata"):
        del b[k]
    json.dump(b, f)
with open("%s/cc-quota.json" % out, "w") as f:
    json.dump({"model": "claude-haiku-4-5-20251001", "max_tokens": 1,
               "messages": [{"role": "user", "content": "quota"}],
               "metadata": body("x", False, [])["metadata"]}, f)
with open("%s/cc-title.json" % out, "w") as f:
    json.dump({"model": "claude-haiku-4-5-20251001", "max_tokens": 512,
               "temperature": 0, "stream": True,
               "system": [{"type": "text", "text": "Analyze if this message "
                           "indicates a new conversation topic. Format "
                           "your response as a JSON object."}],
               "messages": [{"role": "user", "content":
                             "fix the failing test in src/buf.c"}]}, f)
PY
}

# turn2 FIRST_BODY SUMMARY OUT: the next turn: the assistant's content
# from the summary (thinking, tool_use), then the tool result.
turn2() {
	$PY - "$1" "$2" "$3" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
content = s["content"]
tu = [c for c in content if c["type"] == "tool_use"][-1]
b["messages"] = b["messages"] + [
    {"role": "assistant", "content": content},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": tu["id"],
         "content": [{"type": "text", "text": "test passes now"}]},
        {"type": "text", "text": "<system-reminder>todo list is empty"
         "</system-reminder>"}]}]
json.dump(b, open(sys.argv[3], "w"))
PY
}

start_github
login_github
start_gw
mkbodies $NATIVE $TRANS

for M in $NATIVE $TRANS; do
	case $M in
	"$NATIVE") P=native UP=/cp/v1/messages ;;
	*) P=translated UP=/cp/chat/completions ;;
	esac
	# Streamed agent loop: a tool call, then the answer to its result.
	cc_stream "$T/cc-$M-stream-1.json"
	ok "$P: Claude Code's first turn, streamed: 200 and a valid stream"
	if [ $P = native ]; then
		assert_eq "$(json "$T/sum" '[c["type"] for c in j["content"]]')" \
		    '["thinking", "tool_use"]' "$P: thinking, then a tool call"
	else
		assert_eq "$(json "$T/sum" '[c["type"] for c in j["content"]]')" \
		    '["tool_use"]' "$P: a tool call"
	fi
	assert_eq "$(json "$T/sum" '[j["stop_reason"], j["content"][-1]["name"], j["content"][-1]["input"]["echo"].startswith("<system-reminder>"), j["content"][-1]["input"]["echo"].endswith("fix the failing test in src/buf.c")]')" \
	    '["tool_use", "Task", true, true]' \
	    "$P: stop_reason tool_use; the Task tool with the user's text"
	if [ $P = native ]; then
		assert_eq "$(up_last $UP '[len(b["tools"]), b["thinking"], b["system"][0].get("cache_control"), b["metadata"]["user_id"][:5], r["headers"].get("anthropic-beta")]')" \
		    "[30, {\"type\": \"enabled\", \"budget_tokens\": 1024}, {\"type\": \"ephemeral\"}, \"user_\", \"$BETA\"]" \
		    "$P: tools, thinking, cache_control, metadata and betas reach Copilot"
		assert_eq "$(up_last $UP 'r["headers"].get("x-api-key")')" null \
		    "$P: the client's x-api-key is not forwarded"
	else
		assert_eq "$(up_last $UP '[b["model"], len(b["tools"]), b["tools"][29]["function"]["name"], b["user"][:5], b["max_tokens"], b["temperature"], b["stream"]]')" \
		    '["claude-opus-4.1", 30, "mcp__jira__get", "user_", 32000, 1, true]' \
		    "$P: 30 functions, user, max_tokens, temperature, stream"
		assert_eq "$(up_last $UP '[k for k in ("thinking", "metadata", "system", "temperature_", "top_k") if k in b] + [k for k in ("cache_control", "budget_tokens") if k in r["body"]]')" \
		    '[]' "$P: no thinking, metadata or cache_control upstream"
		assert_eq "$(up_last $UP '[m["role"] for m in b["messages"]]')" \
		    '["system", "user"]' "$P: one system message, then the user"
		assert_eq "$(up_last $UP 'b["messages"][0]["content"].startswith("You are Claude Code") and "<env>" in b["messages"][0]["content"]')" \
		    true "$P: the system blocks joined in order"
	fi
	turn2 "$T/cc-$M-stream-1.json" "$T/sum" "$T/cc-$M-stream-2.json"
	cc_stream "$T/cc-$M-stream-2.json"
	ok "$P: the second turn (tool result), streamed: 200 and a valid stream"
	if [ $P = native ]; then
		assert_eq "$(json "$T/sum" '[c.get("text") for c in j["content"] if c["type"] == "text"]')" \
		    '["tool said: test passes now"]' \
		    "$P: the answer to the tool result"
		assert_eq "$(json "$T/sum" 'j["stop_reason"]')" end_turn \
		    "$P: stop_reason end_turn"
	else
		# The reminder text after the tool result is the last thing
		# the model reads (so the fake calls a tool again).
		assert_eq "$(up_last $UP '[m["role"] for m in b["messages"]]')" \
		    '["system", "user", "assistant", "tool", "user"]' \
		    "$P: the tool result, then the user's reminder text"
		assert_eq "$(up_last $UP '[b["messages"][2]["tool_calls"][0]["id"] == b["messages"][3]["tool_call_id"], b["messages"][3]["content"], b["messages"][4]["content"][0]["text"][:17]]')" \
		    '[true, "test passes now", "<system-reminder>"]' \
		    "$P: the tool result answers the call; the reminder follows"
		assert_eq "$(json "$T/sum" '[j["stop_reason"], j["content"][-1]["input"]["echo"]]')" \
		    '["tool_use", "<system-reminder>todo list is empty</system-reminder>"]' \
		    "$P: the model answered what it read last"
	fi

	# The same, not streamed.
	cc "$T/cc-$M-plain-1.json"
	assert_eq "$STATUS" 200 "$P: Claude Code's first turn, not streamed: 200"
	assert_eq "$(json "$T/body" '[j["type"], j["id"][:4], j["stop_reason"], j["content"][-1]["type"]]')" \
	    '["message", "msg_", "tool_use", "tool_use"]' \
	    "$P: a message ending in a tool call"
	cp "$T/body" "$T/plain-answer.json"
	turn2 "$T/cc-$M-plain-1.json" "$T/plain-answer.json" \
	    "$T/cc-$M-plain-2.json"
	cc "$T/cc-$M-plain-2.json"
	if [ $P = native ]; then
		assert_eq "$STATUS $(json "$T/body" 'j["content"][-1]["text"]')" \
		    "200 tool said: test passes now" \
		    "$P: the second turn, not streamed"
	else
		assert_eq "$STATUS $(up_last $UP '[m["role"] for m in b["messages"]]')" \
		    '200 ["system", "user", "assistant", "tool", "user"]' \
		    "$P: the second turn, not streamed"
	fi
done

# Side requests: the quota probe, a streamed title, count_tokens.
cc "$T/cc-quota.json"
assert_eq "$STATUS $(up_last /cp/v1/messages 'b["model"]')" \
    "200 claude-haiku-4.5" "the haiku quota probe (max_tokens 1): 200"
assert_eq "$(json "$T/body" 'j["stop_reason"]')" max_tokens \
    "the quota probe stops at max_tokens"
cc_stream "$T/cc-title.json"
assert_eq "$(json "$T/sum" 'j["content"][0]["text"]')" \
    "echo: fix the failing test in src/buf.c" "a streamed title request"
req POST '/v1/messages/count_tokens?beta=true' \
    -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
    -H "anthropic-beta: token-counting-2024-11-01,$BETA" \
    --data-binary "@$T/cc-count.json"
assert_eq "$STATUS" 200 "count_tokens of the whole request: 200"
chars=$($PY -c 'import json,sys; b=json.load(open(sys.argv[1])); print(len(json.dumps(b["tools"])) + len(json.dumps(b["system"])))' "$T/cc-count.json")
assert_eq "$(json "$T/body" "j['input_tokens'] * 4 >= $chars * 0.5")" true \
    "count_tokens counts the 30 tools and the system ($(json "$T/body" 'j["input_tokens"]') tokens for $chars characters of tools and system)"

stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
