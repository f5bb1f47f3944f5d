-- sql/unique.sql - unique indexes other than the key (engine/cycle/cycle_unique.c).
--
-- Both functions are created in pg_temp of the engine's own session, only
-- when a cycle meets such an index, and live as long as that session: no
-- object of ours is installed on a target.
--
-- An index is described by the text of its key columns or expressions (as
-- pg_get_indexdef prints them, each parenthesized), its predicate (true when
-- not partial) and NULLS NOT DISTINCT.  That text names the table's columns
-- unqualified, so it can be evaluated over the table itself and over any
-- relation with the same column names (the staging table, a join of the
-- table with the cycle's keys).  They run with search_path pg_catalog,
-- pg_temp, so that text names other schemas' functions qualified, and it
-- means the same whatever the caller's search_path.

-- @@SECTION indexes@@
-- bucardo_unique_indexes - the unique indexes of rel other than the one on
-- exactly the sync's key columns (`keys`): name, the text of each key
-- column or expression (parenthesized), predicate, NULLS NOT DISTINCT.
CREATE OR REPLACE FUNCTION pg_temp.bucardo_unique_indexes(rel regclass, keys name[])
RETURNS TABLE (name text, cols text[], pred text, nulls_not_distinct bool)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $bucardo_unique$
SELECT i.indexrelid::regclass::text,
       ARRAY(SELECT '(' || pg_catalog.pg_get_indexdef(i.indexrelid, n, true) || ')'
               FROM pg_catalog.generate_series(1, i.indnkeyatts) n ORDER BY n),
       coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), 'true'),
       i.indnullsnotdistinct
  FROM pg_catalog.pg_index i
 WHERE i.indrelid = rel AND i.indisunique AND i.indisready
   AND NOT (i.indexprs IS NULL AND i.indpred IS NULL
            AND (SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = rel AND a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]))
                = (SELECT array_agg(k ORDER BY k) FROM unnest(keys) k))
 ORDER BY 1
$bucardo_unique$;

-- @@SECTION settle@@
-- bucardo_unique_settle - on a writer, before the rows staged in `stage`
-- are inserted into rel: delete every row of rel that holds the same value
-- as a staged row in one of rel's unique indexes other than the key, and
-- record each (index, deleted key, incoming key) in pg_temp.bucardo_uc.
-- On a makedelta writer `olds` is the cycle's pg_temp.bucardo_o<t> (key
-- columns, bucardo_h: a hash of the row before the batch): each deleted
-- key goes there too, with a hash no row has, so that the engine records
-- it in the writer's own delta table like the keys the batch changed.
-- Rows of rel with a staged key were deleted before, so every match is a
-- row under another key.  NULLs never match (=), except in NULLS NOT
-- DISTINCT indexes.  The index's expressions are evaluated over rel and
-- over stage in two derived tables that name them bucardo_1..n, and the
-- join compares those; rel's side is a plain subquery that the planner
-- flattens, so the join can probe the very index being checked.
CREATE OR REPLACE FUNCTION pg_temp.bucardo_unique_settle(rel regclass, keys name[], stage regclass,
                                                         olds regclass DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $bucardo_unique$
DECLARE
    ix record;
    klist text;
    tklist text;
    kjoin text;
    sel text;
    cond text;
    kout text;    -- the deleted keys, as d's columns bucardo_k1..n
    knames text;
    keep text := '';
    -- A plain table is its own rows only (an inheritance parent's unique
    -- indexes do not cover its children); a partitioned one is all of them.
    rel_only text := CASE WHEN (SELECT c.relkind FROM pg_class c WHERE c.oid = rel) = 'p' THEN '' ELSE 'ONLY ' END;
BEGIN
    SELECT string_agg(format('%I', k), ', ' ORDER BY n), string_agg(format('t.%I', k), ', ' ORDER BY n),
           string_agg(format('t.%I = c.%I', k, k), ' AND ' ORDER BY n),
           string_agg(format('t.%I AS bucardo_k%s', k, n), ', ' ORDER BY n),
           string_agg(format('bucardo_k%s', n), ', ' ORDER BY n)
      INTO klist, tklist, kjoin, kout, knames FROM unnest(keys) WITH ORDINALITY AS u(k, n);
    IF olds IS NOT NULL THEN
        keep := format(', o AS (INSERT INTO %s (%s, bucardo_h) SELECT %s, %L FROM d)',
                       olds, klist, knames, 'deleted: not a hash');
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS bucardo_uc (idx text, old_key text, new_key text) ON COMMIT DROP;
    FOR ix IN SELECT * FROM pg_temp.bucardo_unique_indexes(rel, keys) LOOP
        SELECT string_agg(format('%s AS bucardo_%s', e, n), ', '),
               string_agg(format('a.bucardo_%s %s b.bucardo_%s', n,
                                 CASE WHEN ix.nulls_not_distinct THEN 'IS NOT DISTINCT FROM' ELSE '=' END, n),
                          ' AND ')
          INTO sel, cond FROM unnest(ix.cols) WITH ORDINALITY AS u(e, n);
        EXECUTE format(
            'WITH d AS (DELETE FROM %s%s t USING ('
            ' SELECT a.*, b.bucardo_new FROM (SELECT %s, %s FROM %s%s WHERE (%s)) a'
            ' JOIN (SELECT %s, ROW(%s)::text AS bucardo_new FROM %s WHERE (%s)) b ON %s) c'
            ' WHERE %s RETURNING ROW(%s)::text AS bucardo_o, c.bucardo_new AS bucardo_n, %s)%s'
            ' INSERT INTO pg_temp.bucardo_uc SELECT %L, bucardo_o, bucardo_n FROM d',
            rel_only, rel, klist, sel, rel_only, rel, ix.pred, sel, klist, stage, ix.pred, cond, kjoin, tklist, kout, keep,
            ix.name);
    END LOOP;
END
$bucardo_unique$;
