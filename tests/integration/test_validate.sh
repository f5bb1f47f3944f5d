#!/usr/bin/env bash
# `bucardo validate`: repairs dropped capture triggers, and refuses a target
# whose columns differ (naming table, database and column) unless
# strict_checking is off; the engine makes the same check and marks the
# sync Bad.  `bucardo inspect` shows the table's key, syncs and capture.
. "$TESTS_DIR/lib/setup.sh"
test_begin
test_databases "CREATE TABLE t (id int PRIMARY KEY, amount numeric, note text)" src
test_databases "CREATE TABLE t (id int PRIMARY KEY, amount integer, note text)" tgt
test_sync s rg src,tgt

run_fail "$BUCARDO" validate s
expect_err 'table public.t column "amount" is integer on database tgt but numeric on the source'
run_ok "$BUCARDO" update sync s strict_checking=0
run_ok "$BUCARDO" validate s
expect_out "Validating sync s \.\.\. OK"

# Capture someone dropped comes back.
sql src "drop trigger bucardo_delta_upd on t" >/dev/null || fail "the capture trigger bucardo_delta_upd is missing"
run_ok "$BUCARDO" validate all
[ "$(sql src "select count(*) from pg_trigger where tgrelid = 't'::regclass and tgname = 'bucardo_delta_upd'")" = 1 ] \
    || fail "validate did not reinstall the capture triggers"

sql src "insert into t values (1, 2, 'x'), (2, 3, 'y')" >/dev/null
run_ok "$BUCARDO" inspect table t
expect_out "^Table: public\.t"
expect_out "Key: +id \(integer\)"
expect_out "Syncs: +s \(active\)"
expect_out "Capture: +bucardo"
expect_out "Pending: +2 change"

# With strict checking on, the engine refuses too, and says why.
run_ok "$BUCARDO" update sync s strict_checking=1
run_ok "$BUCARDO" start
for _ in $(seq 100); do
    [ "$(sql bucardo "select state from bucardo.syncrun where sync = 's' order by id desc limit 1")" = Bad ] && break
    sleep 0.1
done
run_ok "$BUCARDO" status s
expect_out 'Last error: +: .*column "amount" is integer on database tgt'
[ "$(sql tgt "select count(*) from t")" = 0 ] || fail "rows were applied despite the mismatch"
psql -X -q -d tgt -c "ALTER TABLE t ALTER amount TYPE numeric" || fail alter
run_ok "$BUCARDO" update sync s strict_checking=1   # a reload re-runs the check
wait_synced src tgt 30 t
run_ok "$BUCARDO" stop
echo ok
