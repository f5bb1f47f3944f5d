/*
 * cli/cmd_install.c - `bucardo install`: create the bucardo role, the
 * bucardo database and the catalog in an existing PostgreSQL cluster.
 *
 * Interactive like Bucardo's: it shows the connection settings and asks to
 * change one, proceed (P) or quit (Q); --batch proceeds without asking.
 * End of input is a refusal, never a loop.  Everything it creates is
 * removed again when a later step fails, so a failed install can simply be
 * run again.  No procedural language beyond PL/pgSQL is needed anywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "catalog.h"
#include "cli.h"
#include "syncdef.h"
#include "sqltext.h"

static const char SQL_IS_SUPERUSER[] = "SELECT rolsuper, current_setting('server_version_num')::int / 10000"
                                       "  FROM pg_catalog.pg_roles WHERE rolname = current_user";
static const char SQL_ROLE_EXISTS[] = "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'bucardo'";
static const char SQL_DB_EXISTS[] = "SELECT 1 FROM pg_catalog.pg_database WHERE datname = 'bucardo'";
static const char SQL_HAS_CATALOG[] = "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'bucardo'";
static const char SQL_SET_PIDDIR[] = "UPDATE bucardo.config SET setting = $1 WHERE name = 'piddir'";

/* The settings the user can change at the prompt. */
typedef struct InstallSettings {
    char *host;
    char *port;
    char *user;
    char *dbname;
    char *piddir;
} InstallSettings;

static char *initial(const char *given, const char *env, const char *fallback)
{
    const char *e = env ? getenv(env) : NULL;
    if (given)
        return xstrdup(given);
    if (e && *e)
        return xstrdup(e);
    return fallback ? xstrdup(fallback) : NULL;
}

static void show_settings(const InstallSettings *s)
{
    printf("Current connection settings:\n");
    printf("1. Host:           %s\n", s->host ? s->host : "<none>");
    printf("2. Port:           %s\n", s->port);
    printf("3. User:           %s\n", s->user);
    printf("4. Database:       %s\n", s->dbname);
    printf("5. PID directory:  %s\n", s->piddir);
}

/* read_line - one line of stdin without its newline; NULL at end of input. */
static char *read_line(void)
{
    char buf[1024];
    size_t n;

    if (fgets(buf, sizeof(buf), stdin) == NULL)
        return NULL;
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return xstrdup(buf);
}

/*
 * ask - the settings menu.  Returns 1 to proceed, 0 to quit, -1 when input
 * ended (the caller treats it as quitting, with a clear message).
 */
static int ask(InstallSettings *s)
{
    static const char *const labels[] = {"host", "port", "user", "database", "PID directory"};

    for (;;) {
        char *answer, *value;

        show_settings(s);
        printf("Enter a number to change it, P to proceed, or Q to quit: ");
        fflush(stdout);
        answer = read_line();
        if (answer == NULL) {
            printf("\n");
            return -1;
        }
        if (strcmp(answer, "p") == 0 || strcmp(answer, "P") == 0) {
            free(answer);
            printf("\n");
            return 1;
        }
        if (strcmp(answer, "q") == 0 || strcmp(answer, "Q") == 0) {
            free(answer);
            return 0;
        }
        if (strlen(answer) != 1 || answer[0] < '1' || answer[0] > '5') {
            printf("Please enter 1-5, P or Q\n");
            free(answer);
            continue;
        }
        printf("Change the %s to: ", labels[answer[0] - '1']);
        fflush(stdout);
        value = read_line();
        if (value == NULL) {
            free(answer);
            printf("\n");
            return -1;
        }
        switch (answer[0]) {
        case '1':
            free(s->host);
            s->host = value;
            if (value[0] == '\0' || strcmp(value, "<none>") == 0) {
                free(value);
                s->host = NULL;
            }
            break;
        case '2':
            free(s->port);
            s->port = value;
            break;
        case '3':
            free(s->user);
            s->user = value;
            break;
        case '4':
            free(s->dbname);
            s->dbname = value;
            break;
        default:
            free(s->piddir);
            s->piddir = value;
            break;
        }
        free(answer);
    }
}

static bool query_exists(PGconn *conn, const char *who, const char *sql, bool *exists)
{
    PGresult *res = pg_query(conn, who, sql, 0, NULL);
    if (res == NULL)
        return false;
    *exists = PQntuples(res) > 0;
    PQclear(res);
    return true;
}

/*
 * create_catalog - load sql/catalog.sql into the new database as role
 * bucardo, in one transaction, and record the piddir.
 */
static bool create_catalog(const InstallSettings *s, const ConnParams *admin)
{
    ConnParams cp = *admin;
    PGconn *conn;
    const char *params[1] = {s->piddir};
    bool ok;

    cp.dbname = "bucardo";
    conn = pg_connect(&cp, "install");
    if (conn == NULL)
        return false;
    ok = pg_exec(conn, "install", "BEGIN", 0, NULL) &&
         pg_exec(conn, "install", "SET LOCAL ROLE bucardo", 0, NULL) &&
         pg_exec_script(conn, "install", sql_catalog) && catalog_upgrade(conn, 1) &&
         pg_exec(conn, "install", SQL_SET_PIDDIR, 1, params) &&
         pg_exec(conn, "install", "ALTER DATABASE bucardo SET search_path = bucardo, public", 0, NULL) &&
         pg_exec(conn, "install", "COMMIT", 0, NULL);
    PQfinish(conn);
    return ok;
}

/* install_into - every step against the cluster; undoes what it did on failure. */
static int install_into(const InstallSettings *s)
{
    ConnParams cp = {.host = s->host, .port = s->port, .user = s->user, .dbname = s->dbname};
    PGconn *conn = pg_connect(&cp, "install");
    PGresult *res;
    bool role_exists, db_exists, made_role = false, made_db = false;
    int code = EXIT_FAIL;

    if (conn == NULL)
        return cli_error("cannot connect as \"%s\" to install the catalog", s->user);
    res = pg_query(conn, "install", SQL_IS_SUPERUSER, 0, NULL);
    if (res == NULL)
        goto done;
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        PQclear(res);
        cli_error("user \"%s\" is not a superuser: connect as a superuser to install", s->user);
        goto done;
    }
    printf("Postgres version is: %s\n", PQgetvalue(res, 0, 1));
    PQclear(res);

    if (!query_exists(conn, "install", SQL_ROLE_EXISTS, &role_exists) ||
        !query_exists(conn, "install", SQL_DB_EXISTS, &db_exists))
        goto done;
    if (db_exists) {
        ConnParams bp = cp;
        PGconn *bc;
        bool has;

        bp.dbname = "bucardo";
        bc = pg_connect(&bp, "install");
        if (bc == NULL)
            goto done;
        if (!query_exists(bc, "install", SQL_HAS_CATALOG, &has)) {
            PQfinish(bc);
            goto done;
        }
        PQfinish(bc);
        if (has) {
            cli_error("the bucardo catalog is already installed in database \"bucardo\"; "
                      "use 'bucardo upgrade' to migrate it, or drop that database first");
            goto done;
        }
    }
    if (!role_exists) {
        printf("Creating superuser 'bucardo'\n");
        if (!pg_exec(conn, "install", "CREATE ROLE bucardo SUPERUSER LOGIN", 0, NULL))
            goto done;
        made_role = true;
    }
    printf("Attempting to create and populate the bucardo database and schema\n");
    if (!db_exists) {
        if (!pg_exec(conn, "install", "CREATE DATABASE bucardo OWNER bucardo", 0, NULL))
            goto undo;
        made_db = true;
    }
    if (!create_catalog(s, &cp))
        goto undo;
    printf("Database creation is complete\n\n");
    printf("Updated configuration setting \"piddir\"\n");
    printf("Installation is now complete.\n");
    printf("If you see errors or need help, see the README of this program.\n\n");
    printf("You may want to check over the configuration variables next, by running:\n");
    printf("bucardo show all\n");
    printf("Change any setting by using: bucardo set foo=bar\n");
    code = EXIT_OK;
    goto done;

undo:
    if (made_db && !pg_exec(conn, "install", "DROP DATABASE bucardo", 0, NULL))
        fprintf(stderr, "install: could not drop the half-made database \"bucardo\"\n");
    if (made_role && !pg_exec(conn, "install", "DROP ROLE bucardo", 0, NULL))
        fprintf(stderr, "install: could not drop the role \"bucardo\"\n");
    cli_error("installation failed; nothing was left behind");
done:
    PQfinish(conn);
    return code;
}

int cmd_install(CliContext *ctx, int argc, char **argv)
{
    InstallSettings s;
    int code = EXIT_FAIL;
    (void)argv;

    if (argc > 0)
        return cli_error("install takes no arguments besides options (see bucardo help install)");
    s.host = initial(ctx->catalog.host, "PGHOST", NULL);
    s.port = initial(ctx->catalog.port, "PGPORT", "5432");
    s.user = initial(ctx->catalog.user, NULL, "postgres");
    s.dbname = initial(ctx->catalog.dbname, NULL, "postgres");
    s.piddir = initial(ctx->piddir, NULL, "/var/run/bucardo");

    printf("This will install the bucardo database into an existing Postgres cluster.\n");
    printf("No Perl support is needed, but you must connect as a superuser\n");
    printf("We will create a new superuser named 'bucardo',\n");
    printf("and make it the owner of a new database named 'bucardo'\n\n");

    if (ctx->batch) {
        show_settings(&s);
        code = install_into(&s);
    } else {
        int answer = ask(&s);
        if (answer == 1)
            code = install_into(&s);
        else if (answer == 0)
            code = cli_error("installation cancelled");
        else
            code = cli_error("no answer (end of input): installation cancelled");
    }
    free(s.host);
    free(s.port);
    free(s.user);
    free(s.dbname);
    free(s.piddir);
    return code;
}

/*
 * refresh_capture - install this program's change capture (sql/capture.sql)
 * again on the sources of every sync: a new release may change the
 * capture functions or triggers without changing the catalog, and the
 * templates are idempotent (delta tables keep their rows).  Each sync in
 * its own catalog transaction, like `validate`.  False if any failed; the
 * others are still refreshed.
 */
static bool refresh_capture(PGconn *cat)
{
    PGresult *res = pg_query(cat, "catalog", "SELECT name FROM bucardo.sync ORDER BY name", 0, NULL);
    int done = 0;
    bool ok = res != NULL;

    for (int i = 0; res && i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        SyncDef def;
        bool one;

        if (syncdef_load(cat, name, &def) != LOOKUP_FOUND) {
            cli_error("sync \"%s\": cannot read its definition to refresh its change capture", name);
            ok = false;
            continue;
        }
        one = pg_exec(cat, "catalog", "BEGIN", 0, NULL) && capture_sync_install(cat, &def) &&
              pg_exec(cat, "catalog", "COMMIT", 0, NULL);
        if (!one) {
            PGresult *r = PQexec(cat, "ROLLBACK");
            PQclear(r);
            cli_error("sync \"%s\": could not refresh its change capture (run 'bucardo validate %s' once its "
                      "sources are reachable)",
                      name, name);
            ok = false;
        } else {
            done++;
        }
        syncdef_free(&def);
    }
    PQclear(res);
    if (done > 0)
        printf("Refreshed the change capture of %d sync(s) on their sources\n", done);
    return ok;
}

/*
 * cmd_upgrade - `bucardo upgrade`: bring an older catalog to this
 * program's version, in one transaction (all steps or none), then refresh
 * the change capture on every sync's sources.
 */
int cmd_upgrade(CliContext *ctx, int argc, char **argv)
{
    ConnParams cp = ctx->catalog;
    PGconn *conn;
    int version, code = EXIT_FAIL;
    (void)argv;

    if (argc > 0)
        return cli_error("upgrade takes no arguments besides options");
    if (cp.user == NULL)
        cp.user = "bucardo";
    if (cp.dbname == NULL)
        cp.dbname = "bucardo";
    conn = pg_connect(&cp, "catalog");
    if (conn == NULL)
        return EXIT_FAIL;
    version = catalog_version(conn);
    if (version == 0 && migrate_is_bucardo5(conn)) {
        code = ctx->finish
                   ? cli_error("--finish: the catalog is still Bucardo's; run 'bucardo upgrade' first")
                   : migrate_bucardo5(ctx, conn);
        PQfinish(conn);
        return code;
    }
    if (ctx->dryrun && version >= 0) {
        PQfinish(conn);
        return cli_error("--dryrun applies to an upgrade from a Bucardo 5 catalog; this one is at version %d",
                         version);
    }
    if (ctx->finish && version == CATALOG_VERSION) {
        code = migrate_finish(ctx, conn);
        PQfinish(conn);
        return code;
    }
    if (ctx->finish) {
        PQfinish(conn);
        return cli_error(
            "--finish removes what an upgrade from Bucardo 5 kept aside; run 'bucardo upgrade' first");
    }
    if (version == 0)
        cli_error("database \"%s\" holds no bucardo catalog; run 'bucardo install'", PQdb(conn));
    else if (version > CATALOG_VERSION)
        cli_error("the catalog is at version %d, newer than this program's %d", version, CATALOG_VERSION);
    else if (version == CATALOG_VERSION) {
        printf("The bucardo catalog is already at version %d: nothing to do\n", version);
        code = EXIT_OK;
    } else if (version > 0) {
        if (pg_exec(conn, "catalog", "BEGIN", 0, NULL) && catalog_upgrade(conn, version) &&
            pg_exec(conn, "catalog", "COMMIT", 0, NULL)) {
            printf("Upgraded the bucardo catalog from version %d to %d\n", version, CATALOG_VERSION);
            code = EXIT_OK;
        } else {
            cli_error("the catalog was not changed");
        }
    }
    if (code == EXIT_OK && !refresh_capture(conn))
        code = EXIT_FAIL;
    PQfinish(conn);
    return code;
}
