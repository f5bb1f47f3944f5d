#!/usr/bin/env bash
# Bucardo's settings and what scripts around Bucardo rely on, judged by
# their effect on a running engine and the catalog:
#  - Bucardo's notifications on the catalog database (bucardo_started,
#    bucardo_syncdone_SYNC with the "bucardo" channel's syncdone_SYNC
#    payload, bucardo_syncerror_SYNC for a refused kick,
#    bucardo_reload_config_finished, bucardo_reloaded_sync_SYNC,
#    bucardo_deactivated_sync_SYNC / bucardo_activated_sync_SYNC,
#    bucardo_stopped), received by a LISTENing client;
#  - `reload config` makes the running engine reread the settings (the
#    isolation_level default: SIRead locks on the source appear without a
#    restart), waiting up to its TIMEOUT or reload_config_timeout for the
#    engine's word and failing without it; `reload SYNC` restarts that
#    sync and waits (up to 10 s) for the engine to say so;
#  - kid_serial_sleep: a batch that met a serialization failure is retried
#    after it, and not at all with -1;
#  - stats_history trims syncrun; kick_sleep (which did nothing) is gone;
#  - host_safety_check refuses to start on a host it does not match;
#  - Bucardo's names: statement_chunk_size is batch_keys, process-model
#    settings are shown with a note that they do nothing here, bad values
#    are refused with the catalog unchanged;
#  - the views goat, herd, herdmap, dbmap and bucardo_config (which writes
#    bucardo.config).
. "$TESTS_DIR/lib/setup.sh"
test_begin
unchanged() { expect_equal "$1" "$(catalog_snapshot)" "catalog after $2"; }

test_databases "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE SEQUENCE sq" a b
test_sync s g a,b

# --- Bucardo's names and notes
run_ok "$BUCARDO" set statement_chunk_size=7000
expect_equal "7000" "$(sql bucardo "select setting from bucardo.config where name = 'batch_keys'")" "statement_chunk_size is batch_keys"
run_ok "$BUCARDO" show statement_chunk_size
expect_equal "batch_keys = 7000" "$OUT" "show statement_chunk_size"
run_ok "$BUCARDO" show mcp_loop_sleep
expect_equal "mcp_loop_sleep = 0.2  (no effect here: this engine has no MCP process: its controller thread waits on the catalog socket)" "$OUT" "show a process-model setting"
run_ok "$BUCARDO" set kid_sleep=1
expect_out '^Note: kid_sleep has no effect in this engine: '
expect_equal "1" "$(sql bucardo "select setting from bucardo.config where name = 'kid_sleep'")" "kid_sleep stored"
for name in mcp_dbproblem_sleep mcp_vactime mcp_pingtime ctl_sleep ctl_checkonkids_time ctl_createkid_time \
    kid_nodeltarows_sleep kid_restart_sleep kid_pingtime vac_run vac_sleep bucardo_vac stopfile quick_delta_check \
    bucardo_initial_version autosync_ddl endsync_sleep; do
    run_ok "$BUCARDO" show "$name"
    expect_out "^$name += .*  \\(no effect here: "
done
for name in isolation_level kid_serial_sleep kid_deadlock_sleep tcp_keepalives_idle tcp_keepalives_interval \
    tcp_keepalives_count host_safety_check reload_config_timeout; do
    run_ok "$BUCARDO" show "$name"
    expect_no "no effect"
done
before=$(catalog_snapshot)
run_fail "$BUCARDO" set isolation_level=dirty
expect_err 'set isolation_level: expected one of repeatable read, serializable'
run_fail "$BUCARDO" set kid_serial_sleep=-2
expect_err 'set kid_serial_sleep: expected seconds from 0 to 3600, or -1'
run_fail "$BUCARDO" set 'host_safety_check=~(['
expect_err 'set host_safety_check: not a valid regular expression'
run_fail "$BUCARDO" set tcp_keepalives_idle=soon
unchanged "$before" "refused settings"

# --- the views
expect_equal "public|t|table|id|integer|t" \
    "$(sql bucardo "select concat_ws('|', schemaname, tablename, reltype, pkey, pkeytype, has_delta) from bucardo.goat where db = 'a' and tablename = 't'")" "goat"
expect_equal "g" "$(sql bucardo "select string_agg(name, ',') from bucardo.herd")" "herd"
expect_equal "1" "$(sql bucardo "select count(*) from bucardo.herdmap where herd = 'g'")" "herdmap"
expect_equal "a:source,b:target" "$(sql bucardo "select string_agg(db || ':' || role, ',' order by db) from bucardo.dbmap")" "dbmap"
sql bucardo "update bucardo.bucardo_config set setting = '6000' where name = 'batch_keys'" >/dev/null || fail "update bucardo_config"
expect_equal "6000" "$(sql bucardo "select setting from bucardo.config where name = 'batch_keys'")" "bucardo_config writes config"

# --- host_safety_check
run_ok "$BUCARDO" set 'host_safety_check=^no-such-host-here$'
run_fail "$BUCARDO" start
expect_err 'host_safety_check: this host \(.*\) does not match "\^no-such-host-here\$"'
[ -z "$(engine_pid)" ] || process_gone "$(engine_pid)" || fail "an engine runs despite host_safety_check"
# Bucardo's forms: a plain string is an exact name (a prefix of this host's
# name is not enough), "~RE" a regular expression, "=h1,h2" a list of names
run_ok "$BUCARDO" set "host_safety_check=$(hostname | cut -c1)"
run_fail "$BUCARDO" start
expect_err 'host_safety_check: this host \(.*\) does not match'
run_ok "$BUCARDO" set 'host_safety_check=~^no-such-host'
run_fail "$BUCARDO" start
expect_err 'host_safety_check: this host \(.*\) does not match "~\^no-such-host"'
[ -z "$(engine_pid)" ] || process_gone "$(engine_pid)" || fail "an engine runs despite host_safety_check"
run_ok "$BUCARDO" set "host_safety_check=^$(hostname)\$"
run_fail "$BUCARDO" start
expect_err 'host_safety_check: this host \(.*\) does not match'
# the start below runs under the list form
run_ok "$BUCARDO" set "host_safety_check==no-such-host,$(hostname)"

# --- notifications
perl "$TESTS_DIR/lib/listen.pl" "$TEST_DIR/notes" 240 bucardo bucardo_started bucardo_stopped bucardo_syncdone_s \
    bucardo_syncerror_s bucardo_reload_config_finished bucardo_reloaded_sync_s bucardo_activated_sync_s \
    bucardo_deactivated_sync_s &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; pg_stop_cluster' EXIT
for i in $(seq 1 100); do grep -q ready "$TEST_DIR/notes" 2>/dev/null && break; sleep 0.1; done
got() { # wait for a line in the listener's file
    local i
    for i in $(seq 1 150); do grep -qx "$1" "$TEST_DIR/notes" && return 0; sleep 0.1; done
    fail "no notification $1; received: $(cat "$TEST_DIR/notes")"
}
run_ok "$BUCARDO" start
got 'bucardo_started|'
sql a "insert into t values (1, 'one')" >/dev/null
run_ok "$BUCARDO" kick s 30
got 'bucardo_syncdone_s|'
got 'bucardo|syncdone_s'
run_ok "$BUCARDO" pause s
sleep 0.5
"$BUCARDO" kick s 5 >/dev/null 2>&1 && fail "kick of a paused sync succeeded"
got 'bucardo_syncerror_s|'
run_ok "$BUCARDO" resume s

# --- reload config: the running engine rereads the settings
hold_trigger b t
siread() { sql a "select count(*) from pg_locks where mode = 'SIReadLock'"; }
held() {
    local i
    for i in $(seq 1 300); do
        [ "$(sql b "select count(*) from pg_locks where locktype = 'advisory' and objid = 4242 and not granted")" -ge 1 ] && return 0
        sleep 0.1
    done
    fail "no cycle reached b's hold trigger"
}
run_ok "$BUCARDO" set isolation_level=serializable
hold_lock b
sql a "insert into t values (2, 'two')" >/dev/null
held
expect_equal "0" "$(siread)" "SIRead locks before reload config"
release_lock b
wait_synced a b 30 t
run_ok "$BUCARDO" reload config 15
expect_equal "Asking Bucardo to reread its settings (the bucardo_config table)
DONE!" "$OUT" "reload config 15"
got 'bucardo_reload_config_finished|'
hold_lock b
sql a "insert into t values (3, 'three')" >/dev/null
held
[ "$(siread)" -gt 0 ] || fail "after reload config the engine's source transaction holds no SIRead lock"
release_lock b
wait_synced a b 30 t

# --- reload config [TIMEOUT] gives up when the engine does not confirm in
# time (a cycle in flight holds the reload: the workers finish theirs
# first): non-zero exit after TIMEOUT, else after reload_config_timeout.
elapsed_since() { echo $(( $(date +%s%N) / 1000000 - $1 )); }
run_ok "$BUCARDO" set reload_config_timeout=2
hold_lock b
sql a "insert into t values (5, 'five')" >/dev/null
held
t0=$(( $(date +%s%N) / 1000000 ))
run_fail "$BUCARDO" reload config 1
ms=$(elapsed_since "$t0")
expect_equal "Asking Bucardo to reread its settings (the bucardo_config table)" "$OUT" "reload config 1 (held)"
expect_err "^bucardo: waited 1 s, but the engine never confirmed the configuration reload"
[ "$ms" -ge 1000 ] && [ "$ms" -lt 1900 ] || fail "reload config 1 gave up after $ms ms"
n_fin=$(grep -c '^bucardo_reload_config_finished|' "$TEST_DIR/notes")
t0=$(( $(date +%s%N) / 1000000 ))
run_fail "$BUCARDO" reload config
ms=$(elapsed_since "$t0")
expect_err "^bucardo: waited 2 s, but the engine never confirmed"
[ "$ms" -ge 2000 ] && [ "$ms" -lt 2900 ] || fail "reload config (reload_config_timeout=2) gave up after $ms ms"
expect_equal "$n_fin" "$(grep -c '^bucardo_reload_config_finished|' "$TEST_DIR/notes")" \
    "confirmations while the reload was held"
release_lock b
# Once the cycle is let go, both reloads are done.
for i in $(seq 1 150); do
    [ "$(grep -c '^bucardo_reload_config_finished|' "$TEST_DIR/notes")" -ge $((n_fin + 2)) ] && break
    sleep 0.1
done
expect_equal "$((n_fin + 2))" "$(grep -c '^bucardo_reload_config_finished|' "$TEST_DIR/notes")" \
    "confirmations after the held reloads"
wait_synced a b 30 t
run_ok "$BUCARDO" set reload_config_timeout=30
run_fail "$BUCARDO" reload config soon
expect_err "usage: bucardo reload config \[TIMEOUT"
run_fail "$BUCARDO" reload config 5 6
expect_err "usage: bucardo reload config"

# --- kid_serial_sleep: the pause before a batch that met a serialization
# failure is applied again; -1: no retry, the run fails at once.
psql -X -q -d b -c "CREATE SEQUENCE tries;
    CREATE FUNCTION serial_fail() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN
        IF NEW.id >= 100 AND nextval('tries') <= 2 THEN
            RAISE EXCEPTION 'simulated serialization failure' USING ERRCODE = '40001';
        END IF;
        RETURN NEW; END\$\$;
    CREATE TRIGGER serial_fail BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION serial_fail();
    ALTER TABLE t ENABLE ALWAYS TRIGGER serial_fail" || fail "serial_fail trigger"
reloaded() { # reload config and wait for the engine to say it is done
    local n
    n=$(grep -c '^bucardo_reload_config_finished|' "$TEST_DIR/notes")
    run_ok "$BUCARDO" reload config
    for i in $(seq 1 150); do
        [ "$(grep -c '^bucardo_reload_config_finished|' "$TEST_DIR/notes")" -gt "$n" ] && return 0
        sleep 0.1
    done
    fail "no bucardo_reload_config_finished after reload config"
}
run_ok "$BUCARDO" set kid_serial_sleep=0.1 retry_delay=30 retry_delay_max=30
reloaded
sql a "insert into t values (100, 'retried')" >/dev/null
run_ok "$BUCARDO" kick s 30
expect_equal "1" "$(sql b "select count(*) from t where id = 100")" "row delivered after two serialization failures"
expect_equal "3" "$(sql b "select last_value from tries")" "attempts with kid_serial_sleep=0.1"
run_ok "$BUCARDO" set kid_serial_sleep=-1
reloaded
sql b "select setval('tries', 1, false)" >/dev/null
bad0=$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's' and state = 'Bad'")
sql a "insert into t values (101, 'not retried')" >/dev/null
"$BUCARDO" kick s 30 >/dev/null && fail "kick succeeded through a serialization failure with kid_serial_sleep=-1"
wait_run s 5 "state = 'Bad' and error like '%40001%'"
sleep 1
# One attempt per cycle (the autokick's and the kick's), each a Bad run:
# no batch was retried within a cycle.
expect_equal "$(sql b "select last_value from tries")" \
    "$(( $(sql bucardo "select count(*) from bucardo.syncrun where sync = 's' and state = 'Bad'") - bad0 ))" \
    "attempts = Bad runs with kid_serial_sleep=-1"
expect_equal "0" "$(sql b "select count(*) from t where id = 101")" "row 101 not there yet"
psql -X -q -d b -c "DROP TRIGGER serial_fail ON t" || fail "drop serial_fail"
run_ok "$BUCARDO" set kid_serial_sleep=0.5 retry_delay=1 retry_delay_max=60
reloaded
run_ok "$BUCARDO" kick s 30
wait_synced a b 30 t

# --- reload SYNC
run_ok "$BUCARDO" reload s
expect_equal "Reloading sync s...Reload of sync s successful" "$OUT" "reload s"
got 'bucardo_reloaded_sync_s|'
# It waits for the engine's word: a cycle in flight (held 3 s) delays it.
n_rel=$(grep -c '^bucardo_reloaded_sync_s|' "$TEST_DIR/notes")
hold_lock b
sql a "insert into t values (6, 'six')" >/dev/null
held
( sleep 3; sql b "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and objid = 4242 and mode = 'ExclusiveLock'" >/dev/null ) &
releaser=$!
t0=$(( $(date +%s%N) / 1000000 ))
run_ok "$BUCARDO" reload sync s
ms=$(elapsed_since "$t0")
wait "$releaser" "$HOLD_PID"
expect_equal "Reloading sync s...Reload of sync s successful" "$OUT" "reload sync s (held 3 s)"
[ "$ms" -ge 2500 ] || fail "reload s returned after $ms ms, before the engine reloaded it"
got_n() { for i in $(seq 1 50); do [ "$(grep -c "^$1|" "$TEST_DIR/notes")" -ge "$2" ] && return 0; sleep 0.1; done; }
got_n bucardo_reloaded_sync_s $((n_rel + 1))
expect_equal "$((n_rel + 1))" "$(grep -c '^bucardo_reloaded_sync_s|' "$TEST_DIR/notes")" "reloaded_sync after the held reload"
wait_synced a b 30 t
# No word within 10 s: said, and a non-zero exit.
hold_lock b
sql a "insert into t values (7, 'seven')" >/dev/null
held
rc=0
OUT=$("$BUCARDO" reload s 2>"$TEST_DIR/stderr") || rc=$?
expect_equal 1 "$rc" "exit code of reload s held past 10 s"
expect_equal "Reloading sync s...Reload of sync s failed: the engine did not answer within 10 s" "$OUT" \
    "reload s held past 10 s"
release_lock b
got_n bucardo_reloaded_sync_s $((n_rel + 2))
expect_equal "$((n_rel + 2))" "$(grep -c '^bucardo_reloaded_sync_s|' "$TEST_DIR/notes")" "the held reload done once let go"
wait_synced a b 30 t
run_fail "$BUCARDO" reload nosuchsync
expect_err 'no sync named "nosuchsync"'
sql a "insert into t values (4, 'four')" >/dev/null
run_ok "$BUCARDO" kick s 30
wait_synced a b 30 t

# --- stats_history: the runs kept per sync, trimmed as runs are recorded
[ "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's'")" -gt 2 ] || fail "too few runs to trim"
run_ok "$BUCARDO" set stats_history=2
run_ok "$BUCARDO" kick s 30
run_ok "$BUCARDO" kick s 30
expect_equal "2" "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's'")" "runs kept with stats_history=2"
# 0 keeps every run (it once kept only the last one: OFFSET NULL is no offset)
run_ok "$BUCARDO" set stats_history=0
run_ok "$BUCARDO" kick s 30
run_ok "$BUCARDO" kick s 30
expect_equal "4" "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's'")" "runs kept with stats_history=0"
run_fail "$BUCARDO" show kick_sleep
expect_err 'no setting named "kick_sleep"'
# --- deactivate / activate: Bucardo's bucardo_deactivated_sync_SYNC and
# bucardo_activated_sync_SYNC (none at start or for a restart)
expect_equal "0" "$(grep -c 'activated_sync_s' "$TEST_DIR/notes")" "no (de)activated notification before"
run_ok "$BUCARDO" deactivate s
got 'bucardo_deactivated_sync_s|'
run_ok "$BUCARDO" activate s
got 'bucardo_activated_sync_s|'

run_ok "$BUCARDO" stop
got 'bucardo_stopped|'
echo ok
