#!/usr/bin/env bash
# A kick sent while the engine's catalog connection is away is not lost.
# Kicks reach the engine as notifications on its catalog connection; one
# sent while that connection is down (the catalog's server restarting,
# the session terminated) never arrives, and a `bucardo kick` waiting for
# the run waited its whole timeout - or for ever without one (seen in
# test_fault_injection, scenario (d): a minute's stall).  When the
# connection is back, every sync that is not paused runs once.  Here the
# catalog refuses connections for a while, the engine's sessions there are
# terminated, and a kick is sent meanwhile the way `bucardo kick` sends it;
# the sync has autokick off, so only that kick can bring the new row over.
. "$TESTS_DIR/lib/setup.sh"
test_begin
test_databases "CREATE TABLE t (id int PRIMARY KEY, v text);" src tgt
test_sync s rg src,tgt autokick=0
run_ok "$BUCARDO" start
sql src "insert into t values (1, 'a')" >/dev/null
run_ok "$BUCARDO" kick s 30
wait_synced src tgt 10 t

sql src "insert into t values (2, 'b')" >/dev/null
# The kick's session is opened before the outage (and spared by it); it
# sends the kick a second into it.
PGAPPNAME=kicker psql -X -q -v ON_ERROR_STOP=1 -d bucardo >/dev/null \
    -c "SELECT pg_sleep(1)" -c "NOTIFY bucardo_kick, 's'" -c "SELECT pg_sleep(1)" &
kicker=$!
for _ in $(seq 50); do
    [ "$(sql postgres "select count(*) from pg_stat_activity where application_name = 'kicker'")" = 1 ] && break
    sleep 0.02
done
psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL' || fail "the catalog outage"
ALTER DATABASE bucardo ALLOW_CONNECTIONS false;
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = 'bucardo' AND application_name <> 'kicker';
SELECT pg_sleep(3);
ALTER DATABASE bucardo ALLOW_CONNECTIONS true;
SQL
wait $kicker || fail "the kick during the outage"
wait_synced src tgt 20 t
expect_equal "1:a 2:b" "$(sql tgt "select string_agg(id || ':' || v, ' ' order by id) from t")" "rows on the target"

run_ok "$BUCARDO" stop
echo ok
