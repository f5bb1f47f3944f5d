#!/usr/bin/env bash
# Multi-source: two sources and a target.  Each source's changes reach
# every other member exactly once (no echo), conflicts are settled by each
# strategy with the winner it names, and after concurrent random writes on
# both sides every member holds the same rows.
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "
    CREATE TABLE item (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0);
    CREATE TABLE pair (x int, y text, v text, PRIMARY KEY (x, y));
    INSERT INTO item SELECT i, 'init', 0 FROM generate_series(1, 200) i;" a b c
test_sync ms rg a:source,b:source,c:target
run_ok "$BUCARDO" start
ALL=(item pair)
converged() {
    wait_synced a b 30 "${ALL[@]}"
    wait_synced a c 30 "${ALL[@]}"
}
delta_rows() {  # delta_rows DB - rows in all its delta tables
    sql "$1" "select coalesce(sum((xpath('/row/c/text()', query_to_xml(format('select count(*) as c from bucardo.%I', tablename), false, true, '')))[1]::text::int), 0)
              from pg_tables where schemaname = 'bucardo' and tablename like 'delta%'"
}

# Each side's changes reach the others; nothing comes back.
sql a "insert into item values (1001, 'from a', 1)" >/dev/null
sql b "insert into item values (2001, 'from b', 2); insert into pair values (1, 'b', 'pb')" >/dev/null
converged
[ "$(sql a "select v from item where id = 2001")" = "from b" ] || fail "b's row did not reach a"
run_ok "$BUCARDO" kick ms 20
run_ok "$BUCARDO" kick ms 20
expect_equal "0/0" "$(sql bucardo "select deletes || '/' || inserts from bucardo.syncrun where sync = 'ms' order by id desc limit 1")" \
    "an idle cycle after the changes (echoes would show here)"
[ "$(delta_rows a)" = 0 ] && [ "$(delta_rows b)" = 0 ] || fail "delta rows left: a=$(delta_rows a) b=$(delta_rows b)"

# conflict STRATEGY EXPECTED: id 5 updated on a, then on b, while the engine is stopped.
conflict() {
    local strategy=$1 want=$2
    run_ok "$BUCARDO" update sync ms conflict_strategy="$strategy"
    run_ok "$BUCARDO" stop
    sql a "update item set v = 'a-$strategy' where id = 5; update item set v = 'a only-$strategy' where id = 6" >/dev/null
    sleep 0.05
    sql b "update item set v = 'b-$strategy' where id = 5; update item set v = 'b only-$strategy' where id = 7" >/dev/null
    run_ok "$BUCARDO" start
    if [ "$want" = abort ]; then
        for _ in $(seq 100); do
            [ "$(sql bucardo "select state from bucardo.syncrun where sync = 'ms' order by id desc limit 1")" = Bad ] && break
            sleep 0.1
        done
        run_ok "$BUCARDO" status ms
        expect_out "Current state +: Bad"
        expect_out "conflict_strategy is bucardo_abort"
        [ "$(sql c "select v from item where id = 6")" != "a only-$strategy" ] || fail "bucardo_abort applied part of the cycle"
        return
    fi
    if [ "$want" = skip ]; then
        for db in b c; do
            for _ in $(seq 100); do
                [ "$(sql "$db" "select v from item where id = 6")" = "a only-$strategy" ] && break
                sleep 0.1
            done
        done
        [ "$(sql a "select v from item where id = 5")" = "a-$strategy" ] || fail "skip: a's value changed"
        [ "$(sql b "select v from item where id = 5")" = "b-$strategy" ] || fail "skip: b's value changed"
        [ "$(sql c "select v from item where id = 7")" = "b only-$strategy" ] || fail "skip: a non-conflicting change was lost"
        # Settle the skipped key by hand for the next round.
        sql a "update item set v = 'settled' where id = 5" >/dev/null
        converged
        return
    fi
    converged
    expect_equal "$want-$strategy" "$(sql c "select v from item where id = 5")" "winner under $strategy"
    [ "$(sql c "select v from item where id = 6")|$(sql c "select v from item where id = 7")" = "a only-$strategy|b only-$strategy" ] \
        || fail "$strategy: a non-conflicting change was lost"
    [ "$(sql bucardo "select sum(conflicts) from bucardo.syncrun where sync = 'ms'")" -ge 1 ] || fail "conflict not counted"
    grep -q "conflict: table public.item key (5) changed on a, b" log.bucardo || fail "conflict not logged"
}
conflict bucardo_source a
conflict bucardo_target b
conflict bucardo_latest b
conflict b,a b
conflict a,b a
conflict bucardo_latest_all_tables b
conflict bucardo_skip skip
# bucardo_random: whichever wins, every member agrees.
run_ok "$BUCARDO" update sync ms conflict_strategy=bucardo_random
sql a "update item set v = 'ra' where id = 9" >/dev/null; sql b "update item set v = 'rb' where id = 9" >/dev/null
converged
conflict bucardo_abort abort
# Back to a working strategy: the aborted changes go through.
run_ok "$BUCARDO" update sync ms conflict_strategy=bucardo_latest
converged

# Concurrent random writes on both sources, the same keys included: one
# autocommitted statement each, some in explicit transactions rolled back.
writer() {  # writer DB SEED
    RANDOM=$2
    for i in $(seq 400); do
        case $((RANDOM % 5)) in
            0) echo "INSERT INTO item VALUES ($((RANDOM % 400 + 3000)), md5(random()::text), $i) ON CONFLICT (id) DO UPDATE SET n = item.n + 1;" ;;
            1) echo "UPDATE item SET v = md5(random()::text), n = n + 1 WHERE id = $((RANDOM % 250));" ;;
            2) echo "DELETE FROM item WHERE id = $((RANDOM % 400 + 3000));" ;;
            3) echo "INSERT INTO pair VALUES ($((RANDOM % 50)), 'k', md5(random()::text)) ON CONFLICT (x, y) DO UPDATE SET v = EXCLUDED.v;" ;;
            *) echo "BEGIN; UPDATE item SET v = 'rolled back' WHERE id = $((RANDOM % 250)); ROLLBACK;" ;;
        esac
    done | psql -X -q -d "$1" >/dev/null 2>&1
}
writer a 11 &
writer b 22 &
wait
converged
run_ok "$BUCARDO" stop
echo ok
