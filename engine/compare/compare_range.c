/*
 * engine/compare/compare_range.c - the pure parts of `bucardo compare`: range
 * digests, merging two servers' bucket lists into comparable segments,
 * diffing (key, row hash) lists, key display and JSON strings.
 *
 * Nothing here talks to a server, so the unit tests (tests/unit/
 * test_compare.c) drive all of it directly.  The servers hash rows in SQL
 * (they have no xxHash); the client uses XXH3 where it does its own
 * hashing: key fingerprints (so sorting, merging and boundary lookups
 * compare one 64-bit number instead of several strings) and the checksum
 * shown for a whole table.
 */
#include "compare.h"

#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* ---------------------------------------------------------------- keys */

uint64_t cmp_key_fingerprint(int nkeys, const char *const *key)
{
    XXH3_state_t st;

    XXH3_64bits_reset(&st);
    for (int k = 0; k < nkeys; k++) {
        /* Length-prefixed, so ("ab","c") and ("a","bc") differ. */
        uint64_t len = strlen(key[k]);
        XXH3_64bits_update(&st, &len, sizeof(len));
        XXH3_64bits_update(&st, key[k], (size_t)len);
    }
    return XXH3_64bits_digest(&st);
}

bool cmp_key_equal(int nkeys, const char *const *a, const char *const *b)
{
    for (int k = 0; k < nkeys; k++)
        if (strcmp(a[k], b[k]) != 0)
            return false;
    return true;
}

char **cmp_key_dup(int nkeys, const char *const *key)
{
    char **out;

    if (key == NULL)
        return NULL;
    out = xcalloc((size_t)nkeys, sizeof(char *));
    for (int k = 0; k < nkeys; k++)
        out[k] = xstrdup(key[k]);
    return out;
}

void cmp_key_free(int nkeys, char **key)
{
    if (key == NULL)
        return;
    for (int k = 0; k < nkeys; k++)
        free(key[k]);
    free(key);
}

/* ---------------------------------------------------------------- lists */

void cmp_rows_add(CmpRowList *l, int nkeys, const char *const *key, uint64_t hash)
{
    CmpRow *r;

    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->rows = xrealloc(l->rows, l->cap * sizeof(CmpRow));
    }
    r = &l->rows[l->count++];
    r->key = cmp_key_dup(nkeys, key);
    r->fp = cmp_key_fingerprint(nkeys, key);
    r->hash = hash;
}

/* rows_take - append a row, taking over its key. */
static void rows_take(CmpRowList *l, CmpRow *row)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->rows = xrealloc(l->rows, l->cap * sizeof(CmpRow));
    }
    l->rows[l->count++] = *row;
    row->key = NULL;
}

void cmp_rows_free(CmpRowList *l, int nkeys)
{
    for (size_t i = 0; i < l->count; i++)
        cmp_key_free(nkeys, l->rows[i].key);
    free(l->rows);
    memset(l, 0, sizeof(*l));
}

void cmp_buckets_add(CmpBucketList *l, int nkeys, const char *const *lo, CmpDigest d)
{
    CmpBucket *b;

    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->items = xrealloc(l->items, l->cap * sizeof(CmpBucket));
    }
    b = &l->items[l->count++];
    b->lo = cmp_key_dup(nkeys, lo);
    b->fp = lo ? cmp_key_fingerprint(nkeys, lo) : 0;
    b->d = d;
}

void cmp_buckets_free(CmpBucketList *l, int nkeys)
{
    for (size_t i = 0; i < l->count; i++)
        cmp_key_free(nkeys, l->items[i].lo);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* ---------------------------------------------------------------- digests */

CmpDigest cmp_digest_combine(CmpDigest a, CmpDigest b)
{
    CmpDigest d = {a.count + b.count, a.xor ^b.xor };
    return d;
}

bool cmp_digest_equal(CmpDigest a, CmpDigest b)
{
    return a.count == b.count && a.xor == b.xor ;
}

uint64_t cmp_digest_checksum(CmpDigest d)
{
    unsigned char buf[16];

    /* Fixed byte order, so the checksum is the same on every client. */
    for (int i = 0; i < 8; i++) {
        buf[i] = (unsigned char)((uint64_t)d.count >> (8 * i));
        buf[8 + i] = (unsigned char)(d.xor >> (8 * i));
    }
    return XXH3_64bits(buf, sizeof(buf));
}

int64_t cmp_initial_spacing(double estimated_rows)
{
    /* About 4096 buckets: small enough that a bucket that differs is
     * usually listed at once, few enough to send over in one result. */
    int64_t s = 64;

    while (s < ((int64_t)1 << 30) && (double)s * 4096.0 < estimated_rows)
        s *= 2;
    return s;
}

int64_t cmp_next_spacing(int64_t spacing)
{
    return spacing >= 16 ? spacing / 16 : 1;
}

/* ---------------------------------------------------------------- segments */

typedef struct FpIndex {
    uint64_t fp;
    size_t idx;
} FpIndex;

static int fp_index_cmp(const void *x, const void *y)
{
    const FpIndex *a = x, *b = y;

    if (a->fp != b->fp)
        return a->fp < b->fp ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* find_boundary - the index in b of the bucket whose lo is `key`, or -1. */
static long find_boundary(const FpIndex *index, size_t n, const CmpBucketList *b, int nkeys, uint64_t fp,
                          char *const *key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (index[mid].fp < fp)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < n && index[lo].fp == fp; lo++)
        if (cmp_key_equal(nkeys, (const char *const *)b->items[index[lo].idx].lo, (const char *const *)key))
            return (long)index[lo].idx;
    return -1;
}

static CmpDigest sum_buckets(const CmpBucketList *l, size_t from, size_t to)
{
    CmpDigest d = {0, 0};

    for (size_t i = from; i < to; i++)
        d = cmp_digest_combine(d, l->items[i].d);
    return d;
}

size_t cmp_segments(const CmpBucketList *a, const CmpBucketList *b, int nkeys, CmpSegment **out)
{
    FpIndex *index = xcalloc(b->count, sizeof(FpIndex));
    size_t n = 0, cap = 16, sa = 0, sb = 0;
    long last_j = -1;
    char **lo = NULL;
    CmpSegment *segs = xcalloc(cap, sizeof(CmpSegment));
    size_t nindex = 0;

    for (size_t j = 0; j < b->count; j++)
        if (b->items[j].lo != NULL) {
            index[nindex].fp = b->items[j].fp;
            index[nindex++].idx = j;
        }
    qsort(index, nindex, sizeof(FpIndex), fp_index_cmp);
    for (size_t i = 0; i <= a->count; i++) {
        long j;
        if (i < a->count) {
            if (a->items[i].lo == NULL)
                continue;
            j = find_boundary(index, nindex, b, nkeys, a->items[i].fp, a->items[i].lo);
            /* A key the other side has before the current segment's start
             * is out of order there: not a usable common boundary. */
            if (j <= last_j)
                continue;
        } else {
            j = (long)b->count; /* the end of both lists closes the last segment */
        }
        if (n == cap) {
            cap *= 2;
            segs = xrealloc(segs, cap * sizeof(CmpSegment));
        }
        segs[n].lo = lo;
        segs[n].hi = i < a->count ? a->items[i].lo : NULL;
        segs[n].a = sum_buckets(a, sa, i);
        segs[n].b = sum_buckets(b, sb, (size_t)j);
        n++;
        if (i < a->count) {
            lo = a->items[i].lo;
            sa = i;
            sb = (size_t)j;
            last_j = j;
        }
    }
    free(index);
    *out = segs;
    return n;
}

/* ---------------------------------------------------------------- diff */

/* The sort order of cmp_diff: fingerprint first, then the key's text. */
static int row_fp_cmp(const CmpRow *a, const CmpRow *b, int nkeys)
{
    if (a->fp != b->fp)
        return a->fp < b->fp ? -1 : 1;
    for (int k = 0; k < nkeys; k++) {
        int c = strcmp(a->key[k], b->key[k]);
        if (c != 0)
            return c;
    }
    return 0;
}

/* A small merge sort: qsort has no context argument in C11, and a global
 * nkeys would be shared mutable state. */
static void sort_rows(CmpRow *rows, size_t n, CmpRow *tmp, int nkeys,
                      int (*cmp)(const CmpRow *, const CmpRow *, int))
{
    size_t mid, i, j, k;

    if (n < 2)
        return;
    mid = n / 2;
    sort_rows(rows, mid, tmp, nkeys, cmp);
    sort_rows(rows + mid, n - mid, tmp, nkeys, cmp);
    if (cmp(&rows[mid - 1], &rows[mid], nkeys) <= 0)
        return;
    memcpy(tmp, rows, n * sizeof(CmpRow));
    for (i = 0, j = mid, k = 0; i < mid && j < n;)
        rows[k++] = cmp(&tmp[j], &tmp[i], nkeys) < 0 ? tmp[j++] : tmp[i++];
    while (i < mid)
        rows[k++] = tmp[i++];
    while (j < n)
        rows[k++] = tmp[j++];
}

static void sort_list(CmpRowList *l, int nkeys, int (*cmp)(const CmpRow *, const CmpRow *, int))
{
    CmpRow *tmp = xcalloc(l->count, sizeof(CmpRow));

    sort_rows(l->rows, l->count, tmp, nkeys, cmp);
    free(tmp);
}

void cmp_diff(CmpRowList *a, CmpRowList *b, int nkeys, CmpRowList *only_a, CmpRowList *only_b,
              CmpRowList *differ)
{
    size_t i = 0, j = 0;

    sort_list(a, nkeys, row_fp_cmp);
    sort_list(b, nkeys, row_fp_cmp);
    while (i < a->count || j < b->count) {
        int c = i == a->count ? 1 : j == b->count ? -1 : row_fp_cmp(&a->rows[i], &b->rows[j], nkeys);
        if (c < 0) {
            rows_take(only_a, &a->rows[i++]);
        } else if (c > 0) {
            rows_take(only_b, &b->rows[j++]);
        } else {
            if (a->rows[i].hash != b->rows[j].hash)
                rows_take(differ, &a->rows[i]);
            i++;
            j++;
        }
    }
    cmp_rows_free(a, nkeys);
    cmp_rows_free(b, nkeys);
}

/* ---------------------------------------------------------------- display */

/* integer_text - whether s is [-]digits; *digits points at the digits
 * without leading zeros. */
static bool integer_text(const char *s, bool *negative, const char **digits)
{
    const char *p = s;

    *negative = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (*p == '\0')
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    while (p[0] == '0' && p[1] != '\0')
        p++;
    *digits = p;
    if (strcmp(p, "0") == 0)
        *negative = false;
    return true;
}

static int text_compare(const char *a, const char *b)
{
    bool na, nb;
    const char *da, *db;

    if (integer_text(a, &na, &da) && integer_text(b, &nb, &db)) {
        size_t la = strlen(da), lb = strlen(db);
        int c;
        if (na != nb)
            return na ? -1 : 1;
        c = la != lb ? (la < lb ? -1 : 1) : strcmp(da, db);
        c = c < 0 ? -1 : c > 0;
        return na ? -c : c;
    }
    return strcmp(a, b);
}

int cmp_key_compare(int nkeys, const char *const *a, const char *const *b)
{
    for (int k = 0; k < nkeys; k++) {
        int c = text_compare(a[k], b[k]);
        if (c != 0)
            return c;
    }
    return 0;
}

static int row_display_cmp(const CmpRow *a, const CmpRow *b, int nkeys)
{
    return cmp_key_compare(nkeys, (const char *const *)a->key, (const char *const *)b->key);
}

void cmp_rows_sort(CmpRowList *l, int nkeys)
{
    sort_list(l, nkeys, row_display_cmp);
}

/* plain_word - a value that reads unambiguously without quotes. */
static bool plain_word(const char *s)
{
    if (*s == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '.' || *p == '-' || *p == '+' || *p == ':'))
            return false;
    return true;
}

void cmp_key_format(StrBuf *sb, int nkeys, char *const *cols, const char *const *key)
{
    for (int k = 0; k < nkeys; k++) {
        strbuf_printf(sb, "%s%s=", k ? ", " : "", cols[k]);
        if (plain_word(key[k])) {
            strbuf_append(sb, key[k]);
            continue;
        }
        strbuf_append(sb, "'");
        for (const char *p = key[k]; *p; p++) {
            if (*p == '\'')
                strbuf_append(sb, "''");
            else
                strbuf_append_len(sb, p, 1);
        }
        strbuf_append(sb, "'");
    }
}

void cmp_json_string(StrBuf *sb, const char *s)
{
    strbuf_append(sb, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': strbuf_append(sb, "\\\""); break;
        case '\\': strbuf_append(sb, "\\\\"); break;
        case '\b': strbuf_append(sb, "\\b"); break;
        case '\f': strbuf_append(sb, "\\f"); break;
        case '\n': strbuf_append(sb, "\\n"); break;
        case '\r': strbuf_append(sb, "\\r"); break;
        case '\t': strbuf_append(sb, "\\t"); break;
        default:
            if (*p < 0x20)
                strbuf_printf(sb, "\\u%04x", *p);
            else
                strbuf_append_len(sb, (const char *)p, 1);
        }
    }
    strbuf_append(sb, "\"");
}
