#!/usr/bin/env bash
# The command line under fuzzing: thousands of generated argument lists
# (FUZZ_CASES, default 3000, 1000 under sanitizers; FUZZ_SEED replays a
# run) - unknown verbs, missing values, 100 kB values, invalid UTF-8,
# control characters, options in odd places, empty and unknown keys,
# values of the wrong type or out of range, absent and duplicate objects,
# mutations of valid lines - against the real binary and a real catalog
# holding databases, tables, a relgroup, a dbgroup and a sync.  No case may
# crash, hang, trip a sanitizer, or fail without saying why on stderr; no
# invalid case may be accepted; no rejected case may change the catalog,
# nor (add, remove, update...) tell of changes on stdout.
# The work is in tests/lib/cli_fuzz.py.
. "$TESTS_DIR/lib/setup.sh"
test_begin

for d in a b; do
    createdb "$d" && psql -X -q -d "$d" -c "create table t1 (id int primary key, v text);
        create table t2 (id int primary key); create sequence q1" || fail "database $d"
done
run_ok "$BUCARDO" add db d1 dbname=a
run_ok "$BUCARDO" add db d2 dbname=b
run_ok "$BUCARDO" add table public.t1 db=d1 relgroup=rg1
run_ok "$BUCARDO" add dbgroup g1 d1:source d2:target
run_ok "$BUCARDO" add sync s1 relgroup=rg1 dbs=d1,d2
run_ok "$BUCARDO" add sync s0 relgroup=rg1 dbs=d1,d2 status=inactive
psql -X -q -d a -c "create table pt (id int primary key) partition by range (id);
    create table pt_a partition of pt for values from (0) to (100) partition by range (id);
    create table pt_a1 partition of pt_a for values from (0) to (10)" || fail "partitions on a"

# One catalog per worker (a copy of the one just built), named by the
# .bucardorc in the worker's HOME.
catalogs=""
# Workers overlap their waits on the server: 3 by default (FUZZ_WORKERS).
for w in $(seq 0 $((${FUZZ_WORKERS:-3} - 1))); do
    createdb -T bucardo -O bucardo "bucardo_w$w" || fail "catalog copy $w"
    mkdir -p "$TEST_DIR/fuzz$w"
    echo "dbname = bucardo_w$w" >"$TEST_DIR/fuzz$w/.bucardorc"
    catalogs="$catalogs bucardo_w$w"
done
before=$(catalog_snapshot)
TEST_DIR=$TEST_DIR BUCARDO=$BUCARDO FUZZ_CATALOGS=$catalogs python3 "$TESTS_DIR/lib/cli_fuzz.py" || fail "cli fuzz failed (see above)"
# The cases ran on the copies: the original catalog was never touched
# (only lines naming it with --no-bucardorc could reach it, and those must
# all have failed).
expect_equal "$before" "$(catalog_snapshot)" "the original catalog"
echo ok
