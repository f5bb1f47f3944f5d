/*
 * cli/cmd_migrate.c - `bucardo upgrade` on a Bucardo 5 (5.4-5.6) catalog:
 * switch a Bucardo installation over to this program without losing a
 * change Bucardo captured and had not delivered yet; and `bucardo upgrade
 * --finish`, which drops what the switch kept aside.
 *
 * How the switch works.  Both programs keep their catalog in schema
 * "bucardo" of database "bucardo" and their source-side objects in schema
 * "bucardo" of every source, so Bucardo's are renamed "bucardo5" (kept, not
 * dropped: the way back) before ours are created.  In order:
 *
 *   1. Refuse while Bucardo runs: a live process in a pid file of its
 *      piddir (bucardo.mcp.pid, ...), or a session on the catalog's server
 *      or a member's server whose application_name is Bucardo's
 *      ("bucardo MCP (PID n)", CTL, KID, VAC).
 *   2. Catalog transaction: rename schema bucardo to bucardo5, create this
 *      program's catalog, convert every object (sql/migrate_bucardo5.sql,
 *      section convert), which also lists what it could not convert.
 *   3. For every database used by a converted sync, in turn, one open
 *      transaction each.  On a source: lock the tables that carry Bucardo's
 *      triggers or will carry ours (SHARE ROW EXCLUSIVE: writers wait,
 *      so every change made before is in Bucardo's delta tables and every
 *      change made after goes to ours); save the definitions of Bucardo's
 *      triggers on user tables into bucardo5.upgrade_saved_trigger and drop
 *      them; rename schema bucardo to bucardo5; install our capture
 *      (sql/capture.sql) on each table; then copy the queued changes:
 *      Bucardo's delta rows that its track table does not mark done for
 *      some sync reading the table ("dbgroup NAME"), as keys with their
 *      original txntime (conflict resolution compares them), and its
 *      unreplicated TRUNCATEs into truncate_log.  They commit with this
 *      transaction's xid, so the first cycle of each sync (which has no
 *      snapshot yet and reads every delta row) applies them.  A pure
 *      target only gets Bucardo's schema renamed, when it has one.
 *   4. Only when every database is done: commit them, then the catalog.
 *      Any failure before rolls back every transaction: Bucardo's catalog
 *      and every database stay as they were, and the error names the
 *      database and the sync that needed it.  (Between the first source
 *      commit and the catalog commit a crash would leave the sources
 *      switched and the catalog not; those commits take milliseconds.)
 *
 * --dryrun runs the same steps and rolls everything back, then prints what
 * would be converted and what could not be (it takes the same locks for
 * that moment).  --finish drops schema bucardo5 on every PostgreSQL
 * database of the catalog and then in the catalog database.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <dirent.h>

#include "capture.h"
#include "catalog.h"
#include "cli.h"
#include "sqltext.h"
#include "syncdef.h"

/* Bucardo's processes name their sessions "bucardo MCP (PID 123)". */
static const char SQL_BUCARDO_SESSIONS[] =
    "SELECT application_name, datname FROM pg_catalog.pg_stat_activity"
    " WHERE application_name ~ '^bucardo (MCP|CTL|KID|VAC)' AND pid <> pg_catalog.pg_backend_pid()"
    " ORDER BY pid LIMIT 1";
static const char SQL_B5_VERSION[] =
    "SELECT setting FROM bucardo.bucardo_config WHERE name = 'bucardo_version'";
static const char SQL_B5_PIDDIR[] = "SELECT setting FROM bucardo.bucardo_config WHERE name = 'piddir'";
static const char SQL_SAVED_EXISTS[] = "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'bucardo5'";
static const char SQL_NOTES[] = "SELECT kind, what, note FROM migrate_note ORDER BY ord";
/* Every PostgreSQL database a converted sync uses; sources first.  A
 * target of another kind (MariaDB, SQLite, ...) holds nothing of Bucardo's:
 * nothing to switch there. */
static const char SQL_MEMBERS[] =
    "SELECT m.db, bool_or(m.role = 'source'), string_agg(DISTINCT s.name, ', ')"
    "  FROM bucardo.sync s JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
    "  JOIN bucardo.db d ON d.name = m.db WHERE d.dbtype = 'postgres'"
    " GROUP BY m.db ORDER BY bool_or(m.role = 'source') DESC, m.db";
static const char SQL_SYNCS[] = "SELECT name FROM bucardo.sync ORDER BY name";

/* On a member: is schema bucardo Bucardo 5's (its delta name registry or
 * its name maker), ours (truncate_log), or absent? */
static const char SQL_SOURCE_SCHEMA[] =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'bucardo'),"
    "       pg_catalog.to_regclass('bucardo.bucardo_delta_names') IS NOT NULL"
    "       OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = "
    "p.pronamespace"
    "                   WHERE n.nspname = 'bucardo' AND p.proname = 'bucardo_tablename_maker'),"
    "       pg_catalog.to_regclass('bucardo.truncate_log') IS NOT NULL,"
    "       EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'bucardo5')";
/* Bucardo's triggers on tables outside its schema: their function lives in
 * schema bucardo. */
#define B5_TRIGGERS                                                                                          \
    " FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid"                            \
    " JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"                                              \
    " JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"                                                       \
    " WHERE n.nspname = 'bucardo' AND NOT t.tgisinternal AND c.relnamespace <> n.oid"
static const char SQL_LOCK_LIST[] =
    "SELECT string_agg(r::text, ', ') FROM (SELECT DISTINCT t.tgrelid::pg_catalog.regclass AS r" B5_TRIGGERS
    " UNION SELECT pg_catalog.unnest($1::text[])::pg_catalog.regclass) x";
static const char SQL_SAVE_TRIGGERS[] =
    "CREATE TEMP TABLE migrate_saved ON COMMIT DROP AS"
    " SELECT t.tgrelid::pg_catalog.regclass::text AS tablename, t.tgname::text AS name,"
    "        pg_catalog.pg_get_triggerdef(t.oid) AS definition, p.proname::text AS function" B5_TRIGGERS;
static const char SQL_DROP_TRIGGERS[] =
    "SELECT pg_catalog.format('DROP TRIGGER %I ON %s', name, tablename) FROM migrate_saved";
static const char SQL_KEEP_TRIGGERS[] =
    "CREATE TABLE bucardo5.upgrade_saved_trigger AS SELECT tablename, name, definition FROM migrate_saved";
/* Bucardo's delta and track tables of a table: its name registry, else
 * the function of its bucardo_delta trigger (named like the delta table). */
static const char SQL_DELTA_NAMES[] =
    "SELECT d FROM (SELECT deltaname AS d, 1 AS o FROM bucardo5.bucardo_delta_names"
    "                WHERE pg_catalog.to_regclass('bucardo5.bucardo_delta_names') IS NOT NULL"
    "                  AND tablename = pg_catalog.quote_ident($1) || '.' || pg_catalog.quote_ident($2)"
    "               UNION ALL SELECT s.function, 2 FROM migrate_saved s"
    "                WHERE s.name = 'bucardo_delta' AND s.tablename::pg_catalog.regclass = "
    "$3::pg_catalog.regclass"
    "                  AND s.function LIKE 'delta\\_%') x"
    " WHERE pg_catalog.to_regclass('bucardo5.' || pg_catalog.quote_ident(d)) IS NOT NULL"
    "   AND pg_catalog.to_regclass('bucardo5.' || pg_catalog.quote_ident('track_' || substr(d, 7))) IS NOT "
    "NULL"
    " ORDER BY o LIMIT 1";
static const char SQL_TRUNCATES[] =
    "INSERT INTO bucardo.truncate_log (relid, txntime)"
    " SELECT DISTINCT tablename, cdate FROM bucardo5.bucardo_truncate_trigger"
    "  WHERE pg_catalog.to_regclass('bucardo5.bucardo_truncate_trigger') IS NOT NULL"
    "    AND replicated IS NULL AND sync = ANY ($1::text[]) AND tablename = $2::pg_catalog.regclass";

/* A table captured on one source, with what the syncs reading it need. */
typedef struct SrcTable {
    const TableDef *t; /* borrowed from a loaded SyncDef */
    bool autokick;     /* some sync reading it autokicks */
    StrList targets;   /* Bucardo's track targets: "dbgroup NAME" per sync */
    StrList syncs;     /* the syncs reading it here */
} SrcTable;

/* A database the switch touches. */
typedef struct Member {
    char *name;
    bool source;
    char *syncs; /* the syncs using it, for messages */
    PGconn *conn;
    int ntables;
    SrcTable *tables;
    long queued, truncates;
    int triggers;
    bool renamed; /* Bucardo's schema bucardo renamed bucardo5 here */
} Member;

typedef struct Migration {
    PGconn *cat;
    int nsyncs;
    SyncDef *defs;
    int nmembers;
    Member *members;
    StrBuf report; /* what the switch did, printed at the end */
} Migration;

static int query_int(PGconn *conn, const char *who, const char *sql, long *out)
{
    PGresult *res = pg_query(conn, who, sql, 0, NULL);
    if (res == NULL)
        return -1;
    *out = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? atol(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return 0;
}

/* is_bucardo_process - false when /proc shows that a live pid is some
 * other program's (a pid reused after Bucardo was killed); Bucardo's
 * processes name themselves "Bucardo Master Control Program", "Bucardo
 * Kid", ...  Without /proc, any live process counts. */
static bool is_bucardo_process(long pid)
{
    char path[64], buf[32] = {0};
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    if ((f = fopen(path, "r")) == NULL)
        return true;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strncmp(buf, "Bucardo", 7) == 0 || strstr(buf, "bucardo") != NULL;
}

/*
 * bucardo_running - whether a process of Bucardo's is alive according to
 * the pid files in piddir; names it in `why`.  A stale file (no such
 * process: a daemon killed) is only reported.
 */
static bool bucardo_running(const char *piddir, char *why, size_t whylen)
{
    DIR *dir = opendir(piddir);
    struct dirent *e;
    bool running = false;

    if (dir == NULL)
        return false;
    while (!running && (e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        char *path;
        FILE *f;
        long pid = 0;

        if (strncmp(e->d_name, "bucardo.", 8) != 0 || n < 12 || strcmp(e->d_name + n - 4, ".pid") != 0)
            continue;
        path = xasprintf("%s/%s", piddir, e->d_name);
        f = fopen(path, "r");
        if (f != NULL) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 1 && (kill((pid_t)pid, 0) == 0 || errno == EPERM) && is_bucardo_process(pid)) {
            snprintf(why, whylen, "process %ld of pid file %s is alive", pid, path);
            running = true;
        } else if (pid > 1) {
            printf("Note: Bucardo's pid file %s names process %ld, which is gone\n", path, pid);
        }
        free(path);
    }
    closedir(dir);
    return running;
}

/* bucardo_sessions - true (and the session named) when a Bucardo process is
 * connected to the server behind conn. */
static bool bucardo_sessions(PGconn *conn, const char *who, bool *found, char *why, size_t whylen)
{
    PGresult *res = pg_query(conn, who, SQL_BUCARDO_SESSIONS, 0, NULL);

    if (res == NULL)
        return false;
    *found = PQntuples(res) > 0;
    if (*found)
        snprintf(why, whylen, "session \"%s\" on database \"%s\"", PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1));
    PQclear(res);
    return true;
}

/* add_table - the entry of t on member m (one per schema.table). */
static SrcTable *add_table(Member *m, const TableDef *t)
{
    for (int i = 0; i < m->ntables; i++)
        if (strcmp(m->tables[i].t->schemaname, t->schemaname) == 0 &&
            strcmp(m->tables[i].t->relname, t->relname) == 0)
            return &m->tables[i];
    m->tables = xrealloc(m->tables, (size_t)(m->ntables + 1) * sizeof(SrcTable));
    memset(&m->tables[m->ntables], 0, sizeof(SrcTable));
    m->tables[m->ntables].t = t;
    return &m->tables[m->ntables++];
}

/* load_plan - the members and, per source, its tables (from the converted
 * catalog, in the open transaction). */
static bool load_plan(Migration *mg)
{
    PGresult *res = pg_query(mg->cat, "catalog", SQL_MEMBERS, 0, NULL);
    PGresult *syncs;

    if (res == NULL)
        return false;
    mg->nmembers = PQntuples(res);
    mg->members = xcalloc((size_t)mg->nmembers + 1, sizeof(Member));
    for (int i = 0; i < mg->nmembers; i++) {
        mg->members[i].name = xstrdup(PQgetvalue(res, i, 0));
        mg->members[i].source = strcmp(PQgetvalue(res, i, 1), "t") == 0;
        mg->members[i].syncs = xstrdup(PQgetvalue(res, i, 2));
    }
    PQclear(res);
    if ((syncs = pg_query(mg->cat, "catalog", SQL_SYNCS, 0, NULL)) == NULL)
        return false;
    mg->defs = xcalloc((size_t)PQntuples(syncs) + 1, sizeof(SyncDef));
    for (int s = 0; s < PQntuples(syncs); s++) {
        SyncDef *def = &mg->defs[mg->nsyncs];
        char *target;

        if (syncdef_load(mg->cat, PQgetvalue(syncs, s, 0), def) != LOOKUP_FOUND) {
            cli_error("sync \"%s\": cannot read its converted definition", PQgetvalue(syncs, s, 0));
            PQclear(syncs);
            return false;
        }
        mg->nsyncs++;
        {
            const char *params[1] = {def->name};
            PGresult *g =
                pg_query(mg->cat, "catalog", "SELECT dbgroup FROM bucardo.sync WHERE name = $1", 1, params);
            if (g == NULL) {
                PQclear(syncs);
                return false;
            }
            target = xasprintf("dbgroup %s", PQgetvalue(g, 0, 0));
            PQclear(g);
        }
        for (int d = 0; d < def->nsources; d++)
            for (int m = 0; m < mg->nmembers; m++) {
                if (strcmp(mg->members[m].name, def->sources[d].name) != 0)
                    continue;
                for (int t = 0; t < def->ntables; t++) {
                    SrcTable *st = add_table(&mg->members[m], &def->tables[t]);
                    st->autokick = st->autokick || def->autokick;
                    if (!strlist_contains(&st->targets, target))
                        strlist_add(&st->targets, target);
                    strlist_add(&st->syncs, def->name);
                }
            }
        free(target);
    }
    PQclear(syncs);
    return true;
}

/* exec_rows - run every statement the query returns (one per row). */
static bool exec_rows(PGconn *conn, const char *who, const char *sql)
{
    PGresult *res = pg_query(conn, who, sql, 0, NULL);
    bool ok = res != NULL;

    for (int i = 0; ok && i < PQntuples(res); i++)
        ok = pg_exec(conn, who, PQgetvalue(res, i, 0), 0, NULL);
    PQclear(res);
    return ok;
}

/* queue_table - Bucardo's queued changes of one table into our delta. */
static bool queue_table(PGconn *conn, const char *who, Member *m, SrcTable *st, StrBuf *report)
{
    const TableDef *t = st->t;
    char *qualified = table_qualified(conn, t);
    const char *p3[3] = {t->schemaname, t->relname, qualified};
    PGresult *res = pg_query(conn, who, SQL_DELTA_NAMES, 3, p3);
    char *targets = pg_array_literal(&st->targets), *syncs = pg_array_literal(&st->syncs);
    bool ok = res != NULL;

    if (ok && PQntuples(res) == 1) {
        const char *delta = PQgetvalue(res, 0, 0);
        char *track = xasprintf("track_%s", delta + 6);
        char *qdelta = pg_quote_ident(conn, delta), *qtrack = pg_quote_ident(conn, track);
        char *ours = capture_object_name("delta", t), *qours = pg_quote_ident(conn, ours);
        StrBuf cols, sql;
        const char *p1[1] = {targets};
        PGresult *ins;

        strbuf_init(&cols);
        strbuf_init(&sql);
        for (int k = 0; k < t->nkeys; k++) {
            char *q = pg_quote_ident(conn, t->keycols[k]);
            strbuf_printf(&cols, "%s%s", k ? ", " : "", q);
            free(q);
        }
        strbuf_printf(&sql,
                      "INSERT INTO bucardo.%s (%s, txntime) SELECT DISTINCT %s, d.txntime FROM bucardo5.%s d"
                      " WHERE EXISTS (SELECT 1 FROM pg_catalog.unnest($1::text[]) g(target)"
                      "  WHERE NOT EXISTS (SELECT 1 FROM bucardo5.%s k"
                      "   WHERE k.txntime OPERATOR(pg_catalog.=) d.txntime AND k.target "
                      "OPERATOR(pg_catalog.=) g.target))",
                      qours, cols.data, cols.data, qdelta, qtrack);
        ins = pg_query(conn, who, sql.data, 1, p1);
        ok = ins != NULL;
        if (ok) {
            long n = atol(PQcmdTuples(ins));
            m->queued += n;
            if (n > 0)
                strbuf_printf(report, "  %s: %ld queued change(s) of %s.%s kept\n", m->name, n, t->schemaname,
                              t->relname);
        }
        PQclear(ins);
        strbuf_free(&cols);
        strbuf_free(&sql);
        free(track);
        free(qdelta);
        free(qtrack);
        free(ours);
        free(qours);
    }
    PQclear(res);
    if (ok) {
        const char *p2[2] = {syncs, qualified};
        PGresult *tr = pg_query(conn, who, SQL_TRUNCATES, 2, p2);
        ok = tr != NULL;
        if (ok && atol(PQcmdTuples(tr)) > 0) {
            m->truncates += atol(PQcmdTuples(tr));
            strbuf_printf(report, "  %s: a queued TRUNCATE of %s.%s kept\n", m->name, t->schemaname,
                          t->relname);
        }
        PQclear(tr);
    }
    free(targets);
    free(syncs);
    free(qualified);
    return ok;
}

/*
 * switch_member - step 3 of the header for one database, in a transaction
 * left open on m->conn.  False after printing why.
 */
static bool switch_member(Migration *mg, Member *m)
{
    DbInfo db;
    char *who = xasprintf("database %s", m->name);
    char why[512];
    bool found, ok = false, has, b5, ours, saved;
    PGresult *res;

    if (catalog_load_db(mg->cat, m->name, &db) != LOOKUP_FOUND) {
        free(who);
        return false;
    }
    m->conn = dbinfo_connect(&db);
    dbinfo_free(&db);
    if (m->conn == NULL) {
        cli_error("upgrade stopped: database \"%s\" (%s of sync %s) cannot be reached", m->name,
                  m->source ? "source" : "target", m->syncs);
        goto out;
    }
    if (!bucardo_sessions(m->conn, who, &found, why, sizeof(why)))
        goto out;
    if (found) {
        cli_error("upgrade stopped: Bucardo is still running (%s, seen from database \"%s\"); stop it first",
                  why, m->name);
        goto out;
    }
    if (!pg_exec(m->conn, who, "BEGIN", 0, NULL) ||
        !pg_exec(m->conn, who, "SET LOCAL client_min_messages = warning", 0, NULL) ||
        !pg_exec(m->conn, who, "SET LOCAL lock_timeout = '10s'", 0, NULL))
        goto out;
    if ((res = pg_query(m->conn, who, SQL_SOURCE_SCHEMA, 0, NULL)) == NULL)
        goto out;
    has = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    b5 = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    ours = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    saved = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    PQclear(res);
    if (saved) {
        cli_error(
            "upgrade stopped: database \"%s\" already has a schema bucardo5 (kept by an earlier upgrade?); "
            "drop or rename it first",
            m->name);
        goto out;
    }
    if (has && (ours || !b5)) {
        cli_error("upgrade stopped: schema bucardo of database \"%s\" is not Bucardo 5's%s", m->name,
                  ours ? " (it holds this program's capture already)" : "");
        goto out;
    }
    if (m->source) {
        StrList names = {0};
        char *arr;
        const char *p[1];
        PGresult *lock;

        for (int i = 0; i < m->ntables; i++) {
            char *q = table_qualified(m->conn, m->tables[i].t);
            strlist_add(&names, q);
            free(q);
        }
        arr = pg_array_literal(&names);
        p[0] = arr;
        strlist_free(&names);
        /* Writers wait from here on: every change before is in Bucardo's
         * delta tables, every change after will be in ours. */
        lock = has || m->ntables > 0 ? pg_query(m->conn, who,
                                                has ? SQL_LOCK_LIST
                                                    : "SELECT string_agg(x::pg_catalog.regclass::text, ', ')"
                                                      " FROM pg_catalog.unnest($1::text[]) x",
                                                1, p)
                                     : NULL;
        free(arr);
        if ((has || m->ntables > 0) && lock == NULL)
            goto out;
        if (lock && !PQgetisnull(lock, 0, 0)) {
            char *sql = xasprintf("LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", PQgetvalue(lock, 0, 0));
            bool locked = pg_exec(m->conn, who, sql, 0, NULL);
            free(sql);
            if (!locked) {
                PQclear(lock);
                cli_error("upgrade stopped: cannot lock the replicated tables of database \"%s\"", m->name);
                goto out;
            }
        }
        PQclear(lock);
    }
    if (has) {
        long n = 0;
        /* With search_path pg_catalog, the saved definitions name Bucardo's
         * functions and the tables schema-qualified, whatever the
         * database's or role's search_path says (Bucardo puts its schema
         * in the bucardo role's): they must recreate the triggers after
         * the schema is renamed back. */
        if (!pg_exec(m->conn, who, "SET LOCAL search_path = pg_catalog", 0, NULL) ||
            !pg_exec(m->conn, who, SQL_SAVE_TRIGGERS, 0, NULL) ||
            !pg_exec(m->conn, who, "SET LOCAL search_path TO DEFAULT", 0, NULL) ||
            query_int(m->conn, who, "SELECT count(*) FROM migrate_saved", &n) != 0 ||
            !exec_rows(m->conn, who, SQL_DROP_TRIGGERS) ||
            !pg_exec(m->conn, who, "ALTER SCHEMA bucardo RENAME TO bucardo5", 0, NULL) ||
            !pg_exec(m->conn, who, SQL_KEEP_TRIGGERS, 0, NULL))
            goto out;
        m->triggers = (int)n;
        m->renamed = true;
    }
    for (int i = 0; m->source && i < m->ntables; i++)
        if (!capture_install(m->conn, who, m->tables[i].t, m->tables[i].autokick, NULL))
            goto out;
    for (int i = 0; has && m->source && i < m->ntables; i++)
        if (m->tables[i].t->nkeys > 0 && !queue_table(m->conn, who, m, &m->tables[i], &mg->report))
            goto out;
    ok = true;
out:
    free(who);
    return ok;
}

static void rollback_all(Migration *mg)
{
    PGresult *r;
    for (int i = 0; i < mg->nmembers; i++)
        if (mg->members[i].conn) {
            r = PQexec(mg->members[i].conn, "ROLLBACK");
            PQclear(r);
        }
    r = PQexec(mg->cat, "ROLLBACK");
    PQclear(r);
}

static void migration_free(Migration *mg)
{
    for (int i = 0; i < mg->nmembers; i++) {
        Member *m = &mg->members[i];
        if (m->conn)
            PQfinish(m->conn);
        for (int t = 0; t < m->ntables; t++) {
            strlist_free(&m->tables[t].targets);
            strlist_free(&m->tables[t].syncs);
        }
        free(m->tables);
        free(m->name);
        free(m->syncs);
    }
    free(mg->members);
    for (int s = 0; s < mg->nsyncs; s++)
        syncdef_free(&mg->defs[s]);
    free(mg->defs);
    strbuf_free(&mg->report);
}

/* print_notes - what was not converted, or converted with a difference. */
static bool print_notes(PGconn *cat)
{
    PGresult *res = pg_query(cat, "catalog", SQL_NOTES, 0, NULL);
    int skipped = 0;

    if (res == NULL)
        return false;
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), "skip") == 0)
            skipped++;
    if (skipped > 0)
        printf("Not converted:\n");
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), "skip") == 0)
            printf("  %s: %s\n", PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
    if (PQntuples(res) > skipped)
        printf("Converted with a difference:\n");
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), "note") == 0)
            printf("  %s: %s\n", PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
    PQclear(res);
    return true;
}

static bool print_counts(PGconn *cat, bool dryrun)
{
    char *sql = sql_section(sql_migrate_bucardo5, "counts");
    PGresult *res = sql ? pg_query(cat, "catalog", sql, 0, NULL) : NULL;

    free(sql);
    if (res == NULL)
        return false;
    printf("%s: %s databases, %s dbgroups, %s tables, %s sequences, %s relgroups, %s syncs, "
           "%s customnames, %s customcols, %s settings\n",
           dryrun ? "Would convert" : "Converted", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
           PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5),
           PQgetvalue(res, 0, 6), PQgetvalue(res, 0, 7), PQgetvalue(res, 0, 8));
    PQclear(res);
    return true;
}

/* convert_catalog - step 2 of the header, in the open catalog transaction. */
static bool convert_catalog(PGconn *cat)
{
    char *convert = sql_section(sql_migrate_bucardo5, "convert");
    bool ok = convert != NULL &&
              pg_exec(cat, "catalog", "SET LOCAL client_min_messages = warning", 0, NULL) &&
              pg_exec(cat, "catalog", "SET LOCAL lock_timeout = '10s'", 0, NULL) &&
              pg_exec(cat, "catalog", "ALTER SCHEMA bucardo RENAME TO bucardo5", 0, NULL) &&
              pg_exec_script(cat, "catalog", sql_catalog) && catalog_upgrade(cat, 1) &&
              pg_exec_script(cat, "catalog", convert);

    free(convert);
    if (ok) {
        PGresult *res =
            pg_query(cat, "catalog", "SELECT pg_catalog.quote_ident(current_database())", 0, NULL);
        if (res == NULL)
            return false;
        {
            char *sql =
                xasprintf("ALTER DATABASE %s SET search_path = bucardo, public", PQgetvalue(res, 0, 0));
            ok = pg_exec(cat, "catalog", sql, 0, NULL);
            free(sql);
        }
        PQclear(res);
    }
    return ok;
}

bool migrate_is_bucardo5(PGconn *cat)
{
    PGresult *res = PQexec(cat, "SELECT pg_catalog.to_regclass('bucardo.bucardo_config') IS NOT NULL"
                                " AND pg_catalog.to_regclass('bucardo.goat') IS NOT NULL");
    bool yes = PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

    PQclear(res);
    return yes;
}

int migrate_bucardo5(CliContext *ctx, PGconn *cat)
{
    Migration mg;
    PGresult *res;
    char *version, *piddir;
    char why[512];
    bool found;
    long n;
    int code = EXIT_FAIL;

    memset(&mg, 0, sizeof(mg));
    mg.cat = cat;
    if ((res = pg_query(cat, "catalog", SQL_B5_VERSION, 0, NULL)) == NULL)
        return EXIT_FAIL;
    version = xstrdup(PQntuples(res) ? PQgetvalue(res, 0, 0) : "?");
    PQclear(res);
    if (strncmp(version, "5.", 2) != 0) {
        cli_error(
            "database \"%s\" holds a Bucardo catalog of version %s; only Bucardo 5 catalogs are converted",
            PQdb(cat), version);
        free(version);
        return EXIT_FAIL;
    }
    printf("Found a Bucardo %s catalog in database \"%s\"\n", version, PQdb(cat));
    free(version);
    if (query_int(cat, "catalog", SQL_SAVED_EXISTS, &n) != 0)
        return EXIT_FAIL;
    if (n != 0)
        return cli_error(
            "database \"%s\" already has a schema bucardo5 (kept by an earlier upgrade?); drop or "
            "rename it first",
            PQdb(cat));
    if ((res = pg_query(cat, "catalog", SQL_B5_PIDDIR, 0, NULL)) == NULL)
        return EXIT_FAIL;
    piddir = xstrdup(ctx->piddir ? ctx->piddir : PQntuples(res) ? PQgetvalue(res, 0, 0) : "/var/run/bucardo");
    PQclear(res);
    found = bucardo_running(piddir, why, sizeof(why));
    free(piddir);
    if (found)
        return cli_error("Bucardo is still running (%s); stop it first with Bucardo's own 'bucardo stop'",
                         why);
    if (!bucardo_sessions(cat, "catalog", &found, why, sizeof(why)))
        return EXIT_FAIL;
    if (found)
        return cli_error("Bucardo is still running (%s); stop it first with Bucardo's own 'bucardo stop'",
                         why);

    strbuf_init(&mg.report);
    if (!pg_exec(cat, "catalog", "BEGIN", 0, NULL))
        goto out;
    if (!convert_catalog(cat)) {
        cli_error("upgrade stopped while converting the catalog; nothing was changed");
        goto fail;
    }
    if (!load_plan(&mg))
        goto fail;
    for (int i = 0; i < mg.nmembers; i++)
        if (!switch_member(&mg, &mg.members[i]))
            goto fail;
    if (!print_counts(cat, ctx->dryrun) || !print_notes(cat))
        goto fail;
    printf("Databases:\n");
    for (int i = 0; i < mg.nmembers; i++) {
        Member *m = &mg.members[i];
        if (!m->source)
            printf("  %s: target%s\n", m->name, m->renamed ? "; Bucardo's schema kept as bucardo5" : "");
        else
            printf("  %s: %d Bucardo trigger(s) replaced by this program's capture on %d table(s); "
                   "%ld queued change(s), %ld queued TRUNCATE(s) kept\n",
                   m->name, m->triggers, m->ntables, m->queued, m->truncates);
    }
    fputs(mg.report.data ? mg.report.data : "", stdout);
    if (ctx->dryrun) {
        rollback_all(&mg);
        printf("Dry run: nothing was changed\n");
        code = EXIT_OK;
        goto out;
    }
    for (int i = 0; i < mg.nmembers; i++)
        if (!pg_exec(mg.members[i].conn, "database commit", "COMMIT", 0, NULL)) {
            cli_error("upgrade stopped: database \"%s\" could not commit%s", mg.members[i].name,
                      i > 0 ? "; the databases before it were already switched: run 'bucardo upgrade' again"
                            : "");
            goto fail;
        }
    if (!pg_exec(cat, "catalog", "COMMIT", 0, NULL)) {
        cli_error("the catalog could not commit after the databases were switched");
        goto out;
    }
    printf("Upgraded the Bucardo catalog to this program's version %d.\n"
           "Bucardo's catalog and its objects in each database are kept in schema bucardo5;\n"
           "'bucardo upgrade --finish' removes them.  Start replication with 'bucardo start'.\n",
           CATALOG_VERSION);
    code = EXIT_OK;
    goto out;
fail:
    rollback_all(&mg);
    fprintf(stderr, "bucardo: nothing was changed: Bucardo's catalog and every database are as they were\n");
out:
    migration_free(&mg);
    return code;
}

/*
 * migrate_finish - drop schema bucardo5 on every database of the catalog
 * (each in its own transaction), then in the catalog's database.  A
 * database that cannot be reached keeps the catalog's copy too, so that
 * the command can be run again.
 */
int migrate_finish(CliContext *ctx, PGconn *cat)
{
    PGresult *res = pg_query(cat, "catalog",
                             "SELECT name FROM bucardo.db WHERE dbtype = 'postgres' ORDER BY name", 0, NULL);
    long n;
    int failed = 0, dropped = 0;

    (void)ctx;
    if (res == NULL)
        return EXIT_FAIL;
    for (int i = 0; i < PQntuples(res); i++) {
        DbInfo db;
        PGconn *conn;
        char *who = xasprintf("database %s", PQgetvalue(res, i, 0));

        if (catalog_load_db(cat, PQgetvalue(res, i, 0), &db) != LOOKUP_FOUND) {
            free(who);
            failed++;
            continue;
        }
        conn = dbinfo_connect(&db);
        dbinfo_free(&db);
        if (conn == NULL || query_int(conn, who, SQL_SAVED_EXISTS, &n) != 0 ||
            (n > 0 && !pg_exec(conn, who, "DROP SCHEMA bucardo5 CASCADE", 0, NULL))) {
            fprintf(stderr,
                    "bucardo: database \"%s\": Bucardo's saved objects (schema bucardo5) were not removed\n",
                    PQgetvalue(res, i, 0));
            failed++;
        } else if (n > 0) {
            printf("Removed Bucardo's saved objects from database \"%s\"\n", PQgetvalue(res, i, 0));
            dropped++;
        }
        if (conn)
            PQfinish(conn);
        free(who);
    }
    PQclear(res);
    if (failed > 0)
        return cli_error("%d database(s) still hold Bucardo's saved objects; the catalog keeps its copy: run "
                         "'bucardo upgrade --finish' again once they can be reached",
                         failed);
    if (query_int(cat, "catalog", SQL_SAVED_EXISTS, &n) != 0)
        return EXIT_FAIL;
    if (n > 0) {
        if (!pg_exec(cat, "catalog", "DROP SCHEMA bucardo5 CASCADE", 0, NULL))
            return cli_error("Bucardo's saved catalog (schema bucardo5) was not removed");
        printf("Removed Bucardo's saved catalog (schema bucardo5 of database \"%s\")\n", PQdb(cat));
        dropped++;
    }
    if (dropped == 0)
        printf("Nothing to remove: no saved Bucardo objects were found\n");
    return EXIT_OK;
}
