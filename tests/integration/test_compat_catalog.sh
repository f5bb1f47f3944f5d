#!/usr/bin/env bash
# Bucardo's monitoring SQL on this catalog, unchanged: the queries Bucardo's
# own `bucardo status` and kick failure report send (syncrun with lastgood /
# lastbad / lastempty, status), and the usual sync/db/dbgroup look-ups by
# Bucardo's column names (herd, dbs, dbhost, dbport, dbconn, dbservice,
# cdate), judged by the rows they return after real runs:
#  - a good run, then an empty one (Good, nothing applied: Bucardo's empty), then a failed one, then a good one:
#    exactly one row per sync has each flag, the latest of its outcome;
#    the failed row's status holds the error;
#  - a renamed relgroup/dbgroup shows in herd/dbs (generated, follows);
#  - Bucardo's column names can be written (herd, dbs, dbhost, dbport,
#    dbconn, dbservice): a write that names nothing or leaves the sync
#    unrunnable is refused with the CLI's message and changes nothing; one
#    that is fine reaches the real column, and after `bucardo validate` and
#    `bucardo reload` the running engine replicates the new tables and to
#    the new database; dbgroup.about is Bucardo's free text.
# And `start --extra-name=NAME` (Bucardo's suffix to its version and process
# names): the engine's process name and its start line carry it.
. "$TESTS_DIR/lib/setup.sh"
test_begin
test_databases "CREATE TABLE t (id int PRIMARY KEY, v int)" a b
run_ok "$BUCARDO" update db b host="$PGHOST" port="$PGPORT" conn=connect_timeout=5
test_sync s1 rg a:source,b:target autokick=0
run_ok "$BUCARDO" start --extra-name=east
pid=$(cat "$TEST_DIR/piddir/bucardo.mcp.pid")
expect_equal "bucardo east" "$(cat /proc/$pid/comm)" "process name with --extra-name"
grep -q "bucardo 5\.6\.0 east started, pid $pid" "$TEST_DIR/log.bucardo" || fail "no start line with the extra name"
psql -X -q -d a -c "INSERT INTO t VALUES (1, 1)" || fail insert
run_ok "$BUCARDO" kick s1 30
run_ok "$BUCARDO" kick s1 30
psql -X -q -d b -c "ALTER TABLE t RENAME TO t_away" || fail rename
psql -X -q -d a -c "INSERT INTO t VALUES (2, 2)" || fail insert
"$BUCARDO" kick s1 30 >/dev/null 2>&1 && fail "kick with a missing target table succeeded"
psql -X -q -d b -c "ALTER TABLE t_away RENAME TO t" || fail rename back
run_ok "$BUCARDO" kick s1 30
wait_synced a b 30 t

# Bucardo's set_sync_status query (bucardo script), as it sends it.
rows=$(sql bucardo "SELECT state, deletes, inserts, lastgood, lastbad, lastempty, total_time >= 0,
       started_time IS NOT NULL, ended_epoch > 0
  FROM (SELECT *, TO_CHAR(started,'Dy Mon DD, YYYY HH24:MI:SS') AS started_time,
               CASE WHEN current_date = ended::date THEN TO_CHAR(ended,'HH24:MI:SS')
                    ELSE TO_CHAR(ended,'Dy Mon DD, YYYY HH24:MI:SS') END AS ended_time,
               ROUND(EXTRACT(epoch FROM ended)) AS ended_epoch,
               EXTRACT(epoch FROM ended-started) AS total_time,
               ROUND(EXTRACT(epoch FROM now()-started)) AS total_time_started,
               ROUND(EXTRACT(epoch FROM now()-ended)) AS total_time_ended
          FROM syncrun
         WHERE sync = 's1'
           AND (lastgood IS TRUE OR lastbad IS TRUE OR lastempty IS TRUE OR ended IS NULL)) x
 ORDER BY started" 2>&1)
expect_equal "Good|0|0|f|f|t|t|t|t
Bad|0|0|f|t|f|t|t|t
Good|0|1|t|f|f|t|t|t" "$rows" "set_sync_status rows"
[ "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's1'")" -ge 4 ] || fail "fewer than 4 runs"
# Bucardo's show_why_sync_killed: the last failure's status is its error.
why=$(sql bucardo "SELECT * FROM bucardo.syncrun WHERE sync = 's1' AND lastbad ORDER BY started DESC LIMIT 1" 2>&1)
printf '%s\n' "$why" | grep -q 'is missing on database b' || fail "lastbad row's status lacks the error: $why"
expect_equal "Complete" "$(sql bucardo "select status from bucardo.syncrun where lastgood and sync = 's1'")" "lastgood status"

# sync, db, dbgroup by Bucardo's column names.
expect_equal "s1|active|rg|s1|t" "$(sql bucardo "SELECT name, status, herd, dbs, cdate IS NOT NULL FROM bucardo.sync")" "sync"
expect_equal "a|||||active
b|$PGHOST|$PGPORT|connect_timeout=5||active" \
    "$(sql bucardo "SELECT name, dbhost, dbport, dbconn, dbservice, status FROM bucardo.db ORDER BY name")" "db"
expect_equal "1" "$(sql bucardo "SELECT count(*) FROM bucardo.dbgroup WHERE name = 's1' AND cdate IS NOT NULL")" "dbgroup"
run_ok "$BUCARDO" status s1
expect_out 'Last good'
run_ok "$BUCARDO" stop
run_ok "$BUCARDO" update relgroup rg name=rg2
expect_equal "rg2|s1" "$(sql bucardo "SELECT herd, dbs FROM bucardo.sync WHERE name = 's1'")" "herd follows a rename"

# Writes to Bucardo's names: refused, with the CLI's checks, when they
# name nothing or make the sync unrunnable - an error, and nothing changes.
run_ok "$BUCARDO" add relgroup empty
run_ok "$BUCARDO" add dbgroup lone a:source
before=$(catalog_snapshot)
refused() { # SQL PATTERN - the write fails with PATTERN
    local err
    err=$(psql -X -q -v ON_ERROR_STOP=1 -d bucardo -c "$1" 2>&1) && fail "accepted: $1"
    printf '%s\n' "$err" | grep -q "$2" || fail "$1: expected /$2/, got: $err"
}
refused "UPDATE bucardo.sync SET herd = 'nope' WHERE name = 's1'" 'no relgroup named "nope"'
refused "UPDATE bucardo.sync SET dbs = 'nope' WHERE name = 's1'" 'no dbgroup named "nope"'
refused "UPDATE bucardo.sync SET herd = 'empty' WHERE name = 's1'" 'sync "s1": its relgroup has no tables'
refused "UPDATE bucardo.sync SET dbs = 'lone' WHERE name = 's1'" 'sync "s1": its dbgroup has no target database'
refused "UPDATE bucardo.db SET dbport = '99999' WHERE name = 'b'" 'invalid port "99999"'
refused "UPDATE bucardo.db SET dbport = 'x' WHERE name = 'b'" 'invalid port "x"'
expect_equal "$before" "$(catalog_snapshot)" "catalog after refused writes"

# Accepted: a new relgroup (t and u) and a new dbgroup (a third database
# c) through herd and dbs; after Bucardo's validate and reload, a running
# engine replicates u, and to c.
for db in a b; do psql -X -q -d $db -c "CREATE TABLE u (id int PRIMARY KEY)" || fail "u on $db"; done
createdb c || fail "createdb c"
psql -X -q -d c -c "CREATE TABLE t (id int PRIMARY KEY, v int); CREATE TABLE u (id int PRIMARY KEY)" || fail "c"
run_ok "$BUCARDO" add database c dbname=c
run_ok "$BUCARDO" add table u db=a
run_ok "$BUCARDO" add relgroup rg3 t u
run_ok "$BUCARDO" add dbgroup dg3 a:source b:target c:target
run_ok "$BUCARDO" start
note=$(psql -X -q -v ON_ERROR_STOP=1 -d bucardo -c "UPDATE bucardo.sync SET herd = 'rg3', dbs = 'dg3' WHERE name = 's1'" 2>&1) ||
    fail "herd/dbs write: $note"
printf '%s\n' "$note" | grep -q 'bucardo validate s1' || fail "no notice about validate: $note"
expect_equal "rg3|dg3|rg3|dg3" "$(sql bucardo "SELECT relgroup, dbgroup, herd, dbs FROM bucardo.sync WHERE name = 's1'")" \
    "herd and dbs written"
run_ok "$BUCARDO" validate s1
run_ok "$BUCARDO" reload
psql -X -q -d a -c "INSERT INTO u VALUES (7); INSERT INTO t VALUES (8, 8)" || fail insert
run_ok "$BUCARDO" kick s1 30
wait_synced a b 30 u
expect_equal "1|8" "$(sql c "SELECT (SELECT count(*) FROM u WHERE id = 7), (SELECT v FROM t WHERE id = 8)")" \
    "the new member c got the new rows"
run_ok "$BUCARDO" stop
# db: dbhost, dbport, dbconn, dbservice ('' is unset, as Bucardo's).
psql -X -q -v ON_ERROR_STOP=1 -d bucardo -c "UPDATE bucardo.db SET dbconn = 'connect_timeout=7', dbport = '',
    dbhost = '' WHERE name = 'b'" || fail "db write"
expect_equal "||connect_timeout=7|||connect_timeout=7" \
    "$(sql bucardo "SELECT host, port, conn, dbhost, dbport, dbconn FROM bucardo.db WHERE name = 'b'")" "db written"
expect_equal "" "$(sql bucardo "SELECT about FROM bucardo.dbgroup WHERE name = 'dg3'")" "dbgroup.about"
psql -X -q -d bucardo -c "UPDATE bucardo.dbgroup SET about = 'the east' WHERE name = 'dg3'" || fail "about write"
expect_equal "the east" "$(sql bucardo "SELECT about FROM bucardo.dbgroup WHERE name = 'dg3'")" "dbgroup.about"
# A status write through Bucardo's column (the same column here) works.
psql -X -q -d bucardo -c "UPDATE bucardo.sync SET status = 'inactive' WHERE name = 's1'" || fail "status write"
run_ok "$BUCARDO" list sync s1
expect_out '\[Inactive\]'
echo "PASS"
