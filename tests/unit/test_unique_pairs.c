/*
 * tests/unit/test_unique_pairs.c - pairing rows of different sources that
 * hold the same unique value, and who loses under each strategy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "unique_pairs.h"

static char *SOURCES[] = {"A", "B", "C"};

static UniqueRow row(const char *key, const char *value, int source, double time)
{
    UniqueRow r = {.key = key,
                   .klen = strlen(key),
                   .value = value,
                   .vlen = strlen(value),
                   .source = source,
                   .time = time,
                   .fate = UNIQUE_KEEP,
                   .winner = 0};
    return r;
}

/* fate_of - the fate of the row with key `key` (rows are reordered). */
static UniqueFate fate_of(const UniqueRow *rows, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].key, key) == 0)
            return rows[i].fate;
    fail_msg("no row with key %s", key);
    return UNIQUE_KEEP;
}

static long settle(UniqueRow *rows, size_t n, const char *strategy, size_t *at)
{
    ConflictRule rule;

    assert_true(conflict_rule_parse(strategy, SOURCES, 3, &rule));
    return unique_settle(rows, n, &rule, 3, -1, 42, at);
}

static void test_latest(void **state)
{
    /* 1 (A) and 2 (B) share "x"; 3 (A) and 4 (C) do not collide; 5 and 6
     * share "y" but on the same source (its own index allowed it). */
    UniqueRow rows[] = {row("1", "x", 0, 10.0), row("2", "x", 1, 20.0), row("3", "z", 0, 5.0),
                        row("4", "w", 2, 5.0),  row("5", "y", 1, 1.0),  row("6", "y", 1, 2.0)};
    size_t at = 99;

    (void)state;
    assert_int_equal(settle(rows, 6, "bucardo_latest", &at), 1);
    assert_int_equal(fate_of(rows, 6, "1"), UNIQUE_LOSE);
    assert_int_equal(fate_of(rows, 6, "2"), UNIQUE_KEEP);
    assert_int_equal(fate_of(rows, 6, "3"), UNIQUE_KEEP);
    assert_int_equal(fate_of(rows, 6, "4"), UNIQUE_KEEP);
    assert_int_equal(fate_of(rows, 6, "5"), UNIQUE_KEEP);
    assert_int_equal(fate_of(rows, 6, "6"), UNIQUE_KEEP);
    for (size_t i = 0; i < 6; i++)
        if (rows[i].fate == UNIQUE_LOSE)
            assert_int_equal(rows[i].winner, 1);
}

static void test_strategies(void **state)
{
    size_t at;
    (void)state;
    {
        UniqueRow rows[] = {row("1", "x", 0, 10.0), row("2", "x", 1, 20.0), row("3", "x", 2, 30.0)};
        assert_int_equal(settle(rows, 3, "bucardo_source", &at), 1);
        assert_int_equal(fate_of(rows, 3, "1"), UNIQUE_KEEP);
        assert_int_equal(fate_of(rows, 3, "2"), UNIQUE_LOSE);
        assert_int_equal(fate_of(rows, 3, "3"), UNIQUE_LOSE);
    }
    {
        UniqueRow rows[] = {row("1", "x", 0, 10.0), row("2", "x", 1, 20.0), row("3", "x", 2, 30.0)};
        assert_int_equal(settle(rows, 3, "B,C", &at), 1);
        assert_int_equal(fate_of(rows, 3, "2"), UNIQUE_KEEP);
        assert_int_equal(fate_of(rows, 3, "1"), UNIQUE_LOSE);
        assert_int_equal(fate_of(rows, 3, "3"), UNIQUE_LOSE);
    }
    {
        UniqueRow rows[] = {row("1", "x", 0, 10.0), row("2", "x", 1, 20.0)};
        assert_int_equal(settle(rows, 2, "bucardo_skip", &at), 1);
        assert_int_equal(fate_of(rows, 2, "1"), UNIQUE_HOLD);
        assert_int_equal(fate_of(rows, 2, "2"), UNIQUE_HOLD);
    }
    {
        UniqueRow rows[] = {row("1", "a", 0, 1.0), row("7", "q", 2, 1.0), row("2", "q", 1, 2.0)};
        assert_int_equal(settle(rows, 3, "bucardo_abort", &at), -1);
        assert_true(at < 3);
        assert_string_equal(rows[at].value, "q");
    }
}

/* Values are compared whole: a prefix is another value; empty values pair. */
static void test_values(void **state)
{
    UniqueRow rows[] = {row("1", "ab", 0, 1.0), row("2", "a", 1, 2.0), row("3", "a\tb", 0, 1.0),
                        row("4", "a\tb", 1, 0.5)};
    size_t at;

    (void)state;
    assert_int_equal(settle(rows, 4, "bucardo_latest", &at), 1);
    assert_int_equal(fate_of(rows, 4, "1"), UNIQUE_KEEP);
    assert_int_equal(fate_of(rows, 4, "2"), UNIQUE_KEEP);
    assert_int_equal(fate_of(rows, 4, "3"), UNIQUE_KEEP);
    assert_int_equal(fate_of(rows, 4, "4"), UNIQUE_LOSE);
    assert_int_equal(settle(rows, 0, "bucardo_latest", &at), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latest),
        cmocka_unit_test(test_strategies),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
