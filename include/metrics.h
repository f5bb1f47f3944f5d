/*
 * include/metrics.h - the engine's figures per sync (lag, backlog, rows,
 * conflicts, errors, cycle times), kept by the threads that make them and
 * read by the Prometheus endpoint when it is scraped.
 *
 * Cost on the replication path: a sync thread updates its counters once
 * per cycle (relaxed atomics, one short mutex for the per-table backlog),
 * the watcher once per wake-up; nothing per row or per statement.  Text is
 * only made when Prometheus asks (engine/ops/metrics.c).
 *
 * Ownership: the controller owns the Metrics; a SyncMetrics it hands out
 * lives until metrics_free, so a worker restarted by a reload keeps its
 * counters (Prometheus counters never go back) and a thread holding the
 * pointer never holds a freed one.
 */
#ifndef BUCARDO_METRICS_H
#define BUCARDO_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "conn_budget.h"
#include "pgconn.h"
#include "util.h"

typedef struct Metrics Metrics;
typedef struct SyncMetrics SyncMetrics;

/* What one cycle did, for metrics_cycle. */
typedef struct CycleFigures {
    int result;            /* a CycleResult (sync_runner.h) */
    double started;        /* monotonic clock (monotonic_seconds()) when the cycle began */
    double seconds;        /* how long it took */
    long deletes, inserts; /* rows applied */
    long conflicts;        /* keys settled by the conflict strategy */
    int ntables;           /* entries of tables/keys; 0: the cycle read no keys */
    char *const *tables;   /* "schema.table", borrowed */
    const long *keys;      /* keys found per table (every source), borrowed */
} CycleFigures;

Metrics *metrics_create(void);
void metrics_free(Metrics *m);

/* metrics_sync - the entry of sync `name`, made on first use (any thread). */
SyncMetrics *metrics_sync(Metrics *m, const char *name);

/* metrics_pending - a change of the sync waits to be applied (a capture
 * NOTIFY, the watcher's poll, a kick): starts the lag clock if it is not
 * running.  Two atomic operations. */
void metrics_pending(SyncMetrics *s);

/* metrics_cycle - account for one cycle (called by the sync's thread). */
void metrics_cycle(SyncMetrics *s, const CycleFigures *f);

/* metrics_thresholds - the sync's overdue/expired, in seconds (0: none). */
void metrics_thresholds(SyncMetrics *s, double overdue, double expired);

/*
 * metrics_lag - seconds since the oldest change the engine knows of that
 * is not applied yet, 0 when none: the clock starts at the first notice of
 * a change after the last cycle that completed, and stops when a cycle
 * that began after it completes on every member.  metrics_level - 0 on
 * time, 1 past overdue, 2 past expired.
 */
double metrics_lag(const SyncMetrics *s);
int metrics_level(const SyncMetrics *s);

/*
 * metrics_serve - start the HTTP endpoint on `listen` ("HOST:PORT" or
 * "PORT"; HOST an IPv4 or IPv6 address, "[::1]:9466"), serving
 * GET /metrics.  At a scrape it also reads, over one catalog connection
 * of its own (made through `budget`), the members left behind and the
 * table copies in flight.  Returns false, err set, when the address is
 * wrong or taken.  catalog and budget are borrowed until metrics_free.
 */
bool metrics_serve(Metrics *m, const char *listen, const ConnParams *catalog, ConnBudget *budget, char *err,
                   size_t errlen) MUST_CHECK;

/* metrics_render - the whole text exposition into sb (what a scrape gets);
 * cat, when not NULL, adds the catalog's figures. */
void metrics_render(Metrics *m, PGconn *cat, StrBuf *sb);

/* metrics_parse_listen - split "HOST:PORT" / "PORT" / "[V6]:PORT"; host
 * "" for every address.  False when it is not one of those. */
bool metrics_parse_listen(const char *listen, char *host, size_t hostlen, int *port) MUST_CHECK;

#endif
