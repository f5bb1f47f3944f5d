/*
 * tests/unit/test_util.c - the text helpers of engine/common/util.c and
 * engine/common/pgconn.c that need no server: booleans, integers, string lists,
 * replacement, and text[] literals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgconn.h"
#include "utf8.h"
#include "util.h"

static void test_parse_bool(void **state)
{
    bool b = false;
    (void)state;
    assert_true(parse_bool("yes", &b) && b);
    assert_true(parse_bool("OFF", &b) && !b);
    assert_true(parse_bool("1", &b) && b);
    assert_true(parse_bool("f", &b) && !b);
    b = true;
    assert_false(parse_bool("maybe", &b));
    assert_false(parse_bool("", &b));
    assert_true(b);
}

static void test_parse_int(void **state)
{
    long v = 7;
    (void)state;
    assert_true(parse_int("42", 0, 100, &v) && v == 42);
    assert_true(parse_int("-3", -5, 5, &v) && v == -3);
    assert_false(parse_int("101", 0, 100, &v));
    assert_false(parse_int("12abc", 0, 100, &v));
    assert_false(parse_int("", 0, 100, &v));
    assert_false(parse_int("99999999999999999999999", 0, 100, &v));
    assert_int_equal(v, -3);
}

static void test_strlist_split(void **state)
{
    StrList l = {0};
    (void)state;
    strlist_add_split(&l, "a,,b,c,", ',');
    assert_int_equal(l.count, 3);
    assert_string_equal(l.items[0], "a");
    assert_string_equal(l.items[2], "c");
    assert_true(strlist_contains(&l, "b"));
    assert_false(strlist_contains(&l, ""));
    strlist_free(&l);
    assert_int_equal(l.count, 0);
}

static void test_replace_all(void **state)
{
    char *s;
    (void)state;
    s = str_replace_all("@T@ and @T@;", "@T@", "\"x\"");
    assert_string_equal(s, "\"x\" and \"x\";");
    free(s);
    s = str_replace_all("none", "@T@", "y");
    assert_string_equal(s, "none");
    free(s);
}

static void test_array_literal(void **state)
{
    StrList l = {0};
    char *lit;
    (void)state;
    strlist_add(&l, "plain");
    strlist_add(&l, "we\"ird; x");
    strlist_add(&l, "back\\slash");
    lit = pg_array_literal(&l);
    assert_string_equal(lit, "{\"plain\",\"we\\\"ird; x\",\"back\\\\slash\"}");
    free(lit);
    strlist_free(&l);
}

static void test_strbuf(void **state)
{
    StrBuf sb;
    (void)state;
    strbuf_init(&sb);
    for (int i = 0; i < 1000; i++)
        strbuf_printf(&sb, "%d,", i % 10);
    assert_int_equal(sb.len, 2000);
    assert_int_equal(strlen(sb.data), 2000);
    strbuf_reset(&sb);
    assert_string_equal(sb.data, "");
    strbuf_free(&sb);
}

static void test_utf8(void **state)
{
    char *p;
    (void)state;
    assert_true(utf8_valid("plain ß é 日本 🐘", strlen("plain ß é 日本 🐘")));
    assert_false(utf8_valid("\xc3", 1));             /* cut short */
    assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_int_equal(utf8_width("abc"), 3);
    assert_int_equal(utf8_width("ßé"), 2);
    assert_int_equal(utf8_width("日本"), 4);
    assert_int_equal(utf8_width("e\xcc\x81"), 1); /* e + combining acute */
    assert_int_equal(utf8_pad("日本", 6), 2);
    assert_int_equal(utf8_pad("toolong", 3), 0);
    assert_true(utf8_has_control("a\tb"));
    assert_true(utf8_has_control("a\xc2\x85")); /* NEL, a C1 control */
    assert_false(utf8_has_control("x'; drop table t; --"));
    assert_int_equal(utf8_prefix("aßb", 2), 1); /* never half of ß */
    assert_int_equal(utf8_prefix("aßb", 3), 3);
    p = utf8_printable("a\nb\x1b[31m\xff", 100);
    assert_string_equal(p, "a\\nb\\x1B[31m\\xFF");
    free(p);
    p = utf8_printable("ßßßß", 3);
    assert_string_equal(p, "ßß...");
    free(p);
}

/* host_safety_check: Bucardo's three forms, and an empty setting */
static void test_host_safety(void **state)
{
    const char *re;
    (void)state;
    assert_int_equal(host_safety_match("", "vm", &re), 1);
    assert_null(re);
    assert_int_equal(host_safety_match("vm", "vm", &re), 1);
    assert_int_equal(host_safety_match("v", "vm", &re), 0); /* exact, not a regex */
    assert_int_equal(host_safety_match("^vm$", "vm", &re), 0);
    assert_int_equal(host_safety_match("=vm,other", "vm", &re), 1);
    assert_int_equal(host_safety_match("=other,vm", "vm", &re), 1);
    assert_int_equal(host_safety_match("=other,v", "vm", &re), 0);
    assert_int_equal(host_safety_match("=vmx,vm2", "vm", &re), 0);
    assert_int_equal(host_safety_match("=", "vm", &re), 0);
    assert_int_equal(host_safety_match("=,vm", "vm", &re), 1);
    assert_int_equal(host_safety_match("~^v", "vm", &re), -1);
    assert_string_equal(re, "^v");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_bool),    cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_strlist_split), cmocka_unit_test(test_replace_all),
        cmocka_unit_test(test_array_literal), cmocka_unit_test(test_strbuf),
        cmocka_unit_test(test_utf8),          cmocka_unit_test(test_host_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
