#!/usr/bin/env bash
# The log as Bucardo's manual describes it: each log_* setting changes the
# lines as README.md (Logging) says, log_level picks which lines appear
# (debug: keys per table, statements, times of each cycle), --log-level and
# --log-showline override their settings, several destinations at once,
# --log-extension, --log-separate (a file per sync), --log-clean, the legacy
# --debugdir / --debugfile=0, none, warning_file, log_conflict_file, the
# reason file of `start "reason"` / `stop "reason"`, the fallback directory
# of a user who cannot write /var/log/bucardo, and bad values refused.  Each
# engine run also replicates: the target is checked against the source.
. "$TESTS_DIR/lib/setup.sh"
test_begin
L=$TEST_DIR/logs
mkdir -p "$L"
echo "log-destination = $L" >"$HOME/.bucardorc"
test_databases "CREATE TABLE item (id int PRIMARY KEY, v text)" a b
test_sync s rel a:source,b:source
N=0

# run_engine [OPTION...] - start with the options, make one change on a,
# wait until it is on b, stop.  The log files are left for the caller.
run_engine() {
    N=$((N + 1))
    run_ok "$BUCARDO" start "$@"
    run_ok psql -X -q -d a -c "INSERT INTO item VALUES ($N, 'v$N')"
    wait_synced a b 30 item
    sleep 0.3
    run_ok "$BUCARDO" stop
}
fresh() { rm -rf "$L" && mkdir -p "$L"; }
setting() { run_ok "$BUCARDO" set "$1=$2"; }

# --- the default format: local time, pid, level, sync name
fresh
run_engine
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \[[0-9]+\] INFO: sync s: applied 1 change' "$L/log.bucardo" ||
    fail "default line format: $(grep applied "$L/log.bucardo")"
grep -q "DEBUG" "$L/log.bucardo" && fail "DEBUG lines at log_level normal"

grep -q "connected to source a" "$L/log.bucardo" && fail "a VERBOSE line at log_level normal"

# --- verbose adds the connections, not the debug lines
fresh
setting log_level verbose
run_engine
grep -Eq 'VERBOSE: sync s: connected to source a' "$L/log.bucardo" || fail "no VERBOSE line at log_level verbose"
grep -q "DEBUG" "$L/log.bucardo" && fail "DEBUG lines at log_level verbose"

# --- every part off, log_level debug: "role: message", and debug lines
fresh
setting log_showtime 0
setting log_showpid 0
setting log_showlevel 0
setting log_showsyncname 0
setting log_level debug
run_engine
grep -Eq '^sync: applied 1 change' "$L/log.bucardo" || fail "bare line: $(grep applied "$L/log.bucardo")"
grep -Eq '^target b: committed: [0-9]+ statement\(s\) \([0-9]+ COPY\), [0-9]+ bytes of rows, [0-9.]+ ms from BEGIN to COMMIT' \
    "$L/log.bucardo" || fail "no writer debug line: $(grep -m3 target "$L/log.bucardo")"
grep -Eq '^sync: source a table public.item: 1 changed key\(s\)' "$L/log.bucardo" ||
    fail "no keys-per-table debug line: $(grep -m3 key "$L/log.bucardo")"
grep -Eq '^sync: cycle times: window, keys and conflicts [0-9.]+ ms; copies and apply to [0-9]+ writer\(s\) [0-9.]+ ms' \
    "$L/log.bucardo" || fail "no cycle-times debug line"
grep -Eq '^[0-9]{4}-' "$L/log.bucardo" && fail "a timestamp with log_showtime 0"

# --- epoch seconds with microseconds, source lines; --log-level overrides
fresh
setting log_showtime 1
setting log_microsecond 1
setting log_showpid 1
setting log_showlevel 1
setting log_showline 1
run_engine --log-level=normal
grep -Eq '^[0-9]{10}\.[0-9]{6} \[[0-9]+\] INFO: #sync_cycle\.c:[0-9]+ sync: applied 1 change' "$L/log.bucardo" ||
    fail "epoch/microsecond/showline line: $(grep applied "$L/log.bucardo")"
grep -q "DEBUG" "$L/log.bucardo" && fail "--log-level=normal did not override log_level debug"
# --log-showline=0 overrides log_showline 1
fresh
run_engine --log-level=normal --log-showline=0
grep -q '#sync_cycle' "$L/log.bucardo" && fail "--log-showline=0 did not override log_showline 1"

# --- UTC with a strftime format, terse: only warnings and errors
fresh
setting log_showtime 2
setting log_microsecond 0
setting log_showline 0
setting log_showsyncname 1
run_ok "$BUCARDO" set "log_timer_format=%H:%M:%S"
setting log_level terse
run_engine
[ -s "$L/log.bucardo" ] && grep -q "INFO" "$L/log.bucardo" && fail "INFO lines at log_level terse"
setting log_level normal
fresh
run_engine
grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2} \[[0-9]+\] INFO: sync s: applied' "$L/log.bucardo" ||
    fail "timer format line: $(grep applied "$L/log.bucardo")"
h=$(grep 'applied' "$L/log.bucardo" | head -1 | cut -c1-2)
u=$(date -u +%H)
[ "$((10#$h))" -eq "$((10#$u))" ] || [ "$(((10#$u + 24 - 10#$h) % 24))" -le 1 ] || fail "log_showtime 2 is not UTC: $h vs $u"
run_ok "$BUCARDO" set "log_timer_format="
setting log_showtime 3

# --- bad values: one error line, nothing changed
run_fail "$BUCARDO" set log_showtime=7
run_fail "$BUCARDO" set log_level=loud
run_fail "$BUCARDO" set syslog_facility=LOG_NOPE
run_fail "$BUCARDO" start --log-level=loud
expect_err "log-level"
# A catalog edited by hand: the start refuses the bad value, naming it.
sql bucardo "update bucardo.config set setting = '9' where name = 'log_showtime'" >/dev/null
run_fail "$BUCARDO" start
expect_err "log_showtime"
sql bucardo "update bucardo.config set setting = '3' where name = 'log_showtime'" >/dev/null
run_fail "$BUCARDO" start --log-destination="$TEST_DIR/nonexistent"
expect_err "not a writable directory"
[ -z "$(engine_pid)" ] || fail "an engine started after a refused start"

# --- several destinations at once, an extension, the warning file
fresh
mkdir -p "$TEST_DIR/second"
run_engine --log-destination "$L" --log-destination "$TEST_DIR/second" --log-extension=main
[ -f "$L/log.bucardo.main" ] && [ -f "$TEST_DIR/second/log.bucardo.main" ] || fail "no log.bucardo.main in both directories: $(ls "$L" "$TEST_DIR/second")"
cmp -s <(grep -c applied "$L/log.bucardo.main") <(grep -c applied "$TEST_DIR/second/log.bucardo.main") ||
    fail "the two destinations differ"
[ -f "$L/log.bucardo" ] && fail "log.bucardo written besides log.bucardo.main"

# --- stderr and stdout destinations: the engine keeps those streams of `start`
fresh
"$BUCARDO" start --log-destination stdout --log-destination "$L" >"$TEST_DIR/engine.stdout" 2>/dev/null ||
    fail "start with --log-destination stdout"
run_ok psql -X -q -d a -c "INSERT INTO item VALUES (50, 'v50')"
wait_synced a b 30 item
sleep 0.3
run_ok "$BUCARDO" stop
grep -q "applied 1 change" "$L/log.bucardo" || fail "stdout+dir: nothing in the directory"
grep -q "applied 1 change" "$TEST_DIR/engine.stdout" || fail "--log-destination stdout: no line on start's stdout"
# (no directory, here and for syslog below: the relative file settings
# would go to the machine's default directory; give them this test's)
for f in reason_file warning_file log_conflict_file; do run_ok "$BUCARDO" set "$f=$TEST_DIR/$f"; done
"$BUCARDO" start --log-destination stderr 2>"$TEST_DIR/engine.stderr" >/dev/null ||
    fail "start with --log-destination stderr"
run_ok psql -X -q -d a -c "INSERT INTO item VALUES (51, 'v51')"
wait_synced a b 30 item
sleep 0.3
run_ok "$BUCARDO" stop
[ -s "$TEST_DIR/reason_file" ] || fail "no reason_file at its absolute path"
grep -q "applied 1 change" "$TEST_DIR/engine.stderr" || fail "--log-destination stderr: no line on start's stderr"

# --- syslog, with syslog_facility: a datagram socket in /dev/log plays syslogd
if [ "$(id -u)" -eq 0 ] && [ ! -e /dev/log ]; then
    python3 - "$TEST_DIR/syslog.msgs" <<'EOF' &
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(60)
with open(sys.argv[1], "a", buffering=1) as out:
    try:
        while not os.path.exists(sys.argv[1] + ".stop"):
            try:
                out.write(s.recv(8192).decode(errors="replace") + "\n")
            except socket.timeout:
                break
    finally:
        os.unlink("/dev/log")
EOF
    SYSLOGD=$!
    for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
    [ -S /dev/log ] || fail "could not make /dev/log"
    setting syslog_facility LOG_LOCAL3
    run_engine --log-destination syslog
    setting syslog_facility LOG_LOCAL1
    touch "$TEST_DIR/syslog.msgs.stop"
    python3 -c "import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'x', '/dev/log')"
    wait "$SYSLOGD"
    [ -e /dev/log ] && fail "/dev/log left behind"
    # LOG_LOCAL3 (19) * 8 + LOG_INFO (6) = 158
    grep -Eq "^<158>.*bucardo\[[0-9]+\]: sync s: applied 1 change" "$TEST_DIR/syslog.msgs" ||
        fail "no syslog line at local3.info: $(head -3 "$TEST_DIR/syslog.msgs")"
else
    echo "SKIP: syslog (needs root and no /dev/log of a running syslogd)"
fi

run_ok "$BUCARDO" set reason_file=bucardo.restart.reason.txt warning_file=bucardo.warning.log \
    log_conflict_file=bucardo_conflict.log

# --- --log-separate: the sync's lines in log.bucardo.sync.s
fresh
run_engine --log-separate
grep -q "applied 1 change" "$L/log.bucardo.sync.s" || fail "no sync line in log.bucardo.sync.s: $(ls "$L")"
grep -q "applied 1 change" "$L/log.bucardo" && fail "--log-separate: the sync's line is in the main file too"
grep -q "controller: " "$L/log.bucardo" || fail "--log-separate: the controller's lines left the main file"

# --- --log-clean removes old log.bucardo* (and nothing else)
echo old >"$L/log.bucardo.old"
echo keep >"$L/other.txt"
run_engine --log-clean
[ -f "$L/log.bucardo.old" ] && fail "--log-clean left log.bucardo.old"
[ -f "$L/other.txt" ] || fail "--log-clean removed another file"
grep -q "old" "$L/log.bucardo" && fail "--log-clean kept the old log.bucardo's lines"

# --- legacy: --debugdir DIR; --debugfile=0 (no log file); none
mkdir -p "$TEST_DIR/dbg"
run_engine --no-bucardorc --debugdir "$TEST_DIR/dbg"
grep -q "applied 1 change" "$TEST_DIR/dbg/log.bucardo" || fail "--debugdir: no log there"
# (the reason file would go to the default directory, the machine's)
run_ok "$BUCARDO" set "reason_file=$TEST_DIR/reason.txt"
mkdir -p "$TEST_DIR/cwd0" && cd "$TEST_DIR/cwd0"
run_engine --no-bucardorc --debugfile=0
[ -z "$(ls "$TEST_DIR/cwd0")" ] || fail "--debugfile=0 wrote files: $(ls "$TEST_DIR/cwd0")"
fresh
run_engine --log-destination none
[ -z "$(ls "$L")" ] || fail "--log-destination none wrote: $(ls "$L")"
cd "$TEST_DIR"
run_ok "$BUCARDO" set "reason_file=bucardo.restart.reason.txt"

# --- warning_file: a copy of every warning; log_conflict_file: conflicts
fresh
run_ok "$BUCARDO" start
run_ok psql -X -q -d a -c "INSERT INTO item VALUES (100, 'x')"
wait_synced a b 30 item
run_ok "$BUCARDO" pause s
sleep 0.5
"$BUCARDO" kick s 5 >/dev/null 2>&1 && fail "a kick of a paused sync succeeded"
run_ok "$BUCARDO" resume s
run_ok "$BUCARDO" stop
grep -q "WARNING: controller: cannot kick sync \"s\": it is paused" "$L/bucardo.warning.log" ||
    fail "no warning line in bucardo.warning.log: $(cat "$L/bucardo.warning.log" 2>&1)"
grep -q "INFO" "$L/bucardo.warning.log" && fail "INFO lines in the warning file"
run_ok psql -X -q -d a -c "UPDATE item SET v = 'from a' WHERE id = 100"
run_ok psql -X -q -d b -c "UPDATE item SET v = 'from b' WHERE id = 100"
run_ok "$BUCARDO" set "log_conflict_file=$TEST_DIR/conflicts.log"
run_ok "$BUCARDO" start
wait_synced a b 30 item
sleep 0.5
run_ok "$BUCARDO" stop
expect_equal "from b" "$(sql a "select v from item where id = 100")" "the conflict's winner (bucardo_latest)"
grep -q "conflict: table public.item key (100) changed on a, b" "$TEST_DIR/conflicts.log" ||
    fail "no conflict line in log_conflict_file: $(cat "$TEST_DIR/conflicts.log" 2>&1)"
[ "$(grep -vc conflict "$TEST_DIR/conflicts.log")" = 0 ] || fail "other lines in the conflict file"
grep -q "conflict: table public.item key (100)" "$L/log.bucardo" || fail "the conflict is not in the main log"
run_ok "$BUCARDO" set "log_conflict_file=bucardo_conflict.log"

# --- the reason file: start "reason" / stop "reason"
fresh
run_ok "$BUCARDO" start "upgrade by alice"
run_ok "$BUCARDO" stop "maintenance by bob"
grep -Eq '\| start \| upgrade by alice$' "$L/bucardo.restart.reason.log" || fail "no start reason in the reason log"
grep -Eq '\| stop  \| maintenance by bob$' "$L/bucardo.restart.reason.txt" || fail "reason_file: $(cat "$L/bucardo.restart.reason.txt")"
[ "$(wc -l <"$L/bucardo.restart.reason.txt")" = 1 ] || fail "reason_file holds more than the last reason"
grep -q "start reason: upgrade by alice" "$L/log.bucardo" || fail "the start reason is not in the log"
grep -q "stop reason: maintenance by bob" "$L/log.bucardo" || fail "the stop reason is not in the log"

# --- the fallback directory: a user who cannot write /var/log/bucardo
if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -w /var/log/bucardo 2>/dev/null &&
    ! runuser -u postgres -- test -w /var/log; then
    H=$TEST_DIR/pghome
    mkdir -p "$H" && chown postgres "$H" "$TEST_DIR/piddir"
    (cd "$H" && runuser -u postgres -- env HOME="$H" PGHOST="$PGHOST" PGPORT="$PGPORT" "$BUCARDO" start) ||
        fail "start as postgres failed"
    run_ok psql -X -q -d a -c "INSERT INTO item VALUES (200, 'fallback')"
    wait_synced a b 30 item
    runuser -u postgres -- env HOME="$H" PGHOST="$PGHOST" PGPORT="$PGPORT" "$BUCARDO" stop >/dev/null || fail "stop"
    [ -f "$H/.local/state/bucardo/log.bucardo" ] || fail "no log in the fallback ~/.local/state/bucardo"
    [ -f "$H/log.bucardo" ] && fail "the fallback wrote to the current directory"
    chown root "$TEST_DIR/piddir"
else
    echo "SKIP: the fallback directory (needs root, a postgres user and no write access for it to /var/log)"
fi
echo "PASS"
