#!/usr/bin/env bash
# `bucardo upgrade`: a version-1 catalog (sql/catalog.sql alone, as older
# releases installed it) is refused by every command with a pointer to
# upgrade; upgrade brings it to the current version keeping every object;
# a second upgrade has nothing to do to the catalog.  Every upgrade also
# installs this release's change capture again on the syncs' sources (an
# outdated trigger set is repaired, an old-style kick trigger removed);
# an unreachable source or a table locked for longer than the capture's
# lock timeout makes it fail, naming the sync.
. "$TESTS_DIR/lib/setup.sh"
VERSION=$(sed -n 's/^#define CATALOG_VERSION \([0-9][0-9]*\).*/\1/p' "$TESTS_DIR/../include/catalog.h")
[ -n "$VERSION" ] || fail "no CATALOG_VERSION in include/catalog.h"
# What the upgrade sections of Bucardo's options and settings and of
# Bucardo's column names add (views, columns, settings, a trigger): undone before each turn back to an older version.
UNDO_OPTIONS="DROP FUNCTION bucardo.sync_bucardo_names() CASCADE; DROP FUNCTION bucardo.db_bucardo_names() CASCADE;
    DROP FUNCTION bucardo.sync_runnable_check(text, text, text, text); ALTER TABLE bucardo.dbgroup DROP COLUMN about;
    DROP INDEX bucardo.syncrun_running; ALTER TABLE bucardo.syncrun DROP COLUMN truncates;
    DROP FUNCTION bucardo.syncrun_outcome(text, bigint, bigint, bigint);
    ALTER TABLE bucardo.sync DROP COLUMN herd, DROP COLUMN dbs, DROP COLUMN cdate;
    ALTER TABLE bucardo.db DROP COLUMN dbhost, DROP COLUMN dbport, DROP COLUMN dbconn, DROP COLUMN dbservice,
        DROP COLUMN cdate;
    ALTER TABLE bucardo.dbgroup DROP COLUMN cdate;
    DROP FUNCTION bucardo.syncrun_last_flags() CASCADE; DROP FUNCTION bucardo.syncrun_outcome(text, bigint, bigint);
    ALTER TABLE bucardo.syncrun DROP COLUMN status, DROP COLUMN details, DROP COLUMN lastgood, DROP COLUMN lastbad,
        DROP COLUMN lastempty;
    DROP VIEW bucardo.bucardo_config, bucardo.herd, bucardo.goat, bucardo.herdmap, bucardo.dbmap;
    ALTER TABLE bucardo.sync DROP COLUMN isolation_level, DROP COLUMN deletemethod, DROP COLUMN vacuum_after_copy,
        DROP COLUMN copyextra, DROP COLUMN track_rates;
    ALTER TABLE bucardo.relation DROP COLUMN autokick, DROP COLUMN rebuild_index, DROP COLUMN analyze_after_copy,
        DROP COLUMN strict_checking, DROP COLUMN makedelta, DROP COLUMN ghost, DROP COLUMN conflict_strategy,
        DROP COLUMN capture_filter;
    DROP TABLE bucardo.db_state;
    ALTER TABLE bucardo.relgroup_member DROP COLUMN priority;
    ALTER TABLE bucardo.db DROP COLUMN dbdsn, DROP COLUMN pgpass;
    ALTER TABLE bucardo.dbgroup_member DROP COLUMN priority, DROP COLUMN makedelta;
    DELETE FROM bucardo.config WHERE noeffect IS NOT NULL OR name IN ('isolation_level', 'kid_serial_sleep',
        'kid_deadlock_sleep', 'tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count',
        'host_safety_check', 'reload_config_timeout', 'stalled_after', 'batch_grow_max');
    ALTER TABLE bucardo.config DROP COLUMN noeffect;
    DROP TABLE bucardo.clone;"
# objects - the catalog's objects by the columns version 1 has: every one
# of them must still be there after an upgrade (which may add more).
objects() {
    sql bucardo "select x from (
        select 'db ' || row(name, dbname, host, port, dbuser, service, conn, status, makedelta)::text x from bucardo.db
        union all select 'dbgroup ' || name from bucardo.dbgroup
        union all select 'member ' || row(dbgroup, db, role, position)::text from bucardo.dbgroup_member
        union all select 'relation ' || row(id, db, schemaname, relname, kind, pkey, pkeytype)::text from bucardo.relation
        union all select 'relgroup ' || name from bucardo.relgroup
        union all select 'rgmember ' || row(relgroup, relation, position)::text from bucardo.relgroup_member
        union all select 'sync ' || row(name, relgroup, dbgroup, status, autokick, conflict_strategy)::text from bucardo.sync
        union all select 'config ' || name || '=' || setting from bucardo.config) s order by x"
}
test_begin
test_databases "CREATE TABLE t (id int PRIMARY KEY)" src tgt
test_sync s rg src,tgt
triggers() { sql src "select string_agg(tgname, ' ' order by tgname) from pg_trigger where tgrelid = 't'::regclass"; }
current=$(triggers)
# Capture as an older release left it: a trigger missing, a separate kick trigger.
psql -X -q -d src -c "DROP TRIGGER bucardo_delta_ins ON t;
    CREATE FUNCTION bucardo.kick() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN RETURN NULL; END\$\$;
    CREATE TRIGGER bucardo_kick AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON t
        FOR EACH STATEMENT EXECUTE FUNCTION bucardo.kick()" || fail "old capture"
run_ok "$BUCARDO" upgrade
expect_out "already at version $VERSION"
expect_out "Refreshed the change capture of 1 sync"
expect_equal "$current" "$(triggers)" "capture triggers after upgrade"
psql -X -q -d src -c "INSERT INTO t VALUES (1)" || fail insert
[ "$(sql src "select count(*) from bucardo.$(sql src "select relname from pg_class where relname like 'delta%'")")" = 1 ] \
    || fail "no delta row after upgrade"

# An inactive autokick sync keeps its wake-up through a refresh (activate
# does not reinstall capture): both capture functions of t keep it.
run_ok "$BUCARDO" deactivate s
run_ok "$BUCARDO" upgrade
expect_equal "2 2" "$(sql src "select count(*), count(*) filter (where prosrc like '%pg_notify%') from pg_proc
                              where pronamespace = 'bucardo'::regnamespace and proname like 'capture%'" | tr '|' ' ')" \
    "kick kept for an inactive sync"
run_ok "$BUCARDO" activate s

# A long transaction holding a source table: reinstalling capture gives up
# after its lock timeout (10 s) instead of queueing the application's
# queries behind its lock, and says why.
psql -X -q -d src -c "BEGIN; LOCK TABLE t IN ACCESS SHARE MODE; SELECT pg_sleep(60)" >/dev/null 2>&1 &
locker=$!
until [ "$(sql src "select count(*) from pg_locks where relation = 't'::regclass and granted and pid <> pg_backend_pid()")" = 1 ]; do
    sleep 0.05
done
t0=$(date +%s)
run_fail timeout 60 "$BUCARDO" validate s
expect_err "lock timeout"
[ $(( $(date +%s) - t0 )) -le 30 ] || fail "validate waited more than 30 s for a lock"
kill $locker 2>/dev/null; wait $locker 2>/dev/null
sql src "select pg_terminate_backend(pid) from pg_stat_activity where query like '%pg_sleep(60)%' and pid <> pg_backend_pid()" >/dev/null
run_ok "$BUCARDO" validate s

# A source that cannot be reached: the upgrade fails and says which sync.
psql -X -q -d postgres -c "ALTER DATABASE src ALLOW_CONNECTIONS false" || fail "close src"
run_fail "$BUCARDO" upgrade
expect_err "sync \"s\": could not refresh its change capture"
psql -X -q -d postgres -c "ALTER DATABASE src ALLOW_CONNECTIONS true" || fail "open src"

# Turn the catalog back into version 1: what sql/upgrade.sql section 2 adds goes.
psql -X -q -d bucardo -c "$UNDO_OPTIONS" || fail "undo the options' section"
psql -X -q -d bucardo -c "DROP TABLE bucardo.customname, bucardo.customcols, bucardo.copy_progress, bucardo.index_rebuild,
                                     bucardo.sync_member_state, bucardo.customcode_map, bucardo.customcode;
                          ALTER TABLE bucardo.sync DROP COLUMN copy_streams, DROP COLUMN status_note;
                          ALTER TABLE bucardo.syncrun DROP COLUMN warning;
                          ALTER TABLE bucardo.relation DROP COLUMN vacuum_after_copy;
                          ALTER TABLE bucardo.db DROP COLUMN dbtype;
                          DELETE FROM bucardo.config WHERE name = 'lock_timeout';
                          DELETE FROM bucardo.schema_version WHERE version > 1" || fail "downgrade"
before=$(objects)
run_fail "$BUCARDO" list tables
expect_err "version 1.*run 'bucardo upgrade'"
run_ok "$BUCARDO" upgrade
expect_equal "$(printf 'Upgraded the bucardo catalog from version 1 to %s\nRefreshed the change capture of 1 sync(s) on their sources' "$VERSION")" "$OUT" "upgrade output"
run_ok "$BUCARDO" list tables
expect_out "public.t +DB: src"
expect_equal "$VERSION" "$(sql bucardo "select max(version) from bucardo.schema_version")" "version after upgrade"
expect_equal "5" "$(sql bucardo "select count(*) from pg_tables where schemaname = 'bucardo' and tablename in ('customname', 'customcols', 'sync_member_state', 'customcode', 'customcode_map')")" "new tables"
missing=$(comm -23 <(printf '%s\n' "$before" | sort) <(objects | sort))
[ -z "$missing" ] || fail "objects lost by the upgrade: $missing"
expect_equal "s" "$(sql bucardo "select string_agg(name, ' ') from bucardo.sync")" "sync kept"

# Version 6 to 7: index_rebuild rows a version-6 engine journaled learn
# which one is a primary key (from its definition, as version 6 told).
psql -X -q -d bucardo -c "$UNDO_OPTIONS" || fail "undo the options' section"
psql -X -q -d bucardo -c "ALTER TABLE bucardo.index_rebuild DROP COLUMN primary_key;
    ALTER TABLE bucardo.relation DROP COLUMN vacuum_after_copy;
    DROP TABLE bucardo.customcode_map, bucardo.customcode;
    ALTER TABLE bucardo.db DROP COLUMN dbtype;
    DELETE FROM bucardo.schema_version WHERE version > 6;
    INSERT INTO bucardo.index_rebuild (sync, db, tablename, indexname, definition)
    VALUES ('s', 'tgt', 'public.t', 'public.t_pkey',
            'CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id); ALTER TABLE public.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey'),
           ('s', 'tgt', 'public.t', 'public.t_x', 'CREATE INDEX t_x ON public.t USING btree (id)')" || fail "version 6"
run_ok "$BUCARDO" upgrade
expect_out "from version 6 to $VERSION"
expect_equal "public.t_pkey=1 public.t_x=0" \
    "$(sql bucardo "select string_agg(indexname || '=' || primary_key::int, ' ' order by indexname) from bucardo.index_rebuild")" \
    "primary_key of journaled indexes after the upgrade from 6"
sql bucardo "delete from bucardo.index_rebuild" >/dev/null

# Version 20 to 21: host_safety_check was always a regular expression;
# it now takes Bucardo's forms, and a value set before keeps its meaning
# as "~RE".  An "=a,b" or "~RE" value (set by a Bucardo user) stays.
# (Section 22 adds the setting batch_grow_max: undone with the version.)
for v in '^myhost$:~^myhost$' '=a,b:=a,b' '~^x:~^x' ':'; do
    sql bucardo "update bucardo.config set setting = '${v%%:*}' where name = 'host_safety_check';
                 delete from bucardo.config where name = 'batch_grow_max';
                 delete from bucardo.schema_version where version > 20" >/dev/null
    run_ok "$BUCARDO" upgrade
    expect_equal "${v#*:}" "$(sql bucardo "select setting from bucardo.config where name = 'host_safety_check'")" \
        "host_safety_check '${v%%:*}' after the upgrade from 20"
done

# A catalog newer than the program is refused, and nothing changes.
sql bucardo "insert into bucardo.schema_version (version) values (99)" >/dev/null
run_fail "$BUCARDO" upgrade
expect_err "newer than this program"
run_fail "$BUCARDO" list dbs
expect_err "use a newer bucardo"
echo ok
