#!/usr/bin/env bash
# The CLI's global options, rc files and catalog commands, judged by the
# catalog: rc file search (./.bucardorc, ~/.bucardorc, BUCARDO_ETC_RC for
# /etc/bucardorc) and forms (name=value, name: value, unknown keys warned
# once), --dryrun (rolled back, said), --confirm / BUCARDO_CONFIRM (commit
# only on yes), --quiet, --verbose, --debug / BUCARDO_DEBUG, --database,
# abbreviations and spellings of verbs and nouns, add_sync, remove TYPE all,
# list all / list config / config show|set / show changed, inspect sync and
# relgroup, add sync tables= and dbs=DBGROUP, status all and its options,
# help for every command.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY);
        CREATE SEQUENCE q1;"
test_databases "$SCHEMA" d1 d2

# --- rc files: ./.bucardorc wins over ~/.bucardorc, which wins over /etc
createdb -T bucardo -O bucardo cat2 || fail "catalog copy"
createdb -T bucardo -O bucardo cat3 || fail "catalog copy"
mkdir -p "$TEST_DIR/work"
printf 'dbname: cat2\n# a comment\nno-such-key = 0\nno-such-key = 1\nanother-unknown: /tmp\n' >"$TEST_DIR/work/.bucardorc"
echo "dbname = cat3" >"$HOME/.bucardorc"
echo "dbname = nosuchcatalog" >"$TEST_DIR/etcrc"
(cd "$TEST_DIR/work" && run_ok "$BUCARDO" set log_level=debug
 expect_err 'line 3: "no-such-key" is not used by this program; ignored'
 [ "$(printf '%s\n' "$ERR" | grep -c no-such-key)" = 1 ] || fail "no-such-key warned twice: $ERR"
 expect_err '"another-unknown" is not used') || exit 1
[ "$(sql cat2 "select setting from bucardo.config where name = 'log_level'")" = debug ] || fail "./.bucardorc not read"
[ "$(sql cat3 "select setting from bucardo.config where name = 'log_level'")" = normal ] || fail "~/.bucardorc read though ./.bucardorc exists"
# no ./.bucardorc: ~/.bucardorc
run_ok "$BUCARDO" set log_level=verbose
[ "$(sql cat3 "select setting from bucardo.config where name = 'log_level'")" = verbose ] || fail "~/.bucardorc not read"
# neither: the system file
mv "$HOME/.bucardorc" "$HOME/rc.saved"
BUCARDO_ETC_RC="$TEST_DIR/etcrc" run_fail "$BUCARDO" show log_level
expect_err "nosuchcatalog"
mv "$HOME/rc.saved" "$HOME/.bucardorc"
# --bucardorc FILE; a used key with a bad value is an error
echo "sort: x" >"$TEST_DIR/badrc"
run_fail "$BUCARDO" --bucardorc "$TEST_DIR/badrc" status
expect_err "invalid --sort"
echo "dbname=bucardo" >"$HOME/.bucardorc"

# --- abbreviations, any-case verbs, the add_sync form, --database
run_ok "$BUCARDO" ADD TAB a --database=d1 relgroup=rg
run_ok "$BUCARDO" add_table b db=d1 relgroup=rg
run_ok "$BUCARDO" add seq q1 db=d1
[ "$(sql bucardo "select string_agg(relname || ':' || kind, ',' order by relname) from bucardo.relation")" = "a:table,b:table,q1:sequence" ] ||
    fail "abbreviated adds"
run_ok "$BUCARDO" lsit tab
expect_out "public.a"
run_ok "$BUCARDO" l seq
expect_out "q1"
run_ok "$BUCARDO" List Herds
expect_out "rg"

# --- --dryrun: rolled back, and said
before=$(catalog_snapshot)
run_ok "$BUCARDO" add sync s1 relgroup=rg dbs=d1,d2 --dryrun
expect_out 'Added sync "s1"'
expect_out "DRYRUN: the changes above were rolled back"
expect_equal "$before" "$(catalog_snapshot)" "catalog after --dryrun"
[ "$(sql d1 "select count(*) from pg_trigger where tgname like 'bucardo%'")" = 0 ] || fail "--dryrun installed capture on d1"
run_ok "$BUCARDO" set log_level=terse --dry-run
expect_equal "$before" "$(catalog_snapshot)" "catalog after set --dry-run"

run_fail "$BUCARDO" install --dryrun --batch
expect_err "cannot be run with --dryrun"
# upgrade --dryrun is the dry run of the switch from Bucardo 5 (test_migrate_bucardo)
run_fail "$BUCARDO" upgrade --dryrun
expect_err "applies to an upgrade from a Bucardo 5 catalog"
expect_equal "$before" "$(catalog_snapshot)" "catalog after upgrade --dryrun"

# --- --confirm: no commits nothing, yes commits; BUCARDO_CONFIRM too
OUT=$(echo n | "$BUCARDO" add dbgroup g1 d1:source d2:target --confirm) || fail "confirm no"
printf '%s\n' "$OUT" | grep -q "Commit the changes? Y/N Changes have been rolled back" || fail "confirm prompt: $OUT"
[ "$(sql bucardo "select count(*) from bucardo.dbgroup")" = 0 ] || fail "--confirm no committed"
OUT=$(echo y | BUCARDO_CONFIRM=1 "$BUCARDO" add dbgroup g1 d1:source d2:target) || fail "confirm yes"
printf '%s\n' "$OUT" | grep -q "Changes have been committed" || fail "confirm yes: $OUT"
[ "$(sql bucardo "select count(*) from bucardo.dbgroup_member where dbgroup = 'g1'")" = 2 ] || fail "--confirm yes did not commit"

# --- --quiet, --verbose, --debug
run_ok "$BUCARDO" add sync s1 tables=a,b dbs=g1 --quiet
[ -z "$OUT" ] || fail "--quiet printed: $OUT"
[ "$(sql bucardo "select relgroup || '/' || dbgroup from bucardo.sync where name = 's1'")" = "s1/g1" ] ||
    fail "tables= / dbs=DBGROUP: $(sql bucardo "select relgroup || '/' || dbgroup from bucardo.sync")"
[ "$(sql bucardo "select count(*) from bucardo.relgroup_member where relgroup = 's1'")" = 2 ] || fail "tables= members"
run_fail "$BUCARDO" update sync s1 tables=a
expect_err "tables= is for add sync"
run_ok "$BUCARDO" update sync s1 autokick=0 --verbose
run_ok "$BUCARDO" list syncs --debug
expect_err "DEBUG: connecting to the catalog"
BUCARDO_DEBUG=1 run_ok "$BUCARDO" list syncs
expect_err "DEBUG: COMMIT"
run_ok "$BUCARDO" -vv list syncs
run_ok "$BUCARDO" --vvvv --quickstart --bcverbose list syncs
expect_err "--quickstart has no effect"

# --- inspect sync / relgroup
run_ok "$BUCARDO" inspect sync s1
expect_out "^Sync: s1$"
expect_out "Databases: +d1 \(source\), d2 \(target\) \(dbgroup g1\)"
expect_out "table public.a \(database d1, key: id\)"
run_ok "$BUCARDO" inspect relgroup s1
expect_out "Used by syncs: s1"
run_fail "$BUCARDO" inspect sync nosuch
expect_err 'no sync named "nosuch"'

# --- list all shows every kind; list config = config show = show
run_ok "$BUCARDO" add customname a a_renamed db=d2
run_ok "$BUCARDO" list all
expect_no "^-- customcodes:"
expect_no "^-- customcols:"
printf 'BEGIN RETURN '"'"'{}'"'"'::jsonb; END\n' >"$TEST_DIR/cc1.sql"
run_ok "$BUCARDO" add customcode cc1 whenrun=before_sync sync=s1 src_code="$TEST_DIR/cc1.sql"
run_ok "$BUCARDO" list all
# Bucardo's headings and order: the custom objects first, when there are any
expect_equal "customcodes customnames dbgroups databases relgroup syncs tables sequences" \
    "$(printf '%s\n' "$OUT" | sed -n 's/^-- \([a-z]*\):$/\1/p' | tr '\n' ' ' | sed 's/ $//')" "list all headings"
expect_out "cc1"
expect_out "a_renamed"
expect_out "q1"
run_ok "$BUCARDO" list config log_level
a=$OUT
run_ok "$BUCARDO" config show log_level
expect_equal "$a" "$OUT" "config show vs list config"
run_ok "$BUCARDO" config set batch_keys=5000
[ "$(sql bucardo "select setting from bucardo.config where name = 'batch_keys'")" = 5000 ] || fail "config set"
run_ok "$BUCARDO" show changed
expect_out "^batch_keys +=  ?5000 \(default: 10000\)"
expect_no "chunk_size"
# Installed defaults are not "changed": those whose description holds a ';'
# (default_email_to, log_conflict_file) and log_showtime, which an upgrade
# section turned from 1 into 3; a password is never shown.
expect_no "default_email_to"
expect_no "log_conflict_file"
expect_no "log_showtime"
run_ok "$BUCARDO" set email_auth_pass=Sekr1tPw
run_ok "$BUCARDO" show changed
expect_out "^email_auth_pass += \*\*\*\*\*\*\*\* \(default: \)"
expect_no "Sekr1tPw"
run_ok "$BUCARDO" set email_auth_pass=
# semaphore_table (Bucardo's, for MongoDB targets only): stored, with its note.
run_ok "$BUCARDO" set semaphore_table=bucardo_sem
expect_out "semaphore_table has no effect in this engine: .*MongoDB"
expect_equal "bucardo_sem" "$(sql bucardo "select setting from bucardo.config where name = 'semaphore_table'")" "semaphore_table"
run_ok "$BUCARDO" show changed
expect_out "^semaphore_table += bucardo_sem \(default: bucardo_status\)"
run_fail "$BUCARDO" config frob
expect_err "usage: bucardo config"

# --- status all and its options
run_ok "$BUCARDO" add sync s2 relgroup=rg dbs=g1 status=inactive
run_ok "$BUCARDO" status all
expect_out "^Sync name +: s1$"
expect_out "^Sync name +: s2$"
run_ok "$BUCARDO" status 's%'
[ "$(printf '%s\n' "$OUT" | grep -c '^Sync name')" = 2 ] || fail "status with a wildcard"
psql -X -q -d bucardo -c "insert into bucardo.syncrun (sync, started, ended, state, deletes, inserts)
    values ('s1', now() - interval '3 days 2 hours', now() - interval '3 days 1 hour', 'Good', 1234, 5678),
           ('s2', now() - interval '10 minutes', now() - interval '5 minutes', 'Good', 1, 2)" || fail "runs"
run_ok "$BUCARDO" status --sort=-1
expect_equal "s2 s1" "$(printf '%s\n' "$OUT" | awk '/^ s[12] /{printf "%s%s", sep, $1; sep=" "}')" "--sort=-1"
run_ok "$BUCARDO" status --sort=5
expect_equal "s2 s1" "$(printf '%s\n' "$OUT" | awk '/^ s[12] /{printf "%s%s", sep, $1; sep=" "}')" "--sort=5"
expect_out "1,234/5,678"
expect_out " 73h "
run_ok "$BUCARDO" status --show-days --tsep=.
expect_out " 3d 1h "
expect_out "1.234/5.678"
run_ok "$BUCARDO" status --show-days --compress
expect_out " 3d1h[0-9]+s "
BUCARDO_SHORTDATEFORMAT=YYYY run_ok "$BUCARDO" status
expect_out " $(date +%Y) "
BUCARDO_DATEFORMAT='"good at" YYYY' run_ok "$BUCARDO" status s1
expect_out "^Last good +: good at $(date +%Y) "
run_fail "$BUCARDO" status --sort=12
expect_err "invalid --sort"

# --- tables= with a table registered from two databases: looked up in the
# sync's source database (Bucardo's db_for_lookups); a name that is still
# ambiguous there names a parameter add sync takes
run_ok "$BUCARDO" add table a b db=d2
run_ok "$BUCARDO" add sync s9 tables=a,public.b dbs=d2:source,d1:target
expect_equal "d2,d2" "$(sql bucardo "select string_agg(r.db, ',') from bucardo.relgroup_member m
                                      join bucardo.relation r on r.id = m.relation where m.relgroup = 's9'")" \
    "tables= took the source's registrations"
run_ok "$BUCARDO" add sync s3 tables=a dbs=d1:source,d2:source --dryrun
expect_out '^Added public.a to relgroup "s3"$'
before=$(catalog_snapshot)
run_fail "$BUCARDO" add relgroup rgx a
expect_err 'table name "a" is ambiguous: it exists in several databases \(give --db=NAME\)'
expect_equal "$before" "$(catalog_snapshot)" "catalog after an ambiguous add relgroup"
run_ok "$BUCARDO" remove sync s9
run_ok "$BUCARDO" remove relgroup s9
run_ok "$BUCARDO" remove table public.a public.b db=d2

# --- remove TYPE all: in use refused (nothing removed), then all go
before=$(catalog_snapshot)
run_fail "$BUCARDO" remove all relgroups
expect_equal "$before" "$(catalog_snapshot)" "catalog after a refused remove all"
run_ok "$BUCARDO" remove cname all
[ "$(sql bucardo "select count(*) from bucardo.customname")" = 0 ] || fail "remove customname all"
run_ok "$BUCARDO" del sync all
[ "$(sql bucardo "select count(*) from bucardo.sync")" = 0 ] || fail "remove sync all"
run_ok "$BUCARDO" remove all syncs
expect_out "No syncs to remove"
run_ok "$BUCARDO" remove relgroup all
run_ok "$BUCARDO" remove table all
run_ok "$BUCARDO" remove sequences all
[ "$(sql bucardo "select count(*) from bucardo.relation")" = 0 ] || fail "remove table/sequence all"

# --- help for every command of --help, and --help lists the control commands
run_ok "$BUCARDO" --help
for v in kick status start stop ping delta purge message activate inspect config; do
    expect_out "^  $v"
done
for v in $(printf '%s\n' "$OUT" | awk '/^Commands:/{f=1;next} /^$/{f=0} f && /^  [a-z]/{print $1}' | sort -u); do
    run_ok "$BUCARDO" help "$v"
    expect_out "bucardo $v"
done
run_ok "$BUCARDO" help add sync
expect_out "^bucardo add sync"
expect_no "bucardo add db"
run_fail "$BUCARDO" help add nothing
echo ok
