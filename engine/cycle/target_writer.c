/*
 * engine/cycle/target_writer.c - the writer thread of one target database.
 *
 * Protocol (messages from the sync thread, in order):
 *
 *   CONNECT [encoding]         reply: is the database reachable?  (a kept
 *                              connection is checked without a round trip;
 *                              a new one is set up with this client_encoding)
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
 *   COMMIT shape               without BARRIER (one writer): the unit's
 *                              queued statements and COMMIT in one string,
 *                              behind a guard that fails it when the
 *                              tables' shape is no longer `shape`
 *   DISCONNECT                 close the connection (the sync went idle); reply
 *   STOP                       leave
 *
 * Round trips (bench/wan_bench.sh): statements are not run one by one.
 * BEGIN, EXEC, QUERY and CHECK are queued and sent together, as one
 * multi-statement string, with the next COPY ... FROM STDIN (its last
 * statement), BARRIER or COMMIT; the result of a COPY is read only when
 * the next string goes out.  A unit of one table then costs the writer
 * two waits per COPY instead of one per statement, and BEGIN none.  The
 * results come back in order, one per statement, and are matched to the
 * messages they came from (count_statements); the first error is the
 * transaction's, as before, and the server skips the rest of the string.
 * (libpq's pipeline mode would let the next string go out before a COPY's
 * result, but it refuses COPY, which carries all the data.)
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

/* What a queued message expects back, and how its results count. */
typedef enum { PEND_EXEC, PEND_QUERY, PEND_CHECK, PEND_SHAPE, PEND_COPY } PendKind;
struct Pending {
    PendKind kind;
    bool count; /* EXEC: INSERTs count as inserted rows */
    int nstmts; /* statements in its text: results to expect */
    char *what; /* for the error message (its text) */
};

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
    char encoding[16];    /* the session's client_encoding, "" until set */
    StrBuf batch;         /* statements queued, not yet sent ("; "-separated) */
    struct Pending *pend; /* one per queued message, in order */
    int npend, cappend;
    bool busy;        /* a COPY has ended; its result is not read yet */
    bool busy_counts; /* and its rows count as inserted */
    char *held_sql;   /* a key COPY held back (see hold_keys), or NULL */
    StrBuf held;      /* its data so far */
    double rtt_local; /* the round trip to the target, seconds (rtt_sample); 0: unknown */

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
    double rtt;      /* rtt_local, for writer_rtt */
};

/*
 * rtt_sample - an exchange that cost the server little (the session
 * setup, a COMMIT with nothing but the shape guard before it) took `secs`:
 * the round trip to the target is at most that.  The smallest one seen is
 * kept; it sizes what the writer holds back (hold_limit) and, through
 * writer_rtt, the sync thread's backlog units.
 */
#define RTT_CONFIRM 0.002 /* seconds: a first sample this long is confirmed */

static void rtt_sample(TargetWriter *w, double secs)
{
    if (secs <= 0 || (w->rtt_local > 0 && secs >= w->rtt_local))
        return;
    w->rtt_local = secs;
    pthread_mutex_lock(&w->lock);
    w->rtt = secs;
    pthread_mutex_unlock(&w->lock);
}

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
 * reached or the session cannot be set up.  A new session gets
 * client_encoding `encoding` (NULL: UTF8, as do_begin) in its setup
 * string, which is ASCII whatever the encoding: the BEGIN that follows
 * then needs no round trip of its own to set it.
 */
static bool ensure_conn(TargetWriter *w, bool quiet, const char *encoding)
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
        if (encoding == NULL || strlen(encoding) >= sizeof(w->encoding))
            encoding = "UTF8";
        char *lit = pg_quote_literal(w->conn, w->lock_timeout);
        char *enc = pg_quote_literal(w->conn, encoding);
        char *setup = xasprintf("SET session_replication_role = replica; SET statement_timeout = 0;"
                                " SET lock_timeout = %s; " PG_ROW_TEXT_SETTINGS "; " PG_KEY_JOIN_SETTINGS
                                "; SET client_encoding = %s",
                                lit, enc);
        double t0 = monotonic_seconds();
        bool ok = run(w, "session setup", setup, PGRES_COMMAND_OK, false);

        if (ok)
            rtt_sample(w, monotonic_seconds() - t0);
        if (ok && w->rtt_local >= RTT_CONFIRM) {
            /* A new backend's first statement may be slow (its caches,
             * a loaded server): a long first sample is confirmed by an
             * empty query, which the server answers at once, before it
             * makes units grow. */
            PGresult *res;

            t0 = monotonic_seconds();
            res = PQexec(w->conn, "");
            if (PQresultStatus(res) == PGRES_EMPTY_QUERY)
                rtt_sample(w, monotonic_seconds() - t0);
            PQclear(res);
        }
        free(setup);
        free(lit);
        free(enc);
        w->encoding[0] = '\0';
        if (!ok) {
            /* Not kept half set up: a later CONNECT or BEGIN would find it
             * alive and use it without replica role (only the slot's
             * release, DISCONNECT, closed it before). */
            close_conn(w);
            return false;
        }
        log_verbose("connected to target %s (round trip: %.2f ms)", w->db.name, w->rtt_local * 1000);
        snprintf(w->encoding, sizeof(w->encoding), "%s", encoding);
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
 * count_statements - how many statements (results) sql holds: its
 * non-empty pieces between semicolons outside quotes ('...', "...",
 * $tag$...$tag$) and comments (-- and non-nested slash-star).  A doubled quote inside a literal toggles
 * twice, and PQescapeLiteral's E'...' never leaves a quote behind a backslash.
 */
static int count_statements(const char *sql)
{
    int n = 0;
    bool text = false; /* something since the last semicolon */

    for (const char *p = sql; *p; p++) {
        if (*p == '\'' || *p == '"') {
            const char *close = strchr(p + 1, *p);
            p = close ? close : p + strlen(p) - 1;
            text = true;
        } else if (*p == '$' &&
                   (p == sql || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
                                  (p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= '0' && p[-1] <= '9')))) {
            size_t len = strspn(p + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_");
            if (p[1 + len] == '$') {
                char tag[72];
                const char *close;
                snprintf(tag, sizeof(tag), "%.*s", (int)(len + 2 < sizeof(tag) ? len + 2 : sizeof(tag) - 1),
                         p);
                close = strstr(p + len + 2, tag);
                p = close ? close + strlen(tag) - 1 : p + strlen(p) - 1;
            }
            text = true;
        } else if (p[0] == '-' && p[1] == '-') {
            const char *eol = strchr(p, '\n');
            p = eol ? eol : p + strlen(p) - 1; /* a comment is no statement */
        } else if (p[0] == '/' && p[1] == '*') {
            const char *close = strstr(p + 2, "*/");
            p = close ? close + 1 : p + strlen(p) - 1;
        } else if (*p == ';') {
            n += text;
            text = false;
        } else if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') {
            text = true;
        }
    }
    return n + text;
}

/* discard - forget the queued statements (not sent). */
static void discard(TargetWriter *w)
{
    for (int i = 0; i < w->npend; i++)
        free(w->pend[i].what);
    w->npend = 0;
    strbuf_reset(&w->batch);
}

/* queue - sql (of message `what`) goes out with the next string. */
static void queue(TargetWriter *w, PendKind kind, const char *what, const char *sql, bool count)
{
    if (w->npend == w->cappend) {
        w->cappend = w->cappend ? 2 * w->cappend : 16;
        w->pend = xrealloc(w->pend, (size_t)w->cappend * sizeof(struct Pending));
    }
    w->pend[w->npend++] = (struct Pending){kind, count, count_statements(sql), xstrdup(what)};
    if (w->batch.len > 0)
        strbuf_append(&w->batch, "\n;\n"); /* a newline first: a line comment ends before it */
    strbuf_append(&w->batch, sql);
}

static void flush_as(TargetWriter *w, bool commit);
static void flush(TargetWriter *w)
{
    flush_as(w, false);
}

/* one_result - a result of queued message p (NULL: one more than expected). */
static void one_result(TargetWriter *w, const struct Pending *p, const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    PendKind kind = p ? p->kind : PEND_EXEC;
    const char *what = p ? p->what : "statement";

    switch (kind) {
    case PEND_SHAPE:
        if (st == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            pthread_mutex_lock(&w->lock);
            free(w->shape);
            w->shape = xstrdup(PQgetvalue(res, 0, 0));
            pthread_mutex_unlock(&w->lock);
        } else {
            record_error(w, "BEGIN (reading the tables' columns)", res);
        }
        break;
    case PEND_QUERY:
        if (st == PGRES_TUPLES_OK)
            keep_rows(w, res);
        else
            record_error(w, what, res);
        break;
    case PEND_CHECK:
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            record_error_as(w, "check", res, true);
        break;
    case PEND_COPY: record_error(w, what, res); break; /* COPY_IN is handled by the caller */
    case PEND_EXEC:
        /* A statement run for its effect may return rows (SELECT setval(...)). */
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            record_error(w, what, res);
        } else if (st == PGRES_COMMAND_OK &&
                   (strncmp(PQcmdStatus((PGresult *)res), "DELETE", 6) == 0 ||
                    (p && p->count && strncmp(PQcmdStatus((PGresult *)res), "INSERT", 6) == 0))) {
            long n = atol(PQcmdTuples((PGresult *)res));
            pthread_mutex_lock(&w->lock);
            if (PQcmdStatus((PGresult *)res)[0] == 'D')
                w->deleted += n;
            else
                w->inserted += n;
            pthread_mutex_unlock(&w->lock);
        }
        break;
    }
}

/* drain - read the result of a COPY that has ended (see do_copy_end). */
static void drain(TargetWriter *w)
{
    PGresult *res;

    if (!w->busy)
        return;
    w->busy = false;
    while ((res = PQgetResult(w->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            record_error(w, "COPY", res);
        else if (w->busy_counts) {
            long n = atol(PQcmdTuples(res));
            pthread_mutex_lock(&w->lock);
            w->inserted += n;
            pthread_mutex_unlock(&w->lock);
        }
        PQclear(res);
    }
}

/* drain_all - read whatever results are left on the connection. */
static void drain_all(TargetWriter *w)
{
    PGresult *res;

    w->busy = false;
    while (w->conn && (res = PQgetResult(w->conn)) != NULL)
        PQclear(res);
}

/*
 * flush_as - send the queued statements as one string and read their
 * results in order; when its last statement is a COPY FROM STDIN, stop at
 * it (in_copy).  After a failure nothing more is sent, nor once the sync
 * is being stopped (a cancel that came while the writer was between
 * strings must not be outlived by a string sent after it), except for
 * `commit`: a COMMIT after a good BARRIER goes out as it always did.
 */
static void flush_as(TargetWriter *w, bool commit)
{
    PGresult *res;
    int i = 0, left;

    drain(w);
    if (w->npend == 0)
        return;
    if (w->failed || w->conn == NULL || (!commit && stopping(w))) {
        discard(w);
        return;
    }
    if (PQsendQuery(w->conn, w->batch.data) != 1) {
        record_error(w, w->pend[0].what, NULL);
        discard(w);
        return;
    }
    left = w->pend[0].nstmts;
    while ((res = PQgetResult(w->conn)) != NULL) {
        while (left <= 0 && i < w->npend - 1)
            left = w->pend[++i].nstmts;
        if (PQresultStatus(res) == PGRES_COPY_IN) {
            PQclear(res);
            w->in_copy = true; /* the last statement: the caller streams */
            break;
        }
        one_result(w, left > 0 ? &w->pend[i] : NULL, res);
        left--;
        PQclear(res);
    }
    discard(w);
}

/*
 * Key copies.  The sync thread streams each table's changed keys with
 * "COPY pg_temp.bucardo_k<t> (...) FROM STDIN" (cycle_apply.c) before the
 * DELETE and the rows' COPY.  A COPY costs a round trip for its
 * CopyInResponse and another for its result before the next string can go
 * out; up to hold_limit() bytes of keys are instead held back and queued
 * as one INSERT ... VALUES, which travels in the same string as the DELETE
 * and the rows' COPY.  The values are the COPY text's fields unescaped,
 * as literals: the target parses them with the same input functions COPY
 * would use.  More keys than that: the COPY goes out as it came.
 *
 * The server parses a VALUES list far slower than COPY text: 10,000
 * integer keys (about 70 kB) take 12-15 ms as an INSERT against 3-4 ms
 * as a COPY, about 0.14 us more per byte.  Holding pays while the two
 * round trips it saves cost more than that: up to HOLD_PER_RTT_MS bytes
 * per millisecond of round trip, at least HOLD_MIN (a small cycle on a
 * local link: a COPY's two round trips are two wake-ups of each side),
 * at most HOLD_MAX.
 */
#define HOLD_MIN        (16 * 1024)
#define HOLD_PER_RTT_MS (14 * 1024)
#define HOLD_MAX        (256 * 1024)
#define KEY_COPY_PREFIX "COPY pg_temp.bucardo_k"
#define COPY_SUFFIX     " FROM STDIN"

static size_t hold_limit(const TargetWriter *w)
{
    double limit = w->rtt_local * 1000 * HOLD_PER_RTT_MS;

    return limit < HOLD_MIN ? HOLD_MIN : limit > HOLD_MAX ? HOLD_MAX : (size_t)limit;
}

static bool is_key_copy(const char *sql)
{
    size_t n = strlen(sql), k = strlen(COPY_SUFFIX);
    return strncmp(sql, KEY_COPY_PREFIX, strlen(KEY_COPY_PREFIX)) == 0 && n > k &&
           strcmp(sql + n - k, COPY_SUFFIX) == 0;
}

/*
 * Held COPYs of rows.  A small batch's rows come as COPY text (the cycle
 * chooses text for it: cycle_apply.c, apply_table); they are held the
 * same way, up to hold_limit() bytes, and queued as "INSERT INTO <table>
 * (<columns>) VALUES ...", counted as inserted rows.  The unit's
 * statements then leave in one string at BARRIER (or COMMIT), whatever
 * the number of tables: one round trip instead of two per table.  The
 * values go through the same input functions as COPY text; rules and
 * triggers do not fire in replica mode, so the INSERT does what the COPY
 * did.  A COPY in binary, or with options, is never held.
 */
static bool is_row_copy(const char *sql)
{
    size_t n = strlen(sql), k = strlen(COPY_SUFFIX);
    return strncmp(sql, "COPY ", 5) == 0 && n > k && strcmp(sql + n - k, COPY_SUFFIX) == 0;
}

/* copy_unescape - one field of COPY text (len bytes) into out, decoded. */
static void copy_unescape(StrBuf *out, const char *f, size_t len)
{
    strbuf_reset(out);
    for (size_t i = 0; i < len; i++) {
        char c = f[i];
        if (c != '\\' || i + 1 == len) {
            strbuf_append_len(out, &c, 1);
            continue;
        }
        c = f[++i];
        switch (c) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'v': c = '\v'; break;
        case 'x':
            if (i + 1 < len && strchr("0123456789abcdefABCDEF", f[i + 1]) && f[i + 1]) {
                int v = 0, d = 0;
                while (d < 2 && i + 1 < len && f[i + 1] && strchr("0123456789abcdefABCDEF", f[i + 1])) {
                    char h = f[++i];
                    v = v * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                    d++;
                }
                c = (char)v;
            }
            break;
        default:
            if (c >= '0' && c <= '7') {
                int v = c - '0', d = 1;
                while (d < 3 && i + 1 < len && f[i + 1] >= '0' && f[i + 1] <= '7') {
                    v = v * 8 + (f[++i] - '0');
                    d++;
                }
                c = (char)v;
            }
            break; /* any other character stands for itself */
        }
        strbuf_append_len(out, &c, 1);
    }
}

/*
 * keys_insert - the held key COPY as "INSERT INTO <its table> (<its
 * columns>) VALUES (...), ...", or NULL when there are no keys or a value
 * cannot be quoted (error recorded).
 */
static char *keys_insert(TargetWriter *w)
{
    const char *data = w->held.data ? w->held.data : "";
    size_t len = w->held.len, target = strlen(w->held_sql) - strlen("COPY ") - strlen(COPY_SUFFIX);
    StrBuf sql, field;
    bool ok = true;

    if (len == 0)
        return NULL;
    strbuf_init(&sql);
    strbuf_init(&field);
    strbuf_printf(&sql, "INSERT INTO %.*s VALUES ", (int)target, w->held_sql + strlen("COPY "));
    for (size_t pos = 0; ok && pos < len;) {
        const char *line = data + pos, *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;

        strbuf_append(&sql, pos ? ",(" : "(");
        for (size_t f = 0; ok && f <= llen;) {
            const char *tab = memchr(line + f, '\t', llen - f);
            size_t flen = tab ? (size_t)(tab - (line + f)) : llen - f;
            if (f > 0)
                strbuf_append(&sql, ",");
            if (flen == 2 && line[f] == '\\' && line[f + 1] == 'N') {
                strbuf_append(&sql, "NULL");
            } else {
                char *lit;
                copy_unescape(&field, line + f, flen);
                lit = PQescapeLiteral(w->conn, field.data ? field.data : "", field.len);
                if (lit == NULL) {
                    record_error(w, "quoting a value", NULL);
                    ok = false;
                    break;
                }
                strbuf_append(&sql, lit);
                PQfreemem(lit);
            }
            f += flen + 1;
            if (!tab)
                break;
        }
        strbuf_append(&sql, ")");
        pos += llen + 1;
    }
    strbuf_free(&field);
    if (!ok) {
        strbuf_free(&sql);
        return NULL;
    }
    return sql.data;
}

/* unhold - forget a held key COPY. */
static void unhold(TargetWriter *w)
{
    free(w->held_sql);
    w->held_sql = NULL;
    strbuf_reset(&w->held);
}

/* hold_release - too many keys to hold: the COPY goes out after all, with
 * what was held so far. */
static void hold_release(TargetWriter *w)
{
    queue(w, PEND_COPY, w->held_sql, w->held_sql, false);
    flush(w);
    if (w->in_copy && w->held.len > 0 && PQputCopyData(w->conn, w->held.data, (int)w->held.len) != 1)
        record_error(w, "COPY data", NULL);
    unhold(w);
}

/* hold_end - the held COPY (keys or rows) ended: queue it as an INSERT. */
static void hold_end(TargetWriter *w)
{
    char *sql = w->failed ? NULL : keys_insert(w);

    if (sql)
        queue(w, PEND_EXEC, w->held_sql, sql, w->copy_counts);
    free(sql);
    unhold(w);
}

/*
 * queue_guard - a COMMIT sent without BARRIER (commit_all, one writer)
 * carries the check the sync thread makes between the two: the tables'
 * shape (the BEGIN's query) must still be `shape`, the one checked against
 * the sources.  Otherwise the string fails here, before its COMMIT, with
 * GUARD_MESSAGE (the sync thread recognises it and checks the columns
 * again).
 */
static void queue_guard(TargetWriter *w, const char *shape)
{
    char *lit, *sql, *expr;

    pthread_mutex_lock(&w->lock);
    expr = w->shape_sql ? xstrdup(w->shape_sql) : NULL;
    pthread_mutex_unlock(&w->lock);
    if (expr == NULL || w->conn == NULL)
        return free(expr);
    lit = pg_quote_literal(w->conn, shape);
    sql = xasprintf("DO $bucardo_guard$ BEGIN IF (SELECT %s) IS DISTINCT FROM %s THEN"
                    " RAISE EXCEPTION '" WRITER_GUARD_MESSAGE "' USING ERRCODE = '55000'; END IF;"
                    " END $bucardo_guard$",
                    expr, lit);
    queue(w, PEND_EXEC, "COMMIT (checking the tables' columns first)", sql, false);
    free(sql);
    free(lit);
    free(expr);
}

/*
 * do_begin - make sure the connection is usable, with client_encoding
 * `encoding` (the sources', see pg_copy_encoding; NULL: UTF8), then queue
 * BEGIN (and the shape query): it goes out with the unit's first string.
 */
static void do_begin(TargetWriter *w, const char *encoding)
{
    char *shape_sql;

    reset(w);
    discard(w);
    if (encoding == NULL)
        encoding = "UTF8";
    if (!ensure_conn(w, false, encoding))
        return;
    if (strcmp(w->encoding, encoding) != 0) {
        /* Run alone: the server decodes a whole string in the encoding it
         * had when the string arrived. */
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
    shape_sql = w->shape_sql ? xasprintf("SELECT %s", w->shape_sql) : NULL;
    pthread_mutex_unlock(&w->lock);
    queue(w, PEND_EXEC, "BEGIN", "BEGIN", false);
    w->in_txn = true; /* ROLLBACK looks at the session's own status */
    if (shape_sql)
        queue(w, PEND_SHAPE, "BEGIN (reading the tables' columns)", shape_sql, false);
    free(shape_sql);
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

/* do_copy_end - end the COPY; its result is read when the next string
 * goes out (drain), so the writer does not wait for it here. */
static void do_copy_end(TargetWriter *w)
{
    if (!w->in_copy)
        return;
    w->in_copy = false;
    if (PQputCopyEnd(w->conn, w->failed ? "aborted by bucardo" : NULL) != 1) {
        record_error(w, "COPY end", NULL);
        drain_all(w);
        return;
    }
    w->busy = true;
    w->busy_counts = w->copy_counts;
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
            /* m->sql: the client_encoding the next BEGIN will ask for, if known */
            reply(w, ensure_conn(w, true, m->sql)); /* the sync thread logs who is left out */
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
                queue(w, PEND_EXEC, m->sql, m->sql, m->count);
            break;
        case MSG_QUERY:
            if (!w->failed && !stopping(w))
                queue(w, PEND_QUERY, m->sql, m->sql, false);
            break;
        case MSG_CHECK:
            if (!w->failed && !stopping(w))
                queue(w, PEND_CHECK, m->sql, m->sql, false);
            break;
        case MSG_EMPTY:
            flush(w);
            if (!w->failed && !stopping(w))
                do_empty(w, m->sql);
            break;
        case MSG_COPY_BEGIN:
            if (!w->failed && !stopping(w)) {
                if ((is_key_copy(m->sql) && !m->count) || (m->count && is_row_copy(m->sql))) {
                    w->held_sql = xstrdup(m->sql);
                    strbuf_reset(&w->held);
                } else {
                    queue(w, PEND_COPY, m->sql, m->sql, false);
                    flush(w);
                }
            }
            w->copy_counts = m->count;
            w->copies++;
            break;
        case MSG_DATA:
            w->bytes += m->chunk->len;
            if (w->held_sql && !w->failed) {
                strbuf_append_len(&w->held, m->chunk->data, m->chunk->len);
                if (w->held.len > hold_limit(w))
                    hold_release(w);
            } else if (!w->failed && w->in_copy &&
                       PQputCopyData(w->conn, m->chunk->data, (int)m->chunk->len) != 1) {
                record_error(w, "COPY data", NULL);
            }
            chunk_release(w->pool, m->chunk);
            break;
        case MSG_COPY_END:
            if (w->held_sql)
                hold_end(w);
            else
                do_copy_end(w);
            break;
        case MSG_BARRIER:
            flush(w);
            reply(w, !w->failed);
            break;
        case MSG_COMMIT:
            if (!w->failed && w->in_txn && w->npend > 0 && stopping(w)) {
                discard(w); /* no BARRIER came: the unit's statements were never sent */
            } else if (!w->failed && w->in_txn) {
                bool lone = w->npend == 0 && !w->busy; /* nothing but COMMIT (and its guard) */
                double t0 = monotonic_seconds();

                if (m->sql)
                    queue_guard(w, m->sql);
                queue(w, PEND_EXEC, "COMMIT", "COMMIT", false);
                flush_as(w, true);
                if (lone && !w->failed)
                    rtt_sample(w, monotonic_seconds() - t0);
                log_debug("%s: %ld statement(s) (%ld COPY), %llu bytes of rows, %.1f ms from BEGIN to COMMIT",
                          w->failed ? "failed at COMMIT" : "committed", w->stmts, w->copies, w->bytes,
                          (monotonic_seconds() - w->began) * 1000);
            } else {
                flush_as(w, true);
            }
            w->in_txn = false;
            reply(w, !w->failed);
            break;
        case MSG_ROLLBACK:
            if (w->in_copy)
                do_copy_end(w);
            if (w->busy)
                drain_all(w);
            discard(w);
            unhold(w);
            if (w->conn && PQstatus(w->conn) == CONNECTION_OK &&
                PQtransactionStatus(w->conn) != PQTRANS_IDLE) {
                PGresult *res = PQexec(w->conn, "ROLLBACK");
                PQclear(res);
            }
            w->in_txn = false;
            reply(w, true);
            break;
        case MSG_DISCONNECT:
            discard(w);
            unhold(w);
            close_conn(w);
            w->in_txn = w->in_copy = w->busy = false;
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
    strbuf_init(&w->batch);
    strbuf_init(&w->held);
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

double writer_rtt(TargetWriter *w)
{
    double rtt;

    pthread_mutex_lock(&w->lock);
    rtt = w->rtt;
    pthread_mutex_unlock(&w->lock);
    return rtt;
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
    discard(w);
    strbuf_free(&w->batch);
    unhold(w);
    strbuf_free(&w->held);
    free(w->pend);
    free(w->shape_sql);
    free(w->shape);
    dbinfo_free(&w->db);
    free(w->sync);
    free(w->lock_timeout);
    free(w);
}
