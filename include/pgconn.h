/*
 * include/pgconn.h - libpq helpers: connect, run parameterised SQL, report
 * errors with the object they concern and the SQLSTATE.
 *
 * Every helper that fails prints one error line to stderr naming `who` (e.g.
 * "catalog", "database test1") and returns NULL/false; callers only
 * propagate.  Values always travel as parameters, never spliced into SQL.
 */
#ifndef BUCARDO_PGCONN_H
#define BUCARDO_PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "util.h"

/* Connection parameters; NULL fields fall back to libpq's defaults. */
typedef struct ConnParams {
    const char *host;
    const char *port;
    const char *user;
    const char *dbname;
    const char *password;
    const char *service;
    const char *extra; /* further "key=value key=value" libpq options */
} ConnParams;

/*
 * pg_connect - open a connection; on failure print "who: message" and
 * return NULL.  The caller owns the connection (PQfinish).  The password is
 * never part of any message.
 */
PGconn *pg_connect(const ConnParams *cp, const char *who) MUST_CHECK;

/* pg_connect_err - pg_connect that puts the reason into err instead of
 * printing it (for the engine, which logs it with its own context). */
PGconn *pg_connect_err(const ConnParams *cp, char *err, size_t errlen) MUST_CHECK;

/*
 * PG_KEY_JOIN_SETTINGS - for the engine's source and writer sessions, whose
 * joins always pair a key list (at most batch_keys keys) with a table's own
 * key index: a nested loop over the index is right, and without statistics
 * on the temp key table the planner would often scan the whole table
 * instead, once per batch.
 */
#define PG_KEY_JOIN_SETTINGS "SET enable_hashjoin = off; SET enable_mergejoin = off"

/*
 * pg_copy_encoding - the client_encoding every engine session of a sync
 * uses while moving rows read from this source connection: UTF8, so a
 * source and a target with different server encodings convert through it
 * (a character the target cannot hold is an error, never garbled bytes);
 * SQL_ASCII when the source is SQL_ASCII, whose bytes carry no encoding
 * and must pass unconverted.  Left to the defaults, each side would use
 * its own database's encoding and a UTF8 row would land in a LATIN1
 * target as mojibake.
 */
const char *pg_copy_encoding(PGconn *source);

/*
 * PG_ROW_TEXT_SETTINGS - run first on every engine connection that reads or
 * writes rows as COPY text.  A database's own defaults (ALTER DATABASE ...
 * SET DateStyle = 'SQL, DMY', extra_float_digits = 0, xmloption = document,
 * IntervalStyle, lc_monetary) would otherwise decide how values print on a
 * source and parse on a target: dates refused or read as other dates,
 * floats rounded, xml fragments refused.  With these the text is exact.
 */
#define PG_ROW_TEXT_SETTINGS                                                                                 \
    "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3;"                         \
    " SET lc_monetary = 'C'; SET xmloption = content; SET bytea_output = hex"

/* pg_query - run SQL with text parameters; NULL (error printed) unless the
 * result is TUPLES_OK or COMMAND_OK.  The caller PQclear()s the result. */
PGresult *pg_query(PGconn *conn, const char *who, const char *sql, int nparams,
                   const char *const *params) MUST_CHECK;

/* pg_exec - pg_query for statements whose result is not needed. */
bool pg_exec(PGconn *conn, const char *who, const char *sql, int nparams,
             const char *const *params) MUST_CHECK;

/* pg_exec_script - run several ';'-separated statements (no parameters). */
bool pg_exec_script(PGconn *conn, const char *who, const char *sql) MUST_CHECK;

/*
 * pg_pipeline_send / pg_pipeline_recv - n statements of at most one text
 * parameter each (param[i] NULL: none) in libpq's pipeline mode: send puts
 * them all on the wire, each with a sync of its own, and returns at once;
 * recv waits for their results (results[i]: statement i's, an error
 * failing that one alone - inside a transaction block the later ones then
 * fail as aborted, as they would one by one; NULL when the connection
 * failed, its error in PQerrorMessage).  Sending on several connections before receiving on
 * any makes their round trips overlap.  A connection that cannot enter
 * pipeline mode runs them one by one in send, and recv does nothing.
 * pg_pipelined is both in one call.
 */
void pg_pipeline_send(PGconn *conn, int n, char *const *sql, char *const *param, PGresult **results);
/* PgStatement - one statement of pg_pipelined_steps: its text parameters
 * (borrowed: they must stay until the call returns). */
typedef struct PgStatement {
    const char *sql;
    int nparams;
    const char *const *params;
} PgStatement;
/* pg_pipelined_steps - n statements as pg_pipelined, each with its own
 * parameters; true when every one succeeded (TUPLES_OK or COMMAND_OK).
 * Otherwise the first failure is printed as pg_query does, prefixed by
 * `who`, unless it is statement `quiet` (-1: none) failing with an error
 * whose SQLSTATE the caller judges itself; *failed is the index of that
 * first failure (n: the connection failed, always printed).  results[i] as pg_pipeline_recv (the caller
 * PQclear()s them). */
bool pg_pipelined_steps(PGconn *conn, const char *who, int n, const PgStatement *st, PGresult **results,
                        int quiet, int *failed) MUST_CHECK;
void pg_pipeline_recv(PGconn *conn, int n, PGresult **results);
void pg_pipelined(PGconn *conn, int n, char *const *sql, char *const *param, PGresult **results);

/* pg_quote_ident - PQescapeIdentifier into an xmalloc'd string. */
char *pg_quote_ident(PGconn *conn, const char *ident);

/* pg_quote_literal - PQescapeLiteral into an xmalloc'd string. */
char *pg_quote_literal(PGconn *conn, const char *value);

/* pg_array_literal - a text[] literal ("{\"a\",\"b\"}") of the list, for a parameter. */
char *pg_array_literal(const StrList *items);

/* pg_report - print "who: message (SQLSTATE xxxxx)" for a failed result. */
void pg_report(const char *who, PGconn *conn, const PGresult *res);

#endif
