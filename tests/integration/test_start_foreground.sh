#!/usr/bin/env bash
# `bucardo start --foreground` keeps the engine in this process and, with
# stdout not a terminal, prints a plain line a second for each table copy
# in flight (rows, MB, rates) and one when it ends; the copy completes
# (target == source, changes made during it included) and SIGTERM stops
# the engine cleanly: exit 0, no pid file left.  On a terminal (script(1)
# gives it one) the copy shows as a bar redrawn in place.
# The copy is held on the target for a while (an ALWAYS trigger on a few
# rows waits for an advisory lock the test holds), so progress is seen
# mid-copy however fast the machine.
. "$TESTS_DIR/lib/setup.sh"
test_begin

createdb src && psql -X -q -d src -c "
    CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL, n numeric);
    INSERT INTO big SELECT i, md5(i::text), i / 7.0 FROM generate_series(1, 200000) i;" || fail schema
createdb t1 && pg_dump -s src | psql -X -q -d t1 >/dev/null || fail "schema on t1"
hold_trigger t1 big "NEW.id % 20000 = 1"
for db in src t1; do run_ok "$BUCARDO" add database "$db" dbname="$db"; done
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add sync fg relgroup=rg dbs=src,t1 onetimecopy=1 copy_streams=2

# wait_for FILE PATTERN WHAT - until FILE (\r read as a line end) has a line matching PATTERN.
wait_for() {
    local deadline=$(( $(date +%s) + 60 ))
    until tr '\r' '\n' <"$1" | grep -Eq -- "$2"; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "no $3 in $1: $(cat -A "$1")"
        sleep 0.1
    done
}

hold_lock t1
"$BUCARDO" start --foreground >fg.out 2>fg.err &
fg=$!
deadline=$(( $(date +%s) + 30 ))
until [ "$(engine_pid)" = "$fg" ]; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "no engine in the foreground: $(cat fg.out fg.err)"
    process_gone "$fg" && fail "start --foreground exited: $(cat fg.out fg.err)"
    sleep 0.1
done
# Progress with rows read while the copy is held; a change on the source meanwhile.
wait_for fg.out "^Copying public\.big -> t1: [1-9][0-9]* rows, [0-9.]+ of ~[0-9.]+ MB, [0-9.]+ MB/s, [0-9]+ rows/s$" \
    "progress line"
psql -X -q -d src -c "UPDATE big SET v = 'during' WHERE id % 1000 = 0; DELETE FROM big WHERE id <= 10" || fail "change"
release_lock t1
wait_run fg 120 "state = 'Good' AND inserts >= 200000"
wait_synced src t1 60 big
[ "$(sql t1 "select count(*) from big where v = 'during'")" = 200 ] || fail "the change made during the copy is missing"
wait_for fg.out "^Copied" "end of copy line"
kill -TERM "$fg"
rc=0
wait "$fg" || rc=$?
expect_equal 0 "$rc" "exit code of start --foreground after SIGTERM"
[ -e piddir/bucardo.mcp.pid ] && fail "pid file left behind"
OUT=$(cat fg.out)
expect_out "^Starting Bucardo in the foreground"
expect_out "^Copied public\.big -> t1: 200000 rows, [0-9.]+ MB in [0-9.]+ s \([0-9.]+ MB/s, [0-9]+ rows/s\)$"
expect_out "^Bucardo stopped$"
[ "$(grep -c '^Copied public.big' fg.out)" = 1 ] || fail "the end of the copy reported more than once: $OUT"
grep -q $'\r' fg.out && fail "a terminal bar written to a file: $OUT"
[ -s fg.err ] && fail "stderr of start --foreground: $(cat fg.err)"

# Again on a terminal: the copy is a bar redrawn in place.
run_ok "$BUCARDO" update sync fg onetimecopy=1
hold_lock t1
script -qfec "exec '$BUCARDO' start --foreground" tty.out </dev/null >/dev/null 2>&1 &
term=$!
wait_for tty.out "^Copying public\.big \[=* *\] [0-9]+ rows, [0-9]+ of ~[0-9]+ MB, [0-9.]+ MB/s *$" "progress bar"
release_lock t1
wait_for tty.out "Copied public\.big -> t1: 199990 rows" "end of copy line"
kill -TERM "$(engine_pid)"
rc=0
wait "$term" || rc=$?
expect_equal 0 "$rc" "exit code of start --foreground on a terminal"
[ -e piddir/bucardo.mcp.pid ] && fail "pid file left behind (terminal)"
grep -q "Bucardo stopped" tty.out || fail "no 'Bucardo stopped' on the terminal: $(cat -A tty.out)"
wait_synced src t1 5 big
echo ok
