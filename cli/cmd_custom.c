/*
 * cli/cmd_custom.c - customname and customcols: a table that has another
 * name, or receives other columns, on some database or in some sync.
 *
 *   bucardo add customname [SCHEMA.]TABLE NEWNAME [db=NAME] [sync=NAME]
 *   bucardo add customcols [SCHEMA.]TABLE "SELECT a, b, upper(c) AS c" [db=NAME] [sync=NAME]
 *   bucardo list customnames | customcols
 *   bucardo remove customname | customcols ID ...
 *
 * db= names the database that knows the table under the new name or
 * receives the select list (a target), sync= the sync it applies in; both
 * are optional.  The table itself is found by name among the registered
 * tables, whichever database it was registered from (SQL_CUSTOM_REL).
 *
 * A select list is checked on the table's own database before it is saved
 * (in a read-only transaction), so a typo is refused now and not at the
 * next sync cycle.  A running engine is told to reload: the entries are
 * part of its workers' fingerprint (engine/daemon.c), so the syncs they
 * apply to restart with them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"
#include "cli.h"
#include "cli_objects.h"

static const char SQL_DB_EXISTS[] = "SELECT 1 FROM bucardo.db WHERE name = $1";
static const char SQL_SYNC_EXISTS[] = "SELECT 1 FROM bucardo.sync WHERE name = $1";
static const char SQL_ADD_NAME[] =
    "INSERT INTO bucardo.customname (relation, newname, db, sync) VALUES ($1, $2, $3, $4) RETURNING id";
static const char SQL_ADD_COLS[] =
    "INSERT INTO bucardo.customcols (relation, clause, db, sync) VALUES ($1, $2, $3, $4) RETURNING id";
/*
 * The registered table a customname/customcols is for.  The engine applies
 * them by schema and table name (engine/syncdef.c), whichever database the
 * table was registered from, so any registration of that schema.table will
 * do - `add all tables` without db= registers it once per database.  With
 * sync=, the registration in that sync's relgroup comes first (its database
 * is where a select list is tried), else the first by database name.
 * Columns: id, db, schema.table, how many schema.table the name matches,
 * whether this one is in the sync's relgroup.  A full "schema.table" match
 * hides tables merely named "schema.table" in other schemas.
 */
static const char SQL_CUSTOM_REL[] =
    "WITH m AS (SELECT r.*, r.schemaname || '.' || r.relname = $1 AS exact FROM bucardo.relation r"
    "            WHERE r.kind = 'table' AND (r.schemaname || '.' || r.relname = $1 OR r.relname = $1))"
    "   , k AS (SELECT * FROM m WHERE m.exact OR NOT EXISTS (SELECT 1 FROM m x WHERE x.exact))"
    "SELECT k.id, k.db, k.schemaname || '.' || k.relname,"
    "       (SELECT count(DISTINCT x.schemaname || '.' || x.relname) FROM k x),"
    "       EXISTS (SELECT 1 FROM bucardo.sync s JOIN bucardo.relgroup_member rm ON rm.relgroup = s.relgroup"
    "                WHERE s.name = $2 AND rm.relation = k.id)"
    "  FROM k ORDER BY 5 DESC, k.db";
/* An entry for the same table, db and sync, through any registration. */
#define SQL_CUSTOM_SAME(table)                                                                               \
    "SELECT c.id FROM bucardo." table " c JOIN bucardo.relation r ON r.id = c.relation"                      \
    " WHERE r.schemaname || '.' || r.relname = $1 AND c.db IS NOT DISTINCT FROM $2"                          \
    "   AND c.sync IS NOT DISTINCT FROM $3"
static const char SQL_SYNC_HAS_DB[] =
    "SELECT 1 FROM bucardo.sync s JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
    " WHERE s.name = $1 AND m.db = $2";
static const char SQL_LIST_NAMES[] =
    "SELECT c.id, r.schemaname || '.' || r.relname, c.newname, coalesce(c.db, 'all'), coalesce(c.sync, 'all')"
    "  FROM bucardo.customname c JOIN bucardo.relation r ON r.id = c.relation ORDER BY c.id";
static const char SQL_LIST_COLS[] =
    "SELECT c.id, r.schemaname || '.' || r.relname, c.clause, coalesce(c.db, 'all'), coalesce(c.sync, 'all')"
    "  FROM bucardo.customcols c JOIN bucardo.relation r ON r.id = c.relation ORDER BY c.id";

/* check_clause - does "SELECT clause FROM table" work on the table's database? */
static bool check_clause(CliContext *ctx, const char *db, const char *table, const char *clause)
{
    DbInfo info;
    PGconn *conn;
    bool ok;

    if (catalog_load_db(ctx->cat, db, &info) != LOOKUP_FOUND)
        return false;
    conn = dbinfo_connect(&info);
    dbinfo_free(&info);
    if (conn == NULL)
        return false;
    {
        char *dot = strchr(table, '.');
        char *schema = xasprintf("%.*s", (int)(dot - table), table);
        char *qs = pg_quote_ident(conn, schema), *qt = pg_quote_ident(conn, dot + 1);
        char *sql = xasprintf("SELECT %s FROM %s.%s AS t LIMIT 0", clause, qs, qt);
        char *who = xasprintf("customcols for %s", table);

        ok = pg_exec(conn, who, "BEGIN READ ONLY", 0, NULL) && pg_exec(conn, who, sql, 0, NULL);
        free(schema);
        free(qs);
        free(qt);
        free(sql);
        free(who);
    }
    PQfinish(conn);
    return ok;
}

/* A sync (of sync $2, or any) where database $1 is a source, when it is a
 * target in none of them: customname/customcols would never apply there. */
static const char SQL_ONLY_SOURCE[] =
    "SELECT min(s.name) FROM bucardo.sync s JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
    " WHERE m.db = $1 AND ($2::text IS NULL OR s.name = $2)"
    " HAVING bool_and(m.role = 'source')";

/*
 * custom_relation - the table `name` of `add customname|customcols` (see
 * SQL_CUSTOM_REL), or NULL after printing why: unknown, a bare name of
 * tables in several schemas, or not replicated by sync=, or db= not a
 * member of sync= (the entry would never apply).
 */
static PGresult *custom_relation(PGconn *cat, const char *what, const char *name, const char *db,
                                 const char *sync)
{
    const char *params[2] = {name, sync};
    PGresult *res = pg_query(cat, "catalog", SQL_CUSTOM_REL, 2, params);

    if (res == NULL)
        return NULL;
    if (PQntuples(res) == 0) {
        cli_error("%s: no table named \"%s\" is known to bucardo (add it with 'bucardo add table')", what,
                  name);
    } else if (strcmp(PQgetvalue(res, 0, 3), "1") != 0) {
        cli_error(
            "%s: table name \"%s\" is ambiguous: it names tables in several schemas (give schema.table)",
            what, name);
    } else if (sync && strcmp(PQgetvalue(res, 0, 4), "t") != 0) {
        cli_error("%s: sync \"%s\" does not replicate table %s", what, sync, PQgetvalue(res, 0, 2));
    } else if (sync && db) {
        const char *p2[2] = {sync, db};
        PGresult *member = pg_query(cat, "catalog", SQL_SYNC_HAS_DB, 2, p2);
        bool in = member && PQntuples(member) > 0;

        if (member && !in)
            cli_error("%s: database \"%s\" is not a member of sync \"%s\"", what, db, sync);
        PQclear(member);
        if (in)
            return res;
    } else {
        return res;
    }
    PQclear(res);
    return NULL;
}

/* add_custom - the shared body of add customname / add customcols. */
static int add_custom(CliContext *ctx, int argc, char **argv, bool cols)
{
    static const char *const keys[] = {"db", "database", "sync", NULL};
    const char *what = cols ? "customcols" : "customname";
    KeyValues kv;
    const char *db, *sync;
    char *value;
    PGresult *rel = NULL, *res;
    int code = EXIT_FAIL;

    if (argc < 2 || strchr(argv[0], '=') || strchr(argv[1], '=') == argv[1])
        return cli_error(cols ? "usage: bucardo add customcols TABLE \"SELECT a, b\" [db=NAME] [sync=NAME]"
                              : "usage: bucardo add customname TABLE NEWNAME [db=NAME] [sync=NAME]");
    if (!cli_kv_parse(argc, argv, 2, keys, what, &kv))
        return EXIT_FAIL;
    if (cli_kv_get(&kv, "db") && cli_kv_get(&kv, "database")) {
        cli_kv_free(&kv);
        return cli_error("%s: give db= or database=, not both", what);
    }
    db = cli_kv_get(&kv, "db") ? cli_kv_get(&kv, "db") : cli_kv_get(&kv, "database");
    sync = cli_kv_get(&kv, "sync");
    value = xstrdup(argv[1]);
    if (cols && strncasecmp(value, "select ", 7) == 0)
        memmove(value, value + 7, strlen(value + 7) + 1);
    if (value[strspn(value, " \t")] == '\0') {
        cli_error("%s: the %s is empty", what, cols ? "select list" : "new name");
        goto out;
    }
    if (cli_catalog(ctx) == NULL)
        goto out;
    if (db && cli_row_exists(ctx->cat, SQL_DB_EXISTS, db) != 1) {
        cli_error("%s: no database named \"%s\"", what, db);
        goto out;
    }
    if (sync && cli_row_exists(ctx->cat, SQL_SYNC_EXISTS, sync) != 1) {
        cli_error("%s: no sync named \"%s\"", what, sync);
        goto out;
    }
    if (db) {
        const char *params[2] = {db, sync};
        PGresult *src = pg_query(ctx->cat, "catalog", SQL_ONLY_SOURCE, 2, params);
        bool source = src != NULL && PQntuples(src) == 1;
        if (source)
            cli_error("%s: database \"%s\" is a source of sync \"%s\", and %s applies to targets only", what,
                      db, PQgetvalue(src, 0, 0), what);
        PQclear(src);
        if (src == NULL || source)
            goto out;
    }
    if ((rel = custom_relation(ctx->cat, what, argv[0], db, sync)) == NULL)
        goto out;
    {
        const char *params[3] = {PQgetvalue(rel, 0, 2), db, sync};
        PGresult *same =
            pg_query(ctx->cat, "catalog",
                     cols ? SQL_CUSTOM_SAME("customcols") : SQL_CUSTOM_SAME("customname"), 3, params);
        bool dup = same && PQntuples(same) > 0;

        if (dup)
            cli_error("%s: table %s already has one for db %s, sync %s (id %s; remove it first)", what,
                      PQgetvalue(rel, 0, 2), db ? db : "all", sync ? sync : "all", PQgetvalue(same, 0, 0));
        PQclear(same);
        if (same == NULL || dup)
            goto out;
    }
    if (cols && !check_clause(ctx, PQgetvalue(rel, 0, 1), PQgetvalue(rel, 0, 2), value)) {
        cli_error("customcols for %s: the select list does not work on its database", PQgetvalue(rel, 0, 2));
        goto out;
    }
    {
        const char *params[4] = {PQgetvalue(rel, 0, 0), value, db, sync};
        res = pg_query(ctx->cat, "catalog", cols ? SQL_ADD_COLS : SQL_ADD_NAME, 4, params);
    }
    if (res == NULL) {
        cli_error("%s for %s (db %s, sync %s) was not added", what, PQgetvalue(rel, 0, 2), db ? db : "all",
                  sync ? sync : "all");
        goto out;
    }
    cli_say(ctx, "Added %s %s for %s: %s (db %s, sync %s)\n", what, PQgetvalue(res, 0, 0),
            PQgetvalue(rel, 0, 2), value, db ? db : "all", sync ? sync : "all");
    PQclear(res);
    code = cli_notify_reload(ctx) ? EXIT_OK : EXIT_FAIL;
out:
    PQclear(rel);
    free(value);
    cli_kv_free(&kv);
    return code;
}

int cmd_add_customname(CliContext *ctx, int argc, char **argv)
{
    return add_custom(ctx, argc, argv, false);
}

int cmd_add_customcols(CliContext *ctx, int argc, char **argv)
{
    return add_custom(ctx, argc, argv, true);
}

static int list_custom(CliContext *ctx, int argc, bool cols)
{
    PGresult *res;

    if (argc > 0)
        return cli_error("usage: bucardo list %s", cols ? "customcols" : "customnames");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    res = pg_query(ctx->cat, "catalog", cols ? SQL_LIST_COLS : SQL_LIST_NAMES, 0, NULL);
    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0)
        printf("No %s\n", cols ? "customcols" : "customnames");
    for (int r = 0; r < PQntuples(res); r++)
        printf("%s. Table: %s  %s: %s  DB: %s  Sync: %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
               cols ? "Columns" : "Name", PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
               PQgetvalue(res, r, 4));
    PQclear(res);
    return EXIT_OK;
}

int cmd_list_customnames(CliContext *ctx, int argc, char **argv)
{
    (void)argv;
    return list_custom(ctx, argc, false);
}

int cmd_list_customcols(CliContext *ctx, int argc, char **argv)
{
    (void)argv;
    return list_custom(ctx, argc, true);
}

static int remove_custom(CliContext *ctx, int argc, char **argv, bool cols)
{
    const char *sql = cols ? "DELETE FROM bucardo.customcols WHERE id = $1"
                           : "DELETE FROM bucardo.customname WHERE id = $1";

    if (argc < 1)
        return cli_error("usage: bucardo remove %s ID ...", cols ? "customcols" : "customname");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    for (int i = 0; i < argc; i++) {
        const char *params[1] = {argv[i]};
        long id;
        PGresult *res;

        if (!parse_int(argv[i], 1, 2147483647L, &id))
            return cli_error("remove %s: \"%s\" is not an id (see bucardo list %s)",
                             cols ? "customcols" : "customname", argv[i],
                             cols ? "customcols" : "customnames");
        res = pg_query(ctx->cat, "catalog", sql, 1, params);
        if (res == NULL)
            return EXIT_FAIL;
        if (strcmp(PQcmdTuples(res), "1") != 0) {
            PQclear(res);
            return cli_error("no %s with id %s", cols ? "customcols" : "customname", argv[i]);
        }
        PQclear(res);
        cli_say(ctx, "Removed %s %s\n", cols ? "customcols" : "customname", argv[i]);
    }
    return cli_notify_reload(ctx) ? EXIT_OK : EXIT_FAIL;
}

int cmd_remove_customname(CliContext *ctx, int argc, char **argv)
{
    return remove_custom(ctx, argc, argv, false);
}

int cmd_remove_customcols(CliContext *ctx, int argc, char **argv)
{
    return remove_custom(ctx, argc, argv, true);
}
