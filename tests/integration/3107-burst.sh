#!/bin/bash
# SPDX-License-Identifier: ISC
# A burst of 10,000 requests with random bad keys (asyncio, 48 keep-alive
# connections, bounded in time): every one is 401, while requests with a
# valid key keep succeeding with a sane latency (compared with before the
# burst; generous bounds only). The audit table does not grow by 10,000
# rows: past a per-flush cap failures are counted in "audit.suppressed"
# rows, and stored plus counted failures add up to the burst. No secret
# that was presented reaches the audit table or the logs.
. "$(dirname "$0")/lib.sh"

CT='content-type: application/json'
DB=$GW_HOME/copilot-gw.db
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}'
N=10000

sq() {
	sqlite3 -readonly -batch "$DB" "$1"
}

# probe SECRET FILE: one valid request; appends "status seconds" to FILE.
probe() {
	curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' -H "$CT" \
	    -H "Authorization: Bearer $1" -d "$CHAT" \
	    "$GW_URL/v1/chat/completions" >>"$2" 2>/dev/null ||
	    echo "000 99" >>"$2"
}

# stats FILE: "count all-200 p50 max" of a probe file.
stats() {
	$PY -c 'import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
t = sorted(float(x[1]) for x in rows)
print(len(rows), all(x[0] == "200" for x in rows),
      round(statistics.median(t), 3) if t else -1, round(t[-1], 3) if t else -1)' "$1"
}

cat >"$T/burst.py" <<'PYEOF'
import asyncio, base64, json, os, random, sys, time
port, n, conc, keyfile = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
DEADLINE = 40.0
# Spread over at least this long, so that the valid requests probed
# meanwhile really run during the flood on a fast machine.
MIN_SECONDS = 2.0
keys = []
for i in range(n):
    if i % 5 < 3:
        k = "sk-cgw-" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    else:
        k = "bad-" + os.urandom(12).hex()
    keys.append(k)
with open(keyfile, "w") as f:
    f.write("\n".join(keys) + "\n")
body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}'

def request(i):
    k = keys[i]
    auth = ("x-api-key: %s" % k) if i % 5 == 4 else ("Authorization: Bearer %s" % k)
    if i % 2:
        return ("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n\r\n" % auth).encode()
    return ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (auth, len(body))).encode() + body

statuses = {}
nxt = 0
reconnects = 0
t0 = time.time()

async def worker():
    global nxt, reconnects
    r = w = None
    while nxt < n and time.time() - t0 < DEADLINE:
        while nxt / n > (time.time() - t0) / MIN_SECONDS:
            await asyncio.sleep(0.002)
        if nxt >= n:
            break
        i = nxt
        nxt += 1
        for attempt in range(3):
            try:
                if w is None:
                    r, w = await asyncio.open_connection("127.0.0.1", port)
                    reconnects += 1
                w.write(request(i))
                await w.drain()
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20)
                lines = head.decode("latin-1").split("\r\n")
                st = int(lines[0].split()[1])
                hdr = {}
                for l in lines[1:]:
                    if ":" in l:
                        a, b = l.split(":", 1)
                        hdr[a.strip().lower()] = b.strip()
                await r.readexactly(int(hdr.get("content-length", "0")))
                statuses[st] = statuses.get(st, 0) + 1
                if hdr.get("connection", "").lower() == "close":
                    w.close()
                    w = None
                break
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                if w is not None:
                    w.close()
                w = None
        else:
            statuses[0] = statuses.get(0, 0) + 1
    if w is not None:
        w.close()

async def main():
    await asyncio.gather(*(worker() for _ in range(conc)))

asyncio.run(main())
json.dump({"statuses": {str(k): v for k, v in statuses.items()},
           "sent": nxt, "elapsed": round(time.time() - t0, 2),
           "connections": reconnects}, sys.stdout)
PYEOF

start_github
login_github
gw keys create --label good --json >"$T/good.json" || fail "keys create failed"
GOOD=$(json "$T/good.json" 'j["secret"]')
GOOD_ID=$(json "$T/good.json" 'j["id"]')
gw keys create --label boss --tier admin --json >"$T/boss.json" ||
    fail "keys create --tier admin failed"
BOSS=$(json "$T/boss.json" 'j["secret"]')
GW_AUTH=1 start_gw

# --- before: the valid key's latency ----------------------------------------------
for _ in $(seq 1 12); do
	probe "$GOOD" "$T/before.txt"
done
read -r NB OKB P50B MAXB <<EOF
$(stats "$T/before.txt")
EOF
assert_eq "$NB $OKB" "12 True" "before the burst: 12 valid requests succeed (p50 ${P50B}s, max ${MAXB}s)"
sleep 1.2	# let the request log flush
A0=$(sq "SELECT count(*) FROM audit")
MAXID0=$(sq "SELECT coalesce(max(id), 0) FROM audit")

# --- the burst, with valid requests meanwhile --------------------------------------
$PY "$T/burst.py" "$GW_PORT" "$N" 48 "$T/badkeys.txt" >"$T/burst.json" \
    2>"$T/burst.err" &
BP=$!
_PIDS="$_PIDS $BP"
sleep 0.3
ADMIN_CALLS=0
while kill -0 "$BP" 2>/dev/null; do
	probe "$GOOD" "$T/during.txt"
	if [ "$ADMIN_CALLS" -lt 3 ]; then
		curl -s -o /dev/null -H "Authorization: Bearer $BOSS" \
		    "http://127.0.0.1:$GW_PORT/auth/keys/$GOOD_ID" &&
		    ADMIN_CALLS=$((ADMIN_CALLS + 1))
	fi
	sleep 0.05
done
wait "$BP" || fail "the burst client failed: $(cat "$T/burst.err")"
_PIDS=$(echo "$_PIDS" | sed "s/ $BP\b//")
assert_eq "$(json "$T/burst.json" 'j["sent"]')" "$N" \
    "the burst sent $N requests in $(json "$T/burst.json" 'j["elapsed"]') s over $(json "$T/burst.json" 'j["connections"]') connections"
assert_eq "$(json "$T/burst.json" 'j["statuses"]')" "{\"401\": $N}" \
    "every one of them got 401"
read -r ND OKD P50D MAXD <<EOF
$(stats "$T/during.txt")
EOF
[ "$ND" -ge 3 ] || fail "only $ND valid requests ran during the burst"
assert_eq "$OKD" True "during the burst all $ND valid requests succeed"
assert_eq "$($PY -c "print($P50D < 1.0)")" True \
    "during the burst the valid key's p50 is ${P50D}s (before ${P50B}s; bound 1 s)"
assert_eq "$($PY -c "print($MAXD < 5.0)")" True \
    "during the burst no valid request took 5 s (max ${MAXD}s)"
probe "$GOOD" "$T/after.txt"
assert_eq "$(cut -d' ' -f1 "$T/after.txt")" 200 "after the burst the key works"
req GET /healthz
assert_eq "$STATUS" 200 "/healthz after the burst"
stop_gw
assert_eq "$GW_STATUS" 0 "serve stopped cleanly after the burst"

# --- the audit table ----------------------------------------------------------------
A1=$(sq "SELECT count(*) FROM audit")
GROWTH=$((A1 - A0))
# The cap is per flush (once a second), so the growth depends on how long
# the burst took; it is never one row per failure.
[ "$GROWTH" -lt "$N" ] ||
    fail "the audit table grew by $GROWTH rows for $N failures"
ok "the audit table grew by $GROWTH rows, not $N"
STORED=$(sq "SELECT count(*) FROM audit WHERE id > $MAXID0 AND action = 'auth.failure'")
SUPP_ROWS=$(sq "SELECT count(*) FROM audit WHERE id > $MAXID0 AND action = 'audit.suppressed'")
[ "$SUPP_ROWS" -ge 1 ] || fail "no audit.suppressed row"
ok "$SUPP_ROWS audit.suppressed rows count the rest"
COUNTED=$(sq "SELECT detail FROM audit WHERE id > $MAXID0 AND action = 'audit.suppressed'" |
    awk '{ s += $1 } END { print s + 0 }')
assert_eq "$((STORED + COUNTED))" "$N" \
    "stored ($STORED) plus counted ($COUNTED) failures are the $N of the burst"
assert_eq "$(sq "SELECT count(*) FROM audit WHERE id > $MAXID0 AND action = 'admin.call' AND target = '/auth/keys/$GOOD_ID'")" \
    "$ADMIN_CALLS" "the $ADMIN_CALLS admin calls made during the flood are all audited (failures cannot crowd them out)"
assert_eq "$(sq "SELECT count(*) FROM audit WHERE id > $MAXID0 AND action = 'auth.failure' AND detail NOT GLOB 'sha256:[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'")" \
    0 "every stored failure is sha256:<8 hex>"
sq "SELECT * FROM audit" >"$T/audit.rows"
$PY - "$T/badkeys.txt" "$T/audit.rows" "$T/gw.log" "$T/gw.out.log" >"$T/leak.txt" <<'PYEOF'
import hashlib, re, sys
keys = [l.strip() for l in open(sys.argv[1]) if l.strip()]
pre = {"sha256:" + hashlib.sha256(k.encode()).hexdigest()[:8] for k in keys}
audit = open(sys.argv[2], encoding="utf-8", errors="replace").read()
bad = [d for d in re.findall(r"sha256:[0-9a-f]{8}", audit) if d not in pre]
if bad:
    print("audit has %d hash prefixes of keys never sent, e.g. %s" % (len(bad), bad[:3]))
for path in sys.argv[2:]:
    text = open(path, encoding="utf-8", errors="replace").read()
    n = sum(1 for k in keys if k[-20:] in text)
    if n:
        print("%d presented keys are in %s" % (n, path))
PYEOF
assert_eq "$(cat "$T/leak.txt")" "" \
    "no presented key is in the audit table or the logs; the prefixes are of keys sent"
assert_not_contains "$(cat "$T/gw.log")" "sk-cgw-" "no sk-cgw- at all in the log"
assert_eq "$(sq "SELECT last_used_ms IS NOT NULL FROM keys WHERE id = '$GOOD_ID'")" 1 \
    "the valid key's last use was recorded"

done_testing
