/*
 * tests/unit/test_ops.c - the parts of engine/ops/ that need no server:
 * the metrics_listen and email_tls settings, and the figures a sync's
 * cycles leave in the Prometheus text (lag clock, backlog, counters).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "alert.h"
#include "metrics.h"
#include "sync_runner.h"

static void test_parse_listen(void **state)
{
    char host[64];
    int port = 0;
    (void)state;
    assert_true(metrics_parse_listen("127.0.0.1:9466", host, sizeof(host), &port));
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9466);
    assert_true(metrics_parse_listen("9100", host, sizeof(host), &port));
    assert_string_equal(host, "");
    assert_int_equal(port, 9100);
    assert_true(metrics_parse_listen("[::1]:80", host, sizeof(host), &port));
    assert_string_equal(host, "::1");
    assert_false(metrics_parse_listen("::1:80", host, sizeof(host), &port));
    assert_false(metrics_parse_listen("host:http", host, sizeof(host), &port));
    assert_false(metrics_parse_listen("127.0.0.1:0", host, sizeof(host), &port));
    assert_false(metrics_parse_listen("127.0.0.1:65536", host, sizeof(host), &port));
    assert_false(metrics_parse_listen("", host, sizeof(host), &port));
}

static void test_parse_tls(void **state)
{
    AlertTls t = ALERT_TLS_OFF;
    (void)state;
    assert_true(alert_parse_tls("smtps", &t) && t == ALERT_TLS_SMTPS);
    assert_true(alert_parse_tls("try", &t) && t == ALERT_TLS_TRY);
    assert_false(alert_parse_tls("TLS", &t));
    assert_int_equal(t, ALERT_TLS_TRY);
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A change noticed, a failed cycle that found its keys, then a cycle that
 * completes: lag and backlog rise, then go back to zero; counters add up. */
static void test_cycle_figures(void **state)
{
    Metrics *m = metrics_create();
    SyncMetrics *s = metrics_sync(m, "s\"1");
    char *tables[2] = {"public.a", "public.b"};
    long keys[2] = {7, 0};
    CycleFigures failed = {CYCLE_FAILED, now_mono(), 0.5, 0, 0, 0, 2, tables, keys};
    CycleFigures done;
    StrBuf sb;
    struct timespec pause = {0, 20 * 1000000L};
    (void)state;

    assert_ptr_equal(metrics_sync(m, "s\"1"), s);
    assert_true(metrics_lag(s) == 0.0);
    metrics_thresholds(s, 0.01, 1000);
    metrics_pending(s);
    nanosleep(&pause, NULL);
    assert_true(metrics_lag(s) > 0.0);
    assert_int_equal(metrics_level(s), 1);
    metrics_cycle(s, &failed);
    strbuf_init(&sb);
    metrics_render(m, NULL, &sb);
    assert_non_null(strstr(sb.data, "bucardo_table_backlog_keys{sync=\"s\\\"1\",table=\"public.a\"} 7\n"));
    assert_non_null(strstr(sb.data, "bucardo_sync_errors_total{sync=\"s\\\"1\"} 1\n"));
    assert_non_null(strstr(sb.data, "bucardo_sync_good{sync=\"s\\\"1\"} 0\n"));
    assert_non_null(strstr(sb.data, "bucardo_catalog_up 0\n"));
    done = (CycleFigures){CYCLE_DONE, now_mono(), 0.25, 3, 7, 2, 2, tables, keys};
    metrics_cycle(s, &done);
    assert_true(metrics_lag(s) == 0.0);
    assert_int_equal(metrics_level(s), 0);
    strbuf_reset(&sb);
    metrics_render(m, NULL, &sb);
    assert_non_null(strstr(sb.data, "bucardo_table_backlog_keys{sync=\"s\\\"1\",table=\"public.a\"} 0\n"));
    assert_non_null(strstr(sb.data, "bucardo_sync_rows_applied_total{sync=\"s\\\"1\",kind=\"insert\"} 7\n"));
    assert_non_null(strstr(sb.data, "bucardo_sync_conflicts_total{sync=\"s\\\"1\"} 2\n"));
    assert_non_null(strstr(sb.data, "bucardo_sync_cycle_duration_seconds_sum{sync=\"s\\\"1\"} 0.75\n"));
    assert_non_null(strstr(sb.data, "bucardo_sync_cycles_total{sync=\"s\\\"1\",result=\"failed\"} 1\n"));
    /* A change noticed after a cycle began is not cleared by it. */
    done.started = now_mono();
    nanosleep(&pause, NULL);
    metrics_pending(s);
    metrics_cycle(s, &done);
    nanosleep(&pause, NULL); /* the clock counts microseconds: let one pass */
    assert_true(metrics_lag(s) > 0.0);
    strbuf_free(&sb);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_parse_tls),
        cmocka_unit_test(test_cycle_figures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
