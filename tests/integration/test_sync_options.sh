#!/usr/bin/env bash
# Bucardo's sync options and database status, judged by their effect:
#  - isolation_level (alias txnmode): with serializable the engine's source
#    transaction takes SIRead predicate locks (seen in pg_locks while a
#    cycle is held), with repeatable read it takes none;
#  - deletemethod for a fullcopy target: delete keeps the rows of a table
#    referencing it, truncate fails the run naming the foreign key,
#    truncate_cascade empties the referencing table too;
#  - vacuum_after_copy on the sync VACUUMs every copied table;
#  - update sync X name=Y renames (history follows, the engine runs Y),
#    bare words active / inactive;
#  - stayalive/kidsalive/lifetime/maxkicks/track_rates are stored and said
#    to have no effect here;
#  - default_conflict_strategy is what a new sync gets;
#  - update db X status=inactive leaves X out with its changes kept, and
#    they reach it once it is active again (a sync whose only target is
#    inactive has Bad runs saying so);
#  - a table's conflict_strategy (update table) beats the sync's;
#  - default_checktime runs a sync without autokick or checktime;
#  - copyextra: only empty (the engine picks each COPY's format);
#  - bad values: one error line, catalog unchanged.
. "$TESTS_DIR/lib/setup.sh"
test_begin
unchanged() { expect_equal "$1" "$(catalog_snapshot)" "catalog after $2"; }

test_databases "CREATE TABLE t (id int PRIMARY KEY, v text)" a b
createdb f && psql -X -q -d f -c "CREATE TABLE t (id int PRIMARY KEY, v text);
    CREATE TABLE r (id int PRIMARY KEY, tid int REFERENCES t);
    INSERT INTO t VALUES (100, 'extra'); INSERT INTO r VALUES (1, 100)" || fail "schema on f"
run_ok "$BUCARDO" add database f dbname=f

# --- default_conflict_strategy, options at add sync, bad values
run_ok "$BUCARDO" set default_conflict_strategy=bucardo_source
run_ok "$BUCARDO" add all tables db=a relgroup=g
before=$(catalog_snapshot)
run_fail "$BUCARDO" add sync s1 relgroup=g dbs=a,b isolation_level=chaos
expect_err 'isolation_level: expected one of serializable, repeatable read, got "chaos"'
run_fail "$BUCARDO" add sync s1 relgroup=g dbs=a,b deletemethod=drop
expect_err 'deletemethod: expected one of default, delete, truncate, truncate_cascade'
run_fail "$BUCARDO" add sync s1 relgroup=g dbs=a,b name=s2
expect_err 'name comes first'
run_fail "$BUCARDO" add sync s1 relgroup=g dbs=a,b "copyextra=WITH OIDS"
expect_err 'copyextra: no extra COPY options are taken'
unchanged "$before" "refused add sync"
run_ok "$BUCARDO" add sync s1 relgroup=g dbs=a,b isolation_level=SERIALIZABLE stayalive=0 copyextra=
expect_out '^Note: stayalive has no effect in this engine: '
expect_equal "serializable|bucardo_source|f" \
    "$(sql bucardo "select concat_ws('|', isolation_level, conflict_strategy, stayalive) from bucardo.sync where name = 's1'")" \
    "s1 as added"
run_ok "$BUCARDO" set default_conflict_strategy=bucardo_latest

# --- isolation_level takes effect on the source transaction
hold_trigger b t
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick s1 30
siread() { sql a "select count(*) from pg_locks where mode = 'SIReadLock'"; }
held() { # wait until b's writer waits on the test's advisory lock
    local i
    for i in $(seq 1 300); do
        [ "$(sql b "select count(*) from pg_locks where locktype = 'advisory' and objid = 4242 and not granted")" -ge 1 ] && return 0
        sleep 0.1
    done
    fail "no cycle reached b's hold trigger"
}
hold_lock b
sql a "insert into t values (1, 'one')" >/dev/null
held
[ "$(siread)" -gt 0 ] || fail "serializable: the engine's source transaction holds no SIRead lock"
release_lock b
wait_synced a b 30 t
run_ok "$BUCARDO" update sync s1 "txnmode=repeatable read"
expect_equal "repeatable read" "$(sql bucardo "select isolation_level from bucardo.sync where name = 's1'")" "txnmode stored"
sleep 1
hold_lock b
sql a "insert into t values (2, 'two')" >/dev/null
held
expect_equal "0" "$(siread)" "SIRead locks under repeatable read"
release_lock b
wait_synced a b 30 t

# --- rename, bare words, options without effect
run_ok "$BUCARDO" update sync s1 name=s1new
expect_out '^Renamed sync "s1" to "s1new"$'
expect_equal "0|1" "$(sql bucardo "select count(*) filter (where sync = 's1') || '|' || least(count(*) filter (where sync = 's1new'), 1) from bucardo.syncrun")" "syncrun follows the rename"
expect_equal "1" "$(sql bucardo "select count(*) from bucardo.sync_source_state where sync = 's1new'")" "source state follows"
sql a "insert into t values (3, 'three')" >/dev/null
run_ok "$BUCARDO" kick s1new 30
wait_synced a b 30 t
before=$(catalog_snapshot)
run_fail "$BUCARDO" update sync s1new name=all
expect_err "\"all\" means every sync"
run_fail "$BUCARDO" update sync s1new name=fc2 nosuch=1
unchanged "$before" "bad new name"
run_ok "$BUCARDO" update sync s1new inactive
expect_equal "inactive" "$(sql bucardo "select status from bucardo.sync where name = 's1new'")" "bare inactive"
run_ok "$BUCARDO" update sync s1new active kidsalive=0 lifetime=60 maxkicks=5 track_rates=1
expect_equal "active|f|00:01:00|5|t" \
    "$(sql bucardo "select concat_ws('|', status, kidsalive, lifetime, maxkicks, track_rates) from bucardo.sync where name = 's1new'")" \
    "bare active and the options kept"
for o in kidsalive lifetime maxkicks track_rates; do
    expect_out "^Note: $o has no effect in this engine: "
done

# --- db status=inactive: left out, changes kept, delivered when active
run_ok "$BUCARDO" update db b status=inactive
sleep 1
sql a "insert into t values (4, 'four')" >/dev/null
# Its only target inactive: the run says so, and nothing is lost.
OUT=$("$BUCARDO" kick s1new 30) && fail "kick s1new succeeded with its only target inactive: $OUT"
expect_out 'database b is inactive \(status=inactive\)'
expect_equal "0" "$(sql b "select count(*) from t where id = 4")" "inactive b got no row"
run_ok "$BUCARDO" update db b status=active
wait_synced a b 30 t

# --- deletemethod and vacuum_after_copy on a fullcopy target
sql f "select pg_stat_reset()" >/dev/null
run_ok "$BUCARDO" add sync fc relgroup=g dbs=a:source,f:fullcopy deletemethod=delete vacuum_after_copy=1
run_ok "$BUCARDO" kick fc 30
wait_synced a f 10 t
expect_equal "1" "$(sql f "select count(*) from r")" "delete keeps the referencing rows"
# (a fullcopy target is copied at every cycle: the one at reload, the kick's)
[ "$(sql f "select vacuum_count from pg_stat_user_tables where relname = 't'")" -ge 1 ] || fail "no VACUUM after the copy"
run_ok "$BUCARDO" update sync fc deletemethod=truncate
sleep 1
"$BUCARDO" kick fc 30 >/dev/null && fail "a fullcopy by TRUNCATE of a referenced table succeeded"
wait_run fc 10 "state = 'Bad' and error like '%truncate%'"
expect_equal "1" "$(sql f "select count(*) from r")" "truncate refused: r untouched"
run_ok "$BUCARDO" update sync fc deletemethod=truncate_cascade
sleep 1
run_ok "$BUCARDO" kick fc 30
wait_synced a f 10 t
expect_equal "0" "$(sql f "select count(*) from r")" "truncate_cascade empties the referencing table"

# --- default_checktime: a sync with autokick off and no checktime of its
# own runs that often, unkicked
for db in a b; do
    sql $db "create table dc (id int primary key)" >/dev/null || fail "dc on $db"
done
run_ok "$BUCARDO" add table public.dc db=a relgroup=gdc
run_ok "$BUCARDO" set default_checktime=2
run_ok "$BUCARDO" add sync dc relgroup=gdc dbs=a,b autokick=0
sleep 1
sql a "insert into dc values (1)" >/dev/null
wait_synced a b 15 dc
run_ok "$BUCARDO" set default_checktime=0

# --- a table's own conflict_strategy wins over the sync's
for db in a b; do
    sql $db "create table m (id int primary key, v text); insert into m values (1, 'start')" >/dev/null || fail "m on $db"
done
run_ok "$BUCARDO" add table public.m db=a relgroup=gm
run_ok "$BUCARDO" add sync ms relgroup=gm dbs=a:source,b:source autokick=0 conflict_strategy=bucardo_latest
run_fail "$BUCARDO" update table public.m db=a conflict_strategy=whoever
expect_err 'conflict_strategy: expected default or one of'
run_ok "$BUCARDO" update table public.m db=a conflict_strategy=bucardo_source
expect_equal "bucardo_source" "$(sql bucardo "select conflict_strategy from bucardo.goat where db = 'a' and tablename = 'm'")" "goat.conflict_strategy"
sleep 1
sql a "update m set v = 'from a (earlier)' where id = 1" >/dev/null
sleep 0.2
sql b "update m set v = 'from b (later)' where id = 1" >/dev/null
run_ok "$BUCARDO" kick ms 30
expect_equal "from a (earlier)|from a (earlier)" "$(sql a "select v from m")|$(sql b "select v from m")" "bucardo_source (the table's) beat bucardo_latest (the sync's)"
run_ok "$BUCARDO" update table public.m db=a conflict_strategy=default
sleep 1
sql a "update m set v = 'a again (earlier)' where id = 1" >/dev/null
sleep 0.2
sql b "update m set v = 'b again (later)' where id = 1" >/dev/null
run_ok "$BUCARDO" kick ms 30
expect_equal "b again (later)|b again (later)" "$(sql a "select v from m")|$(sql b "select v from m")" "back to the sync's bucardo_latest"
run_ok "$BUCARDO" stop
echo ok
