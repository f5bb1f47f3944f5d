/*
 * include/capture.h - change capture in a source database (sql/capture.sql):
 * installing and removing a table's delta table and triggers, and the names
 * of those objects.
 *
 * Names are derived from the table's schema and name only, so the CLI (at
 * `add sync`) and the engine agree on them without asking each other.
 */
#ifndef BUCARDO_CAPTURE_H
#define BUCARDO_CAPTURE_H

#include "syncdef.h"

/* The channel the capture triggers NOTIFY on, and engines LISTEN to. */
#define CAPTURE_CHANNEL "bucardo"

/*
 * capture_object_name - "<prefix>_<up to 40 bytes of the table name>_<hash>",
 * unique per (schema, table); at most 63 bytes for a prefix of up to 13
 * bytes ("delta", "capture", "capture_row").  Caller frees.
 */
char *capture_object_name(const char *prefix, const TableDef *t);

/*
 * capture_install - create (or re-create, idempotently) the capture objects
 * of table t in the source database `conn`, in the caller's transaction.
 * autokick adds the NOTIFY trigger; without it the trigger is dropped.
 * filter (NULL: none): the capture filter - only keys of rows matching it
 * (old or new) are recorded (FILTERS in sql/capture.sql).
 */
bool capture_install(PGconn *conn, const char *who, const TableDef *t, bool autokick,
                     const char *filter) MUST_CHECK;

/* capture_remove - drop table t's capture objects (if any). */
bool capture_remove(PGconn *conn, const char *who, const TableDef *t) MUST_CHECK;

/*
 * capture_sync_install - install capture for every table of the sync on
 * every source, committing per source.  Autokick follows the catalog: the
 * NOTIFY trigger exists while any active sync reading the table autokicks.
 */
bool capture_sync_install(PGconn *cat, const SyncDef *def) MUST_CHECK;

/*
 * capture_sync_cleanup - after `def` was removed from the catalog (in the
 * caller's uncommitted transaction), drop the capture of its tables that
 * no remaining sync reads.
 */
bool capture_sync_cleanup(PGconn *cat, const SyncDef *def) MUST_CHECK;

#endif
