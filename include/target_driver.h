/*
 * include/target_driver.h - the contract between a sync cycle and the
 * databases it writes to, whatever their kind.
 *
 * A Target is one writer thread for one receiving database.  The cycle
 * talks to it only through messages (chunk_queue.h's MsgType) and collects
 * outcomes with target_wait(); which kind of database is behind it is the
 * business of its TargetClass, one per file in engine/drivers/:
 *
 *   driver_pg.c       PostgreSQL: the writer of cycle/target_writer.c,
 *                     which takes PostgreSQL statements (MSG_EXEC...)
 *   driver_rows.c     every other kind: a writer thread that understands
 *                     the table operations below and hands them to a
 *                     RowDriver (driver_sqlite.c, driver_flat.c, ...)
 *
 * Table operations (the only messages a non-PostgreSQL target takes besides
 * CONNECT, BEGIN, BARRIER, COMMIT, ROLLBACK, DISCONNECT and STOP) carry a
 * TableSpec, encoded by target_spec_encode into the message's sql:
 *
 *   MSG_COPY_BEGIN spec(op 'K'), DATA..., COPY_END   delete the rows whose key
 *                                                    is in the COPY text
 *   MSG_COPY_BEGIN spec(op 'R'), DATA..., COPY_END   add these rows (COPY text,
 *                                                    columns in spec order)
 *   MSG_EMPTY spec(op 'E')                           remove every row
 *
 * PostgreSQL-only steps of a cycle (sequences, makedelta, unique mode,
 * rebuild_index, multi-source checks) go to targets whose class
 * speaks_pg only; the others are targets and never sources.
 */
#ifndef BUCARDO_TARGET_DRIVER_H
#define BUCARDO_TARGET_DRIVER_H

#include "cancel.h"
#include "catalog.h"
#include "chunk_queue.h"
#include "conn_budget.h"

/* What a target_start needs besides the database (all borrowed). */
typedef struct TargetConfig {
    const char *sync;
    const char *lock_timeout; /* e.g. "60s"; NULL: 60s */
    ChunkPool *pool;
    CancelSet *cancel;    /* may be NULL */
    ConnBudget *budget;   /* may be NULL */
    const char *flat_dir; /* flat-file targets: where the files go (NULL: ".") */
    bool create_file;     /* SQLite: create a missing file (add db, as DBD::SQLite did) */
} TargetConfig;

/* One kind of target: how its writer thread is started and spoken to. */
typedef struct TargetClass {
    const char *kind;
    bool speaks_pg; /* takes PostgreSQL statements */
    void *(*start)(const DbInfo *db, const TargetConfig *cfg);
    void (*send)(void *impl, Msg *msg);
    bool (*wait)(void *impl, char *err, size_t errlen);
    void (*counts)(void *impl, long *deleted, long *inserted);
    char *(*take_rows)(void *impl);
    void (*set_shape_query)(void *impl, const char *expr);
    char *(*shape)(void *impl);
    /* the round trip to its server in seconds, 0: unknown (may be NULL) */
    double (*rtt)(void *impl);
    void (*stop)(void *impl);
} TargetClass;

typedef struct Target Target;

/* target_kind_check - is `type` (add db type=) a kind bucardo can write to?
 * postgres, mysql, mariadb, sqlite, redis, flatpg, flatsql, firebird; false
 * with a one-line reason in why (refused kinds say why). */
bool target_kind_check(const char *type, char *why, size_t whylen);
/* target_kind_is_pg - NULL or "postgres". */
bool target_kind_is_pg(const char *type);
/* target_kind_is_flat - flatpg or flatsql: no server at all. */
bool target_kind_is_flat(const char *type);

/* target_start - a writer for db (copied), of the class of db->dbtype. */
Target *target_start(const DbInfo *db, const TargetConfig *cfg);
/* target_send - queue a message (ownership passes to the target). */
void target_send(Target *t, Msg *msg);
void target_send_new(Target *t, MsgType type, const char *sql);
/* target_wait - as writer_wait (target_writer.h). */
bool target_wait(Target *t, char *err, size_t errlen);
void target_counts(Target *t, long *deleted, long *inserted);
char *target_take_rows(Target *t);
const char *target_db_name(const Target *t);
void target_set_shape_query(Target *t, const char *expr);
char *target_shape(Target *t);
/* target_rtt - the shortest round trip to its server seen, in seconds; 0:
 * not known (not connected yet, or a kind that does not measure it). */
double target_rtt(Target *t);
/* target_speaks_pg - PostgreSQL statements may be sent to it. */
bool target_speaks_pg(const Target *t);
void target_stop(Target *t);

/* A table as a non-PostgreSQL target sees it (names unquoted). */
typedef struct TableSpec {
    char op;      /* 'K' delete keys, 'R' add rows, 'E' empty, 'D' describe */
    char *schema; /* the source's schema (flat files name it) */
    char *table;  /* its name on the target (customname, else the source's) */
    int nkeys;
    char **keys; /* key column names */
    int ncols;
    char **cols; /* the COPY stream's columns, in order (K: the keys) */
} TableSpec;

/* target_spec_encode - spec into one string (caller frees). */
char *target_spec_encode(const TableSpec *spec);
/* target_spec_decode - back; false when s is no spec.  Free with target_spec_free. */
bool target_spec_decode(const char *s, TableSpec *spec);
void target_spec_free(TableSpec *spec);

/*
 * A RowDriver: the part of a non-PostgreSQL kind that talks to its server.
 * driver_rows.c runs the thread, the messages and the COPY text parsing
 * (fields unescaped; NULL as a NULL pointer) and calls these in order:
 * open once (and again after a failure closed it), then per transaction
 * begin, any number of delete/insert/empty, commit or rollback.  Each
 * returns false with a message in err (naming what failed) on error.
 */
typedef struct RowDriver {
    const char *kind;
    void *(*open)(const DbInfo *db, const TargetConfig *cfg, char *err, size_t errlen);
    bool (*alive)(void *conn);
    bool (*begin)(void *conn, char *err, size_t errlen);
    /* start of a table operation; keys/rows follow in batches */
    bool (*table)(void *conn, const TableSpec *spec, char *err, size_t errlen);
    /* nrows rows of spec->ncols fields each (vals[r * ncols + c], NULL = SQL NULL);
     * *affected grows by the rows changed */
    bool (*rows)(void *conn, const TableSpec *spec, int nrows, char **vals, long *affected, char *err,
                 size_t errlen);
    /* end of the table operation */
    bool (*table_end)(void *conn, const TableSpec *spec, long *affected, char *err, size_t errlen);
    bool (*empty)(void *conn, const TableSpec *spec, char *err, size_t errlen);
    bool (*commit)(void *conn, char *err, size_t errlen);
    void (*rollback)(void *conn);
    void (*close)(void *conn);
    /* describe - table's columns there (names, and their types as the
     * server spells them); *found false when there is no such table.  NULL
     * for kinds without tables (flat files, Redis): nothing to check. */
    bool (*describe)(void *conn, const char *schema, const char *table, bool *found, StrList *names,
                     StrList *types, char *err, size_t errlen);
    /* type_check - can a column of type ttype there hold PostgreSQL type
     * pgtype (format_type) exactly?  false with the reason in why.  NULL:
     * every type goes (as text). */
    bool (*type_check)(const char *pgtype, const char *ttype, char *why, size_t whylen);
    /* is_empty - 1: the table has no rows, 0: it has, -1: error.  NULL:
     * never empty (a flat file is a log of changes: onetimecopy=2 copies
     * nothing there). */
    int (*is_empty)(void *conn, const TableSpec *spec, char *err, size_t errlen);
    /*
     * For `bucardo compare` (engine/compare/compare_rows.c).  NULL for
     * kinds whose contents cannot be read back as rows (flat files, Redis).
     * scan - every row of spec's table (its columns spec->cols, in key
     * order), each value in the canonical text of canon (NULL: SQL NULL),
     * handed to row(arg, vals) (borrowed for the call; false stops the
     * scan and scan returns false with err empty).
     * canon - value v of column col of the spec last scanned, as the sync
     * sends it (PostgreSQL's COPY text; NULL stays NULL), in the text scan
     * reports for what the target then holds: equal texts mean the target
     * holds that value.  The caller frees it.
     */
    bool (*scan)(void *conn, const TableSpec *spec, bool (*row)(void *arg, char *const *vals), void *arg,
                 char *err, size_t errlen);
    char *(*canon)(void *conn, int col, const char *v);
} RowDriver;

/* target_put_ident - name onto b quoted with `quote` (` or "), doubled inside. */
void target_put_ident(StrBuf *b, const char *name, char quote);
/* target_trim_frac - trailing zeros after a '.' (and a bare '.') dropped from
 * s in place: the canonical text of a decimal or a time for compare. */
void target_trim_frac(char *s);
/* target_time_utc - "YYYY-MM-DD HH:MM:SS[.f]+HH[:MM[:SS]]" as UTC without
 * the offset into out; a value without an offset is copied.  false: not a
 * timestamp. */
bool target_time_utc(const char *v, char *out, size_t outlen);
/* target_select_sql - SELECT spec's columns FROM its table ORDER BY its key
 * (for scan), names quoted with `quote`; wrap (may be NULL): per column a
 * function to read it through (e.g. "HEX"), or NULL.  Caller frees. */
char *target_select_sql(const TableSpec *spec, char quote, const char *const *wrap);

/* target_row_driver - the RowDriver of kind `type` (add db type=); NULL
 * for PostgreSQL and unknown kinds. */
const RowDriver *target_row_driver(const char *type);

/* target_table_empty - RowDriver.is_empty of db's table (spec encoded), on
 * a connection of its own; messages name the database. */
int target_table_empty(const DbInfo *db, const TargetConfig *cfg, const char *spec, char *err, size_t errlen);

/* target_try_connect - can db (not PostgreSQL) be reached?  false with
 * the reason in err. */
bool target_try_connect(const DbInfo *db, const TargetConfig *cfg, char *err, size_t errlen) MUST_CHECK;

/*
 * target_check_table - for `validate` and each sync's first cycle: does
 * target db (not PostgreSQL) have the table of spec (encoded, as in
 * TablePlan.wrows) with every column, each of a type that can hold the
 * source's (pgtypes, one per spec column; NULL: not checked)?  Connects on
 * its own, from the calling thread.  false with a message naming the
 * database, table and column.
 */
bool target_check_table(const DbInfo *db, const TargetConfig *cfg, const char *spec, const StrList *pgtypes,
                        char *err, size_t errlen) MUST_CHECK;

/* The row drivers there are (engine/drivers/driver_*.c). */
extern const RowDriver ROW_DRIVER_SQLITE;
extern const RowDriver ROW_DRIVER_FLATPG;
extern const RowDriver ROW_DRIVER_FLATSQL;
extern const RowDriver ROW_DRIVER_MARIADB;
extern const RowDriver ROW_DRIVER_REDIS;
extern const RowDriver ROW_DRIVER_FIREBIRD;

/* The classes: PostgreSQL (driver_pg.c) and the row drivers' (driver_rows.c). */
extern const TargetClass TARGET_CLASS_PG;
extern const TargetClass TARGET_CLASS_ROWS;

#endif
