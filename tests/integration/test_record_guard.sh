#!/usr/bin/env bash
# The record's guard (engine/cycle/cycle_record.c: the catalog transaction
# that advances a sync's snapshots, sent as two pipelines): a cycle caught
# in its apply (a trigger on the target holds its rows) is not recorded
#  - when a command changed the sync's tables meanwhile: the warning says
#    so, the snapshot stays; reloaded before `validate`, the sync fails
#    saying to validate; validated and reloaded, it applies the same
#    changes again, and the new table's too;
#  - when the sync's catalog row stays locked past a second (a command
#    changing it): the warning names the lock; once the row is free, a
#    later cycle applies the changes.
# Judged by the tables' contents on both sides, and by the source's
# snapshot in the catalog not moving while a cycle was refused.
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "CREATE TABLE t1 (id int PRIMARY KEY, v text);
                CREATE TABLE t2 (id int PRIMARY KEY, v text)" a b
run_ok "$BUCARDO" add table public.t1 db=a relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=a:source,b:target autokick=0
run_ok "$BUCARDO" set retry_delay=0.2 retry_delay_max=1
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick s 20

snapshot() { sql bucardo "select snapshot::text from bucardo.sync_source_state where sync = 's'"; }
# held_cycle ID... - rows ID of t1 inserted on a; a kick's cycle is held in
# its apply on b (hold_trigger + hold_lock) until release_lock b.
held_cycle() {
    local id
    for id in "$@"; do sql a "insert into t1 values ($id, 'v$id')" >/dev/null; done
    hold_lock b
    "$BUCARDO" kick s >/dev/null 2>&1
    until [ "$(sql b "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = 'b'")" -gt 0 ]; do
        sleep 0.05
    done
}
hold_trigger b t1

# count_warning PATTERN - the log's lines matching PATTERN; wait_warning
# PATTERN SINCE - wait (10 s) for more than SINCE of them.
count_warning() { grep -c "$1" log.bucardo || true; }
wait_warning() {
    for _ in $(seq 100); do
        [ "$(count_warning "$1")" -gt "$2" ] && return 0
        sleep 0.1
    done
    fail "no new log line '$1' within 10 s: $(tail -5 log.bucardo)"
}

# ---- 1. the sync's tables change while a cycle applies ----
CHANGED="the sync's tables or databases changed during this cycle: not recording it"
before=$(snapshot) seen=$(count_warning "$CHANGED")
held_cycle 1 2 3
run_ok "$BUCARDO" add table public.t2 db=a relgroup=rg
release_lock b
wait_warning "$CHANGED" "$seen"
# As in Bucardo, the running sync takes the new table once validated (its
# capture) and reloaded; until then every cycle is refused the same way.
expect_equal "$before" "$(snapshot)" "the snapshot while the sync's tables had changed"
# Reloaded before validate: the new table has no capture yet, and the
# error says what installs it.
run_ok "$BUCARDO" reload
run_rc 2 "$BUCARDO" kick s 20
expect_out "public.t2: .*bucardo\.delta_t2_.* does not exist .*run 'bucardo validate' for this sync"
run_ok "$BUCARDO" validate s
run_ok "$BUCARDO" reload
sql a "insert into t2 values (1, 'new table')" >/dev/null
sql a "update t1 set v = 'after' where id = 1" >/dev/null
run_ok "$BUCARDO" kick s 30
wait_synced a b 30 t1 t2
[ "$(snapshot)" != "$before" ] || fail "the snapshot never moved after the reload"

# ---- 2. the sync's catalog row stays locked past the record's second ----
LOCKED="a command is changing the sync (its catalog row stayed locked for 1s): not recording this cycle"
before=$(snapshot) seen=$(count_warning "$LOCKED")
held_cycle 10 11
# The row is held by a session of the test's own until the test ends it.
psql -X -q -d bucardo -c "BEGIN; SELECT FROM bucardo.sync WHERE name = 's' FOR UPDATE; SELECT pg_sleep(300); COMMIT" \
    >/dev/null 2>&1 &
row_pid=$!
until [ "$(sql bucardo "select count(*) from pg_stat_activity where wait_event = 'PgSleep' and query like '%FOR UPDATE; SELECT pg_sleep(300)%'")" = 1 ]; do
    sleep 0.05
done
release_lock b
wait_warning "$LOCKED" "$seen"
expect_equal "$before" "$(snapshot)" "the snapshot while the row was locked"
sql bucardo "select pg_terminate_backend(pid) from pg_stat_activity where query like '%FOR UPDATE; SELECT pg_sleep(300)%' and pid <> pg_backend_pid()" >/dev/null
wait "$row_pid" || true
run_ok "$BUCARDO" kick s 30
wait_synced a b 30 t1 t2
[ "$(snapshot)" != "$before" ] || fail "the snapshot never moved once the row was free"
run_ok "$BUCARDO" stop
echo "PASS"
