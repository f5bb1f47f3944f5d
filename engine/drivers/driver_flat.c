/*
 * engine/drivers/driver_flat.c - flat-file targets (Bucardo's flatpg and
 * flatsql): no server, each committed unit of a cycle becomes one file in
 * flatfile_dir, named bucardo.flatfile.<sync>.<db>.<YYYYmmdd_HHMMSS>.<n>.sql
 * (Bucardo's name, with the database's name added so two flat targets of
 * a sync do not share files).
 *
 * The file is written as <name>.tmp, flushed to disk at COMMIT and then
 * linked to its final name (never over an existing file) and the .tmp
 * removed, so a reader sees whole files only; a ROLLBACK removes the .tmp.
 * A unit that changed nothing writes no file.
 *
 *   flatpg    BEGIN; DELETE ... WHERE (keys) IN (...); COPY t (cols) FROM
 *             STDIN with the rows as COPY text; TRUNCATE; COMMIT - a file
 *             `psql -1 -f` replays on a PostgreSQL copy of the tables.
 *   flatsql   the same as portable statements: DELETE ... WHERE k = '..'
 *             AND ... OR ..., INSERT INTO t (cols) VALUES (...), ...; and
 *             DELETE FROM t for a truncate.  Values are quoted strings
 *             ('' doubled), NULL as NULL; names in double quotes.
 */
#include "target_driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct FlatConn {
    bool sql; /* flatsql, else flatpg */
    char *dir;
    char *sync;
    char *db;  /* the database's name in bucardo */
    char *tmp; /* the file in progress, or NULL */
    FILE *f;
    long seq;
    bool first_row; /* flatsql INSERT: no row written yet */
} FlatConn;

static void *flat_open(const DbInfo *db, const TargetConfig *cfg, bool sql, char *err, size_t errlen)
{
    struct stat st;
    const char *dir = cfg->flat_dir ? cfg->flat_dir : ".";
    FlatConn *c;

    errno = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "flatfile_dir \"%s\" is not a writable directory: %s", dir,
                 errno ? strerror(errno) : "not a directory");
        return NULL;
    }
    c = xcalloc(1, sizeof(FlatConn));
    c->sql = sql;
    c->dir = xstrdup(dir);
    c->sync = xstrdup(cfg->sync);
    c->db = xstrdup(db->name);
    return c;
}

static void *flatpg_open(const DbInfo *db, const TargetConfig *cfg, char *err, size_t errlen)
{
    return flat_open(db, cfg, false, err, errlen);
}

static void *flatsql_open(const DbInfo *db, const TargetConfig *cfg, char *err, size_t errlen)
{
    return flat_open(db, cfg, true, err, errlen);
}

static bool flat_alive(void *conn)
{
    (void)conn;
    return true;
}

static bool flat_begin(void *conn, char *err, size_t errlen)
{
    (void)conn;
    (void)err;
    (void)errlen;
    return true;
}

/* ensure_file - the unit's .tmp file, opened at its first write. */
static bool ensure_file(FlatConn *c, char *err, size_t errlen)
{
    if (c->f)
        return true;
    c->tmp =
        xasprintf("%s/bucardo.flatfile.%s.%s.%d.%ld.tmp", c->dir, c->sync, c->db, (int)getpid(), ++c->seq);
    c->f = fopen(c->tmp, "w");
    if (c->f == NULL) {
        snprintf(err, errlen, "cannot create %s: %s", c->tmp, strerror(errno));
        free(c->tmp);
        c->tmp = NULL;
        return false;
    }
    if (!c->sql)
        fputs("BEGIN;\n", c->f);
    return true;
}

/* put_ident - a name in double quotes, inner quotes doubled. */
static void put_ident(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* put_table - "schema"."table" (the table alone without a schema). */
static void put_table(FILE *f, const TableSpec *spec)
{
    if (spec->schema && spec->schema[0]) {
        put_ident(f, spec->schema);
        fputc('.', f);
    }
    put_ident(f, spec->table);
}

/* put_literal - a string literal ('' doubled; standard_conforming_strings). */
static void put_literal(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("NULL", f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* put_copy_field - a field as COPY text. */
static void put_copy_field(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("\\N", f);
        return;
    }
    for (; *s; s++) {
        switch (*s) {
        case '\\': fputs("\\\\", f); break;
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        default: fputc(*s, f);
        }
    }
}

static void put_cols(FILE *f, const TableSpec *spec)
{
    fputs(" (", f);
    for (int i = 0; i < spec->ncols; i++) {
        if (i)
            fputs(", ", f);
        put_ident(f, spec->cols[i]);
    }
    fputc(')', f);
}

static bool flat_table(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    FlatConn *c = conn;

    if (!ensure_file(c, err, errlen))
        return false;
    if (spec->op == 'R') {
        if (c->sql) {
            c->first_row = true;
        } else {
            fputs("COPY ", c->f);
            put_table(c->f, spec);
            put_cols(c->f, spec);
            fputs(" FROM STDIN;\n", c->f);
        }
    }
    return true;
}

/* put_values - the n values of one row, each written by put, sep between. */
static void put_values(FILE *f, char *const *vals, int n, const char *sep, void (*put)(FILE *, const char *))
{
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(sep, f);
        put(f, vals[i]);
    }
}

static bool flat_rows(void *conn, const TableSpec *spec, int nrows, char **vals, long *affected, char *err,
                      size_t errlen)
{
    FlatConn *c = conn;
    int nc = spec->ncols;

    (void)err;
    (void)errlen;
    if (spec->op == 'K') {
        /* One statement per batch of keys. */
        fputs("DELETE FROM ", c->f);
        put_table(c->f, spec);
        fputs(" WHERE ", c->f);
        if (c->sql) {
            for (int r = 0; r < nrows; r++) {
                fputs(r ? "\n   OR (" : "(", c->f);
                for (int k = 0; k < nc; k++) {
                    if (k)
                        fputs(" AND ", c->f);
                    put_ident(c->f, spec->cols[k]);
                    fputs(" = ", c->f);
                    put_literal(c->f, vals[r * nc + k]);
                }
                fputc(')', c->f);
            }
        } else {
            fputc('(', c->f);
            for (int k = 0; k < nc; k++) {
                if (k)
                    fputs(", ", c->f);
                put_ident(c->f, spec->cols[k]);
            }
            fputs(") IN (", c->f);
            for (int r = 0; r < nrows; r++) {
                fputs(r ? ", (" : "(", c->f);
                put_values(c->f, vals + r * nc, nc, ", ", put_literal);
                fputc(')', c->f);
            }
            fputc(')', c->f);
        }
        fputs(";\n", c->f);
        *affected += nrows;
        return true;
    }
    for (int r = 0; r < nrows; r++) {
        if (c->sql) {
            if (c->first_row) {
                fputs("INSERT INTO ", c->f);
                put_table(c->f, spec);
                put_cols(c->f, spec);
                fputs(" VALUES\n(", c->f);
                c->first_row = false;
            } else {
                fputs(",\n(", c->f);
            }
            put_values(c->f, vals + r * nc, nc, ", ", put_literal);
            fputc(')', c->f);
        } else {
            put_values(c->f, vals + r * nc, nc, "\t", put_copy_field);
            fputc('\n', c->f);
        }
    }
    /* flatsql: one INSERT per batch keeps statements a bounded size */
    if (c->sql && !c->first_row) {
        fputs(";\n", c->f);
        c->first_row = true;
    }
    *affected += nrows;
    return true;
}

static bool flat_table_end(void *conn, const TableSpec *spec, long *affected, char *err, size_t errlen)
{
    FlatConn *c = conn;

    (void)affected;
    if (spec->op == 'R' && !c->sql)
        fputs("\\.\n", c->f);
    if (ferror(c->f)) {
        snprintf(err, errlen, "writing %s: %s", c->tmp, strerror(errno));
        return false;
    }
    return true;
}

static bool flat_empty(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    FlatConn *c = conn;

    if (!ensure_file(c, err, errlen))
        return false;
    fputs(c->sql ? "DELETE FROM " : "TRUNCATE TABLE ", c->f);
    put_table(c->f, spec);
    fputs(";\n", c->f);
    return true;
}

static void drop_file(FlatConn *c)
{
    if (c->f)
        fclose(c->f);
    c->f = NULL;
    if (c->tmp)
        unlink(c->tmp);
    free(c->tmp);
    c->tmp = NULL;
}

static bool flat_commit(void *conn, char *err, size_t errlen)
{
    FlatConn *c = conn;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;

    if (c->f == NULL)
        return true; /* nothing changed: no file */
    if (!c->sql)
        fputs("COMMIT;\n", c->f);
    if (fflush(c->f) != 0 || fsync(fileno(c->f)) != 0 || ferror(c->f)) {
        snprintf(err, errlen, "writing %s: %s", c->tmp, strerror(errno));
        drop_file(c);
        return false;
    }
    fclose(c->f);
    c->f = NULL;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d_%H%M%S", &tm);
    for (int n = 1;; n++) {
        char *name = xasprintf("%s/bucardo.flatfile.%s.%s.%s.%d.sql", c->dir, c->sync, c->db, stamp, n);
        if (link(c->tmp, name) == 0) {
            free(name);
            break;
        }
        if (errno != EEXIST || n > 100000) {
            snprintf(err, errlen, "cannot name %s %s: %s", c->tmp, name, strerror(errno));
            free(name);
            drop_file(c);
            return false;
        }
        free(name);
    }
    drop_file(c); /* the .tmp name only: the file lives on under its own */
    return true;
}

static void flat_rollback(void *conn)
{
    drop_file(conn);
}

static void flat_close(void *conn)
{
    FlatConn *c = conn;

    drop_file(c);
    free(c->dir);
    free(c->sync);
    free(c->db);
    free(c);
}

const RowDriver ROW_DRIVER_FLATPG = {
    .kind = "flatpg",
    .open = flatpg_open,
    .alive = flat_alive,
    .begin = flat_begin,
    .table = flat_table,
    .rows = flat_rows,
    .table_end = flat_table_end,
    .empty = flat_empty,
    .commit = flat_commit,
    .rollback = flat_rollback,
    .close = flat_close,
};

const RowDriver ROW_DRIVER_FLATSQL = {
    .kind = "flatsql",
    .open = flatsql_open,
    .alive = flat_alive,
    .begin = flat_begin,
    .table = flat_table,
    .rows = flat_rows,
    .table_end = flat_table_end,
    .empty = flat_empty,
    .commit = flat_commit,
    .rollback = flat_rollback,
    .close = flat_close,
};
