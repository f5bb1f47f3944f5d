/*
 * engine/daemon/sync_worker.c - one thread per sync.
 *
 * States: IDLE (no connection; poll on the wake eventfd, with a timeout
 * for checktime or the next retry) -> waiting for a slot of the connection
 * budget (conn_budget.h) -> RUNNING (one cycle, on the slot's catalog
 * connection and the sync's data connections) -> LINGER or IDLE.  A failed
 * cycle is retried after retry_delay, doubling up to retry_delay_max; any
 * success resets the delay.  The sync runs once at start, so changes made
 * while the engine was down are applied at once.
 *
 * Between cycles a sync holds no connection: leaving the slot closes its
 * sources and writers (runner_release), so max_concurrent_syncs, not the
 * number of syncs, bounds the engine's connections.  After a cycle that
 * applied something, the sync keeps its slot (LINGER) for up to
 * conn_idle_timeout seconds while no other sync waits for one (it polls the
 * budget's contention eventfd, so it leaves the moment one does): a sync
 * with steady changes then does not reconnect (and plan its tables again)
 * at every cycle.
 *
 * Autokick syncs are woken by the watcher (source_watch.c), which LISTENs
 * on and polls each source database once for every sync reading it.
 *
 * Stopping: the flag ends the loop after the cycle in flight.  When the
 * engine stops (worker_interrupt), that cycle is not waited for: the
 * sync's connections are watched by a CancelSet (cancel.h), and their
 * statements in flight are cancelled, again every STOP_CANCEL_MS until the
 * thread is gone, so a cycle waiting on a lock (or on anything else) fails
 * at once, rolls back and lets the thread end.
 */
#include "sync_worker.h"

#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "catalog.h"
#include "log.h"
#include "source_watch.h"
#include "sync_runner.h"

#define STOP_CANCEL_MS 200
/* How long a cycle's source COMMIT and purge wait for the next cycle to
 * carry them (runner_settle) while nothing is due. */
#define SETTLE_AFTER_S 0.5

/* What the watcher reported of one source database (worker_found,
 * worker_notified): the polls' first reference and last snapshot (NULL
 * until a poll found something), and the transactions that notified. */
typedef struct Found {
    char *db, *ref, *cur;
    unsigned long long *xids;
    int nxids;
    bool many; /* more than FOUND_XIDS_MAX transactions: a cycle runs */
} Found;

/* Transactions kept per database while a cycle runs (memory stays
 * bounded when a long cycle hears of many). */
#define FOUND_XIDS_MAX 1024

struct SyncWorker {
    char *name;
    WorkerConfig cfg;
    pthread_t thread;
    int wake_fd;
    atomic_bool stop;
    atomic_bool exited;    /* worker_main has returned */
    atomic_bool interrupt; /* worker_interrupt: cancel the cycle in flight */
    CancelSet *cancel;     /* the runner's connections, cancelled by worker_stop */
    atomic_bool kicked;
    atomic_bool changed;
    /* What the watcher's polls found (worker_found), per source database:
     * the first poll's reference and the last one's snapshot. */
    pthread_mutex_t found_lock;
    Found *found;
    int nfound;
    atomic_bool paused;
    SyncMetrics *m; /* the engine's figures of this sync (owned by cfg.metrics) */
};

static void wake(SyncWorker *w)
{
    uint64_t one = 1;
    if (write(w->wake_fd, &one, sizeof(one)) < 0) {
        /* The counter only saturates when the worker already has a wake-up pending. */
    }
}

/* drop_found - forget what the polls found: a cycle starts, whose
 * snapshot is taken after every one of them. */
static void drop_found(SyncWorker *w)
{
    pthread_mutex_lock(&w->found_lock);
    for (int i = 0; i < w->nfound; i++) {
        free(w->found[i].db);
        free(w->found[i].ref);
        free(w->found[i].cur);
        free(w->found[i].xids);
    }
    free(w->found);
    w->found = NULL;
    w->nfound = 0;
    pthread_mutex_unlock(&w->found_lock);
}

/* found_new - did the polls find anything the last completed cycle did
 * not apply (runner_saw)?  Without a runner, yes.  Forgets them. */
static bool found_new(SyncWorker *w, const SyncRunner *runner)
{
    bool any = false;

    pthread_mutex_lock(&w->found_lock);
    for (int i = 0; i < w->nfound && !any; i++) {
        const Found *f = &w->found[i];
        any = runner == NULL || f->many || (f->cur && !runner_saw(runner, f->db, f->ref, f->cur));
        for (int k = 0; k < f->nxids && !any; k++)
            any = !runner_sees(runner, f->db, f->xids[k]);
    }
    pthread_mutex_unlock(&w->found_lock);
    drop_found(w);
    return any;
}

/* load - the sync's definition, on the held slot's catalog connection. */
static SyncRunner *load(SyncWorker *w, PGconn **cat)
{
    RunnerLimits limits = {w->cfg.chunks,
                           w->cfg.chunk_size,
                           w->cfg.batch_keys,
                           w->cfg.lock_timeout,
                           w->cancel,
                           w->cfg.budget,
                           w->cfg.serial_sleep,
                           w->cfg.deadlock_sleep,
                           w->cfg.stalled_after,
                           w->cfg.batch_grow_max};
    SyncDef def;
    LookupStatus st;

    if (!budget_catalog(w->cfg.budget, cat))
        return NULL;
    /* One snapshot, so the shape matches the tables and members loaded. */
    if (pg_exec(*cat, "catalog", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL))
        st = syncdef_load(*cat, w->name, &def);
    else
        st = LOOKUP_ERROR;
    PQclear(PQexec(*cat, "ROLLBACK"));
    if (st != LOOKUP_FOUND) {
        log_error("cannot load the sync's definition from the catalog");
        return NULL;
    }
    return runner_create(&def, &w->cfg.catalog, limits);
}

/* watch - an autokick sync asks the watcher to wake it when a source changes. */
static void watch(SyncWorker *w, const SyncRunner *runner)
{
    const SyncDef *def = runner_def(runner);
    StrList deltas = {0};

    if (w->cfg.watch == NULL)
        return;
    /* Only the tables that autokick (their own setting, else the sync's). */
    for (int t = 0; t < def->ntables; t++)
        if (def->tables[t].nkeys > 0 && def->tables[t].autokick) {
            char *name = capture_object_name("delta", &def->tables[t]);
            strlist_add(&deltas, name);
            free(name);
        }
    for (int s = 0; deltas.count > 0 && s < def->nsources; s++)
        watch_add(w->cfg.watch, w, &def->sources[s], &deltas);
    strlist_free(&deltas);
}

/* Holding a budget slot: its catalog connection lives in the runner while
 * there is one, else here. */
typedef struct Slot {
    bool held;
    PGconn *cat;
} Slot;

static bool take(SyncWorker *w, Slot *slot, SyncRunner *runner)
{
    if (!slot->held) {
        if (!budget_acquire(w->cfg.budget, &w->stop, &slot->cat))
            return false;
        slot->held = true;
    }
    if (runner && slot->cat) {
        runner_attach_catalog(runner, slot->cat);
        slot->cat = NULL;
    }
    return true;
}

static void give_back(SyncWorker *w, Slot *slot, SyncRunner *runner)
{
    PGconn *cat = slot->cat;

    if (!slot->held)
        return;
    if (runner) {
        PGconn *rcat = runner_release(runner);
        if (cat == NULL)
            cat = rcat;
        else if (rcat)
            PQfinish(rcat);
    }
    budget_release(w->cfg.budget, cat);
    slot->cat = NULL;
    slot->held = false;
}

/* Which alerts a sync has sent: the next ones are transitions from these. */
typedef struct AlertState {
    bool bad;    /* the last cycle failed */
    bool behind; /* the last cycle left a member out */
} AlertState;

/*
 * account - the cycle's figures to the metrics, and the alerts its result
 * calls for: Bad after good (or at the first cycle), Good after Bad, a
 * member left out, every member caught up again.  A cycle cancelled because
 * the engine stops is no alert: the stop mail says it.
 */
static void account(SyncWorker *w, const SyncRunner *runner, CycleResult res, double started, double seconds,
                    const char *err, AlertState *st)
{
    const CycleStats *stats = runner_last_stats(runner);
    CycleFigures f = {(int)res,         started,          seconds,        stats->deletes,
                      stats->inserts,   stats->conflicts, stats->ntables, stats->table_names,
                      stats->table_keys};

    metrics_cycle(w->m, &f);
    if (w->cfg.alerts == NULL || atomic_load(&w->stop))
        return;
    if (res == CYCLE_FAILED && !st->bad)
        alert_sync(w->cfg.alerts, w->name, ALERT_BAD, err);
    else if (res != CYCLE_FAILED && st->bad)
        alert_sync(w->cfg.alerts, w->name, ALERT_GOOD, "a cycle completed");
    if (res == CYCLE_PARTIAL && !st->behind)
        alert_sync(w->cfg.alerts, w->name, ALERT_BEHIND, stats->left_out);
    else if ((res == CYCLE_DONE || res == CYCLE_EMPTY) && st->behind)
        alert_sync(w->cfg.alerts, w->name, ALERT_CAUGHT_UP, "every member has every change again");
    st->bad = res == CYCLE_FAILED;
    if (res != CYCLE_FAILED)
        st->behind = res == CYCLE_PARTIAL;
}

static void *worker_main(void *arg)
{
    SyncWorker *w = arg;
    SyncRunner *runner = NULL;
    Slot slot = {false, NULL};
    double delay = w->cfg.retry_delay, next_retry = 0, next_check = 0, linger_until = 0, settle_at = 0;
    bool due = true; /* run once at start */
    char err[2048];
    AlertState alerts = {false, false};

    log_set_thread_name(w->name, "");
    while (!atomic_load(&w->stop)) {
        struct pollfd fds[2];
        int nfds = 1, timeout_ms = -1;
        double now = monotonic_seconds(), wait_until = 0;
        bool explicit_kick = atomic_exchange(&w->kicked, false);

        if (atomic_exchange(&w->changed, false))
            due = true;
        if (found_new(w, runner)) {
            metrics_pending(w->m);
            due = true;
        }
        if (runner == NULL && now >= next_retry) {
            if (!take(w, &slot, NULL))
                break;
            if ((runner = load(w, &slot.cat)) == NULL) {
                give_back(w, &slot, NULL);
                next_retry = now + delay;
                delay = fmin(delay * 2, w->cfg.retry_delay_max);
                continue;
            }
            watch(w, runner);
            (void)take(w, &slot, runner); /* held: only hands the catalog connection over */
        }
        if (runner && !atomic_load(&w->paused) &&
            (due || explicit_kick || (next_retry > 0 && now >= next_retry) ||
             (next_check > 0 && now >= next_check))) {
            CycleResult res;
            const SyncDef *def = runner_def(runner);
            double began;

            if (!take(w, &slot, runner))
                break;
            /* Changes reported while waiting for the slot: this cycle sees them. */
            (void)atomic_exchange(&w->changed, false);
            drop_found(w);
            explicit_kick |= atomic_exchange(&w->kicked, false);
            began = monotonic_seconds();
            res = runner_cycle(runner, explicit_kick, err, sizeof(err));
            account(w, runner, res, began, monotonic_seconds() - began, err, &alerts);
            due = false;
            next_check = def->checktime > 0 ? monotonic_seconds() + def->checktime : 0;
            /* An empty cycle (often the second wake-up for the same change:
             * its NOTIFY and the watcher's poll) leaves the linger of the
             * last busy one running; a failed or partial one ends it. */
            if (res == CYCLE_FAILED || res == CYCLE_PARTIAL)
                linger_until = 0;
            if (res == CYCLE_FAILED) {
                next_retry = monotonic_seconds() + delay;
                log_warn("cycle failed; retrying in %.1f s", delay);
                delay = fmin(delay * 2, w->cfg.retry_delay_max);
            } else if (res == CYCLE_PARTIAL) {
                /* The one left out is looked for again on the retry backoff;
                 * a cycle a customcode cancelled (endsync) runs again so. */
                next_retry = monotonic_seconds() + delay;
                if (strstr(err, "(endsync)"))
                    log_info("%s; running it again in %.1f s", err, delay);
                else
                    log_warn("a member was left out; looking for it again in %.1f s", delay);
                delay = fmin(delay * 2, w->cfg.retry_delay_max);
            } else {
                next_retry = 0;
                delay = w->cfg.retry_delay;
                if (res == CYCLE_DONE)
                    linger_until = monotonic_seconds() + w->cfg.idle_timeout;
            }
            settle_at = 0;
            continue; /* look again for kicks that came during the cycle */
        }
        if (slot.held && (linger_until == 0 || now >= linger_until || atomic_load(&w->paused) ||
                          budget_contended(w->cfg.budget))) {
            give_back(w, &slot, runner);
            linger_until = 0;
        }
        /* No cycle followed at once: the last one's source COMMIT and purge
         * wait SETTLE_AFTER_S for the next one's first string, then go on
         * their own (runner_settle: a round trip a change that commits
         * meanwhile would wait for). */
        if (runner && runner_unsettled(runner)) {
            if (settle_at == 0) {
                settle_at = now + SETTLE_AFTER_S;
            } else if (now >= settle_at) {
                runner_settle(runner);
                settle_at = 0;
            }
        } else {
            settle_at = 0;
        }
        fds[0].fd = w->wake_fd;
        fds[0].events = POLLIN;
        if (next_retry > 0)
            wait_until = next_retry;
        if (next_check > 0 && (wait_until == 0 || next_check < wait_until))
            wait_until = next_check;
        if (slot.held) {
            /* Lingering: until it ends, or until another sync needs a slot. */
            fds[1].fd = budget_contention_fd(w->cfg.budget);
            fds[1].events = POLLIN;
            nfds = 2;
            if (wait_until == 0 || linger_until < wait_until)
                wait_until = linger_until;
        }
        if (settle_at > 0 && (wait_until == 0 || settle_at < wait_until))
            wait_until = settle_at;
        if (wait_until > 0) {
            double ms = (wait_until - now) * 1000.0;
            timeout_ms = ms < 0 ? 0 : ms > 3600000 ? 3600000 : (int)ms + 1;
        }
        if (poll(fds, (nfds_t)nfds, timeout_ms) > 0 && (fds[0].revents & POLLIN)) {
            uint64_t v;
            if (read(w->wake_fd, &v, sizeof(v)) < 0) {
                /* nothing pending after all */
            }
        }
    }
    if (w->cfg.watch)
        watch_remove(w->cfg.watch, w);
    give_back(w, &slot, runner);
    runner_destroy(runner);
    log_info("stopped");
    atomic_store(&w->exited, true);
    return NULL;
}

SyncWorker *worker_start(const char *sync, const WorkerConfig *cfg)
{
    SyncWorker *w = xcalloc(1, sizeof(SyncWorker));

    w->name = xstrdup(sync);
    w->cfg = *cfg;
    w->m = cfg->metrics ? metrics_sync(cfg->metrics, sync) : NULL;
    w->cancel = cancel_set_create();
    pthread_mutex_init(&w->found_lock, NULL);
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake_fd < 0 || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        log_error("cannot start the thread of sync %s", sync);
        exit(3);
    }
    return w;
}

const char *worker_name(const SyncWorker *w)
{
    return w->name;
}

SyncMetrics *worker_metrics(const SyncWorker *w)
{
    return w->m;
}

void worker_kick(SyncWorker *w)
{
    atomic_store(&w->kicked, true);
    wake(w);
}

void worker_changed(SyncWorker *w)
{
    metrics_pending(w->m);
    atomic_store(&w->changed, true);
    wake(w);
}

/* found_entry - db's entry (made if need be); found_lock held. */
static Found *found_entry(SyncWorker *w, const char *db)
{
    int i;

    for (i = 0; i < w->nfound && strcmp(w->found[i].db, db) != 0; i++)
        ;
    if (i == w->nfound) {
        w->found = xrealloc(w->found, sizeof(Found) * (size_t)(w->nfound + 1));
        memset(&w->found[i], 0, sizeof(Found));
        w->found[i].db = xstrdup(db);
        w->nfound++;
    }
    return &w->found[i];
}

void worker_found(SyncWorker *w, const char *db, const char *ref, const char *cur)
{
    Found *f;

    pthread_mutex_lock(&w->found_lock);
    f = found_entry(w, db);
    /* The polls of one database follow each other (each one's reference is
     * the previous one's snapshot): first reference, last snapshot. */
    if (f->ref == NULL)
        f->ref = xstrdup(ref);
    free(f->cur);
    f->cur = xstrdup(cur);
    pthread_mutex_unlock(&w->found_lock);
    wake(w);
}

void worker_notified(SyncWorker *w, const char *db, unsigned long long xid)
{
    Found *f;

    pthread_mutex_lock(&w->found_lock);
    f = found_entry(w, db);
    for (int i = 0; i < f->nxids && xid != 0; i++)
        if (f->xids[i] == xid)
            xid = 0; /* known already */
    if (xid != 0 && f->nxids == FOUND_XIDS_MAX) {
        f->many = true;
    } else if (xid != 0) {
        if (f->xids == NULL)
            f->xids = xmalloc(sizeof(unsigned long long) * FOUND_XIDS_MAX);
        f->xids[f->nxids++] = xid;
    }
    pthread_mutex_unlock(&w->found_lock);
    wake(w);
}

void worker_pause(SyncWorker *w, bool paused)
{
    atomic_store(&w->paused, paused);
    wake(w);
}

bool worker_paused(SyncWorker *w)
{
    return atomic_load(&w->paused);
}

void worker_finish(SyncWorker *w)
{
    atomic_store(&w->stop, true);
    wake(w);
}

bool worker_exited(const SyncWorker *w)
{
    return atomic_load(&w->exited);
}

void worker_interrupt(SyncWorker *w)
{
    atomic_store(&w->interrupt, true);
    atomic_store(&w->stop, true);
    wake(w);
    cancel_fire(w->cancel);
}

void worker_stop(SyncWorker *w)
{
    if (w == NULL)
        return;
    atomic_store(&w->stop, true);
    wake(w);
    while (atomic_load(&w->interrupt) && !atomic_load(&w->exited)) {
        struct timespec pause = {0, STOP_CANCEL_MS * 1000000L};
        cancel_fire(w->cancel);
        nanosleep(&pause, NULL);
    }
    pthread_join(w->thread, NULL);
    cancel_set_free(w->cancel);
    close(w->wake_fd);
    drop_found(w);
    pthread_mutex_destroy(&w->found_lock);
    free(w->name);
    free(w);
}
