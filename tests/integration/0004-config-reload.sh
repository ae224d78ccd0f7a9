#!/bin/bash
# SPDX-License-Identifier: ISC
# A running serve reloads its config file when it changes; an invalid new
# file is refused with a logged error and the old config stays in force.
. "$(dirname "$0")/lib.sh"

mkdir -p "$GW_HOME"
echo '{"limits": {"max_body_bytes": "64KiB"}}' >"$GW_HOME/config.json"
start_gw
head -c 10000 /dev/zero | tr '\0' a >"$T/body10k"
req POST /x --data-binary @"$T/body10k"
assert_eq "$STATUS" 404 "10 KB body accepted under a 64 KiB limit"

# Change the file: the new limit applies without a restart.
echo '{"limits": {"max_body_bytes": "4KiB"}}' >"$GW_HOME/config.json.new"
mv "$GW_HOME/config.json.new" "$GW_HOME/config.json"
for _ in $(seq 50); do
	grep -q '"msg":"config reloaded"' "$T/gw.log" && break
	sleep 0.1
done
assert_contains "$(cat "$T/gw.log")" '"msg":"config changed"' "the change is logged"
req POST /x --data-binary @"$T/body10k"
assert_eq "$STATUS" 413 "the reloaded limit is in force"

# An invalid file is refused; the old config stays.
echo '{"limits": {"max_body_bytes": "lots"}}' >"$GW_HOME/config.json"
for _ in $(seq 50); do
	grep -q 'config reload refused' "$T/gw.log" && break
	sleep 0.1
done
assert_contains "$(cat "$T/gw.log")" "config reload refused" "an invalid file is refused"
assert_contains "$(grep 'config reload refused' "$T/gw.log")" "limits.max_body_bytes" \
    "the refusal names the key"
req GET /healthz
assert_eq "$(json "$T/body" 'j["config"]["status"]')" reload_refused "healthz shows the refusal"
req POST /x --data-binary @"$T/body10k"
assert_eq "$STATUS" 413 "the old config stays in force"

# A key that needs a restart is not changed live.
echo '{"listen": {"allow_remote": true}, "limits": {"max_body_bytes": "64KiB"}}' >"$GW_HOME/config.json"
for _ in $(seq 50); do
	grep -q 'needs a restart' "$T/gw.log" && break
	sleep 0.1
done
assert_contains "$(cat "$T/gw.log")" "config change needs a restart" "listen change needs a restart"
req POST /x --data-binary @"$T/body10k"
assert_eq "$STATUS" 404 "the rest of the new file applies"
req GET /healthz
assert_eq "$(json "$T/body" 'j["config"]["status"]')" ok "healthz ok after a good reload"

# SIGHUP rereads the file too.
echo '{"log": {"level": "debug"}, "listen": {"allow_remote": true}, "limits": {"max_body_bytes": "64KiB"}}' >"$GW_HOME/config.json"
sleep 0.5
kill -HUP "$GW_PID"
for _ in $(seq 50); do
	[ "$(grep -c '"msg":"config reloaded"' "$T/gw.log")" -ge 3 ] && break
	sleep 0.1
done
req GET /healthz
assert_contains "$(cat "$T/gw.log")" '"key":"log.level"' "SIGHUP reload applied the level"
stop_gw
assert_eq "$GW_STATUS" 0 "serve exits 0"
done_testing
