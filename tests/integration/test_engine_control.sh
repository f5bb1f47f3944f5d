#!/usr/bin/env bash
# Controlling the engine: start (twice, over a stale pid file, with an
# unreachable catalog), stop when not running, kick (unknown sync, with a
# timeout; inactive or paused syncs refused; the engine dying while a kick
# waits), reload after adding a sync, deactivate/activate, pause/resume,
# restart, and syncs without autokick (kick only, or every checktime).
# Each step is judged by the targets' contents, not by messages alone.
. "$TESTS_DIR/lib/setup.sh"
test_begin
PIDFILE="$TEST_DIR/piddir/bucardo.mcp.pid"

# One table per sync, all from src to tgt.
SCHEMA="CREATE TABLE a (id int PRIMARY KEY, v text);
        CREATE TABLE b (id int PRIMARY KEY, v text);
        CREATE TABLE c (id int PRIMARY KEY, v text);
        CREATE TABLE d (id int PRIMARY KEY, v text);"
test_databases "$SCHEMA" src tgt
for t in a b c d; do
    run_ok "$BUCARDO" add table "$t" db=src relgroup="r$t"
done
run_ok "$BUCARDO" add sync sa relgroup=ra dbs=src,tgt

# change TABLE TEXT - one new row on src.
change() {
    psql -X -q -d src -c "INSERT INTO $1 SELECT coalesce(max(id), 0) + 1, '$2' FROM $1" || fail "insert into $1"
}
# stays_behind TABLE SECONDS WHY - the table's change must not reach tgt.
stays_behind() {
    sleep "$2"
    [ "$(table_digest src "$1")" != "$(table_digest tgt "$1")" ] || fail "table $1 replicated although $3"
}
# wait_log PATTERN - until log.bucardo has a line matching PATTERN (the
# engine acts on control messages asynchronously).
wait_log() {
    for _ in $(seq 100); do
        grep -Eq -- "$1" log.bucardo 2>/dev/null && return 0
        sleep 0.1
    done
    fail "log.bucardo never showed /$1/:
$(tail -n 20 log.bucardo)"
}

# --- stop when not running; status says so
run_ok "$BUCARDO" stop
expect_out "Bucardo is not running"
run_ok "$BUCARDO" status
expect_out "^Bucardo is not running$"

# --- a kick needs a running engine, and a known sync
run_fail "$BUCARDO" kick sa 5
expect_err "not running"
run_fail "$BUCARDO" kick nosuchsync 5
expect_err 'nosuchsync'

# --- start with an unreachable catalog fails, saying so
run_fail "$BUCARDO" --dbport=1 start
expect_err "connect|catalog"
[ -f "$PIDFILE" ] && fail "a failed start left a pid file"

# --- a stale pid file does not block start: its pid is dead, or now
# belongs to another program (pids are recycled)
sleep 0 &
dead=$!
wait "$dead"
echo "$dead" >"$PIDFILE"
run_ok "$BUCARDO" status
expect_out "^Bucardo is not running$"
run_ok "$BUCARDO" stop
expect_out "Bucardo is not running"
sleep 60 &
other=$!
echo "$other" >"$PIDFILE"
run_ok "$BUCARDO" start
expect_out "^Starting Bucardo$"
process_gone "$other" && fail "start signalled the unrelated process $other"
kill "$other"; wait "$other" 2>/dev/null
run_ok "$BUCARDO" stop
echo "$dead" >"$PIDFILE"
run_ok "$BUCARDO" start
expect_out "^Starting Bucardo$"
pid=$(engine_pid)
[ "$pid" != "$dead" ] && ! process_gone "$pid" || fail "no engine after starting over a stale pid file ($pid)"
change a one
wait_synced src tgt 20 a

# --- start twice: the second is refused and the first keeps running
run_fail "$BUCARDO" start
expect_err "already running"
expect_err "$pid"
expect_equal "$pid" "$(engine_pid)" "pid file after a refused start"
process_gone "$pid" && fail "the refused start stopped the engine"

# --- two starts at once: both pass the CLI's look at the pid file, but only
# one engine may run (the other would replicate too, and no stop reaches it)
run_ok "$BUCARDO" stop
for i in 1 2 3; do
    "$BUCARDO" start >"$TEST_DIR/start1.out" 2>&1 &
    s1=$!
    "$BUCARDO" start >"$TEST_DIR/start2.out" 2>&1 &
    s2=$!
    rc1=0 rc2=0
    wait "$s1" || rc1=$?
    wait "$s2" || rc2=$?
    running=$(engines_here)
    # (Failing with two engines would leave one behind: kill both first.)
    [ "$(echo "$running" | grep -c .)" = 1 ] || {
        kill -9 $running 2>/dev/null
        fail "concurrent starts (try $i): engines running: $(echo $running); exit codes $rc1 and $rc2:
$(cat "$TEST_DIR"/start?.out)"
    }
    [ $((rc1 == 0)) -ne $((rc2 == 0)) ] || fail "concurrent starts (try $i): exit codes $rc1 and $rc2, expected one success:
$(cat "$TEST_DIR"/start?.out)"
    grep -q "already running" "$TEST_DIR"/start?.out || fail "the refused start does not say why:
$(cat "$TEST_DIR"/start?.out)"
    pid=$(engine_pid)
    expect_equal "$pid" "$running" "the engine in the pid file"
    if [ "$i" != 3 ]; then
        run_ok "$BUCARDO" stop
        expect_equal 0 "$(engines_here | wc -l)" "engines running after stop"
    fi
done

# --- kick: unknown sync refused while running; with a timeout prints DONE
run_fail "$BUCARDO" kick nosuchsync 5
expect_err 'no sync named "nosuchsync"'
change a two
run_ok "$BUCARDO" kick sa 10
expect_out "^Kick sa: \[[0-9]+ s\] DONE!$"
wait_synced src tgt 5 a
run_ok "$BUCARDO" kick sa
expect_out "Kicked sync sa"

# --- a sync added while running replicates after reload, without restart
run_ok "$BUCARDO" add sync sb relgroup=rb dbs=src,tgt
run_ok "$BUCARDO" reload
expect_out "Reloading Bucardo"
wait_log "starting sync sb"
change b first
wait_synced src tgt 20 b
expect_equal "$pid" "$(engine_pid)" "engine pid after reload"

# --- deactivate: changes stay on the source; activate: they catch up
run_ok "$BUCARDO" deactivate sa
wait_log "stopping sync sa"
change a while-inactive
stays_behind a 3 "sync sa is inactive"
run_ok "$BUCARDO" status sa
expect_out "^Status                   : Inactive$"
# A kick of an inactive sync alone is refused, waiting or not (it would
# never run); named with an active one, it is said and skipped (Bucardo's
# "Cannot kick inactive sync") and the active one is kicked.
before=$(catalog_snapshot)
for args in "sa 0" "sa" "sa 5"; do
    rc=0
    OUT=$(timeout 20 "$BUCARDO" kick $args 2>"$TEST_DIR/stderr") || rc=$?
    expect_equal 1 "$rc" "exit code of kick $args (inactive sync)"
    expect_equal "" "$OUT" "stdout of kick $args (inactive sync)"
    expect_equal "bucardo: cannot kick inactive sync \"sa\": activate it first ('bucardo activate sa')" \
        "$(cat "$TEST_DIR/stderr")" "stderr of kick $args (inactive sync)"
done
expect_equal "$before" "$(catalog_snapshot)" "catalog after kicks of an inactive sync"
runs_sb=$(sql bucardo "select count(*) from bucardo.syncrun where sync = 'sb'")
runs_sa=$(sql bucardo "select count(*) from bucardo.syncrun where sync = 'sa'")
run_ok "$BUCARDO" kick sb sa 20
expect_equal "Cannot kick inactive sync \"sa\"" "$(printf '%s\n' "$OUT" | head -1)" "kick sb sa: the inactive one"
expect_out "^Kick sb: \[[0-9]+ s\] DONE!$"
[ "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 'sb'")" -gt "$runs_sb" ] || fail "kick sb sa: sb did not run"
expect_equal "$runs_sa" "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 'sa'")" "runs of inactive sa"
change b "other syncs go on"
wait_synced src tgt 20 b
run_ok "$BUCARDO" activate sa
wait_synced src tgt 20 a
change a after-activate
wait_synced src tgt 20 a

# --- pause: changes stay on the source; resume: they catch up
run_ok "$BUCARDO" pause sb
expect_out "Pausing sync sb"
wait_log "pausing sync sb"
change b while-paused
change b while-paused-2
stays_behind b 3 "sync sb is paused"
change a "unpaused syncs go on"
wait_synced src tgt 20 a
# A waiting kick of a paused sync is refused by the engine (exit 2), at once.
before=$(catalog_snapshot)
rc=0
OUT=$(timeout 20 "$BUCARDO" kick sb 0 2>"$TEST_DIR/stderr") || rc=$?
expect_equal 2 "$rc" "exit code of kick sb 0 (paused sync)"
expect_equal "" "$OUT" "stdout of kick sb 0 (paused sync)"
expect_equal 'bucardo: cannot kick sync "sb": it is paused' "$(cat "$TEST_DIR/stderr")" "stderr of kick sb 0 (paused)"
expect_equal "$before" "$(catalog_snapshot)" "catalog after a kick of a paused sync"
stays_behind b 1 "sync sb is paused and was kicked"
run_ok "$BUCARDO" resume sb
expect_out "Resuming sync sb"
wait_synced src tgt 20 b

# --- autokick=0: only a kick replicates
run_ok "$BUCARDO" add sync sc relgroup=rc dbs=src,tgt autokick=0
run_ok "$BUCARDO" reload
wait_log "starting sync sc"
run_ok "$BUCARDO" kick sc 10  # its first cycle, before any change
change c manual
stays_behind c 3 "sync sc has autokick off and was not kicked"
run_ok "$BUCARDO" kick sc 10
expect_out "DONE"
wait_synced src tgt 5 c

# --- autokick=0 with checktime=2: replicated within a few seconds, no kick
run_ok "$BUCARDO" add sync sd relgroup=rd dbs=src,tgt autokick=0 checktime=2
run_ok "$BUCARDO" reload
wait_log "starting sync sd"
change d timed
wait_synced src tgt 10 d
change d timed-again
wait_synced src tgt 10 d
expect_equal "$pid" "$(engine_pid)" "engine pid before restart"

# --- restart: a new engine replaces the old one, and replicates
run_ok "$BUCARDO" restart
expect_out "Starting Bucardo"
newpid=$(engine_pid)
[ -n "$newpid" ] && [ "$newpid" != "$pid" ] || fail "restart did not start a new engine ($pid -> $newpid)"
process_gone "$pid" || fail "the old engine ($pid) still runs after restart"
process_gone "$newpid" && fail "the new engine ($newpid) is not running"
expect_equal "$newpid" "$(engines_here)" "engines running after restart"
change a after-restart
change b after-restart
wait_synced src tgt 20 a b

# --- update database while running: the syncs using it follow at once
#     (here tgt moves to another database holding the same tables).
createdb tgt2 && pg_dump -s tgt | psql -X -q -d tgt2 >/dev/null || fail "tgt2"
for t in a b; do
    psql -X -q -d tgt -c "COPY $t TO STDOUT" | psql -X -q -d tgt2 -c "COPY $t FROM STDIN" || fail "copy $t to tgt2"
done
run_ok "$BUCARDO" update db tgt dbname=tgt2
change a after-update-db
wait_synced src tgt2 20 a
expect_equal "$newpid" "$(engine_pid)" "engine pid after update db"

run_ok "$BUCARDO" stop
process_gone "$newpid" || fail "the engine ($newpid) still runs after stop"
[ -f "$PIDFILE" ] && fail "stop left the pid file behind"
run_ok "$BUCARDO" stop
expect_out "Bucardo is not running"

# --- a waiting kick ends when the engine dies before running the sync: the
#     target's table is locked, so the cycle hangs until the engine is killed.
run_ok "$BUCARDO" start
wait_synced src tgt2 20 a
psql -X -q -d tgt2 -c "BEGIN; LOCK a; SELECT pg_sleep(60)" >/dev/null 2>&1 &
locker=$!
for _ in $(seq 100); do
    [ "$(sql tgt2 "select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'a' and l.mode = 'AccessExclusiveLock' and l.granted")" = 1 ] && break
    sleep 0.1
done
change a while-locked
rc=0
timeout 60 "$BUCARDO" kick sa 0 >"$TEST_DIR/kick.out" 2>"$TEST_DIR/kick.err" &
kicker=$!
sleep 2
kill -9 "$(engine_pid)"
start=$SECONDS
wait "$kicker" || rc=$?
[ $((SECONDS - start)) -le 5 ] || fail "kick sa 0 took $((SECONDS - start)) s to notice the engine was gone"
expect_equal 2 "$rc" "exit code of kick sa 0 when the engine dies"
expect_equal "" "$(cat "$TEST_DIR/kick.out")" "stdout of kick sa 0 when the engine dies"
expect_equal 'bucardo: cannot kick sync "sa": the engine stopped before it ran' "$(cat "$TEST_DIR/kick.err")" \
    "stderr of kick sa 0 when the engine dies"
sql tgt2 "select pg_terminate_backend(pid) from pg_stat_activity where query like '%pg_sleep(60)%' and pid <> pg_backend_pid()" >/dev/null
wait "$locker" 2>/dev/null || true
echo ok
