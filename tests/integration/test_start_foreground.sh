#!/usr/bin/env bash
# `bucardo start --foreground` keeps the engine in this process and, with
# stdout not a terminal, prints a plain line a second for each table copy
# in flight (rows, MB, rates) and one when it ends; the copy completes
# (target == source, changes made during it included) and SIGTERM stops
# the engine cleanly: exit 0, no pid file left.
. "$TESTS_DIR/lib/pgcluster.sh"
. "$TESTS_DIR/lib/assert.sh"
pg_start_cluster || fail "cannot start a cluster"
cd "$TEST_DIR"
bucardo_install

createdb src && psql -X -q -d src -c "
    CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL, n numeric);
    INSERT INTO big SELECT i, md5(i::text), i / 7.0 FROM generate_series(1, 400000) i;" || fail schema
createdb t1 && pg_dump -s src | psql -X -q -d t1 >/dev/null || fail "schema on t1"
for db in src t1; do run_ok "$BUCARDO" add database "$db" dbname="$db"; done
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add sync fg relgroup=rg dbs=src,t1 onetimecopy=1 copy_streams=2

"$BUCARDO" start --foreground >fg.out 2>fg.err &
fg=$!
deadline=$(( $(date +%s) + 30 ))
until [ "$(engine_pid)" = "$fg" ]; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "no engine in the foreground: $(cat fg.out fg.err)"
    process_gone "$fg" && fail "start --foreground exited: $(cat fg.out fg.err)"
    sleep 0.1
done
# A change made on the source while the copy runs.
until [ "$(sql bucardo "select count(*) from bucardo.copy_progress where sync = 'fg'")" = 1 ]; do sleep 0.05; done
psql -X -q -d src -c "UPDATE big SET v = 'during' WHERE id % 1000 = 0; DELETE FROM big WHERE id <= 10" || fail "change"
wait_run fg 120 "state = 'Good' AND inserts >= 400000"
wait_synced src t1 60 big
[ "$(sql t1 "select count(*) from big where v = 'during'")" = 400 ] || fail "the change made during the copy is missing"

for _ in $(seq 100); do grep -q '^Copied' fg.out && break; sleep 0.1; done
kill -TERM "$fg"
rc=0
wait "$fg" || rc=$?
expect_equal 0 "$rc" "exit code of start --foreground after SIGTERM"
[ -e piddir/bucardo.mcp.pid ] && fail "pid file left behind"
OUT=$(cat fg.out)
expect_out "^Starting Bucardo in the foreground"
expect_out "^Copying public\.big -> t1: [1-9][0-9]* rows, [0-9.]+ of ~[0-9.]+ MB, [0-9.]+ MB/s, [0-9]+ rows/s$"
expect_out "^Copied public\.big -> t1: 400000 rows, [0-9.]+ MB in [0-9.]+ s \([0-9.]+ MB/s, [0-9]+ rows/s\)$"
expect_out "^Bucardo stopped$"
[ "$(grep -c '^Copied public.big' fg.out)" = 1 ] || fail "the end of the copy reported more than once: $OUT"
grep -q $'\r' fg.out && fail "a terminal bar written to a file: $OUT"
[ -s fg.err ] && fail "stderr of start --foreground: $(cat fg.err)"
echo ok
