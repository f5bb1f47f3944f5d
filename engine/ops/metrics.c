/*
 * engine/ops/metrics.c - the engine's figures and the Prometheus endpoint
 * that shows them (metrics.h has the contract).
 *
 * How it works:
 *
 *   sync thread ---- metrics_cycle (once per cycle) ----.
 *   watcher / kick - metrics_pending (once per wake-up) -+--> SyncMetrics (atomics)
 *   controller ----- metrics_thresholds (at reload) ----'        |
 *                                                                 | read at a scrape
 *   Prometheus -- GET /metrics --> libmicrohttpd's thread --------'
 *                                  + one catalog query (members behind, copies)
 *                                  + /proc/self/statm (engine RSS)
 *
 * Counters are relaxed atomics: a scrape may see one cycle's rows and not
 * yet its conflicts, never a torn number.  The per-table backlog is a
 * small array under a mutex the sync thread takes once per cycle.
 *
 * LAG is the age of the oldest change the engine knows of and has not
 * applied everywhere.  Its clock (pending_since) starts when a change is
 * first noticed - the watcher's NOTIFY or poll (at most POLL_MAX_S, 0.5 s,
 * after the commit), a kick, or a failed cycle that found keys - and stops
 * when a cycle that began after that moment completes on every member.  A
 * member left out keeps it running.  A sync with autokick off is noticed
 * only by its cycles (checktime, kicks), so its lag starts then.  `bucardo
 * status --json` measures the same figure exactly, from the delta tables.
 *
 * The registry is append-only: entries live until metrics_free, so the
 * pointers handed out stay valid across reloads and scrapes.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sync_runner.h"

struct SyncMetrics {
    char *name;
    atomic_llong pending_since_us; /* monotonic clock (mono_us); 0: nothing known pending */
    atomic_llong last_good_us;     /* end of the last cycle that completed (wall clock) */
    atomic_llong cycles[4];        /* per CycleResult */
    atomic_llong deletes, inserts, conflicts, errors;
    atomic_llong cycle_us_sum, last_cycle_us;
    atomic_int last_result; /* -1: no cycle yet */
    atomic_llong overdue_ms, expired_ms;
    pthread_mutex_t lock; /* the backlog below */
    StrList tables;
    long *backlog;
};

struct Metrics {
    pthread_mutex_t lock; /* the array of entries (not their figures) */
    SyncMetrics **syncs;
    int nsyncs, cap;
    double started; /* wall clock */
    struct MHD_Daemon *http;
    pthread_mutex_t cat_lock; /* the scrape's catalog connection */
    const ConnParams *catalog;
    ConnBudget *budget;
    PGconn *cat;
};

/* The lag clock is monotonic: a wall clock stepped by NTP (or a VM's
 * clock catching up) must not make a lag vanish or jump. */
static long long mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static long long wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

Metrics *metrics_create(void)
{
    Metrics *m = xcalloc(1, sizeof(Metrics));

    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->cat_lock, NULL);
    m->started = (double)wall_us() / 1e6;
    return m;
}

void metrics_free(Metrics *m)
{
    if (m == NULL)
        return;
    if (m->http)
        MHD_stop_daemon(m->http);
    if (m->cat)
        PQfinish(m->cat);
    for (int i = 0; i < m->nsyncs; i++) {
        SyncMetrics *s = m->syncs[i];
        pthread_mutex_destroy(&s->lock);
        strlist_free(&s->tables);
        free(s->backlog);
        free(s->name);
        free(s);
    }
    free(m->syncs);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->cat_lock);
    free(m);
}

SyncMetrics *metrics_sync(Metrics *m, const char *name)
{
    SyncMetrics *s = NULL;

    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->nsyncs && s == NULL; i++)
        if (strcmp(m->syncs[i]->name, name) == 0)
            s = m->syncs[i];
    if (s == NULL) {
        s = xcalloc(1, sizeof(SyncMetrics));
        s->name = xstrdup(name);
        atomic_init(&s->last_result, -1);
        pthread_mutex_init(&s->lock, NULL);
        if (m->nsyncs == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 16;
            m->syncs = xrealloc(m->syncs, sizeof(SyncMetrics *) * (size_t)m->cap);
        }
        m->syncs[m->nsyncs++] = s;
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

void metrics_pending(SyncMetrics *s)
{
    long long none = 0;

    if (s && atomic_load_explicit(&s->pending_since_us, memory_order_relaxed) == 0)
        atomic_compare_exchange_strong(&s->pending_since_us, &none, mono_us());
}

void metrics_thresholds(SyncMetrics *s, double overdue, double expired)
{
    atomic_store(&s->overdue_ms, (long long)(overdue * 1000));
    atomic_store(&s->expired_ms, (long long)(expired * 1000));
}

void metrics_cycle(SyncMetrics *s, const CycleFigures *f)
{
    long long started = (long long)(f->started * 1e6), since, found = 0;
    bool complete = f->result == CYCLE_DONE || f->result == CYCLE_EMPTY;

    if (s == NULL)
        return;
    if (f->result >= 0 && f->result < 4)
        atomic_fetch_add_explicit(&s->cycles[f->result], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cycle_us_sum, (long long)(f->seconds * 1e6), memory_order_relaxed);
    atomic_store_explicit(&s->last_cycle_us, (long long)(f->seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&s->deletes, f->deletes, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->inserts, f->inserts, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->conflicts, f->conflicts, memory_order_relaxed);
    if (f->result == CYCLE_FAILED)
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    else
        atomic_store_explicit(&s->last_good_us, wall_us(), memory_order_relaxed);
    atomic_store_explicit(&s->last_result, f->result, memory_order_relaxed);
    for (int t = 0; t < f->ntables; t++)
        found += f->keys[t];
    if (complete) {
        /* Changes noticed after the cycle began may be outside its snapshot:
         * they keep the clock running for the next cycle. */
        since = atomic_load(&s->pending_since_us);
        while (since != 0 && since <= started &&
               !atomic_compare_exchange_weak(&s->pending_since_us, &since, 0))
            ;
    } else if (found > 0) {
        long long none = 0;
        atomic_compare_exchange_strong(&s->pending_since_us, &none, started);
    }
    if (f->ntables > 0 || complete) {
        pthread_mutex_lock(&s->lock);
        if (f->ntables > 0 && s->tables.count != f->ntables) {
            strlist_free(&s->tables);
            for (int t = 0; t < f->ntables; t++)
                strlist_add(&s->tables, f->tables[t]);
            s->backlog = xrealloc(s->backlog, sizeof(long) * (size_t)f->ntables);
        }
        for (int t = 0; t < s->tables.count; t++)
            s->backlog[t] = complete || t >= f->ntables ? 0 : f->keys[t];
        pthread_mutex_unlock(&s->lock);
    }
}

double metrics_lag(const SyncMetrics *s)
{
    long long since = atomic_load_explicit(&s->pending_since_us, memory_order_relaxed), now = mono_us();

    return since == 0 || now < since ? 0.0 : (double)(now - since) / 1e6;
}

int metrics_level(const SyncMetrics *s)
{
    double lag = metrics_lag(s);
    long long overdue = atomic_load(&s->overdue_ms), expired = atomic_load(&s->expired_ms);

    if (expired > 0 && lag * 1000 > (double)expired)
        return 2;
    if (overdue > 0 && lag * 1000 > (double)overdue)
        return 1;
    return 0;
}

/* label - v as a Prometheus label value (\, " and newline escaped). */
static void label(StrBuf *sb, const char *v)
{
    strbuf_append(sb, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            strbuf_append(sb, "\\\\");
        else if (*p == '"')
            strbuf_append(sb, "\\\"");
        else if (*p == '\n')
            strbuf_append(sb, "\\n");
        else
            strbuf_append_len(sb, p, 1);
    }
    strbuf_append(sb, "\"");
}

static void help(StrBuf *sb, const char *name, const char *type, const char *text)
{
    strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* sync_line - "name{sync="S"[,extra]} value". */
static void sync_line(StrBuf *sb, const char *name, const SyncMetrics *s, const char *extra, double v)
{
    strbuf_printf(sb, "%s{sync=", name);
    label(sb, s->name);
    strbuf_printf(sb, "%s} %.17g\n", extra ? extra : "", v);
}

static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = 0;

    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &rss) != 2)
        rss = 0;
    fclose(f);
    return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

static const char SQL_SCRAPE_MEMBERS[] =
    "SELECT s.name, m.db, m.role,"
    "       (SELECT extract(epoch FROM now() - min(ms.since)) FROM bucardo.sync_member_state ms"
    "         WHERE ms.sync = s.name AND ms.member = m.db)"
    "  FROM bucardo.sync s JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
    " WHERE s.status = 'active' ORDER BY s.name, m.position";
static const char SQL_SCRAPE_COPIES[] =
    "SELECT sync, tablename, target, bytes, coalesce(estimate, 0), coalesce(rows, 0), done::int"
    "  FROM bucardo.copy_progress ORDER BY sync, tablename, target";

/* render_catalog - per member state and lag, and the table copies. */
static void render_catalog(Metrics *m, PGconn *cat, StrBuf *sb)
{
    PGresult *res = PQexec(cat, SQL_SCRAPE_MEMBERS);

    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        help(sb, "bucardo_member_behind", "gauge",
             "1 while the member misses cycles (left out, unreachable) and has changes to catch up");
        for (int r = 0; r < PQntuples(res); r++) {
            strbuf_append(sb, "bucardo_member_behind{sync=");
            label(sb, PQgetvalue(res, r, 0));
            strbuf_append(sb, ",member=");
            label(sb, PQgetvalue(res, r, 1));
            strbuf_append(sb, ",role=");
            label(sb, PQgetvalue(res, r, 2));
            strbuf_printf(sb, "} %d\n", PQgetisnull(res, r, 3) ? 0 : 1);
        }
        help(
            sb, "bucardo_member_lag_seconds", "gauge",
            "Age of the oldest change the member has not received: the sync's lag, or since it was left out");
        for (int r = 0; r < PQntuples(res); r++) {
            double lag = 0;
            pthread_mutex_lock(&m->lock);
            for (int i = 0; i < m->nsyncs; i++)
                if (strcmp(m->syncs[i]->name, PQgetvalue(res, r, 0)) == 0)
                    lag = metrics_lag(m->syncs[i]);
            pthread_mutex_unlock(&m->lock);
            if (!PQgetisnull(res, r, 3) && atof(PQgetvalue(res, r, 3)) > lag)
                lag = atof(PQgetvalue(res, r, 3));
            strbuf_append(sb, "bucardo_member_lag_seconds{sync=");
            label(sb, PQgetvalue(res, r, 0));
            strbuf_append(sb, ",member=");
            label(sb, PQgetvalue(res, r, 1));
            strbuf_printf(sb, "} %.3f\n", lag);
        }
    }
    PQclear(res);
    res = PQexec(cat, SQL_SCRAPE_COPIES);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        static const char *const names[3] = {"bucardo_copy_bytes", "bucardo_copy_estimate_bytes",
                                             "bucardo_copy_rows"};
        static const char *const texts[3] = {"Bytes a table copy has written so far",
                                             "Estimated size of the table being copied",
                                             "Rows a table copy has written so far"};
        for (int k = 0; k < 3; k++) {
            help(sb, names[k], "gauge", texts[k]);
            for (int r = 0; r < PQntuples(res); r++) {
                strbuf_printf(sb, "%s{sync=", names[k]);
                label(sb, PQgetvalue(res, r, 0));
                strbuf_append(sb, ",table=");
                label(sb, PQgetvalue(res, r, 1));
                strbuf_append(sb, ",target=");
                label(sb, PQgetvalue(res, r, 2));
                strbuf_printf(sb, ",done=\"%s\"} %s\n",
                              strcmp(PQgetvalue(res, r, 6), "1") == 0 ? "yes" : "no",
                              PQgetvalue(res, r, 3 + k));
            }
        }
    }
    PQclear(res);
}

void metrics_render(Metrics *m, PGconn *cat, StrBuf *sb)
{
    static const char *const results[4] = {"done", "empty", "failed", "partial"};
    SyncMetrics **syncs;
    int n;

    pthread_mutex_lock(&m->lock);
    n = m->nsyncs;
    syncs = xcalloc((size_t)n + 1, sizeof(SyncMetrics *));
    memcpy(syncs, m->syncs, sizeof(SyncMetrics *) * (size_t)n);
    pthread_mutex_unlock(&m->lock);

    help(sb, "bucardo_engine_resident_bytes", "gauge", "Resident memory of the engine process");
    strbuf_printf(sb, "bucardo_engine_resident_bytes %.0f\n", resident_bytes());
    help(sb, "bucardo_engine_start_time_seconds", "gauge", "When the engine started (Unix time)");
    strbuf_printf(sb, "bucardo_engine_start_time_seconds %.3f\n", m->started);
    help(sb, "bucardo_catalog_up", "gauge", "1 when this scrape could read the catalog");
    strbuf_printf(sb, "bucardo_catalog_up %d\n", cat ? 1 : 0);

    help(sb, "bucardo_sync_lag_seconds", "gauge", "Age of the oldest change not yet applied everywhere");
    for (int i = 0; i < n; i++)
        sync_line(sb, "bucardo_sync_lag_seconds", syncs[i], NULL, metrics_lag(syncs[i]));
    help(sb, "bucardo_sync_level", "gauge", "0 on time, 1 past overdue, 2 past expired (by lag)");
    for (int i = 0; i < n; i++)
        sync_line(sb, "bucardo_sync_level", syncs[i], NULL, metrics_level(syncs[i]));
    help(sb, "bucardo_sync_good", "gauge", "1 when the last cycle succeeded, 0 when it failed");
    for (int i = 0; i < n; i++) {
        int last = atomic_load(&syncs[i]->last_result);
        if (last >= 0)
            sync_line(sb, "bucardo_sync_good", syncs[i], NULL, last == CYCLE_FAILED ? 0 : 1);
    }
    help(sb, "bucardo_sync_last_good_timestamp_seconds", "gauge", "End of the last successful cycle");
    for (int i = 0; i < n; i++)
        if (atomic_load(&syncs[i]->last_good_us) > 0)
            sync_line(sb, "bucardo_sync_last_good_timestamp_seconds", syncs[i], NULL,
                      (double)atomic_load(&syncs[i]->last_good_us) / 1e6);
    help(sb, "bucardo_sync_cycles_total", "counter", "Cycles run, by result");
    for (int i = 0; i < n; i++)
        for (int r = 0; r < 4; r++) {
            char extra[64];
            snprintf(extra, sizeof(extra), ",result=\"%s\"", results[r]);
            sync_line(sb, "bucardo_sync_cycles_total", syncs[i], extra,
                      (double)atomic_load(&syncs[i]->cycles[r]));
        }
    help(sb, "bucardo_sync_errors_total", "counter", "Cycles that failed");
    for (int i = 0; i < n; i++)
        sync_line(sb, "bucardo_sync_errors_total", syncs[i], NULL, (double)atomic_load(&syncs[i]->errors));
    help(sb, "bucardo_sync_rows_applied_total", "counter", "Rows applied to the receiving members, by kind");
    for (int i = 0; i < n; i++) {
        sync_line(sb, "bucardo_sync_rows_applied_total", syncs[i], ",kind=\"delete\"",
                  (double)atomic_load(&syncs[i]->deletes));
        sync_line(sb, "bucardo_sync_rows_applied_total", syncs[i], ",kind=\"insert\"",
                  (double)atomic_load(&syncs[i]->inserts));
    }
    help(sb, "bucardo_sync_conflicts_total", "counter",
         "Keys changed on several sources, settled by the strategy");
    for (int i = 0; i < n; i++)
        sync_line(sb, "bucardo_sync_conflicts_total", syncs[i], NULL,
                  (double)atomic_load(&syncs[i]->conflicts));
    help(sb, "bucardo_sync_cycle_duration_seconds", "summary", "Time cycles took");
    for (int i = 0; i < n; i++) {
        long long count = 0;
        for (int r = 0; r < 4; r++)
            count += atomic_load(&syncs[i]->cycles[r]);
        sync_line(sb, "bucardo_sync_cycle_duration_seconds_sum", syncs[i], NULL,
                  (double)atomic_load(&syncs[i]->cycle_us_sum) / 1e6);
        sync_line(sb, "bucardo_sync_cycle_duration_seconds_count", syncs[i], NULL, (double)count);
    }
    help(sb, "bucardo_sync_last_cycle_duration_seconds", "gauge", "Time the last cycle took");
    for (int i = 0; i < n; i++)
        sync_line(sb, "bucardo_sync_last_cycle_duration_seconds", syncs[i], NULL,
                  (double)atomic_load(&syncs[i]->last_cycle_us) / 1e6);
    help(sb, "bucardo_sync_overdue_seconds", "gauge", "The sync's overdue threshold (0: none)");
    for (int i = 0; i < n; i++)
        sync_line(sb, "bucardo_sync_overdue_seconds", syncs[i], NULL,
                  (double)atomic_load(&syncs[i]->overdue_ms) / 1000);
    help(sb, "bucardo_sync_expired_seconds", "gauge", "The sync's expired threshold (0: none)");
    for (int i = 0; i < n; i++)
        sync_line(sb, "bucardo_sync_expired_seconds", syncs[i], NULL,
                  (double)atomic_load(&syncs[i]->expired_ms) / 1000);
    help(sb, "bucardo_table_backlog_keys", "gauge",
         "Keys the last cycle found waiting per table (0 once a cycle completed)");
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&syncs[i]->lock);
        for (int t = 0; t < syncs[i]->tables.count; t++) {
            StrBuf extra;
            strbuf_init(&extra);
            strbuf_append(&extra, ",table=");
            label(&extra, syncs[i]->tables.items[t]);
            sync_line(sb, "bucardo_table_backlog_keys", syncs[i], extra.data, (double)syncs[i]->backlog[t]);
            strbuf_free(&extra);
        }
        pthread_mutex_unlock(&syncs[i]->lock);
    }
    free(syncs);
    if (cat)
        render_catalog(m, cat, sb);
}

/* scrape_catalog - the scrape's catalog connection, (re)made when needed;
 * NULL when the catalog cannot be reached (the scrape says so). */
static PGconn *scrape_catalog(Metrics *m)
{
    char err[512];

    if (m->cat && PQstatus(m->cat) != CONNECTION_OK) {
        PQfinish(m->cat);
        m->cat = NULL;
    }
    if (m->cat == NULL) {
        m->cat = budget_connect(m->budget, m->catalog, "catalog", err, sizeof(err));
        if (m->cat == NULL)
            log_warn("metrics: cannot read the catalog for a scrape: %s", err);
    }
    return m->cat;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state)
{
    Metrics *m = cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    StrBuf sb;
    unsigned status = MHD_HTTP_OK;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;

    strbuf_init(&sb);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        strbuf_append(&sb, "only GET\n");
    } else if (strcmp(url, "/metrics") != 0) {
        status = MHD_HTTP_NOT_FOUND;
        strbuf_append(&sb, "bucardo: the figures are at /metrics\n");
    } else {
        pthread_mutex_lock(&m->cat_lock);
        metrics_render(m, scrape_catalog(m), &sb);
        pthread_mutex_unlock(&m->cat_lock);
    }
    resp = MHD_create_response_from_buffer(sb.len, sb.data, MHD_RESPMEM_MUST_COPY);
    strbuf_free(&sb);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

bool metrics_parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(listen, ':'), *p;
    long n;
    size_t len;

    if (colon == NULL) {
        host[0] = '\0';
        p = listen;
    } else {
        const char *h = listen;
        len = (size_t)(colon - listen);
        if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
            h++;
            len -= 2;
        } else if (memchr(h, ':', len) != NULL) {
            return false; /* an IPv6 address needs its brackets */
        }
        if (len >= hostlen)
            return false;
        memcpy(host, h, len);
        host[len] = '\0';
        p = colon + 1;
    }
    if (!parse_int(p, 1, 65535, &n))
        return false;
    *port = (int)n;
    return true;
}

bool metrics_serve(Metrics *m, const char *listen, const ConnParams *catalog, ConnBudget *budget, char *err,
                   size_t errlen)
{
    char host[256];
    int port;
    struct sockaddr_storage addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;

    if (!metrics_parse_listen(listen, host, sizeof(host), &port)) {
        snprintf(err, errlen, "metrics_listen \"%s\" is not PORT, HOST:PORT or [IPV6]:PORT", listen);
        return false;
    }
    memset(&addr, 0, sizeof(addr));
    if (host[0] == '\0' || inet_pton(AF_INET, host, &((struct sockaddr_in *)&addr)->sin_addr) == 1) {
        struct sockaddr_in *a = (struct sockaddr_in *)&addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (host[0] == '\0')
            a->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&addr)->sin6_addr) == 1) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "metrics_listen: \"%s\" is not an IP address", host);
        return false;
    }
    m->catalog = catalog;
    m->budget = budget;
    m->http = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (m->http == NULL) {
        snprintf(err, errlen, "metrics_listen %s: cannot listen there (address in use or not local?)",
                 listen);
        return false;
    }
    return true;
}
