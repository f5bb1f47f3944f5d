/*
 * engine/compare/compare_internal.h - what engine/compare/compare.c (the algorithm) and
 * engine/compare/compare_sql.c (every statement it runs) share: a server of the
 * comparison, a table's statements, and the functions that build and run
 * them.  Not part of the public contract (include/compare.h).
 */
#ifndef BUCARDO_COMPARE_INTERNAL_H
#define BUCARDO_COMPARE_INTERNAL_H

#include "compare.h"

/* One server of the comparison. */
typedef struct Side {
    const char *db;
    PGconn *conn;
} Side;

/* What one side reads for a table. */
typedef struct SideSql {
    char *table;   /* "schema"."table", or "(SELECT customcols FROM ...)"; NULL: unused */
    char *rowhash; /* the row hash over the columns this side compares */
} SideSql;

/*
 * The statements of one table (quoted once, with the source's connection).
 * A target may know the table by another name (customname) and receive a
 * select list of it (customcols): then the source hashes that select list
 * for it and the target its own columns of the same names.
 */
typedef struct TableSql {
    const SyncDef *def;
    const TableDef *t;
    char *qualified; /* the source's "schema"."table" */
    char *keycols;   /* t."k0", t."k1" */
    char *aliases;   /* t."k0" AS k0, ... */
    char *keytext;   /* t."k0"::text, ... */
    char *keyhash;   /* the key's hash, which picks boundaries */
    char *bounds;    /* per key column: its text in the boundary row */
    bool scalar;     /* one key column of a fixed-length type */
    SideSql src;     /* the source, as targets without customcols see it */
    SideSql *tsrc;   /* per target with customcols: the source as it sees it */
    SideSql *tgt;    /* per target */
} TableSql;

/* What a statement of cmpsql_statement computes. */
typedef enum StatementKind {
    STMT_DIGEST, /* the buckets of a range, at content-defined boundaries ($1: spacing - 1) */
    STMT_GIVEN,  /* the buckets of the table at boundaries given in $1 (cmpsql_histogram) */
    STMT_ROWS    /* the (key, row hash) pairs of a range */
} StatementKind;

/*
 * cmpsql_statement - side's statement of that kind over the rows meeting
 * `range` (a condition on t, see cmpsql_append_range; STMT_GIVEN: whole
 * table only).  Caller frees.
 */
char *cmpsql_statement(const TableSql *ts, const SideSql *side, StatementKind kind, const char *range);

/*
 * cmpsql_histogram - for a table with one fixed-length key column, the
 * source's statistics histogram of it (an array literal, sorted) as first
 * boundaries, into *bounds (NULL: none usable; the caller frees).
 */
bool cmpsql_histogram(const TableSql *ts, Side *src, char **bounds) MUST_CHECK;

/* cmpsql_who - "sync S: table T: database D" (ts NULL: no table), for errors. */
char *cmpsql_who(const TableSql *ts, const SyncDef *def, const Side *s);

/*
 * cmpsql_open - connect side s to db, fix the settings that decide how
 * values print, and open its REPEATABLE READ READ ONLY snapshot; checks
 * the server is new enough and (given the source) has its encoding.
 * Prints why and returns false on failure (s->conn may then be set).
 */
bool cmpsql_open(const SyncDef *def, const DbInfo *db, Side *s, const Side *src) MUST_CHECK;

/*
 * cmpsql_plan_table - build every side's statements for table t (the
 * source's columns, or a target's customcols select list, by name; a
 * target's customname).  sides: the source, then every target (each
 * side reads a plain table ONLY, a partitioned one whole).  ts must be
 * freed with cmpsql_table_free even when this fails.
 */
bool cmpsql_plan_table(const SyncDef *def, Side *sides, const TableDef *t, TableSql *ts) MUST_CHECK;
void cmpsql_table_free(TableSql *ts);

/* cmpsql_estimate - the planner's idea of the table's row count on src. */
bool cmpsql_estimate(const TableSql *ts, Side *src, double *rows) MUST_CHECK;

/*
 * cmpsql_append_range - "lo <= key AND key < hi" onto sb (either bound
 * may be NULL; neither: "true"), with the bounds' texts appended to
 * params and referenced by number.
 */
void cmpsql_append_range(StrBuf *sb, const TableSql *ts, char *const *lo, char *const *hi, StrList *params);

/*
 * cmpsql_run - run sql[i] on sides[i], all at once (each server works in
 * parallel), with the same parameters, and wait for all; res[i] gets each
 * result.  On any error, prints it naming the side and returns false, all
 * res[i] cleared.
 */
bool cmpsql_run(const TableSql *ts, Side *const *sides, int n, const char *const *sql, int nparams,
                const char *const *params, PGresult **res) MUST_CHECK;

/* cmpsql_parse_buckets / cmpsql_parse_rows - a digest / rows result into a list. */
void cmpsql_parse_buckets(const PGresult *res, int nkeys, CmpBucketList *out);
void cmpsql_parse_rows(const PGresult *res, int nkeys, CmpRowList *out);

/* cmpsql_queue_keys - insert every differing key of r into the source's
 * delta table, in the caller's transaction; adds their number to *queued. */
bool cmpsql_queue_keys(const SyncDef *def, Side *src, const CompareTable *r, long *queued) MUST_CHECK;

/* ------------------------------------------ targets of other kinds */

/*
 * cmpsql_columns - the source's columns of t as the sync sends them to a
 * target of another kind (all of them, or those of the customcols select
 * list `clause`, NULL: none) into out, and what reads those rows into
 * *from (ONLY the table, or the partitioned table whole, or the select
 * list of it; the caller frees).
 */
bool cmpsql_columns(const SyncDef *def, Side *src, const TableDef *t, const char *clause, char **from,
                    StrList *out) MUST_CHECK;

/*
 * cmpsql_scan_source - every row of `from` on src, its columns cols in
 * key order, printed as the sync prints them, one row per result handed
 * to row(arg, res) (false stops: the scan then fails); the comparison's
 * settings are back afterwards.  Errors printed naming sync, table and
 * database.
 */
bool cmpsql_scan_source(const SyncDef *def, Side *src, const TableDef *t, const char *from,
                        const StrList *cols, bool (*row)(void *arg, const PGresult *res),
                        void *arg) MUST_CHECK;

/*
 * cmprows_readable - can target db (not PostgreSQL) be compared?  false
 * with the reason in why.
 */
bool cmprows_readable(const DbInfo *db, char *why, size_t whylen);

/*
 * cmprows_target - compare table t of the source (src, in its snapshot)
 * with target db, a kind other than PostgreSQL (engine/compare/compare_rows.c):
 * both read whole, row by row, in the target's canonical text; the
 * differing keys into res, the time and row counts into out/res.
 */
bool cmprows_target(const SyncDef *def, Side *src, const DbInfo *db, const TableDef *t, CompareTable *out,
                    CompareTarget *res) MUST_CHECK;

#endif
