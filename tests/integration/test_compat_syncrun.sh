#!/usr/bin/env bash
# bucardo.syncrun as Bucardo keeps it, judged by the catalog's rows:
#  - a running cycle has its row, ended NULL (state Running, Bucardo's
#    status 'Started'): Bucardo's set_sync_status query (`... OR ended IS
#    NULL`) returns it, and `bucardo status` shows the sync's last state
#    and "(running)" (Bucardo shows the running row's status there), while
#    the cycle is held on the target by an advisory lock;
#  - the engine killed (SIGKILL) in that cycle leaves the row running; the
#    next start ends it as failed, saying so, and nothing stays running;
#  - truncates counts the tables whose TRUNCATE a run replicated, and such
#    a run is lastgood, not lastempty (Bucardo: empty means no deletes,
#    inserts or truncates);
#  - a row left running by a cycle that lost the catalog is ended by the
#    sync's next cycle;
#  - a kicked run with nothing to apply is ended, never left running.
. "$TESTS_DIR/lib/setup.sh"
test_begin
test_databases "CREATE TABLE t (id int PRIMARY KEY, v int); CREATE TABLE u (id int PRIMARY KEY)" a b
test_sync s1 rg a:source,b:target autokick=0
run_ok "$BUCARDO" start
psql -X -q -d a -c "INSERT INTO t VALUES (1, 1); INSERT INTO u VALUES (1)" || fail insert
run_ok "$BUCARDO" kick s1 30
wait_synced a b 30 t u
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.syncrun where ended is null")" "no running row after the kick"

# A cycle held on the target: its row is there, running.
hold_trigger b t
hold_lock b
psql -X -q -d a -c "INSERT INTO t VALUES (2, 2)" || fail insert
run_ok "$BUCARDO" kick s1
deadline=$(( $(date +%s) + 30 ))
until [ "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's1' and ended is null")" = 1 ]; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "no running syncrun row within 30 s"
    sleep 0.1
done
# Wait until the cycle is really stuck in the hold trigger on b.
until [ "$(sql b "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = 'b'")" -ge 1 ]; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "the cycle never reached the held target"
    sleep 0.1
done
expect_equal "Running|Started|f|f|f|0|0|0" \
    "$(sql bucardo "select state, status, lastgood, lastbad, lastempty, inserts, deletes, truncates
                      from bucardo.syncrun where sync = 's1' and ended is null")" "the running row"
running_id=$(sql bucardo "select id from bucardo.syncrun where sync = 's1' and ended is null")
# Bucardo's set_sync_status query, as it sends it: the running row is the one without a last* flag.
expect_equal "Started" "$(sql bucardo "SELECT status FROM syncrun WHERE sync = 's1'
    AND (lastgood IS TRUE OR lastbad IS TRUE OR lastempty IS TRUE OR ended IS NULL)
    AND lastgood IS FALSE AND lastbad IS FALSE AND lastempty IS FALSE")" "set_sync_status's running row"
run_ok "$BUCARDO" status s1
expect_out 'Current state +: Good \(running\)'
run_ok "$BUCARDO" status
expect_out '^ *s1 +\| Good \(running\) +\|'

# The engine dies in that cycle: the row stays running until the next start.
pid=$(engine_pid)
kill -9 "$pid" || fail "kill the engine"
for _ in $(seq 100); do process_gone "$pid" && break; sleep 0.05; done
process_gone "$pid" || fail "the engine survived SIGKILL"
release_lock b
expect_equal "1" "$(sql bucardo "select count(*) from bucardo.syncrun where id = $running_id and ended is null")" \
    "the killed cycle's row, still running"
run_ok "$BUCARDO" start
wait_synced a b 30 t
run_ok "$BUCARDO" kick s1 30
expect_equal "Bad|t|t" \
    "$(sql bucardo "select state, ended is not null, status like 'the engine stopped during this run%'
                      from bucardo.syncrun where id = $running_id")" "the killed cycle's row, ended at the start"
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.syncrun where ended is null")" "nothing left running"

# truncates: a run that replicated a TRUNCATE of t counts one table.
psql -X -q -d a -c "TRUNCATE t" || fail truncate
run_ok "$BUCARDO" kick s1 30
wait_synced a b 30 t
expect_equal "1|0|0|t|f" \
    "$(sql bucardo "select truncates, inserts, deletes, lastgood, lastempty from bucardo.syncrun
                      where sync = 's1' order by id desc limit 1")" "a truncating run"
psql -X -q -d a -c "INSERT INTO u VALUES (2)" || fail insert
run_ok "$BUCARDO" kick s1 30
wait_synced a b 30 u
expect_equal "0|1" "$(sql bucardo "select truncates, inserts from bucardo.syncrun
                                    where sync = 's1' order by id desc limit 1")" "a run without truncates"
# A row left running by a cycle that lost its catalog connection (made
# here by hand): the sync's next cycle ends it as failed.
lost=$(sql bucardo "insert into bucardo.syncrun (sync) values ('s1') returning id" | head -1)
psql -X -q -d a -c "INSERT INTO u VALUES (3)" || fail insert
run_ok "$BUCARDO" kick s1 30
expect_equal "Bad|t|t" \
    "$(sql bucardo "select state, ended is not null, status like 'the catalog connection broke during this run%'
                      from bucardo.syncrun where id = $lost")" "a lost run, ended by the next cycle"
# A kicked run with nothing to apply: ended, empty, never left running.
run_ok "$BUCARDO" kick s1 30
expect_equal "Good|0|t|t" \
    "$(sql bucardo "select state, truncates, lastempty, ended is not null from bucardo.syncrun
                      where sync = 's1' order by id desc limit 1")" "an empty kicked run"
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.syncrun where ended is null")" "nothing running"
run_ok "$BUCARDO" stop
echo "PASS"
