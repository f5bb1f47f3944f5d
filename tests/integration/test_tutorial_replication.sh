#!/usr/bin/env bash
# The whole tutorial (shared reference: bucardo-tutorial.md), verbatim, on a
# private cluster: install, pgbench databases, add database/tables/sync,
# start, the update of pgbench_tellers reaches test2, status (table and
# detail) reports the run, stop returns once the engine is gone.
. "$TESTS_DIR/lib/setup.sh"
test_begin --no-install
TABLES=(pgbench_accounts pgbench_branches pgbench_tellers)

run_ok "$BUCARDO" --version
expect_equal "bucardo version 5.6.0" "$OUT" "bucardo --version"

mkdir -p "$TEST_DIR/piddir"
OUT=$(echo p | "$BUCARDO" install --piddir="$TEST_DIR/piddir") || fail "install failed: $OUT"
expect_out "^Enter a number to change it, P to proceed, or Q to quit:"
expect_out "^Installation is now complete\.$"

run_ok createdb test1
run_ok createdb test2
run_ok pgbench -i test1
run_ok pgbench -i test2

run_ok "$BUCARDO" add database test1 dbname=test1
run_ok "$BUCARDO" add database test2 dbname=test2
run_ok "$BUCARDO" add all tables db=test1 -T pgbench_history --relgroup=pgbench --verbose
expect_out "^New tables added: 3$"
run_ok "$BUCARDO" add sync benchdelta relgroup=pgbench dbs=test1,test2
expect_out '^Added sync "benchdelta"$'
for what in dbs dbgroups relgroups syncs tables; do
    run_ok "$BUCARDO" list "$what"
done

run_ok "$BUCARDO" start
expect_out "^Checking for existing processes$"
expect_out "^Starting Bucardo$"
pid=$(engine_pid)
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || fail "no engine process after start (pid file: '$pid')"
[ -f log.bucardo ] || fail "no log.bucardo in the current directory"

# Baseline: both sides hold pgbench's identical data.
expect_equal 10 "$(psql -d test1 -At -c 'select count(*) from pgbench_tellers')" "tellers on test1"
expect_equal 10 "$(psql -d test2 -At -c 'select count(*) from pgbench_tellers')" "tellers on test2"
expect_equal "1|1|0|" "$(psql -d test2 -At -c 'select * from pgbench_tellers where tid = 1')" "tid 1 on test2 before"

run_ok psql -d test1 -c 'update pgbench_tellers set bid=999 where tid = 1'
expect_equal "UPDATE 1" "$OUT" "update on test1"
wait_synced test1 test2 20 "${TABLES[@]}"
expect_equal "1|999|0|" "$(psql -d test2 -At -c 'select * from pgbench_tellers where tid = 1')" "tid 1 on test2 after"

run_ok "$BUCARDO" status
expect_out "^PID of Bucardo MCP: $pid$"
expect_out "^ Name +State +Last good +Time +Last I/D +Last bad +Time"
expect_out "^=+\+=+"
expect_out ' benchdelta \| Good '
expect_out '^ benchdelta \| Good +\| [0-9]{2}:[0-9]{2}:[0-9]{2} +\| [0-9]+s +\| 1/1 +\| none +\|'

run_ok "$BUCARDO" status benchdelta
expect_out "^={70}$"
expect_out "^Last good                : [A-Z][a-z]{2} [0-9]{2}, [0-9]{4} [0-9:]{8} \(time to run: [0-9]+s\)$"
expect_out "^Rows deleted/inserted    : 1 / 1$"
expect_out "^Sync name                : benchdelta$"
expect_out "^Current state            : Good$"
expect_out "^Source relgroup/database : pgbench / test1$"
expect_out "^Tables in sync           : 3$"
expect_out "^Status                   : Active$"
expect_out "^Check time               : None$"
expect_out "^Overdue time             : 00:00:00$"
expect_out "^Expired time             : 00:00:00$"
expect_out "^Stayalive/Kidsalive      : Yes / Yes$"
expect_out "^Rebuild index            : No$"
expect_out "^Autokick                 : Yes$"
expect_out "^Onetimecopy              : No$"
expect_out "^Post-copy analyze        : Yes$"
expect_out "^Last error:              : *$"

run_ok "$BUCARDO" stop
process_gone "$pid" || fail "the engine (pid $pid) is still running after 'bucardo stop' returned: $(cat /proc/$pid/status 2>/dev/null | head -3)"
[ -e "$TEST_DIR/piddir/bucardo.mcp.pid" ] && fail "the pid file is left after stop"
run_ok "$BUCARDO" status
expect_out "^Bucardo is not running$"
# Everything replicated stays equal once stopped.
wait_synced test1 test2 1 "${TABLES[@]}"
echo ok
