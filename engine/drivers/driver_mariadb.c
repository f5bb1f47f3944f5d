/*
 * engine/drivers/driver_mariadb.c - MariaDB and MySQL targets (libmariadb).
 *
 * Connection: the db's host (a path starting with "/" is the server's
 * socket file), port, user, pass and dbname.  The session runs in strict
 * mode (a value the column cannot hold is an error, never a silent
 * truncation), utf8mb4, time_zone '+00:00', autocommit off: each unit of a
 * cycle is one transaction, committed by COMMIT.
 *
 * Rows: LOAD DATA LOCAL INFILE, fed from memory through the library's
 * local-infile callbacks (mysql_set_local_infile_handler), no temp file.
 * The rows arrive as PostgreSQL COPY text, parsed by driver_rows.c; each
 * value is converted for its column's type there (below) and appended to a
 * buffer in LOAD DATA's own format (tab-separated, backslash escapes, \N
 * for NULL), which is sent whenever it passes LOAD_BYTES and at the end of
 * the table's rows.  Deletes: a prepared DELETE ... WHERE key IN (?, ...)
 * (several key columns: (k1, k2) IN ((?, ?), ...)) per batch of keys, the
 * values bound as parameters: one statement for the full batches of a
 * table, one more for its last, shorter batch.
 *
 * Types (type_check, run by `validate` and each sync's first cycle): a
 * text column (char, varchar, *text, json, enum) takes any PostgreSQL type
 * as its text form; other columns take the types they hold exactly:
 * integers, numeric(p,s) into a decimal at least as wide, float8 into
 * double, boolean into tinyint(1) (as 1/0), timestamp and timestamptz (as
 * UTC) into datetime with enough fractional digits, date, time, bytea
 * into blob/binary types (loaded by UNHEX), uuid.  Anything else is
 * refused, naming table, column and both types.  Values no MariaDB type
 * holds (NaN, infinities, infinite or BC dates) fail the unit, naming the
 * table and column.
 */
#include "target_driver.h"

#include <ctype.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bytes of LOAD DATA text per statement. */
#define LOAD_BYTES (8 << 20)

/* How a value is converted for its column. */
typedef enum ColClass { CC_TEXT, CC_BOOL, CC_NUMBER, CC_FLOAT, CC_DATETIME, CC_DATE, CC_BLOB } ColClass;

typedef struct MyConn {
    MYSQL *my;
    char *name;      /* the database's name in bucardo, for messages */
    ColClass *cls;   /* per spec column, for the table operation in progress */
    StrBuf buf;      /* LOAD DATA text waiting to be sent, or the DELETE */
    size_t sent;     /* how much of buf the infile callback has handed over */
    char *load_sql;  /* the LOAD DATA statement of the table in progress */
    int nrows;       /* rows in buf */
    MYSQL_STMT *del; /* the prepared DELETE of the table in progress, */
    int del_rows;    /* for batches of this many keys */
} MyConn;

static bool my_failed(MyConn *c, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s (MariaDB error %u)", what, mysql_error(c->my), mysql_errno(c->my));
    return false;
}

static bool my_exec(MyConn *c, const char *what, const char *sql, char *err, size_t errlen)
{
    if (mysql_real_query(c->my, sql, (unsigned long)strlen(sql)) != 0)
        return my_failed(c, what, err, errlen);
    return true;
}

/* The local-infile callbacks: they hand over buf. */
static int infile_init(void **ptr, const char *filename, void *userdata)
{
    (void)filename;
    *ptr = userdata;
    return 0;
}

static int infile_read(void *ptr, char *out, unsigned int len)
{
    MyConn *c = ptr;
    size_t n = c->buf.len - c->sent < len ? c->buf.len - c->sent : len;

    memcpy(out, c->buf.data + c->sent, n);
    c->sent += n;
    return (int)n;
}

static void infile_end(void *ptr)
{
    (void)ptr;
}

static int infile_error(void *ptr, char *msg, unsigned int len)
{
    (void)ptr;
    snprintf(msg, len, "bucardo: no data");
    return 1;
}

static void my_close(void *conn)
{
    MyConn *c = conn;

    if (c == NULL)
        return;
    if (c->del)
        mysql_stmt_close(c->del);
    if (c->my)
        mysql_close(c->my);
    strbuf_free(&c->buf);
    free(c->cls);
    free(c->load_sql);
    free(c->name);
    free(c);
}

static void *my_open(const DbInfo *db, const TargetConfig *cfg, char *err, size_t errlen)
{
    MyConn *c = xcalloc(1, sizeof(MyConn));
    const char *host = db->host, *socket = NULL;
    unsigned int port = db->port ? (unsigned int)atoi(db->port) : 0, timeout = 10;
    bool on = true;

    (void)cfg;
    err[0] = '\0';
    strbuf_init(&c->buf);
    c->name = xstrdup(db->name);
    if (host && host[0] == '/') {
        socket = host;
        host = NULL;
    }
    c->my = mysql_init(NULL);
    mysql_options(c->my, MYSQL_OPT_LOCAL_INFILE, &on);
    mysql_options(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(c->my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (mysql_real_connect(c->my, host, db->user, db->pass, db->dbname, port, socket, 0) == NULL) {
        snprintf(err, errlen, "cannot connect to MariaDB: %s", mysql_error(c->my));
        my_close(c);
        return NULL;
    }
    mysql_set_local_infile_handler(c->my, infile_init, infile_read, infile_end, infile_error, c);
    if (mysql_autocommit(c->my, 0) != 0 ||
        !my_exec(c, "session setup",
                 "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO',"
                 " time_zone = '+00:00', foreign_key_checks = 0, unique_checks = 1",
                 err, errlen)) {
        if (err[0] == '\0')
            my_failed(c, "session setup", err, errlen);
        my_close(c);
        return NULL;
    }
    return c;
}

static bool my_alive(void *conn)
{
    MyConn *c = conn;

    return c && mysql_ping(c->my) == 0;
}

static bool my_begin(void *conn, char *err, size_t errlen)
{
    return my_exec(conn, "BEGIN", "START TRANSACTION", err, errlen);
}

/* class_of - how values go into a column of MariaDB type ttype. */
static ColClass class_of(const char *ttype)
{
    if (strncmp(ttype, "tinyint(1)", 10) == 0 || strcmp(ttype, "boolean") == 0)
        return CC_BOOL;
    if (strstr(ttype, "int") == ttype || strstr(ttype, "tinyint") || strstr(ttype, "smallint") ||
        strstr(ttype, "mediumint") || strstr(ttype, "bigint") || strncmp(ttype, "decimal", 7) == 0)
        return CC_NUMBER;
    if (strncmp(ttype, "double", 6) == 0 || strncmp(ttype, "float", 5) == 0)
        return CC_FLOAT;
    if (strncmp(ttype, "datetime", 8) == 0 || strncmp(ttype, "timestamp", 9) == 0)
        return CC_DATETIME;
    if (strcmp(ttype, "date") == 0 || strncmp(ttype, "time", 4) == 0)
        return CC_DATE;
    if (strstr(ttype, "blob") || strncmp(ttype, "binary", 6) == 0 || strncmp(ttype, "varbinary", 9) == 0)
        return CC_BLOB;
    return CC_TEXT;
}

/* stmt_failed - err gets what: the statement's error. */
static bool stmt_failed(MYSQL_STMT *st, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s (MariaDB error %u)", what, mysql_stmt_error(st), mysql_stmt_errno(st));
    return false;
}

/* my_describe - the columns of `table` in the connection's database (the
 * name bound as a parameter). */
static bool my_describe(void *conn, const char *schema, const char *table, bool *found, StrList *names,
                        StrList *types, char *err, size_t errlen)
{
    static const char sql[] = "SELECT column_name, column_type FROM information_schema.columns"
                              " WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position";
    MyConn *c = conn;
    MYSQL_STMT *st = mysql_stmt_init(c->my);
    MYSQL_BIND param = {0}, out[2];
    unsigned long tlen = (unsigned long)strlen(table), olen[2];
    char name[1024], type[8192];
    bool ok = true;
    int rc;

    (void)schema;
    *found = false;
    if (st == NULL)
        return my_failed(c, "reading the columns", err, errlen);
    param.buffer_type = MYSQL_TYPE_STRING;
    param.buffer = (void *)table;
    param.buffer_length = tlen;
    param.length = &tlen;
    memset(out, 0, sizeof(out));
    out[0].buffer_type = out[1].buffer_type = MYSQL_TYPE_STRING;
    out[0].buffer = name;
    out[0].buffer_length = sizeof(name) - 1;
    out[0].length = &olen[0];
    out[1].buffer = type;
    out[1].buffer_length = sizeof(type) - 1;
    out[1].length = &olen[1];
    if (mysql_stmt_prepare(st, sql, sizeof(sql) - 1) != 0 || mysql_stmt_bind_param(st, &param) != 0 ||
        mysql_stmt_execute(st) != 0 || mysql_stmt_bind_result(st, out) != 0 ||
        mysql_stmt_store_result(st) != 0)
        ok = stmt_failed(st, "reading the columns", err, errlen);
    while (ok && ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED)) {
        name[olen[0] < sizeof(name) ? olen[0] : sizeof(name) - 1] = '\0';
        type[olen[1] < sizeof(type) ? olen[1] : sizeof(type) - 1] = '\0';
        *found = true;
        strlist_add(names, name);
        strlist_add(types, type);
    }
    mysql_stmt_close(st);
    return ok;
}

/* fsp - the fractional digits of a "datetime(6)" / "time(3)" type: 0 without. */
static int fsp(const char *type)
{
    const char *p = strchr(type, '(');
    return p ? atoi(p + 1) : 0;
}

static bool my_type_check(const char *pg, const char *t, char *why, size_t whylen)
{
    ColClass cc = class_of(t);
    int pgfsp = strchr(pg, '(') ? atoi(strchr(pg, '(') + 1) : 6;

    if (cc == CC_TEXT) {
        /* Any value as its PostgreSQL text, in a text column. */
        if (strstr(t, "char") || strstr(t, "text") || strcmp(t, "json") == 0 || strcmp(t, "longtext") == 0 ||
            strncmp(t, "enum", 4) == 0 || strcmp(t, "uuid") == 0 || strncmp(t, "inet", 4) == 0)
            return true;
    } else if (strcmp(pg, "smallint") == 0 || strcmp(pg, "integer") == 0 || strcmp(pg, "bigint") == 0 ||
               strcmp(pg, "oid") == 0) {
        if (cc == CC_NUMBER)
            return true;
    } else if (strncmp(pg, "numeric(", 8) == 0) {
        int p = atoi(pg + 8), s = strchr(pg, ',') ? atoi(strchr(pg, ',') + 1) : 0;
        int tp = strchr(t, '(') ? atoi(strchr(t, '(') + 1) : 10;
        int ts = strchr(t, ',') ? atoi(strchr(t, ',') + 1) : 0;
        if (strncmp(t, "decimal", 7) == 0 && ts >= s && tp - ts >= p - s)
            return true;
    } else if (strcmp(pg, "double precision") == 0) {
        if (strncmp(t, "double", 6) == 0)
            return true;
    } else if (strcmp(pg, "real") == 0) {
        if (cc == CC_FLOAT)
            return true;
    } else if (strcmp(pg, "boolean") == 0) {
        if (cc == CC_BOOL)
            return true;
    } else if (strncmp(pg, "timestamp", 9) == 0) {
        if (strncmp(t, "datetime", 8) == 0 && fsp(t) >= pgfsp)
            return true;
    } else if (strcmp(pg, "date") == 0) {
        if (strcmp(t, "date") == 0)
            return true;
    } else if (strncmp(pg, "time", 4) == 0 && !strstr(pg, "with time zone")) {
        if (strncmp(t, "time", 4) == 0 && strncmp(t, "timestamp", 9) != 0 && fsp(t) >= pgfsp)
            return true;
    } else if (strcmp(pg, "bytea") == 0) {
        if (cc == CC_BLOB)
            return true;
    }
    if (strcmp(pg, "numeric") == 0 && cc != CC_TEXT)
        snprintf(why, whylen,
                 "MariaDB type %s cannot hold every numeric (no precision: up to 1000 digits, NaN);"
                 " declare it numeric(p,s) on the source or use a text column",
                 t);
    else
        snprintf(why, whylen, "MariaDB type %s cannot hold PostgreSQL type %s exactly", t, pg);
    return false;
}

/*
 * convert - value v for a column of class cc, as MariaDB reads it (BLOB:
 * the hex digits, for UNHEX); NULL stays NULL.  false with why when
 * MariaDB has no such value.  *tmp holds what the caller frees.
 */
static bool convert(ColClass cc, const char *v, const char **out, char **tmp, char *why, size_t whylen)
{
    *out = v;
    *tmp = NULL;
    if (v == NULL)
        return true;
    switch (cc) {
    case CC_BOOL:
        if (strcmp(v, "t") == 0)
            *out = "1";
        else if (strcmp(v, "f") == 0)
            *out = "0";
        return true;
    case CC_NUMBER:
    case CC_FLOAT:
        if (strcmp(v, "NaN") == 0 || strstr(v, "Infinity")) {
            snprintf(why, whylen, "MariaDB has no %s", v);
            return false;
        }
        return true;
    case CC_DATE:
    case CC_DATETIME:
        if (strstr(v, "infinity") || strstr(v, " BC")) {
            snprintf(why, whylen, "MariaDB has no date %s", v);
            return false;
        }
        if (cc == CC_DATETIME) {
            *tmp = xmalloc(64);
            if (!target_time_utc(v, *tmp, 64)) {
                snprintf(why, whylen, "not a timestamp: %s", v);
                return false;
            }
            *out = *tmp;
        }
        return true;
    case CC_BLOB:
        if (v[0] == '\\' && v[1] == 'x')
            *out = v + 2;
        else {
            snprintf(why, whylen, "bytea not in hex form");
            return false;
        }
        return true;
    case CC_TEXT: return true;
    }
    return true;
}

/* read_classes - c->cls for the spec's columns, from the table's columns there. */
static bool read_classes(MyConn *c, const TableSpec *spec, char *err, size_t errlen)
{
    StrList names = {0}, types = {0};
    bool found = false;

    free(c->cls);
    c->cls = xcalloc((size_t)spec->ncols + 1, sizeof(ColClass));
    if (!my_describe(c, spec->schema, spec->table, &found, &names, &types, err, errlen))
        return false;
    if (!found) {
        snprintf(err, errlen, "table %s is missing on MariaDB database %s", spec->table, c->name);
        strlist_free(&names);
        strlist_free(&types);
        return false;
    }
    for (int i = 0; i < spec->ncols; i++) {
        int k = 0;
        while (k < names.count && strcmp(names.items[k], spec->cols[i]) != 0)
            k++;
        if (k == names.count) {
            snprintf(err, errlen, "table %s has no column %s", spec->table, spec->cols[i]);
            strlist_free(&names);
            strlist_free(&types);
            return false;
        }
        c->cls[i] = class_of(types.items[k]);
    }
    strlist_free(&names);
    strlist_free(&types);
    return true;
}

static bool my_table(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    MyConn *c = conn;
    StrBuf sql, set;

    if (!read_classes(c, spec, err, errlen))
        return false;
    strbuf_reset(&c->buf);
    c->nrows = 0;
    free(c->load_sql);
    c->load_sql = NULL;
    if (c->del)
        mysql_stmt_close(c->del);
    c->del = NULL;
    c->del_rows = 0;
    if (spec->op != 'R')
        return true;
    strbuf_init(&sql);
    strbuf_init(&set);
    strbuf_append(&sql, "LOAD DATA LOCAL INFILE 'bucardo' INTO TABLE ");
    target_put_ident(&sql, spec->table, '`');
    strbuf_append(&sql, " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
                        " LINES TERMINATED BY '\\n' (");
    for (int i = 0; i < spec->ncols; i++) {
        strbuf_append(&sql, i ? ", " : "");
        if (c->cls[i] == CC_BLOB) {
            /* bytea travels as hex and is unhexed by the server */
            strbuf_printf(&sql, "@b%d", i);
            strbuf_append(&set, set.len ? ", " : " SET ");
            target_put_ident(&set, spec->cols[i], '`');
            strbuf_printf(&set, " = UNHEX(@b%d)", i);
        } else {
            target_put_ident(&sql, spec->cols[i], '`');
        }
    }
    strbuf_append(&sql, ")");
    strbuf_append(&sql, set.data ? set.data : "");
    c->load_sql = sql.data;
    strbuf_free(&set);
    return true;
}

/* load - send the LOAD DATA text in buf. */
static bool load(MyConn *c, const TableSpec *spec, long *affected, char *err, size_t errlen)
{
    char what[300];

    if (c->buf.len == 0)
        return true;
    c->sent = 0;
    snprintf(what, sizeof(what), "table %s: LOAD DATA", spec->table);
    if (!my_exec(c, what, c->load_sql, err, errlen))
        return false;
    *affected += (long)mysql_affected_rows(c->my);
    strbuf_reset(&c->buf);
    c->nrows = 0;
    return true;
}

/* put_field - a value in LOAD DATA's escaped text. */
static void put_field(StrBuf *b, const char *v)
{
    const char *run = v;

    if (v == NULL) {
        strbuf_append(b, "\\N");
        return;
    }
    for (; *v; v++) {
        const char *esc = NULL;
        switch (*v) {
        case '\\': esc = "\\\\"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        default: continue;
        }
        strbuf_append_len(b, run, (size_t)(v - run));
        strbuf_append(b, esc);
        run = v + 1;
    }
    strbuf_append(b, run);
}

/* delete_sql - DELETE of nrows keys with a placeholder per key column:
 * `k` IN (?, ...) or (`k1`, `k2`) IN ((?, ?), ...); a binary column's
 * value travels as hex (UNHEX(?)). */
static char *delete_sql(const MyConn *c, const TableSpec *spec, int nrows)
{
    int nc = spec->ncols;
    StrBuf sql;

    strbuf_init(&sql);
    strbuf_append(&sql, "DELETE FROM ");
    target_put_ident(&sql, spec->table, '`');
    strbuf_append(&sql, nc > 1 ? " WHERE (" : " WHERE ");
    for (int k = 0; k < nc; k++) {
        strbuf_append(&sql, k ? ", " : "");
        target_put_ident(&sql, spec->cols[k], '`');
    }
    strbuf_append(&sql, nc > 1 ? ") IN (" : " IN (");
    for (int r = 0; r < nrows; r++) {
        strbuf_append(&sql, r ? ", " : "");
        strbuf_append(&sql, nc > 1 ? "(" : "");
        for (int k = 0; k < nc; k++) {
            strbuf_append(&sql, k ? ", " : "");
            strbuf_append(&sql, c->cls[k] == CC_BLOB ? "UNHEX(?)" : "?");
        }
        strbuf_append(&sql, nc > 1 ? ")" : "");
    }
    strbuf_append(&sql, ")");
    return sql.data;
}

/*
 * delete_keys - one batch of keys deleted by a prepared statement, the
 * values bound as strings (never put into the SQL text).  The statement
 * for a batch of nrows keys is kept for the table operation: full batches
 * reuse it, the last, shorter one prepares its own.
 */
static bool delete_keys(MyConn *c, const TableSpec *spec, int nrows, char **vals, long *affected, char *err,
                        size_t errlen)
{
    int nc = spec->ncols, n = nrows * nc;
    MYSQL_BIND *bind;
    unsigned long *lens;
    char **tmps, why[300], what[300];
    bool ok = true;

    snprintf(what, sizeof(what), "table %s: DELETE", spec->table);
    if (c->del == NULL || c->del_rows != nrows) {
        char *sql = delete_sql(c, spec, nrows);
        if (c->del)
            mysql_stmt_close(c->del);
        c->del_rows = 0;
        if ((c->del = mysql_stmt_init(c->my)) == NULL) {
            free(sql);
            return my_failed(c, what, err, errlen);
        }
        if (mysql_stmt_prepare(c->del, sql, (unsigned long)strlen(sql)) != 0) {
            free(sql);
            return stmt_failed(c->del, what, err, errlen);
        }
        free(sql);
        c->del_rows = nrows;
    }
    bind = xcalloc((size_t)n, sizeof(MYSQL_BIND));
    lens = xcalloc((size_t)n, sizeof(unsigned long));
    tmps = xcalloc((size_t)n, sizeof(char *));
    for (int i = 0; ok && i < n; i++) {
        const char *v;
        if (!convert(c->cls[i % nc], vals[i], &v, &tmps[i], why, sizeof(why))) {
            snprintf(err, errlen, "table %s column %s: %s", spec->table, spec->cols[i % nc], why);
            ok = false;
            break;
        }
        lens[i] = v ? (unsigned long)strlen(v) : 0;
        /* A number goes as a decimal: compared with a string, an integer
         * key column would not be looked up by its index. */
        bind[i].buffer_type = v == NULL                     ? MYSQL_TYPE_NULL
                              : c->cls[i % nc] == CC_NUMBER ? MYSQL_TYPE_NEWDECIMAL
                                                            : MYSQL_TYPE_STRING;
        bind[i].buffer = (void *)v;
        bind[i].buffer_length = lens[i];
        bind[i].length = &lens[i];
    }
    if (ok && (mysql_stmt_bind_param(c->del, bind) != 0 || mysql_stmt_execute(c->del) != 0))
        ok = stmt_failed(c->del, what, err, errlen);
    if (ok)
        *affected += (long)mysql_stmt_affected_rows(c->del);
    for (int i = 0; i < n; i++)
        free(tmps[i]);
    free(tmps);
    free(lens);
    free(bind);
    return ok;
}

static bool my_rows(void *conn, const TableSpec *spec, int nrows, char **vals, long *affected, char *err,
                    size_t errlen)
{
    MyConn *c = conn;
    int nc = spec->ncols;
    char why[300];

    if (spec->op == 'K')
        return delete_keys(c, spec, nrows, vals, affected, err, errlen);
    for (int r = 0; r < nrows; r++) {
        for (int i = 0; i < nc; i++) {
            const char *v;
            char *tmp;
            if (!convert(c->cls[i], vals[r * nc + i], &v, &tmp, why, sizeof(why))) {
                snprintf(err, errlen, "table %s column %s: %s", spec->table, spec->cols[i], why);
                return false;
            }
            if (i)
                strbuf_append(&c->buf, "\t");
            put_field(&c->buf, v);
            free(tmp);
        }
        strbuf_append(&c->buf, "\n");
        c->nrows++;
    }
    if (c->buf.len >= LOAD_BYTES)
        return load(c, spec, affected, err, errlen);
    return true;
}

static bool my_table_end(void *conn, const TableSpec *spec, long *affected, char *err, size_t errlen)
{
    MyConn *c = conn;
    bool ok = spec->op != 'R' || load(c, spec, affected, err, errlen);

    strbuf_reset(&c->buf);
    return ok;
}

static bool my_empty(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    MyConn *c = conn;
    StrBuf sql;
    bool ok;

    /* DELETE, not TRUNCATE: TRUNCATE commits the transaction in MariaDB. */
    strbuf_init(&sql);
    strbuf_append(&sql, "DELETE FROM ");
    target_put_ident(&sql, spec->table, '`');
    ok = my_exec(c, spec->table, sql.data, err, errlen);
    strbuf_free(&sql);
    return ok;
}

static bool my_commit(void *conn, char *err, size_t errlen)
{
    MyConn *c = conn;

    if (mysql_commit(c->my) != 0)
        return my_failed(c, "COMMIT", err, errlen);
    return true;
}

static void my_rollback(void *conn)
{
    MyConn *c = conn;

    (void)mysql_rollback(c->my);
}

static int my_is_empty(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    MyConn *c = conn;
    StrBuf sql;
    MYSQL_RES *res;
    MYSQL_ROW row;
    int empty = -1;

    strbuf_init(&sql);
    strbuf_append(&sql, "SELECT NOT EXISTS (SELECT 1 FROM ");
    target_put_ident(&sql, spec->table, '`');
    strbuf_append(&sql, ")");
    if (my_exec(c, spec->table, sql.data, err, errlen) && (res = mysql_store_result(c->my)) != NULL) {
        if ((row = mysql_fetch_row(res)) != NULL && row[0])
            empty = atoi(row[0]);
        mysql_free_result(res);
    }
    strbuf_free(&sql);
    if (empty < 0 && err[0] == '\0')
        my_failed(c, spec->table, err, errlen);
    return empty;
}

/*
 * Compare (target_driver.h: scan, canon).  What MariaDB holds of a value
 * prints differently from PostgreSQL's text, so both sides are brought to
 * one text per column class: decimals without trailing fractional zeros,
 * floats as %.15g (MariaDB's own precision for double text), times in UTC
 * without trailing fractional zeros, binary values as lower-case hex,
 * booleans as 1/0; text as it is.
 */

/* canon_text - v (what MariaDB reads, after convert) as compared. */
static char *canon_text(ColClass cc, const char *v)
{
    char *out;

    if (v == NULL)
        return NULL;
    switch (cc) {
    case CC_FLOAT: {
        char buf[64];
        snprintf(buf, sizeof(buf), "%.15g", strtod(v, NULL));
        return xstrdup(buf);
    }
    case CC_NUMBER:
        out = xstrdup(v[0] == '+' ? v + 1 : v);
        target_trim_frac(out);
        if (strcmp(out, "-0") == 0)
            out[0] = '0', out[1] = '\0';
        return out;
    case CC_DATETIME:
    case CC_DATE:
        out = xstrdup(v);
        target_trim_frac(out);
        return out;
    case CC_BLOB:
        out = xstrdup(v);
        for (char *p = out; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        return out;
    case CC_BOOL:
    case CC_TEXT: break;
    }
    return xstrdup(v);
}

static char *my_canon(void *conn, int col, const char *v)
{
    MyConn *c = conn;
    const char *conv;
    char *tmp, *out, why[300];

    if (!convert(c->cls[col], v, &conv, &tmp, why, sizeof(why))) {
        /* MariaDB has no such value: it cannot be there. */
        free(tmp);
        return xasprintf("\001%s", v);
    }
    out = canon_text(c->cls[col], conv);
    free(tmp);
    return out;
}

static bool my_scan(void *conn, const TableSpec *spec, bool (*row)(void *arg, char *const *vals), void *arg,
                    char *err, size_t errlen)
{
    MyConn *c = conn;
    const char **wrap;
    char *sql;
    MYSQL_RES *res;
    MYSQL_ROW r;
    char **vals, what[300];
    bool ok = true;

    err[0] = '\0';
    if (!read_classes(c, spec, err, errlen))
        return false;
    wrap = xcalloc((size_t)spec->ncols + 1, sizeof(char *));
    for (int i = 0; i < spec->ncols; i++)
        wrap[i] = c->cls[i] == CC_BLOB ? "HEX" : NULL;
    sql = target_select_sql(spec, '`', wrap);
    free(wrap);
    snprintf(what, sizeof(what), "table %s: reading its rows", spec->table);
    ok = my_exec(c, what, sql, err, errlen);
    free(sql);
    if (!ok)
        return false;
    if ((res = mysql_use_result(c->my)) == NULL)
        return my_failed(c, what, err, errlen);
    vals = xcalloc((size_t)spec->ncols + 1, sizeof(char *));
    while (ok && (r = mysql_fetch_row(res)) != NULL) {
        for (int i = 0; i < spec->ncols; i++)
            vals[i] = canon_text(c->cls[i], r[i]);
        ok = row(arg, vals);
        for (int i = 0; i < spec->ncols; i++)
            free(vals[i]);
    }
    if (ok && mysql_errno(c->my) != 0)
        ok = my_failed(c, what, err, errlen);
    mysql_free_result(res);
    free(vals);
    (void)mysql_rollback(c->my);
    return ok;
}

const RowDriver ROW_DRIVER_MARIADB = {
    .kind = "mariadb",
    .open = my_open,
    .alive = my_alive,
    .begin = my_begin,
    .table = my_table,
    .rows = my_rows,
    .table_end = my_table_end,
    .empty = my_empty,
    .commit = my_commit,
    .rollback = my_rollback,
    .close = my_close,
    .describe = my_describe,
    .type_check = my_type_check,
    .is_empty = my_is_empty,
    .scan = my_scan,
    .canon = my_canon,
};
