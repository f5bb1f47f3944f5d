#!/usr/bin/env bash
# The engine streams rows from source to targets in a bounded pool of
# chunks, so its memory does not grow with the size of a cycle: 100,000
# rows (about 75 MB as COPY text, some rows 4 kB wide) are inserted, then
# all updated in one transaction; the targets end equal to the source and
# the engine's peak RSS (VmHWM) stays under a fixed limit (64 MiB) smaller
# than the data a cycle moves.
. "$TESTS_DIR/lib/setup.sh"
test_begin
LIMIT_KB=$((64 * 1024))
# AddressSanitizer and ThreadSanitizer add shadow memory and quarantines
# that grow with every allocation made, bounded or not: there the limit only
# catches a runaway, and the real bound is checked by the plain build.
[ -n "${BUCARDO_SANITIZER:-}" ] && LIMIT_KB=$((512 * 1024))

SCHEMA="CREATE TABLE wide (id int PRIMARY KEY, n bigint, pad text, note text);"
test_databases "$SCHEMA" src t1 t2
test_sync s1 rg src,t1,t2
run_ok "$BUCARDO" start
pid=$(engine_pid)
[ -n "$pid" ] || fail "no engine pid file"

# peak_kb - the engine's peak resident set so far, in kB.
peak_kb() {
    awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null
}
# check_peak WHEN - fail when the peak passed the limit.
check_peak() {
    local kb
    kb=$(peak_kb)
    [ -n "$kb" ] || fail "cannot read VmHWM of the engine (pid $pid)"
    echo "engine peak RSS (VmHWM) $1: $((kb / 1024)) MiB ($kb kB), limit $((LIMIT_KB / 1024)) MiB"
    [ "$kb" -lt "$LIMIT_KB" ] || fail "engine peak RSS $kb kB $1 exceeds $LIMIT_KB kB"
}
check_peak "at start"
# wait_count DB QUERY - until QUERY counts all 100,000 rows on DB.
wait_count() {
    local deadline=$(( $(date +%s) + 90 )) n
    while n=$(sql "$1" "$2"); [ "$n" != 100000 ]; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "$1: $2 gives $n, not 100000, after 90 s"
        sleep 0.2
    done
}

# Every row ~350 bytes, every tenth also 4 kB (stored compressed, but COPY
# text is never compressed on the wire).
psql -X -q -d src -c "INSERT INTO wide
    SELECT i, i * 7, repeat(md5(i::text), 10),
           CASE WHEN i % 10 = 0 THEN repeat(md5((i * 31)::text), 128) END
      FROM generate_series(1, 100000) i" || fail "insert"
expect_equal "100000" "$(sql src "select count(*) from wide")" "rows on the source"
# Cheap waits by count first; the contents are compared in full at the
# end (digests of 100 MB are slow).
wait_count t1 "select count(*) from wide"
wait_count t2 "select count(*) from wide"
check_peak "after the insert"

psql -X -q -d src -c "UPDATE wide SET n = n + 1, pad = upper(pad), note = reverse(note)" || fail "update"
wait_count t1 "select count(*) from wide where n = id * 7 + 1"
wait_count t2 "select count(*) from wide where n = id * 7 + 1"
wait_synced src t1 60 wide
wait_synced src t2 60 wide
check_peak "after updating every row"
run_ok "$BUCARDO" stop
echo ok
