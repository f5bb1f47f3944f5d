#!/usr/bin/env bash
# DDL on a running sync (issue 16, case 3), judged by the tables' contents:
#  - ADD COLUMN on the source only: the sync goes Bad naming database,
#    table and column, and no change reaches the target meanwhile; once
#    the target has the column too, everything written in between arrives
#    (with the new column's values) and the sync is Good - no restart.
#  - DROP COLUMN and RENAME COLUMN on both sides, with and without a
#    reload: replication goes on without a restart.
#  - DROP COLUMN on the target only: Bad naming it, until it is back.
#  - A column's type changed on the target only: Bad naming table and
#    column (the binary COPY's own error names neither), until it matches.
. "$TESTS_DIR/lib/setup.sh"
test_begin

SCHEMA="CREATE TABLE t (id int PRIMARY KEY, v text, n int);
        CREATE TABLE u (id int PRIMARY KEY, w text, q int)"
for db in src tgt; do
    createdb "$db" && psql -X -q -d "$db" -c "$SCHEMA" || fail "schema on $db"
done
for db in src tgt; do run_ok "$BUCARDO" add database "$db" dbname="$db"; done
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src,tgt
run_ok "$BUCARDO" set retry_delay=0.2 retry_delay_max=1
run_ok "$BUCARDO" start

. "$TESTS_DIR/lib/ddl_steps.sh"
# held ID... - the target has none of these rows of t yet.
held() {
    [ "$(sql tgt "select count(*) from t where id in ($1)")" = 0 ] || fail "rows $1 reached tgt while the sync was Bad"
}

on src "INSERT INTO t SELECT i, 'v' || i, i FROM generate_series(1, 20) i;
        INSERT INTO u SELECT i, 'w' || i, i FROM generate_series(1, 20) i"
wait_good t u

# 1. ADD COLUMN on the source only.
on src "ALTER TABLE t ADD COLUMN extra text DEFAULT 'd'"
on src "INSERT INTO t VALUES (30, 'thirty', 30, 'e30'); UPDATE t SET extra = 'e1' WHERE id = 1"
wait_bad 'table public\.t on database tgt has no column "extra"'
on src "INSERT INTO t VALUES (31, 'thirty-one', 31, 'e31'); INSERT INTO u VALUES (31, 'w31', 31)"
wait_bad 'table public\.t on database tgt has no column "extra"'
held 30,31
[ "$(sql tgt "select count(*) from u where id = 31")" = 0 ] || fail "u's row reached tgt while the sync was Bad"
[ "$(sql tgt "select v from t where id = 1")" = v1 ] || fail "row 1 changed on tgt"

# ... then on the target too: everything written in between arrives.
on tgt "ALTER TABLE t ADD COLUMN extra text DEFAULT 'd'"
wait_good t u
expect_equal "e1 e30 e31" "$(sql tgt "select string_agg(extra, ' ' order by id) from t where id in (1, 30, 31)")" \
    "the new column's values on tgt"

# 2. DROP COLUMN on both sides, no reload.
on src "ALTER TABLE t DROP COLUMN n"
on tgt "ALTER TABLE t DROP COLUMN n"
on src "UPDATE t SET v = v || '!' WHERE id <= 3; INSERT INTO t VALUES (32, 'thirty-two', 'e32')"
wait_good t u

# 3. RENAME COLUMN on both sides, with a reload, then without.
on tgt "ALTER TABLE t RENAME COLUMN v TO label"
on src "ALTER TABLE t RENAME COLUMN v TO label"
run_ok "$BUCARDO" reload
on src "UPDATE t SET label = label || '?' WHERE id BETWEEN 4 AND 6; INSERT INTO t VALUES (33, 'l33', 'e33')"
wait_good t u
on src "ALTER TABLE u RENAME COLUMN w TO word"
on tgt "ALTER TABLE u RENAME COLUMN w TO word"
on src "UPDATE u SET word = 'renamed' WHERE id < 5"
wait_good t u

# 4. DROP COLUMN on the target only: Bad, naming it, until it is back.
on tgt "ALTER TABLE t DROP COLUMN extra"
on src "UPDATE t SET extra = 'x' || id; INSERT INTO t VALUES (34, 'l34', 'e34')"
wait_bad 'table public\.t on database tgt has no column "extra"'
held 34
on tgt "ALTER TABLE t ADD COLUMN extra text"
wait_good t u

# 5. A type changed on the target only (binary COPY of int4 into int8).
on tgt "ALTER TABLE u ALTER COLUMN q TYPE bigint"
on src "INSERT INTO u VALUES (40, 'w40', 40); UPDATE u SET q = q + 100 WHERE id = 2"
wait_bad 'table public\.u column "q" is bigint on database tgt but integer on the source src'
[ "$(sql tgt "select count(*) from u where id = 40")" = 0 ] || fail "u's row 40 reached tgt despite the mismatch"
on tgt "ALTER TABLE u ALTER COLUMN q TYPE integer"
wait_good t u

# 6. A nullable column only the target has is accepted (replicated rows
# get its default there); one NOT NULL without a default makes the sync
# Bad.  u is compared by the source's columns from here on.
same_u() {
    local deadline=$(( $(date +%s) + 30 ))
    until [ "$(table_digest src "(select id, word, q from u)")" = "$(table_digest tgt "(select id, word, q from u)")" ]; do
        [ "$(date +%s)" -ge "$deadline" ] && fail "u differs between src and tgt"
        sleep 0.1
    done
}
on tgt "ALTER TABLE u ADD COLUMN local text"
on src "UPDATE u SET q = q + 1 WHERE id = 3"
same_u
wait_run s 30 "id > $SEEN AND state = 'Good'"
SEEN=$(last_run)
on tgt "ALTER TABLE u ADD COLUMN strict_local int NOT NULL DEFAULT 0; ALTER TABLE u ALTER strict_local DROP DEFAULT"
on src "UPDATE u SET q = q + 1 WHERE id = 4"
wait_bad 'table public\.u on database tgt has column "strict_local", NOT NULL without a default'
[ "$(sql tgt "select q from u where id = 4")" = 4 ] || fail "u's row 4 changed on tgt despite the mismatch"
on tgt "ALTER TABLE u DROP COLUMN strict_local"
same_u
wait_synced src tgt 30 t
wait_run s 30 "id > $SEEN AND state = 'Good'"
run_ok "$BUCARDO" stop
echo "PASS"
