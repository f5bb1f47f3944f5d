/*
 * engine/cycle_stream.c - moving COPY data from a source to writers.
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

#include "runner_internal.h"

/* Copy libpq's message without trailing newlines into buf. */
static void message(char *buf, size_t len, const char *text)
{
    snprintf(buf, len, "%s", text ? text : "unknown error");
    for (size_t n = strlen(buf); n > 0 && buf[n - 1] == '\n'; n--)
        buf[n - 1] = '\0';
}

PGresult *src_query(SyncRunner *r, int s, const char *what, const char *sql, ExecStatusType expect, char *err,
                    size_t errlen)
{
    PGresult *res = PQexec(r->src[s].conn, sql);

    if (PQresultStatus(res) != expect) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        char msg[512];
        message(msg, sizeof(msg), primary ? primary : PQerrorMessage(r->src[s].conn));
        snprintf(err, errlen, "source %s: %s: %s%s%s%s", r->def.sources[s].name, what, msg,
                 state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
        PQclear(res);
        return NULL;
    }
    return res;
}

void send_all(SyncRunner *r, MsgType type, const char *sql, const bool *to)
{
    for (int i = 0; i < r->nwriters; i++)
        if (to == NULL || to[i])
            writer_send_new(r->writers[i], type, sql);
}

void send_table(SyncRunner *r, MsgType type, const char *prefix, const TablePlan *p, const char *suffix,
                const bool *to)
{
    StrBuf sql;

    strbuf_init(&sql);
    for (int i = 0; i < r->nwriters; i++) {
        if (to != NULL && !to[i])
            continue;
        strbuf_reset(&sql);
        strbuf_append(&sql, prefix);
        strbuf_append(&sql, p->wtable[i]);
        strbuf_append(&sql, suffix);
        writer_send_new(r->writers[i], type, sql.data);
    }
    strbuf_free(&sql);
}

/* send_chunk - hand one filled chunk to the n writers that take the COPY. */
static void send_chunk(SyncRunner *r, Chunk *chunk, char *const *to, int n)
{
    atomic_store(&chunk->refs, n);
    for (int i = 0; i < r->nwriters; i++)
        if (to[i])
            writer_send(r->writers[i], msg_new(MSG_DATA, NULL, chunk));
}

bool stream(SyncRunner *r, int s, const char *what, const char *copy_out, char *const *copy_in, bool count,
            char *err, size_t errlen)
{
    char *const *to = copy_in;
    PGconn *conn = r->src[s].conn;
    size_t cap = chunk_pool_chunk_size(r->pool);
    Chunk *chunk = NULL;
    PGresult *res;
    char *buf;
    int len = -1, nw = 0;
    bool ok = true;

    for (int i = 0; i < r->nwriters; i++) {
        Msg *m;
        if (!to[i])
            continue;
        m = msg_new(MSG_COPY_BEGIN, copy_in[i], NULL);
        m->count = count;
        writer_send(r->writers[i], m);
        nw++;
    }
    res = src_query(r, s, what, copy_out, PGRES_COPY_OUT, err, errlen);
    if (res == NULL)
        ok = false;
    PQclear(res);
    while (ok && (len = PQgetCopyData(conn, &buf, 0)) > 0) {
        size_t off = 0;
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
            char msg[512];
            message(msg, sizeof(msg), PQerrorMessage(conn));
            snprintf(err, errlen, "source %s: %s: %s", r->def.sources[s].name, what, msg);
            ok = false;
        }
        while ((res = PQgetResult(conn)) != NULL) {
            if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
                char msg[512];
                message(msg, sizeof(msg), PQresultErrorMessage(res));
                snprintf(err, errlen, "source %s: %s: %s", r->def.sources[s].name, what, msg);
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
    for (int i = 0; i < r->nwriters; i++)
        if (to[i])
            writer_send_new(r->writers[i], MSG_COPY_END, NULL);
    return ok;
}
