#!/usr/bin/env bash
# bench/capture_overhead.sh - how much the change capture of sql/capture.sql
# costs a source database.
#
# What it measures
#   The TPC-B throughput (pgbench's built-in script) of two identical
#   pgbench databases:
#     cap_none  no capture
#     cap_on    capture installed on pgbench_accounts (aid int4),
#               pgbench_branches (bid int4) and pgbench_tellers (tid int4)
#   cap_on is a template copy of cap_none. Capture comes from
#   sql/capture.sql: sections "common" and "table", with section "kick" in
#   place of @KICK@ with --kick (nothing without). The script fills in the
#   placeholders with sed and awk, in the same form engine/catalog/capture.c uses.
#   Figures measured with it, and why this capture design was chosen, are
#   in the header of sql/capture.sql.
#
#   Runs alternate, and the order rotates every round:
#     none, capture, capture, none, none, capture, ... (with --bucardo56:
#     none, capture, b56, then capture, b56, none, ...)
#   Before every run, both databases get the same preparation:
#     - VACUUM of the pgbench tables
#     - TRUNCATE pgbench_history
#     - TRUNCATE of the delta tables, standing in for the engine's purge
#     - CHECKPOINT
#   The script prints the TPS of each run, the median of each side, the
#   ratio of the medians (capture / none) and the median of the per-round
#   ratios.
#
#   --concurrent runs both databases at the same time, instead of one after
#   the other. It is robust against a noisy machine, because both sides see
#   the same load.
#
#   --bucardo56 adds a third database, cap_b56, with the capture that
#   Bucardo 5.6 itself installs: /usr/bin/bucardo (Debian package bucardo,
#   or $BUCARDO56) installs its control database into the same throwaway
#   cluster (it needs PL/Perl there: package postgresql-plperl-15) and runs
#   `add sync` over the three tables, autokick on as by default.  Its
#   daemon never starts.  This measures Bucardo's row triggers, their
#   delta table indexes and its NOTIFY per statement in the same run, on
#   the same data, as the reference the figures are compared with.
#
#   --bulk also times UPDATE pgbench_accounts SET abalance = abalance + 1
#   (every row) in each database, alternated. It prints wall-clock time and
#   backend CPU time. The backend CPU time is read from
#   /proc/self/schedstat with pg_read_file, so it needs Linux.
#
# Everything happens in a throwaway cluster:
#   - initdb into a mktemp directory
#   - unix socket only, on a free port
#   - a trap stops the cluster and removes the directory, even on failure
# As root, the server runs as the "postgres" OS user, because PostgreSQL
# refuses to run as root.
#
# Tools used: bash, initdb/pg_ctl (PG_BIN, or pg_config --bindir, or the
# newest /usr/lib/postgresql/*/bin), pgbench, psql, sed, awk, sort.
#
# Usage:
#   bench/capture_overhead.sh [--scale N] [--seconds N] [--runs N]
#       [--clients N] [--jobs N] [--kick] [--concurrent] [--bucardo56]
#       [--bulk] [--quick]
#
#   --scale N    pgbench scale factor (default 10)
#   --seconds N  length of each run (default 30)
#   --runs N     runs per side (default 3)
#   --clients N  pgbench -c (default 4)
#   --jobs N     pgbench -j (default 2)
#   --kick       capture with the autokick wake-up ("kick" section)
#   --concurrent run both sides at the same time instead of alternating
#   --bucardo56  also measure Bucardo 5.6's own capture (see above)
#   --bulk       also time the full-table UPDATE of pgbench_accounts
#   --quick      scale 1, 5 s, 1 run (a smoke test)

set -euo pipefail

scale=10 seconds=30 runs=3 clients=4 jobs=2 kick=0 concurrent=0 bulk=0 b56=0
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --kick) kick=1; shift ;;
        --concurrent) concurrent=1; shift ;;
        --bulk) bulk=1; shift ;;
        --bucardo56) b56=1; shift ;;
        --quick) scale=1 seconds=5 runs=1; shift ;;
        -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
done
for v in "$scale" "$seconds" "$runs" "$clients" "$jobs"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "not a positive integer: $v" >&2; exit 2; }
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
template="$here/../sql/capture.sql"
[ -r "$template" ] || { echo "cannot read $template" >&2; exit 1; }

# --- PostgreSQL binaries ----------------------------------------------------
if [ -z "${PG_BIN:-}" ]; then
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        PG_BIN=$(pg_config --bindir)
    else
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    fi
fi
[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] || { echo "initdb/pg_ctl not found (set PG_BIN)" >&2; exit 1; }
PGBENCH=$(command -v pgbench || echo "$PG_BIN/pgbench")
PSQL=$(command -v psql || echo "$PG_BIN/psql")
if [ "$b56" = 1 ]; then
    B56=${BUCARDO56:-/usr/bin/bucardo}
    "$B56" --version 2>/dev/null | grep -q 'version 5\.6' ||
        { echo "--bucardo56: $B56 is not Bucardo 5.6 (apt-get install bucardo postgresql-plperl-15)" >&2; exit 1; }
    [ -e "$("$PG_BIN/pg_config" --pkglibdir 2>/dev/null || pg_config --pkglibdir)/plperl.so" ] ||
        { echo "--bucardo56: PL/Perl is not installed (apt-get install postgresql-plperl-15)" >&2; exit 1; }
fi

# --- throwaway cluster --------------------------------------------------------
dir=$(mktemp -d /tmp/capture_overhead.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$1"; else bash -c "$1"; fi; }
started=0
cleanup() {
    local rc=$?
    if [ "$started" = 1 ]; then
        as_pg "'$PG_BIN/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$1" ]; }
port=$((20000 + RANDOM % 30000))
while ! port_free "$port"; do port=$((20000 + RANDOM % 30000)); done

as_pg "'$PG_BIN/initdb' -D '$dir/data' -A trust -U postgres" >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
opts="-k $dir -p $port -c listen_addresses= -c shared_buffers=256MB -c max_wal_size=4GB"
as_pg "'$PG_BIN/pg_ctl' -D '$dir/data' -w -o '$opts' -l '$dir/server.log' start" >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
started=1
export PGHOST=$dir PGPORT=$port PGUSER=postgres
q() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }

# --- databases ----------------------------------------------------------------
echo "cluster: $dir (port $port), PostgreSQL $(q -At -d postgres -c 'SHOW server_version')"
echo "pgbench -i -s $scale ..."
q -d postgres -c 'CREATE DATABASE cap_none'
"$PGBENCH" -i -s "$scale" -q cap_none >"$dir/init.log" 2>&1 || { cat "$dir/init.log" >&2; exit 1; }
q -d postgres -c 'CREATE DATABASE cap_on TEMPLATE cap_none'

# section NAME - the text of "-- @@SECTION NAME@@" up to the next section line
section() {
    awk -v m="-- @@SECTION $1@@" '$0 == m {on = 1; next} /^-- @@SECTION / {on = 0} on' "$template"
}
# render NAME TABLE KEY - a section with the placeholders of public.TABLE(KEY int4)
render() {
    local t=$2 k=$3
    section "$1" | sed \
        -e "s|@SCHEMA@|\"public\"|g" \
        -e "s|@TABLE@|\"$t\"|g" \
        -e "s|@DELTA@|\"delta_$t\"|g" \
        -e "s|@FUNC@|\"capture_$t\"|g" \
        -e "s|@FUNCROW@|\"capture_row_$t\"|g" \
        -e "s|@KEYDEFS@|\"$k\" int4|g" \
        -e "s|@KEYCOLS@|\"$k\"|g" \
        -e "s|@NEWKEYS@|n.\"$k\"|g" \
        -e "s|@NEWROWKEYS@|NEW.\"$k\"|g" \
        -e "s|@OLDROWKEYS@|OLD.\"$k\"|g" \
        -e "s|@RELID@|'public.$t'::regclass::oid|g" \
        -e "s|@TRUNCARG@|$([ "$kick" = 1 ] && echo "'kick'")|g" |
        awk -v kick="$kick" -v kickfile="$dir/kick.sql" \
            '$0 == "@KICK@" { if (kick == 1) while ((getline l < kickfile) > 0) print l; close(kickfile); next } { print }'
}
section kick >"$dir/kick.sql"
tables="pgbench_accounts:aid pgbench_branches:bid pgbench_tellers:tid"
{
    echo "SET client_min_messages = warning;"
    echo "BEGIN;"
    section common
    for tk in $tables; do
        render table "${tk%%:*}" "${tk##*:}"
    done
    echo "COMMIT;"
} >"$dir/install.sql"
if grep -n '@[A-Z_]*@' "$dir/install.sql" >&2; then
    echo "unsubstituted placeholder(s) above" >&2; exit 1
fi
q -d cap_on -f "$dir/install.sql"
echo "capture installed in cap_on$([ "$kick" = 1 ] && echo ' (with the autokick wake-up)'):"
q -At -d cap_on -c "SELECT '  ' || tgrelid::regclass || ': ' || string_agg(tgname, ', ' ORDER BY tgname)
                      FROM pg_trigger WHERE tgname LIKE 'bucardo%' GROUP BY tgrelid ORDER BY 1"

if [ "$b56" = 1 ]; then
    # Bucardo 5.6's control database in this cluster, and its capture on
    # cap_b56 (cap_b56_target only completes the sync; nothing writes it).
    q -d postgres -c 'CREATE DATABASE cap_b56 TEMPLATE cap_none' -c 'CREATE DATABASE cap_b56_target TEMPLATE cap_none'
    mkdir "$dir/b56run" && chmod 777 "$dir/b56run"
    b56() { "$B56" --dbhost "$dir" --dbport "$port" --dbuser bucardo --dbname bucardo "$@" >>"$dir/b56.log" 2>&1; }
    "$B56" install --batch --dbhost "$dir" --dbport "$port" --dbuser postgres --dbname postgres \
        --piddir "$dir/b56run" >"$dir/b56.log" 2>&1 &&
        b56 add db b56_src dbname=cap_b56 host="$dir" port="$port" user=postgres &&
        b56 add db b56_tgt dbname=cap_b56_target host="$dir" port="$port" user=postgres &&
        b56 add sync b56 dbs=b56_src:source,b56_tgt:target tables=pgbench_accounts,pgbench_branches,pgbench_tellers ||
        { cat "$dir/b56.log" >&2; echo "--bucardo56: installing Bucardo 5.6 failed" >&2; exit 1; }
    echo "Bucardo $("$B56" --version | awk '{print $3}') capture installed in cap_b56:"
    q -At -d cap_b56 -c "SELECT '  ' || tgrelid::regclass || ': ' || string_agg(tgname, ', ' ORDER BY tgname)
                          FROM pg_trigger WHERE tgname LIKE 'bucardo%' GROUP BY tgrelid ORDER BY 1"
fi

prepare() {  # prepare DB - the same housekeeping before every run
    q -d "$1" -c 'VACUUM pgbench_accounts' -c 'VACUUM pgbench_branches' -c 'VACUUM pgbench_tellers' \
        -c 'TRUNCATE pgbench_history'
    if [ "$1" = cap_on ]; then
        q -d cap_on -c 'TRUNCATE bucardo.delta_pgbench_accounts, bucardo.delta_pgbench_branches, bucardo.delta_pgbench_tellers'
    elif [ "$1" = cap_b56 ]; then
        q -d cap_b56 -c 'TRUNCATE bucardo.delta_public_pgbench_accounts, bucardo.delta_public_pgbench_branches,
                                  bucardo.delta_public_pgbench_tellers'
    fi
}
tps_of() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$1"; }
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# --- TPC-B runs ---------------------------------------------------------------
mode=alternated; [ "$concurrent" = 1 ] && mode=concurrent
dbs=(cap_none cap_on); [ "$b56" = 1 ] && dbs+=(cap_b56)
echo "TPC-B: pgbench -n -c $clients -j $jobs -T $seconds, $runs run(s) per database, $mode"
header="round first none_tps capture_tps"; [ "$b56" = 1 ] && header+=" bucardo56_tps"
header+=" ratio"; [ "$b56" = 1 ] && header+=" b56_ratio"
echo "$header" | awk '{printf "%-6s %-9s", $1, $2; for (i = 3; i <= NF; i++) printf " %13s", $i; print ""}'
for db in "${dbs[@]}"; do : >"$dir/$db.tps"; : >"$dir/$db.ratio"; done
for r in $(seq 1 "$runs"); do
    # rotate the order every round: none first, then capture first, ...
    order=()
    for i in "${!dbs[@]}"; do order+=("${dbs[$(((i + r - 1) % ${#dbs[@]}))]}"); done
    for db in "${order[@]}"; do prepare "$db"; done
    q -d postgres -c CHECKPOINT
    if [ "$concurrent" = 1 ]; then
        for db in "${order[@]}"; do "$PGBENCH" -n -c "$clients" -j "$jobs" -T "$seconds" "$db" >"$dir/$db.out" 2>&1 & done
        wait
    else
        for db in "${order[@]}"; do
            "$PGBENCH" -n -c "$clients" -j "$jobs" -T "$seconds" "$db" >"$dir/$db.out" 2>&1
        done
    fi
    line="$r ${order[0]#cap_}"
    tn=$(tps_of "$dir/cap_none.out")
    for db in "${dbs[@]}"; do
        t=$(tps_of "$dir/$db.out")
        [ -n "$t" ] || { cat "$dir/$db.out" >&2; exit 1; }
        echo "$t" >>"$dir/$db.tps"
        awk -v a="$t" -v b="$tn" 'BEGIN {printf "%.3f\n", a / b}' >>"$dir/$db.ratio"
        line+=" $t"
    done
    for db in "${dbs[@]:1}"; do line+=" $(tail -1 "$dir/$db.ratio")"; done
    echo "$line" | awk '{printf "%-6s %-9s", $1, $2; for (i = 3; i <= NF; i++) printf " %13s", $i; print ""}'
done
captured=$(q -At -d cap_on -c 'SELECT count(*) FROM bucardo.delta_pgbench_accounts')
[ "$captured" -gt 0 ] || { echo "capture recorded nothing: the template is broken" >&2; exit 1; }
mn=$(median <"$dir/cap_none.tps")
echo "median TPS: none $mn, capture $(median <"$dir/cap_on.tps")$([ "$b56" = 1 ] && echo ", Bucardo 5.6 $(median <"$dir/cap_b56.tps")")"
for db in "${dbs[@]:1}"; do
    label=capture; [ "$db" = cap_b56 ] && label="Bucardo 5.6"
    echo "$label/none: ratio of medians $(awk -v a="$(median <"$dir/$db.tps")" -v b="$mn" 'BEGIN {printf "%.3f", a / b}'),"\
         "median of per-round ratios $(median <"$dir/$db.ratio")"
done
echo "(last capture run recorded $captured pgbench_accounts keys)"

# --- bulk UPDATE --------------------------------------------------------------
if [ "$bulk" = 1 ]; then
    echo "bulk: UPDATE pgbench_accounts SET abalance = abalance + 1 ($((scale * 100000)) rows)"
    printf '%-6s %-9s %12s %12s\n' round db wall_ms cpu_ms
    for r in $(seq 1 "$runs"); do
        if [ $((r % 2)) = 1 ]; then order="cap_none cap_on"; else order="cap_on cap_none"; fi
        for db in $order; do
            prepare "$db"; q -d postgres -c CHECKPOINT
            res=$(q -At -d "$db" <<'SQL'
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS c0, clock_timestamp() AS t0 \gset
UPDATE pgbench_accounts SET abalance = abalance + 1;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000) || ' '
    || round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - :c0) / 1e6);
SQL
)
            printf '%-6s %-9s %12s %12s\n' "$r" "$db" ${res}
        done
    done
fi
