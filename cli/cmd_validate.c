/*
 * cli/cmd_validate.c - `bucardo validate SYNC ...|all` and
 * `bucardo inspect TABLE`.
 *
 * validate re-installs the sync's change capture on its sources (it is
 * idempotent, and repairs triggers someone dropped) and checks, as the
 * engine does before a first cycle, that every receiving database has each
 * table with the source's columns.  inspect shows what bucardo knows of a
 * table and what is pending for it on its database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "catalog.h"
#include "cli.h"
#include "cli_objects.h"
#include "sync_runner.h"
#include "syncdef.h"

static const char SQL_ALL_SYNCS[] = "SELECT name FROM bucardo.sync ORDER BY name";
static const char SQL_SYNC_EXISTS[] = "SELECT 1 FROM bucardo.sync WHERE name = $1";
static const char SQL_TABLE_INFO[] =
    "SELECT r.db, coalesce(array_to_string(r.pkey, '|') || ' (' || array_to_string(r.pkeytype, '|') || ')', "
    "'none'),"
    "       coalesce((SELECT string_agg(m.relgroup, ', ' ORDER BY m.relgroup) FROM bucardo.relgroup_member m"
    "                  WHERE m.relation = r.id), 'none'),"
    "       coalesce((SELECT string_agg(s.name || ' (' || s.status || ')', ', ' ORDER BY s.name)"
    "                   FROM bucardo.sync s JOIN bucardo.relgroup_member m ON m.relgroup = s.relgroup"
    "                  WHERE m.relation = r.id), 'none'), r.schemaname, r.relname, r.kind"
    "  FROM bucardo.relation r WHERE r.id = $1";
static const char SQL_CAPTURE_STATE[] =
    "SELECT (SELECT string_agg(tgname, ', ' ORDER BY tgname) FROM pg_catalog.pg_trigger"
    "         WHERE tgrelid = $1::regclass AND tgname LIKE 'bucardo%'),"
    "       to_regclass($2) IS NOT NULL,"
    "       (SELECT reltuples::bigint FROM pg_catalog.pg_class WHERE oid = $1::regclass)";

static int validate_one(CliContext *ctx, const char *name)
{
    SyncDef def;
    SyncRunner *runner;
    ConnParams cp = ctx->catalog;
    RunnerLimits limits = {2, 65536, 0, NULL, NULL, NULL, 0.5, 0.5, -1, 1};
    char err[2048];
    bool ok;

    switch (syncdef_load(ctx->cat, name, &def)) {
    case LOOKUP_ERROR: return EXIT_FAIL;
    case LOOKUP_ABSENT: return cli_error("no sync named \"%s\"", name);
    case LOOKUP_FOUND: break;
    }
    /* What the catalog says first: a sync left without a target (remove db
     * --force) must not validate. */
    if (!sync_check(ctx->cat, name)) {
        syncdef_free(&def);
        return EXIT_FAIL;
    }
    /* --dryrun: the source databases are not touched either. */
    if (!ctx->dryrun && !capture_sync_install(ctx->cat, &def)) {
        syncdef_free(&def);
        return cli_error("sync \"%s\": could not install change capture", name);
    }
    if (cp.user == NULL)
        cp.user = "bucardo";
    if (cp.dbname == NULL)
        cp.dbname = "bucardo";
    runner = runner_create(&def, &cp, limits);
    ok = runner_validate(runner, err, sizeof(err));
    runner_destroy(runner);
    if (!ok)
        return cli_error("%s", err);
    /* One line once the outcome is known: nothing printed meanwhile (a
     * warning of the checks, on stderr) can cut it in two. */
    printf("Validating sync %s ... OK\n", name);
    return EXIT_OK;
}

int cmd_validate(CliContext *ctx, int argc, char **argv)
{
    PGresult *res = NULL;
    int code = EXIT_OK;

    if (argc < 1)
        return cli_error("usage: bucardo validate SYNC ... | all");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    if (argc == 1 && strcmp(argv[0], "all") == 0) {
        res = pg_query(ctx->cat, "catalog", SQL_ALL_SYNCS, 0, NULL);
        if (res == NULL)
            return EXIT_FAIL;
    }
    /* Every name is checked before anything is validated: a typo is one
     * error line, not one per name after the valid ones were worked on. */
    for (int i = 0; res == NULL && i < argc; i++) {
        int found = cli_row_exists(ctx->cat, SQL_SYNC_EXISTS, argv[i]);
        if (found <= 0)
            return found < 0 ? EXIT_FAIL : cli_error("no sync named \"%s\"", argv[i]);
    }
    for (int i = 0; i < (res ? PQntuples(res) : argc); i++)
        if (validate_one(ctx, res ? PQgetvalue(res, i, 0) : argv[i]) != EXIT_OK)
            code = EXIT_FAIL;
    PQclear(res);
    return code;
}

int cmd_inspect(CliContext *ctx, int argc, char **argv)
{
    PGresult *rel, *info, *cap = NULL;
    DbInfo db;
    PGconn *conn = NULL;
    const char *params[2];

    if (argc > 1 && (strcmp(argv[0], "table") == 0 || strcmp(argv[0], "sequence") == 0)) {
        argc--; /* Bucardo's "inspect table NAME" */
        argv++;
    }
    if (argc < 1)
        return cli_error("usage: bucardo inspect [SCHEMA.]TABLE [db=NAME]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    rel =
        relation_find(ctx->cat, argv[0], argc > 1 && strncmp(argv[1], "db=", 3) == 0 ? argv[1] + 3 : ctx->db);
    if (rel == NULL)
        return EXIT_FAIL;
    params[0] = PQgetvalue(rel, 0, 0);
    info = pg_query(ctx->cat, "catalog", SQL_TABLE_INFO, 1, params);
    PQclear(rel);
    if (info == NULL)
        return EXIT_FAIL;
    printf("%s: %s.%s\n", strcmp(PQgetvalue(info, 0, 6), "table") == 0 ? "Table" : "Sequence",
           PQgetvalue(info, 0, 4), PQgetvalue(info, 0, 5));
    printf("  Database:  %s\n", PQgetvalue(info, 0, 0));
    printf("  Key:       %s\n", PQgetvalue(info, 0, 1));
    printf("  Relgroups: %s\n", PQgetvalue(info, 0, 2));
    printf("  Syncs:     %s\n", PQgetvalue(info, 0, 3));
    if (catalog_load_db(ctx->cat, PQgetvalue(info, 0, 0), &db) == LOOKUP_FOUND) {
        conn = dbinfo_connect(&db);
        dbinfo_free(&db);
    }
    if (conn != NULL) {
        TableDef t = {.schemaname = PQgetvalue(info, 0, 4), .relname = PQgetvalue(info, 0, 5)};
        char *qualified = table_qualified(conn, &t), *delta = capture_object_name("delta", &t);
        char *qdelta = pg_quote_ident(conn, delta), *full = xasprintf("bucardo.%s", qdelta);
        const char *cp[2] = {qualified, full};

        cap = pg_query(conn, "inspect", SQL_CAPTURE_STATE, 2, cp);
        if (cap != NULL) {
            /* reltuples -1: never vacuumed nor analyzed (PostgreSQL 14+). */
            if (PQgetvalue(cap, 0, 2)[0] == '-')
                printf("  Rows:      unknown (never analyzed)\n");
            else
                printf("  Rows:      about %s\n", PQgetvalue(cap, 0, 2));
            printf("  Capture:   %s\n", PQgetisnull(cap, 0, 0) ? "not installed" : PQgetvalue(cap, 0, 0));
            if (strcmp(PQgetvalue(cap, 0, 1), "t") == 0) {
                char *sql = xasprintf("SELECT count(*) FROM %s", full);
                PGresult *pending = pg_query(conn, "inspect", sql, 0, NULL);
                if (pending)
                    printf("  Pending:   %s change(s) not yet purged, in %s\n", PQgetvalue(pending, 0, 0),
                           full);
                PQclear(pending);
                free(sql);
            }
        }
        PQclear(cap);
        free(qualified);
        free(delta);
        free(qdelta);
        free(full);
        PQfinish(conn);
    }
    PQclear(info);
    return EXIT_OK;
}
