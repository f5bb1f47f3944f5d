#!/usr/bin/env bash
# onetimecopy=1 fills empty targets with a full copy and goes back to deltas
# (no change made during the copy is lost); onetimecopy=2 copies only the
# tables that are empty on the target; a fullcopy target gets every table,
# keyless ones included, replaced on every run.  The pgbench tables carry
# foreign keys (--foreign-keys): tables other tables reference are emptied
# without TRUNCATE, and a referenced primary key stays during parallel loads.
. "$TESTS_DIR/lib/setup.sh"
test_begin

createdb src && pgbench -i -q -s 2 --foreign-keys src >/dev/null 2>&1 || fail "pgbench -i"
psql -X -q -d src -c "CREATE TABLE pair (a int, b text, v text, PRIMARY KEY (a, b));
                      INSERT INTO pair SELECT i % 100, 'b' || i, md5(i::text) FROM generate_series(1, 5000) i;
                      CREATE TABLE nokey (x int, y text);
                      INSERT INTO nokey SELECT i, 'y' || i FROM generate_series(1, 1000) i;" || fail schema
for db in t1 t2 t3; do
    createdb "$db" && pg_dump -s src | psql -X -q -d "$db" >/dev/null || fail "schema on $db"
done
# t2 already holds (different) branches: onetimecopy=2 must leave that table alone.
psql -X -q -d t2 -c "INSERT INTO pgbench_branches VALUES (99, 42, 'kept')" || fail "t2 branches"

for db in src t1 t2 t3; do run_ok "$BUCARDO" add database "$db" dbname="$db"; done
run_ok "$BUCARDO" add all tables db=src -T pgbench_history -T nokey relgroup=keyed
run_ok "$BUCARDO" add all tables db=src -T pgbench_history relgroup=everything
run_ok "$BUCARDO" add sync one relgroup=keyed dbs=src,t1 onetimecopy=1
run_ok "$BUCARDO" add sync two relgroup=keyed dbs=src,t2 onetimecopy=2
run_ok "$BUCARDO" add sync full relgroup=everything dbs=src,t3:fullcopy autokick=0 copy_streams=3

# Changes keep coming while the copies run.
pgbench -n -c 2 -j 2 -T 4 src >/dev/null 2>&1 &
bench=$!
run_ok "$BUCARDO" start
wait $bench || fail "pgbench during the copy"

KEYED=(pgbench_accounts pgbench_tellers pair)
wait_synced src t1 60 "${KEYED[@]}" pgbench_branches
wait_synced src t2 60 "${KEYED[@]}"
# pgbench_accounts (26 MB) was copied in parallel streams, the rest in one.
[ "$(sql bucardo "select streams from bucardo.copy_progress where sync = 'one' and tablename = 'public.pgbench_accounts'")" -ge 2 ] \
    || fail "pgbench_accounts was not copied in parallel"
expect_equal "t|200000" "$(sql bucardo "select done, rows from bucardo.copy_progress where sync = 'one' and tablename = 'public.pgbench_accounts'")" \
    "copy progress of pgbench_accounts"
expect_equal "0|0" "$(sql bucardo "select string_agg(onetimecopy::text, '|' order by name) from bucardo.sync where name in ('one', 'two')")" \
    "onetimecopy back to 0"
[ "$(sql t2 "select count(*) from pgbench_branches where bid = 99")" = 1 ] || fail "onetimecopy=2 copied a non-empty table"

# Deltas after the copy.
# (pgbench_history rows the pgbench run above wrote for those accounts go
# first: its foreign key would refuse the DELETE.)
psql -X -q -d src -c "UPDATE pair SET v = 'after' WHERE a = 7; DELETE FROM pgbench_history WHERE aid <= 10;
                      DELETE FROM pgbench_accounts WHERE aid <= 10;" || fail update
wait_synced src t1 30 "${KEYED[@]}"
wait_synced src t2 30 "${KEYED[@]}"

# The fullcopy target: the copy at start, then each kick replaces the contents.
run_ok "$BUCARDO" kick full 30
wait_synced src t3 5 "${KEYED[@]}" pgbench_branches nokey
psql -X -q -d src -c "DELETE FROM nokey WHERE x > 500; INSERT INTO nokey VALUES (-1, 'new')" || fail nokey
run_ok "$BUCARDO" kick full 30
expect_out "DONE"
wait_synced src t3 5 nokey pgbench_accounts
expect_equal "3" "$(sql bucardo "select streams from bucardo.copy_progress where sync = 'full' and tablename = 'public.nokey'")" \
    "a keyless table split into 3 block ranges"

# onetimecopy=1 again, twice, on the running engine: after the first copy
# the engine clears it itself, so the second update leaves the sync's
# definition as it was at the last reload - the copy must happen anyway.
for round in 1 2; do
    psql -X -q -d t1 -c "TRUNCATE pair, pgbench_accounts, pgbench_history" || fail "truncate t1"
    run_ok "$BUCARDO" update sync one onetimecopy=1
    run_ok "$BUCARDO" kick one 60
    expect_out "DONE"
    wait_synced src t1 5 "${KEYED[@]}"
    expect_equal "0" "$(sql bucardo "select onetimecopy from bucardo.sync where name = 'one'")" \
        "onetimecopy after copy round $round"
done
run_ok "$BUCARDO" stop
echo ok
