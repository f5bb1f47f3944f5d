#!/usr/bin/env bash
# `bucardo upgrade`: a version-1 catalog (sql/catalog.sql alone, as older
# releases installed it) is refused by every command with a pointer to
# upgrade; upgrade brings it to the current version keeping every object;
# a second upgrade has nothing to do.
. "$TESTS_DIR/lib/pgcluster.sh"
. "$TESTS_DIR/lib/assert.sh"
pg_start_cluster || fail "cannot start a cluster"
cd "$TEST_DIR"
bucardo_install
createdb src && psql -X -q -d src -c "CREATE TABLE t (id int PRIMARY KEY)" || fail schema
run_ok "$BUCARDO" add database src dbname=src
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" upgrade
expect_out "already at version 6"

# Turn the catalog back into version 1: what sql/upgrade.sql section 2 adds goes.
psql -X -q -d bucardo -c "DROP TABLE bucardo.customname, bucardo.customcols, bucardo.copy_progress, bucardo.index_rebuild,
                                     bucardo.sync_member_state;
                          ALTER TABLE bucardo.sync DROP COLUMN copy_streams;
                          ALTER TABLE bucardo.syncrun DROP COLUMN warning;
                          DELETE FROM bucardo.config WHERE name = 'lock_timeout';
                          DELETE FROM bucardo.schema_version WHERE version > 1" || fail "downgrade"
before=$(catalog_snapshot)
run_fail "$BUCARDO" list tables
expect_err "version 1.*run 'bucardo upgrade'"
run_ok "$BUCARDO" upgrade
expect_equal "Upgraded the bucardo catalog from version 1 to 6" "$OUT" "upgrade output"
run_ok "$BUCARDO" list tables
expect_out "public.t +DB: src"
expect_equal "6" "$(sql bucardo "select max(version) from bucardo.schema_version")" "version after upgrade"
expect_equal "3" "$(sql bucardo "select count(*) from pg_tables where schemaname = 'bucardo' and tablename in ('customname', 'customcols', 'sync_member_state')")" "new tables"
after=$(catalog_snapshot | grep -v "schema_version" | grep -v "'lock_timeout'")
expect_equal "$(printf '%s\n' "$before" | grep -v schema_version)" "$after" "objects kept"

# A catalog newer than the program is refused, and nothing changes.
sql bucardo "insert into bucardo.schema_version (version) values (99)" >/dev/null
run_fail "$BUCARDO" upgrade
expect_err "newer than this program"
run_fail "$BUCARDO" list dbs
expect_err "use a newer bucardo"
echo ok
