/*
 * cli/cmd_customcode.c - customcode: code run at the hook points of a sync's
 * cycle (Bucardo's `add customcode`; README.md, "Customcode").
 *
 *   bucardo add customcode NAME whenrun=HOOK src_code=FILE [sync=NAME | relation=TABLE]
 *          [about=TEXT] [status=active|inactive] [priority=N] [getdbh=BOOL]
 *          [kind=sql|command|perl] [db=NAME] [language=LANG] [timeout=SECONDS]
 *   bucardo update customcode NAME key=value ...
 *   bucardo list customcode[s]
 *   bucardo remove customcode NAME ...
 *
 * src_code is a file, as in Bucardo.  What it holds decides the kind
 * unless kind= says it: a file ending in .sql is a function body (kind
 * sql, stored), an executable file is a command (kind command, its
 * absolute path is stored and it is run in place), anything else is a
 * Bucardo Perl customcode (kind perl, stored, run by the project's Perl
 * runner).  db= names the database a SQL body is installed in and run in
 * (default: see README).  Every change tells a running engine to reload:
 * the codes are part of its workers' fingerprint (daemon.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "cli.h"
#include "cli_objects.h"

static const char *const HOOKS[] = {"before_txn",
                                    "before_check_rows",
                                    "before_trigger_drop",
                                    "after_trigger_drop",
                                    "after_table_sync",
                                    "exception",
                                    "conflict",
                                    "before_trigger_enable",
                                    "after_trigger_enable",
                                    "after_txn",
                                    "before_sync",
                                    "after_sync",
                                    NULL};

static const char SQL_CODE_EXISTS[] = "SELECT 1 FROM bucardo.customcode WHERE name = $1";
static const char SQL_DB_EXISTS[] = "SELECT 1 FROM bucardo.db WHERE name = $1";
static const char SQL_SYNC_EXISTS[] = "SELECT 1 FROM bucardo.sync WHERE name = $1";
/* Every registration of table $1 ("schema.table", or a bare name matching
 * one schema only). */
static const char SQL_RELATION[] =
    "WITH m AS (SELECT r.*, r.schemaname || '.' || r.relname = $1 AS exact FROM bucardo.relation r"
    "            WHERE r.schemaname || '.' || r.relname = $1 OR r.relname = $1)"
    "SELECT id, schemaname || '.' || relname, (SELECT count(DISTINCT schemaname) FROM m x"
    "                                           WHERE x.exact OR NOT EXISTS (SELECT 1 FROM m y WHERE "
    "y.exact))"
    "  FROM m WHERE m.exact OR NOT EXISTS (SELECT 1 FROM m y WHERE y.exact) ORDER BY id";
static const char SQL_ADD[] =
    "INSERT INTO bucardo.customcode (name, about, whenrun, getdbh, kind, src_code, language, db, timeout,"
    " status, priority) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
static const char SQL_MAP_SYNC[] = "INSERT INTO bucardo.customcode_map (code, sync) VALUES ($1, $2)";
static const char SQL_MAP_REL[] = "INSERT INTO bucardo.customcode_map (code, relation) VALUES ($1, $2)";
static const char SQL_LIST[] =
    "SELECT c.name, c.whenrun, c.kind, c.priority, c.status, c.getdbh,"
    "       coalesce((SELECT string_agg(coalesce('sync ' || m.sync, 'table ' || r.schemaname || '.' || "
    "r.relname),"
    "                                   ', ' ORDER BY m.sync, r.id)"
    "                   FROM bucardo.customcode_map m LEFT JOIN bucardo.relation r ON r.id = m.relation"
    "                  WHERE m.code = c.name), 'nothing'),"
    "       coalesce(c.db, ''), c.timeout, coalesce(c.about, ''),"
    "       CASE WHEN c.kind = 'command' THEN c.src_code ELSE length(c.src_code) || ' bytes' END"
    "  FROM bucardo.customcode c ORDER BY c.whenrun, c.priority, c.name";

/* read_source - the text of file `path` (xmalloc'd), or NULL after an error line. */
static char *read_source(const char *path)
{
    FILE *f = fopen(path, "rb");
    StrBuf sb;
    char buf[8192];
    size_t n;

    if (f == NULL) {
        cli_error("customcode: cannot read src_code file \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    strbuf_init(&sb);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_append_len(&sb, buf, n);
    fclose(f);
    if (sb.len == 0 || memchr(sb.data, '\0', sb.len) != NULL) {
        strbuf_free(&sb);
        cli_error("customcode: src_code file \"%s\" is empty or not text", path);
        return NULL;
    }
    return sb.data;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/*
 * source_of - the kind (given, or from the file) and the stored src_code of
 * file `path`: a command's absolute path, else the file's text.  False
 * after an error line.
 */
static bool source_of(const char *path, const char *given, char **kind, char **src)
{
    char real[PATH_MAX];

    if (given && strcmp(given, "sql") != 0 && strcmp(given, "command") != 0 && strcmp(given, "perl") != 0) {
        cli_error("customcode: kind must be sql, command or perl, not \"%s\"", given);
        return false;
    }
    if (given)
        *kind = xstrdup(given);
    else if (ends_with(path, ".sql"))
        *kind = xstrdup("sql");
    else if (!ends_with(path, ".pl") && access(path, X_OK) == 0)
        *kind = xstrdup("command");
    else
        *kind = xstrdup("perl");
    if (strcmp(*kind, "command") == 0) {
        if (realpath(path, real) == NULL || access(real, X_OK) != 0) {
            cli_error("customcode: src_code \"%s\" is not an executable file", path);
            free(*kind);
            return false;
        }
        *src = xstrdup(real);
        return true;
    }
    *src = read_source(path);
    if (*src == NULL)
        free(*kind);
    return *src != NULL;
}

static bool valid_hook(const char *h)
{
    for (int i = 0; HOOKS[i]; i++)
        if (strcmp(HOOKS[i], h) == 0)
            return true;
    return false;
}

/* check_common - the checks add and update share; false after an error line. */
static bool check_common(CliContext *ctx, const KeyValues *kv)
{
    const char *v;
    bool b;
    long n;

    if ((v = cli_kv_get(kv, "whenrun")) && !valid_hook(v))
        return cli_error("customcode: whenrun \"%s\" is not a hook point (before_txn, before_check_rows, "
                         "before_trigger_drop, after_trigger_drop, after_table_sync, exception, conflict, "
                         "before_trigger_enable, after_trigger_enable, after_txn, before_sync, after_sync)",
                         v) == EXIT_OK;
    if ((v = cli_kv_get(kv, "getdbh")) && !parse_bool(v, &b))
        return cli_error("customcode: getdbh \"%s\" is not a boolean", v) == EXIT_OK;
    if ((v = cli_kv_get(kv, "priority")) && !parse_int(v, -32768, 32767, &n))
        return cli_error("customcode: priority \"%s\" is not a number from -32768 to 32767", v) == EXIT_OK;
    if ((v = cli_kv_get(kv, "status")) && strcmp(v, "active") != 0 && strcmp(v, "inactive") != 0)
        return cli_error("customcode: status must be active or inactive, not \"%s\"", v) == EXIT_OK;
    if ((v = cli_kv_get(kv, "timeout"))) {
        char *end;
        double t = strtod(v, &end);
        if (end == v || *end || !(t > 0 && t <= 86400))
            return cli_error("customcode: timeout \"%s\" is not a number of seconds (0 to 86400)", v) ==
                   EXIT_OK;
    }
    if ((v = cli_kv_get(kv, "language")) &&
        (v[0] == '\0' || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(v)))
        return cli_error("customcode: language \"%s\" is not a language name", v) == EXIT_OK;
    if ((v = cli_kv_get(kv, "db")) && v[0] && cli_row_exists(ctx->cat, SQL_DB_EXISTS, v) != 1)
        return cli_error("customcode: no database named \"%s\"", v) == EXIT_OK;
    return true;
}

/* normalise - Bucardo's aliases: when_run for whenrun, database for db. */
static void normalise(KeyValues *kv)
{
    for (int i = 0; i < kv->keys.count; i++) {
        if (strcmp(kv->keys.items[i], "when_run") == 0) {
            free(kv->keys.items[i]);
            kv->keys.items[i] = xstrdup("whenrun");
        } else if (strcmp(kv->keys.items[i], "database") == 0) {
            free(kv->keys.items[i]);
            kv->keys.items[i] = xstrdup("db");
        }
    }
}

/* map_target - sync= or relation= into customcode_map rows for `name`. */
static bool map_target(CliContext *ctx, const char *name, const char *sync, const char *relation)
{
    if (sync) {
        const char *p[2] = {name, sync};
        if (cli_row_exists(ctx->cat, SQL_SYNC_EXISTS, sync) != 1)
            return cli_error("customcode %s: no sync named \"%s\"", name, sync) == EXIT_OK;
        return pg_exec(ctx->cat, "catalog", SQL_MAP_SYNC, 2, p);
    }
    if (relation) {
        const char *p1[1] = {relation};
        PGresult *res = pg_query(ctx->cat, "catalog", SQL_RELATION, 1, p1);
        bool ok = res != NULL;
        if (ok && PQntuples(res) == 0)
            ok = cli_error("customcode %s: no table named \"%s\" is known to bucardo", name, relation) ==
                 EXIT_OK;
        else if (ok && strcmp(PQgetvalue(res, 0, 2), "1") != 0)
            ok = cli_error("customcode %s: table name \"%s\" is ambiguous (give schema.table)", name,
                           relation) == EXIT_OK;
        for (int i = 0; ok && i < PQntuples(res); i++) {
            const char *p[2] = {name, PQgetvalue(res, i, 0)};
            ok = pg_exec(ctx->cat, "catalog", SQL_MAP_REL, 2, p);
        }
        PQclear(res);
        return ok;
    }
    return true;
}

int cmd_add_customcode(CliContext *ctx, int argc, char **argv)
{
    static const char *const keys[] = {"name",     "about",    "whenrun", "when_run", "sync", "relation",
                                       "status",   "priority", "getdbh",  "src_code", "kind", "db",
                                       "database", "language", "timeout", NULL};
    KeyValues kv;
    const char *name, *src_file, *sync, *relation, *whenrun;
    char *kind = NULL, *src = NULL;
    int code = EXIT_FAIL, first = 1;
    bool getdbh = true;

    if (argc < 1)
        return cli_error("usage: bucardo add customcode NAME whenrun=HOOK src_code=FILE [sync=NAME | "
                         "relation=TABLE] [about=..] [priority=N] [getdbh=BOOL] [kind=sql|command|perl] "
                         "[db=NAME] [timeout=SECONDS]");
    if (strchr(argv[0], '='))
        first = 0; /* name=... given as a pair */
    if (!cli_kv_parse(argc, argv, first, keys, "add customcode", &kv))
        return EXIT_FAIL;
    normalise(&kv);
    name = first ? argv[0] : cli_kv_get(&kv, "name");
    whenrun = cli_kv_get(&kv, "whenrun");
    src_file = cli_kv_get(&kv, "src_code");
    sync = cli_kv_get(&kv, "sync");
    relation = cli_kv_get(&kv, "relation");
    if (name == NULL || whenrun == NULL || src_file == NULL) {
        cli_error("add customcode: name, whenrun= and src_code= are required");
        goto out;
    }
    if (strlen(name) > 48 || name[0] == '\0' ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(name)) {
        cli_error("add customcode: name \"%s\" must be 1 to 48 letters, digits, '_', '.' or '-'", name);
        goto out;
    }
    if (sync && relation) {
        cli_error("add customcode: give sync= or relation=, not both");
        goto out;
    }
    if (cli_kv_get(&kv, "getdbh") && !parse_bool(cli_kv_get(&kv, "getdbh"), &getdbh)) {
        cli_error("customcode: getdbh \"%s\" is not a boolean", cli_kv_get(&kv, "getdbh"));
        goto out;
    }
    if (!source_of(src_file, cli_kv_get(&kv, "kind"), &kind, &src))
        goto out;
    if (cli_catalog(ctx) == NULL || !check_common(ctx, &kv))
        goto out;
    if (cli_row_exists(ctx->cat, SQL_CODE_EXISTS, name) != 0) {
        cli_error("add customcode: a customcode named \"%s\" already exists", name);
        goto out;
    }
    {
        const char *p[11] = {name,
                             cli_kv_get(&kv, "about"),
                             whenrun,
                             getdbh ? "true" : "false",
                             kind,
                             src,
                             cli_kv_get(&kv, "language") ? cli_kv_get(&kv, "language") : "plpgsql",
                             cli_kv_get(&kv, "db"),
                             cli_kv_get(&kv, "timeout") ? cli_kv_get(&kv, "timeout") : "30",
                             cli_kv_get(&kv, "status") ? cli_kv_get(&kv, "status") : "active",
                             cli_kv_get(&kv, "priority") ? cli_kv_get(&kv, "priority") : "0"};
        if (!pg_exec(ctx->cat, "catalog", SQL_ADD, 11, p))
            goto out;
    }
    if (!map_target(ctx, name, sync, relation))
        goto out;
    cli_say(ctx, "Added customcode \"%s\" (%s, %s)%s%s\n", name, whenrun, kind,
            sync       ? " for sync "
            : relation ? " for table "
                       : "",
            sync       ? sync
            : relation ? relation
                       : "");
    code = cli_notify_reload(ctx) ? EXIT_OK : EXIT_FAIL;
out:
    free(kind);
    free(src);
    cli_kv_free(&kv);
    return code;
}

int cmd_update_customcode(CliContext *ctx, int argc, char **argv)
{
    static const char *const keys[] = {"name",    "about",    "whenrun",  "when_run", "status",   "priority",
                                       "getdbh",  "src_code", "kind",     "db",       "database", "language",
                                       "timeout", "sync",     "relation", NULL};
    KeyValues kv;
    const char *name;
    int code = EXIT_FAIL;

    if (argc < 2)
        return cli_error("usage: bucardo update customcode NAME key=value ...");
    name = argv[0];
    if (!cli_kv_parse(argc, argv, 1, keys, "update customcode", &kv))
        return EXIT_FAIL;
    normalise(&kv);
    if (cli_catalog(ctx) == NULL || !check_common(ctx, &kv))
        goto out;
    if (cli_row_exists(ctx->cat, SQL_CODE_EXISTS, name) != 1) {
        cli_error("update customcode: no customcode named \"%s\"", name);
        goto out;
    }
    for (int i = 0; i < kv.keys.count; i++) {
        const char *k = kv.keys.items[i], *v = kv.values.items[i];
        if (strcmp(k, "src_code") == 0 || strcmp(k, "kind") == 0) {
            char *kind = NULL, *src = NULL;
            const char *file = cli_kv_get(&kv, "src_code");
            bool ok;
            if (strcmp(k, "kind") == 0 && file)
                continue; /* handled with src_code */
            if (file == NULL) {
                cli_error("update customcode: kind= needs src_code= too");
                goto out;
            }
            if (!source_of(file, cli_kv_get(&kv, "kind"), &kind, &src))
                goto out;
            {
                const char *p[3] = {name, kind, src};
                ok = pg_exec(ctx->cat, "catalog",
                             "UPDATE bucardo.customcode SET kind = $2, src_code = $3 WHERE name = $1", 3, p);
            }
            free(kind);
            free(src);
            if (!ok)
                goto out;
        } else if (strcmp(k, "sync") == 0 || strcmp(k, "relation") == 0) {
            const char *p[1] = {name};
            if (!pg_exec(ctx->cat, "catalog", "DELETE FROM bucardo.customcode_map WHERE code = $1", 1, p) ||
                !map_target(ctx, name, strcmp(k, "sync") == 0 ? v : NULL,
                            strcmp(k, "relation") == 0 ? v : NULL))
                goto out;
        } else {
            /* Column names come from the fixed list above, never from input. */
            const char *col = strcmp(k, "name") == 0 ? "name" : k;
            char *sql = xasprintf("UPDATE bucardo.customcode SET %s = $2 WHERE name = $1", col);
            const char *p[2] = {name, v[0] || strcmp(k, "db") != 0 ? v : NULL};
            bool ok;
            if (strcmp(k, "getdbh") == 0) {
                bool b = false;
                p[1] = parse_bool(v, &b) && b ? "true" : "false"; /* checked in check_common */
            }
            ok = pg_exec(ctx->cat, "catalog", sql, 2, p);
            free(sql);
            if (!ok)
                goto out;
            if (strcmp(k, "name") == 0)
                name = v;
        }
    }
    cli_say(ctx, "Changed customcode \"%s\"\n", name);
    code = cli_notify_reload(ctx) ? EXIT_OK : EXIT_FAIL;
out:
    cli_kv_free(&kv);
    return code;
}

int cmd_remove_customcode(CliContext *ctx, int argc, char **argv)
{
    if (argc < 1)
        return cli_error("usage: bucardo remove customcode NAME ...");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    for (int i = 0; i < argc; i++) {
        const char *p[1] = {argv[i]};
        PGresult *res = pg_query(ctx->cat, "catalog", "DELETE FROM bucardo.customcode WHERE name = $1", 1, p);
        bool gone = res && strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (res == NULL)
            return EXIT_FAIL;
        if (!gone)
            return cli_error("remove customcode: no customcode named \"%s\"", argv[i]);
        cli_say(ctx, "Removed customcode \"%s\"\n", argv[i]);
    }
    return cli_notify_reload(ctx) ? EXIT_OK : EXIT_FAIL;
}

static const char SQL_CODE_ROW[] = "SELECT name, about, whenrun, getdbh, kind, language, db, timeout,"
                                   " status, priority, cdate FROM bucardo.customcode WHERE name = $1";
static const char SQL_CODE_ROW_ALL[] = "SELECT * FROM bucardo.customcode WHERE name = $1";

int cmd_list_customcodes(CliContext *ctx, int argc, char **argv)
{
    PGresult *res;

    (void)argv;
    if (argc > 0)
        return cli_error("usage: bucardo list customcodes");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    res = pg_query(ctx->cat, "catalog", SQL_LIST, 0, NULL);
    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0)
        printf("No customcodes\n");
    for (int r = 0; r < PQntuples(res); r++) {
        printf("Code: %s  When run: %s  Kind: %s  Priority: %s  Status: %s  Getdbh: %s  For: %s%s%s"
               "  Timeout: %ss  Source: %s%s%s\n",
               PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
               PQgetvalue(res, r, 4), PQgetvalue(res, r, 5), PQgetvalue(res, r, 6),
               PQgetvalue(res, r, 7)[0] ? "  DB: " : "", PQgetvalue(res, r, 7), PQgetvalue(res, r, 8),
               PQgetvalue(res, r, 10), PQgetvalue(res, r, 9)[0] ? "  About: " : "", PQgetvalue(res, r, 9));
        /* -vv: the row, as Bucardo without its source code below -vvv. */
        if (!cli_show_all_columns(ctx, ctx->verbose >= 3 ? SQL_CODE_ROW_ALL : SQL_CODE_ROW,
                                  PQgetvalue(res, r, 0))) {
            PQclear(res);
            return EXIT_FAIL;
        }
    }
    PQclear(res);
    return EXIT_OK;
}
