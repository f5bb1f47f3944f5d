/*
 * include/sync_worker.h - the thread that runs one sync: it waits for a
 * kick (explicit, from a capture NOTIFY, or checktime), runs a cycle, and
 * retries failed cycles with exponential backoff.
 *
 * The controller owns the SyncWorker handle; the worker thread owns its
 * SyncRunner (connections, writers, pool).  They share only the atomic
 * flags below and an eventfd that wakes the worker.  A worker opens
 * connections only while it holds a slot of the connection budget
 * (conn_budget.h); between cycles it holds none, and the watcher
 * (source_watch.h) wakes it when a source changes.
 */
#ifndef BUCARDO_SYNC_WORKER_H
#define BUCARDO_SYNC_WORKER_H

#include "alert.h"
#include "conn_budget.h"
#include "metrics.h"
#include "pgconn.h"

typedef struct SyncWorker SyncWorker;
typedef struct SourceWatch SourceWatch;

typedef struct WorkerConfig {
    ConnParams catalog; /* borrowed: must outlive the worker */
    int chunks;
    size_t chunk_size;
    long batch_keys;       /* keys per transaction in large cycles */
    long batch_grow_max;   /* the batch_grow_max setting (RunnerLimits) */
    char lock_timeout[32]; /* writers' lock_timeout */
    double retry_delay;    /* seconds before the first retry */
    double retry_delay_max;
    double idle_timeout; /* seconds a sync keeps its slot after a busy cycle (conn_idle_timeout) */
    double serial_sleep, deadlock_sleep; /* kid_serial_sleep, kid_deadlock_sleep (RunnerLimits) */
    double stalled_after;                /* the stalled_after setting (RunnerLimits) */
    ConnBudget *budget;                  /* cycle slots (borrowed, like the watcher) */
    SourceWatch *watch;                  /* wakes autokick syncs when their sources change */
    Metrics *metrics;                    /* the engine's figures (borrowed); NULL: none */
    Alerter *alerts;                     /* mail alerts (borrowed); NULL: none */
} WorkerConfig;

SyncWorker *worker_start(const char *sync, const WorkerConfig *cfg);
const char *worker_name(const SyncWorker *w);
/* worker_metrics - the sync's figures (NULL without cfg->metrics). */
SyncMetrics *worker_metrics(const SyncWorker *w);
void worker_kick(SyncWorker *w);
/* worker_changed - a source of this autokick sync has changes (from the
 * watcher): run a cycle, recorded only if it applies something. */
void worker_changed(SyncWorker *w);
/*
 * worker_found - the watcher's poll of source database `db` found changes
 * of this sync's tables committed in snapshot `cur` and not in `ref` (its
 * reference): a cycle runs unless the last one that completed saw them all
 * (runner_saw), as happens when a NOTIFY woke the sync for the same change
 * while the poll was on its way.
 */
void worker_found(SyncWorker *w, const char *db, const char *ref, const char *cur);
/* worker_notified - transaction `xid` of source database `db` changed a
 * table of this sync and notified (its NOTIFY's payload): a cycle runs
 * unless the last one that completed saw it (runner_sees). */
void worker_notified(SyncWorker *w, const char *db, unsigned long long xid);
void worker_pause(SyncWorker *w, bool paused);
bool worker_paused(SyncWorker *w);
/* worker_finish - ask the thread to finish after its cycle in flight
 * (returns at once); worker_exited - has it? */
void worker_finish(SyncWorker *w);
bool worker_exited(const SyncWorker *w);
/* worker_interrupt - ask the thread to finish now: its cycle in flight is
 * cancelled (every statement of it, on every database) and rolls back. */
void worker_interrupt(SyncWorker *w);
/* worker_stop - ask the thread to finish (its cycle in flight completes or
 * rolls back; after worker_interrupt, is cancelled until it has), join it
 * and free the handle. */
void worker_stop(SyncWorker *w);

#endif
