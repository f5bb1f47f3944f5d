#!/usr/bin/env bash
# makedelta: B is a target of sync A->B and the source of sync B->C.  With
# makedelta on B, the changes B receives are recorded in B's own delta
# tables, so they cascade to C; without it they would stop at B.  That
# includes a row B deletes to settle a unique collision with a row from A,
# and, in a multi-source sync, the losing row of a unique conflict between
# two sources.
. "$TESTS_DIR/lib/setup.sh"
test_begin
for db in a b c; do
    createdb "$db" && psql -X -q -d "$db" -c "CREATE TABLE t (id int PRIMARY KEY, v text)" || fail "$db"
done
# u: a unique code on a and b, not on c, so that nothing but makedelta can
# tell c that b deleted a row to settle a collision.
for db in a b; do sql "$db" "CREATE TABLE u (id int PRIMARY KEY, code text UNIQUE)" >/dev/null || fail "u on $db"; done
sql c "CREATE TABLE u (id int PRIMARY KEY, code text)" >/dev/null || fail "u on c"
run_ok "$BUCARDO" add database a dbname=a
run_ok "$BUCARDO" add database b dbname=b makedelta=1
run_ok "$BUCARDO" add database c dbname=c
run_ok "$BUCARDO" add table t u db=a relgroup=ra
run_ok "$BUCARDO" add table t u db=b relgroup=rb
run_ok "$BUCARDO" add sync ab relgroup=ra dbs=a,b
run_ok "$BUCARDO" add sync bc relgroup=rb dbs=b,c
run_ok "$BUCARDO" start
sql a "insert into t select i, 'v' || i from generate_series(1, 500) i" >/dev/null
sql a "update t set v = 'changed' where id <= 50; delete from t where id > 450" >/dev/null
wait_synced a b 30 t
wait_synced a c 30 t
# B's own changes still cascade too.
sql b "insert into t values (1000, 'from b')" >/dev/null
wait_synced b c 30 t

# A row of a that collides on b with b's own row under another key: b
# deletes its row to take a's, and that delete cascades to c like the
# insert (c has no unique index to settle it by itself).
sql b "insert into u values (900, 'X'), (901, 'Y')" >/dev/null
wait_synced b c 30 u
sql a "insert into u values (1, 'X')" >/dev/null
ids() { sql "$1" "select string_agg(id::text, ' ' order by id) from u"; }
for _ in $(seq 100); do [ "$(ids b)" = "1 901" ] && break; sleep 0.1; done
expect_equal "1 901" "$(ids b)" "u on b"
wait_synced b c 30 u

# Without makedelta, A's changes stop at B.
run_ok "$BUCARDO" update database b makedelta=0
run_ok "$BUCARDO" restart
sql a "insert into t values (2000, 'not cascaded')" >/dev/null
for _ in $(seq 100); do
    [ "$(sql b "select count(*) from t where id = 2000")" = 1 ] && break
    sleep 0.1
done
[ "$(sql b "select count(*) from t where id = 2000")" = 1 ] || fail "the change did not reach b"
run_ok "$BUCARDO" kick bc 20
[ "$(sql c "select count(*) from t where id = 2000")" = 0 ] || fail "without makedelta the change cascaded"
run_ok "$BUCARDO" stop

# Two sources m1 and m2 (makedelta) insert different keys with one unique
# value; m1 wins, and m2's row is deleted on every member - m2 included,
# where the delete must cascade to m3 (sync m23, no unique index on m3).
for db in m1 m2 m3; do createdb "$db" || fail "createdb $db"; done
for db in m1 m2; do sql "$db" "CREATE TABLE w (id int PRIMARY KEY, u text UNIQUE)" >/dev/null || fail "w on $db"; done
sql m3 "CREATE TABLE w (id int PRIMARY KEY, u text)" >/dev/null || fail "w on m3"
run_ok "$BUCARDO" add database m1 dbname=m1
run_ok "$BUCARDO" add database m2 dbname=m2 makedelta=1
run_ok "$BUCARDO" add database m3 dbname=m3
run_ok "$BUCARDO" add table w db=m1 relgroup=rw1
run_ok "$BUCARDO" add table w db=m2 relgroup=rw2
run_ok "$BUCARDO" add sync mw relgroup=rw1 dbs=m1:source,m2:source autokick=0 conflict_strategy=m1,m2
run_ok "$BUCARDO" add sync m23 relgroup=rw2 dbs=m2,m3 autokick=0
run_ok "$BUCARDO" start
# Each sync runs once at start: wait for those runs, so that from here on
# only the kicks below run them.
run_ok "$BUCARDO" kick mw 30
run_ok "$BUCARDO" kick m23 30
sql m2 "insert into w values (2, 'X'), (3, 'Y')" >/dev/null
run_ok "$BUCARDO" kick m23 30          # m3 gets m2's rows first
expect_equal "2 3" "$(sql m3 "select string_agg(id::text, ' ' order by id) from w")" "w on m3 before"
sql m1 "insert into w values (1, 'X')" >/dev/null
run_ok "$BUCARDO" kick mw 30
expect_out DONE
expect_equal "1 3" "$(sql m2 "select string_agg(id::text, ' ' order by id) from w")" "w on m2 after the conflict"
run_ok "$BUCARDO" kick m23 30
wait_synced m2 m3 30 w
run_ok "$BUCARDO" stop
echo ok
