#!/usr/bin/env bash
# update table / sequence / relgroup / dbgroup: bad input changes nothing
# (catalog and databases), and each change to a running sync shows in the
# catalog listings and in the data: a table joining the sync's relgroup
# starts replicating, one leaving stops (its capture goes), a database
# turned from target to source sends its changes, and back again.
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "
    CREATE TABLE t1 (id int PRIMARY KEY, v text);
    CREATE TABLE t2 (id int PRIMARY KEY, v text);
    CREATE TABLE t3 (id int PRIMARY KEY, v text);
    CREATE TABLE t4 (id int PRIMARY KEY, v text);
    CREATE SEQUENCE s1;" a b c
run_ok "$BUCARDO" add all tables db=a
run_ok "$BUCARDO" add all sequences db=a
run_ok "$BUCARDO" add relgroup rg t1
run_ok "$BUCARDO" add sync s relgroup=rg dbs=a:source,b:target

# db_state - bucardo's objects (delta tables, triggers) on every database.
db_state() {
    local db
    for db in a b c; do
        echo "$db: $(sql "$db" "select coalesce((select string_agg(c.relname, ',' order by c.relname) from pg_class c
                                   join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'bucardo'), '')
                                 || ' / ' || coalesce((select string_agg(tgrelid::regclass || '.' || tgname, ',' order by 1)
                                   from pg_trigger where tgname like 'bucardo%'), '')")"
    done
}
before=$(catalog_snapshot)
dbs_before=$(db_state)
refused() {  # refused PATTERN ARGS... - fails with PATTERN, changes nothing
    local pattern=$1
    shift
    run_fail "$BUCARDO" update "$@"
    expect_err "$pattern"
    expect_equal "$before" "$(catalog_snapshot)" "catalog after refused 'update $*'"
    expect_equal "$dbs_before" "$(db_state)" "databases after refused 'update $*'"
}
refused 'no table named "nosuch"' table nosuch relgroup=rg
refused 'public.s1 is a sequence: use bucardo update sequence' table s1 relgroup=rg
refused 'unknown parameter "bogus"' table t2 bogus=1
refused 'autokick: expected a boolean' table t2 autokick=sometimes
refused 'nothing to change' table t2 db=a
refused 'sync "s" replicates it' table t1 tablename=t9
refused 'no table named t9 in database "a"|no table named public.t9' table t2 tablename=t9
refused 'update table public.t1 refused: sync "s": its relgroup has no tables' table t1 relgroup=other
refused 'no relgroup named "nosuch"' relgroup nosuch add t2
refused 'say "add" or "remove" before "t2"' relgroup rg t2
refused 'is not in relgroup "rg"' relgroup rg remove t2
refused 'its relgroup has no tables' relgroup rg remove t1
refused 'no table named "nosuch"' relgroup rg add t2 nosuch
refused 'unknown parameter "bogus"' relgroup rg add t2 bogus=1
refused 'a relgroup needs a name' relgroup rg name=
refused 'no dbgroup named "nosuch"' dbgroup nosuch add c
refused 'no database named "zz"' dbgroup s add zz
refused 'already in dbgroup "s" \(as source\)' dbgroup s add a
refused 'not in dbgroup "s"' dbgroup s remove c
refused 'invalid role "boss"' dbgroup s a:boss
refused 'no source database' dbgroup s a:target
refused 'update dbgroup s refused: sync "s": its dbgroup has no target database' dbgroup s remove b
refused 'give b:ROLE' dbgroup s b
refused 'invalid dbgroup name' dbgroup s $'name=no\tgood'   # (a blank inside is fine: "no good" is a valid name)
refused 'usage: bucardo update dbgroup' dbgroup s

# Changes while the engine runs.  The engine restarts a sync whose
# definition changed; the tests wait for that before writing.
run_ok "$BUCARDO" start
starts() { grep -c "starting sync s\$" log.bucardo; }
reloaded() {  # reloaded N - wait until sync s was started more than N times
    for _ in $(seq 100); do
        [ "$(starts)" -gt "$1" ] && return 0
        sleep 0.1
    done
    fail "sync s was not restarted after the update"
}
has_row() {  # has_row DB TABLE ID
    [ "$(sql "$1" "select count(*) from $2 where id = $3")" = 1 ]
}
wait_row() {  # wait_row DB TABLE ID
    for _ in $(seq 150); do
        has_row "$@" && return 0
        sleep 0.1
    done
    fail "row $3 of $2 did not reach $1"
}
sql a "insert into t1 values (1, 'one')" >/dev/null
wait_row b t1 1

# A table joins the relgroup: its changes replicate from now on.
n=$(starts)
run_ok "$BUCARDO" update relgroup rg add t2
expect_out 'Added public.t2 to relgroup "rg"'
expect_out 'Sync "s" changed'
run_ok "$BUCARDO" list relgroups
expect_out 'Relgroup: rg +DB: a +Members: public.t1, public.t2'
reloaded "$n"
sql a "insert into t2 values (10, 'ten')" >/dev/null
wait_row b t2 10

# update table relgroup=: t3 joins rg (and only rg).
n=$(starts)
run_ok "$BUCARDO" update table t3 relgroup=rg
expect_out 'public.t3 is now in relgroup\(s\) rg'
reloaded "$n"
sql a "insert into t3 values (20, 'twenty')" >/dev/null
wait_row b t3 20
wait_synced a b 10 t1 t2 t3

# A table leaves: its changes stay home, its capture is dropped.
n=$(starts)
run_ok "$BUCARDO" update relgroup rg remove t2
expect_out 'Removed public.t2 from relgroup "rg"'
reloaded "$n"
[ "$(sql a "select count(*) from pg_tables where schemaname = 'bucardo' and tablename like 'delta_t2%'")" = 0 ] ||
    fail "t2's delta table is still on a"
sql a "begin; insert into t2 values (11, 'stays'); insert into t1 values (2, 'goes'); commit" >/dev/null
wait_row b t1 2
has_row b t2 11 && fail "t2 still replicates after leaving the relgroup"

# A database joins as a second target.
n=$(starts)
run_ok "$BUCARDO" update dbgroup s add c:target
expect_out 'Added database "c" to dbgroup "s" as target'
run_ok "$BUCARDO" list dbgroups
expect_out 'dbgroup: s +Members: a:source b:target c:target'
reloaded "$n"
sql a "insert into t1 values (3, 'three')" >/dev/null
wait_row c t1 3
wait_row b t1 3

# b turns from target into source: its changes reach a and c, once.
n=$(starts)
run_ok "$BUCARDO" update dbgroup s b:source
expect_out 'Changed database "b" in dbgroup "s" from target to source'
reloaded "$n"
sql b "insert into t1 values (4, 'from b'); update t1 set v = 'b changed' where id = 1" >/dev/null
wait_row a t1 4
wait_row c t1 4
for _ in $(seq 100); do
    [ "$(sql a "select v from t1 where id = 1")" = "b changed" ] && break
    sleep 0.1
done
expect_equal "b changed" "$(sql a "select v from t1 where id = 1")" "b's update on a"
wait_synced a b 10 t1 t3
run_ok "$BUCARDO" list syncs
expect_out 'a:source b:source c:target'

# And back: b is a target again, its own changes stay on b, its capture goes.
n=$(starts)
run_ok "$BUCARDO" update dbgroup s b:target
reloaded "$n"
[ "$(sql b "select count(*) from pg_trigger where tgname like 'bucardo%'")" = 0 ] || fail "b keeps capture triggers"
sql b "insert into t1 values (5, 'b only')" >/dev/null
sql a "insert into t1 values (6, 'from a')" >/dev/null
wait_row b t1 6
wait_row c t1 6
has_row a t1 5 && fail "b's change reached a after b became a target"

# c leaves the dbgroup.
n=$(starts)
run_ok "$BUCARDO" update dbgroup s remove c
expect_out 'Removed database "c" from dbgroup "s"'
reloaded "$n"
sql a "insert into t1 values (7, 'not to c')" >/dev/null
wait_row b t1 7
has_row c t1 7 && fail "c still receives changes after leaving the dbgroup"

# Renames follow the sync; replication goes on.
n=$(starts)
run_ok "$BUCARDO" update relgroup rg name=rg_new
expect_out 'Renamed relgroup "rg" to "rg_new"'
run_ok "$BUCARDO" update dbgroup s name=s_group
expect_out 'Renamed dbgroup "s" to "s_group"'
run_ok "$BUCARDO" list syncs
expect_out 'Sync "s" +Relgroup "rg_new" +DB group "s_group" a:source b:target'
reloaded "$n"
sql a "insert into t1 values (8, 'after renames')" >/dev/null
wait_row b t1 8

# A table renamed in its database (no sync replicates it), and a sequence
# put into a relgroup.
sql a "alter table t4 rename to t4b" >/dev/null
run_ok "$BUCARDO" update table t4 tablename=t4b
expect_out 'Changed table public.t4 to public.t4b'
run_ok "$BUCARDO" list tables
expect_out 'Table: public.t4b +DB: a +PK: id \(integer\)'
run_ok "$BUCARDO" update sequence s1 relgroup=seqs
expect_out 'Created relgroup "seqs"'
run_ok "$BUCARDO" list relgroups seqs
expect_out 'Relgroup: seqs +DB: a +Members: public.s1'
run_fail "$BUCARDO" update sequence s1 tablename=x
expect_err 'unknown parameter "tablename"'
run_ok "$BUCARDO" stop
echo ok
