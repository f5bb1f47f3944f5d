/*
 * engine/cycle/target_writer.c - the writer thread of one target database.
 *
 * Protocol (messages from the sync thread, in order):
 *
 *   CONNECT                    reply: is the database reachable?  (a kept
 *                              connection is checked without a round trip)
 *   BEGIN                      connect if needed; replica role; BEGIN, and
 *                              in the same round trip the shape of the
 *                              target's tables when the sync thread set a
 *                              query for it (writer_set_shape_query)
 *   EXEC sql | COPY_BEGIN sql, DATA..., COPY_END    (any number)
 *   QUERY sql                  its rows are kept until writer_take_rows
 *   CHECK sql                  like EXEC, but an error is not logged (the
 *                              sync thread expects it at times)
 *   EMPTY table                TRUNCATE, or DELETE if foreign keys point at it
 *   BARRIER                    reply: all of the above ok?
 *   COMMIT | ROLLBACK          reply: did it commit / roll back?
 *   DISCONNECT                 close the connection (the sync went idle); reply
 *   STOP                       leave
 *
 * Replies go through a mutex/condition pair counted by sequence number, so
 * the sync thread can wait for "the reply to what I just sent".  The
 * session runs with session_replication_role = replica, so triggers (our
 * capture included) and foreign keys do not fire for applied rows: nothing
 * echoes back, and tables can be applied in any order.  It also sets
 * PG_ROW_TEXT_SETTINGS, so the target parses rows whatever its own
 * DateStyle, IntervalStyle or xmloption.
 */
#include "target_writer.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct TargetWriter {
    /* Set at start, read-only afterwards. */
    DbInfo db;
    char *sync;
    char *lock_timeout;
    ChunkPool *pool;
    CancelSet *cancel;  /* the sync's stop switch (borrowed) */
    ConnBudget *budget; /* connections go through it (borrowed; may be NULL) */
    MsgQueue *queue;
    pthread_t thread;

    /* Owned by the writer thread alone. */
    PGconn *conn;
    int cancel_slot; /* conn's, in cancel; -1: none */
    bool failed;     /* an error since BEGIN: skip work until ROLLBACK */
    bool in_copy;
    bool copy_counts; /* the COPY in progress counts as inserted rows */
    bool in_txn;
    /* What the transaction did, for the debug line at COMMIT. */
    long stmts, copies;
    unsigned long long bytes;
    double began;
    char encoding[16]; /* the session's client_encoding, "" until set */

    /* Shared, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t replied;
    long sent;        /* replies requested (sync thread) */
    long done;        /* replies given (writer thread) */
    bool ok;          /* outcome of the last reply */
    char error[1024]; /* first error since BEGIN */
    long deleted;
    long inserted;
    StrBuf rows;     /* rows of QUERY messages since BEGIN, one line each */
    char *shape_sql; /* writer_set_shape_query's expression, or NULL */
    char *shape;     /* its value at the last BEGIN, or NULL */
};

/* record_error_as - the transaction's first error (what failed: `what`);
 * logged unless quiet (MSG_CHECK). */
static void record_error_as(TargetWriter *w, const char *what, const PGresult *res, bool quiet)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *context = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
    char msg[900], where[200] = "";

    if (primary == NULL) {
        snprintf(msg, sizeof(msg), "%s", w->conn ? PQerrorMessage(w->conn) : "no connection");
        for (size_t n = strlen(msg); n > 0 && msg[n - 1] == '\n'; n--)
            msg[n - 1] = '\0';
        primary = msg;
    }
    /* The first line of a COPY's context names the table, the line and
     * the column ("COPY t, line 1, column n"), which the message lacks. */
    if (context && strncmp(context, "COPY ", 5) == 0)
        snprintf(where, sizeof(where), "; %.*s", (int)strcspn(context, "\n"), context);
    pthread_mutex_lock(&w->lock);
    if (!w->failed)
        snprintf(w->error, sizeof(w->error), "target %s: %s: %s%s%s%s%s", w->db.name, what, primary,
                 state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "", where);
    pthread_mutex_unlock(&w->lock);
    if (!w->failed && !quiet)
        log_error("%s", w->error);
    w->failed = true;
}

static void record_error(TargetWriter *w, const char *what, const PGresult *res)
{
    record_error_as(w, what, res, false);
}

/* stopping - the sync is being stopped: fail the transaction instead of
 * starting a statement (one already running is cancelled). */
static bool stopping(TargetWriter *w)
{
    if (!cancel_requested(w->cancel))
        return false;
    pthread_mutex_lock(&w->lock);
    if (!w->failed)
        snprintf(w->error, sizeof(w->error), "target %s: interrupted: the engine is stopping", w->db.name);
    pthread_mutex_unlock(&w->lock);
    w->failed = true;
    return true;
}

/* close_conn - forget the connection (and its cancel handle first). */
static void close_conn(TargetWriter *w)
{
    cancel_unwatch(w->cancel, w->cancel_slot);
    w->cancel_slot = -1;
    if (w->conn)
        PQfinish(w->conn);
    w->conn = NULL;
}

static void reply(TargetWriter *w, bool ok)
{
    pthread_mutex_lock(&w->lock);
    w->ok = ok;
    w->done++;
    pthread_cond_broadcast(&w->replied);
    pthread_mutex_unlock(&w->lock);
}

/* keep_rows - append res's rows to w->rows, fields tab-separated. */
static void keep_rows(TargetWriter *w, const PGresult *res)
{
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < PQntuples(res); i++) {
        for (int f = 0; f < PQnfields(res); f++) {
            if (f > 0)
                strbuf_append(&w->rows, "\t");
            strbuf_append(&w->rows, PQgetvalue(res, i, f));
        }
        strbuf_append(&w->rows, "\n");
    }
    pthread_mutex_unlock(&w->lock);
}

/*
 * run - sql on the writer's connection.  DELETEs count as deleted rows;
 * INSERTs as inserted ones when `count`; with expect PGRES_TUPLES_OK the
 * rows are kept for writer_take_rows.
 */
static bool run(TargetWriter *w, const char *what, const char *sql, ExecStatusType expect, bool count)
{
    PGresult *res = PQexec(w->conn, sql);
    /* A statement run for its effect may return rows (SELECT setval(...)). */
    bool ok = PQresultStatus(res) == expect ||
              (expect == PGRES_COMMAND_OK && PQresultStatus(res) == PGRES_TUPLES_OK);

    if (!ok)
        record_error(w, what, res);
    else if (expect == PGRES_TUPLES_OK)
        keep_rows(w, res);
    else if (expect == PGRES_COMMAND_OK && (strncmp(PQcmdStatus(res), "DELETE", 6) == 0 ||
                                            (count && strncmp(PQcmdStatus(res), "INSERT", 6) == 0))) {
        long n = atol(PQcmdTuples(res));
        pthread_mutex_lock(&w->lock);
        if (PQcmdStatus(res)[0] == 'D')
            w->deleted += n;
        else
            w->inserted += n;
        pthread_mutex_unlock(&w->lock);
    }
    PQclear(res);
    return ok;
}

/*
 * conn_alive - has the server not closed this idle connection?  Reads what
 * is pending without a round trip: a server shutting down may first send a
 * FATAL message, and only the next read sees the end of the stream.
 */
static bool conn_alive(PGconn *conn)
{
    struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};

    for (int i = 0; i < 8 && PQstatus(conn) == CONNECTION_OK; i++) {
        if (poll(&p, 1, 0) <= 0)
            return true; /* nothing pending */
        if (!PQconsumeInput(conn))
            return false;
    }
    return PQstatus(conn) == CONNECTION_OK;
}

/*
 * ensure_conn - a usable session: a kept connection the server has closed
 * (restart, crash, network) is noticed (conn_alive) and replaced.  false
 * (error recorded; logged unless `quiet`) when the database cannot be
 * reached or the session cannot be set up.
 */
static bool ensure_conn(TargetWriter *w, bool quiet)
{
    if (w->conn && !conn_alive(w->conn))
        close_conn(w);
    if (w->conn == NULL) {
        ConnParams cp = dbinfo_params(&w->db);
        char reason[512];

        w->conn = budget_connect(w->budget, &cp, w->db.name, reason, sizeof(reason));
        if (w->conn == NULL) {
            pthread_mutex_lock(&w->lock);
            snprintf(w->error, sizeof(w->error), "target %s: cannot connect: %s", w->db.name, reason);
            pthread_mutex_unlock(&w->lock);
            if (!quiet)
                log_error("%s", w->error);
            w->failed = true;
            return false;
        }
        w->cancel_slot = cancel_watch(w->cancel, w->conn);
        char *lit = pg_quote_literal(w->conn, w->lock_timeout);
        char *setup = xasprintf("SET session_replication_role = replica; SET statement_timeout = 0;"
                                " SET lock_timeout = %s; " PG_ROW_TEXT_SETTINGS "; " PG_KEY_JOIN_SETTINGS,
                                lit);
        bool ok = run(w, "session setup", setup, PGRES_COMMAND_OK, false);
        free(setup);
        free(lit);
        if (!ok)
            return false;
        log_verbose("connected to target %s", w->db.name);
        w->encoding[0] = '\0';
    }
    return true;
}

/* reset - forget the outcome of the last transaction. */
static void reset(TargetWriter *w)
{
    w->failed = false;
    pthread_mutex_lock(&w->lock);
    w->error[0] = '\0';
    w->deleted = w->inserted = 0;
    strbuf_reset(&w->rows);
    pthread_mutex_unlock(&w->lock);
}

/*
 * do_begin - make sure the connection is usable, with client_encoding
 * `encoding` (the sources', see pg_copy_encoding; NULL: UTF8), then open
 * the transaction.
 */
static void do_begin(TargetWriter *w, const char *encoding)
{
    char *shape_sql;
    PGresult *res;

    reset(w);
    if (!ensure_conn(w, false))
        return;
    if (encoding == NULL)
        encoding = "UTF8";
    if (strcmp(w->encoding, encoding) != 0) {
        char *lit = pg_quote_literal(w->conn, encoding);
        char *set = xasprintf("SET client_encoding = %s", lit);
        bool ok = run(w, "session setup", set, PGRES_COMMAND_OK, false);

        free(set);
        free(lit);
        if (!ok)
            return;
        snprintf(w->encoding, sizeof(w->encoding), "%s", encoding);
    }
    pthread_mutex_lock(&w->lock);
    free(w->shape);
    w->shape = NULL;
    shape_sql = w->shape_sql ? xasprintf("BEGIN; SELECT %s", w->shape_sql) : NULL;
    pthread_mutex_unlock(&w->lock);
    if (shape_sql == NULL) {
        w->in_txn = run(w, "BEGIN", "BEGIN", PGRES_COMMAND_OK, false);
        return;
    }
    res = PQexec(w->conn, shape_sql);
    free(shape_sql);
    w->in_txn = true; /* ROLLBACK looks at the session's own status */
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        pthread_mutex_lock(&w->lock);
        w->shape = xstrdup(PQgetvalue(res, 0, 0));
        pthread_mutex_unlock(&w->lock);
    } else {
        record_error(w, "BEGIN (reading the tables' columns)", res);
    }
    PQclear(res);
}

void writer_set_shape_query(TargetWriter *w, const char *expr)
{
    pthread_mutex_lock(&w->lock);
    free(w->shape_sql);
    w->shape_sql = expr ? xstrdup(expr) : NULL;
    pthread_mutex_unlock(&w->lock);
}

char *writer_shape(TargetWriter *w)
{
    char *shape;

    pthread_mutex_lock(&w->lock);
    shape = w->shape ? xstrdup(w->shape) : NULL;
    pthread_mutex_unlock(&w->lock);
    return shape;
}

bool writer_table_referenced(PGconn *conn, const char *table, bool *referenced, bool *partitioned)
{
    /* TRUNCATE of a partitioned table also empties its partitions: a
     * foreign key referencing any of them refuses it too. */
    static const char sql[] =
        "WITH RECURSIVE tree (oid) AS (SELECT $1::regclass::oid"
        "   UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid"
        "    WHERE (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass) = 'p')"
        " SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint"
        "                 WHERE contype = 'f' AND confrelid IN (SELECT oid FROM tree)"
        "                   AND conrelid NOT IN (SELECT oid FROM tree)),"
        "        (SELECT c.relkind = 'p' FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass)";
    PGresult *res = PQexecParams(conn, sql, 1, NULL, &table, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;

    if (ok) {
        *referenced = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        *partitioned = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    }
    PQclear(res);
    return ok;
}

/* do_empty - EMPTY: see writer_table_referenced for why not always TRUNCATE,
 * and why ONLY. */
static void do_empty(TargetWriter *w, const char *table)
{
    bool referenced = false, partitioned = false;
    PGresult *res;
    char *sql;

    if (!writer_table_referenced(w->conn, table, &referenced, &partitioned)) {
        char what[256];
        snprintf(what, sizeof(what), "reading the foreign keys that reference %s", table);
        record_error(w, what, NULL);
        return;
    }
    /* Not through run(): the DELETE is no row change of the sync's to count. */
    sql = xasprintf("%s%s%s", referenced ? "DELETE FROM " : "TRUNCATE ", partitioned ? "" : "ONLY ", table);
    res = PQexec(w->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        record_error(w, sql, res);
    PQclear(res);
    free(sql);
}

static void do_copy_end(TargetWriter *w)
{
    PGresult *res;

    if (!w->in_copy)
        return;
    w->in_copy = false;
    if (PQputCopyEnd(w->conn, w->failed ? "aborted by bucardo" : NULL) != 1) {
        record_error(w, "COPY end", NULL);
        return;
    }
    while ((res = PQgetResult(w->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            record_error(w, "COPY", res);
        else if (w->copy_counts) {
            long n = atol(PQcmdTuples(res));
            pthread_mutex_lock(&w->lock);
            w->inserted += n;
            pthread_mutex_unlock(&w->lock);
        }
        PQclear(res);
    }
}

static void *writer_main(void *arg)
{
    TargetWriter *w = arg;
    char name[64];

    snprintf(name, sizeof(name), "target %s", w->db.name);
    log_set_thread_name(w->sync, name);
    for (;;) {
        Msg *m = msgq_pop(w->queue);
        MsgType type = m->type;

        /* Round trips of this transaction: one per statement (BEGIN and the
         * COPY's end included in theirs). */
        w->stmts += type == MSG_BEGIN || type == MSG_EXEC || type == MSG_QUERY || type == MSG_CHECK ||
                    type == MSG_EMPTY || type == MSG_COPY_BEGIN || type == MSG_COMMIT;
        switch (type) {
        case MSG_CONNECT:
            reset(w);
            reply(w, ensure_conn(w, true)); /* the sync thread logs who is left out */
            break;
        case MSG_BEGIN:
            w->stmts = 1;
            w->copies = 0;
            w->bytes = 0;
            w->began = monotonic_seconds();
            do_begin(w, m->sql);
            (void)stopping(w);
            break;
        case MSG_EXEC:
            if (!w->failed && !stopping(w))
                run(w, m->sql, m->sql, PGRES_COMMAND_OK, m->count);
            break;
        case MSG_QUERY:
            if (!w->failed && !stopping(w))
                run(w, m->sql, m->sql, PGRES_TUPLES_OK, false);
            break;
        case MSG_CHECK:
            if (!w->failed && !stopping(w)) {
                PGresult *res = PQexec(w->conn, m->sql);
                if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
                    record_error_as(w, "check", res, true);
                PQclear(res);
            }
            break;
        case MSG_EMPTY:
            if (!w->failed && !stopping(w))
                do_empty(w, m->sql);
            break;
        case MSG_COPY_BEGIN:
            if (!w->failed && !stopping(w))
                w->in_copy = run(w, m->sql, m->sql, PGRES_COPY_IN, false);
            w->copy_counts = m->count;
            w->copies++;
            break;
        case MSG_DATA:
            w->bytes += m->chunk->len;
            if (!w->failed && w->in_copy && PQputCopyData(w->conn, m->chunk->data, (int)m->chunk->len) != 1)
                record_error(w, "COPY data", NULL);
            chunk_release(w->pool, m->chunk);
            break;
        case MSG_COPY_END: do_copy_end(w); break;
        case MSG_BARRIER: reply(w, !w->failed); break;
        case MSG_COMMIT:
            if (!w->failed && w->in_txn) {
                run(w, "COMMIT", "COMMIT", PGRES_COMMAND_OK, false);
                log_debug("%s: %ld statement(s) (%ld COPY), %llu bytes of rows, %.1f ms from BEGIN to COMMIT",
                          w->failed ? "failed at COMMIT" : "committed", w->stmts, w->copies, w->bytes,
                          (monotonic_seconds() - w->began) * 1000);
            }
            w->in_txn = false;
            reply(w, !w->failed);
            break;
        case MSG_ROLLBACK:
            if (w->in_copy)
                do_copy_end(w);
            if (w->conn && PQstatus(w->conn) == CONNECTION_OK &&
                PQtransactionStatus(w->conn) != PQTRANS_IDLE) {
                PGresult *res = PQexec(w->conn, "ROLLBACK");
                PQclear(res);
            }
            w->in_txn = false;
            reply(w, true);
            break;
        case MSG_DISCONNECT:
            close_conn(w);
            w->in_txn = w->in_copy = false;
            reply(w, true);
            break;
        case MSG_STOP: break;
        }
        msg_free(m);
        if (type == MSG_STOP)
            break;
    }
    close_conn(w);
    return NULL;
}

static char *dup(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

TargetWriter *writer_start(const DbInfo *db, const char *sync, const char *lock_timeout, ChunkPool *pool,
                           CancelSet *cancel, ConnBudget *budget)
{
    TargetWriter *w = xcalloc(1, sizeof(TargetWriter));

    w->db.name = dup(db->name);
    w->db.dbname = dup(db->dbname);
    w->db.host = dup(db->host);
    w->db.port = dup(db->port);
    w->db.user = dup(db->user);
    w->db.pass = dup(db->pass);
    w->db.service = dup(db->service);
    w->db.conn = dup(db->conn);
    w->db.status = dup(db->status);
    w->sync = xstrdup(sync);
    w->lock_timeout = xstrdup(lock_timeout ? lock_timeout : "60s");
    w->pool = pool;
    w->cancel = cancel;
    w->cancel_slot = -1;
    w->budget = budget;
    w->queue = msgq_create();
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->replied, NULL);
    strbuf_init(&w->rows);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        fprintf(stderr, "bucardo: cannot start a writer thread\n");
        exit(3);
    }
    return w;
}

void writer_send(TargetWriter *w, Msg *msg)
{
    if (msg->type == MSG_CONNECT || msg->type == MSG_BARRIER || msg->type == MSG_COMMIT ||
        msg->type == MSG_ROLLBACK || msg->type == MSG_DISCONNECT) {
        pthread_mutex_lock(&w->lock);
        w->sent++;
        pthread_mutex_unlock(&w->lock);
    }
    msgq_push(w->queue, msg);
}

void writer_send_new(TargetWriter *w, MsgType type, const char *sql)
{
    writer_send(w, msg_new(type, sql, NULL));
}

bool writer_wait(TargetWriter *w, char *err, size_t errlen)
{
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

void writer_counts(TargetWriter *w, long *deleted, long *inserted)
{
    pthread_mutex_lock(&w->lock);
    *deleted = w->deleted;
    *inserted = w->inserted;
    pthread_mutex_unlock(&w->lock);
}

char *writer_take_rows(TargetWriter *w)
{
    char *rows = NULL;

    pthread_mutex_lock(&w->lock);
    if (w->rows.len > 0) {
        rows = xstrdup(w->rows.data);
        strbuf_reset(&w->rows);
    }
    pthread_mutex_unlock(&w->lock);
    return rows;
}

const char *writer_db_name(const TargetWriter *w)
{
    return w->db.name;
}

void writer_stop(TargetWriter *w)
{
    if (w == NULL)
        return;
    msgq_push(w->queue, msg_new(MSG_STOP, NULL, NULL));
    pthread_join(w->thread, NULL);
    msgq_destroy(w->queue);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->replied);
    strbuf_free(&w->rows);
    free(w->shape_sql);
    free(w->shape);
    dbinfo_free(&w->db);
    free(w->sync);
    free(w->lock_timeout);
    free(w);
}
