/*
 * cli/cmd_delta.c - the change capture's backlog: `delta` counts the rows
 * waiting in the delta tables of each source database, `purge` deletes
 * the ones every reader has applied.
 *
 * A source database is one that is a source member of some sync.  Its
 * captured tables are the tables of those syncs' relgroups; each has a
 * delta table bucardo.<capture_object_name("delta", table)> on the source
 * (sql/capture.sql).  The engine purges after every completed cycle
 * (engine/cycle/cycle_record.c); `purge` runs the same rule by hand
 * (CATALOG_PURGE_SNAPSHOTS_SQL), narrowed per table to the syncs that read
 * that table: a delta row goes only when its transaction is visible in the
 * last completed snapshot of every sync reading that table from that
 * source and of every member of those syncs still behind, and nothing goes
 * while one of them never completed a cycle.  Deleting
 * by an older reading of those snapshots is safe: snapshots only move
 * forward, so what an older one saw, every later one sees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "capture.h"
#include "catalog.h"
#include "cli.h"
#include "cli_objects.h"
#include "utf8.h"

/* The source databases (name, status), in name order. */
static const char SQL_SOURCES[] =
    "SELECT d.name, d.status FROM bucardo.db d"
    " WHERE EXISTS (SELECT 1 FROM bucardo.sync s JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
    "                WHERE m.db = d.name AND m.role = 'source')"
    " ORDER BY d.name";
static const char SQL_IS_DB[] = "SELECT 1 FROM bucardo.db WHERE name = $1";
/* The captured tables of source $1: tables with a key in a relgroup of a
 * sync that reads $1. */
static const char SQL_SOURCE_TABLES[] =
    "SELECT DISTINCT r.schemaname, r.relname FROM bucardo.sync s"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = $1"
    "  JOIN bucardo.relgroup_member rm ON rm.relgroup = s.relgroup"
    "  JOIN bucardo.relation r ON r.id = rm.relation"
    " WHERE r.kind = 'table' AND r.pkey IS NOT NULL"
    " ORDER BY 1, 2";

/*
 * The snapshots a delta row of table $2.$3 on source $1 must be visible in
 * before it may go: CATALOG_PURGE_SNAPSHOTS_SQL narrowed to the syncs
 * whose relgroup holds that table (the other syncs reading the source
 * never read this delta table).  NULL row: a reader never completed a
 * cycle.  truncate_log, shared by every table, keeps the source-wide rule.
 */
#define READS_TABLE                                                                                          \
    " AND EXISTS (SELECT 1 FROM bucardo.relgroup_member rm JOIN bucardo.relation r ON r.id = rm.relation"    \
    "              WHERE rm.relgroup = s.relgroup AND r.schemaname = $2 AND r.relname = $3)"
static const char SQL_TABLE_SNAPSHOTS[] =
    "SELECT NULL::text FROM bucardo.sync s"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = $1"
    " WHERE NOT EXISTS (SELECT 1 FROM bucardo.sync_source_state ss WHERE ss.sync = s.name AND ss.db = "
    "$1)" READS_TABLE " UNION ALL "
    "SELECT ss.snapshot::text FROM bucardo.sync_source_state ss"
    "  JOIN bucardo.sync s ON s.name = ss.sync"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = ss.db"
    " WHERE ss.db = $1" READS_TABLE " UNION ALL "
    "SELECT ms.snapshot::text FROM bucardo.sync_member_state ms"
    "  JOIN bucardo.sync s ON s.name = ms.sync"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.db = ms.member"
    " WHERE ms.source = $1" READS_TABLE;

/* Every captured table of every source. */
static const char SQL_CAPTURED_TABLES[] =
    "SELECT DISTINCT r.schemaname, r.relname FROM bucardo.sync s"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source'"
    "  JOIN bucardo.relgroup_member rm ON rm.relgroup = s.relgroup"
    "  JOIN bucardo.relation r ON r.id = rm.relation"
    " WHERE r.kind = 'table' AND r.pkey IS NOT NULL";

/* connect_source - a connection to stored database `name`, or NULL after
 * saying why. */
static PGconn *connect_source(PGconn *cat, const char *name)
{
    DbInfo db;
    PGconn *conn;

    if (catalog_load_db(cat, name, &db) != LOOKUP_FOUND) {
        cli_error("cannot load database \"%s\" from the catalog", name);
        return NULL;
    }
    conn = dbinfo_connect(&db);
    dbinfo_free(&db);
    return conn;
}

/* delta_table - "bucardo.<quoted delta name>" of schema.rel on conn (xmalloc'd). */
static char *delta_table(PGconn *conn, const char *schema, const char *rel)
{
    TableDef t = {.schemaname = (char *)schema, .relname = (char *)rel};
    char *name = capture_object_name("delta", &t), *q = pg_quote_ident(conn, name);
    char *full = xasprintf("bucardo.%s", q);

    free(name);
    free(q);
    return full;
}

/*
 * count_pending - rows in the delta table of schema.rel on conn, into
 * *count; 0 when capture is not installed there.  False on error.
 */
static bool count_pending(PGconn *conn, const char *schema, const char *rel, long *count)
{
    char *full = delta_table(conn, schema, rel), *sql;
    const char *params[1] = {full};
    PGresult *res = pg_query(conn, "delta", "SELECT to_regclass($1) IS NOT NULL", 1, params);
    bool exists;

    if (res == NULL) {
        free(full);
        return false;
    }
    exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    *count = 0;
    if (exists) {
        sql = xasprintf("SELECT count(*) FROM %s", full);
        res = pg_query(conn, "delta", sql, 0, NULL);
        free(sql);
        if (res == NULL) {
            free(full);
            return false;
        }
        *count = atol(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    free(full);
    return true;
}

/* like_match - SQL-LIKE-ish wildcard match: '%' and '*' match any run. */
static bool like_match(const char *pat, const char *s)
{
    if (*pat == '\0')
        return *s == '\0';
    if (*pat == '%' || *pat == '*')
        return like_match(pat + 1, s) || (*s && like_match(pat, s + 1));
    return *s == *pat && like_match(pat + 1, s + 1);
}

/*
 * cmd_delta - `bucardo delta [totals] [DB ...]`: Bucardo's layout, a
 * grand total, then one line per source database (" (not active)" for an
 * inactive one); with --verbose also one line per table.  DB may use the
 * wildcards '%' and '*'; a database that is not a source is said so.
 */
int cmd_delta(CliContext *ctx, int argc, char **argv)
{
    static const char GRAND[] = "Total deltas across all targets", PERDB[] = "Total deltas for database";
    bool totals = argc > 0 && (strcasecmp(argv[0], "total") == 0 || strcasecmp(argv[0], "totals") == 0);
    PGresult *src;
    StrList names = {0}, status = {0}, shown = {0};
    long *counts = NULL, grand = 0;
    int width = (int)strlen(GRAND), code = EXIT_FAIL;
    StrBuf tables;
    char buf[64];

    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    src = pg_query(ctx->cat, "catalog", SQL_SOURCES, 0, NULL);
    if (src == NULL)
        return EXIT_FAIL;
    strbuf_init(&tables);
    /* Which sources to count. */
    for (int r = 0; r < PQntuples(src); r++) {
        const char *name = PQgetvalue(src, r, 0);
        bool want = argc == (totals ? 1 : 0) || totals;
        for (int i = totals ? 1 : 0; !want && i < argc; i++)
            want = like_match(argv[i], name);
        if (want) {
            strlist_add(&names, name);
            strlist_add(&status, PQgetvalue(src, r, 1));
        }
    }
    for (int i = totals ? 1 : 0; i < argc && !totals; i++) {
        bool matched = false;
        for (int r = 0; r < PQntuples(src); r++)
            matched = matched || like_match(argv[i], PQgetvalue(src, r, 0));
        if (!matched) {
            int is_db = strpbrk(argv[i], "%*") ? 0 : cli_row_exists(ctx->cat, SQL_IS_DB, argv[i]);
            if (is_db < 0)
                goto out;
            if (is_db == 0) {
                cli_error("no matching source database for \"%s\" (see bucardo list dbs)", argv[i]);
                goto out;
            }
            printf("Skipping database %s: not a source\n", argv[i]);
        }
    }
    if (names.count == 0) {
        cli_error("no databases to check: none of them is a source of a sync");
        goto out;
    }
    counts = xcalloc((size_t)names.count, sizeof(long));
    for (int i = 0; i < names.count; i++) {
        const char *params[1] = {names.items[i]};
        PGresult *tabs = pg_query(ctx->cat, "catalog", SQL_SOURCE_TABLES, 1, params);
        PGconn *conn;
        int w = utf8_width(names.items[i]) + (int)strlen(PERDB) + 3;

        if (tabs == NULL)
            goto out;
        conn = connect_source(ctx->cat, names.items[i]);
        if (conn == NULL) {
            PQclear(tabs);
            goto out;
        }
        for (int t = 0; t < PQntuples(tabs); t++) {
            long n;
            if (!count_pending(conn, PQgetvalue(tabs, t, 0), PQgetvalue(tabs, t, 1), &n)) {
                PQfinish(conn);
                PQclear(tabs);
                goto out;
            }
            counts[i] += n;
            if (ctx->verbose > 0)
                strbuf_printf(&tables, "%s\t    %s.%s: %s\n", names.items[i], PQgetvalue(tabs, t, 0),
                              PQgetvalue(tabs, t, 1), cli_pretty_number(ctx, n, buf, sizeof(buf)));
        }
        PQfinish(conn);
        PQclear(tabs);
        grand += counts[i];
        if (w > width)
            width = w;
        strlist_add(&shown, names.items[i]);
    }
    printf("%*s: %s\n", width, GRAND, cli_pretty_number(ctx, grand, buf, sizeof(buf)));
    for (int i = 0; i < names.count && !totals; i++) {
        char *label = xasprintf("  %s %s", PERDB, names.items[i]);
        size_t plen = strlen(names.items[i]);
        printf("%*s%s: %s%s\n", width - utf8_width(label), "", label,
               cli_pretty_number(ctx, counts[i], buf, sizeof(buf)),
               strcmp(status.items[i], "active") == 0 ? "" : " (not active)");
        free(label);
        /* --verbose: the tables of this database (lines "DB\t..."). */
        for (const char *l = tables.data; l && *l;) {
            const char *nl = strchr(l, '\n');
            if (strncmp(l, names.items[i], plen) == 0 && l[plen] == '\t')
                printf("%.*s\n", (int)(nl - l - (long)plen - 1), l + plen + 1);
            l = nl ? nl + 1 : NULL;
        }
    }
    code = EXIT_OK;
out:
    strbuf_free(&tables);
    free(counts);
    strlist_free(&names);
    strlist_free(&status);
    strlist_free(&shown);
    PQclear(src);
    return code;
}

/* table_named - whether schema.rel is what the user typed (SCHEMA.NAME or
 * NAME, with the wildcards '%' and '*'). */
static bool table_named(const char *word, const char *schema, const char *rel)
{
    char *full = xasprintf("%s.%s", schema, rel);
    bool match = like_match(word, strchr(word, '.') ? full : rel);

    free(full);
    return match;
}

/*
 * visible_condition - "pg_visible_in_snapshot(txid, S1) AND ..." for the
 * rows of `snaps` (quoted for conn), into cond; false when a row is NULL
 * (a reader that never completed a cycle: nothing may go), and "false"
 * when there are no rows (no reader: keep everything).
 */
static bool visible_condition(PGconn *conn, PGresult *snaps, StrBuf *cond)
{
    strbuf_reset(cond);
    for (int i = 0; i < PQntuples(snaps); i++) {
        char *lit;
        if (PQgetisnull(snaps, i, 0))
            return false;
        lit = pg_quote_literal(conn, PQgetvalue(snaps, i, 0));
        strbuf_printf(cond, "%spg_visible_in_snapshot(txid, %s::pg_snapshot)", i ? " AND " : "", lit);
        free(lit);
    }
    if (cond->len == 0)
        strbuf_append(cond, "false");
    return true;
}

/* purge_rows - DELETE FROM `table` (on conn) the rows matching cond;
 * their count into *n.  A table that does not exist has none. */
static bool purge_rows(PGconn *conn, const char *table, const char *cond, long *n)
{
    const char *p[1] = {table};
    PGresult *res = pg_query(conn, "purge", "SELECT to_regclass($1) IS NOT NULL", 1, p);
    bool exists = res && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    char *sql;

    *n = 0;
    if (res == NULL)
        return false;
    PQclear(res);
    if (!exists)
        return true;
    sql = xasprintf("DELETE FROM %s WHERE %s", table, cond);
    res = pg_query(conn, "purge", sql, 0, NULL);
    free(sql);
    if (res == NULL)
        return false;
    *n = atol(PQcmdTuples(res));
    PQclear(res);
    return true;
}

/*
 * purge_source - delete on source `db` the delta rows of the selected
 * tables (all when argc == 0, and then truncate_log too) that every reader
 * of each table has applied.  *tables and *rows count what was done.
 */
static bool purge_source(CliContext *ctx, const char *db, int argc, char **argv, long *tables, long *rows)
{
    const char *params[1] = {db};
    PGresult *tabs = pg_query(ctx->cat, "catalog", SQL_SOURCE_TABLES, 1, params);
    PGconn *conn;
    StrBuf cond;
    bool ok = true;

    *tables = *rows = 0;
    if (tabs == NULL || (conn = connect_source(ctx->cat, db)) == NULL) {
        PQclear(tabs);
        return false;
    }
    strbuf_init(&cond);
    /* One transaction per source: --dryrun rolls it back (and says so). */
    ok = pg_exec(conn, "purge", "BEGIN", 0, NULL);
    for (int t = 0; ok && t < PQntuples(tabs); t++) {
        const char *schema = PQgetvalue(tabs, t, 0), *rel = PQgetvalue(tabs, t, 1);
        const char *p3[3] = {db, schema, rel};
        bool want = argc == 0;
        PGresult *snaps;
        long n;

        for (int i = 0; i < argc; i++)
            want = want || table_named(argv[i], schema, rel);
        if (!want)
            continue;
        snaps = pg_query(ctx->cat, "catalog", SQL_TABLE_SNAPSHOTS, 3, p3);
        if (snaps == NULL) {
            ok = false;
            break;
        }
        if (!visible_condition(conn, snaps, &cond)) {
            PQclear(snaps);
            if (ctx->verbose > 0)
                printf("  %s.%s: kept: a sync reading it has not completed a cycle yet\n", schema, rel);
            continue;
        }
        PQclear(snaps);
        {
            char *full = delta_table(conn, schema, rel);
            ok = purge_rows(conn, full, cond.data, &n);
            free(full);
        }
        if (ok) {
            (*tables)++;
            *rows += n;
            if (ctx->verbose > 0)
                printf("  %s.%s: %ld delta row(s) purged\n", schema, rel, n);
        }
    }
    if (ok && argc == 0) {
        PGresult *snaps = pg_query(ctx->cat, "catalog", CATALOG_PURGE_SNAPSHOTS_SQL, 1, params);
        long n;
        ok = snaps != NULL;
        if (ok && visible_condition(conn, snaps, &cond) &&
            purge_rows(conn, "bucardo.truncate_log", cond.data, &n))
            *rows += n;
        PQclear(snaps);
    }
    if (ok)
        ok = pg_exec(conn, "purge", ctx->dryrun ? "ROLLBACK" : "COMMIT", 0, NULL);
    strbuf_free(&cond);
    PQclear(tabs);
    PQfinish(conn);
    return ok;
}

/*
 * cmd_purge - `bucardo purge [all | TABLE ...]`: on every active source
 * database (that captures one of the named tables), delete the delta rows
 * every reader has applied, as the engine does after a cycle.  An
 * undelivered change is never deleted (see the top of this file).
 */
int cmd_purge(CliContext *ctx, int argc, char **argv)
{
    PGresult *src;
    int code = EXIT_OK;

    if (argc == 1 && strcasecmp(argv[0], "all") == 0)
        argc = 0;
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    src = pg_query(ctx->cat, "catalog", SQL_SOURCES, 0, NULL);
    if (src == NULL)
        return EXIT_FAIL;
    /* Every name must match a captured table before anything is deleted. */
    {
        PGresult *all = pg_query(ctx->cat, "catalog", SQL_CAPTURED_TABLES, 0, NULL);
        if (all == NULL) {
            PQclear(src);
            return EXIT_FAIL;
        }
        for (int i = 0; i < argc; i++) {
            bool found = false;
            for (int t = 0; !found && t < PQntuples(all); t++)
                found = table_named(argv[i], PQgetvalue(all, t, 0), PQgetvalue(all, t, 1));
            if (!found) {
                code =
                    cli_error("purge: no captured table matches \"%s\" (see bucardo list tables)", argv[i]);
                break;
            }
        }
        PQclear(all);
    }
    for (int r = 0; code == EXIT_OK && r < PQntuples(src); r++) {
        const char *db = PQgetvalue(src, r, 0);
        long tables, rows;
        if (strcmp(PQgetvalue(src, r, 1), "active") != 0)
            continue; /* Bucardo: inactive databases are not purged */
        cli_info(ctx, "Checking db %s\n", db);
        if (!purge_source(ctx, db, argc, argv, &tables, &rows))
            code = EXIT_FAIL;
        else if (ctx->quiet <= 0)
            printf("%s: Tables processed: %ld, delta rows purged: %ld%s\n", db, tables, rows,
                   ctx->dryrun ? " (DRYRUN: rolled back)" : "");
    }
    PQclear(src);
    return code;
}
