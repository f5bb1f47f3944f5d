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
#include <sys/wait.h>
#include <unistd.h>

#include "catalog.h"
#include "cli.h"
#include "cli_objects.h"
#include "hooks.h"

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

/* Where a SQL body is tried at add/update: db=, else the sync's members
 * (sources first), else the databases of the table's registrations. */
static const char SQL_TRY_DBS[] =
    "SELECT d FROM (SELECT $1::text AS d, 0 AS o WHERE $1 IS NOT NULL"
    "  UNION ALL SELECT m.db, 1 + m.position + CASE WHEN m.role = 'source' THEN 0 ELSE 10000 END"
    "    FROM bucardo.sync s JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup WHERE s.name = $2"
    "  UNION ALL SELECT r.db, 20000 + r.id FROM bucardo.relation r"
    "   WHERE r.schemaname || '.' || r.relname = $3 OR r.relname = $3) x ORDER BY o";
/* Where the engine may have installed code $1's SQL function: its db=, and
 * every member of the syncs it applies to (directly or by a table). */
#define CODE_DBS                                                                                             \
    "SELECT c.db AS d FROM bucardo.customcode c WHERE c.name = $1 AND c.db IS NOT NULL"                      \
    "  UNION ALL SELECT dm.db FROM bucardo.customcode_map m JOIN bucardo.sync s ON s.name = m.sync"          \
    "    JOIN bucardo.dbgroup_member dm ON dm.dbgroup = s.dbgroup WHERE m.code = $1"                         \
    "  UNION ALL SELECT dm.db FROM bucardo.customcode_map m JOIN bucardo.relation r ON r.id = m.relation"    \
    "    JOIN bucardo.relation x ON x.schemaname = r.schemaname AND x.relname = r.relname"                   \
    "    JOIN bucardo.relgroup_member rm ON rm.relation = x.id JOIN bucardo.sync s ON s.relgroup = "         \
    "rm.relgroup"                                                                                            \
    "    JOIN bucardo.dbgroup_member dm ON dm.dbgroup = s.dbgroup WHERE m.code = $1"
static const char SQL_INSTALLED_DBS[] =
    "SELECT DISTINCT d FROM (" CODE_DBS ") x"
    " WHERE EXISTS (SELECT 1 FROM bucardo.customcode c WHERE c.name = $1 AND c.kind = 'sql') ORDER BY d";
/* Where update tries a new SQL body of code $1: db= ($2), else CODE_DBS. */
static const char SQL_TRY_DBS_UPDATE[] = "SELECT d FROM (SELECT $2::text AS d, 0 AS o WHERE $2 IS NOT NULL"
                                         "  UNION ALL SELECT d, 1 FROM (" CODE_DBS ") y) x ORDER BY o, d";

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

/* pg_connect_db - a connection to PostgreSQL database `name` of the
 * catalog; NULL with why set when it cannot be reached, and NULL with
 * *other set when it is of another kind. */
static PGconn *pg_connect_db(CliContext *ctx, const char *name, bool *other, char *why, size_t whylen)
{
    DbInfo db;
    PGconn *conn = NULL;

    *other = false;
    snprintf(why, whylen, "it is not in the catalog");
    if (catalog_load_db(ctx->cat, name, &db) != LOOKUP_FOUND)
        return NULL;
    if (db.dbtype && strcmp(db.dbtype, "postgres") != 0) {
        *other = true;
    } else {
        ConnParams cp = dbinfo_params(&db);
        conn = pg_connect_err(&cp, why, whylen);
    }
    dbinfo_free(&db);
    return conn;
}

/*
 * try_sql - create SQL body `src` (language `lang`) as a function in a
 * transaction that is rolled back, so PostgreSQL checks it (PL/pgSQL's
 * syntax, a language that is not installed) before the catalog takes it:
 * in the first PostgreSQL database of `dbs` (a one-column result, taken),
 * else in the catalog's.  False after one error line naming the code and
 * the database.
 */
static bool try_sql(CliContext *ctx, const char *name, const char *src, const char *lang, PGresult *dbs)
{
    PGconn *conn = NULL;
    char *where = NULL, *ident, *body, *sql;
    bool ok, own, began;

    if (dbs == NULL)
        return false;
    for (int i = 0; conn == NULL && i < PQntuples(dbs); i++) {
        bool other;
        char why[512];
        conn = pg_connect_db(ctx, PQgetvalue(dbs, i, 0), &other, why, sizeof(why));
        if (conn == NULL && !other) {
            why[strcspn(why, "\n")] = '\0';
            cli_error("customcode %s: cannot check its SQL body: database \"%s\" cannot be reached: %s", name,
                      PQgetvalue(dbs, i, 0), why);
            PQclear(dbs);
            return false;
        }
        if (conn)
            where = xasprintf("database %s", PQgetvalue(dbs, i, 0));
    }
    PQclear(dbs);
    own = conn != NULL;
    if (!own) {
        conn = ctx->cat;
        where = xstrdup("the catalog's database");
    }
    ident = pg_quote_ident(conn, lang);
    body = pg_quote_literal(conn, src);
    sql = xasprintf(
        "CREATE FUNCTION pg_temp.bucardo_customcode_check(info jsonb) RETURNS jsonb LANGUAGE %s AS %s", ident,
        body);
    began = PQtransactionStatus(conn) == PQTRANS_IDLE;
    /* check_function_bodies: on, whatever the database's default. */
    ok = pg_exec(conn, where, began ? "BEGIN" : "SAVEPOINT bucardo_customcode_check", 0, NULL) &&
         pg_exec(conn, where, "SET LOCAL check_function_bodies = on", 0, NULL);
    if (ok) {
        PGresult *res = PQexec(conn, sql);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            cli_error("customcode %s: its SQL body does not compile in %s: %s%s%s%s", name, where,
                      msg ? msg : PQerrorMessage(conn), state ? " (SQLSTATE " : "", state ? state : "",
                      state ? ")" : "");
        PQclear(res);
        PQclear(PQexec(conn, began ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT bucardo_customcode_check"));
    }
    free(ident);
    free(body);
    free(sql);
    free(where);
    if (own)
        PQfinish(conn);
    return ok;
}

/*
 * try_perl - compile Perl customcode `src` as the runner runs it
 * (customcode_runner.pl --check: compiled, not run), so code that does not
 * compile is refused at add/update; false after one error line.
 */
static bool try_perl(const char *name, const char *src)
{
    const char *runner = hooks_perl_runner();
    char path[] = "/tmp/bucardo-customcode-XXXXXX", out[1024] = "";
    char *cmd;
    FILE *f, *p;
    int fd, status;
    size_t len = strlen(src);

    if (runner == NULL || strchr(runner, '\'') != NULL)
        return cli_error("customcode %s: cannot check its Perl code: the Perl runner (customcode_runner.pl) "
                         "is not installed",
                         name) == EXIT_OK;
    if ((fd = mkstemp(path)) < 0)
        return cli_error("customcode %s: cannot check its Perl code: %s", name, strerror(errno)) == EXIT_OK;
    f = fdopen(fd, "w");
    if (f == NULL || fwrite(src, 1, len, f) != len || fclose(f) != 0) {
        if (f == NULL)
            close(fd);
        unlink(path);
        return cli_error("customcode %s: cannot check its Perl code: %s", name, strerror(errno)) == EXIT_OK;
    }
    cmd = xasprintf("perl '%s' --check <'%s' 2>&1", runner, path);
    p = popen(cmd, "r");
    free(cmd);
    if (p != NULL) {
        size_t n = fread(out, 1, sizeof(out) - 1, p);
        out[n] = '\0';
        status = pclose(p);
    } else {
        status = -1;
    }
    unlink(path);
    out[strcspn(out, "\n")] = '\0';
    if (status == 0)
        return true;
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) == 127)
        return cli_error("customcode %s: cannot check its Perl code: perl cannot be run (the Perl runner "
                         "needs it)",
                         name) == EXIT_OK;
    return cli_error("customcode %s: its Perl code does not compile: %s", name, out) == EXIT_OK;
}

void customcode_drop_function(CliContext *ctx, const char *code, const char *dbname)
{
    bool other;
    char why[512];
    PGconn *conn = pg_connect_db(ctx, dbname, &other, why, sizeof(why));
    char *fn, *ident, *sql;

    if (conn == NULL) {
        why[strcspn(why, "\n")] = '\0';
        if (!other)
            fprintf(stderr,
                    "bucardo: warning: customcode %s: its function bucardo.\"customcode_%s\"(jsonb) may "
                    "be left in database \"%s\" (it cannot be reached: %s): drop it there by hand\n",
                    code, code, dbname, why);
        return;
    }
    fn = xasprintf("customcode_%s", code);
    ident = pg_quote_ident(conn, fn);
    sql = xasprintf("DROP FUNCTION IF EXISTS bucardo.%s(jsonb)", ident);
    /* "does not exist, skipping" notices of a function (or schema) already
     * gone are no news: only warnings are said */
    if (PQstatus(conn) == CONNECTION_OK &&
        (!pg_exec(conn, dbname, "SET client_min_messages = warning", 0, NULL) ||
         !pg_exec(conn, dbname, sql, 0, NULL)))
        fprintf(stderr, "bucardo: warning: customcode %s: its function is left in database \"%s\"\n", code,
                dbname);
    free(sql);
    free(ident);
    free(fn);
    PQfinish(conn);
}

/* drop_installed - customcode_drop_function in each database of `dbs`
 * (SQL_INSTALLED_DBS, read before the code left the catalog). */
static void drop_installed(CliContext *ctx, const char *name, PGresult *dbs)
{
    for (int i = 0; dbs && i < PQntuples(dbs); i++)
        customcode_drop_function(ctx, name, PQgetvalue(dbs, i, 0));
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
    if (strcmp(kind, "perl") == 0 && !try_perl(name, src))
        goto out;
    if (strcmp(kind, "sql") == 0) {
        const char *p[3] = {cli_kv_get(&kv, "db") && cli_kv_get(&kv, "db")[0] ? cli_kv_get(&kv, "db") : NULL,
                            sync, relation};
        if (!try_sql(ctx, name, src, cli_kv_get(&kv, "language") ? cli_kv_get(&kv, "language") : "plpgsql",
                     pg_query(ctx->cat, "catalog", SQL_TRY_DBS, 3, p)))
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

/* try_update - the code as update would leave it (source, kind,
 * language, db) is tried when it is SQL; false after an error line. */
static bool try_update(CliContext *ctx, const char *name, const KeyValues *kv)
{
    const char *p1[1] = {name};
    PGresult *res;
    char *kind = NULL, *src = NULL, *lang;
    bool ok = true;

    if (!cli_kv_get(kv, "src_code") && !cli_kv_get(kv, "language") && !cli_kv_get(kv, "db"))
        return true;
    res = pg_query(ctx->cat, "catalog",
                   "SELECT kind, src_code, language FROM bucardo.customcode WHERE name = $1", 1, p1);
    if (res == NULL || PQntuples(res) != 1) {
        PQclear(res);
        return false;
    }
    if (cli_kv_get(kv, "src_code"))
        ok = source_of(cli_kv_get(kv, "src_code"), cli_kv_get(kv, "kind"), &kind, &src);
    else {
        kind = xstrdup(PQgetvalue(res, 0, 0));
        src = xstrdup(PQgetvalue(res, 0, 1));
    }
    lang = xstrdup(cli_kv_get(kv, "language") ? cli_kv_get(kv, "language") : PQgetvalue(res, 0, 2));
    PQclear(res);
    if (ok && strcmp(kind, "perl") == 0 && cli_kv_get(kv, "src_code"))
        ok = try_perl(name, src);
    if (ok && strcmp(kind, "sql") == 0) {
        const char *db = cli_kv_get(kv, "db");
        const char *p[2] = {name, db && db[0] ? db : NULL};
        ok = try_sql(ctx, name, src, lang, pg_query(ctx->cat, "catalog", SQL_TRY_DBS_UPDATE, 2, p));
    }
    free(kind);
    free(src);
    free(lang);
    return ok;
}

int cmd_update_customcode(CliContext *ctx, int argc, char **argv)
{
    static const char *const keys[] = {"name",    "about",    "whenrun",  "when_run", "status",   "priority",
                                       "getdbh",  "src_code", "kind",     "db",       "database", "language",
                                       "timeout", "sync",     "relation", NULL};
    KeyValues kv;
    const char *name;
    char *oldname = NULL;
    PGresult *olddbs = NULL;
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
    if (!try_update(ctx, name, &kv))
        goto out;
    if (cli_kv_get(&kv, "name") || cli_kv_get(&kv, "db")) {
        /* A renamed code, or one moved to another database, leaves its
         * function where it was: it goes (the engine installs the code
         * again where it runs next). */
        const char *p[1] = {name};
        oldname = xstrdup(name);
        if ((olddbs = pg_query(ctx->cat, "catalog", SQL_INSTALLED_DBS, 1, p)) == NULL)
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
    if (code == EXIT_OK && olddbs)
        drop_installed(ctx, oldname, olddbs);
out:
    PQclear(olddbs);
    free(oldname);
    cli_kv_free(&kv);
    return code;
}

int cmd_remove_customcode(CliContext *ctx, int argc, char **argv)
{
    if (argc < 1)
        return cli_error("usage: bucardo remove customcode NAME ...");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    PGresult **dbs = xcalloc((size_t)argc, sizeof(PGresult *));
    int code = EXIT_FAIL, i;

    for (i = 0; i < argc; i++) {
        const char *p[1] = {argv[i]};
        PGresult *res;
        bool gone;
        /* Where its SQL function may be: read while its mapping exists. */
        if ((dbs[i] = pg_query(ctx->cat, "catalog", SQL_INSTALLED_DBS, 1, p)) == NULL)
            goto out;
        res = pg_query(ctx->cat, "catalog", "DELETE FROM bucardo.customcode WHERE name = $1", 1, p);
        gone = res && strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (res == NULL)
            goto out;
        if (!gone) {
            cli_error("remove customcode: no customcode named \"%s\"", argv[i]);
            goto out;
        }
        cli_say(ctx, "Removed customcode \"%s\"\n", argv[i]);
    }
    /* The engine lets go of the codes first; then their functions go. */
    if (cli_notify_reload(ctx)) {
        for (i = 0; i < argc; i++)
            drop_installed(ctx, argv[i], dbs[i]);
        code = EXIT_OK;
    }
out:
    for (i = 0; i < argc; i++)
        PQclear(dbs[i]);
    free(dbs);
    return code;
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
