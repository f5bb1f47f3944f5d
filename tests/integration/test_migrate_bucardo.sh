#!/usr/bin/env bash
# `bucardo upgrade` on a real Bucardo 5.6.0 installation (Debian's package
# bucardo, with postgresql-plperl-15; scripts/install-deps.sh installs
# them).  Bucardo is installed into this test's cluster, given the
# tutorial's sync (pgbench tables, plus a sequence, a customname and a
# customcols), a multi-source sync whose second source lives on a second
# server, a sync with Perl customcode, a sync into a MariaDB target (a
# MariaDB server this test starts), a sync into MongoDB (no equivalent
# here: imported inactive), and non-default settings; its daemon
# (run as an unprivileged user, piddir and logs in the test's directory)
# replicates a workload; then a sync is paused and the daemon killed in the
# middle of more writes, so changes stay queued in Bucardo's delta tables.
#
#   0. While Bucardo's daemon runs, the upgrade refuses, naming its process.
#   1. The upgrade with the second server stopped fails half-way (after the
#      first source was switched in its open transaction), names the
#      source, and the catalog and every database dump exactly as before.
#   2. --dryrun lists what would and would not be converted, changing
#      nothing.
#   3. The upgrade: `list all` shows every object, no Bucardo trigger is
#      left on a source, the Perl customcodes are customcodes of kind perl
#      (their sync stays active) and the exception one settles a unique
#      collision on the target when this engine runs it, the MariaDB
#      database is converted (type mariadb) and its sync active, and after
#      `bucardo start` every target equals its source
#      (`compare` exit 0 and table contents; compare takes one-source syncs
#      only, so the multi-source one is judged by its contents), new
#      changes replicate.
#   4. --finish removes the schema bucardo5 kept everywhere.
. "$TESTS_DIR/lib/setup.sh"

B5BIN=${BUCARDO5:-/usr/bin/bucardo}
"$B5BIN" --version 2>/dev/null | grep -q 'version 5\.' ||
    fail "Bucardo 5 is not installed at $B5BIN (scripts/install-deps.sh installs Debian's bucardo)"
[ -e "$("$PG_BIN/pg_config" --pkglibdir 2>/dev/null || pg_config --pkglibdir)/plperl.so" ] ||
    fail "PL/Perl is not installed (postgresql-plperl-15)"

test_begin --second-cluster --no-install
. "$TESTS_DIR/lib/servers.sh"
mariadb_start my
mariadb_sql my "CREATE TABLE mt (id int PRIMARY KEY, v varchar(100), n decimal(10,2)) ENGINE=InnoDB" ||
    fail "MariaDB table"
B5RUN=$TEST_DIR/b5run B5LOG=$TEST_DIR/b5log
mkdir -p "$B5RUN" "$B5LOG"
# Bucardo's daemon runs as an unprivileged user: postgres when we are root.
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$B5RUN" "$B5LOG"
    as_b5() { su postgres -s /bin/sh -c "cd '$B5LOG' && $*"; }
else
    as_b5() { sh -c "cd '$B5LOG' && $*"; }
fi
B5="$B5BIN --no-bucardorc --dbhost $PGHOST --dbport $PGPORT --dbuser bucardo --dbname bucardo"
b5() { run_ok $B5 "$@"; }
q() { psql -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null || fail "psql $*"; }
q2() { q -h "$PGHOST2" -p "$PGPORT2" "$@"; }

step() { echo "$(date +%T) $*"; }
step databases
# --- the databases ------------------------------------------------------------
for db in test1 test2 m1; do run_ok createdb "$db"; done
run_ok createdb -h "$PGHOST2" -p "$PGPORT2" m2
run_ok pgbench -i -q test1
run_ok pgbench -i -q test2
q -d test1 -c "CREATE SEQUENCE seq1; CREATE TABLE cn_src (id int PRIMARY KEY, v text);
               CREATE TABLE cc (id int PRIMARY KEY, a int, b text);
               CREATE TABLE pc (id int PRIMARY KEY, v text);
               CREATE TABLE ct (id int PRIMARY KEY, v text);
               CREATE TABLE mt (id int PRIMARY KEY, v text, n numeric(10,2))"
q -d test2 -c "CREATE SEQUENCE seq1; CREATE TABLE cn_dst (id int PRIMARY KEY, v text);
               CREATE TABLE cc (id int PRIMARY KEY, a int, b text);
               CREATE TABLE pc (id int PRIMARY KEY, v text UNIQUE);
               CREATE TABLE ct (id int PRIMARY KEY, v text)"
ITEMS="CREATE TABLE items (id int PRIMARY KEY, v text, n int)"
q -d m1 -c "$ITEMS"
q2 -d m2 -c "$ITEMS"

step bucardo
# --- Bucardo 5.6 ---------------------------------------------------------------
run_ok $B5BIN --no-bucardorc install --batch --dbhost "$PGHOST" --dbport "$PGPORT" --dbuser postgres \
    --dbname postgres --piddir "$B5RUN"
q2 -d postgres -c "CREATE ROLE bucardo SUPERUSER LOGIN"
b5 set "log_conflict_file=$B5LOG/conflict.log" "warning_file=$B5LOG/warning.log" "reason_file=$B5LOG/reason"
b5 set log_level=VERBOSE default_conflict_strategy=bucardo_source mcp_loop_sleep=0.5 semaphore_table=sem_x
b5 add database test1 dbname=test1 host="$PGHOST" port="$PGPORT"
b5 add database test2 dbname=test2 host="$PGHOST" port="$PGPORT"
b5 add database m1 dbname=m1 host="$PGHOST" port="$PGPORT"
b5 add database m2 dbname=m2 host="$PGHOST2" port="$PGPORT2"
b5 add all tables db=test1 -T pgbench_history -T pc -T mt -T ct --relgroup=pgbench
b5 add sequence seq1 db=test1 relgroup=pgbench
b5 add customname cn_src cn_dst db=test2
b5 add customcols cc "SELECT id, a, upper(b) AS b" db=test2
b5 add sync benchdelta relgroup=pgbench dbs=test1,test2 rebuild_index=1
b5 add table items db=m1 relgroup=msg
b5 add sync msync relgroup=msg dbs=m1:source,m2:source overdue=1h
b5 add table pc db=test1 relgroup=perl
b5 add sync perlsync relgroup=perl dbs=test1,test2
b5 add table ct db=test1 relgroup=ctrel
b5 add sync ctsync relgroup=ctrel dbs=test1,test2
# A MariaDB target, through Bucardo's own DBD::MariaDB (libdbd-mariadb-perl).
b5 add database mdb type=mariadb dbname=db host=127.0.0.1 port="$MARIADB_PORT" user=root
b5 add table mt db=test1 relgroup=mrel
b5 add sync mariasync relgroup=mrel dbs=test1:source,mdb:target
printf 'sub { my ($args) = @_; return; }\n' >"$TEST_DIR/hook.pl"
b5 add customcode audit whenrun=before_txn src_code="$TEST_DIR/hook.pl" sync=perlsync
# A Bucardo exception handler (unique value on the target only): the target
# row holding the value moves aside, and the sync retries.
cat >"$TEST_DIR/mover.pl" <<'EOF'
use strict;
use warnings;
my $info = shift;
return if $info->{error_string} !~ /duplicate key|unique/;
my ($src, $tgt) = ($info->{dbh}{test1}, $info->{dbh}{test2});
my $table = "$info->{schemaname}.$info->{tablename}";
for my $db (keys %{ $info->{deltabin} }) {
    for my $id (keys %{ $info->{deltabin}{$db} }) {
        my ($v) = $src->selectrow_array("SELECT v FROM $table WHERE id = ?", undef, $id);
        $tgt->do("UPDATE $table SET v = v || '.old' WHERE v = ? AND id <> ?", undef, $v, $id) if defined $v;
    }
}
$info->{message} = "moved aside on attempt $info->{attempts}";
$info->{retry} = 1;
return;
EOF
b5 add customcode mover whenrun=exception src_code="$TEST_DIR/mover.pl" sync=perlsync getdbh=1 priority=2

# The daemon, and a workload it replicates.
as_b5 "$B5 start --piddir '$B5RUN' --log-destination '$B5LOG'" >/dev/null ||
    fail "Bucardo's start failed: $(cat "$B5LOG"/log.bucardo 2>/dev/null | tail -5)"
deadline=$(( $(date +%s) + 60 ))
until [ -s "$B5RUN/bucardo.mcp.pid" ] && grep -q "KID (benchdelta)" "$B5LOG/log.bucardo" 2>/dev/null; do
    [ "$(date +%s)" -lt $deadline ] || fail "Bucardo's daemon did not start: $(tail -5 "$B5LOG/log.bucardo")"
    sleep 0.5
done
workload() {  # workload FROM TO - writes to every replicated table
    local i
    pgbench -n -t 100 -c 2 test1 >/dev/null 2>&1 || fail "pgbench on test1"
    for ((i = $1; i <= $2; i++)); do
        q -d test1 -c "INSERT INTO cn_src VALUES ($i, 'c$i'); INSERT INTO cc VALUES ($i, $i, 'b$i');
                       INSERT INTO mt VALUES ($i, 'mt $i', $i + 0.25);
                       INSERT INTO pc VALUES ($i, 'p$i'); SELECT nextval('seq1');
                       UPDATE cn_src SET v = v || '+' WHERE id = $i - 3"
        q -d m1 -c "INSERT INTO items VALUES ($i, 'm1', $i)"
        q2 -d m2 -c "INSERT INTO items VALUES (100000 + $i, 'm2', $i)"
    done
}
step workload
workload 1 10
step synced
# Bucardo's `kick SYNC 0` waits for the sync's done notice with no time
# limit, and a run that was already under way when it started listening
# can leave it waiting forever (seen once on a loaded machine): the kicks
# here only ask, and the contents below are what the test waits for.
for s in benchdelta msync mariasync; do
    as_b5 "$B5 kick $s" >/dev/null || fail "Bucardo's kick $s failed"
done
wait_synced test1 test2 120 pgbench_accounts pgbench_tellers pgbench_branches
# mt_pg / mt_my - table mt on the source and on MariaDB, in one text.
mt_pg() { sql test1 "SELECT count(*) || ':' || coalesce(md5(string_agg(id || '|' || v || '|' || n, ',' ORDER BY id)), '')  FROM mt"; }
mt_my() { mariadb_sql my "SELECT concat(count(*), ':', coalesce(md5(group_concat(concat_ws('|', id, v, n) ORDER BY id SEPARATOR ',')), '')) FROM mt"; }
deadline=$(( $(date +%s) + 120 ))
until [ "$(mt_pg)" = "$(mt_my)" ] || [ "$(date +%s)" -ge $deadline ]; do sleep 0.2; done
expect_equal "$(mt_pg)" "$(mt_my)" "Bucardo replicated into MariaDB"
expect_equal "$(table_digest test1 cn_src)" "$(table_digest test2 cn_dst)" "Bucardo replicated the customname"

# While Bucardo's daemon runs, the upgrade refuses and changes nothing.
dump_catalog() { pg_dump -d bucardo 2>/dev/null | grep -Ev '^\\(un)?restrict '; }
# The kicks above did not wait: Bucardo's daemon may still be ending those
# runs in its catalog.  The refused upgrade is judged on a quiet catalog
# (two dumps a second apart the same).
deadline=$(( $(date +%s) + 60 ))
dump_catalog >"$TEST_DIR/running.sql"
while sleep 1; dump_catalog >"$TEST_DIR/running2.sql"; ! cmp -s "$TEST_DIR/running.sql" "$TEST_DIR/running2.sql"; do
    [ "$(date +%s)" -lt $deadline ] || fail "Bucardo's catalog did not settle within 60 s"
    mv "$TEST_DIR/running2.sql" "$TEST_DIR/running.sql"
done
run_fail "$BUCARDO" upgrade
expect_err "Bucardo is still running \((process [0-9]+ of pid file|session \"bucardo (MCP|CTL|KID|VAC))"
dump_catalog >"$TEST_DIR/after_refused.sql"
cmp -s "$TEST_DIR/after_refused.sql" "$TEST_DIR/running.sql" || fail "the refused upgrade changed the catalog:
$(diff "$TEST_DIR/running.sql" "$TEST_DIR/after_refused.sql" | head -20)"
step queued
# Changes left queued: benchdelta paused, then the daemon killed in the middle of writes.
as_b5 "$B5 pause benchdelta" >/dev/null
sleep 1
workload 11 20
( for i in $(seq 21 100); do
      psql -X -q -d m1 -c "INSERT INTO items VALUES ($i, 'm1', $i); UPDATE items SET n = n + 1 WHERE id = $i - 10" \
          2>/dev/null || true
  done ) &
writer=$!
sleep 1
# kill_bucardo - kill -9 Bucardo's processes: those its pid files name, and
# those named by its sessions on this test's own servers ("bucardo KID
# (PID n)": a process forked after the pid files were read).
kill_bucardo() {
    local f p
    for f in "$B5RUN"/*.pid; do kill -9 "$(head -1 "$f")" 2>/dev/null || true; done
    for p in $( (sql postgres "select application_name from pg_stat_activity where application_name like 'bucardo %'"
                psql -X -At -h "$PGHOST2" -p "$PGPORT2" -d postgres \
                    -c "select application_name from pg_stat_activity where application_name like 'bucardo %'") |
                sed -n 's/.*(PID \([0-9]*\))$/\1/p' | sort -u); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q '^Bucardo' && kill -9 "$p" 2>/dev/null
    done
    return 0
}
kill_bucardo
wait $writer
q -d test1 -c "UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid <= 50; DELETE FROM pc WHERE id = 2;
               TRUNCATE cc; UPDATE mt SET v = v || ' queued' WHERE id <= 5; DELETE FROM mt WHERE id = 7;
               INSERT INTO mt VALUES (500, 'queued', 1.5)"
q2 -d m2 -c "UPDATE items SET v = 'both', n = -1 WHERE id = 100005"
deadline=$(( $(date +%s) + 30 ))
while [ "$(sql postgres "select count(*) from pg_stat_activity where application_name like 'bucardo %'")" != 0 ] ||
      [ "$(psql -X -At -h "$PGHOST2" -p "$PGPORT2" -d postgres \
            -c "select count(*) from pg_stat_activity where application_name like 'bucardo %'")" != 0 ]; do
    kill_bucardo
    [ "$(date +%s)" -lt $deadline ] || fail "Bucardo's sessions outlived its processes:
$(sql postgres "select pid, application_name, state from pg_stat_activity where application_name like 'bucardo %'")
$(ps -eo pid,user,etime,cmd | grep -i '[B]ucardo')"
    sleep 0.2
done
[ "$(mt_pg)" != "$(mt_my)" ] || fail "MariaDB already has the queued changes: the test proves nothing"
# A MongoDB target (still no equivalent here): written into Bucardo's
# catalog directly, its triggers off (they would try to reach a server
# this machine does not run), as Bucardo's `add db type=mongo` and `add
# sync` would have left it.
q -d bucardo -c "SET session_replication_role = replica;
    INSERT INTO bucardo.db (name, dbtype, dbname, dbhost, dbport, dbuser, status)
        VALUES ('mg', 'mongo', 'shop', '127.0.0.1', '27017', 'bucardo', 'active');
    INSERT INTO bucardo.dbgroup (name) VALUES ('tomongo');
    INSERT INTO bucardo.dbmap (db, dbgroup, role) VALUES ('test1', 'tomongo', 'source'), ('mg', 'tomongo', 'target');
    INSERT INTO bucardo.sync (name, herd, dbs) VALUES ('mongosync', 'mrel', 'tomongo')"
# A Firebird database in no sync (Bucardo's `add db type=firebird` wants
# DBD::Firebird, which Debian does not package): converted to a Firebird
# database here, its password kept.
q -d bucardo -c "SET session_replication_role = replica;
    INSERT INTO bucardo.db (name, dbtype, dbname, dbhost, dbport, dbuser, dbpass, status)
        VALUES ('fb', 'firebird', '/srv/fb/shop.fdb', '127.0.0.1', '3050', 'sysdba', 'fbsecret', 'active')"
# A custom delta trigger (bucardo_custom_trigger, no command of Bucardo's
# adds one) on ct: its sync is imported inactive, with a note.
q -d bucardo -c "INSERT INTO bucardo.bucardo_custom_trigger (goat, trigger_name, trigger_type, trigger_body, trigger_level)
    SELECT id, 'ct_filter', 'delta', 'BEGIN RETURN NULL; END;', 'ROW' FROM bucardo.goat WHERE tablename = 'ct'"
queued=$(sql test1 "select count(*) from bucardo.delta_public_pgbench_accounts d where not exists
                    (select 1 from bucardo.track_public_pgbench_accounts t
                      where t.txntime = d.txntime and t.target = 'dbgroup benchdelta')")
[ "$queued" -gt 0 ] || fail "nothing is queued in Bucardo's delta tables: the test proves nothing"
[ "$(table_digest test1 pgbench_accounts)" != "$(table_digest test2 pgbench_accounts)" ] ||
    fail "the targets are already equal: nothing is queued"
echo "queued in Bucardo's delta of pgbench_accounts: $queued keys"

step failure
# --- 1. half-way failure: the second server is down ------------------------------
# dump DB [HOST PORT] - the whole database (pg_dump's random \restrict key left out)
dump() {
    { pg_dump -h "${2:-$PGHOST}" -p "${3:-$PGPORT}" "$1" 2>/dev/null || echo "pg_dump $1 failed"; } |
        grep -Ev '^\\(un)?restrict '
}
for db in bucardo test1 test2 m1; do dump "$db" >"$TEST_DIR/before.$db.sql"; done
dump m2 "$PGHOST2" "$PGPORT2" >"$TEST_DIR/before.m2.sql"
pg_ctl_cluster "$TEST_DIR/data2" stop || fail "stop the second server"
run_fail "$BUCARDO" upgrade
expect_err 'database "m2" \(source of sync msync\) cannot be reached'
expect_err "nothing was changed"
pg_ctl_cluster "$TEST_DIR/data2" -o "\"-k $TEST_DIR/sock2 -c listen_addresses='' -c fsync=off\"" start ||
    fail "start the second server"
for db in bucardo test1 test2 m1; do
    dump "$db" | cmp -s - "$TEST_DIR/before.$db.sql" || fail "database $db changed by the failed upgrade:
$(dump "$db" | diff "$TEST_DIR/before.$db.sql" - | head -20)"
done
dump m2 "$PGHOST2" "$PGPORT2" | cmp -s - "$TEST_DIR/before.m2.sql" || fail "database m2 changed by the failed upgrade:
$(dump m2 "$PGHOST2" "$PGPORT2" | diff "$TEST_DIR/before.m2.sql" - | head -20)"

step dryrun
# --- 2. dry run -------------------------------------------------------------------
run_ok "$BUCARDO" upgrade --dryrun
expect_out "^Would convert: 6 databases, [0-9]+ dbgroups, 9 tables, 1 sequences, 5 relgroups, 6 syncs, 1 customnames, 1 customcols"
expect_no 'database "mdb"'
expect_no 'sync "mariasync"'
expect_no 'database "fb"'
expect_out 'database "mg": type mongo has no equivalent here yet: not converted'
expect_out 'sync "mongosync": imported inactive from Bucardo: database "mg" \(mongo\) has no equivalent here yet'
expect_out 'customcode "audit": Perl code run before_txn: run by this program.s Perl runner'
expect_out 'customcode "mover": Perl code run exception: run by this program.s Perl runner \(needs perl and libdbd-pg-perl\)'
grep -q 'sync "perlsync"' <<<"$OUT" && fail "perlsync is not converted as it was: $OUT"
expect_out 'custom trigger "ct_filter": the delta trigger of table public.ct \(bucardo_custom_trigger\) has no equivalent: not converted'
expect_out 'sync "ctsync": .*imported inactive from Bucardo: the custom delta trigger of public.ct has no equivalent here'
# semaphore_table exists here (with a no-effect note): converted, not dropped.
expect_no 'semaphore_table=sem_x: no such setting'
expect_out "^  test1: .*[1-9][0-9]* queued change"
expect_out "^Dry run: nothing was changed"
for db in bucardo test1; do
    dump "$db" | cmp -s - "$TEST_DIR/before.$db.sql" || fail "database $db changed by --dryrun"
done

step upgrade
# --- 3. the upgrade ---------------------------------------------------------------
run_ok "$BUCARDO" upgrade
echo "$OUT"
expect_out "^Converted: 6 databases, [0-9]+ dbgroups, 9 tables"
expect_out "^Upgraded the Bucardo catalog"
run_ok "$BUCARDO" list all
for obj in 'Database: test1' 'Database: test2' 'Database: m1' 'Database: m2' 'dbgroup: benchdelta' 'dbgroup: msync' \
    'Relgroup: pgbench' 'Relgroup: msg' 'Relgroup: perl' 'Sync "benchdelta"' 'Sync "msync"' 'Sync "perlsync"' \
    'Sync "mariasync"' 'Database: mdb' 'public.mt' \
    'public.pgbench_accounts' 'public.items' 'public.seq1' 'public.cn_src' 'public.cc' 'public.pc'; do
    expect_out "$obj"
done
run_ok "$BUCARDO" list customnames
expect_out "cn_dst"
run_ok "$BUCARDO" list customcols
expect_out "id, a, upper\\(b\\) AS b"
expect_equal "bucardo_source|verbose|0.5|sem_x" "$(sql bucardo "select string_agg(setting, '|' order by name) from bucardo.config
                                     where name in ('default_conflict_strategy', 'log_level', 'mcp_loop_sleep', 'semaphore_table')")" \
    "settings converted (mcp_loop_sleep and semaphore_table are kept, shown with no effect here)"
expect_equal "1|1h" "$(sql bucardo "select rebuild_index, (select overdue from bucardo.sync where name = 'msync')
                                    from bucardo.sync where name = 'benchdelta'" | sed 's/01:00:00/1h/')" \
    "sync options converted"
b5trig="select count(*) from pg_trigger t join pg_proc p on p.oid = t.tgfoid
        where not t.tgisinternal and t.tgrelid::regclass::text not like 'bucardo%'
          and (p.pronamespace::regnamespace::text = 'bucardo5' or t.tgname in ('bucardo_delta')
               or t.tgname like 'bucardo_kick%' or t.tgname like 'bucardo_note_trunc%')"
for db in test1 m1; do expect_equal 0 "$(sql "$db" "$b5trig")" "Bucardo triggers left on $db"; done
expect_equal 0 "$(psql -X -At -h "$PGHOST2" -p "$PGPORT2" -d m2 -c "$b5trig")" "Bucardo triggers left on m2"
[ "$(sql test1 "select count(*) from bucardo5.upgrade_saved_trigger")" -gt 0 ] || fail "Bucardo's triggers were not saved"
# Bucardo's customcode: Perl codes run by the runner, the sync active.
expect_equal "active|" "$(sql bucardo "select status || '|' || coalesce(status_note, '') from bucardo.sync where name = 'perlsync'")" \
    "perlsync stays active"
run_ok "$BUCARDO" list customcodes
expect_out "Code: audit  When run: before_txn  Kind: perl  Priority: 0  Status: active  Getdbh: t  For: sync perlsync"
expect_out "Code: mover  When run: exception  Kind: perl  Priority: 2  Status: active  Getdbh: t  For: sync perlsync"
expect_equal "$(md5sum <"$TEST_DIR/mover.pl" | cut -d' ' -f1)" \
    "$(sql bucardo "select md5(src_code) from bucardo.customcode where name = 'mover'")" "mover's Perl text"
# A collision on the target only its exception code can settle.
q -d test2 -c "INSERT INTO pc VALUES (5000, 'dupval')"
q -d test1 -c "INSERT INTO pc VALUES (5001, 'dupval'), (5002, 'fine')"
run_ok "$BUCARDO" status mongosync
expect_out "Status note *: imported inactive from Bucardo: database \"mg\" \(mongo\)"
run_ok "$BUCARDO" status mariasync
expect_out "Status *: Active"
expect_equal "mariadb|db|127.0.0.1|$MARIADB_PORT|root" \
    "$(sql bucardo "select concat_ws('|', dbtype, dbname, host, port, dbuser) from bucardo.db where name = 'mdb'")" \
    "the MariaDB database converted"
expect_equal "firebird|/srv/fb/shop.fdb|127.0.0.1|3050|sysdba|fbsecret" \
    "$(sql bucardo "select concat_ws('|', dbtype, dbname, host, port, dbuser, dbpass) from bucardo.db where name = 'fb'")" \
    "the Firebird database converted"

# Bucardo 5 stores its settings lowercased, piddir included (its trigger
# check_bucardo_config; its daemon here was given --piddir), and this
# test's directory has capitals: the engine gets a directory of its own.
mkdir -p "$TEST_DIR/piddir"
run_ok "$BUCARDO" set piddir="$TEST_DIR/piddir"
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick benchdelta 60
run_ok "$BUCARDO" kick msync 60
run_ok "$BUCARDO" kick mariasync 60
expect_equal "$(mt_pg)" "$(mt_my)" "MariaDB target after the upgrade (Bucardo's queued changes applied)"
run_ok "$BUCARDO" compare mariasync
expect_out 'Table public.mt: equal'
run_ok "$BUCARDO" kick perlsync 60
expect_equal "5000|dupval.old 5001|dupval 5002|fine" \
    "$(sql test2 "select string_agg(id || '|' || v, ' ' order by id) from pc where id >= 5000")" \
    "pc on test2 after Bucardo's exception code ran here"
expect_equal "$(sql test1 "select count(*), md5(string_agg(id || v, ',' order by id)) from pc where id < 5000")" \
    "$(sql test2 "select count(*), md5(string_agg(id || v, ',' order by id)) from pc where id < 5000")" "pc after the upgrade"
expect_equal Good "$(sql bucardo "select state from bucardo.syncrun where sync = 'perlsync' order by id desc limit 1")" \
    "perlsync's last run"
grep -q "Message from exception code mover: moved aside on attempt 1" log.bucardo || fail "mover's message"
for t in pgbench_accounts pgbench_tellers pgbench_branches; do
    expect_equal "$(table_digest test1 $t)" "$(table_digest test2 $t)" "$t after the upgrade"
done
expect_equal "$(table_digest test1 cn_src)" "$(table_digest test2 cn_dst)" "customname table after the upgrade"
expect_equal "$(sql test1 "select count(*), md5(string_agg(id || ':' || a || upper(b), ',' order by id)) from cc")" \
    "$(sql test2 "select count(*), md5(string_agg(id || ':' || a || b, ',' order by id)) from cc")" "customcols table"
expect_equal "$(sql test1 'select last_value from seq1')" "$(sql test2 'select last_value from seq1')" "sequence"
m2digest() { psql -X -q -At -h "$PGHOST2" -p "$PGPORT2" -d m2 -c "SELECT count(*) || ':' || md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM items t"; }
expect_equal "$(table_digest m1 items)" "$(m2digest)" "multi-source items after the upgrade"
[ "$(sql m1 "select count(*) from items")" -ge 120 ] || fail "items lacks rows"
run_ok "$BUCARDO" compare benchdelta

# New changes replicate.
pgbench -n -t 50 -c 2 test1 >/dev/null 2>&1 || fail "pgbench after the upgrade"
q -d test1 -c "INSERT INTO cn_src VALUES (9999, 'new'); INSERT INTO mt VALUES (9999, 'new', 9.99); UPDATE mt SET n = -n WHERE id = 2"
q2 -d m2 -c "INSERT INTO items VALUES (99999, 'new on m2', 1)"
wait_synced test1 test2 60 pgbench_accounts pgbench_tellers pgbench_branches
deadline=$(( $(date +%s) + 60 ))
until [ "$(table_digest m1 items)" = "$(m2digest)" ] && [ "$(table_digest test1 cn_src)" = "$(table_digest test2 cn_dst)" ] &&
      [ "$(mt_pg)" = "$(mt_my)" ]; do
    [ "$(date +%s)" -lt $deadline ] || fail "new changes did not replicate after the upgrade"
    sleep 0.2
done
run_ok "$BUCARDO" compare benchdelta
run_ok "$BUCARDO" stop

# --- 4. --finish ---------------------------------------------------------------------
run_ok "$BUCARDO" upgrade --finish
expect_out 'Removed Bucardo.s saved catalog'
for db in bucardo test1 m1; do
    expect_equal 0 "$(sql "$db" "select count(*) from pg_namespace where nspname = 'bucardo5'")" "bucardo5 left in $db"
done
expect_equal 0 "$(psql -X -At -h "$PGHOST2" -p "$PGPORT2" -d m2 -c "select count(*) from pg_namespace where nspname = 'bucardo5'")" \
    "bucardo5 left in m2"
echo "PASS"
