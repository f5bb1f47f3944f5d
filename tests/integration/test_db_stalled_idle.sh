#!/usr/bin/env bash
# An idle sync's source that stops answering is marked stalled without a
# cycle running: the autokick watcher's poll of the source goes unanswered
# for stalled_after seconds (the server is frozen with SIGSTOP - its
# connections stay open, nothing fails, nothing kicks the sync), so
# bucardo.db_state gets the source's row, `list dbs` and `status` show it
# stalled; when the server answers again the row goes by itself and the
# sync carries on with nothing lost.  The watcher's other databases keep
# being watched meanwhile (a change on a local source still replicates).
. "$TESTS_DIR/lib/setup.sh"
test_begin --second-cluster
run_ok "$BUCARDO" set retry_delay=1 retry_delay_max=1 stalled_after=3

SCHEMA="CREATE TABLE item (id int PRIMARY KEY, v text);"
psql2() {
    psql -X -q -h "$PGHOST2" -p "$PGPORT2" "$@"
}
db_status() {
    "$BUCARDO" list dbs | sed -n "s/^Database: $1 *Status: \([a-z]*\) .*/\1/p"
}
wait_status() {
    local deadline=$(( $(date +%s) + $3 ))
    while [ "$(db_status "$1")" != "$2" ]; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "database $1 is not $2 after $3 s: $("$BUCARDO" list dbs)"
        sleep 0.3
    done
}
# wait_rows DB SQL WANT TIMEOUT - until SQL on the local DB prints WANT.
wait_rows() {
    local deadline=$(( $(date +%s) + $4 )) got
    while got=$(sql "$1" "$2"); [ "$got" != "$3" ]; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "$1: '$2' gives '$got', not '$3' after $4 s"
        sleep 0.2
    done
}
# The second server's processes (the postmaster and its children), all
# started by this test.
server2_pids() {
    local pm
    pm=$(head -1 "$TEST_DIR/data2/postmaster.pid") || return 1
    echo "$pm" $(pgrep -P "$pm")
}
FROZEN=""
thaw() {
    [ -n "$FROZEN" ] && kill -CONT $FROZEN 2>/dev/null
    FROZEN=""
}
trap 'thaw; pg_stop_cluster' EXIT

psql2 -d postgres -c "CREATE ROLE bucardo LOGIN SUPERUSER" || fail "bucardo role on the second server"
psql2 -d postgres -c "CREATE DATABASE remote" && psql2 -d remote -c "$SCHEMA" || fail "schema on remote"
run_ok "$BUCARDO" add database remote dbname=remote host="$PGHOST2" port="$PGPORT2"
test_databases "$SCHEMA" back src dst
run_ok "$BUCARDO" add table item db=remote relgroup=in
run_ok "$BUCARDO" add table item db=src relgroup=loc
run_ok "$BUCARDO" add sync home relgroup=in dbs=remote:source,back:target
run_ok "$BUCARDO" add sync local relgroup=loc dbs=src:source,dst:target
run_ok "$BUCARDO" start

psql2 -d remote -c "insert into item select i, 'r' || i from generate_series(1, 50) i" || fail "rows on remote"
wait_rows back "select count(*) from item" 50 30
expect_equal active "$(db_status remote)" "remote while it answers"

### The second server freezes; the sync home is idle (no change, no kick).
runs_before=$(sql bucardo "select count(*) from bucardo.syncrun where sync = 'home'")
FROZEN=$(server2_pids) || fail "the second server's pids"
kill -STOP $FROZEN || fail "cannot freeze the second server"
# Not before stalled_after (3 s) ...
sleep 1
expect_equal "" "$(sql bucardo "select string_agg(db, ',') from bucardo.db_state")" "stalled marks 1 s into the freeze"
# ... but soon after, and without a cycle of home.
wait_status remote stalled 20
expect_equal "remote" "$(sql bucardo "select string_agg(db, ',') from bucardo.db_state")" "bucardo.db_state"
expect_equal "$runs_before" "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 'home'")" \
    "runs of home while its source is frozen"
expect_equal active "$(sql bucardo "select status from bucardo.db where name = 'remote'")" "db.status (the user's)"
run_ok "$BUCARDO" status
expect_out "^ home +\| [A-Za-z ]+\(stalled: remote\) +\|"
run_ok "$BUCARDO" status home
expect_out "^Stalled databases        : remote since "
# The watcher still watches the other sources: a local change replicates.
sql src "insert into item values (1, 'while frozen')" >/dev/null
wait_rows dst "select v from item where id = 1" "while frozen" 20

### It answers again: the mark goes by itself, nothing lost.
thaw
wait_status remote active 20
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.db_state")" "stalled marks after the freeze"
psql2 -d remote -c "update item set v = 'after' where id <= 10; insert into item values (100, 'new')" ||
    fail "changes on remote"
wait_rows back "select count(*) filter (where v = 'after') || '/' || count(*) from item" "10/51" 30
run_ok "$BUCARDO" status home
expect_no "Stalled databases"
run_ok "$BUCARDO" stop
echo "PASS"
