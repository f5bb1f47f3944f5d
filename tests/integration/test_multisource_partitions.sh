#!/usr/bin/env bash
# A partition truncated on one source of a multi-source sync (issue 16,
# cases 2 and 5 together).  The cut is replayed on every other member as a
# DELETE by partition constraint - on a target all of the partition's
# rows, on another source only the rows that source did not change itself
# in the window (a TRUNCATE there would wait for ever on the cycle's own
# reading transaction) - and the rows another source changed in the window
# survive the cut and reach everyone.  Judged by the rows of every member
# after each kick; autokick is off, so each step is one cycle.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="
CREATE TABLE pt (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE pt_1 PARTITION OF pt FOR VALUES FROM (0) TO (1000);
CREATE TABLE pt_2 PARTITION OF pt FOR VALUES FROM (1000) TO (2000);"
test_databases "$SCHEMA" a b c
test_sync s rg a:source,b:source,c:target autokick=0
run_ok "$BUCARDO" start

rows() { sql "$1" "select coalesce(string_agg(id || ':' || v, ' ' order by id), '') from pt"; }
kick_and_compare() {  # kick_and_compare EXPECTED WHAT
    run_ok timeout 60 "$BUCARDO" kick s 0
    for db in a b c; do
        expect_equal "$1" "$(rows $db)" "$2: rows of pt on $db"
    done
}

sql a "insert into pt values (1, 'a'), (7, 'a'), (9, 'a'), (1001, 'a'), (1002, 'a')" >/dev/null
kick_and_compare "1:a 7:a 9:a 1001:a 1002:a" "initial rows"

# a cuts pt_1; in the same cycle b inserts into pt_1 and updates one of its
# rows there: those two rows survive everywhere, the rest of pt_1 goes.
sql a "truncate pt_1" >/dev/null
sql b "insert into pt values (5, 'b'); update pt set v = 'b' where id = 7" >/dev/null
kick_and_compare "5:b 7:b 1001:a 1002:a" "pt_1 cut on a, changed on b"

# The cut after a row of the same cycle on the same source: that row goes
# with the partition (it was cut after it was written).
sql a "insert into pt values (3, 'a')" >/dev/null
sql a "truncate pt_1" >/dev/null
sql b "update pt set v = 'b2' where id = 1001" >/dev/null
kick_and_compare "1001:b2 1002:a" "pt_1 cut on a after its own insert"

# A cut on b while c (the target) and a hold rows of pt_2.
sql b "truncate pt_2" >/dev/null
sql a "insert into pt values (1500, 'a')" >/dev/null
kick_and_compare "1500:a" "pt_2 cut on b, a inserting into it"

# A cut on b that commits in the middle of a cycle: after b's snapshot (so
# it is in b's next window), before the cycle's writer on b applied a's new
# row of that partition.  The cycle is held there by a lock on a's
# truncate_log, which the cycle reads after every source's snapshot.
# Replayed in b's next window, with a's row already counted as applied
# everywhere, the cut would remove that row on a and c but not on b, where
# it arrived after the cut (seen in test_fault_injection, FAULT_MS_CUTS=1).
# The row arrived after the cut on b: it survives it everywhere.
waiting_on_a() {  # the cycle's reading session on a waits for a lock
    sql a "select count(*) from pg_locks l join pg_stat_activity s using (pid)
           where not l.granted and s.application_name = 'bucardo'"
}
psql -X -q -d a -c "BEGIN; LOCK TABLE bucardo.truncate_log IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120)" \
    >/dev/null 2>&1 &
LOCKER=$!
until [ "$(sql a "select count(*) from pg_locks where relation = 'bucardo.truncate_log'::regclass and granted
                  and mode = 'AccessExclusiveLock'")" = 1 ]; do
    sleep 0.05
done
sql a "insert into pt values (1600, 'a')" >/dev/null
timeout 60 "$BUCARDO" kick s 0 >kick.out 2>&1 &
KICK=$!
for _ in $(seq 600); do
    [ "$(waiting_on_a)" = 1 ] && break
    sleep 0.05
done
[ "$(waiting_on_a)" = 1 ] || fail "the cycle never waited for the lock on a"
timeout 20 psql -X -q -d b -c "truncate pt_2" || fail "truncate pt_2 on b in the middle of the cycle"
sql a "select pg_terminate_backend(pid) from pg_locks where relation = 'bucardo.truncate_log'::regclass
       and granted and mode = 'AccessExclusiveLock'" >/dev/null
wait $LOCKER
wait $KICK || fail "kick of the held cycle: $(cat kick.out)"
for db in a b c; do
    expect_equal "1600:a" "$(rows $db)" "pt_2 cut on b in the middle of a cycle bringing a's row: rows of pt on $db"
done
kick_and_compare "1600:a" "the cycle after the mid-cycle cut"

run_ok "$BUCARDO" stop
echo ok
