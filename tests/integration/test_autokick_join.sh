#!/usr/bin/env bash
# A sync that joins a source database the autokick watcher already watches
# (a sync started by `reload`, or any sync but the first at start) must
# still be woken by a change that commits after its first cycle - also
# when the watcher's polls, which did not know the new sync yet, moved
# their reference past that change before the watcher took the sync in.
#
# The window is made wide and certain here: a session holds an ACCESS
# EXCLUSIVE lock on the delta table of the sync already running, so the
# watcher's poll of database a waits in the middle of its query; meanwhile
# sync s2 starts (registering with the watcher, which cannot take it in
# while it waits), runs its first cycle, and only then a row is inserted
# into s2's table.  When the lock goes, the waiting poll (still without
# s2) runs with a snapshot that sees the insert and moves the reference
# past it.  Without a wake-up for the newcomer the row never arrived
# (seen under AddressSanitizer in test_connections' phase 2, where 100
# syncs register while the changes are made).
. "$TESTS_DIR/lib/setup.sh"
test_begin
cleanup() {
    local rc=$?
    [ -n "${holder:-}" ] && kill "$holder" 2>/dev/null
    (exit $rc)
    pg_stop_cluster
}
trap cleanup EXIT

test_databases "create table t1 (id int primary key, v text); create table t2 (id int primary key, v text)" a b
# No periodic cycle could hide a lost wake-up.
[ "$(sql bucardo "select setting from bucardo.config where name = 'default_checktime'")" = 0 ] ||
    fail "default_checktime is not 0"
run_ok "$BUCARDO" add table public.t1 db=a relgroup=rg1
run_ok "$BUCARDO" add sync s1 relgroup=rg1 dbs=a,b
run_ok "$BUCARDO" start
for _ in $(seq 300); do
    [ "$(sql bucardo "select count(*) from bucardo.sync_source_state where sync = 's1'")" = 1 ] && break
    sleep 0.1
done
[ "$(sql bucardo "select count(*) from bucardo.sync_source_state where sync = 's1'")" = 1 ] || fail "s1 ran no first cycle"
# The watcher is connected to a once s1's changes arrive by autokick.
sql a "insert into t1 values (1, 'one')" >/dev/null
wait_synced a b 30 t1

# The watcher's poll of a waits behind a lock on s1's delta table.
delta=$(sql a "select quote_ident(relname) from pg_class where relnamespace = 'bucardo'::regnamespace and relname like 'delta\_t1\_%'")
[ -n "$delta" ] || fail "no delta table of t1 on a"
PGAPPNAME=holder psql -X -q -d a -c "begin; lock table bucardo.$delta in access exclusive mode; select pg_sleep(300)" \
    >/dev/null 2>&1 &
holder=$!
# (The watcher's poll, by its text: s1's purge, which a cycle may leave for
# up to half a second before sending it, can wait behind the lock too.)
waiting() {
    sql a "select count(*) from pg_stat_activity where application_name = 'bucardo' and wait_event_type = 'Lock'
           and query like '%pg_current_snapshot() AS cur%'"
}
for _ in $(seq 300); do
    [ "$(waiting)" = 1 ] && break
    sleep 0.1
done
[ "$(waiting)" = 1 ] || fail "the watcher's poll does not wait for the lock on bucardo.$delta"

# s2 starts, registers with the (waiting) watcher and runs its first cycle.
run_ok "$BUCARDO" add table public.t2 db=a relgroup=rg2
run_ok "$BUCARDO" add sync s2 relgroup=rg2 dbs=a,b
run_ok "$BUCARDO" reload
for _ in $(seq 300); do
    [ "$(sql bucardo "select count(*) from bucardo.sync_source_state where sync = 's2'")" = 1 ] && break
    sleep 0.1
done
[ "$(sql bucardo "select count(*) from bucardo.sync_source_state where sync = 's2'")" = 1 ] || fail "s2 ran no first cycle"
sql a "insert into t2 values (1, 'after the first cycle')" >/dev/null
[ "$(waiting)" = 1 ] || fail "the watcher stopped waiting before the change: the test proved nothing"

# The poll goes on; s2's row must arrive.
sql a "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'holder'" >/dev/null
wait "$holder" 2>/dev/null
holder=""
wait_synced a b 30 t2
[ "$(sql b "select v from t2 where id = 1")" = "after the first cycle" ] || fail "t2's row is not on b"
# And a later change of s1 still arrives (nothing else broke).
sql a "insert into t1 values (2, 'two')" >/dev/null
wait_synced a b 30 t1
run_ok "$BUCARDO" stop
echo "PASS"
