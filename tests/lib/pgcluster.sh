# tests/lib/pgcluster.sh - sourced by integration tests and scripts: start a
# throwaway PostgreSQL 15 cluster and tear it down on exit, even on failure.
#
# pg_start_cluster sets TEST_DIR (a private temp dir), PGHOST (the socket
# directory inside it), PGPORT (a free port) and PGUSER=postgres, and
# exports HOME=TEST_DIR so no ~/.bucardorc of the caller leaks in; the
# ~/.bucardorc it writes sends the engine's log to TEST_DIR.
# PostgreSQL refuses to run as root: when we are root the server runs as
# the unprivileged "postgres" OS user, while the tests themselves stay root.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# bucardo reads /etc/bucardorc when neither ./.bucardorc nor ~/.bucardorc
# exists (as Bucardo does); Debian's bucardo package installs one naming
# localhost:5432.  Tests read no system file: BUCARDO_ETC_RC replaces it.
export BUCARDO_ETC_RC=${BUCARDO_ETC_RC:-/nonexistent/bucardorc}

pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        su postgres -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

pg_port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg_stop_cluster() {
    local rc=$?
    local piddir=${BUCARDO_PIDDIR:-${TEST_DIR:-/nonexistent}/piddir} d
    if [ -f "$piddir/bucardo.mcp.pid" ]; then
        kill -9 "$(cat "$piddir/bucardo.mcp.pid")" 2>/dev/null || true
    fi
    # A server already stopped is fine (|| true: under set -e the failed
    # stop would end this function before the directory is removed).
    for d in "${TEST_DIR:-/nonexistent}"/data*; do
        [ -d "$d" ] && { pg_as_owner "$PG_BIN/pg_ctl -D '$d' -m immediate -w stop" >/dev/null 2>&1 || true; }
    done
    # Sanitizer builds write their reports here (the daemon has no stderr).
    if [ -n "${TEST_DIR:-}" ] && ls "$TEST_DIR"/sanitizer.* >/dev/null 2>&1; then
        echo "FAIL: sanitizer reports:" >&2
        cat "$TEST_DIR"/sanitizer.* >&2
        rc=1
    fi
    if [ -n "${TEST_DIR:-}" ] && [ -z "${KEEP_TEST_DIR:-}" ]; then
        rm -rf "$TEST_DIR"
    fi
    return $rc
}

# pg_init_cluster DATADIR SOCKDIR - initdb and start one server on a free
# port; prints the port.
pg_init_cluster() {
    local data=$1 sock=$2 port tries=0
    mkdir -p "$data" "$sock"
    [ "$(id -u)" -eq 0 ] && chown postgres "$data" "$sock"
    while :; do
        port=$(( (RANDOM * 32768 + RANDOM) % 30000 + 20000 ))
        pg_port_free "$port" && [ ! -e "$sock/.s.PGSQL.$port" ] && break
        tries=$((tries + 1))
        [ $tries -gt 50 ] && { echo "no free port found" >&2; return 1; }
    done
    pg_as_owner "$PG_BIN/initdb -D '$data' -U postgres -A trust -E UTF8 --no-locale" \
        >"$data.initdb.log" 2>&1 || { cat "$data.initdb.log" >&2; return 1; }
    echo "port = $port" >>"$data/postgresql.conf"
    pg_as_owner "$PG_BIN/pg_ctl -D '$data' -l '$data.log' -w \
        -o \"-k '$sock' -c listen_addresses='' -c fsync=off -c max_connections=100\" start" \
        >/dev/null 2>&1 || { cat "$data.log" >&2; return 1; }
    echo "$port"
}

# pg_start_second_cluster - another server (for outages of one side):
# sets PGHOST2 and PGPORT2.
pg_start_second_cluster() {
    PGPORT2=$(pg_init_cluster "$TEST_DIR/data2" "$TEST_DIR/sock2") || return 1
    PGHOST2="$TEST_DIR/sock2"
}

# pg_ctl_cluster DATADIR ACTION [ARGS] - stop/start/restart one server.
pg_ctl_cluster() {
    local data=$1
    shift
    pg_as_owner "$PG_BIN/pg_ctl -D '$data' -l '$data.log' -w $*" >/dev/null 2>&1
}

pg_start_cluster() {
    TEST_DIR=$(mktemp -d /tmp/bucardo-test.XXXXXX)
    chmod 755 "$TEST_DIR"
    trap pg_stop_cluster EXIT
    trap 'exit 130' INT TERM
    [ "$(id -u)" -eq 0 ] && chown postgres "$TEST_DIR"
    local port
    port=$(pg_init_cluster "$TEST_DIR/data" "$TEST_DIR/sock") || return 1
    export PGHOST="$TEST_DIR/sock" PGPORT="$port" PGUSER=postgres HOME="$TEST_DIR"
    # The engine logs into TEST_DIR (log.bucardo), not the machine's
    # /var/log/bucardo shared by every test: the rc file says so.
    echo "log-destination = $TEST_DIR" >"$TEST_DIR/.bucardorc"
    export ASAN_OPTIONS="log_path=$TEST_DIR/sanitizer${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="log_path=$TEST_DIR/sanitizer:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    # third-party libraries' own doings (lsan.supp and tsan.supp say which)
    local supp
    supp=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    # atexit_sleep_ms=0: TSan otherwise sleeps a second at exit while any
    # thread remains (the engine's detached stderr reader does), so the
    # engine would outlive its pid file - which `bucardo stop` waits for -
    # by that second under TSan only.
    export TSAN_OPTIONS="log_path=$TEST_DIR/sanitizer:suppressions=$supp/tsan.supp:atexit_sleep_ms=0${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
    export LSAN_OPTIONS="suppressions=$supp/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    unset PGDATABASE PGPASSWORD PGSERVICE
}
