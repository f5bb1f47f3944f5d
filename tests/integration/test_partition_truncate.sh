#!/usr/bin/env bash
# TRUNCATE and partition maintenance inside a replicated partitioned table
# (issue 16, case 2), judged by table contents on source and target after
# each step.  PostgreSQL clones row triggers to partitions but not TRUNCATE
# triggers, and ATTACH, DETACH and DROP change the table's rows without
# firing any trigger; the partition guard of sql/capture.sql follows them.
#  1. TRUNCATE of one partition, of one in the same transaction as inserts
#     before and after it, of the default partition; a partition attached
#     with rows after the sync started, then truncated; one created later,
#     then truncated; DETACH and DROP of partitions, DROP of the default.
#     The target lacks the later partitions (its default partition takes
#     their rows), so the replay cannot rely on equal layouts.
#     A TRUNCATE of a hash partition cannot be replayed elsewhere (its
#     bounds name the parent by oid): Bad, and onetimecopy=1 repairs.
#  2. Without the guard (event trigger), a partition created later makes
#     the sync Bad, naming it.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="
CREATE TABLE pt (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE pt_1 PARTITION OF pt FOR VALUES FROM (0) TO (1000);
CREATE TABLE pt_2 PARTITION OF pt FOR VALUES FROM (1000) TO (2000);
CREATE TABLE pt_def PARTITION OF pt DEFAULT;"
HSCHEMA="
CREATE TABLE ht (id int PRIMARY KEY, v text) PARTITION BY HASH (id);
CREATE TABLE ht_0 PARTITION OF ht FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE ht_1 PARTITION OF ht FOR VALUES WITH (MODULUS 2, REMAINDER 1);"
for db in src tgt; do
    createdb "$db" && psql -X -q -d "$db" -c "$SCHEMA" || fail "schema on $db"
    createdb "h$db" && psql -X -q -d "h$db" -c "$HSCHEMA" || fail "schema on h$db"
done
for db in src tgt hsrc htgt; do run_ok "$BUCARDO" add database "$db" dbname="$db"; done
run_ok "$BUCARDO" add table public.ht db=hsrc relgroup=hrg
run_ok "$BUCARDO" add sync h relgroup=hrg dbs=hsrc,htgt
run_ok "$BUCARDO" add all tables db=src relgroup=rg
expect_equal "pt" "$(sql bucardo "select string_agg(r.relname, ' ' order by r.relname) from bucardo.relation r
                                             join bucardo.relgroup_member m on m.relation = r.id where m.relgroup = 'rg'")" \
    "tables of add all tables"
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src,tgt
run_ok "$BUCARDO" start

check() { wait_synced src tgt ${STEP_TIMEOUT:-30} pt pt_1 pt_2; }
step() {
    psql -X -q -v ON_ERROR_STOP=1 -d src -c "$1" || fail "on src: $1"
    check
}

# 1. Partitions.
step "INSERT INTO pt SELECT i, 'v' || i FROM generate_series(0, 2999, 7) i"
step "TRUNCATE pt_1"
expect_equal "0" "$(sql tgt "select count(*) from pt where id < 1000")" "rows of pt_1 left on the target"
step "BEGIN; INSERT INTO pt VALUES (5, 'five'), (1002, 'before'); TRUNCATE pt_2;
      INSERT INTO pt VALUES (1500, 'after'); COMMIT"
step "UPDATE pt SET v = 'moved', id = id + 1000 WHERE id = 5"                   # into pt_2
step "TRUNCATE pt_def"
step "INSERT INTO pt SELECT i, 'w' || i FROM generate_series(2000, 2999, 11) i"
# Attached with rows, later than the sync; the target has no pt_3 (its
# default partition takes the rows).
step "CREATE TABLE pt_3 (id int NOT NULL, v text);
      INSERT INTO pt_3 SELECT i, 'a' || i FROM generate_series(3000, 3099) i;
      ALTER TABLE pt ATTACH PARTITION pt_3 FOR VALUES FROM (3000) TO (4000)"
expect_equal "100" "$(sql tgt "select count(*) from pt where id between 3000 and 3999")" "attached rows on the target"
step "TRUNCATE pt_3"
step "INSERT INTO pt SELECT i, 'b' || i FROM generate_series(3000, 3049) i"
step "CREATE TABLE pt_4 PARTITION OF pt FOR VALUES FROM (4000) TO (5000)"
step "INSERT INTO pt SELECT i, 'c' || i FROM generate_series(4000, 4199) i"
step "TRUNCATE pt_4"
step "INSERT INTO pt SELECT i, 'd' || i FROM generate_series(4000, 4099) i"
step "ALTER TABLE pt DETACH PARTITION pt_3"
expect_equal "0" "$(sql tgt "select count(*) from pt where id between 3000 and 3999")" "detached rows on the target"
step "DROP TABLE pt_4"
expect_equal "0" "$(sql tgt "select count(*) from pt where id between 4000 and 4999")" "dropped rows on the target"
step "DROP TABLE pt_def"
expect_equal "0" "$(sql tgt "select count(*) from pt where id >= 2000")" "rows of the dropped default on the target"
step "TRUNCATE pt"

expect_equal "0" "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's' and state = 'Bad'")" \
    "Bad runs so far"

# A hash partition's bounds name its parent by oid: its TRUNCATE cannot be
# replayed elsewhere, so the sync goes Bad, and a copy repairs it.
psql -X -q -v ON_ERROR_STOP=1 -d hsrc -c "INSERT INTO ht SELECT i, 'h' FROM generate_series(1, 100) i" || fail "ht rows"
wait_synced hsrc htgt 30 ht
psql -X -q -v ON_ERROR_STOP=1 -d hsrc -c "TRUNCATE ht_0; INSERT INTO ht VALUES (1000, 'after')" || fail "TRUNCATE ht_0"
wait_run h 30 "state = 'Bad' AND error LIKE '%table public.ht: a hash partition of it was truncated%'"
run_ok "$BUCARDO" update sync h onetimecopy=1
wait_synced hsrc htgt 30 ht

# 2. Without the guard, a partition created later cannot be followed.
psql -X -q -d src -c "DROP EVENT TRIGGER bucardo_partition_guard" || fail "drop the guard"
psql -X -q -v ON_ERROR_STOP=1 -d src -c "CREATE TABLE pt_5 PARTITION OF pt FOR VALUES FROM (5000) TO (6000);
                                         INSERT INTO pt VALUES (5000, 'unguarded')" || fail "pt_5"
wait_run s 30 "state = 'Bad' AND error LIKE '%pt_5 was created or attached%'"

run_ok "$BUCARDO" stop
echo "PASS"
