#!/bin/bash
# SPDX-License-Identifier: ISC
# The command line: help, usage errors (exit 2 with the valid words),
# failures (exit 1 with one clear line), version, config path.
. "$(dirname "$0")/lib.sh"

out=$(gw help) || fail "help exits 0"
assert_contains "$out" "serve" "help lists serve"
assert_contains "$out" "doctor" "help lists doctor"

rc=0; out=$(gw 2>&1) || rc=$?
assert_eq "$rc" 2 "no command is a usage error"
assert_contains "$out" "usage: copilot-gw" "no command prints usage"

rc=0; out=$(gw frobnicate 2>&1) || rc=$?
assert_eq "$rc" 2 "unknown command exits 2"
assert_contains "$out" "unknown command 'frobnicate'" "unknown command is named"
assert_contains "$out" "valid commands: serve, login, accounts, keys, audit, env, config, doctor, version, help" \
    "unknown command lists the valid words"

rc=0; out=$(gw ser 2>&1) || rc=$?
assert_eq "$rc" 2 "no prefix matching of command names"

rc=0; out=$(gw config 2>&1) || rc=$?
assert_eq "$rc" 2 "config without a subcommand exits 2"
assert_contains "$out" "valid subcommands: show, path" "config lists its subcommands"

rc=0; out=$(gw config frob 2>&1) || rc=$?
assert_eq "$rc" 2 "unknown subcommand exits 2"
assert_contains "$out" "unknown subcommand 'config frob'" "unknown subcommand is named"

out=$(gw serve --help) || fail "serve --help exits 0"
assert_contains "$out" "usage: copilot-gw serve" "serve --help shows its usage"
assert_contains "$out" "--listen HOST:PORT" "serve --help shows --listen"
out=$(gw config show --help) || fail "config show --help exits 0"
assert_contains "$out" "usage: copilot-gw config show" "subcommand --help"
out=$(gw help doctor) || fail "help doctor exits 0"
assert_contains "$out" "usage: copilot-gw doctor" "help COMMAND"

rc=0; out=$(gw serve --bogus 2>&1) || rc=$?
assert_eq "$rc" 2 "unknown option exits 2"
assert_contains "$out" "usage: copilot-gw serve" "unknown option prints usage"

rc=0; out=$(gw --set nokey 2>&1) || rc=$?
assert_eq "$rc" 2 "--set without = exits 2"

out=$(gw version)
assert_contains "$out" "copilot-gw " "version prints the name"
assert_contains "$out" "libuv" "version lists libraries"
v=$(gw version --json | json - 'j["version"]')
assert_contains "$out" "$v" "version --json agrees with version"
out=$(gw --version)
assert_contains "$out" "copilot-gw $v" "--version works"

out=$(gw config path)
assert_eq "$out" "$GW_HOME/config.json" "config path under --home/COPILOT_GW_HOME"
out=$(gw --home "$T/other" config path)
assert_eq "$out" "$T/other/config.json" "--home overrides COPILOT_GW_HOME"
out=$(COPILOT_GW_HOME= gw config path)
assert_eq "$out" "$XDG_CONFIG_HOME/copilot-gw/config.json" "XDG config dir by default"
out=$(gw --config "$T/x.json" config path)
assert_eq "$out" "$T/x.json" "--config overrides the config file"

# A failure is one line on stderr naming what failed, exit 1.
mkdir -p "$GW_HOME"
echo '{"listen": {"port": "eighty"}}' >"$GW_HOME/config.json"
rc=0; out=$(gw config show 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "invalid config exits 1"
assert_contains "$out" "'listen.port': must be" "invalid config names the key"
rc=0; out=$(gw serve 2>&1) || rc=$?
assert_eq "$rc" 1 "serve refuses an invalid config"
rm -f "$GW_HOME/config.json"

# A busy port is a clear failure.
p=$(free_port)
$PY -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(30)' "$p" &
_PIDS="$_PIDS $!"
sleep 0.3
rc=0; out=$(gw serve --listen "127.0.0.1:$p" 2>&1) || rc=$?
assert_eq "$rc" 1 "serve on a busy port exits 1"
assert_contains "$out" "address already in use" "busy port is explained"

# Non-loopback listen addresses need an explicit flag.
rc=0; out=$(gw serve --listen "0.0.0.0:$p" 2>&1) || rc=$?
assert_eq "$rc" 1 "non-loopback listen refused"
assert_contains "$out" "--allow-remote" "refusal says how to allow it"

done_testing
