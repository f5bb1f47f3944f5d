#!/usr/bin/env bash
# Replication - capture triggers, delta tables, the engine's SQL - works
# with hostile names of schemas, tables and columns: quotes, semicolons,
# spaces, newlines, unicode, MixedCase, reserved words, 63-byte names, names that
# look like the placeholders of the capture template (@DELTA@, @RELID@,
# @SCHEMA@ ...).  A name holding the template's dollar-quote tag is refused
# cleanly, with nothing run.  The source is reached as role "alice", whose
# password (scram-sha-256) is given by `add database pass=`: it never
# appears in any command's output, in `list dbs`, or in log.bucardo - not
# even when her connections fail.
. "$TESTS_DIR/lib/setup.sh"
test_begin

PW='Hx7-pa55w0rd-Qz'
sql postgres "create role alice login superuser password '$PW'" >/dev/null || fail "create role alice"
pg_as_owner "sed -i '1i local all alice scram-sha-256' '$TEST_DIR/data/pg_hba.conf'" || fail "pg_hba.conf"
sql postgres "select pg_reload_conf()" >/dev/null
for _ in $(seq 50); do
    psql -X -w -U alice -d postgres -c "select 1" >/dev/null 2>&1 || break
    sleep 0.1
done
psql -X -w -U alice -d postgres -c "select 1" >/dev/null 2>&1 && fail "alice can connect without a password"
PGPASSWORD=$PW psql -X -w -U alice -d postgres -c "select 1" >/dev/null 2>&1 || fail "alice cannot connect with her password"
# Every output of bucardo goes to the transcript, searched for the password.
T="$TEST_DIR/transcript"
ok() { run_ok "$@"; printf '%s\n%s\n' "$OUT" "$ERR" >>"$T"; }

# Names: S_* schemas, T_* tables (each SQL-quoted, ready to use).
L63=$(printf 'ß%.0s' $(seq 31))x                      # 63 bytes, 32 characters
S_Q='"Sch ""q""; DROP TABLE x; -- é"'
S_RES='"select"'
S_MIX='"MixedCase"'
S_63="\"$L63\""
S_PH='"@TABLE@"'
SCHEMA=$(cat <<SQL
CREATE SCHEMA $S_Q;
CREATE SCHEMA $S_RES;
CREATE SCHEMA $S_MIX;
CREATE SCHEMA $S_63;
CREATE SCHEMA $S_PH;
CREATE TABLE $S_Q."Tab'le ""One""; --" (id int PRIMARY KEY, "Col ""x""; y" text, "@DELTA@" text, "select" int, "ünï 🐘" text);
CREATE TABLE $S_RES."order" ("from" int, "Mixed Key" text, "@TABLE@" text, "group" text, PRIMARY KEY ("from", "Mixed Key"));
CREATE TABLE $S_MIX."MixedCase" ("KeyCol" text PRIMARY KEY, "mixedcase" text, "MIXEDCASE" text);
CREATE TABLE $S_63."$L63" ("$L63" int PRIMARY KEY, "k;ey" text, "new
line	tab" text);
CREATE TABLE public."@DELTA@" ("@RELID@" text PRIMARY KEY, "@FUNC@" text, "@KEYCOLS@" int);
CREATE TABLE $S_PH."@SCHEMA@" ("@OLDROWKEYS@" int, "@NEWKEYS@" text, "@KEYDEFS@" text, PRIMARY KEY ("@OLDROWKEYS@", "@NEWKEYS@"));
SQL
)
TABLES=("$S_Q.\"Tab'le \"\"One\"\"; --\"" "$S_RES.\"order\"" "$S_MIX.\"MixedCase\"" "$S_63.\"$L63\""
        'public."@DELTA@"' "$S_PH.\"@SCHEMA@\"")
for db in src tgt; do
    createdb "$db" && psql -X -q -d "$db" -c "$SCHEMA" || fail "schema on $db"
done
# The source as alice, with her password; the target as bucardo.
ok "$BUCARDO" add database src dbname=src user=alice pass="$PW"
ok "$BUCARDO" add database tgt dbname=tgt
ok "$BUCARDO" add all tables db=src relgroup=rg
ok "$BUCARDO" list tables
[ "$(printf '%s\n' "$OUT" | grep -c .)" = ${#TABLES[@]} ] || fail "expected ${#TABLES[@]} tables:
$OUT"
ok "$BUCARDO" add sync s1 relgroup=rg dbs=src,tgt
ok "$BUCARDO" start

# Capture objects exist for every table (the placeholders were not mixed up).
[ "$(sql src "select count(*) from pg_tables where schemaname = 'bucardo' and tablename like 'delta%'")" = ${#TABLES[@]} ] ||
    fail "expected ${#TABLES[@]} delta tables on src:
$(sql src "select tablename from pg_tables where schemaname = 'bucardo'")"
check() {
    wait_synced src tgt 30 "${TABLES[@]}"
}
psql -X -q -d src <<SQL || fail "inserts"
INSERT INTO ${TABLES[0]} SELECT i, 'v' || i, '@DELTA@' || i, i, 'é' FROM generate_series(1, 50) i;
INSERT INTO ${TABLES[1]} SELECT i, k, 'x', 'g' FROM generate_series(1, 20) i, unnest(ARRAY['a', 'B b', 'c''"']) k;
INSERT INTO ${TABLES[2]} VALUES ('Key', 'lower', 'UPPER'), ('key', NULL, 'x'), ('KEY', 'y', NULL);
INSERT INTO ${TABLES[3]} SELECT i, ';' || i, E'\\n' FROM generate_series(1, 30) i;
INSERT INTO ${TABLES[4]} SELECT '@RELID@' || i, '@FUNC@', i FROM generate_series(1, 25) i;
INSERT INTO ${TABLES[5]} SELECT i, '@NEWKEYS@' || (i % 3), '@KEYDEFS@' FROM generate_series(1, 25) i;
SQL
check
psql -X -q -d src <<SQL || fail "updates"
UPDATE ${TABLES[0]} SET id = id + 100, "Col ""x""; y" = 'moved' WHERE id % 3 = 0;
UPDATE ${TABLES[0]} SET "@DELTA@" = NULL WHERE id % 5 = 0;
DELETE FROM ${TABLES[0]} WHERE id % 7 = 0;
UPDATE ${TABLES[1]} SET "Mixed Key" = "Mixed Key" || '+' WHERE "from" % 2 = 0;
DELETE FROM ${TABLES[1]} WHERE "from" = 3;
UPDATE ${TABLES[2]} SET "KeyCol" = 'kEy' WHERE "KeyCol" = 'key';
UPDATE ${TABLES[3]} SET "$L63" = -"$L63" WHERE "$L63" < 10;
UPDATE ${TABLES[4]} SET "@RELID@" = "@RELID@" || '@TABLE@' WHERE "@KEYCOLS@" % 2 = 0;
DELETE FROM ${TABLES[4]} WHERE "@KEYCOLS@" = 1;
UPDATE ${TABLES[5]} SET "@OLDROWKEYS@" = "@OLDROWKEYS@" + 1000 WHERE "@OLDROWKEYS@" % 4 = 0;
TRUNCATE ${TABLES[2]};
INSERT INTO ${TABLES[2]} VALUES ('after truncate', 'a', 'b');
SQL
check
ok "$BUCARDO" kick s1 30
expect_out DONE
ok "$BUCARDO" status
ok "$BUCARDO" status s1
ok "$BUCARDO" list dbs
expect_no "$PW"
[ "$(printf '%s\n' "$OUT" | grep -c 'psql .*-U alice -d src')" = 1 ] || fail "list dbs does not show src's connection:
$OUT"
ok "$BUCARDO" list all
ok "$BUCARDO" show all
ok "$BUCARDO" list syncs
ok "$BUCARDO" validate s1
# (compare is checked by its own test; here only its words matter)
"$BUCARDO" compare s1 >>"$T" 2>&1 || echo "note: compare s1 exited non-zero"

# The name holding the template's dollar-quote tag: refused at `add sync`,
# and nothing of it ran.
for db in src tgt; do
    psql -X -q -d "$db" -c 'CREATE TABLE public."x$bucardo_do$; DROP TABLE public.victim; --" (id int PRIMARY KEY);
                             CREATE TABLE public.victim (id int PRIMARY KEY)' || fail "evil table on $db"
done
ok "$BUCARDO" add table 'public.x$bucardo_do$; DROP TABLE public.victim; --' db=src relgroup=evil
run_fail "$BUCARDO" add sync s2 relgroup=evil dbs=src,tgt
printf '%s\n%s\n' "$OUT" "$ERR" >>"$T"
expect_err 'bucardo_do'
[ "$(sql src "select count(*) from pg_tables where tablename = 'victim'")" = 1 ] || fail "a table name ran as SQL"
[ "$(sql bucardo "select count(*) from bucardo.sync where name = 's2'")" = 0 ] || fail "the refused sync was saved"

# Alice's password changes under the running engine: her connections fail
# (the errors go to the log), then the new password is given.
sql postgres "alter role alice password 'Other-pw-123'" >/dev/null
sql postgres "select pg_terminate_backend(pid) from pg_stat_activity where usename = 'alice'" >/dev/null
sql src "insert into ${TABLES[3]} values (1000, 'while locked out')" >/dev/null
for _ in $(seq 100); do
    grep -q "password authentication failed" log.bucardo && break
    sleep 0.2
done
grep -q "password authentication failed" log.bucardo || fail "no failed connection of alice in the log:
$(tail -5 log.bucardo)"
ok "$BUCARDO" update database src pass='Other-pw-123'
ok "$BUCARDO" reload  # (update database, as in Bucardo, leaves a running engine alone)
check
ok "$BUCARDO" stop
for w in "$PW" 'Other-pw-123'; do
    grep -rFl -- "$w" "$T" log.bucardo && fail "the password $w appears in the output above"
done
echo ok
