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
