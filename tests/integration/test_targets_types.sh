#!/usr/bin/env bash
# The type round trip for the MariaDB and SQLite targets: what arrives
# exactly, what is refused and how.
#
# MariaDB: one column per PostgreSQL type class, each in the MariaDB type
# that holds it (decimal(p,s), double, tinyint(1), datetime(6) - timestamptz
# as UTC -, date, time(6), longblob, text, varchar, json, char(36)), and
# every other class (intervals, arrays, ranges, enums, inet, jsonb...) in a
# text column as its PostgreSQL text; read back and compared value by
# value.  Refused by validate, naming the column and both types: a
# numeric without precision into decimal, float8 into float, timetz into
# time, text into int.  Refused when applied, naming table and column, the
# unit rolled back and retried until the source changes: NaN and
# infinity, which no MariaDB type holds.
# SQLite: every class into TEXT columns, read back equal to the source's
# text form.
. "$TESTS_DIR/lib/setup.sh"
. "$TESTS_DIR/lib/servers.sh"
test_begin
mariadb_start my
SCHEMA=$(cat <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s "q"');
CREATE TABLE ty (
    id int PRIMARY KEY,
    n numeric(20,6), f8 float8, f4 float4, i2 smallint, i8 bigint, bo boolean,
    ts timestamp, tz timestamptz, d date, tm time, by bytea,
    tx text, vc varchar(20), js json,
    iv interval, ai int[], jb jsonb, r int4range, e mood, u uuid, ip inet, x xml, pt point, m money, b bit(4)
);
CREATE TABLE refused (id int PRIMARY KEY, n numeric, f float8, ttz timetz, t text);
SQL
)
test_databases "$SCHEMA" src
psql -X -q -d postgres -c "ALTER DATABASE src SET TimeZone = 'America/New_York'" || fail "source time zone"
mariadb_sql my "CREATE TABLE ty (
    id int PRIMARY KEY,
    n decimal(20,6), f8 double, f4 double, i2 smallint, i8 bigint, bo tinyint(1),
    ts datetime(6), tz datetime(6), d date, tm time(6), \`by\` longblob,
    tx text, vc varchar(20), js json,
    iv text, ai text, jb text, r text, e varchar(30), u char(36), ip varchar(50), x text, pt text, m text, b text);
  CREATE TABLE refused (id int PRIMARY KEY, n decimal(65,30), f float, ttz time(6), t int)" || fail "MariaDB tables"
LITE=$TEST_DIR/lite.db
sqlite3 "$LITE" "CREATE TABLE ty (id integer PRIMARY KEY, n text, f8 text, f4 text, i2 text, i8 text, bo text,
    ts text, tz text, d text, tm text, by text, tx text, vc text, js text, iv text, ai text, jb text, r text,
    e text, u text, ip text, x text, pt text, m text, b text)"
run_ok "$BUCARDO" add db my type=mariadb dbname=db host="$MARIADB_SOCK" user=root
run_ok "$BUCARDO" add db lite type=sqlite dbname="$LITE"
run_ok "$BUCARDO" add table ty db=src relgroup=rg
run_ok "$BUCARDO" add table refused db=src relgroup=rgr
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src:source,my:target,lite:target
run_ok "$BUCARDO" validate s

# Refusals by validate, one column at a time (each fixed after its check).
run_ok "$BUCARDO" add sync r relgroup=rgr dbs=src:source,my:target
run_fail "$BUCARDO" validate r
expect_err 'target my \(mariadb\): table refused column n: MariaDB type decimal\(65,30\) cannot hold every numeric'
mariadb_sql my "ALTER TABLE refused MODIFY n text"
run_fail "$BUCARDO" validate r
expect_err 'table refused column f: MariaDB type float cannot hold PostgreSQL type double precision exactly'
mariadb_sql my "ALTER TABLE refused MODIFY f double"
run_fail "$BUCARDO" validate r
expect_err 'table refused column ttz: MariaDB type time\(6\) cannot hold PostgreSQL type time with time zone exactly'
mariadb_sql my "ALTER TABLE refused MODIFY ttz varchar(40)"
run_fail "$BUCARDO" validate r
expect_err 'table refused column t: MariaDB type int\(11\) cannot hold PostgreSQL type text exactly'
mariadb_sql my "ALTER TABLE refused MODIFY t text"
run_ok "$BUCARDO" validate r
run_ok "$BUCARDO" remove sync r

run_ok "$BUCARDO" start
psql -X -q -d src <<'SQL' || fail "inserts"
INSERT INTO ty (id) VALUES (1);
INSERT INTO ty VALUES (2, 12345678901234.123456, 1.7976931348623157e308, 3.4028235e38, -32768, -9223372036854775808, true,
    '2024-03-10 01:59:59.999999', '2024-03-10 01:59:59.999999-05', '1999-12-31', '23:59:59.999999', '\x00ff0a0d095c27',
    E'tab\there\nnewline back\\slash ''q'' ünï 🐘', 'varchar', '{"a": [1, 2.5e3], "b": null}',
    '1 year 2 mons 3 days 04:05:06.789', '{{1,NULL},{3,4}}', '{"b": 1, "a": [true]}', '[1,10)', 'it''s "q"',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '<a x="1">t</a>', '(1.5,-2)', 12.34, B'1010');
INSERT INTO ty VALUES (3, -0.000001, -0.0, 1e-38, 0, 9223372036854775807, false,
    '0001-01-01 00:00:00', '2024-11-03 01:30:00-04', '9999-12-31', '00:00:00', '\x',
    '', '', '[]', '-1 days', '{}', '{}', 'empty', 'sad', '00000000-0000-0000-0000-000000000000', '::1', '', '(0,0)', -1, B'0000');
SQL
MY_SQL="SELECT concat_ws('|', id, coalesce(n, 'N'), coalesce(f8, 'N'), coalesce(f4, 'N'), coalesce(i2, 'N'),
    coalesce(i8, 'N'), coalesce(bo, 'N'), coalesce(date_format(ts, '%Y-%m-%d %H:%i:%s.%f'), 'N'),
    coalesce(date_format(tz, '%Y-%m-%d %H:%i:%s.%f'), 'N'), coalesce(d, 'N'), coalesce(tm, 'N'),
    coalesce(lower(hex(\`by\`)), 'N'), coalesce(tx, 'N'), coalesce(vc, 'N'), coalesce(js, 'N'), coalesce(iv, 'N'),
    coalesce(ai, 'N'), coalesce(jb, 'N'), coalesce(r, 'N'), coalesce(e, 'N'), coalesce(u, 'N'), coalesce(ip, 'N'),
    coalesce(x, 'N'), coalesce(pt, 'N'), coalesce(m, 'N'), coalesce(b, 'N')) FROM ty ORDER BY id"
# The source's values as MariaDB prints them: booleans as 1/0, timestamps
# with six digits (timestamptz in UTC), bytea as hex; the rest as text.
SRC_SQL="SELECT concat_ws('|', id, coalesce(n::text, 'N'), coalesce(replace(f8::text, 'e+', 'e'), 'N'),
    coalesce(replace(f4::text, 'e+', 'e'), 'N'),
    coalesce(i2::text, 'N'), coalesce(i8::text, 'N'), coalesce(bo::int::text, 'N'),
    coalesce(to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US'), 'N'), coalesce(to_char(tz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'N'),
    coalesce(d::text, 'N'), coalesce(to_char(tm, 'HH24:MI:SS.US'), 'N'), coalesce(encode(by, 'hex'), 'N'),
    coalesce(tx, 'N'), coalesce(vc, 'N'), coalesce(js::text, 'N'), coalesce(iv::text, 'N'), coalesce(ai::text, 'N'),
    coalesce(jb::text, 'N'), coalesce(r::text, 'N'), coalesce(e::text, 'N'), coalesce(u::text, 'N'),
    CASE WHEN ip IS NULL THEN 'N' ELSE concat(ip) END,
    coalesce(x::text, 'N'), coalesce(pt::text, 'N'), coalesce(m::text, 'N'), coalesce(b::text, 'N')) FROM ty ORDER BY id"
expected=$(PGOPTIONS="-c DateStyle=ISO -c IntervalStyle=postgres -c lc_monetary=C" sql src "$SRC_SQL")
for _ in $(seq 100); do
    [ "$(mariadb_sql my "$MY_SQL")" = "$expected" ] && break
    sleep 0.2
done
expect_equal "$expected" "$(mariadb_sql my "$MY_SQL")" "MariaDB round trip"

# SQLite: every value as the source's text (the engine reads with these settings).
LITE_SQL="SELECT id || '|' || coalesce(n, 'N') || '|' || coalesce(f8, 'N') || '|' || coalesce(f4, 'N') || '|' || coalesce(i2, 'N')
    || '|' || coalesce(i8, 'N') || '|' || coalesce(bo, 'N') || '|' || coalesce(ts, 'N') || '|' || coalesce(tz, 'N')
    || '|' || coalesce(d, 'N') || '|' || coalesce(tm, 'N') || '|' || coalesce(by, 'N') || '|' || coalesce(tx, 'N')
    || '|' || coalesce(vc, 'N') || '|' || coalesce(js, 'N') || '|' || coalesce(iv, 'N') || '|' || coalesce(ai, 'N')
    || '|' || coalesce(jb, 'N') || '|' || coalesce(r, 'N') || '|' || coalesce(e, 'N') || '|' || coalesce(u, 'N')
    || '|' || coalesce(ip, 'N') || '|' || coalesce(x, 'N') || '|' || coalesce(pt, 'N') || '|' || coalesce(m, 'N')
    || '|' || coalesce(b, 'N') FROM ty ORDER BY id"
SRC_TEXT="SELECT concat_ws('|', id, coalesce(n::text, 'N'), coalesce(f8::text, 'N'), coalesce(f4::text, 'N'),
    coalesce(i2::text, 'N'), coalesce(i8::text, 'N'), CASE WHEN bo IS NULL THEN 'N' ELSE concat(bo) END, coalesce(ts::text, 'N'), coalesce(tz::text, 'N'),
    coalesce(d::text, 'N'), coalesce(tm::text, 'N'), coalesce(by::text, 'N'), coalesce(tx, 'N'), coalesce(vc, 'N'),
    coalesce(js::text, 'N'), coalesce(iv::text, 'N'), coalesce(ai::text, 'N'), coalesce(jb::text, 'N'), coalesce(r::text, 'N'),
    coalesce(e::text, 'N'), coalesce(u::text, 'N'), CASE WHEN ip IS NULL THEN 'N' ELSE concat(ip) END, coalesce(x::text, 'N'),
    coalesce(pt::text, 'N'), coalesce(m::text, 'N'), coalesce(b::text, 'N')) FROM ty ORDER BY id"
expected_text=$(PGOPTIONS="-c DateStyle=ISO -c IntervalStyle=postgres -c lc_monetary=C -c bytea_output=hex -c extra_float_digits=3" sql src "$SRC_TEXT")
expect_equal "$expected_text" "$(sqlite3 "$LITE" "$LITE_SQL")" "SQLite round trip"

# NaN: no MariaDB type holds it.  The unit fails naming table and column,
# nothing of it is applied (SQLite neither: one unit for every writer), and
# it goes through once the source changes the value.
sql src "INSERT INTO ty (id, f8, tx) VALUES (4, 'NaN', 'nan row'); UPDATE ty SET tx = 'changed' WHERE id = 1" >/dev/null
for _ in $(seq 100); do
    grep -q "table ty column f8: MariaDB has no NaN" log.bucardo && break
    sleep 0.2
done
grep -q "target my: table ty column f8: MariaDB has no NaN" log.bucardo || fail "no error naming table ty column f8"
expect_equal "" "$(mariadb_sql my "select id from ty where id = 4")" "the NaN row on MariaDB"
expect_equal "N" "$(mariadb_sql my "select coalesce(tx, 'N') from ty where id = 1")" "the other change of the failed unit"
sql src "UPDATE ty SET f8 = 1 WHERE id = 4" >/dev/null
run_ok "$BUCARDO" kick s 60
for _ in $(seq 100); do
    [ "$(mariadb_sql my "select tx from ty where id = 1")" = "changed" ] && break
    sleep 0.2
done
expect_equal "changed|1" "$(mariadb_sql my "select concat(max(case when id = 1 then tx end), '|', max(case when id = 4 then f8 end)) from ty")" "after the source's fix"
run_ok "$BUCARDO" stop
echo ok
