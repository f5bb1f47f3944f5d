/*
 * cli/cmd_all.c - commands over many objects at once: the sync selection
 * shared by kick, activate, deactivate, pause, resume and reload (names,
 * `all`, the wildcards '%' and '*', a trailing timeout, as Bucardo reads
 * them), and `remove TYPE all`.
 *
 * `remove TYPE all` hands the whole list to the kind's own remove
 * handler, so every check of a single remove applies (a table still in a
 * sync is refused, a database in use needs --force) and the list goes in
 * one transaction: all are removed or none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_objects.h"

/* wildcard - '%' and '*' match any run of characters. */
static bool wildcard(const char *pat, const char *s)
{
    if (*pat == '\0')
        return *s == '\0';
    if (*pat == '%' || *pat == '*')
        return wildcard(pat + 1, s) || (*s && wildcard(pat, s + 1));
    return *s == *pat && wildcard(pat + 1, s + 1);
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

bool cli_select_syncs(CliContext *ctx, int argc, char **argv, StrList *out, long *timeout)
{
    PGresult *res;
    int n;
    bool ok = true;

    if (cli_catalog(ctx) == NULL)
        return false;
    res = pg_query(ctx->cat, "catalog", "SELECT name FROM bucardo.sync ORDER BY name", 0, NULL);
    if (res == NULL)
        return false;
    n = PQntuples(res);
    for (int i = 0; ok && i < argc; i++) {
        const char *w = argv[i];
        bool any = false;

        if (strcmp(w, "sync") == 0 || strcmp(w, "syncs") == 0)
            continue; /* Bucardo's noise word: "kick sync s1" */
        if (timeout != NULL && all_digits(w)) {
            if (!parse_int(w, 0, 86400L * 365, timeout))
                ok = cli_error("invalid timeout \"%s\": expected seconds", w) == 0;
            continue;
        }
        if (strcmp(w, "all") == 0 || strpbrk(w, "%*") != NULL) {
            for (int r = 0; r < n; r++)
                if (strcmp(w, "all") == 0 || wildcard(w, PQgetvalue(res, r, 0))) {
                    any = true;
                    if (!strlist_contains(out, PQgetvalue(res, r, 0)))
                        strlist_add(out, PQgetvalue(res, r, 0));
                }
            if (!any)
                ok = cli_error(n == 0 ? "no syncs have been created yet" : "no sync matches \"%s\"", w) == 0;
            continue;
        }
        for (int r = 0; r < n && !any; r++)
            any = strcmp(w, PQgetvalue(res, r, 0)) == 0;
        if (!any)
            ok = cli_error("no sync named \"%s\"", w) == 0;
        else if (!strlist_contains(out, w))
            strlist_add(out, w);
    }
    PQclear(res);
    return ok;
}

/* What `remove TYPE all` lists, per kind: the names to hand to the handler. */
static const struct {
    const char *kind, *plural, *sql;
    CliHandler handler;
} REMOVE_ALL[] = {
    {"sync", "syncs", "SELECT name, NULL FROM bucardo.sync ORDER BY name", cmd_remove_sync},
    {"relgroup", "relgroups", "SELECT name, NULL FROM bucardo.relgroup ORDER BY name", cmd_remove_relgroup},
    {"dbgroup", "dbgroups", "SELECT name, NULL FROM bucardo.dbgroup ORDER BY name", cmd_remove_dbgroup},
    {"db", "databases", "SELECT name, NULL FROM bucardo.db ORDER BY name", cmd_remove_db},
    {"table", "tables",
     "SELECT schemaname || '.' || relname, db FROM bucardo.relation"
     " WHERE kind = 'table' ORDER BY db, schemaname, relname",
     cmd_remove_table},
    {"sequence", "sequences",
     "SELECT schemaname || '.' || relname, db FROM bucardo.relation"
     " WHERE kind = 'sequence' ORDER BY db, schemaname, relname",
     cmd_remove_table},
    {"customname", "customnames", "SELECT id::text, NULL FROM bucardo.customname ORDER BY id",
     cmd_remove_customname},
    {"customcols", "customcols", "SELECT id::text, NULL FROM bucardo.customcols ORDER BY id",
     cmd_remove_customcols},
    {"customcode", "customcodes", "SELECT name, NULL FROM bucardo.customcode ORDER BY name",
     cmd_remove_customcode},
};

int cmd_remove_all(CliContext *ctx, const char *kind)
{
    PGresult *res;
    int code = EXIT_OK, n;
    size_t k;

    for (k = 0; k < sizeof(REMOVE_ALL) / sizeof(REMOVE_ALL[0]); k++)
        if (strcmp(REMOVE_ALL[k].kind, kind) == 0)
            break;
    if (k == sizeof(REMOVE_ALL) / sizeof(REMOVE_ALL[0]))
        return cli_error("cannot remove all \"%s\" (see bucardo help remove)", kind);
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    res = pg_query(ctx->cat, "catalog", REMOVE_ALL[k].sql, 0, NULL);
    if (res == NULL)
        return EXIT_FAIL;
    n = PQntuples(res);
    if (n == 0) {
        printf("No %s to remove\n", REMOVE_ALL[k].plural);
        PQclear(res);
        return EXIT_OK;
    }
    /* Tables and sequences go per database (db=NAME tells same-named ones apart). */
    for (int start = 0; code == EXIT_OK && start < n;) {
        int end = start;
        char **argv = xcalloc((size_t)n + 2, sizeof(char *));
        char *dbarg = NULL;
        int argc = 0;

        while (end < n && (PQgetisnull(res, start, 1) ||
                           strcmp(PQgetvalue(res, end, 1), PQgetvalue(res, start, 1)) == 0)) {
            argv[argc++] = PQgetvalue(res, end, 0);
            end++;
        }
        if (!PQgetisnull(res, start, 1)) {
            dbarg = xasprintf("db=%s", PQgetvalue(res, start, 1));
            argv[argc++] = dbarg;
        }
        code = REMOVE_ALL[k].handler(ctx, argc, argv);
        free(dbarg);
        free(argv);
        start = end;
    }
    PQclear(res);
    return code;
}
