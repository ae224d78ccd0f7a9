# SPDX-License-Identifier: ISC
# shellcheck shell=bash
#
# lib.sh: sourced by every tests/integration/NNNN-name.sh (tmux regress,
# git t/README). It makes a private temporary HOME and copilot-gw home,
# picks free ports on 127.0.0.1, starts fakes and `copilot-gw serve`, and
# cleans everything up with a trap. Logs are kept (printed) only when a
# test fails. Families: 0xxx CLI/config, 1xxx OpenAI API and listener,
# 2xxx Anthropic API, 3xxx auth and login, 4xxx store and usage.

set -eu
: "${GW_BIN:?GW_BIN must point to the copilot-gw binary}"
: "${GW_SOURCE_DIR:?GW_SOURCE_DIR must point to the source tree}"

T=$(mktemp -d "${TMPDIR:-/tmp}/gw-it.XXXXXX")
export HOME="$T/home"
export XDG_CONFIG_HOME="$T/xdg/config" XDG_DATA_HOME="$T/xdg/data"
export XDG_STATE_HOME="$T/xdg/state"
GW_HOME="$T/gw"
export COPILOT_GW_HOME="$GW_HOME"
mkdir -p "$HOME"
unset COPILOT_GW_CONFIG COPILOT_GW_LISTEN
# Variables that would change the config under test.
for v in $(env | sed -n 's/^\(COPILOT_GW_[A-Z0-9_]*\)=.*/\1/p'); do
	[ "$v" = COPILOT_GW_HOME ] || unset "$v"
done
FAKE=$GW_SOURCE_DIR/tests/fake
# The system interpreter starts faster than a version-manager shim.
if [ -z "${PYTHON3:-}" ] && [ -x /usr/bin/python3 ]; then
	PY=/usr/bin/python3
else
	PY=${PYTHON3:-python3}
fi
TESTS_RUN=0
TESTS_FAILED=0
GW_PID=""
FAKE_PID=""
_PIDS=""
_NAME=$(basename "$0" .sh)

_cleanup() {
	rc=$?
	for p in $_PIDS; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $_PIDS; do
		wait "$p" 2>/dev/null || true
	done
	if [ $rc -ne 0 ] || [ "$TESTS_FAILED" -ne 0 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (last 60 lines)"
			tail -n 60 "$f"
		done
		[ $rc -ne 0 ] || rc=1
	fi
	rm -rf "$T"
	exit $rc
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# fail MESSAGE: fails the current test script at once.
fail() {
	echo "not ok - $*" >&2
	TESTS_FAILED=$((TESTS_FAILED + 1))
	exit 1
}

# ok MESSAGE: records a passing check.
ok() {
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - $*"
}

# done_testing: prints the summary line; call at the end.
done_testing() {
	echo "$TESTS_RUN passed, $TESTS_FAILED failed"
}

# assert_eq GOT WANT MESSAGE
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
	ok "$3"
}

# assert_contains HAYSTACK NEEDLE MESSAGE
assert_contains() {
	case "$1" in
	*"$2"*) ok "$3" ;;
	*) fail "$3: '$2' not found in: $(printf '%s' "$1" | head -c 2000)" ;;
	esac
}

# assert_not_contains HAYSTACK NEEDLE MESSAGE
assert_not_contains() {
	case "$1" in
	*"$2"*) fail "$3: '$2' found" ;;
	*) ok "$3" ;;
	esac
}

# soft_eq GOT WANT MESSAGE: assert_eq that records a failure and goes on
# (the script still fails at the end), so one bug does not hide the rest.
soft_eq() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		echo "not ok - $3: got '$1', want '$2'" >&2
		TESTS_FAILED=$((TESTS_FAILED + 1))
	fi
}

# free_port: prints a free TCP port on 127.0.0.1.
free_port() {
	$PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# json FILE|- EXPR: prints a Python expression over the parsed JSON `j`.
json() {
	if [ "$1" = - ]; then
		$PY -c 'import json, sys; j = json.load(sys.stdin); v = eval(sys.argv[1]); print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$2"
	else
		$PY -c 'import json, sys; j = json.load(open(sys.argv[1])); v = eval(sys.argv[2]); print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1" "$2"
	fi
}

# gw ARGS: runs the binary with the test home.
gw() {
	"$GW_BIN" "$@"
}

# wait_for_file PATH [SECONDS]
wait_for_file() {
	_n=$(( ${2:-10} * 20 ))
	while [ ! -s "$1" ]; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || fail "timed out waiting for $1"
		sleep 0.05
	done
}

# start_fake [SCRIPT.json]: starts the scripted fake; sets FAKE_PORT.
start_fake() {
	_pf="$T/fake.port.$$.$RANDOM"
	if [ $# -gt 0 ]; then
		$PY "$FAKE/scripted.py" --host 127.0.0.1 --port 0 \
		    --port-file "$_pf" --script "$1" >>"$T/fake.log" 2>&1 &
	else
		$PY "$FAKE/scripted.py" --host 127.0.0.1 --port 0 \
		    --port-file "$_pf" >>"$T/fake.log" 2>&1 &
	fi
	FAKE_PID=$!
	_PIDS="$_PIDS $FAKE_PID"
	wait_for_file "$_pf"
	FAKE_PORT=$(cat "$_pf")
	FAKE_URL="http://127.0.0.1:$FAKE_PORT"
}

# start_gw [SERVE ARGS]: starts `copilot-gw serve` on a free port, waits
# for /healthz; sets GW_PORT, GW_URL, GW_PID. Logs go to $T/gw.log.
start_gw() {
	GW_PORT=$(free_port)
	GW_URL="http://127.0.0.1:$GW_PORT"
	# Auth is on by default in copilot-gw; tests about other things run
	# without it (GW_AUTH=1 keeps it on; see the 3xxx auth tests).
	if [ "${GW_AUTH:-0}" = 1 ]; then
		"$GW_BIN" serve --listen "127.0.0.1:$GW_PORT" "$@" \
		    >>"$T/gw.out.log" 2>>"$T/gw.log" &
	else
		COPILOT_GW_AUTH_ENABLED=false "$GW_BIN" serve \
		    --listen "127.0.0.1:$GW_PORT" "$@" \
		    >>"$T/gw.out.log" 2>>"$T/gw.log" &
	fi
	GW_PID=$!
	_PIDS="$_PIDS $GW_PID"
	_n=200
	until curl -fsS -o /dev/null "$GW_URL/healthz" 2>/dev/null; do
		_n=$((_n - 1))
		if [ $_n -le 0 ] || ! kill -0 "$GW_PID" 2>/dev/null; then
			fail "copilot-gw serve did not start"
		fi
		sleep 0.05
	done
}

# stop_gw [SIGNAL]: stops serve and checks it exited 0 with no sanitizer
# report; sets GW_STATUS.
stop_gw() {
	kill -"${1:-TERM}" "$GW_PID" 2>/dev/null || true
	GW_STATUS=0
	wait "$GW_PID" || GW_STATUS=$?
	_PIDS=$(echo "$_PIDS" | sed "s/ $GW_PID\b//")
	if grep -q "Sanitizer" "$T/gw.log"; then
		fail "sanitizer report in the gateway log"
	fi
}

# req METHOD PATH [CURL ARGS]: sends a request to the gateway; the body is
# in $T/body, headers in $T/headers, status in $STATUS.
req() {
	_m=$1 _p=$2
	shift 2
	if [ "$_m" = HEAD ]; then
		set -- --head "$@"
	else
		set -- -X "$_m" "$@"
	fi
	STATUS=$(curl -sS -o "$T/body" -D "$T/headers" \
	    -w '%{http_code}' "$@" "$GW_URL$_p") || STATUS=000
	BODY=$(cat "$T/body")
}

# header NAME: prints a response header value from the last req.
header() {
	tr -d '\r' <"$T/headers" | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" \
	    -F': ' 'tolower($1) == n { sub(/^[^:]*: /, ""); print; exit }'
}

# raw_http INPUT_FILE [TIMEOUT]: sends raw bytes to the gateway and prints
# everything it answers until it closes (or the timeout passes).
raw_http() {
	$PY - "$GW_PORT" "$1" "${2:-5}" <<'PYEOF'
import socket, sys, time
port, path, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
data = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(data)
s.settimeout(timeout)
out = b""
end = time.time() + timeout
try:
    while time.time() < end:
        b = s.recv(65536)
        if not b:
            break
        out += b
except (socket.timeout, ConnectionResetError):
    pass
sys.stdout.write(out.decode("latin-1"))
PYEOF
}

# start_github: starts the GitHub + Copilot fake (tests/fake/github.py) and
# points every GitHub upstream of copilot-gw at it; sets GH_PORT, GH_URL.
start_github() {
	_pf="$T/github.port.$RANDOM"
	$PY "$FAKE/github.py" --host 127.0.0.1 --port 0 --port-file "$_pf" \
	    "$@" >>"$T/github.log" 2>&1 &
	GH_PID=$!
	_PIDS="$_PIDS $GH_PID"
	wait_for_file "$_pf"
	GH_PORT=$(cat "$_pf")
	GH_URL="http://127.0.0.1:$GH_PORT"
	export COPILOT_GW_UPSTREAMS_GITHUB_GITHUB_URL=$GH_URL
	export COPILOT_GW_UPSTREAMS_GITHUB_API_URL=$GH_URL
	# Not used when the token names endpoints.api, as the fake's does.
	export COPILOT_GW_UPSTREAMS_GITHUB_COPILOT_URL=$GH_URL/cp
}

# gh_config JSON: merges knobs into the GitHub fake's configuration.
gh_config() {
	curl -fsS -X POST -H 'content-type: application/json' -d "$1" \
	    "$GH_URL/__fake/github/config" >/dev/null
}

# gh_state EXPR: prints a Python expression over the fake's state `j`.
gh_state() {
	curl -fsS "$GH_URL/__fake/github/state" | json - "$1"
}

# login_github [ARGS]: logs in through the fake's device flow (no wait).
login_github() {
	gh_config '{"device": {"interval": 1, "pending_polls": 0}}'
	gw login github "$@" >"$T/login.out" 2>"$T/login.err" ||
	    fail "login github failed: $(cat "$T/login.err")"
}

# mkkey NAME [ARGS]: creates a key from the CLI (keys create --json ARGS);
# sets NAME_SECRET and NAME_ID.
mkkey() {
	_n=$1
	shift
	gw keys create --json "$@" >"$T/key.json" ||
	    fail "keys create $* failed"
	eval "${_n}_SECRET=\$(json \"\$T/key.json\" 'j[\"secret\"]')"
	eval "${_n}_ID=\$(json \"\$T/key.json\" 'j[\"id\"]')"
}

# upstream_conn MARKER: prints {"closed_by", "closed"} of the fake's
# connection that carried the newest request whose body holds MARKER.
upstream_conn() {
	$PY - "$GH_URL" "$1" <<'PY'
import json, sys, urllib.request
base, marker = sys.argv[1], sys.argv[2]
reqs = json.load(urllib.request.urlopen(base + "/__fake/requests"))
conns = json.load(urllib.request.urlopen(base + "/__fake/connections"))
ids = [r["conn_id"] for r in reqs if marker in (r.get("body") or "")]
c = [c for c in conns if ids and c["conn_id"] == ids[-1]]
print(json.dumps({"closed_by": c[0]["closed_by"], "closed": c[0]["closed"]}
                 if c else None))
PY
}
