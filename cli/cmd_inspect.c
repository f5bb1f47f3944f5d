/*
 * cli/cmd_inspect.c - `inspect sync NAME` and `inspect relgroup NAME`:
 * everything the catalog says about one sync or relgroup, gathered from
 * its tables (sync, dbgroup_member, relgroup_member, relation, syncrun).
 * `inspect table` stays in cli/cmd_validate.c, next to the capture checks
 * it shares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char SQL_SYNC[] =
    "SELECT s.name, s.status, s.relgroup, s.dbgroup, s.autokick, s.onetimecopy, s.conflict_strategy,"
    "       coalesce(s.checktime::text, 'none'), s.rebuild_index, s.analyze_after_copy, s.strict_checking,"
    "       (SELECT string_agg(m.db || ' (' || m.role || ')', ', ' ORDER BY m.position)"
    "          FROM bucardo.dbgroup_member m WHERE m.dbgroup = s.dbgroup),"
    "       (SELECT count(*) FROM bucardo.syncrun r WHERE r.sync = s.name),"
    "       (SELECT r.state || ' at ' || to_char(r.ended, 'YYYY-MM-DD HH24:MI:SS')"
    "          FROM bucardo.syncrun r WHERE r.sync = s.name AND r.ended IS NOT NULL ORDER BY r.id DESC LIMIT "
    "1)"
    "  FROM bucardo.sync s WHERE s.name = $1";
static const char SQL_MEMBERS[] =
    "SELECT r.schemaname || '.' || r.relname, r.db, r.kind,"
    "       coalesce(array_to_string(r.pkey, ','), 'none'), r.capture_filter"
    "  FROM bucardo.relgroup_member rm JOIN bucardo.relation r ON r.id = rm.relation"
    " WHERE rm.relgroup = $1 ORDER BY rm.position";
static const char SQL_RELGROUP[] =
    "SELECT g.name, (SELECT string_agg(s.name, ', ' ORDER BY s.name) FROM bucardo.sync s"
    "                 WHERE s.relgroup = g.name)"
    "  FROM bucardo.relgroup g WHERE g.name = $1";

/* print_members - the relations of relgroup `group`, one per line. */
static bool print_members(PGconn *cat, const char *group)
{
    const char *params[1] = {group};
    PGresult *res = pg_query(cat, "catalog", SQL_MEMBERS, 1, params);

    if (res == NULL)
        return false;
    printf("  %s (%d):\n", "Relations", PQntuples(res));
    for (int r = 0; r < PQntuples(res); r++)
        printf("    %s %s (database %s, key: %s%s%s)\n", PQgetvalue(res, r, 2), PQgetvalue(res, r, 0),
               PQgetvalue(res, r, 1), PQgetvalue(res, r, 3),
               PQgetisnull(res, r, 4) ? "" : ", capture filter: ",
               PQgetisnull(res, r, 4) ? "" : PQgetvalue(res, r, 4));
    PQclear(res);
    return true;
}

static int inspect_sync(CliContext *ctx, const char *name)
{
    const char *params[1] = {name};
    PGresult *res = pg_query(ctx->cat, "catalog", SQL_SYNC, 1, params);
    bool ok;

    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return cli_error("no sync named \"%s\"", name);
    }
    printf("Sync: %s\n", PQgetvalue(res, 0, 0));
    printf("  Status:            %s\n", PQgetvalue(res, 0, 1));
    printf("  Databases:         %s (dbgroup %s)\n", PQgetvalue(res, 0, 11), PQgetvalue(res, 0, 3));
    printf("  Relgroup:          %s\n", PQgetvalue(res, 0, 2));
    printf("  Autokick:          %s\n", strcmp(PQgetvalue(res, 0, 4), "t") == 0 ? "yes" : "no");
    printf("  Checktime:         %s\n", PQgetvalue(res, 0, 7));
    printf("  Onetimecopy:       %s\n", PQgetvalue(res, 0, 5));
    printf("  Conflict strategy: %s\n", PQgetvalue(res, 0, 6));
    printf("  Rebuild index:     %s\n", PQgetvalue(res, 0, 8));
    printf("  Analyze after copy: %s\n", strcmp(PQgetvalue(res, 0, 9), "t") == 0 ? "yes" : "no");
    printf("  Strict checking:   %s\n", strcmp(PQgetvalue(res, 0, 10), "t") == 0 ? "yes" : "no");
    printf("  Runs recorded:     %s%s%s\n", PQgetvalue(res, 0, 12), PQgetisnull(res, 0, 13) ? "" : ", last ",
           PQgetisnull(res, 0, 13) ? "" : PQgetvalue(res, 0, 13));
    ok = print_members(ctx->cat, PQgetvalue(res, 0, 2));
    PQclear(res);
    return ok ? EXIT_OK : EXIT_FAIL;
}

static int inspect_relgroup(CliContext *ctx, const char *name)
{
    const char *params[1] = {name};
    PGresult *res = pg_query(ctx->cat, "catalog", SQL_RELGROUP, 1, params);
    bool ok;

    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return cli_error("no relgroup named \"%s\"", name);
    }
    printf("Relgroup: %s\n", PQgetvalue(res, 0, 0));
    printf("  Used by syncs: %s\n", PQgetisnull(res, 0, 1) ? "none" : PQgetvalue(res, 0, 1));
    ok = print_members(ctx->cat, name);
    PQclear(res);
    return ok ? EXIT_OK : EXIT_FAIL;
}

int cmd_inspect_object(CliContext *ctx, const char *kind, int argc, char **argv)
{
    bool sync = strcmp(kind, "sync") == 0;
    int code = EXIT_OK;

    if (argc < 1)
        return cli_error("usage: bucardo inspect %s NAME ...", kind);
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    for (int i = 0; code == EXIT_OK && i < argc; i++)
        code = sync ? inspect_sync(ctx, argv[i]) : inspect_relgroup(ctx, argv[i]);
    return code;
}
