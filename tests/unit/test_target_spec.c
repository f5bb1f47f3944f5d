/*
 * tests/unit/test_target_spec.c - the TableSpec encoding of
 * engine/drivers/target.c (a table operation for a target of another kind
 * than PostgreSQL travels in a message as this text) and the kinds `add db
 * type=` accepts or refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "target_driver.h"

static void test_round_trip(void **state)
{
    char *keys[] = {"id", "Other Key"};
    char *cols[] = {"id", "Other Key", "name with, comma", "ünï 🐘"};
    TableSpec in = {.op = 'R',
                    .schema = "My Schema",
                    .table = "t.x",
                    .nkeys = 2,
                    .keys = keys,
                    .ncols = 4,
                    .cols = cols},
              out;
    char *s = target_spec_encode(&in);

    (void)state;
    assert_true(target_spec_decode(s, &out));
    assert_int_equal(out.op, 'R');
    assert_string_equal(out.schema, "My Schema");
    assert_string_equal(out.table, "t.x");
    assert_int_equal(out.nkeys, 2);
    assert_string_equal(out.keys[1], "Other Key");
    assert_int_equal(out.ncols, 4);
    assert_string_equal(out.cols[2], "name with, comma");
    assert_string_equal(out.cols[3], "ünï 🐘");
    target_spec_free(&out);
    free(s);
}

static void test_empty_schema_and_no_columns(void **state)
{
    TableSpec in = {.op = 'E', .schema = "", .table = "t"}, out;
    char *s = target_spec_encode(&in);

    (void)state;
    assert_true(target_spec_decode(s, &out));
    assert_int_equal(out.op, 'E');
    assert_string_equal(out.schema, "");
    assert_int_equal(out.nkeys, 0);
    assert_int_equal(out.ncols, 0);
    target_spec_free(&out);
    free(s);
}

static void test_not_a_spec(void **state)
{
    TableSpec out;

    (void)state;
    assert_false(target_spec_decode("COPY t (a) FROM STDIN", &out));
    assert_false(target_spec_decode(NULL, &out));
    assert_false(target_spec_decode("\001R\037s\037t\0375\037a", &out));      /* 5 keys announced, 1 given */
    assert_false(target_spec_decode("\001R\037s\037t\0370\0372\037a", &out)); /* 2 columns, 1 given */
}

static void test_kinds(void **state)
{
    char why[300];

    (void)state;
    assert_true(target_kind_check("mariadb", why, sizeof(why)));
    assert_true(target_kind_check("maria", why, sizeof(why)));
    assert_true(target_kind_check("flatsql", why, sizeof(why)));
    assert_false(target_kind_check("mongo", why, sizeof(why)));
    assert_non_null(strstr(why, "Debian has no mongo server"));
    assert_false(target_kind_check("nosuch", why, sizeof(why)));
    assert_non_null(strstr(why, "unknown database type \"nosuch\""));
    assert_true(target_kind_is_pg(NULL));
    assert_true(target_kind_is_pg("postgres"));
    assert_false(target_kind_is_pg("sqlite"));
    assert_true(target_kind_is_flat("flatpg"));
    assert_false(target_kind_is_flat("redis"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_schema_and_no_columns),
        cmocka_unit_test(test_not_a_spec),
        cmocka_unit_test(test_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
