#!/usr/bin/env bash
# rebuild_index: a table copy loads the target without its secondary
# indexes and recreates them (same definitions, new index relations), in
# one stream (t2) and in parallel streams (t1); constraint indexes stay.
# Parallel streams also rebuild the primary key (with its comment), unless
# a foreign key references it (parent) or a view depends on it (viewed);
# it comes back with its storage options.  A key the journal cannot
# restore (duplicates on the target) does not stop the sync, nor is it
# built again at every cycle: the next copy replaces the rows and the key
# comes back.  An engine killed mid-copy leaves the dropped indexes in the
# catalog's journal and recreates them when it starts again.
# rebuild_index=2 also rebuilds them in delta cycles.  Bad values are refused.
. "$TESTS_DIR/lib/setup.sh"
test_begin

createdb src && psql -X -q -d src -c "
    CREATE TABLE item (id int PRIMARY KEY, code text NOT NULL, sku text CONSTRAINT item_sku UNIQUE,
                       name text, flag boolean NOT NULL DEFAULT false);
    CREATE UNIQUE INDEX item_code ON item (code);
    CREATE INDEX item_lower_name ON item (lower(name)) WHERE flag;
    COMMENT ON INDEX item_code IS 'codes are unique';
    INSERT INTO item SELECT i, 'c' || i, 's' || i, 'Name ' || i, i % 3 = 0 FROM generate_series(1, 5000) i;
    CREATE TABLE big (a int, b int, pad text, PRIMARY KEY (a, b) WITH (fillfactor = 80));
    CREATE INDEX big_pad ON big (pad text_pattern_ops);
    CREATE UNIQUE INDEX big_b_a ON big (b, a) WITH (fillfactor = 70);
    INSERT INTO big SELECT i % 1000, i, repeat(md5(i::text), 3) FROM generate_series(1, 100000) i;
    COMMENT ON CONSTRAINT big_pkey ON big IS 'the key of big';
    CREATE TABLE parent (id int PRIMARY KEY, pad text);
    CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);
    INSERT INTO parent SELECT i, repeat('p', 200) FROM generate_series(1, 3000) i;
    INSERT INTO child SELECT i, i FROM generate_series(1, 3000) i;
    CREATE TABLE viewed (id int PRIMARY KEY, pad text);
    INSERT INTO viewed SELECT i, repeat('v', 200) FROM generate_series(1, 3000) i;
    CREATE VIEW viewed_pads AS SELECT id, pad, count(*) FROM viewed GROUP BY id;" \
    || fail schema
for db in t1 t2; do
    createdb $db && pg_dump -s src | psql -X -q -d $db >/dev/null || fail "schema on $db"
    psql -X -q -d $db -c "INSERT INTO item VALUES (-1, 'old', NULL, 'old row', true)" || fail "old row"
done

# indexes [DB] - every index of schema public with its definition and comment.
indexes() {
    sql "${1:-t1}" "select indexname || ': ' || indexdef || coalesce(' -- ' || obj_description((quote_ident(schemaname) || '.' || quote_ident(indexname))::regclass), '')
              from pg_indexes where schemaname = 'public' order by indexname"
}
# oids LIST [DB] - name=oid of the listed indexes.
oids() {
    sql "${2:-t1}" "select string_agg(c.relname || '=' || c.oid, ' ' order by c.relname) from pg_class c
             where c.relkind = 'i' and c.relnamespace = 'public'::regnamespace and c.relname in ($1)"
}
before=$(indexes)
secondary="'item_code', 'item_lower_name', 'big_pad', 'big_b_a'"
kept="'item_sku', 'parent_pkey', 'viewed_pkey'"
pkeys="'item_pkey', 'big_pkey', 'child_pkey'"
sec_before=$(oids "$secondary")
kept_before=$(oids "$kept")
pkeys_before=$(oids "$pkeys")
t2_before=$(oids "'item_code', 'item_lower_name'" t2)
t2_kept=$(oids "'item_pkey', 'item_sku'" t2)

for db in src t1 t2; do run_ok "$BUCARDO" add database "$db" dbname="$db"; done
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add relgroup small item

# Bad values change nothing.
snap=$(catalog_snapshot)
run_fail "$BUCARDO" add sync bad relgroup=rg dbs=src,t1 rebuild_index=3
expect_err "rebuild_index"
run_fail "$BUCARDO" add sync bad relgroup=rg dbs=src,t1 rebuild_index=yes
expect_equal "$snap" "$(catalog_snapshot)" "catalog after refused adds"

run_ok "$BUCARDO" add sync rb relgroup=rg dbs=src,t1 onetimecopy=1 rebuild_index=1 copy_streams=2
run_ok "$BUCARDO" add sync one relgroup=small dbs=src,t2 onetimecopy=1 rebuild_index=1 copy_streams=1
run_fail "$BUCARDO" update sync rb rebuild_index=-1
expect_err "rebuild_index"
expect_equal "1" "$(sql bucardo "select rebuild_index from bucardo.sync where name = 'rb'")" "rebuild_index kept"

# Kill the engine while big's parallel streams are held up on t1 (a trigger
# that fires even in replica mode waits for an advisory lock the test
# holds): the drop has committed, so the journal holds big's two secondary
# indexes and its primary key, and t1 lacks them.
hold_trigger t1 big
hold_lock t1
run_ok "$BUCARDO" start
deadline=$(( $(date +%s) + 60 ))
until [ "$(sql t1 "select count(*) from pg_indexes where indexname in ('big_pad', 'big_b_a')")" = 0 ]; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "the copy of big never dropped its indexes"
    sleep 0.05
done
pid=$(engine_pid)
kill -9 "$pid"
for _ in $(seq 100); do process_gone "$pid" && break; sleep 0.05; done
release_lock t1
psql -X -q -d t1 -c "DROP TRIGGER hold ON big" || fail "drop the hold trigger"
expect_equal "public.big_b_a=0 public.big_pad=0 public.big_pkey=1" \
    "$(sql bucardo "select string_agg(indexname || '=' || primary_key::int, ' ' order by indexname) from bucardo.index_rebuild where sync = 'rb' and db = 't1'")" \
    "indexes journaled by the interrupted copy (which one is the primary key)"
expect_equal "0" "$(sql t1 "select count(*) from pg_indexes where indexname in ('big_pad', 'big_b_a', 'big_pkey')")" "big's indexes dropped mid-copy"

# Changes made on the source during the copy must arrive too.
(for i in $(seq 1 40); do
     psql -X -q -d src -c "UPDATE item SET name = 'during $i', flag = true WHERE id = $i; DELETE FROM big WHERE b = $i" || exit 1
     sleep 0.05
 done) &
writer=$!
run_ok "$BUCARDO" start
wait $writer || fail "changes during the copy"
wait_run rb 120 "state = 'Good'"
wait_run one 60 "state = 'Good'"
wait_synced src t1 60 item big parent child viewed
wait_synced src t2 30 item
expect_equal "$(indexes t2 | grep -v big)" "$(printf '%s\n' "$before" | grep -v big)" "index definitions after the copy in one stream"
expect_equal "$t2_kept" "$(oids "'item_pkey', 'item_sku'" t2)" "one stream: primary key and constraint indexes untouched"
[ "$(oids "'item_code', 'item_lower_name'" t2)" != "$t2_before" ] || fail "one stream: secondary indexes were not rebuilt"
expect_equal "$before" "$(indexes)" "index definitions after the copy"
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.index_rebuild")" "journal emptied"
[ "$(oids "$secondary")" != "$sec_before" ] || fail "secondary indexes were not rebuilt: $(oids "$secondary")"
for i in item_code item_lower_name big_pad big_b_a; do
    printf '%s\n' "$sec_before" | grep -qw "$i=$(sql t1 "select '$i'::regclass::oid")" && fail "index $i was not rebuilt"
done
expect_equal "$kept_before" "$(oids "$kept")" "constraint indexes and a referenced primary key untouched"
for i in item_pkey big_pkey child_pkey; do
    printf '%s\n' "$pkeys_before" | grep -qw "$i=$(sql t1 "select '$i'::regclass::oid")" && fail "parallel streams: primary key $i was not rebuilt"
done
expect_equal "p p p" "$(sql t1 "select string_agg(contype::text, ' ') from pg_constraint where conname in ('item_pkey', 'big_pkey', 'child_pkey')")" \
    "rebuilt primary keys are primary key constraints"
expect_equal "the key of big" "$(sql t1 "select obj_description(oid, 'pg_constraint') from pg_constraint where conname = 'big_pkey'")" \
    "comment of a rebuilt primary key"
expect_equal "1" "$(sql t1 "select count(*) from pg_constraint where contype = 'f' and conrelid = 'child'::regclass")" "foreign key kept"
[ "$(sql t1 "select count(*) from pg_stats where tablename = 'item_lower_name'")" -ge 1 ] \
    || fail "the rebuilt expression index has no statistics: not analyzed after the copy"
grep -q "recreating index public.big_pad on t1" log.bucardo || fail "no log line for the restored index"

# Deltas after the copy: rebuild_index=1 leaves the indexes alone.
after_copy=$(oids "$secondary")
psql -X -q -d src -c "UPDATE item SET code = 'x' || code WHERE id <= 10; INSERT INTO big VALUES (-1, -1, 'new')" || fail update
wait_synced src t1 30 item
expect_equal "1" "$(sql t1 "select count(*) from big where a = -1")" "insert into big replicated"
expect_equal "$after_copy" "$(oids "$secondary")" "rebuild_index=1: delta cycles keep the indexes"

# rebuild_index=2: a delta cycle rebuilds the indexes of the tables it changes.
run_ok "$BUCARDO" update sync rb rebuild_index=2
run_ok "$BUCARDO" reload
run_ok "$BUCARDO" kick rb 30   # handled after the reload: the new definition is in force
item_before=$(oids "'item_code', 'item_lower_name'")
big_before=$(oids "'big_pad', 'big_b_a'")
psql -X -q -d src -c "UPDATE item SET name = 'delta', flag = true WHERE id BETWEEN 100 AND 200" || fail "update 2"
wait_synced src t1 30 item
[ "$(oids "'item_code', 'item_lower_name'")" != "$item_before" ] || fail "rebuild_index=2: item's indexes not rebuilt"
expect_equal "$big_before" "$(oids "'big_pad', 'big_b_a'")" "rebuild_index=2: an unchanged table keeps its indexes"
expect_equal "$before" "$(indexes)" "index definitions after a rebuilding delta cycle"
expect_equal "f" "$(sql t1 "select bool_or(not indisvalid) from pg_index where indrelid = 'item'::regclass")" "valid indexes"

# A primary key the journal cannot restore: duplicates on the target.
run_ok "$BUCARDO" stop
psql -X -q -d t1 -c "ALTER TABLE item DROP CONSTRAINT item_pkey; INSERT INTO item VALUES (1, 'dup', NULL, 'dup', false)" \
    || fail "break item on t1"
sql bucardo "INSERT INTO bucardo.index_rebuild (sync, db, tablename, indexname, definition, primary_key)
             VALUES ('rb', 't1', '\"public\".\"item\"', 'public.item_pkey',
                     'CREATE UNIQUE INDEX item_pkey ON public.item USING btree (id); ALTER TABLE \"public\".\"item\" ADD CONSTRAINT item_pkey PRIMARY KEY USING INDEX item_pkey', true)" >/dev/null
# A secondary index whose name reads like a primary key's definition is
# still a secondary index: restored although big has its primary key.
sql bucardo "INSERT INTO bucardo.index_rebuild (sync, db, tablename, indexname, definition, primary_key)
             VALUES ('rb', 't1', '\"public\".\"big\"', 'public.\"big PRIMARY KEY USING INDEX odd\"',
                     'CREATE INDEX \"big PRIMARY KEY USING INDEX odd\" ON public.big USING btree (b)', false)" >/dev/null
# The engine's start replays the journal and fails on the key.  The cycles
# right after do not build it again (a failed unique index may have read the
# whole table): the next try waits 10 s, then longer.  t1 counts the tries
# itself: an event trigger (ENABLE ALWAYS, as the engine's sessions run as
# replicas) bumps a sequence, which the failed statement cannot roll back.
psql -X -q -v ON_ERROR_STOP=1 -d t1 >/dev/null <<'SQL' || fail "attempt counter on t1"
CREATE SEQUENCE pkey_tries;
CREATE FUNCTION count_pkey_tries() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_query() LIKE '%CREATE UNIQUE INDEX item_pkey %' THEN
        PERFORM nextval('pkey_tries');
    END IF;
END $$;
CREATE EVENT TRIGGER count_pkey_tries ON ddl_command_start WHEN TAG IN ('CREATE INDEX')
    EXECUTE FUNCTION count_pkey_tries();
ALTER EVENT TRIGGER count_pkey_tries ENABLE ALWAYS;
SQL
tries() { sql t1 "select case when is_called then last_value else 0 end from pkey_tries"; }
started=$EPOCHREALTIME
run_ok "$BUCARDO" start
for i in 1 2 3; do run_ok "$BUCARDO" kick rb 30; done
expect_equal "1" "$(tries)" "builds of a key the journal cannot restore, in three quick cycles"
sleep "$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN{d = 11 - (b - a); print (d > 0 ? d : 0)}')"
run_ok "$BUCARDO" kick rb 30
expect_equal "2" "$(tries)" "builds of the key once its first retry, 10 s later, is due"
run_ok "$BUCARDO" update sync rb onetimecopy=1
run_ok "$BUCARDO" kick rb 60
expect_out "DONE"
sql t1 "DROP EVENT TRIGGER count_pkey_tries" >/dev/null
wait_synced src t1 30 item
expect_equal "p" "$(sql t1 "select contype from pg_constraint where conname = 'item_pkey'")" "item's key restored after the copy"
expect_equal "1" "$(sql t1 "select count(*) from pg_indexes where indexname = 'big PRIMARY KEY USING INDEX odd'")" \
    "a secondary index named like a key definition restored"
expect_equal "0" "$(sql bucardo "select count(*) from bucardo.index_rebuild")" "journal emptied again"
grep -q "trying again after the copy" log.bucardo || fail "no warning for the key that could not be restored"
run_ok "$BUCARDO" stop
echo ok
