#!/usr/bin/env bash
# The commands that talk to the running engine or its capture: ping
# (answered by the engine's own loop, OK/CRITICAL and exit 0/1), message
# (the text in the engine's log), delta (pending counts per source, with
# totals and wildcards), purge (only what every reader applied: a change
# not yet delivered survives and still arrives), kick all / wildcards /
# --retry / --notimer, activate and deactivate with a timeout that waits
# for the engine, pause/resume with wildcards, start --exit-on-nosync and
# --piddir for start/stop.  Judged by table contents, the catalog and the
# engine's log.  kick with an inactive sync among active ones kicks the
# active ones; reload SYNC skips an inactive one and waits for the others.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text);"
test_databases "$SCHEMA" src tgt
run_ok "$BUCARDO" add table a db=src relgroup=ra
run_ok "$BUCARDO" add table b db=src relgroup=rb
run_ok "$BUCARDO" add sync s_a relgroup=ra dbs=src,tgt autokick=0
run_ok "$BUCARDO" add sync s_b relgroup=rb dbs=src,tgt autokick=0

wait_log() {
    for _ in $(seq 100); do
        grep -Eq -- "$1" log.bucardo 2>/dev/null && return 0
        sleep 0.1
    done
    fail "log.bucardo never showed /$1/"
}

# --- start --exit-on-nosync with no active sync refuses; catalog unchanged
run_ok "$BUCARDO" deactivate all
[ "$(sql bucardo "select count(*) from bucardo.sync where status = 'active'")" = 0 ] || fail "deactivate all"
run_fail "$BUCARDO" start --exit-on-nosync
expect_err "no active syncs"
[ -f "$TEST_DIR/piddir/bucardo.mcp.pid" ] && fail "--exit-on-nosync started anyway"
run_ok "$BUCARDO" activate 's_%'
[ "$(sql bucardo "select string_agg(name, ',' order by name) from bucardo.sync where status = 'active'")" = "s_a,s_b" ] ||
    fail "activate with a wildcard"

# --- ping without an engine: CRITICAL, exit 1, within its timeout
run_fail_out() { # like run_fail, but the verdict is on stdout (Nagios)
    local rc=0
    OUT=$("$@" 2>"$TEST_DIR/stderr") || rc=$?
    ERR=$(cat "$TEST_DIR/stderr")
    [ $rc -eq 1 ] || fail "expected exit 1: $* (got $rc) $OUT $ERR"
}
run_fail_out "$BUCARDO" ping 1
expect_out "^CRITICAL: Timed out \(1 s\), no ping response from MCP$"
run_fail "$BUCARDO" ping nope
expect_err "usage: bucardo ping"

# --- message needs a running engine
run_fail "$BUCARDO" message hello
expect_err "not running"

# --- start with --piddir elsewhere; stop with the same --piddir
mkdir -p "$TEST_DIR/otherpid"
run_ok "$BUCARDO" start --piddir="$TEST_DIR/otherpid" --exit-on-nosync
[ -f "$TEST_DIR/otherpid/bucardo.mcp.pid" ] || fail "--piddir not used by start"
[ -f "$TEST_DIR/piddir/bucardo.mcp.pid" ] && fail "start wrote the catalog's piddir despite --piddir"
run_ok "$BUCARDO" ping 10 --piddir="$TEST_DIR/otherpid"
expect_out "^OK: Got response from PID $(cat "$TEST_DIR/otherpid/bucardo.mcp.pid")$"
run_ok "$BUCARDO" stop --piddir="$TEST_DIR/otherpid"
[ -f "$TEST_DIR/otherpid/bucardo.mcp.pid" ] && fail "stop --piddir left the engine running"

run_ok "$BUCARDO" start --quiet
[ -z "$OUT" ] || fail "start --quiet printed: $OUT"
run_ok "$BUCARDO" ping
expect_out "^OK: Got response from PID $(engine_pid)$"
run_ok "$BUCARDO" ping --quiet
[ -z "$OUT" ] || fail "ping --quiet printed: $OUT"

# --- message reaches the log as one line
run_ok "$BUCARDO" message "deploy 42 starts" "now"
wait_log "MESSAGE: deploy 42 starts now"
run_ok "$BUCARDO" msg "$(printf 'two\nlines')"
wait_log "MESSAGE: two lines"

# --- delta: pending rows per source; purge keeps what is undelivered
psql -X -q -d src -c "INSERT INTO a SELECT g, 'x' FROM generate_series(1, 1500) g; INSERT INTO b VALUES (1, 'b')" ||
    fail "insert"
run_ok "$BUCARDO" delta
expect_out "^Total deltas across all targets: 1,501$"
expect_out "Total deltas for database src: 1,501$"
run_ok "$BUCARDO" delta totals --tsep=.
expect_out "^Total deltas across all targets: 1.501$"
expect_no "for database"
run_ok "$BUCARDO" delta 'sr%' --verbose
expect_out "public.a: 1,500"
run_fail "$BUCARDO" delta nosuchdb
expect_err "no matching source database"
run_fail "$BUCARDO" delta tgt
expect_out "Skipping database tgt: not a source"
expect_err "no databases to check"

# Nothing delivered yet: purge all must keep every row (no sync ran a cycle).
run_ok "$BUCARDO" purge all
[ "$(sql src "select count(*) from bucardo.$(sql src "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = 'bucardo' and relname like 'delta\_a\_%'")")" = 1500 ] ||
    fail "purge deleted undelivered changes of a"
run_fail "$BUCARDO" purge nosuchtable
expect_err "no captured table matches"

# s_a delivers; its delta rows may go, b's (s_b not run) stay.
run_ok "$BUCARDO" kick s_a 30
expect_out "Kick s_a: .* DONE!"
wait_synced src tgt 10 a
run_ok "$BUCARDO" purge a --dryrun
expect_out "src: Tables processed: 1, delta rows purged: 1500 \(DRYRUN: rolled back\)"
run_ok "$BUCARDO" delta --verbose
expect_out "public.a: 1,500"
run_ok "$BUCARDO" purge a
expect_out "src: Tables processed: 1, delta rows purged: 1500$"
[ "$(sql tgt "select count(*) from b")" = 0 ] || fail "b replicated before its kick"
run_ok "$BUCARDO" delta --verbose
expect_out "public.a: 0"
expect_out "public.b: 1$"
# --notimer: Bucardo's plain line, no [N s] timer (and no progress view)
run_ok "$BUCARDO" kick 's_*' 30 --notimer
expect_equal "Kick s_a: DONE!
Kick s_b: DONE!" "$OUT" "kick --notimer"
wait_synced src tgt 10 a b

# --- kick all; a paused sync fails the kick, --retry kicks it again
run_ok "$BUCARDO" pause 's_b'
expect_out "Pausing sync s_b"
psql -X -q -d src -c "INSERT INTO b VALUES (2, 'b2')" || fail "insert b2"
( sleep 2; "$BUCARDO" resume s_b >/dev/null ) &
resumer=$!
run_ok "$BUCARDO" kick all 20 --retry=5 --retry-sleep=1
wait "$resumer"
expect_out "Kick failed: retrying in 1 s"
expect_out "Kick s_b: .* DONE!"
wait_synced src tgt 10 b
run_fail "$BUCARDO" kick 'zz%' 5
expect_err "no sync matches"
run_fail "$BUCARDO" kick s_a 5 --retry=x
expect_err "invalid --retry"

# --- deactivate/activate with a timeout wait for the engine's word
run_ok "$BUCARDO" deactivate s_b 10
expect_out "^Deactivating sync s_b...OK$"
[ "$(sql bucardo "select status from bucardo.sync where name = 's_b'")" = inactive ] || fail "deactivate s_b"
psql -X -q -d src -c "INSERT INTO b VALUES (3, 'b3')" || fail "insert b3"
run_fail "$BUCARDO" kick s_b 5
expect_err "inactive"
# An inactive sync among active ones: said (Bucardo's words) and skipped;
# the active one is kicked and waited for, and the exit code is its own.
psql -X -q -d src -c "INSERT INTO a VALUES (5000, 'mixed kick')" || fail "insert a 5000"
runs_b=$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's_b'")
run_ok "$BUCARDO" kick s_b s_a 30
expect_out '^Cannot kick inactive sync "s_b"$'
expect_out "^Kick s_a: \[[0-9]+ s\] DONE!$"
expect_no "Kick s_b"
[ "$(sql tgt "select v from a where id = 5000")" = "mixed kick" ] || fail "kick s_b s_a did not deliver s_a's row"
[ "$(sql tgt "select count(*) from b where id = 3")" = 0 ] || fail "inactive s_b replicated b3"
expect_equal "$runs_b" "$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's_b'")" "runs of inactive s_b"
run_ok "$BUCARDO" kick s_a s_b
expect_out '^Cannot kick inactive sync "s_b"$'
expect_out "^Kicked sync s_a$"
# reload SYNC: an inactive one is warned about (exit 0, as Bucardo), the
# active one is reloaded and its reload awaited.
run_ok "$BUCARDO" reload s_a s_b
expect_equal "Reloading sync s_a...Reload of sync s_a successful" "$OUT" "reload s_a s_b (stdout)"
expect_equal 'Cannot reload: status of sync "s_b" is inactive' "$ERR" "reload s_a s_b (stderr)"
wait_log "reloading sync s_a"
grep -q "reloading sync s_b" log.bucardo && fail "the engine was asked to reload inactive s_b"
run_ok "$BUCARDO" activate s_b 10
expect_out "^Activating sync s_b...OK$"
run_ok "$BUCARDO" kick s_b 30
wait_synced src tgt 10 b

run_ok "$BUCARDO" reload 's_%'
expect_equal "Reloading sync s_a...Reload of sync s_a successful
Reloading sync s_b...Reload of sync s_b successful" "$OUT" "reload 's_%'"
wait_log "reloading sync s_b"
run_fail "$BUCARDO" reload nosuch
expect_err 'no sync named "nosuch"'
run_ok "$BUCARDO" stop --quiet
[ -z "$OUT" ] || fail "stop --quiet printed: $OUT"
process_gone "$(cat "$TEST_DIR/piddir/bucardo.mcp.pid" 2>/dev/null || echo 999999999)" || fail "stop --quiet did not stop"
run_fail "$BUCARDO" activate s_b 5
expect_err "not running"
echo ok
