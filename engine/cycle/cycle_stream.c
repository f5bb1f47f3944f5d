/*
 * engine/cycle/cycle_stream.c - moving COPY data from a source to writers.
 *
 * stream() runs "COPY ... TO STDOUT" on one source and feeds the same bytes
 * to "COPY ... FROM STDIN" on every chosen writer, chunk by chunk.  Rows
 * are copied into fixed-size chunks as libpq hands them over and are never
 * split into fields; a row may span two chunks, which COPY FROM accepts.
 * A chunk is shared by all chosen writers (reference count), and the pool
 * bounds how far the source can run ahead of the slowest writer: memory is
 * chunks x chunk size, whatever the table size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "runner_internal.h"

/* Copy libpq's message without trailing newlines into buf. */
static void message(char *buf, size_t len, const char *text)
{
    snprintf(buf, len, "%s", text ? text : "unknown error");
    for (size_t n = strlen(buf); n > 0 && buf[n - 1] == '\n'; n--)
        buf[n - 1] = '\0';
}

/*
 * source_error - err: "source DB: WHAT: message (SQLSTATE xxxxx)" for a
 * failed result on a source (res NULL: none came).  A delta table that
 * does not exist (a table added to the sync's relgroup, then reloaded
 * without `validate`) says what puts it there.
 */
static void source_error(char *err, size_t errlen, const char *db, const char *what, const PGresult *res,
                         PGconn *conn)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *text = primary                               ? primary
                       : res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                       : PQerrorMessage(conn)[0]             ? PQerrorMessage(conn)
                                                             : "no result";
    bool no_capture = state && strcmp(state, "42P01") == 0 && strstr(text, "\"bucardo.delta_") != NULL;
    char msg[512];

    message(msg, sizeof(msg), text);
    snprintf(err, errlen, "source %s: %s: %s%s%s%s%s", db, what, msg, state ? " (SQLSTATE " : "",
             state ? state : "", state ? ")" : "",
             no_capture ? "; the table's change capture is not installed there: run 'bucardo validate' for "
                          "this sync"
                        : "");
}

/* query - run sql on a source; on error fill err naming the source. */
static PGresult *query(PGconn *conn, const char *dbname, const char *what, const char *sql,
                       ExecStatusType expect, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);

    if (PQresultStatus(res) != expect) {
        source_error(err, errlen, dbname, what, res, conn);
        PQclear(res);
        return NULL;
    }
    return res;
}

PGresult *src_query(SyncRunner *r, int s, const char *what, const char *sql, ExecStatusType expect, char *err,
                    size_t errlen)
{
    (void)src_idle(r, s); /* a failure there shows as this statement's */
    return query(r->src[s].conn, r->def.sources[s].name, what, sql, expect, err, errlen);
}

bool src_copy_in(SyncRunner *r, int s, const char *what, const char *copy_in, const StrBuf *data, char *err,
                 size_t errlen)
{
    PGconn *conn = r->src[s].conn;
    PGresult *res = src_query(r, s, what, copy_in, PGRES_COPY_IN, err, errlen);
    bool ok = res != NULL;

    PQclear(res);
    if (!ok)
        return false;
    if (PQputCopyData(conn, data->data, (int)data->len) != 1 || PQputCopyEnd(conn, NULL) != 1) {
        char msg[512];
        message(msg, sizeof(msg), PQerrorMessage(conn));
        snprintf(err, errlen, "source %s: %s: %s", r->def.sources[s].name, what, msg);
        ok = false;
    }
    /* Every result is read, also after an error, so the connection is free. */
    while ((res = PQgetResult(conn)) != NULL) {
        if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
            char msg[512];
            message(msg, sizeof(msg), PQresultErrorMessage(res));
            snprintf(err, errlen, "source %s: %s: %s", r->def.sources[s].name, what, msg);
            ok = false;
        }
        PQclear(res);
    }
    return ok;
}

static bool batch(SyncRunner *r, int s, int n, const SrcStatement *st, const char *then, PGresult **results,
                  int *failed, char *err, size_t errlen)
{
    PGconn *conn = r->src[s].conn;
    StrBuf sql;
    PGresult *res;
    bool ok;
    int i = 0, setup = 0;

    (void)src_idle(r, s);
    *failed = n;
    strbuf_init(&sql);
    for (int k = 0; k < n; k++)
        strbuf_printf(&sql, "%s%s", k ? "; " : "", st[k].sql);
    if (then)
        strbuf_printf(&sql, "; %s", then);
    ok = PQsendQuery(conn, sql.data) == 1;
    strbuf_free(&sql);
    if (!ok) {
        char msg[512];
        message(msg, sizeof(msg), PQerrorMessage(conn));
        snprintf(err, errlen, "source %s: %s: %s", r->def.sources[s].name, n ? st[0].what : "batch", msg);
        return false;
    }
    /* One result per statement; after an error the rest are skipped.
     * `then`'s results stay on the connection. */
    while (!(ok && then && i == n) && (res = PQgetResult(conn)) != NULL) {
        if (ok && i < n && setup < st[i].extra && PQresultStatus(res) == PGRES_COMMAND_OK) {
            setup++;
            PQclear(res);
            continue;
        }
        if (ok && i < n && PQresultStatus(res) == st[i].expect) {
            results[i++] = res;
            setup = 0;
            continue;
        }
        if (ok) {
            source_error(err, errlen, r->def.sources[s].name, i < n ? st[i].what : "batch", res, conn);
            *failed = i;
            ok = false;
        }
        PQclear(res);
    }
    if (ok && i < n) {
        snprintf(err, errlen, "source %s: %s: no result", r->def.sources[s].name, st[i].what);
        ok = false;
    }
    if (ok)
        *failed = -1;
    else
        while (i > 0)
            PQclear(results[--i]);
    return ok;
}

bool src_batch(SyncRunner *r, int s, int n, const SrcStatement *st, PGresult **results, char *err,
               size_t errlen)
{
    int failed;

    return batch(r, s, n, st, NULL, results, &failed, err, errlen);
}

bool src_batch_at(SyncRunner *r, int s, int n, const SrcStatement *st, PGresult **results, int *failed,
                  char *err, size_t errlen)
{
    return batch(r, s, n, st, NULL, results, failed, err, errlen);
}

bool src_batch_then(SyncRunner *r, int s, int n, const SrcStatement *st, const char *then, PGresult **results,
                    int *failed, char *err, size_t errlen)
{
    return batch(r, s, n, st, then, results, failed, err, errlen);
}

/* pre_drop_one - read and drop the next result on conn (a COPY out: its
 * data too); false when it is an error, or missing: *msg says which. */
static bool pre_drop_one(PGconn *conn, char *msg, size_t msglen)
{
    PGresult *res = PQgetResult(conn);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COPY_OUT || st == PGRES_COMMAND_OK;

    if (!ok)
        message(msg, msglen, res ? PQresultErrorMessage(res) : "no result");
    PQclear(res);
    if (st == PGRES_COPY_OUT) {
        char *buf;
        int len;
        while ((len = PQgetCopyData(conn, &buf, 0)) > 0)
            PQfreemem(buf);
        res = PQgetResult(conn); /* the COPY's own result */
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            message(msg, msglen, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
            ok = false;
        }
        PQclear(res);
    }
    return ok;
}

/* pre_forget - nothing sent ahead is pending on source s any more. */
static void pre_forget(SourceConn *sc)
{
    free(sc->pre_sql);
    free(sc->pre_tab);
    sc->pre_sql = NULL;
    sc->pre_tab = NULL;
    sc->pre_n = sc->pre_next = 0;
    sc->pre_used = false;
}

bool src_idle(SyncRunner *r, int s)
{
    SourceConn *sc = &r->src[s];
    char msg[512] = "";
    bool ok = true;
    PGresult *res;

    if (sc->pre_sql == NULL)
        return true;
    if (sc->conn == NULL || PQtransactionStatus(sc->conn) != PQTRANS_ACTIVE) {
        pre_forget(sc); /* already read, with a failed stream (drain_source) */
        return true;
    }
    /* Two results per pair, then the end of the string.  After an error
     * the server skipped the rest: only the end is left. */
    for (int i = sc->pre_next; ok && i < sc->pre_n; i++)
        ok = pre_drop_one(sc->conn, msg, sizeof(msg)) && pre_drop_one(sc->conn, msg, sizeof(msg));
    while ((res = PQgetResult(sc->conn)) != NULL) {
        bool copy = PQresultStatus(res) == PGRES_COPY_OUT;
        PQclear(res);
        if (copy) { /* not expected: the pairs are counted; read it anyway */
            char *buf;
            while (PQgetCopyData(sc->conn, &buf, 0) > 0)
                PQfreemem(buf);
        }
    }
    if (!ok) {
        log_warn("source %s: the changed rows read ahead with the cycle's BEGIN: %s; not read ahead on this "
                 "connection any more",
                 r->def.sources[s].name, msg);
        sc->pre_off = true;
    }
    pre_forget(sc);
    return ok;
}

bool src_pre_skip(SyncRunner *r, int s, int t, char *err, size_t errlen)
{
    SourceConn *sc = &r->src[s];
    char msg[512] = "";

    while (sc->pre_next < sc->pre_n && sc->pre_tab[sc->pre_next] < t) {
        if (!pre_drop_one(sc->conn, msg, sizeof(msg)) || !pre_drop_one(sc->conn, msg, sizeof(msg))) {
            snprintf(err, errlen, "source %s: reading ahead: %s", r->def.sources[s].name, msg);
            (void)src_idle(r, s);
            return false;
        }
        sc->pre_next++;
    }
    if (sc->pre_next >= sc->pre_n || sc->pre_tab[sc->pre_next] != t) {
        snprintf(err, errlen, "source %s: the rows read ahead do not include table %s",
                 r->def.sources[s].name, r->src[s].plans[t].display);
        (void)src_idle(r, s);
        return false;
    }
    sc->pre_next++; /* the caller streams this one */
    return true;
}

/* pg_statement - a message carrying a PostgreSQL statement: targets of
 * other kinds (target_driver.h) are never sent one. */
static bool pg_statement(MsgType type)
{
    return type == MSG_EXEC || type == MSG_QUERY || type == MSG_CHECK;
}

void send_all(SyncRunner *r, MsgType type, const char *sql, const bool *to)
{
    for (int i = 0; i < r->nwriters; i++)
        if ((to == NULL ? r->online[i] : to[i]) && (writer_is_pg(r, i) || !pg_statement(type)))
            target_send_new(r->writers[i], type, sql);
}

void send_table(SyncRunner *r, MsgType type, const char *prefix, const TablePlan *p, const char *suffix,
                const bool *to)
{
    StrBuf sql;

    strbuf_init(&sql);
    for (int i = 0; i < r->nwriters; i++) {
        if (to == NULL ? !r->online[i] : !to[i])
            continue;
        if (!writer_is_pg(r, i)) {
            /* Another kind of target: only EMPTY, as its table operation. */
            if (type == MSG_EMPTY)
                target_send_new(r->writers[i], type, p->wempty[i]);
            continue;
        }
        strbuf_reset(&sql);
        strbuf_append(&sql, prefix);
        if (type != MSG_EMPTY) /* the writer decides for EMPTY (target_writer.c) */
            strbuf_append(&sql, writer_only(r, p, i));
        strbuf_append(&sql, p->wtable[i]);
        strbuf_append(&sql, suffix);
        target_send_new(r->writers[i], type, sql.data);
    }
    strbuf_free(&sql);
}

bool makedelta_writers(const SyncRunner *r, int t, const bool *to, bool *md)
{
    bool any = false;

    for (int w = 0; w < r->nwriters; w++) {
        md[w] = to[w] && table_makedelta(&r->def.tables[t], writer_dbinfo(r, w));
        any |= md[w];
    }
    return any;
}

/*
 * send_makedelta - on the writers in `to` whose database has makedelta set
 * (none: nothing is sent), record in that database's own delta table of
 * table p (when it has one: it is the source of another sync) the keys of
 * the rows `select_prefix` + the writer's table name + `select_suffix`
 * returns (key columns named as the table's, other columns ignored), and
 * wake its engine when there are any, so the change cascades.  The insert runs in the writer's transaction,
 * so the keys carry its xid.  The dollar-quote tag is ours; quoted identifiers cannot end it early unless
 * they contain that exact tag.
 */
void send_makedelta(SyncRunner *r, int s, const TablePlan *p, const char *select_prefix,
                    const char *select_suffix, const bool *to)
{
    bool *md = xcalloc((size_t)r->nwriters + 1, sizeof(bool));
    char *lit, *prefix, *suffix;

    if (!makedelta_writers(r, p->index, to, md)) {
        free(md);
        return;
    }
    lit = pg_quote_literal(r->src[s].conn, p->delta);
    prefix = xasprintf("DO $bucardo_makedelta$ BEGIN"
                       " IF to_regclass(%s) IS NOT NULL THEN"
                       " INSERT INTO %s (%s) SELECT %s FROM (%s",
                       lit, p->delta, p->keycols, p->keycols, select_prefix);
    suffix = xasprintf("%s) AS changed;"
                       " IF FOUND THEN PERFORM pg_notify('bucardo', ''); END IF;"
                       " END IF; END $bucardo_makedelta$",
                       select_suffix);

    send_table(r, MSG_EXEC, prefix, p, suffix, md);
    free(md);
    free(prefix);
    free(suffix);
    free(lit);
}

/* send_chunk - hand one filled chunk to the n writers that take the COPY. */
static void send_chunk(const CopyPipe *pipe, Chunk *chunk, int n)
{
    atomic_store(&chunk->refs, n);
    for (int i = 0; i < pipe->nwriters; i++)
        if (pipe->copy_in[i])
            target_send(pipe->writers[i], msg_new(MSG_DATA, NULL, chunk));
}

/* pipe_for - a CopyPipe from source s to every writer of the unit. */
static CopyPipe pipe_for(SyncRunner *r, int s, char *const *copy_in)
{
    CopyPipe pipe = {
        .src = r->src[s].conn,
        .srcname = r->def.sources[s].name,
        .pool = r->pool,
        .writers = r->writers,
        .nwriters = r->nwriters,
        .copy_in = copy_in,
    };
    return pipe;
}

bool stream_first(SyncRunner *r, int s, const char *what, const char *first, const char *second,
                  char *const *copy_in, char *err, size_t errlen)
{
    CopyPipe pipe = pipe_for(r, s, copy_in);
    char *both = xasprintf("%s; %s", first, second);
    bool ok;

    (void)src_idle(r, s);
    pipe.more = true;
    ok = copy_pipe(&pipe, what, both, NULL, NULL, err, errlen);

    free(both);
    return ok;
}

bool stream_second(SyncRunner *r, int s, const char *what, bool first_ok, char *const *copy_in, bool count,
                   char *err, size_t errlen)
{
    CopyPipe pipe = pipe_for(r, s, copy_in);
    pipe.count = count;
    pipe.sent = true;

    if (!first_ok) /* stream_first failed and drained the connection */
        return false;
    return copy_pipe(&pipe, what, NULL, NULL, NULL, err, errlen);
}

bool stream_sent(SyncRunner *r, int s, const char *what, char *const *copy_in, bool count, bool more,
                 char *err, size_t errlen)
{
    CopyPipe pipe = pipe_for(r, s, copy_in);
    pipe.count = count;
    pipe.sent = true;
    pipe.more = more;
    return copy_pipe(&pipe, what, NULL, NULL, NULL, err, errlen);
}

bool stream(SyncRunner *r, int s, const char *what, const char *copy_out, char *const *copy_in, bool count,
            char *err, size_t errlen)
{
    CopyPipe pipe = pipe_for(r, s, copy_in);

    (void)src_idle(r, s);
    pipe.count = count;
    return copy_pipe(&pipe, what, copy_out, NULL, NULL, err, errlen);
}

/* drain_source - read everything left on a source connection (a COPY
 * out that was not read: its data too), so that it is free again. */
static void drain_source(PGconn *conn)
{
    PGresult *res;

    while ((res = PQgetResult(conn)) != NULL) {
        bool copy = PQresultStatus(res) == PGRES_COPY_OUT;
        PQclear(res);
        if (copy) {
            char *buf;
            int len;
            while ((len = PQgetCopyData(conn, &buf, 0)) > 0)
                PQfreemem(buf);
        }
    }
}

/* first_result - the first result of the statement copy_out starts (or,
 * with pipe->sent, of the one already sent), which must be a COPY out. */
static PGresult *first_result(const CopyPipe *pipe, const char *what, const char *copy_out, char *err,
                              size_t errlen)
{
    PGconn *conn = pipe->src;
    PGresult *res;

    if (!pipe->more && !pipe->sent)
        return query(conn, pipe->srcname, what, copy_out, PGRES_COPY_OUT, err, errlen);
    if (!pipe->sent && PQsendQuery(conn, copy_out) != 1) {
        char msg[512];
        message(msg, sizeof(msg), PQerrorMessage(conn));
        snprintf(err, errlen, "source %s: %s: %s", pipe->srcname, what, msg);
        return NULL;
    }
    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        source_error(err, errlen, pipe->srcname, what, res, conn);
        PQclear(res);
        drain_source(conn);
        return NULL;
    }
    return res;
}

bool copy_pipe(const CopyPipe *pipe, const char *what, const char *copy_out, atomic_long *bytes,
               atomic_long *rows, char *err, size_t errlen)
{
    char *const *to = pipe->copy_in;
    PGconn *conn = pipe->src;
    size_t cap = chunk_pool_chunk_size(pipe->pool);
    Chunk *chunk = NULL;
    PGresult *res;
    char *buf;
    int len = -1, nw = 0;
    bool ok = true;

    for (int i = 0; i < pipe->nwriters; i++) {
        Msg *m;
        if (!to[i])
            continue;
        m = msg_new(MSG_COPY_BEGIN, to[i], NULL);
        m->count = pipe->count;
        target_send(pipe->writers[i], m);
        nw++;
    }
    res = first_result(pipe, what, copy_out, err, errlen);
    if (res == NULL)
        ok = false;
    PQclear(res);
    while (ok && (len = PQgetCopyData(conn, &buf, 0)) > 0) {
        size_t off = 0;
        while (off < (size_t)len) {
            size_t n;
            if (chunk == NULL)
                chunk = chunk_get(pipe->pool);
            n = cap - chunk->len < (size_t)len - off ? cap - chunk->len : (size_t)len - off;
            memcpy(chunk->data + chunk->len, buf + off, n);
            chunk->len += n;
            off += n;
            if (chunk->len == cap) {
                send_chunk(pipe, chunk, nw);
                chunk = NULL;
            }
        }
        if (bytes)
            atomic_fetch_add(bytes, len);
        /* One CopyData message per row; binary COPY's trailer (int16 -1) is not one. */
        if (rows && !(len == 2 && (unsigned char)buf[0] == 0xff && (unsigned char)buf[1] == 0xff))
            atomic_fetch_add(rows, 1);
        PQfreemem(buf);
    }
    if (ok) {
        if (len == -2) {
            char msg[512];
            message(msg, sizeof(msg), PQerrorMessage(conn));
            snprintf(err, errlen, "source %s: %s: %s", pipe->srcname, what, msg);
            ok = false;
        }
        while ((res = PQgetResult(conn)) != NULL) {
            if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
                char msg[512];
                message(msg, sizeof(msg), PQresultErrorMessage(res));
                snprintf(err, errlen, "source %s: %s: %s", pipe->srcname, what, msg);
                ok = false;
            }
            PQclear(res);
            if (ok && pipe->more)
                break; /* the second COPY's result is next: stream_second */
        }
        if (!ok && pipe->more)
            drain_source(conn);
    }
    if (chunk != NULL) {
        if (chunk->len > 0 && ok) {
            send_chunk(pipe, chunk, nw);
        } else {
            atomic_store(&chunk->refs, 1);
            chunk_release(pipe->pool, chunk);
        }
    }
    for (int i = 0; i < pipe->nwriters; i++)
        if (to[i])
            target_send_new(pipe->writers[i], MSG_COPY_END, NULL);
    return ok;
}
