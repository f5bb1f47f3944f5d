#!/usr/bin/env bash
# Changes made on the source while a table copy is provably in flight
# (its parallel streams held up on the target) reach the target after the
# copy, for a table with an integer key and one with a composite text key;
# a fullcopy target of the same tables, a keyless one included, equals the
# source after each run.
. "$TESTS_DIR/lib/setup.sh"
test_begin

createdb src && psql -X -q -d src -c "
    CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL, note text);
    INSERT INTO acct SELECT i, i % 997, md5(i::text) FROM generate_series(1, 60000) i;
    CREATE TABLE tk (k text, n int, v text, PRIMARY KEY (k, n));
    INSERT INTO tk SELECT 'key ' || (i % 300), i, md5(i::text) FROM generate_series(1, 30000) i;
    CREATE TABLE nokey (x int, y text);
    INSERT INTO nokey SELECT i, 'y' || i FROM generate_series(1, 5000) i;" || fail schema
for db in t1 t2; do
    createdb $db && pg_dump -s src | psql -X -q -d $db >/dev/null || fail "schema on $db"
done
# On t1, rows of acct wait for an advisory lock the test holds: a trigger
# that fires even under session_replication_role = replica.
hold_trigger t1 acct

for db in src t1 t2; do run_ok "$BUCARDO" add database "$db" dbname="$db"; done
run_ok "$BUCARDO" add table acct tk db=src relgroup=keyed
run_ok "$BUCARDO" add all tables db=src relgroup=everything
run_ok "$BUCARDO" add sync one relgroup=keyed dbs=src,t1 onetimecopy=1 copy_streams=2
run_ok "$BUCARDO" add sync full relgroup=everything dbs=src,t2:fullcopy autokick=0 copy_streams=2

hold_lock t1
run_ok "$BUCARDO" start
# Held: both streams of acct wait for the lock, the copy is not done.
deadline=$(( $(date +%s) + 60 ))
until [ "$(sql t1 "select count(*) from pg_locks where locktype = 'advisory' and objid = 4242 and not granted")" = 2 ]; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "the copy of acct never reached t1"
    sleep 0.05
done
expect_equal "f" "$(sql bucardo "select done from bucardo.copy_progress where sync = 'one' and tablename = 'public.acct'")" \
    "acct's copy in flight"
run_ok "$BUCARDO" status one
expect_out "^Copy in progress +: public\.acct -> t1: [0-9]+ rows, [0-9.]+ MB of ~[0-9.]+ MB, [0-9.]+ MB/s, ETA [0-9]+s \(2 stream\(s\)\)$"
psql -X -q -d src -c "UPDATE acct SET bal = -bal, note = 'during' WHERE id % 100 = 0;
                      DELETE FROM acct WHERE id <= 50;
                      INSERT INTO acct SELECT i, 0, 'new' FROM generate_series(60001, 60010) i;
                      UPDATE tk SET v = 'during' WHERE n % 50 = 0;
                      UPDATE tk SET k = 'moved', n = -n WHERE n BETWEEN 100 AND 110;
                      DELETE FROM tk WHERE n BETWEEN 1 AND 19;
                      DELETE FROM nokey WHERE x % 2 = 0" || fail "changes during the copy"
release_lock t1

wait_run one 60 "state = 'Good'"
wait_synced src t1 60 acct tk
expect_equal "600|10|0" "$(sql t1 "select count(*) filter (where note = 'during'), count(*) filter (where note = 'new'),
                                          count(*) filter (where id <= 50) from acct")" "acct's changes during the copy"
expect_equal "11" "$(sql t1 "select count(*) from tk where k = 'moved'")" "tk's key changes during the copy"
expect_equal "0" "$(sql bucardo "select onetimecopy from bucardo.sync where name = 'one'")" "onetimecopy back to 0"
expect_equal "t|60000" "$(sql bucardo "select done, rows from bucardo.copy_progress where sync = 'one' and tablename = 'public.acct'")" \
    "acct copied as of the cycle's snapshot, before the changes"

# The fullcopy target, run by kicks, equals the source after each.
run_ok "$BUCARDO" kick full 60
expect_out "DONE"
wait_synced src t2 5 acct tk nokey
psql -X -q -d src -c "UPDATE acct SET bal = 1 WHERE id < 1000; INSERT INTO nokey VALUES (-1, 'after'); DELETE FROM tk WHERE n > 29000" \
    || fail "changes after"
run_ok "$BUCARDO" kick full 60
wait_synced src t2 5 acct tk nokey
wait_synced src t1 30 acct tk
run_ok "$BUCARDO" stop
echo ok
