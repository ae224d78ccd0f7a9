#!/bin/bash
# SPDX-License-Identifier: ISC
# Limits: per key, requests per minute (429 with Retry-After on the N+1th
# request), tokens per minute (once the usage Copilot reported exceeds
# it, the next request is 429) and concurrent requests (SLOW streams);
# per account, a concurrency cap (limits.account_concurrency=1: requests
# queue and reach Copilot one after the other), a bounded queue (full:
# 429 at once), a bounded wait (limits.account_queue_wait: 429 after
# waiting), a queue that is fair across keys (key B's requests do not wait
# for all of key A's), and a Copilot 429 with Retry-After: 2 pausing the
# account instead of sending the next requests at once.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}'

# chat SECRET [BODY]: one chat request with the key.
chat() {
	req POST /v1/chat/completions -H "$CT" -H "Authorization: Bearer $1" \
	    -d "${2:-$CHAT}"
}

# restart_gw CONFIG-JSON: restarts serve with this config file.
restart_gw() {
	[ -z "$GW_PID" ] || stop_gw
	echo "$1" >"$GW_HOME/config.json"
	GW_AUTH=1 start_gw
}

# par SPEC-JSON: runs requests at once (each in its thread, after its
# "delay"); spec: [{"key", "body", "delay", "tag"}]. Prints, in spec
# order, {"tag", "status", "start", "end" (seconds since the wall-clock
# epoch), "retry_after", "code", "body"}.
cat >"$T/par.py" <<'PYEOF'
import http.client, json, sys, threading, time
port, spec = int(sys.argv[1]), json.loads(sys.argv[2])
out = [None] * len(spec)
t0 = time.time()
def one(i, s):
    d = s.get("delay", 0) - (time.time() - t0)
    if d > 0:
        time.sleep(d)
    r = {"tag": s.get("tag"), "start": time.time()}
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
        c.request("POST", s.get("path", "/v1/chat/completions"),
                  body=s["body"], headers={
                      "content-type": "application/json",
                      "authorization": "Bearer " + s["key"]})
        resp = c.getresponse()
        body = resp.read().decode("utf-8", "replace")
        r["status"] = resp.status
        r["retry_after"] = resp.getheader("retry-after")
        try:
            r["code"] = json.loads(body)["error"]["code"]
        except Exception:
            r["code"] = None
        r["body"] = body[-300:]
        c.close()
    except Exception as e:
        r["status"] = 0
        r["body"] = repr(e)
    r["end"] = time.time()
    out[i] = r
ts = [threading.Thread(target=one, args=(i, s)) for i, s in enumerate(spec)]
for t in ts:
    t.start()
for t in ts:
    t.join()
json.dump(out, sys.stdout)
PYEOF
par() {
	$PY "$T/par.py" "$GW_PORT" "$1" >"$T/par.json" ||
	    fail "the parallel client failed"
}

# pj EXPR: EXPR over the results r of the last par.
pj() {
	$PY -c 'import json, sys; r = json.load(open(sys.argv[1])); v = eval(sys.argv[2]); print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$T/par.json" "$1"
}

# spec KEY BODY N [TAG] [DELAY]: a spec of N identical requests.
spec() {
	$PY -c 'import json, sys; print(json.dumps([{"key": sys.argv[1], "body": sys.argv[2], "tag": sys.argv[4], "delay": float(sys.argv[5])}] * int(sys.argv[3])))' \
	    "$1" "$2" "$3" "${4:-x}" "${5:-0}"
}

# api_times SINCE: arrival times (epoch seconds) of the chat calls the
# fake saw since SINCE, oldest first.
api_times() {
	gh_state "sorted(a['time'] for a in j['api_log'] if a['path'] == '/cp/chat/completions' and a['time'] >= $1)"
}

SLOW_BODY='{"model":"gpt-4o","messages":[{"role":"user","content":"SLOW"}]}'
LONGSTREAM='{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"SLOW LONG:5"}]}'
LONGER='{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"SLOW LONG:10"}]}'

start_github
login_github
mkkey RPM --label rpm --rpm 3
mkkey TPM --label tpm --tpm 100
mkkey TPMS --label tpm-stream --tpm 100
mkkey MC --label mc --max-concurrent 2
mkkey A --label fair-a
mkkey B --label fair-b
mkkey F --label free
restart_gw '{}'

# --- rpm ------------------------------------------------------------------------
for i in 1 2 3; do
	chat "$RPM_SECRET"
	assert_eq "$STATUS" 200 "rpm 3: request $i passes"
done
chat "$RPM_SECRET"
assert_eq "$STATUS" 429 "rpm 3: the 4th request in the minute is 429"
RA=$(header retry-after)
case "$RA" in
'' | *[!0-9]*) fail "rpm: Retry-After '$RA' is not a number of seconds" ;;
esac
[ "$RA" -ge 1 ] && [ "$RA" -le 60 ] || fail "rpm: Retry-After $RA"
ok "rpm: Retry-After: $RA (seconds)"
assert_eq "$(json "$T/body" '[j["error"]["type"], j["error"]["code"]]')" \
    '["rate_limit_error", "rate_limit"]' "rpm: an OpenAI rate_limit_error"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "$RPM_ID" \
    "rpm: the message names the key"
chat "$F_SECRET"
assert_eq "$STATUS" 200 "rpm: another key is not limited"

# --- tpm ------------------------------------------------------------------------
BIG=$($PY -c 'print("word " * 120)')
chat "$TPM_SECRET" "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"$BIG\"}]}"
assert_eq "$STATUS" 200 "tpm 100: the first request passes"
USED=$(json "$T/body" 'j["usage"]["total_tokens"]')
[ "$USED" -gt 100 ] || fail "the fake reported only $USED tokens"
ok "tpm: the first request used $USED tokens (> 100)"
chat "$TPM_SECRET"
assert_eq "$STATUS" 429 "tpm: the next request is 429"
assert_eq "$(json "$T/body" 'j["error"]["type"]')" rate_limit_error \
    "tpm: a rate_limit_error"
RA=$(header retry-after)
case "$RA" in
'' | *[!0-9]*) fail "tpm: Retry-After '$RA'" ;;
esac
ok "tpm: Retry-After: $RA"

# Streamed usage counts too.
$PY "$GW_SOURCE_DIR/tests/integration/relay_client.py" sse --port "$GW_PORT" \
    -H "Authorization: Bearer $TPMS_SECRET" \
    --body "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$BIG\"}]}" \
    >"$T/tpms.json" || fail "relay_client failed"
assert_eq "$(json "$T/tpms.json" 'j["status"]')" 200 "tpm 100: a big stream passes"
chat "$TPMS_SECRET"
assert_eq "$STATUS" 429 "tpm: after a big stream the next request is 429"

# --- max concurrent ----------------------------------------------------------------
par "$(spec "$MC_SECRET" "$LONGSTREAM" 3 mc)"
assert_eq "$(pj 'sorted(x["status"] for x in r)')" '[200, 200, 429]' \
    "max-concurrent 2: of 3 streams at once, 2 run and 1 gets 429"
assert_eq "$(pj '[x["code"] for x in r if x["status"] == 429]')" \
    '["concurrency_limit"]' "max-concurrent: code concurrency_limit"
assert_eq "$(pj '[x["retry_after"] is not None for x in r if x["status"] == 429]')" \
    '[true]' "max-concurrent: with Retry-After"
assert_eq "$(pj '[x["end"] < min(y["end"] for y in r if y["status"] == 200) - 0.5 for x in r if x["status"] == 429]')" \
    '[true]' "max-concurrent: the 429 comes at once, while the 2 still run"
chat "$MC_SECRET"
assert_eq "$STATUS" 200 "max-concurrent: once they finished, the key works"

# --- account concurrency 1: one upstream request at a time --------------------------
restart_gw '{"limits": {"account_concurrency": 1, "account_queue": 2}}'
T0=$($PY -c 'import time; print(time.time())')
par "$(spec "$F_SECRET" "$SLOW_BODY" 3 q)"
assert_eq "$(pj '[x["status"] for x in r]')" '[200, 200, 200]' \
    "account_concurrency 1: 3 requests at once all complete"
api_times "$T0" >"$T/times.json"
assert_eq "$(json "$T/times.json" 'len(j)')" 3 "the fake saw 3 calls"
assert_eq "$(json "$T/times.json" 'all(b - a >= 0.25 for a, b in zip(j, j[1:]))')" \
    true "they reached Copilot one after the other ($(cat "$T/times.json"))"
assert_eq "$(pj 'max(x["end"] - x["start"] for x in r) >= 0.55')" \
    true "the last one waited for the others"

# --- a full queue: 429 at once -------------------------------------------------------
# A long stream holds the one slot; then 3 more arrive.
$PY -c 'import json, sys
print(json.dumps([{"key": sys.argv[1], "body": sys.argv[2], "tag": "long"}] +
    [{"key": sys.argv[1], "body": sys.argv[3], "tag": "q", "delay": 0.4}] * 3))' \
    "$F_SECRET" "$LONGSTREAM" "$SLOW_BODY" >"$T/full.spec"
par "$(cat "$T/full.spec")"
assert_eq "$(pj '[r[0]["status"]] + sorted(x["status"] for x in r[1:])')" \
    '[200, 200, 200, 429]' \
    "account_queue 2: with the slot taken, of 3 more 2 wait and 1 gets 429"
assert_eq "$(pj '[(x["code"], x["retry_after"] is not None, x["end"] - x["start"] < 1.0) for x in r if x["status"] == 429]')" \
    '[["account_busy", true, true]]' "the queue-full 429 is account_busy, with Retry-After, at once"

# --- a bounded wait: 429 after limits.account_queue_wait --------------------------
restart_gw '{"limits": {"account_concurrency": 1, "account_queue_wait": "500ms"}}'
par "[{\"key\": \"$F_SECRET\", \"body\": $(printf '%s' "$LONGER" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))'), \"tag\": \"long\"}, {\"key\": \"$A_SECRET\", \"body\": $(printf '%s' "$CHAT" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))'), \"tag\": \"waiter\", \"delay\": 0.3}]"
assert_eq "$(pj '[x["status"] for x in r]')" '[200, 429]' \
    "account_queue_wait 500ms: the waiter behind a long stream gets 429"
W=$(pj 'round(r[1]["end"] - r[1]["start"], 2)')
assert_eq "$($PY -c "print(0.45 <= $W <= 3.0)")" True \
    "... after waiting about 500 ms ($W s)"
assert_eq "$(pj '[r[1]["code"], r[1]["retry_after"] is not None]')" \
    '["account_busy", true]' "... account_busy with Retry-After"
assert_contains "$(pj 'r[1]["body"]')" "waited too long" \
    "... saying it waited too long"
# A request refused for its model never queues for a slot.
mkkey ML --label only-4o --models gpt-4o
sleep 1	# serve picks the key up
par "[{\"key\": \"$F_SECRET\", \"body\": $(printf '%s' "$LONGER" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))'), \"tag\": \"long\"}, {\"key\": \"$ML_SECRET\", \"body\": $(printf '%s' '{"model":"o1","messages":[{"role":"user","content":"hi"}]}' | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))'), \"tag\": \"badmodel\", \"delay\": 0.3}]"
assert_eq "$(pj '[x["status"] for x in r]')" '[200, 403]' \
    "with the slot taken, a request for a model its key may not use gets its 403, not a place in the queue"

# --- a fair queue across keys ---------------------------------------------------------
restart_gw '{"limits": {"account_concurrency": 1}}'
$PY -c 'import json, sys
a = [{"key": sys.argv[1], "body": sys.argv[3], "tag": "A%d" % i, "delay": 0} for i in range(10)]
b = [{"key": sys.argv[2], "body": sys.argv[3], "tag": "B%d" % i, "delay": 0.5} for i in range(2)]
print(json.dumps(a + b))' "$A_SECRET" "$B_SECRET" "$SLOW_BODY" >"$T/fair.spec"
par "$(cat "$T/fair.spec")"
assert_eq "$(pj 'sorted(set(x["status"] for x in r))')" '[200]' \
    "fair queue: all 12 requests complete"
ORDER=$(pj '"".join(x["tag"][0] for x in sorted(r, key=lambda x: x["end"]))')
# Round robin would give AB.AB.AAAAAAA; "all of A first" AAAAAAAAAABB.
AFTER=$(pj 'sum(1 for x in r if x["tag"][0] == "A" and x["end"] > max(y["end"] for y in r if y["tag"][0] == "B"))')
assert_eq "$([ "$AFTER" -ge 5 ] && echo yes)" yes \
    "fair queue: B's 2 requests finish before $AFTER of A's 10 (order $ORDER; want >= 5)"

# --- Copilot's 429 pauses the account ---------------------------------------------------
restart_gw '{}'
T0=$($PY -c 'import time; print(time.time())')
chat "$F_SECRET" '{"model":"gpt-4o","messages":[{"role":"user","content":"FAIL_429"}]}'
assert_eq "$STATUS" 429 "Copilot's 429 is passed on"
assert_eq "$(header retry-after)" 2 "... with its Retry-After: 2"
par "$(spec "$A_SECRET" "$CHAT" 2 after429)"
assert_eq "$(pj '[x["status"] for x in r]')" '[200, 200]' \
    "the next requests succeed"
api_times "$T0" >"$T/times.json"
assert_eq "$(json "$T/times.json" 'len(j)')" 3 "the fake saw 3 calls"
GAP=$(json "$T/times.json" 'round(j[1] - j[0], 2)')
assert_eq "$($PY -c "print($GAP >= 1.7)")" True \
    "the next call reached Copilot only after the 2 s pause ($GAP s)"
T429=$(json "$T/times.json" 'j[0]')
assert_eq "$(pj "all(x['end'] >= $T429 + 1.8 for x in r if x['start'] < $T429 + 1.8)")" true \
    "requests sent during the pause waited for its end instead of failing"
assert_contains "$(cat "$T/gw.log")" "pausing the account" \
    "the pause is logged"
stop_gw
assert_eq "$GW_STATUS" 0 "serve stopped cleanly"

done_testing
