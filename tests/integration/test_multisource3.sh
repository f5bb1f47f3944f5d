#!/usr/bin/env bash
# Multi-source with three sources (dbs=a:source,b:source,c:source): a
# change made on one member is applied to the two others exactly once and
# never comes back; same-key conflicts on two and three sides (one of them
# an UPDATE that changes the key) are won by the member each strategy
# names; and after concurrent random inserts, updates (key changes too) and
# deletes on all three, under each strategy that picks a winner, every
# member holds the same rows.
#
# A ring of three one-way syncs (a->b, b->c, c->a with makedelta) is not
# tested: makedelta records every applied key as a new change, and nothing
# tells a change that went round back to its origin, so the ring would
# replay it for ever.  One sync with three sources is the supported shape.
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "
    CREATE TABLE item (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0);
    CREATE TABLE pair (x int, y text, v text, PRIMARY KEY (x, y));
    INSERT INTO item SELECT i, 'init', 0 FROM generate_series(1, 300) i;
    INSERT INTO pair SELECT i, 'k', 'init' FROM generate_series(1, 20) i;" a b c
test_sync ms rg a:source,b:source,c:source
# A cycle racing the application's own writes on a member can fail (and is
# retried): keep the retries quick.
run_ok "$BUCARDO" set retry_delay=0.2 retry_delay_max=1
run_ok "$BUCARDO" list syncs
expect_out 'Sync "ms" .* a:source b:source c:source'
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
last_run() {
    sql bucardo "select deletes || '/' || inserts from bucardo.syncrun where sync = 'ms' and state <> 'Running' order by id desc limit 1"
}
quiet() {  # a cycle after convergence applies nothing, and no delta rows are left anywhere
    run_ok "$BUCARDO" kick ms 20
    expect_equal "0/0" "$(last_run)" "an idle cycle after $1 (an echo would show here)"
    for db in a b c; do
        expect_equal 0 "$(delta_rows $db)" "delta rows left on $db after $1"
    done
}
converged
quiet "the start"

# No echo: each member's change reaches the two others once (2 rows
# applied), and neither comes back: the row on its origin is still the
# version its own transaction wrote (same xmin), and the copies are not
# rewritten by later cycles either.
for db in a b c; do
    case $db in a) id=1001 ;; b) id=1002 ;; c) id=1003 ;; esac
    last=$(sql bucardo "select coalesce(max(id), 0) from bucardo.syncrun where sync = 'ms'")
    sql "$db" "insert into item values ($id, 'from $db', 1)" >/dev/null
    converged
    xmins=$(for m in a b c; do sql "$m" "select xmin from item where id = $id"; done)
    quiet "a change on $db"
    expect_equal "0/2" "$(sql bucardo "select sum(deletes) || '/' || sum(inserts) from bucardo.syncrun
                                       where sync = 'ms' and id > $last")" "rows applied for one insert on $db"
    expect_equal "$xmins" "$(for m in a b c; do sql "$m" "select xmin from item where id = $id"; done)" \
        "row $id rewritten after it converged"
done
# An update on b reaches a and c, and is applied twice in all (delete + insert per target).
last=$(sql bucardo "select max(id) from bucardo.syncrun where sync = 'ms'")
sql b "update pair set v = 'b was here' where x = 1" >/dev/null
converged
quiet "an update on b"
expect_equal "2/2" "$(sql bucardo "select sum(deletes) || '/' || sum(inserts) from bucardo.syncrun
                                   where sync = 'ms' and id > $last")" "rows applied for one update on b"

# conflict STRATEGY ITEM_WINNER PAIR_WINNER MOVED_WINNER, with changes in
# this commit order between two cycles:
#   a: item 5, item 6 (a only), pair (1,'k'); moves item K to K+10000
#   b: item 5, item 7 (b only)
#   c: item 5, item 8 (c only), item K (its old key)
#   b: pair (1,'k')      - b holds the cycle's latest change
# A winner of "-" means the key was deleted everywhere (a moved it away).
round=0
conflict() {
    local strategy=$1 w_item=$2 w_pair=$3 w_moved=$4 k c_pair
    round=$((round + 1))
    k=$((100 + round))
    c_pair=$(sql c "select v from pair where x = 1")
    run_ok "$BUCARDO" update sync ms conflict_strategy="$strategy"
    run_ok "$BUCARDO" kick ms 20  # the worker has the new strategy, and is idle now
    sql a "update item set v = 'a-$strategy' where id = 5; update item set v = 'a only-$strategy' where id = 6;
           update pair set v = 'a-$strategy' where x = 1; update item set id = id + 10000 where id = $k" >/dev/null
    sleep 0.05
    sql b "update item set v = 'b-$strategy' where id = 5; update item set v = 'b only-$strategy' where id = 7" >/dev/null
    sleep 0.05
    sql c "update item set v = 'c-$strategy' where id = 5; update item set v = 'c only-$strategy' where id = 8;
           update item set v = 'c-$strategy' where id = $k" >/dev/null
    sleep 0.05
    sql b "update pair set v = 'b-$strategy' where x = 1" >/dev/null
    "$BUCARDO" kick ms 20 >/dev/null 2>&1 || [ "$w_item" = abort ] || fail "$strategy: the cycle failed"
    if [ "$w_item" = abort ]; then
        wait_run ms 20 "state = 'Bad' and error like '%bucardo_abort%'"
        run_ok "$BUCARDO" status ms
        expect_out "Current state +: Bad"
        for db in b c; do
            [ "$(sql $db "select v from item where id = 6")" != "a only-$strategy" ] ||
                fail "bucardo_abort applied part of the cycle on $db"
        done
        return
    fi
    if [ "$w_item" = skip ]; then
        for db in a b c; do  # the non-conflicting changes all arrive
            for _ in $(seq 150); do
                [ "$(sql $db "select string_agg(v, '|' order by id) from item where id in (6, 7, 8)")" = \
                    "a only-$strategy|b only-$strategy|c only-$strategy" ] && [ "$(sql $db "select count(*) from item where id = 10000 + $k")" = 1 ] && break
                sleep 0.1
            done
        done
        for db in a b c; do
            expect_equal "a only-$strategy|b only-$strategy|c only-$strategy" \
                "$(sql $db "select string_agg(v, '|' order by id) from item where id in (6, 7, 8)")" "skip: changes on $db"
            expect_equal "$db-$strategy" "$(sql $db "select v from item where id = 5")" "skip: item 5 on $db kept its own"
        done
        expect_equal "a-$strategy|b-$strategy|$c_pair" \
            "$(for db in a b c; do sql $db "select v from pair where x = 1"; done | paste -sd'|')" "skip: pair (1,k)"
        expect_equal "none|init|c-$strategy" \
            "$(for db in a b c; do sql $db "select coalesce((select v from item where id = $k), 'none')"; done | paste -sd'|')" \
            "skip: moved key"
        # Settle the skipped keys by hand for the next rounds.
        sql a "update item set v = 'settled' where id = 5; update pair set v = 'settled' where x = 1;
               insert into item values ($k, 'settled')" >/dev/null
        run_ok "$BUCARDO" kick ms 20
        converged
        return
    fi
    converged
    for db in a b c; do
        expect_equal "a only-$strategy|b only-$strategy|c only-$strategy" \
            "$(sql $db "select string_agg(v, '|' order by id) from item where id in (6, 7, 8)")" \
            "$strategy: non-conflicting changes on $db"
        expect_equal 1 "$(sql $db "select count(*) from item where id = 10000 + $k")" "$strategy: moved row on $db"
    done
    if [ "$w_item" != any ]; then
        expect_equal "$w_item-$strategy" "$(sql a "select v from item where id = 5")" "item 5 winner under $strategy"
        expect_equal "$w_pair-$strategy" "$(sql a "select v from pair where x = 1")" "pair (1,k) winner under $strategy"
        if [ "$w_moved" = - ]; then
            expect_equal 0 "$(sql a "select count(*) from item where id = $k")" "moved key under $strategy"
        else
            expect_equal "$w_moved-$strategy" "$(sql a "select v from item where id = $k")" "moved key under $strategy"
        fi
    fi
    grep -q "conflict: table public.item key (5) changed on a, b, c" log.bucardo || fail "three-way conflict not logged"
    [ "$(sql bucardo "select sum(conflicts) from bucardo.syncrun where sync = 'ms' and conflicts > 0")" -ge $((3 * round)) ] ||
        fail "$strategy: conflicts not counted"
}
# During the rounds the sync runs only when kicked, so each round's changes
# on the three members meet in one cycle.
run_ok "$BUCARDO" update sync ms autokick=0
# strategy              item 5  pair  key K
conflict bucardo_source            a   a   -
conflict bucardo_target            c   b   c
conflict bucardo_latest            c   b   c
conflict bucardo_latest_all_tables b   b   c
conflict b,c,a                     b   b   c
conflict c,a                       c   a   c
conflict bucardo_random            any any any
conflict bucardo_skip              skip skip skip
conflict bucardo_abort             abort abort abort
# Back to a working strategy: the aborted changes go through.
run_ok "$BUCARDO" update sync ms conflict_strategy=bucardo_latest autokick=1
converged
quiet "the conflict rounds"

# Concurrent random writes on all three, the same keys included: inserts,
# updates, key-changing updates (some collide: the statement fails),
# deletes, and transactions rolled back.
writer() {  # writer DB SEED
    RANDOM=$2
    for i in $(seq 250); do
        case $((RANDOM % 7)) in
            0) echo "INSERT INTO item VALUES ($((RANDOM % 300 + 3000)), md5(random()::text), $i) ON CONFLICT (id) DO UPDATE SET n = item.n + 1;" ;;
            1) echo "UPDATE item SET v = md5(random()::text), n = n + 1 WHERE id = $((RANDOM % 300));" ;;
            2) echo "DELETE FROM item WHERE id = $((RANDOM % 300 + 3000));" ;;
            3) echo "UPDATE item SET id = $((RANDOM % 300 + 3000)) WHERE id = $((RANDOM % 300));" ;;
            4) echo "UPDATE pair SET x = x + 100 WHERE x = $((RANDOM % 20 + 1)) AND y = 'k';" ;;
            5) echo "INSERT INTO pair VALUES ($((RANDOM % 40)), 'k', md5(random()::text)) ON CONFLICT (x, y) DO UPDATE SET v = EXCLUDED.v;" ;;
            *) echo "BEGIN; UPDATE item SET v = 'rolled back' WHERE id = $((RANDOM % 300)); ROLLBACK;" ;;
        esac
    done | psql -X -q -d "$1" >/dev/null 2>&1
}
seed=0
for strategy in bucardo_source bucardo_target bucardo_latest bucardo_latest_all_tables bucardo_random c,b,a; do
    run_ok "$BUCARDO" update sync ms conflict_strategy="$strategy"
    seed=$((seed + 1))
    writer a $((seed * 10 + 1)) &
    writer b $((seed * 10 + 2)) &
    writer c $((seed * 10 + 3)) &
    wait
    converged
    quiet "random writes under $strategy"
done
sql bucardo "select count(*) || ' failed cycles during random writes, e.g. ' || coalesce(min(error), '')
              from bucardo.syncrun where sync = 'ms' and state = 'Bad' and error not like '%bucardo_abort%'"
run_ok "$BUCARDO" stop
echo ok
