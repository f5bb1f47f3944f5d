#!/usr/bin/env bash
# Bucardo's automatic `stalled` database status: a database the engine
# cannot reach for stalled_after seconds shows as stalled in `list dbs`
# and `status` (bucardo.db_state; the user's db.status stays as it was),
# and goes back to active by itself once reached - with nothing lost: a
# target on a second server that is stopped and started again ends equal
# to the source, and a sync reading from that server resumes.
. "$TESTS_DIR/lib/setup.sh"
test_begin --second-cluster
run_ok "$BUCARDO" set retry_delay=1 retry_delay_max=1 stalled_after=5

SCHEMA="CREATE TABLE item (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0);"
psql2() {
    psql -X -q -h "$PGHOST2" -p "$PGPORT2" "$@"
}
# synced2 LOCALDB REMOTEDB TIMEOUT - wait until item is equal on both.
synced2() {
    local deadline=$(( $(date +%s) + $3 )) x y
    while :; do
        x=$(table_digest "$1" item)
        y=$(PGHOST=$PGHOST2 PGPORT=$PGPORT2 table_digest "$2" item 2>/dev/null)
        [ "$x" = "$y" ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && fail "item differs between $1 and $2 (second server) after $3 s: $x vs $y"
        sleep 0.2
    done
}
# db_status NAME - the Status word `bucardo list dbs` prints for NAME.
db_status() {
    "$BUCARDO" list dbs | sed -n "s/^Database: $1 *Status: \([a-z]*\) .*/\1/p"
}
# wait_status NAME WORD TIMEOUT - until `list dbs` shows NAME as WORD.
wait_status() {
    local deadline=$(( $(date +%s) + $3 ))
    while [ "$(db_status "$1")" != "$2" ]; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "database $1 is not $2 after $3 s: $("$BUCARDO" list dbs)"
        sleep 0.3
    done
}

psql2 -d postgres -c "CREATE ROLE bucardo LOGIN SUPERUSER" || fail "bucardo role on the second server"
test_databases "$SCHEMA" src back
for db in far remote; do
    psql2 -d postgres -c "CREATE DATABASE $db" && psql2 -d "$db" -c "$SCHEMA" || fail "schema on $db"
    run_ok "$BUCARDO" add database "$db" dbname="$db" host="$PGHOST2" port="$PGPORT2"
done
run_ok "$BUCARDO" add table item db=src relgroup=out
run_ok "$BUCARDO" add table item db=remote relgroup=in
run_ok "$BUCARDO" add sync away relgroup=out dbs=src:source,far:target
run_ok "$BUCARDO" add sync home relgroup=in dbs=remote:source,back:target
run_ok "$BUCARDO" start

sql src "insert into item select i, 'v' || i from generate_series(1, 300) i" >/dev/null
psql2 -d remote -c "insert into item select i, 'r' || i from generate_series(1, 100) i" || fail "rows on remote"
synced2 src far 30
wait_synced_remote() {
    local deadline=$(( $(date +%s) + $1 )) x y
    while :; do
        x=$(PGHOST=$PGHOST2 PGPORT=$PGPORT2 table_digest remote item 2>/dev/null)
        y=$(table_digest back item)
        [ "$x" = "$y" ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && fail "item differs between remote (second server) and back after $1 s: $x vs $y"
        sleep 0.2
    done
}
wait_synced_remote 30
for db in src far remote back; do
    expect_equal active "$(db_status $db)" "status of $db while everything runs"
done

### The second server goes down: far (a target) and remote (a source).
pg_ctl_cluster "$TEST_DIR/data2" -m immediate stop || fail "cannot stop the second server"
sql src "update item set n = n + 1 where id <= 200; delete from item where id > 280;
         insert into item select i, 'new' from generate_series(1001, 1050) i" >/dev/null
# Not at the first failed connection: stalled_after is 5 s.
expect_equal "" "$(sql bucardo "select string_agg(db, ',') from bucardo.db_state")" "stalled marks right after the outage"
wait_status far stalled 30
wait_status remote stalled 30
expect_equal active "$(db_status src)" "src while the other server is down"
expect_equal active "$(db_status back)" "back while the other server is down"
# The user's status is untouched; the mark is the engine's.
expect_equal "active,active" "$(sql bucardo "select string_agg(status, ',' order by name) from bucardo.db where name in ('far', 'remote')")" "db.status"
run_ok "$BUCARDO" status
expect_out "^ away +\| Bad \(stalled: far\) +\|"
expect_out "^ home +\| [A-Za-z ]+\(stalled: remote\) +\|"
run_ok "$BUCARDO" status away
expect_out "^Stalled databases        : far since [A-Z][a-z]{2} [0-9]{2}, [0-9]{4} [0-9:]{8}$"
# More changes while it is stalled; they are kept.
for i in 1 2 3; do
    sql src "update item set v = v || '+$i' where id % 7 = $i" >/dev/null
done

### Back: the marks go by themselves and nothing was lost.
pg_ctl_cluster "$TEST_DIR/data2" -o "\"-k $PGHOST2 -c listen_addresses=''\"" start || fail "cannot start the second server"
synced2 src far 60
wait_status far active 30
wait_status remote active 30
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.db_state")" "stalled marks after the outage"
psql2 -d remote -c "update item set n = 7 where id <= 10; insert into item values (5000, 'after', 0)" || fail "changes on remote"
wait_synced_remote 30
synced2 src far 10
run_ok "$BUCARDO" status away
expect_no "Stalled databases"
run_ok "$BUCARDO" stop
echo "PASS"
