#!/usr/bin/env bash
# A Firebird target beside a PostgreSQL one (both fed by one sync from a
# PostgreSQL source), on a Firebird 3 server this test starts in its temp
# dir: a random workload (inserts, updates, key changes, deletes,
# truncate) reaches it exactly (read back with isql-fb and compared with
# the source's rows); the type round trip (each PostgreSQL type class in
# the Firebird type that holds it, read back and compared; what Firebird
# cannot hold refused by validate, naming table, column and both types, or
# when applied, naming table and column); the server killed mid-cycle and
# started again: nothing lost, nothing doubled; `compare` finds equal
# tables equal, names exactly the keys changed, deleted and added on
# Firebird, and --repair makes them equal again.
. "$TESTS_DIR/lib/setup.sh"
. "$TESTS_DIR/lib/servers.sh"
test_begin
firebird_start fb
SCHEMA="CREATE TABLE t (id int PRIMARY KEY, name text, n numeric(12,3), at timestamptz(4), ok boolean, b bytea,
                        f float8);
        CREATE TABLE k2 (a int, b text, v text, PRIMARY KEY (a, b))"
test_databases "$SCHEMA" src pgt
# t unquoted (Firebird names it T, its columns ID, NAME...); k2 quoted
# lowercase, as Bucardo writes table names.
FB_SCHEMA=$(cat <<'SQL'
CREATE TABLE t (id integer NOT NULL PRIMARY KEY, name varchar(500), n numeric(12,3), "AT" timestamp, ok boolean,
    b blob sub_type binary, f double precision);
CREATE TABLE "k2" ("a" integer NOT NULL, "b" varchar(50) NOT NULL, "v" blob sub_type text, PRIMARY KEY ("a", "b"));
SQL
)
firebird_sql fb "$FB_SCHEMA" || fail "Firebird tables"

run_fail "$BUCARDO" add db fb type=firebird dbname="$FIREBIRD_DB" host=127.0.0.1 port=1 user="$FIREBIRD_USER" \
    pass="$FIREBIRD_PASS"
expect_err 'cannot connect to Firebird'
run_ok "$BUCARDO" add db fb type=firebird dbname="$FIREBIRD_DB" host=127.0.0.1 port="$FIREBIRD_PORT" \
    user="$FIREBIRD_USER" pass="$FIREBIRD_PASS"
run_ok "$BUCARDO" list dbs
expect_no "$FIREBIRD_PASS"
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src:source,pgt:target,fb:target
run_ok "$BUCARDO" validate s

# A column Firebird cannot hold: refused by validate, naming it.
sql src "CREATE TABLE bad (id int PRIMARY KEY, iv interval)" >/dev/null
firebird_sql fb "CREATE TABLE bad (id integer NOT NULL PRIMARY KEY, iv time);" || fail "Firebird table bad"
run_ok "$BUCARDO" add table bad db=src relgroup=rgbad
run_ok "$BUCARDO" add sync sbad relgroup=rgbad dbs=src:source,fb:target
run_fail "$BUCARDO" validate sbad
expect_err 'target fb \(firebird\): table bad column iv: Firebird type TIME cannot hold PostgreSQL type interval exactly'
run_ok "$BUCARDO" remove sync sbad

# fb_rows / src_rows - table t on each side, printed alike (timestamps in UTC).
fb_rows() {
    firebird_dump fb 'SELECT id, name, n, "AT", ok, b, f FROM t ORDER BY id'
}
src_rows() {
    sql src "SELECT concat_ws('|', id, coalesce(name, 'N'), coalesce(n::text, 'N'),
                        coalesce(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.FF4'), 'N'),
                        coalesce(upper(ok::text), 'N'), coalesce(encode(b, 'hex'), 'N'),
                        coalesce(f::text, 'N')) FROM t ORDER BY id"
}
k2_fb() { firebird_dump fb 'SELECT "a", "b", "v" FROM "k2" ORDER BY "a", "b"'; }
k2_src() { sql src "SELECT concat_ws('|', a, b, coalesce(v, 'N')) FROM k2 ORDER BY a, b COLLATE \"C\""; }
wait_fb() {
    for _ in $(seq 300); do
        [ "$(src_rows)" = "$(fb_rows)" ] && [ "$(k2_src)" = "$(k2_fb)" ] && return 0
        sleep 0.1
    done
    expect_equal "$(src_rows)" "$(fb_rows)" "$1 (table t)"
    expect_equal "$(k2_src)" "$(k2_fb)" "$1 (table k2)"
}

run_ok "$BUCARDO" start
sql src "INSERT INTO t SELECT i, 'name ' || i || E' tab\\there ''q'' back\\\\slash ünï 🐘', i * 1.125,
                '2024-03-10 01:59:59.1234-05'::timestamptz + i * interval '1 hour', i % 3 = 0,
                decode(lpad(to_hex(i), 8, '0') || '00ff0a0d09', 'hex'), i / 8.0
           FROM generate_series(1, 300) i" >/dev/null
sql src "INSERT INTO k2 SELECT i % 10, 'b' || i, 'v' || i || repeat('long text ', i) FROM generate_series(1, 100) i" >/dev/null
sql src "INSERT INTO t (id) VALUES (1000)" >/dev/null
wait_fb "inserts"
# A random workload: updates (key changes too), deletes, in several commits.
for round in 1 2 3 4 5; do
    sql src "UPDATE t SET name = md5(random()::text), f = random() WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 30);
             UPDATE t SET id = id + 10000 * $round WHERE id IN (SELECT id FROM t WHERE id < 1000 ORDER BY random() LIMIT 10);
             DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 15);
             INSERT INTO t (id, name, b) SELECT 900000 + $round * 100 + i, NULL, '\\x' FROM generate_series(1, 20) i;
             UPDATE k2 SET b = b || 'x' WHERE a = $round; DELETE FROM k2 WHERE a = $round + 5" >/dev/null ||
        fail "workload round $round"
    sleep 0.3
done
sql src "UPDATE t SET name = NULL, b = NULL WHERE id % 10 = 0" >/dev/null
wait_fb "updates, key changes and deletes"
sql src "TRUNCATE t; INSERT INTO t SELECT i, 'after ' || i, i, now(), true, '\\x00', 0.5 FROM generate_series(1, 40) i" >/dev/null
wait_fb "truncate"
wait_synced src pgt 30 t k2

# The target server killed in the middle of a large cycle (rows go to
# Firebird one INSERT each: 60000 take several seconds), then back.
sql src "INSERT INTO t SELECT i, repeat('x', 200), i, now(), false, NULL, i FROM generate_series(100000, 160000) i" >/dev/null
for _ in $(seq 300); do
    grep -q "applying 60001 changes" log.bucardo && break
    sleep 0.1
done
grep -q "applying 60001 changes" log.bucardo || fail "the large cycle did not start"
sleep 1
firebird_stop fb
sql src "UPDATE t SET name = 'during' WHERE id % 1000 = 0; DELETE FROM t WHERE id BETWEEN 150000 AND 150100" >/dev/null
sleep 2
firebird_restart fb
for _ in $(seq 600); do
    [ "$(src_rows | md5sum)" = "$(fb_rows | md5sum)" ] && break
    sleep 0.2
done
expect_equal "$(sql src "select count(*) from t")" "$(firebird_dump fb "select count(*) from t")" "row count after the outage"
expect_equal "$(src_rows | md5sum)" "$(fb_rows | md5sum)" "rows after the target's outage"
grep -qE "ERROR.*target fb: " log.bucardo || fail "the outage was not reported in the log"
grep -E "applying 60001|applied 60001" log.bucardo # the large cycle's time, for the record

# compare reads the Firebird target back row by row: equal data is equal
# (numerics, timestamps in UTC, booleans, blobs, doubles as Firebird holds
# them); differences made on Firebird are found, and only those keys named.
run_rc 0 "$BUCARDO" compare s
expect_out 'Table public.t: equal'
expect_out 'Table public.k2: equal'
firebird_sql fb "UPDATE t SET name = 'changed on fb' WHERE id = 100500; DELETE FROM t WHERE id = 100501;
                 UPDATE t SET n = n + 0.001 WHERE id = 100502; UPDATE t SET f = f + 0.0000000001 WHERE id = 100503;
                 UPDATE t SET ok = TRUE WHERE id = 100504; UPDATE t SET \"AT\" = DATEADD(1 SECOND TO \"AT\") WHERE id = 100505;
                 INSERT INTO t (id) VALUES (-7);
                 UPDATE \"k2\" SET \"v\" = 'changed' WHERE \"a\" = 0 AND \"b\" = 'b10';" || fail "changes on Firebird"
run_rc 1 "$BUCARDO" compare s
expect_out 'Table public.t: 7 differences \(1 missing on fb, 1 extra on fb, 5 different on fb\)'
expect_out 'Table public.k2: 1 difference'
expect_equal "  different on fb: a=0, b=b10
  missing on fb: id=100501
  extra on fb: id=-7
  different on fb: id=100500
  different on fb: id=100502
  different on fb: id=100503
  different on fb: id=100504
  different on fb: id=100505" "$(printf '%s\n' "$OUT" | grep -E '^  (missing|extra|different) on ')" "keys named by compare"
# --repair queues the keys; the next cycle deletes and reloads them on Firebird.
run_rc 1 "$BUCARDO" compare s --repair
expect_out 'Queued 8 keys for repair'
run_ok "$BUCARDO" kick s
wait_fb "after compare --repair"
run_rc 0 "$BUCARDO" compare s
expect_out 'Table public.t: equal'
expect_out 'Table public.k2: equal'
run_ok "$BUCARDO" stop
echo ok
