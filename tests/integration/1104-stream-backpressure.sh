#!/bin/bash
# SPDX-License-Identifier: ISC
# Back-pressure: a client that stops reading, then reads at a limited
# pace, a stream of 20+ MB (LONG:100000) that Copilot (the fake) could
# send at once. The gateway must pause the upstream transfer instead of
# buffering the stream: its resident memory stays far below the stream's
# size, and the stream still arrives complete and in order, even though
# the pause is longer than timeouts.upstream_idle. A whole answer bigger
# than the socket buffers, read late, also arrives complete.
. "$(dirname "$0")/lib.sh"

RC=$GW_SOURCE_DIR/tests/integration/relay_client.py
N=100000
LIMIT_KIB=$((16 * 1024))

# ASan keeps up to 256 MB of freed memory in quarantine, which would show
# as growth that is the sanitizer's, not the gateway's; keep it small.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"

# The client's pause is longer than upstream_idle: a transfer paused for
# back-pressure is not an idle upstream and must not be cut.
mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "timeouts": { "upstream_idle": "2s" } }
JSON
start_github
login_github
start_gw

# Warm up: token, model list, one small stream.
req POST /v1/chat/completions -H 'content-type: application/json' \
    -d '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"LONG:2000"}]}'
assert_eq "$STATUS" 200 "warm-up stream"

# Read one event, stop reading for 3 s with a small receive buffer, then
# read at about 4 MB/s while VmRSS is sampled.
$PY "$RC" sse --port "$GW_PORT" --summary --rss-pid "$GW_PID" \
    --rcvbuf 32768 --recv-size 16384 --pause 3 --pause-after 1 \
    --rate 4000000 --timeout 50 \
    --body '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"LONG:'$N'"}]}' \
    >"$T/bp.json" || fail "relay_client failed"
bp() {
	json "$T/bp.json" "$1"
}
echo "# RSS KiB: before $(bp 'j["rss_before_kib"]'), pause start" \
    "$(bp 'j.get("rss_pause_start_kib")'), pause end" \
    "$(bp 'j.get("rss_pause_end_kib")'), max $(bp 'j["rss_max_kib"]');" \
    "$(bp 'j["bytes"]') bytes in $(bp 'j["elapsed"]') s"
assert_eq "$(bp '[j["status"], j["error"]]')" '[200, null]' "the long stream is answered"
assert_eq "$(bp 'j["bytes"] > 20 * 1024 * 1024')" true \
    "the stream is over 20 MB ($(bp 'j["bytes"]') bytes)"
assert_eq "$(bp "j['content'] == 'x ' * $N")" true \
    "the whole answer arrives, in order"
assert_eq "$(bp '[j["done"], j["clean_end"], j["errors"], j["unparsable"]]')" \
    '[true, true, [], 0]' "the stream ends with [DONE], cleanly (the 3 s pause is no upstream timeout)"
assert_eq "$(bp "j['rss_pause_end_kib'] - j['rss_before_kib'] < $LIMIT_KIB")" true \
    "while the client does not read, the gateway does not buffer the stream (+$(bp 'j["rss_pause_end_kib"] - j["rss_before_kib"]') KiB)"
assert_eq "$(bp "j['rss_max_kib'] - j['rss_before_kib'] < $LIMIT_KIB")" true \
    "memory stays bounded over the whole stream (+$(bp 'j["rss_max_kib"] - j["rss_before_kib"]') KiB)"

# A whole (non-stream) answer bigger than the socket buffers, to a client
# that reads it late with a small receive buffer: the part the socket did
# not take at once is written later, all of it, in order, and the
# keep-alive connection then answers its next request.
$PY - "$GW_PORT" >"$T/big.json" <<'PYEOF' || fail "late reader failed"
import json, socket, sys, time
port = int(sys.argv[1])
body = json.dumps({"model": "gpt-4o", "messages": [
    {"role": "user", "content": "LONG:1000000"}]}).encode()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.connect(("127.0.0.1", port))
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
          % len(body) + body)
time.sleep(2)
s.settimeout(20)

def answer():
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = int(head.split()[1])
    n = int([l.split(b":")[1] for l in head.split(b"\r\n")
             if l.lower().startswith(b"content-length:")][0])
    while len(rest) < n:
        b = s.recv(65536)
        if not b:
            break
        rest += b
    return status, rest[:n], rest[n:]

st, b1, extra = answer()
j = json.loads(b1)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
st2, b2, _ = answer()
print(json.dumps({"status": st, "bytes": len(b1), "extra": len(extra),
                  "content_ok": j["choices"][0]["message"]["content"] ==
                  "x " * 1000000, "next": st2}))
PYEOF
assert_eq "$(json "$T/big.json" '[j["status"], j["content_ok"], j["extra"]]')" \
    '[200, true, 0]' "a 2 MB answer read late arrives whole and in order ($(json "$T/big.json" 'j["bytes"]') bytes)"
assert_eq "$(json "$T/big.json" 'j["next"]')" 200 \
    "the connection answers its next request after that answer"

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
