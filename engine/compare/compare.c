/*
 * engine/compare/compare.c - `bucardo compare`: compare a sync's tables on its
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
 *  - The first ranges of a table with one fixed-length key column come
 *    from the source's statistics (pg_stats histogram, about 100 ranges):
 *    both servers bucket by the same array at once with width_bucket(),
 *    and no boundary needs finding first.
 *  - Otherwise, and inside ranges that differ, ranges are cut at
 *    content-defined boundaries, as rsync cuts files: a key starts a bucket
 *    when a hash of the key is 0 modulo the spacing.  Each server finds its
 *    own boundaries and digests its buckets in one statement (one key
 *    column of a fixed-length type: the boundaries into an array, then a
 *    plain, parallel scan that finds each row's bucket with width_bucket();
 *    other keys: a window over the key order counting boundaries), so both
 *    sides work at the same time and neither waits for the other's
 *    boundary list; a missing or extra key moves no boundary but its own.
 *    The client merges the two bucket lists at the boundaries both have
 *    (cmp_segments) and compares the segments.
 *  - A segment that differs is split again with a smaller spacing (range
 *    conditions on the key use the primary key's index) until it holds at
 *    most COMPARE_LEAF_ROWS rows; then both sides send the (key, row hash)
 *    pairs of all such ranges in a few statements and the client diffs
 *    them all at once (so a key the two servers order differently is still
 *    matched with itself).
 *  - A target with a customname is read under that name; one with
 *    customcols is compared with the source's rows as that select list
 *    makes them.
 *
 * The client uses XXH3 for its own hashing (key fingerprints, the table
 * checksum), in compare_range.c.  Every statement is built and run in
 * compare_sql.c.
 *
 * --repair inserts the differing keys into the source's delta table: the
 * next cycle deletes them on the targets and copies the source's rows, so
 * a missing key is copied, an extra one deleted, a different one replaced.
 */
#include "compare_internal.h"

#include "target_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ranges fetched row by row in one statement (each takes 2 * nkeys parameters). */
#define RANGES_PER_STATEMENT 200

/* A key range still to examine: lo <= key < hi (NULL: unbounded). */
typedef struct Range {
    char **lo;
    char **hi;
    int64_t spacing; /* the spacing to split it with */
    int64_t rows;    /* the larger side's row count */
} Range;

typedef struct RangeList {
    Range *items;
    size_t count;
    size_t cap;
} RangeList;

/* run_pair - sql_a on a and sql_b on b at once, as cmpsql_run. */
static bool run_pair(const TableSql *ts, Side *a, Side *b, const char *sql_a, const char *sql_b, int nparams,
                     const char *const *params, PGresult **ra, PGresult **rb)
{
    Side *sides[2] = {a, b};
    const char *sql[2] = {sql_a, sql_b};
    PGresult *res[2];
    bool ok = cmpsql_run(ts, sides, 2, sql, nparams, params, res);

    *ra = res[0];
    *rb = res[1];
    return ok;
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

/* The two sides of one comparison: the source and target i, each with
 * its statements for the table. */
typedef struct Pair {
    TableSql *ts;
    Side *src;
    Side *tgt;
    const SideSql *src_sql;
    const SideSql *tgt_sql;
} Pair;

/* run_range - each side's digest (or rows) statement with @RANGE@ = cond,
 * on both sides of p at once. */
static bool run_range(Pair *p, bool digest, const char *cond, const StrList *params, PGresult **ra,
                      PGresult **rb)
{
    char *sa = cmpsql_statement(p->ts, p->src_sql, digest ? STMT_DIGEST : STMT_ROWS, cond);
    char *sb = cmpsql_statement(p->ts, p->tgt_sql, digest ? STMT_DIGEST : STMT_ROWS, cond);
    bool ok =
        run_pair(p->ts, p->src, p->tgt, sa, sb, params->count, (const char *const *)params->items, ra, rb);

    free(sa);
    free(sb);
    return ok;
}

/* fetch_rows - the (key, row hash) pairs of the leaf ranges from both sides. */
static bool fetch_rows(Pair *p, const RangeList *leaves, int64_t table_rows, CompareTable *out, CmpRowList *a,
                       CmpRowList *b)
{
    int64_t wanted = 0;
    bool whole, ok = true;

    for (size_t i = 0; i < leaves->count; i++)
        wanted += leaves->items[i].rows;
    /* Most of the table differs: one scan beats many range conditions. */
    whole = wanted > table_rows / 2;
    for (size_t i = 0; ok && i < leaves->count; i += RANGES_PER_STATEMENT) {
        StrBuf cond;
        StrList params = {0};
        PGresult *ra, *rb;

        strbuf_init(&cond);
        if (whole) {
            strbuf_append(&cond, "true");
            i = leaves->count; /* one statement for all */
        } else {
            for (size_t j = i; j < leaves->count && j < i + RANGES_PER_STATEMENT; j++) {
                strbuf_append(&cond, j > i ? " OR (" : "(");
                cmpsql_append_range(&cond, p->ts, leaves->items[j].lo, leaves->items[j].hi, &params);
                strbuf_append(&cond, ")");
            }
        }
        ok = run_range(p, false, cond.data, &params, &ra, &rb);
        out->queries++;
        if (ok) {
            cmpsql_parse_rows(ra, p->ts->t->nkeys, a);
            cmpsql_parse_rows(rb, p->ts->t->nkeys, b);
        }
        PQclear(ra);
        PQclear(rb);
        strlist_free(&params);
        strbuf_free(&cond);
    }
    return ok;
}

/*
 * compare_target - narrow the differences between the source's and one
 * target's first buckets (split with spacing0) down to keys.
 */
static bool compare_target(Pair *p, const CmpBucketList *a0, const CmpBucketList *b0, int64_t spacing0,
                           CompareTable *out, CompareTarget *res)
{
    int nkeys = p->ts->t->nkeys;
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

        snprintf(mask, sizeof(mask), "%lld", (long long)(r.spacing - 1));
        strlist_add(&params, mask);
        strbuf_init(&cond);
        cmpsql_append_range(&cond, p->ts, r.lo, r.hi, &params);
        ok = run_range(p, true, cond.data, &params, &ra, &rb);
        out->queries++;
        if (ok) {
            CmpBucketList ba = {0}, bb = {0};
            cmpsql_parse_buckets(ra, nkeys, &ba);
            cmpsql_parse_buckets(rb, nkeys, &bb);
            triage(&ba, &bb, nkeys, &r, r.spacing, &split, &leaves);
            cmp_buckets_free(&ba, nkeys);
            cmp_buckets_free(&bb, nkeys);
        }
        PQclear(ra);
        PQclear(rb);
        strlist_free(&params);
        strbuf_free(&cond);
        cmp_key_free(nkeys, r.lo);
        cmp_key_free(nkeys, r.hi);
    }
    if (ok && leaves.count > 0) {
        int64_t rows = total(a0).count > total(b0).count ? total(a0).count : total(b0).count;
        ok = fetch_rows(p, &leaves, rows, out, &a, &b);
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
 * first_buckets - the buckets of the whole table on n sides at once: at
 * the boundaries `given` (an array literal, see cmpsql_histogram) when
 * not NULL, else at content-defined ones of `spacing`.
 */
static bool first_buckets(TableSql *ts, Side **sides, const SideSql **sql, int n, const char *given,
                          int64_t spacing, CompareTable *out, CmpBucketList *buckets)
{
    char mask[32];
    const char *params[1] = {given ? given : mask};
    const char **text = xcalloc((size_t)n, sizeof(char *));
    PGresult **res = xcalloc((size_t)n, sizeof(PGresult *));
    bool ok;

    snprintf(mask, sizeof(mask), "%lld", (long long)(spacing - 1));
    for (int i = 0; i < n; i++)
        text[i] = cmpsql_statement(ts, sql[i], given ? STMT_GIVEN : STMT_DIGEST, "true");
    ok = cmpsql_run(ts, sides, n, text, 1, params, res);
    out->queries++;
    for (int i = 0; i < n; i++) {
        if (ok)
            cmpsql_parse_buckets(res[i], ts->t->nkeys, &buckets[i]);
        PQclear(res[i]);
        free((char *)text[i]);
    }
    free(text);
    free(res);
    return ok;
}

/*
 * compare_table - one table on the source and every target: the first
 * split runs on all servers at once, then each target is narrowed down.
 */
static bool compare_table(const SyncDef *def, Side *sides, const TableDef *t, CompareTable *out)
{
    int n = def->ntargets + 1;
    double started = monotonic_seconds(), est;
    TableSql ts;
    Side **all;
    const SideSql **sql;
    CmpBucketList *buckets;
    char *given = NULL;
    int64_t spacing, spacing0;
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
    if (!cmpsql_plan_table(def, sides, t, &ts) || !cmpsql_estimate(&ts, &sides[0], &est) ||
        !cmpsql_histogram(&ts, &sides[0], &given)) {
        cmpsql_table_free(&ts);
        return false;
    }
    spacing = cmp_initial_spacing(est);
    /* Buckets of the histogram are larger: they split at the usual spacing. */
    spacing0 = given ? spacing * 16 : spacing;
    all = xcalloc((size_t)n, sizeof(Side *));
    sql = xcalloc((size_t)n, sizeof(SideSql *));
    buckets = xcalloc((size_t)n, sizeof(CmpBucketList));
    for (int i = 0; i < n; i++) {
        all[i] = &sides[i];
        sql[i] = i == 0 ? &ts.src : &ts.tgt[i - 1];
    }
    ok = first_buckets(&ts, all, sql, n, given, spacing, out, buckets);
    if (ok) {
        out->rows = total(&buckets[0]).count;
        out->checksum = cmp_digest_checksum(total(&buckets[0]));
    }
    for (int i = 1; ok && i < n; i++) {
        CompareTarget *res = &out->targets[i - 1];
        Pair p = {&ts, &sides[0], &sides[i], &ts.src, &ts.tgt[i - 1]};
        CmpBucketList custom = {0}, *a0 = &buckets[0];

        if (ts.tsrc[i - 1].table) {
            /* customcols: the source's rows as this target receives them. */
            p.src_sql = &ts.tsrc[i - 1];
            ok = first_buckets(&ts, all, &p.src_sql, 1, given, spacing, out, &custom);
            a0 = &custom;
        }
        res->rows = total(&buckets[i]).count;
        res->checksum = cmp_digest_checksum(total(&buckets[i]));
        res->source_checksum = cmp_digest_checksum(total(a0));
        ok = ok && compare_target(&p, a0, &buckets[i], spacing0, out, res);
        cmp_buckets_free(&custom, t->nkeys);
    }
    for (int i = 0; i < n; i++)
        cmp_buckets_free(&buckets[i], t->nkeys);
    free(buckets);
    free(all);
    free(sql);
    free(given);
    cmpsql_table_free(&ts);
    out->seconds = monotonic_seconds() - started;
    return ok;
}

/* ---------------------------------------------------------------- repair */

/* repair - end the source's read-only snapshot and commit every differing
 * key of every table into its delta table, in one transaction. */
static bool repair(const SyncDef *def, Side *src, CompareResult *out)
{
    char *w = cmpsql_who(NULL, def, src);
    bool ok = pg_exec(src->conn, w, "ROLLBACK", 0, NULL) && pg_exec(src->conn, w, "BEGIN", 0, NULL);

    for (int i = 0; ok && i < out->ntables; i++)
        if (compare_table_differences(&out->tables[i]) > 0)
            ok = cmpsql_queue_keys(def, src, &out->tables[i], &out->repaired);
    ok = ok && pg_exec(src->conn, w, "COMMIT", 0, NULL);
    if (!ok)
        out->repaired = 0;
    free(w);
    return ok;
}

/* ---------------------------------------------------------------- driver */

long compare_table_differences(const CompareTable *t)
{
    long n = 0;

    for (int i = 0; i < t->ntargets; i++)
        n += (long)(t->targets[i].missing.count + t->targets[i].extra.count + t->targets[i].different.count);
    return n;
}

/*
 * compare_other_targets - ct holds the results of the PostgreSQL targets
 * (compare_table on them alone): give it one per target of def, in def's
 * order, comparing those of other kinds row by row.
 */
static bool compare_other_targets(const SyncDef *def, Side *sides, CompareTable *ct)
{
    CompareTarget *all = xcalloc((size_t)def->ntargets + 1, sizeof(CompareTarget));
    bool ok = true;

    for (int i = 0, pg = 0; i < def->ntargets; i++) {
        if (target_kind_is_pg(def->targets[i].dbtype)) {
            all[i] = ct->targets[pg++];
            continue;
        }
        all[i].db = xstrdup(def->targets[i].name);
        if (ok && ct->skipped == NULL)
            ok = cmprows_target(def, &sides[0], &def->targets[i], ct->def, ct, &all[i]);
    }
    free(ct->targets);
    ct->targets = all;
    ct->ntargets = def->ntargets;
    return ok;
}

bool compare_sync(const SyncDef *def, const bool *selected, bool repair_keys, CompareResult *out)
{
    double started = monotonic_seconds();
    SyncDef pgdef;
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
    pgdef = *def;
    pgdef.targets = xcalloc((size_t)def->ntargets + 1, sizeof(DbInfo));
    pgdef.ntargets = 0;
    for (int i = 0; i < def->ntargets; i++) {
        char why[200];
        if (target_kind_is_pg(def->targets[i].dbtype)) {
            pgdef.targets[pgdef.ntargets++] = def->targets[i];
            continue;
        }
        if (!cmprows_readable(&def->targets[i], why, sizeof(why))) {
            fprintf(stderr, "sync %s: compare cannot read target %s (type %s): %s\n", def->name,
                    def->targets[i].name, def->targets[i].dbtype, why);
            free(pgdef.targets);
            return false;
        }
    }
    /* PostgreSQL targets are compared by digests on the servers; the
     * others row by row here (compare_rows.c), on the source's snapshot. */
    sides = xcalloc((size_t)pgdef.ntargets + 1, sizeof(Side));
    ok = cmpsql_open(def, &def->sources[0], &sides[0], NULL);
    for (int i = 0; ok && i < pgdef.ntargets; i++)
        ok = cmpsql_open(def, &pgdef.targets[i], &sides[i + 1], &sides[0]);
    out->tables = xcalloc((size_t)def->ntables + 1, sizeof(CompareTable));
    for (int i = 0; ok && i < def->ntables; i++)
        if (selected == NULL || selected[i]) {
            CompareTable *ct = &out->tables[out->ntables++];
            ok = compare_table(&pgdef, sides, &def->tables[i], ct) && compare_other_targets(def, sides, ct);
        }
    if (ok && repair_keys)
        ok = repair(def, &sides[0], out);
    for (int i = 0; i <= pgdef.ntargets; i++)
        if (sides[i].conn)
            PQfinish(sides[i].conn);
    free(sides);
    free(pgdef.targets);
    out->seconds = monotonic_seconds() - started;
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
