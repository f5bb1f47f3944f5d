#!/usr/bin/env bash
# Capture filters (Bucardo's bucardo_custom_trigger, used for row
# filtering): `update table T capture_filter=EXPR` replicates only the rows
# matching EXPR.  With real rows: the onetimecopy copies only matching
# rows; inserts, updates and deletes in and out of the filter, updates
# crossing its boundary both ways, key changes; a partitioned table; the
# target equals the source's matching rows, compare says equal and finds
# a row left outside the filter; a changed filter re-creates the trigger;
# a bad filter is one error line with the catalog unchanged.
. "$TESTS_DIR/lib/setup.sh"
test_begin

# run_rc WANT CMD... - run CMD expecting exit code WANT (compare: 1 = differences).
run_rc() {
    local want=$1 rc=0
    shift
    OUT=$("$@" 2>"$TEST_DIR/stderr" </dev/null) || rc=$?
    ERR=$(cat "$TEST_DIR/stderr")
    [ "$rc" -eq "$want" ] || fail "expected exit $want, got $rc: $*
stdout: $OUT
stderr: $ERR"
}

SCHEMA="CREATE TABLE acct (id int PRIMARY KEY, region text NOT NULL, v int NOT NULL DEFAULT 0);
        CREATE TABLE ev (id int, day int, kind text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
        CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM (0) TO (100);
        CREATE TABLE ev_2 PARTITION OF ev FOR VALUES FROM (100) TO (200);"
test_databases "$SCHEMA" src tgt
sql src "insert into acct select i, case when i % 2 = 0 then 'eu' else 'us' end, i from generate_series(1, 400) i;
         insert into ev select i, i % 200, case when i % 3 = 0 then 'keep' else 'drop' end from generate_series(1, 600) i" >/dev/null
run_ok "$BUCARDO" add all tables db=src relgroup=rg

# Bad filters: one line, non-zero, catalog unchanged.
before=$(catalog_snapshot)
run_fail "$BUCARDO" update table acct capture_filter="nosuch = 1"
expect_err 'capture_filter "nosuch = 1": not a filter of table acct on database src: column "nosuch" does not exist'
run_fail "$BUCARDO" update table acct "capture_filter=region = 'eu'; DROP TABLE acct"
expect_err 'capture_filter: expected one SQL expression'
run_fail "$BUCARDO" update table acct "capture_filter=region = 'eu') OR (true"
expect_err 'capture_filter: expected one SQL expression over the table'
run_fail "$BUCARDO" update table acct "capture_filter=region = 'eu' -- note"
expect_err 'capture_filter: expected one SQL expression over the table'
run_fail "$BUCARDO" update table acct "capture_filter=region ||"
expect_err 'not a filter of table acct on database src: syntax error'
run_fail "$BUCARDO" update table acct "capture_filter=v + 1"
expect_err 'argument of WHERE must be type boolean'
expect_equal "$before" "$(catalog_snapshot)" "catalog after bad filters"
[ "$(sql src "select count(*) from acct")" = 400 ] || fail "acct changed by a bad filter"

run_ok "$BUCARDO" update table acct "capture_filter=region = 'eu'"
expect_out "Changed table public.acct capture_filter to region = 'eu'"
run_ok "$BUCARDO" update table ev "capture_filter=kind = 'keep'"
expect_equal "region = 'eu'" "$(sql bucardo "select capture_filter from bucardo.relation where relname = 'acct'")" "stored filter"
run_ok "$BUCARDO" add sync s1 relgroup=rg dbs=src,tgt onetimecopy=1
run_ok "$BUCARDO" inspect sync s1
expect_out "^    table public.acct \(database src, key: id, capture filter: region = 'eu'\)$"
# The trigger function tests rows against the filter.
sql src "select prosrc from pg_proc where proname like 'capture_row_acct%'" | grep -q "region = 'eu'" \
    || fail "the capture function of acct has no filter"

EU="(select * from acct where region = 'eu')"
KEEP="(select * from ev where kind = 'keep')"
# check_synced - the target holds exactly the source's matching rows.
check_synced() {
    local deadline=$(( $(date +%s) + 30 )) a b c d
    while :; do
        a=$(table_digest src "$EU") b=$(table_digest tgt acct)
        c=$(table_digest src "$KEEP") d=$(table_digest tgt ev)
        [ "$a" = "$b" ] && [ "$c" = "$d" ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && fail "$1: target differs from the filtered source: acct $a vs $b, ev $c vs $d"
        sleep 0.2
    done
}

run_ok "$BUCARDO" start
check_synced "after the onetimecopy"
[ "$(sql tgt "select count(*) from acct")" = 200 ] || fail "the onetimecopy copied other than the 200 eu rows"
[ "$(sql tgt "select count(*) from acct where region <> 'eu'")" = 0 ] || fail "rows outside the filter copied"
[ "$(sql tgt "select count(*) from ev")" = 200 ] || fail "ev: expected the 200 keep rows"

# Every kind of change, in and out of the filter, in several transactions.
sql src "insert into acct select i, case when i % 2 = 0 then 'eu' else 'us' end, 0 from generate_series(401, 500) i" >/dev/null
sql src "update acct set v = v + 1000 where id between 1 and 40" >/dev/null          # both regions, staying
sql src "update acct set region = 'us' where id in (2, 4, 6)" >/dev/null            # leaving the filter
sql src "update acct set region = 'eu' where id in (1, 3, 5)" >/dev/null            # entering it
sql src "update acct set id = id + 10000 where id in (8, 10)" >/dev/null            # key change inside
sql src "update acct set id = id + 10000, region = 'us' where id = 12" >/dev/null   # key change, leaving
sql src "update acct set id = id + 10000, region = 'eu' where id = 7" >/dev/null    # key change, entering
sql src "update acct set id = id + 20000 where id = 9" >/dev/null                   # key change outside
sql src "delete from acct where id in (14, 15, 16, 17)" >/dev/null                  # both regions
sql src "begin; update acct set region = 'us' where id = 18; update acct set region = 'eu' where id = 18; commit" >/dev/null
sql src "update ev set kind = 'drop' where id in (3, 6); update ev set kind = 'keep' where id in (1, 2);
         update ev set day = day + 100 where id in (9, 12) and day < 100;             -- across partitions
         delete from ev where id in (15, 16); insert into ev values (9001, 5, 'keep'), (9002, 150, 'drop')" >/dev/null
check_synced "after changes crossing the filter"
[ "$(sql tgt "select count(*) from acct where id in (2, 4, 6, 10012)")" = 0 ] || fail "rows that left the filter are still on the target"
[ "$(sql tgt "select count(*) from acct where id in (1, 3, 5, 10007)")" = 4 ] || fail "rows that entered the filter did not arrive"

# Changes outside the filter leave no delta rows (the engine stopped, so
# nothing purges them meanwhile).
run_ok "$BUCARDO" stop
delta=$(sql src "select 'bucardo.' || quote_ident(tablename) from pg_tables where schemaname = 'bucardo' and tablename like 'delta_acct%'")
n0=$(sql src "select count(*) from $delta")
sql src "update acct set v = v + 1 where region = 'us'; insert into acct values (30001, 'us', 0); delete from acct where id = 21" >/dev/null
[ "$(sql src "select count(*) from $delta")" = "$n0" ] || fail "changes outside the filter were captured"
sql src "update acct set v = v + 1 where id = 20" >/dev/null
[ "$(sql src "select count(*) from $delta")" = $((n0 + 1)) ] || fail "a change inside the filter was not captured"
run_ok "$BUCARDO" start
check_synced "after a restart"

# compare reads the filtered set: equal; a row outside the filter on the
# target is a difference.
run_rc 0 "$BUCARDO" compare s1
expect_out '^Table public.acct: equal'
expect_out '^Table public.ev: equal'
psql -X -q -d tgt -c "SET session_replication_role = replica" -c "INSERT INTO acct VALUES (40001, 'us', 0)" || fail "extra row"
run_rc 1 "$BUCARDO" compare s1 acct
expect_out '^  extra on tgt: id=40001$'
# --repair queues its key: the cycle deletes it, copying nothing back.
run_rc 1 "$BUCARDO" compare s1 acct --repair
check_synced "after compare --repair"
[ "$(sql tgt "select count(*) from acct where id = 40001")" = 0 ] || fail "compare --repair left the extra row"

# A changed filter re-creates the trigger on the source at once.
run_ok "$BUCARDO" update table acct "capture_filter=region IN ('eu', 'asia')"
expect_out "Rows already on the targets that the new filter leaves out stay there"
sql src "select prosrc from pg_proc where proname like 'capture_row_acct%'" | grep -q "'asia'" \
    || fail "the capture function was not re-created with the new filter"
EU="(select * from acct where region in ('eu', 'asia'))"
sql src "insert into acct values (50001, 'asia', 1), (50002, 'us', 1); update acct set region = 'asia' where id = 22" >/dev/null
check_synced "after the filter changed"

# capture_filter=default: every row again (after a copy the target has them all).
run_ok "$BUCARDO" update table acct capture_filter=default
expect_equal "" "$(sql bucardo "select capture_filter from bucardo.relation where relname = 'acct'")" "filter cleared"
sql src "select prosrc from pg_proc where proname like 'capture_row_acct%'" | grep -q "'asia'" \
    && fail "the capture function kept the old filter"
run_ok "$BUCARDO" update sync s1 onetimecopy=1
run_ok "$BUCARDO" kick s1 60
EU="acct"
check_synced "after the filter was removed"

### Two sources: a source's rows outside the filter are its own.  Each
### side gets the other's matching rows only; a row leaving the filter
### goes from the other side and stays here; a TRUNCATE takes only the
### matching rows elsewhere.
test_databases "CREATE TABLE mt (id int PRIMARY KEY, region text NOT NULL, v int NOT NULL DEFAULT 0)" m1 m2
run_ok "$BUCARDO" add table mt db=m1 relgroup=rg2
run_ok "$BUCARDO" update table mt db=m1 "capture_filter=region = 'eu'"
run_ok "$BUCARDO" add sync s2 relgroup=rg2 dbs=m1:source,m2:source
run_ok "$BUCARDO" reload
EUM="(select * from mt where region = 'eu')"
# check_multi WHAT US1 US2 - both sides hold the same matching rows, and
# each exactly its own rows outside the filter (counted).
check_multi() {
    local deadline=$(( $(date +%s) + 30 )) a b
    while :; do
        a=$(table_digest m1 "$EUM") b=$(table_digest m2 "$EUM")
        [ "$a" = "$b" ] && [ "$(sql m1 "select count(*) from mt where region <> 'eu'")" = "$2" ] &&
            [ "$(sql m2 "select count(*) from mt where region <> 'eu'")" = "$3" ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && fail "$1: m1 $a vs m2 $b; rows outside the filter: m1 $(sql m1 "select count(*) from mt where region <> 'eu'") (want $2), m2 $(sql m2 "select count(*) from mt where region <> 'eu'") (want $3)"
        sleep 0.2
    done
}
sql m1 "insert into mt select i, case when i % 2 = 0 then 'eu' else 'us' end from generate_series(1, 40) i" >/dev/null
sql m2 "insert into mt select i, case when i % 2 = 0 then 'eu' else 'us' end from generate_series(101, 140) i" >/dev/null
check_multi "two sources" 20 20
[ "$(sql m2 "select count(*) from mt where id <= 40 and region <> 'eu'")" = 0 ] || fail "m1's rows outside the filter reached m2"
sql m1 "update mt set region = 'us' where id in (2, 4)" >/dev/null            # leave: gone from m2, kept on m1
sql m2 "update mt set region = 'eu' where id in (101, 103)" >/dev/null        # enter: reach m1
check_multi "rows crossing the filter on two sources" 22 18
[ "$(sql m2 "select count(*) from mt where id in (2, 4)")" = 0 ] || fail "rows that left the filter on m1 are still on m2"
sql m1 "truncate mt" >/dev/null
check_multi "after a TRUNCATE on m1" 0 18
[ "$(sql m2 "select count(*) from mt where region = 'eu'")" = 0 ] || fail "m2 kept matching rows after m1's TRUNCATE"
run_ok "$BUCARDO" stop
echo "PASS"
