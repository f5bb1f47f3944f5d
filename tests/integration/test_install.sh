#!/usr/bin/env bash
# `bucardo install`: the interactive menu (proceed, change a setting then
# proceed, quit, end of input), --batch, a second install, a non-superuser
# and an unreachable server.  After each step the cluster itself is checked:
# whether the role, the database and the catalog exist, and what they hold.
. "$TESTS_DIR/lib/setup.sh"
test_begin --no-install
mkdir -p "$TEST_DIR/piddir" "$TEST_DIR/piddir2"

# run_input INPUT CMD... - like run_ok/run_fail but feeding INPUT on stdin
# and never hanging: RC holds the exit code.
run_input() {
    local input=$1
    shift
    RC=0
    OUT=$(printf '%s' "$input" | timeout 10 "$@" 2>"$TEST_DIR/stderr") || RC=$?
    ERR=$(cat "$TEST_DIR/stderr")
    [ $RC -ne 124 ] || fail "timed out (looping on input?): $*"
    [ $RC -lt 128 ] || fail "crashed with exit $RC: $*
$ERR"
}

# The catalog version this program creates.
VERSION=$(sed -n 's/^#define CATALOG_VERSION \([0-9][0-9]*\).*/\1/p' "$TESTS_DIR/../include/catalog.h")
[ -n "$VERSION" ] || fail "no CATALOG_VERSION in include/catalog.h"

# nothing_installed - no role, no database named bucardo.
nothing_installed() {
    expect_equal "0|0" "$(sql postgres "select (select count(*) from pg_roles where rolname = 'bucardo'),
        (select count(*) from pg_database where datname = 'bucardo')")" "role/db bucardo after: $1"
}

# uninstall - drop what an install made, to install again.
uninstall() {
    dropdb bucardo && dropuser bucardo || fail "cannot drop the bucardo database/role"
}

# --- Q quits: non-zero, a message, nothing created.
run_input $'q\n' "$BUCARDO" install --piddir="$TEST_DIR/piddir"
[ $RC -ne 0 ] || fail "install answering q succeeded"
expect_out "^Enter a number to change it, P to proceed, or Q to quit:"
expect_err "cancel"
nothing_installed "answering q"
run_input $'Q\n' "$BUCARDO" install --piddir="$TEST_DIR/piddir"
[ $RC -ne 0 ] || fail "install answering Q succeeded"
nothing_installed "answering Q"

# --- End of input: a refusal, promptly, after asking once.
start=$SECONDS
run_input "" "$BUCARDO" install --piddir="$TEST_DIR/piddir"
[ $RC -ne 0 ] || fail "install with no input succeeded"
[ $((SECONDS - start)) -le 5 ] || fail "install with no input took $((SECONDS - start)) s"
expect_err "end of input"
expect_equal 1 "$(printf '%s\n' "$OUT" | grep -c 'P to proceed')" "menus shown with no input"
nothing_installed "end of input"
# Input ending in the middle of a change ("5", then nothing).
run_input $'5\n' "$BUCARDO" install --piddir="$TEST_DIR/piddir"
[ $RC -ne 0 ] || fail "install with input ending after '5' succeeded"
expect_err "end of input"
nothing_installed "input ending after 5"
# Nonsense answers are asked again, never taken as P; then input ends.
run_input $'x\n9\n\nproceed\n' "$BUCARDO" install --piddir="$TEST_DIR/piddir"
[ $RC -ne 0 ] || fail "install with nonsense answers succeeded"
expect_out "Please enter 1-5, P or Q"
expect_equal 5 "$(printf '%s\n' "$OUT" | grep -c 'P to proceed')" "menus shown for 4 bad answers"
nothing_installed "nonsense answers"

# --- Not a superuser: refused, naming the requirement, nothing created.
createuser --login --no-superuser --no-createdb --no-createrole joe || fail "createuser joe"
run_fail timeout 10 "$BUCARDO" install --dbuser=joe --batch --piddir="$TEST_DIR/piddir"
expect_err "superuser"
expect_err "joe"
nothing_installed "non-superuser install"

# --- Unreachable server: fails clearly and quickly, nothing created.
run_fail timeout 10 "$BUCARDO" install --dbport=1 --batch --piddir="$TEST_DIR/piddir"
expect_err "connect"
run_fail timeout 10 "$BUCARDO" install --dbhost=/nonexistent/socket/dir --batch --piddir="$TEST_DIR/piddir"
expect_err "connect"
nothing_installed "unreachable server"
# Extra words are refused before anything is done.
run_fail "$BUCARDO" install now --batch --piddir="$TEST_DIR/piddir"
nothing_installed "install with an argument"

# --- P proceeds: role (superuser, login), database owned by it, catalog.
run_input $'p\n' "$BUCARDO" install --piddir="$TEST_DIR/piddir"
[ $RC -eq 0 ] || fail "install answering p failed ($RC): $ERR"
expect_out "^Installation is now complete\.$"
expect_out "^Creating superuser 'bucardo'$"
expect_equal "t|t" "$(sql postgres "select rolsuper, rolcanlogin from pg_roles where rolname = 'bucardo'")" "role bucardo"
expect_equal "bucardo" "$(sql postgres "select pg_get_userbyid(datdba) from pg_database where datname = 'bucardo'")" \
    "owner of database bucardo"
expect_equal "$VERSION" "$(sql bucardo "select max(version) from bucardo.schema_version")" "schema version"
expect_equal "$TEST_DIR/piddir" "$(sql bucardo "select setting from bucardo.config where name = 'piddir'")" "piddir"
NCONFIG=$(sql bucardo "select count(*) from bucardo.config")
[ "$NCONFIG" -gt 5 ] || fail "only $NCONFIG settings after install"
expect_equal "0|0|0|0|0" "$(sql bucardo "select (select count(*) from bucardo.db), (select count(*) from bucardo.dbgroup),
    (select count(*) from bucardo.relation), (select count(*) from bucardo.relgroup),
    (select count(*) from bucardo.sync)")" "empty catalog"
expect_equal "bucardo" "$(sql bucardo "select tableowner from pg_tables where schemaname = 'bucardo' and tablename = 'sync'")" \
    "owner of the catalog tables"
# The new catalog answers the commands.
run_ok "$BUCARDO" list dbs
expect_equal "No databases" "$OUT" "list dbs on a new catalog"

# --- A second install refuses clearly and leaves the catalog as it was.
run_ok "$BUCARDO" add database postgres dbname=postgres
before=$(catalog_snapshot)
[ -n "$before" ] || fail "empty catalog snapshot"
run_input $'p\n' "$BUCARDO" install --piddir="$TEST_DIR/piddir2"
[ $RC -ne 0 ] || fail "second install succeeded"
expect_err "already installed"
[ "$(printf '%s\n' "$ERR" | grep -c .)" -le 3 ] || fail "too many error lines: $ERR"
expect_equal "$before" "$(catalog_snapshot)" "catalog after a second install"
run_fail timeout 10 "$BUCARDO" install --batch --piddir="$TEST_DIR/piddir2"
expect_err "already installed"
expect_equal "$before" "$(catalog_snapshot)" "catalog after a second batch install"
expect_equal "$TEST_DIR/piddir" "$(sql bucardo "select setting from bucardo.config where name = 'piddir'")" \
    "piddir after a second install"

# --- 5, a new value, then P: the new piddir is shown and stored.
uninstall
nothing_installed "uninstall"
run_input "5
$TEST_DIR/piddir2
p
" "$BUCARDO" install --piddir="$TEST_DIR/piddir"
[ $RC -eq 0 ] || fail "install changing the piddir failed ($RC): $ERR"
expect_out "^5\. PID directory:  $TEST_DIR/piddir$"
expect_out "^5\. PID directory:  $TEST_DIR/piddir2$"
expect_equal 2 "$(printf '%s\n' "$OUT" | grep -c 'P to proceed')" "menus shown when changing the piddir"
expect_out "^Installation is now complete\.$"
expect_equal "$TEST_DIR/piddir2" "$(sql bucardo "select setting from bucardo.config where name = 'piddir'")" "changed piddir"
run_ok "$BUCARDO" show piddir
expect_equal "piddir = $TEST_DIR/piddir2" "$OUT" "show piddir after install"

# --- Changing the port to a dead one then P: fails clearly, nothing made.
uninstall
run_input $'2\n1\np\n' "$BUCARDO" install --piddir="$TEST_DIR/piddir"
[ $RC -ne 0 ] || fail "install on port 1 succeeded"
expect_out "^2\. Port:           1$"
expect_err "connect"
nothing_installed "install on a changed dead port"

# --- --batch: no questions, reads no input, installs.
run_input "" "$BUCARDO" install --batch --piddir="$TEST_DIR/piddir"
[ $RC -eq 0 ] || fail "batch install failed ($RC): $ERR"
printf '%s\n' "$OUT" | grep -q 'P to proceed' && fail "batch install asked a question: $OUT"
expect_out "^Installation is now complete\.$"
expect_equal "t" "$(sql postgres "select rolsuper from pg_roles where rolname = 'bucardo'")" "role bucardo (batch)"
expect_equal "$TEST_DIR/piddir" "$(sql bucardo "select setting from bucardo.config where name = 'piddir'")" "piddir (batch)"
expect_equal "$NCONFIG" "$(sql bucardo "select count(*) from bucardo.config")" "config rows (batch)"

# --- A role bucardo left behind (database dropped) is reused, not an error.
dropdb bucardo || fail dropdb
run_ok timeout 10 "$BUCARDO" install --batch --piddir="$TEST_DIR/piddir"
printf '%s\n' "$OUT" | grep -q "Creating superuser" && fail "install re-created an existing role: $OUT"
expect_equal "$VERSION" "$(sql bucardo "select max(version) from bucardo.schema_version")" "schema version (role reused)"
echo "ok"
