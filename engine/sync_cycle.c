/*
 * engine/sync_cycle.c - one cycle of a delta sync (one source, N targets).
 *
 * How a cycle works:
 *
 *  1. The source opens a REPEATABLE READ transaction and takes its snapshot
 *     `cur`.  The catalog holds `prev`, the snapshot of the last completed
 *     cycle.  The changes of this cycle are the delta rows whose transaction
 *     is visible in cur but was not in prev (PgQ's tick method): a
 *     transaction that was still running at the last cycle is in neither
 *     `prev`-visible set nor skipped - it shows up the first time a snapshot
 *     sees it committed, however late that is.
 *  2. Per table, the distinct changed keys go into a temp table on the
 *     source.  Each target gets the same keys (streamed with COPY into a
 *     temp table of its own), deletes those rows, and receives the current
 *     source rows for those keys by COPY.  A key deleted on the source simply
 *     stays deleted.  Rows travel as COPY text, chunked, never parsed.
 *  3. Every target applies the whole cycle in one transaction, with
 *     session_replication_role = replica.  Only when all targets committed
 *     is the cycle recorded (snapshot + run row, one catalog transaction);
 *     then delta rows every sync reading the source has applied are purged.
 *
 * A crash anywhere before the record re-runs the same changes next time,
 * which is harmless: delete-by-key plus copy of the current row is
 * idempotent.  Nothing is purged before every target committed.
 */
#include "sync_runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "chunk_queue.h"
#include "log.h"
#include "target_writer.h"

static const char SQL_PREV_SNAPSHOT[] =
    "SELECT snapshot::text, clock_timestamp() FROM bucardo.sync_source_state WHERE sync = $1 AND db = $2"
    " UNION ALL SELECT NULL, clock_timestamp() LIMIT 1";
static const char SQL_SAVE_SNAPSHOT[] =
    "INSERT INTO bucardo.sync_source_state (sync, db, snapshot) VALUES ($1, $2, $3::pg_snapshot)"
    " ON CONFLICT (sync, db) DO UPDATE SET snapshot = EXCLUDED.snapshot, updated = now()";
static const char SQL_RECORD_RUN[] =
    "INSERT INTO bucardo.syncrun (sync, started, ended, state, deletes, inserts, error)"
    " VALUES ($1, $2, clock_timestamp(), $3, $4, $5, $6)";
static const char SQL_ONETIMECOPY_DONE[] = "UPDATE bucardo.sync SET onetimecopy = 0 WHERE name = $1";
static const char SQL_PURGE_SNAPSHOTS[] =
    "SELECT NULL::text FROM bucardo.sync s"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = $1"
    " WHERE NOT EXISTS (SELECT 1 FROM bucardo.sync_source_state ss WHERE ss.sync = s.name AND ss.db = $1)"
    " UNION ALL "
    "SELECT ss.snapshot::text FROM bucardo.sync_source_state ss"
    "  JOIN bucardo.sync s ON s.name = ss.sync"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = ss.db"
    " WHERE ss.db = $1";
static const char SQL_COLUMNS[] =
    "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum),"
    "       string_agg('t.' || quote_ident(attname), ', ' ORDER BY attnum) FROM pg_catalog.pg_attribute"
    " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''";

/* Per table, what the runner prepared once per source connection. */
typedef struct TablePlan {
    char *qualified;   /* "schema"."table" */
    char *literal;     /* 'schema.table' as a regclass literal */
    char *delta;       /* bucardo."delta_..." */
    char *columns;     /* quoted column list */
    char *tcolumns;    /* the same, each prefixed with "t." */
    char *keycols;     /* k1, k2 (quoted) */
    char *keydefs;     /* k1 type1, k2 type2 */
    char *keyjoin;     /* t.k1 = k.k1 AND ... */
} TablePlan;

struct SyncRunner {
    SyncDef def;
    ConnParams catalog_params;
    PGconn *cat;
    PGconn *source;
    TablePlan *plans;          /* valid while source is connected */
    TargetWriter **writers;
    ChunkPool *pool;
};

SyncRunner *runner_create(SyncDef *def, const ConnParams *catalog, RunnerLimits limits)
{
    SyncRunner *r = xcalloc(1, sizeof(SyncRunner));

    r->def = *def;
    memset(def, 0, sizeof(*def));
    r->catalog_params = *catalog;
    r->pool = chunk_pool_create(limits.chunks, limits.chunk_size);
    r->writers = xcalloc((size_t)r->def.ntargets, sizeof(TargetWriter *));
    for (int i = 0; i < r->def.ntargets; i++)
        r->writers[i] = writer_start(&r->def.targets[i], r->def.name, r->pool);
    return r;
}

static void free_plans(SyncRunner *r)
{
    if (r->plans == NULL)
        return;
    for (int i = 0; i < r->def.ntables; i++) {
        TablePlan *p = &r->plans[i];
        free(p->qualified);
        free(p->literal);
        free(p->delta);
        free(p->columns);
        free(p->tcolumns);
        free(p->keycols);
        free(p->keydefs);
        free(p->keyjoin);
    }
    free(r->plans);
    r->plans = NULL;
}

static void drop_source(SyncRunner *r)
{
    free_plans(r);
    if (r->source)
        PQfinish(r->source);
    r->source = NULL;
}

void runner_destroy(SyncRunner *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->def.ntargets; i++)
        writer_stop(r->writers[i]);
    free(r->writers);
    drop_source(r);
    if (r->cat)
        PQfinish(r->cat);
    chunk_pool_destroy(r->pool);
    syncdef_free(&r->def);
    free(r);
}

const SyncDef *runner_def(const SyncRunner *r)
{
    return &r->def;
}

/* plan_table - the quoted SQL fragments of one table, for this connection. */
static bool plan_table(SyncRunner *r, const TableDef *t, TablePlan *p, char *err, size_t errlen)
{
    StrBuf cols, defs, join;
    char *delta = capture_object_name("delta", t);
    char *qdelta = pg_quote_ident(r->source, delta);
    const char *params[1];
    PGresult *res;

    p->qualified = table_qualified(r->source, t);
    p->literal = pg_quote_literal(r->source, p->qualified);
    p->delta = xasprintf("bucardo.%s", qdelta);
    free(delta);
    free(qdelta);
    params[0] = p->qualified;
    res = PQexecParams(r->source, SQL_COLUMNS, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQgetisnull(res, 0, 0)) {
        snprintf(err, errlen, "source %s: table %s: cannot read its columns: %s", r->def.sources[0].name,
                 p->qualified, PQerrorMessage(r->source));
        PQclear(res);
        return false;
    }
    p->columns = xstrdup(PQgetvalue(res, 0, 0));
    p->tcolumns = xstrdup(PQgetvalue(res, 0, 1));
    PQclear(res);
    strbuf_init(&cols);
    strbuf_init(&defs);
    strbuf_init(&join);
    for (int k = 0; k < t->nkeys; k++) {
        char *q = pg_quote_ident(r->source, t->keycols[k]);
        strbuf_printf(&cols, "%s%s", k ? ", " : "", q);
        strbuf_printf(&defs, "%s%s %s", k ? ", " : "", q, t->keytypes[k]);
        strbuf_printf(&join, "%st.%s = k.%s", k ? " AND " : "", q, q);
        free(q);
    }
    p->keycols = cols.data;
    p->keydefs = defs.data;
    p->keyjoin = join.data;
    return true;
}

/* ensure_source - connect to the source, LISTEN, plan every table. */
static bool ensure_source(SyncRunner *r, char *err, size_t errlen)
{
    const DbInfo *src = &r->def.sources[0];
    ConnParams cp;

    if (r->source && PQstatus(r->source) == CONNECTION_OK)
        return true;
    drop_source(r);
    cp = dbinfo_params(src);
    {
        char reason[512];
        r->source = pg_connect_err(&cp, reason, sizeof(reason));
        if (r->source == NULL) {
            snprintf(err, errlen, "source %s: cannot connect: %s", src->name, reason);
            return false;
        }
    }
    if (r->def.autokick) {
        PGresult *res = PQexec(r->source, "LISTEN " CAPTURE_CHANNEL);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            snprintf(err, errlen, "source %s: LISTEN failed: %s", src->name, PQerrorMessage(r->source));
            drop_source(r);
            return false;
        }
    }
    r->plans = xcalloc((size_t)r->def.ntables, sizeof(TablePlan));
    for (int i = 0; i < r->def.ntables; i++)
        if (!plan_table(r, &r->def.tables[i], &r->plans[i], err, errlen)) {
            drop_source(r);
            return false;
        }
    log_info("connected to source %s", src->name);
    return true;
}

/* ensure_catalog - the runner's own catalog connection, reconnected when lost. */
static bool ensure_catalog(SyncRunner *r)
{
    if (r->cat && PQstatus(r->cat) == CONNECTION_OK)
        return true;
    if (r->cat)
        PQfinish(r->cat);
    {
        char reason[512];
        r->cat = pg_connect_err(&r->catalog_params, reason, sizeof(reason));
        if (r->cat == NULL)
            log_error("catalog: cannot connect: %s", reason);
    }
    return r->cat != NULL;
}

int runner_notify_socket(SyncRunner *r)
{
    return r->source && r->def.autokick ? PQsocket(r->source) : -1;
}

bool runner_consume_notifies(SyncRunner *r)
{
    PGnotify *n;
    bool any = false;

    if (r->source == NULL)
        return false;
    if (!PQconsumeInput(r->source)) {
        drop_source(r);  /* reconnect at the next cycle */
        return true;     /* and run one to find out */
    }
    while ((n = PQnotifies(r->source)) != NULL) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

/* src_exec - a statement on the source; on error fill err with context. */
static PGresult *src_query(SyncRunner *r, const char *what, const char *sql, ExecStatusType expect, char *err,
                           size_t errlen)
{
    PGresult *res = PQexec(r->source, sql);

    if (PQresultStatus(res) != expect) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", primary ? primary : PQerrorMessage(r->source));
        for (size_t n = strlen(msg); n > 0 && msg[n - 1] == '\n'; n--)
            msg[n - 1] = '\0';
        snprintf(err, errlen, "source %s: %s: %s%s%s%s", r->def.sources[0].name, what, msg,
                 state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
        PQclear(res);
        return NULL;
    }
    return res;
}

/* send_chunk - hand one filled chunk to the n writers marked in `to`. */
static void send_chunk(SyncRunner *r, Chunk *chunk, const bool *to, int n)
{
    atomic_store(&chunk->refs, n);
    for (int i = 0; i < r->def.ntargets; i++)
        if (to[i])
            writer_send(r->writers[i], msg_new(MSG_DATA, NULL, chunk));
}

/* send_all - the same statement to every writer marked in `to`. */
static void send_all(SyncRunner *r, MsgType type, const char *sql, const bool *to)
{
    for (int i = 0; i < r->def.ntargets; i++)
        if (to == NULL || to[i])
            writer_send_new(r->writers[i], type, sql);
}

/*
 * stream - run `copy_out` (COPY ... TO STDOUT) on the source and feed every
 * writer `copy_in` (COPY ... FROM STDIN) with the same bytes, chunk by
 * chunk, for the writers marked in `to`.  Each chunk is shared by them
 * (refcount), and the pool
 * bounds how far the source can run ahead of the slowest target.
 */
static bool stream(SyncRunner *r, const char *what, const char *copy_out, const char *copy_in, bool count,
                   const bool *to, char *err, size_t errlen)
{
    int nw = 0;
    size_t cap = chunk_pool_chunk_size(r->pool);
    Chunk *chunk = NULL;
    PGresult *res;
    char *buf;
    int len;
    bool ok = true;

    for (int i = 0; i < r->def.ntargets; i++) {
        Msg *m;
        if (!to[i])
            continue;
        m = msg_new(MSG_COPY_BEGIN, copy_in, NULL);
        m->count = count;
        writer_send(r->writers[i], m);
        nw++;
    }
    res = src_query(r, what, copy_out, PGRES_COPY_OUT, err, errlen);
    if (res == NULL)
        ok = false;
    PQclear(res);
    while (ok && (len = PQgetCopyData(r->source, &buf, 0)) > 0) {
        size_t off = 0;
        /* A row may span chunks: COPY FROM accepts data split anywhere. */
        while (off < (size_t)len) {
            size_t n;
            if (chunk == NULL)
                chunk = chunk_get(r->pool);
            n = cap - chunk->len < (size_t)len - off ? cap - chunk->len : (size_t)len - off;
            memcpy(chunk->data + chunk->len, buf + off, n);
            chunk->len += n;
            off += n;
            if (chunk->len == cap) {
                send_chunk(r, chunk, to, nw);
                chunk = NULL;
            }
        }
        PQfreemem(buf);
    }
    if (ok) {
        if (len == -2) {
            snprintf(err, errlen, "source %s: %s: %s", r->def.sources[0].name, what, PQerrorMessage(r->source));
            ok = false;
        }
        while ((res = PQgetResult(r->source)) != NULL) {
            if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
                snprintf(err, errlen, "source %s: %s: %s", r->def.sources[0].name, what,
                         PQresultErrorMessage(res));
                ok = false;
            }
            PQclear(res);
        }
    }
    if (chunk != NULL) {
        if (chunk->len > 0 && ok) {
            send_chunk(r, chunk, to, nw);
        } else {
            atomic_store(&chunk->refs, 1);
            chunk_release(r->pool, chunk);
        }
    }
    for (int i = 0; i < r->def.ntargets; i++)
        if (to[i])
            writer_send_new(r->writers[i], MSG_COPY_END, NULL);
    return ok;
}

/* Snapshot visibility conditions of a cycle (literals quoted for the source). */
static char *changed_since(SyncRunner *r, const char *xid_col, const char *cur, const char *prev)
{
    char *qc = pg_quote_literal(r->source, cur);
    char *out;

    if (prev == NULL) {
        out = xasprintf("pg_visible_in_snapshot(%s, %s::pg_snapshot)", xid_col, qc);
    } else {
        char *qp = pg_quote_literal(r->source, prev);
        out = xasprintf("pg_visible_in_snapshot(%s, %s::pg_snapshot)"
                        " AND NOT pg_visible_in_snapshot(%s, %s::pg_snapshot)",
                        xid_col, qc, xid_col, qp);
        free(qp);
    }
    free(qc);
    return out;
}

/*
 * collect_keys - per table, the changed keys into temp table bucardo_k<i>
 * on the source; nkeys[i] their count, truncated[i] whether a TRUNCATE of
 * the table is among the changes.
 */
static bool collect_keys(SyncRunner *r, const char *cur, const char *prev, long *nkeys, bool *truncated,
                         char *err, size_t errlen)
{
    char *cond = changed_since(r, "txid", cur, prev);
    bool ok = true;

    for (int i = 0; ok && i < r->def.ntables; i++) {
        TablePlan *p = &r->plans[i];
        char *sql;

        if (r->def.tables[i].nkeys == 0)
            continue;  /* no capture: fullcopy targets only */
        sql = xasprintf("CREATE TEMP TABLE bucardo_k%d ON COMMIT DROP AS"
                              " SELECT DISTINCT %s FROM %s WHERE %s",
                              i, p->keycols, p->delta, cond);
        PGresult *res = src_query(r, p->qualified, sql, PGRES_COMMAND_OK, err, errlen);

        free(sql);
        if (res == NULL) {
            ok = false;
            break;
        }
        nkeys[i] = atol(PQcmdTuples(res));
        PQclear(res);
        sql = xasprintf("SELECT EXISTS (SELECT 1 FROM bucardo.truncate_log"
                        " WHERE relid = %s::regclass AND %s)",
                        p->literal, cond);
        res = src_query(r, p->qualified, sql, PGRES_TUPLES_OK, err, errlen);
        free(sql);
        if (res == NULL) {
            ok = false;
            break;
        }
        truncated[i] = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
    }
    free(cond);
    return ok;
}

/* apply_table - send table i's changes to every writer. */
static bool apply_table(SyncRunner *r, int i, long nkeys, bool truncated, const bool *to, char *err,
                        size_t errlen)
{
    TablePlan *p = &r->plans[i];
    char *sql, *out, *in;
    bool ok;

    if (truncated) {
        sql = xasprintf("TRUNCATE %s", p->qualified);
        send_all(r, MSG_EXEC, sql, to);
        free(sql);
    }
    if (nkeys == 0)
        return true;
    sql = xasprintf("CREATE TEMP TABLE bucardo_k%d (%s) ON COMMIT DROP", i, p->keydefs);
    send_all(r, MSG_EXEC, sql, to);
    free(sql);
    out = xasprintf("COPY (SELECT %s FROM pg_temp.bucardo_k%d) TO STDOUT", p->keycols, i);
    in = xasprintf("COPY pg_temp.bucardo_k%d (%s) FROM STDIN", i, p->keycols);
    ok = stream(r, p->qualified, out, in, false, to, err, errlen);
    free(out);
    free(in);
    if (!ok)
        return false;
    sql = xasprintf("DELETE FROM %s t USING pg_temp.bucardo_k%d k WHERE %s", p->qualified, i, p->keyjoin);
    send_all(r, MSG_EXEC, sql, to);
    free(sql);
    out = xasprintf("COPY (SELECT %s FROM %s t JOIN pg_temp.bucardo_k%d k ON %s) TO STDOUT", p->tcolumns,
                    p->qualified, i, p->keyjoin);
    in = xasprintf("COPY %s (%s) FROM STDIN", p->qualified, p->columns);
    ok = stream(r, p->qualified, out, in, true, to, err, errlen);
    free(out);
    free(in);
    return ok;
}

/*
 * copy_table - replace table i's contents on the writers marked in `to`
 * with the source's rows as of the cycle's snapshot.  TRUNCATE and COPY in
 * one transaction let COPY FREEZE skip later hint-bit and freeze work.
 * Because the copy reads the same snapshot the cycle's deltas are cut at,
 * every change visible in it is in the copy, and every later one is a
 * delta of a later cycle: nothing is lost or applied twice out of order.
 */
static bool copy_table(SyncRunner *r, int i, const bool *to, char *err, size_t errlen)
{
    TablePlan *p = &r->plans[i];
    char *sql = xasprintf("TRUNCATE %s", p->qualified), *out, *in;
    bool ok;

    send_all(r, MSG_EXEC, sql, to);
    free(sql);
    out = xasprintf("COPY (SELECT %s FROM %s) TO STDOUT", p->columns, p->qualified);
    in = xasprintf("COPY %s (%s) FROM STDIN (FREEZE)", p->qualified, p->columns);
    ok = stream(r, p->qualified, out, in, true, to, err, errlen);
    free(out);
    free(in);
    if (ok && r->def.analyze_after_copy) {
        sql = xasprintf("ANALYZE %s", p->qualified);
        send_all(r, MSG_EXEC, sql, to);
        free(sql);
    }
    return ok;
}

/*
 * plan_copies - per table and target, whether this cycle copies the whole
 * table there (copy[i * ntargets + w]): fullcopy targets always,
 * onetimecopy=1 every target, onetimecopy=2 targets where it is empty (asked
 * of the writers, whose transactions are already open).
 */
static bool plan_copies(SyncRunner *r, bool *copy, char *err, size_t errlen)
{
    int nt = r->def.ntargets;

    for (int i = 0; i < r->def.ntables; i++) {
        for (int w = 0; w < nt; w++)
            copy[i * nt + w] = r->def.fullcopy[w] || r->def.onetimecopy == 1;
        if (r->def.onetimecopy != 2)
            continue;
        send_all(r, MSG_CHECK_EMPTY, r->plans[i].qualified, NULL);
        send_all(r, MSG_BARRIER, NULL, NULL);
        for (int w = 0; w < nt; w++) {
            if (!writer_wait(r->writers[w], err, errlen))
                return false;
            copy[i * nt + w] = copy[i * nt + w] || writer_table_empty(r->writers[w]);
        }
    }
    return true;
}

/* purge - delete delta rows that every sync reading this source has applied. */
static void purge(SyncRunner *r)
{
    const char *params[1] = {r->def.sources[0].name};
    PGresult *res = pg_query(r->cat, "catalog", SQL_PURGE_SNAPSHOTS, 1, params);
    StrBuf cond;

    if (res == NULL)
        return;
    strbuf_init(&cond);
    for (int i = 0; i < PQntuples(res); i++) {
        char *lit;
        if (PQgetisnull(res, i, 0)) {  /* a sync that never completed a cycle still needs them */
            strbuf_free(&cond);
            PQclear(res);
            return;
        }
        lit = pg_quote_literal(r->source, PQgetvalue(res, i, 0));
        strbuf_printf(&cond, "%spg_visible_in_snapshot(txid, %s::pg_snapshot)", i ? " AND " : "", lit);
        free(lit);
    }
    PQclear(res);
    if (cond.len > 0) {
        for (int i = 0; i < r->def.ntables; i++) {
            char *sql = xasprintf("DELETE FROM %s WHERE %s", r->plans[i].delta, cond.data);
            PGresult *d = PQexec(r->source, sql);
            if (PQresultStatus(d) != PGRES_COMMAND_OK)
                log_warn("source %s: table %s: purging applied changes failed: %s", r->def.sources[0].name,
                         r->plans[i].qualified, PQresultErrorMessage(d));
            PQclear(d);
            free(sql);
        }
        {
            char *sql = xasprintf("DELETE FROM bucardo.truncate_log WHERE %s", cond.data);
            PGresult *d = PQexec(r->source, sql);
            PQclear(d);
            free(sql);
        }
    }
    strbuf_free(&cond);
}

/* record - the run row (and, when good, the new snapshot) in one transaction. */
static bool record(SyncRunner *r, const char *started, const char *state, long deletes, long inserts,
                   const char *error, const char *snapshot, bool copied)
{
    char d[32], in[32];
    const char *run[6] = {r->def.name, started, state, d, in, error};
    const char *snap[3] = {r->def.name, r->def.sources[0].name, snapshot};
    bool ok;

    snprintf(d, sizeof(d), "%ld", deletes);
    snprintf(in, sizeof(in), "%ld", inserts);
    ok = pg_exec(r->cat, "catalog", "BEGIN", 0, NULL) &&
         (snapshot == NULL || pg_exec(r->cat, "catalog", SQL_SAVE_SNAPSHOT, 3, snap)) &&
         (state == NULL || pg_exec(r->cat, "catalog", SQL_RECORD_RUN, 6, run)) &&
         (!copied || pg_exec(r->cat, "catalog", SQL_ONETIMECOPY_DONE, 1, run)) &&
         pg_exec(r->cat, "catalog", "COMMIT", 0, NULL);
    if (!ok) {
        PGresult *res = PQexec(r->cat, "ROLLBACK");
        PQclear(res);
        log_error("could not record the cycle in the catalog");
    }
    return ok;
}

static void rollback_all(SyncRunner *r)
{
    for (int w = 0; w < r->def.ntargets; w++)
        writer_send_new(r->writers[w], MSG_ROLLBACK, NULL);
    for (int w = 0; w < r->def.ntargets; w++)
        (void)writer_wait(r->writers[w], NULL, 0);
    if (r->source && PQstatus(r->source) == CONNECTION_OK) {
        PGresult *res = PQexec(r->source, "ROLLBACK");
        PQclear(res);
    } else {
        drop_source(r);
    }
}

CycleResult runner_cycle(SyncRunner *r, bool explicit_kick, char *err, size_t errlen)
{
    const char *params[2] = {r->def.name, NULL};
    char *prev = NULL, *cur = NULL, *started = NULL;
    long *nkeys = NULL, deletes = 0, inserts = 0, total = 0;
    bool *truncated = NULL, any_truncate = false, copy_cycle = r->def.onetimecopy > 0;
    bool *copy = NULL, *delta_to = NULL;
    PGresult *res;
    CycleResult result = CYCLE_FAILED;

    err[0] = '\0';
    if (r->def.nsources != 1) {
        snprintf(err, errlen, "sync %s: multi-source syncs are not supported by this engine yet", r->def.name);
        return CYCLE_FAILED;
    }
    if (!ensure_catalog(r)) {
        snprintf(err, errlen, "catalog: cannot connect");
        return CYCLE_FAILED;
    }
    if (!ensure_source(r, err, errlen))
        goto fail_record;
    params[1] = r->def.sources[0].name;
    res = pg_query(r->cat, "catalog", SQL_PREV_SNAPSHOT, 2, params);
    if (res == NULL) {
        snprintf(err, errlen, "catalog: cannot read the sync's last snapshot");
        return CYCLE_FAILED;
    }
    prev = PQgetisnull(res, 0, 0) ? NULL : xstrdup(PQgetvalue(res, 0, 0));
    started = xstrdup(PQgetvalue(res, 0, 1));
    PQclear(res);

    res = src_query(r, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ", PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        goto fail;
    PQclear(res);
    res = src_query(r, "snapshot", "SELECT pg_current_snapshot()::text", PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto fail;
    cur = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);

    nkeys = xcalloc((size_t)r->def.ntables, sizeof(long));
    truncated = xcalloc((size_t)r->def.ntables, sizeof(bool));
    if (!collect_keys(r, cur, prev, nkeys, truncated, err, errlen))
        goto fail;
    for (int i = 0; i < r->def.ntables; i++) {
        total += nkeys[i];
        any_truncate |= truncated[i];
    }
    for (int w = 0; w < r->def.ntargets; w++)
        copy_cycle |= r->def.fullcopy[w];
    if (total == 0 && !any_truncate && !copy_cycle) {
        res = PQexec(r->source, "ROLLBACK");
        PQclear(res);
        /* Nothing new is visible up to cur: the next cycle may start there. */
        record(r, started, explicit_kick ? "Good" : NULL, 0, 0, NULL, cur, false);
        result = CYCLE_EMPTY;
        goto out;
    }

    send_all(r, MSG_BEGIN, NULL, NULL);
    copy = xcalloc((size_t)(r->def.ntables * r->def.ntargets), sizeof(bool));
    delta_to = xcalloc((size_t)r->def.ntargets, sizeof(bool));
    if (copy_cycle && !plan_copies(r, copy, err, errlen))
        goto fail_targets;
    for (int i = 0; i < r->def.ntables; i++) {
        bool *copy_to = &copy[i * r->def.ntargets], any_copy = false;
        for (int w = 0; w < r->def.ntargets; w++) {
            delta_to[w] = !copy_to[w] && !r->def.fullcopy[w];
            any_copy |= copy_to[w];
        }
        if (any_copy && !copy_table(r, i, copy_to, err, errlen))
            goto fail_targets;
        if (!apply_table(r, i, nkeys[i], truncated[i], delta_to, err, errlen))
            goto fail_targets;
    }
    for (int w = 0; w < r->def.ntargets; w++)
        writer_send_new(r->writers[w], MSG_BARRIER, NULL);
    {
        bool all_ok = true;
        for (int w = 0; w < r->def.ntargets; w++)
            if (!writer_wait(r->writers[w], all_ok ? err : NULL, errlen))
                all_ok = false;
        if (!all_ok)
            goto fail_targets;
    }
    for (int w = 0; w < r->def.ntargets; w++)
        writer_send_new(r->writers[w], MSG_COMMIT, NULL);
    for (int w = 0; w < r->def.ntargets; w++) {
        long d, ins;
        if (!writer_wait(r->writers[w], err[0] ? NULL : err, errlen) && !err[0])
            snprintf(err, errlen, "target %s: commit failed", writer_db_name(r->writers[w]));
        writer_counts(r->writers[w], &d, &ins);
        deletes = d > deletes ? d : deletes;
        inserts = ins > inserts ? ins : inserts;
    }
    if (err[0]) {
        /* Some targets may have committed: the next cycle re-applies the same
         * changes to all of them, which is harmless. */
        res = PQexec(r->source, "ROLLBACK");
        PQclear(res);
        goto fail_record;
    }
    res = PQexec(r->source, "COMMIT");
    PQclear(res);
    if (!record(r, started, "Good", deletes, inserts, NULL, cur, copy_cycle)) {
        snprintf(err, errlen, "catalog: cannot record the cycle");
        result = CYCLE_FAILED;
        goto out;
    }
    purge(r);
    if (copy_cycle && r->def.onetimecopy > 0) {
        log_info("onetimecopy %d done; back to deltas", r->def.onetimecopy);
        r->def.onetimecopy = 0;
    }
    log_info("applied %ld change(s): %ld deleted, %ld inserted", total, deletes, inserts);
    result = CYCLE_DONE;
    goto out;

fail_targets:
    if (!err[0])
        snprintf(err, errlen, "sync %s: a target failed", r->def.name);
fail:
    rollback_all(r);
fail_record:
    if (!err[0])
        snprintf(err, errlen, "sync %s: cycle failed", r->def.name);
    log_error("%s", err);
    if (ensure_catalog(r))
        record(r, started ? started : "now", "Bad", 0, 0, err, NULL, false);
    result = CYCLE_FAILED;
out:
    free(prev);
    free(cur);
    free(started);
    free(nkeys);
    free(truncated);
    free(copy);
    free(delta_to);
    return result;
}
