/*
 * engine/cycle/sync_runner.c - a sync thread's long-lived resources: the writer
 * threads (one per target, plus one per source in a multi-source sync), the
 * chunk pool they share, and the catalog and source connections, each
 * re-established when lost.  Connections are held only while the sync
 * thread holds a slot of the connection budget (runner_release).  Table
 * plans (quoted SQL fragments) are made when a source first connects, and
 * again when the shape of its replicated tables (their columns, see
 * shape_expr) changed: the cycle's first statement on each source returns
 * that shape with the snapshot, so DDL on a running sync is noticed
 * without a round trip of its own.  The plans outlive the connection
 * (runner_release keeps them): a sync that gave its connections back
 * while idle checks them with its next BEGIN instead of planning again, a
 * round trip per table and the column check saved.  Source sessions start with
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
    "       (SELECT c.relkind = 'p' FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass),"
    /* The names unquoted, for targets other than PostgreSQL (target_driver.h). */
    "       string_agg(attname, chr(31) ORDER BY attnum),"
    "       string_agg(pg_catalog.format_type(a.atttypid, a.atttypmod), chr(31) ORDER BY attnum)"
    "  FROM pg_catalog.pg_attribute a"
    "  JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid"
    "  LEFT JOIN pg_catalog.pg_type el ON el.oid = ty.typelem AND ty.typlen = -1 AND ty.typelem <> 0"
    " WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''";

/*
 * The shape of a set of tables: the number of their live columns and the
 * sum of a 64-bit hash of each one's table oid, number, name, type, typmod
 * and generation.  Any ADD, DROP, RENAME or TYPE change of a column, or a
 * table dropped and created again, changes it.  A sum needs no sort: the
 * expression costs about 0.2 ms per cycle (parse, plan and an index scan
 * of pg_attribute; an md5 over the sorted list cost 0.24).  Read through
 * the statement's own snapshot, so on a source it describes the tables as
 * the cycle's snapshot sees them.
 */
static const char SQL_SHAPE_PREFIX[] =
    "(SELECT pg_catalog.count(*)::text || ' ' || pg_catalog.sum(pg_catalog.hashtextextended("
    "         a.attrelid::text || ' ' || a.attnum::text || ' ' || a.attname::text || ' ' || a.atttypid::text"
    "         || ' ' || a.atttypmod::text || ' ' || a.attgenerated::text, 0))::text"
    "   FROM pg_catalog.pg_attribute a WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN (";

void shape_expr(StrBuf *out, PGconn *conn, char *const *tables, int n)
{
    strbuf_append(out, SQL_SHAPE_PREFIX);
    for (int i = 0; i < n; i++) {
        char *lit = pg_quote_literal(conn, tables[i]);
        strbuf_printf(out, "%s%s::pg_catalog.regclass", i ? ", " : "", lit);
        free(lit);
    }
    if (n == 0)
        strbuf_append(out, "0");
    strbuf_append(out, "))");
}

/* source_shape_sql - "SELECT <shape of source s's replicated tables>". */
static char *source_shape_sql(SyncRunner *r, int s)
{
    PGconn *conn = r->src[s].conn;
    char **names = xcalloc((size_t)r->def.ntables + 1, sizeof(char *));
    StrBuf sql;

    for (int t = 0; t < r->def.ntables; t++)
        names[t] = table_qualified(conn, &r->def.tables[t]);
    strbuf_init(&sql);
    strbuf_append(&sql, "SELECT ");
    shape_expr(&sql, conn, names, r->def.ntables);
    for (int t = 0; t < r->def.ntables; t++)
        free(names[t]);
    free(names);
    return sql.data;
}

SyncRunner *runner_create(SyncDef *def, const ConnParams *catalog, RunnerLimits limits)
{
    SyncRunner *r = xcalloc(1, sizeof(SyncRunner));

    r->def = *def;
    memset(def, 0, sizeof(*def));
    r->catalog_params = *catalog;
    r->budget = limits.budget;
    r->batch_keys = limits.batch_keys;
    r->batch_grow_max = limits.batch_grow_max > 1 ? limits.batch_grow_max : 1;
    r->serial_sleep = limits.serial_sleep;
    r->deadlock_sleep = limits.deadlock_sleep;
    r->stalled_after = limits.stalled_after;
    r->lock_timeout = xstrdup(limits.lock_timeout ? limits.lock_timeout : "60s");
    r->cancel = limits.cancel;
    r->pool = chunk_pool_create(limits.chunks, limits.chunk_size);
    r->src = xcalloc((size_t)r->def.nsources, sizeof(SourceConn));
    for (int s = 0; s < r->def.nsources; s++)
        r->src[s].cancel_slot = -1;
    r->nwriters = r->def.ntargets + (r->def.nsources > 1 ? r->def.nsources : 0);
    r->writers = xcalloc((size_t)r->nwriters, sizeof(Target *));
    TargetConfig tc = runner_target_config(r);
    for (int i = 0; i < r->def.ntargets; i++)
        r->writers[i] = target_start(&r->def.targets[i], &tc);
    for (int s = 0; r->def.nsources > 1 && s < r->def.nsources; s++)
        r->writers[source_writer(r, s)] = target_start(&r->def.sources[s], &tc);
    r->online = xcalloc((size_t)r->nwriters + 1, sizeof(bool));
    r->wchecked = xcalloc((size_t)r->nwriters + 1, sizeof(bool));
    r->wshape = xcalloc((size_t)r->nwriters + 1, sizeof(char *));
    r->wpart = xcalloc((size_t)(r->nwriters * r->def.ntables) + 1, sizeof(bool));
    for (int w = 0; w < r->nwriters; w++)
        r->online[w] = true;
    r->seq_seen = xcalloc((size_t)r->def.nsequences + 1, sizeof(long long));
    r->applied_snap = xcalloc((size_t)r->def.nsources + 1, sizeof(char *));
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
        free(p->table_from);
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
            free(p->wrows[w]);
            free(p->wkeys[w]);
            free(p->wempty[w]);
        }
        free(p->wtable);
        free(p->wselect);
        free(p->wcolumns);
        free(p->wrows);
        free(p->wkeys);
        free(p->wempty);
        free(p->colnames);
        free(p->coltypes);
        unique_info_free(p->unique);
    }
    free(plans);
    r->src[s].plans = NULL;
}

/*
 * close_source - source s's connection closed (what the last cycle left to
 * send goes first), its plans and their shape kept: the next connection's
 * BEGIN reads the shape again (runner_begin_sql) and plans again only when
 * it moved, as a kept connection does (runner_source_shape).
 */
static void close_source(SyncRunner *r, int s)
{
    src_settle(r, s);
    strlist_free(&r->src[s].setup);
    cancel_unwatch(r->cancel, r->src[s].cancel_slot);
    r->src[s].cancel_slot = -1;
    if (r->src[s].conn)
        PQfinish(r->src[s].conn);
    r->src[s].conn = NULL;
    r->src[s].cuts_ready = 0;
}

void runner_drop_source(SyncRunner *r, int s)
{
    close_source(r, s);
    free_plans(r, s);
    free(r->src[s].begin_sql);
    r->src[s].begin_sql = NULL;
    free(r->src[s].shape);
    r->src[s].shape = NULL;
}

void runner_destroy(SyncRunner *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->nwriters; i++)
        target_stop(r->writers[i]);
    free(r->writers);
    for (int s = 0; s < r->def.nsources; s++) {
        runner_drop_source(r, s);
    }
    free(r->src);
    if (r->cat)
        PQfinish(r->cat);
    chunk_pool_destroy(r->pool);
    free(r->seq_seen);
    for (int s = 0; s < r->def.nsources; s++)
        free(r->applied_snap[s]);
    free(r->applied_snap);
    free(r->online);
    free(r->wchecked);
    for (int w = 0; w < r->nwriters; w++)
        free(r->wshape[w]);
    free(r->wshape);
    free(r->wpart);
    free(r->lock_timeout);
    hooks_free(r->hooks);
    for (int t = 0; r->last_names && t < r->def.ntables; t++)
        free(r->last_names[t]);
    free(r->last_names);
    free(r->last_keys);
    strbuf_free(&r->last_left_out);
    for (int i = 0; i < r->nreach; i++)
        free(r->reach[i].db);
    free(r->reach);
    syncdef_free(&r->def);
    free(r);
}

const CycleStats *runner_last_stats(const SyncRunner *r)
{
    return &r->last;
}

const SyncDef *runner_def(const SyncRunner *r)
{
    return &r->def;
}

/*
 * custom_columns - the output column names of a customcols select list,
 * quoted, as the source's server sees them (it also checks the list).
 */
static char *custom_columns(PGconn *conn, const TablePlan *p, const char *clause, StrList *names, char *err,
                            size_t errlen)
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
        strlist_add(names, PQfname(res, i));
        strbuf_printf(&cols, "%s%s", i ? ", " : "", q);
        free(q);
    }
    PQclear(res);
    return cols.data;
}

/*
 * plan_specs - the table operations of writer w, a target of another kind
 * than PostgreSQL (target_driver.h): its table is the customname `name`
 * ("schema.table" or "table") or the source's, unquoted; it receives the
 * columns `names`.
 */
static void plan_specs(TablePlan *p, const TableDef *t, const char *name, const StrList *names, int w)
{
    const char *dot = name ? strchr(name, '.') : NULL;
    char *schema = dot ? xasprintf("%.*s", (int)(dot - name), name) : xstrdup(t->schemaname);
    TableSpec spec = {.op = 'R',
                      .schema = schema,
                      .table = dot    ? (char *)dot + 1
                               : name ? (char *)name
                                      : t->relname,
                      .nkeys = t->nkeys,
                      .keys = t->keycols,
                      .ncols = names->count,
                      .cols = names->items};

    p->wrows[w] = target_spec_encode(&spec);
    spec.op = 'E';
    p->wempty[w] = target_spec_encode(&spec);
    spec.op = 'K';
    spec.ncols = t->nkeys;
    spec.cols = t->keycols;
    p->wkeys[w] = target_spec_encode(&spec);
    free(schema);
}

/*
 * plan_writers - per writer: the table's name there and what it receives.
 * customname and customcols apply to targets only: the other sources of a
 * multi-source sync get the table as it is, under its own name, or the
 * sources would drift apart.  Writers with the same select list share one
 * source read (stream_rows), so sources and plain targets cost one read.
 */
static bool plan_writers(SyncRunner *r, PGconn *conn, const TableDef *t, TablePlan *p, char *err,
                         size_t errlen)
{
    p->wtable = xcalloc((size_t)r->nwriters, sizeof(char *));
    p->wselect = xcalloc((size_t)r->nwriters, sizeof(char *));
    p->wcolumns = xcalloc((size_t)r->nwriters, sizeof(char *));
    p->wrows = xcalloc((size_t)r->nwriters, sizeof(char *));
    p->wkeys = xcalloc((size_t)r->nwriters, sizeof(char *));
    p->wempty = xcalloc((size_t)r->nwriters, sizeof(char *));
    for (int w = 0; w < r->nwriters; w++) {
        StrList names = {0};
        bool target = w < r->def.ntargets;
        const char *db = writer_dbinfo(r, w)->name;
        const char *name = target ? tabledef_custom(&t->name_db, &t->name_value, db) : NULL;
        const char *clause = target ? tabledef_custom(&t->cols_db, &t->cols_value, db) : NULL;

        p->wtable[w] = name ? table_custom_qualified(conn, t, name) : xstrdup(p->qualified);
        if (clause) {
            p->wselect[w] = xstrdup(clause);
            p->wcolumns[w] = custom_columns(conn, p, clause, &names, err, errlen);
            if (p->wcolumns[w] == NULL) {
                strlist_free(&names);
                return false;
            }
        } else {
            p->wcolumns[w] = xstrdup(p->columns);
            strlist_add_split(&names, p->colnames, '\037');
        }
        if (!writer_is_pg(r, w))
            plan_specs(p, t, name, &names, w);
        strlist_free(&names);
    }
    return true;
}

/* plan_names - the names of table t in its plan p, quoted for source s. */
static void plan_names(SyncRunner *r, int s, const TableDef *t, TablePlan *p)
{
    PGconn *conn = r->src[s].conn;
    char *delta = capture_object_name("delta", t);
    char *qdelta = pg_quote_ident(conn, delta);

    p->display = xasprintf("%s.%s", t->schemaname, t->relname);
    p->qualified = table_qualified(conn, t);
    p->literal = pg_quote_literal(conn, p->qualified);
    p->delta = xasprintf("bucardo.%s", qdelta);
    free(delta);
    free(qdelta);
}

/* plan_table - the rest of the quoted SQL fragments of one table (after
 * plan_names), from res, the result of SQL_COLUMNS for it on source s. */
static bool plan_table(SyncRunner *r, int s, const TableDef *t, TablePlan *p, const PGresult *res, char *err,
                       size_t errlen)
{
    PGconn *conn = r->src[s].conn;
    StrBuf cols, defs, join, lost;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        snprintf(err, errlen, "source %s: table %s: cannot read its columns: %s", r->def.sources[s].name,
                 p->display, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        return false;
    }
    p->columns = xstrdup(PQgetvalue(res, 0, 0));
    p->tcolumns = xstrdup(PQgetvalue(res, 0, 1));
    p->binary = t->strict_checking && strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    p->partitioned = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    p->colnames = xstrdup(PQgetvalue(res, 0, 4));
    p->coltypes = xstrdup(PQgetvalue(res, 0, 5));
    p->table_from = p->partitioned ? xstrdup(p->qualified) : xasprintf("ONLY %s", p->qualified);
    p->filter = t->capture_filter;
    p->from = p->filter ? xasprintf("(SELECT * FROM %s WHERE (%s))", p->table_from, p->filter)
                        : xstrdup(p->table_from);
    p->index = (int)(t - r->def.tables);
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

static bool plan_source(SyncRunner *r, int s, bool with_shape, char *err, size_t errlen);

bool runner_source_setup(SyncRunner *r, int s, char *err, size_t errlen)
{
    SourceConn *sc = &r->src[s];
    StrBuf sql;
    PGresult *res;

    if (sc->setup.count == 0)
        return true;
    strbuf_init(&sql);
    for (int i = 0; i < sc->setup.count; i++)
        strbuf_printf(&sql, "%s%s", i ? "; " : "", sc->setup.items[i]);
    strlist_free(&sc->setup);
    res = src_query(r, s, "session setup", sql.data, PGRES_COMMAND_OK, err, errlen);
    strbuf_free(&sql);
    if (res == NULL) {
        runner_drop_source(r, s);
        return false;
    }
    PQclear(res);
    return true;
}

bool runner_ensure_source(SyncRunner *r, int s, bool *unreachable, char *err, size_t errlen)
{
    return runner_connect_source(r, s, unreachable, false, err, errlen);
}

bool runner_connect_source(SyncRunner *r, int s, bool *unreachable, bool defer_setup, char *err,
                           size_t errlen)
{
    const DbInfo *db = &r->def.sources[s];
    SourceConn *sc = &r->src[s];
    ConnParams cp;
    char reason[512];

    if (unreachable)
        *unreachable = false;
    if (sc->conn && PQstatus(sc->conn) == CONNECTION_OK)
        return true;
    if (sc->conn)
        runner_drop_source(r, s); /* lost: plan again on the next one */
    cp = dbinfo_params(db);
    sc->conn = budget_connect(r->budget, &cp, db->name, reason, sizeof(reason));
    if (sc->conn == NULL) {
        snprintf(err, errlen, "source %s: cannot connect: %s", db->name, reason);
        if (unreachable)
            *unreachable = true;
        return false;
    }
    sc->cancel_slot = cancel_watch(r->cancel, sc->conn);
    {
        /* lock_timeout: the cycle's reads wait for a user's lock (LOCK
         * TABLE, ALTER TABLE) no longer than its writes do. */
        const char *enc = pg_copy_encoding(sc->conn);
        const char *now = PQparameterStatus(sc->conn, "client_encoding");
        char *lit = pg_quote_literal(sc->conn, r->lock_timeout);
        char *set = xasprintf("SET client_encoding = '%s'", enc);
        StrList setup = {0};

        strlist_add(&setup, set);
        free(set);
        set = xasprintf("SET lock_timeout = %s", lit);
        strlist_add(&setup, set);
        free(set);
        free(lit);
        /* constants: their only semicolons separate statements */
        strlist_add_split(&setup, PG_ROW_TEXT_SETTINGS "; " PG_KEY_JOIN_SETTINGS, ';');
        strlist_free(&sc->setup);
        sc->setup = setup;
        /* Deferred: the BEGIN's string is read in the encoding the session
         * has when it arrives, already the one the setup sets. */
        if (!(defer_setup && sc->plans && sc->shape && now && strcmp(now, enc) == 0) &&
            !runner_source_setup(r, s, err, errlen))
            return false;
        /* One SQL_ASCII source makes its bytes pass unconverted everywhere. */
        if (s == 0 || strcmp(enc, "SQL_ASCII") == 0)
            r->client_encoding = enc;
    }
    if (sc->plans && sc->shape) {
        /* Planned on an earlier connection (runner_release): the BEGIN's
         * shape says whether the plans still hold. */
        log_verbose("connected to source %s (its plans kept)", db->name);
        return true;
    }
    if (!plan_source(r, s, true, err, errlen)) {
        runner_drop_source(r, s);
        return false;
    }
    log_verbose("connected to source %s", db->name);
    return true;
}

/*
 * plan_source - every table's plan for source s (old plans freed); every
 * writer's columns are checked again before the next rows go out.  The
 * tables' columns are read in one pipeline, one round trip whatever their
 * number; with_shape: the shape of the tables (sc->shape) is its first
 * statement - the shape first, then the plans, so DDL in between leaves
 * plans newer than the shape, and the next cycle plans again.
 */
static bool plan_source(SyncRunner *r, int s, bool with_shape, char *err, size_t errlen)
{
    SourceConn *sc = &r->src[s];
    int nt = r->def.ntables, first = with_shape ? 1 : 0, n = first + nt;
    char **sql = xcalloc((size_t)n + 1, sizeof(char *));
    char **param = xcalloc((size_t)n + 1, sizeof(char *));
    PGresult **res = xcalloc((size_t)n + 1, sizeof(PGresult *));
    bool ok = true;

    (void)src_idle(r, s);
    sc->pre_off = false; /* new plans: reading ahead may work again */
    sc->cuts_ready = 0;  /* and their TRUNCATE checks are prepared again */
    free_plans(r, s);
    r->checked = false;
    for (int w = 0; w < r->nwriters; w++)
        r->wchecked[w] = false;
    sc->plans = xcalloc((size_t)nt + 1, sizeof(TablePlan));
    if (with_shape)
        sql[0] = source_shape_sql(r, s);
    for (int t = 0; t < nt; t++) {
        plan_names(r, s, &r->def.tables[t], &sc->plans[t]);
        sql[first + t] = (char *)SQL_COLUMNS;
        param[first + t] = sc->plans[t].qualified;
    }
    pg_pipelined(sc->conn, n, sql, param, res);
    if (with_shape) {
        if (PQresultStatus(res[0]) == PGRES_TUPLES_OK && PQntuples(res[0]) == 1) {
            free(sc->shape);
            sc->shape = xstrdup(PQgetvalue(res[0], 0, 0));
        } else {
            snprintf(err, errlen, "source %s: reading the tables' columns: %s", r->def.sources[s].name,
                     res[0] ? PQresultErrorMessage(res[0]) : PQerrorMessage(sc->conn));
            ok = false;
        }
        free(sql[0]);
    }
    for (int t = 0; ok && t < nt; t++)
        ok = plan_table(r, s, &r->def.tables[t], &sc->plans[t], res[first + t], err, errlen);
    for (int i = 0; i < n; i++)
        PQclear(res[i]);
    free(sql);
    free(param);
    free(res);
    if (!ok)
        free_plans(r, s);
    return ok;
}

const char *runner_begin_sql(SyncRunner *r, int s)
{
    SourceConn *sc = &r->src[s];

    if (sc->begin_sql == NULL) {
        char *shape = source_shape_sql(r, s);
        /* shape is "SELECT (...)": the snapshot goes first. */
        /* isolation_level: SERIALIZABLE sees the same one snapshot, and
         * adds PostgreSQL's checks against the applications' transactions. */
        sc->begin_sql =
            xasprintf("BEGIN ISOLATION LEVEL %s;"
                      " SELECT pg_catalog.pg_current_snapshot()::text, %s",
                      r->def.serializable ? "SERIALIZABLE" : "REPEATABLE READ", shape + strlen("SELECT "));
        free(shape);
    }
    return sc->begin_sql;
}

bool runner_source_shape(SyncRunner *r, int s, const char *shape, char *err, size_t errlen)
{
    SourceConn *sc = &r->src[s];

    if (sc->shape != NULL && strcmp(sc->shape, shape) == 0)
        return true;
    log_info("source %s: the columns of the replicated tables changed; planning them again",
             r->def.sources[s].name);
    free(sc->shape);
    sc->shape = NULL;
    if (!plan_source(r, s, false, err, errlen))
        return false;
    sc->shape = xstrdup(shape);
    return true;
}

bool runner_ensure_catalog(SyncRunner *r)
{
    char reason[512];

    if (r->budget)
        return budget_catalog(r->budget, &r->cat);
    if (r->cat && PQstatus(r->cat) == CONNECTION_OK)
        return true;
    if (r->cat)
        PQfinish(r->cat);
    r->cat = pg_connect_err(&r->catalog_params, reason, sizeof(reason));
    if (r->cat == NULL) {
        log_error("catalog: cannot connect: %s", reason);
        return false;
    }
    /* Recording a cycle locks the sync's row: a command holding it must
     * not hold the sync for ever either. */
    {
        char *lit = pg_quote_literal(r->cat, r->lock_timeout), *set = xasprintf("SET lock_timeout = %s", lit);
        bool ok = pg_exec(r->cat, "catalog", set, 0, NULL);

        free(set);
        free(lit);
        if (!ok) {
            PQfinish(r->cat);
            r->cat = NULL;
        }
    }
    return r->cat != NULL;
}

void runner_attach_catalog(SyncRunner *r, PGconn *cat)
{
    if (r->cat)
        PQfinish(r->cat);
    r->cat = cat;
}

PGconn *runner_release(SyncRunner *r)
{
    PGconn *cat = r->cat;

    for (int s = 0; s < r->def.nsources; s++)
        close_source(r, s);
    for (int w = 0; w < r->nwriters; w++)
        target_send_new(r->writers[w], MSG_DISCONNECT, NULL);
    for (int w = 0; w < r->nwriters; w++)
        (void)target_wait(r->writers[w], NULL, 0);
    r->cat = NULL;
    return cat;
}

/* A pg_snapshot's text, "xmin:xmax:xip,xip,...", parsed. */
typedef struct Snap {
    unsigned long long xmin, xmax;
    unsigned long long *xip;
    int nxip;
} Snap;

static bool snap_parse(const char *text, Snap *s)
{
    char *end;

    memset(s, 0, sizeof(*s));
    if (text == NULL)
        return false;
    s->xmin = strtoull(text, &end, 10);
    if (*end != ':')
        return false;
    s->xmax = strtoull(end + 1, &end, 10);
    if (*end != ':')
        return false;
    for (const char *p = end + 1; *p;) {
        unsigned long long x = strtoull(p, &end, 10);
        if (end == p)
            return false;
        s->xip = xrealloc(s->xip, sizeof(unsigned long long) * (size_t)(s->nxip + 1));
        s->xip[s->nxip++] = x;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return false;
    }
    return true;
}

/* snap_sees - is transaction x committed in s (pg_visible_in_snapshot)? */
static bool snap_sees(const Snap *s, unsigned long long x)
{
    if (x < s->xmin)
        return true;
    if (x >= s->xmax)
        return false;
    for (int i = 0; i < s->nxip; i++)
        if (s->xip[i] == x)
            return false;
    return true;
}

/* Transactions [applied.xmax, cur.xmax) compared one by one at most. */
#define SAW_RANGE_MAX 100000ULL

bool runner_unsettled(const SyncRunner *r)
{
    for (int s = 0; s < r->def.nsources; s++)
        if (r->src[s].tail.count > 0)
            return true;
    return false;
}

void runner_settle(SyncRunner *r)
{
    for (int s = 0; s < r->def.nsources; s++)
        src_settle(r, s);
}

/* applied_index - the source named db, if a cycle completed there; -1. */
static int applied_index(const SyncRunner *r, const char *db)
{
    for (int s = 0; s < r->def.nsources; s++)
        if (strcmp(r->def.sources[s].name, db) == 0)
            return r->applied_snap[s] ? s : -1;
    return -1;
}

bool runner_sees(const SyncRunner *r, const char *db, unsigned long long xid)
{
    Snap a = {0};
    int s = applied_index(r, db);
    bool sees = s >= 0 && snap_parse(r->applied_snap[s], &a) && snap_sees(&a, xid);

    free(a.xip);
    return sees;
}

bool runner_saw(const SyncRunner *r, const char *db, const char *ref, const char *cur)
{
    Snap a = {0}, f = {0}, c = {0};
    bool saw = false;
    int s;

    if ((s = applied_index(r, db)) < 0)
        return false;
    if (snap_parse(r->applied_snap[s], &a) && snap_parse(ref, &f) && snap_parse(cur, &c)) {
        /* Every x with sees(cur) && !sees(ref) must be seen by `applied`;
         * `applied` misses exactly its xip and everything from its xmax. */
        saw = true;
        for (int i = 0; saw && i < a.nxip; i++)
            saw = !(snap_sees(&c, a.xip[i]) && !snap_sees(&f, a.xip[i]));
        if (saw && c.xmax > a.xmax) {
            if (c.xmax - a.xmax > SAW_RANGE_MAX)
                saw = false;
            for (unsigned long long x = a.xmax; saw && x < c.xmax; x++)
                saw = !(snap_sees(&c, x) && !snap_sees(&f, x));
        }
    }
    free(a.xip);
    free(f.xip);
    free(c.xip);
    return saw;
}
