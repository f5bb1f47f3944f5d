#!/usr/bin/env bash
# A transaction on the source that began (and wrote) before a cycle and
# commits after that cycle completed: its changes are not in that cycle's
# snapshot, nor skipped by the next one - they reach every target.  Two
# syncs read the same source, so the purge of applied deltas (which must
# keep the open transaction's rows) is exercised too.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="CREATE TABLE t (id int PRIMARY KEY, v text);
        CREATE TABLE side (id int PRIMARY KEY);"
test_databases "$SCHEMA" src t1 t2
psql -X -q -d src -c "INSERT INTO t SELECT i, 'base' FROM generate_series(1, 100) i" || fail "base rows"
for db in t1 t2; do
    psql -X -q -d "$db" -c "INSERT INTO t SELECT i, 'base' FROM generate_series(1, 100) i" || fail "base rows on $db"
done
test_sync s1 rg src,t1
run_ok "$BUCARDO" add sync s2 relgroup=rg dbs=src,t2
run_ok "$BUCARDO" start
check() {
    wait_synced src t1 20 t side
    wait_synced src t2 20 t side
}
check

# open_tx NAME - a psql session on src reading statements from a fifo, so
# the test decides when each statement (and the COMMIT) is sent.  It must
# not inherit the write ends of other sessions' fifos (fds 7 and 8), or
# those would never see end-of-file.
open_tx() {
    mkfifo "$TEST_DIR/$1.fifo"
    PGAPPNAME=$1 timeout 60 psql -X -q -v ON_ERROR_STOP=1 -d src <"$TEST_DIR/$1.fifo" \
        >"$TEST_DIR/$1.out" 2>&1 7>&- 8>&- &
    eval "${1}_pid=$!"
}
# wait_idle_in_tx NAME - until the session sits in its open transaction.
wait_idle_in_tx() {
    local i
    for i in $(seq 100); do
        [ "$(sql src "select count(*) from pg_stat_activity
                       where application_name = '$1' and state = 'idle in transaction'")" = 1 ] && return 0
        sleep 0.1
    done
    fail "session $1 never became idle in transaction: $(cat "$TEST_DIR/$1.out")"
}

# 1. The long transaction writes before the cycle...
open_tx longtx
exec 7>"$TEST_DIR/longtx.fifo"
echo "BEGIN; UPDATE t SET v = 'long' WHERE id <= 10; INSERT INTO t VALUES (1001, 'long insert');
      DELETE FROM t WHERE id = 50;" >&7
wait_idle_in_tx longtx
# ... a later transaction commits, and a cycle of each sync runs and completes.
psql -X -q -d src -c "UPDATE t SET v = 'short' WHERE id BETWEEN 20 AND 29; INSERT INTO side VALUES (1)" ||
    fail "short transaction"
run_ok "$BUCARDO" kick s1 10
expect_out "DONE"
run_ok "$BUCARDO" kick s2 10
expect_out "DONE"
expect_equal 10 "$(sql t1 "select count(*) from t where v = 'short'")" "committed change on t1"
expect_equal 0 "$(sql t1 "select count(*) from t where v like 'long%'")" "uncommitted change on t1"
expect_equal 1 "$(sql t1 "select count(*) from t where id = 50")" "uncommitted delete on t1"
# More cycles while it is still open (each one advances the snapshot).
psql -X -q -d src -c "INSERT INTO side VALUES (2)" || fail "another short transaction"
run_ok "$BUCARDO" kick s1 10
run_ok "$BUCARDO" kick s2 10
expect_equal 1 "$(sql t2 "select count(*) from side where id = 2")" "second short change on t2"

# 2. A transaction that got its xid before the cycle but writes the
#    replicated table only after it.
open_tx latewrite
exec 8>"$TEST_DIR/latewrite.fifo"
echo "BEGIN; INSERT INTO side VALUES (100);" >&8
wait_idle_in_tx latewrite
run_ok "$BUCARDO" kick s1 10
run_ok "$BUCARDO" kick s2 10
echo "UPDATE t SET v = 'late' WHERE id BETWEEN 60 AND 64;" >&8
sleep 0.3
run_ok "$BUCARDO" kick s1 10
run_ok "$BUCARDO" kick s2 10

# 3. Both commit after those cycles completed; no kick: autokick applies them.
echo "COMMIT; \\q" >&7
exec 7>&-
wait "$longtx_pid" || fail "the long transaction failed: $(cat "$TEST_DIR/longtx.out")"
echo "COMMIT; \\q" >&8
exec 8>&-
wait "$latewrite_pid" || fail "the late-writing transaction failed: $(cat "$TEST_DIR/latewrite.out")"
check
expect_equal 10 "$(sql t1 "select count(*) from t where v = 'long'")" "long transaction's updates on t1"
expect_equal 1 "$(sql t2 "select count(*) from t where id = 1001")" "long transaction's insert on t2"
expect_equal 0 "$(sql t2 "select count(*) from t where id = 50")" "long transaction's delete on t2"
expect_equal 5 "$(sql t2 "select count(*) from t where v = 'late'")" "late writes on t2"

# Once everything is applied, the deltas are purged.
run_ok "$BUCARDO" kick s1 10
run_ok "$BUCARDO" kick s2 10
psql -X -q -d src -c "INSERT INTO side VALUES (3)" || fail "final change"
check
run_ok "$BUCARDO" kick s1 10
run_ok "$BUCARDO" kick s2 10
while IFS= read -r q; do
    expect_equal 0 "$(sql src "$q")" "delta rows left: $q"
done < <(sql src "select format('select count(*) from bucardo.%I', tablename) from pg_tables
                   where schemaname = 'bucardo' and tablename like 'delta%'")
run_ok "$BUCARDO" stop
echo ok
