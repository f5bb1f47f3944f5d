/*
 * engine/drivers/driver_rows.c - the writer thread of every target that is
 * not PostgreSQL: it takes the table operations of target_driver.h
 * (delete keys, add rows, empty) with their rows as COPY text, parses the
 * text into fields, and hands them in batches of ROWS_BATCH rows to the
 * kind's RowDriver (driver_sqlite.c, driver_flat.c, ...).
 *
 * Same protocol as the PostgreSQL writer (cycle/target_writer.c): messages
 * in order, replies to CONNECT/BARRIER/COMMIT/ROLLBACK/DISCONNECT counted
 * by sequence number, and after a failure every message is skipped (chunks
 * still released) until the ROLLBACK.  A connection a failure may have
 * broken is closed at the ROLLBACK and opened again at the next BEGIN, so
 * an unreachable server is retried with the cycle.
 */
#include "target_driver.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Rows per call of RowDriver.rows. */
#define ROWS_BATCH 1000

typedef struct RowsWriter {
    /* Set at start, read-only afterwards. */
    const RowDriver *drv;
    DbInfo db;
    TargetConfig cfg; /* sync and flat_dir copied; the rest borrowed */
    MsgQueue *queue;
    pthread_t thread;

    /* The writer thread's own. */
    void *conn;
    bool failed, in_txn, in_op, op_counts;
    TableSpec spec;
    StrBuf partial; /* an unfinished line of the COPY text */
    char **vals;    /* ROWS_BATCH * spec.ncols parsed fields */
    int nrows;

    /* Shared, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t replied;
    long sent, done;
    bool ok;
    char error[1024];
    long deleted, inserted;
} RowsWriter;

const RowDriver *target_row_driver(const char *type)
{
    if (strcmp(type, "sqlite") == 0)
        return &ROW_DRIVER_SQLITE;
    if (strcmp(type, "flatpg") == 0)
        return &ROW_DRIVER_FLATPG;
    if (strcmp(type, "flatsql") == 0)
        return &ROW_DRIVER_FLATSQL;
    if (strcmp(type, "mysql") == 0 || strcmp(type, "mariadb") == 0)
        return &ROW_DRIVER_MARIADB;
    if (strcmp(type, "redis") == 0)
        return &ROW_DRIVER_REDIS;
    if (strcmp(type, "firebird") == 0)
        return &ROW_DRIVER_FIREBIRD;
    return NULL;
}

/* fail - the transaction's first error: "target DB: msg", logged once. */
static void fail(RowsWriter *w, const char *msg, bool quiet)
{
    pthread_mutex_lock(&w->lock);
    if (!w->failed)
        snprintf(w->error, sizeof(w->error), "target %s: %s", w->db.name, msg);
    pthread_mutex_unlock(&w->lock);
    if (!w->failed && !quiet)
        log_error("%s", w->error);
    w->failed = true;
}

static void reply(RowsWriter *w, bool ok)
{
    pthread_mutex_lock(&w->lock);
    w->ok = ok;
    w->done++;
    pthread_cond_broadcast(&w->replied);
    pthread_mutex_unlock(&w->lock);
}

static void close_conn(RowsWriter *w)
{
    if (w->conn)
        w->drv->close(w->conn);
    w->conn = NULL;
}

/* ensure_conn - an open connection (a dead one is replaced). */
static bool ensure_conn(RowsWriter *w, bool quiet)
{
    char err[800];

    if (w->conn && !w->drv->alive(w->conn))
        close_conn(w);
    if (w->conn)
        return true;
    w->conn = w->drv->open(&w->db, &w->cfg, err, sizeof(err));
    if (w->conn == NULL) {
        char msg[900];
        snprintf(msg, sizeof(msg), "cannot connect: %s", err);
        fail(w, msg, quiet);
        return false;
    }
    log_info("connected to %s target %s", w->drv->kind, w->db.name);
    return true;
}

static void free_batch(RowsWriter *w)
{
    for (int i = 0; i < w->nrows * w->spec.ncols; i++)
        free(w->vals[i]);
    w->nrows = 0;
}

/* flush - the batch parsed so far to the driver. */
static void flush(RowsWriter *w)
{
    char err[800];
    long affected = 0;

    if (w->nrows == 0)
        return;
    if (!w->failed && !w->drv->rows(w->conn, &w->spec, w->nrows, w->vals, &affected, err, sizeof(err)))
        fail(w, err, false);
    free_batch(w);
    pthread_mutex_lock(&w->lock);
    if (w->spec.op == 'K')
        w->deleted += affected;
    else if (w->op_counts)
        w->inserted += affected;
    pthread_mutex_unlock(&w->lock);
}

/* unescape - one COPY text field (len bytes at s), or NULL for \N. */
static char *unescape(const char *s, size_t len)
{
    char *out, *o;

    if (len == 2 && s[0] == '\\' && s[1] == 'N')
        return NULL;
    out = o = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\' || i + 1 == len) {
            *o++ = s[i];
            continue;
        }
        i++;
        switch (s[i]) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'v': *o++ = '\v'; break;
        case 'x': {
            int v = 0, n = 0;
            while (n < 2 && i + 1 < len && strchr("0123456789abcdefABCDEF", s[i + 1]) && s[i + 1]) {
                char c = s[++i];
                v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
                n++;
            }
            *o++ = (char)v;
            break;
        }
        default:
            if (s[i] >= '0' && s[i] <= '7') {
                int v = s[i] - '0', n = 1;
                while (n < 3 && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '7') {
                    v = v * 8 + (s[++i] - '0');
                    n++;
                }
                *o++ = (char)v;
            } else {
                *o++ = s[i];
            }
        }
    }
    *o = '\0';
    return out;
}

/* take_line - one COPY text line (without its newline) into the batch. */
static void take_line(RowsWriter *w, const char *line, size_t len)
{
    char **row = &w->vals[w->nrows * w->spec.ncols];
    int f = 0;
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != '\t')
            continue;
        if (f < w->spec.ncols)
            row[f] = unescape(line + start, i - start);
        f++;
        start = i + 1;
    }
    if (f != w->spec.ncols) {
        char msg[300];
        for (int i = 0; i < f && i < w->spec.ncols; i++)
            free(row[i]);
        snprintf(msg, sizeof(msg), "table %s: a row has %d fields, %d expected", w->spec.table, f,
                 w->spec.ncols);
        fail(w, msg, false);
        return;
    }
    if (++w->nrows == ROWS_BATCH)
        flush(w);
}

/* take_data - a chunk of COPY text: whole lines to the batch, the rest kept. */
static void take_data(RowsWriter *w, const char *data, size_t len)
{
    size_t start = 0;

    for (size_t i = 0; i < len && !w->failed; i++) {
        if (data[i] != '\n')
            continue;
        if (w->partial.len > 0) {
            strbuf_append_len(&w->partial, data + start, i - start);
            take_line(w, w->partial.data, w->partial.len);
            strbuf_reset(&w->partial);
        } else {
            take_line(w, data + start, i - start);
        }
        start = i + 1;
    }
    if (!w->failed && start < len)
        strbuf_append_len(&w->partial, data + start, len - start);
}

static void op_begin(RowsWriter *w, const Msg *m)
{
    char err[800];

    if (!target_spec_decode(m->sql, &w->spec)) {
        fail(w, "a PostgreSQL statement was sent to a non-PostgreSQL target (bug)", false);
        return;
    }
    w->vals = xcalloc((size_t)ROWS_BATCH * (size_t)(w->spec.ncols + 1), sizeof(char *));
    w->nrows = 0;
    strbuf_reset(&w->partial);
    w->in_op = true;
    w->op_counts = m->count;
    if (!w->drv->table(w->conn, &w->spec, err, sizeof(err)))
        fail(w, err, false);
}

static void op_end(RowsWriter *w)
{
    char err[800];
    long affected = 0;

    if (!w->in_op)
        return;
    if (!w->failed && w->partial.len > 0)
        take_line(w, w->partial.data, w->partial.len);
    flush(w);
    if (!w->failed && !w->drv->table_end(w->conn, &w->spec, &affected, err, sizeof(err)))
        fail(w, err, false);
    pthread_mutex_lock(&w->lock);
    if (w->spec.op == 'K')
        w->deleted += affected;
    else if (w->op_counts)
        w->inserted += affected;
    pthread_mutex_unlock(&w->lock);
    free_batch(w);
    free(w->vals);
    w->vals = NULL;
    target_spec_free(&w->spec);
    strbuf_reset(&w->partial);
    w->in_op = false;
}

static void reset(RowsWriter *w)
{
    w->failed = false;
    pthread_mutex_lock(&w->lock);
    w->error[0] = '\0';
    w->deleted = w->inserted = 0;
    pthread_mutex_unlock(&w->lock);
}

static bool stopping(RowsWriter *w)
{
    if (!cancel_requested(w->cfg.cancel))
        return false;
    fail(w, "interrupted: the engine is stopping", true);
    return true;
}

static void *rows_main(void *arg)
{
    RowsWriter *w = arg;
    char name[64], err[800];

    snprintf(name, sizeof(name), "target %s", w->db.name);
    log_set_thread_name(w->cfg.sync, name);
    for (;;) {
        Msg *m = msgq_pop(w->queue);
        MsgType type = m->type;

        switch (type) {
        case MSG_CONNECT:
            reset(w);
            reply(w, ensure_conn(w, true));
            break;
        case MSG_BEGIN:
            reset(w);
            if (ensure_conn(w, false) && !stopping(w)) {
                if (w->drv->begin(w->conn, err, sizeof(err)))
                    w->in_txn = true;
                else
                    fail(w, err, false);
            }
            break;
        case MSG_EXEC:
        case MSG_QUERY:
        case MSG_CHECK:
            if (!w->failed)
                fail(w, "a PostgreSQL statement was sent to a non-PostgreSQL target (bug)", false);
            break;
        case MSG_EMPTY:
            if (!w->failed && !stopping(w)) {
                TableSpec spec;
                if (!target_spec_decode(m->sql, &spec)) {
                    fail(w, "a PostgreSQL statement was sent to a non-PostgreSQL target (bug)", false);
                } else {
                    if (!w->drv->empty(w->conn, &spec, err, sizeof(err)))
                        fail(w, err, false);
                    target_spec_free(&spec);
                }
            }
            break;
        case MSG_COPY_BEGIN:
            if (!w->failed && !stopping(w))
                op_begin(w, m);
            break;
        case MSG_DATA:
            if (!w->failed && w->in_op)
                take_data(w, m->chunk->data, m->chunk->len);
            chunk_release(w->cfg.pool, m->chunk);
            break;
        case MSG_COPY_END: op_end(w); break;
        case MSG_BARRIER: reply(w, !w->failed); break;
        case MSG_COMMIT:
            if (!w->failed && w->in_txn && !w->drv->commit(w->conn, err, sizeof(err)))
                fail(w, err, false);
            w->in_txn = false;
            reply(w, !w->failed);
            break;
        case MSG_ROLLBACK:
            if (w->in_op)
                op_end(w);
            if (w->conn && w->in_txn)
                w->drv->rollback(w->conn);
            if (w->failed && w->conn && !w->drv->alive(w->conn))
                close_conn(w);
            w->in_txn = false;
            reply(w, true);
            break;
        case MSG_DISCONNECT:
            if (w->conn && w->in_txn)
                w->drv->rollback(w->conn);
            close_conn(w);
            w->in_txn = w->in_op = false;
            reply(w, true);
            break;
        case MSG_STOP: break;
        }
        msg_free(m);
        if (type == MSG_STOP)
            break;
    }
    if (w->conn && w->in_txn)
        w->drv->rollback(w->conn);
    close_conn(w);
    return NULL;
}

static char *dup(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void *rows_start(const DbInfo *db, const TargetConfig *cfg)
{
    RowsWriter *w = xcalloc(1, sizeof(RowsWriter));

    w->drv = target_row_driver(db->dbtype ? db->dbtype : "");
    if (w->drv == NULL) {
        fprintf(stderr, "bucardo: database %s: no driver for type %s\n", db->name, db->dbtype);
        exit(3);
    }
    w->db.name = dup(db->name);
    w->db.dbname = dup(db->dbname);
    w->db.host = dup(db->host);
    w->db.port = dup(db->port);
    w->db.user = dup(db->user);
    w->db.pass = dup(db->pass);
    w->db.service = dup(db->service);
    w->db.conn = dup(db->conn);
    w->db.status = dup(db->status);
    w->db.dbtype = dup(db->dbtype);
    w->cfg = *cfg;
    w->cfg.sync = xstrdup(cfg->sync);
    w->cfg.flat_dir = xstrdup(cfg->flat_dir ? cfg->flat_dir : ".");
    w->cfg.lock_timeout = NULL;
    w->queue = msgq_create();
    strbuf_init(&w->partial);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->replied, NULL);
    if (pthread_create(&w->thread, NULL, rows_main, w) != 0) {
        fprintf(stderr, "bucardo: cannot start a writer thread\n");
        exit(3);
    }
    return w;
}

static void rows_send(void *impl, Msg *msg)
{
    RowsWriter *w = impl;

    if (msg->type == MSG_CONNECT || msg->type == MSG_BARRIER || msg->type == MSG_COMMIT ||
        msg->type == MSG_ROLLBACK || msg->type == MSG_DISCONNECT) {
        pthread_mutex_lock(&w->lock);
        w->sent++;
        pthread_mutex_unlock(&w->lock);
    }
    msgq_push(w->queue, msg);
}

static bool rows_wait(void *impl, char *err, size_t errlen)
{
    RowsWriter *w = impl;
    bool ok;

    pthread_mutex_lock(&w->lock);
    while (w->done < w->sent)
        pthread_cond_wait(&w->replied, &w->lock);
    ok = w->ok;
    if (!ok && err)
        snprintf(err, errlen, "%s", w->error);
    pthread_mutex_unlock(&w->lock);
    return ok;
}

static void rows_counts(void *impl, long *deleted, long *inserted)
{
    RowsWriter *w = impl;

    pthread_mutex_lock(&w->lock);
    *deleted = w->deleted;
    *inserted = w->inserted;
    pthread_mutex_unlock(&w->lock);
}

static char *rows_take_rows(void *impl)
{
    (void)impl;
    return NULL;
}

static void rows_set_shape_query(void *impl, const char *expr)
{
    (void)impl;
    (void)expr;
}

static char *rows_shape(void *impl)
{
    (void)impl;
    return NULL;
}

static void rows_stop(void *impl)
{
    RowsWriter *w = impl;

    if (w == NULL)
        return;
    msgq_push(w->queue, msg_new(MSG_STOP, NULL, NULL));
    pthread_join(w->thread, NULL);
    msgq_destroy(w->queue);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->replied);
    strbuf_free(&w->partial);
    free(w->vals);
    target_spec_free(&w->spec);
    dbinfo_free(&w->db);
    free((char *)w->cfg.sync);
    free((char *)w->cfg.flat_dir);
    free(w);
}

const TargetClass TARGET_CLASS_ROWS = {
    .kind = "rows",
    .speaks_pg = false,
    .start = rows_start,
    .send = rows_send,
    .wait = rows_wait,
    .counts = rows_counts,
    .take_rows = rows_take_rows,
    .set_shape_query = rows_set_shape_query,
    .shape = rows_shape,
    .stop = rows_stop,
};

bool target_check_table(const DbInfo *db, const TargetConfig *cfg, const char *encoded,
                        const StrList *pgtypes, char *err, size_t errlen)
{
    const RowDriver *drv = target_row_driver(db->dbtype ? db->dbtype : "");
    StrList names = {0}, types = {0};
    TableSpec spec;
    char why[600];
    bool found = false, ok = false;
    void *conn;

    if (drv == NULL || !target_spec_decode(encoded, &spec)) {
        snprintf(err, errlen, "target %s: no driver for database type %s", db->name, db->dbtype);
        return false;
    }
    if (drv->describe == NULL) {
        target_spec_free(&spec);
        return true;
    }
    conn = drv->open(db, cfg, why, sizeof(why));
    if (conn == NULL) {
        snprintf(err, errlen, "target %s: cannot connect: %s", db->name, why);
        target_spec_free(&spec);
        return false;
    }
    if (!drv->describe(conn, spec.schema, spec.table, &found, &names, &types, why, sizeof(why))) {
        snprintf(err, errlen, "target %s: table %s: %s", db->name, spec.table, why);
        goto out;
    }
    if (!found) {
        snprintf(err, errlen, "target %s (%s): table %s is missing", db->name, drv->kind, spec.table);
        goto out;
    }
    for (int c = 0; c < spec.ncols; c++) {
        int i = 0;
        while (i < names.count && strcmp(names.items[i], spec.cols[c]) != 0)
            i++;
        if (i == names.count) {
            snprintf(err, errlen, "target %s (%s): table %s has no column %s", db->name, drv->kind,
                     spec.table, spec.cols[c]);
            goto out;
        }
        if (pgtypes && c < pgtypes->count && drv->type_check &&
            !drv->type_check(pgtypes->items[c], types.items[i], why, sizeof(why))) {
            snprintf(err, errlen, "target %s (%s): table %s column %s: %s", db->name, drv->kind, spec.table,
                     spec.cols[c], why);
            goto out;
        }
    }
    ok = true;
out:
    drv->close(conn);
    strlist_free(&names);
    strlist_free(&types);
    target_spec_free(&spec);
    return ok;
}

bool target_try_connect(const DbInfo *db, const TargetConfig *cfg, char *err, size_t errlen)
{
    const RowDriver *drv = target_row_driver(db->dbtype ? db->dbtype : "");
    void *conn;

    if (drv == NULL) {
        snprintf(err, errlen, "no driver for database type %s", db->dbtype);
        return false;
    }
    conn = drv->open(db, cfg, err, errlen);
    if (conn == NULL)
        return false;
    drv->close(conn);
    return true;
}

int target_table_empty(const DbInfo *db, const TargetConfig *cfg, const char *encoded, char *err,
                       size_t errlen)
{
    const RowDriver *drv = target_row_driver(db->dbtype ? db->dbtype : "");
    TableSpec spec;
    char why[600];
    void *conn;
    int empty;

    if (drv == NULL || !target_spec_decode(encoded, &spec)) {
        snprintf(err, errlen, "target %s: no driver for database type %s", db->name, db->dbtype);
        return -1;
    }
    if (drv->is_empty == NULL) {
        target_spec_free(&spec);
        return 0;
    }
    if ((conn = drv->open(db, cfg, why, sizeof(why))) == NULL) {
        snprintf(err, errlen, "target %s: cannot connect: %s", db->name, why);
        target_spec_free(&spec);
        return -1;
    }
    empty = drv->is_empty(conn, &spec, why, sizeof(why));
    if (empty < 0)
        snprintf(err, errlen, "target %s: table %s: %s", db->name, spec.table, why);
    drv->close(conn);
    target_spec_free(&spec);
    return empty;
}
