/*
 * tests/unit/test_conflict.c - conflict rules (who wins for each
 * strategy) and the key set that finds keys changed on several sources.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conflict.h"
#include "keyset.h"

static char *SOURCES[] = {"A", "B", "C"};

static ConflictRule rule(const char *text)
{
    ConflictRule r;
    assert_true(conflict_rule_parse(text, SOURCES, 3, &r));
    return r;
}

static void test_parse(void **state)
{
    ConflictRule r;
    (void)state;
    assert_true(conflict_rule_parse("bucardo_latest", SOURCES, 3, &r) && r.kind == CONFLICT_LATEST);
    assert_true(conflict_rule_parse("bucardo_custom", SOURCES, 3, &r) && r.kind == CONFLICT_CUSTOM);
    assert_true(conflict_rule_parse("C,A", SOURCES, 3, &r) && r.kind == CONFLICT_LIST);
    assert_int_equal(r.norder, 2);
    assert_int_equal(r.order[0], 2);
    assert_false(conflict_rule_parse("C,D", SOURCES, 3, &r));
    assert_false(conflict_rule_parse("A,A", SOURCES, 3, &r));
    assert_false(conflict_rule_parse("bucardo_nonsense", SOURCES, 3, &r));
    assert_false(conflict_rule_parse("", SOURCES, 3, &r));
}

static void test_winners(void **state)
{
    double t[3] = {10.0, 30.0, 20.0};
    ConflictRule r;
    (void)state;

    r = rule("bucardo_source");
    assert_int_equal(conflict_winner(&r, 0x6, 3, t, -1, 0), 1); /* B and C: B listed first */
    r = rule("bucardo_target");
    assert_int_equal(conflict_winner(&r, 0x3, 3, t, -1, 0), 1);
    r = rule("bucardo_latest");
    assert_int_equal(conflict_winner(&r, 0x7, 3, t, -1, 0), 1);
    assert_int_equal(conflict_winner(&r, 0x5, 3, t, -1, 0), 2);
    r = rule("bucardo_custom"); /* keys the codes left undecided: the latest change */
    assert_int_equal(conflict_winner(&r, 0x7, 3, t, -1, 0), 1);
    assert_int_equal(conflict_winner(&r, 0x5, 3, t, -1, 0), 2);
    r = rule("bucardo_skip");
    assert_int_equal(conflict_winner(&r, 0x3, 3, t, -1, 0), CONFLICT_NO_WINNER);
    r = rule("bucardo_abort");
    assert_int_equal(conflict_winner(&r, 0x3, 3, t, -1, 0), CONFLICT_FAIL);
    r = rule("bucardo_latest_all_tables");
    assert_int_equal(conflict_winner(&r, 0x3, 3, t, 0, 0), 0); /* A is the cycle's latest */
    assert_int_equal(conflict_winner(&r, 0x6, 3, t, 0, 0), 1); /* A not involved: latest of the key */
    r = rule("C,A");
    assert_int_equal(conflict_winner(&r, 0x7, 3, t, -1, 0), 2);
    assert_int_equal(conflict_winner(&r, 0x3, 3, t, -1, 0), 0);
    assert_int_equal(conflict_winner(&r, 0x2, 3, t, -1, 0), 1); /* only B changed it */
    r = rule("bucardo_random");
    for (uint64_t x = 0; x < 20; x++) {
        int w = conflict_winner(&r, 0x5, 3, t, -1, x);
        assert_true(w == 0 || w == 2);
    }
}

static void test_keyset(void **state)
{
    KeySet *ks = keyset_create();
    const KeyEntry *e;
    size_t pos = 0, n = 0, both = 0;
    char key[32];
    (void)state;

    for (int i = 0; i < 5000; i++) {
        int len = snprintf(key, sizeof(key), "%d\tk%d", i, i);
        keyset_add(ks, key, (size_t)len, 0, i);
        if (i % 10 == 0)
            keyset_add(ks, key, (size_t)len, 1, i + 0.5);
    }
    keyset_add(ks, "7\tk7", 4, 0, 1.0); /* an older change does not replace a newer time */
    assert_int_equal(keyset_count(ks), 5000);
    while ((e = keyset_next(ks, &pos)) != NULL) {
        n++;
        if (e->sources == 0x3) {
            both++;
            assert_true(e->times[1] > e->times[0]);
        }
        if (e->len == 4 && memcmp(e->key, "7\tk7", 4) == 0)
            assert_true(e->times[0] == 7.0);
    }
    assert_int_equal(n, 5000);
    assert_int_equal(both, 500);
    keyset_free(ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_winners),
        cmocka_unit_test(test_keyset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
