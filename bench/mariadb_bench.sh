#!/usr/bin/env bash
# bench/mariadb_bench.sh - catch-up of a delta backlog into a MariaDB
# target, against the floor: LOAD DATA of the same rows by the mariadb
# client.
#
#  1. `pgbench -i -s SCALE` on the source; the three keyed pgbench tables
#     in a MariaDB server started here (InnoDB, the same columns); a sync
#     src -> MariaDB, autokick off, filled by onetimecopy=1.
#  2. Backlog: the engine idle, UPDATE of the first ROWS accounts (one
#     statement: ROWS changed keys in the delta table).
#  3. Catch-up: `bucardo kick s 0` (wait) - the cycle deletes the ROWS
#     keys and loads the ROWS current rows (LOAD DATA LOCAL INFILE from
#     memory), in units of batch_keys.  Timed from the kick to DONE.
#  4. Reference: the same ROWS rows exported by psql beforehand (not
#     timed), then `mariadb -e "LOAD DATA LOCAL INFILE ... REPLACE"` into
#     the same table (a delete plus an insert per row, as the engine does),
#     timed.  The goal: the catch-up within 2x of it.
#  5. Check: the MariaDB table equals the source (count and sum of
#     abalance, and a digest of every row).
#  6. --bucardo56: Bucardo 5.6 (Debian's /usr/bin/bucardo, with DBD::mysql:
#     libdbd-mysql-perl) on the same backlog: its control database and a
#     copy of the source in a second cluster (both programs call their
#     database "bucardo"), feeding database db56 of the same MariaDB server
#     (filled from db first); the same UPDATE, then `bucardo kick b56 0`,
#     timed, and the same check.
#
# Usage: bench/mariadb_bench.sh [--scale N] [--rows N] [--bucardo56] [--keep]
# Output: a summary on stdout and bench/MARIADB_RESULTS.md (with the
# command lines).
set -Eeuo pipefail
{
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=10 ROWS=500000 KEEP=0 B56=0
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) SCALE=$2; shift ;;
        --rows) ROWS=$2; shift ;;
        --keep) KEEP=1 ;;
        --bucardo56) B56=1 ;;
        *) sed -n '/^# Usage:/p' "$0" >&2; exit 2 ;;
    esac
    shift
done
T_BEGIN=$EPOCHREALTIME BENCH_TAG=mariadb
. "$ROOT/bench/lib/bench_setup.sh"
. "$ROOT/tests/lib/servers.sh"
bench_build bench/MARIADB_RESULTS.md
bench_cluster
bench_install
servers_trap() { :; }   # bench_cleanup stops what BG_PIDS holds
mariadb_start my
BG_PIDS+=("$(cat "$TEST_DIR/my.server.pid")")
MY="mariadb --no-defaults -S $MARIADB_SOCK -u root db"

say "pgbench -i -s $SCALE src"
rec createdb src
rec pgbench -i -s "$SCALE" -q src >"$RAW/pgbench_init.log" 2>&1
NACC=$(psql -X -At -d src -c "select count(*) from pgbench_accounts")
[ "$ROWS" -le "$NACC" ] || ROWS=$NACC
note_cmd "$MY -e 'CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler varchar(84)); CREATE TABLE pgbench_branches (...); CREATE TABLE pgbench_tellers (...)'"
mariadb_sql my "CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler varchar(84)) ENGINE=InnoDB;
                CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler varchar(88)) ENGINE=InnoDB;
                CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler varchar(84)) ENGINE=InnoDB"
bucardo_cmd add db src dbname=src
bucardo_cmd add db my type=mariadb dbname=db host="$MARIADB_SOCK" user=root
bucardo_cmd add table pgbench_accounts pgbench_branches pgbench_tellers db=src relgroup=rg
bucardo_cmd add sync s relgroup=rg dbs=src:source,my:target autokick=0 onetimecopy=1
bucardo_cmd start
say "initial copy (onetimecopy=1)"
T0=$(now)
bucardo_cmd kick s 0
COPY_S=$(since "$T0")
say "initial copy: $COPY_S s"

say "backlog: UPDATE of $ROWS accounts"
rec psql -X -q -d src -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $ROWS"
# The reference's rows, exported now (untimed), as psql prints COPY text.
rec psql -X -q -d src -c "\\copy (SELECT aid, bid, abalance + 1000, filler FROM pgbench_accounts WHERE aid <= $ROWS) TO '$TEST_DIR/rows.tsv'"

say "catch-up: kick"
T0=$(now)
bucardo_cmd kick s 0
CATCHUP_S=$(since "$T0")
say "catch-up: $CATCHUP_S s"
RUN=$(catq "select inserts || ' inserted, ' || deletes || ' deleted' from bucardo.syncrun where sync = 's' order by ended desc limit 1" 2>/dev/null || echo "?")

digest_pg() { psql -X -At -d src -c "select count(*) || ':' || sum(abalance) || ':' || md5(string_agg(aid || ',' || bid || ',' || abalance || ',' || rtrim(filler), ';' order by aid)) from pgbench_accounts"; }
digest_my() { mariadb_sql my "SET SESSION group_concat_max_len = 1 << 30; select concat(count(*), ':', sum(abalance), ':', md5(group_concat(concat_ws(',', aid, bid, abalance, rtrim(filler)) order by aid separator ';'))) from pgbench_accounts"; }
A=$(digest_pg) B=$(digest_my)
[ "$A" = "$B" ] || fail "MariaDB differs from the source after the catch-up: $A vs $B"
say "MariaDB equals the source: $A"

say "reference: LOAD DATA of the same $ROWS rows by the mariadb client"
note_cmd "$MY --local-infile=1 -e \"LOAD DATA LOCAL INFILE '\$TEST_DIR/rows.tsv' REPLACE INTO TABLE pgbench_accounts\""
T0=$(now)
$MY --local-infile=1 -e "LOAD DATA LOCAL INFILE '$TEST_DIR/rows.tsv' REPLACE INTO TABLE pgbench_accounts"
REF_S=$(since "$T0")
say "reference: $REF_S s"
RATIO=$(calc "$CATCHUP_S / $REF_S" 2)

B56_LINE="Bucardo 5.6.0 feeding the same MariaDB was not measured (run with --bucardo56)."
if [ "$B56" = 1 ]; then
    say "Bucardo 5.6: second cluster, control database, source copy"
    pg_start_second_cluster
    P2="-h $PGHOST2 -p $PGPORT2"
    rec createdb $P2 src
    rec pgbench $P2 -i -s "$SCALE" -q src >"$RAW/pgbench_init2.log" 2>&1
    mariadb_sql my "CREATE DATABASE db56; CREATE TABLE db56.pgbench_accounts LIKE db.pgbench_accounts;
                    CREATE TABLE db56.pgbench_branches LIKE db.pgbench_branches;
                    CREATE TABLE db56.pgbench_tellers LIKE db.pgbench_tellers"
    # The target filled as it was before the backlog (Bucardo's own copy inserts row by row).
    mariadb_sql my "INSERT INTO db56.pgbench_accounts SELECT aid, bid, 0, filler FROM db.pgbench_accounts;
                    INSERT INTO db56.pgbench_branches SELECT * FROM db.pgbench_branches;
                    INSERT INTO db56.pgbench_tellers SELECT * FROM db.pgbench_tellers"
    # Bucardo 5.6 lowercases its pid directory's path: one without capitals.
    B56DIR=/tmp/bucardo-b56.$$
    mkdir -p "$B56DIR/run" "$B56DIR/log"
    chmod -R 777 "$B56DIR"
    b56() { rec /usr/bin/bucardo --dbhost "$PGHOST2" --dbport "$PGPORT2" --dbuser bucardo --dbname bucardo "$@" >>"$RAW/b56.log" 2>&1 ||
        { tail -20 "$RAW/b56.log" >&2; fail "bucardo 5.6 $*"; }; }
    rec /usr/bin/bucardo install --batch --dbhost "$PGHOST2" --dbport "$PGPORT2" --dbuser postgres --dbname postgres \
        --piddir "$B56DIR/run" >>"$RAW/b56.log" 2>&1 || { tail -20 "$RAW/b56.log" >&2; fail "bucardo 5.6 install"; }
    b56 add db b56_src dbname=src host="$PGHOST2" port="$PGPORT2" user=postgres
    b56 add db b56_my type=mariadb dbname=db56 host=127.0.0.1 port="$MARIADB_PORT" user=root
    b56 add sync b56 dbs=b56_src:source,b56_my:target tables=pgbench_accounts,pgbench_branches,pgbench_tellers autokick=0
    b56 start --log-destination "$B56DIR/log"
    sleep 5
    rec psql -X -q $P2 -d src -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $ROWS"
    say "Bucardo 5.6: kick"
    T0=$(now)
    b56 kick b56 0
    B56_S=$(since "$T0")
    say "Bucardo 5.6 catch-up: $B56_S s"
    A2=$(psql -X -At $P2 -d src -c "select count(*) || ':' || sum(abalance) from pgbench_accounts")
    B2=$(mariadb_sql my "select concat(count(*), ':', sum(abalance)) from db56.pgbench_accounts")
    b56 stop || true
    cp "$B56DIR"/log/* "$RAW/" 2>/dev/null || true
    rm -rf "$B56DIR"
    [ "$A2" = "$B2" ] || say "WARNING: Bucardo 5.6's MariaDB differs from its source: $A2 vs $B2"
    B56_LINE="| Bucardo 5.6.0 (Debian, DBD::mysql), the same backlog of $ROWS accounts into the same MariaDB: \`bucardo kick b56 0\` | $B56_S |"
fi
BATCH=$(catq "select coalesce((select setting from bucardo.config where name = 'batch_keys'), 'default')")

{
    echo "# MariaDB target: delta catch-up vs LOAD DATA"
    echo
    echo "bench/mariadb_bench.sh --scale $SCALE --rows $ROWS ($GIT_REV, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores,"
    echo "$(mariadbd --version | awk '{print $3}'), PostgreSQL $(psql -X -At -d src -c 'show server_version'))."
    echo
    echo "| measure | seconds |"
    echo "|---|---|"
    echo "| initial copy of $NACC accounts + branches + tellers (onetimecopy=1) | $COPY_S |"
    echo "| catch-up of a backlog of $ROWS changed accounts (delete by key + LOAD DATA from memory; $RUN) | $CATCHUP_S |"
    echo "| reference: mariadb client, LOAD DATA LOCAL INFILE ... REPLACE of the same $ROWS rows | $REF_S |"
    echo "| ratio catch-up / reference (goal: at most 2) | $RATIO |"
    [ "$B56" = 1 ] && echo "$B56_LINE"
    echo
    echo "batch_keys: $BATCH.  The catch-up includes reading the keys and rows on the source."
    [ "$B56" = 1 ] || echo "$B56_LINE"
    echo
    echo "Command lines:"
    echo
    echo '```'
    cat "$CMDS"
    echo '```'
} >"$ROOT/bench/MARIADB_RESULTS.md"
cat "$ROOT/bench/MARIADB_RESULTS.md"
exit 0
}
