# bench/lib/bench_setup.sh - sourced by bench/delta_bench.sh and
# bench/bulk_bench.sh: the setup both benchmarks share (the build, a private
# cluster cleaned up on exit, a private copy of the binary) and the small
# tools both use (command lines noted for the report, timing, arithmetic).
# It sources tests/lib/pgcluster.sh and tests/lib/assert.sh (fail,
# bucardo_install, table_digest, engine_pid...).
#
# The benchmark runs under set -Eeuo pipefail and sets, before it calls
# these: ROOT (the source tree), T_BEGIN ($EPOCHREALTIME at its start),
# BENCH_TAG (the prefix of its progress lines) and KEEP (1: --keep).
#
# say MSG...             a progress line on stderr: [TAG seconds] MSG
# bench_build [FILE...]  build with scripts/build.sh; BUCARDO = the binary,
#                        GIT_REV = "git HASH", with ", with uncommitted
#                        changes" when the tree differs from HEAD - changes to
#                        the FILEs (paths relative to ROOT: the benchmark's own
#                        outputs) do not count
# bench_cluster [--stop-timeout S] [--note-conn] [--cleanup-keeps-errexit]
#                        start a private cluster (pg_start_cluster), cd to
#                        TEST_DIR; BUCARDO becomes a private copy of the binary
#                        (a rebuild of the tree meanwhile must not mix two
#                        versions of the program in one run); CMDS = the file
#                        of noted command lines, RAW = the directory for raw
#                        outputs.  On exit, also on failure or Ctrl-C: kill
#                        BG_PIDS (background jobs the benchmark adds), `bucardo
#                        stop` (waiting at most S s, default 30), stop and
#                        remove the cluster (--keep: keep its directory).  A
#                        failing command prints a FAIL line with its line.
#                        --note-conn: rec and note_cmd also write the socket
#                        directory as $PGHOST and port=N as port=$PGPORT.
#                        --cleanup-keeps-errexit: the clean-up runs under
#                        set -e, as bulk_bench's always did; after a failed
#                        run it then ends at `(exit $rc)`, before the cluster
#                        is stopped.  Without it, the clean-up does set +e.
# bench_install          bucardo_install, noted
# quote_args ARG...      the arguments as one line, quoted where needed
# rec CMD...             run CMD, noting its command line (the binary's path
#                        written as bucardo, TEST_DIR as $TEST_DIR)
# note_cmd TEXT...       note a command line run some other way
# bucardo_cmd ARG...     a noted bucardo command, its output appended to
#                        RAW/bucardo_commands.log; fails the run if it fails
# catq SQL               one unaligned result from the catalog database
# now / since T0         the time / seconds since T0, 3 decimals
# calc EXPR [DECIMALS]   awk arithmetic, printed with DECIMALS (default 3)
# median N...            the median of the numbers ("nan" for none)
# reset_hwm PID          reset the peak RSS (VmHWM) of a process

. "$ROOT/tests/lib/pgcluster.sh"
. "$ROOT/tests/lib/assert.sh"

say() { printf '[%s %6.1fs] %s\n' "$BENCH_TAG" "$(awk -v a="$T_BEGIN" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')" "$*" >&2; }

bench_build() {
    local f spec=()
    [ $# -eq 0 ] || spec=(-- .)
    for f in "$@"; do spec+=(":(exclude)$f"); done
    say "building (scripts/build.sh)"
    BUILD_DIR=$("$ROOT/scripts/build.sh" | tail -1)
    BUCARDO=$ROOT/$BUILD_DIR/bucardo
    [ -x "$BUCARDO" ] || { echo "no binary at $BUCARDO" >&2; exit 1; }
    GIT_REV="git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
        git -C "$ROOT" diff --quiet HEAD "${spec[@]}" 2>/dev/null || echo ', with uncommitted changes')"
}

bench_cluster() {
    BENCH_STOP_TIMEOUT=30 BENCH_NOTE_CONN=0 BENCH_CLEANUP_ERREXIT=0
    while [ $# -gt 0 ]; do
        case $1 in
            --stop-timeout) BENCH_STOP_TIMEOUT=$2; shift ;;
            --note-conn) BENCH_NOTE_CONN=1 ;;
            --cleanup-keeps-errexit) BENCH_CLEANUP_ERREXIT=1 ;;
            *) echo "bench_cluster: unknown option '$1'" >&2; exit 2 ;;
        esac
        shift
    done
    [ "$KEEP" = 1 ] && export KEEP_TEST_DIR=1
    BG_PIDS=()
    trap 'bench_on_err $? $LINENO "$BASH_COMMAND"' ERR
    pg_start_cluster || fail "cannot start a cluster"
    trap bench_cleanup EXIT
    cd "$TEST_DIR"
    cp "$BUCARDO" "$TEST_DIR/bucardo"
    BUCARDO=$TEST_DIR/bucardo
    CMDS=$TEST_DIR/commands.txt
    RAW=$TEST_DIR/raw
    mkdir -p "$RAW"
    : >"$CMDS"
    say "cluster at $PGHOST port $PGPORT (TEST_DIR $TEST_DIR)"
}

bench_cleanup() {
    local rc=$?
    local p
    trap - ERR
    [ "$BENCH_CLEANUP_ERREXIT" = 1 ] || set +e   # clean up everything, whatever fails here
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "${TEST_DIR:-}" ] && [ -f "$TEST_DIR/piddir/bucardo.mcp.pid" ]; then
        (cd "$TEST_DIR" && timeout "$BENCH_STOP_TIMEOUT" "$BUCARDO" stop >/dev/null 2>&1) || true
    fi
    [ "$KEEP" = 1 ] && [ -n "${TEST_DIR:-}" ] && echo "kept $TEST_DIR" >&2
    # pg_stop_cluster reads the exit status from $?
    (exit $rc)
    pg_stop_cluster
}
bench_on_err() { echo "FAIL: command failed (exit $1) at line $2: $3" >&2; }

bench_install() {
    bucardo_install
    note_cmd "bucardo install --batch --piddir=\$TEST_DIR/piddir"
}

quote_args() {
    local a out=""
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./=,:+-]+$ ]]; then out+=" $a"; else out+=" \"${a//\"/\\\"}\""; fi
    done
    printf '%s\n' "${out# }"
}
# bench_scrub - stdin to stdout, with the run's private paths as names.
bench_scrub() {
    if [ "$BENCH_NOTE_CONN" = 1 ]; then
        sed "s|$BUCARDO|bucardo|g; s|$TEST_DIR|\$TEST_DIR|g; s|$PGHOST|\$PGHOST|g; s|port=$PGPORT|port=\$PGPORT|g"
    else
        sed "s|$BUCARDO|bucardo|g; s|$TEST_DIR|\$TEST_DIR|g"
    fi
}
rec() {
    quote_args "$@" | bench_scrub >>"$CMDS"
    "$@"
}
note_cmd() { printf '%s\n' "$*" | bench_scrub >>"$CMDS"; }
bucardo_cmd() {
    rec "$BUCARDO" "$@" >>"$RAW/bucardo_commands.log" 2>&1 ||
        { tail -20 "$RAW/bucardo_commands.log" >&2; fail "bucardo $*"; }
}
catq() { psql -X -q -At -v ON_ERROR_STOP=1 -d bucardo -c "$1"; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}'; }
calc() { awk "BEGIN{printf \"%.${2:-3}f\", $1}"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if(NR==0){print "nan"; exit}
                                                  if(NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
reset_hwm() { echo 5 >"/proc/$1/clear_refs"; }
