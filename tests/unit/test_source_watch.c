/*
 * tests/unit/test_source_watch.c - the watcher's pacing rule: a poll that
 * cost the source nothing beyond its round trip leaves the next one free
 * to go at once, one that read a large backlog holds the next back nine
 * times as long (a tenth of the source's backend at most), and no poll,
 * however slow, holds the next one back for more than five seconds.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <cmocka.h>

#include "source_watch.h"

#define EPS 1e-9

/* near - doubles compared as doubles (cmocka's float assertion narrows them). */
static bool near(double a, double b)
{
    return fabs(a - b) < EPS;
}

static void cheap_polls_are_not_held(void **state)
{
    (void)state;
    /* local: the quickest answer, or one quicker than it */
    assert_true(watch_poll_gap(0.0004, 0.0004) < EPS);
    assert_true(watch_poll_gap(0.0003, 0.0004) < EPS);
    /* a 50 ms link: the round trip itself is not the poll's cost */
    assert_true(watch_poll_gap(0.051, 0.051) < EPS);
}

static void costly_polls_hold_the_next(void **state)
{
    (void)state;
    /* 100 ms of reading a backlog beyond a 0.5 ms round trip: 0.9 s */
    assert_true(near(watch_poll_gap(0.1005, 0.0005), 0.9));
    /* the same read over a 50 ms link: the same pause */
    assert_true(near(watch_poll_gap(0.150, 0.050), 0.9));
    /* a busy moment of 2 ms: 18 ms, still under the idle back-off's 0.5 s */
    assert_true(near(watch_poll_gap(0.0025, 0.0005), 0.018));
}

static void a_stall_holds_at_most_five_seconds(void **state)
{
    (void)state;
    assert_true(near(watch_poll_gap(30.0, 0.001), 5.0));
    assert_true(near(watch_poll_gap(0.6, 0.0005), 5.0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cheap_polls_are_not_held),
        cmocka_unit_test(costly_polls_hold_the_next),
        cmocka_unit_test(a_stall_holds_at_most_five_seconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
