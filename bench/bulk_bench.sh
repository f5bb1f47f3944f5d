#!/usr/bin/env bash
# bench/bulk_bench.sh - whole-table copy (onetimecopy) benchmark of the
# bucardo engine against plain COPY pipes and pgcopydb.
#
# One run builds the project (if needed), starts a private PostgreSQL 15
# cluster (tests/lib/pgcluster.sh), fills a source database `src` with
# `pgbench -i -s SCALE` (pgbench_accounts: SCALE * 100,000 rows, ~13 MB of
# heap per scale unit) and creates an empty target `tgt` with the same
# schema (`pg_dump -s src | psql tgt`: the table with its primary key).
# It then copies pgbench_accounts from src to tgt RUNS times with each of:
#
#  1. text COPY pipe (the single-stream reference):
#       psql -d src -c "COPY pgbench_accounts TO STDOUT" |
#       psql -d tgt -c "COPY pgbench_accounts FROM STDIN"
#     What a DBA types to copy one table.  Fair because it moves the same
#     rows between the same two databases of the same server over the same
#     kind of connection (Unix socket) into the same table with the same
#     primary key, while skipping everything replication adds (a consistent
#     snapshot shared with the change capture, bookkeeping, ANALYZE, the
#     kick's round trip): a lower bound for a single stream.
#  2. the same pipe with (FORMAT binary): spares both servers the text
#     conversion; the fastest thing one stream of psql can do.  The engine
#     itself moves rows in binary COPY when every column type is built-in
#     (pgbench_accounts: yes), so this is its like-for-like single stream.
#  3. `pgcopydb copy table-data --table-jobs 2` limited to pgbench_accounts
#     by a filter file (only when the pgcopydb program is installed;
#     --with-pgcopydb installs the Debian package with apt-get).  A tool
#     built for exactly this job (exported snapshot, several COPY jobs, C on
#     libpq), run against the same databases with the same parallelism as
#     our default on this 2-core machine.  When its --help lists
#     --split-tables-larger-than, the table is also split in 2 parts so that
#     2 jobs can work on the one table (our default is 2 streams on 2 cores);
#     the Debian 12 package (0.10) has no such option, so there one job
#     copies the table.  Its time includes the VACUUM ANALYZE it runs after
#     the COPY, as ours includes an ANALYZE (analyze_after_copy).
#  4. ours: `bucardo update sync bulk onetimecopy=1`, a 1 s pause for the
#     engine's reload, then `bucardo kick bulk 0` (which returns when the
#     cycle is recorded).  Timed as the user sees it: from the kick until it
#     returns.  But the engine restarts a sync's worker when its definition
#     changes, and a new worker runs a cycle at once, so the copy may start
#     at the reload, before the kick; the script detects this from the
#     catalog (bucardo.syncrun, bucardo.copy_progress) and then times ours
#     from just before the `update` until the copy cycle is recorded
#     (catalog clock): the whole time from request to done, which includes
#     the update command, the reload and the worker's restart.  When an
#     update+kick copies nothing (seen: the engine keeps the fingerprint of
#     the definition it last loaded, so a second onetimecopy=1 is not seen
#     as a change), the run is retried after `update sync bulk
#     onetimecopy=0` and the misbehaviour is reported.
#     Every run is followed by a check that tgt equals src (table_digest of
#     tests/lib/assert.sh; above 5M rows the same md5 taken per 1M-row aid
#     block, as one string_agg would exceed 1 GB).
#
# The target table is truncated (and a CHECKPOINT taken) before every run,
# untimed.  The order of the methods rotates from run to run, so that drift
# in the load of this shared machine does not always hit the same method.
# The reported figure of each method is the median of its RUNS runs.
#
# Figures: seconds; MB/s (MB = 10^6 bytes) of the source heap
# (pg_relation_size) and of the COPY text (the bytes reference 1 moves);
# rows/s; the CPU seconds of the client side (psql x2, pgcopydb, or the
# engine) and of the server (every backend and auxiliary process of the
# cluster); the speed ratios ours / reference 1 and ours / pgcopydb
# (time of the other divided by ours: > 1 means ours is faster); the
# engine's peak RSS (VmHWM of /proc/PID/status, reset before each run).
# Targets: ours >= 1.25x reference 1, ours >= 1.0x pgcopydb, peak RSS <
# 64 MiB (stated for scale 50 and scale 200).
#
# Output: a summary on stdout and bench/BULK_RESULTS.md (--quick:
# bench/out/BULK_RESULTS.md).  Cluster, engine and temp files are removed on
# exit, also on failure or Ctrl-C (--keep keeps the directory).
# Usage: bench/bulk_bench.sh [--quick] [--scale N] [--runs N] [--copy-streams N]
#                            [--with-pgcopydb] [--perf] [--keep] [--out FILE]
#   --quick           CI-sized: scale 2, 1 run (< 2 min)
#   --scale N         pgbench scale of src (default 50: 5,000,000 rows)
#   --runs N          runs per method, median reported (default 3)
#   --copy-streams N  copy_streams=N on the sync (default: 0 = one per core)
#   --with-pgcopydb   apt-get install pgcopydb if missing, and include it
#   --perf            system-wide perf record -g during the last copy of ours,
#                     reported for the engine and this cluster's processes
#   --keep            keep the cluster's directory (logs, raw outputs)
#   --out FILE        results file (default bench/BULK_RESULTS.md, --quick:
#                     bench/out/BULK_RESULTS.md)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=50 RUNS=3 QUICK=0 COPY_STREAMS=0 WITH_PGCOPYDB=0 KEEP=0 PERF=0 OUT_FILE=''
ARGS_GIVEN="$*"
usage() {
    sed -n '/^# Usage:/,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; SCALE=2; RUNS=1 ;;
        --scale) SCALE=$2; shift ;;
        --scale=*) SCALE=${1#*=} ;;
        --runs) RUNS=$2; shift ;;
        --runs=*) RUNS=${1#*=} ;;
        --copy-streams) COPY_STREAMS=$2; shift ;;
        --copy-streams=*) COPY_STREAMS=${1#*=} ;;
        --with-pgcopydb) WITH_PGCOPYDB=1 ;;
        --perf) PERF=1 ;;
        --keep) KEEP=1 ;;
        --out) OUT_FILE=$2; shift ;;
        --out=*) OUT_FILE=${1#*=} ;;
        -h|--help) usage ;;
        *) echo "unknown option: $1" >&2; usage ;;
    esac
    shift
done
for v in SCALE RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done
[[ $COPY_STREAMS =~ ^[0-9]+$ ]] && [ "$COPY_STREAMS" -le 64 ] ||
    { echo "--copy-streams must be 0..64, got '$COPY_STREAMS'" >&2; exit 2; }

if [ -z "$OUT_FILE" ]; then
    if [ "$QUICK" = 1 ]; then OUT_FILE=$ROOT/bench/out/BULK_RESULTS.md; else OUT_FILE=$ROOT/bench/BULK_RESULTS.md; fi
fi
mkdir -p "$(dirname "$OUT_FILE")"
OUT_FILE=$(cd "$(dirname "$OUT_FILE")" && pwd)/$(basename "$OUT_FILE")
T_BEGIN=$EPOCHREALTIME
LOAD_BEGIN=$(cut -d' ' -f1-3 /proc/loadavg)
LOAD_SAMPLES=()

BENCH_TAG=bulk
. "$ROOT/bench/lib/bench_setup.sh"

# ---------------------------------------------------------------- pgcopydb
PGCOPYDB_NOTE=''
if [ "$WITH_PGCOPYDB" = 1 ] && ! command -v pgcopydb >/dev/null; then
    say "installing pgcopydb (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 install -y -q pgcopydb >/dev/null 2>&1 ||
        { apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null 2>&1 &&
          apt-get -o DPkg::Lock::Timeout=300 install -y -q pgcopydb >/dev/null; } ||
        { echo "cannot install pgcopydb with apt-get" >&2; exit 1; }
fi
HAVE_PGCOPYDB=0
if command -v pgcopydb >/dev/null; then
    HAVE_PGCOPYDB=1
else
    PGCOPYDB_NOTE="pgcopydb is not installed: skipped (run with --with-pgcopydb to install it with apt-get)"
fi

# ---------------------------------------------------------------- build
bench_build

# ---------------------------------------------------------------- cluster
# The clean-up keeps set -e, as this script's always did (see
# bench/lib/bench_setup.sh): after a failed run it stops before the cluster.
bench_cluster --stop-timeout 60 --note-conn --cleanup-keeps-errexit

pgq() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
load_now() { cut -d' ' -f1 /proc/loadavg; }

# Server CPU seconds so far: the postmaster's reaped children (backends
# that exited) plus every live child (backends, checkpointer, walwriter...).
POSTMASTER=$(head -1 "$TEST_DIR/data/postmaster.pid")
server_cpu() {
    local pid line f ticks=0
    for pid in "$POSTMASTER" $(pgrep -P "$POSTMASTER" || true); do
        { read -r line <"/proc/$pid/stat"; } 2>/dev/null || continue
        # shellcheck disable=SC2206
        f=(${line##*) })  # f[0] is field 3 (state): utime = f[11] ... cstime = f[14]
        if [ "$pid" = "$POSTMASTER" ]; then
            ticks=$((ticks + f[11] + f[12] + f[13] + f[14]))
        else
            ticks=$((ticks + f[11] + f[12]))
        fi
    done
    calc "$ticks / $(getconf CLK_TCK)" 2
}
proc_cpu() {  # utime+stime (+ reaped children) of one process, seconds
    sed 's/^.*) //' "/proc/$1/stat" | awk -v tck="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13 + $14 + $15) / tck}'
}
hwm_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

# Reload-only settings: no forced checkpoint during a copy, no autovacuum
# of the freshly loaded target competing with the next run.
psql -X -q -d postgres -c "ALTER SYSTEM SET max_wal_size = '8GB'" \
    -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" -c "ALTER SYSTEM SET autovacuum = off" \
    -c "SELECT pg_reload_conf()" >/dev/null
note_cmd "ALTER SYSTEM SET max_wal_size = '8GB'; ALTER SYSTEM SET checkpoint_timeout = '30min'; ALTER SYSTEM SET autovacuum = off (fsync=off, from tests/lib/pgcluster.sh)"

# ---------------------------------------------------------------- databases
say "pgbench -i -s $SCALE src"
rec createdb src
rec createdb tgt
rec pgbench -i -s "$SCALE" -q src >"$RAW/init_src.log" 2>&1 || { cat "$RAW/init_src.log" >&2; fail "pgbench -i"; }
note_cmd "pg_dump -s src | psql -d tgt"
pg_dump -s src | psql -X -q -v ON_ERROR_STOP=1 -d tgt >/dev/null
NROWS=$((SCALE * 100000))
[ "$(pgq src "SELECT count(*) FROM pgbench_accounts")" = "$NROWS" ] || fail "src does not hold $NROWS accounts"
[ "$(pgq tgt "SELECT count(*) FROM pgbench_accounts")" = 0 ] || fail "tgt is not empty"
pgq src "VACUUM (FREEZE, ANALYZE) pgbench_accounts" >/dev/null
HEAP_BYTES=$(pgq src "SELECT pg_relation_size('pgbench_accounts')")
TOTAL_BYTES=$(pgq src "SELECT pg_total_relation_size('pgbench_accounts')")
# The COPY sizes, from COPY TO alone (which also warms the page cache for
# the first timed run): its time and server CPU are the source's share of
# a copy.
src_side() {  # src_side FORMAT_OPTION - sets SRC_BYTES SRC_SECS SRC_CPU
    local s0 t0
    s0=$(server_cpu)
    t0=$(now)
    SRC_BYTES=$(psql -X -q -v ON_ERROR_STOP=1 -d src -c "COPY pgbench_accounts TO STDOUT$1" | wc -c)
    SRC_SECS=$(since "$t0")
    sleep 0.2
    SRC_CPU=$(calc "$(server_cpu) - $s0" 2)
}
src_side ""
TEXT_BYTES=$SRC_BYTES TEXT_SRC_SECS=$SRC_SECS TEXT_SRC_CPU=$SRC_CPU
src_side " (FORMAT binary)"
BIN_BYTES=$SRC_BYTES BIN_SRC_SECS=$SRC_SECS BIN_SRC_CPU=$SRC_CPU
say "pgbench_accounts: $NROWS rows, heap $HEAP_BYTES B, COPY text $TEXT_BYTES B, binary $BIN_BYTES B"

# digest DB - the contents of pgbench_accounts (equal digests: equal tables).
digest() {
    if [ "$NROWS" -le 5000000 ]; then
        table_digest "$1" pgbench_accounts
    else
        pgq "$1" "SELECT sum(n) || ':' || md5(string_agg(d, '' ORDER BY b)) FROM (
                    SELECT aid / 1000000 AS b, count(*) AS n, md5(string_agg(t::text, E'\n' ORDER BY t::text)) AS d
                      FROM pgbench_accounts t GROUP BY 1) s"
    fi
}
say "digest of src"
SRC_DIGEST=$(digest src)

# ---------------------------------------------------------------- bucardo
say "bucardo install, add databases, table, sync; start"
bench_install
bucardo_cmd add database src dbname=src
bucardo_cmd add database tgt dbname=tgt
bucardo_cmd add table pgbench_accounts db=src relgroup=bulk
SYNC_OPTS=(autokick=0)
[ "$COPY_STREAMS" != 0 ] && SYNC_OPTS+=("copy_streams=$COPY_STREAMS")
bucardo_cmd add sync bulk relgroup=bulk dbs=src,tgt "${SYNC_OPTS[@]}"
bucardo_cmd start
ENGINE_PID=$(engine_pid)
[ -n "$ENGINE_PID" ] && kill -0 "$ENGINE_PID" 2>/dev/null || fail "the engine is not running"
# The engine runs one (empty, unrecorded) cycle at start; a kick is
# answered once the worker is up.
bucardo_cmd kick bulk 120
ENGINE_RSS_IDLE=$(rss_kb "$ENGINE_PID")

# ---------------------------------------------------------------- pgcopydb
PGCOPYDB_SPLIT=()
PGCOPYDB_VERSION=''
PG_SRC="host=$PGHOST port=$PGPORT dbname=src user=postgres"
PG_TGT="host=$PGHOST port=$PGPORT dbname=tgt user=postgres"
if [ "$HAVE_PGCOPYDB" = 1 ]; then
    PGCOPYDB_VERSION=$(pgcopydb --version 2>&1 | grep -Eo 'pgcopydb version [^ ]+' | head -1 || true)
    pgcopydb copy table-data --help >"$RAW/pgcopydb_help.txt" 2>&1 || true
    printf '[include-only-table]\npublic.pgbench_accounts\n' >"$TEST_DIR/pgcopydb.filter"
    if grep -q -- '--split-tables-larger-than' "$RAW/pgcopydb_help.txt"; then
        # 2 parts: a threshold a little over half the table.
        PGCOPYDB_SPLIT=(--split-tables-larger-than "$(( (HEAP_BYTES / 2 + 1048576) / 1024 ))kB")
    fi
fi

# ---------------------------------------------------------------- methods
# Each method function copies the table once and sets RES_SECS (wall) and
# RES_CPU (client CPU seconds).  They run in the main shell (not in $(...))
# so that what they record survives.
declare -A LABEL=(
    [text]="1. psql COPY text pipe (reference)"
    [binary]="2. psql COPY binary pipe"
    [pgcopydb]="3. pgcopydb copy table-data --table-jobs 2"
    [ours]="4. bucardo onetimecopy (kick)"
)
[ ${#PGCOPYDB_SPLIT[@]} -gt 0 ] && LABEL[pgcopydb]+=" (split in 2)"
STREAMS_DESC=$([ "$COPY_STREAMS" = 0 ] && echo "copy_streams=0 (one per core: $(nproc))" || echo "copy_streams=$COPY_STREAMS")
LABEL[ours]+=", $STREAMS_DESC"
RES_SECS='' RES_CPU=''

# timed LOG CMD... - run CMD (output appended to LOG); RES_SECS, RES_CPU
# (user+sys of CMD and the children it waited for, from GNU time).
timed() {
    local log=$1 t0 tf=$RAW/time.out
    shift
    t0=$(now)
    /usr/bin/time -f '%U %S' -o "$tf" "$@" >>"$log" 2>&1 || { tail -30 "$log" >&2; fail "$*"; }
    RES_SECS=$(since "$t0")
    RES_CPU=$(awk 'END{printf "%.2f", $1 + $2}' "$tf")
}

m_text() {
    timed "$RAW/psql.log" bash -o pipefail -c '
        psql -X -q -v ON_ERROR_STOP=1 -d src -c "COPY pgbench_accounts TO STDOUT" |
        psql -X -q -v ON_ERROR_STOP=1 -d tgt -c "COPY pgbench_accounts FROM STDIN"'
}
m_binary() {
    timed "$RAW/psql.log" bash -o pipefail -c '
        psql -X -q -v ON_ERROR_STOP=1 -d src -c "COPY pgbench_accounts TO STDOUT (FORMAT binary)" |
        psql -X -q -v ON_ERROR_STOP=1 -d tgt -c "COPY pgbench_accounts FROM STDIN (FORMAT binary)"'
}
PGCOPYDB_RUN=0
m_pgcopydb() {
    PGCOPYDB_RUN=$((PGCOPYDB_RUN + 1))
    timed "$RAW/pgcopydb.log" pgcopydb copy table-data --source "$PG_SRC" --target "$PG_TGT" --table-jobs 2 \
        "${PGCOPYDB_SPLIT[@]}" --filters "$TEST_DIR/pgcopydb.filter" --dir "$TEST_DIR/pgcopydb.$PGCOPYDB_RUN"
}

prepare_target() {
    pgq tgt "TRUNCATE pgbench_accounts" >/dev/null
    pgq postgres "CHECKPOINT" >/dev/null
}

# ours: per-run details for the results.
OURS_KICK=() OURS_CYCLE=() OURS_COPY=() OURS_REQ=() OURS_WHEN=() OURS_STREAMS=() OURS_HWM=()
ANOMALIES=()
OURS_RUN=0
PERF_DONE=0
m_ours() {
    local c0 e0 t_req t_kick kick hwm row cycle copy req when streams started_kick secs attempt=1 perf_pid=''
    OURS_RUN=$((OURS_RUN + 1))
    kill -0 "$ENGINE_PID" 2>/dev/null || fail "the engine died"
    while :; do
        if [ "$PERF" = 1 ] && [ "$OURS_RUN" = "$RUNS" ] && [ "$PERF_DONE" = 0 ]; then
            # System-wide, as the work is in the cluster's backends; the
            # pids of this cluster's processes are sampled meanwhile.
            perf record -a -g -F 299 -o "$RAW/perf.data" >"$RAW/perf.log" 2>&1 &
            perf_pid=$!
            BG_PIDS+=("$perf_pid")
            : >"$RAW/perf.pids"
            : >"$RAW/perf.tids"
            while kill -0 "$perf_pid" 2>/dev/null; do
                pgrep -P "$POSTMASTER" >>"$RAW/perf.pids" || true
                ls "/proc/$ENGINE_PID/task" >>"$RAW/perf.tids" 2>/dev/null || true
                sleep 0.3
            done &
            BG_PIDS+=("$!")
            sleep 0.5
        fi
        reset_hwm "$ENGINE_PID"
        e0=$(proc_cpu "$ENGINE_PID")
        t_req=$(catq "SELECT clock_timestamp()")
        rec "$BUCARDO" update sync bulk onetimecopy=1 >>"$RAW/bucardo_commands.log" 2>&1 || fail "bucardo update sync"
        note_cmd "sleep 1"
        sleep 1
        t_kick=$(catq "SELECT clock_timestamp()")
        c0=$(now)
        rec "$BUCARDO" kick bulk 0 >"$RAW/kick_$OURS_RUN.$attempt.log" 2>&1 ||
            { cat "$RAW/kick_$OURS_RUN.$attempt.log" >&2; fail "bucardo kick bulk 0"; }
        kick=$(since "$c0")
        if [ -n "$perf_pid" ]; then
            kill -INT "$perf_pid" 2>/dev/null || true
            wait "$perf_pid" 2>/dev/null || true
            perf_pid=''
        fi
        hwm=$(hwm_kb "$ENGINE_PID")
        # The copy cycle: a Good run since the update that inserted rows.
        row=$(catq "SELECT round(extract(epoch FROM ended - started)::numeric, 3),
                           round(extract(epoch FROM ended - '$t_req'::timestamptz)::numeric, 3),
                           started >= '$t_kick'::timestamptz, inserts
                      FROM bucardo.syncrun WHERE sync = 'bulk' AND started >= '$t_req' AND state = 'Good' AND inserts > 0
                     ORDER BY id LIMIT 1")
        if [ -n "$row" ]; then
            [ "$PERF" = 1 ] && [ "$OURS_RUN" = "$RUNS" ] && PERF_DONE=1
            break
        fi
        ANOMALIES+=("run $OURS_RUN, attempt $attempt: \`bucardo update sync bulk onetimecopy=1\` + \`kick bulk 0\` copied nothing (kick returned after $kick s, tgt holds $(pgq tgt "SELECT count(*) FROM pgbench_accounts") rows; runs since the update: $(catq "SELECT string_agg(state || ' ' || inserts || ' ins, ' || round(extract(epoch FROM ended - started)::numeric, 3) || ' s', '; ' ORDER BY id) FROM bucardo.syncrun WHERE sync = 'bulk' AND started >= '$t_req'"))")
        say "ANOMALY: ${ANOMALIES[-1]}"
        [ "$attempt" -ge 2 ] && fail "onetimecopy=1 did not copy the table twice in a row"
        # Workaround: onetimecopy=0 changes the definition the engine last
        # saw (onetimecopy=1), so its worker restarts and then the next
        # onetimecopy=1 is a change again.
        attempt=$((attempt + 1))
        ANOMALIES[-1]+=" - retried after \`bucardo update sync bulk onetimecopy=0\`"
        note_cmd "# when onetimecopy=1 + kick copied nothing: workaround, then again update + sleep + kick"
        bucardo_cmd update sync bulk onetimecopy=0
        # The restarted worker runs an (unrecorded) cycle at once; a kick
        # is answered when it is up.
        sleep 1
        bucardo_cmd kick bulk 120
        prepare_target
    done
    IFS='|' read -r cycle req started_kick _ <<<"$row"
    copy=$(catq "SELECT round(extract(epoch FROM updated - started)::numeric, 3) || ' ' || streams
                   FROM bucardo.copy_progress WHERE sync = 'bulk' AND done")
    streams=${copy#* }
    copy=${copy% *}
    if [ "$started_kick" = t ]; then
        when="kick"
        secs=$kick
    else
        when="reload"
        secs=$req
    fi
    OURS_KICK+=("$kick") OURS_CYCLE+=("$cycle") OURS_COPY+=("$copy") OURS_REQ+=("$req")
    OURS_WHEN+=("$when") OURS_STREAMS+=("$streams") OURS_HWM+=("$hwm")
    RES_SECS=$secs
    RES_CPU=$(calc "$(proc_cpu "$ENGINE_PID") - $e0" 2)
}

# ---------------------------------------------------------------- runs
METHODS=(text binary)
[ "$HAVE_PGCOPYDB" = 1 ] && METHODS+=(pgcopydb)
METHODS+=(ours)
declare -A TIMES CCPU SCPU LOADS WAL PKEY
RUN_ORDERS=()
for ((r = 1; r <= RUNS; r++)); do
    n=${#METHODS[@]}
    order=()
    for ((i = 0; i < n; i++)); do order+=("${METHODS[$(( (i + r - 1) % n ))]}"); done
    RUN_ORDERS+=("run $r: ${order[*]}")
    for m in "${order[@]}"; do
        prepare_target
        [ "$r" = 1 ] && note_cmd "# $m (before every timed run: TRUNCATE pgbench_accounts on tgt; CHECKPOINT)"
        [ "$m" = text ] && note_cmd 'psql -d src -c "COPY pgbench_accounts TO STDOUT" | psql -d tgt -c "COPY pgbench_accounts FROM STDIN"'
        [ "$m" = binary ] && note_cmd 'psql -d src -c "COPY pgbench_accounts TO STDOUT (FORMAT binary)" | psql -d tgt -c "COPY pgbench_accounts FROM STDIN (FORMAT binary)"'
        [ "$m" = pgcopydb ] && note_cmd "pgcopydb copy table-data --source \"$PG_SRC\" --target \"$PG_TGT\" --table-jobs 2 ${PGCOPYDB_SPLIT[*]} --filters \$TEST_DIR/pgcopydb.filter --dir \$TEST_DIR/pgcopydb.N"
        say "run $r/$RUNS: $m (load $(load_now))"
        l0=$(load_now)
        lsn0=$(pgq postgres "SELECT pg_current_wal_lsn()")
        s0=$(server_cpu)
        "m_$m"
        sleep 0.2  # let the backends exit, so their CPU is reaped
        s1=$(server_cpu)
        WAL[$m]+="$(pgq postgres "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')") "
        PKEY[$m]+="$(pgq tgt "SELECT pg_relation_size('pgbench_accounts_pkey')") "
        TIMES[$m]+="$RES_SECS "
        CCPU[$m]+="$RES_CPU "
        SCPU[$m]+="$(calc "$s1 - $s0" 2) "
        LOADS[$m]+="$l0 "
        LOAD_SAMPLES+=("$l0")
        got=$(pgq tgt "SELECT count(*) FROM pgbench_accounts")
        [ "$got" = "$NROWS" ] || fail "$m, run $r: tgt holds $got rows, expected $NROWS"
        if [ "$m" = ours ]; then
            d=$(digest tgt)
            [ "$d" = "$SRC_DIGEST" ] || fail "ours, run $r: tgt differs from src: $d vs $SRC_DIGEST"
        fi
        say "    $RES_SECS s (client CPU $RES_CPU s, server CPU $(calc "$s1 - $s0" 2) s)"
    done
done
# The references are checked by row count after each run, and reference 1
# once in full here.
say "full check of reference 1"
prepare_target
m_text
[ "$(digest tgt)" = "$SRC_DIGEST" ] || fail "reference 1 does not reproduce src"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
PEAK_HWM_KB=$(printf '%s\n' "${OURS_HWM[@]}" | sort -n | tail -1)
LOG_ERRORS=$(grep -Eci 'error|warn' "$TEST_DIR/log.bucardo" || true)
cp "$TEST_DIR/log.bucardo" "$RAW/log.bucardo" 2>/dev/null || true

PERF_TXT=''
if [ "$PERF" = 1 ] && [ -s "$RAW/perf.data" ]; then
    sort -un "$RAW/perf.pids" >"$RAW/perf.pglist"
    perf report -i "$RAW/perf.data" --stdio --no-children -g none --sort pid,dso,sym 2>/dev/null |
        grep -E '^ +[0-9]' >"$RAW/perf.bypid" || true
    # perf_sel PIDFILE N - the top N dso/symbol of the processes listed in
    # PIDFILE, as shares of their own samples, and their share of all.
    perf_sel() {
        awk -v n="$2" 'NR == FNR {want[$1] = 1; next}
            {all += $1; split($2, pc, ":"); if (!(pc[1] in want)) next
             sel += $1; key = $3; for (i = 4; i <= NF; i++) key = key " " $i; v[key] += $1}
            END {if (sel == 0) {print "  (no samples)"; exit}
                 printf "  (%.1f%% of all samples of the machine)\n", sel * 100 / all
                 fflush()
                 cmd = "sort -rn | head -" n
                 for (k in v) printf "%7.2f%%  %s\n", v[k] * 100 / sel, k | cmd
                 close(cmd)}' "$1" "$RAW/perf.bypid"
    }
    sort -un "$RAW/perf.tids" >"$RAW/perf.enginelist"
    {
        echo "-- this cluster's postgres processes, by shared object and symbol --"
        perf_sel "$RAW/perf.pglist" 26
        echo "-- the engine (bucardo), by shared object and symbol --"
        perf_sel "$RAW/perf.enginelist" 16
    } >"$RAW/perf.txt"
    PERF_TXT=$(cat "$RAW/perf.txt")
fi

# ---------------------------------------------------------------- report
declare -A MED
for m in "${METHODS[@]}"; do
    # shellcheck disable=SC2086
    MED[$m]=$(calc "$(median ${TIMES[$m]})" 3)
done
mbps() { calc "$1 / 1000000 / $2" 1; }
ratio() { calc "$1 / $2" 2; }
verdict() {  # verdict VALUE OP LIMIT
    awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN{ok = (op == ">=") ? v >= l : v < l; print ok ? "PASS" : "MISS"}'
}
R_TEXT=$(ratio "${MED[text]}" "${MED[ours]}")
R_BIN=$(ratio "${MED[binary]}" "${MED[ours]}")
if [ "$HAVE_PGCOPYDB" = 1 ]; then
    R_PGC=$(ratio "${MED[pgcopydb]}" "${MED[ours]}")
    V_PGC=$(verdict "$R_PGC" '>=' 1.0)
else
    R_PGC=n/a V_PGC="SKIP ($PGCOPYDB_NOTE)"
fi
HWM_MIB=$(calc "$PEAK_HWM_KB / 1024" 1)
V_TEXT=$(verdict "$R_TEXT" '>=' 1.25)
V_RSS=$(verdict "$HWM_MIB" '<' 64)
RSS_NOTE=''
case "$SCALE" in 50|200) ;; *) RSS_NOTE=" (the target is stated for scale 50 and 200; this is scale $SCALE)" ;; esac
WHEN_ALL=$(printf '%s\n' "${OURS_WHEN[@]}" | sort | uniq -c | awk '{printf "%s%s x%d", (NR>1?", ":""), $2, $1}')

SUMMARY=$TEST_DIR/summary.md
{
    echo "pgbench_accounts: $NROWS rows (scale $SCALE); heap $(calc "$HEAP_BYTES / 1000000" 1) MB (with the primary key $(calc "$TOTAL_BYTES / 1000000" 1) MB); COPY text $(calc "$TEXT_BYTES / 1000000" 1) MB, binary $(calc "$BIN_BYTES / 1000000" 1) MB. Medians of $RUNS run(s)."
    echo
    echo "| Method | median s | runs (s) | MB/s heap | MB/s COPY text | rows/s | client CPU s | server CPU s | WAL MB | tgt pkey MB | ours faster by |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for m in "${METHODS[@]}"; do
        # shellcheck disable=SC2086
        cc=$(calc "$(median ${CCPU[$m]})" 2) sc=$(calc "$(median ${SCPU[$m]})" 2)
        case $m in
            ours) rr="-" ;;
            *) rr="$(ratio "${MED[$m]}" "${MED[ours]}")x" ;;
        esac
        # shellcheck disable=SC2086
        wm=$(calc "$(median ${WAL[$m]}) / 1000000" 1) pk=$(calc "$(median ${PKEY[$m]}) / 1000000" 1)
        echo "| ${LABEL[$m]} | ${MED[$m]} | ${TIMES[$m]% } | $(mbps "$HEAP_BYTES" "${MED[$m]}") | $(mbps "$TEXT_BYTES" "${MED[$m]}") | $(calc "$NROWS / ${MED[$m]}" 0) | $cc | $sc | $wm | $pk | $rr |"
    done
    [ "$HAVE_PGCOPYDB" = 1 ] || echo "| 3. pgcopydb | skipped | $PGCOPYDB_NOTE | | | | | | | | |"
    echo
    echo "| Target | Value | Limit | Verdict |"
    echo "|---|---|---|---|"
    echo "| ours vs reference 1 (time ref 1 / time ours) | ${R_TEXT}x | >= 1.25x | $V_TEXT |"
    echo "| ours vs pgcopydb (time pgcopydb / time ours) | ${R_PGC}$([ "$R_PGC" = n/a ] || echo x) | >= 1.0x | $V_PGC |"
    echo "| engine peak RSS (VmHWM) during a copy | $HWM_MIB MiB | < 64 MiB | $V_RSS$RSS_NOTE |"
    echo "| tgt equal to src after every run of ours (table_digest) | $OURS_RUN of $RUNS | all | PASS |"
    echo
    echo "(ours vs reference 2, binary: ${R_BIN}x.)"
    echo
    echo "WAL MB: WAL written by the cluster during the run; tgt pkey MB: size of the target's primary key"
    echo "after the run (the source's: $(calc "$(pgq src "SELECT pg_relation_size('pgbench_accounts_pkey')") / 1000000" 1) MB, built by CREATE INDEX)."
    echo
    echo "Source side alone (COPY TO STDOUT into \`wc -c\`, once, before the runs): text $TEXT_SRC_SECS s,"
    echo "server CPU $TEXT_SRC_CPU s; binary $BIN_SRC_SECS s, server CPU $BIN_SRC_CPU s.  The rest of each"
    echo "method's server CPU is the target's (COPY FROM, primary key, WAL) and, for ours, ANALYZE."
} >"$SUMMARY"

{
    echo "# Bulk copy (onetimecopy) benchmark"
    echo
    echo "Generated by \`bench/bulk_bench.sh${ARGS_GIVEN:+ $ARGS_GIVEN}\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "(scale $SCALE, $RUNS run(s) per method, $STREAMS_DESC; total $(since "$T_BEGIN") s)."
    echo "What each figure measures and why each reference is fair: the header of the script."
    echo
    echo "## Machine"
    echo
    echo '```'
    echo "nproc: $(nproc)"
    echo "CPU: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
    echo "memory: $(awk '/^MemTotal/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "PostgreSQL: $("$PG_BIN/postgres" --version)"
    echo "psql: $(psql --version)"
    [ "$HAVE_PGCOPYDB" = 1 ] && echo "pgcopydb: ${PGCOPYDB_VERSION#pgcopydb version }"
    echo "kernel: $(uname -r)"
    echo "bucardo: $("$BUCARDO" --version) ($GIT_REV; binary sha256 $(sha256sum "$BUCARDO" | cut -c1-12))"
    echo "load average (1/5/15 min) at start: $LOAD_BEGIN, at end: $LOAD_END"
    echo "1-min load average at the start of each timed run: ${LOAD_SAMPLES[*]}"
    echo "cluster: fsync=off, max_wal_size=8GB, checkpoint_timeout=30min, autovacuum=off, otherwise initdb defaults"
    echo "         (shared_buffers 128MB, wal_level replica); one server holds src, tgt and the catalog"
    echo '```'
    echo
    echo "The machine is shared: other engineers' tests ran at the same time (see the load"
    echo "averages), so compare medians of runs made together, not runs of different days."
    echo
    echo "## Results"
    echo
    cat "$SUMMARY"
    echo
    echo "## Per-run figures of ours"
    echo
    echo "\"copy started at\": \`kick\` when the copy cycle started after the kick (timed: the kick),"
    echo "\`reload\` when the engine's reload after \`update sync\` already ran it (timed: from just"
    echo "before the update until the copy cycle was recorded, catalog clock; the 1 s pause adds"
    echo "nothing to it: the copy runs during it).  \"kick s\" is then only the tail of the copy"
    echo "left after the pause, plus one empty cycle."
    echo
    echo "| run | copy started at | timed s | kick s | update -> recorded s | engine cycle s | table copy s (copy_progress) | streams | peak RSS MiB | engine CPU s |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    read -r -a ot <<<"${TIMES[ours]}"
    read -r -a oc <<<"${CCPU[ours]}"
    for i in "${!OURS_KICK[@]}"; do
        echo "| $((i + 1)) | ${OURS_WHEN[$i]} | ${ot[$i]} | ${OURS_KICK[$i]} | ${OURS_REQ[$i]} | ${OURS_CYCLE[$i]} | ${OURS_COPY[$i]} | ${OURS_STREAMS[$i]} | $(calc "${OURS_HWM[$i]} / 1024" 1) | ${oc[$i]} |"
    done
    echo
    echo "Engine RSS when idle after start: $(calc "$ENGINE_RSS_IDLE / 1024" 1) MiB.  Engine log: $LOG_ERRORS line(s) mentioning an error or a warning."
    echo
    echo "Order of the methods in each run (rotated):"
    echo
    for o in "${RUN_ORDERS[@]}"; do echo "- $o"; done
    echo
    echo "## Observations"
    echo
    echo "- Copy started at: $WHEN_ALL."
    if [ ${#ANOMALIES[@]} -gt 0 ]; then
        echo "- Misbehaviour seen:"
        for a in "${ANOMALIES[@]}"; do echo "  - $a"; done
    else
        echo "- No run needed a retry."
    fi
    [ "$HAVE_PGCOPYDB" = 1 ] || echo "- $PGCOPYDB_NOTE."
    [ "$HAVE_PGCOPYDB" = 1 ] && [ ${#PGCOPYDB_SPLIT[@]} -eq 0 ] &&
        echo "- This pgcopydb has no --split-tables-larger-than: one table is copied by one job whatever --table-jobs."
    [ "$HAVE_PGCOPYDB" = 1 ] &&
        echo "- pgcopydb's time includes the VACUUM ANALYZE it runs after the COPY (ours includes an ANALYZE)."
    if [ -n "$PERF_TXT" ]; then
        echo
        echo "perf record -a -g during the last copy of ours (self time; percentages of all samples"
        echo "of the selection, the machine being shared):"
        echo
        echo '```'
        echo "$PERF_TXT"
        echo '```'
    fi
    echo
    echo "## Command lines"
    echo
    echo '```'
    echo "bench/bulk_bench.sh${ARGS_GIVEN:+ $ARGS_GIVEN}"
    awk '!seen[$0]++' "$CMDS"
    echo '```'
} >"$OUT_FILE"

echo
echo "Bulk copy benchmark (scale $SCALE, $RUNS run(s), $STREAMS_DESC)"
echo
cat "$SUMMARY"
echo
echo "Written: $OUT_FILE"
say "done"
