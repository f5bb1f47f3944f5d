#!/usr/bin/env bash
# The writer sends a unit's changed keys as one INSERT ... VALUES built from
# the keys' COPY text (engine/cycle/target_writer.c, hold_keys), and falls
# back to the COPY itself above 256 kB of keys.  Both paths with keys COPY
# text must escape: backslashes, tabs, newlines, carriage returns, the two
# characters \N (a value, not NULL), quotes, a dollar-quote look-alike,
# semicolons (the writer counts statements by semicolons outside quotes),
# non-ASCII, and a multi-column key with a NULL-free timestamptz and
# numeric part.  Inserts, updates and deletes of those keys reach the
# target exactly (table digests), first in small units (VALUES), then in
# one unit of over 256 kB of keys (the COPY), then small again.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="
CREATE TABLE odd (k text PRIMARY KEY, v int);
CREATE TABLE multi (a timestamptz, b numeric, c text, v text, PRIMARY KEY (a, b, c));"
test_databases "$SCHEMA" src tgt
test_sync s rg src,tgt
run_ok "$BUCARDO" start
TABLES=(odd multi)
check() {
    wait_synced src tgt 60 "${TABLES[@]}"
    expect_equal "$(table_digest src odd)" "$(table_digest tgt odd)" "$1: odd"
    expect_equal "$(table_digest src multi)" "$(table_digest tgt multi)" "$1: multi"
}

# 1. Small units: the keys go as VALUES.
psql -X -q -v ON_ERROR_STOP=1 -d src <<'SQL' || fail "small inserts"
INSERT INTO odd VALUES (E'back\\slash', 1), (E'tab\there', 2), (E'new\nline', 3), (E'cr\rhere', 4),
    (E'\\N', 5), ('N', 6), ('it''s', 7), ('"dq"', 8), ('$x$ body $x$', 9), ('a;b; c', 10),
    ('ünïcødé 🐘', 11), (E'\\x41 not hex', 12), (E'\\101 not octal', 13), ('', 14), (' ', 15);
INSERT INTO multi VALUES ('2026-03-29 01:30:00+01', 1.50, E'x\ty', 'one'), ('infinity', -0.0001, ';', 'two'),
    ('-infinity', 1e20, E'\\', 'three');
SQL
check "small inserts"
psql -X -q -v ON_ERROR_STOP=1 -d src <<'SQL' || fail "small updates"
UPDATE odd SET v = v + 100;
UPDATE odd SET k = k || E'\t;moved' WHERE v % 2 = 0;   -- key change
DELETE FROM odd WHERE k = E'\\N';
UPDATE multi SET v = v || '!' WHERE c = ';';
DELETE FROM multi WHERE c = E'\\';
SQL
check "small updates"
[ "$(sql tgt "select count(*) from odd where k = E'N\\t;moved'")" = 1 ] || fail "the moved key 'N<tab>;moved' is missing on tgt"
[ "$(sql tgt "select count(*) from odd where k = E'\\\\N'")" = 0 ] || fail "the deleted key \\N is still on tgt"

# 2. One unit with over 256 kB of keys (6,000 keys of ~100 bytes with
#    escapes): the writer sends the keys' COPY as it came.
psql -X -q -v ON_ERROR_STOP=1 -d src -c "INSERT INTO odd SELECT E'bulk\\\\' || i || E'\\t' || repeat('ü', 40) || E'\\n' || md5(i::text), i
                                          FROM generate_series(1, 6000) i" || fail "bulk insert"
check "a large unit"
psql -X -q -v ON_ERROR_STOP=1 -d src -c "UPDATE odd SET v = -v WHERE k LIKE 'bulk%'" || fail "bulk update"
check "a large unit of updates"

# 3. Small again, after the large one.
psql -X -q -v ON_ERROR_STOP=1 -d src -c "DELETE FROM odd WHERE k LIKE E'bulk\\\\1%'; UPDATE odd SET v = 0 WHERE k = 'a;b; c'" ||
    fail "small changes after"
check "small changes after the large unit"
[ "$(sql tgt "select count(*) from odd")" = "$(sql src "select count(*) from odd")" ] || fail "row counts differ"
run_ok "$BUCARDO" stop
echo ok
