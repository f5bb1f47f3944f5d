# tests/lib/assert.sh - sourced by integration tests: run the real bucardo
# binary and check what it did.
#
# BUCARDO must point at the binary under test.  run_ok / run_fail capture
# stdout in $OUT and stderr in $ERR; every failed check prints the command,
# what was expected and what came out, then exits non-zero.

set -u
FAILS=0

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

run_ok() {
    local rc=0
    OUT=$("$@" 2>"$TEST_DIR/stderr") || rc=$?
    ERR=$(cat "$TEST_DIR/stderr")
    [ $rc -eq 0 ] || fail "expected success: $*
exit $rc
stdout: $OUT
stderr: $ERR"
}

run_fail() {
    local rc=0
    OUT=$("$@" 2>"$TEST_DIR/stderr" </dev/null) || rc=$?
    ERR=$(cat "$TEST_DIR/stderr")
    [ $rc -ne 0 ] || fail "expected failure: $*
stdout: $OUT"
    [ -n "$ERR" ] || fail "no error message from: $*"
    [ "$(printf '%s\n' "$ERR" | grep -c .)" -le 3 ] || fail "too many error lines from: $*
$ERR"
}

# run_rc RC CMD... - run a command expecting exit status RC; OUT and ERR as run_ok.
run_rc() {
    local want=$1 rc=0
    shift
    OUT=$("$@" 2>"$TEST_DIR/stderr" </dev/null) || rc=$?
    ERR=$(cat "$TEST_DIR/stderr")
    [ "$rc" -eq "$want" ] || fail "expected exit $want, got $rc: $*
stdout: $OUT
stderr: $ERR"
}

expect_out() {
    printf '%s\n' "$OUT" | grep -Eq -- "$1" || fail "output lacks /$1/:
$OUT"
}

expect_err() {
    printf '%s\n' "$ERR" | grep -Eiq -- "$1" || fail "error lacks /$1/:
$ERR"
}

expect_no() {
    printf '%s\n%s\n' "$OUT" "$ERR" | grep -Fq -- "$1" && fail "output contains '$1':
$OUT
$ERR"
    return 0
}

# expect_equal EXPECTED ACTUAL WHAT
expect_equal() {
    [ "$1" = "$2" ] || fail "$3: expected
$1
got
$2"
}

# catalog_snapshot - every row of the catalog, for before/after comparison.
catalog_snapshot() {
    pg_dump -d bucardo --data-only --schema=bucardo --inserts --no-owner 2>/dev/null |
        grep -E '^INSERT' | sort
}

# sql DB QUERY - one unaligned result.
sql() {
    psql -X -q -At -d "$1" -c "$2"
}

# bucardo_install - a batch install into the current cluster.
bucardo_install() {
    mkdir -p "$TEST_DIR/piddir"
    run_ok "$BUCARDO" install --batch --piddir="$TEST_DIR/piddir"
}

# table_digest DB TABLE - an md5 over every row of the table (as text, in a
# stable order): equal digests mean equal contents.
table_digest() {
    # A query error (no such table...) prints a line naming the database,
    # so the two sides of a comparison never look equal by both failing.
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" \
        -c "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '')
            FROM $2 t" 2>/dev/null || echo "ERROR reading $2 in $1"
}

# wait_synced SOURCE TARGET TIMEOUT_S TABLE... - wait until every table's
# contents are equal on both sides; fail with both digests otherwise.
wait_synced() {
    local src=$1 dst=$2 timeout=$3 t a b deadline
    shift 3
    deadline=$(( $(date +%s) + timeout ))
    for t in "$@"; do
        while :; do
            a=$(table_digest "$src" "$t") b=$(table_digest "$dst" "$t")
            [ "$a" = "$b" ] && break
            [ "$(date +%s)" -ge "$deadline" ] && fail "table $t differs between $src and $dst after ${timeout}s: $a vs $b"
            sleep 0.1
        done
    done
}

# engine_pid - the running engine's pid (from the piddir of bucardo_install).
engine_pid() {
    cat "$TEST_DIR/piddir/bucardo.mcp.pid" 2>/dev/null
}

# process_gone PID - true when the process has exited (no such process, or
# a zombie its new parent has not reaped yet: the engine double-forks).
process_gone() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
    [ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ]
}

# wait_run SYNC TIMEOUT_S CONDITION - wait until bucardo.syncrun holds a run
# of SYNC matching CONDITION (SQL over syncrun's columns, e.g.
# "state = 'Good' AND inserts = 1000"); fail with the recent runs otherwise.
wait_run() {
    local deadline=$(( $(date +%s) + $2 ))
    while [ "$(sql bucardo "select count(*) from bucardo.syncrun where sync = '$1' and ($3)")" = 0 ]; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "sync $1: no run with $3 after $2 s; last runs:
$(sql bucardo "select id, state, deletes, inserts, error from bucardo.syncrun where sync = '$1' order by id desc limit 5")"
        sleep 0.2
    done
}

# engines_here - pids of live engines started from this test (their cwd is
# TEST_DIR, where `bucardo start` ran), one per line; finds engines the pid
# file does not name.
engines_here() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/cwd" 2>/dev/null)" = "$TEST_DIR" ] || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -Eq "bucardo.* (re)?start" || continue
        process_gone "${p#/proc/}" || echo "${p#/proc/}"
    done
}

# hold_trigger DB TABLE [WHEN] - on DB, a trigger that fires even in
# replica mode and makes each row inserted into TABLE (those matching the
# WHEN condition, if given) wait while the test holds advisory lock 4242:
# a copy into TABLE can then be caught in flight.
hold_trigger() {
    psql -X -q -d "$1" -c "CREATE OR REPLACE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS
                               \$\$BEGIN PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242); RETURN NEW; END\$\$;
                           CREATE TRIGGER hold BEFORE INSERT ON $2 FOR EACH ROW ${3:+WHEN ($3)} EXECUTE FUNCTION hold();
                           ALTER TABLE $2 ENABLE ALWAYS TRIGGER hold" || fail "hold trigger on $1.$2"
}
# hold_lock DB - take advisory lock 4242 on DB in a background session
# (HOLD_PID), and return once it is granted.  release_lock DB ends it.
hold_lock() {
    psql -X -q -d "$1" -c "SELECT pg_advisory_lock(4242); SELECT pg_sleep(120)" >/dev/null 2>&1 &
    HOLD_PID=$!
    until [ "$(sql "$1" "select count(*) from pg_locks where locktype = 'advisory' and objid = 4242 and granted")" = 1 ]; do
        sleep 0.05
    done
}
release_lock() {
    sql "$1" "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and objid = 4242 and mode = 'ExclusiveLock'" >/dev/null
    wait "$HOLD_PID"
}
