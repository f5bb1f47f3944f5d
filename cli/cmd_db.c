/*
 * cli/cmd_db.c - `add`, `update`, `remove` and `list` of databases.
 *
 * A database is saved only after bucardo could connect to it with the
 * given settings (unless --force), so a typo shows up now and not as a sync
 * that never runs.  The stored password is used to connect and is never
 * printed: `list dbs` shows a psql command line without it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "cli_objects.h"
#include "target_driver.h"
#include "utf8.h"

static const char SQL_INSERT_DB[] =
    "INSERT INTO bucardo.db (name, dbname, host, port, dbuser, dbpass, service, conn, status, makedelta,"
    "                        dbdsn, pgpass, dbtype)"
    " VALUES ($1, $2, $3, $4,"
    "         CASE WHEN $5::text IS NULL AND $7::text IS NULL THEN 'bucardo' ELSE $5 END,"
    "         $6, $7, $8, coalesce($9, 'active'), coalesce($10::boolean, false), $11, $12,"
    "         coalesce($13, 'postgres'))";
static const char SQL_GROUP_EXISTS[] = "SELECT 1 FROM bucardo.dbgroup WHERE name = $1";
static const char SQL_GROUP_SIZE[] = "SELECT count(*) FROM bucardo.dbgroup_member WHERE dbgroup = $1";
static const char SQL_GROUP_SYNCS[] =
    "SELECT string_agg(name, ', ' ORDER BY name) FROM bucardo.sync WHERE dbgroup = $1 HAVING count(*) > 0";
static const char SQL_MEMBER_GROUPS[] =
    "SELECT dbgroup, role FROM bucardo.dbgroup_member WHERE db = $1 ORDER BY dbgroup";
static const char SQL_LEAVE_GROUP[] = "DELETE FROM bucardo.dbgroup_member WHERE dbgroup = $1 AND db = $2";
static const char SQL_DB_EXISTS[] = "SELECT 1 FROM bucardo.db WHERE name = $1";
static const char SQL_DB_USERS[] =
    "SELECT 'dbgroup ' || string_agg(DISTINCT quote_ident(dbgroup), ', ') FROM bucardo.dbgroup_member WHERE "
    "db = $1"
    " HAVING count(*) > 0"
    " UNION ALL "
    "SELECT count(*) || ' table(s)' FROM bucardo.relation WHERE db = $1 HAVING count(*) > 0"
    " UNION ALL "
    "SELECT 'customcode ' || string_agg(quote_ident(name), ', ' ORDER BY name) FROM bucardo.customcode"
    " WHERE db = $1 HAVING count(*) > 0";
/* --force: a customcode that runs in the database is kept, inactive and
 * without db= (`update customcode NAME db=... status=active` brings it back);
 * an SQL one's function is dropped from the database. */
static const char SQL_FORCE_CODES[] =
    "UPDATE bucardo.customcode SET db = NULL, status = 'inactive' WHERE db = $1 RETURNING name, kind = 'sql'";
static const char SQL_FORCE_CLEAR[] =
    "WITH rels AS (DELETE FROM bucardo.relgroup_member m USING bucardo.relation r"
    "               WHERE m.relation = r.id AND r.db = $1)"
    " , dbm AS (DELETE FROM bucardo.dbgroup_member WHERE db = $1)"
    " DELETE FROM bucardo.relation WHERE db = $1";
/* The syncs a forced removal touches: those with the database in their
 * dbgroup or with its tables in their relgroup. */
static const char SQL_DB_SYNCS[] =
    "SELECT s.name, s.status FROM bucardo.sync s"
    " WHERE EXISTS (SELECT 1 FROM bucardo.dbgroup_member m WHERE m.dbgroup = s.dbgroup AND m.db = $1)"
    "    OR EXISTS (SELECT 1 FROM bucardo.relgroup_member rm JOIN bucardo.relation r ON r.id = rm.relation"
    "                WHERE rm.relgroup = s.relgroup AND r.db = $1)"
    " ORDER BY s.name";
/* customname/customcols apply by table name (engine/syncdef.c): those
 * hanging on this database's registration of a table that another
 * database registered too move to that one instead of going with it. */
#define SQL_KEEP_CUSTOMS(table)                                                                              \
    "UPDATE bucardo." table " c SET relation = o.id FROM bucardo.relation r, LATERAL"                        \
    "   (SELECT x.id FROM bucardo.relation x WHERE x.db <> $1 AND x.kind = r.kind"                           \
    "       AND x.schemaname = r.schemaname AND x.relname = r.relname ORDER BY x.db LIMIT 1) o"              \
    " WHERE r.id = c.relation AND r.db = $1"
static const char SQL_DEACTIVATE[] = "UPDATE bucardo.sync SET status = 'inactive' WHERE name = $1";
static const char SQL_DELETE_DB[] = "DELETE FROM bucardo.db WHERE name = $1";
/* list dbs --verbose: the dbgroups and syncs a database is in; -vv its row. */
static const char SQL_DB_IN_GROUPS[] =
    "SELECT dbgroup, role, priority FROM bucardo.dbgroup_member WHERE db = $1 ORDER BY dbgroup";
static const char SQL_DB_IN_SYNCS[] = "SELECT s.name, m.role FROM bucardo.sync s"
                                      "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
                                      " WHERE m.db = $1 ORDER BY s.name";
static const char SQL_DB_ROW[] = "SELECT * FROM bucardo.db WHERE name = $1";
/* status: the user's (active, inactive), or stalled while the engine
 * cannot reach an active database (bucardo.db_state). */
static const char SQL_LIST_DBS[] =
    "SELECT name,"
    "       CASE WHEN status = 'active' AND EXISTS (SELECT 1 FROM bucardo.db_state ds WHERE ds.db = db.name)"
    "            THEN 'stalled' ELSE status END,"
    "       dbname, host, port, dbuser, service, coalesce(dbtype, 'postgres'), dbdsn,"
    "       (SELECT count(DISTINCT coalesce(d2.dbtype, 'postgres')) FROM bucardo.db d2"
    "         WHERE d2.name ~ coalesce($1, '')) FROM bucardo.db"
    " WHERE name ~ coalesce($1, '') ORDER BY name";

/* The settings a database takes, with Bucardo's aliases. */
static const char *const DB_KEYS[] = {
    "dbname",    "db",        "host",   "dbhost",   "pghost", "port",    "dbport",
    "pgport",    "user",      "dbuser", "username", "pass",   "dbpass",  "password",
    "service",   "dbservice", "conn",   "dbconn",   "pgconn", "sslmode", "status",
    "makedelta", "type",      "dbtype", "dbdsn",    "pgpass", "dbgroup", "server_side_prepares",
    "ssp",       NULL};

/* Canonical column for a key (the order of the Db columns below). */
enum {
    C_DBNAME,
    C_HOST,
    C_PORT,
    C_USER,
    C_PASS,
    C_SERVICE,
    C_CONN,
    C_STATUS,
    C_MAKEDELTA,
    C_DBDSN,
    C_PGPASS,
    C_TYPE,
    NCOLS
};
static const char *const COLUMN_NAMES[NCOLS] = {"dbname",    "host",    "port",   "dbuser",
                                                "dbpass",    "service", "conn",   "status",
                                                "makedelta", "dbdsn",   "pgpass", "dbtype"};

/* Said when server_side_prepares (ssp) is given: accepted, nothing to do. */
#define SSP_NOTE                                                                                             \
    "Note: server_side_prepares has no effect in this engine: it sends its statements through libpq, "       \
    "unprepared or as its own prepared statements, never through DBD::Pg\n"

/* Bucardo's bare words of add database: register its tables / sequences. */
static bool bare_word(const char *arg, const char *word)
{
    return strcmp(arg, word) == 0;
}

static int column_of(const char *key)
{
    static const struct {
        const char *key;
        int col;
    } map[] = {
        {"dbname", C_DBNAME},       {"db", C_DBNAME},     {"host", C_HOST},       {"dbhost", C_HOST},
        {"pghost", C_HOST},         {"port", C_PORT},     {"dbport", C_PORT},     {"pgport", C_PORT},
        {"user", C_USER},           {"dbuser", C_USER},   {"username", C_USER},   {"pass", C_PASS},
        {"dbpass", C_PASS},         {"password", C_PASS}, {"service", C_SERVICE}, {"dbservice", C_SERVICE},
        {"conn", C_CONN},           {"dbconn", C_CONN},   {"pgconn", C_CONN},     {"status", C_STATUS},
        {"makedelta", C_MAKEDELTA}, {"dbdsn", C_DBDSN},   {"pgpass", C_PGPASS},   {"type", C_TYPE},
        {"dbtype", C_TYPE},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].key, key) == 0)
            return map[i].col;
    return -1;
}

/*
 * collect_settings - validate key=value pairs into values[NCOLS] (borrowed
 * from kv, except conn which may be built from sslmode: *owned_conn).
 */
static bool collect_settings(const KeyValues *kv, const char *values[NCOLS], char **owned_conn)
{
    const char *sslmode = NULL;

    *owned_conn = NULL;
    for (int i = 0; i < kv->keys.count; i++) {
        const char *key = kv->keys.items[i], *val = kv->values.items[i];
        int col = column_of(key);

        if (col == C_TYPE) {
            char why[300];
            if (!target_kind_check(val, why, sizeof(why)))
                return cli_error("%s", why) == 0;
            if (strcmp(val, "maria") == 0) /* Bucardo's manual's spelling */
                val = "mariadb";
        }
        if (strcmp(key, "sslmode") == 0) {
            sslmode = val;
            continue;
        }
        if (strcmp(key, "dbgroup") == 0 || strcmp(key, "server_side_prepares") == 0 ||
            strcmp(key, "ssp") == 0) {
            bool b;
            if (strcmp(key, "dbgroup") != 0 && !parse_bool(val, &b))
                return cli_error("invalid %s \"%s\": expected a boolean", key, val) == 0;
            continue; /* handled by the command */
        }
        if (values[col] != NULL)
            return cli_error("\"%s\" is given twice (under two names)", COLUMN_NAMES[col]) == 0;
        values[col] = val;
    }
    /* An empty port means libpq's default, as an empty host does: update
     * database uses it to clear a port again. */
    if (values[C_PORT] && values[C_PORT][0] != '\0') {
        long port;
        if (!parse_int(values[C_PORT], 1, 65535, &port))
            return cli_error("invalid port \"%s\": expected a number from 1 to 65535", values[C_PORT]) == 0;
    }
    if (values[C_STATUS] && strcmp(values[C_STATUS], "active") != 0 &&
        strcmp(values[C_STATUS], "inactive") != 0)
        return cli_error("invalid status \"%s\": expected active or inactive", values[C_STATUS]) == 0;
    if (values[C_MAKEDELTA]) {
        bool b;
        if (!parse_bool(values[C_MAKEDELTA], &b))
            return cli_error("invalid makedelta \"%s\": expected a boolean", values[C_MAKEDELTA]) == 0;
        values[C_MAKEDELTA] = b ? "true" : "false";
    }
    if (values[C_MAKEDELTA] && strcmp(values[C_MAKEDELTA], "true") == 0 && !target_kind_is_pg(values[C_TYPE]))
        return cli_error("makedelta applies to PostgreSQL databases only, not to type %s", values[C_TYPE]) ==
               0;
    if (values[C_USER] && values[C_USER][0] == '\0')
        return cli_error("the user name cannot be empty") == 0;
    if (sslmode) {
        *owned_conn = values[C_CONN] ? xasprintf("%s sslmode=%s", values[C_CONN], sslmode)
                                     : xasprintf("sslmode=%s", sslmode);
        values[C_CONN] = *owned_conn;
    }
    return true;
}

static bool try_connect_with(const char *name, const char *const values[NCOLS], bool dsn, const char *conn);

/* try_connect - can bucardo reach the database with these settings?  A
 * dbdsn replaces dbname, host, port and service (as the engine does,
 * engine/catalog/catalog.c); a pgpass file is libpq's passfile. */
static bool try_connect(CliContext *ctx, const char *name, const char *const values[NCOLS])
{
    const char *dsn = values[C_DBDSN] && values[C_DBDSN][0] ? values[C_DBDSN] : NULL;
    StrBuf conn;
    bool ok;

    /* Targets of other kinds: through their driver (target_driver.h). */
    if (!target_kind_is_pg(values[C_TYPE])) {
        DbInfo db = {
            .name = (char *)name,
            .dbname = (char *)values[C_DBNAME],
            .host = (char *)values[C_HOST],
            .port = (char *)values[C_PORT],
            .user = (char *)values[C_USER],
            .pass = (char *)values[C_PASS],
            .service = (char *)values[C_SERVICE],
            .conn = (char *)values[C_CONN],
            .dbtype = (char *)values[C_TYPE],
        };
        char err[800];
        char *dir = catalog_get_setting(ctx->cat, "flatfile_dir");
        TargetConfig tc = {.sync = "add-db", .flat_dir = dir, .create_file = true};
        ok = target_try_connect(&db, &tc, err, sizeof(err));
        free(dir);
        if (!ok)
            fprintf(stderr, "bucardo: database \"%s\" (%s): %s\n", name, db.dbtype, err);
        return ok;
    }

    strbuf_init(&conn);
    if (dsn) {
        const char *p = strncasecmp(dsn, "dbi:Pg:", 7) == 0 ? dsn + 7 : dsn;
        for (; *p; p++)
            strbuf_printf(&conn, "%c", *p == ';' ? ' ' : *p);
    }
    if (values[C_CONN] && values[C_CONN][0])
        strbuf_printf(&conn, "%s%s", conn.len ? " " : "", values[C_CONN]);
    if (values[C_PGPASS] && values[C_PGPASS][0]) {
        strbuf_printf(&conn, "%spassfile='", conn.len ? " " : "");
        for (const char *p = values[C_PGPASS]; *p; p++)
            strbuf_printf(&conn, "%s%c", *p == '\'' || *p == '\\' ? "\\" : "", *p);
        strbuf_printf(&conn, "'");
    }
    ok = try_connect_with(name, values, dsn != NULL, conn.len ? conn.data : NULL);
    strbuf_free(&conn);
    return ok;
}

static bool try_connect_with(const char *name, const char *const values[NCOLS], bool dsn, const char *conn)
{
    DbInfo db = {
        .name = (char *)name,
        .dbname = (char *)(dsn ? NULL : values[C_DBNAME]),
        .host = (char *)(dsn ? NULL : values[C_HOST]),
        .port = (char *)(dsn ? NULL : values[C_PORT]),
        /* A service without user= names its own user (the catalog row too). */
        .user = (char *)(values[C_USER] || (values[C_SERVICE] && values[C_SERVICE][0]) ||
                                 (dsn && strstr(values[C_DBDSN], "user=") != NULL)
                             ? values[C_USER]
                             : "bucardo"),
        .pass = (char *)values[C_PASS],
        .service = (char *)(dsn ? NULL : values[C_SERVICE]),
        .conn = (char *)conn,
    };
    ConnParams cp = dbinfo_params(&db);
    char err[1024];
    PGconn *pg = pg_connect_err(&cp, err, sizeof(err));

    /* Bucardo's fallback: the default user "bucardo" does not exist on that
     * server yet - connect as postgres and create it (a superuser, as
     * Bucardo's own install makes it), then connect again as bucardo. */
    if (pg == NULL && db.user != NULL && values[C_USER] == NULL && strcmp(db.user, "bucardo") == 0 &&
        strstr(err, "role \"bucardo\" does not exist") != NULL) {
        ConnParams as_postgres = cp;
        char err2[1024];
        PGconn *su;

        as_postgres.user = "postgres";
        su = pg_connect_err(&as_postgres, err2, sizeof(err2));
        if (su != NULL) {
            PGresult *res = PQexec(su, "CREATE ROLE bucardo LOGIN SUPERUSER");
            if (PQresultStatus(res) == PGRES_COMMAND_OK) {
                printf("Created superuser \"bucardo\" on the server of database \"%s\" (connected as "
                       "postgres)\n",
                       name);
                pg = pg_connect_err(&cp, err, sizeof(err));
            }
            PQclear(res);
            PQfinish(su);
        }
    }
    if (pg == NULL) {
        char *shown = utf8_printable(err, 1000);
        fprintf(stderr, "database %s: could not connect: %s\n", name, shown);
        free(shown);
        return false;
    }
    PQfinish(pg);
    return true;
}

/* Bucardo's "alpha,beta" form: the i-th comma piece of a value, or the value. */
static const char *piece(const char *value, int i, int n, StrList *scratch)
{
    StrList parts = {0};
    const char *out = value;

    if (value == NULL || n == 1 || strchr(value, ',') == NULL)
        return value;
    strlist_add_split(&parts, value, ',');
    if (parts.count == n) {
        strlist_add(scratch, parts.items[i]);
        out = scratch->items[scratch->count - 1];
    }
    strlist_free(&parts);
    return out;
}

/*
 * join_dbgroups - Bucardo's dbgroup= of add/update database: "G[:role[:pri=N
 * ...]][,G2...]".  Each dbgroup is created if needed and the database
 * joins it (as a source in an empty group, else a target, unless a role is
 * given) or takes the given role there.  With `leave` (update database)
 * it also leaves the dbgroups not listed.  A dbgroup a sync uses is not
 * changed here but by `update dbgroup`, which rechecks its syncs.
 */
static bool join_dbgroups(CliContext *ctx, const char *db, const char *list, bool leave)
{
    StrList groups = {0};
    PGresult *res;
    bool ok = false;

    strlist_add_split(&groups, list, ',');
    if (groups.count == 0) {
        strlist_free(&groups);
        return cli_error("dbgroup: expected NAME[:ROLE][,NAME...], got \"%s\"", list) == 0;
    }
    for (int i = 0; i < groups.count; i++) {
        char *group = groups.items[i], *colon = strchr(group, ':');
        const char *params[2] = {NULL, db};
        StrList dbs = {0}, roles = {0};
        char *member;
        int found, used;
        bool created = false, joined;

        if (colon)
            *colon = '\0';
        params[0] = group;
        if (!cli_check_name(NAME_DBGROUP, group))
            goto out;
        found = cli_row_exists(ctx->cat, SQL_GROUP_EXISTS, group);
        if (found < 0 || (found == 0 && !(created = dbgroup_create(ctx->cat, group))))
            goto out;
        used = cli_row_exists(ctx->cat, SQL_GROUP_SYNCS, group);
        if (used != 0) {
            if (used > 0)
                cli_error(
                    "dbgroup \"%s\" is used by a sync: change its members with bucardo update dbgroup %s "
                    "add %s",
                    group, group, db);
            goto out;
        }
        res = pg_query(ctx->cat, "catalog", SQL_GROUP_SIZE, 1, params);
        if (res == NULL)
            goto out;
        /* dbgroup_parse_members makes the first member of its list the
         * source: a database joining a non-empty group is a target. */
        member = colon ? xasprintf("%s:%s", db, colon + 1)
                       : xasprintf("%s%s", db, strcmp(PQgetvalue(res, 0, 0), "0") == 0 ? "" : ":target");
        PQclear(res);
        joined = dbgroup_parse_members(1, &member, &dbs, &roles) &&
                 dbgroup_add_members(ctx->cat, group, &dbs, &roles, NULL);
        if (joined) {
            if (created)
                cli_say(ctx, "Created dbgroup \"%s\"\n", group);
            cli_say(ctx, "  Added database \"%s\" to dbgroup \"%s\" as %s\n", db, group, roles.items[0]);
        }
        free(member);
        strlist_free(&dbs);
        strlist_free(&roles);
        if (!joined)
            goto out;
    }
    if (leave) {
        const char *params[1] = {db};
        res = pg_query(ctx->cat, "catalog", SQL_MEMBER_GROUPS, 1, params);
        if (res == NULL)
            goto out;
        for (int r = 0; r < PQntuples(res); r++) {
            const char *group = PQgetvalue(res, r, 0);
            const char *lp[2] = {group, db};
            bool listed = strlist_contains(&groups, group);
            int used;

            if (listed)
                continue;
            used = cli_row_exists(ctx->cat, SQL_GROUP_SYNCS, group);
            if (used != 0) {
                if (used > 0)
                    cli_error("database \"%s\" cannot leave dbgroup \"%s\": a sync uses it (bucardo update "
                              "dbgroup %s remove %s)",
                              db, group, group, db);
                PQclear(res);
                goto out;
            }
            if (!pg_exec(ctx->cat, "catalog", SQL_LEAVE_GROUP, 2, lp)) {
                PQclear(res);
                goto out;
            }
            cli_say(ctx, "Removed database \"%s\" from dbgroup \"%s\"\n", db, group);
        }
        PQclear(res);
    }
    ok = true;
out:
    strlist_free(&groups);
    return ok;
}

int cmd_add_db(CliContext *ctx, int argc, char **argv)
{
    KeyValues kv;
    StrList names = {0}, scratch = {0};
    const char *bare[2];
    char **args = xcalloc((size_t)argc + 1, sizeof(char *));
    int nargs = 0, nbare = 0, code = EXIT_FAIL;

    if (argc < 1) {
        free(args);
        return cli_error(
            "usage: bucardo add database NAME dbname=DBNAME [host=... port=... user=... pass=...]");
    }
    for (int i = 0; i < argc; i++) {
        if (i > 0 && (bare_word(argv[i], "addalltables") || bare_word(argv[i], "addallsequences"))) {
            bool twice = false;
            for (int j = 0; j < nbare; j++)
                twice |= strcmp(bare[j], argv[i]) == 0;
            if (!twice)
                bare[nbare++] = argv[i];
            continue;
        }
        args[nargs++] = argv[i];
    }
    if (!cli_kv_parse(nargs, args, 1, DB_KEYS, "add database", &kv)) {
        free(args);
        return EXIT_FAIL;
    }
    if (cli_catalog(ctx) == NULL)
        goto out;
    strlist_add_split(&names, argv[0], ',');
    if (names.count == 0) {
        cli_error("a database needs a name");
        goto out;
    }
    for (int i = 0; i < names.count; i++)
        if (!cli_check_name(NAME_DATABASE, names.items[i]))
            goto out;
    for (int i = 0; i < names.count; i++) {
        const char *name = names.items[i];
        const char *values[NCOLS] = {0};
        const char *params[NCOLS + 1];
        char *owned_conn;
        PGresult *res;
        bool exists, ok;

        if (!collect_settings(&kv, values, &owned_conn))
            goto out;
        for (int c = 0; c < NCOLS; c++)
            values[c] = piece(values[c], i, names.count, &scratch);
        if (values[C_DBNAME] == NULL && values[C_SERVICE] == NULL && values[C_CONN] == NULL &&
            values[C_DBDSN] == NULL && !target_kind_is_flat(values[C_TYPE]) &&
            !(values[C_TYPE] && strcmp(values[C_TYPE], "redis") == 0)) {
            free(owned_conn);
            cli_error("database \"%s\": dbname= is required (or service=)", name);
            goto out;
        }
        if (values[C_DBDSN] && values[C_DBDSN][0] && values[C_DBNAME] == NULL)
            values[C_DBNAME] = NULL; /* the dsn names it */
        params[0] = name;
        res = pg_query(ctx->cat, "catalog", SQL_DB_EXISTS, 1, params);
        if (res == NULL) {
            free(owned_conn);
            goto out;
        }
        exists = PQntuples(res) > 0;
        PQclear(res);
        if (exists) {
            free(owned_conn);
            cli_error("a database named \"%s\" already exists", name);
            goto out;
        }
        if (!ctx->force && !try_connect(ctx, name, values)) {
            free(owned_conn);
            cli_error("database \"%s\" was not added: cannot connect to it (use --force to add it anyway)",
                      name);
            goto out;
        }
        /* An empty setting is stored as NULL (libpq's default), as update
         * database does, so list dbs never shows an empty "-h" or "-p". */
        for (int c = 0; c < NCOLS; c++)
            params[c + 1] = values[c] && values[c][0] == '\0' && c != C_DBNAME ? NULL : values[c];
        ok = pg_exec(ctx->cat, "catalog", SQL_INSERT_DB, NCOLS + 1, params);
        free(owned_conn);
        if (!ok)
            goto out;
        cli_say(ctx, "Added database \"%s\"\n", name);
        if (cli_kv_get(&kv, "dbgroup") && !join_dbgroups(ctx, name, cli_kv_get(&kv, "dbgroup"), false))
            goto out;
    }
    if (cli_kv_get(&kv, "server_side_prepares") || cli_kv_get(&kv, "ssp"))
        cli_say(ctx, SSP_NOTE);
    /* Bucardo's bare words: everything of the (first) database registered. */
    for (int i = 0; i < nbare; i++) {
        char *arg = xasprintf("db=%s", names.items[0]);
        int rc = strcmp(bare[i], "addalltables") == 0 ? cmd_add_all_tables(ctx, 1, &arg)
                                                      : cmd_add_all_sequences(ctx, 1, &arg);
        free(arg);
        if (rc != EXIT_OK)
            goto out;
    }
    code = EXIT_OK;
out:
    free(args);
    cli_kv_free(&kv);
    strlist_free(&names);
    strlist_free(&scratch);
    return code;
}

int cmd_update_db(CliContext *ctx, int argc, char **argv)
{
    KeyValues kv;
    const char *values[NCOLS] = {0};
    char *owned_conn = NULL;
    DbInfo db;
    StrBuf said;
    int code = EXIT_FAIL;

    if (argc < 2)
        return cli_error("usage: bucardo update database NAME key=value ...");
    if (!cli_kv_parse(argc, argv, 1, DB_KEYS, "update database", &kv))
        return EXIT_FAIL;
    /* What changed is told only once the new settings have been tested: a
     * refused update must not print "Changed ..." for what it rolled back. */
    strbuf_init(&said);
    if (!collect_settings(&kv, values, &owned_conn) || cli_catalog(ctx) == NULL)
        goto out;
    switch (catalog_load_db(ctx->cat, argv[0], &db)) {
    case LOOKUP_ERROR: goto out;
    case LOOKUP_ABSENT: cli_error("no database named \"%s\"", argv[0]); goto out;
    case LOOKUP_FOUND: break;
    }
    for (int c = 0; c < NCOLS; c++) {
        char *sql;
        const char *params[2];
        bool ok;

        if (values[c] == NULL)
            continue;
        /* Column names come from our own fixed list, never from input. */
        sql = xasprintf("UPDATE bucardo.db SET %s = $2%s WHERE name = $1", COLUMN_NAMES[c],
                        c == C_MAKEDELTA ? "::boolean" : "");
        params[0] = argv[0];
        params[1] = values[c][0] == '\0' && c != C_DBNAME ? NULL : values[c];
        ok = pg_exec(ctx->cat, "catalog", sql, 2, params);
        free(sql);
        if (!ok)
            goto out_db;
        /* Neither the password nor conn= (which may hold "password=...") is
         * ever echoed. */
        if (c == C_PASS)
            strbuf_printf(&said, "Changed the password of database \"%s\"\n", argv[0]);
        else if (c == C_CONN || c == C_DBDSN)
            strbuf_printf(&said, "Changed the connection %s of database \"%s\"\n",
                          c == C_CONN ? "options" : "string (dbdsn)", argv[0]);
        else
            strbuf_printf(&said, "Changed database \"%s\" %s to \"%s\"\n", argv[0], COLUMN_NAMES[c],
                          values[c]);
    }
    dbinfo_free(&db);
    /* Only PostgreSQL databases are sources, and only their tables are read. */
    if (values[C_TYPE] && !target_kind_is_pg(values[C_TYPE])) {
        int used = cli_row_exists(ctx->cat,
                                  "SELECT 1 WHERE EXISTS (SELECT 1 FROM bucardo.dbgroup_member"
                                  "                        WHERE db = $1 AND role = 'source')"
                                  "    OR EXISTS (SELECT 1 FROM bucardo.relation WHERE db = $1)",
                                  argv[0]);
        if (used != 0) {
            if (used > 0)
                cli_error(
                    "database \"%s\" cannot become type %s: it is a source, or tables were added from it",
                    argv[0], values[C_TYPE]);
            goto out;
        }
    }
    /* Check the new settings while the change can still be rolled back. */
    switch (catalog_load_db(ctx->cat, argv[0], &db)) {
    case LOOKUP_FOUND: break;
    default: goto out;
    }
    if (!ctx->force && strcmp(db.status, "active") == 0) {
        PGconn *conn = NULL;
        char why[800];
        char *dir = target_kind_is_pg(db.dbtype) ? NULL : catalog_get_setting(ctx->cat, "flatfile_dir");
        TargetConfig tc = {.sync = "update-db", .flat_dir = dir};
        bool reached = target_kind_is_pg(db.dbtype) ? (conn = dbinfo_connect(&db)) != NULL
                                                    : target_try_connect(&db, &tc, why, sizeof(why));
        free(dir);
        if (!reached && !target_kind_is_pg(db.dbtype))
            fprintf(stderr, "bucardo: database \"%s\" (%s): %s\n", argv[0], db.dbtype, why);
        if (!reached) {
            cli_error("database \"%s\" was not changed: cannot connect with the new settings "
                      "(use --force to change it anyway)",
                      argv[0]);
            goto out_db;
        }
        if (conn)
            PQfinish(conn);
    }
    if (cli_kv_get(&kv, "dbgroup")) {
        cli_say(ctx, "%s", said.data); /* in the order Bucardo tells it */
        strbuf_free(&said);
        strbuf_init(&said);
        if (!join_dbgroups(ctx, argv[0], cli_kv_get(&kv, "dbgroup"), true))
            goto out_db;
    }
    if (cli_kv_get(&kv, "server_side_prepares") || cli_kv_get(&kv, "ssp"))
        strbuf_printf(&said, SSP_NOTE);
    /* A running engine restarts the syncs using it (a new password, host...). */
    if (!cli_notify_reload(ctx))
        goto out_db;
    cli_say(ctx, "%s", said.data);
    code = EXIT_OK;
out_db:
    dbinfo_free(&db);
out:
    strbuf_free(&said);
    free(owned_conn);
    cli_kv_free(&kv);
    return code;
}

/*
 * force_clear - `remove db NAME --force`: take the database out of every
 * dbgroup and its tables out of the catalog (and every relgroup), then
 * recheck the syncs that used it.  One that cannot run any more (no source
 * or no target left, no tables, a conflict_strategy naming the database)
 * is deactivated, with a line saying why; the others carry on without it.
 * The caller has the engine reload, which stops or restarts their workers.
 */
static bool force_clear(CliContext *ctx, const char *name)
{
    const char *params[1] = {name};
    PGresult *syncs = pg_query(ctx->cat, "catalog", SQL_DB_SYNCS, 1, params), *codes;
    bool ok = false;

    if (syncs == NULL)
        return false;
    if ((codes = pg_query(ctx->cat, "catalog", SQL_FORCE_CODES, 1, params)) == NULL) {
        PQclear(syncs);
        return false;
    }
    for (int r = 0; r < PQntuples(codes); r++) {
        cli_say(ctx, "Deactivated customcode \"%s\": it ran in database \"%s\" (db= is cleared)\n",
                PQgetvalue(codes, r, 0), name);
        if (strcmp(PQgetvalue(codes, r, 1), "t") == 0)
            customcode_drop_function(ctx, PQgetvalue(codes, r, 0), name);
    }
    PQclear(codes);
    if (!pg_exec(ctx->cat, "catalog", SQL_KEEP_CUSTOMS("customname"), 1, params) ||
        !pg_exec(ctx->cat, "catalog", SQL_KEEP_CUSTOMS("customcols"), 1, params) ||
        !pg_exec(ctx->cat, "catalog", SQL_FORCE_CLEAR, 1, params) ||
        !pg_exec(ctx->cat, "catalog", SQL_DELETE_DB, 1, params))
        goto out;
    for (int r = 0; r < PQntuples(syncs); r++) {
        const char *sync = PQgetvalue(syncs, r, 0);
        const char *sp[1] = {sync};
        char why[1024];
        int runnable = sync_runnable(ctx->cat, sync, why, sizeof(why));

        if (runnable < 0)
            goto out;
        if (runnable == 1) {
            cli_say(ctx, "Sync \"%s\" no longer uses database \"%s\"\n", sync, name);
            continue;
        }
        if (strcmp(PQgetvalue(syncs, r, 1), "active") == 0) {
            if (!pg_exec(ctx->cat, "catalog", SQL_DEACTIVATE, 1, sp))
                goto out;
            cli_say(ctx, "Deactivated %s\n", why);
        } else {
            cli_say(ctx, "Left inactive %s\n", why);
        }
    }
    ok = true;
out:
    PQclear(syncs);
    return ok;
}

int cmd_remove_db(CliContext *ctx, int argc, char **argv)
{
    bool forced = false;

    if (argc < 1)
        return cli_error("usage: bucardo remove database NAME [NAME ...] [--force]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    for (int i = 0; i < argc; i++) {
        const char *params[1] = {argv[i]};
        PGresult *res = pg_query(ctx->cat, "catalog", SQL_DB_EXISTS, 1, params);
        bool exists;

        if (res == NULL)
            return EXIT_FAIL;
        exists = PQntuples(res) > 0;
        PQclear(res);
        if (!exists)
            return cli_error("no database named \"%s\"", argv[i]);
        if (ctx->force) {
            cli_say(ctx, "Removed database \"%s\"\n", argv[i]);
            if (!force_clear(ctx, argv[i]))
                return EXIT_FAIL;
            forced = true;
            continue;
        } else {
            res = pg_query(ctx->cat, "catalog", SQL_DB_USERS, 1, params);
            if (res == NULL)
                return EXIT_FAIL;
            if (PQntuples(res) > 0) {
                StrBuf users;
                strbuf_init(&users);
                for (int r = 0; r < PQntuples(res); r++)
                    strbuf_printf(&users, "%s%s", r ? " and " : "", PQgetvalue(res, r, 0));
                PQclear(res);
                cli_error("cannot remove database \"%s\": it is used by %s (use --force to remove those too)",
                          argv[i], users.data);
                strbuf_free(&users);
                return EXIT_FAIL;
            }
            PQclear(res);
        }
        if (!pg_exec(ctx->cat, "catalog", SQL_DELETE_DB, 1, params))
            return EXIT_FAIL;
        cli_say(ctx, "Removed database \"%s\"\n", argv[i]);
    }
    /* Syncs that used a forced-out database restart without it, or stop. */
    if (forced && !cli_notify_reload(ctx))
        return EXIT_FAIL;
    return EXIT_OK;
}

/* dsn_hidden - a dbdsn with the value of any password in it hidden
 * (DBI's "key=value;key=value", libpq's "key=value key=value"). */
static void dsn_hidden(StrBuf *sb, const char *dsn)
{
    for (const char *p = dsn; *p;) {
        size_t len = strcspn(p, "; ");
        if ((len > 9 && strncasecmp(p, "password=", 9) == 0) ||
            (len > 5 && strncasecmp(p, "pass=", 5) == 0)) {
            strbuf_append_len(sb, p, (size_t)(strchr(p, '=') - p));
            strbuf_append(sb, "=********");
        } else
            strbuf_append_len(sb, p, len);
        p += len;
        if (*p)
            strbuf_append_len(sb, p++, 1);
    }
}

/* conn_line - how a DBA would reach the database (no password): psql for
 * PostgreSQL with Bucardo's "(DSN=...)" for a dbdsn, the client of its
 * kind for other types, as Bucardo's list shows them.  `label` is "Conn",
 * or "Prefix" for flat files. */
static char *conn_line(const PGresult *res, int r, const char **label)
{
    const char *type = PQgetvalue(res, r, 7), *dbname = PQgetvalue(res, r, 2);
    const char *host = PQgetisnull(res, r, 3) ? NULL : PQgetvalue(res, r, 3);
    const char *port = PQgetisnull(res, r, 4) ? NULL : PQgetvalue(res, r, 4);
    const char *user = PQgetisnull(res, r, 5) ? NULL : PQgetvalue(res, r, 5);
    StrBuf sb;

    *label = "Conn";
    strbuf_init(&sb);
    if (strcmp(type, "mysql") == 0 || strcmp(type, "mariadb") == 0) {
        strbuf_append(&sb, "mysql");
        if (user)
            strbuf_printf(&sb, " -u %s", user);
        strbuf_printf(&sb, " -D %s", dbname);
        if (host)
            strbuf_printf(&sb, " -h %s", host);
        if (port && strcmp(port, "3306") != 0)
            strbuf_printf(&sb, " --port %s", port);
    } else if (strcmp(type, "sqlite") == 0)
        strbuf_printf(&sb, "sqlite3 %s", dbname);
    else if (strcmp(type, "firebird") == 0) {
        strbuf_append(&sb, "isql-fb");
        if (user)
            strbuf_printf(&sb, " -u %s", user);
        strbuf_printf(&sb, " %s%s%s", host ? host : "", host ? ":" : "", dbname);
    } else if (strcmp(type, "redis") == 0) {
        strbuf_append(&sb, "redis-cli");
        if (host)
            strbuf_printf(&sb, " -h %s", host);
        if (port)
            strbuf_printf(&sb, " -p %s", port);
        if (dbname[0] && strspn(dbname, "0123456789") == strlen(dbname))
            strbuf_printf(&sb, " -n %s", dbname);
    } else if (target_kind_is_flat(type)) {
        *label = "Prefix";
        strbuf_append(&sb, dbname);
    } else {
        if (!PQgetisnull(res, r, 6))
            strbuf_printf(&sb, "PGSERVICE=%s ", PQgetvalue(res, r, 6));
        strbuf_append(&sb, "psql");
        if (port)
            strbuf_printf(&sb, " -p %s", port);
        if (user)
            strbuf_printf(&sb, " -U %s", user);
        if (!PQgetisnull(res, r, 2))
            strbuf_printf(&sb, " -d %s", dbname);
        if (host)
            strbuf_printf(&sb, " -h %s", host);
        if (!PQgetisnull(res, r, 8) && PQgetvalue(res, r, 8)[0]) {
            strbuf_append(&sb, " (DSN=");
            dsn_hidden(&sb, PQgetvalue(res, r, 8));
            strbuf_append(&sb, ")");
        }
    }
    return sb.data;
}

/* list_db_detail - what --verbose adds under a database (Bucardo's lines). */
static bool list_db_detail(CliContext *ctx, const char *name)
{
    const char *params[1] = {name};
    PGresult *res;

    if (ctx->verbose < 1)
        return true;
    res = pg_query(ctx->cat, "catalog", SQL_DB_IN_GROUPS, 1, params);
    if (res == NULL)
        return false;
    for (int r = 0; r < PQntuples(res); r++) {
        printf("  Belongs to dbgroup %s (%s)", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
        if (strcmp(PQgetvalue(res, r, 2), "0") != 0)
            printf("  Priority:%s", PQgetvalue(res, r, 2));
        printf("\n");
    }
    PQclear(res);
    res = pg_query(ctx->cat, "catalog", SQL_DB_IN_SYNCS, 1, params);
    if (res == NULL)
        return false;
    for (int r = 0; r < PQntuples(res); r++)
        printf("  Used in sync %s in a role of %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
    PQclear(res);
    return cli_show_all_columns(ctx, SQL_DB_ROW, name);
}

int cmd_list_dbs(CliContext *ctx, int argc, char **argv)
{
    const char *params[1] = {argc > 0 ? argv[0] : NULL};
    PGresult *res;
    int width = 0, type_width = 0;

    if (argc > 1)
        return cli_error("usage: bucardo list dbs [REGEX]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    res = pg_query(ctx->cat, "catalog", SQL_LIST_DBS, 1, params);
    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0)
        printf("No databases\n");
    for (int r = 0; r < PQntuples(res); r++) {
        if (utf8_width(PQgetvalue(res, r, 0)) > width)
            width = utf8_width(PQgetvalue(res, r, 0));
        if ((int)strlen(PQgetvalue(res, r, 7)) > type_width)
            type_width = (int)strlen(PQgetvalue(res, r, 7));
    }
    /* a Type column only when the types differ, as Bucardo */
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 9), "1") == 0)
        type_width = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *label;
        char *line = conn_line(res, r, &label);
        printf("Database: %s%*s  ", PQgetvalue(res, r, 0), utf8_pad(PQgetvalue(res, r, 0), width), "");
        if (type_width > 0)
            printf("Type: %-*s  ", type_width, PQgetvalue(res, r, 7));
        printf("Status: %-6s  %s: %s\n", PQgetvalue(res, r, 1), label, line);
        free(line);
        if (!list_db_detail(ctx, PQgetvalue(res, r, 0))) {
            PQclear(res);
            return EXIT_FAIL;
        }
    }
    PQclear(res);
    return EXIT_OK;
}
