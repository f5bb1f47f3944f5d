/*
 * tests/unit/test_conn_budget.c - the connection budget's slots: waiters
 * are served in the order they came (a sync cannot starve while others
 * keep taking slots - not even the one that just gave a slot back), and a waiter that stops leaves the queue
 * without taking a slot.  No server is needed: slots only hand over catalog connections, and none is opened
 * here.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "conn_budget.h"

#define NWAITERS 4

typedef struct Waiter {
    ConnBudget *b;
    int id;
    atomic_bool stop;
    bool got;
    int *order; /* ids in the order the slot reached them (each holder writes while holding it) */
    int *norder;
} Waiter;

static void *wait_slot(void *arg)
{
    Waiter *w = arg;
    PGconn *cat = NULL;

    w->got = budget_acquire(w->b, &w->stop, &cat);
    if (w->got) {
        w->order[(*w->norder)++] = w->id;
        budget_release(w->b, cat);
    }
    return NULL;
}

/* until_waiting - let the threads reach the queue: n waiters in it. */
static void until_waiting(ConnBudget *b, int n)
{
    const struct timespec ms = {0, 1000000L};

    while (budget_waiting(b) != n)
        nanosleep(&ms, NULL);
}

static void test_first_come_first_served(void **state)
{
    ConnBudget *b = budget_create(NULL, "1s", 1);
    atomic_bool never = false;
    PGconn *cat = NULL;
    pthread_t th[NWAITERS];
    Waiter w[NWAITERS];
    int order[NWAITERS], norder = 0;

    (void)state;
    assert_true(budget_acquire(b, &never, &cat));
    assert_false(budget_contended(b));
    for (int i = 0; i < NWAITERS; i++) {
        w[i] = (Waiter){.b = b, .id = i, .stop = false, .order = order, .norder = &norder};
        assert_int_equal(pthread_create(&th[i], NULL, wait_slot, &w[i]), 0);
        until_waiting(b, i + 1);
    }
    assert_true(budget_contended(b));
    /* Released and wanted again at once: this holder queues behind them. */
    budget_release(b, cat);
    assert_true(budget_acquire(b, &never, &cat));
    assert_int_equal(norder, NWAITERS);
    budget_release(b, cat);
    for (int i = 0; i < NWAITERS; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].got);
    }
    assert_int_equal(norder, NWAITERS);
    for (int i = 0; i < NWAITERS; i++)
        assert_int_equal(order[i], i);
    assert_false(budget_contended(b));
    /* The slot is free again: taken at once. */
    assert_true(budget_acquire(b, &never, &cat));
    budget_release(b, cat);
    budget_destroy(b);
}

static void test_stopping_waiter_leaves_queue(void **state)
{
    ConnBudget *b = budget_create(NULL, "1s", 1);
    atomic_bool never = false;
    PGconn *cat = NULL;
    pthread_t tx, ty;
    int order[2], norder = 0;
    Waiter x = {.b = b, .id = 1, .stop = false, .order = order, .norder = &norder};
    Waiter y = {.b = b, .id = 2, .stop = false, .order = order, .norder = &norder};

    (void)state;
    assert_true(budget_acquire(b, &never, &cat));
    assert_int_equal(pthread_create(&tx, NULL, wait_slot, &x), 0);
    until_waiting(b, 1);
    assert_int_equal(pthread_create(&ty, NULL, wait_slot, &y), 0);
    until_waiting(b, 2);
    atomic_store(&x.stop, true);
    pthread_join(tx, NULL);
    assert_false(x.got);
    assert_int_equal(budget_waiting(b), 1);
    budget_release(b, cat);
    pthread_join(ty, NULL);
    assert_true(y.got);
    assert_int_equal(norder, 1);
    assert_int_equal(order[0], 2);
    assert_int_equal(budget_waiting(b), 0);
    budget_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_come_first_served),
        cmocka_unit_test(test_stopping_waiter_leaves_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
