#!/usr/bin/env bash
# `bucardo check` (a Nagios-style check) and `bucardo status --json`: a
# sync with overdue 4 s and expired 8 s is OK while it keeps up; stopped
# (engine down) with a change waiting, it turns WARNING (exit 1) once the
# change is older than overdue and CRITICAL (exit 2) past expired; running
# again, it catches up and is OK.  status --json, parsed, gives the same
# lag, the backlog per table (the keys changed) and the member's state, and
# every figure `status SYNC` prints.  Unknown syncs are UNKNOWN (exit 3).
. "$TESTS_DIR/lib/setup.sh"
test_begin
PY=/usr/bin/python3
test_databases "CREATE TABLE items (id int PRIMARY KEY, v text); CREATE TABLE pairs (a int, b text, n int, PRIMARY KEY (a, b));" src tgt
test_sync s1 rg src:source,tgt:target overdue='4 seconds' expired='8 seconds'
run_ok "$BUCARDO" start
psql -X -q -d src -c "INSERT INTO items SELECT i, 'v' || i FROM generate_series(1, 100) i;
                      INSERT INTO pairs SELECT i, 'b', i FROM generate_series(1, 10) i" || fail "rows"
wait_synced src tgt 20 items pairs

# check_rc RC PATTERN [SYNC...] - `bucardo check` exits RC and prints one line matching PATTERN.
check_rc() {
    local rc=$1 pat=$2
    shift 2
    OUT=$("$BUCARDO" check "$@" 2>&1)
    got=$?
    [ "$got" = "$rc" ] || fail "check $*: exit $got, expected $rc: $OUT"
    [ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ] || fail "check $*: more than one line: $OUT"
    printf '%s\n' "$OUT" | grep -Eq "$pat" || fail "check $*: '$OUT' does not match '$pat'"
    echo "check $* -> $got: $OUT"
}
# status_field EXPR - a Python expression over the parsed `status s1 --json` (d: its sync).
status_field() {
    "$BUCARDO" status s1 --json >"$TEST_DIR/status.json" || fail "status --json failed"
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))["syncs"][0]
print(eval(sys.argv[2]))' "$TEST_DIR/status.json" "$1" || fail "status --json: cannot evaluate $1: $(cat "$TEST_DIR/status.json")"
}

check_rc 0 '^BUCARDO_SYNC OK: s1 OK \(lag 0s\) \|'
check_rc 0 '^BUCARDO_SYNC OK: s1 OK' s1
check_rc 3 '^BUCARDO_SYNC UNKNOWN: no sync named "nosuch"' nosuch
[ "$(status_field 'd["state"], d["backlog_keys"], d["lag_seconds"], d["overdue_seconds"], d["expired_seconds"]')" = "('Good', 0, 0.0, 4.0, 8.0)" ] ||
    fail "status --json of a sync that keeps up: $(cat "$TEST_DIR/status.json")"
[ "$(status_field '[(m["name"], m["role"], m["state"]) for m in d["members"]]')" = "[('src', 'source', 'current'), ('tgt', 'target', 'current')]" ] ||
    fail "members: $(cat "$TEST_DIR/status.json")"
# Every figure of the text detail block is in the document.
"$BUCARDO" status s1 >"$TEST_DIR/status.txt"
[ "$(status_field 'd["last_good"]["inserts"]')" = "$(sed -n 's|^Rows deleted/inserted *: [0-9]* / \([0-9]*\)$|\1|p' "$TEST_DIR/status.txt")" ] ||
    fail "inserts differ between status and status --json"
[ "$(status_field 'd["relgroup"], d["sources"], d["tables"], d["autokick"], d["status"]')" = "('rg', ['src'], 2, True, 'active')" ] ||
    fail "detail figures: $(cat "$TEST_DIR/status.json")"

# The engine stops; a change waits.
run_ok "$BUCARDO" stop
psql -X -q -d src -c "UPDATE items SET v = 'late' WHERE id <= 7; INSERT INTO pairs VALUES (1, 'c', 1)" || fail "change"
t0=$(date +%s)
check_rc 0 '^BUCARDO_SYNC OK: s1 OK \(lag [0-3]s\), 8 key\(s\) waiting'
[ "$(status_field '[(b["table"], b["source"], b["keys"]) for b in d["backlog"]]')" = "[('public.items', 'src', 7), ('public.pairs', 'src', 1)]" ] ||
    fail "backlog per table: $(cat "$TEST_DIR/status.json")"
[ "$(status_field '[(m["name"], m["state"], m["backlog_keys"]) for m in d["members"]]')" = "[('src', 'current', 0), ('tgt', 'pending', 8)]" ] ||
    fail "members with a change waiting: $(cat "$TEST_DIR/status.json")"
while [ $(( $(date +%s) - t0 )) -lt 6 ]; do sleep 0.5; done
check_rc 1 '^BUCARDO_SYNC WARNING: s1 lag [4-7]s > overdue 4s, 8 key\(s\) waiting \| .s1_lag.=[0-9.]+s;4;8;0'
lag=$(status_field 'd["lag_seconds"]')
"$PY" -c "import sys; sys.exit(0 if 4 < float(sys.argv[1]) < 9 else 1)" "$lag" || fail "status --json lag $lag, expected about 6"
while [ $(( $(date +%s) - t0 )) -lt 10 ]; do sleep 0.5; done
check_rc 2 '^BUCARDO_SYNC CRITICAL: s1 lag (9|[1-9][0-9])s > expired 8s, 8 key\(s\) waiting'
[ "$(table_digest src items)" != "$(table_digest tgt items)" ] || fail "the target changed while the engine was stopped?"

# Running again: caught up, OK.
run_ok "$BUCARDO" start
wait_synced src tgt 20 items pairs
deadline=$(( $(date +%s) + 10 ))
until "$BUCARDO" check >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "still not OK after catch-up: $("$BUCARDO" check)"
    sleep 0.2
done
check_rc 0 '^BUCARDO_SYNC OK: s1 OK \(lag 0s\)'
[ "$(status_field 'd["backlog_keys"], d["lag_seconds"]')" = "(0, 0.0)" ] || fail "after catch-up: $(cat "$TEST_DIR/status.json")"
# status --json over every sync parses too, and names the engine.
"$BUCARDO" status --json | "$PY" -c 'import json, sys; d = json.load(sys.stdin); assert d["engine"]["running"] and [s["name"] for s in d["syncs"]] == ["s1"], d' ||
    fail "status --json (every sync)"
run_ok "$BUCARDO" stop
echo ok
