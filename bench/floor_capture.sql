-- bench/floor_capture.sql - the cheapest change capture PL/pgSQL allows on
-- pgbench's tables: a reference for what sql/capture.sql costs, never
-- installed by bucardo.
--
-- One AFTER INSERT OR UPDATE row trigger per table, whose function does a
-- single INSERT of the row's key into a delta table shaped like ours (key,
-- txid, txntime; no index). Everything sql/capture.sql adds on top is left
-- out: the old key of a key-changing UPDATE, DELETE and TRUNCATE, the
-- wake-up NOTIFY, SECURITY DEFINER. A capture cannot do less work per
-- captured row and still record it durably, so the TPS ratio measured with
-- this one is the best any PL/pgSQL trigger capture can show.
-- Used by bench/capture_cost.sh (instructions) and bench/delta_bench.sh
-- (phase 1, database "floor"); run it in a fresh pgbench database.
CREATE SCHEMA floor;
CREATE TABLE floor.delta_accounts (k int4, txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
                                   txntime timestamptz NOT NULL DEFAULT now());
CREATE TABLE floor.delta_tellers (LIKE floor.delta_accounts INCLUDING ALL);
CREATE TABLE floor.delta_branches (LIKE floor.delta_accounts INCLUDING ALL);
CREATE FUNCTION floor.accounts() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN INSERT INTO floor.delta_accounts (k) VALUES (NEW.aid); RETURN NULL; END$$;
CREATE FUNCTION floor.tellers() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN INSERT INTO floor.delta_tellers (k) VALUES (NEW.tid); RETURN NULL; END$$;
CREATE FUNCTION floor.branches() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN INSERT INTO floor.delta_branches (k) VALUES (NEW.bid); RETURN NULL; END$$;
CREATE TRIGGER floor AFTER INSERT OR UPDATE ON pgbench_accounts FOR EACH ROW EXECUTE FUNCTION floor.accounts();
CREATE TRIGGER floor AFTER INSERT OR UPDATE ON pgbench_tellers FOR EACH ROW EXECUTE FUNCTION floor.tellers();
CREATE TRIGGER floor AFTER INSERT OR UPDATE ON pgbench_branches FOR EACH ROW EXECUTE FUNCTION floor.branches();
