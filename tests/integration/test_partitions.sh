#!/usr/bin/env bash
# The row fallback of sql/capture.sql: a partitioned table (its row triggers
# are cloned to every partition, present and future) and an inheritance
# child written through its parent (which is not replicated).  Inserts,
# updates within and across partitions, key changes and deletes, through
# the parent and on a partition directly; after each step the target equals
# the source.  `remove sync` then leaves no capture function or trigger.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="
CREATE TABLE pt (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE pt_a PARTITION OF pt FOR VALUES FROM (0) TO (1000);
CREATE TABLE pt_b PARTITION OF pt FOR VALUES FROM (1000) TO (2000);
CREATE TABLE ip (id int, v text);
CREATE TABLE ic (id int PRIMARY KEY, extra text) INHERITS (ip);"
test_databases "$SCHEMA" src tgt
run_ok "$BUCARDO" add all tables db=src -T ip relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src,tgt
[ "$(sql src "select count(*) from pg_trigger where tgname = 'bucardo_delta_part' and tgrelid = 'pt_a'::regclass")" = 1 ] ||
    fail "the partitioned table's row trigger was not cloned to pt_a"
run_ok "$BUCARDO" start
check() { wait_synced src tgt 30 pt ic; }

step() {
    psql -X -q -v ON_ERROR_STOP=1 -d src -c "$1" || fail "on src: $1"
    check
}
step "INSERT INTO pt SELECT i, 'v' || i FROM generate_series(1, 1998, 3) i"
step "INSERT INTO ip (id, v) VALUES (0, 'parent only')"
step "INSERT INTO ic SELECT i, 'c' || i, 'x' FROM generate_series(1, 300) i"
step "UPDATE pt SET v = v || '!' WHERE id % 7 = 0"                 # within partitions, through the parent
step "UPDATE pt_b SET v = 'direct' WHERE id < 1100"                # on a partition directly
step "UPDATE pt SET id = id + 1 WHERE id BETWEEN 10 AND 40"        # key change within pt_a
step "UPDATE pt SET id = id + 1000 WHERE id BETWEEN 100 AND 130"   # across partitions
step "DELETE FROM pt WHERE id % 5 = 0"
step "DELETE FROM pt_a WHERE id < 60"
# A partition created after the sync gets the clone too.
step "CREATE TABLE pt_c PARTITION OF pt FOR VALUES FROM (2000) TO (3000)"
psql -X -q -d tgt -c "CREATE TABLE pt_c PARTITION OF pt FOR VALUES FROM (2000) TO (3000)" || fail "pt_c on tgt"
step "UPDATE pt SET id = id + 1000 WHERE id BETWEEN 1500 AND 1600" # into the new partition
step "UPDATE ip SET v = 'via parent' WHERE id % 4 = 0"             # the child's rows, through the parent
step "UPDATE ip SET id = id + 1000 WHERE id BETWEEN 50 AND 60"     # key change through the parent
step "DELETE FROM ip WHERE id % 9 = 0"
step "UPDATE ic SET extra = 'own' WHERE id > 250"

run_ok "$BUCARDO" stop
run_ok "$BUCARDO" remove sync s
expect_equal "0 0" "$(sql src "select (select count(*) from pg_proc where pronamespace = 'bucardo'::regnamespace
                                        and proname like 'capture%'),
                                      (select count(*) from pg_trigger where tgname like 'bucardo_delta%')" | tr '|' ' ')" \
    "capture functions and triggers left after remove sync"
echo "PASS"
