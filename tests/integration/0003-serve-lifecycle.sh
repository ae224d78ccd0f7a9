#!/bin/bash
# SPDX-License-Identifier: ISC
# serve: private files and directories, JSON logs with request ids,
# the batched request log in SQLite, no secret in logs, graceful
# shutdown that lets an in-flight request finish.
. "$(dirname "$0")/lib.sh"

start_gw
mode() { stat -c %a "$1"; }
assert_eq "$(mode "$GW_HOME")" 700 "home directory is 0700"
assert_eq "$(mode "$GW_HOME/copilot-gw.db")" 600 "database is 0600"

SECRET1="sk-cgw-THISISASECRETKEYTHATMUSTNOTLEAK0123456789"
SECRET2="ghu_ThisIsAGitHubTokenThatMustNotLeak42"
for i in 1 2 3 4 5; do
	req POST "/v1/chat/completions" -d '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}' -H "Authorization: Bearer $SECRET1" \
	    -H "x-api-key: $SECRET1" -H "Cookie: session=$SECRET2" \
	    -H "X-Request-Id: lifecycle-$i"
done
assert_eq "$STATUS" 503 "no account logged in yet: 503"
assert_contains "$BODY" "copilot-gw login github" "the 503 says how to log in"

# Log lines are JSON with a request id.
line=$(grep '"request_id":"lifecycle-3"' "$T/gw.log" | grep '"msg":"request"' | head -1)
[ -n "$line" ] || fail "no log line for the request"
assert_eq "$(echo "$line" | json - 'j["status"]')" 503 "log line has the status"
assert_eq "$(echo "$line" | json - 'j["path"]')" /v1/chat/completions "log line has the path"
assert_eq "$(echo "$line" | json - 'j["level"]')" info "log line has a level"
$PY - "$T/gw.log" <<'PY' || fail "every log line is JSON"
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    if line.strip():
        json.loads(line)
PY
ok "every log line is JSON"

# Rows reach the request log within a couple of seconds (batched).
n=0
for _ in $(seq 60); do
	n=$(sqlite3 "$GW_HOME/copilot-gw.db" \
	    "select count(*) from requests where request_id like 'lifecycle-%'")
	[ "$n" -ge 5 ] && break
	sleep 0.1
done
assert_eq "$n" 5 "request rows are written in batches"
assert_eq "$(sqlite3 "$GW_HOME/copilot-gw.db" "select status from requests where request_id='lifecycle-1'")" \
    503 "request row has the status"
req GET /healthz
assert_eq "$(json "$T/body" 'j["store"]["written_rows"] >= 5')" true "healthz counts written rows"

# Graceful shutdown: a request still being sent finishes.
$PY - "$GW_PORT" "$T/slow.ready" >"$T/slow.out" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
open(sys.argv[2], "w").write("sent\n")
time.sleep(1.0)
s.sendall(b"cd")
s.settimeout(5)
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.decode().split("\r\n")[0])
PY
slow=$!
wait_for_file "$T/slow.ready"
sleep 0.1
kill -TERM "$GW_PID"
sleep 0.2
if curl -s -o /dev/null "$GW_URL/healthz"; then
	fail "new connections refused during shutdown"
fi
ok "no new connections during shutdown"
wait $slow
assert_contains "$(cat "$T/slow.out")" "HTTP/1.1 404" "in-flight request finished during shutdown"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0 after a graceful shutdown"

for s in "$SECRET1" "$SECRET2"; do
	if grep -rq "$s" "$T"/*.log "$GW_HOME" 2>/dev/null; then
		fail "a secret reached a log or the store"
	fi
done
ok "no secret in logs or the store"
done_testing
