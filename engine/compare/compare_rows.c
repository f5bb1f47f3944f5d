/*
 * engine/compare/compare_rows.c - `bucardo compare` against a target that
 * is not PostgreSQL (MariaDB/MySQL, SQLite, Firebird): such a server cannot run the
 * digest statements of compare_sql.c, so both sides are read whole, row
 * by row, in key order, and compared here.
 *
 * The target's driver (target_driver.h: RowDriver.scan and canon) reads
 * its rows in one canonical text per column, and brings each source value
 * (read as the sync reads it, cmpsql_scan_source) to the text the target
 * holds of it - a MariaDB decimal(12,3) holds 1.5 as 1.500, a boolean as
 * 1, a timestamptz in UTC; a SQLite REAL column holds numbers.  Each row
 * then becomes its key (canonical text) and an XXH3 hash of all its
 * values; cmp_diff matches the two lists by key, so the same keys come out
 * missing, extra or different as from a PostgreSQL target, and --repair
 * queues them the same way (the next cycle deletes and copies them
 * through the driver).
 *
 * A target with customcols is compared with the source's rows as that
 * select list makes them.  Only keys and row hashes are kept in memory,
 * not rows.  Kinds whose contents are no table (flat files: a log of
 * changes; Redis: a hash per row under keys of its own) are refused by
 * cmprows_readable.
 */
#include "compare_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "target_driver.h"

/* One side being read: where its rows go. */
typedef struct Reader {
    const RowDriver *drv;
    void *conn;
    int ncols;
    int nkeys;
    int *keypos; /* per key column: its position among the columns */
    const char **key;
    CmpRowList *rows;
    int64_t count;
    uint64_t hashes; /* XOR of the row hashes */
} Reader;

/* row_hash - XXH3 of the values (length-prefixed; NULL differs from ''). */
static uint64_t row_hash(int n, char *const *vals)
{
    XXH3_state_t st;

    XXH3_64bits_reset(&st);
    for (int i = 0; i < n; i++) {
        uint64_t len = vals[i] ? strlen(vals[i]) : UINT64_MAX;
        XXH3_64bits_update(&st, &len, sizeof(len));
        if (vals[i])
            XXH3_64bits_update(&st, vals[i], (size_t)len);
    }
    return XXH3_64bits_digest(&st);
}

static bool take(Reader *r, char *const *vals)
{
    uint64_t h = row_hash(r->ncols, vals);

    for (int k = 0; k < r->nkeys; k++)
        r->key[k] = vals[r->keypos[k]] ? vals[r->keypos[k]] : "";
    cmp_rows_add(r->rows, r->nkeys, r->key, h);
    r->count++;
    r->hashes ^= h;
    return true;
}

static bool take_target(void *arg, char *const *vals)
{
    return take(arg, vals);
}

static bool take_source(void *arg, const PGresult *res)
{
    Reader *r = arg;
    char **vals = xcalloc((size_t)r->ncols + 1, sizeof(char *));
    bool ok;

    for (int i = 0; i < r->ncols; i++)
        vals[i] = r->drv->canon(r->conn, i, PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i));
    ok = take(r, vals);
    for (int i = 0; i < r->ncols; i++)
        free(vals[i]);
    free(vals);
    return ok;
}

bool cmprows_readable(const DbInfo *db, char *why, size_t whylen)
{
    const char *type = db->dbtype ? db->dbtype : "";
    const RowDriver *drv = target_row_driver(type);

    if (drv && drv->scan && drv->canon)
        return true;
    if (target_kind_is_flat(type))
        snprintf(why, whylen, "a flat file is a log of the changes sent, not a copy of the tables");
    else if (strcmp(type, "redis") == 0)
        snprintf(why, whylen,
                 "Redis holds each row as a hash of its own, not a table that can be read in key order");
    else
        snprintf(why, whylen, "its rows cannot be read back");
    return false;
}

bool cmprows_target(const SyncDef *def, Side *src, const DbInfo *db, const TableDef *t, CompareTable *out,
                    CompareTarget *res)
{
    const char *name = tabledef_custom(&t->name_db, &t->name_value, db->name);
    const char *dot = name ? strchr(name, '.') : NULL;
    double started = monotonic_seconds();
    TargetConfig cfg = {.sync = def->name, .flat_dir = def->flatfile_dir};
    StrList cols = {0};
    TableSpec spec;
    CmpRowList a = {0}, b = {0};
    Reader rs = {0}, rt = {0};
    char *from = NULL, err[1024] = "";
    void *conn = NULL;
    bool ok = true;

    if (!cmpsql_columns(def, src, t, tabledef_custom(&t->cols_db, &t->cols_value, db->name), &from, &cols)) {
        strlist_free(&cols);
        return false;
    }
    spec = (TableSpec){.op = 'R',
                       .schema = t->schemaname,
                       .table = dot    ? (char *)dot + 1
                                : name ? (char *)name
                                       : t->relname,
                       .nkeys = t->nkeys,
                       .keys = t->keycols,
                       .ncols = cols.count,
                       .cols = cols.items};
    rs.drv = rt.drv = target_row_driver(db->dbtype);
    rs.ncols = rt.ncols = cols.count;
    rs.nkeys = rt.nkeys = t->nkeys;
    rs.keypos = rt.keypos = xcalloc((size_t)t->nkeys + 1, sizeof(int));
    rs.key = rt.key = xcalloc((size_t)t->nkeys + 1, sizeof(char *));
    rs.rows = &a;
    rt.rows = &b;
    for (int k = 0; k < t->nkeys; k++) {
        int i = 0;
        while (i < cols.count && strcmp(cols.items[i], t->keycols[k]) != 0)
            i++;
        if (i == cols.count) {
            fprintf(stderr, "sync %s: table %s.%s: key column %s is not among its columns\n", def->name,
                    t->schemaname, t->relname, t->keycols[k]);
            ok = false;
        }
        rs.keypos[k] = i;
    }
    /* The target first: scanning it tells canon its columns' types. */
    if (ok && (conn = rt.drv->open(db, &cfg, err, sizeof(err))) == NULL)
        ok = false;
    rs.conn = rt.conn = conn;
    ok = ok && rt.drv->scan(conn, &spec, take_target, &rt, err, sizeof(err));
    if (!ok && err[0])
        fprintf(stderr, "sync %s: table %s.%s: database %s (%s): %s\n", def->name, t->schemaname, t->relname,
                db->name, db->dbtype, err);
    ok = ok && cmpsql_scan_source(def, src, t, from, &cols, take_source, &rs);
    out->queries += 2;
    if (ok) {
        /* out->rows and out->checksum stay the source's digests
         * (compare_table): these checksums are of this target's kind. */
        CmpDigest ds = {rs.count, rs.hashes}, dt = {rt.count, rt.hashes};
        res->rows = rt.count;
        res->checksum = cmp_digest_checksum(dt);
        res->source_checksum = cmp_digest_checksum(ds);
        cmp_diff(&a, &b, t->nkeys, &res->missing, &res->extra, &res->different);
        cmp_rows_sort(&res->missing, t->nkeys);
        cmp_rows_sort(&res->extra, t->nkeys);
        cmp_rows_sort(&res->different, t->nkeys);
    }
    if (conn)
        rt.drv->close(conn);
    cmp_rows_free(&a, t->nkeys);
    cmp_rows_free(&b, t->nkeys);
    free(rs.keypos);
    free(rs.key);
    free(from);
    strlist_free(&cols);
    out->seconds += monotonic_seconds() - started;
    return ok;
}
