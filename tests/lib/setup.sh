# tests/lib/setup.sh - sourced by integration tests: the opening most of
# them share (a cluster, bucardo installed, databases with one schema, a
# sync over all their tables), so that a test spells out only what is its
# own.  It sources tests/lib/pgcluster.sh and tests/lib/assert.sh.
#
# test_begin [--second-cluster] [--no-install]
#     Start the throwaway cluster (pg_start_cluster) and, with
#     --second-cluster, a second server right after it (PGHOST2, PGPORT2);
#     cd to TEST_DIR (where `bucardo start` writes log.bucardo); install
#     bucardo in batch mode with TEST_DIR/piddir (bucardo_install) unless
#     --no-install.
# test_databases SCHEMA_SQL DB...
#     For each DB in turn: createdb DB, run SCHEMA_SQL in it (one psql -c,
#     failing on the first error), `bucardo add database DB dbname=DB`.
# test_sync SYNC RELGROUP DBS [OPTION=VALUE...]
#     `bucardo add all tables db=FIRST relgroup=RELGROUP`, FIRST being the
#     first database of DBS without its role (a of a:source,b:target), then
#     `bucardo add sync SYNC relgroup=RELGROUP dbs=DBS OPTION=VALUE...`.
#
# Every step that fails fails the test (fail), naming the step and the
# object; after test_sync, OUT and ERR hold what `add sync` printed.

. "$TESTS_DIR/lib/pgcluster.sh"
. "$TESTS_DIR/lib/assert.sh"

test_begin() {
    local second=0 install=1
    while [ $# -gt 0 ]; do
        case $1 in
            --second-cluster) second=1 ;;
            --no-install) install=0 ;;
            *) fail "test_begin: unknown option '$1'" ;;
        esac
        shift
    done
    pg_start_cluster || fail "cannot start a cluster"
    [ $second = 0 ] || pg_start_second_cluster || fail "cannot start the second cluster"
    cd "$TEST_DIR" || fail "cannot cd to $TEST_DIR"
    [ $install = 0 ] || bucardo_install
}

test_databases() {
    [ $# -ge 2 ] || fail "test_databases: expected SCHEMA_SQL DB..., got: $*"
    local schema=$1 db
    shift
    for db in "$@"; do
        createdb "$db" || fail "createdb $db"
        psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "$schema" >/dev/null || fail "schema on $db"
        run_ok "$BUCARDO" add database "$db" dbname="$db"
    done
}

test_sync() {
    [ $# -ge 3 ] || fail "test_sync: expected SYNC RELGROUP DBS [OPTION=VALUE...], got: $*"
    local sync=$1 relgroup=$2 dbs=$3 first
    shift 3
    first=${dbs%%,*}
    first=${first%%:*}
    run_ok "$BUCARDO" add all tables db="$first" relgroup="$relgroup"
    run_ok "$BUCARDO" add sync "$sync" relgroup="$relgroup" dbs="$dbs" "$@"
}
