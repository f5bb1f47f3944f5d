/*
 * cli/cmd_config.c - configuration settings (`show`, `set`) and
 * `list all`.
 *
 * Settings live in bucardo.config; only known names can be set, so a typo
 * is an error and not a new, silently ignored setting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "utf8.h"

static const char SQL_SHOW[] =
    "SELECT name, setting FROM bucardo.config"
    " WHERE $1::text IS NULL OR name = lower($1)"
    "    OR (NOT EXISTS (SELECT 1 FROM bucardo.config WHERE name = lower($1))"
    "        AND strpos(name, lower($1)) > 0)"
    " ORDER BY name";
static const char SQL_SET[] = "UPDATE bucardo.config SET setting = $2 WHERE name = lower($1)";

static int show(CliContext *ctx, const char *name)
{
    const char *params[1] = {name};
    PGresult *res = pg_query(ctx->cat, "catalog", SQL_SHOW, 1, params);
    int width = 0;

    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return cli_error("no setting named \"%s\" (see bucardo show all)", name);
    }
    for (int r = 0; r < PQntuples(res); r++)
        if (utf8_width(PQgetvalue(res, r, 0)) > width)
            width = utf8_width(PQgetvalue(res, r, 0));
    for (int r = 0; r < PQntuples(res); r++)
        printf("%s%*s = %s\n", PQgetvalue(res, r, 0), utf8_pad(PQgetvalue(res, r, 0), width), "",
               PQgetvalue(res, r, 1));
    PQclear(res);
    return EXIT_OK;
}

int cmd_show(CliContext *ctx, int argc, char **argv)
{
    if (argc < 1)
        return cli_error("usage: bucardo show all | bucardo show NAME ...");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    if (strcmp(argv[0], "all") == 0)
        return argc == 1 ? show(ctx, NULL) : cli_error("usage: bucardo show all");
    for (int i = 0; i < argc; i++)
        if (show(ctx, argv[i]) != EXIT_OK)
            return EXIT_FAIL;
    return EXIT_OK;
}

int cmd_set(CliContext *ctx, int argc, char **argv)
{
    StrBuf said;
    int code = EXIT_FAIL;

    if (argc < 1)
        return cli_error("usage: bucardo set NAME=VALUE ...");
    for (int i = 0; i < argc; i++)
        if (strchr(argv[i], '=') == NULL || argv[i][0] == '=')
            return cli_error("set: expected NAME=VALUE, got \"%s\"", argv[i]);
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    /* The "Updated" lines are printed only once every setting is known:
     * a failing `set a=1 b=2` changes nothing, so it must not claim it did. */
    strbuf_init(&said);
    for (int i = 0; i < argc; i++) {
        char *name = xstrdup(argv[i]);
        char *eq = strchr(name, '=');
        const char *params[2] = {name, eq + 1};
        PGresult *res;

        *eq = '\0';
        res = pg_query(ctx->cat, "catalog", SQL_SET, 2, params);
        if (res == NULL) {
            free(name);
            goto out;
        }
        if (strcmp(PQcmdTuples(res), "1") != 0) {
            PQclear(res);
            cli_error("no setting named \"%s\" (see bucardo show all)", name);
            free(name);
            goto out;
        }
        PQclear(res);
        strbuf_printf(&said, "Updated configuration setting \"%s\"\n", name);
        free(name);
    }
    fputs(said.data, stdout);
    code = EXIT_OK;
out:
    strbuf_free(&said);
    return code;
}

int cmd_list_all(CliContext *ctx, int argc, char **argv)
{
    static const CliHandler listings[] = {cmd_list_dbs, cmd_list_dbgroups, cmd_list_tables,
                                          cmd_list_relgroups, cmd_list_syncs};
    static const char *const titles[] = {"Databases", "Database groups", "Tables", "Relation groups", "Syncs"};

    if (argc > 1)
        return cli_error("usage: bucardo list all [REGEX]");
    for (size_t i = 0; i < sizeof(listings) / sizeof(listings[0]); i++) {
        printf("-- %s:\n", titles[i]);
        if (listings[i](ctx, argc, argv) != EXIT_OK)
            return EXIT_FAIL;
    }
    return EXIT_OK;
}
