/*
 * tests/unit/test_compare.c - the pure parts of `bucardo compare`
 * (engine/compare/compare_range.c): combining range digests, merging two sides'
 * bucket lists into segments, diffing (key, row hash) lists, key display
 * order and format, boundary spacing, and JSON string escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compare.h"

/* A digest as a server would report it for the rows with these hashes. */
static CmpDigest digest_of(const uint64_t *hashes, int n)
{
    CmpDigest d = {0, 0};
    for (int i = 0; i < n; i++) {
        CmpDigest one = {1, hashes[i]};
        d = cmp_digest_combine(d, one);
    }
    return d;
}

static void test_digest_combine(void **state)
{
    uint64_t h[5] = {0x1111, 0xdeadbeefcafef00dULL, 42, 0x8000000000000000ULL, 7};
    uint64_t shuffled[5] = {42, 7, 0x1111, 0x8000000000000000ULL, 0xdeadbeefcafef00dULL};
    CmpDigest all = digest_of(h, 5), left = digest_of(h, 2), right = digest_of(h + 2, 3);
    (void)state;

    /* Order does not matter, and adjacent ranges combine into their union. */
    assert_true(cmp_digest_equal(all, digest_of(shuffled, 5)));
    assert_true(cmp_digest_equal(all, cmp_digest_combine(left, right)));
    assert_int_equal(all.count, 5);
    /* A changed row, or a missing one, changes the digest. */
    h[3] ^= 1;
    assert_false(cmp_digest_equal(all, digest_of(h, 5)));
    assert_false(cmp_digest_equal(all, digest_of(h, 4)));
    /* The checksum is a function of the digest alone. */
    assert_true(cmp_digest_checksum(all) == cmp_digest_checksum(digest_of(shuffled, 5)));
    assert_true(cmp_digest_checksum(all) != cmp_digest_checksum(left));
}

static void test_spacing(void **state)
{
    (void)state;
    assert_int_equal(cmp_initial_spacing(0), 64);
    assert_int_equal(cmp_initial_spacing(-1), 64);
    assert_int_equal(cmp_initial_spacing(1000000), 256); /* ~3900 buckets of ~256 rows */
    assert_true(cmp_initial_spacing(1e12) <= ((int64_t)1 << 30));
    assert_int_equal(cmp_next_spacing(256), 16);
    assert_int_equal(cmp_next_spacing(16), 1);
    assert_int_equal(cmp_next_spacing(8), 1);
    assert_int_equal(cmp_next_spacing(1), 1);
}

/* add - a bucket with a one-column key (NULL: bucket 0) and `n` rows. */
static void add(CmpBucketList *l, const char *lo, int64_t n, uint64_t x)
{
    const char *key[1] = {lo};
    CmpDigest d = {n, x};
    cmp_buckets_add(l, 1, lo ? key : NULL, d);
}

static void test_segments_equal_sides(void **state)
{
    CmpBucketList a = {0}, b = {0};
    CmpSegment *s;
    size_t n;
    (void)state;

    add(&a, NULL, 3, 0x10);
    add(&a, "100", 5, 0x20);
    add(&a, "200", 4, 0x30);
    add(&b, NULL, 3, 0x10);
    add(&b, "100", 5, 0x20);
    add(&b, "200", 4, 0x31); /* one row differs in the last bucket */
    n = cmp_segments(&a, &b, 1, &s);
    assert_int_equal(n, 3);
    assert_null(s[0].lo);
    assert_string_equal(s[0].hi[0], "100");
    assert_true(cmp_digest_equal(s[0].a, s[0].b));
    assert_string_equal(s[1].lo[0], "100");
    assert_string_equal(s[1].hi[0], "200");
    assert_true(cmp_digest_equal(s[1].a, s[1].b));
    assert_string_equal(s[2].lo[0], "200");
    assert_null(s[2].hi);
    assert_false(cmp_digest_equal(s[2].a, s[2].b));
    free(s);
    cmp_buckets_free(&a, 1);
    cmp_buckets_free(&b, 1);
}

static void test_segments_one_sided_boundary(void **state)
{
    CmpBucketList a = {0}, b = {0};
    CmpSegment *s;
    size_t n;
    (void)state;

    /* The row with key 150 is a boundary on a and missing on b: b's
     * bucket 100 holds what a splits into 100 and 150.  No bucket 0 on
     * a (its first row is a boundary), one on b. */
    add(&a, "100", 5, 0x1);
    add(&a, "150", 2, 0x2);
    add(&a, "300", 7, 0x4);
    add(&b, NULL, 1, 0x8);
    add(&b, "100", 6, 0x1 ^ 0x2 ^ 0x10);
    add(&b, "300", 7, 0x4);
    n = cmp_segments(&a, &b, 1, &s);
    assert_int_equal(n, 3);
    /* [start, 100): empty on a, one row on b. */
    assert_null(s[0].lo);
    assert_string_equal(s[0].hi[0], "100");
    assert_int_equal(s[0].a.count, 0);
    assert_int_equal(s[0].b.count, 1);
    /* [100, 300): a's two buckets against b's one. */
    assert_string_equal(s[1].lo[0], "100");
    assert_string_equal(s[1].hi[0], "300");
    assert_int_equal(s[1].a.count, 7);
    assert_int_equal(s[1].b.count, 6);
    assert_true(s[1].a.xor == (0x1 ^ 0x2));
    /* [300, end): equal. */
    assert_true(cmp_digest_equal(s[2].a, s[2].b));
    free(s);
    cmp_buckets_free(&a, 1);
    cmp_buckets_free(&b, 1);
}

static void test_segments_empty_and_disordered(void **state)
{
    CmpBucketList a = {0}, b = {0};
    CmpSegment *s;
    size_t n;
    (void)state;

    /* One side empty: one segment over everything. */
    add(&a, NULL, 2, 0x1);
    add(&a, "k", 3, 0x2);
    n = cmp_segments(&a, &b, 1, &s);
    assert_int_equal(n, 1);
    assert_null(s[0].lo);
    assert_null(s[0].hi);
    assert_int_equal(s[0].a.count, 5);
    assert_int_equal(s[0].b.count, 0);
    free(s);
    /* Common keys in another order on b (another collation): the one out
     * of order is not used as a boundary, so segments stay contiguous. */
    add(&a, "m", 1, 0x4);
    add(&b, "m", 1, 0x4);
    add(&b, "k", 3, 0x2);
    n = cmp_segments(&a, &b, 1, &s);
    assert_int_equal(n, 2);
    assert_string_equal(s[1].lo[0], "k");
    assert_null(s[1].hi);
    assert_int_equal(s[1].a.count, 4); /* k and m on a */
    assert_int_equal(s[1].b.count, 3); /* k on b: m came before it */
    assert_int_equal(s[0].a.count + s[1].a.count, 6);
    assert_int_equal(s[0].b.count + s[1].b.count, 4);
    free(s);
    cmp_buckets_free(&a, 1);
    cmp_buckets_free(&b, 1);
}

static void test_segments_composite_keys(void **state)
{
    CmpBucketList a = {0}, b = {0};
    const char *k1[2] = {"ab", "c"}, *k2[2] = {"a", "bc"};
    CmpDigest d = {1, 1};
    CmpSegment *s;
    size_t n;
    (void)state;

    /* ("ab","c") and ("a","bc") are different keys. */
    assert_false(cmp_key_fingerprint(2, k1) == cmp_key_fingerprint(2, k2));
    cmp_buckets_add(&a, 2, k1, d);
    cmp_buckets_add(&b, 2, k2, d);
    n = cmp_segments(&a, &b, 2, &s);
    assert_int_equal(n, 1);
    free(s);
    cmp_buckets_add(&b, 2, k1, d);
    n = cmp_segments(&a, &b, 2, &s);
    assert_int_equal(n, 2);
    assert_string_equal(s[1].lo[0], "ab");
    assert_string_equal(s[1].lo[1], "c");
    free(s);
    cmp_buckets_free(&a, 2);
    cmp_buckets_free(&b, 2);
}

static void row(CmpRowList *l, const char *k1, const char *k2, uint64_t h)
{
    const char *key[2] = {k1, k2};
    cmp_rows_add(l, 2, key, h);
}

static void test_diff(void **state)
{
    CmpRowList a = {0}, b = {0}, only_a = {0}, only_b = {0}, differ = {0};
    (void)state;

    /* Any order on input; a side has each key once. */
    row(&a, "3", "x", 30);
    row(&a, "1", "x", 10);
    row(&a, "2", "x", 20);
    row(&a, "5", "y", 50);
    row(&a, "ab", "c", 7);
    row(&b, "2", "x", 21); /* different */
    row(&b, "1", "x", 10); /* equal */
    row(&b, "4", "x", 40); /* extra */
    row(&b, "5", "y", 50); /* equal */
    row(&b, "a", "bc", 7); /* extra: not ("ab","c") */
    cmp_diff(&a, &b, 2, &only_a, &only_b, &differ);
    assert_int_equal(a.count, 0);
    assert_int_equal(b.count, 0);
    cmp_rows_sort(&only_a, 2);
    cmp_rows_sort(&only_b, 2);
    assert_int_equal(only_a.count, 2);
    assert_string_equal(only_a.rows[0].key[0], "3");
    assert_string_equal(only_a.rows[1].key[0], "ab");
    assert_int_equal(only_b.count, 2);
    assert_string_equal(only_b.rows[0].key[0], "4");
    assert_string_equal(only_b.rows[1].key[0], "a");
    assert_string_equal(only_b.rows[1].key[1], "bc");
    assert_int_equal(differ.count, 1);
    assert_string_equal(differ.rows[0].key[0], "2");
    assert_true(differ.rows[0].hash == 20); /* a's row is kept */

    /* Diffing the two one-sided lists again finds nothing in common. */
    cmp_diff(&only_a, &only_b, 2, &a, &b, &differ);
    assert_int_equal(a.count, 2);
    assert_int_equal(b.count, 2);
    assert_int_equal(differ.count, 1);
    cmp_rows_free(&a, 2);
    cmp_rows_free(&b, 2);
    cmp_rows_free(&differ, 2);
    cmp_rows_free(&only_a, 2);
    cmp_rows_free(&only_b, 2);
}

static void test_diff_many(void **state)
{
    CmpRowList a = {0}, b = {0}, only_a = {0}, only_b = {0}, differ = {0};
    char k[32];
    (void)state;

    /* 5000 keys; every 7th missing on b, every 11th changed on b. */
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "%d", i);
        row(&a, k, "", (uint64_t)i * 2654435761u);
        if (i % 7 != 0)
            row(&b, k, "", (uint64_t)i * 2654435761u + (i % 11 == 0));
    }
    cmp_diff(&a, &b, 2, &only_a, &only_b, &differ);
    assert_int_equal(only_a.count, 715); /* 0, 7, ..., 4998 */
    assert_int_equal(only_b.count, 0);
    assert_int_equal(differ.count, 455 - 65); /* multiples of 11, minus those of 77 */
    cmp_rows_sort(&differ, 2);
    assert_string_equal(differ.rows[0].key[0], "11");
    assert_string_equal(differ.rows[1].key[0], "22");
    cmp_rows_free(&only_a, 2);
    cmp_rows_free(&differ, 2);
}

static void test_key_order(void **state)
{
    const char *a[1] = {"9"}, *b[1] = {"10"}, *c[1] = {"-5"}, *d[1] = {"abc"}, *e[1] = {"abd"};
    const char *f[1] = {"-10"}, *g[1] = {"007"}, *h[1] = {"7"};
    const char *m1[2] = {"1", "b"}, *m2[2] = {"1", "a"}, *m3[2] = {"2", "a"};
    (void)state;

    assert_true(cmp_key_compare(1, a, b) < 0);
    assert_true(cmp_key_compare(1, c, a) < 0);
    assert_true(cmp_key_compare(1, f, c) < 0);
    assert_true(cmp_key_compare(1, d, e) < 0);
    assert_true(cmp_key_compare(1, b, d) < 0); /* text compares bytewise */
    assert_int_equal(cmp_key_compare(1, g, h), 0);
    assert_true(cmp_key_compare(2, m2, m1) < 0);
    assert_true(cmp_key_compare(2, m1, m3) < 0);
}

static void test_key_format(void **state)
{
    char *cols[2] = {"id", "Key Col"};
    const char *k1[2] = {"42", "plain_word-1.5"}, *k2[2] = {"-7", "it's x"}, *k3[2] = {"1", ""};
    StrBuf sb;
    (void)state;

    strbuf_init(&sb);
    cmp_key_format(&sb, 1, cols, k1);
    assert_string_equal(sb.data, "id=42");
    strbuf_reset(&sb);
    cmp_key_format(&sb, 2, cols, k1);
    assert_string_equal(sb.data, "id=42, Key Col=plain_word-1.5");
    strbuf_reset(&sb);
    cmp_key_format(&sb, 2, cols, k2);
    assert_string_equal(sb.data, "id=-7, Key Col='it''s x'");
    strbuf_reset(&sb);
    cmp_key_format(&sb, 2, cols, k3);
    assert_string_equal(sb.data, "id=1, Key Col=''");
    strbuf_free(&sb);
}

static void test_json_string(void **state)
{
    StrBuf sb;
    (void)state;

    strbuf_init(&sb);
    cmp_json_string(&sb, "plain");
    assert_string_equal(sb.data, "\"plain\"");
    strbuf_reset(&sb);
    cmp_json_string(&sb, "q\"b\\s/");
    assert_string_equal(sb.data, "\"q\\\"b\\\\s/\"");
    strbuf_reset(&sb);
    cmp_json_string(&sb, "t\tn\nr\rb\bf\f\x01\x1f");
    assert_string_equal(sb.data, "\"t\\tn\\nr\\rb\\bf\\f\\u0001\\u001f\"");
    strbuf_reset(&sb);
    cmp_json_string(&sb, "ünï 🐘\x7f");
    assert_string_equal(sb.data, "\"ünï 🐘\x7f\"");
    strbuf_reset(&sb);
    cmp_json_string(&sb, "");
    assert_string_equal(sb.data, "\"\"");
    strbuf_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_combine),
        cmocka_unit_test(test_spacing),
        cmocka_unit_test(test_segments_equal_sides),
        cmocka_unit_test(test_segments_one_sided_boundary),
        cmocka_unit_test(test_segments_empty_and_disordered),
        cmocka_unit_test(test_segments_composite_keys),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_diff_many),
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_key_format),
        cmocka_unit_test(test_json_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
