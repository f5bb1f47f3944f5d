#!/usr/bin/env bash
# A target server goes down: the sync to it turns Bad (its run history
# names the target) and is retried, while another sync from the same
# source to a target on the running server keeps replicating.  The deltas
# the down target still needs are kept (purge waits for every sync), so
# when the server is back the sync catches up on its own - no kick, no new
# change - and status is Good again.
. "$TESTS_DIR/lib/setup.sh"
test_begin --second-cluster
# Short retries keep the test short; the backoff itself is not under test.
run_ok "$BUCARDO" set retry_delay=1 retry_delay_max=2

SCHEMA="CREATE TABLE items (id int PRIMARY KEY, v text, n int);
        CREATE TABLE other (k text PRIMARY KEY, d jsonb);"
test_databases "$SCHEMA" src near
# psql2 ARGS - psql on the second server.
psql2() {
    psql -X -q -h "$PGHOST2" -p "$PGPORT2" "$@"
}
psql2 -d postgres -c "CREATE ROLE bucardo LOGIN SUPERUSER" || fail "bucardo role on the second server"
psql2 -d postgres -c "CREATE DATABASE far" && psql2 -d far -c "$SCHEMA" || fail "schema on far"
# remote_synced TIMEOUT - wait until far (second server) equals src.
remote_synced() {
    local deadline=$(( $(date +%s) + $1 )) t a b
    for t in items other; do
        while :; do
            a=$(table_digest src "$t")
            b=$(PGHOST=$PGHOST2 PGPORT=$PGPORT2 table_digest far "$t" 2>/dev/null)
            [ "$a" = "$b" ] && break
            [ "$(date +%s)" -ge "$deadline" ] && fail "table $t differs between src and far after $1 s: $a vs $b"
            sleep 0.2
        done
    done
}

run_ok "$BUCARDO" add database far dbname=far host="$PGHOST2" port="$PGPORT2"
test_sync tofar rg src,far
run_ok "$BUCARDO" add sync tonear relgroup=rg dbs=src,near
run_ok "$BUCARDO" start

psql -X -q -d src -c "INSERT INTO items SELECT i, 'v' || i, i FROM generate_series(1, 1000) i;
                      INSERT INTO other VALUES ('a', '{\"x\": 1}'), ('b', NULL)" || fail "first rows"
wait_synced src near 20 items other
remote_synced 20

# The far server goes away.
pg_ctl_cluster "$TEST_DIR/data2" -m immediate stop || fail "cannot stop the second server"
last_bad=$(sql bucardo "select coalesce(max(id), 0) from bucardo.syncrun where sync = 'tofar'")
psql -X -q -d src -c "UPDATE items SET n = n * 2 WHERE id % 3 = 0; DELETE FROM items WHERE id > 900;
                      INSERT INTO other VALUES ('c', '[1, 2]')" || fail "changes during the outage"
wait_run tofar 30 "id > $last_bad AND state = 'Bad' AND error LIKE '%target far%'"
echo "tofar went Bad: $(sql bucardo "select error from bucardo.syncrun where sync = 'tofar' and state = 'Bad' order by id desc limit 1")"
wait_synced src near 20 items other

# More changes while it is down, in several transactions; the near target keeps up.
for i in 1 2 3; do
    psql -X -q -d src -c "UPDATE items SET v = v || '+$i' WHERE id % 7 = $i; INSERT INTO items VALUES (2000 + $i, 'new', $i)" ||
        fail "change $i during the outage"
done
wait_synced src near 20 items other
run_ok "$BUCARDO" status
# (a retry may be in progress: "Bad (running)")
expect_out ' tofar +\| Bad( \(running\))? '
expect_out ' tonear +\| Good '
run_ok "$BUCARDO" status tofar
expect_out "^Current state            : Bad( \(running\))?$"
expect_out "^Last error:              : .*target far"
# Nothing the down target needs has been purged.
pending=0
while IFS= read -r q; do
    pending=$((pending + $(sql src "$q")))
done < <(sql src "select format('select count(*) from bucardo.%I', tablename) from pg_tables
                   where schemaname = 'bucardo' and tablename like 'delta%'")
[ "$pending" -gt 0 ] || fail "deltas were purged while the target far still needs them"

# The server comes back; the sync catches up by itself.
pg_ctl_cluster "$TEST_DIR/data2" -o "\"-k $TEST_DIR/sock2 -c listen_addresses=''\"" start ||
    fail "cannot start the second server again"
remote_synced 30
wait_synced src near 5 items other
wait_run tofar 10 "state = 'Good' AND id > (select max(id) from bucardo.syncrun where sync = 'tofar' and state = 'Bad')"
run_ok "$BUCARDO" status
expect_out ' tofar +\| Good '
expect_out ' tonear +\| Good '
run_ok "$BUCARDO" status tofar
expect_out "^Current state            : Good$"
run_ok "$BUCARDO" stop
echo ok
