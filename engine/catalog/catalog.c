/*
 * engine/catalog/catalog.c - connecting to the catalog and reading the rows every
 * module needs (databases, settings).
 *
 * The catalog is the only state shared between the CLI and the engine, so
 * connecting also checks its version: a program must never write a catalog
 * whose layout it does not know.
 */
#include "catalog.h"
#include "sqltext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_VERSION[] = "SELECT max(version) FROM bucardo.schema_version";

/*
 * A database's connection: its fields, or with dbdsn (a libpq conninfo, or
 * Bucardo's "dbi:Pg:k=v;k=v") that string instead of dbname, host, port
 * and service.  conn= gets, in this order (the last of a keyword wins):
 * the tcp_keepalives_* settings that are not 0, the dbdsn, the database's
 * own conn=, and its pgpass file as passfile=.
 */
static const char SQL_LOAD_DB[] =
    "SELECT name, CASE WHEN dbdsn IS NULL THEN dbname END, CASE WHEN dbdsn IS NULL THEN host END,"
    "       CASE WHEN dbdsn IS NULL THEN port END, CASE WHEN dbdsn ~ 'user=' THEN NULL ELSE dbuser END, "
    "dbpass, CASE WHEN dbdsn IS NULL THEN service END,"
    "       nullif(concat_ws(' ',"
    "         (SELECT string_agg(replace(c.name, 'tcp_', '') || '=' || c.setting, ' ' ORDER BY c.name)"
    "            FROM bucardo.config c"
    "           WHERE c.name IN ('tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count')"
    "             AND c.setting ~ '^[0-9]+$' AND c.setting::numeric > 0),"
    "         replace(regexp_replace(dbdsn, '^dbi:Pg:', '', 'i'), ';', ' '), conn,"
    "         'passfile=''' || replace(replace(pgpass, '\\', '\\\\'), '''', '\\''') || ''''), ''),"
    "       status, makedelta, dbtype"
    "  FROM bucardo.db WHERE name = $1";

static const char SQL_GET_SETTING[] = "SELECT setting FROM bucardo.config WHERE name = lower($1)";

PGconn *catalog_connect(const ConnParams *cp)
{
    PGconn *cat = pg_connect(cp, "catalog");
    int version;

    if (cat == NULL)
        return NULL;
    version = catalog_version(cat);
    if (version != CATALOG_VERSION) {
        if (version == 0)
            fprintf(stderr,
                    "catalog: database \"%s\" holds no bucardo catalog; run 'bucardo install' first\n",
                    PQdb(cat));
        else if (version > 0 && version < CATALOG_VERSION)
            fprintf(stderr,
                    "catalog: the catalog is at version %d, this program needs version %d; "
                    "run 'bucardo upgrade'\n",
                    version, CATALOG_VERSION);
        else if (version > 0)
            fprintf(stderr,
                    "catalog: the catalog is at version %d, newer than this program's %d; "
                    "use a newer bucardo\n",
                    version, CATALOG_VERSION);
        PQfinish(cat);
        return NULL;
    }
    /* Catalog writes are small and must not wait behind user locks forever. */
    if (!pg_exec(cat, "catalog", "SET lock_timeout = '30s'", 0, NULL)) {
        PQfinish(cat);
        return NULL;
    }
    return cat;
}

static char *dup_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

int catalog_version(PGconn *cat)
{
    PGresult *res = PQexec(cat, SQL_VERSION);
    long version = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool absent = state && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0);
        if (!absent)
            pg_report("catalog", cat, res);
        PQclear(res);
        return absent ? 0 : -1;
    }
    if (!parse_int(PQgetvalue(res, 0, 0), 0, 1000000, &version))
        version = 0;
    PQclear(res);
    return (int)version;
}

bool catalog_upgrade(PGconn *cat, int from)
{
    for (int v = from + 1; v <= CATALOG_VERSION; v++) {
        char name[16], *sql;
        bool ok;

        snprintf(name, sizeof(name), "%d", v);
        sql = sql_section(sql_upgrade, name);
        if (sql == NULL) {
            fprintf(stderr, "catalog: no upgrade step to version %d in this program\n", v);
            return false;
        }
        ok = pg_exec_script(cat, "catalog upgrade", sql);
        free(sql);
        if (!ok)
            return false;
    }
    return true;
}

LookupStatus catalog_load_db(PGconn *cat, const char *name, DbInfo *out)
{
    const char *params[1] = {name};
    PGresult *res = pg_query(cat, "catalog", SQL_LOAD_DB, 1, params);

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return LOOKUP_ERROR;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return LOOKUP_ABSENT;
    }
    out->name = dup_or_null(res, 0, 0);
    out->dbname = dup_or_null(res, 0, 1);
    out->host = dup_or_null(res, 0, 2);
    out->port = dup_or_null(res, 0, 3);
    out->user = dup_or_null(res, 0, 4);
    out->pass = dup_or_null(res, 0, 5);
    out->service = dup_or_null(res, 0, 6);
    out->conn = dup_or_null(res, 0, 7);
    out->status = dup_or_null(res, 0, 8);
    out->makedelta = strcmp(PQgetvalue(res, 0, 9), "t") == 0;
    out->dbtype = dup_or_null(res, 0, 10);
    PQclear(res);
    return LOOKUP_FOUND;
}

void dbinfo_free(DbInfo *db)
{
    free(db->name);
    free(db->dbname);
    free(db->host);
    free(db->port);
    free(db->user);
    free(db->pass);
    free(db->service);
    free(db->conn);
    free(db->status);
    free(db->dbtype);
    memset(db, 0, sizeof(*db));
}

ConnParams dbinfo_params(const DbInfo *db)
{
    ConnParams cp = {
        .host = db->host,
        .port = db->port,
        .user = db->user,
        .dbname = db->dbname,
        .password = db->pass,
        .service = db->service,
        .extra = db->conn,
    };
    return cp;
}

PGconn *dbinfo_connect(const DbInfo *db)
{
    ConnParams cp = dbinfo_params(db);
    char *who;
    PGconn *conn;

    if (db->dbtype && strcmp(db->dbtype, "postgres") != 0) {
        /* A target of another kind (target_driver.h): nothing reads its tables. */
        fprintf(stderr, "bucardo: database \"%s\" is of type %s: only PostgreSQL databases are read from\n",
                db->name, db->dbtype);
        return NULL;
    }
    who = xasprintf("database %s", db->name);
    conn = pg_connect(&cp, who);

    free(who);
    return conn;
}

char *catalog_get_setting(PGconn *cat, const char *name)
{
    const char *params[1] = {name};
    PGresult *res = pg_query(cat, "catalog", SQL_GET_SETTING, 1, params);
    char *value = NULL;

    if (res == NULL)
        return NULL;
    if (PQntuples(res) == 1)
        value = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}
