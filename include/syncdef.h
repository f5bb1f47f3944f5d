/*
 * include/syncdef.h - a sync as the engine runs it: its options, its
 * databases by role, and its tables with their keys, read from the catalog
 * in one go.  The engine takes a fresh SyncDef at start and on reload, so a
 * running cycle never sees the catalog change under it.
 */
#ifndef BUCARDO_SYNCDEF_H
#define BUCARDO_SYNCDEF_H

#include "catalog.h"

typedef struct TableDef {
    char *schemaname;
    char *relname;
    int nkeys;
    char **keycols;  /* key column names, in key order */
    char **keytypes; /* their types as format_type() gives them */
    /* customname / customcols of this sync: per entry a database ("": every
     * database) and the value; entries of this sync before generic ones. */
    StrList name_db, name_value;
    StrList cols_db, cols_value;
    /* VACUUM it on the targets after a table copy (relation.vacuum_after_copy
     * or the sync's). */
    bool vacuum_after_copy;
    /* The table's own option where it has one (relation), else the sync's. */
    bool autokick;           /* its changes wake the sync */
    bool analyze_after_copy; /* ANALYZE on the targets after a table copy */
    bool strict_checking;    /* column type mismatches fail the sync (else: warnings) */
    int rebuild_index;       /* 0, 1 (table copies), 2 (also delta cycles) */
    char *makedelta;         /* the table's makedelta: NULL, "on", or a comma list of databases */
    char *conflict_strategy; /* the table's, else the sync's */
    /* capture_filter (relation.capture_filter): a boolean SQL expression
     * over the table's columns; only the rows matching it are replicated.
     * NULL: every row. */
    char *capture_filter;
} TableDef;

/*
 * tabledef_custom - the value of (dbs, values) for database db: its own
 * entry, else the one for every database, else NULL.
 */
const char *tabledef_custom(const StrList *dbs, const StrList *values, const char *db);

typedef struct SyncDef {
    char *name;
    char *relgroup;
    char *status;    /* active / inactive */
    bool autokick;   /* the sync's; tables may differ (TableDef.autokick) */
    int onetimecopy; /* 0 never, 1 copy all tables once, 2 copy tables empty on a target */
    bool analyze_after_copy;
    bool strict_checking; /* column mismatches fail the sync (else: warnings) */
    int copy_streams;     /* parallel streams per table copy; 0: one per core */
    int rebuild_index;    /* 0 off; 1 table copies load without secondary indexes,
                           * then recreate them; 2 also every delta cycle */
    char *conflict_strategy;
    bool serializable;  /* isolation_level: SERIALIZABLE, else REPEATABLE READ */
    char *deletemethod; /* how a table copy empties a target: default, delete,
                         * truncate, truncate_cascade */
    double checktime;   /* seconds; 0: none (default_checktime when autokick is off) */
    int nsources;
    DbInfo *sources; /* in dbgroup order */
    int ntargets;
    DbInfo *targets;
    bool *fullcopy; /* per target: role fullcopy */
    int ntables;
    TableDef *tables;
    int nsequences;
    TableDef *sequences; /* schemaname/relname only */
    char *shape;         /* SYNC_SHAPE_SQL when loaded (load in one snapshot) */
    char *flatfile_dir;  /* where flat-file targets write (config flatfile_dir; NULL: ".") */
} SyncDef;

/* table_makedelta - does database db record the rows of table t it
 * receives as its own changes?  Its makedelta (db.makedelta, or as a
 * dbgroup member), or the table's ("on": every database; else a list). */
bool table_makedelta(const TableDef *t, const DbInfo *db);

/* syncdef_load - the sync named `name`; LOOKUP_ABSENT when unknown. */
LookupStatus syncdef_load(PGconn *cat, const char *name, SyncDef *out) MUST_CHECK;
void syncdef_free(SyncDef *def);

/* table_qualified - "schema"."table", quoted for `conn`; caller frees. */
char *table_qualified(PGconn *conn, const TableDef *t);

/* table_custom_qualified - a customname ("schema.table", or "table" in t's
 * schema), quoted for `conn`; caller frees. */
char *table_custom_qualified(PGconn *conn, const TableDef *t, const char *name);

#endif
