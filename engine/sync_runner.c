/*
 * engine/sync_runner.c - a sync thread's long-lived resources: the writer
 * threads (one per target, plus one per source in a multi-source sync), the
 * chunk pool they share, and the catalog and source connections, each
 * re-established when lost.  Table plans (quoted SQL fragments) are made
 * once per source connection.  Source sessions start with
 * PG_ROW_TEXT_SETTINGS, so rows print the same whatever the database's
 * own DateStyle, extra_float_digits and the like.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "log.h"
#include "runner_internal.h"

static const char SQL_COLUMNS[] =
    "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum),"
    "       string_agg('t.' || quote_ident(attname), ', ' ORDER BY attnum),"
    /* Binary COPY carries type OIDs inside arrays and composites: only
     * built-in types (OIDs below FirstNormalObjectId) mean the same on
     * every database.  Of those, the reg* types are OIDs of objects
     * (regclass 'x' is another number on another database; in text it is
     * the name), and some types have no binary send/receive (aclitem). */
    "       bool_and(a.atttypid < 16384 AND ty.typsend <> 0 AND ty.typreceive <> 0"
    "                AND coalesce(el.typsend <> 0 AND el.typreceive <> 0, true)"
    "                AND coalesce(el.typname, ty.typname) !~ '^reg'),"
    /* A partitioned table's rows are its partitions' (read it whole); any
     * other table is read ONLY: an inheritance parent's rows are its own. */
    "       (SELECT c.relkind = 'p' FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass)"
    "  FROM pg_catalog.pg_attribute a"
    "  JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid"
    "  LEFT JOIN pg_catalog.pg_type el ON el.oid = ty.typelem AND ty.typlen = -1 AND ty.typelem <> 0"
    " WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''";

SyncRunner *runner_create(SyncDef *def, const ConnParams *catalog, RunnerLimits limits)
{
    SyncRunner *r = xcalloc(1, sizeof(SyncRunner));

    r->def = *def;
    memset(def, 0, sizeof(*def));
    r->catalog_params = *catalog;
    r->batch_keys = limits.batch_keys;
    r->lock_timeout = xstrdup(limits.lock_timeout ? limits.lock_timeout : "60s");
    r->pool = chunk_pool_create(limits.chunks, limits.chunk_size);
    r->src = xcalloc((size_t)r->def.nsources, sizeof(SourceConn));
    r->nwriters = r->def.ntargets + (r->def.nsources > 1 ? r->def.nsources : 0);
    r->writers = xcalloc((size_t)r->nwriters, sizeof(TargetWriter *));
    for (int i = 0; i < r->def.ntargets; i++)
        r->writers[i] = writer_start(&r->def.targets[i], r->def.name, r->lock_timeout, r->pool);
    for (int s = 0; r->def.nsources > 1 && s < r->def.nsources; s++)
        r->writers[source_writer(r, s)] =
            writer_start(&r->def.sources[s], r->def.name, r->lock_timeout, r->pool);
    r->online = xcalloc((size_t)r->nwriters + 1, sizeof(bool));
    r->wchecked = xcalloc((size_t)r->nwriters + 1, sizeof(bool));
    r->wpart = xcalloc((size_t)(r->nwriters * r->def.ntables) + 1, sizeof(bool));
    for (int w = 0; w < r->nwriters; w++)
        r->online[w] = true;
    r->seq_seen = xcalloc((size_t)r->def.nsequences + 1, sizeof(long long));
    for (int i = 0; i < r->def.nsequences; i++)
        r->seq_seen[i] = -1;
    return r;
}

static void free_plans(SyncRunner *r, int s)
{
    TablePlan *plans = r->src[s].plans;

    if (plans == NULL)
        return;
    for (int i = 0; i < r->def.ntables; i++) {
        TablePlan *p = &plans[i];
        free(p->display);
        free(p->qualified);
        free(p->from);
        free(p->literal);
        free(p->delta);
        free(p->columns);
        free(p->tcolumns);
        free(p->keycols);
        free(p->keydefs);
        free(p->keyjoin);
        free(p->lostjoin);
        for (int w = 0; p->wtable && w < r->nwriters; w++) {
            free(p->wtable[w]);
            free(p->wselect[w]);
            free(p->wcolumns[w]);
        }
        free(p->wtable);
        free(p->wselect);
        free(p->wcolumns);
        unique_info_free(p->unique);
    }
    free(plans);
    r->src[s].plans = NULL;
}

void runner_drop_source(SyncRunner *r, int s)
{
    free_plans(r, s);
    free(r->src[s].poll_sql);
    r->src[s].poll_sql = NULL;
    if (r->src[s].conn)
        PQfinish(r->src[s].conn);
    r->src[s].conn = NULL;
}

void runner_destroy(SyncRunner *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->nwriters; i++)
        writer_stop(r->writers[i]);
    free(r->writers);
    for (int s = 0; s < r->def.nsources; s++) {
        runner_drop_source(r, s);
        free(r->src[s].last_snapshot);
    }
    free(r->src);
    if (r->cat)
        PQfinish(r->cat);
    chunk_pool_destroy(r->pool);
    free(r->seq_seen);
    free(r->online);
    free(r->wchecked);
    free(r->wpart);
    free(r->lock_timeout);
    syncdef_free(&r->def);
    free(r);
}

const SyncDef *runner_def(const SyncRunner *r)
{
    return &r->def;
}

/*
 * custom_columns - the output column names of a customcols select list,
 * quoted, as the source's server sees them (it also checks the list).
 */
static char *custom_columns(PGconn *conn, const TablePlan *p, const char *clause, char *err, size_t errlen)
{
    char *sql = xasprintf("SELECT %s FROM %s AS t LIMIT 0", clause, p->qualified);
    PGresult *res = PQexec(conn, sql);
    StrBuf cols;

    free(sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "table %s: customcols \"%s\": %s", p->display, clause,
                 PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    strbuf_init(&cols);
    for (int i = 0; i < PQnfields(res); i++) {
        char *q = pg_quote_ident(conn, PQfname(res, i));
        strbuf_printf(&cols, "%s%s", i ? ", " : "", q);
        free(q);
    }
    PQclear(res);
    return cols.data;
}

/* plan_writers - per writer: the table's name there and what it receives. */
static bool plan_writers(SyncRunner *r, PGconn *conn, const TableDef *t, TablePlan *p, char *err,
                         size_t errlen)
{
    p->wtable = xcalloc((size_t)r->nwriters, sizeof(char *));
    p->wselect = xcalloc((size_t)r->nwriters, sizeof(char *));
    p->wcolumns = xcalloc((size_t)r->nwriters, sizeof(char *));
    for (int w = 0; w < r->nwriters; w++) {
        const char *db = writer_dbinfo(r, w)->name;
        const char *name = tabledef_custom(&t->name_db, &t->name_value, db);
        const char *clause = tabledef_custom(&t->cols_db, &t->cols_value, db);

        p->wtable[w] = name ? table_custom_qualified(conn, t, name) : xstrdup(p->qualified);
        if (clause) {
            p->wselect[w] = xstrdup(clause);
            p->wcolumns[w] = custom_columns(conn, p, clause, err, errlen);
            if (p->wcolumns[w] == NULL)
                return false;
        } else {
            p->wcolumns[w] = xstrdup(p->columns);
        }
    }
    return true;
}

/* plan_table - the quoted SQL fragments of one table, for connection conn. */
static bool plan_table(SyncRunner *r, int s, const TableDef *t, TablePlan *p, char *err, size_t errlen)
{
    PGconn *conn = r->src[s].conn;
    StrBuf cols, defs, join, lost;
    char *delta = capture_object_name("delta", t);
    char *qdelta = pg_quote_ident(conn, delta);
    const char *params[1];
    PGresult *res;

    p->display = xasprintf("%s.%s", t->schemaname, t->relname);
    p->qualified = table_qualified(conn, t);
    p->literal = pg_quote_literal(conn, p->qualified);
    p->delta = xasprintf("bucardo.%s", qdelta);
    free(delta);
    free(qdelta);
    params[0] = p->qualified;
    res = PQexecParams(conn, SQL_COLUMNS, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQgetisnull(res, 0, 0)) {
        snprintf(err, errlen, "source %s: table %s: cannot read its columns: %s", r->def.sources[s].name,
                 p->display, PQresultErrorMessage(res));
        PQclear(res);
        return false;
    }
    p->columns = xstrdup(PQgetvalue(res, 0, 0));
    p->tcolumns = xstrdup(PQgetvalue(res, 0, 1));
    p->binary = r->def.strict_checking && strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    p->partitioned = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    p->from = p->partitioned ? xstrdup(p->qualified) : xasprintf("ONLY %s", p->qualified);
    p->index = (int)(t - r->def.tables);
    PQclear(res);
    strbuf_init(&cols);
    strbuf_init(&defs);
    strbuf_init(&join);
    strbuf_init(&lost);
    for (int k = 0; k < t->nkeys; k++) {
        char *q = pg_quote_ident(conn, t->keycols[k]);
        const char *sep = k ? ", " : "", *and = k ? " AND " : "";
        strbuf_printf(&cols, "%s%s", sep, q);
        strbuf_printf(&defs, "%s%s %s", sep, q, t->keytypes[k]);
        strbuf_printf(&join, "%st.%s = k.%s", and, q, q);
        strbuf_printf(&lost, "%sk.%s = l.%s", and, q, q);
        free(q);
    }
    p->keycols = cols.data;
    p->keydefs = defs.data;
    p->keyjoin = join.data;
    p->lostjoin = lost.data;
    return plan_writers(r, conn, t, p, err, errlen);
}

bool runner_ensure_source(SyncRunner *r, int s, bool *unreachable, char *err, size_t errlen)
{
    const DbInfo *db = &r->def.sources[s];
    SourceConn *sc = &r->src[s];
    ConnParams cp;
    char reason[512];

    if (unreachable)
        *unreachable = false;
    if (sc->conn && PQstatus(sc->conn) == CONNECTION_OK)
        return true;
    runner_drop_source(r, s);
    cp = dbinfo_params(db);
    sc->conn = pg_connect_err(&cp, reason, sizeof(reason));
    if (sc->conn == NULL) {
        snprintf(err, errlen, "source %s: cannot connect: %s", db->name, reason);
        if (unreachable)
            *unreachable = true;
        return false;
    }
    {
        const char *enc = pg_copy_encoding(sc->conn);
        char *setup =
            xasprintf("SET client_encoding = '%s'; " PG_ROW_TEXT_SETTINGS "; " PG_KEY_JOIN_SETTINGS, enc);
        PGresult *res = src_query(r, s, "session setup", setup, PGRES_COMMAND_OK, err, errlen);

        free(setup);
        if (res == NULL) {
            runner_drop_source(r, s);
            return false;
        }
        PQclear(res);
        /* One SQL_ASCII source makes its bytes pass unconverted everywhere. */
        if (s == 0 || strcmp(enc, "SQL_ASCII") == 0)
            r->client_encoding = enc;
    }
    if (r->def.autokick) {
        PGresult *res = PQexec(sc->conn, "LISTEN " CAPTURE_CHANNEL);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            snprintf(err, errlen, "source %s: LISTEN failed: %s", db->name, PQerrorMessage(sc->conn));
            runner_drop_source(r, s);
            return false;
        }
    }
    sc->plans = xcalloc((size_t)r->def.ntables, sizeof(TablePlan));
    for (int i = 0; i < r->def.ntables; i++)
        if (!plan_table(r, s, &r->def.tables[i], &sc->plans[i], err, errlen)) {
            runner_drop_source(r, s);
            return false;
        }
    log_info("connected to source %s", db->name);
    return true;
}

bool runner_ensure_catalog(SyncRunner *r)
{
    char reason[512];

    if (r->cat && PQstatus(r->cat) == CONNECTION_OK)
        return true;
    if (r->cat)
        PQfinish(r->cat);
    r->cat = pg_connect_err(&r->catalog_params, reason, sizeof(reason));
    if (r->cat == NULL)
        log_error("catalog: cannot connect: %s", reason);
    return r->cat != NULL;
}

int runner_notify_sockets(SyncRunner *r, int *fds, int max)
{
    int n = 0;

    if (!r->def.autokick)
        return 0;
    for (int s = 0; s < r->def.nsources && n < max; s++)
        if (r->src[s].conn)
            fds[n++] = PQsocket(r->src[s].conn);
    return n;
}

/*
 * poll_sql - for source s: are there changes the snapshot $1 did not see?
 * Cheap first: has any transaction completed since $1 (one of its
 * in-progress xids, or one assigned after its xmax)?  Reads no table, and
 * is false on an idle cluster.  Only then are the delta tables (and the
 * TRUNCATE log) looked at.  Also returns the statement's snapshot: when
 * the answer is no, nothing visible in it is new, so the next poll can
 * start from it and the engine's own transactions are not looked at twice.
 */
static const char *poll_sql(SyncRunner *r, int s)
{
    StrBuf sql;

    if (r->src[s].poll_sql)
        return r->src[s].poll_sql;
    strbuf_init(&sql);
    strbuf_printf(
        &sql, "WITH s AS (SELECT $1::pg_catalog.pg_snapshot AS ref, pg_catalog.pg_current_snapshot() AS cur)"
              " SELECT CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_snapshot_xip(ref) x"
              "                          WHERE pg_catalog.pg_visible_in_snapshot(x, cur))"
              "   OR pg_catalog.pg_snapshot_xmax(cur)::text::numeric"
              "      - pg_catalog.pg_snapshot_xmax(ref)::text::numeric"
              "      > (SELECT count(*) FROM pg_catalog.pg_snapshot_xip(cur) x"
              "         WHERE x >= pg_catalog.pg_snapshot_xmax(ref))"
              " THEN EXISTS (SELECT FROM bucardo.truncate_log"
              "              WHERE NOT pg_catalog.pg_visible_in_snapshot(txid, ref))");
    for (int t = 0; t < r->def.ntables; t++)
        if (r->def.tables[t].nkeys > 0)
            strbuf_printf(
                &sql, " OR EXISTS (SELECT FROM %s WHERE NOT pg_catalog.pg_visible_in_snapshot(txid, ref))",
                r->src[s].plans[t].delta);
    strbuf_printf(&sql, " ELSE false END, cur::text FROM s");
    r->src[s].poll_sql = sql.data; /* the buffer is handed over */
    return sql.data;
}

int runner_check_completed(SyncRunner *r)
{
    if (!r->def.autokick)
        return 0;
    for (int s = 0; s < r->def.nsources; s++) {
        const char *params[1] = {r->src[s].last_snapshot};
        PGconn *conn = r->src[s].conn;
        PGresult *res;
        bool yes;

        if (r->src[s].offline)
            continue; /* polling it would only run cycles that leave it out again */
        if (conn == NULL || r->src[s].plans == NULL || params[0] == NULL)
            return 1; /* a cycle will reconnect and find out */
        res = PQexecParams(conn, poll_sql(r, s), 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            log_warn("source %s: looking for new changes: %s", r->def.sources[s].name,
                     PQresultErrorMessage(res));
            PQclear(res);
            return -1;
        }
        yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        if (!yes) {
            free(r->src[s].last_snapshot);
            r->src[s].last_snapshot = xstrdup(PQgetvalue(res, 0, 1));
        }
        PQclear(res);
        if (yes)
            return 1;
    }
    return 0;
}

bool runner_consume_notifies(SyncRunner *r)
{
    bool any = false;

    for (int s = 0; s < r->def.nsources; s++) {
        PGconn *conn = r->src[s].conn;
        PGnotify *n;

        if (conn == NULL)
            continue;
        if (!PQconsumeInput(conn)) {
            runner_drop_source(r, s); /* reconnect at the next cycle */
            any = true;               /* and run one to find out */
            continue;
        }
        while ((n = PQnotifies(conn)) != NULL) {
            any = true;
            PQfreemem(n);
        }
    }
    return any;
}
