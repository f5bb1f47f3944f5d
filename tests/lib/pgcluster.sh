# tests/lib/pgcluster.sh - sourced by integration tests and scripts: start a
# throwaway PostgreSQL 15 cluster and tear it down on exit, even on failure.
#
# pg_start_cluster sets TEST_DIR (a private temp dir), PGHOST (the socket
# directory inside it), PGPORT (a free port) and PGUSER=postgres, and
# exports HOME=TEST_DIR so no ~/.bucardorc of the caller leaks in.
# PostgreSQL refuses to run as root: when we are root the server runs as
# the unprivileged "postgres" OS user, while the tests themselves stay root.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

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
    if [ -n "${BUCARDO_PIDDIR:-}" ] && [ -f "$BUCARDO_PIDDIR/bucardo.mcp.pid" ]; then
        kill -9 "$(cat "$BUCARDO_PIDDIR/bucardo.mcp.pid")" 2>/dev/null || true
    fi
    if [ -n "${TEST_DIR:-}" ] && [ -d "$TEST_DIR/data" ]; then
        pg_as_owner "$PG_BIN/pg_ctl -D '$TEST_DIR/data' -m immediate -w stop" >/dev/null 2>&1 || true
    fi
    if [ -n "${TEST_DIR:-}" ] && [ -z "${KEEP_TEST_DIR:-}" ]; then
        rm -rf "$TEST_DIR"
    fi
    return $rc
}

pg_start_cluster() {
    TEST_DIR=$(mktemp -d /tmp/bucardo-test.XXXXXX)
    chmod 755 "$TEST_DIR"
    trap pg_stop_cluster EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$TEST_DIR/sock" "$TEST_DIR/data"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$TEST_DIR" "$TEST_DIR/sock" "$TEST_DIR/data"
    fi
    local port tries=0
    while :; do
        port=$(( (RANDOM * 32768 + RANDOM) % 30000 + 20000 ))
        pg_port_free "$port" && [ ! -e "$TEST_DIR/sock/.s.PGSQL.$port" ] && break
        tries=$((tries + 1))
        [ $tries -gt 50 ] && { echo "no free port found" >&2; return 1; }
    done
    pg_as_owner "$PG_BIN/initdb -D '$TEST_DIR/data' -U postgres -A trust -E UTF8 --no-locale" \
        >"$TEST_DIR/initdb.log" 2>&1 || { cat "$TEST_DIR/initdb.log" >&2; return 1; }
    pg_as_owner "$PG_BIN/pg_ctl -D '$TEST_DIR/data' -l '$TEST_DIR/server.log' -w \
        -o \"-k '$TEST_DIR/sock' -p $port -c listen_addresses='' -c fsync=off \
            -c max_connections=100 -c max_prepared_transactions=0\" start" \
        >/dev/null 2>&1 || { cat "$TEST_DIR/server.log" >&2; return 1; }
    export PGHOST="$TEST_DIR/sock" PGPORT="$port" PGUSER=postgres HOME="$TEST_DIR"
    unset PGDATABASE PGPASSWORD PGSERVICE
}
