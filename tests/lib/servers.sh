# tests/lib/servers.sh - sourced by integration tests that need a server
# other than PostgreSQL as a target: each is started in TEST_DIR on a free
# port by the test itself, and stopped (by the pid it wrote) when the test
# exits, before the PostgreSQL cluster.  Call after test_begin.
#
# mariadb_start NAME        a MariaDB server in TEST_DIR/NAME: sets
#                           MARIADB_SOCK (socket file) and MARIADB_PORT;
#                           grant tables skipped, any user gets in.
# mariadb_sql NAME SQL...   run SQL in database `db` of server NAME, tab-separated output
# mariadb_stop NAME / mariadb_restart NAME
# redis_start NAME          a redis-server in TEST_DIR/NAME: sets REDIS_PORT
# redis_cli NAME ARGS...    redis-cli against it
# redis_stop NAME / redis_restart NAME
# firebird_start NAME       a Firebird 3 server (/usr/sbin/firebird) in
#                           TEST_DIR/NAME with a private root ($FIREBIRD:
#                           firebird.conf with the port, a security
#                           database of its own, lock and tmp dirs): sets
#                           FIREBIRD_PORT, FIREBIRD_DB (path of the empty
#                           UTF8 database db.fdb), FIREBIRD_USER/_PASS.
# firebird_sql NAME SQL     run SQL through isql-fb against it
# firebird_dump NAME SELECT the rows, exactly (tests/lib/fb_dump.c, $FB_DUMP)
# firebird_stop NAME / firebird_restart NAME

servers_free_port() {
    local port tries=0
    while :; do
        port=$(( (RANDOM * 32768 + RANDOM) % 30000 + 20000 ))
        pg_port_free "$port" && { echo "$port"; return 0; }
        tries=$((tries + 1))
        [ $tries -gt 50 ] && { echo "no free port found" >&2; return 1; }
    done
}

servers_stop_all() {
    local f
    for f in "${TEST_DIR:-/nonexistent}"/*.server.pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
        rm -f "$f"
    done
    return 0
}

servers_trap() {
    trap 'rc=$?; servers_stop_all; (exit $rc); pg_stop_cluster' EXIT
}

mariadb_run() {
    local name=$1 dir=$TEST_DIR/$1 port=$2 user=()
    [ "$(id -u)" -eq 0 ] && user=(--user=root)
    mariadbd --no-defaults "${user[@]}" --datadir="$dir/data" --socket="$dir/sock" --port="$port" \
        --bind-address=127.0.0.1 --pid-file="$dir/mariadbd.pid" --skip-grant-tables --local-infile=1 \
        --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=1 --skip-log-bin \
        --log-error="$dir/error.log" >/dev/null 2>&1 &
    echo $! >"$TEST_DIR/$name.server.pid"
    disown
    for _ in $(seq 300); do
        mariadb --no-defaults -S "$dir/sock" -u root -e "select 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$dir/error.log" >&2
    fail "MariaDB $name did not start"
}

mariadb_start() {
    local name=$1 dir=$TEST_DIR/$1 port
    command -v mariadbd >/dev/null || fail "mariadbd (package mariadb-server) is needed"
    servers_trap
    mkdir -p "$dir"
    mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
        --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; fail "mariadb-install-db"; }
    port=$(servers_free_port) || fail "no free port for MariaDB"
    echo "$port" >"$dir/port"
    mariadb_run "$name" "$port"
    mariadb --no-defaults -S "$dir/sock" -u root -e "CREATE DATABASE db CHARACTER SET utf8mb4" ||
        fail "MariaDB $name: CREATE DATABASE"
    MARIADB_SOCK=$dir/sock MARIADB_PORT=$port
}

mariadb_sql() {
    local name=$1
    shift
    mariadb --no-defaults --default-character-set=utf8mb4 -S "$TEST_DIR/$name/sock" -u root -N -B -r db -e "$*"
}

mariadb_stop() {
    local f=$TEST_DIR/$1.server.pid
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    rm -f "$f"
    sleep 0.5
}

mariadb_restart() {
    mariadb_run "$1" "$(cat "$TEST_DIR/$1/port")"
}

redis_run() {
    local name=$1 dir=$TEST_DIR/$1 port=$2
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly yes \
        --appendfsync always --daemonize no --logfile "$dir/redis.log" >/dev/null 2>&1 &
    echo $! >"$TEST_DIR/$name.server.pid"
    disown
    for _ in $(seq 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$dir/redis.log" >&2
    fail "redis $name did not start"
}

redis_start() {
    local name=$1 dir=$TEST_DIR/$1 port
    command -v redis-server >/dev/null || fail "redis-server (package redis-server) is needed"
    servers_trap
    mkdir -p "$dir"
    port=$(servers_free_port) || fail "no free port for redis"
    echo "$port" >"$dir/port"
    redis_run "$name" "$port"
    REDIS_PORT=$port
}

redis_cli() {
    local name=$1
    shift
    redis-cli -p "$(cat "$TEST_DIR/$name/port")" "$@"
}

redis_stop() {
    mariadb_stop "$1"
}

redis_restart() {
    redis_run "$1" "$(cat "$TEST_DIR/$1/port")"
}

FIREBIRD_LIB=/usr/lib/x86_64-linux-gnu/firebird/3.0
FIREBIRD_USER=SYSDBA
FIREBIRD_PASS=fb-Secret-7

firebird_env() {
    local dir=$TEST_DIR/$1
    FIREBIRD=$dir/root FIREBIRD_LOCK=$dir/lock FIREBIRD_TMP=$dir/tmp "${@:2}"
}

firebird_run() {
    local name=$1 dir=$TEST_DIR/$1 port
    port=$(cat "$dir/port")
    # Started directly (not through firebird_env): $! is the server's pid.
    FIREBIRD=$dir/root FIREBIRD_LOCK=$dir/lock FIREBIRD_TMP=$dir/tmp /usr/sbin/firebird -p "$port" \
        >>"$dir/server.log" 2>&1 &
    echo $! >"$TEST_DIR/$name.server.pid"
    disown
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$dir/server.log" "$dir/root/firebird.log" >&2 2>/dev/null
    fail "Firebird $name did not start"
}

firebird_start() {
    local name=$1 dir=$TEST_DIR/$1 port f
    command -v isql-fb >/dev/null && [ -x /usr/sbin/firebird ] ||
        fail "Firebird (packages firebird3.0-server firebird3.0-utils) is needed"
    servers_trap
    mkdir -p "$dir/root" "$dir/lock" "$dir/tmp"
    for f in plugins intl firebird.msg plugins.conf UDF; do
        ln -s "$FIREBIRD_LIB/$f" "$dir/root/$f"
    done
    port=$(servers_free_port) || fail "no free port for Firebird"
    echo "$port" >"$dir/port"
    cat >"$dir/root/firebird.conf" <<CONF
RemoteServicePort = $port
RemoteBindAddress = 127.0.0.1
SecurityDatabase = $dir/root/security3.fdb
UdfAccess = None
CONF
    echo "security.db = $dir/root/security3.fdb" >"$dir/root/databases.conf"
    # A security database of its own (a new, empty database: the Srp plugin
    # adds its table when the first user is made - no need to read the
    # system's, which only root and firebird may), and the administrator's
    # password in it, through embedded access: no server yet.
    echo "create database '$dir/root/security3.fdb';
          create or alter user $FIREBIRD_USER password '$FIREBIRD_PASS' using plugin Srp; commit;" |
        firebird_env "$name" isql-fb -q -user "$FIREBIRD_USER" >"$dir/init.log" 2>&1 ||
        { cat "$dir/init.log" >&2; fail "Firebird $name: security database"; }
    firebird_run "$name"
    echo "create database 'localhost/$port:$dir/db.fdb' user '$FIREBIRD_USER' password '$FIREBIRD_PASS'
          default character set UTF8;" | isql-fb -q >"$dir/create.log" 2>&1 ||
        { cat "$dir/create.log" >&2; fail "Firebird $name: create database"; }
    FIREBIRD_PORT=$port FIREBIRD_DB=$dir/db.fdb
}

# firebird_sql NAME SQL - statements (each ending in ;) run and committed;
# the output of SELECTs as isql-fb prints it with -q (no headers: use
# firebird_rows for values).
firebird_sql() {
    local dir=$TEST_DIR/$1
    printf '%s\ncommit;\n' "$2" | isql-fb -q -b -ch UTF8 -user "$FIREBIRD_USER" -password "$FIREBIRD_PASS" \
        "localhost/$(cat "$dir/port"):$dir/db.fdb"
}

# firebird_rows NAME SELECT - the rows of one text column, one a line
# (the column a VARCHAR: headers, padding and blank lines dropped).
firebird_rows() {
    local dir=$TEST_DIR/$1
    printf 'set heading off;\nset list off;\n%s;\n' "$2" |
        isql-fb -q -b -ch UTF8 -user "$FIREBIRD_USER" -password "$FIREBIRD_PASS" \
            "localhost/$(cat "$dir/port"):$dir/db.fdb" | sed -e 's/[[:space:]]*$//' -e '/^$/d'
}

firebird_dump() {
    local dir=$TEST_DIR/$1
    "${FB_DUMP:?FB_DUMP: the fb_dump program (built in build/tests)}" "localhost/$(cat "$dir/port"):$dir/db.fdb" \
        "$FIREBIRD_USER" "$FIREBIRD_PASS" "$2"
}

firebird_stop() {
    mariadb_stop "$1"
}

firebird_restart() {
    firebird_run "$1"
}
