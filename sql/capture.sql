-- capture.sql - change capture installed into every Bucardo source database.
--
-- Template. The C side splits this file on lines that are exactly
-- "-- @@SECTION <name>@@" and substitutes placeholders as plain text:
--
--   common  once per database: schema bucardo, bucardo.truncate_log and the
--           shared trigger functions bucardo.log_truncate() and bucardo.kick().
--           It uses no placeholders.
--   table   once per captured table: delta table, capture function, triggers.
--           You can run it again: it replaces the function and drops and
--           recreates the triggers. It keeps an existing delta table and its
--           rows.
--   kick    once per captured table of an autokick sync: the NOTIFY trigger.
--   nokick  removes that trigger (the table of a sync without autokick).
--   drop    removes one table's capture objects: triggers, function and delta
--           table. Rows in bucardo.truncate_log are left in place.
--
-- Run each section in one transaction (BEGIN ... COMMIT), as a role that may
-- create objects in schema bucardo and triggers on the table (the bucardo
-- superuser).
--
-- Placeholders. Each value is already quoted by the C side.
--   @SCHEMA@      quoted schema of the user table       "public"
--   @TABLE@       quoted user table name                "pgbench_accounts"
--   @DELTA@       quoted delta table name, unqualified (the table is in
--                 schema bucardo)                       "delta_public_pgbench_accounts"
--   @FUNC@        quoted capture function name, unqualified (the function is
--                 in schema bucardo)                    "capture_public_pgbench_accounts"
--   @KEYDEFS@     key column definitions                "k1" int4, "k2" text
--   @KEYCOLS@     key column list                       "k1", "k2"
--   @NEWKEYS@     keys of the new transition table      n."k1", n."k2"
--   @OLDKEYS@     keys of the old transition table      o."k1", o."k2"
--   @NEWROWKEYS@  keys of the NEW row                   NEW."k1", NEW."k2"
--   @OLDROWKEYS@  keys of the OLD row                   OLD."k1", OLD."k2"
--   @RELID@       oid of the user table, as a literal   16384  or  '16384'
-- This file does not use @KEYSDIFFER@.
-- None of the substituted values may contain the dollar-quote tags
-- $bucardo$ or $bucardo_do$. A quoted identifier can contain "$", so the C
-- side must reject such names.
--
-- Trigger names are fixed. Trigger names only need to be unique per table.
--   bucardo_delta_ins     AFTER INSERT, per statement, NEW TABLE
--   bucardo_delta_upd     AFTER UPDATE, per statement, NEW TABLE
--   bucardo_delta_del     AFTER DELETE, per statement, OLD TABLE
--   bucardo_delta_oldkey  AFTER UPDATE, per row,
--                         WHEN (old key IS DISTINCT FROM new key)
--   bucardo_delta_row     AFTER INSERT OR UPDATE OR DELETE, per row. This
--                         replaces the three statement triggers, and only on
--                         partition-related tables (see ROW FALLBACK).
--   bucardo_truncate      AFTER TRUNCATE, per statement -> bucardo.truncate_log
--   bucardo_kick          AFTER INSERT/UPDATE/DELETE/TRUNCATE, per statement
--                         -> pg_notify('bucardo', '')
-- These are ordinary ENABLE triggers, so none of them fires when
-- session_replication_role = replica (checked for DML and TRUNCATE).
--
-- DESIGN: hybrid of statement-level and row-level triggers
--   * INSERT, UPDATE and DELETE are captured by one AFTER ... FOR EACH
--     STATEMENT trigger each. It has a transition table and does
--       INSERT INTO delta (keys) SELECT keys FROM bucardo_new   (or bucardo_old).
--     The query has no join and no DISTINCT, so its plan shape does not
--     matter. This is important, because PL/pgSQL caches one plan per query,
--     planned with the transition table size of the first call (see
--     SURPRISES).
--   * The old key of an UPDATE that changes the key is recorded by a row
--     trigger with a WHEN clause. The executor evaluates the WHEN clause in C
--     while it queues trigger events, so an ordinary UPDATE that keeps the
--     key calls no PL/pgSQL for it. "UPDATE OF keycols" is not used, because
--     a column list misses key changes made by BEFORE triggers.
--   * One function per table serves every trigger. It branches on
--     TG_LEVEL, TG_OP and TG_NAME. PL/pgSQL compiles and caches it per
--     trigger.
--   * The capture function is SECURITY DEFINER, so application roles need no
--     privileges on schema bucardo. It also has SET search_path = pg_catalog,
--     pg_temp, so a caller cannot hijack it through its search_path. This
--     costs a few microseconds per call, but the function runs once per
--     statement, not once per row.
--   * The delta table has no primary key and no index.
--     - The engine's predicates, pg_visible_in_snapshot(txid, snap), cannot
--       use an index anyway.
--     - It stays logged, with default fillfactor and autovacuum settings.
--     - If the engine ever wants an index on txid, it must also add the
--       conditions that can use it:
--         txid >= pg_snapshot_xmin($prev)  (read)
--         txid <  pg_snapshot_xmax($done)  (purge)
--       These are implied by the snapshot predicates.
--   * pg_current_xact_id() is the top-level xid even inside a
--     subtransaction, so savepoints are handled correctly.
--   * ROW FALLBACK. A statement trigger fires only on the table named in the
--     statement.
--     - An INSERT/UPDATE/DELETE through a partitioned parent does not fire
--       the statement triggers of its partitions.
--     - DML that names a partition directly does not fire the parent's
--       statement triggers.
--     For such tables, the table section uses a row trigger instead of the
--     three statement triggers: partitions, partitioned tables and
--     inheritance children. On a partitioned table, the row trigger is cloned
--     to every partition, present and future. The kick trigger stays
--     statement-level, so it fires only for DML that names the table
--     itself. The engine's periodic check covers the rest.
--
-- MEASUREMENTS (PostgreSQL 15.18, 2 vCPU VM, heavily shared; fsync on)
--   TPC-B: pgbench -i -s 10; pgbench -c 4 -j 2; capture on
--   pgbench_accounts, pgbench_branches and pgbench_tellers. "ratio" = TPS
--   with capture / TPS without.
--   @@FIGURES@@
--
-- SURPRISES
--   * The autokick NOTIFY, not the capture, is the big cost. At commit,
--     NOTIFY takes a cluster-wide lock and holds it until the commit record
--     is flushed. All notifying transactions therefore commit one at a time,
--     and group commit is lost. That is why the kick is its own section.
--   * Plan caching with transition tables. PL/pgSQL plans a
--     transition-table query once, for the size of the first transition
--     table it sees, and reuses that plan. The "antijoin" form of
--     key-change detection,
--       NOT EXISTS (SELECT FROM new WHERE new.k = old.k),
--     got a nested-loop plan from a first 1-row UPDATE. A later
--     20,000-row UPDATE in the same session then took 15.2 s. Hence the
--     WHEN-filtered row trigger.
--   * For single-row statements, the statement form costs more CPU than
--     per-row PL/pgSQL (about +17 us vs +10 us per statement). It wins by a
--     wide margin on multi-row statements.

-- @@SECTION common@@
CREATE SCHEMA IF NOT EXISTS bucardo;

CREATE TABLE IF NOT EXISTS bucardo.truncate_log (
    relid    oid         NOT NULL,
    txid     xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    txntime  timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE OR REPLACE FUNCTION bucardo.log_truncate()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $bucardo$
BEGIN
    INSERT INTO bucardo.truncate_log (relid) VALUES (TG_RELID);
    RETURN NULL;
END
$bucardo$;

CREATE OR REPLACE FUNCTION bucardo.kick()
RETURNS trigger
LANGUAGE plpgsql
AS $bucardo$
BEGIN
    PERFORM pg_catalog.pg_notify('bucardo', '');
    RETURN NULL;
END
$bucardo$;

-- @@SECTION table@@
CREATE TABLE IF NOT EXISTS bucardo.@DELTA@ (
    @KEYDEFS@,
    txid     xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    txntime  timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- SECURITY DEFINER without SET search_path: a proconfig SET costs about
-- 10 us per call (measured). Instead, nothing in the body is resolved
-- through the caller's search_path:
--   - every operator is written OPERATOR(pg_catalog.=)
--   - the tables are schema-qualified
--   - bucardo_new and bucardo_old are transition tables, which the parser
--     resolves before any catalog table
--   - the key comparison is in the triggers' WHEN clause, resolved once at
--     CREATE TRIGGER
-- Keep it that way when editing.
CREATE OR REPLACE FUNCTION bucardo.@FUNC@()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
AS $bucardo$
BEGIN
    IF TG_LEVEL OPERATOR(pg_catalog.=) 'STATEMENT' THEN
        IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
            INSERT INTO bucardo.@DELTA@ (@KEYCOLS@)
                SELECT @OLDKEYS@ FROM bucardo_old AS o;
        ELSE
            -- INSERT or UPDATE. The old keys of an UPDATE come from
            -- bucardo_delta_oldkey, and only when they differ.
            INSERT INTO bucardo.@DELTA@ (@KEYCOLS@)
                SELECT @NEWKEYS@ FROM bucardo_new AS n;
        END IF;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE'
       OR TG_NAME OPERATOR(pg_catalog.=) 'bucardo_delta_oldkey'
       OR TG_NAME OPERATOR(pg_catalog.=) 'bucardo_delta_partold' THEN
        INSERT INTO bucardo.@DELTA@ (@KEYCOLS@) VALUES (@OLDROWKEYS@);
    ELSE
        -- INSERT or UPDATE, from a row fallback trigger (bucardo_delta_row
        -- or bucardo_delta_part)
        INSERT INTO bucardo.@DELTA@ (@KEYCOLS@) VALUES (@NEWROWKEYS@);
    END IF;
    RETURN NULL;
END
$bucardo$;

-- Triggers. Drop this table's own capture triggers first. Clones of a
-- partitioned parent's row trigger have tgparentid <> 0 and belong to the
-- parent, so they are left alone. Then create the triggers for the mode of
-- this table (see ROW FALLBACK in the header).
DO $bucardo_do$
DECLARE
    bucardo_rel  pg_catalog.oid := (@RELID@)::pg_catalog.oid;
    bucardo_kind pg_catalog.char;
    bucardo_trg  pg_catalog.name;
BEGIN
    FOR bucardo_trg IN
        SELECT t.tgname FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = bucardo_rel AND t.tgparentid = 0
           AND t.tgname IN ('bucardo_delta_ins', 'bucardo_delta_upd', 'bucardo_delta_del',
                            'bucardo_delta_oldkey', 'bucardo_delta_row', 'bucardo_delta_part',
                            'bucardo_delta_partold', 'bucardo_truncate')
    LOOP
        EXECUTE 'DROP TRIGGER ' || pg_catalog.quote_ident(bucardo_trg)
             || ' ON ' || bucardo_rel::pg_catalog.regclass::pg_catalog.text;
    END LOOP;

    SELECT c.relkind INTO bucardo_kind FROM pg_catalog.pg_class c WHERE c.oid = bucardo_rel;
    IF bucardo_kind = 'p' THEN
        -- Partitioned table. Row triggers are cloned to every partition,
        -- present and future. Their names differ from a partition's own
        -- (_row, _oldkey), so a partition can be captured as well.
        CREATE TRIGGER bucardo_delta_part
            AFTER INSERT OR UPDATE OR DELETE ON @SCHEMA@.@TABLE@
            FOR EACH ROW EXECUTE FUNCTION bucardo.@FUNC@();
        CREATE TRIGGER bucardo_delta_partold AFTER UPDATE ON @SCHEMA@.@TABLE@
            FOR EACH ROW WHEN ((@OLDROWKEYS@) IS DISTINCT FROM (@NEWROWKEYS@))
            EXECUTE FUNCTION bucardo.@FUNC@();
    ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = bucardo_rel) THEN
        -- A partition or an inheritance child. DML through the parent does
        -- not fire this table's statement triggers, but it does fire its
        -- row triggers.
        CREATE TRIGGER bucardo_delta_row
            AFTER INSERT OR UPDATE OR DELETE ON @SCHEMA@.@TABLE@
            FOR EACH ROW EXECUTE FUNCTION bucardo.@FUNC@();
    ELSE
        CREATE TRIGGER bucardo_delta_ins AFTER INSERT ON @SCHEMA@.@TABLE@
            REFERENCING NEW TABLE AS bucardo_new
            FOR EACH STATEMENT EXECUTE FUNCTION bucardo.@FUNC@();
        CREATE TRIGGER bucardo_delta_upd AFTER UPDATE ON @SCHEMA@.@TABLE@
            REFERENCING NEW TABLE AS bucardo_new
            FOR EACH STATEMENT EXECUTE FUNCTION bucardo.@FUNC@();
        CREATE TRIGGER bucardo_delta_del AFTER DELETE ON @SCHEMA@.@TABLE@
            REFERENCING OLD TABLE AS bucardo_old
            FOR EACH STATEMENT EXECUTE FUNCTION bucardo.@FUNC@();
    END IF;
    IF bucardo_kind <> 'p' THEN
        -- the old key of an UPDATE that changes it (statement mode and row fallback)
        CREATE TRIGGER bucardo_delta_oldkey AFTER UPDATE ON @SCHEMA@.@TABLE@
            FOR EACH ROW WHEN ((@OLDROWKEYS@) IS DISTINCT FROM (@NEWROWKEYS@))
            EXECUTE FUNCTION bucardo.@FUNC@();
    END IF;
    CREATE TRIGGER bucardo_truncate AFTER TRUNCATE ON @SCHEMA@.@TABLE@
        FOR EACH STATEMENT EXECUTE FUNCTION bucardo.log_truncate();
END
$bucardo_do$;

-- @@SECTION kick@@
DROP TRIGGER IF EXISTS bucardo_kick ON @SCHEMA@.@TABLE@;
CREATE TRIGGER bucardo_kick
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @SCHEMA@.@TABLE@
    FOR EACH STATEMENT EXECUTE FUNCTION bucardo.kick();

-- @@SECTION nokick@@
DROP TRIGGER IF EXISTS bucardo_kick ON @SCHEMA@.@TABLE@;

-- @@SECTION drop@@
DO $bucardo_do$
DECLARE
    bucardo_rel pg_catalog.oid;
    bucardo_trg pg_catalog.name;
BEGIN
    BEGIN
        bucardo_rel := (@RELID@)::pg_catalog.oid;
    EXCEPTION WHEN undefined_table OR invalid_schema_name THEN
        RETURN;  -- the table is gone, and its triggers with it
    END;
    FOR bucardo_trg IN
        SELECT t.tgname FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = bucardo_rel AND t.tgparentid = 0
           AND t.tgname IN ('bucardo_delta_ins', 'bucardo_delta_upd', 'bucardo_delta_del',
                            'bucardo_delta_oldkey', 'bucardo_delta_row', 'bucardo_delta_part',
                            'bucardo_delta_partold', 'bucardo_truncate', 'bucardo_kick')
    LOOP
        EXECUTE 'DROP TRIGGER ' || pg_catalog.quote_ident(bucardo_trg)
             || ' ON ' || bucardo_rel::pg_catalog.regclass::pg_catalog.text;
    END LOOP;
END
$bucardo_do$;
DROP FUNCTION IF EXISTS bucardo.@FUNC@();
DROP TABLE IF EXISTS bucardo.@DELTA@;
