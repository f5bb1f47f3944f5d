-- sql/catalog.sql
--
-- The central catalog of bucardo: every object the CLI manages (databases,
-- dbgroups, tables, relgroups, syncs, settings) and the run history the
-- engine writes.  It lives in schema "bucardo" of the database "bucardo".
--
-- Versioned: this file creates version 1; sql/upgrade.sql takes it to the
-- current version (its sections run at install too).  schema_version holds
-- one row per version applied.  Never change this file's layout: add a
-- section to sql/upgrade.sql and bump CATALOG_VERSION in include/catalog.h.
--
-- Foreign keys use ON DELETE RESTRICT wherever a removal of something still
-- in use must be refused; the CLI checks first to print a friendly message,
-- the constraints are the backstop.

CREATE SCHEMA bucardo;
SET search_path = bucardo;

CREATE TABLE schema_version (
    version     integer     NOT NULL,
    installed   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO schema_version (version) VALUES (1);

-- Configuration settings (`bucardo show` / `bucardo set`).
CREATE TABLE config (
    name        text PRIMARY KEY,
    setting     text NOT NULL,
    about       text NOT NULL DEFAULT ''
);
INSERT INTO config (name, setting, about) VALUES
    ('piddir',              '/var/run/bucardo', 'Directory holding the engine''s pid file'),
    ('log_level',           'normal',           'How verbose the engine log is: terse, normal, verbose, debug'),
    ('log_showtime',        '1',                'Show timestamps in the engine log'),
    ('default_conflict_strategy', 'bucardo_latest', 'Conflict strategy of syncs that do not name one'),
    ('default_checktime',   '0',                'Seconds between unkicked runs of a sync with autokick off (0: never)'),
    ('kick_sleep',          '0.2',              'Seconds the CLI sleeps between checks when waiting for a kick'),
    ('batch_keys',          '10000',            'Keys per batch when applying changes'),
    ('chunk_size',          '262144',           'Bytes per COPY chunk between reader and writers'),
    ('chunk_pool',          '64',               'Chunks in each sync''s pool: bounds the engine''s memory'),
    ('retry_delay',         '1',                'Seconds before a failed sync is retried (doubles up to retry_delay_max)'),
    ('retry_delay_max',     '60',               'Upper bound of the retry delay, in seconds'),
    ('reason_file',         'bucardo.restart.reason.txt', 'File recording why the engine was started or stopped'),
    ('stats_history',       '1000',             'Completed runs kept per sync in syncrun');

-- A database bucardo talks to.  Connection parameters are stored as given;
-- absent ones fall back to libpq's defaults (PGHOST, PGPORT, .pgpass, ...).
-- dbuser is 'bucardo' unless given; NULL (version 8) when a service= without
-- user= was given: the service file says who.
CREATE TABLE db (
    name        text PRIMARY KEY,
    dbname      text,
    host        text,
    port        text,
    dbuser      text NOT NULL DEFAULT 'bucardo',
    dbpass      text,
    service     text,
    conn        text,                               -- extra libpq key=value pairs
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    makedelta   boolean NOT NULL DEFAULT false,
    created     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dbgroup (
    name        text PRIMARY KEY,
    created     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dbgroup_member (
    dbgroup     text NOT NULL REFERENCES dbgroup (name) ON UPDATE CASCADE ON DELETE CASCADE,
    db          text NOT NULL REFERENCES db (name) ON UPDATE CASCADE ON DELETE RESTRICT,
    role        text NOT NULL CHECK (role IN ('source', 'target', 'fullcopy')),
    position    integer NOT NULL,                   -- order given by the user: first source wins ties
    PRIMARY KEY (dbgroup, db)
);

-- A table or sequence as found in one database.  pkey/pkeytype are NULL
-- when the table has neither a primary key nor a unique index on NOT NULL
-- columns: it may sit in a relgroup for fullcopy, never in a delta sync.
CREATE TABLE relation (
    id          serial PRIMARY KEY,
    db          text NOT NULL REFERENCES db (name) ON UPDATE CASCADE ON DELETE RESTRICT,
    schemaname  text NOT NULL,
    relname     text NOT NULL,
    kind        text NOT NULL DEFAULT 'table' CHECK (kind IN ('table', 'sequence')),
    pkey        text[],
    pkeytype    text[],
    created     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (db, schemaname, relname)
);

CREATE TABLE relgroup (
    name        text PRIMARY KEY,
    created     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE relgroup_member (
    relgroup    text NOT NULL REFERENCES relgroup (name) ON UPDATE CASCADE ON DELETE CASCADE,
    relation    integer NOT NULL REFERENCES relation (id) ON DELETE RESTRICT,
    position    integer NOT NULL,
    PRIMARY KEY (relgroup, relation)
);

-- A named replication: what (relgroup) from where to where (dbgroup).
-- Options and defaults follow Bucardo 5.
CREATE TABLE sync (
    name                text PRIMARY KEY,
    relgroup            text NOT NULL REFERENCES relgroup (name) ON UPDATE CASCADE ON DELETE RESTRICT,
    dbgroup             text NOT NULL REFERENCES dbgroup (name) ON UPDATE CASCADE ON DELETE RESTRICT,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    autokick            boolean NOT NULL DEFAULT true,
    onetimecopy         smallint NOT NULL DEFAULT 0 CHECK (onetimecopy IN (0, 1, 2)),
    conflict_strategy   text NOT NULL DEFAULT 'bucardo_latest',
    checktime           interval,
    stayalive           boolean NOT NULL DEFAULT true,
    kidsalive           boolean NOT NULL DEFAULT true,
    rebuild_index       smallint NOT NULL DEFAULT 0 CHECK (rebuild_index IN (0, 1, 2)),
    analyze_after_copy  boolean NOT NULL DEFAULT true,
    strict_checking     boolean NOT NULL DEFAULT true,
    overdue             interval NOT NULL DEFAULT '0',
    expired             interval NOT NULL DEFAULT '0',
    lifetime            interval,
    maxkicks            integer NOT NULL DEFAULT 0 CHECK (maxkicks >= 0),
    priority            integer NOT NULL DEFAULT 0,
    created             timestamptz NOT NULL DEFAULT now()
);

-- One row per sync cycle the engine ran (or is running: ended IS NULL).
CREATE TABLE syncrun (
    id          bigserial PRIMARY KEY,
    sync        text NOT NULL REFERENCES sync (name) ON UPDATE CASCADE ON DELETE CASCADE,
    started     timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended       timestamptz,
    state       text NOT NULL DEFAULT 'Running' CHECK (state IN ('Running', 'Good', 'Bad', 'Empty')),
    deletes     bigint NOT NULL DEFAULT 0,
    inserts     bigint NOT NULL DEFAULT 0,
    conflicts   bigint NOT NULL DEFAULT 0,
    error       text
);
CREATE INDEX syncrun_sync_started ON syncrun (sync, started DESC);

-- Per sync and source database: the snapshot of the last completed cycle.
-- Changes whose transaction is visible in this snapshot have been applied
-- to every target of the sync (see engine/cycle/sync_cycle.c).
CREATE TABLE sync_source_state (
    sync        text NOT NULL REFERENCES sync (name) ON UPDATE CASCADE ON DELETE CASCADE,
    db          text NOT NULL REFERENCES db (name) ON UPDATE CASCADE ON DELETE CASCADE,
    snapshot    pg_snapshot NOT NULL,
    updated     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sync, db)
);
