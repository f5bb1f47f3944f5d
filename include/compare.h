/*
 * include/compare.h - `bucardo compare`: find the rows that differ between a
 * sync's source and its targets without copying tables over the wire.
 *
 * Each server hashes its own rows (per row, in SQL) and sums them up per key
 * range; the client compares the range digests, narrows the ranges that
 * differ, and finally lists (key, row hash) pairs of the few small ranges
 * left, naming the exact keys missing on a target, extra on it, or
 * different.  engine/compare/compare.c talks to the servers; engine/compare/compare_range.c
 * holds the pure parts (digests, merging range lists, diffing key lists,
 * JSON text), which the unit tests drive directly.
 */
#ifndef BUCARDO_COMPARE_H
#define BUCARDO_COMPARE_H

#include <stdint.h>

#include "syncdef.h"

/*
 * A range with at most this many rows on each side is listed row by row
 * rather than split again.  A bucket that differs is one picked by a
 * differing row, so it tends to be large (twice the mean); 2048 lists
 * almost all of them at once when buckets hold 256 rows on average.
 */
#define COMPARE_LEAF_ROWS 2048

/* One row as compared: its key (one text per key column) and row hash. */
typedef struct CmpRow {
    char **key;    /* nkeys owned strings */
    uint64_t fp;   /* cmp_key_fingerprint of key */
    uint64_t hash; /* the server's hash of the whole row */
} CmpRow;

typedef struct CmpRowList {
    CmpRow *rows;
    size_t count;
    size_t cap;
} CmpRowList;

/* cmp_rows_add - append a copy of key (nkeys strings) with its row hash. */
void cmp_rows_add(CmpRowList *l, int nkeys, const char *const *key, uint64_t hash);
void cmp_rows_free(CmpRowList *l, int nkeys);

/* The digest of a set of rows: how many, and the XOR of their row hashes.
 * XOR makes it independent of row order, and digests of adjacent ranges
 * combine into the digest of their union. */
typedef struct CmpDigest {
    int64_t count;
    uint64_t xor ;
} CmpDigest;

CmpDigest cmp_digest_combine(CmpDigest a, CmpDigest b);
bool cmp_digest_equal(CmpDigest a, CmpDigest b);

/* cmp_digest_checksum - a 64-bit checksum (XXH3) of a digest, for display. */
uint64_t cmp_digest_checksum(CmpDigest d);

/*
 * A bucket of a range, as one server reports it: the rows from its first
 * key `lo` (a boundary key: one whose key hash is 0 modulo the spacing) up
 * to the next bucket's first key.  lo is NULL for the rows before the
 * range's first boundary.  Buckets come in key order.
 */
typedef struct CmpBucket {
    char **lo;   /* nkeys owned strings, or NULL */
    uint64_t fp; /* fingerprint of lo (0 when NULL) */
    CmpDigest d;
} CmpBucket;

typedef struct CmpBucketList {
    CmpBucket *items;
    size_t count;
    size_t cap;
} CmpBucketList;

/* cmp_buckets_add - append a bucket; lo (nkeys strings, or NULL) is copied. */
void cmp_buckets_add(CmpBucketList *l, int nkeys, const char *const *lo, CmpDigest d);
void cmp_buckets_free(CmpBucketList *l, int nkeys);

/*
 * A segment: the rows between two boundary keys that both sides reported
 * (lo inclusive, hi exclusive; NULL: the start / end of the range that was
 * split), with each side's digest of them.  lo and hi point into the
 * bucket lists the segment came from.
 */
typedef struct CmpSegment {
    char **lo;
    char **hi;
    CmpDigest a;
    CmpDigest b;
} CmpSegment;

/*
 * cmp_segments - merge the bucket lists of one range from two sides into
 * segments bounded by the boundary keys common to both (a key present on
 * one side only merges its bucket into the previous one), so each segment
 * covers the same key range on both sides.  Common keys must come in the
 * same order on both sides; one that does not (different collations) is
 * treated as one-sided.  Returns the number of segments (>= 1) in *out,
 * which the caller frees.
 */
size_t cmp_segments(const CmpBucketList *a, const CmpBucketList *b, int nkeys, CmpSegment **out);

/* cmp_key_fingerprint - XXH3 of a key's columns (length-prefixed). */
uint64_t cmp_key_fingerprint(int nkeys, const char *const *key);

/* cmp_key_equal - whether two keys are the same text, column by column. */
bool cmp_key_equal(int nkeys, const char *const *a, const char *const *b);

/* cmp_key_dup - a deep copy of a key (NULL stays NULL). */
char **cmp_key_dup(int nkeys, const char *const *key);
void cmp_key_free(int nkeys, char **key);

/*
 * cmp_diff - split the rows of a and b (one side each, any order) into the
 * keys only in a, only in b, and in both with different row hashes (a's
 * row is kept).  Rows equal on both sides are dropped.  a and b are left
 * empty; the outputs are appended to.
 */
void cmp_diff(CmpRowList *a, CmpRowList *b, int nkeys, CmpRowList *only_a, CmpRowList *only_b,
              CmpRowList *differ);

/* cmp_key_compare - display order of keys: column by column, integers by
 * value, other text bytewise. */
int cmp_key_compare(int nkeys, const char *const *a, const char *const *b);
void cmp_rows_sort(CmpRowList *l, int nkeys);

/* cmp_key_format - "id=42" or "a=1, b='x y'" (values that are not plain
 * words are quoted SQL-style) appended to sb. */
void cmp_key_format(StrBuf *sb, int nkeys, char *const *cols, const char *const *key);

/* Boundary spacing: a key starts a bucket when its key hash is 0 modulo
 * the spacing (a power of two), so buckets hold `spacing` rows on average. */
int64_t cmp_initial_spacing(double estimated_rows);
int64_t cmp_next_spacing(int64_t spacing);

/* cmp_json_string - s as a JSON string literal (quotes included) onto sb. */
void cmp_json_string(StrBuf *sb, const char *s);

/* ---------------------------------------------------------------- driver */

/* What one target differs in, for one table. */
typedef struct CompareTarget {
    char *db;                 /* the target database's name */
    int64_t rows;             /* its row count */
    uint64_t checksum;        /* cmp_digest_checksum of its whole table */
    uint64_t source_checksum; /* the same of the source's rows as this target gets them */
    CmpRowList missing;       /* keys on the source, not on the target */
    CmpRowList extra;         /* keys on the target, not on the source */
    CmpRowList different;     /* keys on both with different rows */
} CompareTarget;

typedef struct CompareTable {
    const TableDef *def; /* borrowed from the SyncDef */
    char *skipped;       /* why the table was not compared, or NULL */
    int64_t rows;        /* source row count */
    uint64_t checksum;   /* source: cmp_digest_checksum of the table */
    double seconds;
    int queries; /* statements run per side */
    int ntargets;
    CompareTarget *targets;
} CompareTable;

typedef struct CompareResult {
    int ntables;
    CompareTable *tables;
    long repaired; /* keys queued into delta tables by repair */
    double seconds;
} CompareResult;

/*
 * compare_sync - compare every selected table (selected[i] for
 * def->tables[i]; NULL: all) of the sync's source with each target, each
 * server on one REPEATABLE READ READ ONLY snapshot.  With repair, the keys
 * that differ are then inserted into the source's delta tables (committed;
 * the caller kicks the sync).  Errors are printed naming the sync, table
 * and database; returns false on any.  Free *out with compare_result_free
 * whatever is returned.
 */
bool compare_sync(const SyncDef *def, const bool *selected, bool repair, CompareResult *out) MUST_CHECK;
void compare_result_free(CompareResult *r);

/* compare_table_differences - how many keys differ, over all targets. */
long compare_table_differences(const CompareTable *t);

#endif
