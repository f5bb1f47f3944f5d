#!/usr/bin/env bash
# `bucardo clone` and `bucardo list clones`: a one-off copy of a sync's
# tables from the prime to every other database, run by the engine through
# a temporary fullcopy sync.  Targets emptied or diverged end equal to the
# prime; the job is recorded (list clones: done); the temporary sync, its
# dbgroup and relgroup are gone afterwards.  Bad input (unknown sync,
# dbgroup, relgroup, table or prime, a multi-source sync without prime, no
# engine running) fails with one error and leaves the catalog unchanged; a
# copy that fails (a table gone from a target) ends as a failed job, with
# the error, and exit 2.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="CREATE TABLE t1 (id int PRIMARY KEY, v text); CREATE TABLE t2 (id int PRIMARY KEY, w int)"
test_databases "$SCHEMA" a b c m1 m2
sql a "INSERT INTO t1 SELECT i, md5(i::text) FROM generate_series(1, 2000) i;
       INSERT INTO t2 SELECT i, i * 3 FROM generate_series(1, 500) i" >/dev/null || fail "rows on a"
test_sync s rg a,b,c autokick=0
run_ok "$BUCARDO" add table t1 t2 db=m1 relgroup=mrg
run_ok "$BUCARDO" add sync ms relgroup=mrg dbs=m1:source,m2:source autokick=0

# Bad input first (the engine is not running yet): nothing changes.
before=$(catalog_snapshot)
bad() {
    run_fail "$BUCARDO" clone "$@"
    expect_err "$1|sync|dbgroup|relgroup|table|prime|running|clone"
    [ "$(printf '%s\n' "$ERR" | grep -c .)" = 1 ] || fail "clone $*: not one error line:
$ERR"
    expect_equal "$before" "$(catalog_snapshot)" "catalog after clone $*"
}
bad sync=nosuch
bad dbgroup=nosuch relgroup=rg
bad dbgroup=s relgroup=nosuch
bad dbgroup=s tables=nosuch
bad sync=s prime=nosuch
bad sync=s prime=b
bad sync=s relgroup=rg
bad sync=s sync=s
bad sync=s frob=1
bad prime=a
bad sync=s          # the engine is not running
expect_err "not running"
bad sync=ms
expect_err "prime=DB"
expect_err "m1, m2"
run_ok "$BUCARDO" list clones
expect_out "No clones have been created yet"

run_ok "$BUCARDO" start
# b emptied, c diverged (rows changed, missing, extra).
sql b "TRUNCATE t1, t2" >/dev/null || fail "truncate b"
sql c "INSERT INTO t1 SELECT i, 'old' FROM generate_series(1, 1500) i; INSERT INTO t1 VALUES (9999, 'extra');
       INSERT INTO t2 VALUES (1, -1)" >/dev/null || fail "diverge c"
run_ok "$BUCARDO" clone sync=s
expect_out "Clone 1 has been started"
expect_out "Clone 1: done"
for db in b c; do
    for t in t1 t2; do
        expect_equal "$(table_digest a "$t")" "$(table_digest "$db" "$t")" "$t on $db after clone 1"
    done
done
run_ok "$BUCARDO" list clones
expect_out "^Clone #1 Status: done  Sync: s  Relgroup: rg  Started: .*  Ended: .*  prime=a"
expect_out "^  Summary: copied from a to b, c: [0-9]+ rows inserted"
expect_equal "done|s|rg|prime=a|t|t" \
    "$(sql bucardo "select status, sync, relgroup, options, started is not null, ended >= started from bucardo.clone where id = 1")" \
    "clone 1 in the catalog"
# The temporary sync and its groups are gone.
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.sync where name like 'bucardo_clone%'
                                  union all select count(*) from bucardo.dbgroup where name like 'bucardo_clone%'
                                  union all select count(*) from bucardo.relgroup where name like 'bucardo_clone%'" | sort -u)" \
    "temporary objects left"

# A dbgroup and a list of tables, the prime named among several sources.
sql m1 "INSERT INTO t1 SELECT i, 'm' || i FROM generate_series(1, 300) i" >/dev/null || fail "rows on m1"
sql m2 "INSERT INTO t1 VALUES (1, 'stale'), (5000, 'gone')" >/dev/null || fail "rows on m2"
run_ok "$BUCARDO" clone dbgroup=ms tables=t1 prime=m1
expect_out "Clone 2: done"
expect_equal "$(table_digest m1 t1)" "$(table_digest m2 t1)" "t1 on m2 after clone 2"
run_ok "$BUCARDO" list clones 2
expect_out "^Clone #2 Status: done Dbgroup: ms  Started: .*prime=m1;tables=t1"
expect_no "Clone #1"
run_fail "$BUCARDO" list clones 77
expect_err "No such clone id"
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.sync where name like 'bucardo_clone%'
                                  union all select count(*) from bucardo.dbgroup where name like 'bucardo_clone%'
                                  union all select count(*) from bucardo.relgroup where name like 'bucardo_clone%'" | sort -u)" \
    "temporary objects left after clone 2"

# The real sync still replicates after the clone.
sql a "UPDATE t1 SET v = 'after' WHERE id <= 10" >/dev/null || fail "update a"
run_ok "$BUCARDO" kick s 30
wait_synced a b 10 t1 t2
wait_synced a c 10 t1 t2
# A copy that fails (a table gone from a target): the job ends failed,
# with the run's error, and the exit code says so.
sql c "DROP TABLE t2" >/dev/null || fail "drop t2 on c"
run_rc 2 timeout 120 "$BUCARDO" clone sync=s
expect_err "clone 3 failed: .*t2"
run_ok "$BUCARDO" list clones 3
expect_out "^Clone #3 Status: failed  Sync: s"
expect_out "^  Summary: .*t2"
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.sync where name like 'bucardo_clone%'")" \
    "temporary sync left after the failed clone"
run_ok "$BUCARDO" stop
echo ok
