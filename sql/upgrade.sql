-- sql/upgrade.sql
--
-- Catalog migrations: section N takes a catalog from version N-1 to N.
-- `bucardo install` loads sql/catalog.sql (version 1) and then every
-- section here, and `bucardo upgrade` applies the sections a catalog lacks,
-- so a fresh catalog and an upgraded one are built by the same statements.
-- Each section runs in the same transaction as the others and ends by
-- recording its version.  Never edit a released section: add a new one.

-- @@SECTION 2@@
-- customname: a table has another schema or name on some database or sync.
CREATE TABLE bucardo.customname (
    id          serial PRIMARY KEY,
    relation    integer NOT NULL REFERENCES bucardo.relation (id) ON DELETE CASCADE,
    newname     text NOT NULL,                      -- "schema.table" or "table" (same schema)
    db          text REFERENCES bucardo.db (name) ON UPDATE CASCADE ON DELETE CASCADE,
    sync        text REFERENCES bucardo.sync (name) ON UPDATE CASCADE ON DELETE CASCADE,
    created     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customname_unique ON bucardo.customname (relation, coalesce(db, ''), coalesce(sync, ''));

-- customcols: the columns (or expressions) a database or sync receives.
CREATE TABLE bucardo.customcols (
    id          serial PRIMARY KEY,
    relation    integer NOT NULL REFERENCES bucardo.relation (id) ON DELETE CASCADE,
    clause      text NOT NULL,                      -- a select list: "a, b, upper(c) AS c"
    db          text REFERENCES bucardo.db (name) ON UPDATE CASCADE ON DELETE CASCADE,
    sync        text REFERENCES bucardo.sync (name) ON UPDATE CASCADE ON DELETE CASCADE,
    created     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customcols_unique ON bucardo.customcols (relation, coalesce(db, ''), coalesce(sync, ''));

INSERT INTO bucardo.schema_version (version) VALUES (2);

-- @@SECTION 3@@
-- Table copies (onetimecopy, fullcopy) run in parallel streams; 0 = one
-- per CPU core of the engine's machine.
ALTER TABLE bucardo.sync ADD COLUMN copy_streams integer NOT NULL DEFAULT 0 CHECK (copy_streams BETWEEN 0 AND 64);

-- Progress of the table copies in flight (and the last one done), written
-- by the engine about once a second, read by `bucardo status SYNC`.
CREATE TABLE bucardo.copy_progress (
    sync        text NOT NULL REFERENCES bucardo.sync (name) ON UPDATE CASCADE ON DELETE CASCADE,
    tablename   text NOT NULL,
    target      text NOT NULL,                      -- the databases copied to
    streams     integer NOT NULL,
    bytes       bigint NOT NULL DEFAULT 0,          -- COPY bytes read so far
    estimate    bigint NOT NULL DEFAULT 0,          -- the table's size on the source
    rows        bigint,                             -- rows copied, when done
    started     timestamptz NOT NULL DEFAULT now(),
    updated     timestamptz NOT NULL DEFAULT now(),
    done        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (sync, tablename)
);

INSERT INTO bucardo.schema_version (version) VALUES (3);

-- @@SECTION 4@@
-- How long a writer waits for a row or table lock on a target before it
-- gives up and retries its batch.
INSERT INTO bucardo.config (name, setting, about)
VALUES ('lock_timeout', '60s', 'How long applying changes waits for a lock on a target before retrying the batch')
ON CONFLICT (name) DO NOTHING;

INSERT INTO bucardo.schema_version (version) VALUES (4);

-- @@SECTION 5@@
-- rebuild_index: the secondary indexes a table copy dropped on a target
-- and has not recreated yet.  A copy split into parallel streams must
-- commit the DROP INDEX before its streams can load the table, so the
-- definitions are written here first; the engine recreates whatever is
-- still listed when the sync next starts or copies (after a crash, or a
-- failure of the recreation itself), then deletes the rows.
CREATE TABLE bucardo.index_rebuild (
    sync        text NOT NULL,                      -- no foreign key: outlives a removed sync
    db          text NOT NULL REFERENCES bucardo.db (name) ON UPDATE CASCADE ON DELETE CASCADE,
    tablename   text NOT NULL,                      -- schema.table on that database, for messages
    indexname   text NOT NULL,                      -- "schema"."index", quoted
    definition  text NOT NULL,                      -- CREATE INDEX ... (pg_get_indexdef)
    comment     text,                               -- COMMENT ON INDEX ..., when it had one
    dropped     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (db, indexname)
);

INSERT INTO bucardo.schema_version (version) VALUES (5);

-- @@SECTION 6@@
-- Members that missed cycles while they were unreachable.  Per sync, source
-- and member: the source's snapshot up to which that member has received
-- every change (NULL: none yet).  Only members that are behind have a row:
-- it is added when a cycle leaves the member out and removed when a cycle
-- has caught it up.  purge keeps the delta rows these snapshots still need.
CREATE TABLE bucardo.sync_member_state (
    sync        text NOT NULL REFERENCES bucardo.sync (name) ON UPDATE CASCADE ON DELETE CASCADE,
    source      text NOT NULL REFERENCES bucardo.db (name) ON UPDATE CASCADE ON DELETE CASCADE,
    member      text NOT NULL REFERENCES bucardo.db (name) ON UPDATE CASCADE ON DELETE CASCADE,
    snapshot    pg_snapshot,
    since       timestamptz NOT NULL DEFAULT now(),  -- the first cycle it missed
    reason      text,                                -- why it was last left out
    PRIMARY KEY (sync, source, member)
);

-- A cycle that ran without some member says so (its run is still Good).
ALTER TABLE bucardo.syncrun ADD COLUMN warning text;

INSERT INTO bucardo.schema_version (version) VALUES (6);

-- @@SECTION 7@@
-- Whether a journaled index is the table's primary key: the engine then
-- restores it only while the table has no primary key (of any name).
-- Version 6 told a key from the text of its definition, which a secondary
-- index with such text in its name also matched; rows a version-6 engine
-- journaled get the same test once, here.
ALTER TABLE bucardo.index_rebuild ADD COLUMN primary_key boolean NOT NULL DEFAULT false;
UPDATE bucardo.index_rebuild SET primary_key = true WHERE definition LIKE '% PRIMARY KEY USING INDEX %';

INSERT INTO bucardo.schema_version (version) VALUES (7);

-- @@SECTION 8@@
-- A database added with service= and no user= has no user of its own: the
-- service file's (or libpq's default) applies, not 'bucardo'.
ALTER TABLE bucardo.db ALTER COLUMN dbuser DROP NOT NULL;

INSERT INTO bucardo.schema_version (version) VALUES (8);

-- @@SECTION 9@@
-- Per table (Bucardo's goat.vacuum_after_copy): VACUUM the table on each
-- target after a table copy (onetimecopy, fullcopy) loaded it.  Off by
-- default, as before this version.  Set by `update table T vacuum_after_copy=1`.
ALTER TABLE bucardo.relation ADD COLUMN vacuum_after_copy boolean NOT NULL DEFAULT false;

INSERT INTO bucardo.schema_version (version) VALUES (9);

-- @@SECTION 10@@
-- The engine's connection budget: how many syncs run a cycle at once, each
-- with its data connections and one catalog connection, and how long an
-- idle sync keeps them (README.md, Connections).
INSERT INTO bucardo.config (name, setting, about)
VALUES ('max_concurrent_syncs', '8', 'Syncs that run a cycle at once; bounds the engine''s connections (README: Connections)')
ON CONFLICT (name) DO NOTHING;
INSERT INTO bucardo.config (name, setting, about)
VALUES ('conn_idle_timeout', '60', 'Seconds a sync keeps its connections after a cycle that applied changes, while no other sync waits for a slot (README: Connections)')
ON CONFLICT (name) DO NOTHING;

INSERT INTO bucardo.schema_version (version) VALUES (10);

-- @@SECTION 11@@
-- customcode (Bucardo's `add customcode`): code run at the hook points of a
-- sync's cycle (README.md, Customcode).  kind says how: 'sql' a function
-- body (language `language`) installed as bucardo."customcode_<name>"(jsonb)
-- in database `db` (NULL: the hook's own database, see README); 'command'
-- an executable (src_code is its path) given JSON on stdin; 'perl' a
-- Bucardo Perl customcode (src_code is its text) run by the project's Perl
-- runner.  timeout bounds one call (seconds).  A code applies to the syncs
-- and tables of customcode_map: a sync, or a table (every sync replicating
-- it).
CREATE TABLE bucardo.customcode (
    name      text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,48}$'),
    about     text,
    whenrun   text NOT NULL CHECK (whenrun IN ('before_txn', 'before_check_rows', 'before_trigger_drop',
                                               'after_trigger_drop', 'after_table_sync', 'exception',
                                               'conflict', 'before_trigger_enable', 'after_trigger_enable',
                                               'after_txn', 'before_sync', 'after_sync')),
    getdbh    boolean NOT NULL DEFAULT true,
    kind      text NOT NULL CHECK (kind IN ('sql', 'command', 'perl')),
    src_code  text NOT NULL,
    language  text NOT NULL DEFAULT 'plpgsql',
    db        text REFERENCES bucardo.db (name) ON UPDATE CASCADE ON DELETE RESTRICT,
    timeout   double precision NOT NULL DEFAULT 30 CHECK (timeout > 0),
    status    text NOT NULL DEFAULT 'active',
    priority  smallint NOT NULL DEFAULT 0,
    cdate     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bucardo.customcode_map (
    code      text NOT NULL REFERENCES bucardo.customcode (name) ON UPDATE CASCADE ON DELETE CASCADE,
    sync      text REFERENCES bucardo.sync (name) ON UPDATE CASCADE ON DELETE CASCADE,
    relation  integer REFERENCES bucardo.relation (id) ON DELETE CASCADE,
    CHECK ((sync IS NULL) <> (relation IS NULL))
);
CREATE UNIQUE INDEX customcode_map_sync ON bucardo.customcode_map (code, sync) WHERE sync IS NOT NULL;
CREATE UNIQUE INDEX customcode_map_relation ON bucardo.customcode_map (code, relation) WHERE relation IS NOT NULL;

INSERT INTO bucardo.schema_version (version) VALUES (11);

-- @@SECTION 12@@
-- Operations: mail alerts (Bucardo's default_email_* and email_* settings,
-- plus the TLS and flood-limit ones of this engine) and the Prometheus
-- endpoint (README.md, Alerts and metrics).
INSERT INTO bucardo.config (name, setting, about) VALUES
    ('default_email_from', 'nobody@example.com', 'Who the alert mails are sent as'),
    ('default_email_to', 'nobody@example.com', 'Who gets the alert mails (comma-separated); nobody@example.com: no mail is sent'),
    ('default_email_host', 'localhost', 'SMTP server the alert mails go through'),
    ('default_email_port', '25', 'Port of the SMTP server'),
    ('email_auth_user', '', 'SMTP AUTH user (empty: no authentication)'),
    ('email_auth_pass', '', 'SMTP AUTH password (never shown or logged)'),
    ('email_debug_file', '', 'File that gets a copy of every alert mail (empty: none)'),
    ('stats_script_url', 'http://www.bucardo.org/', 'Link given in every sync alert mail'),
    ('email_tls', 'try', 'TLS to the SMTP server: off, try (STARTTLS when offered), starttls (required), smtps'),
    ('email_tls_verify', '1', 'Check the SMTP server''s certificate and host name'),
    ('email_interval', '300', 'Seconds: at most one alert mail per sync in this time; the rest are held and sent together'),
    ('metrics_listen', '', 'HOST:PORT of the Prometheus endpoint (/metrics) served by the engine (empty: off)')
ON CONFLICT (name) DO NOTHING;

INSERT INTO bucardo.schema_version (version) VALUES (12);

-- @@SECTION 13@@
-- Why a sync is inactive when the program made it so: `bucardo upgrade`
-- from Bucardo 5 imports a sync that needs something without an
-- equivalent here (Perl customcode, a database of another kind) inactive,
-- saying why here; `bucardo status SYNC` shows it, `activate` clears it.
ALTER TABLE bucardo.sync ADD COLUMN IF NOT EXISTS status_note text;

INSERT INTO bucardo.schema_version (version) VALUES (13);

-- @@SECTION 14@@
-- Targets other than PostgreSQL (include/target_driver.h): a database's
-- kind (Bucardo's db.dbtype), and where flat-file targets write
-- (Bucardo's flatfile_dir).  Only postgres databases may be sources.
ALTER TABLE bucardo.db ADD COLUMN dbtype text NOT NULL DEFAULT 'postgres'
    CHECK (dbtype IN ('postgres', 'mysql', 'mariadb', 'sqlite', 'redis', 'flatpg', 'flatsql', 'firebird'));
INSERT INTO bucardo.config (name, setting, about)
VALUES ('flatfile_dir', '.', 'Directory the flat-file targets (type flatpg, flatsql) write their files into')
ON CONFLICT (name) DO NOTHING;

INSERT INTO bucardo.schema_version (version) VALUES (14);

-- @@SECTION 15@@
-- The engine log's settings (Bucardo's log_*, syslog_facility, warning_file,
-- log_conflict_file; README.md, Logging).  log_showtime becomes Bucardo's
-- 0..3 (it was a boolean whose 1 meant local time): a 1 left by an older
-- catalog, which meant local time, becomes 3.
UPDATE bucardo.config SET setting = '3',
       about = 'Timestamps in the engine log: 0 none, 1 epoch seconds, 2 UTC, 3 local time'
 WHERE name = 'log_showtime' AND setting = '1';
UPDATE bucardo.config
   SET about = 'Timestamps in the engine log: 0 none, 1 epoch seconds, 2 UTC, 3 local time'
 WHERE name = 'log_showtime';
INSERT INTO bucardo.config (name, setting, about) VALUES
    ('log_showpid',       '1', 'Show the engine''s pid in each log line'),
    ('log_showlevel',     '1', 'Show the level (ERROR, WARNING, INFO, VERBOSE, DEBUG) in each log line'),
    ('log_showline',      '0', 'Show the source file and line of each log line'),
    ('log_microsecond',   '0', 'Show microseconds in the log''s timestamps'),
    ('log_timer_format',  '',  'strftime format of the log''s timestamps (empty: %Y-%m-%d %H:%M:%S)'),
    ('log_showsyncname',  '1', 'Show the sync''s name with the role of the thread in each log line'),
    ('syslog_facility',   'LOG_LOCAL1', 'syslog facility of the syslog log destination'),
    ('warning_file',      'bucardo.warning.log', 'File getting a copy of every warning and error line (empty: none; relative: in the log directory)'),
    ('log_conflict_file', 'bucardo_conflict.log', 'File getting every conflict line (empty: none; relative: in the log directory)')
ON CONFLICT (name) DO NOTHING;
UPDATE bucardo.config SET about = 'File recording why the engine was started or stopped (relative: in the log directory)'
 WHERE name = 'reason_file';

INSERT INTO bucardo.schema_version (version) VALUES (15);

-- @@SECTION 16@@
-- Bucardo's options and settings under their names (issue 18, groups 3-5).
--
-- Sync options.  isolation_level NULL: the isolation_level setting.
-- deletemethod: how a table copy (fullcopy, onetimecopy) empties a target;
-- 'default' is this engine's choice (TRUNCATE, or DELETE when a foreign key
-- points at the table).  copyextra: options added to every COPY the sync
-- sends (checked at add/update: FORMAT and the like are refused).
-- track_rates: accepted, stored and shown with a note (Bucardo 5.6 never
-- fills bucardo_rate either).
ALTER TABLE bucardo.sync ADD COLUMN isolation_level text
    CHECK (isolation_level IN ('serializable', 'repeatable read'));
ALTER TABLE bucardo.sync ADD COLUMN deletemethod text NOT NULL DEFAULT 'default'
    CHECK (deletemethod IN ('default', 'delete', 'truncate', 'truncate_cascade'));
ALTER TABLE bucardo.sync ADD COLUMN vacuum_after_copy boolean NOT NULL DEFAULT false;
ALTER TABLE bucardo.sync ADD COLUMN copyextra text NOT NULL DEFAULT '';
ALTER TABLE bucardo.sync ADD COLUMN track_rates boolean NOT NULL DEFAULT false;

-- Per-table options (Bucardo's goat columns); NULL: the sync's value.
-- ghost: the table's capture is removed and it is not replicated.
-- makedelta: 'on' or a comma list of databases that record the rows they
-- receive of this table as their own changes (beside db.makedelta).
ALTER TABLE bucardo.relation ADD COLUMN autokick boolean;
ALTER TABLE bucardo.relation ADD COLUMN rebuild_index smallint CHECK (rebuild_index IN (0, 1, 2));
ALTER TABLE bucardo.relation ADD COLUMN analyze_after_copy boolean;
ALTER TABLE bucardo.relation ADD COLUMN strict_checking boolean;
ALTER TABLE bucardo.relation ADD COLUMN makedelta text;
ALTER TABLE bucardo.relation ADD COLUMN ghost boolean NOT NULL DEFAULT false;
ALTER TABLE bucardo.relation ADD COLUMN conflict_strategy text;
-- herdmap.priority: higher first, then the order of addition.
ALTER TABLE bucardo.relgroup_member ADD COLUMN priority integer NOT NULL DEFAULT 0;

-- Database options: a raw libpq connection string used instead of the
-- other fields (dbdsn), a pgpass file of its own (pgpass).
ALTER TABLE bucardo.db ADD COLUMN dbdsn text;
ALTER TABLE bucardo.db ADD COLUMN pgpass text;
-- dbgroup member extras (db:role:pri=N:makedelta=1).
ALTER TABLE bucardo.dbgroup_member ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE bucardo.dbgroup_member ADD COLUMN makedelta boolean NOT NULL DEFAULT false;

-- Settings.  noeffect: why a setting of Bucardo's is accepted but does
-- nothing in this engine (shown by `show` and said by `set`); NULL for
-- every setting that takes effect.
ALTER TABLE bucardo.config ADD COLUMN noeffect text;
INSERT INTO bucardo.config (name, setting, about) VALUES
    ('isolation_level', 'repeatable read', 'Isolation level of the engine''s transactions on sources for syncs that do not set one: repeatable read or serializable'),
    ('kid_serial_sleep', '0.5', 'Seconds before a batch that hit a serialization failure is retried (-1: no retry, the cycle fails)'),
    ('kid_deadlock_sleep', '0.5', 'Seconds before a batch that hit a deadlock is retried (-1: no retry, the cycle fails)'),
    ('tcp_keepalives_idle', '0', 'Seconds of silence before the engine''s connections send a TCP keepalive (0: system default)'),
    ('tcp_keepalives_interval', '0', 'Seconds between unanswered TCP keepalives (0: system default)'),
    ('tcp_keepalives_count', '0', 'Unanswered TCP keepalives before a connection is dead (0: system default)'),
    ('host_safety_check', '', 'A regular expression the host name must match for the engine to start (empty: any host)'),
    ('reload_config_timeout', '30', 'Seconds `bucardo reload config` waits for the engine to confirm it reread the settings')
ON CONFLICT (name) DO NOTHING;
INSERT INTO bucardo.config (name, setting, about, noeffect) VALUES
    ('mcp_loop_sleep', '0.2', 'How long the main MCP daemon sleeps between loops', 'this engine has no MCP process: its controller thread waits on the catalog socket'),
    ('mcp_dbproblem_sleep', '15', 'Seconds before respawning after a database problem', 'this engine has no MCP process: retry_delay and retry_delay_max pace the retries'),
    ('mcp_vactime', '60', 'How often the MCP checks that the VAC process runs', 'this engine has no VAC process: delta rows are purged after each cycle'),
    ('mcp_pingtime', '60', 'How often the MCP pings itself', 'this engine has no MCP process'),
    ('ctl_sleep', '0.2', 'How long the controller loop sleeps', 'this engine has no CTL process: a sync thread sleeps until woken'),
    ('ctl_checkonkids_time', '10', 'How often the controller checks on its KIDs', 'this engine has no CTL or KID processes'),
    ('ctl_createkid_time', '0.5', 'How long the controller waits for a new KID', 'this engine has no KID processes'),
    ('kid_sleep', '0.5', 'How long a KID loop sleeps', 'this engine has no KID processes: a sync thread sleeps until woken'),
    ('kid_nodeltarows_sleep', '0.5', 'How long a KID sleeps when it found no delta rows', 'this engine has no KID processes: a sync thread sleeps until woken'),
    ('kid_restart_sleep', '1', 'Seconds before a KID is restarted', 'this engine has no KID processes: retry_delay paces a failed sync'),
    ('kid_pingtime', '60', 'How often a KID is pinged', 'this engine has no KID processes'),
    ('vac_run', '30', 'How often the VAC process runs', 'this engine has no VAC process: delta rows are purged after each cycle'),
    ('vac_sleep', '120', 'How long the VAC process sleeps', 'this engine has no VAC process: delta rows are purged after each cycle'),
    ('bucardo_vac', '1', 'Run the VAC process', 'this engine has no VAC process: delta rows are purged after each cycle'),
    ('stopfile', 'fullstopbucardo', 'Semaphore file that stops Bucardo', 'bucardo stop signals the engine (SIGTERM) and waits for it to exit'),
    ('quick_delta_check', '1', 'Quick scan of delta activity', 'this engine reads changes by snapshot, never by scanning delta tables'),
    ('bucardo_initial_version', '5.6.0', 'Bucardo version this catalog was created with', 'informational: schema_version holds this catalog''s versions'),
    ('autosync_ddl', 'newcol', 'Which DDL changes are remedied automatically', 'unused in Bucardo 5.6 too: column changes make a sync Bad until the shapes match'),
    ('endsync_sleep', '1.0', 'Sleep after a customcode endsync', 'this engine runs no customcode that can ask for an endsync'),
    ('bucardo_version', '5.6.0', 'Bucardo version this catalog is used with', 'informational: bucardo --version tells the program''s version, bucardo.schema_version the catalog''s')
ON CONFLICT (name) DO NOTHING;
UPDATE bucardo.config SET about = 'Keys per batch when applying changes (Bucardo''s statement_chunk_size)'
 WHERE name = 'batch_keys';
-- kick_sleep did nothing (a waiting kick is woken by a notification):
-- gone.  stats_history now trims syncrun as each run is recorded.
DELETE FROM bucardo.config WHERE name = 'kick_sleep';
UPDATE bucardo.config SET about = 'Runs kept per sync in syncrun, older ones deleted as each run is recorded (0: all)'
 WHERE name = 'stats_history';

-- Bucardo's catalog tables that monitoring SQL and scripts read, as views
-- with Bucardo's column names, where the names do not collide with ours.
-- bucardo_config is updatable (its setting column writes bucardo.config).
CREATE VIEW bucardo.bucardo_config AS
    SELECT name, setting, NULL::text AS defval, about, NULL::text AS type, NULL::text AS item,
           now() AS cdate
      FROM bucardo.config;
CREATE VIEW bucardo.herd AS
    SELECT name, NULL::text AS about, created AS cdate FROM bucardo.relgroup;
CREATE VIEW bucardo.goat AS
    SELECT r.id, r.db, r.schemaname, r.relname AS tablename, r.kind AS reltype,
           array_to_string(r.pkey, '|') AS pkey,
           (SELECT string_agg(quote_ident(k), '|') FROM unnest(r.pkey) k) AS qpkey,
           array_to_string(r.pkeytype, '|') AS pkeytype,
           r.kind = 'table' AND r.pkey IS NOT NULL AS has_delta,
           r.autokick, r.conflict_strategy, r.makedelta, r.rebuild_index, r.ghost,
           coalesce(r.analyze_after_copy, true) AS analyze_after_copy, r.vacuum_after_copy,
           coalesce(r.strict_checking, true) AS strict_checking,
           false AS delta_bypass, NULL::bigint AS delta_bypass_min, NULL::bigint AS delta_bypass_count,
           NULL::smallint AS delta_bypass_percent, r.created AS cdate
      FROM bucardo.relation r;
CREATE VIEW bucardo.herdmap AS
    SELECT relgroup AS herd, relation AS goat, priority, NULL::timestamptz AS cdate
      FROM bucardo.relgroup_member;
CREATE VIEW bucardo.dbmap AS
    SELECT db, dbgroup, priority, role, NULL::timestamptz AS cdate FROM bucardo.dbgroup_member;

INSERT INTO bucardo.schema_version (version) VALUES (16);

-- @@SECTION 17@@
-- Capture filters (Bucardo's bucardo_custom_trigger, issue 18 row 4.15):
-- a boolean SQL expression over the table's columns; only rows matching
-- it are replicated.  The capture triggers record a key when the old row
-- matched or the new row matches, and every read of the table's rows
-- (delta cycles, table copies, compare) sees only the matching rows.
-- NULL: every row.
ALTER TABLE bucardo.relation ADD COLUMN capture_filter text;

-- Databases the engine cannot reach (Bucardo's db status 'stalled', row
-- 4.24): a row while a sync of the engine has failed to connect to the
-- database for stalled_after seconds, deleted when a sync reaches it
-- again.  Kept apart from db.status, which is the user's (active or
-- inactive) and part of the syncs' fingerprint.
CREATE TABLE bucardo.db_state (
    db          text PRIMARY KEY REFERENCES bucardo.db (name) ON UPDATE CASCADE ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'stalled' CHECK (status IN ('stalled')),
    since       timestamptz NOT NULL,                -- the first failed connection
    reason      text NOT NULL DEFAULT ''
);
INSERT INTO bucardo.config (name, setting, about) VALUES
    ('stalled_after', '10', 'Seconds a database must stay unreachable before list dbs and status show it stalled (0: at the first failed connection)')
ON CONFLICT (name) DO NOTHING;

INSERT INTO bucardo.schema_version (version) VALUES (17);

-- @@SECTION 18@@
-- Bucardo's column names on the catalog tables whose names collide with
-- Bucardo's own (sync, db, dbgroup, syncrun), so that monitoring SQL
-- written for Bucardo (SELECT name, status, herd, dbs FROM bucardo.sync;
-- SELECT ... FROM bucardo.syncrun WHERE lastgood ...; SELECT dbhost ...
-- FROM bucardo.db) runs unchanged on this catalog.  They are generated
-- from this catalog's own columns (read-only: write the real ones), or,
-- for syncrun's last* flags, kept by a trigger.  README.md, "Bucardo's
-- catalog tables", says what works and what does not.
ALTER TABLE bucardo.sync ADD COLUMN herd text GENERATED ALWAYS AS (relgroup) STORED;
ALTER TABLE bucardo.sync ADD COLUMN dbs text GENERATED ALWAYS AS (dbgroup) STORED;
ALTER TABLE bucardo.sync ADD COLUMN cdate timestamptz GENERATED ALWAYS AS (created) STORED;
ALTER TABLE bucardo.db ADD COLUMN dbhost text GENERATED ALWAYS AS (coalesce(host, '')) STORED;
ALTER TABLE bucardo.db ADD COLUMN dbport text GENERATED ALWAYS AS (coalesce(port, '')) STORED;
ALTER TABLE bucardo.db ADD COLUMN dbconn text GENERATED ALWAYS AS (coalesce(conn, '')) STORED;
ALTER TABLE bucardo.db ADD COLUMN dbservice text GENERATED ALWAYS AS (coalesce(service, '')) STORED;
ALTER TABLE bucardo.db ADD COLUMN cdate timestamptz GENERATED ALWAYS AS (created) STORED;
ALTER TABLE bucardo.dbgroup ADD COLUMN cdate timestamptz GENERATED ALWAYS AS (created) STORED;
-- syncrun: Bucardo's status (the failure's text for a failed run, as
-- `bucardo status` shows it) and details (this engine's warning), and the
-- lastgood / lastbad / lastempty flags: true on the sync's latest run of
-- that outcome, kept by a trigger.  As in Bucardo, a completed run that
-- deleted and inserted nothing is "empty", not "good" (this engine does
-- not count truncates, so a run that only truncated is empty too).  This
-- engine writes a run's row when the run ends: a running cycle has no row,
-- so `WHERE ended IS NULL` finds none.
ALTER TABLE bucardo.syncrun ADD COLUMN status text GENERATED ALWAYS AS
    (CASE state WHEN 'Bad' THEN coalesce(error, 'Failed') WHEN 'Running' THEN 'Started' ELSE 'Complete' END) STORED;
ALTER TABLE bucardo.syncrun ADD COLUMN details text GENERATED ALWAYS AS (warning) STORED;
ALTER TABLE bucardo.syncrun ADD COLUMN lastgood boolean NOT NULL DEFAULT false;
ALTER TABLE bucardo.syncrun ADD COLUMN lastbad boolean NOT NULL DEFAULT false;
ALTER TABLE bucardo.syncrun ADD COLUMN lastempty boolean NOT NULL DEFAULT false;
-- A run's outcome in Bucardo's words: good, bad or empty (NULL: running).
CREATE FUNCTION bucardo.syncrun_outcome(state text, deletes bigint, inserts bigint) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN state = 'Bad' THEN 'bad'
                WHEN state = 'Empty' OR (state = 'Good' AND deletes = 0 AND inserts = 0) THEN 'empty'
                WHEN state = 'Good' THEN 'good' END
$$;
CREATE FUNCTION bucardo.syncrun_last_flags() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    outcome text := bucardo.syncrun_outcome(NEW.state, NEW.deletes, NEW.inserts);
BEGIN
    IF outcome = 'good' THEN
        UPDATE bucardo.syncrun SET lastgood = (id = NEW.id) WHERE sync = NEW.sync AND (lastgood OR id = NEW.id);
    ELSIF outcome = 'bad' THEN
        UPDATE bucardo.syncrun SET lastbad = (id = NEW.id) WHERE sync = NEW.sync AND (lastbad OR id = NEW.id);
    ELSIF outcome = 'empty' THEN
        UPDATE bucardo.syncrun SET lastempty = (id = NEW.id) WHERE sync = NEW.sync AND (lastempty OR id = NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER syncrun_last_flags AFTER INSERT OR UPDATE OF state, ended, deletes, inserts ON bucardo.syncrun
    FOR EACH ROW WHEN (NEW.ended IS NOT NULL) EXECUTE FUNCTION bucardo.syncrun_last_flags();
-- The runs already recorded get their flags.
UPDATE bucardo.syncrun r SET lastgood = latest.outcome = 'good', lastbad = latest.outcome = 'bad',
                             lastempty = latest.outcome = 'empty'
  FROM (SELECT DISTINCT ON (sync, outcome) id, outcome
          FROM (SELECT id, sync, started, bucardo.syncrun_outcome(state, deletes, inserts) AS outcome
                  FROM bucardo.syncrun WHERE ended IS NOT NULL) o
         WHERE outcome IS NOT NULL
         ORDER BY sync, outcome, started DESC, id DESC) latest
 WHERE r.id = latest.id;
CREATE INDEX syncrun_last ON bucardo.syncrun (sync) WHERE lastgood OR lastbad OR lastempty;

-- Bucardo's semaphore_table: only its MongoDB targets write it, and this
-- engine has none; accepted under its name, with that note.
INSERT INTO bucardo.config (name, setting, about, noeffect) VALUES
    ('semaphore_table', 'bucardo_status', 'Table to let apps know a sync is ongoing (MongoDB targets)',
     'only Bucardo''s MongoDB targets write it, and this engine has no MongoDB target')
ON CONFLICT (name) DO NOTHING;

INSERT INTO bucardo.schema_version (version) VALUES (18);

-- @@SECTION 19@@
-- Bucardo's clone jobs (`bucardo clone`, `bucardo list clones`): a one-off
-- copy of a sync's (or a dbgroup's and relgroup's) tables from the prime
-- source to every other database.  The CLI runs it through the engine, by
-- a temporary fullcopy sync, and records here what became of it:
-- status new / running / done / failed, summary the counts or the error.
-- Bucardo's columns; relgroup and options are kept as text (the
-- temporary relgroup of a tables= clone goes away with its sync).
CREATE TABLE bucardo.clone (
    id          serial PRIMARY KEY,
    sync        text REFERENCES bucardo.sync (name) ON UPDATE CASCADE ON DELETE SET NULL,
    dbgroup     text REFERENCES bucardo.dbgroup (name) ON UPDATE CASCADE ON DELETE SET NULL,
    relgroup    text,
    options     text,
    status      text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'running', 'done', 'failed')),
    started     timestamptz,
    ended       timestamptz,
    summary     text,
    cdate       timestamptz NOT NULL DEFAULT now()
);

INSERT INTO bucardo.schema_version (version) VALUES (19);

-- @@SECTION 20@@
-- syncrun as Bucardo keeps it.  A run's row is written when the cycle
-- starts (state Running, ended NULL: Bucardo's `WHERE ended IS NULL`
-- shows what runs) and ended when it ends; an engine that died leaves
-- its running rows to the next start, which ends them as failed.
-- truncates: the tables whose TRUNCATE the run replicated, as Bucardo
-- counts them; a run that only truncated is good, not empty.
ALTER TABLE bucardo.syncrun ADD COLUMN truncates bigint NOT NULL DEFAULT 0;
CREATE FUNCTION bucardo.syncrun_outcome(state text, deletes bigint, inserts bigint, truncates bigint)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN state = 'Bad' THEN 'bad'
                WHEN state = 'Empty' OR (state = 'Good' AND deletes = 0 AND inserts = 0 AND truncates = 0)
                    THEN 'empty'
                WHEN state = 'Good' THEN 'good' END
$$;
CREATE OR REPLACE FUNCTION bucardo.syncrun_last_flags() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    outcome text := bucardo.syncrun_outcome(NEW.state, NEW.deletes, NEW.inserts, NEW.truncates);
BEGIN
    IF outcome = 'good' THEN
        UPDATE bucardo.syncrun SET lastgood = (id = NEW.id) WHERE sync = NEW.sync AND (lastgood OR id = NEW.id);
    ELSIF outcome = 'bad' THEN
        UPDATE bucardo.syncrun SET lastbad = (id = NEW.id) WHERE sync = NEW.sync AND (lastbad OR id = NEW.id);
    ELSIF outcome = 'empty' THEN
        UPDATE bucardo.syncrun SET lastempty = (id = NEW.id) WHERE sync = NEW.sync AND (lastempty OR id = NEW.id);
    END IF;
    RETURN NULL;
END $$;
-- (Its trigger stays as section 18 made it: ending a run sets ended.)
-- The running rows of one sync are few; this finds them for monitoring.
CREATE INDEX syncrun_running ON bucardo.syncrun (sync) WHERE ended IS NULL;

-- Bucardo's spellings of columns this catalog spells differently, made
-- writable, as scripts written for Bucardo write them (UPDATE bucardo.sync
-- SET herd = ...; UPDATE bucardo.db SET dbhost = ...): plain columns now,
-- kept equal to this catalog's own by a trigger, which also takes a write
-- of Bucardo's name over to the real column, after the checks `bucardo
-- update` makes (a relgroup or dbgroup that exists, and the sync still
-- runnable: sync_runnable in cli/cmd_sync.c; a port from 1 to 65535).  A
-- refused write raises an error and changes nothing.  As after any
-- change, `bucardo reload` makes a running engine follow; a relgroup or
-- dbgroup with tables or sources new to the sync needs `bucardo validate
-- SYNC` first (the change capture on them, which Bucardo's own
-- validate_sync trigger installs), which the trigger says in a NOTICE.
ALTER TABLE bucardo.sync ALTER COLUMN herd DROP EXPRESSION;
ALTER TABLE bucardo.sync ALTER COLUMN dbs DROP EXPRESSION;
ALTER TABLE bucardo.db ALTER COLUMN dbhost DROP EXPRESSION;
ALTER TABLE bucardo.db ALTER COLUMN dbport DROP EXPRESSION;
ALTER TABLE bucardo.db ALTER COLUMN dbconn DROP EXPRESSION;
ALTER TABLE bucardo.db ALTER COLUMN dbservice DROP EXPRESSION;
-- bucardo.sync_runnable_check(sync, relgroup, dbgroup, strategy): raises
-- the error the CLI's sync_runnable gives for a sync with that relgroup,
-- dbgroup and conflict_strategy, if any.
CREATE FUNCTION bucardo.sync_runnable_check(sync text, rg text, dg text, strategy text) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    sources bigint;
    others bigint;
    delta_targets bigint;
    t record;
    n bigint := 0;
BEGIN
    SELECT count(*) FILTER (WHERE role = 'source'), count(*) FILTER (WHERE role <> 'source'),
           count(*) FILTER (WHERE role = 'target')
      INTO sources, others, delta_targets FROM bucardo.dbgroup_member WHERE dbgroup = dg;
    IF sources = 0 THEN
        RAISE EXCEPTION 'sync "%": its dbgroup has no source database', sync;
    ELSIF others = 0 AND sources < 2 THEN
        RAISE EXCEPTION 'sync "%": its dbgroup has no target database', sync;
    END IF;
    IF strategy NOT IN ('bucardo_source', 'bucardo_target', 'bucardo_skip', 'bucardo_random', 'bucardo_latest',
                        'bucardo_latest_all_tables', 'bucardo_abort', 'bucardo_custom')
       AND (strategy = '' OR EXISTS (SELECT 1 FROM unnest(string_to_array(strategy, ',')) d
                                      WHERE NOT EXISTS (SELECT 1 FROM bucardo.dbgroup_member m
                                                         WHERE m.dbgroup = dg AND m.db = d))) THEN
        RAISE EXCEPTION 'conflict_strategy "%" is neither a known strategy nor a list of the sync''s databases',
            strategy;
    END IF;
    FOR t IN SELECT r.schemaname || '.' || r.relname AS name, r.db, r.pkey IS NULL AND r.kind = 'table' AS nokey,
                    EXISTS (SELECT 1 FROM bucardo.dbgroup_member m
                             WHERE m.dbgroup = dg AND m.db = r.db AND m.role = 'source') AS on_source
               FROM bucardo.relgroup_member rm JOIN bucardo.relation r ON r.id = rm.relation
              WHERE rm.relgroup = rg ORDER BY rm.position LOOP
        n := n + 1;
        IF NOT t.on_source THEN
            RAISE EXCEPTION 'sync "%": table % belongs to database "%", which is not a source of the sync',
                sync, t.name, t.db;
        ELSIF t.nokey AND (delta_targets > 0 OR sources > 1) THEN
            RAISE EXCEPTION 'sync "%": table % has no primary key or unique index over NOT NULL columns, so it can only be in a fullcopy sync',
                sync, t.name;
        END IF;
    END LOOP;
    IF n = 0 THEN
        RAISE EXCEPTION 'sync "%": its relgroup has no tables', sync;
    END IF;
END $$;
CREATE FUNCTION bucardo.sync_bucardo_names() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    by_name boolean := false;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.herd IS DISTINCT FROM OLD.herd AND NEW.relgroup IS NOT DISTINCT FROM OLD.relgroup THEN
        IF NOT EXISTS (SELECT 1 FROM bucardo.relgroup WHERE name = NEW.herd) THEN
            RAISE EXCEPTION 'no relgroup named "%"', NEW.herd;
        END IF;
        NEW.relgroup := NEW.herd;
        by_name := true;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.dbs IS DISTINCT FROM OLD.dbs AND NEW.dbgroup IS NOT DISTINCT FROM OLD.dbgroup THEN
        IF NOT EXISTS (SELECT 1 FROM bucardo.dbgroup WHERE name = NEW.dbs) THEN
            RAISE EXCEPTION 'no dbgroup named "%"', NEW.dbs;
        END IF;
        NEW.dbgroup := NEW.dbs;
        by_name := true;
    END IF;
    IF by_name THEN
        PERFORM bucardo.sync_runnable_check(NEW.name, NEW.relgroup, NEW.dbgroup, NEW.conflict_strategy);
        RAISE NOTICE 'sync "%": run "bucardo validate %" to put change capture on its tables, then "bucardo reload"',
            NEW.name, NEW.name;
    END IF;
    NEW.herd := NEW.relgroup;
    NEW.dbs := NEW.dbgroup;
    RETURN NEW;
END $$;
CREATE TRIGGER sync_bucardo_names BEFORE INSERT OR UPDATE ON bucardo.sync
    FOR EACH ROW EXECUTE FUNCTION bucardo.sync_bucardo_names();
CREATE FUNCTION bucardo.db_bucardo_names() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.dbhost IS DISTINCT FROM OLD.dbhost AND NEW.host IS NOT DISTINCT FROM OLD.host THEN
            NEW.host := nullif(NEW.dbhost, '');
        END IF;
        IF NEW.dbport IS DISTINCT FROM OLD.dbport AND NEW.port IS NOT DISTINCT FROM OLD.port THEN
            IF coalesce(NEW.dbport, '') <> ''
               AND (NEW.dbport !~ '^[0-9]{1,5}$' OR NEW.dbport::int NOT BETWEEN 1 AND 65535) THEN
                RAISE EXCEPTION 'invalid port "%": expected a number from 1 to 65535', NEW.dbport;
            END IF;
            NEW.port := nullif(NEW.dbport, '');
        END IF;
        IF NEW.dbconn IS DISTINCT FROM OLD.dbconn AND NEW.conn IS NOT DISTINCT FROM OLD.conn THEN
            NEW.conn := nullif(NEW.dbconn, '');
        END IF;
        IF NEW.dbservice IS DISTINCT FROM OLD.dbservice AND NEW.service IS NOT DISTINCT FROM OLD.service THEN
            NEW.service := nullif(NEW.dbservice, '');
        END IF;
    END IF;
    NEW.dbhost := coalesce(NEW.host, '');
    NEW.dbport := coalesce(NEW.port, '');
    NEW.dbconn := coalesce(NEW.conn, '');
    NEW.dbservice := coalesce(NEW.service, '');
    RETURN NEW;
END $$;
CREATE TRIGGER db_bucardo_names BEFORE INSERT OR UPDATE ON bucardo.db
    FOR EACH ROW EXECUTE FUNCTION bucardo.db_bucardo_names();
-- Bucardo's dbgroup.about: a free text, as in Bucardo written by SQL only
-- (neither Bucardo's CLI nor this one takes an about for a dbgroup).
ALTER TABLE bucardo.dbgroup ADD COLUMN about text;

INSERT INTO bucardo.schema_version (version) VALUES (20);

-- @@SECTION 21@@
-- host_safety_check takes Bucardo's three forms ("=h1,h2" exact names,
-- "~RE" a regular expression, anything else one exact name); before this
-- version every value was a regular expression.  A value set then keeps
-- its meaning: it becomes the "~RE" form.
UPDATE bucardo.config SET setting = '~' || setting
 WHERE name = 'host_safety_check' AND setting <> '' AND setting !~ '^[=~]';
UPDATE bucardo.config
   SET about = 'The host the engine may start on: =h1,h2 (one of these names), ~RE (a regular expression), or one exact name (empty: any host)'
 WHERE name = 'host_safety_check';

INSERT INTO bucardo.schema_version (version) VALUES (21);

-- @@SECTION 22@@
-- batch_grow_max: a backlog's committed units grow with the round trip to
-- the targets (one batch_keys per 5 ms of it), up to this many batch_keys.
INSERT INTO bucardo.config (name, setting, about) VALUES
    ('batch_grow_max', '8', 'Across a slow link, batches grow to batch_keys per 5 ms of round trip to a target, at most this many times batch_keys (1: never)')
ON CONFLICT (name) DO NOTHING;

INSERT INTO bucardo.schema_version (version) VALUES (22);
