#!/usr/bin/env bash
# bench/compare_bench.sh - how fast `bucardo compare` checks a table, against
# hashing the whole table's dump on each side.
#
# One run builds the project (if needed), starts a private PostgreSQL 15
# cluster (tests/lib/pgcluster.sh), makes a table of N rows (default
# 1,000,000; --quick 100,000) on database src, clones src into tgt (so both
# hold the same rows), VACUUMs both, installs bucardo with a sync src -> tgt
# (engine not started), and times, RUNS times each, alternating:
#
#  - compare: `bucardo compare bench` (must exit 0: the tables are equal);
#  - reference: `pg_dump --data-only -t TABLE src | sha256sum` and the same
#    on tgt (data only: the source also has the capture triggers), the
#    two pipelines running at the same time (compare also works on both
#    servers at once), then the two sums compared.  This is the simple
#    whole-table way to check two copies: every row leaves the server.
#    The serial sum of the two pipelines is shown too.
#
# and then, after changing one byte of one row on tgt (with
# session_replication_role = replica), compare once more, which must name
# that key and exit 1.  Figures are medians; rows/s counts the table's rows
# (one side).  Both databases share one cluster on this machine and are
# reached over unix sockets, which is the reference's best case: moving the
# table costs it almost nothing here, while over a network it moves the
# dump's bytes (printed) per side; compare moves one result row per bucket
# (a few thousand per million rows) plus the rows of buckets that differ.
# On each server both do about the same work: print every column of every
# row as text (compare hashes it there, the reference ships it).
# Usage: bench/compare_bench.sh [--quick] [--rows N] [--runs N] [--keep]
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=1000000 RUNS=3 KEEP=0
usage() {
    sed -n '/^# Usage:/,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) ROWS=100000 ;;
        --rows) ROWS=$2; shift ;;
        --rows=*) ROWS=${1#*=} ;;
        --runs) RUNS=$2; shift ;;
        --runs=*) RUNS=${1#*=} ;;
        --keep) KEEP=1 ;;
        -h|--help) usage ;;
        *) echo "unknown option: $1" >&2; usage ;;
    esac
    shift
done
for v in ROWS RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive whole number, got '${!v}'" >&2; exit 2; }
done
T_BEGIN=$EPOCHREALTIME
say() { printf '[compare bench %6.1fs] %s\n' "$(awk -v a="$T_BEGIN" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')" "$*" >&2; }

say "building (scripts/build.sh)"
BUILD_DIR=$("$ROOT/scripts/build.sh" | tail -1)
BUCARDO=$ROOT/$BUILD_DIR/bucardo
[ -x "$BUCARDO" ] || { echo "no binary at $BUCARDO" >&2; exit 1; }

. "$ROOT/tests/lib/pgcluster.sh"
. "$ROOT/tests/lib/assert.sh"
[ "$KEEP" = 1 ] && export KEEP_TEST_DIR=1
on_err() { echo "FAIL: command failed (exit $1) at line $2: $3" >&2; }
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
pg_start_cluster || fail "cannot start a cluster"
cd "$TEST_DIR"
say "cluster at $PGHOST port $PGPORT"

TABLE=bench_compare
say "creating $TABLE with $ROWS rows on src, cloning it to tgt"
createdb src
psql -X -q -v ON_ERROR_STOP=1 -d src <<SQL
CREATE TABLE $TABLE (id int PRIMARY KEY, payload text, amount numeric, created timestamptz, flag boolean);
INSERT INTO $TABLE
SELECT i, md5(i::text) || ' ' || repeat(chr(97 + i % 26), i % 40), i * 1.25,
       '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second', i % 3 = 0
  FROM generate_series(1, $ROWS) i;
VACUUM ANALYZE $TABLE;
SQL
createdb -T src tgt
psql -X -q -d tgt -c "VACUUM ANALYZE $TABLE"
SIZE=$(psql -X -At -d src -c "SELECT pg_size_pretty(pg_table_size('$TABLE'))")

bucardo_install
"$BUCARDO" add database src dbname=src >/dev/null
"$BUCARDO" add database tgt dbname=tgt >/dev/null
"$BUCARDO" add table "$TABLE" db=src relgroup=bench >/dev/null
"$BUCARDO" add sync bench relgroup=bench dbs=src,tgt autokick=0 >/dev/null

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if(NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
rate() { awk -v n="$ROWS" -v s="$1" 'BEGIN{printf "%.0f", n / s}'; }

# pg_dump puts a random \restrict key into every dump unless given one.
DUMP_OPTS=()
[[ $(pg_dump --help) == *--restrict-key* ]] && DUMP_OPTS=(--restrict-key=bench)

# reference - both dumps hashed at once; prints "wall serial" seconds.
reference() {
    local t0 ta tb
    t0=$(now)
    ( s=$(now); pg_dump "${DUMP_OPTS[@]}" --data-only -d src -t "$TABLE" | sha256sum | cut -d' ' -f1 >"$TEST_DIR/sum_src"; since "$s" >"$TEST_DIR/t_src" ) &
    local p1=$!
    ( s=$(now); pg_dump "${DUMP_OPTS[@]}" --data-only -d tgt -t "$TABLE" | sha256sum | cut -d' ' -f1 >"$TEST_DIR/sum_tgt"; since "$s" >"$TEST_DIR/t_tgt" ) &
    local p2=$!
    wait $p1 && wait $p2 || fail "pg_dump | sha256sum failed"
    local wall
    wall=$(since "$t0")
    [ "$(cat "$TEST_DIR/sum_src")" = "$(cat "$TEST_DIR/sum_tgt")" ] || fail "the reference says the tables differ"
    ta=$(cat "$TEST_DIR/t_src") tb=$(cat "$TEST_DIR/t_tgt")
    echo "$wall $(awk -v a="$ta" -v b="$tb" 'BEGIN{printf "%.3f", a + b}')"
}

# One warm-up of each, so both start from the same cache state.
say "warm-up"
"$BUCARDO" compare bench >/dev/null || fail "compare of equal tables did not exit 0"
reference >/dev/null

CMP=() REF=() SER=()
for r in $(seq 1 "$RUNS"); do
    t0=$(now)
    rc=0
    "$BUCARDO" compare bench >"$TEST_DIR/compare.out" || rc=$?
    CMP+=("$(since "$t0")")
    [ "$rc" = 0 ] || fail "compare of equal tables exited $rc: $(cat "$TEST_DIR/compare.out")"
    read -r wall serial < <(reference)
    REF+=("$wall")
    SER+=("$serial")
    say "run $r: compare ${CMP[-1]} s; reference ${REF[-1]} s (serial $serial s)"
done
LINE=$(head -1 "$TEST_DIR/compare.out")
DUMP_BYTES=$(pg_dump "${DUMP_OPTS[@]}" --data-only -d src -t "$TABLE" | wc -c)
COMPARE_STATEMENTS=$("$BUCARDO" compare bench --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["tables"][0]["queries"])')

psql -X -q -d tgt -c 'SET session_replication_role = replica' \
    -c "UPDATE $TABLE SET payload = overlay(payload PLACING 'X' FROM 3 FOR 1) WHERE id = $((ROWS / 2 + 7))"
t0=$(now)
rc=0
"$BUCARDO" compare bench >"$TEST_DIR/diff.out" || rc=$?
DIFF_S=$(since "$t0")
[ "$rc" = 1 ] || fail "compare after a change exited $rc: $(cat "$TEST_DIR/diff.out")"
grep -qx "  different on tgt: id=$((ROWS / 2 + 7))" "$TEST_DIR/diff.out" || fail "the changed key is not named: $(cat "$TEST_DIR/diff.out")"

C=$(median "${CMP[@]}") R=$(median "${REF[@]}") S=$(median "${SER[@]}")
echo
echo "bucardo compare vs pg_dump | sha256sum ($ROWS rows, table $SIZE, $RUNS run(s), medians; $(nproc) CPUs)"
echo
printf '%-44s %10s %14s\n' "" "seconds" "rows/s"
printf '%-44s %10s %14s\n' "bucardo compare (equal tables)" "$C" "$(rate "$C")"
printf '%-44s %10s %14s\n' "bucardo compare (one byte differs)" "$DIFF_S" "$(rate "$DIFF_S")"
printf '%-44s %10s %14s\n' "pg_dump | sha256sum, both sides at once" "$R" "$(rate "$R")"
printf '%-44s %10s %14s\n' "pg_dump | sha256sum, one side after the other" "$S" "$(rate "$S")"
echo
echo "ratio compare / reference (at once): $(awk -v a="$C" -v b="$R" 'BEGIN{printf "%.2f", a / b}')" \
     "(one after the other: $(awk -v a="$C" -v b="$S" 'BEGIN{printf "%.2f", a / b}'); below 1: compare is faster)"
echo "compare runs: ${CMP[*]}; reference runs: ${REF[*]}"
echo "moved per side: reference $DUMP_BYTES bytes (the dump); compare $COMPARE_STATEMENTS statement(s), one result row per bucket"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "compare said: $LINE"
echo "after the change: $(head -2 "$TEST_DIR/diff.out" | tr '\n' ' ')"
say "done"
