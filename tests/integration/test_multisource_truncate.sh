#!/usr/bin/env bash
# Multi-source TRUNCATE and the engine's waits for locks (issue 16, case 5).
#
# Autokick is off: each scenario's changes are applied in one cycle, by
# the kick.
# 1. Three sources (a, b, c): TRUNCATE on all three, then one row inserted
#    on each.  The cycle must not wait on itself (applying a TRUNCATE on a
#    source needs ACCESS EXCLUSIVE, which the cycle's own reading
#    transaction there would block), `kick s 0` returns, and every member
#    ends with the three rows inserted after the truncates.  Then a TRUNCATE
#    on one source only, with a change made on another before it (lost) and
#    one after it (kept): a TRUNCATE counts as a change of every key at its
#    time, settled by the conflict rule (bucardo_latest here).
# 2. A user session holding ACCESS EXCLUSIVE on a member's table: the
#    engine's wait ends at lock_timeout, the run is Bad and names the
#    database and the table, and the cycle is retried; once the lock goes,
#    the change arrives.
# 3. The same with a long lock_timeout, the engine blocked reading a source:
#    `bucardo stop` ends it within a few seconds.
. "$TESTS_DIR/lib/setup.sh"
test_begin

for db in a b c; do
    createdb "$db" && psql -X -q -d "$db" -c "CREATE TABLE t (id int PRIMARY KEY, v text)" || fail "schema on $db"
    run_ok "$BUCARDO" add database "$db" dbname="$db"
done
run_ok "$BUCARDO" add table t db=a relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=a:source,b:source,c:source autokick=0
run_ok "$BUCARDO" set retry_delay=0.2 retry_delay_max=1 lock_timeout=2s
run_ok "$BUCARDO" start

rows() {  # rows DB - the table's rows, one line
    sql "$1" "select coalesce(string_agg(id || ':' || v, ' ' order by id), '') from t"
}
same_everywhere() {  # same_everywhere EXPECTED WHAT
    for db in a b c; do
        expect_equal "$1" "$(rows $db)" "$2: rows on $db"
    done
}
kick_bounded() {  # kick_bounded WHAT - kick s 0 must return (Good) within 60 s
    local rc=0
    timeout 60 "$BUCARDO" kick s 0 >"$TEST_DIR/kick.out" 2>&1 || rc=$?
    [ "$rc" = 124 ] && fail "$1: 'kick s 0' did not return within 60 s"
    [ "$rc" = 0 ] || fail "$1: 'kick s 0' failed ($rc): $(cat "$TEST_DIR/kick.out")"
}

# 1. The issue's scenario.
sql a "insert into t values (1, 'a')" >/dev/null
sql b "insert into t values (2, 'b')" >/dev/null
sql c "insert into t values (3, 'c')" >/dev/null
kick_bounded "the first rows"
same_everywhere "1:a 2:b 3:c" "before the truncates"
for db in a b c; do
    sql "$db" "truncate t" >/dev/null
done
sql a "insert into t values (11, 'a')" >/dev/null
sql b "insert into t values (12, 'b')" >/dev/null
sql c "insert into t values (13, 'c')" >/dev/null
kick_bounded "TRUNCATE on all three sources"
same_everywhere "11:a 12:b 13:c" "after TRUNCATE and an insert on each source"
expect_equal Good "$(sql bucardo "select state from bucardo.syncrun where sync = 's' order by id desc limit 1")" \
    "the run after the truncates"

# One source truncates: a change on c before it loses, one on a after it wins.
sql c "update t set v = 'c before' where id = 13; insert into t values (14, 'c before')" >/dev/null
sleep 0.05
sql b "truncate t" >/dev/null
sleep 0.05
sql a "insert into t values (21, 'a after')" >/dev/null
kick_bounded "TRUNCATE on b between changes on c and a"
same_everywhere "21:a after" "after a TRUNCATE on b alone"
kick_bounded "an idle cycle"
same_everywhere "21:a after" "after an idle cycle"

# 2. A user's lock on c's table: the run is Bad naming c and the table, and
#    the change arrives once the lock is gone.
psql -X -q -d c -c "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120)" >/dev/null 2>&1 &
LOCKER=$!
until [ "$(sql c "select count(*) from pg_locks where relation = 't'::regclass and mode = 'AccessExclusiveLock' and granted")" = 1 ]; do
    sleep 0.05
done
last=$(sql bucardo "select coalesce(max(id), 0) from bucardo.syncrun where sync = 's'")
sql a "insert into t values (31, 'a locked')" >/dev/null
run_ok "$BUCARDO" kick s
wait_run s 60 "id > $last and state = 'Bad' and error like '%target c: %\"public\".\"t\"%' and error like '%55P03%'"
run_ok "$BUCARDO" status s
expect_out "Current state +: Bad"
expect_out 'target c: .*"public"."t".*lock timeout .*55P03'
sql c "select pg_terminate_backend(pid) from pg_locks where relation = 't'::regclass and mode = 'AccessExclusiveLock' and granted" >/dev/null
wait "$LOCKER" 2>/dev/null
kick_bounded "after the lock on c went away"
same_everywhere "21:a after 31:a locked" "after the lock on c went away"

# 3. Blocked reading a source, with a long lock_timeout: stop ends the
#    engine, and a `kick s 0` waiting for the blocked run returns.  The
#    rows wait for the kick that comes once the user's lock on a's table is
#    held: the cycle then reads a's new row from that table (and would
#    write b's there).
lock_a() {  # a user's transaction holding ACCESS EXCLUSIVE on a's table (LOCKER)
    psql -X -q -d a -c "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120)" >/dev/null 2>&1 &
    LOCKER=$!
    until [ "$(sql a "select count(*) from pg_locks where relation = 't'::regclass and mode = 'AccessExclusiveLock' and granted")" = 1 ]; do
        sleep 0.05
    done
}
unlock_a() {
    sql a "select pg_terminate_backend(pid) from pg_locks where relation = 't'::regclass and mode = 'AccessExclusiveLock' and granted" >/dev/null
    wait "$LOCKER" 2>/dev/null
}
blocked_kick() {  # kick s 0 in the background (KICKER), once the engine waits for the lock on a
    timeout 60 "$BUCARDO" kick s 0 >"$TEST_DIR/kick.out" 2>&1 &
    KICKER=$!
    for _ in $(seq 200); do
        [ "$(sql a "select count(*) from pg_stat_activity where application_name = 'bucardo' and wait_event_type = 'Lock'")" -ge 1 ] && break
        sleep 0.05
    done
    [ "$(sql a "select count(*) from pg_stat_activity where application_name = 'bucardo' and wait_event_type = 'Lock'")" -ge 1 ] ||
        fail "the engine did not block on the lock on a"
    sleep 1
}
kick_returned() {  # kick_returned WHAT PATTERN - the background kick failed within 10 s, saying PATTERN
    local rc=0
    for _ in $(seq 100); do
        kill -0 "$KICKER" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$KICKER" 2>/dev/null && fail "$1: 'kick s 0' still waits 10 s later"
    wait "$KICKER" || rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "$1: 'kick s 0' returned $rc: $(cat "$TEST_DIR/kick.out")"
    grep -Eq "$2" "$TEST_DIR/kick.out" || fail "$1: 'kick s 0' said: $(cat "$TEST_DIR/kick.out")"
}
run_ok "$BUCARDO" stop
run_ok "$BUCARDO" set lock_timeout=10min
run_ok "$BUCARDO" start
kick_bounded "after the restart"
sql a "insert into t values (41, 'a')" >/dev/null
sql b "insert into t values (42, 'b')" >/dev/null
lock_a
pid=$(engine_pid)
blocked_kick
start=$(date +%s%N)
timeout 20 "$BUCARDO" stop >/dev/null 2>&1 || fail "bucardo stop failed or took over 20 s while the engine was blocked"
for _ in $(seq 100); do
    process_gone "$pid" && [ -z "$(engines_here)" ] && break
    sleep 0.1
done
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
process_gone "$pid" || fail "the engine (pid $pid) still runs ${elapsed} ms after stop"
[ -z "$(engines_here)" ] || fail "an engine still runs after stop: $(engines_here)"
[ "$elapsed" -le 10000 ] || fail "stopping a blocked engine took ${elapsed} ms"
echo "stop of a blocked engine took ${elapsed} ms"
[ "$(sql a "select count(*) from pg_stat_activity where application_name = 'bucardo'")" = 0 ] ||
    fail "an engine session is still waiting on a"
kick_returned "stop while the run was blocked" "FAILED: .*stopping"
expect_equal "1:1" "$(sql bucardo "select count(*) filter (where state = 'Bad' and error like '%engine is stopping%') || ':' || count(*)
                                   from bucardo.syncrun where sync = 's' and started >= (select max(started) from bucardo.syncrun where sync = 's')")" \
    "the interrupted run is recorded Bad"

# 4. The engine killed (SIGKILL) while blocked: it records nothing, and the
#    waiting `kick s 0` says the engine is gone instead of waiting for ever.
run_ok "$BUCARDO" start
pid=$(engine_pid)
blocked_kick
kill -KILL "$pid"
kick_returned "SIGKILL while the run was blocked" "the engine stopped before it ran"
unlock_a
run_ok "$BUCARDO" start
kick_bounded "after the stop"
same_everywhere "21:a after 31:a locked 41:a 42:b" "after the stop and a new start"
run_ok "$BUCARDO" stop
echo ok
