#!/bin/bash
# SPDX-License-Identifier: ISC
# The malformed-request corpus against the listener: garbage and other
# protocols (TLS, HTTP/2), bad request lines and versions (HTTP/0.9),
# absurd methods, oversized and too many headers, NUL and other invalid
# header bytes, Content-Length and Transfer-Encoding conflicts (request
# smuggling shapes), bad chunk sizes, Expect, slow-loris and stalled
# bodies, requests cut off by a half-close, and 1000 pipelined requests
# read fast and slowly. Every case asserts the exact status, the JSON
# error shape and whether the connection is kept or closed; the cases
# live in http_corpus.py (one line of output each). All cases run even
# when one fails; the failures are summed up at the end. The server must
# then still answer and exit 0 with no sanitizer report.
. "$(dirname "$0")/lib.sh"

HC=$GW_SOURCE_DIR/tests/integration/http_corpus.py
CASES_FAILED=0

# hc [ARGS]: runs http_corpus.py against the gateway; each "ok" line
# is a passing check, each "not ok" line a failure counted for the end.
hc() {
	_rc=0
	$PY "$HC" --port "$GW_PORT" "$@" >"$T/hc.out" 2>"$T/hc.err" || _rc=$?
	while IFS= read -r _l; do
		case "$_l" in
		"ok "*) ok "${_l#ok }" ;;
		"not ok "*)
			echo "$_l" >&2
			CASES_FAILED=$((CASES_FAILED + 1))
			;;
		esac
	done <"$T/hc.out"
	if [ "$_rc" -gt 1 ]; then
		cat "$T/hc.err" >&2
		fail "http_corpus.py $* broke (exit $_rc)"
	fi
}

# expect_lines GROUP: every case of the group printed one line.
expect_lines() {
	_want=$($PY "$HC" --port 0 list "$1" | wc -l)
	_got=$(grep -c '^\(not \)\?ok ' "$T/hc.out" || true)
	assert_eq "$_got" "$_want" "one result line per $1 case"
}

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{
  "limits": { "max_body_bytes": "4KiB", "max_header_bytes": "2KiB",
              "max_headers": 20 },
  "timeouts": { "header": "800ms", "body": "800ms", "idle": "1s" }
}
JSON
start_gw

hc --idle 1 corpus --group main
expect_lines main

req GET /healthz
assert_eq "$STATUS" 200 "the server still answers after the corpus"
assert_eq "$(json "$T/body" 'j["status"]')" ok "healthz still ok"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0 after the corpus"
assert_not_contains "$(cat "$T/gw.log")" '"level":"error"' \
    "no error in the gateway log"

# A header limit above the parser's built-in 80 KiB is the one enforced.
cat >"$GW_HOME/config.json" <<'JSON'
{ "limits": { "max_header_bytes": "1MiB" },
  "timeouts": { "header": "5s", "idle": "2s" } }
JSON
start_gw
hc corpus --group biglimit
expect_lines biglimit
req GET /healthz
assert_eq "$STATUS" 200 "the server still answers after the large headers"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0 after the large headers"

[ "$CASES_FAILED" -eq 0 ] ||
    fail "$CASES_FAILED corpus cases failed (the not ok lines above)"
done_testing
