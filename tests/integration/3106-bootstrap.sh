#!/bin/bash
# SPDX-License-Identifier: ISC
# The first admin key: serve with auth on and no admin key makes one.
# Without a terminal it goes to "$GW_HOME/admin-key" (mode 0600), whose
# path is printed on standard error; the secret is in no log; it works as
# an admin key; a second start makes no other, and neither does a start
# after every admin key was revoked (it warns instead). On a terminal the secret
# is printed there instead, and no file is written. With auth off nothing
# is made.
. "$(dirname "$0")/lib.sh"

DB=$GW_HOME/copilot-gw.db
KF=$GW_HOME/admin-key

# admin_count: the live admin keys in the store.
admin_count() {
	sqlite3 -readonly "$DB" "SELECT count(*) FROM keys WHERE tier = 'admin' AND revoked_ms IS NULL"
}

[ ! -e "$KF" ] || fail "admin-key exists before the first start"
GW_AUTH=1 start_gw

# --- the file ---------------------------------------------------------------------
[ -f "$KF" ] || fail "serve made no $KF"
ok "serve made $KF"
assert_eq "$(stat -c %a "$KF")" 600 "admin-key has mode 0600"
assert_eq "$(stat -c %u "$KF")" "$(id -u)" "admin-key belongs to the user"
assert_eq "$(wc -l <"$KF" | tr -d ' ')" 1 "admin-key holds one line"
SECRET=$(cat "$KF")
printf '%s\n' "$SECRET" | grep -Eq '^sk-cgw-[A-Za-z0-9_-]{43}$' ||
    fail "admin-key holds '$SECRET'"
ok "admin-key holds a key secret"
assert_contains "$(cat "$T/gw.log")" "$KF" "its path is printed on stderr"
assert_not_contains "$(cat "$T/gw.log" "$T/gw.out.log")" "${SECRET:7:16}" \
    "the secret is not in the gateway's output"
assert_eq "$(admin_count)" 1 "one admin key in the store"
assert_eq "$(sqlite3 -readonly "$DB" "SELECT hash FROM keys WHERE tier = 'admin'")" \
    "$(printf '%s' "$SECRET" | sha256sum | cut -d' ' -f1)" \
    "the store holds its hash"

# --- it works -------------------------------------------------------------------
req GET /auth/keys -H "Authorization: Bearer $SECRET"
assert_eq "$STATUS" 200 "the bootstrap key may use the admin routes"
assert_eq "$(json "$T/body" '[(k["tier"], k["label"]) for k in j["data"]]')" \
    '[["admin", "first-admin"]]' "it is the admin key first-admin"
req POST /auth/keys -H "Authorization: Bearer $SECRET" \
    -H 'content-type: application/json' -d '{"label":"from-bootstrap"}'
assert_eq "$STATUS" 201 "it can create client keys"
CLIENT=$(json "$T/body" 'j["secret"]')
req GET /auth/keys -H "Authorization: Bearer $CLIENT"
assert_eq "$STATUS" 403 "(the client key it made is not an admin)"
req GET /auth/keys
assert_eq "$STATUS" 401 "auth is on: no key, 401"
stop_gw
assert_eq "$GW_STATUS" 0 "serve stopped cleanly"
assert_eq "$(gw audit --json | json - '[(x["actor"], x["action"], x["detail"]) for x in j if x["actor"] == "system"]')" \
    '[["system", "key.create", "first run admin"]]' \
    "the audit trail records the first-run key"

# --- a second start makes no other -------------------------------------------------
SUM=$(sha256sum "$KF")
MT=$(stat -c %Y.%y "$KF")
: >"$T/gw.log"
GW_AUTH=1 start_gw
assert_eq "$(admin_count)" 1 "a second start makes no other admin key"
assert_eq "$(sha256sum "$KF")" "$SUM" "admin-key is unchanged"
assert_eq "$(stat -c %Y.%y "$KF")" "$MT" "admin-key was not rewritten"
assert_not_contains "$(cat "$T/gw.log")" "admin-key" \
    "the second start prints no admin-key path"
req GET /auth/keys -H "Authorization: Bearer $SECRET"
assert_eq "$STATUS" 200 "the first key still works"
stop_gw
assert_eq "$GW_STATUS" 0 "serve stopped cleanly"

# --- every admin key revoked: no new one behind the operator's back ---------------
rm -f "$KF"
gw keys revoke first-admin >/dev/null || fail "keys revoke first-admin failed"
: >"$T/gw.log"
GW_AUTH=1 start_gw
assert_eq "$(admin_count)" 0 "a start after the admin keys were revoked makes none"
[ ! -e "$KF" ] || fail "an admin-key file was written again"
ok "... and writes no admin-key file"
assert_contains "$(cat "$T/gw.log")" "keys recover-admin" \
    "... but warns that no admin key is valid, saying how to get one"
stop_gw

# --- on a terminal: printed there, no file -----------------------------------------
H2=$T/gw-tty
mkdir -p "$H2"
P=$(free_port)
COPILOT_GW_HOME=$H2 $PY - "$GW_BIN" "$P" >"$T/tty.json" 2>"$T/tty.err" <<'PYEOF'
import json, os, pty, re, select, signal, subprocess, sys, time
gw, port = sys.argv[1], sys.argv[2]
master, slave = pty.openpty()
p = subprocess.Popen([gw, "serve", "--listen", "127.0.0.1:" + port],
                     stdin=subprocess.DEVNULL, stdout=slave,
                     stderr=open(os.path.join(os.environ["COPILOT_GW_HOME"],
                                              "serve.err"), "w"))
os.close(slave)
out, secret, end = b"", None, time.time() + 20
while time.time() < end and secret is None:
    r, _, _ = select.select([master], [], [], 0.2)
    if r:
        try:
            b = os.read(master, 4096)
        except OSError:
            break
        if not b:
            break
        out += b
        m = re.search(rb"sk-cgw-[A-Za-z0-9_-]{43}", out)
        if m:
            secret = m.group(0).decode()
    if p.poll() is not None:
        break
time.sleep(0.3)
p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(15)
except subprocess.TimeoutExpired:
    p.kill()
    rc = p.wait()
json.dump({"secret": secret, "out": out.decode("utf-8", "replace"),
           "rc": rc}, sys.stdout)
PYEOF
TTY_SECRET=$(json "$T/tty.json" 'j["secret"]')
[ "$TTY_SECRET" != None ] && [ -n "$TTY_SECRET" ] ||
    fail "nothing like a key on the terminal: $(json "$T/tty.json" 'j["out"]') $(cat "$H2/serve.err" 2>/dev/null)"
ok "on a terminal the first admin key is printed there"
assert_eq "$(json "$T/tty.json" 'j["out"].count(j["secret"])')" 1 \
    "... exactly once"
[ ! -e "$H2/admin-key" ] || fail "an admin-key file was written on a terminal"
ok "... and no admin-key file is written"
assert_not_contains "$(cat "$H2/serve.err")" "${TTY_SECRET:7:16}" \
    "... nor is it logged"
assert_eq "$(sqlite3 -readonly "$H2/copilot-gw.db" "SELECT hash FROM keys WHERE tier = 'admin'")" \
    "$(printf '%s' "$TTY_SECRET" | sha256sum | cut -d' ' -f1)" \
    "... and it is the stored admin key"

# --- auth off: no bootstrap ---------------------------------------------------------------
H3=$T/gw-noauth
mkdir -p "$H3"
COPILOT_GW_HOME=$H3 start_gw	# lib.sh: auth off
[ ! -e "$H3/admin-key" ] || fail "auth off made an admin-key file"
ok "with auth off no admin-key is made"
stop_gw
assert_eq "$(sqlite3 -readonly "$H3/copilot-gw.db" "SELECT count(*) FROM keys" 2>/dev/null || echo 0)" \
    0 "with auth off no key is made"

done_testing
