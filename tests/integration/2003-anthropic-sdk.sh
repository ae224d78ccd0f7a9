#!/bin/bash
# SPDX-License-Identifier: ISC
# The official Anthropic SDK for JavaScript (npm "@anthropic-ai/sdk",
# pinned in tests/sdk-anthropic/package.json and package-lock.json)
# against copilot-gw and the GitHub fake: messages.create and
# messages.stream on both paths (the stream accumulator's finalMessage()
# must equal the streamed deltas), beta.messages with anthropic-beta,
# thinking with signatures, a stream through an upstream
# silence, tool_use round trips, count_tokens, and errors as the SDK's
# APIError subclasses, including a stream cut short. Every raw stream is
# also checked with anthropic_validate.py. The tests are
# tests/sdk-anthropic/*.test.mjs, run with node's built-in test runner;
# each becomes one check here.
#
# Skipped (77) without node >= 20 and npm. The SDK is installed with
# `npm ci` into tests/sdk-anthropic/node_modules (gitignored) when missing
# or not the pinned version, and left alone otherwise; set
# GW_SDK_OFFLINE=1 to fail instead of installing.

# Before lib.sh, which points HOME at a temporary directory: npm keeps its
# configuration and cache under the real one.
_REAL_HOME=${HOME:-}
. "$(dirname "$0")/lib.sh"

SDK=$GW_SOURCE_DIR/tests/sdk-anthropic

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1
then
	echo "1..0 # SKIP node and npm are needed for the Anthropic SDK tests"
	exit 77
fi
_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$_major" -lt 20 ]; then
	echo "1..0 # SKIP node >= 20 is needed (found $(node --version))"
	exit 77
fi

# sdk_installed: true when node_modules holds the versions the lock pins.
sdk_installed() {
	node -e '
const fs = require("fs"), path = require("path");
const dir = process.argv[1];
const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json")));
for (const [p, v] of Object.entries(lock.packages)) {
	if (p === "" || v.optional || v.dev || v.peer) continue;
	const m = JSON.parse(fs.readFileSync(path.join(dir, p, "package.json")));
	if (m.version !== v.version) process.exit(1);
}' "$SDK" 2>/dev/null
}

if ! sdk_installed; then
	[ "${GW_SDK_OFFLINE:-0}" = 0 ] ||
	    fail "the Anthropic SDK is not installed in $SDK/node_modules and" \
		"GW_SDK_OFFLINE is set: run npm ci --prefix $SDK"
	echo "# installing the Anthropic SDK: npm ci --prefix $SDK"
	if ! HOME=$_REAL_HOME npm ci --prefix "$SDK" --no-audit --no-fund \
	    --loglevel=error >"$T/npm.log" 2>&1; then
		fail "npm ci failed for $SDK: is the npm registry" \
		    "($(HOME=$_REAL_HOME npm config get registry 2>/dev/null))" \
		    "reachable? See npm.log below."
	fi
	sdk_installed || fail "npm ci did not install the pinned Anthropic SDK"
fi
ok "Anthropic SDK $(node -p 'require(process.argv[1]).version' \
    "$SDK/node_modules/@anthropic-ai/sdk/package.json") installed"

# Short keep-alives: a stream test goes through a 1.2 s upstream silence.
mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{ "timeouts": { "stream_keepalive": "200ms" } }
JSON
start_github
login_github
start_gw

# Each test file runs in its own node process; every test has 30s, the
# whole run 75s. The SDK must not find credentials or settings of its own.
rc=0
env -u ANTHROPIC_AUTH_TOKEN -u ANTHROPIC_CUSTOM_HEADERS -u ANTHROPIC_LOG \
    ANTHROPIC_BASE_URL=$GW_URL ANTHROPIC_API_KEY=sk-ant-copilot-gw-test \
    GH_URL=$GH_URL PYTHON3=$PY \
    ANTHROPIC_VALIDATE=$GW_SOURCE_DIR/tests/integration/anthropic_validate.py \
    NODE_OPTIONS='' NO_COLOR=1 \
    timeout 75 node --test --test-reporter=tap --test-timeout=30000 \
    "$SDK"/*.test.mjs >"$T/sdk.tap" 2>"$T/sdk.log" || rc=$?

# Top-level results: "ok N - name" / "not ok N - name" at column 0.
_failed=0
while IFS= read -r _l; do
	case "$_l" in
	"ok "*" # TODO"*) echo "# todo: ${_l#ok }" ;;
	"not ok "*" # TODO"*) echo "# todo: ${_l#not ok }" ;;
	"ok "*) ok "sdk: ${_l#* - }" ;;
	"not ok "*)
		echo "not ok - sdk: ${_l#* - }" >&2
		_failed=$((_failed + 1))
		;;
	esac
done <"$T/sdk.tap"

if [ "$rc" -ne 0 ] || [ "$_failed" -ne 0 ]; then
	echo "---- node --test output" >&2
	cat "$T/sdk.tap" >&2
	[ "$rc" -ne 124 ] || echo "node --test timed out after 75s" >&2
	TESTS_FAILED=$((TESTS_FAILED + _failed))
	fail "the Anthropic SDK tests failed (node exit $rc, $_failed failed)"
fi
_pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$T/sdk.tap")
[ "${_pass:-0}" -ge 30 ] ||
    fail "only ${_pass:-0} SDK tests passed; expected 30 or more"
ok "node --test: $_pass SDK tests passed"

stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
