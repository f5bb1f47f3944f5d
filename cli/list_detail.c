/*
 * cli/list_detail.c - what `list ... --verbose` adds under each object,
 * in Bucardo's shape.
 *
 * Bucardo's list commands print more with --verbose (the tables of a sync,
 * the dbgroups and syncs a database is in) and, from -vv on, every column
 * of the object's catalog row as "    name = value" lines sorted by name
 * (its show_all_columns).  The per-kind lines live with each list command;
 * this file holds the column dump they share, so that every list prints it
 * alike.  Passwords are never printed: a set dbpass shows as "(hidden)".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* by_name - qsort order of column numbers by the column's name. */
static int by_name(const void *a, const void *b, void *res)
{
    return strcmp(PQfname(res, *(const int *)a), PQfname(res, *(const int *)b));
}

/* A small insertion sort: qsort has no context argument in C11. */
static void sort_columns(int *cols, int n, PGresult *res)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && by_name(&cols[j - 1], &cols[j], res) > 0; j--) {
            int t = cols[j];
            cols[j] = cols[j - 1];
            cols[j - 1] = t;
        }
}

bool cli_show_all_columns(CliContext *ctx, const char *sql, const char *key)
{
    const char *params[1] = {key};
    PGresult *res;
    int n, width = 1, *cols;

    if (ctx->verbose < 2)
        return true;
    res = pg_query(ctx->cat, "catalog", sql, 1, params);
    if (res == NULL)
        return false;
    n = PQnfields(res);
    cols = xcalloc((size_t)n + 1, sizeof(int));
    for (int c = 0; c < n; c++) {
        cols[c] = c;
        if ((int)strlen(PQfname(res, c)) > width)
            width = (int)strlen(PQfname(res, c));
    }
    sort_columns(cols, n, res);
    for (int r = 0; r < PQntuples(res); r++)
        for (int i = 0; i < n; i++) {
            const char *name = PQfname(res, cols[i]);
            const char *value = PQgetisnull(res, r, cols[i]) ? "NULL" : PQgetvalue(res, r, cols[i]);
            if (strcmp(name, "dbpass") == 0 && !PQgetisnull(res, r, cols[i]))
                value = "(hidden)";
            /* a dbdsn or conn string may carry a password too */
            if ((strcmp(name, "dbdsn") == 0 || strcmp(name, "conn") == 0) &&
                strcasestr(value, "pass") != NULL)
                value = "(hidden: it holds a password)";
            printf("    %-*s = %s\n", width, name, value);
        }
    free(cols);
    PQclear(res);
    return true;
}
