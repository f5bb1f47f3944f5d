/*
 * engine/common/pgconn.c - thin libpq helpers shared by the CLI and the engine.
 *
 * The point of this file is uniform errors: every failure is reported once,
 * here, as "who: primary message (SQLSTATE xxxxx)" plus libpq's DETAIL and
 * HINT when present, so callers only propagate a status.  Connection
 * failures never echo the conninfo, hence never a password.
 */
#include "pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* Server messages may quote user input (a 100 kB identifier, control
 * characters): they are printed as one line of at most this many bytes. */
enum { MESSAGE_MAX = 1000 };

/*
 * Make libpq's message one line, in place: trailing newlines go, and each
 * inner line break (with the indentation libpq puts after it, as in
 * "failed: ...\n\tIs the server running...") becomes one space.  An error
 * is one line wherever it ends up: a terminal, or the engine's log.
 */
static void chomp(char *s)
{
    char *out = s;

    for (const char *in = s; *in; in++) {
        if (*in == '\n' || *in == '\r') {
            while (in[1] == '\n' || in[1] == '\r' || in[1] == '\t' || in[1] == ' ')
                in++;
            if (in[1] != '\0')
                *out++ = ' ';
            continue;
        }
        *out++ = *in;
    }
    *out = '\0';
}

/* print_notice - libpq's notice processor: each notice as one short line. */
static void print_notice(void *arg, const char *message)
{
    char *copy = xstrdup(message), *shown;

    (void)arg;
    chomp(copy);
    shown = utf8_printable(copy, MESSAGE_MAX);
    fprintf(stderr, "%s\n", shown);
    free(shown);
    free(copy);
}

PGconn *pg_connect(const ConnParams *cp, const char *who)
{
    char err[1024];
    PGconn *conn = pg_connect_err(cp, err, sizeof(err));

    if (conn == NULL) {
        char *shown = utf8_printable(err, MESSAGE_MAX);
        fprintf(stderr, "%s: could not connect: %s\n", who, shown);
        free(shown);
    }
    return conn;
}

/* extra_sets - does the conninfo string `extra` give keyword `key` a value?
 * (An unparsable one sets nothing here; connecting reports it.) */
static bool extra_sets(const char *extra, const char *key)
{
    PQconninfoOption *opts;
    bool set = false;

    if (extra == NULL || extra[0] == '\0' || (opts = PQconninfoParse(extra, NULL)) == NULL)
        return false;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            set = o->val != NULL && o->val[0] != '\0';
    PQconninfoFree(opts);
    return set;
}

PGconn *pg_connect_err(const ConnParams *cp, char *err, size_t errlen)
{
    const char *keys[11];
    const char *vals[11];
    int n = 0;
    PGconn *conn;

    /* A host that drops packets would hold a connection attempt - and a
     * sync's whole cycle - for the kernel's TCP timeout (minutes).  First
     * in the list, so a database's conn= option can set another; not when
     * PGCONNECT_TIMEOUT or a service (whose file may set one) is in play,
     * which an explicit keyword would override. */
    if (getenv("PGCONNECT_TIMEOUT") == NULL && getenv("PGSERVICE") == NULL &&
        (cp->service == NULL || cp->service[0] == '\0') && !extra_sets(cp->extra, "service")) {
        keys[n] = "connect_timeout";
        vals[n++] = "10";
    }
    /* Extra options next: expand_dbname lets "dbname" hold a conninfo. */
    if (cp->extra && cp->extra[0]) {
        keys[n] = "dbname";
        vals[n++] = cp->extra;
    }
#define ADD(k, v)                                                                                            \
    do {                                                                                                     \
        if ((v) != NULL && (v)[0] != '\0') {                                                                 \
            keys[n] = (k);                                                                                   \
            vals[n++] = (v);                                                                                 \
        }                                                                                                    \
    } while (0)
    ADD("service", cp->service);
    ADD("host", cp->host);
    ADD("port", cp->port);
    ADD("user", cp->user);
    ADD("password", cp->password);
    if (cp->dbname && cp->dbname[0]) {
        /* A later "dbname" is taken literally, not expanded. */
        keys[n] = "dbname";
        vals[n++] = cp->dbname;
    }
#undef ADD
    keys[n] = "fallback_application_name";
    vals[n++] = "bucardo";
    keys[n] = NULL;
    vals[n] = NULL;

    conn = PQconnectdbParams(keys, vals, cp->extra && cp->extra[0] ? 1 : 0);
    if (conn == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(conn));
        chomp(err);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, print_notice, NULL);
    return conn;
}

void pg_report(const char *who, PGconn *conn, const PGresult *res)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    char *shown;

    if (primary == NULL) {
        char *msg = xstrdup(PQerrorMessage(conn));
        chomp(msg);
        shown = utf8_printable(msg[0] ? msg : "unknown error", MESSAGE_MAX);
        fprintf(stderr, "%s: %s\n", who, shown);
        free(shown);
        free(msg);
        return;
    }
    shown = utf8_printable(primary, MESSAGE_MAX);
    if (state)
        fprintf(stderr, "%s: %s (SQLSTATE %s)\n", who, shown, state);
    else
        fprintf(stderr, "%s: %s\n", who, shown);
    free(shown);
    if (detail) {
        shown = utf8_printable(detail, MESSAGE_MAX);
        fprintf(stderr, "DETAIL: %s\n", shown);
        free(shown);
    }
    if (hint) {
        shown = utf8_printable(hint, MESSAGE_MAX);
        fprintf(stderr, "HINT: %s\n", shown);
        free(shown);
    }
}

PGresult *pg_query(PGconn *conn, const char *who, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    pg_report(who, conn, res);
    PQclear(res);
    return NULL;
}

const char *pg_copy_encoding(PGconn *source)
{
    const char *enc = PQparameterStatus(source, "server_encoding");
    return enc != NULL && strcmp(enc, "SQL_ASCII") == 0 ? "SQL_ASCII" : "UTF8";
}

bool pg_exec(PGconn *conn, const char *who, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = pg_query(conn, who, sql, nparams, params);
    if (res == NULL)
        return false;
    PQclear(res);
    return true;
}

bool pg_exec_script(PGconn *conn, const char *who, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        PQclear(res);
        return true;
    }
    pg_report(who, conn, res);
    PQclear(res);
    return false;
}

/* escape - PQescapeIdentifier or PQescapeLiteral into an xmalloc'd string;
 * failure (invalid encoding, out of memory) is fatal: callers build SQL
 * from the result and must never run half-quoted text. */
static char *escape(PGconn *conn, const char *text, bool ident)
{
    char *q =
        ident ? PQescapeIdentifier(conn, text, strlen(text)) : PQescapeLiteral(conn, text, strlen(text));
    char *out;

    if (q == NULL) {
        fprintf(stderr, "bucardo: cannot quote %s: %s", ident ? "an identifier" : "a value",
                PQerrorMessage(conn));
        exit(2);
    }
    out = xstrdup(q);
    PQfreemem(q);
    return out;
}

char *pg_quote_ident(PGconn *conn, const char *ident)
{
    return escape(conn, ident, true);
}

char *pg_quote_literal(PGconn *conn, const char *value)
{
    return escape(conn, value, false);
}

char *pg_array_literal(const StrList *items)
{
    StrBuf sb;

    strbuf_init(&sb);
    strbuf_append(&sb, "{");
    for (int i = 0; i < items->count; i++) {
        strbuf_append(&sb, i ? ",\"" : "\"");
        for (const char *c = items->items[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                strbuf_append_len(&sb, "\\", 1);
            strbuf_append_len(&sb, c, 1);
        }
        strbuf_append(&sb, "\"");
    }
    strbuf_append(&sb, "}");
    return sb.data;
}

/* pipeline_send - pg_pipeline_send for statements with any parameters. */
static void pipeline_send(PGconn *conn, int n, const PgStatement *st, PGresult **results)
{
    bool piped = n > 0 && PQenterPipelineMode(conn) == 1, broken = false;

    /* Each statement with a sync of its own: an error fails that
     * statement alone, as one by one (a check of a missing table must not
     * show as its neighbours' aborted results, with no message). */
    for (int i = 0; i < n; i++) {
        if (!piped)
            results[i] = PQexecParams(conn, st[i].sql, st[i].nparams, NULL, st[i].params, NULL, NULL, 0);
        else if (broken ||
                 PQsendQueryParams(conn, st[i].sql, st[i].nparams, NULL, st[i].params, NULL, NULL, 0) != 1 ||
                 PQpipelineSync(conn) != 1) {
            results[i] = NULL;
            broken = true;
        } else
            results[i] = PQmakeEmptyPGresult(conn, PGRES_PIPELINE_ABORTED); /* replaced by recv */
    }
    if (broken) {
        /* Nothing will come back: what was sent failed with the connection. */
        for (int i = 0; i < n; i++) {
            PQclear(results[i]);
            results[i] = NULL;
        }
        (void)PQexitPipelineMode(conn);
    }
}

void pg_pipeline_send(PGconn *conn, int n, char *const *sql, char *const *param, PGresult **results)
{
    PgStatement *st = xcalloc((size_t)n + 1, sizeof(PgStatement));

    for (int i = 0; i < n; i++)
        st[i] = (PgStatement){sql[i], param[i] ? 1 : 0, param[i] ? (const char *const *)&param[i] : NULL};
    pipeline_send(conn, n, st, results);
    free(st);
}

bool pg_pipelined_steps(PGconn *conn, const char *who, int n, const PgStatement *st, PGresult **results,
                        int quiet, int *failed)
{
    pipeline_send(conn, n, st, results);
    pg_pipeline_recv(conn, n, results);
    for (int i = 0; i < n; i++) {
        ExecStatusType rs = results[i] ? PQresultStatus(results[i]) : PGRES_FATAL_ERROR;
        if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK)
            continue;
        *failed = results[i] ? i : n;
        if (i != quiet || results[i] == NULL)
            pg_report(who, conn, results[i]);
        return false;
    }
    *failed = -1;
    return true;
}

void pg_pipeline_recv(PGconn *conn, int n, PGresult **results)
{
    PGresult *res;

    if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF)
        return; /* run one by one in send, or failed there */
    for (int i = 0; i < n; i++) {
        if (results[i] == NULL)
            continue;
        PQclear(results[i]);
        results[i] = PQgetResult(conn);
        while ((res = PQgetResult(conn)) != NULL) /* the end of statement i */
            PQclear(res);
        res = PQgetResult(conn); /* its PGRES_PIPELINE_SYNC */
        PQclear(res);
    }
    (void)PQexitPipelineMode(conn);
}

void pg_pipelined(PGconn *conn, int n, char *const *sql, char *const *param, PGresult **results)
{
    pg_pipeline_send(conn, n, sql, param, results);
    pg_pipeline_recv(conn, n, results);
}
