/*
 * engine/compare.c - `bucardo compare`: compare a sync's tables on its
 * source and targets without locking them and without moving them over
 * the wire, and optionally queue the keys that differ for the next cycle.
 *
 * How a table is compared:
 *
 *  - Every server runs in one REPEATABLE READ READ ONLY transaction (one
 *    consistent snapshot for all tables; only AccessShare locks), with the
 *    settings that fix how values print (DateStyle, TimeZone, ...), so equal
 *    rows print, hence hash, the same on every server.
 *  - A row's hash is computed in SQL, because the servers have no xxHash and
 *    we install no C extension: hashtextextended() (64 bits) of each
 *    column's text in the "C" collation (so nondeterministic collations do
 *    not hide case changes), seeded by the column's position, XORed and
 *    mixed once more (so swapping a value between two rows changes the
 *    digest).  Hashing columns one by one is about twice as fast as
 *    hashing the row's text, which goes through record_out.
 *  - A range's digest is count(*) and bit_xor() of its row hashes: no sort,
 *    and digests of adjacent ranges combine (compare_range.c).
 *  - Ranges are cut at content-defined boundaries, as rsync cuts files: a
 *    key starts a bucket when a hash of the key is 0 modulo the spacing.
 *    Each server finds its own boundaries in the same pass that digests the
 *    buckets (a window over the key order), so both sides work at the same
 *    time and neither waits for the other's boundary list; a missing or
 *    extra key shifts no boundary but its own.  The client merges the two
 *    bucket lists at the boundaries both have (cmp_segments) and compares
 *    the segments.
 *  - A segment that differs is split again with a smaller spacing (range
 *    conditions on the key use the primary key's index) until it holds at
 *    most COMPARE_LEAF_ROWS rows; then both sides send the (key, row hash)
 *    pairs of all such ranges in one statement and the client diffs them.
 *
 * The client uses XXH3 for its own hashing (key fingerprints, the table
 * checksum), in compare_range.c.
 *
 * --repair inserts the differing keys into the source's delta table: the
 * next cycle deletes them on the targets and copies the source's rows, so
 * a missing key is copied, an extra one deleted, a different one replaced.
 */
#include "compare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"

static const char SQL_SESSION[] =
    "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC';"
    " SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8';"
    " SET work_mem = '64MB'; SET application_name = 'bucardo compare';"
    " BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
/* The first query of the transaction: it also takes the snapshot. */
static const char SQL_SERVER[] =
    "SELECT current_setting('server_encoding'), current_setting('server_version_num')::int";
static const char SQL_COLUMNS[] =
    "SELECT attname FROM pg_catalog.pg_attribute"
    " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
    " ORDER BY attnum";
static const char SQL_ESTIMATE[] =
    "SELECT CASE WHEN reltuples >= 1 THEN reltuples::float8 ELSE pg_relation_size(oid) / 100.0 END"
    "  FROM pg_catalog.pg_class WHERE oid = $1::regclass";
/*
 * The buckets of a range ($1 is spacing - 1): g numbers the bucket, then
 * its row count, the XOR of its row hashes and its first key's columns as
 * text (NULL for bucket 0, the rows before the first boundary).
 *
 * One key column: the boundaries go into an array and width_bucket()
 * finds each row's bucket in a plain (parallel) scan with a hash
 * aggregate - as fast as hashing the rows at all.  width_bucket() on
 * records is far too slow, so a key of several columns walks the key
 * order instead, numbering buckets by a running count of boundaries.
 */
static const char SQL_DIGEST_SCALAR[] =
    "WITH b AS MATERIALIZED (SELECT coalesce(array_agg(@KEYCOLS@ ORDER BY @KEYCOLS@), '{}') AS a"
    "                          FROM @TABLE@ t WHERE (@KEYHASH@) & $1::int8 = 0 AND @RANGE@)"
    " SELECT s.g, s.c, s.x, ((SELECT b.a FROM b))[s.g]::text"
    "   FROM (SELECT width_bucket(@KEYCOLS@, (SELECT b.a FROM b)) AS g, count(*) AS c, bit_xor(@ROWHASH@) AS x"
    "           FROM @TABLE@ t WHERE @RANGE@ GROUP BY 1) s"
    "  ORDER BY 1";
static const char SQL_DIGEST_WINDOW[] =
    "SELECT s.g, count(*), bit_xor(s.h)@BOUNDS@"
    "  FROM (SELECT @KEYALIASES@, f.b,"
    "               sum(f.b::int) OVER (ORDER BY @KEYCOLS@ ROWS UNBOUNDED PRECEDING) AS g,"
    "               @ROWHASH@ AS h"
    "          FROM @TABLE@ t CROSS JOIN LATERAL (SELECT (@KEYHASH@) & $1::int8 = 0 AS b) f"
    "         WHERE @RANGE@) s"
    " GROUP BY s.g ORDER BY s.g";
static const char SQL_ROWS[] = "SELECT @KEYTEXT@, @ROWHASH@ FROM @TABLE@ t WHERE @RANGE@";
static const char SQL_REPAIR[] =
    "INSERT INTO bucardo.@DELTA@ (@KEYNAMES@) SELECT @CASTS@ FROM unnest(@ARRAYS@) AS u(@UCOLS@)";

/* Ranges fetched row by row in one statement (each takes 2 * nkeys parameters). */
#define RANGES_PER_STATEMENT 200

/* One server of the comparison. */
typedef struct Side {
    const char *db;
    PGconn *conn;
} Side;

/* The SQL fragments of one table (quoted once, with the source's connection). */
typedef struct TableSql {
    const SyncDef *def;
    const TableDef *t;
    char *qualified;
    char *digest;    /* SQL_DIGEST_* filled in, except @RANGE@ */
    char *rows;      /* SQL_ROWS filled in, except @RANGE@ */
    char *keycols;   /* t."k0", t."k1" */
} TableSql;

/* A key range still to examine: lo <= key < hi (NULL: unbounded). */
typedef struct Range {
    char **lo;
    char **hi;
    int64_t spacing;   /* the spacing to split it with */
    int64_t rows;      /* the larger side's row count */
} Range;

typedef struct RangeList {
    Range *items;
    size_t count;
    size_t cap;
} RangeList;

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *who(const TableSql *ts, const SyncDef *def, const Side *s)
{
    if (ts == NULL)
        return xasprintf("sync %s: database %s", def->name, s->db);
    return xasprintf("sync %s: table %s.%s: database %s", def->name, ts->t->schemaname, ts->t->relname, s->db);
}

/* ---------------------------------------------------------------- running statements */

/*
 * run_all - run the same statement on n sides at once (each server works
 * in parallel) and wait for all; res[i] gets each result.  On any error,
 * prints it naming the side and returns false, all res[i] cleared.
 */
static bool run_all(const SyncDef *def, const TableSql *ts, Side *const *sides, int n, const char *sql,
                    int nparams, const char *const *params, PGresult **res)
{
    bool ok = true;
    bool *sent = xcalloc((size_t)n, sizeof(bool));

    for (int i = 0; i < n; i++) {
        res[i] = NULL;
        sent[i] = PQsendQueryParams(sides[i]->conn, sql, nparams, NULL, params, NULL, NULL, 0) == 1;
        if (!sent[i]) {
            char *w = who(ts, def, sides[i]);
            pg_report(w, sides[i]->conn, NULL);
            free(w);
            ok = false;
        }
    }
    for (int i = 0; i < n; i++) {
        PGresult *r;
        if (!sent[i])
            continue;
        while ((r = PQgetResult(sides[i]->conn)) != NULL) {
            ExecStatusType st = PQresultStatus(r);
            if (res[i] == NULL && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
                char *w = who(ts, def, sides[i]);
                pg_report(w, sides[i]->conn, r);
                free(w);
                ok = false;
            }
            if (res[i] == NULL)
                res[i] = r;
            else
                PQclear(r);
        }
    }
    free(sent);
    if (!ok)
        for (int i = 0; i < n; i++) {
            PQclear(res[i]);
            res[i] = NULL;
        }
    return ok;
}

static bool run_pair(const TableSql *ts, Side *a, Side *b, const char *sql, int nparams, const char *const *params,
                     PGresult **ra, PGresult **rb)
{
    Side *sides[2] = {a, b};
    PGresult *res[2];
    bool ok = run_all(ts->def, ts, sides, 2, sql, nparams, params, res);

    *ra = res[0];
    *rb = res[1];
    return ok;
}

/* ---------------------------------------------------------------- SQL text */

static char *fill(const char *template, const char *const *subs, int nsubs)
{
    char *text = xstrdup(template);

    for (int i = 0; i < nsubs; i += 2) {
        char *next = str_replace_all(text, subs[i], subs[i + 1]);
        free(text);
        text = next;
    }
    return text;
}

/* plan_table - quote the table's names and build its statements; the
 * row hash covers the source's columns (by name, so column order on the
 * targets does not matter). */
static bool plan_table(const SyncDef *def, Side *src, const TableDef *t, TableSql *ts)
{
    StrBuf aliases, keycols, keytext, keyhash, bounds, rowhash;
    const char *params[1];
    PGresult *res;
    char *w;

    memset(ts, 0, sizeof(*ts));
    ts->def = def;
    ts->t = t;
    ts->qualified = table_qualified(src->conn, t);
    params[0] = ts->qualified;
    w = who(ts, def, src);
    res = pg_query(src->conn, w, SQL_COLUMNS, 1, params);
    free(w);
    if (res == NULL)
        return false;
    strbuf_init(&rowhash);
    strbuf_append(&rowhash, "hashtextextended((");
    for (int i = 0; i < PQntuples(res); i++) {
        char *q = pg_quote_ident(src->conn, PQgetvalue(res, i, 0));
        strbuf_printf(&rowhash, "%scoalesce(hashtextextended(t.%s::text COLLATE \"C\", %d), %d)", i ? " # " : "", q,
                      i, -(i + 1));
        free(q);
    }
    strbuf_append(&rowhash, ")::text, 0)");
    PQclear(res);
    strbuf_init(&aliases);
    strbuf_init(&keycols);
    strbuf_init(&keytext);
    strbuf_init(&keyhash);
    strbuf_init(&bounds);
    for (int k = 0; k < t->nkeys; k++) {
        char *q = pg_quote_ident(src->conn, t->keycols[k]);
        const char *sep = k ? ", " : "";
        strbuf_printf(&aliases, "%st.%s AS k%d", sep, q, k);
        strbuf_printf(&keycols, "%st.%s", sep, q);
        strbuf_printf(&keytext, "%st.%s::text", sep, q);
        strbuf_printf(&keyhash, "%shashtextextended(t.%s::text COLLATE \"C\", %d)", k ? " # " : "", q, k);
        strbuf_printf(&bounds, ", min(CASE WHEN s.b THEN s.k%d::text END)", k);
        free(q);
    }
    {
        const char *subs[] = {"@BOUNDS@", bounds.data, "@KEYALIASES@", aliases.data, "@KEYCOLS@", keycols.data,
                              "@ROWHASH@", rowhash.data, "@KEYHASH@", keyhash.data, "@TABLE@", ts->qualified,
                              "@KEYTEXT@", keytext.data};
        ts->digest = fill(t->nkeys == 1 ? SQL_DIGEST_SCALAR : SQL_DIGEST_WINDOW, subs, 14);
        ts->rows = fill(SQL_ROWS, subs, 14);
    }
    ts->keycols = keycols.data;
    strbuf_free(&aliases);
    strbuf_free(&keytext);
    strbuf_free(&keyhash);
    strbuf_free(&bounds);
    strbuf_free(&rowhash);
    return true;
}

static void table_sql_free(TableSql *ts)
{
    free(ts->qualified);
    free(ts->digest);
    free(ts->rows);
    free(ts->keycols);
}

/*
 * append_range - "lo <= key AND key < hi" onto sb (either bound may be
 * absent; neither: "true"), with the bounds' texts added to params.  Row
 * comparison of the whole key, which the key's index serves.
 */
static void append_range(StrBuf *sb, const TableSql *ts, const Range *r, StrList *params)
{
    const TableDef *t = ts->t;
    char **bound[2] = {r->lo, r->hi};
    const char *op[2] = {">=", "<"};
    bool any = false;

    for (int side = 0; side < 2; side++) {
        if (bound[side] == NULL)
            continue;
        strbuf_append(sb, any ? " AND " : "");
        strbuf_printf(sb, t->nkeys > 1 ? "ROW(%s) %s ROW(" : "%s %s ", ts->keycols, op[side]);
        for (int k = 0; k < t->nkeys; k++) {
            strlist_add(params, bound[side][k]);
            strbuf_printf(sb, "%s$%d::%s", k ? ", " : "", params->count, t->keytypes[k]);
        }
        strbuf_append(sb, t->nkeys > 1 ? ")" : "");
        any = true;
    }
    if (!any)
        strbuf_append(sb, "true");
}

/* ---------------------------------------------------------------- results */

static void parse_buckets(const PGresult *res, int nkeys, CmpBucketList *out)
{
    const char **lo = xcalloc((size_t)nkeys, sizeof(char *));

    for (int r = 0; r < PQntuples(res); r++) {
        CmpDigest d = {strtoll(PQgetvalue(res, r, 1), NULL, 10),
                       (uint64_t)strtoll(PQgetvalue(res, r, 2), NULL, 10)};
        bool bounded = !PQgetisnull(res, r, 3);
        for (int k = 0; k < nkeys; k++)
            lo[k] = PQgetvalue(res, r, 3 + k);
        cmp_buckets_add(out, nkeys, bounded ? lo : NULL, d);
    }
    free(lo);
}

static void parse_rows(const PGresult *res, int nkeys, CmpRowList *out)
{
    const char **key = xcalloc((size_t)nkeys, sizeof(char *));

    for (int r = 0; r < PQntuples(res); r++) {
        for (int k = 0; k < nkeys; k++)
            key[k] = PQgetvalue(res, r, k);
        cmp_rows_add(out, nkeys, key, (uint64_t)strtoll(PQgetvalue(res, r, nkeys), NULL, 10));
    }
    free(key);
}

static CmpDigest total(const CmpBucketList *l)
{
    CmpDigest d = {0, 0};

    for (size_t i = 0; i < l->count; i++)
        d = cmp_digest_combine(d, l->items[i].d);
    return d;
}

static void range_add(RangeList *l, char **lo, char **hi, int64_t spacing, int64_t rows)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = xrealloc(l->items, l->cap * sizeof(Range));
    }
    l->items[l->count].lo = lo;
    l->items[l->count].hi = hi;
    l->items[l->count].spacing = spacing;
    l->items[l->count++].rows = rows;
}

static void range_list_free(RangeList *l, int nkeys)
{
    for (size_t i = 0; i < l->count; i++) {
        cmp_key_free(nkeys, l->items[i].lo);
        cmp_key_free(nkeys, l->items[i].hi);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/*
 * triage - merge the buckets of `parent` (split with `spacing`) from both
 * sides; each segment that differs becomes a range to list row by row
 * (small, one-sided, or not splittable further) or to split again.
 */
static void triage(const CmpBucketList *a, const CmpBucketList *b, int nkeys, const Range *parent,
                   int64_t spacing, RangeList *split, RangeList *leaves)
{
    CmpSegment *segs;
    size_t n = cmp_segments(a, b, nkeys, &segs);

    for (size_t i = 0; i < n; i++) {
        const CmpSegment *s = &segs[i];
        int64_t most = s->a.count > s->b.count ? s->a.count : s->b.count;
        int64_t least = s->a.count < s->b.count ? s->a.count : s->b.count;
        char **lo, **hi;

        if (cmp_digest_equal(s->a, s->b))
            continue;
        lo = cmp_key_dup(nkeys, (const char *const *)(s->lo ? s->lo : parent->lo));
        hi = cmp_key_dup(nkeys, (const char *const *)(s->hi ? s->hi : parent->hi));
        if (most <= COMPARE_LEAF_ROWS || least == 0 || spacing == 1)
            range_add(leaves, lo, hi, 0, most);
        else
            range_add(split, lo, hi, cmp_next_spacing(spacing), most);
    }
    free(segs);
}

/* fetch_rows - the (key, row hash) pairs of the leaf ranges from both sides. */
static bool fetch_rows(TableSql *ts, Side *src, Side *tgt, const RangeList *leaves, int64_t table_rows,
                       CompareTable *out, CmpRowList *a, CmpRowList *b)
{
    int64_t wanted = 0;
    bool whole, ok = true;

    for (size_t i = 0; i < leaves->count; i++)
        wanted += leaves->items[i].rows;
    /* Most of the table differs: one scan beats many range conditions. */
    whole = wanted > table_rows / 2;
    for (size_t i = 0; ok && (i < leaves->count || (whole && i == 0)); i += RANGES_PER_STATEMENT) {
        StrBuf cond;
        StrList params = {0};
        PGresult *ra, *rb;
        char *sql;

        strbuf_init(&cond);
        if (whole) {
            strbuf_append(&cond, "true");
        } else {
            for (size_t j = i; j < leaves->count && j < i + RANGES_PER_STATEMENT; j++) {
                strbuf_append(&cond, j > i ? " OR (" : "(");
                append_range(&cond, ts, &leaves->items[j], &params);
                strbuf_append(&cond, ")");
            }
        }
        sql = str_replace_all(ts->rows, "@RANGE@", cond.data);
        ok = run_pair(ts, src, tgt, sql, params.count, (const char *const *)params.items, &ra, &rb);
        out->queries++;
        if (ok) {
            parse_rows(ra, ts->t->nkeys, a);
            parse_rows(rb, ts->t->nkeys, b);
        }
        PQclear(ra);
        PQclear(rb);
        free(sql);
        strlist_free(&params);
        strbuf_free(&cond);
        if (whole)
            break;
    }
    return ok;
}

/*
 * compare_target - narrow the differences between the source's and one
 * target's level-0 buckets (split with spacing0) down to keys.
 */
static bool compare_target(TableSql *ts, Side *src, Side *tgt, const CmpBucketList *a0, const CmpBucketList *b0,
                           int64_t spacing0, CompareTable *out, CompareTarget *res)
{
    int nkeys = ts->t->nkeys;
    Range whole = {NULL, NULL, spacing0, 0};
    RangeList split = {0}, leaves = {0};
    CmpRowList a = {0}, b = {0};
    bool ok = true;

    triage(a0, b0, nkeys, &whole, spacing0, &split, &leaves);
    while (ok && split.count > 0) {
        Range r = split.items[--split.count];
        StrBuf cond;
        StrList params = {0};
        char mask[32];
        PGresult *ra, *rb;
        char *sql;

        snprintf(mask, sizeof(mask), "%lld", (long long)(r.spacing - 1));
        strlist_add(&params, mask);
        strbuf_init(&cond);
        append_range(&cond, ts, &r, &params);
        sql = str_replace_all(ts->digest, "@RANGE@", cond.data);
        ok = run_pair(ts, src, tgt, sql, params.count, (const char *const *)params.items, &ra, &rb);
        out->queries++;
        if (ok) {
            CmpBucketList ba = {0}, bb = {0};
            parse_buckets(ra, nkeys, &ba);
            parse_buckets(rb, nkeys, &bb);
            triage(&ba, &bb, nkeys, &r, r.spacing, &split, &leaves);
            cmp_buckets_free(&ba, nkeys);
            cmp_buckets_free(&bb, nkeys);
        }
        PQclear(ra);
        PQclear(rb);
        free(sql);
        strlist_free(&params);
        strbuf_free(&cond);
        cmp_key_free(nkeys, r.lo);
        cmp_key_free(nkeys, r.hi);
    }
    if (ok && leaves.count > 0) {
        int64_t rows = out->rows > res->rows ? out->rows : res->rows;
        ok = fetch_rows(ts, src, tgt, &leaves, rows, out, &a, &b);
        if (ok)
            cmp_diff(&a, &b, nkeys, &res->missing, &res->extra, &res->different);
    }
    cmp_rows_free(&a, nkeys);
    cmp_rows_free(&b, nkeys);
    range_list_free(&split, nkeys);
    range_list_free(&leaves, nkeys);
    cmp_rows_sort(&res->missing, nkeys);
    cmp_rows_sort(&res->extra, nkeys);
    cmp_rows_sort(&res->different, nkeys);
    return ok;
}

/*
 * compare_table - one table on the source and every target: the first
 * split runs on all servers at once, then each target is narrowed down.
 */
static bool compare_table(const SyncDef *def, Side *sides, const TableDef *t, CompareTable *out)
{
    int n = def->ntargets + 1;
    double started = now_seconds(), est;
    TableSql ts;
    PGresult **res;
    Side **all;
    CmpBucketList *buckets;
    char mask[32];
    const char *params[1] = {mask};
    int64_t spacing;
    bool ok;

    out->def = t;
    out->ntargets = def->ntargets;
    out->targets = xcalloc((size_t)def->ntargets, sizeof(CompareTarget));
    for (int i = 0; i < def->ntargets; i++)
        out->targets[i].db = xstrdup(def->targets[i].name);
    if (t->nkeys == 0) {
        out->skipped = xstrdup("no primary key or unique key over NOT NULL columns");
        return true;
    }
    if (!plan_table(def, &sides[0], t, &ts)) {
        table_sql_free(&ts);
        return false;
    }
    {
        const char *p[1] = {ts.qualified};
        char *w = who(&ts, def, &sides[0]);
        PGresult *r = pg_query(sides[0].conn, w, SQL_ESTIMATE, 1, p);
        free(w);
        if (r == NULL) {
            table_sql_free(&ts);
            return false;
        }
        est = strtod(PQgetvalue(r, 0, 0), NULL);
        PQclear(r);
    }
    spacing = cmp_initial_spacing(est);
    snprintf(mask, sizeof(mask), "%lld", (long long)(spacing - 1));
    res = xcalloc((size_t)n, sizeof(PGresult *));
    all = xcalloc((size_t)n, sizeof(Side *));
    buckets = xcalloc((size_t)n, sizeof(CmpBucketList));
    for (int i = 0; i < n; i++)
        all[i] = &sides[i];
    {
        char *sql = str_replace_all(ts.digest, "@RANGE@", "true");
        ok = run_all(def, &ts, all, n, sql, 1, params, res);
        free(sql);
    }
    out->queries++;
    if (ok) {
        for (int i = 0; i < n; i++) {
            parse_buckets(res[i], t->nkeys, &buckets[i]);
            PQclear(res[i]);
        }
        out->rows = total(&buckets[0]).count;
        out->checksum = cmp_digest_checksum(total(&buckets[0]));
        for (int i = 1; i < n; i++) {
            out->targets[i - 1].rows = total(&buckets[i]).count;
            out->targets[i - 1].checksum = cmp_digest_checksum(total(&buckets[i]));
        }
    }
    for (int i = 1; ok && i < n; i++)
        ok = compare_target(&ts, &sides[0], &sides[i], &buckets[0], &buckets[i], spacing, out,
                            &out->targets[i - 1]);
    for (int i = 0; i < n; i++)
        cmp_buckets_free(&buckets[i], t->nkeys);
    free(buckets);
    free(all);
    free(res);
    table_sql_free(&ts);
    out->seconds = now_seconds() - started;
    return ok;
}

/* ---------------------------------------------------------------- repair */

/* repair_table - insert every differing key of table r into the source's
 * delta table, in the caller's transaction. */
static bool repair_table(const SyncDef *def, Side *src, const CompareTable *r, long *queued)
{
    const TableDef *t = r->def;
    StrList *cols = xcalloc((size_t)t->nkeys, sizeof(StrList));
    StrBuf names, casts, arrays, ucols;
    char **params = xcalloc((size_t)t->nkeys, sizeof(char *));
    char *delta = capture_object_name("delta", t), *qdelta = pg_quote_ident(src->conn, delta), *sql, *w;
    long n = 0;
    bool ok;

    for (int i = 0; i < r->ntargets; i++) {
        const CmpRowList *lists[3] = {&r->targets[i].missing, &r->targets[i].extra, &r->targets[i].different};
        for (int l = 0; l < 3; l++)
            for (size_t j = 0; j < lists[l]->count; j++, n++)
                for (int k = 0; k < t->nkeys; k++)
                    strlist_add(&cols[k], lists[l]->rows[j].key[k]);
    }
    strbuf_init(&names);
    strbuf_init(&casts);
    strbuf_init(&arrays);
    strbuf_init(&ucols);
    for (int k = 0; k < t->nkeys; k++) {
        char *q = pg_quote_ident(src->conn, t->keycols[k]);
        const char *sep = k ? ", " : "";
        strbuf_printf(&names, "%s%s", sep, q);
        strbuf_printf(&casts, "%su.c%d::%s", sep, k, t->keytypes[k]);
        strbuf_printf(&arrays, "%s$%d::text[]", sep, k + 1);
        strbuf_printf(&ucols, "%sc%d", sep, k);
        params[k] = pg_array_literal(&cols[k]);
        free(q);
    }
    {
        const char *subs[] = {"@DELTA@", qdelta, "@KEYNAMES@", names.data, "@CASTS@", casts.data,
                              "@ARRAYS@", arrays.data, "@UCOLS@", ucols.data};
        sql = fill(SQL_REPAIR, subs, 10);
    }
    w = xasprintf("sync %s: table %s.%s: database %s: repair", def->name, t->schemaname, t->relname, src->db);
    ok = pg_exec(src->conn, w, sql, t->nkeys, (const char *const *)params);
    if (ok)
        *queued += n;
    for (int k = 0; k < t->nkeys; k++) {
        strlist_free(&cols[k]);
        free(params[k]);
    }
    free(w);
    free(sql);
    free(cols);
    free(params);
    free(delta);
    free(qdelta);
    strbuf_free(&names);
    strbuf_free(&casts);
    strbuf_free(&arrays);
    strbuf_free(&ucols);
    return ok;
}

static bool repair(const SyncDef *def, Side *src, CompareResult *out)
{
    char *w = who(NULL, def, src);
    bool ok = pg_exec(src->conn, w, "ROLLBACK", 0, NULL) && pg_exec(src->conn, w, "BEGIN", 0, NULL);

    for (int i = 0; ok && i < out->ntables; i++)
        if (compare_table_differences(&out->tables[i]) > 0)
            ok = repair_table(def, src, &out->tables[i], &out->repaired);
    ok = ok && pg_exec(src->conn, w, "COMMIT", 0, NULL);
    if (!ok)
        out->repaired = 0;
    free(w);
    return ok;
}

/* ---------------------------------------------------------------- driver */

/* open_side - connect, fix the output settings, open the snapshot, and
 * check the server can run the comparison like the source. */
static bool open_side(const SyncDef *def, const DbInfo *db, Side *s, const Side *src)
{
    PGresult *res;
    char *w;
    bool ok;

    s->db = db->name;
    s->conn = dbinfo_connect(db);
    if (s->conn == NULL)
        return false;
    w = who(NULL, def, s);
    res = pg_exec_script(s->conn, w, SQL_SESSION) ? pg_query(s->conn, w, SQL_SERVER, 0, NULL) : NULL;
    ok = res != NULL;
    if (ok && atoi(PQgetvalue(res, 0, 1)) < 140000) {
        fprintf(stderr, "%s: compare needs PostgreSQL 14 or later (bit_xor), this is version %s\n", w,
                PQparameterStatus(s->conn, "server_version"));
        ok = false;
    }
    if (ok && src != NULL) {
        const char *mine = PQgetvalue(res, 0, 0), *theirs = PQparameterStatus(src->conn, "server_encoding");
        if (theirs && strcmp(mine, theirs) != 0) {
            fprintf(stderr, "%s: server encoding %s differs from the source's (%s): rows cannot be compared\n", w,
                    mine, theirs);
            ok = false;
        }
    }
    PQclear(res);
    free(w);
    return ok;
}

long compare_table_differences(const CompareTable *t)
{
    long n = 0;

    for (int i = 0; i < t->ntargets; i++)
        n += (long)(t->targets[i].missing.count + t->targets[i].extra.count + t->targets[i].different.count);
    return n;
}

bool compare_sync(const SyncDef *def, const bool *selected, bool repair_keys, CompareResult *out)
{
    double started = now_seconds();
    Side *sides;
    bool ok = true;

    memset(out, 0, sizeof(*out));
    if (def->nsources != 1) {
        fprintf(stderr, "sync %s: compare supports syncs with one source (this one has %d)\n", def->name,
                def->nsources);
        return false;
    }
    if (def->ntargets == 0) {
        fprintf(stderr, "sync %s: no targets to compare with\n", def->name);
        return false;
    }
    sides = xcalloc((size_t)def->ntargets + 1, sizeof(Side));
    ok = open_side(def, &def->sources[0], &sides[0], NULL);
    for (int i = 0; ok && i < def->ntargets; i++)
        ok = open_side(def, &def->targets[i], &sides[i + 1], &sides[0]);
    out->tables = xcalloc((size_t)def->ntables + 1, sizeof(CompareTable));
    for (int i = 0; ok && i < def->ntables; i++)
        if (selected == NULL || selected[i])
            ok = compare_table(def, sides, &def->tables[i], &out->tables[out->ntables++]);
    if (ok && repair_keys)
        ok = repair(def, &sides[0], out);
    for (int i = 0; i <= def->ntargets; i++)
        if (sides[i].conn)
            PQfinish(sides[i].conn);
    free(sides);
    out->seconds = now_seconds() - started;
    return ok;
}

void compare_result_free(CompareResult *r)
{
    for (int i = 0; i < r->ntables; i++) {
        CompareTable *t = &r->tables[i];
        int nkeys = t->def ? t->def->nkeys : 0;
        for (int j = 0; j < t->ntargets; j++) {
            free(t->targets[j].db);
            cmp_rows_free(&t->targets[j].missing, nkeys);
            cmp_rows_free(&t->targets[j].extra, nkeys);
            cmp_rows_free(&t->targets[j].different, nkeys);
        }
        free(t->targets);
        free(t->skipped);
    }
    free(r->tables);
    memset(r, 0, sizeof(*r));
}
