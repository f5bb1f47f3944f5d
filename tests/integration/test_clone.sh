#!/usr/bin/env bash
# `bucardo clone` and `bucardo list clones`: a one-off copy of a sync's
# tables from the prime to every other database, run by the engine through
# a temporary fullcopy sync.  Targets emptied or diverged end equal to the
# prime; the job is recorded (list clones: done); the temporary sync, its
# dbgroup and relgroup are gone afterwards.  Bad input (unknown sync,
# dbgroup, relgroup, table or prime, a multi-source sync without prime, no
# engine running) fails with one error and leaves the catalog unchanged; a
# copy that fails (a table gone from a target) ends as a failed job, with
# the error, and exit 2.  The prime may be a source other than the
# database the tables were added on (sync= and tables=).  A clone whose
# command is killed mid-copy is found by the next `list clones` or
# `clone`: recorded as failed (interrupted), its temporary sync, dbgroup
# and relgroup removed.
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

# temp_left - how many temporary objects of clones are in the catalog.
temp_left() {
    sql bucardo "select (select count(*) from bucardo.sync where name like 'bucardo_clone%')
                      + (select count(*) from bucardo.dbgroup where name like 'bucardo_clone%')
                      + (select count(*) from bucardo.relgroup where name like 'bucardo_clone%')"
}

### A prime other than the database the tables were added on (m1).
sql m2 "DELETE FROM t1; INSERT INTO t1 SELECT i, 'two' || i FROM generate_series(1, 700) i;
        INSERT INTO t2 SELECT i, -i FROM generate_series(1, 40) i" >/dev/null || fail "rows on m2"
run_ok "$BUCARDO" clone sync=ms prime=m2
expect_out "Clone 4: done \(copied from m2 to m1"
for t in t1 t2; do
    expect_equal "$(table_digest m2 "$t")" "$(table_digest m1 "$t")" "$t on m1 after clone 4 (prime m2)"
done
expect_equal "0" "$(temp_left)" "temporary objects left after clone 4"
sql m2 "UPDATE t2 SET w = 7 WHERE id <= 20" >/dev/null || fail "update m2"
sql m1 "UPDATE t1 SET v = 'm1 only' WHERE id <= 20" >/dev/null || fail "update m1"
run_ok "$BUCARDO" clone dbgroup=ms tables=t2 prime=m2
expect_out "Clone 5: done"
expect_equal "$(table_digest m2 t2)" "$(table_digest m1 t2)" "t2 on m1 after clone 5 (tables=, prime m2)"
expect_equal "20" "$(sql m1 "select count(*) from t1 where v = 'm1 only'")" "t1 on m1, not in clone 5"
expect_equal "0" "$(temp_left)" "temporary objects left after clone 5"

### A clone whose command is killed mid-copy: its copy to m2 waits for a
### lock on m2's t1 held by another session.
# interrupt ID - start `clone dbgroup=ms tables=t1 prime=m1` (clone ID)
# with m2's t1 locked, kill -9 the command once the copy is under way
# (its progress line), then let the lock go.
interrupt() {
    local id=$1 pid deadline
    PGAPPNAME=clone_blocker psql -X -q -d m2 -c "BEGIN; LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60)" \
        >/dev/null 2>&1 &
    deadline=$(( $(date +%s) + 20 ))
    until [ "$(sql m2 "select count(*) from pg_stat_activity where application_name = 'clone_blocker' and state = 'active'")" = 1 ]; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "the lock on m2.t1 is not taken"
        sleep 0.1
    done
    "$BUCARDO" clone dbgroup=ms tables=t1 prime=m1 >"$TEST_DIR/clone$id.out" 2>&1 &
    pid=$!
    deadline=$(( $(date +%s) + 30 ))
    until grep -q "^Copying public.t1 -> m2" "$TEST_DIR/clone$id.out" &&
        [ "$(sql bucardo "select count(*) from bucardo.clone where id = $id and status = 'running'")" = 1 ]; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "clone $id does not run: $(cat "$TEST_DIR/clone$id.out")"
        sleep 0.1
    done
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    expect_equal "running|1" "$(sql bucardo "select status, (select count(*) from bucardo.sync where name = 'bucardo_clone_$id')
                                             from bucardo.clone where id = $id")" "clone $id right after its command was killed"
    sql m2 "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'clone_blocker'" >/dev/null
    wait
}
sql m1 "UPDATE t1 SET v = 'for m2' WHERE id <= 30" >/dev/null || fail "update m1"
interrupt 6
# The next `list clones` cleans up and tells the truth.
run_ok "$BUCARDO" list clones 6
expect_out "^Clone #6 Status: failed Dbgroup: ms  Started: .*  Ended: .*prime=m1;tables=t1"
expect_out "^  Summary: interrupted: the clone command ended before the copy"
expect_equal "0" "$(temp_left)" "temporary objects left after the interrupted clone 6"
# So does the next clone, which then copies.
interrupt 7
run_ok "$BUCARDO" clone dbgroup=ms tables=t1 prime=m1
expect_out "Clone 7 was interrupted: removed its temporary sync bucardo_clone_7"
expect_out "Clone 8: done"
expect_equal "failed|interrupted" "$(sql bucardo "select status, split_part(summary, ':', 1) from bucardo.clone where id = 7")" \
    "clone 7 in the catalog"
expect_equal "$(table_digest m1 t1)" "$(table_digest m2 t1)" "t1 on m2 after clone 8"
expect_equal "0" "$(temp_left)" "temporary objects left after clone 8"
# Whatever a clone that ended left behind (a relgroup whose removal did
# not commit with its sync's) goes at the next list clones; the row stays.
run_ok "$BUCARDO" add relgroup bucardo_clone_8
run_ok "$BUCARDO" list clones
expect_equal "0" "$(temp_left)" "temporary objects left after a list clones"
expect_equal "done" "$(sql bucardo "select status from bucardo.clone where id = 8")" "clone 8 after the sweep"
# The engine still runs the real syncs.
run_ok "$BUCARDO" status ms
run_ok "$BUCARDO" stop
echo ok
