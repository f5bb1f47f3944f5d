/*
 * include/catalog.h - access to the central catalog database.
 *
 * The CLI and the engine reach the catalog through catalog_connect(), which
 * checks that the catalog is installed and of the version this program
 * knows.  A database's stored connection settings come back as a DbInfo,
 * which owns its strings.
 */
#ifndef BUCARDO_CATALOG_H
#define BUCARDO_CATALOG_H

#include "pgconn.h"

/* The catalog version this program uses: sql/catalog.sql (version 1)
 * plus every section of sql/upgrade.sql. */
#define CATALOG_VERSION 22

/*
 * catalog_connect - connect to the catalog with `cp` (NULL fields: libpq
 * defaults) and check its version.  Prints why and returns NULL on failure.
 */
PGconn *catalog_connect(const ConnParams *cp) MUST_CHECK;

/*
 * catalog_version - the version of the catalog behind `cat` (0 when it has
 * none); -1 after printing a query error.
 */
int catalog_version(PGconn *cat);

/*
 * catalog_upgrade - apply the sections of sql/upgrade.sql after version
 * `from`, in the caller's transaction.  Errors are printed.
 */
bool catalog_upgrade(PGconn *cat, int from) MUST_CHECK;

/*
 * SYNC_SHAPE_SQL - an SQL expression over a bucardo.sync row aliased `s`:
 * a hash of what decides which tables a sync captures and from where (its
 * relgroup's tables, its dbgroup's members and their roles).  Commands
 * install capture for a sync only after locking its row (FOR UPDATE, in
 * capture_sync_install), and an engine records a cycle's snapshots only
 * after locking it FOR SHARE and finding the shape it loaded.  Otherwise a
 * worker still running the old definition could record a snapshot that
 * covers changes already captured for a table it does not know yet, and
 * the reloaded worker would start after them: lost changes.
 */
#define SYNC_SHAPE_SQL                                                                                       \
    "md5(s.relgroup || '|' || s.dbgroup || '|'"                                                              \
    " || coalesce((SELECT string_agg(m.db || ':' || m.role, ',' ORDER BY m.position)"                        \
    "               FROM bucardo.dbgroup_member m WHERE m.dbgroup = s.dbgroup), '') || '|'"                  \
    " || coalesce((SELECT string_agg(rm.relation::text, ',' ORDER BY rm.position)"                           \
    "               FROM bucardo.relgroup_member rm WHERE rm.relgroup = s.relgroup), ''))"

/* A database row of the catalog. */
typedef struct DbInfo {
    char *name;
    char *dbname;
    char *host;
    char *port;
    char *user;
    char *pass;
    char *service;
    char *conn;
    char *status;
    bool makedelta;
    char *dbtype; /* NULL or "postgres"; else a target-only kind (target_driver.h) */
} DbInfo;

/* Load result: found, absent, or a query error (already printed). */
typedef enum LookupStatus { LOOKUP_FOUND, LOOKUP_ABSENT, LOOKUP_ERROR } LookupStatus;

LookupStatus catalog_load_db(PGconn *cat, const char *name, DbInfo *out) MUST_CHECK;
void dbinfo_free(DbInfo *db);

/* dbinfo_params - the ConnParams of a stored database (borrows its strings). */
ConnParams dbinfo_params(const DbInfo *db);

/* dbinfo_connect - connect to a stored database; errors name it.  A
 * database of another type than postgres is refused (NULL, message). */
PGconn *dbinfo_connect(const DbInfo *db) MUST_CHECK;

/* catalog_get_setting - a config setting into an xmalloc'd string, or NULL. */
char *catalog_get_setting(PGconn *cat, const char *name);

/*
 * CATALOG_PURGE_SNAPSHOTS_SQL - for source database $1: one row per
 * snapshot a delta row must be visible in before it may be deleted (the
 * `prev` of every sync reading that source, and the snapshot of every
 * member still behind); a NULL row when some sync reading it never
 * completed a cycle (then nothing may go).  Used by the engine's purge
 * after each cycle and by `bucardo purge`.
 */
#define CATALOG_PURGE_SNAPSHOTS_SQL                                                                          \
    "SELECT NULL::text FROM bucardo.sync s"                                                                  \
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = $1"           \
    " WHERE NOT EXISTS (SELECT 1 FROM bucardo.sync_source_state ss WHERE ss.sync = s.name AND ss.db = $1)"   \
    " UNION ALL "                                                                                            \
    "SELECT ss.snapshot::text FROM bucardo.sync_source_state ss"                                             \
    "  JOIN bucardo.sync s ON s.name = ss.sync"                                                              \
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = ss.db"        \
    " WHERE ss.db = $1"                                                                                      \
    " UNION ALL "                                                                                            \
    "SELECT ms.snapshot::text FROM bucardo.sync_member_state ms"                                             \
    "  JOIN bucardo.sync s ON s.name = ms.sync"                                                              \
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.db = ms.member"                          \
    " WHERE ms.source = $1"

#endif
