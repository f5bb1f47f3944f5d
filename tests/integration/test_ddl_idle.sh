#!/usr/bin/env bash
# DDL while a sync holds no connection (issue 23: a sync keeps its tables'
# plans when it gives its connections back, and its next connection plans
# again only when the BEGIN's shape of the tables moved).  With
# conn_idle_timeout=0 every cycle closes its connections at its end, so
# each change below is made between two connections, and judged by the
# tables' contents:
#  - the plans are kept across connections (the log says so) and rows
#    still arrive, dates and floats exact though the source's database
#    prints them otherwise (the new session's setup travels with its first
#    BEGIN);
#  - ADD COLUMN on both sides: the new column's values arrive (plans kept
#    from before it would leave the column out);
#  - ADD COLUMN on the source only: Bad naming database, table and column,
#    nothing arrives, until the target has it too;
#  - DROP COLUMN on the target only: Bad naming it, until it is back;
#  - RENAME COLUMN on both sides: replication goes on under the new name.
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "CREATE TABLE t (id int PRIMARY KEY, v text);
                CREATE TABLE w (id int PRIMARY KEY, d date, f float8)" src tgt
# The source prints dates and floats its own way unless the session's
# setup (sent with the first BEGIN of a new connection) says otherwise.
psql -X -q -d postgres -c "ALTER DATABASE src SET DateStyle = 'SQL, DMY'" \
    -c "ALTER DATABASE src SET extra_float_digits = 0" || fail "database settings"
test_sync s rg src,tgt
run_ok "$BUCARDO" set retry_delay=0.2 retry_delay_max=1 conn_idle_timeout=0 log_level=verbose
run_ok "$BUCARDO" start

. "$TESTS_DIR/lib/ddl_steps.sh"
# idle - the sync has given its connections back (at the end of its last
# cycle, conn_idle_timeout=0): the next cycle connects again, and says so.
idle() {
    sleep 1
    CONNECTS=$(grep -c "connected to source src" log.bucardo)
}
# reconnected - a cycle since `idle` connected to src again.
reconnected() {
    [ "$(grep -c "connected to source src" log.bucardo)" -gt "$CONNECTS" ] ||
        fail "no new connection to src since the change"
}

# w's rows as the same text whatever the session's settings.
w_rows() { sql "$1" "select string_agg(id || ' ' || to_char(d, 'YYYY-MM-DD') || ' ' || encode(float8send(f), 'hex'), ','
                            order by id) from w"; }

on src "INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 10) i"
wait_good t
idle
on src "UPDATE t SET v = 'again' WHERE id = 1;
        INSERT INTO w VALUES (1, '2024-02-03', 0.1::float8 + 0.2::float8), (2, '1999-12-31', 1e-300)"
wait_good t
reconnected
grep -q "connected to source src (its plans kept)" log.bucardo ||
    fail "the second connection planned the tables again: $(grep 'connected to source' log.bucardo)"
expect_equal "$(w_rows src)" "$(w_rows tgt)" "dates and floats read through a new connection"

# 1. ADD COLUMN on both sides between two connections.
idle
on tgt "ALTER TABLE t ADD COLUMN extra text"
on src "ALTER TABLE t ADD COLUMN extra text"
on src "INSERT INTO t VALUES (20, 'twenty', 'e20'); UPDATE t SET extra = 'e2' WHERE id = 2"
wait_good t
reconnected
expect_equal "e2 e20" "$(sql tgt "select string_agg(extra, ' ' order by id) from t where extra is not null")" \
    "the new column's values on tgt"

# 2. ADD COLUMN on the source only: Bad, nothing arrives, until tgt has it.
idle
on src "ALTER TABLE t ADD COLUMN more int DEFAULT 7"
on src "INSERT INTO t VALUES (21, 'twenty-one', 'e21', 21)"
wait_bad 'table public\.t on database tgt has no column "more"'
reconnected
[ "$(sql tgt "select count(*) from t where id = 21")" = 0 ] || fail "row 21 reached tgt while the sync was Bad"
on tgt "ALTER TABLE t ADD COLUMN more int DEFAULT 7"
wait_good t
expect_equal "21" "$(sql tgt "select more from t where id = 21")" "the column added on both sides at last"

# 3. DROP COLUMN on the target only: Bad, naming it, until it is back.
idle
on tgt "ALTER TABLE t DROP COLUMN more"
on src "UPDATE t SET more = id; INSERT INTO t VALUES (22, 'twenty-two', 'e22', 22)"
wait_bad 'table public\.t on database tgt has no column "more"'
reconnected
[ "$(sql tgt "select count(*) from t where id = 22")" = 0 ] || fail "row 22 reached tgt while the sync was Bad"
on tgt "ALTER TABLE t ADD COLUMN more int"
wait_good t

# 4. RENAME COLUMN on both sides: the kept plans name the old column.
idle
on src "ALTER TABLE t RENAME COLUMN v TO label"
on tgt "ALTER TABLE t RENAME COLUMN v TO label"
on src "UPDATE t SET label = 'renamed' WHERE id = 3"
wait_good t
reconnected
expect_equal "renamed" "$(sql tgt "select label from t where id = 3")" "a change after the rename"
run_ok "$BUCARDO" stop
echo "PASS"
