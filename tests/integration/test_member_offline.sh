#!/usr/bin/env bash
# Members that cannot be reached do not stop the others, and nothing is
# lost when they come back.
#  (b) one source, two targets: while one target's server is down the other
#      keeps receiving (runs are Good, kick says who was left out, status
#      shows who is behind); the delta rows the down target needs are kept,
#      it catches up by itself when back, and then they are purged.
#  (a) a ring of three sources a, b (this server) and c (a second server):
#      c goes down; a and b keep replicating to each other; c then runs
#      where the engine cannot reach it (another socket directory) and gets
#      changes of its own, some on keys a or b changed too; when c is
#      reachable again it receives what it missed, a and b receive c's
#      changes, conflicts are settled by bucardo_latest, and all three end
#      identical.
. "$TESTS_DIR/lib/setup.sh"
test_begin --second-cluster
# Short retries keep the test short; the backoff itself is not under test.
run_ok "$BUCARDO" set retry_delay=1 retry_delay_max=1

SCHEMA="CREATE TABLE item (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0);"
# psql2 ARGS - psql on the second server.
psql2() {
    psql -X -q -h "$PGHOST2" -p "$PGPORT2" "$@"
}
# synced2 LOCALDB REMOTEDB TIMEOUT - wait until item is equal on both.
synced2() {
    local deadline=$(( $(date +%s) + $3 )) x y
    while :; do
        x=$(table_digest "$1" item)
        y=$(PGHOST=$PGHOST2 PGPORT=$PGPORT2 table_digest "$2" item 2>/dev/null)
        [ "$x" = "$y" ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && fail "item differs between $1 and $2 (second server) after $3 s: $x vs $y"
        sleep 0.2
    done
}
# delta_rows DB - rows in the delta table of item.
delta_rows() {
    sql "$1" "select count(*) from bucardo.$(sql "$1" "select quote_ident(tablename) from pg_tables
                                                      where schemaname = 'bucardo' and tablename like 'delta%item%'")"
}
# stop2 - the second server goes down hard.
stop2() {
    pg_ctl_cluster "$TEST_DIR/data2" -m immediate stop || fail "cannot stop the second server"
}
# start2 SOCKDIR - the second server runs again, its socket in SOCKDIR.
start2() {
    mkdir -p "$1" && { [ "$(id -u)" -ne 0 ] || chown postgres "$1"; }
    pg_ctl_cluster "$TEST_DIR/data2" -o "\"-k $1 -c listen_addresses=''\"" start || fail "cannot start the second server"
}

psql2 -d postgres -c "CREATE ROLE bucardo LOGIN SUPERUSER" || fail "bucardo role on the second server"
test_databases "$SCHEMA" src near a b
for db in far c; do
    psql2 -d postgres -c "CREATE DATABASE $db" && psql2 -d "$db" -c "$SCHEMA" || fail "schema on $db"
done
for db in far c; do
    run_ok "$BUCARDO" add database "$db" dbname="$db" host="$PGHOST2" port="$PGPORT2"
done
run_ok "$BUCARDO" add table item db=src relgroup=rgs
run_ok "$BUCARDO" add table item db=a relgroup=rgr
run_ok "$BUCARDO" add sync fan relgroup=rgs dbs=src:source,near:target,far:target
run_ok "$BUCARDO" start

### (b) one of two targets down
sql src "insert into item select i, 'v' || i from generate_series(1, 500) i" >/dev/null
wait_synced src near 20 item
synced2 src far 20
stop2
sql src "update item set n = n + 1 where id <= 300; delete from item where id > 450;
         insert into item select i, 'new' from generate_series(1001, 1100) i" >/dev/null
wait_synced src near 20 item
run_ok "$BUCARDO" kick fan 0
expect_out "Kick fan: .*DONE!"
expect_out "Kick fan: WARNING: ran without: target far: cannot connect"
for i in 1 2 3; do
    sql src "update item set v = v || '+$i' where id % 5 = $i" >/dev/null
done
wait_synced src near 20 item
run_ok "$BUCARDO" status fan
expect_out "^Current state            : Good( \(running\))?$"
expect_out "^Behind                   : far since .*, changes of src to catch up \(target far: cannot connect"
run_ok "$BUCARDO" status
expect_out "^ fan +\| Good \(behind: far\) +\|"
pending=$(delta_rows src)
[ "$pending" -ge 450 ] || fail "the deltas far still needs were purged: $pending delta rows left"
expect_equal "1" "$(sql bucardo "select count(*) from bucardo.sync_member_state where sync = 'fan' and member = 'far'")" \
    "far is recorded as behind"
start2 "$TEST_DIR/sock2"
synced2 src far 30
wait_synced src near 5 item
for _ in $(seq 50); do
    [ "$(delta_rows src)" = 0 ] && break
    sleep 0.2
done
expect_equal "0" "$(delta_rows src)" "delta rows purged once far caught up"
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.sync_member_state")" "nobody behind"
run_ok "$BUCARDO" status fan
expect_no "Behind   "
run_ok "$BUCARDO" status
expect_no "behind:"
run_ok "$BUCARDO" kick fan 0
expect_no "WARNING"
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 'fan' and state = 'Bad'")" \
    "runs that failed because far was down"

### (a) a ring of three sources, c away and changed while away
run_ok "$BUCARDO" stop
# c comes first: the cycles without it must not rely on the first source.
run_ok "$BUCARDO" add sync ring relgroup=rgr dbs=c:source,a:source,b:source conflict_strategy=bucardo_latest
run_ok "$BUCARDO" start
sql a "insert into item select i, 'r' || i from generate_series(1, 50) i" >/dev/null
wait_synced a b 20 item
synced2 a c 20

stop2
sql a "update item set v = 'a1' where id = 1; update item set v = 'a2' where id = 2;
       insert into item select i, 'from a' from generate_series(100, 109) i" >/dev/null
sql b "update item set v = 'b3' where id = 3; insert into item select i, 'from b' from generate_series(200, 209) i" >/dev/null
# a and b keep replicating to each other, and the sync is not wedged.
wait_synced a b 20 item
[ "$(sql b "select count(*) from item where id between 100 and 109")" = 10 ] || fail "a's rows did not reach b"
run_ok "$BUCARDO" kick ring 0
expect_out "Kick ring: WARNING: ran without: .*c: cannot connect"
# A conflict between a and b while c is away (the engine stopped, so that
# both changes fall in one cycle): b's later change wins.
run_ok "$BUCARDO" stop
sql a "update item set v = 'a5' where id = 5" >/dev/null
sleep 0.05
sql b "update item set v = 'b5' where id = 5" >/dev/null
run_ok "$BUCARDO" start
wait_synced a b 20 item
expect_equal "b5" "$(sql a "select v from item where id = 5")" "the a/b conflict while c is away"

# c runs again where the engine cannot reach it, and is changed there.
start2 "$TEST_DIR/sock2away"
psql -X -q -h "$TEST_DIR/sock2away" -p "$PGPORT2" -d c -c "
    update item set v = 'c1' where id = 1;   -- after a's change: c wins
    update item set v = 'c2' where id = 2;   -- a changes it again below: a wins
    update item set v = 'c3' where id = 3;   -- after b's change: c wins
    delete from item where id = 4;
    insert into item select i, 'from c' from generate_series(300, 309) i" || fail "changes on c while away"
sleep 0.05
sql a "update item set v = 'a2 late' where id = 2" >/dev/null
wait_synced a b 20 item
run_ok "$BUCARDO" status ring
expect_out "^Behind                   : c since .*, changes of a,b to catch up"
stop2

# c is back: everything converges.
start2 "$TEST_DIR/sock2"
synced2 a c 30
wait_synced a b 20 item
synced2 b c 5
expect_equal "c1|a2 late|c3|0|b5|10|10|10" \
    "$(sql b "select (select v from item where id = 1) || '|' || (select v from item where id = 2) || '|' ||
                     (select v from item where id = 3) || '|' || (select count(*) from item where id = 4) || '|' ||
                     (select v from item where id = 5) || '|' ||
                     (select count(*) from item where id between 100 and 109) || '|' ||
                     (select count(*) from item where id between 200 and 209) || '|' ||
                     (select count(*) from item where id between 300 and 309)")" \
    "rows after c came back (b's copy; a and c are equal to it)"
[ "$(sql bucardo "select coalesce(sum(conflicts), 0) from bucardo.syncrun where sync = 'ring'")" -ge 3 ] ||
    fail "the keys changed on c and elsewhere were not settled as conflicts"
for _ in $(seq 50); do
    [ "$(sql bucardo "select count(*) from bucardo.sync_member_state")" = 0 ] && break
    sleep 0.2
done
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.sync_member_state")" "c caught up"
# The ring goes on as usual.
sql a "insert into item values (999, 'after', 0)" >/dev/null
psql2 -d c -c "update item set n = 7 where id = 300" || fail "a change on c"
wait_synced a b 20 item
synced2 a c 20
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 'ring' and state = 'Bad'")" \
    "runs that failed because c was away ($(sql bucardo "select string_agg(error, ' | ') from bucardo.syncrun
                                                          where sync = 'ring' and state = 'Bad'"))"
run_ok "$BUCARDO" stop
echo ok
