#!/usr/bin/env bash
# scripts/tutorial.sh - the main job: the Bucardo tutorial
# (shared reference: bucardo-tutorial.md) run with our `bucardo` on a private
# PostgreSQL cluster this script creates and removes.  Every command is
# echoed with a "$ " prompt before its output, as in the tutorial.
#
# Usage: scripts/tutorial.sh [--keep]   (--keep: leave the cluster's temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = "--keep" ] && export KEEP_TEST_DIR=1
scripts/install-deps.sh
builddir=$(scripts/build.sh | tail -n 1)
BUCARDO_BIN="$PWD/$builddir/bucardo"
. tests/lib/pgcluster.sh
pg_start_cluster
mkdir -p "$TEST_DIR/bin"
ln -s "$BUCARDO_BIN" "$TEST_DIR/bin/bucardo"
export PATH="$TEST_DIR/bin:$PG_BIN:$PATH"
cd "$TEST_DIR"
echo "# private cluster: socket $PGHOST, port $PGPORT"

step() {
    echo "\$ $*"
    "$@"
    echo
}

step bucardo --version
mkdir -p "$TEST_DIR/piddir"
echo "\$ bucardo install --piddir=$TEST_DIR/piddir   (answering: p)"
echo p | bucardo install --piddir="$TEST_DIR/piddir"
echo
step createdb test1
step createdb test2
step pgbench -i -q test1
step pgbench -i -q test2
step bucardo add database test1 dbname=test1
step bucardo add database test2 dbname=test2
step bucardo add all tables db=test1 -T pgbench_history --relgroup=pgbench --verbose
step bucardo add sync benchdelta relgroup=pgbench dbs=test1,test2
step bucardo list dbs
step bucardo list dbgroups
step bucardo list relgroups
step bucardo list syncs
step bucardo list tables
step bucardo start
step psql -d test1 -At -c 'select count(*) from pgbench_tellers'
step psql -d test2 -At -c 'select count(*) from pgbench_tellers'
step psql -d test1 -c 'select * from pgbench_tellers where tid = 1'
step psql -d test2 -c 'select * from pgbench_tellers where tid = 1'
step psql -d test1 -c 'update pgbench_tellers set bid=999 where tid = 1'
# Replication is asynchronous: wait (at most 10 s) for the change to land.
for _ in $(seq 100); do
    [ "$(psql -d test2 -At -c 'select bid from pgbench_tellers where tid = 1')" = 999 ] && break
    sleep 0.1
done
step psql -d test2 -c 'select * from pgbench_tellers where tid = 1'
step bucardo status
step bucardo status benchdelta
step bucardo stop
if [ "$(psql -d test2 -At -c 'select bid from pgbench_tellers where tid = 1')" != 999 ]; then
    echo "replication failed: the update did not reach test2" >&2
    exit 1
fi
