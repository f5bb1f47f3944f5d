#!/usr/bin/env bash
# `list ... --verbose` in Bucardo's shape, and dbgroup member extras
# (DB:ROLE:pri=N:makedelta=B) through `update dbgroup`, judged by exact
# output lines and by the catalog rows:
#  - list db -v: "  Belongs to dbgroup G (role)  Priority:N" and
#    "  Used in sync S in a role of R"; -vv adds every column, the password
#    hidden;
#  - list sync -v: one "  Table schema.name" line per table, higher
#    priority first; -vv: the sync's columns;
#  - list dbgroup shows ":pri=N"; list relgroup/table -v their members,
#    syncs and per-table options; without -v the lines are as before;
#  - update dbgroup G add DB:t:pri=2, G DB:s:makedelta=1 and G DB:pri=3
#    write role, priority and makedelta; bad extras change nothing.
. "$TESTS_DIR/lib/setup.sh"
test_begin
test_databases "CREATE TABLE t (id int PRIMARY KEY, v int); CREATE TABLE u (id int PRIMARY KEY);
                CREATE SEQUENCE q" a b c
run_ok "$BUCARDO" update db a pass=sekrit
run_ok "$BUCARDO" add sequence public.q db=a relgroup=rg
test_sync s1 rg a:source,b:target
run_ok "$BUCARDO" update table public.u autokick=0 rebuild_index=1
run_ok "$BUCARDO" update relgroup rg remove public.t
run_ok "$BUCARDO" update relgroup rg add public.t
run_ok sql bucardo "UPDATE bucardo.relgroup_member m SET priority = 5 FROM bucardo.relation r
                    WHERE r.id = m.relation AND r.relname = 't' AND m.relgroup = 'rg'"

# --- update dbgroup with Bucardo's member extras.
run_ok "$BUCARDO" add dbgroup g2 a:source b:target
run_ok "$BUCARDO" update dbgroup g2 add c:t:pri=2
expect_equal 'Added database "c" to dbgroup "g2" as target:pri=2' "$OUT" "add with extras"
expect_equal "c|target|2|f" "$(sql bucardo "select db, role, priority, makedelta from bucardo.dbgroup_member where dbgroup = 'g2' and db = 'c'")" "member c"
run_ok "$BUCARDO" update dbgroup g2 b:s:makedelta=1
expect_equal 'Changed database "b" in dbgroup "g2" from target to source:makedelta=1' "$OUT" "role and makedelta"
expect_equal "b|source|0|t" "$(sql bucardo "select db, role, priority, makedelta from bucardo.dbgroup_member where dbgroup = 'g2' and db = 'b'")" "member b"
# DB:pri=N keeps the role.
run_ok "$BUCARDO" update dbgroup g2 c:pri=7
expect_equal "c|target|7|f" "$(sql bucardo "select db, role, priority, makedelta from bucardo.dbgroup_member where dbgroup = 'g2' and db = 'c'")" "member c, pri only"
run_ok "$BUCARDO" update dbgroup g2 c:pri=7
expect_equal 'Database "c" is already target:pri=7 in dbgroup "g2"' "$OUT" "no change"
before=$(catalog_snapshot)
run_fail "$BUCARDO" update dbgroup g2 c:t:foo=1
expect_err 'unknown member setting "foo"'
run_fail "$BUCARDO" update dbgroup g2 c:t:pri=x
expect_err 'pri: expected a whole number'
run_fail "$BUCARDO" update dbgroup g2 c:q:pri=1
expect_err 'invalid role "q"'
run_fail "$BUCARDO" update dbgroup g2 add c:t:pri=1
expect_err 'already in dbgroup'
run_fail "$BUCARDO" update dbgroup g2 add nosuch:t:pri=1
expect_err 'no database named "nosuch"'
expect_equal "$before" "$(catalog_snapshot)" "catalog after refused updates"

# --- list dbgroup: priorities as Bucardo's ":pri=N".
run_ok "$BUCARDO" list dbgroup g2
expect_equal "dbgroup: g2  Members: a:source b:source c:target:pri=7" "$OUT" "list dbgroup"
run_ok "$BUCARDO" list dbgroup g2 -vv
expect_out '^    name    = g2$'
expect_out '^    created = '

# --- list db: plain unchanged, -v the memberships, -vv the columns.
run_ok "$BUCARDO" list db c
expect_equal "Database: c  Status: active  Conn: psql -U bucardo -d c" "$OUT" "list db c"
run_ok "$BUCARDO" list db a --verbose
expect_equal "Database: a  Status: active  Conn: psql -U bucardo -d a
  Belongs to dbgroup g2 (source)
  Belongs to dbgroup s1 (source)
  Used in sync s1 in a role of source" "$OUT" "list db a -v"
run_ok "$BUCARDO" list db c -v
expect_equal "Database: c  Status: active  Conn: psql -U bucardo -d c
  Belongs to dbgroup g2 (target)  Priority:7" "$OUT" "list db c -v"
run_ok "$BUCARDO" list db a -vv
expect_out '^    dbname    = a$'
expect_out '^    dbpass    = \(hidden\)$'
expect_out '^    status    = active$'
expect_no sekrit

# --- list sync: -v the tables (priority 5 first), -vv the columns.
run_ok "$BUCARDO" list sync s1
expect_equal 'Sync "s1"  Relgroup "rg"  DB group "s1" a:source b:target  [Active]' "$OUT" "list sync"
run_ok "$BUCARDO" list sync s1 -v
expect_equal 'Sync "s1"  Relgroup "rg"  DB group "s1" a:source b:target  [Active]
  Table public.t
  Sequence public.q
  Table public.u' "$OUT" "list sync -v"
run_ok "$BUCARDO" list sync s1 --vv
expect_out '^    conflict_strategy += bucardo_latest$'
expect_out '^    relgroup += rg$'
[ "$(printf '%s\n' "$OUT" | grep -c '^    [a-z_]* *= ')" -ge 20 ] || fail "list sync -vv: too few columns:
$OUT"

# --- list relgroup / table / sequence -v.
run_ok "$BUCARDO" list relgroup rg -v
expect_out '^  Table public.t  DB: a  Priority: 5$'
expect_out '^  Table public.u  DB: a  Priority: 0$'
expect_out '^  Sequence public.q  DB: a  Priority: 0$'
run_ok "$BUCARDO" list tables -v
expect_out '^  Relgroups: rg  Syncs: s1  autokick:false  rebuild_index:1$'
expect_out '^  Relgroups: rg  Syncs: s1$'
run_ok "$BUCARDO" list tables
expect_no "Relgroups:"
run_ok "$BUCARDO" list sequences -vv
expect_out '^  Relgroups: rg  Syncs: s1$'
expect_out '^    kind += sequence$'
echo "PASS"
