#!/usr/bin/env bash
# Autokick on the NOTIFY itself (issue 23): the capture's NOTIFY names the
# changed table's delta table, and the watcher wakes the syncs reading it
# at once, without polling first (engine/daemon/source_watch.c, notified).
# The poll stays as the safety net for a transaction that skipped its
# NOTIFY (the capture's debounce), and its finding does not run a second,
# empty cycle for a change the NOTIFY's cycle applied (worker_found).
# Checked here, by contents:
#   1. the NOTIFY's payload is the name of the table's delta table, ':' and
#      the notifying transaction's id;
#   2. a lone change wakes only the sync reading its table (the other
#      sync's recorded snapshot does not move), and after it the sync
#      records no later snapshot: its last recorded snapshot was taken
#      before the transaction that applied the change on the target (same
#      cluster, so the same transaction ids) - an empty second cycle would
#      record one taken after it;
#   3. a change whose NOTIFY was skipped (another transaction holds the
#      kick lock and never notifies: it rolls back) arrives within a few
#      poll periods, not after the holder ends.
. "$TESTS_DIR/lib/setup.sh"
test_begin

schema="create table t (id int primary key, v text); create table u (id int primary key, v text)"
test_databases "$schema" a b
sql a "insert into t select i, 'init' from generate_series(1, 10) i; insert into u values (1, 'init')" >/dev/null
sql b "insert into t select i, 'init' from generate_series(1, 10) i; insert into u values (1, 'init')" >/dev/null
run_ok "$BUCARDO" add table public.t db=a relgroup=gt
run_ok "$BUCARDO" add table public.u db=a relgroup=gu
run_ok "$BUCARDO" add sync st relgroup=gt dbs=a,b
run_ok "$BUCARDO" add sync su relgroup=gu dbs=a,b
run_ok "$BUCARDO" start
for _ in $(seq 300); do
    [ "$(sql bucardo "select count(*) from bucardo.sync_source_state")" = 2 ] && break
    sleep 0.1
done
[ "$(sql bucardo "select count(*) from bucardo.sync_source_state")" = 2 ] || fail "no first cycles"

# 1. The payload names the delta table (one that exists in schema bucardo).
out=$(psql -X -q -d a -c "LISTEN bucardo" -c "\\! psql -X -q -d a -c \"update t set v = 'listen' where id = 9\" >/dev/null" \
    -c "select 1" 2>&1)
payload=$(echo "$out" | sed -n 's/.*Asynchronous notification "bucardo" with payload "\([^"]*\)".*/\1/p' | head -1)
[ -n "$payload" ] || fail "the NOTIFY of a change has no payload: $out"
xid=${payload##*:}
payload=${payload%:*}
[[ $xid =~ ^[0-9]+$ ]] || fail "the NOTIFY's payload does not end in ':' and a transaction id: $payload:$xid"
[ "$(sql a "select xmin from t where id = 9")" = "$xid" ] ||
    fail "the NOTIFY's transaction id $xid is not the one that changed the row ($(sql a "select xmin from t where id = 9"))"
[ "$(sql a "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'bucardo' and c.relname = '$payload'")" = 1 ] ||
    fail "the NOTIFY's payload '$payload' is not a delta table of schema bucardo"
case $payload in delta_t_*) ;; *) fail "the NOTIFY's payload '$payload' is not table t's delta table" ;; esac
wait_synced a b 10 t

# 2. A lone change: one cycle of st, none of su.
sleep 2
su_before=$(sql bucardo "select snapshot from bucardo.sync_source_state where sync = 'su'")
sql a "update t set v = 'lone' where id = 1" >/dev/null
wait_synced a b 10 t
sleep 2
su_after=$(sql bucardo "select snapshot from bucardo.sync_source_state where sync = 'su'")
[ "$su_before" = "$su_after" ] || fail "a change of t woke sync su too (its snapshot $su_before -> $su_after)"
applied=$(sql b "select xmin from t where id = 1")
last=$(sql bucardo "select pg_snapshot_xmax(snapshot) from bucardo.sync_source_state where sync = 'st'")
echo "apply transaction $applied; st's last recorded snapshot: xmax $last"
[ "$last" -le "$applied" ] ||
    fail "sync st recorded a snapshot (xmax $last) taken after its apply (xid $applied): a second cycle ran for one change"

# 3. A change whose NOTIFY is skipped: the lock holder rolls back after 8 s.
psql -X -q -d a -c "begin; update u set v = 'rolled back' where id = 1; select pg_sleep(8); rollback" >/dev/null &
holder=$!
for _ in $(seq 50); do
    [ "$(sql a "select count(*) from pg_locks where locktype = 'advisory' and granted")" = 1 ] && break
    sleep 0.1
done
[ "$(sql a "select count(*) from pg_locks where locktype = 'advisory' and granted")" = 1 ] ||
    fail "the first transaction does not hold the kick lock"
t0=$(date +%s.%N)
sql a "update t set v = 'skipped notify' where id = 2" >/dev/null
wait_synced a b 10 t
secs=$(echo "$(date +%s.%N) - $t0" | bc)
echo "change with a skipped NOTIFY arrived after $secs s"
kill -0 "$holder" 2>/dev/null || fail "the lock holder ended before the change arrived: the test proved nothing"
[ "$(echo "$secs < 5" | bc)" = 1 ] || fail "the change with a skipped NOTIFY took $secs s (the poll looks every 0.5 s at most)"
[ "$(sql b "select v from t where id = 2")" = "skipped notify" ] || fail "b: row 2 is not the committed value"
wait "$holder"
[ "$(sql b "select v from u where id = 1")" = init ] || fail "b: the rolled-back change arrived"

run_ok "$BUCARDO" stop
echo "ok"
