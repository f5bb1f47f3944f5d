#!/usr/bin/env bash
# A MariaDB target beside a PostgreSQL one (both fed by one sync from a
# PostgreSQL source), on a MariaDB server this test starts: inserts,
# updates (key changes too), deletes and truncate reach it exactly (read
# back with the mariadb client and compared with the source's rows);
# onetimecopy=1 replaces its table; validate refuses a column MariaDB
# cannot hold, naming database, table and column; the target's server
# killed mid-cycle and started again: nothing lost, nothing doubled;
# compare finds differences made on MariaDB, names their keys, and
# --repair puts them right.
. "$TESTS_DIR/lib/setup.sh"
. "$TESTS_DIR/lib/servers.sh"
test_begin
mariadb_start my
SCHEMA="CREATE TABLE t (id int PRIMARY KEY, name text, n numeric(12,3), at timestamptz, ok boolean, b bytea, f float8);
        CREATE TABLE k2 (a int, b text, v text, PRIMARY KEY (a, b))"
test_databases "$SCHEMA" src pgt
mariadb_sql my "CREATE TABLE t (id int PRIMARY KEY, name text, n decimal(12,3), at datetime(6), ok tinyint(1),
                b longblob, f double) ENGINE=InnoDB;
                CREATE TABLE k2 (a int, b varchar(50), v text, PRIMARY KEY (a, b)) ENGINE=InnoDB;
                CREATE TABLE bad (id int PRIMARY KEY, iv time)" || fail "MariaDB tables"

run_fail "$BUCARDO" add db my type=mariadb dbname=db host=127.0.0.1 port=1 user=root
expect_err 'cannot connect to MariaDB'
run_ok "$BUCARDO" add db my type=mariadb dbname=db host="$MARIADB_SOCK" user=root
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src:source,pgt:target,my:target
run_ok "$BUCARDO" validate s

# A column MariaDB cannot hold: refused by validate, naming it.
sql src "CREATE TABLE bad (id int PRIMARY KEY, iv interval)" >/dev/null
run_ok "$BUCARDO" add table bad db=src relgroup=rgbad
run_ok "$BUCARDO" add sync sbad relgroup=rgbad dbs=src:source,my:target
run_fail "$BUCARDO" validate sbad
expect_err 'target my \(mariadb\): table bad column iv: MariaDB type time cannot hold PostgreSQL type interval exactly'
run_ok "$BUCARDO" remove sync sbad

# my_rows - the MariaDB table as the source's rows print below.
my_rows() {
    mariadb_sql my "SELECT concat_ws('|', id, coalesce(name, '<null>'), coalesce(n, '<null>'),
                           coalesce(date_format(at, '%Y-%m-%d %H:%i:%s.%f'), '<null>'), coalesce(ok, '<null>'),
                           coalesce(hex(b), '<null>'), coalesce(f, '<null>')) FROM t ORDER BY id"
}
src_rows() {
    sql src "SELECT concat_ws('|', id, coalesce(name, '<null>'), coalesce(n::text, '<null>'),
                        coalesce(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '<null>'),
                        coalesce(ok::int::text, '<null>'), coalesce(upper(encode(b, 'hex')), '<null>'),
                        coalesce(f::text, '<null>')) FROM t ORDER BY id"
}
k2_my() { mariadb_sql my "SELECT concat_ws('|', a, b, coalesce(v, '<null>')) FROM k2 ORDER BY a, b"; }
k2_src() { sql src "SELECT concat_ws('|', a, b, coalesce(v, '<null>')) FROM k2 ORDER BY a, b COLLATE \"C\""; }
wait_my() {
    for _ in $(seq 300); do
        [ "$(src_rows)" = "$(my_rows)" ] && [ "$(k2_src)" = "$(k2_my)" ] && return 0
        sleep 0.1
    done
    expect_equal "$(src_rows)" "$(my_rows)" "$1 (table t)"
    expect_equal "$(k2_src)" "$(k2_my)" "$1 (table k2)"
}

run_ok "$BUCARDO" start
sql src "INSERT INTO t SELECT i, 'name ' || i || E' tab\\there ''q'' back\\\\slash ünï', i * 1.125,
                '2024-03-10 01:59:59.123456-05'::timestamptz + i * interval '1 hour', i % 3 = 0,
                decode(lpad(to_hex(i), 8, '0') || '00ff0a0d09', 'hex'), i / 7.0
           FROM generate_series(1, 300) i" >/dev/null
sql src "INSERT INTO k2 SELECT i % 10, 'b' || i, 'v' || i FROM generate_series(1, 100) i" >/dev/null
sql src "INSERT INTO t (id) VALUES (1000)" >/dev/null
wait_my "inserts"
sql src "UPDATE t SET name = NULL, b = NULL WHERE id % 10 = 0; UPDATE t SET id = id + 5000 WHERE id < 20;
         DELETE FROM t WHERE id BETWEEN 250 AND 270; UPDATE k2 SET b = b || 'x' WHERE a = 3;
         DELETE FROM k2 WHERE a = 4" >/dev/null
wait_my "updates, key changes and deletes"
sql src "TRUNCATE t; INSERT INTO t SELECT i, 'after ' || i, i, now(), true, '\\x00', 0.5 FROM generate_series(1, 40) i" >/dev/null
wait_my "truncate"
wait_synced src pgt 30 t k2

# onetimecopy=1 replaces the MariaDB table whole.
mariadb_sql my "DELETE FROM t WHERE id < 10; INSERT INTO t (id, name) VALUES (99999, 'stray')"
run_ok "$BUCARDO" update sync s onetimecopy=1
run_ok "$BUCARDO" kick s 60
expect_out DONE
wait_my "onetimecopy"

# The target server killed in the middle of a large cycle, then back.
sql src "INSERT INTO t SELECT i, repeat('x', 200), i, now(), false, NULL, i FROM generate_series(100000, 300000) i" >/dev/null
run_ok "$BUCARDO" kick s 0
sleep 0.5
mariadb_stop my
sql src "UPDATE t SET name = 'during' WHERE id % 1000 = 0; DELETE FROM t WHERE id BETWEEN 200000 AND 200100" >/dev/null
sleep 2
mariadb_restart my
for _ in $(seq 600); do
    [ "$(src_rows | md5sum)" = "$(my_rows | md5sum)" ] && break
    sleep 0.2
done
expect_equal "$(sql src "select count(*) from t")" "$(mariadb_sql my "select count(*) from t")" "row count after the outage"
expect_equal "$(src_rows | md5sum)" "$(my_rows | md5sum)" "rows after the target's outage"
grep -q "target my" log.bucardo || fail "the outage was not reported in the log"

# compare reads the MariaDB target back row by row: equal data is equal
# (decimals, datetimes in UTC, booleans, blobs and doubles as MariaDB
# holds them); a difference made on MariaDB is found and named.
run_rc 0 "$BUCARDO" compare s
expect_out 'Table public.t: equal'
expect_out 'Table public.k2: equal'
mariadb_sql my "UPDATE t SET name = 'changed on my' WHERE id = 100500; DELETE FROM t WHERE id = 100501;
                UPDATE t SET n = n + 0.001 WHERE id = 100502; INSERT INTO t (id) VALUES (-7);
                UPDATE k2 SET v = 'changed' WHERE a = 1 AND b = 'b1'"
run_rc 1 "$BUCARDO" compare s
expect_out 'Table public.t: 4 differences \(1 missing on my, 1 extra on my, 2 different on my\)'
expect_out '  missing on my: id=100501'
expect_out '  extra on my: id=-7'
expect_out '  different on my: id=100500'
expect_out '  different on my: id=100502'
expect_out "  different on my: a=1, b=b1"
run_rc 1 "$BUCARDO" compare s --json
printf '%s\n' "$OUT" | python3 -c '
import json, sys
t = {x["name"]: x for x in json.load(sys.stdin)["tables"]}["t"]
g = {x["target"]: x for x in t["targets"]}
assert g["pgt"]["missing"] == g["pgt"]["extra"] == g["pgt"]["different"] == [], g["pgt"]
assert g["my"]["missing"] == [{"id": "100501"}] and g["my"]["extra"] == [{"id": "-7"}], g["my"]
' || fail "compare --json: pgt equal, my with its keys:
$OUT"
# --repair queues the keys; the next cycle deletes and reloads them on MariaDB.
run_rc 1 "$BUCARDO" compare s --repair
expect_out 'Queued 5 keys for repair'
wait_my "after compare --repair"
run_rc 0 "$BUCARDO" compare s
expect_out 'Table public.t: equal'
run_ok "$BUCARDO" stop
echo ok
