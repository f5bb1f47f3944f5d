#!/usr/bin/env bash
# SIGKILL of the engine in the middle of a big cycle (200,000 changed rows
# streaming by COPY to two targets), several times: a target never shows a
# half-applied transaction (a key deleted but its row not yet copied back),
# the stale pid file left behind does not block `bucardo start`, and once
# the engine is left to finish, every target equals the source - nothing
# lost, nothing doubled.  (A cycle bigger than batch_keys commits in
# batches, so a kill may leave some batches applied: that is allowed.)
. "$TESTS_DIR/lib/setup.sh"
test_begin
PIDFILE="$TEST_DIR/piddir/bucardo.mcp.pid"
N=200000

# Identical starting contents (the targets are copies of the source), so
# the first cycle is small.  Room on each page keeps the updates HOT/fast.
createdb src || fail "createdb src"
psql -X -q -d src -c "CREATE TABLE big (id int PRIMARY KEY, round int NOT NULL, payload text) WITH (fillfactor = 40);
                      CREATE TABLE small (id int PRIMARY KEY, v text);
                      INSERT INTO big SELECT i, 0, md5(i::text) FROM generate_series(1, $N) i" || fail "schema on src"
for db in t1 t2; do
    createdb -T src "$db" || fail "createdb $db"
done
for db in src t1 t2; do
    run_ok "$BUCARDO" add database "$db" dbname="$db"
done
test_sync s1 rg src,t1,t2
run_ok "$BUCARDO" start

# wait_copy_on_target - until some target receives a COPY from the engine,
# i.e. a cycle is streaming rows; fail after 60 s.
wait_copy_on_target() {
    local deadline=$(( $(date +%s) + 60 ))
    # (pg_stat_progress_copy, not the query text: the writer sends a COPY
    # at the end of a longer string, which pg_stat_activity cuts at 1 kB.)
    while [ "$(sql postgres "select count(*) from pg_stat_progress_copy p join pg_stat_activity a using (pid)
                              where a.application_name = 'bucardo' and p.datname in ('t1', 't2')
                                and p.command = 'COPY FROM'")" = 0 ]; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "no cycle streamed to a target within 60 s"
        sleep 0.05
    done
}
# kill_engine - SIGKILL the engine; the pid file stays behind, stale.
kill_engine() {
    local pid
    pid=$(engine_pid)
    [ -n "$pid" ] || fail "no engine pid file to kill"
    kill -9 "$pid" || fail "cannot kill the engine (pid $pid)"
    for _ in $(seq 100); do
        process_gone "$pid" && break
        sleep 0.05
    done
    process_gone "$pid" || fail "the engine (pid $pid) survived SIGKILL"
    [ -f "$PIDFILE" ] || fail "expected a stale pid file after SIGKILL"
}
# atomic - the updates only rewrite rows: a target that holds fewer than
# N rows shows a transaction cut in half (deleted, not yet copied back).
atomic() {
    local db n
    for db in t1 t2; do
        n=$(sql "$db" "select count(*) from big")
        [ "$n" = "$N" ] || fail "target $db shows a half-applied change: $n rows in big instead of $N"
    done
}

# Round 1 changes every row; later rounds add changes to the pending ones,
# whose cycle restarts (and is killed again) each time.
psql -X -q -d src -c "UPDATE big SET round = 1, payload = md5(payload)" || fail "update of every row"
for round in 1 2; do
    [ "$round" = 1 ] || psql -X -q -d src -c "UPDATE big SET round = $round, payload = md5(payload)
                                               WHERE id % 10 = $round" || fail "update of round $round"
    psql -X -q -d src -c "INSERT INTO small VALUES ($round, 'round $round')" || fail "small insert"
    wait_copy_on_target
    # Kill at a different point of the stream each round.
    sleep "0.$((round * 2 - 1))"
    kill_engine
    atomic
    echo "round $round: killed mid-cycle; t1 holds $(sql t1 "select count(*) from big where round = 0") rows not yet updated"
    run_ok "$BUCARDO" start
    expect_out "^Starting Bucardo$"
    [ "$(engine_pid)" != "" ] && ! process_gone "$(engine_pid)" || fail "no engine running after restart"
done
# Once more, right after the start: the first cycle re-applies the deltas.
wait_copy_on_target
kill_engine
run_ok "$BUCARDO" start

# A graceful stop in the middle of the cycle: it returns once the engine
# has exited, leaving no pid file and no half-applied target.
wait_copy_on_target
pid=$(engine_pid)
run_ok "$BUCARDO" stop
process_gone "$pid" || fail "the engine ($pid) still runs after 'bucardo stop' returned"
[ -f "$PIDFILE" ] && fail "stop left the pid file behind"
atomic
run_ok "$BUCARDO" start

# Left alone now, the engine catches up; more changes meanwhile.
psql -X -q -d src -c "DELETE FROM big WHERE id % 1000 = 0; UPDATE small SET v = 'last'" || fail "last changes"
wait_synced src t1 90 big small
wait_synced src t2 90 big small
expect_equal "$((N - N / 1000))" "$(sql t1 "select count(*) from big where round > 0")" "changed rows on t1"
run_ok "$BUCARDO" kick s1 20
expect_out "DONE"
run_ok "$BUCARDO" stop
echo ok
