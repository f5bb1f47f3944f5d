/*
 * engine/cycle_checks.c - before a sync's first cycle (and after every
 * reload): do the tables on every receiving database have the source's
 * columns, with the same types?
 *
 * COPY moves rows by column name, so a missing column fails the cycle
 * anyway, but with a message about COPY; checking first names the table,
 * the database and the column.  With strict_checking=0 a type mismatch is
 * only a warning (the DBA accepts implicit conversions); a missing column
 * is always an error, since the rows cannot be applied at all.
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
    "SELECT attname, pg_catalog.format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute"
    " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
    " ORDER BY attname";

/* compare_table - source columns (src) against those of db (dst). */
static bool compare_table(const SyncRunner *r, const char *table, const char *db, PGresult *src,
                          PGresult *dst, char *err, size_t errlen)
{
    for (int i = 0; i < PQntuples(src); i++) {
        const char *col = PQgetvalue(src, i, 0), *type = PQgetvalue(src, i, 1);
        int found = -1;

        for (int j = 0; j < PQntuples(dst); j++)
            if (strcmp(PQgetvalue(dst, j, 0), col) == 0)
                found = j;
        if (found < 0) {
            snprintf(err, errlen, "sync %s: table %s on database %s has no column \"%s\"", r->def.name, table,
                     db, col);
            return false;
        }
        if (strcmp(PQgetvalue(dst, found, 1), type) != 0) {
            if (r->def.strict_checking) {
                snprintf(err, errlen,
                         "sync %s: table %s column \"%s\" is %s on database %s but %s on the source "
                         "(strict_checking is on)",
                         r->def.name, table, col, PQgetvalue(dst, found, 1), db, type);
                return false;
            }
            log_warn("table %s column \"%s\" is %s on database %s but %s on the source", table, col,
                     PQgetvalue(dst, found, 1), db, type);
        }
    }
    return true;
}

bool check_columns(SyncRunner *r, int s, char *err, size_t errlen)
{
    PGconn *src = r->src[s].conn;
    bool ok = true, all = true;

    if (r->checked)
        return true;
    for (int w = 0; ok && w < r->nwriters; w++) {
        const DbInfo *db = writer_dbinfo(r, w);
        ConnParams cp;
        char reason[512];
        PGconn *dst;

        if (r->wchecked[w])
            continue;
        if (!r->online[w]) {
            all = false; /* checked when it is back */
            continue;
        }
        cp = dbinfo_params(db);
        dst = pg_connect_err(&cp, reason, sizeof(reason));
        if (dst == NULL) {
            snprintf(err, errlen, "target %s: cannot connect: %s", db->name, reason);
            return false;
        }
        for (int t = 0; ok && t < r->def.ntables; t++) {
            const TablePlan *p = &r->src[s].plans[t];
            const char *sp[1] = {p->qualified}, *dp[1] = {p->wtable[w]};
            PGresult *a, *b;

            b = PQexecParams(dst, SQL_TABLE_PARTITIONED, 1, NULL, dp, NULL, NULL, 0);
            if (PQresultStatus(b) != PGRES_TUPLES_OK || PQntuples(b) != 1) {
                snprintf(err, errlen, "sync %s: table %s is missing on database %s: %s", r->def.name,
                         p->display, db->name, PQresultErrorMessage(b));
                ok = false;
            } else {
                r->wpart[w * r->def.ntables + t] = strcmp(PQgetvalue(b, 0, 0), "t") == 0;
            }
            PQclear(b);
            if (!ok)
                break;
            if (p->wselect[w] != NULL) {
                /* customcols: the target needs the columns it is sent. */
                char *sql = xasprintf("SELECT %s FROM %s LIMIT 0", p->wcolumns[w], p->wtable[w]);
                b = PQexec(dst, sql);
                free(sql);
                if (PQresultStatus(b) != PGRES_TUPLES_OK) {
                    snprintf(err, errlen, "sync %s: table %s on database %s cannot take its customcols: %s",
                             r->def.name, p->display, db->name, PQresultErrorMessage(b));
                    ok = false;
                }
                PQclear(b);
                continue;
            }
            a = PQexecParams(src, SQL_TABLE_COLUMNS, 1, NULL, sp, NULL, NULL, 0);
            b = PQexecParams(dst, SQL_TABLE_COLUMNS, 1, NULL, dp, NULL, NULL, 0);

            if (PQresultStatus(a) != PGRES_TUPLES_OK) {
                snprintf(err, errlen, "source %s: table %s: %s", r->def.sources[s].name,
                         r->src[s].plans[t].display, PQresultErrorMessage(a));
                ok = false;
            } else if (PQresultStatus(b) != PGRES_TUPLES_OK) {
                snprintf(err, errlen, "sync %s: table %s is missing on database %s: %s", r->def.name,
                         r->src[s].plans[t].display, db->name, PQresultErrorMessage(b));
                ok = false;
            } else {
                ok = compare_table(r, r->src[s].plans[t].display, db->name, a, b, err, errlen);
            }
            PQclear(a);
            PQclear(b);
        }
        PQfinish(dst);
        r->wchecked[w] = ok;
    }
    for (size_t n = strlen(err); n > 0 && err[n - 1] == '\n'; n--)
        err[n - 1] = '\0';
    r->checked = ok && all;
    return ok;
}

bool runner_validate(SyncRunner *r, char *err, size_t errlen)
{
    err[0] = '\0';
    r->checked = false;
    for (int w = 0; w < r->nwriters; w++)
        r->wchecked[w] = false;
    return runner_ensure_source(r, 0, NULL, err, errlen) && check_columns(r, 0, err, errlen);
}
