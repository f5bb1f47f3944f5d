#!/usr/bin/env bash
# bench/wan_bench.sh - the delta benchmark's lag and catch-up across a WAN.
#
# Every other benchmark runs engine and databases on one machine, where a
# round trip costs 0.1 ms.  Here the engine reaches both databases through
# bench/lib/delay_relay.py, a user-space TCP relay that holds every piece
# of data RTT/2 in each direction (the kernel has no netem) without limiting
# bandwidth, and counts the round trips the clients paid (turns: client data
# after server data) and the flushes (reads) per direction.  One relay per
# database (src, tgt), so the source's and the target's round trips are
# counted apart.  The heartbeat writer, the lag poller and pgbench connect
# directly (the application is next to its database); only the engine and
# the reference cross the relay.
#
# For each RTT (default 0, 10 and 50 ms), with the same private cluster,
# pgbench databases src and tgt at the same scale, and sync bench (the
# three pgbench tables that have keys) as bench/delta_bench.sh:
#
#  0. RTT: pgbench -c 1 of `SELECT 1` through the src relay for 3 s; its
#     average latency is the RTT the run really had (relay overhead included).
#  1. Catch-up (autokick=0): pgbench -c 4 -j 2 -T SECONDS on src leaves a
#     backlog; the raw reference (psql COPY of exactly the changed rows, keys
#     from the delta tables, into an index-less scratch table on tgt - the
#     same pipelines as delta_bench's phase 2) runs through the SAME relays,
#     then `bucardo kick bench 0` is timed until it returns; tgt is checked
#     equal to src.  Ratio kick / reference, and the turns of each.
#  2. Lag (autokick=1, once the reloaded sync has replicated a first
#     heartbeat): heartbeat UPDATE every 150 ms on src, poller on tgt
#     (delta_bench's phase 3), idle and under pgbench -R 200 -c 4 -j 2;
#     p50/p95/max, the cycles recorded meanwhile and the engine's turns per
#     cycle on each relay.
#
# Targets (issue 23): lag p95 under -R 200 <= 3 RTT + 20 ms and idle lag
# p95 <= 2 RTT + 20 ms at 10 and 50 ms; catch-up <= 1.5x the reference at
# 50 ms RTT.
#
# Output: a summary on stdout; bench/WAN_RESULTS.md (--quick: bench/out/).
# Usage: bench/wan_bench.sh [--quick] [--rtts "0 10 50"] [--scale N]
#                           [--seconds N] [--runs N] [--keep]
# (--quick: scale 1, 5 s runs, 1 run, RTT 0 and 50; later options override.)
# WAN_TRACE=1 in the environment: the relays log each turn's first bytes
# to $TEST_DIR/raw/trace_<db>_<rtt>.txt (with --keep, to read afterwards).
set -Eeuo pipefail
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=10 SECONDS_RUN=20 RUNS=3 QUICK=0 KEEP=0 RTTS="0 10 50"
ARGS_GIVEN="$*"
usage() {
    sed -n '/^# Usage:/,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; SCALE=1; SECONDS_RUN=5; RUNS=1; RTTS="0 50" ;;
        --rtts) RTTS=$2; shift ;;
        --rtts=*) RTTS=${1#*=} ;;
        --scale) SCALE=$2; shift ;;
        --scale=*) SCALE=${1#*=} ;;
        --seconds) SECONDS_RUN=$2; shift ;;
        --seconds=*) SECONDS_RUN=${1#*=} ;;
        --runs) RUNS=$2; shift ;;
        --runs=*) RUNS=${1#*=} ;;
        --keep) KEEP=1 ;;
        -h|--help) usage ;;
        *) echo "unknown option: $1" >&2; usage ;;
    esac
    shift
done
for v in SCALE SECONDS_RUN RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done
for r in $RTTS; do
    [[ $r =~ ^[0-9]+$ ]] || { echo "--rtts: '$r' is not a whole number of milliseconds" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "python3 is needed for the relay" >&2; exit 2; }

if [ "$QUICK" = 1 ]; then OUT_DIR=$ROOT/bench/out; else OUT_DIR=$ROOT/bench; fi
mkdir -p "$OUT_DIR"
T_BEGIN=$EPOCHREALTIME
LOAD_BEGIN=$(cut -d' ' -f1-3 /proc/loadavg)
BENCH_TAG=wan
. "$ROOT/bench/lib/bench_setup.sh"
RELAY=$ROOT/bench/lib/delay_relay.py

bench_build bench/WAN_RESULTS.md
bench_cluster --stop-timeout 30
psql_src() { psql -X -q -v ON_ERROR_STOP=1 -d src "$@"; }
psql_tgt() { psql -X -q -v ON_ERROR_STOP=1 -d tgt "$@"; }
psql -X -q -d postgres -c "ALTER SYSTEM SET max_wal_size = '4GB'" \
    -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" -c "SELECT pg_reload_conf()" >/dev/null

# ---------------------------------------------------------------- relays
free_port() {
    local p
    while :; do
        p=$(( (RANDOM * 32768 + RANDOM) % 20000 + 30000 ))
        pg_port_free "$p" && { echo "$p"; return; }
    done
}
declare -A RELAY_PORT RELAY_PID
RELAY_PORT[src]=$(free_port)
RELAY_PORT[tgt]=$(free_port)
while [ "${RELAY_PORT[tgt]}" = "${RELAY_PORT[src]}" ]; do RELAY_PORT[tgt]=$(free_port); done
# relay_start RTT_MS - one relay per database, on the fixed ports.
relay_start() {
    local db
    for db in src tgt; do
        rm -f "$RAW/relay_$db.ready"
        python3 "$RELAY" --listen "${RELAY_PORT[$db]}" --unix "$PGHOST/.s.PGSQL.$PGPORT" --rtt-ms "$1" \
            --stats "$RAW/relay_$db.json" --ready "$RAW/relay_$db.ready" \
            ${WAN_TRACE:+--trace "$RAW/trace_${db}_$1.txt"} 2>>"$RAW/relay_$db.log" &
        RELAY_PID[$db]=$!
        BG_PIDS+=("${RELAY_PID[$db]}")
    done
    for _ in $(seq 100); do
        [ -f "$RAW/relay_src.ready" ] && [ -f "$RAW/relay_tgt.ready" ] && return 0
        sleep 0.05
    done
    fail "the relays did not start: $(cat "$RAW"/relay_*.log)"
}
relay_stop() {
    local db
    for db in src tgt; do
        kill "${RELAY_PID[$db]}" 2>/dev/null || true
        wait "${RELAY_PID[$db]}" 2>/dev/null || true
    done
}
relay_reset() { kill -USR2 "${RELAY_PID[src]}" "${RELAY_PID[tgt]}"; sleep 0.05; }
# relay_read DB - "turns flushes_c2s flushes_s2c bytes_c2s bytes_s2c connections watch_turns"
# since the reset (turns: the engine's cycles; watch_turns: its autokick watcher's polls).
relay_read() {
    rm -f "$RAW/relay_$1.json"
    kill -USR1 "${RELAY_PID[$1]}"
    for _ in $(seq 100); do [ -f "$RAW/relay_$1.json" ] && break; sleep 0.02; done
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(d["turns"], d["flushes"]["c2s"], d["flushes"]["s2c"], d["bytes"]["c2s"], d["bytes"]["s2c"], d["connections"], d["watch_turns"])' \
        "$RAW/relay_$1.json"
}
via() { echo "host=127.0.0.1 port=${RELAY_PORT[$1]} dbname=$1"; }

# ---------------------------------------------------------------- databases
for db in src tgt; do
    say "pgbench -i -s $SCALE $db"
    rec createdb "$db"
    rec pgbench -i -s "$SCALE" -q "$db" >"$RAW/init_$db.log" 2>&1 || { cat "$RAW/init_$db.log" >&2; fail "pgbench -i $db"; }
done
# The heartbeat and its lag poller (bench/lib/lag_*.sql, shared with
# bench/delta_bench.sh).
psql_src >/dev/null -f "$ROOT/bench/lib/lag_source.sql"
psql_tgt >/dev/null -f "$ROOT/bench/lib/lag_target.sql"

# ---------------------------------------------------------------- bucardo
say "bucardo install; databases through the relays (ports ${RELAY_PORT[src]}, ${RELAY_PORT[tgt]})"
bench_install
relay_start 0   # add database connects to it; the per-RTT relays replace it
bucardo_cmd add database src dbname=src host=127.0.0.1 port="${RELAY_PORT[src]}"
bucardo_cmd add database tgt dbname=tgt host=127.0.0.1 port="${RELAY_PORT[tgt]}"
bucardo_cmd add all tables db=src -T pgbench_history relgroup=bench
bucardo_cmd add sync bench relgroup=bench dbs=src,tgt autokick=0
PGB_TABLES=(pgbench_accounts pgbench_tellers pgbench_branches)
declare -A DELTA KEYCOL SCRATCH
KEYCOL=([pgbench_accounts]=aid [pgbench_tellers]=tid [pgbench_branches]=bid)
SCRATCH=([pgbench_accounts]=bench_scratch_accounts [pgbench_tellers]=bench_scratch_tellers
         [pgbench_branches]=bench_scratch_branches)
for t in "${PGB_TABLES[@]}"; do
    DELTA[$t]=$(psql -X -At -d src -c "SELECT quote_ident(relname) FROM pg_class
        WHERE relnamespace = 'bucardo'::regnamespace AND relkind = 'r' AND relname ~ '^delta_${t}_[0-9a-f]{8}\$'")
    [ -n "${DELTA[$t]}" ] || fail "no delta table for $t on src"
done

verify() {
    local t a b
    for t in "${PGB_TABLES[@]}"; do
        a=$(table_digest src "$t") b=$(table_digest tgt "$t")
        [ "$a" = "$b" ] || fail "$1: $t differs between src and tgt: $a vs $b"
    done
}
backlog_keys() {
    local t q=""
    for t in "${PGB_TABLES[@]}"; do
        q+="${q:+ + }(SELECT count(DISTINCT ${KEYCOL[$t]}) FROM bucardo.${DELTA[$t]})"
    done
    psql -X -At -d src -c "SELECT $q"
}
# reference_copy LABEL - delta_bench's raw-COPY reference, both ends through
# the relays; prints its seconds; checks the rows it moved.
reference_copy() {
    local t t0 secs moved keys
    psql_tgt -c "TRUNCATE bench_scratch_accounts, bench_scratch_tellers, bench_scratch_branches" >/dev/null
    keys=$(backlog_keys)
    for t in "${PGB_TABLES[@]}"; do psql_src -c "ANALYZE bucardo.${DELTA[$t]}"; done
    t0=$(now)
    for t in "${PGB_TABLES[@]}"; do
        timeout 3600 psql -X -q -v ON_ERROR_STOP=1 -d "$(via src)" -c "COPY (SELECT * FROM $t WHERE ${KEYCOL[$t]} IN (SELECT DISTINCT ${KEYCOL[$t]} FROM bucardo.${DELTA[$t]})) TO STDOUT" |
            timeout 3600 psql -X -q -v ON_ERROR_STOP=1 -d "$(via tgt)" -c "COPY ${SCRATCH[$t]} FROM STDIN" ||
            fail "$1: the reference COPY of $t failed"
    done
    secs=$(since "$t0")
    moved=$(psql -X -At -d tgt -c "SELECT (SELECT count(*) FROM bench_scratch_accounts)
        + (SELECT count(*) FROM bench_scratch_tellers) + (SELECT count(*) FROM bench_scratch_branches)")
    [ "$moved" = "$keys" ] || fail "$1: the reference moved $moved rows for $keys backlog keys"
    echo "$secs"
}
last_run() {
    catq "SELECT inserts, deletes, round(extract(epoch FROM ended - started)::numeric, 3)
            FROM bucardo.syncrun WHERE sync = 'bench' AND started >= '$1' AND state = 'Good'
           ORDER BY id DESC LIMIT 1" | tr '|' ' '
}
cat_clock() { catq "SELECT clock_timestamp()"; }
tps_of() { awk '/^tps = /{printf "%.1f", $3; exit}' "$1"; }
wait_first_cycle() {
    for _ in $(seq 400); do
        [ -n "$(catq "SELECT 1 FROM bucardo.sync_source_state WHERE sync = 'bench'")" ] && return 0
        sleep 0.05
    done
    fail "no first cycle"
}

# wait_replicating - after the reload, until a heartbeat written now has
# reached tgt.  The lag phases measure a running sync; its restart (the
# reconnection and planning through the relay, over a second at 50 ms) is
# paid in the catch-up phase's kick, which starts from released connections.
wait_replicating() {
    local ts
    ts=$(psql -X -q -At -d src -c "UPDATE bench_heartbeat SET ts = clock_timestamp() WHERE id = 1 RETURNING ts")
    for _ in $(seq 600); do
        [ "$(psql -X -At -d tgt -c "SELECT ts = '$ts' FROM bench_heartbeat WHERE id = 1")" = t ] && return 0
        sleep 0.05
    done
    fail "the sync did not replicate a heartbeat within 30 s of its reload"
}

# measure_rtt - the average latency of SELECT 1 through the src relay.
measure_rtt() {
    echo 'SELECT 1;' >"$RAW/select1.sql"
    pgbench -n -c 1 -T 3 -f "$RAW/select1.sql" "$(via src)" >"$RAW/rtt.log" 2>&1 || { cat "$RAW/rtt.log" >&2; fail "pgbench through the relay"; }
    awk '/^latency average = /{print $4; exit}' "$RAW/rtt.log"
}

# measure_lag LABEL RATE - delta_bench's lag measurement (RATE 0: idle),
# plus the cycles recorded and each relay's turns meanwhile.
declare -A R
measure_lag() {
    local label=$1 rate=$2 poll pgb='' stats from
    from=$(cat_clock)
    psql_tgt -c "CALL bench_lag_poll('$label', $SECONDS_RUN + 2)" >"$RAW/poll_$label.log" 2>&1 &
    poll=$!
    BG_PIDS+=("$poll")
    sleep 0.5
    relay_reset
    if [ "$rate" != 0 ]; then
        rec pgbench -R "$rate" -c 4 -j 2 -T "$SECONDS_RUN" src >"$RAW/lag_pgbench_$label.log" 2>&1 &
        pgb=$!
        BG_PIDS+=("$pgb")
    fi
    rec psql -d src -c "CALL bench_hb_writer($SECONDS_RUN)" >/dev/null
    if [ -n "$pgb" ]; then
        wait "$pgb" || { cat "$RAW/lag_pgbench_$label.log" >&2; fail "pgbench -R $rate"; }
        R[$label.tps]=$(tps_of "$RAW/lag_pgbench_$label.log")
    else
        R[$label.tps]=0
    fi
    read -r R[$label.src_turns] _ _ _ _ _ R[$label.watch] <<<"$(relay_read src)"
    read -r R[$label.tgt_turns] _ _ _ _ _ _ <<<"$(relay_read tgt)"
    wait "$poll" || { cat "$RAW/poll_$label.log" >&2; fail "the lag poller failed"; }
    stats=$(psql -X -At -F ' ' -d tgt -c "SELECT count(*),
            coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms)::numeric, 1), -1),
            coalesce(round(percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms)::numeric, 1), -1),
            coalesce(round(max(lag_ms)::numeric, 1), -1)
        FROM bench_lag WHERE run = '$label'")
    read -r R[$label.n] R[$label.p50] R[$label.p95] R[$label.max] <<<"$stats"
    R[$label.cycles]=$(catq "SELECT count(*) FROM bucardo.syncrun WHERE sync = 'bench' AND started >= '$from'")
    R[$label.src_tpc]=$(calc "${R[$label.src_turns]} / (${R[$label.cycles]} > 0 ? ${R[$label.cycles]} : 1)" 1)
    R[$label.tgt_tpc]=$(calc "${R[$label.tgt_turns]} / (${R[$label.cycles]} > 0 ? ${R[$label.cycles]} : 1)" 1)
    say "  $label: p50 ${R[$label.p50]} p95 ${R[$label.p95]} max ${R[$label.max]} ms (${R[$label.n]} samples)," \
        "${R[$label.cycles]} cycles, turns/cycle src ${R[$label.src_tpc]} tgt ${R[$label.tgt_tpc]}," \
        "watcher turns ${R[$label.watch]}"
}

# ================================================================ per RTT
bucardo_cmd start
wait_first_cycle
bucardo_cmd stop
relay_stop
RTT_LIST=()
for rtt in $RTTS; do
    RTT_LIST+=("$rtt")
    say "=== RTT $rtt ms"
    relay_start "$rtt"
    R[$rtt.rtt]=$(measure_rtt)
    say "  measured RTT (SELECT 1 through the relay): ${R[$rtt.rtt]} ms"
    bucardo_cmd update sync bench autokick=0
    bucardo_cmd start
    sleep 1
    # 1. catch-up
    KICKS=() REFS=() RATIOS=() ROWS=() KT=() RT=() KEYS=()
    for run in $(seq "$RUNS"); do
        rec pgbench -c 4 -j 2 -T "$SECONDS_RUN" src >"$RAW/backlog_${rtt}_$run.log" 2>&1 ||
            { cat "$RAW/backlog_${rtt}_$run.log" >&2; fail "pgbench on src"; }
        keys=$(backlog_keys)
        relay_reset
        ref=$(reference_copy "$rtt.$run")
        read -r rs _ _ _ _ _ _ <<<"$(relay_read src)"
        read -r rt _ _ _ _ _ _ <<<"$(relay_read tgt)"
        relay_reset
        since_ts=$(cat_clock)
        t0=$(now)
        rec timeout 1800 "$BUCARDO" kick bench 0 >"$RAW/kick_${rtt}_$run.log" 2>&1 ||
            { cat "$RAW/kick_${rtt}_$run.log" >&2; fail "bucardo kick bench 0"; }
        kick=$(since "$t0")
        read -r ks _ _ _ _ _ _ <<<"$(relay_read src)"
        read -r kt _ _ _ _ _ _ <<<"$(relay_read tgt)"
        grep -q 'DONE!' "$RAW/kick_${rtt}_$run.log" || fail "kick did not say DONE!: $(cat "$RAW/kick_${rtt}_$run.log")"
        read -r ins _ _ <<<"$(last_run "$since_ts")"
        verify "RTT $rtt run $run"
        KICKS+=("$kick") REFS+=("$ref") RATIOS+=("$(calc "$kick / $ref" 2)") ROWS+=("$ins") KEYS+=("$keys")
        KT+=("$ks/$kt") RT+=("$rs/$rt")
        say "  catch-up run $run: $keys keys, kick $kick s ($ins rows; turns src/tgt $ks/$kt)," \
            "reference $ref s (turns $rs/$rt), ratio ${RATIOS[-1]}"
    done
    R[$rtt.kick]=$(median "${KICKS[@]}") R[$rtt.ref]=$(median "${REFS[@]}") R[$rtt.ratio]=$(median "${RATIOS[@]}")
    R[$rtt.rows]=$(median "${ROWS[@]}") R[$rtt.kicks]="${KICKS[*]}" R[$rtt.refs]="${REFS[*]}"
    R[$rtt.ratios]="${RATIOS[*]}" R[$rtt.kturns]="${KT[*]}" R[$rtt.rturns]="${RT[*]}" R[$rtt.keys]="${KEYS[*]}"
    # 2. lag
    bucardo_cmd update sync bench autokick=1
    bucardo_cmd reload
    wait_replicating
    measure_lag "$rtt.idle" 0
    measure_lag "$rtt.r200" 200
    bucardo_cmd kick bench 0
    verify "RTT $rtt after the lag runs"
    bucardo_cmd stop
    relay_stop
done
LOG_ERRORS=$(grep -ciE 'error|warn' "$TEST_DIR/log.bucardo" || true)

# ================================================================ report
verdict() { awk -v v="$1" -v l="$2" 'BEGIN{print (v == "" || v < 0) ? "MISS" : (v <= l) ? "PASS" : "MISS"}'; }
SUMMARY=$RAW/summary.md
{
    echo "| RTT set / measured (ms) | lag idle p50 / p95 / max (ms) | target p95 | lag -R 200 p50 / p95 / max (ms) | target p95 | catch-up kick / reference (s) | ratio | target |"
    echo "|---|---|---|---|---|---|---|---|"
    for rtt in "${RTT_LIST[@]}"; do
        m=${R[$rtt.rtt]}
        ti=$(calc "2 * $m + 20" 0) tr=$(calc "3 * $m + 20" 0)
        ct="-"
        [ "$rtt" -ge 50 ] && ct="<= 1.5: $(verdict "${R[$rtt.ratio]}" 1.5)"
        echo "| $rtt / $m | ${R[$rtt.idle.p50]} / ${R[$rtt.idle.p95]} / ${R[$rtt.idle.max]} | <= $ti: $(verdict "${R[$rtt.idle.p95]}" "$ti") | ${R[$rtt.r200.p50]} / ${R[$rtt.r200.p95]} / ${R[$rtt.r200.max]} | <= $tr: $(verdict "${R[$rtt.r200.p95]}" "$tr") | ${R[$rtt.kick]} / ${R[$rtt.ref]} | ${R[$rtt.ratio]} | $ct |"
    done
    echo
    echo "Round trips (relay turns: client data after server data) per recorded cycle, engine only; the"
    echo "autokick watcher's polls on src are counted apart (total over the ${SECONDS_RUN} s measurement):"
    echo
    echo "| RTT (ms) | idle: cycles, turns/cycle src / tgt, watcher | -R 200 (pgbench tps): cycles, turns/cycle src / tgt, watcher | catch-up keys per run | kick turns src/tgt per run | reference turns src/tgt per run | kick (s) per run | reference (s) per run | ratio per run |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for rtt in "${RTT_LIST[@]}"; do
        echo "| $rtt | ${R[$rtt.idle.cycles]}, ${R[$rtt.idle.src_tpc]} / ${R[$rtt.idle.tgt_tpc]}, ${R[$rtt.idle.watch]} | (${R[$rtt.r200.tps]}) ${R[$rtt.r200.cycles]}, ${R[$rtt.r200.src_tpc]} / ${R[$rtt.r200.tgt_tpc]}, ${R[$rtt.r200.watch]} | ${R[$rtt.keys]} | ${R[$rtt.kturns]} | ${R[$rtt.rturns]} | ${R[$rtt.kicks]} | ${R[$rtt.refs]} | ${R[$rtt.ratios]} |"
    done
} >"$SUMMARY"
{
    echo "# WAN benchmark: lag and catch-up through a delaying relay"
    echo
    echo "Generated by \`bench/wan_bench.sh${ARGS_GIVEN:+ $ARGS_GIVEN}\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "(scale $SCALE, $SECONDS_RUN s per pgbench run, $RUNS catch-up run(s) per RTT; total $(since "$T_BEGIN") s)."
    echo "See the header of the script for what each figure measures."
    echo
    echo '```'
    echo "nproc: $(nproc); CPU: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
    echo "PostgreSQL: $("$PG_BIN/postgres" --version)"
    echo "bucardo: $("$BUCARDO" --version) ($GIT_REV)"
    echo "load average (1/5/15 min) at start: $LOAD_BEGIN, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo '```'
    echo
    cat "$SUMMARY"
    echo
    echo "Engine log: $LOG_ERRORS line(s) mentioning an error or a warning."
    echo
    echo "## Command lines"
    echo
    echo '```'
    echo "bench/wan_bench.sh${ARGS_GIVEN:+ $ARGS_GIVEN}"
    echo "python3 bench/lib/delay_relay.py --listen PORT --unix \$PGHOST/.s.PGSQL.\$PGPORT --rtt-ms RTT --stats FILE  # one per database"
    echo "pgbench -n -c 1 -T 3 -f select1.sql 'host=127.0.0.1 port=RELAY dbname=src'  # RTT"
    for t in "${PGB_TABLES[@]}"; do
        echo "psql -d 'host=127.0.0.1 port=RELAY_SRC dbname=src' -c \"COPY (SELECT * FROM $t WHERE ${KEYCOL[$t]} IN (SELECT DISTINCT ${KEYCOL[$t]} FROM bucardo.${DELTA[$t]})) TO STDOUT\" | psql -d 'host=127.0.0.1 port=RELAY_TGT dbname=tgt' -c \"COPY ${SCRATCH[$t]} FROM STDIN\""
    done
    awk '!seen[$0]++' "$CMDS"
    echo '```'
} >"$OUT_DIR/WAN_RESULTS.md"
echo
cat "$SUMMARY"
echo
echo "Written: $OUT_DIR/WAN_RESULTS.md"
say "done"
exit
}
