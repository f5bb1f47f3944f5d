-- sql/capture.sql - change capture installed into each source database.
-- (placeholder version; see header of the final file)
-- @@SECTION common@@
CREATE SCHEMA IF NOT EXISTS bucardo;
CREATE TABLE IF NOT EXISTS bucardo.truncate_log (
    relid   oid         NOT NULL,
    txid    xid8        NOT NULL DEFAULT pg_current_xact_id(),
    txntime timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION bucardo.log_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bucardo.truncate_log (relid) VALUES (TG_RELID);
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION bucardo.kick() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bucardo', '');
    RETURN NULL;
END $$;
-- @@SECTION table@@
CREATE TABLE IF NOT EXISTS bucardo.@DELTA@ (
    @KEYDEFS@,
    txid    xid8        NOT NULL DEFAULT pg_current_xact_id(),
    txntime timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION bucardo.@FUNC@() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bucardo.@DELTA@ (@KEYCOLS@) VALUES (@NEWROWKEYS@);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO bucardo.@DELTA@ (@KEYCOLS@) VALUES (@NEWROWKEYS@);
        IF ROW(@OLDROWKEYS@) IS DISTINCT FROM ROW(@NEWROWKEYS@) THEN
            INSERT INTO bucardo.@DELTA@ (@KEYCOLS@) VALUES (@OLDROWKEYS@);
        END IF;
    ELSE
        INSERT INTO bucardo.@DELTA@ (@KEYCOLS@) VALUES (@OLDROWKEYS@);
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS bucardo_capture ON @SCHEMA@.@TABLE@;
CREATE TRIGGER bucardo_capture AFTER INSERT OR UPDATE OR DELETE ON @SCHEMA@.@TABLE@
    FOR EACH ROW EXECUTE FUNCTION bucardo.@FUNC@();
DROP TRIGGER IF EXISTS bucardo_truncate ON @SCHEMA@.@TABLE@;
CREATE TRIGGER bucardo_truncate AFTER TRUNCATE ON @SCHEMA@.@TABLE@
    FOR EACH STATEMENT EXECUTE FUNCTION bucardo.log_truncate();
-- @@SECTION kick@@
DROP TRIGGER IF EXISTS bucardo_kick ON @SCHEMA@.@TABLE@;
CREATE TRIGGER bucardo_kick AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @SCHEMA@.@TABLE@
    FOR EACH STATEMENT EXECUTE FUNCTION bucardo.kick();
-- @@SECTION nokick@@
DROP TRIGGER IF EXISTS bucardo_kick ON @SCHEMA@.@TABLE@;
-- @@SECTION drop@@
DROP TRIGGER IF EXISTS bucardo_kick ON @SCHEMA@.@TABLE@;
DROP TRIGGER IF EXISTS bucardo_capture ON @SCHEMA@.@TABLE@;
DROP TRIGGER IF EXISTS bucardo_truncate ON @SCHEMA@.@TABLE@;
DROP FUNCTION IF EXISTS bucardo.@FUNC@();
DROP TABLE IF EXISTS bucardo.@DELTA@;
