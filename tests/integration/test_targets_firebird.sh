#!/usr/bin/env bash
# A Firebird target beside a PostgreSQL one (both fed by one sync from a
# PostgreSQL source), on a Firebird 3 server this test starts in its temp
# dir: a random workload (inserts, updates, key changes, deletes,
# truncate) reaches it exactly (read back with isql-fb and compared with
# the source's rows); the type round trip (each PostgreSQL type class in
# the Firebird type that holds it, read back and compared; what Firebird
# cannot hold refused by validate, naming table, column and both types, or
# when applied, naming table and column); the server killed mid-cycle and
# started again: nothing lost, nothing doubled.
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
SET TERM ^;
CREATE FUNCTION hexof(x blob sub_type binary) RETURNS varchar(8000) AS
DECLARE i integer = 1;
DECLARE c integer;
DECLARE r varchar(8000) = '';
BEGIN
  IF (x IS NULL) THEN RETURN NULL;
  WHILE (i <= octet_length(x)) DO BEGIN
    c = ascii_val(substring(x FROM i FOR 1));
    r = r || substring('0123456789abcdef' FROM bin_shr(c, 4) + 1 FOR 1)
          || substring('0123456789abcdef' FROM bin_and(c, 15) + 1 FOR 1);
    i = i + 1;
  END
  RETURN r;
END^
SET TERM ;^
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
