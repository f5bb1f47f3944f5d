#!/usr/bin/env bash
# A ring of one-way syncs, a->b, b->c, c->a, every database with makedelta:
# a change goes round the ring once and stops where it is already held
# (it used to be replayed for ever), and after concurrent inserts, updates,
# key changes and deletes on all three - each on keys of its own range, each
# key written once - all three hold the same rows and the syncs fall idle.
# Not covered, because a ring cannot do it: a key written twice in quick
# succession (or on two members) can have two versions chasing each other
# round the ring for ever, since nothing tells a change that came back to
# its origin from a new one.  Members writing the same keys need one
# multi-source sync instead (test_multisource3.sh).
. "$TESTS_DIR/lib/setup.sh"
test_begin
for db in a b c; do
    createdb "$db" && psql -X -q -d "$db" -c "CREATE TABLE t (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0)" ||
        fail "schema on $db"
    run_ok "$BUCARDO" add database "$db" dbname="$db" makedelta=1
    run_ok "$BUCARDO" add table t db="$db" relgroup="r$db"
done
run_ok "$BUCARDO" add sync ab relgroup=ra dbs=a:source,b:target
run_ok "$BUCARDO" add sync bc relgroup=rb dbs=b:source,c:target
run_ok "$BUCARDO" add sync ca relgroup=rc dbs=c:source,a:target
run_ok "$BUCARDO" start
applied() {  # rows applied by the three syncs so far
    sql bucardo "select coalesce(sum(inserts), 0) || '/' || coalesce(sum(deletes), 0) from bucardo.syncrun"
}
idle() {  # the ring stays still: nothing applied while every sync is kicked twice
    local before
    before=$(applied)
    run_ok "$BUCARDO" kick ab bc ca 20
    run_ok "$BUCARDO" kick ab bc ca 20
    expect_equal "$before" "$(applied)" "rows applied by an idle ring after $1"
}

# One insert on a: applied to b, c, and back to a (which cannot be told
# apart from a change of c's own) - three rows in all, then nothing more.
sql a "insert into t values (1, 'from a')" >/dev/null
wait_synced a b 30 t
wait_synced a c 30 t
for _ in $(seq 100); do
    [ "$(applied)" = "3/1" ] && break
    sleep 0.1
done
expect_equal "3/1" "$(applied)" "rows applied for one insert in the ring"
idle "one insert"
# One update on b: round once (a delete and an insert per hop).
sql b "update t set v = 'b changed' where id = 1" >/dev/null
for _ in $(seq 100); do
    [ "$(applied)" = "6/4" ] && break
    sleep 0.1
done
expect_equal "6/4" "$(applied)" "rows applied for one update in the ring"
wait_synced b a 30 t
wait_synced b c 30 t
idle "one update"

# Concurrent writes on all three, each database on its own key range and
# each key written once: inserts of new keys, updates (some changing the
# key) and deletes of seeded ones.
for db in a b c; do
    sql "$db" "insert into t select i, 'seed', 0 from generate_series(1000, 3999) i where i % 1000 < 200" >/dev/null
done
writer() {  # writer DB BASE
    local base=$1 i
    for i in $(seq 0 199); do
        echo "INSERT INTO t VALUES ($((base + 500 + i)), md5(random()::text), $i);"
        case $((i % 4)) in
            0) echo "UPDATE t SET v = md5(random()::text), n = n + 1 WHERE id = $((base + i));" ;;
            1) echo "UPDATE t SET id = $((base + 800 + i)) WHERE id = $((base + i));" ;;
            2) echo "DELETE FROM t WHERE id = $((base + i));" ;;
            *) echo "BEGIN; UPDATE t SET v = 'rolled back' WHERE id = $((base + i)); ROLLBACK;" ;;
        esac
    done | psql -X -q -d "$2" >/dev/null 2>&1
}
writer 1000 a &
writer 2000 b &
writer 3000 c &
wait
wait_synced a b 60 t
wait_synced a c 60 t
expect_equal 350 "$(sql a "select count(*) from t where id between 1000 and 1999")" "rows of a's range"
# Changes still on their way round are applied even where they change
# nothing any more; then the ring must fall still.
settled=
for _ in $(seq 20); do
    before=$(applied)
    run_ok "$BUCARDO" kick ab bc ca 20
    [ "$before" = "$(applied)" ] && settled=1 && break
done
[ -n "$settled" ] || fail "the ring never falls idle after the writes: $(applied) rows applied"
wait_synced a b 10 t
wait_synced a c 10 t
idle "concurrent writes"
run_ok "$BUCARDO" stop
echo ok
