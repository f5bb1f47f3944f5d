#!/usr/bin/env bash
# The engine as systemd runs it (packaging/bucardo.service: Type=notify,
# `bucardo start --foreground`, SIGTERM to stop), with systemd's side played
# by a real datagram socket in NOTIFY_SOCKET (python3): READY=1 arrives
# once the engine runs its syncs (a change made right after replicates),
# not before; SIGTERM brings STOPPING=1 and exit status 0 with the pid file
# gone.
# Without NOTIFY_SOCKET the engine does not load libsystemd at all.
. "$TESTS_DIR/lib/setup.sh"
test_begin
test_databases "CREATE TABLE item (id int PRIMARY KEY, v text)" a b
test_sync s rel a,b

SOCK=$TEST_DIR/notify.sock
MSGS=$TEST_DIR/notify.msgs
python3 - "$SOCK" "$MSGS" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data = s.recv(4096).decode()
        out.write(data.replace("\n", " ") + "\n")
        if "STOPPING=1" in data:
            break
EOF
LISTENER=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "the notify socket did not appear"

NOTIFY_SOCKET=$SOCK "$BUCARDO" start --foreground >"$TEST_DIR/fg.out" 2>&1 &
ENGINE=$!
deadline=$(($(date +%s) + 30))
until grep -q "READY=1" "$MSGS" 2>/dev/null; do
    kill -0 "$ENGINE" 2>/dev/null || fail "the engine exited before READY=1: $(cat "$TEST_DIR/fg.out")"
    [ "$(date +%s)" -ge "$deadline" ] && fail "no READY=1 within 30 s"
    sleep 0.1
done
# Ready means running: the pid file names it, its sync is loaded.
expect_equal "$ENGINE" "$(engine_pid)" "the pid file after READY=1"
grep -q "starting sync s" log.bucardo || fail "READY=1 before the sync was started"
grep -q "libsystemd" log.bucardo && fail "the engine could not load libsystemd: $(grep libsystemd log.bucardo)"
run_ok psql -X -q -d a -c "INSERT INTO item VALUES (1, 'after ready')"
wait_synced a b 30 item
kill -TERM "$ENGINE"
rc=0
wait "$ENGINE" || rc=$?
expect_equal 0 "$rc" "the engine's exit status after SIGTERM"
wait "$LISTENER" 2>/dev/null
grep -q "STOPPING=1" "$MSGS" || fail "no STOPPING=1: $(cat "$MSGS")"
[ -z "$(engine_pid)" ] || fail "the pid file is left after the stop"
expect_equal 1 "$(grep -c READY=1 "$MSGS")" "READY=1 messages"

# Without NOTIFY_SOCKET: libsystemd is not mapped.
run_ok "$BUCARDO" start
pid=$(engine_pid)
grep -q libsystemd "/proc/$pid/maps" && fail "libsystemd is loaded without NOTIFY_SOCKET"
run_ok "$BUCARDO" stop

echo "PASS"
