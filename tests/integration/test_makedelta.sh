#!/usr/bin/env bash
# makedelta: B is a target of sync A->B and the source of sync B->C.  With
# makedelta on B, the changes B receives are recorded in B's own delta
# tables, so they cascade to C; without it they would stop at B.
. "$TESTS_DIR/lib/pgcluster.sh"
. "$TESTS_DIR/lib/assert.sh"
pg_start_cluster || fail "cannot start a cluster"
cd "$TEST_DIR"
bucardo_install
for db in a b c; do
    createdb "$db" && psql -X -q -d "$db" -c "CREATE TABLE t (id int PRIMARY KEY, v text)" || fail "$db"
done
run_ok "$BUCARDO" add database a dbname=a
run_ok "$BUCARDO" add database b dbname=b makedelta=1
run_ok "$BUCARDO" add database c dbname=c
run_ok "$BUCARDO" add table t db=a relgroup=ra
run_ok "$BUCARDO" add table t db=b relgroup=rb
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
echo ok
