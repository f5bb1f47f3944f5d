#!/usr/bin/env bash
# tcp_keepalives_idle / _interval / _count (Bucardo's settings) are the
# keepalives of the engine's connections to replicated databases: with the
# server listening on TCP, a target reached over 127.0.0.1 gets a client
# socket whose keepalive timer (ss -o) runs on tcp_keepalives_idle, not on
# the system's two hours (ss shows e.g. "keepalive,5.920ms": seconds left).
# Without the settings it shows the system default, about 2 hours.
. "$TESTS_DIR/lib/setup.sh"
test_begin
command -v ss >/dev/null || fail "ss (iproute2) is needed"
pg_ctl_cluster "$TEST_DIR/data" stop || fail "stop the server"
pg_as_owner "$PG_BIN/pg_ctl -D '$TEST_DIR/data' -l '$TEST_DIR/data.log' -w \
    -o \"-k '$TEST_DIR/sock' -c listen_addresses=127.0.0.1 -c fsync=off\" start" >/dev/null 2>&1 ||
    fail "restart the server on TCP"
test_databases "CREATE TABLE t (id int PRIMARY KEY, v text)" a
createdb k && psql -X -q -d k -c "CREATE TABLE t (id int PRIMARY KEY, v text)" || fail "schema on k"
run_ok "$BUCARDO" add database k dbname=k host=127.0.0.1 port="$PGPORT"
run_ok "$BUCARDO" add all tables db=a relgroup=g
run_ok "$BUCARDO" add sync s relgroup=g dbs=a:source,k:target
run_fail "$BUCARDO" set tcp_keepalives_idle=soon
run_ok "$BUCARDO" set tcp_keepalives_idle=7 tcp_keepalives_interval=3 tcp_keepalives_count=4
run_ok "$BUCARDO" start
sql a "insert into t values (1, 'over tcp')" >/dev/null
run_ok "$BUCARDO" kick s 30
wait_synced a k 10 t
# The writer keeps its connection for conn_idle_timeout (60 s) after a
# busy cycle: its socket is the engine's TCP connection to the server.
timers=$(ss -tnoH state established "( dport = :$PGPORT )")
[ -n "$timers" ] || fail "no TCP connection of the engine to port $PGPORT"
printf '%s\n' "$timers" | grep -Eq 'timer:\(keepalive,[0-7](\.[0-9]+)?(sec|ms),' ||
    fail "the engine's TCP connection does not keep alive every 7 s: $timers"
run_ok "$BUCARDO" stop
echo ok
