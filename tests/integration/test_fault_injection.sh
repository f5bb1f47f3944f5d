#!/usr/bin/env bash
# Proof of no data loss under faults.  A randomized workload (inserts,
# updates that change keys, deletes, swaps through a temporary key,
# savepoints, TRUNCATE, short and long transactions, some rolled back) runs
# against the source of a sync with two targets - one on a second server -
# over tables with an int key, an (int, text) key and a text key, a
# range-partitioned table (written through the parent and straight into
# its partitions, key changes moving rows between partitions, partitions
# truncated) and an inheritance pair (parent and child each with rows of
# their own, written through the parent - which reaches the child's rows -
# and each alone; TRUNCATE ONLY of the parent), while faults are injected:
#   (a) the engine is SIGKILLed at random moments and restarted;
#   (b) the second target's server stops in immediate mode, then starts;
#   (c)+(e) the main server (source, first target and catalog) restarts,
#       once in fast mode and once in immediate mode (crash recovery);
#   (d) the engine's connections are killed with pg_terminate_backend.
# During (a) a column is also added to ti mid-run: on the source first
# (the sync is Bad meanwhile, its changes queued through the kills), some
# values written to it, then on one target, then on the other; the checks
# compare whole rows, so the values written in between must have arrived.
# A partition of the partitioned table and (ONLY) the inheritance parent are
# truncated meanwhile too, besides the workload's own rare TRUNCATEs.
# After each scenario the workload stops, the sync completes a kicked cycle
# (which started after the last write committed), and every target must
# equal the source at once: any difference fails, naming the differing
# keys.  Then the same on a multi-source sync (a:source, b:source, c:target)
# with the workload on both sources (disjoint key ranges) and engine kills.
#
# Everything random derives from FAULT_SEED (printed at the start and in
# every failure), so a failing run can be replayed: FAULT_SEED=N ctest ...
# (the workload's statements and the faults' order and spacing replay; the
# exact moments depend on the machine's speed).
. "$TESTS_DIR/lib/setup.sh"
T_START=$(date +%s)
SEED=${FAULT_SEED:-$(( ($(date +%s) * 7919 + $$) % 1000000 ))}
echo "FAULT_SEED=$SEED"
RANDOM=$SEED
fail() {
    echo "FAIL (FAULT_SEED=$SEED): $*" >&2
    exit 1
}
pg_start_cluster || fail "cannot start a cluster"
# The second server starts meanwhile (pg_start_second_cluster, in the
# background): the machine may be slow, and initdb takes a while.
pg_init_cluster "$TEST_DIR/data2" "$TEST_DIR/sock2" >"$TEST_DIR/port2" &
init2=$!
cd "$TEST_DIR"
# A private copy of the binary: the test restarts it many times over two
# minutes, and a concurrent rebuild must not swap it in the middle.
cp "$BUCARDO" "$TEST_DIR/bucardo" || fail "cannot copy $BUCARDO"
BUCARDO=$TEST_DIR/bucardo
bucardo_install
# Quick retries: a fault must not leave the sync waiting a minute.  Small
# batches: a backlog after a fault is applied in several committed batches,
# and a fault may strike between them.
run_ok "$BUCARDO" set retry_delay=0.5 retry_delay_max=2 batch_keys=50 batch_grow_max=1
PIDFILE="$TEST_DIR/piddir/bucardo.mcp.pid"
KILLS=0

# psql_db DB ARGS - psql on the server holding DB (t2: the second one).
psql_db() {
    local db=$1
    shift
    if [ "$db" = t2 ]; then
        psql -X -q -h "$PGHOST2" -p "$PGPORT2" -d "$db" "$@"
    else
        psql -X -q -d "$db" "$@"
    fi
}
# pt: range-partitioned on p (three partitions and a default), keyed
# (id, p) so that both sources of the multi-source sync spread their rows
# over every partition.  ip and ic: an inheritance parent and its child,
# each with rows of its own and keys repeating between them; each is
# replicated and compared as itself (ONLY).
SCHEMA="
CREATE TABLE ti (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0);
CREATE TABLE tc (a int, b text, v text, n int NOT NULL DEFAULT 0, PRIMARY KEY (a, b));
CREATE TABLE tt (k text PRIMARY KEY, v text, d jsonb);
CREATE TABLE pt (id int, p int, v text, n int NOT NULL DEFAULT 0, PRIMARY KEY (id, p)) PARTITION BY RANGE (p);
CREATE TABLE pt_1 PARTITION OF pt FOR VALUES FROM (0) TO (100);
CREATE TABLE pt_2 PARTITION OF pt FOR VALUES FROM (100) TO (200);
CREATE TABLE pt_3 PARTITION OF pt FOR VALUES FROM (200) TO (300);
CREATE TABLE pt_def PARTITION OF pt DEFAULT;
CREATE TABLE ip (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0);
CREATE TABLE ic (extra text) INHERITS (ip);
ALTER TABLE ic ADD PRIMARY KEY (id);"
# (The first three are the ones the workload may TRUNCATE whole.)
TABLES=(ti tc tt pt ip ic)
declare -A KEYS=([ti]=id [tc]="a, b" [tt]=k [pt]="id, p" [ip]=id [ic]=id)
# What a check reads for each table: the parent of the pair without its child.
declare -A FROM=([ip]="ONLY ip")
createdb src && psql_db src -c "$SCHEMA" || fail "schema on src"
for db in t1 a b c; do
    createdb -T src "$db" || fail "createdb $db"
done
wait $init2 || fail "cannot start the second cluster"
PGPORT2=$(cat "$TEST_DIR/port2") PGHOST2=$TEST_DIR/sock2
psql -X -q -h "$PGHOST2" -p "$PGPORT2" -d postgres -c "CREATE ROLE bucardo LOGIN SUPERUSER" ||
    fail "bucardo role on the second server"
psql -X -q -h "$PGHOST2" -p "$PGPORT2" -d postgres -c "CREATE DATABASE t2" && psql_db t2 -c "$SCHEMA" ||
    fail "schema on t2"
for db in src t1 a b c; do
    run_ok "$BUCARDO" add database "$db" dbname="$db"
done
run_ok "$BUCARDO" add database t2 dbname=t2 host="$PGHOST2" port="$PGPORT2"
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add table public.ti public.tc public.tt public.pt public.ip public.ic db=a relgroup=rgm
run_ok "$BUCARDO" add sync s1 relgroup=rg dbs=src,t1,t2
run_ok "$BUCARDO" add sync ms relgroup=rgm dbs=a:source,b:source,c:target
run_ok "$BUCARDO" start
T0=$(date +%s)
echo "set up in $((T0 - T_START)) s"

# ---------------------------------------------------------------- workload
# Statements are made here, in bash, from a RANDOM seeded per worker; each
# batch of transactions is one psql run, so a server going away loses at
# most the batch in flight, and the worker carries on with the next one.
# LO: the lowest key of the worker's range; PFX: its text-key prefix.
tkey() {  # tkey N - the text key number N, as an SQL literal
    case $(( $1 % 5 )) in
        0) echo "'${PFX}k$1'" ;;
        1) echo "'${PFX}k $1 space'" ;;
        2) echo "'${PFX}k''$1'" ;;
        3) echo "'${PFX}kü🐘$1'" ;;
        *) echo "'${PFX}K\\$1'" ;;
    esac
}
BS=("'x'" "'y z'" "'O''B'" "'é'")
# op_h TRUNCATE_OK R - one random statement (R: 0-39) on the partitioned
# table pt (through it and through its partitions, key changes moving rows
# between partitions, a partition truncated) or the inheritance pair (through
# the parent, which reaches the child's rows, and on each table alone;
# TRUNCATE ONLY of the parent).  pt's rows: ids LO..LO+29 and p in two
# values per partition (PP); the pair's keys: LO..LO+119.
PP=(7 57 107 157 207 257 307 357)
PARTS=(pt_1 pt_2 pt_3 pt_def)
op_h() {
    local px=$((LO + RANDOM % 30)) py=$((LO + RANDOM % 30)) k=$((RANDOM % 4))
    local p1=${PP[RANDOM % 8]} p2=${PP[RANDOM % 8]} ix=$((LO + RANDOM % 100)) iy=$((LO + RANDOM % 100))
    local v="'v$RANDOM'"
    [ $((RANDOM % 8)) = 0 ] && v=NULL
    case $2 in
        [0-4]) echo "INSERT INTO pt VALUES ($px, $p1, $v) ON CONFLICT (id, p) DO UPDATE SET v = EXCLUDED.v, n = pt.n + 1;" ;;
        [5-7]) # mostly into another partition
            echo "UPDATE pt SET p = $p2, n = n + 1 WHERE id = $px AND p = $p1 AND NOT EXISTS (SELECT 1 FROM pt WHERE id = $px AND p = $p2);" ;;
        8) echo "UPDATE pt SET p = (p + 100) % 400 WHERE id = $px AND NOT EXISTS (SELECT 1 FROM pt q WHERE q.id = $px AND q.p = (pt.p + 100) % 400);" ;;
        9|10) # straight into a partition
            echo "INSERT INTO ${PARTS[k]} VALUES ($px, ${PP[2 * k + RANDOM % 2]}, $v) ON CONFLICT (id, p) DO UPDATE SET v = 'direct', n = ${PARTS[k]}.n + 1;" ;;
        1[12]) echo "UPDATE ${PARTS[k]} SET v = $v, n = n + 1 WHERE id BETWEEN $px AND $px + 2;" ;;
        1[34]) echo "DELETE FROM pt WHERE id = $px AND p = $p1;" ;;
        15) echo "DELETE FROM ${PARTS[k]} WHERE id BETWEEN $px AND $px + 1;" ;;
        16) echo "INSERT INTO pt SELECT $LO + g % 30, (g % 8) * 50 + 7, 'bulk' FROM generate_series($RANDOM, $RANDOM + 20) g ON CONFLICT DO NOTHING;" ;;
        17) echo "UPDATE pt SET id = $py WHERE id = $px AND p = $p1 AND NOT EXISTS (SELECT 1 FROM pt WHERE id = $py AND p = $p1);" ;;
        18) echo "UPDATE pt SET n = n + 1, v = $v WHERE p BETWEEN 100 AND 299 AND id BETWEEN $LO AND $((LO + 29)) AND id % 5 = $k;" ;;
        19) if [ "$1" != 0 ] && [ $((RANDOM % 3)) = 0 ]; then
                echo "TRUNCATE ${PARTS[k]};"
            else
                echo "DELETE FROM pt WHERE n > 2 AND id BETWEEN $LO AND $((LO + 29));"
            fi ;;
        2[0-3]) echo "INSERT INTO ip VALUES ($ix, $v) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, n = ip.n + 1;" ;;
        2[4-6]) echo "INSERT INTO ic VALUES ($ix, $v, 0, 'e$k') ON CONFLICT (id) DO UPDATE SET extra = EXCLUDED.extra, n = ic.n + 1;" ;;
        2[78]) echo "UPDATE ip SET v = $v, n = n + 1 WHERE id = $ix;" ;;  # parent and child
        29) echo "UPDATE ip SET id = $iy WHERE id = $ix AND NOT EXISTS (SELECT 1 FROM ip WHERE id = $iy);" ;;
        3[01]) echo "DELETE FROM ip WHERE id BETWEEN $ix AND $ix + 1;" ;;
        32) echo "DELETE FROM ONLY ip WHERE id = $ix;" ;;
        33) echo "UPDATE ic SET extra = $v WHERE id BETWEEN $ix AND $ix + 3;" ;;
        34) echo "DELETE FROM ic WHERE id = $ix;" ;;
        35) echo "UPDATE ONLY ip SET n = n + 1 WHERE id % 7 = $k AND id BETWEEN $LO AND $((LO + 119));" ;;
        36) echo "INSERT INTO ic SELECT g, 'bulk', 0, 'b' FROM generate_series($ix, $ix + 10) g ON CONFLICT DO NOTHING;" ;;
        37) echo "UPDATE ic SET id = $iy WHERE id = $ix AND NOT EXISTS (SELECT 1 FROM ic WHERE id = $iy);" ;;
        38) echo "UPDATE ip SET n = n + 1 WHERE id BETWEEN $ix AND $ix + 20;" ;;
        *)  if [ "$1" = 1 ] && [ $((RANDOM % 3)) = 0 ]; then
                if [ $((RANDOM % 3)) = 0 ]; then echo "TRUNCATE ip;"; else echo "TRUNCATE ONLY ip;"; fi
            else
                echo "DELETE FROM ip WHERE n > 3 AND id BETWEEN $LO AND $((LO + 119));"
            fi ;;
    esac
}
op() {  # op TRUNCATE_OK - one random statement
    local r=$((RANDOM % 140))
    if [ $r -ge 100 ]; then
        op_h "$1" $((r - 100))
        return
    fi
    local x=$((LO + RANDOM % 300)) y=$((LO + RANDOM % 300))
    local ca=$((LO + RANDOM % 40)) cb=$((LO + RANDOM % 40)) b1=${BS[RANDOM % 4]} b2=${BS[RANDOM % 4]}
    local v="'v$RANDOM'"
    [ $((RANDOM % 8)) = 0 ] && v=NULL
    case $r in
        [0-9]|1[0-4]) echo "INSERT INTO ti VALUES ($x, $v) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, n = ti.n + 1;" ;;
        1[5-9]|2[0-2]) echo "UPDATE ti SET v = $v, n = n + 1 WHERE id = $x;" ;;
        2[3-9]) echo "UPDATE ti SET id = $y WHERE id = $x AND NOT EXISTS (SELECT 1 FROM ti WHERE id = $y);" ;;
        3[0-4]) echo "DELETE FROM ti WHERE id BETWEEN $x AND $x + $((RANDOM % 3));" ;;
        3[5-7]) echo "UPDATE ti SET n = n + 1 WHERE id % 13 = $((RANDOM % 13)) AND id BETWEEN $LO AND $((LO + 300));" ;;
        3[89]) echo "INSERT INTO ti SELECT g, 'bulk' FROM generate_series($x, $x + 25) g ON CONFLICT DO NOTHING;" ;;
        4[0-1]) # swap two keys through a temporary one
            echo "UPDATE ti SET id = -$x WHERE id = $x; UPDATE ti SET id = $x WHERE id = $y; UPDATE ti SET id = $y WHERE id = -$x;" ;;
        4[2-9]|5[0-1]) echo "INSERT INTO tc VALUES ($ca, $b1, $v) ON CONFLICT (a, b) DO UPDATE SET v = EXCLUDED.v, n = tc.n + 1;" ;;
        5[2-5]) echo "UPDATE tc SET b = $b2 WHERE a = $ca AND b = $b1 AND NOT EXISTS (SELECT 1 FROM tc WHERE a = $ca AND b = $b2);" ;;
        5[6-8]) echo "UPDATE tc SET a = $cb, n = n + 1 WHERE a = $ca AND b = $b1 AND NOT EXISTS (SELECT 1 FROM tc WHERE a = $cb AND b = $b1);" ;;
        59|6[0-2]) echo "DELETE FROM tc WHERE a = $ca AND b = $b1;" ;;
        6[3-5]) echo "UPDATE tc SET v = $v WHERE a BETWEEN $ca AND $ca + 3;" ;;
        6[6-9]|7[0-5]) echo "INSERT INTO tt VALUES ($(tkey "$x"), $v, '{\"r\": $RANDOM}') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, d = EXCLUDED.d;" ;;
        7[6-9]|80) echo "UPDATE tt SET k = $(tkey "$y") WHERE k = $(tkey "$x") AND NOT EXISTS (SELECT 1 FROM tt WHERE k = $(tkey "$y"));" ;;
        8[1-4]) echo "DELETE FROM tt WHERE k = $(tkey "$x");" ;;
        8[5-7]) echo "UPDATE tt SET d = jsonb_build_object('n', $RANDOM), v = $v WHERE k = $(tkey "$x");" ;;
        8[89]) echo "INSERT INTO tt SELECT '${PFX}bulk' || g, 'b' FROM generate_series($x, $x + 15) g ON CONFLICT DO NOTHING;" ;;
        9[0-4]) [ "$IN_TXN" = 1 ] && echo "SAVEPOINT sp; DELETE FROM ti WHERE id BETWEEN $x AND $x + 20; UPDATE tt SET v = 'undone'; UPDATE pt SET p = p + 1 WHERE p < 300; DELETE FROM ip; ROLLBACK TO SAVEPOINT sp;" ;;
        9[5-8]) echo "DELETE FROM tt WHERE k LIKE '${PFX}bulk$((RANDOM % 10))%';" ;;
        *)  if [ "$1" = 1 ] && [ $((RANDOM % 4)) = 0 ]; then
                echo "TRUNCATE ${TABLES[RANDOM % 3]};"
            else
                echo "DELETE FROM tc WHERE n > 3 AND a BETWEEN $LO AND $((LO + 40));"
            fi ;;
    esac
}
# (TRUNCATE_OK: 1 any TRUNCATE, 2 only of a partition, 0 none.)
# txn TRUNCATE_OK LONG - one transaction: COMMIT mostly, ROLLBACK sometimes;
# LONG ones sleep in the middle, holding their locks and their xid open
# across several cycles.
txn() {
    local i n=$((RANDOM % 5 + 1))
    IN_TXN=1
    echo "BEGIN;"
    for ((i = 0; i < n; i++)); do op "$1"; done
    [ "$2" = 1 ] && echo "SELECT pg_sleep($((RANDOM % 3 + 1)).$((RANDOM % 10)));" &&
        for ((i = 0; i < n; i++)); do op 0; done
    if [ $((RANDOM % 5)) = 0 ]; then echo "ROLLBACK;"; else echo "COMMIT;"; fi
    IN_TXN=0
}
# worker DB WORKER_SEED LO PFX LONG TRUNCATE_OK - until the stop file appears
# (or the test is gone): batches of transactions, some statements on their
# own (autocommit).
worker() {
    local db=$1 parent=$$ batch="$TEST_DIR/batch.$BASHPID" i
    RANDOM=$2 LO=$3 PFX=$4 IN_TXN=0
    while [ ! -e "$TEST_DIR/stop-workload" ] && kill -0 "$parent" 2>/dev/null; do
        # (A brace group, not $(...): a subshell would reseed RANDOM.)
        {
            if [ "$5" = 1 ]; then
                txn "$6" 1
            else
                for ((i = 0; i < 8; i++)); do
                    if [ $((RANDOM % 3)) = 0 ]; then op "$6"; else txn "$6" 0; fi
                done
            fi
        } >"$batch"
        PGAPPNAME=workload PGOPTIONS="-c lock_timeout=5s -c deadlock_timeout=100ms" \
            psql -X -q -d "$db" -f "$batch" >/dev/null 2>>"$TEST_DIR/workload.err" ||
            sleep 0.3  # the server is away: try again shortly
        grep -o 'TRUNCATE [^;]*' "$batch" >>"$TEST_DIR/truncates"
    done
}
WORKERS=()
# start_workload DB LO PFX TRUNCATE_OK - two short-transaction workers and
# one of long transactions, each seeded from the test's RANDOM.
start_workload() {
    local w
    rm -f "$TEST_DIR/stop-workload"
    for w in 0 1 2; do
        worker "$1" $((RANDOM * 32768 + RANDOM)) "$2" "$3" $((w == 2)) "$4" &
        WORKERS+=($!)
    done
}
stop_workload() {
    touch "$TEST_DIR/stop-workload"
    wait "${WORKERS[@]}"
    WORKERS=()
    # No workload session left with a transaction open.
    for _ in $(seq 100); do
        [ "$(sql postgres "select count(*) from pg_stat_activity where application_name = 'workload'")" = 0 ] && return
        sleep 0.1
    done
    fail "workload sessions still open after it stopped"
}

# ---------------------------------------------------------------- faults
# between LO_TENTHS HI_TENTHS - sleep a random while (tenths of a second).
between() {
    local t=$(( $1 + RANDOM % ($2 - $1 + 1) ))
    sleep "$((t / 10)).$((t % 10))"
}
# kill_engine - SIGKILL the engine; its pid file stays behind, stale.
kill_engine() {
    local pid
    pid=$(engine_pid)
    [ -n "$pid" ] || fail "no engine pid file to kill"
    kill -9 "$pid" || fail "cannot kill the engine (pid $pid)"
    for _ in $(seq 100); do
        process_gone "$pid" && break
        sleep 0.05
    done
    process_gone "$pid" || fail "the engine (pid $pid) survived SIGKILL"
    [ -f "$PIDFILE" ] || fail "expected a stale pid file after SIGKILL"
    KILLS=$((KILLS + 1))
}
# start_engine - `bucardo start` with a stale pid file in place.
start_engine() {
    run_ok "$BUCARDO" start
    expect_out "^Starting Bucardo$"
    [ "$(engine_pid)" != "" ] && ! process_gone "$(engine_pid)" || fail "no engine running after start"
}
engine_kills() {  # engine_kills N
    local i
    for ((i = 0; i < $1; i++)); do
        between 1 8
        kill_engine
        # Sometimes the changes pile up while the engine is down.
        [ $((RANDOM % 3)) = 0 ] && between 1 10
        start_engine
    done
}
# terminate_engine_conns - pg_terminate_backend on every bucardo session of
# both servers; prints how many there were.
terminate_engine_conns() {
    local n1 n2
    n1=$(sql postgres "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'bucardo'")
    n2=$(psql -X -q -At -h "$PGHOST2" -p "$PGPORT2" -d postgres -c \
        "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'bucardo'")
    echo $((n1 + n2))
}
restart_main() {  # restart_main MODE
    pg_ctl_cluster "$TEST_DIR/data" -m "$1" restart || fail "cannot restart the main server ($1)"
}

# ---------------------------------------------------------------- checks
# key_dump DB TABLE - every row's key and the md5 of the row, in key order.
key_dump() {
    psql_db "$1" -c "COPY (SELECT ${KEYS[$2]}, md5(t::text) FROM ${FROM[$2]:-$2} t ORDER BY ${KEYS[$2]}) TO STDOUT"
}
# digests DB - "table count:md5" per table, as table_digest computes it,
# in one psql run (the machine may be slow: few round trips).
digests() {
    local q="" t
    for t in "${TABLES[@]}"; do
        q+="${q:+ UNION ALL }SELECT '$t', (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM ${FROM[$t]:-$t} t)"
    done
    psql_db "$1" -At -F ' ' -c "$q"
}
# same SRC DST WHAT - every table equal, or fail with the differing keys.
same() {
    local a b t d
    a=$(digests "$1") b=$(digests "$2")
    [ "$(printf '%s\n' "$a" | grep -c :)" = ${#TABLES[@]} ] || fail "$3: cannot read the tables of $1: $a"
    [ "$a" = "$b" ] && return
    for t in "${TABLES[@]}"; do
        [ "$(printf '%s\n' "$a" | grep "^$t ")" = "$(printf '%s\n' "$b" | grep "^$t ")" ] && continue
        key_dump "$1" "$t" >"$TEST_DIR/$1.$t.keys"
        key_dump "$2" "$t" >"$TEST_DIR/$2.$t.keys"
        d=$(diff "$TEST_DIR/$1.$t.keys" "$TEST_DIR/$2.$t.keys" | grep '^[<>]' | head -40)
        fail "$3: table $t differs between $1 and $2 ($(printf '%s\n' "$a" | grep "^$t ") vs $(printf '%s\n' "$b" | grep "^$t "));
differing keys (< $1, > $2: key, md5 of the row):
$d"
    done
    fail "$3: $1 and $2 differ: $a vs $b"
}
# quiesce SYNC - kick until a cycle that started after the workload ended
# completes (a fault may still be wearing off: FAILED runs are retried).
quiesce() {
    local deadline=$(( $(date +%s) + 120 )) out
    while :; do
        out=$("$BUCARDO" kick "$1" 60 2>&1) && printf '%s\n' "$out" | grep -q "DONE" && return
        [ "$(date +%s)" -ge "$deadline" ] && fail "sync $1 completed no cycle within 120 s: $out
$(tail -5 log.bucardo)"
        sleep 0.5
    done
}
# verify_s1 WHAT - the scenario is over: both targets equal the source.
verify_s1() {
    local t1
    stop_workload
    t1=$(date +%s)
    quiesce s1
    echo "  (workload stopped at $((t1 - T0)) s, quiescent at $(( $(date +%s) - T0 )) s)"
    same src t1 "$1"
    same src t2 "$1"
    echo "$1: src = t1 = t2 (rows: $(digests src | sed 's/:.*//' | tr '\n' ' ')); $(( $(date +%s) - T0 )) s)"
}

# ddl_midrun D1 D2 D3 - ADD COLUMN on src after D1 tenths of a second, then
# values in it, on t1 D2 tenths later and on t2 D3 tenths after that (the
# delays come from the parent's RANDOM, so they replay).  A failure leaves
# the file ddl-failed.
ddl_midrun() {
    local i
    sleep "$(($1 / 10)).$(($1 % 10))"
    psql_db src -v ON_ERROR_STOP=1 -c "ALTER TABLE ti ADD COLUMN extra text" || { echo src >>"$TEST_DIR/ddl-failed"; return; }
    for i in $(seq 20); do  # the workload may pick it as a deadlock victim
        PGOPTIONS="-c deadlock_timeout=1s" psql_db src -v ON_ERROR_STOP=1 \
            -c "UPDATE ti SET extra = 'e' || id WHERE id % 7 = 0" 2>/dev/null && break
        [ "$i" = 20 ] && echo update >>"$TEST_DIR/ddl-failed"
    done
    sleep "$(($2 / 10)).$(($2 % 10))"
    psql_db t1 -v ON_ERROR_STOP=1 -c "ALTER TABLE ti ADD COLUMN extra text" || echo t1 >>"$TEST_DIR/ddl-failed"
    sleep "$(($3 / 10)).$(($3 % 10))"
    psql_db t2 -v ON_ERROR_STOP=1 -c "ALTER TABLE ti ADD COLUMN extra text" || echo t2 >>"$TEST_DIR/ddl-failed"
}

# cut_midrun PART D1 D2 - TRUNCATE the partition PART of pt on src after D1
# tenths of a second, and TRUNCATE ONLY ip D2 tenths later (on top of those
# the workload may do).  A failure leaves the file cut-failed.
cut_midrun() {
    sleep "$(($2 / 10)).$(($2 % 10))"
    cut_once "$1"
    sleep "$(($3 / 10)).$(($3 % 10))"
    cut_once "ONLY ip"
}
cut_once() {  # cut_once WHAT - TRUNCATE WHAT on src, retried
    local i
    for i in $(seq 20); do  # it waits behind the workload's locks, or is a deadlock victim
        PGOPTIONS="-c lock_timeout=3s -c deadlock_timeout=1s" psql_db src -v ON_ERROR_STOP=1 \
            -c "TRUNCATE $1" 2>/dev/null && return
    done
    echo "$1" >>"$TEST_DIR/cut-failed"
}
# (a) engine kills, at random moments of the cycles in flight, with a column
# added to ti meanwhile, a partition of pt truncated and ip truncated ONLY.
start_workload src 1 "" 1
ddl_midrun $((5 + RANDOM % 26)) $((20 + RANDOM % 41)) $((10 + RANDOM % 31)) &
ddl=$!
cut_midrun "${PARTS[RANDOM % 4]}" $((10 + RANDOM % 41)) $((5 + RANDOM % 31)) &
cut=$!
engine_kills 11
wait $ddl $cut
[ -e "$TEST_DIR/ddl-failed" ] && fail "ADD COLUMN mid-run failed on: $(cat "$TEST_DIR/ddl-failed")"
[ -e "$TEST_DIR/cut-failed" ] && fail "TRUNCATE mid-run failed: $(cat "$TEST_DIR/cut-failed")"
verify_s1 "engine kills, ADD COLUMN mid-run"
# The added column's values reached the targets (src = t1 = t2 above
# includes it).  Where the workload deleted, or truncated, every row the
# UPDATE gave a value, one more is written now and must arrive.
if [ "$(sql src "select count(*) from ti where extra is not null")" = 0 ]; then
    sql src "INSERT INTO ti (id, v, extra) VALUES (-424242, 'late', 'e-late')" >/dev/null
    deadline=$(( $(date +%s) + 60 ))
    until [ "$(sql t1 "select count(*) from ti where extra = 'e-late'")" = 1 ] &&
          [ "$(psql_db t2 -At -c "select count(*) from ti where extra = 'e-late'")" = 1 ]; do
        [ "$(date +%s)" -lt $deadline ] || fail "a value of the added column written after the kills did not reach t1 and t2"
        sleep 0.2
    done
fi
[ "$(sql t1 "select count(*) from ti where extra is not null")" -gt 0 ] ||
    fail "no value of the added column reached t1"

# (b) the second target's server goes away (immediate) and comes back.
start_workload src 1 "" 1
for round in 1 2; do
    between 5 15
    pg_ctl_cluster "$TEST_DIR/data2" -m immediate stop || fail "cannot stop the second server"
    between 5 15
    pg_ctl_cluster "$TEST_DIR/data2" -o "\"-k $TEST_DIR/sock2 -c listen_addresses='' -c fsync=off\"" start ||
        fail "cannot start the second server again"
done
between 5 15
verify_s1 "target server outages"

# (c)+(e) the source's server - also the first target's and the catalog's.
start_workload src 1 "" 1
for mode in fast immediate; do
    between 10 25
    restart_main "$mode"
done
between 10 20
verify_s1 "source and catalog server restarts"

# (d) the engine's connections killed on both servers.
start_workload src 1 "" 1
seen=0
for round in 1 2 3 4; do
    between 2 10
    seen=$((seen + $(terminate_engine_conns)))
done
[ "$seen" -gt 0 ] || fail "no engine connection (application_name bucardo) was ever found to terminate"
between 5 10
verify_s1 "terminated engine connections ($seen)"
echo "TRUNCATEs in the workload (some rolled back): $(sort "$TEST_DIR/truncates" 2>/dev/null | uniq -c | sed 's/^ *//' | tr '\n' ',')"

# Multi-source: the workload on both sources, disjoint key ranges (and no
# whole-table TRUNCATE: it would empty the other source's rows too, racing
# with them).  It truncates partitions there (a cut removes the other
# source's rows of that partition too, on every member, except those the
# other source changed in the same window, which survive everywhere);
# FAULT_MS_CUTS=0 turns that off.  (A cut committed on a source during a
# cycle, before the cycle's rows reached it, once left rows of a in pt_2
# on b only: FAULT_SEED=10; see test_multisource_partitions.)
ALL_MS=(a b c)
start_workload a 1 a- $((${FAULT_MS_CUTS:-1} ? 2 : 0))
start_workload b 100001 b- $((${FAULT_MS_CUTS:-1} ? 2 : 0))
engine_kills 9
stop_workload
quiesce ms
same a c "multi-source engine kills"
same b c "multi-source engine kills"
echo "multi-source engine kills: a = b = c ($(sql c "select count(*) from ti where id < 100000")/$(sql c "select count(*) from ti where id > 100000") rows from a/b in ti)"
[ "$(sql c "select count(*) from ti where id < 100000")" -gt 0 ] && [ "$(sql c "select count(*) from ti where id > 100000")" -gt 0 ] ||
    fail "multi-source: the target lacks the rows of a source"
# The sources write disjoint keys: a conflict would mean a change echoed back.
expect_equal 0 "$(sql bucardo "select coalesce(sum(conflicts), 0) from bucardo.syncrun where sync = 'ms'")" \
    "conflicts counted on the multi-source sync"

[ "$KILLS" -ge 20 ] || fail "only $KILLS engine kills"
echo "(the engine logged $(grep -c ' ERROR: ' log.bucardo) errors during the faults, and applied $(grep -c 'changes in batches of' log.bucardo) backlogs in batches)"
run_ok "$BUCARDO" stop
echo "ok: $KILLS engine kills, FAULT_SEED=$SEED, $(( $(date +%s) - T0 )) s"
