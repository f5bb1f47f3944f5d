#!/usr/bin/env bash
# customcode (README.md, "Customcode"): `add|update|list|remove customcode`
# and their bad input; before_sync/after_sync SQL codes appending to a
# table once per cycle in priority order, lastcode stopping the rest, and
# endsync cancelling the cycle without losing its changes; an exception
# handler that renames the colliding target row on a unique violation and
# asks for a retry (the sync ends Good, both rows there), and one that
# skips the failing batch's keys (logged, in the run's warning); codes that
# fail - a command that hangs, one that exits non-zero, a SQL body that
# raises: a Bad run naming the customcode, another sync unaffected, and
# every change arriving once the code is fixed.  Code that cannot run (a
# SQL body or Perl code that does not compile, a command that is not
# executable) is refused at add/update; remove customcode (and a rename)
# drops the SQL function where it was installed; remove db of a database
# a code names says so (--force keeps the code, inactive, and drops its
# function from that database).
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "
    CREATE TABLE item (id int PRIMARY KEY, v text);
    CREATE TABLE person (id int PRIMARY KEY, email text UNIQUE);" a b
test_sync cc rg a:source,b:target autokick=0
for db in a b; do sql $db "CREATE TABLE other (id int PRIMARY KEY, v text)" >/dev/null; done
run_ok "$BUCARDO" add table public.other db=a relgroup=rg2
run_ok "$BUCARDO" add sync cc2 relgroup=rg2 dbs=a:source,b:target autokick=0
# The hooks' own table: created after the sync's tables were added, on the source only.
sql a "CREATE TABLE hooklog (n serial PRIMARY KEY, what text)" >/dev/null
run_ok "$BUCARDO" set retry_delay=0.2 retry_delay_max=1

D=$TEST_DIR/codes
mkdir -p "$D"
logcode() {  # logcode FILE WHAT [ANSWER] - a SQL body appending WHAT to hooklog
    cat >"$D/$1" <<EOF
BEGIN
    INSERT INTO public.hooklog (what) VALUES ('$2:' || (info->>'whenrun'));
    RETURN '${3:-{\}}'::jsonb;
END
EOF
}
logcode bs1.sql bs1
logcode bs2.sql bs2 '{"lastcode": true}'
logcode bs3.sql bs3
logcode as1.sql as1 '{"message": "after sync done"}'

# ---- bad input: one error line, catalog unchanged ----
before=$(catalog_snapshot)
run_fail "$BUCARDO" add customcode x1 whenrun=sometime src_code="$D/bs1.sql" sync=cc
expect_err "whenrun \"sometime\" is not a hook point"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/missing.sql" sync=cc
expect_err "cannot read src_code file"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/bs1.sql" sync=nosuch
expect_err "no sync named \"nosuch\""
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/bs1.sql" relation=nosuch
expect_err "no table named"
run_fail "$BUCARDO" add customcode 'bad name' whenrun=before_sync src_code="$D/bs1.sql" sync=cc
expect_err "must be 1 to 48"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/bs1.sql" sync=cc timeout=-1
expect_err "timeout"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/bs1.sql" sync=cc kind=python
expect_err "kind must be sql, command or perl"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/bs1.sql" sync=cc getdbh=maybe
expect_err "getdbh"
run_fail "$BUCARDO" update customcode nosuch priority=3
expect_err "no customcode named"
# Code that cannot run is refused at add: a SQL body PostgreSQL does not
# compile (tried in a rolled-back transaction), a command that is missing
# or not executable.
printf 'BEGIN RETURN {broken; END' >"$D/broken.sql"
printf '#!/bin/sh\necho {}\n' >"$D/noexec.sh"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/broken.sql" sync=cc db=a
expect_err "customcode x1: its SQL body does not compile in database a: syntax error"
run_fail "$BUCARDO" add customcode x1 whenrun=exception src_code="$D/broken.sql" relation=public.person
expect_err "customcode x1: its SQL body does not compile in database a"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/bs1.sql" sync=cc language=nosuchlang
expect_err "customcode x1: its SQL body does not compile in database a: language \"nosuchlang\" does not exist"
printf 'my $info = shift;\nmy $x = ;\n' >"$D/broken.pl"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/broken.pl" sync=cc
expect_err "customcode x1: its Perl code does not compile: syntax error"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/noexec.sh" sync=cc kind=command
expect_err "src_code \"$D/noexec.sh\" is not an executable file"
run_fail "$BUCARDO" add customcode x1 whenrun=before_sync src_code="$D/nosuch.sh" sync=cc kind=command
expect_err "src_code \"$D/nosuch.sh\" is not an executable file"
expect_equal 0 "$(sql a "select count(*) from pg_proc where proname like '%customcode%'")" "functions left by the checks"
run_fail "$BUCARDO" remove customcode nosuch
expect_err "no customcode named"
expect_equal "$before" "$(catalog_snapshot)" "catalog after refused customcode commands"

# ---- before_sync / after_sync in priority order, lastcode ----
run_ok "$BUCARDO" add customcode bs3 whenrun=before_sync src_code="$D/bs3.sql" sync=cc priority=3 db=a
run_ok "$BUCARDO" add customcode bs1 whenrun=before_sync src_code="$D/bs1.sql" sync=cc priority=1 db=a about="first"
run_ok "$BUCARDO" add customcode bs2 whenrun=before_sync src_code="$D/bs2.sql" sync=cc priority=2 db=a
run_ok "$BUCARDO" add customcode as1 whenrun=after_sync src_code="$D/as1.sql" sync=cc db=a
run_fail "$BUCARDO" add customcode bs1 whenrun=before_sync src_code="$D/bs1.sql" sync=cc
expect_err "already exists"
before=$(catalog_snapshot)
run_fail "$BUCARDO" update customcode bs1 src_code="$D/broken.sql"
expect_err "customcode bs1: its SQL body does not compile in database a"
expect_equal "$before" "$(catalog_snapshot)" "catalog after a refused update"
run_ok "$BUCARDO" list customcodes
expect_out "Code: bs1  When run: before_sync  Kind: sql  Priority: 1  Status: active  Getdbh: t  For: sync cc  DB: a"
expect_out "Code: as1  When run: after_sync"
expect_out "About: first"
run_ok "$BUCARDO" start
hooklog() { sql a "select coalesce(string_agg(what, ' ' order by n), '') from hooklog where n > $1"; }
mark() { sql a "select coalesce(max(n), 0) from hooklog"; }
run_ok "$BUCARDO" kick cc 20  # the sync runs with its codes
m=$(mark)
sql a "insert into item values (1, 'one')" >/dev/null
run_ok "$BUCARDO" kick cc 20
expect_equal "bs1:before_sync bs2:before_sync as1:after_sync" "$(hooklog $m)" "codes of one cycle"
expect_equal one "$(sql b "select v from item where id = 1")" "row 1 on b"
m=$(mark)
run_ok "$BUCARDO" kick cc 20
expect_equal "bs1:before_sync bs2:before_sync as1:after_sync" "$(hooklog $m)" "codes of an empty kicked cycle"
grep -q "Message from after_sync code as1: after sync done" log.bucardo || fail "as1's message not logged"
# cc2 has no customcode: nothing of theirs runs for it.
m=$(mark)
sql a "insert into other values (1, 'x')" >/dev/null
run_ok "$BUCARDO" kick cc2 20
expect_equal "" "$(hooklog $m)" "codes run for a sync without customcode"

# ---- endsync: the cycle is cancelled, its changes stay queued ----
logcode bs2e.sql bs2 '{"endsync": true}'
run_ok "$BUCARDO" update customcode bs2 src_code="$D/bs2e.sql"
sleep 1  # the engine reloads the sync with the new code
sql a "insert into item values (2, 'two')" >/dev/null
m=$(mark)
run_ok "$BUCARDO" kick cc
sleep 2
expect_equal 0 "$(sql b "select count(*) from item where id = 2")" "row 2 on b while endsync cancels"
h=$(hooklog $m)
case "$h" in "bs1:before_sync bs2:before_sync"*) ;; *) fail "hooks while cancelling: $h" ;; esac
case "$h" in *as1*|*bs3*) fail "after_sync or bs3 ran in a cancelled cycle: $h" ;; esac
grep -q "cycle cancelled by a customcode (endsync)" log.bucardo || fail "endsync not logged"
run_ok "$BUCARDO" update customcode bs2 src_code="$D/bs2.sql"
wait_synced a b 30 item
expect_equal two "$(sql b "select v from item where id = 2")" "row 2 after endsync stopped"
run_ok "$BUCARDO" update customcode bs1 status=inactive
fns() { sql "$1" "select coalesce(string_agg(proname, ' ' order by proname), '') from pg_proc
                   where pronamespace = 'bucardo'::regnamespace and proname like 'customcode%'"; }
expect_equal "customcode_as1 customcode_bs1 customcode_bs2" "$(fns a)" "SQL functions installed on a"
run_ok "$BUCARDO" remove customcode bs2 bs3 as1
# no server NOTICE ("does not exist, skipping") for what was never installed
[ -z "$ERR" ] || fail "remove customcode printed on stderr: $ERR"
expect_equal "customcode_bs1" "$(fns a)" "SQL functions left on a after remove customcode"
sleep 1
m=$(mark)
run_ok "$BUCARDO" kick cc 20
expect_equal "" "$(hooklog $m)" "codes after remove/inactive"

# ---- exception: rename the colliding target row, retry ----
cat >"$D/rename.sql" <<'EOF'
BEGIN
    IF info->>'sqlstate' <> '23505' THEN
        RETURN '{}';
    END IF;
    -- rows the batch brings: a target row of another id with the same email moves aside
    UPDATE public.person p SET email = p.email || '.old'
      FROM jsonb_each(info->'rows') s, jsonb_array_elements(s.value) r
     WHERE p.email = r->>'email' AND p.id <> (r->>'id')::int;
    RETURN jsonb_build_object('retry', true, 'message', 'renamed the colliding row on ' || (info->>'dbname'));
END
EOF
run_ok "$BUCARDO" add customcode rename whenrun=exception src_code="$D/rename.sql" relation=public.person
sql b "insert into person values (99, 'x@example.org')" >/dev/null
sleep 1
sql a "insert into person values (1, 'x@example.org'); insert into item values (3, 'three')" >/dev/null
run_ok "$BUCARDO" kick cc 30
wait_run cc 20 "state = 'Good'"
expect_equal "1|x@example.org
99|x@example.org.old" "$(sql b "select id || '|' || email from person order by id")" "person on b after the exception handler"
expect_equal three "$(sql b "select v from item where id = 3")" "item 3 applied with the repaired batch"
grep -q "Message from exception code rename: renamed the colliding row on b" log.bucardo || fail "rename's message"
expect_equal Good "$(sql bucardo "select state from bucardo.syncrun where sync = 'cc' order by id desc limit 1")" "last run"
expect_equal "customcode_rename" "$(fns b)" "the exception code's function on b"
run_ok "$BUCARDO" update customcode rename name=rename2
expect_equal "" "$(fns b)" "functions on b after the code was renamed"
run_ok "$BUCARDO" remove customcode rename2

# ---- exception: skip the failing batch's keys (logged, counted) ----
cat >"$D/skip.sql" <<'EOF'
BEGIN
    RETURN '{"skip_keys": true}';
END
EOF
run_ok "$BUCARDO" add customcode skipper whenrun=exception src_code="$D/skip.sql" sync=cc
sql b "insert into person values (98, 'y@example.org')" >/dev/null
sleep 1
sql a "insert into person values (2, 'y@example.org'); insert into item values (4, 'four')" >/dev/null
run_ok "$BUCARDO" kick cc 30
expect_equal "1|x@example.org
98|y@example.org
99|x@example.org.old" "$(sql b "select id || '|' || email from person order by id")" "person on b after skip_keys"
expect_equal four "$(sql b "select v from item where id = 4")" "item 4 applied while person's keys were skipped"
expect_equal "Good|1 key(s) of table public.person skipped by exception customcode skipper" \
    "$(sql bucardo "select state || '|' || warning from bucardo.syncrun where sync = 'cc' order by id desc limit 1")" \
    "the run that skipped"
grep -q "exception customcode skipper skipped 1 key(s) of the failing batch" log.bucardo || fail "skip not logged"
run_ok "$BUCARDO" remove customcode skipper

# ---- failing codes: Bad runs naming them, cc2 unaffected, nothing lost ----
cat >"$D/hang.sh" <<'EOF'
#!/bin/sh
sleep 60
EOF
cat >"$D/exit3.sh" <<'EOF'
#!/bin/sh
echo "something went wrong here" >&2
exit 3
EOF
printf 'BEGIN RAISE EXCEPTION %s; END' "'broken on purpose'" >"$D/raises.sql"
chmod +x "$D/hang.sh" "$D/exit3.sh"
failing() {  # failing NAME PATTERN ARGS... - the code makes cc's runs Bad
    local name=$1 pattern=$2 id
    shift 2
    id=$(sql bucardo "select coalesce(max(id), 0) from bucardo.syncrun where sync = 'cc'")
    run_ok "$BUCARDO" add customcode "$name" sync=cc "$@"
    sleep 1
    sql a "insert into item select coalesce(max(id), 0) + 1, '$name' from item" >/dev/null
    sql a "insert into other select coalesce(max(id), 0) + 1, '$name' from other" >/dev/null
    "$BUCARDO" kick cc >/dev/null 2>&1
    wait_run cc 30 "id > $id and state = 'Bad' and error like '%customcode $name%' and error like '%$pattern%'"
    run_ok "$BUCARDO" kick cc2 20  # the other sync goes on
    wait_synced a b 20 other
    expect_equal 0 "$(sql b "select count(*) from item where v = '$name'")" "$name: cc applied despite the failing code"
    run_ok "$BUCARDO" status cc
    expect_out "Bad"
    run_ok "$BUCARDO" remove customcode "$name"
    wait_synced a b 30 item  # nothing lost
}
failing hang "did not answer within 1 s" whenrun=before_sync src_code="$D/hang.sh" timeout=1
failing exit3 "exited with status 3: something went wrong here" whenrun=after_trigger_drop src_code="$D/exit3.sh"
failing raises "broken on purpose" whenrun=before_txn src_code="$D/raises.sql"
pgrep -f "$D/hang.sh" >/dev/null && fail "the hanging command was not killed"
run_ok "$BUCARDO" stop

# ---- remove db of a database a customcode runs in ----
# Database extra (its own database c) is the target of sync ccx, and code
# inextra runs there: one cycle installs its function in c.
run_ok createdb c
sql c "CREATE TABLE item (id int PRIMARY KEY, v text); CREATE TABLE person (id int PRIMARY KEY, email text UNIQUE)" >/dev/null
run_ok "$BUCARDO" add database extra dbname=c
run_ok "$BUCARDO" add sync ccx relgroup=rg dbs=a:source,extra:target autokick=0
printf 'BEGIN\n    RETURN %s;\nEND\n' "'{}'::jsonb" >"$D/noop.sql"
run_ok "$BUCARDO" add customcode inextra whenrun=before_sync src_code="$D/noop.sql" sync=ccx db=extra
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick ccx 30
run_ok "$BUCARDO" stop
fn_in_c() { sql c "select count(*) from pg_proc where proname = 'customcode_inextra'"; }
expect_equal 1 "$(fn_in_c)" "the code's function installed in database extra"
before=$(catalog_snapshot)
run_fail "$BUCARDO" remove db extra
expect_err 'cannot remove database "extra": it is used by .*customcode inextra \(use --force'
expect_equal "$before" "$(catalog_snapshot)" "catalog after a refused remove db"
run_ok "$BUCARDO" remove db extra --force
expect_equal 0 "$(fn_in_c)" "the code's function left in the removed database"
expect_out 'Deactivated customcode "inextra": it ran in database "extra"'
expect_equal "inactive||0" "$(sql bucardo "select status || '|' || coalesce(db, '') || '|' ||
    (select count(*) from bucardo.db where name = 'extra') from bucardo.customcode where name = 'inextra'")" \
    "customcode and db after remove db --force"
exit 0
