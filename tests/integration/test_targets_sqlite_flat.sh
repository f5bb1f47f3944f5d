#!/usr/bin/env bash
# Targets other than PostgreSQL without a server: a SQLite database and the
# flat files (flatpg, flatsql) beside a PostgreSQL target, after inserts,
# updates (a key change too), deletes and a truncate.  The SQLite table is
# read back with sqlite3; the flatpg files are replayed with psql into an
# empty copy of the table and the flatsql files likewise (their statements
# are portable), and each must equal the source.  compare reads SQLite
# targets back (differences made there are named) and refuses flat files.
. "$TESTS_DIR/lib/setup.sh"
command -v sqlite3 >/dev/null || fail "sqlite3 (the sqlite3 package) is needed"
test_begin
SCHEMA="CREATE TABLE t (id int PRIMARY KEY, name text, n numeric, at timestamptz, ok boolean)"
test_databases "$SCHEMA" src pgt replay_pg replay_sql
LITE=$TEST_DIR/lite.db
sqlite3 "$LITE" "CREATE TABLE t (id integer PRIMARY KEY, name text, n numeric, at text, ok text)"
FLAT=$TEST_DIR/flat
mkdir -p "$FLAT"

# Bad input first: refused kinds and a flatfile_dir that is no directory.
run_fail "$BUCARDO" add db m type=mongo dbname=x
expect_err 'database type "mongo" is not supported: Debian has no mongo server'
run_fail "$BUCARDO" add db m type=nosuch dbname=x
expect_err 'unknown database type "nosuch"'
run_fail "$BUCARDO" add db l type=sqlite dbname="$TEST_DIR/missing/lite.db"
expect_err 'cannot create SQLite database ".*/missing/lite.db": directory ".*/missing" does not exist'
[ ! -e "$TEST_DIR/missing" ] || fail "add db created the missing directory"
# a file that does not exist yet in a directory that does: created, as
# Bucardo's DBD::SQLite did
run_ok "$BUCARDO" add db l type=sqlite dbname="$TEST_DIR/new.db"
[ -f "$TEST_DIR/new.db" ] || fail "add db type=sqlite did not create the file"
expect_equal "l|sqlite|$TEST_DIR/new.db" "$(sql bucardo "select concat_ws('|', name, dbtype, dbname) from bucardo.db where name = 'l'")" "the new sqlite db"
run_ok "$BUCARDO" remove db l
run_ok "$BUCARDO" set flatfile_dir="$TEST_DIR/nonexistent"
run_fail "$BUCARDO" add db fp type=flatpg
expect_err 'flatfile_dir .* is not a writable directory'
run_ok "$BUCARDO" set flatfile_dir="$FLAT"

run_ok "$BUCARDO" add db lite type=sqlite dbname="$LITE"
# customname and customcols on a target of another kind
LITE2=$TEST_DIR/lite2.db
sqlite3 "$LITE2" "CREATE TABLE renamed (id integer PRIMARY KEY, name text)"
run_ok "$BUCARDO" add db lite2 type=sqlite dbname="$LITE2"
run_fail "$BUCARDO" add all tables db=lite relgroup=x
expect_err 'database "lite" is of type sqlite: only PostgreSQL databases are read from'
run_ok "$BUCARDO" add db fpg type=flatpg
run_ok "$BUCARDO" add db fsql type=flatsql
# list dbs: each type's own connection line, and a Type column as the types differ
run_ok "$BUCARDO" list dbs
expect_out "^Database: lite +Type: sqlite    Status: active  Conn: sqlite3 $LITE\$"
expect_out "^Database: fpg +Type: flatpg    Status: active  Prefix: "
expect_out "^Database: src +Type: postgres  Status: active  Conn: psql "
run_ok "$BUCARDO" list dbs 'lite$'
expect_out "^Database: lite  Status: active  Conn: sqlite3 $LITE\$"
run_fail "$BUCARDO" add db lite2 type=sqlite dbname="$LITE" makedelta=1
expect_err 'makedelta applies to PostgreSQL databases only'
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_fail "$BUCARDO" update db src type=sqlite
expect_err 'database "src" cannot become type sqlite: it is a source, or tables were added from it'
run_fail "$BUCARDO" add sync bad relgroup=rg dbs=lite:source,src:target
expect_err 'database "lite" cannot be a source'
run_ok "$BUCARDO" add customname t renamed db=lite2
run_ok "$BUCARDO" add customcols t "SELECT id, upper(name) AS name" db=lite2
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src:source,pgt:target,lite:target,fpg:target,fsql:target,lite2:target
run_ok "$BUCARDO" validate s
run_fail "$BUCARDO" compare s
expect_err 'sync s: compare cannot read target fpg \(type flatpg\): a flat file is a log of the changes sent'
run_ok "$BUCARDO" start

sql src "insert into t select i, 'name ' || i || E'\\ttab''quote\\\\', i * 1.5, '2024-01-02 03:04:05+00', i % 2 = 0 from generate_series(1, 200) i" >/dev/null
sql src "update t set name = NULL where id % 10 = 0; delete from t where id > 190; update t set id = 1000 where id = 5" >/dev/null
run_ok "$BUCARDO" kick s 30
expect_out DONE
sql src "truncate t" >/dev/null
sql src "insert into t select i, 'again ' || i, i, now(), true from generate_series(1, 50) i" >/dev/null
sql src "update t set n = n + 1 where id < 10; delete from t where id = 20" >/dev/null
run_ok "$BUCARDO" kick s 30
expect_out DONE

wait_synced src pgt 30 t
expected=$(sql src "select string_agg(id || '|' || coalesce(name, '<null>') || '|' || n, E'\n' order by id) from t")
got=$(sqlite3 "$LITE" "select group_concat(id || '|' || coalesce(name, '<null>') || '|' || n, char(10)) from (select * from t order by id)")
expect_equal "$expected" "$got" "sqlite target"
expect_equal "$(sql src "select string_agg(id || '|' || coalesce(upper(name), '<null>'), E'\n' order by id) from t")" \
    "$(sqlite3 "$LITE2" "select group_concat(id || '|' || coalesce(name, '<null>'), char(10)) from (select * from renamed order by id)")" \
    "sqlite target with customname and customcols"

ls "$FLAT" | grep -q '\.tmp$' && fail "a .tmp file is left in flatfile_dir"
nfiles=$(ls "$FLAT" | grep -c '^bucardo\.flatfile\.s\.fpg\..*\.sql$')
[ "$nfiles" -ge 2 ] || fail "expected at least 2 flatpg files, found $nfiles"
# Replay in name order (the name carries the time and a counter).
# Names: bucardo.flatfile.SYNC.DB.STAMP.N.sql
for f in $(ls "$FLAT" | sort -t. -k5,5 -k6,6n); do
    case $f in
    *.fpg.*) db=replay_pg ;;
    *.fsql.*) db=replay_sql ;;
    *) fail "unexpected file $f in flatfile_dir" ;;
    esac
    psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -d "$db" -f "$FLAT/$f" >/dev/null ||
        fail "replaying $f into $db"
done
expect_equal "$(table_digest src t)" "$(table_digest replay_pg t)" "flatpg files replayed"
expect_equal "$(table_digest src t)" "$(table_digest replay_sql t)" "flatsql files replayed"

# onetimecopy=1 to every target: the SQLite table is replaced whole.
sqlite3 "$LITE" "delete from t where id < 5; insert into t (id, name) values (99999, 'stray')"
run_ok "$BUCARDO" update sync s onetimecopy=1
run_ok "$BUCARDO" kick s 30
expect_out DONE
got=$(sqlite3 "$LITE" "select group_concat(id || '|' || coalesce(name, '<null>') || '|' || n, char(10)) from (select * from t order by id)")
expected=$(sql src "select string_agg(id || '|' || coalesce(name, '<null>') || '|' || n, E'\n' order by id) from t")
expect_equal "$expected" "$got" "sqlite target after onetimecopy"

# A fullcopy sync into SQLite: the table replaced whole at every kick.
LITE3=$TEST_DIR/lite3.db
sqlite3 "$LITE3" "CREATE TABLE t (id integer PRIMARY KEY, name text, n numeric, at text, ok text);
                  INSERT INTO t (id, name) VALUES (-1, 'stray')"
run_ok "$BUCARDO" add db lite3 type=sqlite dbname="$LITE3"
run_ok "$BUCARDO" add sync f relgroup=rg dbs=src:source,lite3:fullcopy autokick=0
run_ok "$BUCARDO" reload
sql src "update t set name = 'for fullcopy' where id = 1" >/dev/null
run_ok "$BUCARDO" kick f 30
expect_out DONE
expected=$(sql src "select string_agg(id || '|' || coalesce(name, '<null>') || '|' || n, E'\n' order by id) from t")
got=$(sqlite3 "$LITE3" "select group_concat(id || '|' || coalesce(name, '<null>') || '|' || n, char(10)) from (select * from t order by id)")
expect_equal "$expected" "$got" "sqlite fullcopy target"

# compare reads the SQLite target back: equal (numbers as SQLite's numeric
# affinity holds them, timestamps and booleans as text); differences made
# there are found and named; the same for a customname/customcols target.
run_rc 0 "$BUCARDO" compare f
expect_out 'Table public.t: equal'
sqlite3 "$LITE3" "update t set name = 'changed' where id = 3; update t set n = n + 0.5 where id = 4;
                  delete from t where id = 6; insert into t (id, name) values (-5, 'stray')"
run_rc 1 "$BUCARDO" compare f
expect_out 'Table public.t: 4 differences \(1 missing on lite3, 1 extra on lite3, 2 different on lite3\)'
expect_out '  missing on lite3: id=6'
expect_out '  extra on lite3: id=-5'
expect_out '  different on lite3: id=3'
expect_out '  different on lite3: id=4'
run_ok "$BUCARDO" kick f 30
run_rc 0 "$BUCARDO" compare f
run_ok "$BUCARDO" add sync c relgroup=rg dbs=src:source,lite:target,lite2:target autokick=0 status=inactive
run_rc 0 "$BUCARDO" compare c
expect_out 'Table public.t: equal'
sqlite3 "$LITE2" "update renamed set name = lower(name) where id = 7"
run_rc 1 "$BUCARDO" compare c
expect_out '  different on lite2: id=7'
run_ok "$BUCARDO" stop
echo ok
