#!/usr/bin/env bash
# The source's COMMIT and purge of a cycle are sent in the next cycle's
# first string, or on their own when no cycle follows within half a second
# (issue 23; engine/cycle/cycle_record.c, purge_later).  A purge that fails
# there must not fail or hold up replication, nor lose or double a change:
# the rows it did not delete stay until a later purge deletes them (they
# are never applied again: the recorded snapshots say they were).
# Judged by contents: every change arrives while the purge keeps failing
# (a trigger refuses DELETEs on the delta table), the delta table keeps its
# rows meanwhile, and once the trigger is gone a later cycle's purge
# leaves none of the rows every sync has applied; the target equals the
# source throughout.
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "create table t (id int primary key, v int)" a b
run_ok "$BUCARDO" add table public.t db=a relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=a,b
run_ok "$BUCARDO" start
for _ in $(seq 300); do
    [ "$(sql bucardo "select count(*) from bucardo.sync_source_state where sync = 's'")" = 1 ] && break
    sleep 0.1
done
[ "$(sql bucardo "select count(*) from bucardo.sync_source_state where sync = 's'")" = 1 ] || fail "no first cycle"
delta=$(sql a "select quote_ident(relname) from pg_class where relnamespace = 'bucardo'::regnamespace and relname like 'delta\_t\_%'")
[ -n "$delta" ] || fail "no delta table of t on a"

# The purge fails from now on.
sql a "create function no_purge() returns trigger language plpgsql as \$\$
       begin raise exception 'purge refused by the test'; end \$\$;
       create trigger no_purge before delete on bucardo.$delta for each statement execute function no_purge()" \
    >/dev/null || fail "cannot make the purge fail"

# Changes one at a time (each purge, prepended or on its own, fails) and
# then in a burst (cycles back to back, purges in the next first string).
for i in $(seq 1 5); do
    sql a "insert into t values ($i, $i)" >/dev/null
    wait_synced a b 30 t
    sleep 0.6
done
for i in $(seq 6 40); do
    sql a "insert into t values ($i, $i); update t set v = v + 1 where id = $((i - 5))" >/dev/null
done
wait_synced a b 30 t
sleep 1
kept=$(sql a "select count(*) from bucardo.$delta")
[ "$kept" -ge 40 ] || fail "the purge was refused, yet the delta table has only $kept rows"
[ "$(sql b "select count(*) || ' ' || sum(v) from t")" = "$(sql a "select count(*) || ' ' || sum(v) from t")" ] ||
    fail "b differs from a while the purge fails"

# The purge works again: the next cycles delete every applied row.
sql a "drop trigger no_purge on bucardo.$delta" >/dev/null
sql a "update t set v = v + 100 where id = 1" >/dev/null
wait_synced a b 30 t
for _ in $(seq 100); do
    [ "$(sql a "select count(*) from bucardo.$delta")" = 0 ] && break
    sleep 0.1
done
left=$(sql a "select count(*) from bucardo.$delta")
[ "$left" = 0 ] || fail "the purge left $left rows once it could delete them"
[ "$(sql b "select v from t where id = 1")" = "$(sql a "select v from t where id = 1")" ] || fail "row 1 differs"
wait_synced a b 30 t
grep -q 'purge refused by the test' log.bucardo || fail "the failing purge was not reported in the log"

run_ok "$BUCARDO" stop
echo "ok"
