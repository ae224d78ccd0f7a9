#!/bin/bash
# SPDX-License-Identifier: ISC
# The HTTP listener: /healthz, 404/405 in the OpenAI error shape, request
# ids, keep-alive, pipelining, chunked bodies, Expect: 100-continue,
# limits (413/431) and timeouts (408, idle close).
. "$(dirname "$0")/lib.sh"

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{
  "limits": { "max_body_bytes": "4KiB", "max_header_bytes": "2KiB",
              "max_headers": 20 },
  "timeouts": { "header": "600ms", "body": "600ms", "idle": "1s" }
}
JSON
start_gw

req GET /healthz
assert_eq "$STATUS" 200 "healthz answers 200"
assert_eq "$(json "$T/body" 'j["status"]')" ok "healthz status ok"
assert_eq "$(json "$T/body" 'j["version"]')" "$(gw version --json | json - 'j["version"]')" \
    "healthz reports the version"
assert_eq "$(json "$T/body" 'j["store"]["status"]')" ok "healthz store status"
assert_eq "$(json "$T/body" 'j["config"]["status"]')" ok "healthz config status"
assert_contains "$(header content-type)" "application/json" "healthz is JSON"
rid=$(header x-request-id)
assert_eq "${#rid}" 36 "a request id is generated (UUID)"

req GET /healthz -H 'X-Request-Id: client-id-123'
assert_eq "$(header x-request-id)" "client-id-123" "a sane client request id is echoed"
req GET /healthz -H 'X-Request-Id: bad id with spaces'
# (Not a search for "bad": a generated UUID may hold those hex digits.)
rid=$(header x-request-id)
assert_eq "$(printf '%s' "$rid" | grep -Ec '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')" 1 \
    "an insane request id is replaced by a UUID ($rid)"
req GET /healthz -H "X-Request-Id: $(printf 'a%.0s' $(seq 100))"
assert_eq "$(header x-request-id | wc -c)" 37 "an overlong request id is replaced"

req HEAD /healthz
assert_eq "$STATUS" 200 "HEAD /healthz"

req GET /nope
assert_eq "$STATUS" 404 "unknown path is 404"
assert_eq "$(json "$T/body" 'j["error"]["type"]')" not_found_error "404 has the OpenAI error shape"
assert_contains "$(json "$T/body" 'j["error"]["message"]')" "/nope" "404 names the path"
assert_eq "$(json "$T/body" '"code" in j["error"] and "param" in j["error"]')" true \
    "error has code and param"
assert_eq "$(header x-request-id | wc -c)" 37 "errors carry a request id"

req POST /healthz -d '{}'
assert_eq "$STATUS" 405 "wrong method is 405"
assert_eq "$(header allow)" "GET, HEAD" "405 lists the allowed methods"

# Keep-alive: two requests on one connection.
out=$(curl -sv "$GW_URL/healthz" "$GW_URL/healthz" 2>&1 >/dev/null)
assert_contains "$out" "Re-using existing connection" "keep-alive reuses the connection"

# Pipelining: three requests in one write, answered in order.
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: p1\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\nX-Request-Id: p2\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: p3\r\nConnection: close\r\n\r\n' >"$T/pipe"
out=$(raw_http "$T/pipe")
order=$(echo "$out" | tr -d '\r' | sed -n 's/^X-Request-Id: //p' | tr '\n' ' ')
assert_eq "$order" "p1 p2 p3 " "pipelined requests are answered in order"
statuses=$(echo "$out" | grep -o 'HTTP/1\.1 [0-9][0-9][0-9]' | tr '\n' ' ')
assert_eq "$statuses" "HTTP/1.1 200 HTTP/1.1 404 HTTP/1.1 200 " "three responses, the second a 404"

# A chunked request body is read (the route then answers 405 for POST).
printf 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n' >"$T/chunked"
out=$(raw_http "$T/chunked")
assert_contains "$out" "HTTP/1.1 405" "chunked body parsed, request answered"

# Expect: 100-continue.
printf 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n' >"$T/expect"
out=$($PY - "$GW_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
s.settimeout(3)
first = s.recv(4096).decode()
s.sendall(b"hello")
rest = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    rest += b
print(first.split("\r\n")[0] + "|" + rest.decode().split("\r\n")[0])
PY
)
assert_eq "$out" "HTTP/1.1 100 Continue|HTTP/1.1 404 Not Found" "Expect: 100-continue gets 100 then the answer"
printf 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\nhello' >"$T/expect2"
assert_contains "$(raw_http "$T/expect2")" "HTTP/1.1 417" "unknown expectation is 417"

# Body and header limits.
head -c 5000 /dev/zero | tr '\0' a >"$T/big"
req POST /healthz --data-binary @"$T/big"
assert_eq "$STATUS" 413 "a body over limits.max_body_bytes is 413"
assert_eq "$(json "$T/body" 'j["error"]["code"]')" body_too_large "413 has a code"
printf 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n' >"$T/expect3"
out=$(raw_http "$T/expect3")
assert_contains "$out" "HTTP/1.1 413" "oversized Expect: 100-continue gets 413 at once"
assert_not_contains "$out" "100 Continue" "no 100 Continue for an oversized body"
printf 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1400\r\n%s\r\n0\r\n\r\n' "$(head -c 5120 /dev/zero | tr '\0' b)" >"$T/bigchunk"
assert_contains "$(raw_http "$T/bigchunk")" "HTTP/1.1 413" "a chunked body over the limit is 413"

req GET /healthz -H "X-Big: $(head -c 3000 /dev/zero | tr '\0' c)"
assert_eq "$STATUS" 431 "headers over limits.max_header_bytes are 431"
hdrs=(); for i in $(seq 25); do hdrs+=(-H "X-H$i: v"); done
req GET /healthz "${hdrs[@]}"
assert_eq "$STATUS" 431 "more headers than limits.max_headers is 431"

# Timeouts: slow headers and slow bodies get 408; idle connections close.
out=$($PY - "$GW_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
s.settimeout(5)
t = time.time()
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.decode().split("\r\n")[0], round(time.time() - t, 1))
PY
)
assert_contains "$out" "HTTP/1.1 408" "slow headers get 408"
out=$($PY - "$GW_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
s.settimeout(5)
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.decode().split("\r\n")[0])
PY
)
assert_contains "$out" "HTTP/1.1 408" "a stalled body gets 408"
out=$($PY - "$GW_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
t = time.time()
print("closed" if s.recv(10) == b"" else "data", time.time() - t < 4)
PY
)
assert_eq "$out" "closed True" "an idle connection is closed after timeouts.idle"

# Malformed requests are 400 and the server lives on.
printf 'GARBAGE\r\n\r\n' >"$T/garbage"
assert_contains "$(raw_http "$T/garbage")" "HTTP/1.1 400" "garbage is 400"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello' >"$T/dup"
assert_contains "$(raw_http "$T/dup")" "HTTP/1.1 400" "duplicate Content-Length is 400"
req GET /healthz
assert_eq "$STATUS" 200 "the server survives"

stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0 on SIGTERM"
assert_contains "$(cat "$T/gw.log")" '"msg":"stopped"' "serve logs that it stopped"
done_testing
