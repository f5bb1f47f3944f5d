#!/usr/bin/env bash
# Bucardo's per-table and per-database options, judged by their effect:
#  - update table: ghost (capture removed, not replicated), autokick (a
#    table's own changes wake the sync or not), analyze_after_copy and
#    rebuild_index per table in a table copy, strict_checking per table (a
#    type mismatch fails the sync or only warns), priority (the order of
#    the copy), makedelta per table (only that table's rows cascade);
#  - databases: dbdsn (a DSN instead of the other fields), pgpass (a
#    passfile of its own, with password authentication), dbgroup= on add
#    and update database, addalltables / addallsequences, server_side_
#    prepares accepted with a note;
#  - dbgroup members with Bucardo's extras: DB:role:pri=N:makedelta=1 and
#    the role letters s and t;
#  - bad values: one error line, catalog unchanged.
. "$TESTS_DIR/lib/setup.sh"
test_begin
unchanged() { expect_equal "$1" "$(catalog_snapshot)" "catalog after $2"; }
bucardo_triggers() { sql "$1" "select count(*) from pg_trigger where tgrelid = '$2'::regclass and tgname like 'bucardo%'"; }

SCHEMA="CREATE TABLE t1 (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
        CREATE TABLE t2 (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
        CREATE TABLE t3 (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
        CREATE INDEX t1_v ON t1 (v); CREATE INDEX t2_v ON t2 (v); CREATE SEQUENCE sq"
test_databases "$SCHEMA" a c
createdb b && psql -X -q -d b -c "$SCHEMA; ALTER TABLE t2 ALTER COLUMN v TYPE varchar(50)" >/dev/null || fail "schema on b"
run_ok "$BUCARDO" add database b dbname=b
run_ok "$BUCARDO" add all tables db=a relgroup=g

# --- bad values change nothing
before=$(catalog_snapshot)
run_fail "$BUCARDO" update table public.t1 db=a autokick=maybe
expect_err 'autokick: expected a boolean'
run_fail "$BUCARDO" update table public.t1 db=a rebuild_index=3
expect_err 'rebuild_index: expected 0, 1, 2 or default'
run_fail "$BUCARDO" update table public.t1 db=a makedelta=nosuchdb
expect_err 'makedelta: no database named "nosuchdb"'
run_fail "$BUCARDO" update table public.t1 db=a ghost=default
run_fail "$BUCARDO" update table public.t1 db=a priority=high
run_fail "$BUCARDO" add dbgroup gx a:source b:boss
expect_err 'invalid role "boss"'
run_fail "$BUCARDO" add dbgroup gx a:source b:t:pri=x
expect_err 'pri: expected a whole number'
run_fail "$BUCARDO" add dbgroup gx a:source b:t:color=red
expect_err 'unknown member setting "color"'
unchanged "$before" "refused options"

# --- dbgroup members with extras, role letters
run_ok "$BUCARDO" add dbgroup gx a:s b:t:pri=3:makedelta=1
expect_equal "a|source|0|f b|target|3|t" \
    "$(sql bucardo "select string_agg(concat_ws('|', db, role, priority, makedelta), ' ' order by db) from bucardo.dbgroup_member where dbgroup = 'gx'")" "members with extras"
run_ok "$BUCARDO" remove dbgroup gx

# --- a sync a -> b with options per table
run_ok "$BUCARDO" add sync s relgroup=g dbs=a:source,b:target,c:target analyze_after_copy=0
# t2 is varchar on b: strict_checking (the sync's) makes every cycle Bad...
run_ok "$BUCARDO" start
sql a "insert into t1 values (1, 'x')" >/dev/null
"$BUCARDO" kick s 20 >/dev/null && fail "kick s succeeded with t2 of another type on b"
wait_run s 10 "state = 'Bad' and error like '%strict_checking is on%'"
# ... unless t2 alone has strict_checking off.
run_ok "$BUCARDO" update table public.t2 db=a strict_checking=0
expect_out '^Changed table public.t2 strict_checking to false$'
sleep 1
run_ok "$BUCARDO" kick s 30
wait_synced a b 10 t1

# ghost: t3's capture goes and its rows stay home
run_ok "$BUCARDO" update table public.t3 db=a ghost=1
expect_equal "0" "$(bucardo_triggers a t3)" "capture triggers of the ghost t3"
expect_equal "t" "$(sql bucardo "select ghost from bucardo.goat where db = 'a' and tablename = 't3'")" "goat.ghost"
sql a "insert into t3 values (1, 'ghost')" >/dev/null
sql a "insert into t1 values (2, 'y')" >/dev/null
sleep 1
run_ok "$BUCARDO" kick s 30
wait_synced a b 10 t1
expect_equal "0" "$(sql b "select count(*) from t3")" "ghost t3 not replicated"
run_ok "$BUCARDO" update table public.t3 db=a ghost=0
[ "$(bucardo_triggers a t3)" -gt 0 ] || fail "capture of t3 not back after ghost=0"

# autokick per table: t2's own changes wake nobody, t1's do (and bring t2's)
run_ok "$BUCARDO" update table public.t2 db=a autokick=0
sleep 1
sql a "insert into t2 values (1, 'quiet')" >/dev/null
sleep 3
expect_equal "0" "$(sql b "select count(*) from t2")" "t2 change without autokick"
sql a "insert into t1 values (3, 'loud')" >/dev/null
wait_synced a b 20 t1 t2

# analyze_after_copy, rebuild_index and priority per table, in a copy
run_ok "$BUCARDO" update table public.t1 db=a analyze_after_copy=1 rebuild_index=1
run_ok "$BUCARDO" update table public.t2 db=a priority=5
expect_equal "5" "$(sql bucardo "select priority from bucardo.herdmap h join bucardo.goat g on g.id = h.goat where g.db = 'a' and g.tablename = 't2'")" "herdmap.priority"
sql b "select pg_stat_reset()" >/dev/null
i1=$(sql b "select 't1_v'::regclass::oid") i2=$(sql b "select 't2_v'::regclass::oid")
run_ok "$BUCARDO" update sync s onetimecopy=1
sleep 1
run_ok "$BUCARDO" kick s 30
wait_synced a b 10 t1 t2
expect_equal "1|0" "$(sql b "select (select analyze_count from pg_stat_user_tables where relname = 't1') || '|' || (select analyze_count from pg_stat_user_tables where relname = 't2')")" "ANALYZE after copy: t1 only"
[ "$(sql b "select 't1_v'::regclass::oid")" != "$i1" ] || fail "t1_v was not rebuilt (rebuild_index=1 on t1)"
expect_equal "$i2" "$(sql b "select 't2_v'::regclass::oid")" "t2_v kept (rebuild_index of the sync: 0)"
expect_equal "public.t2" "$(sql bucardo "select tablename from bucardo.copy_progress where sync = 's' order by started limit 1")" "t2 copied first (priority)"

# makedelta per table: b cascades t1's rows to d, not t2's
createdb d && psql -X -q -d d -c "$SCHEMA" >/dev/null || fail "schema on d"
run_ok "$BUCARDO" add database d dbname=d
run_ok "$BUCARDO" add table public.t1 public.t2 db=b relgroup=gb
run_ok "$BUCARDO" add sync sb relgroup=gb dbs=b:source,d:target strict_checking=0
run_ok "$BUCARDO" update table public.t1 db=a makedelta=b
expect_equal "b" "$(sql bucardo "select makedelta from bucardo.goat where db = 'a' and tablename = 't1'")" "goat.makedelta"
sleep 1
sql a "insert into t1 values (10, 'cascade'); insert into t2 values (10, 'stay')" >/dev/null
run_ok "$BUCARDO" kick s 30
run_ok "$BUCARDO" kick sb 30
expect_equal "1|0" "$(sql d "select (select count(*) from t1 where id = 10) || '|' || (select count(*) from t2 where id = 10)")" "makedelta of t1 only"
run_ok "$BUCARDO" stop

# --- databases: dbdsn, pgpass, dbgroup=, addalltables, server_side_prepares
createdb e && psql -X -q -d e -c "$SCHEMA" >/dev/null || fail "schema on e"
run_ok "$BUCARDO" add database e "dbdsn=dbi:Pg:dbname=e;host=$PGHOST;port=$PGPORT" dbgroup=ge:source addalltables addallsequences ssp=0
expect_out '^Note: server_side_prepares has no effect in this engine'
expect_equal "ge|e|source" "$(sql bucardo "select concat_ws('|', dbgroup, db, role) from bucardo.dbgroup_member where db = 'e'")" "dbgroup= on add db"
expect_equal "4" "$(sql bucardo "select count(*) from bucardo.relation where db = 'e'")" "addalltables and addallsequences"
expect_equal "" "$(sql bucardo "select dbname from bucardo.db where name = 'e'")" "dbname comes from the dsn"
# list dbs shows the dsn as Bucardo does, with a password in it hidden
run_ok "$BUCARDO" list dbs '^e$'
expect_out "^Database: e  Status: active  Conn: psql -U bucardo \\(DSN=dbi:Pg:dbname=e;host=$PGHOST;port=$PGPORT\\)\$"
run_ok "$BUCARDO" add database epw "dbdsn=dbi:Pg:dbname=e;password=s3cret;host=$PGHOST" --force
run_ok "$BUCARDO" list dbs epw
expect_out "\\(DSN=dbi:Pg:dbname=e;password=\\*+;host=$PGHOST\\)"
expect_no "s3cret"
run_ok "$BUCARDO" list dbs epw -vv
expect_no "s3cret"
run_ok "$BUCARDO" remove database epw
run_ok "$BUCARDO" update database e dbgroup=gf:target,gg
expect_equal "gf:target gg:source" "$(sql bucardo "select string_agg(dbgroup || ':' || role, ' ' order by dbgroup) from bucardo.dbgroup_member where db = 'e'")" "update db dbgroup= joins and leaves"
# the engine reaches e through its dsn
run_ok "$BUCARDO" add sync se relgroup=g dbs=a:source,e:target onetimecopy=1
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick se 30
wait_synced a e 10 t1 t2
run_ok "$BUCARDO" stop
# pgpass: a role that needs a password, found only in the database's passfile
psql -X -q -d postgres -c "CREATE ROLE pwuser LOGIN SUPERUSER PASSWORD 'sesame'" || fail "role"
sed -i "1i local all pwuser scram-sha-256" "$TEST_DIR/data/pg_hba.conf"
psql -X -q -d postgres -c "select pg_reload_conf()" >/dev/null
printf '*:*:*:pwuser:sesame\n' >"$TEST_DIR/pw.pgpass"
chmod 600 "$TEST_DIR/pw.pgpass"
before=$(catalog_snapshot)
run_fail "$BUCARDO" add database p dbname=c user=pwuser
expect_err 'cannot connect'
unchanged "$before" "add db without its password"
run_ok "$BUCARDO" add database p dbname=c user=pwuser "pgpass=$TEST_DIR/pw.pgpass"
expect_equal "$TEST_DIR/pw.pgpass" "$(sql bucardo "select pgpass from bucardo.db where name = 'p'")" "db.pgpass"
run_ok "$BUCARDO" add sync sp relgroup=g dbs=a:source,p:target
run_ok "$BUCARDO" start
sql a "insert into t1 values (20, 'through pgpass')" >/dev/null
run_ok "$BUCARDO" kick sp 30
expect_equal "1" "$(sql c "select count(*) from t1 where id = 20")" "row delivered as pwuser"
run_ok "$BUCARDO" stop
# libpq's own warning about a passfile others can read (written straight to
# stderr) lands in the log in the log's format, not as a raw line
chmod 640 "$TEST_DIR/pw.pgpass"
run_ok "$BUCARDO" start
sql a "insert into t1 values (21, 'passfile ignored')" >/dev/null
"$BUCARDO" kick sp 10 >/dev/null 2>&1
run_ok "$BUCARDO" stop
grep -q 'password file ".*pw.pgpass" has group or world access' log.bucardo ||
    fail "no passfile warning in the log: $(tail -20 log.bucardo)"
! grep -q '^WARNING: *password file' log.bucardo || fail "libpq's warning raw in the log: $(grep 'password file' log.bucardo)"
grep 'password file' log.bucardo | grep -q 'stderr: password file' ||
    fail "the passfile warning is not in the log's format: $(grep 'password file' log.bucardo)"
echo ok
