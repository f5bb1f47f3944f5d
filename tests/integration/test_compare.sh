#!/usr/bin/env bash
# bucardo compare: equal tables exit 0; on a 1,000,000-row table a single
# changed byte, a missing row and an extra row on the target (changed with
# session_replication_role = replica, so capture records nothing) are named
# by key with exit 1; a composite key, awkward key text and column names;
# --json parses; --repair plus a kick makes the tables equal again; two
# targets with customname and customcols; a SQLite target read back row
# by row beside a PostgreSQL one; errors exit 2 and name what
# failed.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="
CREATE TABLE big (id int NOT NULL, payload text, n numeric, ts timestamptz) WITH (autovacuum_enabled = off);
CREATE TABLE multi (a int, b text, v text, PRIMARY KEY (a, b));
CREATE TABLE \"Odd \"\"name\"\"\" (\"Key Col\" text PRIMARY KEY, doc jsonb, raw bytea, \"@RANGE@\" text DEFAULT 'x');"
DATA="
INSERT INTO big SELECT i, 'payload ' || i, i * 1.5, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second'
  FROM generate_series(1, 1000000) i;
ALTER TABLE big ADD PRIMARY KEY (id);
INSERT INTO multi SELECT i / 10, 'k' || (i % 10), repeat('v', i % 7) FROM generate_series(1, 20000) i;
INSERT INTO \"Odd \"\"name\"\"\" VALUES ('plain', '{\"a\": 1}', '\\x00ff'), ('with space', NULL, NULL),
  ('it''s \"quoted\", too', '[1, 2]', '\\x'), ('ünï 🐘', '{}', '\\x7f');"
createdb src && psql -X -q -v ON_ERROR_STOP=1 -d src -c "$SCHEMA" -c "$DATA" || fail "schema and data on src"
createdb -T src t1 || fail "createdb t1"
# t1's columns in another order: compare goes by column name.
psql -X -q -v ON_ERROR_STOP=1 -d t1 -c 'ALTER TABLE multi DROP COLUMN v' -c 'ALTER TABLE multi ADD COLUMN v text' \
    -c "UPDATE multi SET v = repeat('v', (a * 10 + substr(b, 2)::int) % 7)" || fail "reorder columns on t1"
run_ok "$BUCARDO" add database src dbname=src
run_ok "$BUCARDO" add database t1 dbname=t1
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add sync s1 relgroup=rg dbs=src,t1 autokick=0

# Equal.
run_rc 0 "$BUCARDO" compare s1
expect_out '^Table public.big: equal \(1000000 rows, [0-9.]+ s, [0-9]+ rows/s\)$'
expect_out '^Table public.multi: equal \(20000 rows'
expect_out '^Table public."?Odd'
[ "$(printf '%s\n' "$OUT" | grep -c ': equal (')" = 3 ] || fail "expected 3 equal tables:
$OUT"

# One byte of one row, one missing row, one extra row on the target.
target() { psql -X -q -v ON_ERROR_STOP=1 -d t1 -c 'SET session_replication_role = replica' -c "$1" || fail "on t1: $1"; }
target "UPDATE big SET payload = overlay(payload PLACING 'X' FROM 3 FOR 1) WHERE id = 777777"
run_rc 1 "$BUCARDO" compare s1 big
expect_equal "Table public.big: 1 difference (1 different on t1)" "$(printf '%s\n' "$OUT" | head -1 | sed 's/ (1000000 rows.*//')" "summary line"
expect_equal "  different on t1: id=777777" "$(printf '%s\n' "$OUT" | sed -n 2p)" "the changed key"
[ "$(printf '%s\n' "$OUT" | wc -l)" = 2 ] || fail "one table, one key expected:
$OUT"
# From here on big has statistics: its first ranges come from their
# histogram instead of boundaries each server finds (both ways are tested).
psql -X -q -d src -c 'ANALYZE big' || fail "analyze big"
target "DELETE FROM big WHERE id = 4242"
target "INSERT INTO big VALUES (1000001, 'extra', 0, now())"
# Composite key, and keys that need quoting.
target "DELETE FROM multi WHERE a = 5 AND b = 'k3'"
target "UPDATE multi SET v = v || '!' WHERE a = 1234 AND b = 'k7'"
target "INSERT INTO multi VALUES (1234, 'k10', 'new')"
target "UPDATE \"Odd \"\"name\"\"\" SET doc = '{\"a\": 2}' WHERE \"Key Col\" = 'it''s \"quoted\", too'"
target "DELETE FROM \"Odd \"\"name\"\"\" WHERE \"Key Col\" = 'ünï 🐘'"
run_rc 1 "$BUCARDO" compare s1
expect_out '^Table public.big: 3 differences \(1 missing on t1, 1 extra on t1, 1 different on t1\) \(1000000 rows'
expect_out '^  missing on t1: id=4242$'
expect_out '^  extra on t1: id=1000001$'
expect_out '^  different on t1: id=777777$'
expect_out '^Table public.multi: 3 differences \(1 missing on t1, 1 extra on t1, 1 different on t1\) \(20000 rows'
expect_out '^  missing on t1: a=5, b=k3$'
expect_out '^  extra on t1: a=1234, b=k10$'
expect_out '^  different on t1: a=1234, b=k7$'
expect_out '^Table public.Odd "name": 2 differences \(1 missing on t1, 1 different on t1\) \(4 rows'
expect_out "^  different on t1: Key Col='it''s \"quoted\", too'$"
expect_out "^  missing on t1: Key Col='ünï 🐘'$"
[ "$(printf '%s\n' "$OUT" | wc -l)" = 11 ] || fail "3 tables, 8 keys expected:
$OUT"

# JSON: one document with every key; --repair queues the keys (committed)
# and kicks the sync; the engine applies them, and then all is equal.
run_rc 1 "$BUCARDO" compare s1 --json --repair
printf '%s\n' "$OUT" | python3 -m json.tool >/dev/null || fail "--json output does not parse:
$OUT"
printf '%s\n' "$OUT" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["sync"] == "s1" and doc["source"] == "src" and doc["equal"] is False, doc
assert doc["repaired"] == 8, doc
t = {x["table"]: x for x in doc["tables"]}
big = t["public.big"]
assert big["status"] == "different" and big["rows"] == 1000000 and big["key"] == ["id"], big
big = big["targets"][0]
assert big["target"] == "t1" and big["rows"] == 1000000, big
assert big["missing"] == [{"id": "4242"}] and big["extra"] == [{"id": "1000001"}], big
assert big["different"] == [{"id": "777777"}], big
odd = t["public.Odd \"name\""]["targets"][0]
assert odd["different"] == [{"Key Col": "it'"'"'s \"quoted\", too"}], odd
assert odd["missing"] == [{"Key Col": "ünï 🐘"}], odd
multi = t["public.multi"]
assert multi["status"] == "different" and multi["rows"] == 20000 and multi["key"] == ["a", "b"], multi
assert multi["targets"][0]["extra"] == [{"a": "1234", "b": "k10"}], multi
' || fail "--json content:
$OUT"
[ "$(sql src "SELECT count(*) FROM bucardo.$(sql src "SELECT quote_ident(relname) FROM pg_class
    WHERE relnamespace = 'bucardo'::regnamespace AND relname LIKE 'delta_big_%'") WHERE id IN (4242, 1000001, 777777)")" = 3 ] ||
    fail "the repair did not queue the keys of big"
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick s1 0
run_rc 0 "$BUCARDO" compare s1
[ "$(printf '%s\n' "$OUT" | grep -c ': equal (')" = 3 ] || fail "not equal after repair:
$OUT"
[ "$(sql t1 "SELECT payload FROM big WHERE id = 777777")" = "$(sql src "SELECT payload FROM big WHERE id = 777777")" ] ||
    fail "id 777777 not repaired"
[ "$(sql t1 "SELECT count(*) FROM big WHERE id = 1000001")" = 0 ] || fail "extra row not deleted"
run_ok "$BUCARDO" stop

# A target that is empty: every key is missing.
target 'TRUNCATE multi'
run_rc 1 "$BUCARDO" compare s1 multi
expect_out '^Table public.multi: 20000 differences \(20000 missing on t1\)'
expect_out '^  \.\.\. and 19000 more \(--json lists them all\)$'

# Two targets, one knowing the table by another name (customname), one
# receiving a select list of it (customcols): each is compared as it
# replicates.  A change on one target is named on that target only.
psql -X -q -v ON_ERROR_STOP=1 -d src -c "CREATE TABLE cust (id int PRIMARY KEY, name text, secret text);
    INSERT INTO cust SELECT i, 'name ' || i, md5(i::text) FROM generate_series(1, 5000) i" || fail "cust on src"
psql -X -q -v ON_ERROR_STOP=1 -d t1 -c "CREATE TABLE cust_copy (secret text, name text, id int PRIMARY KEY);
    INSERT INTO cust_copy SELECT md5(i::text), 'name ' || i, i FROM generate_series(1, 5000) i" || fail "cust on t1"
createdb t2 && psql -X -q -v ON_ERROR_STOP=1 -d t2 -c "CREATE TABLE cust (id int PRIMARY KEY, name text);
    INSERT INTO cust SELECT i, upper('name ' || i) FROM generate_series(1, 5000) i" || fail "cust on t2"
run_ok "$BUCARDO" add database t2 dbname=t2
run_ok "$BUCARDO" add table cust db=src relgroup=rg2
run_ok "$BUCARDO" add sync s2 relgroup=rg2 dbs=src,t1,t2 autokick=0
run_ok "$BUCARDO" add customname cust cust_copy db=t1 sync=s2
run_ok "$BUCARDO" add customcols cust "SELECT id, upper(name) AS name" db=t2 sync=s2
run_rc 0 "$BUCARDO" compare s2
expect_out '^Table public.cust: equal \(5000 rows'
psql -X -q -v ON_ERROR_STOP=1 -d t2 -c "UPDATE cust SET name = lower(name) WHERE id = 4321" || fail "change on t2"
run_rc 1 "$BUCARDO" compare s2
expect_out '^Table public.cust: 1 difference \(1 different on t2\) \(5000 rows'
expect_out '^  different on t2: id=4321$'

# A SQLite target beside a PostgreSQL one (a key of two columns): read
# back row by row; equal, then differences made on SQLite named, by key,
# in text and JSON; the PostgreSQL target is still compared by digests.
command -v sqlite3 >/dev/null || fail "sqlite3 (the sqlite3 package) is needed"
LITE=$TEST_DIR/lite.db
{
    echo "CREATE TABLE multi (a integer, b text, v text, PRIMARY KEY (a, b)); BEGIN;"
    sql src "SELECT format('INSERT INTO multi VALUES (%s, %L, %L);', a, b, v) FROM multi"
    echo "COMMIT;"
} >"$TEST_DIR/multi.sql"
sqlite3 "$LITE" <"$TEST_DIR/multi.sql" || fail "multi on SQLite"
psql -X -q -v ON_ERROR_STOP=1 -d t2 -f "$TEST_DIR/multi.sql" || fail "multi on t2"
run_ok "$BUCARDO" add database lite type=sqlite dbname="$LITE"
run_ok "$BUCARDO" add table multi db=src relgroup=rg3
run_ok "$BUCARDO" add sync s3 relgroup=rg3 dbs=src:source,t2:target,lite:target autokick=0
run_rc 0 "$BUCARDO" compare s3 multi
expect_out '^Table public.multi: equal \(20000 rows'
sqlite3 "$LITE" "UPDATE multi SET v = NULL WHERE a = 5 AND b = 'k3'; DELETE FROM multi WHERE a = 7 AND b = 'k1';
                 INSERT INTO multi VALUES (-1, 'x y', 'z')" || fail "changes on SQLite"
run_rc 1 "$BUCARDO" compare s3 multi
expect_out '^Table public.multi: 3 differences \(1 missing on lite, 1 extra on lite, 1 different on lite\)'
expect_out '^  missing on lite: a=7, b=k1$'
expect_out "^  extra on lite: a=-1, b='x y'$"
expect_out '^  different on lite: a=5, b=k3$'
run_rc 1 "$BUCARDO" compare s3 multi --json
printf '%s\n' "$OUT" | python3 -c '
import json, sys
g = {x["target"]: x for x in json.load(sys.stdin)["tables"][0]["targets"]}
assert g["lite"]["missing"] == [{"a": "7", "b": "k1"}], g["lite"]
assert g["t2"]["different"] == [] and g["t2"]["rows"] == 20000, g["t2"]
' || fail "compare --json: SQLite's missing key, the PostgreSQL target equal:
$OUT"

# Errors: exit 2, naming what failed.
run_rc 2 "$BUCARDO" compare nosuch
expect_err 'no sync named "nosuch"'
run_rc 2 "$BUCARDO" compare s1 nosuch
expect_err 'sync s1 has no table "nosuch"'
target 'DROP TABLE multi'
run_rc 2 "$BUCARDO" compare s1 multi
expect_err 'sync s1: table public.multi: database t1: .*does not exist \(SQLSTATE 42P01\)'
run_rc 2 "$BUCARDO" compare
expect_err 'usage: bucardo compare SYNC'
echo ok
