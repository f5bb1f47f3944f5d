/*
 * engine/drivers/driver_sqlite.c - SQLite targets (libsqlite3): the
 * database file is the db's dbname and must exist, with the tables (as
 * for every target, bucardo creates none); only `add db` creates a missing
 * file (TargetConfig.create_file), as Bucardo's DBD::SQLite did.  It is opened in WAL mode, so
 * readers go on while a unit is applied; each unit is one transaction
 * (BEGIN IMMEDIATE ... COMMIT), and each table operation one prepared
 * statement run once per row: DELETE ... WHERE key = ? AND ..., or INSERT
 * INTO t (cols) VALUES (?, ...).  Values are bound as text (NULL as NULL),
 * so the column's affinity decides how SQLite stores them, as when psql
 * output is loaded: integers and reals become numbers, the rest keeps
 * PostgreSQL's text form.  Tables are named without a schema.
 */
#include "target_driver.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct LiteConn {
    sqlite3 *db;
    sqlite3_stmt *stmt; /* the table operation's statement */
    char *name;
    bool *numeric; /* per column of the table last scanned: numeric affinity */
} LiteConn;

/* failed - err gets what: SQLite's message. */
static bool failed(LiteConn *c, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s (SQLite %s)", what, sqlite3_errmsg(c->db), c->name);
    return false;
}

static bool exec(LiteConn *c, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;

    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return true;
    snprintf(err, errlen, "%s: %s (SQLite %s)", sql, msg ? msg : sqlite3_errmsg(c->db), c->name);
    sqlite3_free(msg);
    return false;
}

static void lite_close(void *conn)
{
    LiteConn *c = conn;

    if (c == NULL)
        return;
    sqlite3_finalize(c->stmt);
    sqlite3_close(c->db);
    free(c->numeric);
    free(c->name);
    free(c);
}

static void *lite_open(const DbInfo *db, const TargetConfig *cfg, char *err, size_t errlen)
{
    LiteConn *c = xcalloc(1, sizeof(LiteConn));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

    c->name = xstrdup(db->dbname ? db->dbname : "");
    /* add db of a file that does not exist yet: created (DBD::SQLite did),
     * when its directory exists; the engine never creates one */
    if (cfg != NULL && cfg->create_file && c->name[0] != '\0' && access(c->name, F_OK) != 0) {
        char *dir = xstrdup(c->name);
        char *slash = strrchr(dir, '/');
        const char *d = slash == NULL ? "." : slash == dir ? "/" : (*slash = '\0', dir);
        struct stat st;
        if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "cannot create SQLite database \"%s\": directory \"%s\" does not exist",
                     c->name, d);
            free(dir);
            lite_close(c);
            return NULL;
        }
        free(dir);
        flags |= SQLITE_OPEN_CREATE;
    }
    if (sqlite3_open_v2(c->name, &c->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open SQLite database \"%s\": %s", c->name,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        lite_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 60000);
    if (!exec(c, "PRAGMA journal_mode = WAL", err, errlen)) {
        lite_close(c);
        return NULL;
    }
    return c;
}

static bool lite_alive(void *conn)
{
    return conn != NULL;
}

static bool lite_begin(void *conn, char *err, size_t errlen)
{
    return exec(conn, "BEGIN IMMEDIATE", err, errlen);
}

static bool lite_table(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    LiteConn *c = conn;
    StrBuf sql;
    bool ok;

    strbuf_init(&sql);
    if (spec->op == 'K') {
        strbuf_append(&sql, "DELETE FROM ");
        target_put_ident(&sql, spec->table, '"');
        strbuf_append(&sql, " WHERE ");
        for (int i = 0; i < spec->ncols; i++) {
            strbuf_append(&sql, i ? " AND " : "");
            target_put_ident(&sql, spec->cols[i], '"');
            strbuf_printf(&sql, " = ?%d", i + 1);
        }
    } else {
        strbuf_append(&sql, "INSERT INTO ");
        target_put_ident(&sql, spec->table, '"');
        strbuf_append(&sql, " (");
        for (int i = 0; i < spec->ncols; i++) {
            strbuf_append(&sql, i ? ", " : "");
            target_put_ident(&sql, spec->cols[i], '"');
        }
        strbuf_append(&sql, ") VALUES (");
        for (int i = 0; i < spec->ncols; i++)
            strbuf_printf(&sql, "%s?%d", i ? ", " : "", i + 1);
        strbuf_append(&sql, ")");
    }
    sqlite3_finalize(c->stmt);
    c->stmt = NULL;
    ok = sqlite3_prepare_v2(c->db, sql.data, -1, &c->stmt, NULL) == SQLITE_OK;
    if (!ok) {
        char what[300];
        snprintf(what, sizeof(what), "table %s", spec->table);
        failed(c, what, err, errlen);
    }
    strbuf_free(&sql);
    return ok;
}

static bool lite_rows(void *conn, const TableSpec *spec, int nrows, char **vals, long *affected, char *err,
                      size_t errlen)
{
    LiteConn *c = conn;
    int nc = spec->ncols;

    for (int r = 0; r < nrows; r++) {
        sqlite3_reset(c->stmt);
        for (int i = 0; i < nc; i++) {
            const char *v = vals[r * nc + i];
            int rc = v ? sqlite3_bind_text(c->stmt, i + 1, v, -1, SQLITE_STATIC)
                       : sqlite3_bind_null(c->stmt, i + 1);
            if (rc != SQLITE_OK)
                return failed(c, spec->table, err, errlen);
        }
        if (sqlite3_step(c->stmt) != SQLITE_DONE) {
            char what[300];
            snprintf(what, sizeof(what), "table %s: %s", spec->table, spec->op == 'K' ? "DELETE" : "INSERT");
            return failed(c, what, err, errlen);
        }
        *affected += sqlite3_changes(c->db);
    }
    sqlite3_reset(c->stmt);
    sqlite3_clear_bindings(c->stmt);
    return true;
}

static bool lite_table_end(void *conn, const TableSpec *spec, long *affected, char *err, size_t errlen)
{
    LiteConn *c = conn;

    (void)spec;
    (void)affected;
    (void)err;
    (void)errlen;
    sqlite3_finalize(c->stmt);
    c->stmt = NULL;
    return true;
}

static bool lite_empty(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    StrBuf sql;
    bool ok;

    strbuf_init(&sql);
    strbuf_append(&sql, "DELETE FROM ");
    target_put_ident(&sql, spec->table, '"');
    ok = exec(conn, sql.data, err, errlen);
    strbuf_free(&sql);
    return ok;
}

static bool lite_commit(void *conn, char *err, size_t errlen)
{
    return exec(conn, "COMMIT", err, errlen);
}

static void lite_rollback(void *conn)
{
    LiteConn *c = conn;

    sqlite3_finalize(c->stmt);
    c->stmt = NULL;
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static bool lite_describe(void *conn, const char *schema, const char *table, bool *found, StrList *names,
                          StrList *types, char *err, size_t errlen)
{
    LiteConn *c = conn;
    sqlite3_stmt *st = NULL;

    (void)schema;
    *found = false;
    if (sqlite3_prepare_v2(c->db, "SELECT name, type FROM pragma_table_info(?1)", -1, &st, NULL) != SQLITE_OK)
        return failed(c, "reading the columns", err, errlen);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        *found = true;
        strlist_add(names, (const char *)sqlite3_column_text(st, 0));
        strlist_add(types, (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return true;
}

static int lite_is_empty(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    LiteConn *c = conn;
    sqlite3_stmt *st = NULL;
    StrBuf sql;
    int empty = -1;

    strbuf_init(&sql);
    strbuf_append(&sql, "SELECT NOT EXISTS (SELECT 1 FROM ");
    target_put_ident(&sql, spec->table, '"');
    strbuf_append(&sql, ")");
    if (sqlite3_prepare_v2(c->db, sql.data, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        empty = sqlite3_column_int(st, 0);
    else
        failed(c, sql.data, err, errlen);
    sqlite3_finalize(st);
    strbuf_free(&sql);
    return empty;
}

/*
 * Compare (target_driver.h: scan, canon).  A column of numeric affinity
 * (its declared type names INT, REAL, FLOA, DOUB or anything but
 * CHAR/CLOB/TEXT/BLOB) turned the text bound into it into a number when
 * the text was one: there values compare as numbers (integers exactly,
 * other values as %.15g, SQLite's own precision for real text); text as
 * it is.
 */

/* numeric_affinity - whether a column declared `decl` converts numeric text. */
static bool numeric_affinity(const char *decl)
{
    char up[256];
    size_t i;

    for (i = 0; decl && decl[i] && i < sizeof(up) - 1; i++)
        up[i] = (char)toupper((unsigned char)decl[i]);
    up[i] = '\0';
    if (strstr(up, "INT"))
        return true;
    if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT") || strstr(up, "BLOB") || i == 0)
        return false;
    return true;
}

/* canon_number - v as a number's one text, or NULL when v is not a number. */
static char *canon_number(const char *v)
{
    char *end, buf[64];
    long long i;
    double d;

    errno = 0;
    i = strtoll(v, &end, 10);
    if (end != v && *end == '\0' && errno == 0) {
        snprintf(buf, sizeof(buf), "%lld", i);
        return xstrdup(buf);
    }
    d = strtod(v, &end);
    if (end == v || *end != '\0' || isspace((unsigned char)v[0]))
        return NULL;
    if (d == (double)(long long)d && fabs(d) < 9e15)
        snprintf(buf, sizeof(buf), "%.0f", d);
    else
        snprintf(buf, sizeof(buf), "%.15g", d);
    return xstrdup(buf);
}

static char *lite_canon(void *conn, int col, const char *v)
{
    LiteConn *c = conn;
    char *n;

    if (v == NULL)
        return NULL;
    if (c->numeric && c->numeric[col] && (n = canon_number(v)) != NULL)
        return n;
    return xstrdup(v);
}

static bool lite_scan(void *conn, const TableSpec *spec, bool (*row)(void *arg, char *const *vals), void *arg,
                      char *err, size_t errlen)
{
    LiteConn *c = conn;
    sqlite3_stmt *st = NULL;
    char *sql;
    char **vals, what[300];
    bool ok = true;
    int rc;

    err[0] = '\0';
    snprintf(what, sizeof(what), "table %s: reading its rows", spec->table);
    sql = target_select_sql(spec, '"', NULL);
    rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    free(sql);
    if (rc != SQLITE_OK)
        return failed(c, what, err, errlen);
    free(c->numeric);
    c->numeric = xcalloc((size_t)spec->ncols + 1, sizeof(bool));
    for (int i = 0; i < spec->ncols; i++)
        c->numeric[i] = numeric_affinity(sqlite3_column_decltype(st, i));
    vals = xcalloc((size_t)spec->ncols + 1, sizeof(char *));
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < spec->ncols; i++) {
            char buf[64];
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL: vals[i] = NULL; break;
            case SQLITE_INTEGER:
                snprintf(buf, sizeof(buf), "%lld", (long long)sqlite3_column_int64(st, i));
                vals[i] = xstrdup(buf);
                break;
            case SQLITE_FLOAT:
                snprintf(buf, sizeof(buf), "%.17g", sqlite3_column_double(st, i));
                vals[i] = canon_number(buf);
                break;
            default: vals[i] = xstrdup((const char *)sqlite3_column_text(st, i)); break;
            }
        }
        ok = row(arg, vals);
        for (int i = 0; i < spec->ncols; i++)
            free(vals[i]);
    }
    if (ok && rc != SQLITE_DONE)
        ok = failed(c, what, err, errlen);
    free(vals);
    sqlite3_finalize(st);
    return ok;
}

const RowDriver ROW_DRIVER_SQLITE = {
    .is_empty = lite_is_empty,
    .describe = lite_describe,
    .kind = "sqlite",
    .open = lite_open,
    .alive = lite_alive,
    .begin = lite_begin,
    .table = lite_table,
    .rows = lite_rows,
    .table_end = lite_table_end,
    .empty = lite_empty,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .close = lite_close,
    .scan = lite_scan,
    .canon = lite_canon,
};
