/*
 * engine/copy/index_rebuild.c - load a target table without some of its
 * indexes and recreate them after the load (one sort per index instead of
 * one index insertion per row).  Two users: rebuild_index, for the
 * secondary indexes; and every copy in parallel streams, for the primary
 * key - two streams inserting into the middle of one B-tree split its
 * pages half full, which left pgbench_accounts' key 40% larger and the
 * load slower (157.6 MB instead of 112.3 MB at scale 50).
 *
 * Which secondary indexes are dropped: valid, plain indexes that nothing else
 * depends on.  Kept are the primary key; any index behind a constraint
 * (UNIQUE, EXCLUDE) or used by a foreign key of another table (pg_constraint
 * .conindid) - dropping those would mean dropping constraints other code
 * relies on; in a table without primary key, a unique index on exactly the
 * sync's key columns (the key it replicates by: deltas are applied by it); the
 * replica identity and the CLUSTER index (DROP would silently reset those
 * table settings); and indexes attached to a partitioned parent's index
 * (they cannot be dropped alone).  The definition comes from
 * pg_get_indexdef, plus the tablespace and comment, which it omits.  The
 * primary key is dropped only under the conditions at SQL_INDEXES.
 *
 * Crash safety: where the load is one transaction on the target (a copy in
 * one stream, a delta cycle) the DROP, the load and the CREATEs are all in
 * it, so a crash rolls back to the table with its indexes.  A copy in
 * parallel streams cannot do that - its streams commit on their own
 * connections, which would wait forever on the lock of an uncommitted
 * DROP - so the definitions go to the catalog's bucardo.index_rebuild
 * first (committed), then the DROP commits with the TRUNCATE, and the
 * CREATEs commit after the streams, then the journal rows go.  Whatever is
 * still journaled when the sync next starts or copies is recreated
 * (index_journal_restore), so a crash leaves the target without an index
 * only until the engine runs that sync again.
 */
#include "index_rebuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/*
 * $1: the table (regclass text); $2: the sync's key columns (text[]);
 * $3: want the secondary indexes; $4: want the primary key.
 * Columns: quoted index name, DROP, CREATE, COMMENT statements.
 *
 * The primary key is taken only where dropping it for a while changes
 * nothing but the speed of the load, and where rebuilding it cannot fail:
 * its columns are exactly the sync's key (unique on the source, so the
 * copied rows are unique too); no foreign key references the table and no
 * view or other object depends on the constraint (DROP would fail or
 * cascade); it is not the replica identity or the CLUSTER index; the table
 * is in no publication (DELETEs there need the key as replica identity)
 * and is a plain one (partition keys hang off their parent's).  Its columns
 * keep NOT NULL when the constraint goes (PostgreSQL 15).  It comes back as
 * CREATE UNIQUE INDEX (pg_get_indexdef: INCLUDE, WITH (...); plus the
 * tablespace) and ADD CONSTRAINT ... PRIMARY KEY USING INDEX, with its
 * DEFERRABLE mode - pg_get_constraintdef would lose the storage options.
 */
static const char SQL_INDEXES[] =
    "WITH tbl AS (SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qname, c.relkind,"
    "                    n.nspname, c.relname"
    "               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    "              WHERE c.oid = $1::regclass),"
    "     keys AS (SELECT coalesce(array_agg(k COLLATE \"C\" ORDER BY k COLLATE \"C\"), '{}') AS cols"
    "                FROM unnest($2::text[]) k)"
    " SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),"
    "        'ALTER TABLE ' || tbl.qname || ' DROP CONSTRAINT ' || quote_ident(k.conname),"
    "        pg_catalog.pg_get_indexdef(i.indexrelid)"
    "          || CASE WHEN c.reltablespace <> 0 THEN ' TABLESPACE ' || quote_ident(ts.spcname) ELSE '' END"
    "          || '; ALTER TABLE ' || tbl.qname || ' ADD CONSTRAINT ' || quote_ident(k.conname)"
    "          || ' PRIMARY KEY USING INDEX ' || quote_ident(c.relname)"
    "          || CASE WHEN k.condeferrable THEN ' DEFERRABLE' ELSE '' END"
    "          || CASE WHEN k.condeferred THEN ' INITIALLY DEFERRED' ELSE '' END,"
    "        nullif(concat_ws('; ',"
    "          'COMMENT ON CONSTRAINT ' || quote_ident(k.conname) || ' ON ' || tbl.qname || ' IS '"
    "            || quote_literal(pg_catalog.obj_description(k.oid, 'pg_constraint')),"
    "          'COMMENT ON INDEX ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' IS '"
    "            || quote_literal(pg_catalog.obj_description(i.indexrelid, 'pg_class'))), ''),"
    "        0 AS kind, c.relname"
    "   FROM tbl CROSS JOIN keys"
    "   JOIN pg_catalog.pg_constraint k ON k.conrelid = tbl.oid AND k.contype = 'p'"
    "   JOIN pg_catalog.pg_index i ON i.indexrelid = k.conindid"
    "   JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
    "   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    "   LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace"
    "  WHERE $4::boolean AND tbl.relkind = 'r'"
    "    AND i.indisvalid AND i.indisready AND i.indislive"
    "    AND NOT i.indisreplident AND NOT i.indisclustered"
    "    AND (SELECT array_agg(a.attname::text COLLATE \"C\" ORDER BY a.attname::text COLLATE \"C\")"
    "           FROM pg_catalog.pg_attribute a"
    "          WHERE a.attrelid = tbl.oid AND a.attnum = ANY (i.indkey)) = keys.cols"
    "    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f"
    "                     WHERE f.contype = 'f' AND (f.confrelid = tbl.oid OR f.conindid = k.conindid))"
    "    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
    "                     WHERE d.refclassid = 'pg_catalog.pg_constraint'::regclass AND d.refobjid = k.oid"
    "                       AND d.deptype = 'n')"
    "    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables pt"
    "                     WHERE pt.schemaname = tbl.nspname AND pt.tablename = tbl.relname)"
    "    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid)"
    " UNION ALL"
    " SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),"
    "        'DROP INDEX ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),"
    "        pg_catalog.pg_get_indexdef(i.indexrelid)"
    "          || CASE WHEN c.reltablespace <> 0 THEN ' TABLESPACE ' || quote_ident(ts.spcname) ELSE '' END,"
    "        'COMMENT ON INDEX ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' IS '"
    "          || quote_literal(pg_catalog.obj_description(i.indexrelid, 'pg_class')),"
    "        1, c.relname"
    "   FROM tbl"
    "   JOIN pg_catalog.pg_index i ON i.indrelid = tbl.oid"
    "   JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
    "   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    "   LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace"
    "  WHERE $3::boolean"
    "    AND i.indisvalid AND i.indisready AND i.indislive"
    "    AND NOT i.indisprimary AND NOT i.indisreplident AND NOT i.indisclustered"
    "    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid)"
    "    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid)"
    "    AND NOT (i.indisunique AND i.indexprs IS NULL AND i.indpred IS NULL"
    "             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index p"
    "                              WHERE p.indrelid = i.indrelid AND p.indisprimary)"
    "             AND coalesce((SELECT array_agg(a.attname::text COLLATE \"C\""
    "                                            ORDER BY a.attname::text COLLATE \"C\")"
    "                             FROM pg_catalog.pg_attribute a"
    "                            WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)), '{}')"
    "               = coalesce((SELECT array_agg(k COLLATE \"C\" ORDER BY k COLLATE \"C\")"
    "                             FROM unnest($2::text[]) k), '{}'))"
    " ORDER BY kind, relname";

static const char SQL_JOURNAL_ADD[] =
    "INSERT INTO bucardo.index_rebuild (sync, db, tablename, indexname, definition, comment, primary_key)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (db, indexname) DO NOTHING";
static const char SQL_JOURNAL_CLEAR[] = "DELETE FROM bucardo.index_rebuild WHERE db = $1 AND indexname = $2";
static const char SQL_JOURNAL[] =
    "SELECT db, tablename, indexname, definition, comment, primary_key FROM bucardo.index_rebuild"
    " WHERE sync = $1 ORDER BY db, dropped, indexname";

/* fail - "database D: what: message (SQLSTATE X)" into err. */
static void fail(char *err, size_t errlen, const char *db, const char *what, PGconn *conn,
                 const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[512];
    size_t n;

    snprintf(msg, sizeof(msg), "%s", primary ? primary : PQerrorMessage(conn));
    for (n = strlen(msg); n > 0 && msg[n - 1] == '\n'; n--)
        msg[n - 1] = '\0';
    snprintf(err, errlen, "database %s: %s: %s%s%s%s", db, what, msg, state ? " (SQLSTATE " : "",
             state ? state : "", state ? ")" : "");
}

/* connect_db - a connection to db (client_encoding `encoding` unless NULL). */
static PGconn *connect_db(const DbInfo *db, const char *encoding, char *err, size_t errlen)
{
    ConnParams cp = dbinfo_params(db);
    char reason[512];
    PGconn *conn = pg_connect_err(&cp, reason, sizeof(reason));

    if (conn == NULL)
        snprintf(err, errlen, "database %s: cannot connect: %s", db->name, reason);
    else if (encoding && PQsetClientEncoding(conn, encoding) != 0) {
        fail(err, errlen, db->name, "setting client_encoding", conn, NULL);
        PQfinish(conn);
        conn = NULL;
    }
    return conn;
}

bool index_set_read(const DbInfo *db, const char *table, const TableDef *t, const char *encoding, int which,
                    IndexSet *out, char *err, size_t errlen)
{
    StrList keys = {0};
    char *keyarr;
    const char *params[4];
    PGconn *conn;
    PGresult *res;
    bool ok;

    memset(out, 0, sizeof(*out));
    conn = connect_db(db, encoding, err, errlen);
    if (conn == NULL)
        return false;
    for (int k = 0; k < t->nkeys; k++)
        strlist_add(&keys, t->keycols[k]);
    keyarr = pg_array_literal(&keys);
    params[0] = table;
    params[1] = keyarr;
    params[2] = (which & INDEX_SECONDARY) ? "true" : "false";
    params[3] = (which & INDEX_PRIMARY_KEY) ? "true" : "false";
    res = PQexecParams(conn, SQL_INDEXES, 4, NULL, params, NULL, NULL, 0);
    ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) {
        char what[256];
        snprintf(what, sizeof(what), "reading the indexes of %s", table);
        fail(err, errlen, db->name, what, conn, res);
    } else {
        out->n = PQntuples(res);
        out->qname = xcalloc((size_t)out->n + 1, sizeof(char *));
        out->drop = xcalloc((size_t)out->n + 1, sizeof(char *));
        out->create = xcalloc((size_t)out->n + 1, sizeof(char *));
        out->comment = xcalloc((size_t)out->n + 1, sizeof(char *));
        out->primary_key = xcalloc((size_t)out->n + 1, sizeof(bool));
        for (int i = 0; i < out->n; i++) {
            out->qname[i] = xstrdup(PQgetvalue(res, i, 0));
            out->drop[i] = xstrdup(PQgetvalue(res, i, 1));
            out->create[i] = xstrdup(PQgetvalue(res, i, 2));
            out->comment[i] = PQgetisnull(res, i, 3) ? NULL : xstrdup(PQgetvalue(res, i, 3));
            out->primary_key[i] = strcmp(PQgetvalue(res, i, 4), "0") == 0; /* kind */
        }
    }
    PQclear(res);
    PQfinish(conn);
    free(keyarr);
    strlist_free(&keys);
    return ok;
}

void index_set_free(IndexSet *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->qname[i]);
        free(s->drop[i]);
        free(s->create[i]);
        free(s->comment[i]);
    }
    free(s->qname);
    free(s->drop);
    free(s->create);
    free(s->comment);
    free(s->primary_key);
    memset(s, 0, sizeof(*s));
}

void index_set_send_drop(const IndexSet *s, Target *w)
{
    for (int i = 0; i < s->n; i++)
        target_send_new(w, MSG_EXEC, s->drop[i]);
}

void index_set_send_create(const IndexSet *s, Target *w)
{
    for (int i = 0; i < s->n; i++) {
        target_send_new(w, MSG_EXEC, s->create[i]);
        if (s->comment[i])
            target_send_new(w, MSG_EXEC, s->comment[i]);
    }
}

bool index_journal_add(SyncRunner *r, const char *db, const char *table, const IndexSet *s, char *err,
                       size_t errlen)
{
    for (int i = 0; i < s->n; i++) {
        const char *params[7] = {r->def.name,
                                 db,
                                 table,
                                 s->qname[i],
                                 s->create[i],
                                 s->comment[i],
                                 s->primary_key[i] ? "true" : "false"};
        if (r->cat == NULL || !pg_exec(r->cat, "catalog", SQL_JOURNAL_ADD, 7, params)) {
            snprintf(err, errlen,
                     "sync %s: catalog: cannot record the indexes of %s on %s before dropping them",
                     r->def.name, table, db);
            return false;
        }
    }
    return true;
}

bool index_journal_clear(SyncRunner *r, const char *db, const IndexSet *s, char *err, size_t errlen)
{
    for (int i = 0; i < s->n; i++) {
        const char *params[2] = {db, s->qname[i]};
        if (r->cat == NULL || !pg_exec(r->cat, "catalog", SQL_JOURNAL_CLEAR, 2, params)) {
            snprintf(err, errlen, "sync %s: catalog: cannot clear the rebuilt index %s of %s", r->def.name,
                     s->qname[i], db);
            return false;
        }
    }
    return true;
}

/* find_db - the sync's DbInfo named `name`, or NULL. */
static const DbInfo *find_db(const SyncRunner *r, const char *name)
{
    for (int i = 0; i < r->def.ntargets; i++)
        if (strcmp(r->def.targets[i].name, name) == 0)
            return &r->def.targets[i];
    for (int i = 0; i < r->def.nsources; i++)
        if (strcmp(r->def.sources[i].name, name) == 0)
            return &r->def.sources[i];
    return NULL;
}

/*
 * restore_one - on conn (database db), recreate index qname of `table`
 * unless it exists (or, for a primary key - `primary_key` - unless the
 * table has one again, whatever its name), in one transaction with its
 * comment.  A lock the table is held under makes it fail after
 * lock_timeout rather than hold the sync (and queue every reader of the
 * table behind it).
 */
static bool restore_one(PGconn *conn, const char *db, const char *table, const char *qname, bool primary_key,
                        const char *create, const char *comment, char *err, size_t errlen)
{
    const char *params[3] = {qname, table, primary_key ? "true" : "false"};
    PGresult *res = PQexecParams(conn,
                                 "SELECT to_regclass($1) IS NULL AND NOT ($3::boolean AND EXISTS ("
                                 "  SELECT 1 FROM pg_catalog.pg_constraint"
                                 "   WHERE conrelid = to_regclass($2) AND contype = 'p'))",
                                 3, NULL, params, NULL, NULL, 0);
    bool missing, ok = true;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(err, errlen, db, "looking for a dropped index", conn, res);
        PQclear(res);
        return false;
    }
    missing = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!missing)
        return true;
    log_warn("recreating index %s on %s, dropped by an interrupted table copy", qname, db);
    res = PQexec(conn, "BEGIN; SET LOCAL lock_timeout = '60s'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail(err, errlen, db, "starting to recreate a dropped index", conn, res);
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return false;
    }
    PQclear(res);
    res = PQexec(conn, create);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail(err, errlen, db, "recreating a dropped index", conn, res);
        ok = false;
    }
    PQclear(res);
    if (ok && comment) {
        res = PQexec(conn, comment);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fail(err, errlen, db, "restoring the comment of a dropped index", conn, res);
            ok = false;
        }
        PQclear(res);
    }
    res = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
    if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail(err, errlen, db, "recreating a dropped index", conn, res);
        ok = false;
    }
    PQclear(res);
    return ok;
}

bool index_journal_restore(SyncRunner *r, char *err, size_t errlen)
{
    const char *params[1] = {r->def.name};
    PGresult *res;
    PGconn *conn = NULL;
    const char *conn_db = NULL;
    bool ok = true;

    if (r->cat == NULL) {
        snprintf(err, errlen, "sync %s: catalog: not connected", r->def.name);
        return false;
    }
    res = pg_query(r->cat, "catalog", SQL_JOURNAL, 1, params);
    if (res == NULL) {
        snprintf(err, errlen, "sync %s: catalog: cannot read the indexes left to rebuild", r->def.name);
        return false;
    }
    for (int i = 0; ok && i < PQntuples(res); i++) {
        const char *dbname = PQgetvalue(res, i, 0), *qname = PQgetvalue(res, i, 2);
        const DbInfo *db = find_db(r, dbname);
        const char *clear[2] = {dbname, qname};

        if (db == NULL) {
            log_warn("index %s of %s on %s was dropped by a table copy and is no longer in this sync's"
                     " databases: recreate it by hand (bucardo.index_rebuild)",
                     qname, PQgetvalue(res, i, 1), dbname);
            continue;
        }
        if (conn_db == NULL || strcmp(conn_db, dbname) != 0) {
            if (conn)
                PQfinish(conn);
            /* The definitions are bytes in the catalog session's encoding. */
            conn = connect_db(db, PQparameterStatus(r->cat, "client_encoding"), err, errlen);
            conn_db = dbname;
            if (conn == NULL) {
                ok = false;
                break;
            }
        }
        ok = restore_one(conn, dbname, PQgetvalue(res, i, 1), qname, strcmp(PQgetvalue(res, i, 5), "t") == 0,
                         PQgetvalue(res, i, 3), PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4), err,
                         errlen);
        if (ok && !pg_exec(r->cat, "catalog", SQL_JOURNAL_CLEAR, 2, clear)) {
            snprintf(err, errlen, "sync %s: catalog: cannot clear the rebuilt index %s of %s", r->def.name,
                     qname, dbname);
            ok = false;
        }
    }
    if (conn)
        PQfinish(conn);
    PQclear(res);
    return ok;
}
