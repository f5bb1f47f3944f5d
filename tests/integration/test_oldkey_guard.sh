#!/usr/bin/env bash
# Key changes with the key-change guard of sql/capture.sql.  The old-key
# trigger of a table has a column list (it fires only for an UPDATE that
# names a key column) unless the table has a BEFORE UPDATE row trigger,
# which can change the key of an UPDATE that names none; the event trigger
# bucardo_oldkey_guard takes the column list away, in the same
# transaction, from a table that gets such a trigger later.
# Checked: the form installed for each table; key changes through the SET
# list, through a generated key column and through BEFORE triggers (one
# there at `add sync`, one created later by a role that owns its table, one
# created while the table has pending trigger events, one cloned by ATTACH
# PARTITION); `validate` puts the column list back once the BEFORE trigger
# is gone; without the guard every table gets the unfiltered trigger; the
# last `remove sync` takes the guard away.  After each step the target
# equals the source.
. "$TESTS_DIR/lib/setup.sh"
test_begin

sql postgres "CREATE ROLE app LOGIN" >/dev/null || fail "create role app"
SCHEMA="
CREATE TABLE kc (id int PRIMARY KEY, v int);
CREATE TABLE gk (a int, k int GENERATED ALWAYS AS (a * 2) STORED PRIMARY KEY, v int);
CREATE TABLE ck (a int, b text, v int, PRIMARY KEY (a, b));
CREATE TABLE pre (id int PRIMARY KEY, v int);
CREATE TABLE own (id int PRIMARY KEY, v int);
ALTER TABLE own OWNER TO app;
CREATE TABLE pa (id int PRIMARY KEY, v int);
CREATE TABLE parent (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
CREATE TABLE fkp (id int PRIMARY KEY);
INSERT INTO fkp SELECT generate_series(1, 10);
CREATE TABLE fkc (id int PRIMARY KEY, p int REFERENCES fkp DEFERRABLE INITIALLY DEFERRED, v int);
-- moves a row whose v changes by 10000: a key change no SET list names
CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS
  \$\$ BEGIN IF NEW.v IS DISTINCT FROM OLD.v THEN NEW.id := NEW.id + 10000; END IF; RETURN NEW; END \$\$;
CREATE TRIGGER bump BEFORE UPDATE ON pre FOR EACH ROW EXECUTE FUNCTION bump();
CREATE TRIGGER bump BEFORE UPDATE ON parent FOR EACH ROW EXECUTE FUNCTION bump();"
test_databases "$SCHEMA" src tgt
for db in src tgt; do sql "$db" "GRANT CREATE ON SCHEMA public TO app" >/dev/null; done
run_ok "$BUCARDO" add table kc gk ck pre own pa fkc db=src relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src,tgt
TABLES="kc gk ck pre own pa fkc"

# form TABLE - "keys" when its old-key trigger has a column list, "all" when
# it fires for every UPDATE.
form() {
    sql src "SELECT CASE WHEN cardinality(tgattr::int2[]) > 0 THEN 'keys' ELSE 'all' END
               FROM pg_trigger WHERE tgname = 'bucardo_delta_oldkey' AND tgrelid = '$1'::regclass"
}
expect_equal "keys keys keys all keys keys keys" "$(for t in $TABLES; do form "$t"; done | xargs)" "forms at add sync"

run_ok "$BUCARDO" start
check() { wait_synced src tgt 30 $TABLES; }
step() {
    psql -X -q -v ON_ERROR_STOP=1 -d src -c "$1" >/dev/null || fail "on src: $1"
    check
}
step "INSERT INTO kc SELECT i, i FROM generate_series(1, 100) i;
      INSERT INTO gk (a, v) SELECT i, i FROM generate_series(1, 100) i;
      INSERT INTO ck SELECT i, 'b' || i, i FROM generate_series(1, 100) i;
      INSERT INTO pre SELECT i, i FROM generate_series(1, 100) i;
      INSERT INTO own SELECT i, i FROM generate_series(1, 100) i;
      INSERT INTO pa SELECT i, i FROM generate_series(1, 100) i"
step "UPDATE kc SET id = id + 1000 WHERE id % 3 = 0"                 # key in the SET list
step "UPDATE kc SET v = v + 1 WHERE id % 2 = 0"                      # key not named
step "UPDATE gk SET a = a + 1000 WHERE a % 4 = 0"                    # generated key, through its column
step "UPDATE ck SET b = b || '-moved' WHERE a % 5 = 0"               # one column of a composite key
step "UPDATE pre SET v = v + 1 WHERE id % 6 = 0"                     # BEFORE trigger there at add sync

# A BEFORE trigger created later, by a role that is not a superuser, on the
# table it owns: the guard drops the column list in the same transaction,
# so the UPDATE right after it (still in that transaction) is captured whole.
psql -X -q -v ON_ERROR_STOP=1 -d src -U app >/dev/null <<'SQL' || fail "app's BEFORE trigger"
BEGIN;
CREATE FUNCTION app_bump() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN IF NEW.v IS DISTINCT FROM OLD.v THEN NEW.id := NEW.id + 10000; END IF; RETURN NEW; END $$;
CREATE TRIGGER app_bump BEFORE UPDATE ON own FOR EACH ROW EXECUTE FUNCTION app_bump();
UPDATE own SET v = v + 1 WHERE id % 7 = 0;
COMMIT;
SQL
expect_equal "all" "$(form own)" "own after its BEFORE trigger"
check
step "UPDATE own SET v = v + 1 WHERE id % 11 = 0"

# A BEFORE trigger created while the table has pending trigger events (the
# deferred foreign key's check of the row just inserted).
psql -X -q -v ON_ERROR_STOP=1 -d src >/dev/null <<'SQL' || fail "BEFORE trigger with pending events"
BEGIN;
INSERT INTO fkc SELECT i, i % 10 + 1, i FROM generate_series(1, 50) i;
CREATE TRIGGER bump BEFORE UPDATE ON fkc FOR EACH ROW EXECUTE FUNCTION bump();
UPDATE fkc SET v = v + 1 WHERE id % 3 = 0;
COMMIT;
SQL
expect_equal "all" "$(form fkc)" "fkc after its BEFORE trigger"
check

# ATTACH PARTITION clones the parent's BEFORE trigger onto pa.  (On the
# target, pa stays a plain table: the bump trigger would not fire there.)
step "ALTER TABLE parent ATTACH PARTITION pa FOR VALUES FROM (0) TO (100000)"
expect_equal "all" "$(form pa)" "pa once attached"
step "UPDATE pa SET v = v + 1 WHERE id % 8 = 0"

# Once the BEFORE trigger is gone, validate puts the column list back.
sql src "DROP TRIGGER app_bump ON own" >/dev/null || fail "drop app_bump"
run_ok "$BUCARDO" validate s
expect_equal "keys" "$(form own)" "own after validate"
step "UPDATE own SET id = id + 100000 WHERE id % 13 = 0"

# Without the guard (an administrator disabled it) nothing gets the column list.
sql src "ALTER EVENT TRIGGER bucardo_oldkey_guard DISABLE" >/dev/null || fail "disable the guard"
run_ok "$BUCARDO" validate s
expect_equal "all all all all all all all" "$(for t in $TABLES; do form "$t"; done | xargs)" "forms without the guard"
step "UPDATE kc SET id = id + 100000 WHERE id % 17 = 0"

run_ok "$BUCARDO" stop
run_ok "$BUCARDO" remove sync s
expect_equal "0 0" "$(sql src "SELECT (SELECT count(*) FROM pg_event_trigger WHERE evtname = 'bucardo_oldkey_guard'),
                                      (SELECT count(*) FROM pg_proc WHERE proname = 'oldkey_guard')" | tr '|' ' ')" \
    "the guard after the last remove sync"
echo "PASS"
