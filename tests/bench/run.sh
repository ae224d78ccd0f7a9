#!/bin/bash
# SPDX-License-Identifier: ISC
#
# run.sh: the copilot-gw benchmark (not a test: nothing here decides
# pass/fail of the build, and CTest does not know about it). One run
# measures, against an upstream that is not the bottleneck:
#
#   - added latency p50/p99 at concurrency 1 and 64: the gateway and an
#     nginx reverse proxy, each compared with calling the upstream directly;
#   - requests/s at concurrency 64 for direct, nginx proxy and gateway;
#   - streaming: TTFB and first-event overhead, per-chunk added latency
#     (chunks dripped one at a time) and gateway CPU per relayed chunk
#     (chunks sent in one burst);
#   - gateway RSS idle and with 256 concurrent streams open;
#   - gateway CPU seconds per 10k requests.
#
# and prints PASS/FAIL against the targets of issue 3 section 6. It exits
# 0 whatever the figures are (non-zero only when it could not run).
#
#   tests/bench/run.sh [GW_BIN]          (default: $GW_BIN or build/copilot-gw)
#
# Knobs (environment): BENCH_ROUNDS (3), BENCH_DURATION (seconds per wrk
# run, 5), BENCH_CPU_UPSTREAM (0), BENCH_CPU_PROXY (1), BENCH_GW_AUTH
# (key|off), BENCH_COMPARE (a second copilot-gw binary measured alongside,
# e.g. a build before a change), BENCH_PERF (1|dwarf), BENCH_KEEP=1 keeps
# the temporary directory. See tests/bench/README.md.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
GW_BIN=${1:-${GW_BIN:-$SRC/build/copilot-gw}}
ROUNDS=${BENCH_ROUNDS:-3}
DUR=${BENCH_DURATION:-5}
CPU_UP=${BENCH_CPU_UPSTREAM:-0}
CPU_PX=${BENCH_CPU_PROXY:-1}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

die() { echo "bench: $*" >&2; exit 1; }
for t in nginx wrk curl taskset "$PY"; do
	command -v "$t" >/dev/null 2>&1 || die "needs $t (apt-get install nginx-light wrk curl util-linux python3)"
done
[ -x "$GW_BIN" ] || die "no gateway binary at $GW_BIN (build it, or pass its path / set GW_BIN)"
GW_BIN=$(cd "$(dirname "$GW_BIN")" && pwd)/$(basename "$GW_BIN")
GWB_BIN=${BENCH_COMPARE:-}
if [ -n "$GWB_BIN" ]; then
	[ -x "$GWB_BIN" ] || die "BENCH_COMPARE: no binary at $GWB_BIN"
	GWB_BIN=$(cd "$(dirname "$GWB_BIN")" && pwd)/$(basename "$GWB_BIN")
fi
NCPU=$(nproc)
if [ "$NCPU" -lt 2 ]; then
	echo "bench: only $NCPU CPU: running unpinned" >&2
	CPU_UP=0 CPU_PX=0
fi
PIN_UP="taskset -c $CPU_UP"
PIN_PX="taskset -c $CPU_PX"
HZ=$(getconf CLK_TCK)

T=$(mktemp -d "${TMPDIR:-/tmp}/gw-bench.XXXXXX")
RES=$T/results.jsonl
: >"$RES"
_PIDS=""
cleanup() {
	rc=$?
	for p in $_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $_PIDS; do wait "$p" 2>/dev/null || true; done
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
		echo "bench: kept $T" >&2
		if [ $rc -ne 0 ]; then
			for f in "$T"/*.log "$T"/*/error.log; do
				[ -s "$f" ] || continue
				echo "---- $f (last 20 lines)" >&2
				tail -n 20 "$f" >&2
			done
		fi
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	$PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

wait_http() {	# URL [PID]: waits until URL answers at all
	_n=200
	until curl -s -o /dev/null "$1" 2>/dev/null; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || die "nothing answers on $1"
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			die "the process serving $1 died"
		fi
		sleep 0.05
	done
}

# cpu_ticks PID...: utime+stime (clock ticks) of the processes, summed.
cpu_ticks() {
	_s=0
	for _p in "$@"; do
		_v=$(sed 's/^.*) //' "/proc/$_p/stat" | awk '{ print $12 + $13 }')
		_s=$((_s + _v))
	done
	echo $_s
}

# cpu_ns PID: CPU time of all live threads of PID in ns (schedstat).
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# idle_all: "busy total" jiffies of the two benchmark CPUs, from /proc/stat.
cpu_stat() {
	awk -v a="cpu$CPU_UP" -v b="cpu$CPU_PX" '$1 == a || $1 == b {
	    busy = $2 + $3 + $4 + $7 + $8 + $9; tot = busy + $5 + $6;
	    printf "%s %d %d ", $1, busy, tot }' /proc/stat
	echo
}

# bg_load WHEN: busy % of the two benchmark CPUs over 2 s while the
# benchmark itself is idle: what other processes on the machine use.
bg_load() {
	_a=$(cpu_stat)
	sleep 2
	_b=$(cpu_stat)
	echo "$_a|$_b" | awk -F'|' -v w="$1" '{ n = split($1, a, " "); split($2, b, " ");
	    printf "{\"kind\":\"env\",\"what\":\"%s\"", w;
	    for (i = 1; i + 2 <= n; i += 3) {
		t = b[i + 2] - a[i + 2];
		u = 0
		if (t > 0) u = 100 * (b[i + 1] - a[i + 1]) / t
		printf ",\"%s\":%.1f", a[i], u }
	    print "}" }' >>"$RES"
}

vm() {	# vm PID FIELD: kB
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# ------------------------------------------------------------ upstream
UP_PORT=$(free_port)
SSE_PORT=$(free_port)
PX_PORT=$(free_port)
PXS_PORT=$(free_port)
GW_PORT=$(free_port)
GWB_PORT=$(free_port)
UP="http://127.0.0.1:$UP_PORT"

USER_LINE=""
if [ "$(id -u)" = 0 ]; then
	USER_LINE="user root root;"
fi

# nginx_common DIR: the top of an nginx config whose every path is in DIR.
nginx_common() {
	mkdir -p "$1/tmp"
	cat <<EOF
$USER_LINE
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}

nginx_http_common() {
	cat <<EOF
	access_log off;
	client_body_temp_path $1/tmp/body;
	proxy_temp_path $1/tmp/proxy;
	fastcgi_temp_path $1/tmp/fastcgi;
	uwsgi_temp_path $1/tmp/uwsgi;
	scgi_temp_path $1/tmp/scgi;
	keepalive_requests 100000000;
	keepalive_timeout 300s;
EOF
}

CANNED='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-2024-11-20","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":9,"total_tokens":17}}'
EXP=$(( $(date +%s) + 30 * 86400 ))
TOKEN="{\"token\":\"tid=bench;exp=$EXP;sku=bench\",\"expires_at\":$EXP,\"refresh_in\":1500,\"endpoints\":{\"api\":\"$UP/cp\"}}"
MODELS='{"object":"list","data":[{"id":"gpt-4o","object":"model","name":"GPT-4o","vendor":"Azure OpenAI","version":"gpt-4o-2024-11-20","supported_endpoints":["/chat/completions"],"capabilities":{"family":"gpt-4o","type":"chat","supports":{"streaming":true,"tool_calls":true}}}]}'

mkdir -p "$T/up" "$T/px"
{
	nginx_common "$T/up"
	echo "http {"
	nginx_http_common "$T/up"
	cat <<EOF
	upstream sse { server 127.0.0.1:$SSE_PORT; keepalive 512; keepalive_requests 100000000; }
	server {
		listen 127.0.0.1:$UP_PORT backlog=4096;
		default_type application/json;
		location = /user { return 200 '{"login":"bench","id":1}'; }
		location = /copilot_internal/v2/token { return 200 '$TOKEN'; }
		location = /cp/models { return 200 '$MODELS'; }
		location = /cp/chat/completions {
			if (\$http_accept ~ event-stream) { rewrite ^ /__sse last; }
			return 200 '$CANNED';
		}
		location = /__sse {
			internal;
			proxy_pass http://sse;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
		}
	}
}
EOF
} >"$T/up/nginx.conf"
{
	nginx_common "$T/px"
	echo "http {"
	nginx_http_common "$T/px"
	cat <<EOF
	upstream up { server 127.0.0.1:$UP_PORT; keepalive 256; keepalive_requests 100000000; }
	server {
		listen 127.0.0.1:$PX_PORT backlog=4096;
		location / {
			proxy_pass http://up;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
	server {
		listen 127.0.0.1:$PXS_PORT backlog=4096;
		location / {
			proxy_pass http://up;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
		}
	}
}
EOF
} >"$T/px/nginx.conf"

$PIN_UP $PY "$HERE/sse_upstream.py" --port "$SSE_PORT" \
    >"$T/sse.log" 2>&1 &
SSE_PID=$!
_PIDS="$_PIDS $SSE_PID"
$PIN_UP nginx -p "$T/up" -c "$T/up/nginx.conf" -g 'daemon off;' \
    >"$T/up.log" 2>&1 &
UP_PID=$!
_PIDS="$_PIDS $UP_PID"
$PIN_PX nginx -p "$T/px" -c "$T/px/nginx.conf" -g 'daemon off;' \
    >"$T/px.log" 2>&1 &
PX_PID=$!
_PIDS="$_PIDS $PX_PID"
wait_http "$UP/user" "$UP_PID"
wait_http "http://127.0.0.1:$PX_PORT/user" "$PX_PID"
PX_WORKERS=$(pgrep -P "$PX_PID" | tr '\n' ' ')

# ------------------------------------------------------------ gateway
export HOME="$T/home" XDG_CONFIG_HOME="$T/xdg/config"
export XDG_DATA_HOME="$T/xdg/data" XDG_STATE_HOME="$T/xdg/state"
mkdir -p "$HOME"
for v in $(env | sed -n 's/^\(COPILOT_GW_[A-Z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done
export COPILOT_GW_UPSTREAMS_GITHUB_GITHUB_URL=$UP
export COPILOT_GW_UPSTREAMS_GITHUB_API_URL=$UP
export COPILOT_GW_UPSTREAMS_GITHUB_COPILOT_URL=$UP/cp
# Clients present a client key, as they would in real use (auth.enabled
# is on by default); BENCH_GW_AUTH=off runs the gateways with auth off.
GW_AUTH=${BENCH_GW_AUTH:-key}
case $GW_AUTH in
key) ;;
off) export COPILOT_GW_AUTH_ENABLED=false ;;
*) die "BENCH_GW_AUTH must be key or off" ;;
esac

# gw_setup BIN HOME: logs in (the token check calls /user and the token
# exchange on the nginx upstream) and prints an Authorization value.
gw_setup() {
	printf 'gho_benchtoken\n' | COPILOT_GW_HOME=$2 "$1" login github \
	    --token-stdin >"$2.login.log" 2>&1 ||
	    die "login failed: $(cat "$2.login.log")"
	if [ "$GW_AUTH" = off ]; then
		echo "Bearer none"
		return
	fi
	COPILOT_GW_HOME=$2 "$1" keys create --label bench --json \
	    >"$2.key.json" 2>"$2.key.log" ||
	    die "keys create failed: $(cat "$2.key.log")"
	_k=$($PY -c 'import json, sys
print(json.load(open(sys.argv[1])).get("secret") or "")' "$2.key.json")
	[ -n "$_k" ] || die "no secret in: $(cat "$2.key.json")"
	echo "Bearer $_k"
}
export COPILOT_GW_HOME="$T/gw"
GW_AUTHZ=$(gw_setup "$GW_BIN" "$T/gw")
export BENCH_AUTH=$GW_AUTHZ
GWB_AUTHZ=""
[ -z "$GWB_BIN" ] || GWB_AUTHZ=$(gw_setup "$GWB_BIN" "$T/gwb")

GW_PID=""
# start_gw [ENV=VALUE...]: serve on GW_PORT, pinned to the proxy CPU.
start_gw() {
	env "$@" $PIN_PX "$GW_BIN" serve --listen "127.0.0.1:$GW_PORT" \
	    --log-level warn >>"$T/gw.out.log" 2>>"$T/gw.log" &
	GW_PID=$!
	_PIDS="$_PIDS $GW_PID"
	wait_http "http://127.0.0.1:$GW_PORT/healthz" "$GW_PID"
}
gw_alive() {	# dies with the log tail if a gateway has exited
	kill -0 "$GW_PID" 2>/dev/null ||
	    die "copilot-gw (pid $GW_PID) exited during the benchmark (BENCH_GW_AUTH=off runs it without client keys): $(tail -n 3 "$T/gw.log")"
	[ -z "$GWB_PID" ] || kill -0 "$GWB_PID" 2>/dev/null ||
	    die "the compared copilot-gw (pid $GWB_PID) exited during the benchmark: $(tail -n 3 "$T/gwb.log")"
}
stop_gw() {
	kill -TERM "$GW_PID" 2>/dev/null || true
	wait "$GW_PID" 2>/dev/null || true
	_PIDS=$(echo "$_PIDS" | sed "s/ $GW_PID\b//")
}

# The account's upstream concurrency cap (limits.account_concurrency,
# default 4) protects a real Copilot account; here it would measure the
# queue, not the relay, so it is raised to its maximum.
GW_ENV="COPILOT_GW_LIMITS_ACCOUNT_CONCURRENCY=1024 COPILOT_GW_LIMITS_ACCOUNT_QUEUE=4096"

# BENCH_COMPARE: the second binary has its own home (account and key made
# with that binary), its own port, and the same CPU; it idles while the
# other is measured.
GWB_PID=""
start_gwb() {
	[ -n "$GWB_BIN" ] || return 0
	env COPILOT_GW_HOME="$T/gwb" $GW_ENV $PIN_PX "$GWB_BIN" serve \
	    --listen "127.0.0.1:$GWB_PORT" --log-level warn \
	    >>"$T/gwb.out.log" 2>>"$T/gwb.log" &
	GWB_PID=$!
	_PIDS="$_PIDS $GWB_PID"
	wait_http "http://127.0.0.1:$GWB_PORT/healthz" "$GWB_PID"
	curl -fsS -o /dev/null -H "Authorization: $GWB_AUTHZ" \
	    -H 'content-type: application/json' \
	    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}' \
	    "http://127.0.0.1:$GWB_PORT/v1/chat/completions" ||
	    die "the compared gateway does not answer a chat completion"
}
stop_gwb() {
	[ -n "$GWB_PID" ] || return 0
	kill -TERM "$GWB_PID" 2>/dev/null || true
	wait "$GWB_PID" 2>/dev/null || true
	_PIDS=$(echo "$_PIDS" | sed "s/ $GWB_PID\b//")
	GWB_PID=""
}
TARGETS="direct nginx gateway"
[ -z "$GWB_BIN" ] || TARGETS="$TARGETS gateway-b"

# ------------------------------------------------------------ helpers
GW_URL="http://127.0.0.1:$GW_PORT/v1/chat/completions"
DIRECT_URL="$UP/cp/chat/completions"
PX_URL="http://127.0.0.1:$PX_PORT/cp/chat/completions"

url_of() {
	case $1 in
	direct) echo "$DIRECT_URL" ;;
	nginx) echo "$PX_URL" ;;
	gateway) echo "$GW_URL" ;;
	gateway-b) echo "http://127.0.0.1:$GWB_PORT/v1/chat/completions" ;;
	esac
}
pids_of() {
	case $1 in
	direct) echo "$UP_PID $(pgrep -P "$UP_PID" | tr '\n' ' ')" ;;
	nginx) echo "$PX_PID $PX_WORKERS" ;;
	gateway) echo "$GW_PID" ;;
	gateway-b) echo "$GWB_PID" ;;
	esac
}

# BENCH_PERF=1: profile the gateway (perf record -g; BENCH_PERF=dwarf for
# --call-graph dwarf, which also unwinds libc) during its c=64 run
# and its 100-chunk burst run of round 1; the flat profiles are printed at
# the end and the data kept in the working directory.
PERF_PID=""
perf_start() {	# perf_start NAME
	case ${BENCH_PERF:-0} in
	1) _cg="-g" ;;
	dwarf) _cg="--call-graph dwarf,16384" ;;
	*) return 0 ;;
	esac
	$PIN_UP perf record -q -F 1999 $_cg -p "$GW_PID" -o "$T/perf-$1.data" \
	    >"$T/perf-$1.log" 2>&1 &
	PERF_PID=$!
	sleep 0.3
}
perf_stop() {
	[ -n "$PERF_PID" ] || return 0
	kill -INT "$PERF_PID" 2>/dev/null || true
	wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=""
}

# wrk_run ROUND TARGET CONNS [DURATION [TAG]]: one wrk run; appends JSON.
wrk_run() {
	_pids=$(pids_of "$2")
	[ "$1$2$3${5:-}" != 1gateway64 ] || perf_start wrk-c64
	_c0=$(cpu_ticks $_pids)
	_s0=$(cpu_stat)
	_authz=$GW_AUTHZ
	[ "$2" != gateway-b ] || _authz=$GWB_AUTHZ
	BENCH_AUTH=$_authz $PIN_UP wrk -t1 -c"$3" -d"${4:-$DUR}s" --latency \
	    -s "$HERE/post.lua" \
	    "$(url_of "$2")" >"$T/wrk.out" 2>&1 || true
	perf_stop
	case $2 in gateway*) gw_alive ;; esac
	_c1=$(cpu_ticks $_pids)
	_s1=$(cpu_stat)
	$PY "$HERE/report.py" wrk "$T/wrk.out" --round "$1" --target "$2" \
	    --conns "$3" --cpu-ticks $((_c1 - _c0)) --hz "$HZ" \
	    --cpu-stat "$_s0" --cpu-stat "$_s1" ${5:+--tag "$5"} >>"$RES"
}

# stream_run ROUND TARGET MODE: streaming measurements; appends JSON.
stream_run() {
	case $2 in
	direct) _port=$UP_PORT _path=/cp/chat/completions _h="" ;;
	nginx) _port=$PXS_PORT _path=/cp/chat/completions _h="" ;;
	gateway) _port=$GW_PORT _path=/v1/chat/completions
		_h="Authorization: $GW_AUTHZ" ;;
	gateway-b) _port=$GWB_PORT _path=/v1/chat/completions
		_h="Authorization: $GWB_AUTHZ" ;;
	esac
	case $3 in
	short) _content="bench chunks=1 interval_us=0" _n=200 _w=20 ;;
	burst) _content="bench chunks=100 interval_us=0" _n=200 _w=20 ;;
	drip) _content="bench chunks=20 interval_us=2000" _n=30 _w=3 ;;
	esac
	_g0=""
	[ "$1$2$3" != 1gatewayburst ] || perf_start stream-burst
	_gp=""
	case $2 in gateway*) _gp=$(pids_of "$2") ;; esac
	[ -z "$_gp" ] || _g0=$(cpu_ns "$_gp")
	$PIN_UP $PY "$HERE/stream_client.py" seq --port "$_port" \
	    --path "$_path" ${_h:+--header "$_h"} --content "$_content" \
	    --requests "$_n" --warmup "$_w" >"$T/stream.out" 2>&1 ||
	    die "stream client failed: $(cat "$T/stream.out")"
	perf_stop
	_cpu=null
	[ -z "$_gp" ] || gw_alive
	[ -z "$_gp" ] || _cpu=$(( $(cpu_ns "$_gp") - _g0 ))
	$PY -c 'import json, sys
j = json.load(open(sys.argv[1]))
j.update(kind="stream", round=int(sys.argv[2]), target=sys.argv[3],
         mode=sys.argv[4], gw_cpu_ns=json.loads(sys.argv[5]),
         streams=int(sys.argv[6]))
print(json.dumps(j))' "$T/stream.out" "$1" "$2" "$3" "$_cpu" \
	    "$((_n + _w))" >>"$RES"
}

emit() {	# emit JSON: appends one line
	echo "$1" >>"$RES"
}

# mem_emit WHAT: the gateway's memory now (kB); its smaps is kept in $T.
mem_emit() {
	cp "/proc/$GW_PID/smaps" "$T/smaps.$1" 2>/dev/null || true
	emit "{\"kind\":\"mem\",\"what\":\"$1\",\"rss_kb\":$(vm "$GW_PID" VmRSS),\"anon_kb\":$(vm "$GW_PID" RssAnon),\"file_kb\":$(vm "$GW_PID" RssFile),\"hwm_kb\":$(vm "$GW_PID" VmHWM),\"pss_kb\":$(awk '$1 == "Pss:" { print $2 }' "/proc/$GW_PID/smaps_rollup")}"
}

# curl_client: libcurl alone doing the gateway's upstream leg (see
# curl_client.c); built here, skipped if there is no compiler or libcurl
# headers (the figures it gives are for comparison only).
CURL_CLIENT=""
if command -v cc >/dev/null 2>&1 && pkg-config --exists libcurl 2>/dev/null &&
    cc -O2 -o "$T/curl_client" "$HERE/curl_client.c" \
    $(pkg-config --cflags --libs libcurl) >"$T/curl_client.log" 2>&1; then
	CURL_CLIENT=$T/curl_client
else
	echo "bench: cannot build curl_client.c (cc, libcurl4-openssl-dev): libcurl-alone figures skipped" >&2
fi
# curl_run ROUND: libcurl alone, 64 transfers in flight, on the proxy CPU.
curl_run() {
	[ -n "$CURL_CLIENT" ] || return 0
	$PIN_PX "$CURL_CLIENT" "$DIRECT_URL" 64 "$DUR" >"$T/curl.out" \
	    2>&1 || die "curl_client failed: $(cat "$T/curl.out")"
	$PY -c 'import json, sys
j = json.load(open(sys.argv[1])); j.update(round=int(sys.argv[2]))
print(json.dumps(j))' "$T/curl.out" "$1" >>"$RES"
}

# ------------------------------------------------------------ run
echo "copilot-gw benchmark: $GW_BIN ($("$GW_BIN" version 2>/dev/null | head -n 1))"
[ -z "$GWB_BIN" ] || echo "  compared with: $GWB_BIN ($("$GWB_BIN" version 2>/dev/null | head -n 1))"
echo "  $(nginx -v 2>&1 | sed 's/^nginx version: //'), wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }'), $($PY --version 2>&1)"
echo "  $NCPU CPUs; upstream (nginx + sse_upstream.py) and load tools on CPU $CPU_UP;"
echo "  proxy under test (nginx reverse proxy or gateway) alone on CPU $CPU_PX."
echo "  $ROUNDS rounds, ${DUR}s per wrk run; medians of the rounds are reported."
echo "  gateway auth: $GW_AUTH (BENCH_GW_AUTH); working directory $T"
echo

bg_load before
# Memory first, on a fresh gateway, so VmHWM is about these streams only.
start_gw $GW_ENV
sleep 1
mem_emit idle_fresh
# First requests: token, model list, upstream connections.
for _ in 1 2 3; do
	curl -fsS -o /dev/null -H "Authorization: $BENCH_AUTH" -H 'content-type: application/json' \
	    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}' \
	    "$GW_URL" || die "the gateway does not answer a chat completion: $(tail -5 "$T/gw.log")"
done
sleep 1
mem_emit idle_warm
echo "memory: 256 concurrent streams (3 s each, one chunk every 100 ms)..."
$PIN_UP $PY "$HERE/stream_client.py" hold --port "$GW_PORT" \
    --path /v1/chat/completions --header "Authorization: $BENCH_AUTH" \
    --content "bench chunks=30 interval_us=100000" --streams 256 \
    --pid "$GW_PID" >"$T/hold.out" 2>&1 || { gw_alive
	die "hold client failed: $(cat "$T/hold.out")"; }
gw_alive
$PY -c 'import json, sys
j = json.load(open(sys.argv[1])); j.update(kind="mem", what="streams256")
print(json.dumps(j))' "$T/hold.out" >>"$RES"
start_gwb

echo "warm-up..."
for tg in $TARGETS; do
	wrk_run 0 "$tg" 64 1 warmup
done
for r in $(seq 1 "$ROUNDS"); do
	echo "round $r/$ROUNDS: non-streaming (wrk, c=1 and c=64)..."
	for tg in $TARGETS; do
		wrk_run "$r" "$tg" 1
		wrk_run "$r" "$tg" 64
	done
	curl_run "$r"
	echo "round $r/$ROUNDS: streaming (short, burst and drip)..."
	for tg in $TARGETS; do
		stream_run "$r" "$tg" short
		stream_run "$r" "$tg" burst
		stream_run "$r" "$tg" drip
	done
done
sleep 2
mem_emit idle_after
stop_gw
stop_gwb
bg_load after

echo "informational: gateway with default limits (account_concurrency 4)..."
start_gw
wrk_run 1 gateway 64 "$DUR" default-limits
stop_gw

echo
$PY "$HERE/report.py" summary "$RES" --rounds "$ROUNDS" \
    --cpu-up "$CPU_UP" --cpu-px "$CPU_PX"
for f in "$T"/perf-*.data; do
	[ -s "$f" ] || continue
	echo
	echo "perf: $(basename "$f" .data), gateway self time by symbol (top 25):"
	perf report -i "$f" --no-children -g none --percent-limit 0.5 \
	    --sort dso,symbol --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' |
	    head -n 25 | sed 's/^/  /'
done
if [ -s "$T/gw.log" ]; then
	echo
	echo "gateway warnings/errors logged during the run (first 5 distinct):"
	$PY -c 'import json, sys
seen = {}
for line in open(sys.argv[1]):
    try:
        j = json.loads(line)
    except ValueError:
        j = {"msg": line.strip()}
    m = j.get("msg") or j.get("message") or line.strip()
    seen[m] = seen.get(m, 0) + 1
for m, n in list(seen.items())[:5]:
    print("  %6d x %s" % (n, m))' "$T/gw.log"
fi
exit 0
