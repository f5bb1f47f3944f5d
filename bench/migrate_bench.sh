#!/usr/bin/env bash
# bench/migrate_bench.sh [--tables N] [--rows R] - how long `bucardo upgrade`
# takes to switch a Bucardo 5.6 installation over (cli/cmd_migrate.c).
#
# On a private cluster: Bucardo 5.6 (Debian's package bucardo, with
# postgresql-plperl-15) installed, two databases with N tables (default 200)
# of R rows (default 100), `bucardo add all tables` and one sync src ->
# tgt, so Bucardo's own `add sync` puts its triggers, delta and track
# tables on the source; then R changes per table are written and left
# queued (Bucardo's daemon never runs).  Timed: `bucardo upgrade` with this
# program's binary, wall clock, three times from a fresh copy of the same
# state (the databases are copied by CREATE DATABASE ... TEMPLATE before
# the first run and restored before each run).  Printed: the times, the
# queued changes moved, and a check that the source has only this
# program's triggers afterwards.
set -Eeuo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TESTS_DIR=$ROOT/tests
NT=200 NR=100
while [ $# -gt 0 ]; do
    case $1 in
        --tables) NT=$2; shift 2 ;;
        --rows) NR=$2; shift 2 ;;
        *) echo "usage: $0 [--tables N] [--rows R]" >&2; exit 2 ;;
    esac
done
BUCARDO=${BUCARDO:-$ROOT/build/bucardo}
[ -x "$BUCARDO" ] || { echo "build first: $BUCARDO not found" >&2; exit 1; }
/usr/bin/bucardo --version 2>/dev/null | grep -q 'version 5\.' ||
    { echo "Bucardo 5 is not installed (scripts/install-deps.sh)" >&2; exit 1; }
. "$TESTS_DIR/lib/pgcluster.sh"
. "$TESTS_DIR/lib/assert.sh"
pg_start_cluster
cd "$TEST_DIR"
B5="/usr/bin/bucardo --no-bucardorc --dbhost $PGHOST --dbport $PGPORT --dbuser bucardo --dbname bucardo"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null; }

createdb src
createdb tgt
{
    for ((i = 1; i <= NT; i++)); do
        echo "CREATE TABLE t$i (id int PRIMARY KEY, v text);"
        echo "INSERT INTO t$i SELECT g, 'x' FROM generate_series(1, $NR) g;"
    done
} >"$TEST_DIR/schema.sql"
q -d src -f "$TEST_DIR/schema.sql"
q -d tgt -f "$TEST_DIR/schema.sql"
mkdir -p "$TEST_DIR/b5run"
$B5 install --batch --dbhost "$PGHOST" --dbport "$PGPORT" --dbuser postgres --dbname postgres \
    --piddir "$TEST_DIR/b5run" >"$TEST_DIR/b5.log" 2>&1
$B5 add database src dbname=src host="$PGHOST" port="$PGPORT" >>"$TEST_DIR/b5.log" 2>&1
$B5 add database tgt dbname=tgt host="$PGHOST" port="$PGPORT" >>"$TEST_DIR/b5.log" 2>&1
$B5 add all tables db=src --relgroup=rg >>"$TEST_DIR/b5.log" 2>&1
t0=$EPOCHREALTIME
$B5 add sync s relgroup=rg dbs=src,tgt >>"$TEST_DIR/b5.log" 2>&1
echo "Bucardo 5.6 add sync (its triggers on $NT tables): $(echo "$EPOCHREALTIME - $t0" | bc) s"
{
    for ((i = 1; i <= NT; i++)); do echo "UPDATE t$i SET v = 'y';"; done
} >"$TEST_DIR/changes.sql"
q -d src -f "$TEST_DIR/changes.sql"
# The state to restore before each run.
for db in bucardo src tgt; do q -d postgres -c "CREATE DATABASE saved_$db TEMPLATE $db"; done

for run in 1 2 3; do
    if [ "$run" -gt 1 ]; then
        for db in bucardo src tgt; do
            q -d postgres -c "DROP DATABASE $db" -c "CREATE DATABASE $db TEMPLATE saved_$db"
        done
    fi
    t0=$EPOCHREALTIME
    out=$("$BUCARDO" upgrade 2>&1) || { echo "$out" >&2; exit 1; }
    echo "run $run: bucardo upgrade: $(echo "$EPOCHREALTIME - $t0" | bc) s"
done
echo "$out" | grep -E "^Converted|^  src: [0-9]+ Bucardo"
echo "triggers on src not this program's: $(psql -X -At -d src -c "select count(*) from pg_trigger
      where not tgisinternal and tgname not like 'bucardo\_delta\_%' and tgname <> 'bucardo_truncate'
        and tgrelid::regclass::text not like 'bucardo%'")"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), PostgreSQL $(psql -X -At -d postgres -c 'show server_version')"
