/*
 * cli/cmd_relgroup.c - relgroups: named sets of tables that a sync
 * replicates together.
 *
 * Tables are named "schema.table" or just "table"; a bare name that matches
 * tables of several schemas or databases is refused as ambiguous rather
 * than guessed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_objects.h"
#include "utf8.h"

static const char SQL_RELGROUP_EXISTS[] = "SELECT 1 FROM bucardo.relgroup WHERE name = $1";
static const char SQL_CREATE_RELGROUP[] = "INSERT INTO bucardo.relgroup (name) VALUES ($1)";
static const char SQL_ADD_MEMBER[] =
    "INSERT INTO bucardo.relgroup_member (relgroup, relation, position)"
    " VALUES ($1, $2, (SELECT coalesce(max(position), 0) + 1 FROM bucardo.relgroup_member"
    "                   WHERE relgroup = $1))"
    " ON CONFLICT DO NOTHING";
static const char SQL_FIND_REL[] = "SELECT id, db, schemaname || '.' || relname FROM bucardo.relation"
                                   " WHERE (schemaname || '.' || relname = $1 OR relname = $1)"
                                   "   AND ($2::text IS NULL OR db = $2)"
                                   " ORDER BY schemaname || '.' || relname = $1 DESC, db, schemaname";
static const char SQL_RELGROUP_USERS[] =
    "SELECT string_agg(name, ', ' ORDER BY name) FROM bucardo.sync WHERE relgroup = $1"
    " HAVING count(*) > 0";
static const char SQL_DELETE_RELGROUP[] = "DELETE FROM bucardo.relgroup WHERE name = $1";
static const char SQL_LIST_RELGROUPS[] =
    "SELECT g.name,"
    "       (SELECT string_agg(DISTINCT r.db, ', ') FROM bucardo.relgroup_member m"
    "          JOIN bucardo.relation r ON r.id = m.relation WHERE m.relgroup = g.name),"
    "       (SELECT string_agg(r.schemaname || '.' || r.relname, ', ' ORDER BY m.position)"
    "          FROM bucardo.relgroup_member m JOIN bucardo.relation r ON r.id = m.relation"
    "         WHERE m.relgroup = g.name),"
    "       (SELECT string_agg(s.name, ', ' ORDER BY s.name) FROM bucardo.sync s"
    "         WHERE s.relgroup = g.name)"
    "  FROM bucardo.relgroup g WHERE g.name ~ coalesce($1, '') ORDER BY g.name";

/* list relgroups --verbose: each member with its database and priority
 * (higher first, Bucardo's order); -vv: the relgroup's row. */
static const char SQL_RELGROUP_MEMBERS[] =
    "SELECT initcap(r.kind), r.schemaname || '.' || r.relname, r.db, m.priority"
    "  FROM bucardo.relgroup_member m JOIN bucardo.relation r ON r.id = m.relation"
    " WHERE m.relgroup = $1 ORDER BY m.priority DESC, m.position";
static const char SQL_RELGROUP_ROW[] = "SELECT * FROM bucardo.relgroup WHERE name = $1";

bool relgroup_ensure(PGconn *cat, const char *name, bool *created)
{
    const char *params[1] = {name};
    int found = cli_row_exists(cat, SQL_RELGROUP_EXISTS, name);

    *created = false;
    if (found < 0)
        return false;
    if (found)
        return true;
    if (!cli_check_name(NAME_RELGROUP, name))
        return false;
    if (!pg_exec(cat, "catalog", SQL_CREATE_RELGROUP, 1, params))
        return false;
    *created = true;
    return true;
}

bool relgroup_add(PGconn *cat, const char *relgroup, const char *relid, bool *added)
{
    const char *params[2] = {relgroup, relid};
    PGresult *res = pg_query(cat, "catalog", SQL_ADD_MEMBER, 2, params);

    if (res == NULL)
        return false;
    *added = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return true;
}

PGresult *relation_find(PGconn *cat, const char *name, const char *db)
{
    const char *params[2] = {name, db};
    PGresult *res = pg_query(cat, "catalog", SQL_FIND_REL, 2, params);

    if (res == NULL)
        return NULL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        cli_error("no table named \"%s\" is known to bucardo%s%s (add it with 'bucardo add table')", name,
                  db ? " in database " : "", db ? db : "");
        return NULL;
    }
    if (PQntuples(res) > 1 && (strcmp(PQgetvalue(res, 1, 2), name) == 0 ||
                               strcmp(PQgetvalue(res, 1, 2), PQgetvalue(res, 0, 2)) == 0)) {
        PQclear(res);
        cli_error("table name \"%s\" is ambiguous: it exists in several databases (give --db=NAME)", name);
        return NULL;
    }
    if (PQntuples(res) > 1 && strcmp(PQgetvalue(res, 0, 2), name) != 0) {
        PQclear(res);
        cli_error("table name \"%s\" is ambiguous (give schema.table, or --db=NAME)", name);
        return NULL;
    }
    return res;
}

int cmd_add_relgroup(CliContext *ctx, int argc, char **argv)
{
    bool created, added;

    if (argc < 1)
        return cli_error("usage: bucardo add relgroup NAME [TABLE ...]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    if (!relgroup_ensure(ctx->cat, argv[0], &created))
        return EXIT_FAIL;
    if (!created && argc == 1)
        return cli_error("a relgroup named \"%s\" already exists", argv[0]);
    if (created)
        cli_say(ctx, "Created relgroup \"%s\"\n", argv[0]);
    for (int i = 1; i < argc; i++) {
        StrList names = {0};
        strlist_add_split(&names, argv[i], ',');
        for (int j = 0; j < names.count; j++) {
            PGresult *rel = relation_find(ctx->cat, names.items[j], ctx->db);
            bool ok;

            if (rel == NULL) {
                strlist_free(&names);
                return EXIT_FAIL;
            }
            ok = relgroup_add(ctx->cat, argv[0], PQgetvalue(rel, 0, 0), &added);
            if (ok)
                cli_say(ctx,
                        added ? "Added table %s to relgroup %s\n" : "Table %s is already in relgroup %s\n",
                        PQgetvalue(rel, 0, 2), argv[0]);
            PQclear(rel);
            if (!ok) {
                strlist_free(&names);
                return EXIT_FAIL;
            }
        }
        strlist_free(&names);
    }
    return EXIT_OK;
}

int cmd_remove_relgroup(CliContext *ctx, int argc, char **argv)
{
    if (argc < 1)
        return cli_error("usage: bucardo remove relgroup NAME [NAME ...]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    for (int i = 0; i < argc; i++) {
        const char *params[1] = {argv[i]};
        PGresult *res;
        int found = cli_row_exists(ctx->cat, SQL_RELGROUP_EXISTS, argv[i]);

        if (found < 0)
            return EXIT_FAIL;
        if (!found)
            return cli_error("no relgroup named \"%s\"", argv[i]);
        res = pg_query(ctx->cat, "catalog", SQL_RELGROUP_USERS, 1, params);
        if (res == NULL)
            return EXIT_FAIL;
        if (PQntuples(res) > 0) {
            cli_error("cannot remove relgroup \"%s\": it is used by sync(s) %s", argv[i],
                      PQgetvalue(res, 0, 0));
            PQclear(res);
            return EXIT_FAIL;
        }
        PQclear(res);
        if (!pg_exec(ctx->cat, "catalog", SQL_DELETE_RELGROUP, 1, params))
            return EXIT_FAIL;
        cli_say(ctx, "Removed relgroup \"%s\"\n", argv[i]);
    }
    return EXIT_OK;
}

int cmd_list_relgroups(CliContext *ctx, int argc, char **argv)
{
    const char *params[1] = {argc > 0 ? argv[0] : NULL};
    PGresult *res;
    int width = 0;

    if (argc > 1)
        return cli_error("usage: bucardo list relgroups [REGEX]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    res = pg_query(ctx->cat, "catalog", SQL_LIST_RELGROUPS, 1, params);
    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0)
        printf("No relgroups\n");
    for (int r = 0; r < PQntuples(res); r++)
        if (utf8_width(PQgetvalue(res, r, 0)) > width)
            width = utf8_width(PQgetvalue(res, r, 0));
    for (int r = 0; r < PQntuples(res); r++) {
        printf("Relgroup: %s%*s  DB: %s  Members: %s\n", PQgetvalue(res, r, 0),
               utf8_pad(PQgetvalue(res, r, 0), width), "",
               PQgetisnull(res, r, 1) ? "none" : PQgetvalue(res, r, 1),
               PQgetisnull(res, r, 2) ? "none" : PQgetvalue(res, r, 2));
        if (!PQgetisnull(res, r, 3))
            printf("  Used in syncs: %s\n", PQgetvalue(res, r, 3));
        if (ctx->verbose > 0) {
            const char *key[1] = {PQgetvalue(res, r, 0)};
            PGresult *mem = pg_query(ctx->cat, "catalog", SQL_RELGROUP_MEMBERS, 1, key);
            for (int i = 0; mem && i < PQntuples(mem); i++)
                printf("  %s %s  DB: %s  Priority: %s\n", PQgetvalue(mem, i, 0), PQgetvalue(mem, i, 1),
                       PQgetvalue(mem, i, 2), PQgetvalue(mem, i, 3));
            if (mem == NULL || !cli_show_all_columns(ctx, SQL_RELGROUP_ROW, key[0])) {
                PQclear(mem);
                PQclear(res);
                return EXIT_FAIL;
            }
            PQclear(mem);
        }
    }
    PQclear(res);
    return EXIT_OK;
}
