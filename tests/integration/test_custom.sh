#!/usr/bin/env bash
# customname: a table with another name on one target; customcols: a target
# that receives a subset of the columns and an expression.  Proven on the
# data after inserts, updates, deletes, and a onetimecopy.
. "$TESTS_DIR/lib/setup.sh"
test_begin
test_databases "CREATE TABLE t (id int PRIMARY KEY, name text, secret text, n int)" src
test_databases "CREATE SCHEMA other; CREATE TABLE other.\"T two\" (id int PRIMARY KEY, name text, secret text, n int)" renamed
test_databases "CREATE TABLE t (id int PRIMARY KEY, name text)" slim
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add customname t 'other.T two' db=renamed
expect_out "Added customname 1 for public.t: other.T two \(db renamed, sync all\)"
run_fail "$BUCARDO" add customcols t "SELECT id, nosuchcolumn" db=slim
expect_err "does not work"
run_ok "$BUCARDO" add customcols t "SELECT id, upper(name) AS name" db=slim
run_ok "$BUCARDO" list customnames
expect_out "^1\. Table: public\.t  Name: other\.T two  DB: renamed  Sync: all"
run_ok "$BUCARDO" list customcols
expect_out "Columns: id, upper\(name\) AS name  DB: slim"
run_fail "$BUCARDO" add customname t x db=nosuchdb
expect_err 'no database named "nosuchdb"'

run_ok "$BUCARDO" add sync s relgroup=rg dbs=src,renamed,slim
run_ok "$BUCARDO" start
sql src "insert into t select i, 'name ' || i, 'secret', i from generate_series(1, 100) i" >/dev/null
sql src "update t set name = 'changed' where id <= 10; delete from t where id > 90" >/dev/null
expected_slim=$(sql src "select string_agg(id || ':' || upper(name), ',' order by id) from t")
for _ in $(seq 100); do
    [ "$(sql slim "select string_agg(id || ':' || name, ',' order by id) from t")" = "$expected_slim" ] && break
    sleep 0.1
done
expect_equal "$expected_slim" "$(sql slim "select string_agg(id || ':' || name, ',' order by id) from t")" "customcols target"
for _ in $(seq 100); do
    [ "$(table_digest src t)" = "$(table_digest renamed 'other."T two"')" ] && break
    sleep 0.1
done
expect_equal "$(table_digest src t)" "$(table_digest renamed 'other."T two"')" "customname target"

# A onetimecopy uses the custom names and columns too.
sql renamed 'truncate other."T two"' >/dev/null
sql slim 'truncate t' >/dev/null
run_ok "$BUCARDO" update sync s onetimecopy=1
run_ok "$BUCARDO" kick s 30
expect_out DONE
expect_equal "$(table_digest src t)" "$(table_digest renamed 'other."T two"')" "customname after onetimecopy"
expect_equal "$expected_slim" "$(sql slim "select string_agg(id || ':' || name, ',' order by id) from t")" "customcols after onetimecopy"
run_ok "$BUCARDO" remove customcols 1
run_ok "$BUCARDO" stop
echo ok
