#!/usr/bin/env bash
# The type round trip for a Firebird target (a Firebird 3 server this test
# starts): what arrives exactly, what is refused and how.
#
# One column per PostgreSQL type class, each in the Firebird type that
# holds it (numeric(18,6), double precision, float, smallint, bigint,
# boolean, timestamp - timestamptz as UTC -, date, time, blob sub_type
# binary, blob sub_type text, varchar), and every other class (intervals,
# arrays, ranges, enums, inet, jsonb, xml...) in a varchar as its
# PostgreSQL text; read back exactly (tests/lib/fb_dump.c) and compared
# value by value.  Refused by validate, naming table, column and both
# types: numeric without precision, numeric wider than Firebird's 18
# digits, float8 into FLOAT, timestamp with 6 fractional digits (Firebird
# keeps 4), timetz into TIME, text into INTEGER.  Refused when applied,
# naming table and column, the unit rolled back and retried until the
# source changes: NaN, and text longer than its varchar.  `compare` finds
# the table equal (each class in its canonical text).
. "$TESTS_DIR/lib/setup.sh"
. "$TESTS_DIR/lib/servers.sh"
test_begin
firebird_start fb
SCHEMA=$(cat <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s "q"');
CREATE TABLE ty (
    id int PRIMARY KEY,
    n numeric(18,6), f8 float8, f4 float4, f4d float4, i2 smallint, i4 int, i8 bigint, bo boolean,
    ts timestamp(4), tz timestamptz(4), d date, tm time(4), by bytea,
    tx text, vc varchar(20), js json,
    iv interval, ai int[], jb jsonb, r int4range, e mood, u uuid, ip inet, x xml, pt point, m money, b bit(4)
);
CREATE TABLE refused (id int PRIMARY KEY, n numeric, w numeric(20,2), f float8, ts6 timestamp, ttz timetz, t text);
SQL
)
test_databases "$SCHEMA" src
psql -X -q -d postgres -c "ALTER DATABASE src SET TimeZone = 'America/New_York'" || fail "source time zone"
FB_SCHEMA=$(cat <<'SQL'
CREATE TABLE ty (
    id integer NOT NULL PRIMARY KEY,
    n numeric(18,6), f8 double precision, f4 float, f4d double precision, i2 smallint, i4 integer, i8 bigint,
    bo boolean, ts timestamp, tz timestamp, d date, tm time, "BY" blob sub_type binary,
    tx blob sub_type text, vc varchar(20), js varchar(200),
    iv varchar(100), ai varchar(40), jb blob sub_type text, r varchar(50), e varchar(30), u char(36),
    ip varchar(50), x varchar(100), pt varchar(50), m varchar(30), b char(4));
CREATE TABLE refused (id integer NOT NULL PRIMARY KEY, n numeric(18,6), w decimal(18,2), f float, ts6 timestamp,
    ttz time, t integer);
SQL
)
firebird_sql fb "$FB_SCHEMA" || fail "Firebird tables"
run_ok "$BUCARDO" add db fb type=firebird dbname="$FIREBIRD_DB" host=127.0.0.1 port="$FIREBIRD_PORT" \
    user="$FIREBIRD_USER" pass="$FIREBIRD_PASS"
run_ok "$BUCARDO" add table ty db=src relgroup=rg
run_ok "$BUCARDO" add table refused db=src relgroup=rgr
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src:source,fb:target
run_ok "$BUCARDO" validate s

# Refusals by validate, one column at a time (each fixed after its check).
run_ok "$BUCARDO" add sync r relgroup=rgr dbs=src:source,fb:target
refix() { firebird_sql fb "ALTER TABLE refused DROP $1; ALTER TABLE refused ADD $1 $2;" || fail "ALTER $1"; }
run_fail "$BUCARDO" validate r
expect_err 'target fb \(firebird\): table refused column n: Firebird type NUMERIC\(18,6\) cannot hold every numeric'
refix n "varchar(1100)"
run_fail "$BUCARDO" validate r
expect_err 'table refused column w: Firebird type DECIMAL\(18,2\) cannot hold PostgreSQL type numeric\(20,2\) \(Firebird.s numerics stop at 18 digits\)'
refix w "varchar(30)"
run_fail "$BUCARDO" validate r
expect_err 'table refused column f: Firebird type FLOAT cannot hold PostgreSQL type double precision exactly'
refix f "double precision"
run_fail "$BUCARDO" validate r
expect_err 'table refused column ts6: Firebird type TIMESTAMP keeps 4 fractional digits of a second, PostgreSQL type timestamp without time zone 6'
refix ts6 "varchar(40)"
run_fail "$BUCARDO" validate r
expect_err 'table refused column ttz: Firebird type TIME cannot hold PostgreSQL type time with time zone exactly'
refix ttz "varchar(40)"
run_fail "$BUCARDO" validate r
expect_err 'table refused column t: Firebird type INTEGER cannot hold PostgreSQL type text exactly'
refix t "blob sub_type text"
run_ok "$BUCARDO" validate r
run_ok "$BUCARDO" remove sync r

run_ok "$BUCARDO" start
psql -X -q -d src <<'SQL' || fail "inserts"
INSERT INTO ty (id) VALUES (1);
INSERT INTO ty VALUES (2, 123456789012.123456, 1.7976931348623157e308, 3.4028235e38, 3.4028235e38, -32768, -2147483648,
    -9223372036854775808, true,
    '2024-03-10 01:59:59.9999', '2024-03-10 01:59:59.9999-05', '1999-12-31', '23:59:59.9999', '\x00ff0a0d095c27',
    E'tab\there\nnewline back\\slash ''q'' ünï 🐘', 'varchar ünï', '{"a": [1, 2.5e3], "b": null}',
    '1 year 2 mons 3 days 04:05:06.789', '{{1,NULL},{3,4}}', '{"b": 1, "a": [true]}', '[1,10)', 'it''s "q"',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '<a x="1">t</a>', '(1.5,-2)', 12.34, B'1010');
INSERT INTO ty VALUES (3, -0.000001, -0.0, 1e-38, 0.1, 0, 0, 9223372036854775807, false,
    '0001-01-01 00:00:00', '2024-11-03 01:30:00-04', '9999-12-31', '00:00:00', '\x',
    '', '', '[]', '-1 days', '{}', '{}', 'empty', 'sad', '00000000-0000-0000-0000-000000000000', '::1', '', '(0,0)', -1, B'0000');
INSERT INTO ty (id, tx, f8) SELECT i, repeat('long ', 20000), i / 3.0 FROM generate_series(4, 6) i;
SQL
FB_SQL='SELECT id, n, f8, f4, f4d, i2, i4, i8, bo, ts, tz, d, tm, "BY", tx, vc, js, iv, ai, jb, r, e, u, ip, x, pt, m, b
        FROM ty ORDER BY id'
# The source's values as fb_dump prints them: booleans as TRUE/FALSE,
# timestamps with four digits (timestamptz in UTC), bytea as hex, floats
# as PostgreSQL prints them; the rest as the text the engine reads.
SRC_SQL="SELECT concat_ws('|', id, coalesce(n::text, 'N'), coalesce(f8::text, 'N'), coalesce(f4::text, 'N'),
    coalesce(f4d::text, 'N'), coalesce(i2::text, 'N'), coalesce(i4::text, 'N'), coalesce(i8::text, 'N'),
    coalesce(upper(bo::text), 'N'), coalesce(to_char(ts, 'YYYY-MM-DD HH24:MI:SS.FF4'), 'N'),
    coalesce(to_char(tz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.FF4'), 'N'),
    coalesce(d::text, 'N'), coalesce(to_char(tm, 'HH24:MI:SS.FF4'), 'N'), coalesce(encode(by, 'hex'), 'N'),
    coalesce(tx, 'N'), coalesce(vc, 'N'), coalesce(js::text, 'N'), coalesce(iv::text, 'N'), coalesce(ai::text, 'N'),
    coalesce(jb::text, 'N'), coalesce(r::text, 'N'), coalesce(e::text, 'N'), coalesce(u::text, 'N'),
    CASE WHEN ip IS NULL THEN 'N' ELSE concat(ip) END,
    coalesce(x::text, 'N'), coalesce(pt::text, 'N'), coalesce(m::text, 'N'), coalesce(b::text, 'N')) FROM ty ORDER BY id"
expected=$(PGOPTIONS="-c DateStyle=ISO -c IntervalStyle=postgres -c lc_monetary=C" sql src "$SRC_SQL")
for _ in $(seq 100); do
    [ "$(firebird_dump fb "$FB_SQL")" = "$expected" ] && break
    sleep 0.2
done
[ "$(firebird_dump fb "$FB_SQL")" = "$expected" ] || grep ERROR log.bucardo | tail -3 >&2
expect_equal "$expected" "$(firebird_dump fb "$FB_SQL")" "Firebird round trip"
# compare reads every class back and finds it equal to the source's text
# (the source in New York time: timestamptz compared in UTC).
run_rc 0 "$BUCARDO" compare s
expect_out 'Table public.ty: equal'
# ... and sees a change of one value of each class made on Firebird (the
# smallest the column holds), repaired each time.
for set in "f4 = 2e-38" "f4d = 0.10000000000000002" "n = -0.000002" "bo = TRUE" "tz = DATEADD(1 MILLISECOND TO tz)" \
    "d = '9999-12-30'" "tm = '00:00:00.0001'" '"BY" = x'"'00'" "u = '00000000-0000-0000-0000-000000000001'"; do
    firebird_sql fb "UPDATE ty SET $set WHERE id = 3;" || fail "UPDATE ty SET $set"
    run_rc 1 "$BUCARDO" compare s
    expect_equal "  different on fb: id=3" "$(printf '%s\n' "$OUT" | grep -E '^  (missing|extra|different) on ')" \
        "compare after SET $set on Firebird"
    run_rc 1 "$BUCARDO" compare s --repair
    run_ok "$BUCARDO" kick s 60
    run_rc 0 "$BUCARDO" compare s
done

# NaN: no Firebird type holds it.  The unit fails naming table and column,
# nothing of it is applied, and it goes through once the source changes
# the value.  Then text longer than its varchar, the same way.
sql src "INSERT INTO ty (id, f8, tx) VALUES (7, 'NaN', 'nan row'); UPDATE ty SET tx = 'changed' WHERE id = 1" >/dev/null
for _ in $(seq 100); do
    grep -q "table ty column f8: Firebird has no DOUBLE PRECISION NaN" log.bucardo && break
    sleep 0.2
done
grep -q "target fb: table ty column f8: Firebird has no DOUBLE PRECISION NaN" log.bucardo ||
    fail "no error naming table ty column f8"
expect_equal "" "$(firebird_dump fb "select id from ty where id = 7")" "the NaN row on Firebird"
expect_equal "N" "$(firebird_dump fb "select tx from ty where id = 1")" "the other change of the failed unit"
sql src "UPDATE ty SET f8 = 1 WHERE id = 7" >/dev/null
run_ok "$BUCARDO" kick s 60
for _ in $(seq 100); do
    [ "$(firebird_dump fb "select tx from ty where id = 1")" = "changed" ] && break
    sleep 0.2
done
expect_equal "changed|1" "$(firebird_dump fb "select (select tx from ty where id = 1), (select f8 from ty where id = 7) from rdb\$database")" "after the source's fix"

sql src "UPDATE ty SET ai = (SELECT array_agg(i) FROM generate_series(1, 30) i) WHERE id = 3" >/dev/null
for _ in $(seq 100); do
    grep -q "table ty column ai: value of 82 characters longer than VARCHAR(40)" log.bucardo && break
    sleep 0.2
done
grep -q "target fb: table ty column ai: value of 82 characters longer than VARCHAR(40)" log.bucardo ||
    fail "no error naming table ty column ai"
expect_equal "{}" "$(firebird_dump fb "select ai from ty where id = 3")" "the long value not applied"
sql src "UPDATE ty SET ai = '{1,2}' WHERE id = 3" >/dev/null
run_ok "$BUCARDO" kick s 60
for _ in $(seq 100); do
    [ "$(firebird_dump fb "select ai from ty where id = 3")" = "{1,2}" ] && break
    sleep 0.2
done
expect_equal "{1,2}" "$(firebird_dump fb "select ai from ty where id = 3")" "after the source's fix"
run_rc 0 "$BUCARDO" compare s
expect_out 'Table public.ty: equal'
run_ok "$BUCARDO" stop
echo ok
