#!/usr/bin/env bash
# The tutorial's commands up to `bucardo list tables`, verbatim, against a
# private cluster: each prints what the tutorial shows (connection details
# aside), and the catalog holds what they describe.
. "$TESTS_DIR/lib/setup.sh"
test_begin --no-install

run_ok "$BUCARDO" --version
expect_equal "bucardo version 5.6.0" "$OUT" "bucardo --version"

mkdir -p "$TEST_DIR/piddir"
OUT=$(echo p | "$BUCARDO" install --piddir="$TEST_DIR/piddir") || fail "install failed: $OUT"
expect_out "^Enter a number to change it, P to proceed, or Q to quit:"
expect_out "^Installation is now complete\.$"
expect_equal "$TEST_DIR/piddir" "$(sql bucardo "select setting from bucardo.config where name = 'piddir'")" "piddir"

createdb test1 && createdb test2 || fail createdb
pgbench -i -q test1 >/dev/null 2>&1 && pgbench -i -q test2 >/dev/null 2>&1 || fail "pgbench -i"

run_ok "$BUCARDO" add database test1 dbname=test1
expect_equal 'Added database "test1"' "$OUT" "add database"
run_ok "$BUCARDO" add database test2 dbname=test2

run_ok "$BUCARDO" add all tables db=test1 -T pgbench_history --relgroup=pgbench --verbose
expect_equal "Creating relgroup: pgbench
Added table public.pgbench_accounts to relgroup pgbench
Added table public.pgbench_branches to relgroup pgbench
Added table public.pgbench_tellers to relgroup pgbench
New tables:
  public.pgbench_accounts
  public.pgbench_branches
  public.pgbench_tellers
New tables added: 3" "$OUT" "add all tables"

run_ok "$BUCARDO" add sync benchdelta relgroup=pgbench dbs=test1,test2
expect_equal 'Added sync "benchdelta"
Created a new dbgroup named "benchdelta"' "$OUT" "add sync"

run_ok "$BUCARDO" list dbs
expect_equal "Database: test1  Status: active  Conn: psql -U bucardo -d test1
Database: test2  Status: active  Conn: psql -U bucardo -d test2" "$OUT" "list dbs"

run_ok "$BUCARDO" list dbgroups
expect_equal "dbgroup: benchdelta  Members: test1:source test2:target" "$OUT" "list dbgroups"

run_ok "$BUCARDO" list relgroups
expect_equal "Relgroup: pgbench  DB: test1  Members: public.pgbench_accounts, public.pgbench_branches, public.pgbench_tellers
  Used in syncs: benchdelta" "$OUT" "list relgroups"

run_ok "$BUCARDO" list syncs
expect_equal 'Sync "benchdelta"  Relgroup "pgbench"  DB group "benchdelta" test1:source test2:target  [Active]' "$OUT" "list syncs"

run_ok "$BUCARDO" list tables
expect_equal "1. Table: public.pgbench_accounts  DB: test1  PK: aid (integer)
2. Table: public.pgbench_branches  DB: test1  PK: bid (integer)
3. Table: public.pgbench_tellers   DB: test1  PK: tid (integer)" "$OUT" "list tables"

# The catalog holds what the output says.
expect_equal "benchdelta|pgbench|benchdelta|active|t|0|bucardo_latest" \
    "$(sql bucardo "select name, relgroup, dbgroup, status, autokick, onetimecopy, conflict_strategy from bucardo.sync")" "sync row"
expect_equal "test1|source|1
test2|target|2" "$(sql bucardo "select db, role, position from bucardo.dbgroup_member order by position")" "dbgroup members"
echo "ok"
