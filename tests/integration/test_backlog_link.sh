#!/usr/bin/env bash
# Across a slow link a backlog's committed batches grow with the round trip
# to the target (one batch_keys per 5 ms of it, at most batch_grow_max of
# them), and batch_grow_max=1 keeps them at batch_keys; the target ends
# equal to the source either way.  The target is reached through the
# benchmarks' delaying relay (bench/lib/delay_relay.py) at 12 ms.
. "$TESTS_DIR/lib/setup.sh"
. "$TESTS_DIR/lib/servers.sh"
test_begin
RELAY=$TESTS_DIR/../bench/lib/delay_relay.py
command -v python3 >/dev/null || fail "python3 is needed for the relay"

test_databases "CREATE TABLE t (id int PRIMARY KEY, v int, pad text)" src
createdb tgt || fail "createdb tgt"
sql tgt "CREATE TABLE t (id int PRIMARY KEY, v int, pad text)" >/dev/null
port=$(servers_free_port) || fail "no free port for the relay"
python3 "$RELAY" --listen "$port" --unix "$PGHOST/.s.PGSQL.$PGPORT" --rtt-ms 12 \
    --stats "$TEST_DIR/relay.json" --ready "$TEST_DIR/relay.ready" 2>>"$TEST_DIR/relay.log" &
echo $! >"$TEST_DIR/relay.server.pid"
servers_trap
for _ in $(seq 100); do [ -f "$TEST_DIR/relay.ready" ] && break; sleep 0.05; done
[ -f "$TEST_DIR/relay.ready" ] || fail "the relay did not start: $(cat "$TEST_DIR/relay.log")"
run_ok "$BUCARDO" add database tgt dbname=tgt host=127.0.0.1 port="$port"

for rows in src tgt; do
    sql $rows "insert into t select i, 0, repeat('x', 50) from generate_series(1, 20000) i" >/dev/null
done
test_sync s rg src,tgt autokick=0

# Bad values are refused and change nothing.
run_fail "$BUCARDO" set batch_grow_max=0
run_fail "$BUCARDO" set batch_grow_max=many
expect_equal 8 "$(sql bucardo "select setting from bucardo.config where name = 'batch_grow_max'")" \
    "batch_grow_max after refused values"

run_ok "$BUCARDO" set batch_keys=3000 log_level=verbose
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick s 60

# 12 ms: batches of one batch_keys per 5 ms of the round trip the writer
# measured (at least 12 ms through this relay: two, or more on a loaded
# machine where the relay is late).
sql src "update t set v = v + 1; delete from t where id % 101 = 0" >/dev/null
run_ok "$BUCARDO" kick s 120
expect_out DONE
wait_synced src tgt 10 t
line=$(grep -o "applying 20000 changes in batches of [0-9]* ([0-9]* batch_keys: [0-9.]* ms round trip to a target)" \
    log.bucardo) || fail "the batches did not grow with the round trip: $(grep 'applying\|round trip' log.bucardo)"
read -r size grow rtt <<<"$(sed -E 's/.* of ([0-9]+) \(([0-9]+) batch_keys: ([0-9.]+) ms.*/\1 \2 \3/' <<<"$line")"
# (the log rounds the round trip to 0.1 ms: either side of a 5 ms step)
ok=$(awk -v r="$rtt" -v g="$grow" 'BEGIN { lo = int((r - 0.05) / 5); hi = int((r + 0.05) / 5)
                                          print (g >= 2 && (g == lo || g == hi)) ? 1 : 0 }')
[ "$ok" = 1 ] && [ "$size" = $((grow * 3000)) ] ||
    fail "batches of $size ($grow batch_keys) for a round trip of $rtt ms: $line"

# batch_grow_max=1: batch_keys whatever the link.
run_ok "$BUCARDO" set batch_grow_max=1
run_ok "$BUCARDO" restart
sql src "update t set v = v + 1" >/dev/null
run_ok "$BUCARDO" kick s 120
expect_out DONE
wait_synced src tgt 10 t
grep -q "applying 19802 changes in batches of 3000$" log.bucardo ||
    fail "batch_grow_max=1 did not keep the batches at batch_keys: $(grep 'applying' log.bucardo)"
[ "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's' and state = 'Bad'")" = 0 ] ||
    fail "a run went Bad: $(sql bucardo "select error from bucardo.syncrun where state = 'Bad'")"
run_ok "$BUCARDO" stop
echo ok
