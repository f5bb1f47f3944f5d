#!/usr/bin/env bash
# Log rotation with the real logrotate and the shipped packaging/bucardo.logrotate
# (its paths substituted into a private config) while a workload replicates:
# five forced rotations, each followed by postrotate's `bucardo reopen`.
# Judged by the catalog and the tables: the rows every Good run recorded as
# inserted (syncrun) are exactly the rows the "applied" lines of all the log
# files (current, rotated, compressed) say were inserted - no line lost -
# every line of every file is one whole line of the engine's format - none
# split - the current file has lines written after the last rotation, and
# the target equals the source.  Also: the same with SIGUSR2 sent directly,
# and `bucardo reopen` refusing when no engine runs.
. "$TESTS_DIR/lib/setup.sh"
command -v logrotate >/dev/null || fail "logrotate is not installed (scripts/install-deps.sh)"
test_begin
LOGS=$TEST_DIR/logs
mkdir -p "$LOGS"
echo "log-destination = $LOGS" >"$HOME/.bucardorc"
test_databases "CREATE TABLE item (id int PRIMARY KEY, v text)" a b
test_sync s rel a,b
# Every run stays in syncrun (stats_history trims it to 1000 by default):
# the rows it records are summed against the log below.
run_ok "$BUCARDO" set stats_history=0

# The shipped file, pointed at this test's directory, engine and piddir.
SHIPPED=$TESTS_DIR/../packaging/bucardo.logrotate
[ -f "$SHIPPED" ] || fail "no $SHIPPED"
grep -q 'bucardo reopen' "$SHIPPED" || fail "the shipped logrotate file does not run bucardo reopen"
sed -e "s|/var/log/bucardo|$LOGS|g" -e "s|/usr/bin/bucardo|$BUCARDO|g" \
    -e "s|--piddir /run/bucardo|--piddir $TEST_DIR/piddir|" \
    -e "s|su bucardo bucardo|su root root|" -e "s|0750 bucardo bucardo|0750 root root|" \
    "$SHIPPED" >"$TEST_DIR/logrotate.conf"
grep -q "$LOGS/log.bucardo " "$TEST_DIR/logrotate.conf" || fail "the substitution missed the log path"
chmod 755 "$LOGS"

run_ok "$BUCARDO" start
[ -f "$LOGS/log.bucardo" ] || fail "no log.bucardo in the --log-destination directory"
[ ! -f "$TEST_DIR/log.bucardo" ] || fail "a log.bucardo in the current directory"

# The workload: 3000 rows, one transaction each, a few ms apart, in one
# session (autokick replicates them as they come).
psql -X -q -d a -c "DO \$\$ BEGIN FOR i IN 1..3000 LOOP
    INSERT INTO item VALUES (i, 'row ' || i); COMMIT; PERFORM pg_sleep(0.004); END LOOP; END \$\$" &
WORKLOAD=$!

for round in 1 2 3 4 5; do
    sleep 1.5
    logrotate -f -s "$TEST_DIR/logrotate.state" "$TEST_DIR/logrotate.conf" ||
        fail "logrotate failed in round $round"
    [ -d "$LOGS/old" ] || fail "round $round: logrotate made no old/ directory"
    # The engine reopened: its next lines land in a new log.bucardo.
    deadline=$(($(date +%s) + 20))
    until grep -q "reopened the log files" "$LOGS/log.bucardo" 2>/dev/null; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "round $round: the engine did not reopen log.bucardo"
        sleep 0.1
    done
done
# And a direct SIGUSR2, as systemctl kill -s USR2 would send.
sleep 1
mv "$LOGS/log.bucardo" "$LOGS/old/log.bucardo.by-signal"
kill -USR2 "$(engine_pid)" || fail "cannot signal the engine"
sleep 1.5
kill -0 "$WORKLOAD" 2>/dev/null || fail "the workload ended before the rotations did: make it longer"
wait "$WORKLOAD" || fail "the workload failed"
last=$(sql a "select count(*) from item")
expect_equal 3000 "$last" "rows inserted by the workload"
wait_synced a b 60 item
# The last change's cycle is recorded: it is in the log too.
sleep 1
grep -q "reopened the log files" "$LOGS/log.bucardo" || fail "no new log.bucardo after SIGUSR2"
grep -q "applied" "$LOGS/log.bucardo" || fail "the engine wrote no applied line to the new file after SIGUSR2"
run_ok "$BUCARDO" stop

# Every file the engine wrote, in order of age does not matter: count lines.
ALL=$TEST_DIR/all_lines
: >"$ALL"
nfiles=0
for f in "$LOGS"/old/log.bucardo* "$LOGS/log.bucardo"; do
    [ -f "$f" ] || continue
    nfiles=$((nfiles + 1))
    case $f in
        *.gz) zcat "$f" >>"$ALL" ;;
        *) cat "$f" >>"$ALL" ;;
    esac
done
[ "$nfiles" -ge 6 ] || fail "expected at least 6 log files (5 rotations + the signal), found $nfiles: $(ls -R "$LOGS")"
# None split: every line is a whole line of the engine's format.
bad=$(grep -Evc '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \[[0-9]+\] (ERROR|WARNING|INFO|VERBOSE|DEBUG): [^:]+: ' "$ALL")
[ "$bad" = 0 ] || fail "$bad line(s) not of the engine's format (split or mixed):
$(grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \[[0-9]+\] (ERROR|WARNING|INFO|VERBOSE|DEBUG): [^:]+: ' "$ALL" | head -5)"
# None lost: the inserts of the applied lines are those the catalog recorded.
logged=$(grep -o 'applied [0-9]* change(s): [0-9]* deleted, [0-9]* inserted' "$ALL" |
    awk '{s += $6} END {print s + 0}')
recorded=$(sql bucardo "select coalesce(sum(inserts), 0) from bucardo.syncrun where sync = 's' and state = 'Good'")
runs=$(sql bucardo "select count(*) from bucardo.syncrun where sync = 's' and state = 'Good' and inserts > 0")
lines=$(grep -c 'applied [0-9]* change(s)' "$ALL")
expect_equal "$recorded" "$logged" "rows inserted: recorded in syncrun vs said by the applied lines of every log file"
expect_equal "$runs" "$lines" "runs that applied rows: syncrun vs applied lines"
expect_equal "$last" "$(sql b "select count(*) from item")" "rows on the target"
[ "$recorded" -ge "$last" ] || fail "syncrun recorded $recorded inserts for $last rows"

# The rotated files hold the engine's lines, one of them compressed.
ls "$LOGS"/old/log.bucardo.*.gz >/dev/null 2>&1 || fail "no compressed rotated file (delaycompress after 2 rotations)"

# reopen without an engine: one error line, exit 1.
run_fail "$BUCARDO" reopen
expect_err "not running"
run_fail "$BUCARDO" reopen --piddir "$TEST_DIR/piddir"
echo "PASS: $nfiles log files, $lines applied lines, $recorded rows, none lost or split"
