#!/usr/bin/env bash
# Settings and options: show / set (checked against bucardo.config), the
# ~/.bucardorc file and --bucardorc / --no-bucardorc, command-line options
# winning over the rc file and over libpq's environment, and the help and
# version output (which need no catalog at all).
. "$TESTS_DIR/lib/setup.sh"
test_begin
unchanged() { expect_equal "$1" "$(catalog_snapshot)" "catalog after $2"; }
setting() { sql bucardo "select setting from bucardo.config where name = '$1'"; }

# --- show
run_ok "$BUCARDO" show all
expect_out "^piddir += $TEST_DIR/piddir$"
expect_out "^default_conflict_strategy = bucardo_latest$"
expect_equal "$(sql bucardo "select count(*) from bucardo.config")" "$(printf '%s\n' "$OUT" | grep -c ' = ')" \
    "show all: one line per setting"
expect_equal "$(sql bucardo "select string_agg(name, ' ' order by name) from bucardo.config")" \
    "$(printf '%s\n' "$OUT" | awk '{print $1}' | paste -sd ' ')" "show all: names in order"
run_ok "$BUCARDO" show piddir
expect_equal "piddir = $TEST_DIR/piddir" "$OUT" "show piddir"
run_ok "$BUCARDO" show PIDDIR log_level
expect_equal "piddir = $TEST_DIR/piddir
log_level = normal" "$OUT" "show PIDDIR log_level"
run_fail "$BUCARDO" show nosuchsetting
expect_err nosuchsetting
run_fail "$BUCARDO" show
run_fail "$BUCARDO" show all piddir

# --- set
run_ok "$BUCARDO" set piddir=/x
expect_equal 'Updated configuration setting "piddir"' "$OUT" "set piddir=/x"
expect_equal "/x" "$(setting piddir)" "piddir in the catalog"
run_ok "$BUCARDO" show piddir
expect_equal "piddir = /x" "$OUT" "show piddir after set"
run_ok "$BUCARDO" set PIDDIR="$TEST_DIR/piddir" log_level=verbose
expect_equal "$TEST_DIR/piddir|verbose" "$(setting piddir)|$(setting log_level)" "two settings at once"
run_ok "$BUCARDO" set 'reason_file=a=b c.txt'
expect_equal "a=b c.txt" "$(setting reason_file)" "a value holding '=' and a space"
before=$(catalog_snapshot)
run_fail "$BUCARDO" set nosuchsetting=1
expect_err nosuchsetting
run_fail "$BUCARDO" set piddir=/y nosuchsetting=1
expect_err nosuchsetting
printf '%s\n' "$OUT" | grep -q Updated && fail "a failed set says it updated something: $OUT"
run_fail "$BUCARDO" set piddir
expect_err 'NAME=VALUE|='
run_fail "$BUCARDO" set piddir=/y log_level
run_fail "$BUCARDO" set =/y
run_fail "$BUCARDO" set
# lock_timeout is a PostgreSQL time above 0 (0 would wait for ever).
for bad in 0 0s abc 10x -5s ''; do
    run_fail "$BUCARDO" set lock_timeout="$bad"
    expect_err 'lock_timeout: expected a time above 0'
done
unchanged "$before" "refused set"
for good in 500ms 10s 2min 1500; do
    run_ok "$BUCARDO" set lock_timeout=$good
    expect_equal "$good" "$(setting lock_timeout)" "lock_timeout=$good"
done
run_ok "$BUCARDO" set lock_timeout=60s
expect_equal 0 "$(sql bucardo "select count(*) from bucardo.config where name like 'nosuch%'")" "no new setting"

# --- ~/.bucardorc, --no-bucardorc, --bucardorc FILE
run_ok "$BUCARDO" add db d1 dbname=postgres
echo "dbname=nonexistent" >"$HOME/.bucardorc"
run_fail timeout 10 "$BUCARDO" list dbs
expect_err nonexistent
run_fail timeout 10 "$BUCARDO" set piddir=/z
expect_equal "$TEST_DIR/piddir" "$(setting piddir)" "piddir with a broken rc file"
run_ok "$BUCARDO" --no-bucardorc list dbs
expect_out "^Database: d1 "
run_ok "$BUCARDO" list dbs --no-bucardorc
expect_out "^Database: d1 "
# The command line beats the rc file.
run_ok "$BUCARDO" --dbname=bucardo list dbs
expect_out "^Database: d1 "
run_ok "$BUCARDO" -d bucardo list dbs
# --bucardorc FILE replaces ~/.bucardorc.
printf '# a comment\n\n  --dbname = bucardo\ndbuser=bucardo\n' >"$TEST_DIR/good.rc"
run_ok "$BUCARDO" --bucardorc "$TEST_DIR/good.rc" list dbs
expect_out "^Database: d1 "
run_ok "$BUCARDO" list dbs --bucardorc="$TEST_DIR/good.rc"
expect_out "^Database: d1 "
printf 'dbname=bucardo\ndbport=1\n' >"$TEST_DIR/port1.rc"
run_fail timeout 10 "$BUCARDO" --bucardorc="$TEST_DIR/port1.rc" list dbs
run_ok "$BUCARDO" --bucardorc="$TEST_DIR/port1.rc" --dbport "$PGPORT" list dbs
expect_out "^Database: d1 "
run_ok "$BUCARDO" --bucardorc="$TEST_DIR/port1.rc" -p "$PGPORT" list dbs
run_fail "$BUCARDO" --bucardorc "$TEST_DIR/missing.rc" list dbs
expect_err missing.rc
run_fail "$BUCARDO" list dbs --bucardorc
# Settings this program does not use (Bucardo's rc files hold others, e.g.
# sendmail) are warned about, naming the line, and the command runs.
printf 'dbname=bucardo\nnosuchoption=1\n' >"$TEST_DIR/bad.rc"
run_ok "$BUCARDO" --bucardorc="$TEST_DIR/bad.rc" list dbs
expect_err 'bad.rc line 2: "nosuchoption" is not used by this program; ignored'
expect_out "^Database: d1 "
printf 'dbname\n' >"$TEST_DIR/novalue.rc"
run_fail "$BUCARDO" --bucardorc="$TEST_DIR/novalue.rc" list dbs
rm -f "$HOME/.bucardorc"
run_ok "$BUCARDO" list dbs
expect_out "^Database: d1 "

# --- options beat libpq's environment; a wrong catalog fails clearly.
run_fail timeout 10 "$BUCARDO" --dbport 1 list dbs
expect_err 'catalog.*connect'
run_fail timeout 10 "$BUCARDO" --dbport=1 list dbs
run_fail timeout 10 "$BUCARDO" list dbs --dbhost /nonexistent/dir
run_fail timeout 10 "$BUCARDO" list dbs --dbuser=nosuchuser
expect_err nosuchuser
run_fail timeout 10 "$BUCARDO" --dbname=postgres list dbs
expect_err 'no bucardo catalog|install'
PGPORT=1 run_ok "$BUCARDO" --dbport="$PGPORT" list dbs
run_fail env PGPORT=1 "$BUCARDO" list dbs

# --- help and version: stdout, exit 0, no catalog needed.
echo "dbname=nonexistent" >"$HOME/.bucardorc"
run_ok "$BUCARDO" --version
expect_equal "bucardo version 5.6.0" "$OUT" "--version"
run_ok "$BUCARDO" --help
expect_out "^Usage: bucardo"
expect_out "--dbport"
run_ok "$BUCARDO" -?
expect_out "^Usage: bucardo"
run_ok "$BUCARDO" help
expect_out "^Usage: bucardo"
run_ok "$BUCARDO" help add
expect_out "^bucardo add database NAME"
expect_out "^bucardo add sync NAME"
run_ok "$BUCARDO" add --help
expect_out "^bucardo add database NAME"
for verb in install update remove list show set; do
    run_ok "$BUCARDO" help "$verb"
    expect_out "^bucardo $verb"
done
run_fail "$BUCARDO" help nonsense
expect_err nonsense
[ -z "$OUT" ] || fail "help nonsense printed to stdout: $OUT"
# No command at all: a failure, one error line on stderr pointing at
# --help, and nothing on stdout.
rc=0
OUT=$("$BUCARDO" 2>"$TEST_DIR/stderr") || rc=$?
ERR=$(cat "$TEST_DIR/stderr")
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "bucardo without a command exited $rc"
expect_equal "" "$OUT" "stdout of bucardo without a command"
expect_equal "bucardo: no command given (see bucardo --help)" "$ERR" "stderr of bucardo without a command"
rm -f "$HOME/.bucardorc"
echo "ok"
