-- sql/migrate_bucardo5.sql
--
-- `bucardo upgrade` on a Bucardo 5.4-5.6 catalog (cli/cmd_migrate.c).
-- Both catalogs want schema "bucardo" of database "bucardo", so the
-- command first renames Bucardo's schema to "bucardo5" (kept aside, with
-- every row, until `bucardo upgrade --finish` drops it), then creates this
-- program's catalog (sql/catalog.sql + sql/upgrade.sql) and runs the
-- section "convert" below, all in one catalog transaction.
--
-- "convert" copies every object with every setting that has a meaning
-- here, and writes what it could not convert (or converted with a
-- difference) into the temporary table migrate_note, which the command
-- prints (and --dryrun prints without committing):
--   kind 'skip'  an object or setting left out: no equivalent yet
--   kind 'note'  converted, but something about it differs
-- Syncs that need something left out are imported inactive, their
-- status_note saying why (`bucardo status SYNC` shows it).
--
-- Mapping (Bucardo 5 -> here):
--   db        -> db: host/port/'' -> NULL, dbconn (DBI style, ';'-separated)
--                and pgpass (passfile=) -> conn, dbdsn (dbi:Pg:...) -> conn,
--                status stalled -> active; dbtype mysql, mariadb, sqlite,
--                redis, flatpg, flatsql, firebird -> the same type (targets written by
--                engine/drivers/: dbhost/dbport/dbuser/dbpass/dbname as
--                for `add db type=...`; their dbdsn/dbconn are not used:
--                noted); other dbtypes (mongo, oracle, drizzle):
--                skip
--   dbgroup, dbmap -> dbgroup, dbgroup_member (sources first, by priority)
--   goat      -> relation (same ids); pkey/pkeytype 'a|b' -> arrays;
--                vacuum_after_copy = goat's AND that of a sync reading it
--                (Bucardo 5 has the switch on both); per-table autokick,
--                rebuild_index, makedelta, conflict_strategy,
--                analyze_after_copy, strict_checking, delta_bypass: set on
--                the sync or the database here, noted
--   herd, herdmap -> relgroup, relgroup_member
--   sync      -> sync: every option with an equivalent; copyextra,
--                deletemethod other than delete, track_rates,
--                isolation_level: noted
--   customname, customcols -> the same (customcols without its SELECT)
--   customcode (Perl) -> customcode of kind perl (run by the Perl runner),
--                with its whenrun, getdbh, status, priority and mapping
--   bucardo_config -> config: every setting changed from Bucardo's
--                default whose name exists here; others noted
--   bucardo_custom_trigger -> skip; the syncs reading its table are imported
--                inactive (a row filter is a capture_filter here)
--   syncrun history, clone: not converted

-- @@SECTION convert@@
CREATE TEMP TABLE migrate_note (
    ord   serial,
    kind  text NOT NULL,
    what  text NOT NULL,
    note  text NOT NULL
) ON COMMIT DROP;

-- Databases.
-- The kinds written here (engine/drivers/); Bucardo's other dbtypes are not.
CREATE TEMP TABLE migrate_dbtype (dbtype text PRIMARY KEY) ON COMMIT DROP;
INSERT INTO migrate_dbtype VALUES ('postgres'), ('mysql'), ('mariadb'), ('sqlite'), ('redis'), ('flatpg'), ('flatsql'), ('firebird');

INSERT INTO migrate_note (kind, what, note)
SELECT 'skip', format('database "%s"', d.name),
       format('type %s has no equivalent here yet: not converted', d.dbtype)
  FROM bucardo5.db d WHERE d.dbtype NOT IN (SELECT dbtype FROM migrate_dbtype) ORDER BY d.name;

INSERT INTO bucardo.db (name, dbname, host, port, dbuser, dbpass, service, conn, status, makedelta, created)
SELECT d.name, d.dbname, nullif(d.dbhost, ''), nullif(d.dbport, ''),
       CASE WHEN coalesce(d.dbuser, '') = '' AND coalesce(d.dbservice, '') <> '' THEN NULL
            ELSE coalesce(nullif(d.dbuser, ''), 'bucardo') END,
       d.dbpass, nullif(d.dbservice, ''),
       nullif(concat_ws(' ',
                        nullif(btrim(regexp_replace(regexp_replace(coalesce(d.dbdsn, ''), '^dbi:Pg:', '', 'i'),
                                                    ';', ' ', 'g')), ''),
                        nullif(btrim(replace(coalesce(d.dbconn, ''), ';', ' ')), ''),
                        CASE WHEN coalesce(d.pgpass, '') <> '' THEN 'passfile=' || d.pgpass END), ''),
       CASE WHEN d.status = 'inactive' THEN 'inactive' ELSE 'active' END,
       d.makedelta, d.cdate
  FROM bucardo5.db d WHERE d.dbtype = 'postgres';

-- Targets of other kinds: the fields `add db type=...` takes.  Flat files
-- need no server (their directory is the setting flatfile_dir).
INSERT INTO bucardo.db (name, dbtype, dbname, host, port, dbuser, dbpass, status, makedelta, created)
SELECT d.name, d.dbtype,
       CASE WHEN d.dbtype IN ('flatpg', 'flatsql') THEN NULL ELSE nullif(d.dbname, '') END,
       CASE WHEN d.dbtype IN ('flatpg', 'flatsql', 'sqlite') THEN NULL ELSE nullif(d.dbhost, '') END,
       CASE WHEN d.dbtype IN ('flatpg', 'flatsql', 'sqlite') THEN NULL ELSE nullif(d.dbport, '') END,
       coalesce(nullif(d.dbuser, ''), 'bucardo'),
       CASE WHEN d.dbtype IN ('mysql', 'mariadb', 'redis', 'firebird') THEN d.dbpass END,
       CASE WHEN d.status = 'inactive' THEN 'inactive' ELSE 'active' END,
       false, d.cdate
  FROM bucardo5.db d WHERE d.dbtype IN (SELECT dbtype FROM migrate_dbtype) AND d.dbtype <> 'postgres';

INSERT INTO migrate_note (kind, what, note)
SELECT 'note', format('database "%s"', d.name),
       format('type %s: its %s not used here (host, port, user, password and dbname are)', d.dbtype,
              concat_ws(' and ', CASE WHEN coalesce(d.dbdsn, '') <> '' THEN 'dbdsn' END,
                        CASE WHEN coalesce(d.dbconn, '') <> '' THEN 'dbconn' END) || CASE WHEN coalesce(d.dbdsn, '') <> '' AND coalesce(d.dbconn, '') <> '' THEN ' are' ELSE ' is' END)
  FROM bucardo5.db d
 WHERE d.dbtype IN (SELECT dbtype FROM migrate_dbtype) AND d.dbtype <> 'postgres'
   AND (coalesce(d.dbdsn, '') <> '' OR coalesce(d.dbconn, '') <> '');

INSERT INTO migrate_note (kind, what, note)
SELECT 'note', format('database "%s"', d.name), 'was stalled in Bucardo: imported active'
  FROM bucardo5.db d WHERE d.dbtype IN (SELECT dbtype FROM migrate_dbtype) AND d.status = 'stalled';

-- Database groups.
INSERT INTO bucardo.dbgroup (name, created) SELECT g.name, g.cdate FROM bucardo5.dbgroup g;
INSERT INTO bucardo.dbgroup_member (dbgroup, db, role, position)
SELECT m.dbgroup, m.db, m.role,
       row_number() OVER (PARTITION BY m.dbgroup
                          ORDER BY (m.role <> 'source'), m.priority DESC, m.cdate, m.db)
  FROM bucardo5.dbmap m JOIN bucardo.db d ON d.name = m.db;
INSERT INTO migrate_note (kind, what, note)
SELECT 'skip', format('dbgroup "%s"', m.dbgroup),
       format('member "%s" (%s) left out: its database was not converted', m.db, m.role)
  FROM bucardo5.dbmap m WHERE NOT EXISTS (SELECT 1 FROM bucardo.db d WHERE d.name = m.db);

-- Tables and sequences, with the same ids.
INSERT INTO bucardo.relation (id, db, schemaname, relname, kind, pkey, pkeytype, created, vacuum_after_copy)
SELECT g.id, g.db, g.schemaname, g.tablename, g.reltype,
       CASE WHEN coalesce(g.pkey, '') = '' THEN NULL ELSE string_to_array(g.pkey, '|') END,
       CASE WHEN coalesce(g.pkey, '') = '' THEN NULL ELSE string_to_array(g.pkeytype, '|') END,
       g.cdate,
       g.vacuum_after_copy AND EXISTS (SELECT 1 FROM bucardo5.herdmap h JOIN bucardo5.sync s ON s.herd = h.herd
                                        WHERE h.goat = g.id AND s.vacuum_after_copy)
  FROM bucardo5.goat g JOIN bucardo.db d ON d.name = g.db
 WHERE NOT g.ghost;
SELECT setval('bucardo.relation_id_seq', greatest((SELECT max(id) FROM bucardo.relation), 1));

INSERT INTO migrate_note (kind, what, note)
SELECT 'skip', format('%s %s.%s (db %s)', g.reltype, g.schemaname, g.tablename, g.db),
       CASE WHEN g.ghost THEN 'a ghost (Bucardo only dropped its triggers): not converted'
            ELSE 'its database was not converted' END
  FROM bucardo5.goat g
 WHERE g.ghost OR NOT EXISTS (SELECT 1 FROM bucardo.db d WHERE d.name = g.db)
 ORDER BY g.id;

INSERT INTO migrate_note (kind, what, note)
SELECT 'note', format('table %s.%s', g.schemaname, g.tablename),
       format('per-table %s in Bucardo: %s', o.k, o.v)
  FROM bucardo5.goat g,
       LATERAL (VALUES ('autokick', g.autokick::text, 'is set on the sync here'),
                       ('rebuild_index', g.rebuild_index::text, 'is set on the sync here'),
                       ('conflict_strategy', g.conflict_strategy, 'is set on the sync here'),
                       ('makedelta', g.makedelta, 'is set on the database here'),
                       ('analyze_after_copy', CASE WHEN NOT g.analyze_after_copy THEN 'false' END,
                        'is set on the sync here'),
                       ('strict_checking', CASE WHEN NOT g.strict_checking THEN 'false' END,
                        'is set on the sync here'),
                       ('delta_bypass', CASE WHEN g.delta_bypass THEN 'true' END, 'has no equivalent here'))
               AS x(k, val, why),
       LATERAL (SELECT x.k AS k, format('%s=%s %s; the sync''s value applies', x.k, x.val, x.why) AS v) o
 WHERE x.val IS NOT NULL AND NOT g.ghost
 ORDER BY g.id, o.k;

-- Relgroups.
INSERT INTO bucardo.relgroup (name, created) SELECT h.name, h.cdate FROM bucardo5.herd h;
INSERT INTO bucardo.relgroup_member (relgroup, relation, position)
SELECT m.herd, m.goat, row_number() OVER (PARTITION BY m.herd ORDER BY m.priority DESC, m.goat)
  FROM bucardo5.herdmap m JOIN bucardo.relation r ON r.id = m.goat;

-- Syncs.
INSERT INTO bucardo.sync (name, relgroup, dbgroup, status, autokick, onetimecopy, conflict_strategy, checktime,
                          stayalive, kidsalive, rebuild_index, analyze_after_copy, strict_checking, overdue,
                          expired, lifetime, maxkicks, priority, created)
SELECT s.name, s.herd, s.dbs, CASE WHEN s.status = 'active' THEN 'active' ELSE 'inactive' END,
       s.autokick, s.onetimecopy, s.conflict_strategy, s.checktime, s.stayalive, s.kidsalive,
       least(greatest(s.rebuild_index, 0), 2), s.analyze_after_copy, s.strict_checking, s.overdue,
       s.expired, s.lifetime, greatest(s.maxkicks, 0), s.priority, s.cdate
  FROM bucardo5.sync s
 WHERE s.herd IS NOT NULL AND s.dbs IS NOT NULL;
INSERT INTO migrate_note (kind, what, note)
SELECT 'skip', format('sync "%s"', s.name), 'has no relgroup or no dbgroup: not converted'
  FROM bucardo5.sync s WHERE s.herd IS NULL OR s.dbs IS NULL;

INSERT INTO migrate_note (kind, what, note)
SELECT 'note', format('sync "%s"', s.name), x.v
  FROM bucardo5.sync s,
       LATERAL (VALUES (CASE WHEN s.copyextra <> '' THEN format('copyextra=%s has no equivalent here', s.copyextra) END),
                       (CASE WHEN s.deletemethod <> 'delete'
                             THEN format('deletemethod=%s: copies here empty a table with TRUNCATE where they can, else DELETE',
                                         s.deletemethod) END),
                       (CASE WHEN s.track_rates THEN 'track_rates=true has no equivalent here' END),
                       (CASE WHEN s.isolation_level IS NOT NULL
                             THEN format('isolation_level=%s: cycles here read in REPEATABLE READ', s.isolation_level) END),
                       (CASE WHEN s.vacuum_after_copy THEN 'vacuum_after_copy=true: set on its tables here' END),
                       (CASE WHEN s.status NOT IN ('active', 'inactive')
                             THEN format('status %s: imported inactive', s.status) END))
               AS x(v)
 WHERE x.v IS NOT NULL AND s.herd IS NOT NULL AND s.dbs IS NOT NULL
 ORDER BY s.name;

-- Syncs that need a database that was not converted.
WITH missing AS (
    SELECT s.name, string_agg(format('database "%s" (%s)', d.name, d.dbtype), ', ' ORDER BY d.name) AS dbs
      FROM bucardo.sync s
      JOIN bucardo5.dbmap m ON m.dbgroup = s.dbgroup
      JOIN bucardo5.db d ON d.name = m.db
     WHERE d.dbtype NOT IN (SELECT dbtype FROM migrate_dbtype)
     GROUP BY s.name)
UPDATE bucardo.sync s SET status = 'inactive',
       status_note = format('imported inactive from Bucardo: %s has no equivalent here yet', missing.dbs)
  FROM missing WHERE missing.name = s.name;

-- Custom code: each Bucardo Perl customcode becomes a customcode of kind
-- perl (its text kept in the catalog, run unchanged by the project's Perl
-- runner, scripts/customcode_runner.pl), with its whenrun (Bucardo's
-- *_trigger_disable are *_trigger_drop here), getdbh, status and the
-- active rows of customcode_map: a sync, or a table (same relation ids).
-- Bucardo orders a sync's codes by the map's priority: the lowest
-- priority of its active map rows, else the code's own.  A name this
-- catalog does not allow is made of its allowed characters plus the
-- Bucardo id (noted).  The syncs stay as they were (active or not).
CREATE TEMP TABLE migrate_code ON COMMIT DROP AS
SELECT c.id, c.name AS oldname,
       CASE WHEN c.name ~ '^[A-Za-z0-9_.-]{1,48}$' THEN c.name
            ELSE left(regexp_replace(c.name, '[^A-Za-z0-9_.-]', '_', 'g'), 36) || '_' || c.id END AS name
  FROM bucardo5.customcode c;
INSERT INTO bucardo.customcode (name, about, whenrun, getdbh, kind, src_code, status, priority, cdate)
SELECT mc.name, c.about, replace(c.whenrun, '_trigger_disable', '_trigger_drop'), c.getdbh, 'perl', c.src_code,
       CASE WHEN c.status = 'active' THEN 'active' ELSE 'inactive' END,
       coalesce((SELECT min(m.priority) FROM bucardo5.customcode_map m
                  WHERE m.code = c.id AND m.active AND m.priority <> 0), c.priority),
       c.cdate
  FROM bucardo5.customcode c JOIN migrate_code mc ON mc.id = c.id;
INSERT INTO bucardo.customcode_map (code, sync, relation)
SELECT DISTINCT mc.name, m.sync, CASE WHEN m.sync IS NULL THEN m.goat END
  FROM bucardo5.customcode_map m JOIN migrate_code mc ON mc.id = m.code
 WHERE m.active
   AND (m.sync IS NOT NULL AND EXISTS (SELECT 1 FROM bucardo.sync s WHERE s.name = m.sync)
        OR m.sync IS NULL AND EXISTS (SELECT 1 FROM bucardo.relation r WHERE r.id = m.goat));
INSERT INTO migrate_note (kind, what, note)
SELECT 'note', format('customcode "%s"', c.name),
       format('Perl code run %s: run by this program''s Perl runner (needs perl%s)%s%s',
              replace(c.whenrun, '_trigger_disable', '_trigger_drop'),
              CASE WHEN c.getdbh THEN ' and libdbd-pg-perl' ELSE '' END,
              CASE WHEN mc.name <> c.name THEN format('; renamed "%s"', mc.name) ELSE '' END,
              CASE WHEN c.status <> 'active' THEN '; inactive' ELSE '' END)
  FROM bucardo5.customcode c JOIN migrate_code mc ON mc.id = c.id ORDER BY c.name;
INSERT INTO migrate_note (kind, what, note)
SELECT 'skip', format('customcode "%s"', c.name),
       format('its mapping to %s was not converted (%s)',
              coalesce(format('sync "%s"', m.sync), format('table id %s', m.goat), 'nothing'),
              CASE WHEN NOT m.active THEN 'inactive in Bucardo' ELSE 'the sync or table was not converted' END)
  FROM bucardo5.customcode_map m JOIN bucardo5.customcode c ON c.id = m.code
 WHERE NOT m.active
    OR (m.sync IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bucardo.sync s WHERE s.name = m.sync))
    OR (m.sync IS NULL AND NOT EXISTS (SELECT 1 FROM bucardo.relation r WHERE r.id = m.goat))
 ORDER BY c.name;
-- Custom delta triggers (bucardo_custom_trigger): a function body of
-- Bucardo's, written for its delta tables, usually to filter rows.  Here
-- a row filter is a capture_filter expression; the body cannot be turned
-- into one, so the syncs reading such a table are imported inactive -
-- active they would replicate rows the trigger kept back.
DO $bucardo_do$
BEGIN
    IF pg_catalog.to_regclass('bucardo5.bucardo_custom_trigger') IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO migrate_note (kind, what, note)
    SELECT 'skip', format('custom trigger "%s"', c.trigger_name),
           format('the %s trigger of table %s.%s (bucardo_custom_trigger) has no equivalent: not converted; '
                  'for a row filter: bucardo update table %s.%s capture_filter=EXPR', c.trigger_type,
                  g.schemaname, g.tablename, g.schemaname, g.tablename)
      FROM bucardo5.bucardo_custom_trigger c JOIN bucardo5.goat g ON g.id = c.goat
     WHERE c.status = 'active' ORDER BY c.id;
    WITH needs AS (
        SELECT s.name, string_agg(DISTINCT format('the custom %s trigger of %s.%s', c.trigger_type,
                                                  g.schemaname, g.tablename), ', ') AS what
          FROM bucardo.sync s
          JOIN bucardo.relgroup_member rm ON rm.relgroup = s.relgroup
          JOIN bucardo5.goat g ON g.id = rm.relation
          JOIN bucardo5.bucardo_custom_trigger c ON c.goat = g.id AND c.status = 'active'
         GROUP BY s.name)
    UPDATE bucardo.sync s SET status = 'inactive',
           status_note = concat_ws('; ', s.status_note,
                                   format('imported inactive from Bucardo: %s has no equivalent here (set a '
                                          'capture_filter, then activate)', needs.what))
      FROM needs WHERE needs.name = s.name;
END
$bucardo_do$;
INSERT INTO migrate_note (kind, what, note)
SELECT 'note', format('sync "%s"', s.name), s.status_note
  FROM bucardo.sync s WHERE s.status_note IS NOT NULL ORDER BY s.name;

-- customname and customcols.
INSERT INTO bucardo.customname (relation, newname, db, sync, created)
SELECT c.goat, c.newname, c.db, c.sync, c.cdate
  FROM bucardo5.customname c JOIN bucardo.relation r ON r.id = c.goat
 WHERE c.newname IS NOT NULL
   AND (c.db IS NULL OR EXISTS (SELECT 1 FROM bucardo.db d WHERE d.name = c.db))
   AND (c.sync IS NULL OR EXISTS (SELECT 1 FROM bucardo.sync s WHERE s.name = c.sync));
INSERT INTO bucardo.customcols (relation, clause, db, sync, created)
SELECT c.goat, regexp_replace(c.clause, '^\s*select\s+', '', 'i'), c.db, c.sync, c.cdate
  FROM bucardo5.customcols c JOIN bucardo.relation r ON r.id = c.goat
 WHERE coalesce(c.clause, '') <> ''
   AND (c.db IS NULL OR EXISTS (SELECT 1 FROM bucardo.db d WHERE d.name = c.db))
   AND (c.sync IS NULL OR EXISTS (SELECT 1 FROM bucardo.sync s WHERE s.name = c.sync));
INSERT INTO migrate_note (kind, what, note)
SELECT 'skip', format('%s %s', k.kind, k.id), 'its table, database or sync was not converted'
  FROM (SELECT 'customname' AS kind, c.id, c.goat, c.db, c.sync FROM bucardo5.customname c
        UNION ALL SELECT 'customcols', c.id, c.goat, c.db, c.sync FROM bucardo5.customcols c) k
 WHERE NOT EXISTS (SELECT 1 FROM bucardo.relation r WHERE r.id = k.goat)
    OR (k.db IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bucardo.db d WHERE d.name = k.db))
    OR (k.sync IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bucardo.sync s WHERE s.name = k.sync));

-- Settings changed from Bucardo's defaults.
UPDATE bucardo.config c SET setting = CASE WHEN c.name = 'log_level' THEN lower(b.setting) ELSE b.setting END
  FROM bucardo5.bucardo_config b
 WHERE b.item IS NULL AND lower(b.name) = c.name AND b.setting IS DISTINCT FROM b.defval;
INSERT INTO migrate_note (kind, what, note)
SELECT 'skip', format('setting %s=%s', b.name, b.setting),
       CASE WHEN b.item IS NOT NULL THEN format('for %s %s: per-object settings have no equivalent here', b.type, b.item)
            ELSE 'no such setting here: not converted' END
  FROM bucardo5.bucardo_config b
 WHERE b.setting IS DISTINCT FROM b.defval AND b.name <> 'bucardo_version'
   AND (b.item IS NOT NULL OR NOT EXISTS (SELECT 1 FROM bucardo.config c WHERE c.name = lower(b.name)))
 ORDER BY b.name;

-- Inactive custom triggers (the active ones are noted with their syncs above).
INSERT INTO migrate_note (kind, what, note)
SELECT 'skip', format('custom trigger "%s"', t.trigger_name),
       format('the %s trigger of table %s.%s was inactive in Bucardo: not converted', t.trigger_type,
              g.schemaname, g.tablename)
  FROM bucardo5.bucardo_custom_trigger t JOIN bucardo5.goat g ON g.id = t.goat
 WHERE t.status <> 'active' ORDER BY t.id;

-- @@SECTION counts@@
SELECT (SELECT count(*) FROM bucardo.db), (SELECT count(*) FROM bucardo.dbgroup),
       (SELECT count(*) FROM bucardo.relation WHERE kind = 'table'),
       (SELECT count(*) FROM bucardo.relation WHERE kind = 'sequence'),
       (SELECT count(*) FROM bucardo.relgroup), (SELECT count(*) FROM bucardo.sync),
       (SELECT count(*) FROM bucardo.customname), (SELECT count(*) FROM bucardo.customcols),
       (SELECT count(*) FROM bucardo.config c JOIN bucardo5.bucardo_config b
                  ON b.item IS NULL AND lower(b.name) = c.name AND b.setting IS DISTINCT FROM b.defval)
