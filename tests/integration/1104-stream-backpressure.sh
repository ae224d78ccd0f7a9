#!/bin/bash
# SPDX-License-Identifier: ISC
# Back-pressure: a client that stops reading, then reads at a limited
# pace, a stream of 20+ MB (LONG:100000) that Copilot (the fake) could
# send at once. The gateway must pause the upstream transfer instead of
# buffering the stream: its resident memory stays far below the stream's
# size, and the stream still arrives complete and in order, even though
# the pause is longer than timeouts.upstream_idle.
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

req GET /healthz
assert_eq "$STATUS" 200 "the gateway is healthy"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
