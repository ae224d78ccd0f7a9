#!/bin/bash
# SPDX-License-Identifier: ISC
# Config sources and `config show`: defaults, file, environment, flags,
# secrets masked, strict validation with key paths.
. "$(dirname "$0")/lib.sh"

out=$(gw config show)
assert_contains "$out" "listen.host" "config show lists keys"
line=$(echo "$out" | grep '^listen.port ')
assert_contains "$line" "4141" "default port is 4141"
assert_contains "$line" "default" "default source is shown"
assert_contains "$(echo "$out" | grep '^listen.host ')" "127.0.0.1" \
    "default bind is loopback"
assert_contains "$out" "not present, defaults apply" "missing file is reported"

mkdir -p "$GW_HOME"
cat >"$GW_HOME/config.json" <<'JSON'
{
  "listen": { "port": 5000 },
  "log": { "level": "debug" },
  "limits": { "max_body_bytes": "2MiB" },
  "timeouts": { "header": "2s", "idle": 30 },
  "upstreams": {
    "github": { "api_url": "http://127.0.0.1:9/" },
    "m365": { "client_secret": "s3cr3t-value-never-shown" }
  }
}
JSON
out=$(gw config show)
assert_contains "$(echo "$out" | grep '^listen.port ')" "file" "file source"
assert_contains "$(echo "$out" | grep '^limits.max_body_bytes ')" "2MiB" \
    "sizes are shown with units"
assert_contains "$(echo "$out" | grep '^timeouts.idle ')" "30s" \
    "plain numbers are seconds"
assert_contains "$(echo "$out" | grep '^upstreams.github.api_url ')" \
    "http://127.0.0.1:9 " "trailing slash of a base URL is dropped"
assert_not_contains "$out" "s3cr3t-value-never-shown" "secret masked in config show"
assert_contains "$(echo "$out" | grep '^upstreams.m365.client_secret ')" \
    "********" "secret shown as a mask"
js=$(gw config show --json)
assert_not_contains "$js" "s3cr3t-value-never-shown" "secret masked in --json"
assert_eq "$(echo "$js" | json - 'j["listen.port"]["source"]')" file \
    "--json carries the source"

out=$(COPILOT_GW_LISTEN_PORT=6000 gw config show | grep '^listen.port ')
assert_contains "$out" "6000" "env overrides the file"
assert_contains "$out" "env" "env source"
out=$(COPILOT_GW_LISTEN_PORT=6000 gw --set listen.port=7000 config show |
    grep '^listen.port ')
assert_contains "$out" "7000" "--set overrides env"
assert_contains "$out" "flag" "flag source"
out=$(COPILOT_GW_LISTEN=127.0.0.2:6100 gw config show)
assert_contains "$(echo "$out" | grep '^listen.host ')" "127.0.0.2" \
    "COPILOT_GW_LISTEN sets the host"
assert_contains "$(echo "$out" | grep '^listen.port ')" "6100" \
    "COPILOT_GW_LISTEN sets the port"

rc=0; out=$(COPILOT_GW_LISTN=1 gw config show 2>&1) || rc=$?
assert_eq "$rc" 1 "unknown COPILOT_GW_ variable is an error"
assert_contains "$out" "COPILOT_GW_LISTN" "the unknown variable is named"
rc=0; out=$(gw --set limits.max_bdy=1 config show 2>&1) || rc=$?
assert_eq "$rc" 1 "unknown --set key is an error"
assert_contains "$out" "unknown key 'limits.max_bdy'" "unknown key named"

check_bad() {	# json, expected text
	echo "$1" >"$GW_HOME/config.json"
	rc=0; out=$(gw config show 2>&1) || rc=$?
	assert_eq "$rc" 1 "rejected: $1"
	assert_contains "$out" "$2" "reason for: $1"
}
check_bad '{"listen": {"prot": 1}}' "unknown key 'listen.prot'"
check_bad '{"lisen": {}}' "unknown key 'lisen'"
check_bad '{"listen": 4141}' "'listen': must be an object"
check_bad '{"listen": {"port": 70000}}' "'listen.port': must be an integer from 0 to 65535"
check_bad '{"listen": {"allow_remote": "yes"}}' "'listen.allow_remote': must be true or false"
check_bad '{"log": {"level": "loud"}}' "'log.level': must be one of"
check_bad '{"limits": {"max_body_bytes": "12XB"}}' "'limits.max_body_bytes': must be a size"
check_bad '{"timeouts": {"idle": "5 parsecs"}}' "'timeouts.idle': must be a duration"
check_bad '{"upstreams": {"github": {"api_url": "ftp://x"}}}' "is not an http:// or https:// URL"
printf '{\n  "listen": {\n    "port": 1,,\n  }\n}\n' >"$GW_HOME/config.json"
rc=0; out=$(gw config show 2>&1) || rc=$?
assert_eq "$rc" 1 "invalid JSON rejected"
assert_contains "$out" "line 3" "invalid JSON points at the line"
check_bad '[1, 2]' "must hold a JSON object"

done_testing
