#!/usr/bin/env bash
# bench/delta_bench.sh - delta-replication benchmark of the bucardo engine.
#
# One run builds the project (if needed), starts a private PostgreSQL 15
# cluster (tests/lib/pgcluster.sh), makes pgbench databases at the same
# scale - src (replicated, capture installed), tgt (the target), nocap
# (never replicated: the no-capture reference) and, except with --quick,
# src0 and floor (phase 1's diagnostics) - installs bucardo with the real
# `bucardo` commands, and measures:
#
#  1. Capture overhead: pgbench TPC-B (-c 4 -j 2 -T SECONDS) on src, with
#     capture installed as an autokick sync has it (statement triggers
#     writing the delta table, their function also sending the debounced
#     NOTIFY) and the engine STOPPED,
#     alternated run by run with the same on nocap.  Fair because both
#     databases are built by the same `pgbench -i`, live in the same cluster,
#     run the same client load in alternating order after a CHECKPOINT and a
#     sync (no run pays for the writeback of the one before it), and
#     the engine takes no CPU: the only difference is the capture triggers.
#     Target: TPS(src) / TPS(nocap) >= 0.85.  A third configuration, src0
#     (a fourth database from the same `pgbench -i`, with the capture of an
#     autokick=0 sync: no NOTIFY), is measured in the same rotation to tell
#     the cost of the wake-up apart, and so is a fourth, floor (a fifth
#     database, with bench/floor_capture.sql: the cheapest capture PL/pgSQL
#     allows, one row trigger doing one INSERT per table), to show what
#     any trigger capture costs on this machine.  Each database runs once
#     per round, so all four have the same history (bloat of the pgbench
#     tables, length of pgbench_history) when they are compared.
#  2. Catch-up: a backlog left by pgbench with the engine running but idle
#     (autokick=0), timed from `bucardo kick bench 0` until it returns (the
#     cycle is recorded), then tgt is checked equal to src.  Reference, on
#     the same backlog right before the kick: psql COPY of exactly the
#     changed rows (keys from the delta tables) from src into an index-less
#     scratch copy of each table on tgt.  Fair because it moves the same
#     rows over the same kind of connections using the same delta tables
#     to find them, but skips what replication cannot skip (deleting the
#     old versions, maintaining the primary keys, transactions, bookkeeping):
#     it is a lower bound.  The delta tables are ANALYZEd (untimed) before
#     each reference, so its plan is a hash join, not a nested loop.
#     Target: kick time <= 2x reference.
#     (2a: the backlog of phase 1 itself is applied when the engine starts,
#     because the engine always runs a cycle at start; it is timed from
#     `bucardo start` to the recorded cycle, against the same reference.)
#  3. Lag: a heartbeat writer on src (UPDATE + COMMIT every 150 ms in a
#     procedure) and a poller on tgt (every ~5 ms, records clock_timestamp()
#     - ts whenever ts changes; commits after each poll so it holds no
#     snapshot, stores its samples at the end); same cluster, so both read
#     the same clock.
#     p50/p95/max idle and under pgbench -R 200 on src, then a rate search
#     (doubling from 400 while p95 < 1 s and pgbench still achieves the
#     rate).  Targets: p95 <= 50 ms idle, <= 100 ms under -R 200; the
#     rate search reports the highest rate with p95 < 1 s.
#  4. Resources: the engine's CPU seconds (utime+stime of /proc/PID/stat)
#     and peak RSS (VmHWM, reset through clear_refs) per phase.
#  5. Large backlog: with the engine stopped, UPDATE of the first N rows of
#     pgbench_accounts; time from `bucardo start` until the cycle that
#     applied them is recorded (then tgt is checked equal to src); rows/s,
#     the same COPY reference as in 2 for the same rows, the ratio (the
#     target of 2 is applied) and the engine's peak RSS.  A second,
#     diagnostic reference, the apply floor (apply_floor): psql doing on
#     nocap what no delete-and-insert apply can skip - deleting the old
#     rows by key, COPYing the new ones through the primary key - so that
#     the ratio shows how much is the engine's and how much the servers'.
#
# Output: a summary table on stdout; bench/RESULTS.md, bench/lag.svg and
# bench/lag_samples.tsv (--quick: the same under bench/out/).
# Usage: bench/delta_bench.sh [--quick] [--scale N] [--seconds N] [--runs N]
#                             [--backlog-rows N] [--keep] [--perf]
# (--quick sets its own defaults; options after it override them.)
set -Eeuo pipefail
# The whole script is one block, read before it runs: editing the file
# during a run does not change the run.
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=10 SECONDS_RUN=30 RUNS=3 BACKLOG_ROWS=1000000 QUICK=0 KEEP=0 PERF=0
ARGS_GIVEN="$*"
usage() {
    sed -n '/^# Usage:/,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; SCALE=1; SECONDS_RUN=5; RUNS=1; BACKLOG_ROWS=50000 ;;
        --scale) SCALE=$2; shift ;;
        --scale=*) SCALE=${1#*=} ;;
        --seconds) SECONDS_RUN=$2; shift ;;
        --seconds=*) SECONDS_RUN=${1#*=} ;;
        --runs) RUNS=$2; shift ;;
        --runs=*) RUNS=${1#*=} ;;
        --backlog-rows) BACKLOG_ROWS=$2; shift ;;
        --backlog-rows=*) BACKLOG_ROWS=${1#*=} ;;
        --keep) KEEP=1 ;;
        --perf) PERF=1 ;;
        -h|--help) usage ;;
        *) echo "unknown option: $1" >&2; usage ;;
    esac
    shift
done
for v in SCALE SECONDS_RUN RUNS BACKLOG_ROWS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done

if [ "$QUICK" = 1 ]; then OUT_DIR=$ROOT/bench/out; else OUT_DIR=$ROOT/bench; fi
mkdir -p "$OUT_DIR"
: >"$OUT_DIR/sql_statements.txt"
T_BEGIN=$EPOCHREALTIME
LOAD_BEGIN=$(cut -d' ' -f1-3 /proc/loadavg)

BENCH_TAG=bench
. "$ROOT/bench/lib/bench_setup.sh"

# ---------------------------------------------------------------- build
# The files this script writes do not count as changes (a run truncates
# sql_statements.txt before this point; a previous run may have left the
# others): only the code and scripts measured do.
OUTPUTS=(bench/RESULTS.md bench/lag.svg bench/lag_samples.tsv bench/sql_statements.txt)
bench_build "${OUTPUTS[@]}"

# ---------------------------------------------------------------- cluster
bench_cluster --stop-timeout 30
psql_src() { psql -X -q -v ON_ERROR_STOP=1 -d src "$@"; }
psql_tgt() { psql -X -q -v ON_ERROR_STOP=1 -d tgt "$@"; }

# Tuning shared by every database of the cluster (reload-only settings):
# fewer forced checkpoints, so run-to-run noise is lower.
psql -X -q -d postgres -c "ALTER SYSTEM SET max_wal_size = '4GB'" \
    -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" -c "SELECT pg_reload_conf()" >/dev/null
note_cmd "ALTER SYSTEM SET max_wal_size = '4GB'; ALTER SYSTEM SET checkpoint_timeout = '30min' (fsync=off, from tests/lib/pgcluster.sh)"

# ---------------------------------------------------------------- databases
PGB_DBS=(src tgt nocap)
[ "$QUICK" = 1 ] || PGB_DBS+=(src0 floor)   # phase 1's diagnostics
for db in "${PGB_DBS[@]}"; do
    say "pgbench -i -s $SCALE $db"
    rec createdb "$db"
    rec pgbench -i -s "$SCALE" -q "$db" >"$RAW/init_$db.log" 2>&1 || { cat "$RAW/init_$db.log" >&2; fail "pgbench -i $db"; }
done
if [ "$QUICK" = 0 ]; then
    rec psql -X -q -v ON_ERROR_STOP=1 -d floor -f "$ROOT/bench/floor_capture.sql" || fail "the floor capture"
fi
NACCOUNTS=$((SCALE * 100000))
if [ "$BACKLOG_ROWS" -gt "$NACCOUNTS" ]; then
    say "--backlog-rows $BACKLOG_ROWS > $NACCOUNTS accounts at scale $SCALE: using $NACCOUNTS"
    BACKLOG_ROWS=$NACCOUNTS
fi

# The heartbeat and its lag poller (bench/lib/lag_*.sql, shared with
# bench/wan_bench.sh).
psql_src >/dev/null -f "$ROOT/bench/lib/lag_source.sql"
psql_tgt >/dev/null -f "$ROOT/bench/lib/lag_target.sql"

# ---------------------------------------------------------------- bucardo
say "bucardo install, add database/tables/sync"
bench_install
bucardo_cmd add database src dbname=src
bucardo_cmd add database tgt dbname=tgt
bucardo_cmd add all tables db=src -T pgbench_history relgroup=bench
bucardo_cmd add sync bench relgroup=bench dbs=src,tgt autokick=1
ntab=$(catq "SELECT count(*) FROM bucardo.relgroup_member WHERE relgroup = 'bench'")
[ "$ntab" = 4 ] || fail "relgroup bench has $ntab tables, expected 4: $(cat "$RAW/bucardo_commands.log")"

declare -A DELTA KEYCOL SCRATCH
KEYCOL=([pgbench_accounts]=aid [pgbench_tellers]=tid [pgbench_branches]=bid)
SCRATCH=([pgbench_accounts]=bench_scratch_accounts [pgbench_tellers]=bench_scratch_tellers
         [pgbench_branches]=bench_scratch_branches)
PGB_TABLES=(pgbench_accounts pgbench_tellers pgbench_branches)
for t in "${PGB_TABLES[@]}"; do
    DELTA[$t]=$(psql -X -At -d src -c "SELECT quote_ident(relname) FROM pg_class
        WHERE relnamespace = 'bucardo'::regnamespace AND relkind = 'r' AND relname ~ '^delta_${t}_[0-9a-f]{8}\$'")
    [ -n "${DELTA[$t]}" ] || fail "no delta table for $t on src"
done

# ---------------------------------------------------------------- helpers
engine_running_pid() {
    local p
    p=$(engine_pid) || true
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}
cpu_seconds() {  # utime+stime of the process, in seconds
    awk -v tck="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / tck}' "/proc/$1/stat"
}
hwm_mb() { awk '/^VmHWM:/{printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

declare -a RES_NAMES=()
declare -A RES_CPU RES_HWM
RES_PID='' RES_CPU0=0
res_begin() {  # res_begin - reset the peak and note the CPU so far
    RES_PID=$(engine_running_pid) || fail "the engine is not running"
    reset_hwm "$RES_PID"
    RES_CPU0=$(cpu_seconds "$RES_PID")
}
res_begin_fresh() {  # a just-started engine: count from its start
    RES_PID=$(engine_running_pid) || fail "the engine is not running"
    RES_CPU0=0
}
res_end() {  # res_end NAME
    local pid
    pid=$(engine_running_pid) || fail "the engine died during: $1"
    [ "$pid" = "$RES_PID" ] || fail "the engine restarted during: $1"
    RES_NAMES+=("$1")
    RES_CPU[$1]=$(calc "$(cpu_seconds "$pid") - $RES_CPU0" 2)
    RES_HWM[$1]=$(hwm_mb "$pid")
}

# verify - the three pgbench tables are equal on src and tgt.
verify() {
    local t a b
    for t in "${PGB_TABLES[@]}"; do
        table_digest src "$t" >"$RAW/digest_src" &
        local p1=$!
        table_digest tgt "$t" >"$RAW/digest_tgt" &
        local p2=$!
        wait $p1 && wait $p2 || fail "table_digest failed for $t"
        a=$(cat "$RAW/digest_src") b=$(cat "$RAW/digest_tgt")
        [ "$a" = "$b" ] || fail "$1: $t differs between src and tgt: $a vs $b"
    done
}

# backlog_keys - distinct changed keys waiting in the three delta tables.
backlog_keys() {
    local t q=""
    for t in "${PGB_TABLES[@]}"; do
        q+="${q:+ + }(SELECT count(DISTINCT ${KEYCOL[$t]}) FROM bucardo.${DELTA[$t]})"
    done
    psql -X -At -d src -c "SELECT $q"
}

# reference_copy LABEL - the raw-COPY reference on the current backlog;
# prints its seconds; checks the rows it moved equal the backlog's keys.
REF_PIPELINES=()
for t in "${PGB_TABLES[@]}"; do
    REF_PIPELINES+=("psql -d src -c \"COPY (SELECT * FROM $t WHERE ${KEYCOL[$t]} IN (SELECT DISTINCT ${KEYCOL[$t]} FROM bucardo.${DELTA[$t]})) TO STDOUT\" | psql -d tgt -c \"COPY ${SCRATCH[$t]} FROM STDIN\"")
done
reference_copy() {
    local t t0 secs moved keys
    psql_tgt -c "TRUNCATE bench_scratch_accounts, bench_scratch_tellers, bench_scratch_branches" >/dev/null
    keys=$(backlog_keys)
    # Fresh statistics for the delta tables (untimed): planned on the stats
    # of an emptier delta table, the IN (SELECT DISTINCT ...) can become a
    # nested loop that rescans the aggregate per row - hours for 1M rows.
    # (autovacuum would analyze them soon; the engine gets the same stats.)
    for t in "${PGB_TABLES[@]}"; do psql_src -c "ANALYZE bucardo.${DELTA[$t]}"; done
    t0=$(now)
    for t in "${PGB_TABLES[@]}"; do
        timeout 3600 psql -X -q -v ON_ERROR_STOP=1 -d src -c "COPY (SELECT * FROM $t WHERE ${KEYCOL[$t]} IN (SELECT DISTINCT ${KEYCOL[$t]} FROM bucardo.${DELTA[$t]})) TO STDOUT" |
            timeout 3600 psql -X -q -v ON_ERROR_STOP=1 -d tgt -c "COPY ${SCRATCH[$t]} FROM STDIN" ||
            fail "$1: the reference COPY of $t failed or took over an hour"
    done
    secs=$(since "$t0")
    moved=$(psql -X -At -d tgt -c "SELECT (SELECT count(*) FROM bench_scratch_accounts)
        + (SELECT count(*) FROM bench_scratch_tellers) + (SELECT count(*) FROM bench_scratch_branches)")
    [ "$moved" = "$keys" ] || fail "$1: the reference moved $moved rows for $keys backlog keys"
    echo "$secs"
}

# apply_floor LABEL - what any delete-and-insert apply must do, done by
# psql on the same rows: per table, the backlog's keys COPYed from src
# into a scratch table on nocap, then in one transaction the old rows
# deleted by key and the new ones COPYed in through the table's primary
# key (nocap holds every key of pgbench -i: the same table, the same
# index).  The planner is free to choose a hash join for the whole
# backlog.  Prints its seconds; checks it moved one row per key.  Not a
# target: it tells how much of the ratio to the raw COPY is the apply's
# own work (heap and index changes the scratch COPY skips).
apply_floor() {
    local t t0 secs moved=0 keys out
    keys=$(backlog_keys)
    for t in "${PGB_TABLES[@]}"; do
        psql -X -q -v ON_ERROR_STOP=1 -d nocap -c "CREATE UNLOGGED TABLE IF NOT EXISTS bench_floor_keys_$t
            AS SELECT ${KEYCOL[$t]} FROM $t WITH NO DATA" -c "TRUNCATE bench_floor_keys_$t" >/dev/null ||
            fail "$1: cannot make the floor's key table for $t on nocap"
    done
    t0=$(now)
    for t in "${PGB_TABLES[@]}"; do
        timeout 3600 psql -X -q -v ON_ERROR_STOP=1 -d src -c "COPY (SELECT DISTINCT ${KEYCOL[$t]} FROM bucardo.${DELTA[$t]}) TO STDOUT" |
            timeout 3600 psql -X -q -v ON_ERROR_STOP=1 -d nocap -c "COPY bench_floor_keys_$t FROM STDIN" ||
            fail "$1: the floor's COPY of the keys of $t failed"
        out=$(timeout 3600 psql -X -q -v ON_ERROR_STOP=1 -d src -c "COPY (SELECT * FROM $t WHERE ${KEYCOL[$t]} IN (SELECT DISTINCT ${KEYCOL[$t]} FROM bucardo.${DELTA[$t]})) TO STDOUT" |
            timeout 3600 psql -X -v ON_ERROR_STOP=1 -d nocap -c "BEGIN" -c "ANALYZE bench_floor_keys_$t" \
                -c "DELETE FROM $t t USING bench_floor_keys_$t k WHERE t.${KEYCOL[$t]} = k.${KEYCOL[$t]}" \
                -c "COPY $t FROM STDIN" -c "COMMIT") || fail "$1: the floor's apply of $t failed"
        moved=$((moved + $(sed -n 's/^COPY \([0-9]*\)$/\1/p' <<<"$out")))
    done
    secs=$(since "$t0")
    [ "$moved" = "$keys" ] || fail "$1: the apply floor moved $moved rows for $keys backlog keys"
    echo "$secs"
}

# wait_cycle SINCE TIMEOUT - wait (server side, polling every 20 ms) for a
# Good run of sync bench that started at or after SINCE and applied rows.
wait_cycle() {
    psql -X -q -v ON_ERROR_STOP=1 -d bucardo -c "DO \$\$
        DECLARE stop_at timestamptz := clock_timestamp() + interval '$2 seconds';
        BEGIN
            LOOP
                EXIT WHEN EXISTS (SELECT 1 FROM bucardo.syncrun WHERE sync = 'bench' AND started >= '$1'
                                     AND state = 'Good' AND inserts > 0);
                IF EXISTS (SELECT 1 FROM bucardo.syncrun WHERE sync = 'bench' AND started >= '$1'
                              AND state = 'Bad') THEN
                    RAISE EXCEPTION 'a cycle of sync bench failed';
                END IF;
                IF clock_timestamp() > stop_at THEN RAISE EXCEPTION 'timeout'; END IF;
                PERFORM pg_sleep(0.02);
            END LOOP;
        END \$\$"
}
# last_run SINCE - "inserts deletes seconds" of the last Good run since SINCE.
last_run() {
    catq "SELECT inserts, deletes, round(extract(epoch FROM ended - started)::numeric, 3)
            FROM bucardo.syncrun WHERE sync = 'bench' AND started >= '$1' AND state = 'Good'
           ORDER BY id DESC LIMIT 1" | tr '|' ' '
}
cat_clock() { catq "SELECT clock_timestamp()"; }

tps_of() { awk '/^tps = /{printf "%.1f", $3; exit}' "$1"; }

# sqllog_begin / sqllog_end NAME - the server logs every statement with its
# duration meanwhile; the engine's (not psql's or pgbench's) are kept and
# grouped: where the engine's time went.
SQLLOG_FROM=0
declare -a SQLLOG_NAMES=()
declare -A SQLLOG_TOTAL
sqllog_begin() {
    psql -X -q -d postgres -c "ALTER SYSTEM SET log_min_duration_statement = 0" \
        -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] %d %a '" -c "SELECT pg_reload_conf()" >/dev/null
    SQLLOG_FROM=$(wc -l <"$TEST_DIR/data.log")
}
sqllog_end() {
    psql -X -q -d postgres -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null
    tail -n +"$((SQLLOG_FROM + 1))" "$TEST_DIR/data.log" | grep -E ' duration: .* (statement|execute [^:]*): ' |
        grep -v ' psql \| pgbench ' |
        sed -E 's/^[0-9-]+ ([0-9:.]+) [A-Z]+ \[[0-9]+\] ([a-z]+) [a-z]* *LOG: +duration: ([0-9.]+) ms +(statement|execute [^:]*): /\1 \2 \3 ms: /' |
        cut -c1-400 >"$RAW/sql_$1.txt" || true
    # Grouped by statement (numbers replaced by N): count, total and max.
    awk '{
            db = $2; d = $3 / 1000; st = $0; sub(/^[^:]*:[^:]*:[^:]* [a-z]+ [0-9.]+ ms: /, "", st)
            gsub(/[0-9]+/, "N", st); k = db " | " substr(st, 1, 150)
            n[k]++; t[k] += d; if (d > m[k]) m[k] = d
        }
        END { for (k in n) printf "| %s | %d | %.2f | %.3f |\n", k, n[k], t[k], m[k] }' "$RAW/sql_$1.txt" |
        sort -t'|' -k5,5 -gr | awk 'NR <= 12' >"$RAW/sql_$1.sum"
    SQLLOG_TOTAL[$1]=$(awk '{n[$2]++; t[$2] += $3 / 1000}
        END {for (d in n) {printf "%s%s: %d statements, %.2f s", sep, d, n[d], t[d]; sep = "; "}}' "$RAW/sql_$1.txt")
    { echo "== phase $1"; cat "$RAW/sql_$1.txt"; } >>"$OUT_DIR/sql_statements.txt"
    SQLLOG_NAMES+=("$1")
}

PERF_PID=''
perf_start() {  # perf_start NAME - system-wide profile (when --perf)
    [ "$PERF" = 1 ] || return 0
    perf record -a -g -F 499 -o "$RAW/perf_$1.data" >"$RAW/perf_$1.log" 2>&1 &
    PERF_PID=$!
    BG_PIDS+=("$PERF_PID")
    sleep 0.5
}
perf_stop() {
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=''
    perf report -i "$RAW/perf_$1.data" --stdio --no-children --sort comm 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -15 >"$RAW/perf_$1.comm.txt" || true
    perf report -i "$RAW/perf_$1.data" --stdio --no-children --comm bucardo --sort dso,sym -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -25 >"$RAW/perf_$1.engine.txt" || true
    perf report -i "$RAW/perf_$1.data" --stdio --no-children --comm postgres --sort sym -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -25 >"$RAW/perf_$1.postgres.txt" || true
    cp "$RAW"/perf_"$1".*.txt "$OUT_DIR/" 2>/dev/null || true
}

# A first run of the engine, so the sync has a snapshot (a steady state,
# as a sync that has been running): nothing to apply yet.
say "first start of the engine (empty initial cycle), then stop"
bucardo_cmd start
for _ in $(seq 200); do
    [ -n "$(catq "SELECT 1 FROM bucardo.sync_source_state WHERE sync = 'bench'")" ] && break
    sleep 0.05
done
[ -n "$(catq "SELECT 1 FROM bucardo.sync_source_state WHERE sync = 'bench'")" ] || fail "no first cycle"
bucardo_cmd stop
verify "initial state"

[ -n "${BENCH_FAIL_AT:-}" ] && [ "$BENCH_FAIL_AT" = setup ] && fail "failing on purpose (BENCH_FAIL_AT=setup)"
# ================================================================ phase 1
say "phase 1: capture overhead, $RUNS rounds of pgbench -T $SECONDS_RUN per database (engine stopped)"
[ -z "$(engine_running_pid || true)" ] || fail "the engine should be stopped"
# The databases in rotating order, each once per round: src with the
# capture of an autokick sync (the target's figure), nocap, and two
# diagnostics: src0 with the capture of an autokick=0 sync (capture only,
# no NOTIFY: the cost of the wake-up) and floor (bench/floor_capture.sql:
# what the cheapest trigger capture costs).  Sync bench0 exists for phase 1
# only.
TPS_SRC=() TPS_NOCAP=() TPS_NOKICK=() TPS_FLOOR=()
CONFIGS=(src nocap src-autokick0 floor)
if [ "$QUICK" = 1 ]; then
    CONFIGS=(src nocap)   # --quick: no diagnostic configuration
else
    bucardo_cmd add database src0 dbname=src0
    bucardo_cmd add all tables db=src0 -T pgbench_history relgroup=bench0
    bucardo_cmd add sync bench0 relgroup=bench0 dbs=src0,tgt autokick=0
fi
for r in $(seq "$RUNS"); do
    for k in "${!CONFIGS[@]}"; do
        cfg=${CONFIGS[$(((r - 1 + k) % ${#CONFIGS[@]}))]}
        case $cfg in
            src) db=src ;;
            src-autokick0) db=src0 ;;
            nocap) db=nocap ;;
            floor) db=floor ;;
        esac
        # With fsync=off the kernel writes dirty pages back about 30 s after
        # they were written (vm.dirty_expire_centisecs), that is during the
        # next run, which is another database's: flush them first.
        psql -X -q -d postgres -c CHECKPOINT && sync
        rec pgbench -c 4 -j 2 -T "$SECONDS_RUN" "$db" >"$RAW/p1_${cfg}_$r.log" 2>&1 ||
            { cat "$RAW/p1_${cfg}_$r.log" >&2; fail "pgbench on $db"; }
        tps=$(tps_of "$RAW/p1_${cfg}_$r.log")
        case $cfg in
            src) TPS_SRC+=("$tps") ;;
            src-autokick0) TPS_NOKICK+=("$tps") ;;
            nocap) TPS_NOCAP+=("$tps") ;;
            floor) TPS_FLOOR+=("$tps") ;;
        esac
        say "  run $r $cfg: $tps tps"
    done
done
P1_SRC=$(median "${TPS_SRC[@]}") P1_NOCAP=$(median "${TPS_NOCAP[@]}") P1_NOKICK=n/a P1_NOKICK_RATIO=n/a
P1_FLOOR=n/a P1_FLOOR_RATIO=n/a
P1_RATIO=$(calc "$P1_SRC / $P1_NOCAP" 3)
if [ ${#TPS_NOKICK[@]} -gt 0 ]; then
    P1_NOKICK=$(median "${TPS_NOKICK[@]}") P1_NOKICK_RATIO=$(calc "$P1_NOKICK / $P1_NOCAP" 3)
fi
if [ ${#TPS_FLOOR[@]} -gt 0 ]; then
    P1_FLOOR=$(median "${TPS_FLOOR[@]}") P1_FLOOR_RATIO=$(calc "$P1_FLOOR / $P1_NOCAP" 3)
fi
say "phase 1: src $P1_SRC tps, nocap $P1_NOCAP tps, ratio $P1_RATIO (src0, autokick=0: $P1_NOKICK tps, ratio $P1_NOKICK_RATIO; floor: $P1_FLOOR tps, ratio $P1_FLOOR_RATIO)"
# bench0 must not run when the engine starts: it would write tgt too.
[ "$QUICK" = 1 ] || bucardo_cmd remove sync bench0

# ================================================================ phase 2
bucardo_cmd update sync bench autokick=0
P2A_KEYS=$(backlog_keys)
say "phase 2a: phase-1 backlog ($P2A_KEYS keys) applied at engine start"
P2A_REF=$(reference_copy "2a")
for p in "${REF_PIPELINES[@]}"; do note_cmd "$p"; done
perf_start 2a
sqllog_begin
since_ts=$(cat_clock)
t0=$(now)
bucardo_cmd start
res_begin_fresh
wait_cycle "$since_ts" 1800
P2A_TIME=$(since "$t0")
sqllog_end 2a
perf_stop 2a
res_end "2a. start + phase-1 backlog"
read -r P2A_INS P2A_DEL P2A_ENG <<<"$(last_run "$since_ts")"
verify "phase 2a"
P2A_RATIO=$(calc "$P2A_TIME / $P2A_REF" 2)
say "phase 2a: $P2A_TIME s (engine cycle $P2A_ENG s), reference $P2A_REF s, ratio $P2A_RATIO"

say "phase 2: catch-up on kick, $RUNS run(s) of pgbench -T $SECONDS_RUN backlog"
P2_KICK=() P2_REF=() P2_ENG=() P2_ROWS=() P2_KEYS=() P2_REF0=()
res_begin
for r in $(seq "$RUNS"); do
    rec pgbench -c 4 -j 2 -T "$SECONDS_RUN" src >"$RAW/p2_src_$r.log" 2>&1 ||
        { cat "$RAW/p2_src_$r.log" >&2; fail "pgbench on src"; }
    keys=$(backlog_keys)
    [ "$keys" -gt 0 ] || fail "phase 2: no backlog after pgbench (is the engine idle?)"
    ref=$(reference_copy "2.$r")
    [ "$r" = "$RUNS" ] && perf_start 2
    [ "$r" = "$RUNS" ] && sqllog_begin
    since_ts=$(cat_clock)
    t0=$(now)
    rec timeout 1800 "$BUCARDO" kick bench 0 >"$RAW/p2_kick_$r.log" 2>&1 ||
        { cat "$RAW/p2_kick_$r.log" >&2; fail "bucardo kick bench 0"; }
    kick=$(since "$t0")
    [ "$r" = "$RUNS" ] && sqllog_end "2 (run $r)"
    [ "$r" = "$RUNS" ] && perf_stop 2
    grep -q 'DONE!' "$RAW/p2_kick_$r.log" || fail "kick did not say DONE!: $(cat "$RAW/p2_kick_$r.log")"
    read -r ins del eng <<<"$(last_run "$since_ts")"
    verify "phase 2 run $r"
    # The reference's fixed cost (6 psql processes and connections): the
    # same pipelines with nothing to move, now that the backlog is applied
    # and purged (the source's purge rides with the next cycle, or goes on
    # its own within half a second: wait for it, up to 30 s).
    for _ in $(seq 300); do [ "$(backlog_keys)" = 0 ] && break; sleep 0.1; done
    [ "$(backlog_keys)" = 0 ] || fail "phase 2 run $r: the applied backlog was not purged within 30 s"
    ref0=$(reference_copy "2.$r empty")
    P2_KICK+=("$kick") P2_REF+=("$ref") P2_ENG+=("$eng") P2_ROWS+=("$ins") P2_KEYS+=("$keys") P2_REF0+=("$ref0")
    say "  run $r: $keys keys, kick $kick s (engine cycle $eng s, $ins rows), reference $ref s (of which fixed $ref0 s)"
done
res_end "2. kicks (pgbench backlog while idle + kick)"
P2_KICK_MED=$(median "${P2_KICK[@]}") P2_REF_MED=$(median "${P2_REF[@]}")
P2_RATIOS=()
P2_RPS=()
for i in "${!P2_KICK[@]}"; do
    P2_RATIOS+=("$(calc "${P2_KICK[$i]} / ${P2_REF[$i]}" 3)")
    P2_RPS+=("$(calc "${P2_ROWS[$i]} / ${P2_KICK[$i]}" 0)")
done
P2_RATIO=$(median "${P2_RATIOS[@]}") P2_RPS_MED=$(median "${P2_RPS[@]}") P2_ROWS_MED=$(median "${P2_ROWS[@]}")
P2_ENG_MED=$(median "${P2_ENG[@]}") P2_REF0_MED=$(median "${P2_REF0[@]}")
say "phase 2: kick $P2_KICK_MED s, reference $P2_REF_MED s, ratio $P2_RATIO, $P2_RPS_MED rows/s"

# ================================================================ phase 3
say "phase 3: lag (autokick=1)"
bucardo_cmd update sync bench autokick=1
bucardo_cmd reload
sleep 1   # the worker restarts with the new definition
LAG_FILE=$OUT_DIR/lag_samples.tsv
printf 'run\tt_s\tlag_ms\n' >"$LAG_FILE"
declare -A LAG_N LAG_P50 LAG_P95 LAG_MAX LAG_TPS
LAG_RUNS=()

# measure_lag LABEL [RATE] - one lag measurement of SECONDS_RUN seconds.
declare -A CYC_N CYC_AVG CYC_MAX CYC_ROWS
measure_lag() {
    local label=$1 rate=${2:-} poll pgb='' stats from
    from=$(cat_clock)
    psql_tgt -c "CALL bench_lag_poll('$label', $SECONDS_RUN + 2)" >"$RAW/poll_$label.log" 2>&1 &
    poll=$!
    BG_PIDS+=("$poll")
    sleep 0.5
    if [ -n "$rate" ]; then
        rec pgbench -R "$rate" -c 4 -j 2 -T "$SECONDS_RUN" src >"$RAW/lag_pgbench_$label.log" 2>&1 &
        pgb=$!
        BG_PIDS+=("$pgb")
    fi
    rec psql -d src -c "CALL bench_hb_writer($SECONDS_RUN)" >/dev/null
    if [ -n "$pgb" ]; then
        wait "$pgb" || { cat "$RAW/lag_pgbench_$label.log" >&2; fail "pgbench -R $rate"; }
        LAG_TPS[$label]=$(tps_of "$RAW/lag_pgbench_$label.log")
    else
        LAG_TPS[$label]=0
    fi
    wait "$poll" || { cat "$RAW/poll_$label.log" >&2; fail "the lag poller failed"; }
    note_cmd "psql -d tgt -c \"CALL bench_lag_poll('$label', $SECONDS_RUN + 2)\" &  # poller"
    stats=$(psql -X -At -F ' ' -d tgt -c "SELECT count(*),
            coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms)::numeric, 1), -1),
            coalesce(round(percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms)::numeric, 1), -1),
            coalesce(round(max(lag_ms)::numeric, 1), -1)
        FROM bench_lag WHERE run = '$label'")
    read -r LAG_N[$label] LAG_P50[$label] LAG_P95[$label] LAG_MAX[$label] <<<"$stats"
    psql -X -At -F $'\t' -d tgt -c "SELECT run, round(extract(epoch FROM t - min(t) OVER ())::numeric, 3),
            round(lag_ms::numeric, 1) FROM bench_lag WHERE run = '$label' ORDER BY t" >>"$LAG_FILE"
    read -r CYC_N[$label] CYC_AVG[$label] CYC_MAX[$label] CYC_ROWS[$label] <<<"$(catq "SELECT count(*),
            coalesce(round(avg(extract(epoch FROM ended - started)) * 1000), 0),
            coalesce(round(max(extract(epoch FROM ended - started)) * 1000), 0), coalesce(round(avg(inserts)), 0)
        FROM bucardo.syncrun WHERE sync = 'bench' AND started >= '$from' AND state = 'Good'" | tr '|' ' ')"
    LAG_RUNS+=("$label")
    say "  $label: ${LAG_N[$label]} samples, p50 ${LAG_P50[$label]} ms, p95 ${LAG_P95[$label]} ms," \
        "max ${LAG_MAX[$label]} ms${rate:+, pgbench ${LAG_TPS[$label]} tps}"
}

res_begin
measure_lag idle
res_end "3. lag idle"
res_begin
measure_lag rate200 200
res_end "3. lag under -R 200"
lag_ok() {  # lag_ok LABEL RATE - p95 < 1 s and the source achieved the rate
    awk -v n="${LAG_N[$1]}" -v p="${LAG_P95[$1]}" -v tps="${LAG_TPS[$1]}" -v r="$2" \
        'BEGIN{exit !(n > 0 && p >= 0 && p < 1000 && (r == 0 || tps >= 0.9 * r))}'
}
RATE_BEST=0 RATE_STOP=""
if lag_ok rate200 200; then
    RATE_BEST=200
elif awk -v n="${LAG_N[rate200]}" -v p="${LAG_P95[rate200]}" 'BEGIN{exit !(n > 0 && p >= 0 && p < 1000)}'; then
    RATE_STOP="source saturated at -R 200: pgbench achieved ${LAG_TPS[rate200]} tps (p95 ${LAG_P95[rate200]} ms)"
else
    RATE_STOP="p95 ${LAG_P95[rate200]} ms at -R 200"
fi
if [ "$QUICK" = 0 ] && [ "$RATE_BEST" = 200 ]; then
    res_begin
    rate=400
    while [ "$rate" -le 51200 ]; do
        measure_lag "rate$rate" "$rate"
        if lag_ok "rate$rate" "$rate"; then
            RATE_BEST=$rate
        else
            if awk -v p="${LAG_P95[rate$rate]}" -v n="${LAG_N[rate$rate]}" 'BEGIN{exit !(n == 0 || p < 0 || p >= 1000)}'; then
                RATE_STOP="p95 ${LAG_P95[rate$rate]} ms at -R $rate"
            else
                RATE_STOP="source saturated at -R $rate: pgbench achieved ${LAG_TPS[rate$rate]} tps (p95 ${LAG_P95[rate$rate]} ms)"
            fi
            break
        fi
        rate=$((rate * 2))
    done
    res_end "3. rate search"
elif [ "$QUICK" = 1 ]; then
    RATE_STOP=${RATE_STOP:-"--quick: no search beyond 200"}
fi
say "phase 3: highest rate with p95 < 1 s: $RATE_BEST (stop: $RATE_STOP)"

# ================================================================ phase 5
say "phase 5: large backlog of $BACKLOG_ROWS rows (engine stopped)"
# Whatever phase 3 left is applied first, so the backlog is exactly the UPDATE.
bucardo_cmd kick bench 0
bucardo_cmd stop
t0=$(now)
rec psql -d src -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $BACKLOG_ROWS" >/dev/null
P5_UPDATE=$(since "$t0")
P5_KEYS=$(backlog_keys)
P5_REF=$(reference_copy "5")
P5_FLOOR=$(apply_floor "5")
perf_start 5
sqllog_begin
since_ts=$(cat_clock)
t0=$(now)
bucardo_cmd start
res_begin_fresh
wait_cycle "$since_ts" 3600
P5_TIME=$(since "$t0")
sqllog_end 5
perf_stop 5
res_end "5. start + large backlog"
P5_HWM=${RES_HWM["5. start + large backlog"]}
read -r P5_INS P5_DEL P5_ENG <<<"$(last_run "$since_ts")"
verify "phase 5"
P5_RPS=$(calc "$P5_INS / $P5_TIME" 0)
P5_RATIO=$(calc "$P5_TIME / $P5_REF" 2)
P5_FLOOR_RATIO=$(calc "$P5_TIME / $P5_FLOOR" 2)
P5_FLOOR_REF=$(calc "$P5_FLOOR / $P5_REF" 2)
say "phase 5: $P5_TIME s (engine cycle $P5_ENG s, $P5_INS rows, $P5_RPS rows/s), reference $P5_REF s, ratio $P5_RATIO, apply floor $P5_FLOOR s ($P5_FLOOR_REF x the reference; the engine $P5_FLOOR_RATIO x the floor), peak RSS $P5_HWM MB"
bucardo_cmd stop

LOG_ERRORS=$(grep -ciE 'error|warn' "$TEST_DIR/log.bucardo" || true)
cp "$TEST_DIR/log.bucardo" "$RAW/log.bucardo" 2>/dev/null || true

# ================================================================ report
verdict() {  # verdict VALUE OP LIMIT
    awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN{
        ok = (op == ">=") ? v >= l : (op == "<=") ? v <= l : (op == "<") ? v < l : 0
        print (v == "" || v < 0) ? "MISS" : ok ? "PASS" : "MISS"}'
}
SUMMARY=$RAW/summary.md
{
    echo "| # | Measure | Value | Target | Result |"
    echo "|---|---|---|---|---|"
    echo "| 1 | TPS on src, capture installed, engine stopped (median of $RUNS) | $P1_SRC | | |"
    echo "| 1 | TPS on nocap, no capture (median of $RUNS) | $P1_NOCAP | | |"
    echo "| 1 | Capture overhead: TPS ratio src / nocap | $P1_RATIO | >= 0.85 | $(verdict "$P1_RATIO" '>=' 0.85) |"
    echo "| 1 | (diagnostic) TPS on src0, the capture of an autokick=0 sync: no NOTIFY (median) / ratio to nocap | $P1_NOKICK / $P1_NOKICK_RATIO | | |"
    echo "| 1 | (diagnostic) TPS on floor, the cheapest PL/pgSQL capture: one row trigger, one INSERT (median) / ratio to nocap | $P1_FLOOR / $P1_FLOOR_RATIO | | |"
    echo "| 2 | Catch-up: \`bucardo kick bench 0\` wall time (median of $RUNS) | ${P2_KICK_MED} s | | |"
    echo "| 2 | Catch-up: engine cycle time from syncrun (median) | ${P2_ENG_MED} s | | |"
    echo "| 2 | Reference: raw COPY of the changed rows (median) | ${P2_REF_MED} s | | |"
    echo "| 2 | Reference's fixed cost: the same pipelines moving 0 rows (median) | ${P2_REF0_MED} s | | |"
    echo "| 2 | Catch-up ratio kick / reference (median of per-run ratios) | $P2_RATIO | <= 2.0 | $(verdict "$P2_RATIO" '<=' 2.0) |"
    echo "| 2 | Catch-up rows applied per run (median) / throughput | $P2_ROWS_MED rows, $P2_RPS_MED rows/s | | |"
    echo "| 2a | Phase-1 backlog ($P2A_INS rows) applied at engine start: time / reference | ${P2A_TIME} s / ${P2A_REF} s | | |"
    echo "| 2a | Phase-1 backlog ratio (informational, engine start included) | $P2A_RATIO | (<= 2.0) | $(verdict "$P2A_RATIO" '<=' 2.0) |"
    echo "| 3 | Lag idle p50 / p95 / max (${LAG_N[idle]} samples) | ${LAG_P50[idle]} / ${LAG_P95[idle]} / ${LAG_MAX[idle]} ms | p95 <= 50 ms | $(verdict "${LAG_P95[idle]}" '<=' 50) |"
    echo "| 3 | Lag under pgbench -R 200 p50 / p95 / max (${LAG_N[rate200]} samples; pgbench ${LAG_TPS[rate200]} tps) | ${LAG_P50[rate200]} / ${LAG_P95[rate200]} / ${LAG_MAX[rate200]} ms | p95 <= 100 ms | $(verdict "${LAG_P95[rate200]}" '<=' 100) |"
    echo "| 3 | Highest pgbench -R rate with lag p95 < 1 s | $RATE_BEST tps | (search stop: $RATE_STOP) | |"
    for n in "${RES_NAMES[@]}"; do
        echo "| 4 | Engine CPU / peak RSS: $n | ${RES_CPU[$n]} s / ${RES_HWM[$n]} MB | | |"
    done
    echo "| 4 | Engine CPU / peak RSS: 1. capture overhead | engine stopped | | |"
    echo "| 5 | Large backlog: rows applied | $P5_INS | $BACKLOG_ROWS | $([ "$P5_INS" = "$BACKLOG_ROWS" ] && echo PASS || echo MISS) |"
    echo "| 5 | Large backlog: \`bucardo start\` until applied (engine cycle) | ${P5_TIME} s (${P5_ENG} s) | | |"
    echo "| 5 | Large backlog: throughput | $P5_RPS rows/s | | |"
    echo "| 5 | Large backlog: reference raw COPY of the same rows | ${P5_REF} s | | |"
    echo "| 5 | Large backlog: ratio time / reference | $P5_RATIO | <= 2.0 (target of 2) | $(verdict "$P5_RATIO" '<=' 2.0) |"
    echo "| 5 | (diagnostic) apply floor: psql deleting the old rows by key and COPYing the new ones through the primary key, one transaction per table | ${P5_FLOOR} s (${P5_FLOOR_REF}x the reference) | | |"
    echo "| 5 | (diagnostic) ratio time / apply floor | $P5_FLOOR_RATIO | | |"
    echo "| 5 | Large backlog: engine peak RSS | $P5_HWM MB | | |"
} >"$SUMMARY"

# lag.svg: lag (ms) over time, idle and -R 200, as two polylines.
awk -F'\t' '
    NR == 1 { next }
    $1 == "idle" || $1 == "rate200" {
        n[$1]++; x[$1, n[$1]] = $2; y[$1, n[$1]] = $3
        if ($2 > xmax) xmax = $2; if ($3 > ymax) ymax = $3
    }
    function step(m,   e, f, s) {
        if (m <= 0) return 1
        e = log(m / 5) / log(10); f = int(e); if (f > e) f--
        s = 10 ^ f
        if (m / s > 25) s *= 5; else if (m / s > 10) s *= 2
        return s
    }
    END {
        W = 900; H = 460; L = 80; R = 30; T = 50; B = 60; pw = W - L - R; ph = H - T - B
        if (xmax <= 0) xmax = 1; if (ymax <= 0) ymax = 1
        xs = step(xmax); ys = step(ymax)
        xmax = xs * (int(xmax / xs) + (xmax % xs > 0)); ymax = ys * (int(ymax / ys) + (ymax % ys > 0))
        printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H
        printf "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H
        printf "<text x=\"%d\" y=\"25\" text-anchor=\"middle\" font-size=\"15\">Replication lag of a heartbeat row, src to tgt</text>\n", W / 2
        for (v = 0; v <= ymax + ys / 2; v += ys) {
            py = T + ph - v / ymax * ph
            printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, py, L + pw, py
            printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, py + 4, v
        }
        for (v = 0; v <= xmax + xs / 2; v += xs) {
            px = L + v / xmax * pw
            printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", px, T, px, T + ph
            printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", px, T + ph + 18, v
        }
        printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T + ph, L + pw, T + ph
        printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T, L, T + ph
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time since the first sample (s)</text>\n", L + pw / 2, H - 15
        printf "<text transform=\"translate(20,%d) rotate(-90)\" text-anchor=\"middle\">lag (ms)</text>\n", T + ph / 2
        printf "<rect x=\"%d\" y=\"%d\" width=\"325\" height=\"46\" fill=\"white\" stroke=\"#999\"/>\n", L + pw - 340, T + 12
        split("idle rate200", runs, " "); col["idle"] = "#1f77b4"; col["rate200"] = "#d62728"
        name["idle"] = "idle"; name["rate200"] = "under pgbench -R 200 -c 4 -j 2"
        for (k = 1; k <= 2; k++) {
            r = runs[k]
            printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", col[r]
            for (i = 1; i <= n[r]; i++) printf "%.1f,%.1f ", L + x[r, i] / xmax * pw, T + ph - y[r, i] / ymax * ph
            printf "\"/>\n"
            printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>\n", L + pw - 330, T + 8 + 18 * k, L + pw - 305, T + 8 + 18 * k, col[r]
            printf "<text x=\"%d\" y=\"%d\">%s (%d samples)</text>\n", L + pw - 298, T + 12 + 18 * k, name[r], n[r]
        }
        print "</svg>"
    }' "$LAG_FILE" >"$OUT_DIR/lag.svg"

# RESULTS.md
{
    echo "# Delta replication benchmark"
    echo
    echo "Generated by \`bench/delta_bench.sh${ARGS_GIVEN:+ $ARGS_GIVEN}\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "(scale $SCALE, $SECONDS_RUN s per pgbench run, $RUNS run(s), backlog $BACKLOG_ROWS rows;"
    echo "total $(since "$T_BEGIN") s).  See the header of the script for what each figure measures"
    echo "and why each reference is fair."
    echo
    echo "## Machine"
    echo
    echo '```'
    echo "nproc: $(nproc)"
    echo "CPU: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
    free -g
    echo "PostgreSQL: $("$PG_BIN/postgres" --version)"
    echo "pgbench: $(pgbench --version)"
    echo "kernel: $(uname -r)"
    echo "bucardo: $("$BUCARDO" --version) ($GIT_REV; binary sha256 $(sha256sum "$BUCARDO" | cut -c1-12))"
    echo "load average (1/5/15 min) at start: $LOAD_BEGIN, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "cluster: fsync=off, max_wal_size=4GB, checkpoint_timeout=30min, otherwise initdb defaults"
    echo '```'
    echo
    echo "## Results"
    echo
    cat "$SUMMARY"
    echo
    echo "## Per-run figures"
    echo
    echo "Phase 1 (TPS; each run measures every configuration once, in an order rotated every run):"
    echo
    echo "| run | src | nocap | src0 (autokick=0) | floor |"
    echo "|---|---|---|---|---|"
    for i in "${!TPS_SRC[@]}"; do
        echo "| $((i + 1)) | ${TPS_SRC[$i]} | ${TPS_NOCAP[$i]} | ${TPS_NOKICK[$i]:--} | ${TPS_FLOOR[$i]:--} |"
    done
    echo
    echo "Phase 2 (each run: pgbench -T $SECONDS_RUN on src with the engine idle, then the reference, then the kick):"
    echo
    echo "| run | backlog keys | rows applied | kick (s) | engine cycle (s) | reference (s) | reference, 0 rows (s) | ratio | rows/s |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for i in "${!P2_KICK[@]}"; do
        echo "| $((i + 1)) | ${P2_KEYS[$i]} | ${P2_ROWS[$i]} | ${P2_KICK[$i]} | ${P2_ENG[$i]} | ${P2_REF[$i]} | ${P2_REF0[$i]} | ${P2_RATIOS[$i]} | ${P2_RPS[$i]} |"
    done
    echo
    echo "Phase 2a: $P2A_KEYS backlog keys, $P2A_INS rows applied, $P2A_DEL deleted; \`bucardo start\` to"
    echo "recorded cycle $P2A_TIME s (engine cycle $P2A_ENG s); reference $P2A_REF s."
    echo
    echo "Phase 3 (each measurement $SECONDS_RUN s; heartbeat every 150 ms; lag in ms):"
    echo
    echo "| run | pgbench -R | achieved tps | samples | p50 | p95 | max | cycles | mean / max cycle (ms) | mean rows per cycle |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for l in "${LAG_RUNS[@]}"; do
        r=${l#rate}; [ "$l" = idle ] && r=-
        echo "| $l | $r | ${LAG_TPS[$l]} | ${LAG_N[$l]} | ${LAG_P50[$l]} | ${LAG_P95[$l]} | ${LAG_MAX[$l]} | ${CYC_N[$l]} | ${CYC_AVG[$l]} / ${CYC_MAX[$l]} | ${CYC_ROWS[$l]} |"
    done
    echo
    echo "Samples: \`$(basename "$LAG_FILE")\`; plot: \`lag.svg\` (idle and -R 200)."
    echo
    echo "Phase 5: UPDATE of $BACKLOG_ROWS rows on src took $P5_UPDATE s (capture included);"
    echo "$P5_KEYS backlog keys; $P5_INS rows applied, $P5_DEL deleted."
    echo
    echo "Engine log: $LOG_ERRORS line(s) mentioning an error or a warning."
    for n in "${SQLLOG_NAMES[@]}"; do
        echo
        echo "Phase $n: where the engine's time went - every statement of its sessions, from the server"
        echo "log (log_min_duration_statement = 0 meanwhile), grouped with numbers shown as N; the 12"
        echo "largest totals.  Source and target statements overlap in time.  Totals per database:"
        echo "${SQLLOG_TOTAL[$n]}.  Every statement: \`sql_statements.txt\`."
        echo
        echo "| database | statement | count | total s | max s |"
        echo "|---|---|---|---|---|"
        sed 's/`/\\`/g' "$RAW/sql_$n.sum"
    done
    if [ "$PERF" = 1 ]; then
        for p in 2a 2 5; do
            [ -f "$RAW/perf_$p.comm.txt" ] || continue
            echo
            echo "perf (system-wide) during phase $p, by command:"
            echo
            echo '```'
            cat "$RAW/perf_$p.comm.txt"
            echo '```'
            echo
            echo "engine (bucardo) symbols:"
            echo
            echo '```'
            cat "$RAW/perf_$p.engine.txt"
            echo '```'
        done
    fi
    echo
    echo "## Notes"
    echo
    echo "- The engine always runs one cycle when it starts (and when a worker restarts after"
    echo "  \`bucardo reload\` with a changed sync), so a backlog that is waiting when the engine"
    echo "  starts cannot be held back for a kick.  The phase-1 backlog is therefore timed from"
    echo "  \`bucardo start\` (2a); the kick-timed figures of phase 2 use fresh backlogs made"
    echo "  while the engine runs idle with autokick=0."
    echo "- \`bucardo kick\` polls the catalog every 100 ms, so kick times are rounded up by up to"
    echo "  0.1 s; the engine's own cycle time (syncrun ended - started) is shown next to it."
    echo "- Lag samples are the heartbeat values the poller sees change on tgt: when one cycle"
    echo "  carries several heartbeats (lag > 150 ms) only the newest is seen, so there are fewer"
    echo "  samples than heartbeats and the older, later-arriving ones are not counted."
    echo "- The machine is shared: the load average above includes other users' work."
    echo "- Phase 1 runs src with the capture of an autokick sync: statement triggers that write"
    echo "  the delta tables, their functions also sending the debounced NOTIFY (sql/capture.sql);"
    echo "  src0 has the capture of an autokick=0 sync (no NOTIFY); floor has the cheapest capture"
    echo "  PL/pgSQL allows (bench/floor_capture.sql: one row trigger and one INSERT per table, none"
    echo "  of the old keys, the wake-up or SECURITY DEFINER).  Each database runs once per round,"
    echo "  so all have the same history when compared."
    echo
    echo "## Command lines"
    echo
    echo '```'
    echo "bench/delta_bench.sh${ARGS_GIVEN:+ $ARGS_GIVEN}"
    awk '!seen[$0]++' "$CMDS"
    echo '```'
} >"$OUT_DIR/RESULTS.md"

echo
echo "Delta replication benchmark (scale $SCALE, ${SECONDS_RUN}s runs, $RUNS run(s), backlog $BACKLOG_ROWS rows)"
echo
cat "$SUMMARY"
echo
echo "Written: $OUT_DIR/RESULTS.md, $OUT_DIR/lag.svg, $LAG_FILE"
say "done"
exit
}
