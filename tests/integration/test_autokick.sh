#!/usr/bin/env bash
# Autokick without one NOTIFY per transaction: the capture's kick trigger
# notifies only when it gets the advisory lock (sql/capture.sql), so a
# transaction that overlaps a notifying one skips its NOTIFY.  Its changes
# must still arrive promptly, found by the engine's poll - also when the
# transaction holding the lock rolls back and so never notifies at all.
# Also: an idle engine stays quiet (no cycle runs while nothing changes),
# and a lone change or TRUNCATE does notify.
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "create table t (id int primary key, v text)" a b
sql a "insert into t select i, 'init' from generate_series(1, 10) i" >/dev/null
sql b "insert into t select i, 'init' from generate_series(1, 10) i" >/dev/null
run_ok "$BUCARDO" add table public.t db=a relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=a,b
run_ok "$BUCARDO" start
# The first cycle (empty: nothing changed) records the source's snapshot.
for _ in $(seq 300); do
    [ "$(sql bucardo "select count(*) from bucardo.sync_source_state where sync = 's'")" = 1 ] && break
    sleep 0.1
done
[ "$(sql bucardo "select count(*) from bucardo.sync_source_state where sync = 's'")" = 1 ] || fail "no first cycle"

# 1. A transaction that holds the kick lock for 6 s and then rolls back; a
#    second one commits meanwhile, skipping its NOTIFY.
psql -X -q -d a -c "begin; update t set v = 'rolled back' where id = 1; select pg_sleep(6); rollback" >/dev/null &
holder=$!
for _ in $(seq 50); do
    [ "$(sql a "select count(*) from pg_locks where locktype = 'advisory' and granted")" = 1 ] && break
    sleep 0.1
done
[ "$(sql a "select count(*) from pg_locks where locktype = 'advisory' and granted")" = 1 ] ||
    fail "the first transaction does not hold the kick lock"
t0=$(date +%s.%N)
sql a "update t set v = 'skipped notify' where id = 2" >/dev/null
wait_synced a b 4 t
secs=$(echo "$(date +%s.%N) - $t0" | bc)
echo "change with a skipped NOTIFY arrived after $secs s"
kill -0 "$holder" 2>/dev/null || fail "the lock holder ended before the change arrived: the test proved nothing"
[ "$(sql b "select v from t where id = 2")" = "skipped notify" ] || fail "b: row 2 is not the committed value"
wait "$holder"
[ "$(sql b "select v from t where id = 1")" = init ] || fail "b: the rolled-back change arrived"

# 2. Many concurrent writers: every commit arrives, notified or not.
for w in 1 2 3 4; do
    (for i in $(seq 25); do
        sql a "insert into t values ($((w * 1000 + i)), 'w$w') on conflict (id) do update set v = excluded.v" >/dev/null
    done) &
done
wait
wait_synced a b 10 t

# 3. Idle: no cycle runs while nothing changes (the poll reads no delta
#    table and records nothing).
sleep 2
before=$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's'")
snap_before=$(sql bucardo "select updated from bucardo.sync_source_state where sync = 's'")
sleep 3
after=$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's'")
snap_after=$(sql bucardo "select updated from bucardo.sync_source_state where sync = 's'")
[ "$before" = "$after" ] || fail "idle engine recorded $((after - before)) run(s) in 3 s"
[ "$snap_before" = "$snap_after" ] || fail "idle engine ran cycles (snapshot updated $snap_before -> $snap_after)"

# 4. A lone change notifies (the capture function's kick section), and so
#    does a TRUNCATE (bucardo.log_truncate('kick')).
notified() {  # notified SQL - run SQL in another session while this one LISTENs
    psql -X -q -d a -c "LISTEN bucardo" -c "\\! psql -X -q -d a -c \"$1\" >/dev/null" -c "select 1" 2>&1 |
        grep -q 'Asynchronous notification "bucardo"'
}
notified "update t set v = 'notified' where id = 3" || fail "a change did not notify"
notified "truncate t" || fail "a TRUNCATE did not notify"
wait_synced a b 10 t

run_ok "$BUCARDO" stop
echo "ok"
