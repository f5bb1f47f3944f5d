#!/usr/bin/env bash
# bench/capture_cost.sh - what the change capture costs a TPC-B transaction,
# counted in CPU instructions instead of timed.
#
# Why: the TPS ratio of bench/delta_bench.sh (phase 1) and
# bench/capture_overhead.sh drifts by several points between runs on a
# shared 2-core machine, more than most changes to sql/capture.sql are
# worth. An instruction count of the same work repeats to within 0.1%.
# It counts the backend's statements only: in a CPU-bound run
# (delta_bench.sh's cluster has fsync=off) the client and the kernel take
# CPU per transaction too, which the capture does not change, so the TPS
# ratio there is higher than 1/ratio here (perf, 4 pgbench clients: backend
# user space ~420 us per transaction, kernel ~130, pgbench ~125).
#
# How: one throwaway cluster (tests/lib/pgcluster.sh), one pgbench database
# (pgbench -i -s SCALE, VACUUM ANALYZE) and a fixed script of TXNS TPC-B
# transactions (pgbench's own statements, values from a seeded generator).
# Each configuration is a copy of that database with different triggers:
#   none      no capture
#   capture   the capture of an autokick sync, installed by the real
#             `bucardo add sync` (sql/capture.sql): what delta_bench.sh runs
#   nokick    the same with autokick=0 (no wake-up NOTIFY)
#   floor     the cheapest capture PL/pgSQL allows (bench/floor_capture.sql):
#             one row trigger per table whose function does a single INSERT
#             of the key into a delta table - no key changes, no kick, no
#             SECURITY DEFINER
# For each, a fresh copy of the configuration's database (CREATE DATABASE
# ... TEMPLATE, so every run starts from the same pages), a CHECKPOINT, the
# server stopped, and the script run by one backend in single-user mode
# (postgres --single) under valgrind's callgrind, counting only the
# statements (parse, plan, execute, commit), not the backend's start.
# Single-user mode means one session: every transaction takes the kick's
# advisory lock and notifies, where under concurrency only one in flight
# does, so "capture" over-counts the kick (compare with nokick).
#
# Output: instructions per transaction, the ratio to none, and 1/ratio (the
# TPS ratio if the backend's statements were all the work: a lower bound).
# Usage: bench/capture_cost.sh [--quick] [--scale N] [--txns N]
# (--quick: scale 1, 200 transactions - a smoke run: the first use of each
# plan and cache weighs more there, so its ratios come out higher.)
# Tools: valgrind (Debian package valgrind), pgbench, psql, initdb, awk.
# bench/README.md lists it with the other benchmarks.
set -Eeuo pipefail
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=10 TXNS=2000
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) SCALE=1 TXNS=200 ;;
        --scale) SCALE=$2; shift ;;
        --txns) TXNS=$2; shift ;;
        *) sed -n '/^# Usage:/,/^# Tools:/p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
    shift
done
command -v valgrind >/dev/null || { echo "capture_cost.sh needs valgrind (apt-get install valgrind)" >&2; exit 1; }

BUILD_DIR=$("$ROOT/scripts/build.sh" | tail -1)
BUCARDO=$ROOT/$BUILD_DIR/bucardo
. "$ROOT/tests/lib/pgcluster.sh"
. "$ROOT/tests/lib/assert.sh"
pg_start_cluster || fail "cannot start a cluster"
trap pg_stop_cluster EXIT
cd "$TEST_DIR"
CG_DIR=$TEST_DIR/callgrind
mkdir -p "$CG_DIR" && chmod 777 "$CG_DIR"
DATA=$TEST_DIR/data
server_start() {
    pg_as_owner "$PG_BIN/pg_ctl -D '$DATA' -l '$DATA.log' -w start \
        -o \"-k '$PGHOST' -c listen_addresses='' -c fsync=off\"" >/dev/null
}
server_stop() { pg_as_owner "$PG_BIN/pg_ctl -D '$DATA' -m fast -w stop" >/dev/null; }

echo "pgbench -i -s $SCALE; configurations" >&2
createdb base
pgbench -i -s "$SCALE" -q base >/dev/null 2>&1 || fail "pgbench -i"
psql -X -q -d base -c "VACUUM ANALYZE"
for db in none capture floor; do psql -X -q -d postgres -c "CREATE DATABASE $db TEMPLATE base"; done

# capture: the real commands, as bench/delta_bench.sh uses them (the
# target only has to exist: no engine runs). nokick is the same database
# after `update sync bench autokick=0`, measured after capture.
bucardo_install
createdb tgt
run_ok "$BUCARDO" add database capture dbname=capture
run_ok "$BUCARDO" add database tgt dbname=tgt
run_ok "$BUCARDO" add all tables db=capture -T pgbench_history relgroup=bench
run_ok "$BUCARDO" add sync bench relgroup=bench dbs=capture,tgt autokick=1

psql -X -q -v ON_ERROR_STOP=1 -d floor -f "$ROOT/bench/floor_capture.sql" || fail "floor capture"

# The transactions: pgbench's TPC-B statements, one per line (single-user
# mode ends a statement at a newline), values from a seeded generator.
awk -v n="$TXNS" -v scale="$SCALE" 'BEGIN {
    srand(42)
    for (i = 0; i < n; i++) {
        a = int(rand() * 100000 * scale) + 1; t = int(rand() * 10 * scale) + 1
        b = int(rand() * scale) + 1; d = int(rand() * 10001) - 5000
        print "BEGIN"
        printf "UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = %d\n", d, a
        printf "SELECT abalance FROM pgbench_accounts WHERE aid = %d\n", a
        printf "UPDATE pgbench_tellers SET tbalance = tbalance + %d WHERE tid = %d\n", d, t
        printf "UPDATE pgbench_branches SET bbalance = bbalance + %d WHERE bid = %d\n", d, b
        printf "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, %d, %d, %d, CURRENT_TIMESTAMP)\n", t, b, a, d
        print "END"
    }
}' >"$CG_DIR/tpcb.sql"
chmod 644 "$CG_DIR/tpcb.sql"
server_stop

# instructions CONFIG LABEL - Ir per transaction of the script on a fresh
# copy of database CONFIG; the profile is kept as LABEL.out.
instructions() {
    local ir
    server_start
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS run" -c "CREATE DATABASE run TEMPLATE $1" 2>/dev/null
    psql -X -q -d run -c CHECKPOINT
    server_stop
    ir=$(pg_as_owner "valgrind --tool=callgrind --callgrind-out-file='$CG_DIR/$2.out' \
            --toggle-collect=pg_parse_query --toggle-collect=pg_analyze_and_rewrite_fixedparams \
            --toggle-collect=pg_plan_queries --toggle-collect=PortalStart --toggle-collect=PortalRun \
            --toggle-collect=PortalDrop --toggle-collect=StartTransactionCommand \
            --toggle-collect=CommitTransactionCommand \
            '$PG_BIN/postgres' --single -D '$DATA' -c fsync=off -c autovacuum=off run \
            <'$CG_DIR/tpcb.sql' >/dev/null" 2>&1 | awk '/Collected/ {print $NF}')
    [ -n "$ir" ] && [ "$ir" -gt 0 ] || fail "no instruction count for $1"
    echo $((ir / TXNS))
}

declare -A IR
for c in none capture floor; do
    echo "callgrind: $c" >&2
    IR[$c]=$(instructions "$c" "$c")
done
server_start
run_ok "$BUCARDO" update sync bench autokick=0
server_stop
echo "callgrind: nokick" >&2
IR[nokick]=$(instructions capture nokick)
echo
echo "TPC-B, pgbench -s $SCALE, $TXNS transactions in one single-user backend (PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}'))"
printf '%-9s %14s %9s %12s\n' config "instr/txn" "vs none" "1/ratio"
for c in none capture nokick floor; do
    awk -v c="$c" -v x="${IR[$c]}" -v n="${IR[none]}" \
        'BEGIN { printf "%-9s %14d %9.3f %12.3f\n", c, x, x / n, n / x }'
done
echo
echo "callgrind profiles (callgrind_annotate): $CG_DIR (removed at exit)"
exit 0
}
