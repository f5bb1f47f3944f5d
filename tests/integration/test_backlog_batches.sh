#!/usr/bin/env bash
# A backlog larger than batch_keys is applied in bounded, separately
# committed batches; a batch that meets a lock held by the application
# (lock timeout) is retried alone until it goes through - the sync never
# goes Bad for it - and the target ends equal to the source.
. "$TESTS_DIR/lib/setup.sh"
test_begin
test_databases "CREATE TABLE t (id int PRIMARY KEY, v int, pad text)" src tgt
sql src "insert into t select i, 0, repeat('x', 100) from generate_series(1, 30000) i" >/dev/null
sql tgt "insert into t select i, 0, repeat('x', 100) from generate_series(1, 30000) i" >/dev/null
test_sync s rg src,tgt autokick=0
# (batch_grow_max=1: batches of exactly batch_keys whatever round trip the
# writer measures on a loaded machine.)
run_ok "$BUCARDO" set batch_keys=4000 batch_grow_max=1 lock_timeout=500ms
run_ok "$BUCARDO" start

# The backlog: every row changed, plus deletes.
sql src "update t set v = v + 1; delete from t where id % 97 = 0" >/dev/null
# The application holds a row of the target locked for a few seconds.
psql -X -q -d tgt -c "BEGIN; SELECT * FROM t WHERE id = 20000 FOR UPDATE; SELECT pg_sleep(4); COMMIT" >/dev/null &
holder=$!
sleep 0.5
run_ok "$BUCARDO" kick s 120
expect_out DONE
wait $holder
wait_synced src tgt 10 t
grep -q "applying .* changes in batches of 4000" log.bucardo || fail "the backlog was not batched"
grep -q "SQLSTATE 55P03.*retrying this batch" log.bucardo || fail "no batch was retried after the lock timeout"
[ "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's' and state = 'Bad'")" = 0 ] \
    || fail "the sync went Bad over a lock timeout"
run_ok "$BUCARDO" stop
echo ok
