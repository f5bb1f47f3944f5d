#!/usr/bin/env bash
# Regressions of the side findings of bucardo-gaps.md, each judged by table
# contents, catalog rows, exact output lines and exit codes:
#  - customname/customcols added or removed while the engine runs apply at
#    once (they are part of the workers' fingerprint);
#  - customname/customcols work for a table registered from several
#    databases (`add all tables` without db=), with db= naming the target;
#  - `remove db --force` deactivates the syncs it leaves unable to run,
#    reloads the engine, and the others go on without the database;
#  - `update table T vacuum_after_copy=1` (and makedelta=) is a real per-table setting;
#    makedelta's hint names the command that takes it;
#  - `help VERB` answers for every verb of the command table;
#  - `validate` prints its line whole, without engine lines on stderr;
#  - `inspect` of a never-analyzed table says so instead of "about -1";
#  - `add table` of a known table into a relgroup says what it did.
. "$TESTS_DIR/lib/setup.sh"
test_begin --no-install

# --- help: every verb of the command table (cli/main.c), no catalog needed.
verbs=$(grep -oE '^    \{"[a-z]+", ' "$TESTS_DIR/../cli/main.c" | grep -oE '[a-z]+' | sort -u)
[ "$(printf '%s\n' "$verbs" | grep -c .)" -ge 20 ] || fail "could not read the verbs from cli/main.c: $verbs"
for verb in $verbs help; do
    run_ok "$BUCARDO" help "$verb"
    expect_out "^bucardo $verb"
    run_ok "$BUCARDO" "$verb" --help
    expect_out "^bucardo $verb"
done
run_ok "$BUCARDO" --help
for verb in $verbs; do
    expect_out "^  ([a-z]+ \| )*$verb "
done

bucardo_install
for db in a b c x; do
    createdb "$db" || fail "createdb $db"
    psql -X -q -d "$db" -c "CREATE TABLE t (id int PRIMARY KEY, v int);
                           CREATE TABLE w (id int PRIMARY KEY, v int);
                           CREATE TABLE z (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off)" || fail "tables on $db"
    run_ok "$BUCARDO" add db "$db" dbname="$db"
done
psql -X -q -d b -c "CREATE TABLE t_renamed (id int PRIMARY KEY, v int)" || fail t_renamed
psql -X -q -d a -c "CREATE SCHEMA other; CREATE TABLE other.u (id int PRIMARY KEY); CREATE TABLE u (id int PRIMARY KEY)" || fail u
# Every table once per database, as the tutorial's `add all tables` does.
run_ok "$BUCARDO" add all tables
expect_equal 4 "$(sql bucardo "select count(*) from bucardo.relation where schemaname = 'public' and relname = 't'")" "registrations of public.t"

# --- add table of a known table into a relgroup: one line saying so.
run_ok "$BUCARDO" add table public.t db=a relgroup=rg
expect_equal "Added table public.t to relgroup rg" "$OUT" "add table, known table"
run_ok "$BUCARDO" add table public.t db=a relgroup=rg
expect_equal 'Table public.t of database "a" is already in relgroup rg' "$OUT" "add table, already in the relgroup"
expect_equal "a" "$(sql bucardo "select string_agg(r.db, ',') from bucardo.relgroup_member m join bucardo.relation r on r.id = m.relation where m.relgroup = 'rg'")" "rg members"
run_ok "$BUCARDO" add table public.w db=a relgroup=rgw
run_ok "$BUCARDO" add table public.z db=a relgroup=rgz

run_ok "$BUCARDO" add sync s1 relgroup=rg dbs=a:source,b:target,c:target autokick=0
run_ok "$BUCARDO" add sync ms relgroup=rgw dbs=a:source,x:source autokick=0
run_ok "$BUCARDO" add sync s3 relgroup=rgz dbs=a:source,c:target,x:target autokick=0

# --- validate: its line whole on stdout, nothing on stderr.
run_ok "$BUCARDO" validate s1
expect_equal "Validating sync s1 ... OK" "$OUT" "validate output"
expect_equal "" "$ERR" "validate stderr"

# --- inspect of a table never analyzed (reltuples -1).
run_ok "$BUCARDO" inspect table public.z db=c
expect_out "^  Rows:      unknown \(never analyzed\)$"
expect_no "about -1"
sql c "analyze z" >/dev/null
run_ok "$BUCARDO" inspect table public.z db=c
expect_out "^  Rows:      about 0$"

# --- customname/customcols on a table registered from four databases.
before=$(catalog_snapshot)
run_fail "$BUCARDO" add customname u u2
expect_err 'customname: table name "u" is ambiguous: it names tables in several schemas \(give schema.table\)'
run_fail "$BUCARDO" add customname public.w w2 sync=s1
expect_err 'customname: sync "s1" does not replicate table public.w'
run_fail "$BUCARDO" add customname public.t t2 sync=s1 db=x
expect_err 'customname: database "x" is not a member of sync "s1"'
run_fail "$BUCARDO" add customcols public.t "SELECT id, nosuchcolumn" db=c
expect_err "does not work on its database"
expect_equal "$before" "$(catalog_snapshot)" "catalog after refused customs"

run_ok "$BUCARDO" start
sql a "insert into t values (1, 1)" >/dev/null
run_ok "$BUCARDO" kick s1 30
expect_equal "1:1" "$(sql b "select string_agg(id || ':' || v, ',' order by id) from t")" "b.t before customs"

# Added while the engine runs: the next cycle uses them.
run_ok "$BUCARDO" add customname public.t t_renamed db=b
expect_equal "Added customname 1 for public.t: t_renamed (db b, sync all)" "$OUT" "add customname"
run_ok "$BUCARDO" add customcols public.t "SELECT id, v * 10 AS v" db=c
expect_equal "Added customcols 1 for public.t: id, v * 10 AS v (db c, sync all)" "$OUT" "add customcols"
run_fail "$BUCARDO" add customname t other_name db=b
expect_err 'customname: table public.t already has one for db b, sync all \(id 1; remove it first\)'
sql a "insert into t values (2, 7)" >/dev/null
run_ok "$BUCARDO" kick s1 30
expect_equal "2:7" "$(sql b "select string_agg(id || ':' || v, ',' order by id) from t_renamed")" "b.t_renamed with customname"
expect_equal "1:1" "$(sql b "select string_agg(id || ':' || v, ',' order by id) from t")" "b.t with customname"
expect_equal "1:1,2:70" "$(sql c "select string_agg(id || ':' || v, ',' order by id) from t")" "c.t with customcols"

# Removed while the engine runs: the next cycle goes without them.
run_ok "$BUCARDO" remove customname 1
run_ok "$BUCARDO" remove customcols 1
sql a "insert into t values (3, 8)" >/dev/null
run_ok "$BUCARDO" kick s1 30
expect_equal "1:1,3:8" "$(sql b "select string_agg(id || ':' || v, ',' order by id) from t")" "b.t after remove customname"
expect_equal "2:7" "$(sql b "select string_agg(id || ':' || v, ',' order by id) from t_renamed")" "b.t_renamed after remove customname"
expect_equal "1:1,2:70,3:8" "$(sql c "select string_agg(id || ':' || v, ',' order by id) from t")" "c.t after remove customcols"

# --- vacuum_after_copy per table; makedelta's hint is a command that works.
run_ok "$BUCARDO" update table public.z db=a makedelta=on
expect_equal "on" "$(sql bucardo "select makedelta from bucardo.relation where db = 'a' and relname = 'z'")" "per-table makedelta"
run_ok "$BUCARDO" update table public.z db=a makedelta=off
expect_equal "" "$(sql bucardo "select makedelta from bucardo.relation where db = 'a' and relname = 'z'")" "per-table makedelta off"
run_ok "$BUCARDO" update db c makedelta=on
run_ok "$BUCARDO" update db c makedelta=off
run_fail "$BUCARDO" update table public.z db=a vacuum_after_copy=maybe
expect_err "vacuum_after_copy: expected a boolean"
run_ok "$BUCARDO" update table public.z db=a vacuum_after_copy=1
expect_out '^Changed table public.z vacuum_after_copy to true$'
expect_equal "t" "$(sql bucardo "select vacuum_after_copy from bucardo.relation where db = 'a' and relname = 'z'")" "relation.vacuum_after_copy"
sql a "insert into z select i, i from generate_series(1, 100) i" >/dev/null
run_ok "$BUCARDO" update sync s3 onetimecopy=1
run_ok "$BUCARDO" kick s3 30
wait_synced a c 10 z
wait_synced a x 10 z
expect_equal "1" "$(sql c "select vacuum_count from pg_stat_user_tables where relname = 'z'")" "VACUUMs of c.z after the copy"
expect_equal "0" "$(sql c "select vacuum_count from pg_stat_user_tables where relname = 't'")" "VACUUMs of c.t (not asked)"

# --- remove db --force: ms (sources a and x) is left with one source and
# no target: deactivated, and says so; s3 goes on with c alone.
sql a "insert into w values (1, 1)" >/dev/null
run_ok "$BUCARDO" kick ms 30
wait_synced a x 10 w
run_fail "$BUCARDO" remove db x
expect_err 'cannot remove database "x": it is used by'
run_ok "$BUCARDO" remove db x --force
expect_equal 'Removed database "x"
Deactivated sync "ms": its dbgroup has no target database
Sync "s3" no longer uses database "x"' "$OUT" "remove db --force output"
expect_equal "inactive" "$(sql bucardo "select status from bucardo.sync where name = 'ms'")" "ms status"
expect_equal "active" "$(sql bucardo "select status from bucardo.sync where name = 's3'")" "s3 status"
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.relation where db = 'x'")" "relations of x"
run_fail "$BUCARDO" validate ms
expect_err 'sync "ms": its dbgroup has no target database'
run_ok "$BUCARDO" status
expect_out "^ ms +\| Inactive "
run_fail "$BUCARDO" activate ms
expect_err 'sync "ms": its dbgroup has no target database'
expect_equal "inactive" "$(sql bucardo "select status from bucardo.sync where name = 'ms'")" "ms status after activate"
# ms, inactive and unable to run, does not block changes to the tables it
# reads: activate checks it again.
run_ok "$BUCARDO" update table public.w db=a rebuild_index=1
expect_out '^Note: sync "ms" is inactive and cannot run as it is \(sync "ms": its dbgroup has no target database\): activate checks it again$'
expect_out '^Changed table public.w rebuild_index to '
expect_equal "1" "$(sql bucardo "select rebuild_index from bucardo.relation where db = 'a' and relname = 'w'")" "rebuild_index of w"
run_fail "$BUCARDO" activate ms
expect_err 'sync "ms": its dbgroup has no target database'
# The engine reloaded: s3 runs without x (before, its worker kept the old
# definition and never recorded a cycle again).
sql a "insert into z values (101, 101)" >/dev/null
run_ok "$BUCARDO" kick s3 30
wait_synced a c 10 z
run_ok "$BUCARDO" status s3
expect_no "Bad"

# A customname hanging on the removed database's registration of a table
# registered elsewhere too moves to another registration.
run_ok "$BUCARDO" add customname public.t t_renamed db=b
psql -X -q -d bucardo -c "UPDATE bucardo.customname SET relation = (SELECT id FROM bucardo.relation WHERE db = 'c' AND relname = 't')" || fail "move customname"
run_ok "$BUCARDO" stop
run_ok "$BUCARDO" remove db c --force
expect_out '^Deactivated sync "s3": its dbgroup has no target database$'
expect_equal "public.t|b|a" "$(sql bucardo "select r.schemaname || '.' || r.relname, c.db, r.db from bucardo.customname c join bucardo.relation r on r.id = c.relation")" "customname kept"
expect_equal "1" "$(sql bucardo "select count(*) from bucardo.customname")" "customnames after removing c"
echo ok
