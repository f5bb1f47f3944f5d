/*
 * engine/cycle/cycle_checks.c - before a sync's first cycle, after every reload,
 * and whenever the columns of the replicated tables may have changed (a
 * source's shape moved, a writer's shape at BEGIN moved, or a writer failed
 * with an error such a change causes): do the tables on every receiving
 * database have every source's columns, with the same types?
 *
 * COPY moves rows by column name, so a missing column fails the cycle
 * anyway, but with a message about COPY; checking first names the table,
 * the database and the column.  With strict_checking=0 a type mismatch is
 * only a warning (the DBA accepts implicit conversions); a missing column
 * is always an error, since the rows cannot be applied at all.  A column
 * only the receiving table has is accepted when it can be left out of an
 * INSERT (nullable, or with a default or identity): replicated rows get
 * its default there.  One that is NOT NULL without a default is an error.
 *
 * While the check fails the cycle fails before it reads any change, so
 * the changes stay queued on the sources and arrive once the columns
 * match again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "runner_internal.h"

/* Is the table partitioned (see SyncRunner.wpart)? */
static const char SQL_TABLE_PARTITIONED[] =
    "SELECT c.relkind = 'p' FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass";
static const char SQL_TABLE_COLUMNS[] =
    "SELECT attname, pg_catalog.format_type(atttypid, atttypmod),"
    "       attnotnull AND NOT atthasdef AND attidentity = ''"
    "  FROM pg_catalog.pg_attribute"
    " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
    " ORDER BY attname";

/* find_column - the row of column `col` in a SQL_TABLE_COLUMNS result, or -1. */
static int find_column(const PGresult *res, const char *col)
{
    for (int j = 0; j < PQntuples(res); j++)
        if (strcmp(PQgetvalue(res, j, 0), col) == 0)
            return j;
    return -1;
}

/* compare_table - the columns of source srcdb (src) against those of db (dst). */
static bool compare_table(const SyncRunner *r, const char *table, bool strict, const char *srcdb,
                          const char *db, PGresult *src, PGresult *dst, char *err, size_t errlen)
{
    for (int i = 0; i < PQntuples(src); i++) {
        const char *col = PQgetvalue(src, i, 0), *type = PQgetvalue(src, i, 1);
        int found = find_column(dst, col);

        if (found < 0) {
            snprintf(err, errlen, "sync %s: table %s on database %s has no column \"%s\" (source %s has it)",
                     r->def.name, table, db, col, srcdb);
            return false;
        }
        if (strcmp(PQgetvalue(dst, found, 1), type) != 0) {
            if (strict) {
                snprintf(err, errlen,
                         "sync %s: table %s column \"%s\" is %s on database %s but %s on the source %s "
                         "(strict_checking is on)",
                         r->def.name, table, col, PQgetvalue(dst, found, 1), db, type, srcdb);
                return false;
            }
            log_warn("table %s column \"%s\" is %s on database %s but %s on the source %s", table, col,
                     PQgetvalue(dst, found, 1), db, type, srcdb);
        }
    }
    for (int j = 0; j < PQntuples(dst); j++)
        if (strcmp(PQgetvalue(dst, j, 2), "t") == 0 && find_column(src, PQgetvalue(dst, j, 0)) < 0) {
            snprintf(err, errlen,
                     "sync %s: table %s on database %s has column \"%s\", NOT NULL without a default,"
                     " which source %s does not have",
                     r->def.name, table, db, PQgetvalue(dst, j, 0), srcdb);
            return false;
        }
    return true;
}

/* usable_source - source s is connected and planned in this cycle. */
static bool usable_source(const SyncRunner *r, int s)
{
    return r->src[s].conn && r->src[s].plans && !r->src[s].offline;
}

/*
 * writer_shape_sql - the shape (shape_expr) of writer w's tables, quoted
 * through source s's connection; also handed to the writer, which reads it
 * with every BEGIN (target_writer.c) at no round trip of its own.
 */
static char *writer_shape_sql(SyncRunner *r, int s, int w)
{
    char **names = xcalloc((size_t)r->def.ntables + 1, sizeof(char *));
    StrBuf sql;

    for (int t = 0; t < r->def.ntables; t++)
        names[t] = r->src[s].plans[t].wtable[w];
    strbuf_init(&sql);
    shape_expr(&sql, r->src[s].conn, names, r->def.ntables);
    free(names);
    writer_set_shape_query(r->writers[w], sql.data);
    return sql.data;
}

/* check_table - table t of source s against writer w's (on dst). */
static bool check_table(SyncRunner *r, int s, int w, int t, PGconn *dst, char *err, size_t errlen)
{
    const DbInfo *db = writer_dbinfo(r, w);
    const TablePlan *p = &r->src[s].plans[t];
    const char *sp[1] = {p->qualified}, *dp[1] = {p->wtable[w]};
    PGresult *a, *b;
    bool ok = false;

    /* Whether the writer's table is partitioned decides ONLY in its
     * deletes and copies (writer_only, runner_internal.h). */
    b = PQexecParams(dst, SQL_TABLE_PARTITIONED, 1, NULL, dp, NULL, NULL, 0);
    if (PQresultStatus(b) != PGRES_TUPLES_OK || PQntuples(b) != 1) {
        snprintf(err, errlen, "sync %s: table %s is missing on database %s: %s", r->def.name, p->display,
                 db->name, PQresultErrorMessage(b));
        PQclear(b);
        return false;
    }
    r->wpart[w * r->def.ntables + t] = strcmp(PQgetvalue(b, 0, 0), "t") == 0;
    PQclear(b);
    if (p->wselect[w] != NULL) {
        /* customcols: the target needs the columns it is sent. */
        char *sql = xasprintf("SELECT %s FROM %s LIMIT 0", p->wcolumns[w], p->wtable[w]);
        b = PQexec(dst, sql);
        free(sql);
        ok = PQresultStatus(b) == PGRES_TUPLES_OK;
        if (!ok)
            snprintf(err, errlen, "sync %s: table %s on database %s cannot take its customcols: %s",
                     r->def.name, p->display, db->name, PQresultErrorMessage(b));
        PQclear(b);
        return ok;
    }
    a = PQexecParams(r->src[s].conn, SQL_TABLE_COLUMNS, 1, NULL, sp, NULL, NULL, 0);
    b = PQexecParams(dst, SQL_TABLE_COLUMNS, 1, NULL, dp, NULL, NULL, 0);
    if (PQresultStatus(a) != PGRES_TUPLES_OK)
        snprintf(err, errlen, "source %s: table %s: %s", r->def.sources[s].name, p->display,
                 PQresultErrorMessage(a));
    else if (PQresultStatus(b) != PGRES_TUPLES_OK)
        snprintf(err, errlen, "sync %s: table %s is missing on database %s: %s", r->def.name, p->display,
                 db->name, PQresultErrorMessage(b));
    else
        ok = compare_table(r, p->display, r->def.tables[p->index].strict_checking, r->def.sources[s].name,
                           db->name, a, b, err, errlen);
    PQclear(a);
    PQclear(b);
    return ok;
}

bool check_columns(SyncRunner *r, char *err, size_t errlen)
{
    bool ok = true, all = true;
    int first = -1;

    if (r->checked)
        return true;
    for (int s = 0; first < 0 && s < r->def.nsources; s++)
        if (usable_source(r, s))
            first = s;
    if (first < 0)
        return true; /* no source in this cycle: nothing is sent */
    for (int w = 0; ok && w < r->nwriters; w++) {
        const DbInfo *db = writer_dbinfo(r, w);
        ConnParams cp;
        char reason[512], *shape_sql, *sql;
        PGconn *dst;
        PGresult *res;

        if (r->wchecked[w])
            continue;
        if (!r->online[w]) {
            all = false; /* checked when it is back */
            continue;
        }
        cp = dbinfo_params(db);
        dst = budget_connect(r->budget, &cp, db->name, reason, sizeof(reason));
        if (dst == NULL) {
            snprintf(err, errlen, "target %s: cannot connect: %s", db->name, reason);
            return false;
        }
        /* The shape first: a change after it shows at the writer's next
         * BEGIN, and the columns are checked again then. */
        shape_sql = writer_shape_sql(r, first, w);
        sql = xasprintf("SELECT %s", shape_sql);
        res = PQexec(dst, sql);
        free(sql);
        free(shape_sql);
        free(r->wshape[w]);
        r->wshape[w] = PQresultStatus(res) == PGRES_TUPLES_OK ? xstrdup(PQgetvalue(res, 0, 0)) : NULL;
        PQclear(res);
        for (int s = 0; ok && s < r->def.nsources; s++) {
            if (!usable_source(r, s) || (r->def.nsources > 1 && w == source_writer(r, s)))
                continue;
            for (int t = 0; ok && t < r->def.ntables; t++)
                ok = check_table(r, s, w, t, dst, err, errlen);
        }
        PQfinish(dst);
        r->wchecked[w] = ok;
    }
    for (size_t n = strlen(err); n > 0 && err[n - 1] == '\n'; n--)
        err[n - 1] = '\0';
    r->checked = ok && all;
    return ok;
}

bool columns_suspect(const char *err)
{
    /* undefined column / table, datatype mismatch, invalid binary or text
     * representation, not null violation, value too long / out of range,
     * and the protocol violation a binary COPY into a wider type raises */
    static const char *const states[] = {"42703", "42P01", "42804", "22P03", "22P02",
                                         "23502", "22001", "22003", "08P01"};

    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        char tag[32];
        snprintf(tag, sizeof(tag), "(SQLSTATE %s)", states[i]);
        if (strstr(err, tag))
            return true;
    }
    return false;
}

bool recheck_columns(SyncRunner *r, char *err, size_t errlen)
{
    char check[2048] = "";

    r->checked = false;
    for (int w = 0; w < r->nwriters; w++)
        r->wchecked[w] = false;
    if (check_columns(r, check, sizeof(check)))
        return true;
    snprintf(err, errlen, "%s", check);
    return false;
}

bool runner_validate(SyncRunner *r, char *err, size_t errlen)
{
    err[0] = '\0';
    r->checked = false;
    for (int w = 0; w < r->nwriters; w++)
        r->wchecked[w] = false;
    return runner_ensure_source(r, 0, NULL, err, errlen) && check_columns(r, err, errlen);
}
