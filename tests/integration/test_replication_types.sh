#!/usr/bin/env bash
# One source, two targets: inserts, updates (key-changing too), deletes and
# TRUNCATE on tables with multi-column and text keys, NULLs, bytea, json,
# arrays, regclass and aclitem, and TRUNCATE of tables that foreign keys reference (parent, and on
# t1 a table outside the sync too).  After each step every target's
# contents equal the source's.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="
CREATE TABLE multi (a int, b text, v numeric, note text, PRIMARY KEY (a, b));
CREATE TABLE texty (k text PRIMARY KEY, data bytea, doc jsonb, tags text[], j json, ts timestamptz,
                    rc regclass, acl aclitem[]);
CREATE TABLE \"Odd \"\"name\"\"\" (\"Key Col\" bigint PRIMARY KEY, \"select\" text);
CREATE TABLE parent (id int PRIMARY KEY, name text);
CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent);"
test_databases "$SCHEMA" src t1 t2
psql -X -q -d t1 -c "CREATE TABLE local_ref (p int REFERENCES parent)" || fail "local_ref on t1"
test_sync s1 rg src,t1,t2
run_ok "$BUCARDO" start
TABLES=(multi texty '"Odd ""name"""' parent child)
check() {
    wait_synced src t1 20 "${TABLES[@]}"
    wait_synced src t2 20 "${TABLES[@]}"
}

psql -X -q -d src <<'SQL' || fail "inserts"
INSERT INTO multi SELECT i, 'k' || i, i * 1.5, CASE WHEN i % 3 = 0 THEN NULL ELSE 'n' END FROM generate_series(1, 500) i;
INSERT INTO texty VALUES ('a', '\x00ff10'::bytea, '{"x": [1, 2, {"y": null}]}', '{one,"two words",NULL}', '{"k": "v"}', '2026-03-29 01:30:00+01'),
                         ('tab	and
newline', NULL, NULL, NULL, NULL, NULL),
                         ('ünïcødé 🐘', decode(repeat('00ff7f80', 1000), 'hex'), '[]', '{}', 'null', 'infinity');
INSERT INTO "Odd ""name""" VALUES (1, 'x'), (2, NULL), (9223372036854775807, 'max');
SQL
check

psql -X -q -d src <<'SQL' || fail "updates"
UPDATE multi SET v = v + 1 WHERE a % 2 = 0;
UPDATE multi SET a = a + 1000 WHERE a % 7 = 0;            -- key change
UPDATE multi SET b = b || '-moved' WHERE a BETWEEN 10 AND 20; -- key change on the text part
UPDATE texty SET k = 'b' WHERE k = 'a';                    -- key change
UPDATE texty SET doc = '{"changed": true}' WHERE k LIKE 'ü%';
-- an object's OID differs between databases (its name does not); aclitem has no binary form
UPDATE texty SET rc = 'multi', acl = '{postgres=r/postgres}' WHERE k LIKE 'ü%';
UPDATE "Odd ""name""" SET "select" = 'quoted' WHERE "Key Col" = 2;
SQL
check

psql -X -q -d src <<'SQL' || fail "deletes"
DELETE FROM multi WHERE a % 5 = 0;
DELETE FROM texty WHERE k = 'b';
BEGIN; INSERT INTO multi VALUES (-1, 'rolled back', 0, NULL); ROLLBACK;
SQL
check
[ "$(sql t1 "select count(*) from multi where a = -1")" = 0 ] || fail "a rolled-back insert reached the target"

psql -X -q -d src -c 'TRUNCATE multi' || fail truncate
psql -X -q -d src -c "INSERT INTO multi VALUES (1, 'after truncate', 1, 'x')" || fail "insert after truncate"
check

# PostgreSQL refuses TRUNCATE parent alone while child's (or local_ref's)
# foreign key references it: the targets empty it with DELETE instead.
psql -X -q -d src -c "INSERT INTO parent SELECT i, 'p' || i FROM generate_series(1, 50) i;
                      INSERT INTO child SELECT i, i FROM generate_series(1, 50) i" || fail "parents"
check
psql -X -q -d src -c "TRUNCATE child, parent; INSERT INTO parent VALUES (7, 'again'); INSERT INTO child VALUES (70, 7)" \
    || fail "truncate parent"
check

# Nothing echoes: the targets' capture is not installed and the source's
# delta tables are purged once applied.
run_ok "$BUCARDO" kick s1 10
expect_out "DONE"
[ "$(sql src "select count(*) from bucardo.truncate_log")" = 0 ] || fail "truncate_log not purged"
[ "$(sql src "select count(*) from pg_tables where schemaname = 'bucardo' and tablename like 'delta%'")" = 5 ] || fail "expected 5 delta tables"
while IFS= read -r q; do
    [ "$(sql src "$q")" = 0 ] || fail "delta table not purged: $q"
done < <(sql src "select format('select count(*) from bucardo.%I', tablename) from pg_tables
                   where schemaname = 'bucardo' and tablename like 'delta%'")
run_ok "$BUCARDO" stop
echo ok
