/*
 * engine/daemon/sync_worker.c - one thread per sync.
 *
 * States: WAITING (poll on the wake eventfd and, for autokick syncs, on
 * the source connection LISTENing for capture notifications, with a
 * timeout for checktime or the next retry) -> RUNNING (one cycle) ->
 * WAITING.  A failed cycle is retried after retry_delay, doubling up to
 * retry_delay_max; any success resets the delay.  The sync runs once at
 * start, so changes made while the engine was down are applied at once.
 *
 * Autokick syncs also poll their sources (runner_check_completed): the
 * capture's NOTIFY is skipped by transactions that overlap another
 * notifying one (sql/capture.sql, section kick), and the poll is what
 * finds their changes.  It runs POLL_MIN_S after a cycle that applied
 * something and backs off to POLL_MAX_S while it finds nothing, so an idle
 * source costs two table-less queries a second.
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

#include "catalog.h"
#include "conflict.h"
#include "log.h"
#include "sync_runner.h"

#define POLL_MIN_S     0.01
#define POLL_MAX_S     0.5
#define STOP_CANCEL_MS 200

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
    atomic_bool paused;
};

static void wake(SyncWorker *w)
{
    uint64_t one = 1;
    if (write(w->wake_fd, &one, sizeof(one)) < 0) {
        /* The counter only saturates when the worker already has a wake-up pending. */
    }
}

/* load - the sync's definition through a short-lived catalog connection. */
static SyncRunner *load(SyncWorker *w)
{
    char reason[512];
    PGconn *cat = pg_connect_err(&w->cfg.catalog, reason, sizeof(reason));
    RunnerLimits limits = {w->cfg.chunks, w->cfg.chunk_size, w->cfg.batch_keys, w->cfg.lock_timeout,
                           w->cancel};
    SyncDef def;
    LookupStatus st;

    if (cat == NULL) {
        log_error("catalog: cannot connect to load the sync: %s", reason);
        return NULL;
    }
    /* One snapshot, so the shape matches the tables and members loaded. */
    if (pg_exec(cat, "catalog", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL))
        st = syncdef_load(cat, w->name, &def);
    else
        st = LOOKUP_ERROR;
    PQfinish(cat);
    if (st != LOOKUP_FOUND) {
        log_error("cannot load the sync's definition from the catalog");
        return NULL;
    }
    return runner_create(&def, &w->cfg.catalog, limits);
}

static void *worker_main(void *arg)
{
    SyncWorker *w = arg;
    SyncRunner *runner = NULL;
    double delay = w->cfg.retry_delay, next_retry = 0, next_check = 0, next_poll = 0, poll_delay = POLL_MIN_S;
    bool due = true; /* run once at start */
    char err[2048], name[80];

    snprintf(name, sizeof(name), "sync %s", w->name);
    log_set_thread_name(name);
    while (!atomic_load(&w->stop)) {
        struct pollfd fds[1 + CONFLICT_MAX_SOURCES];
        int socks[CONFLICT_MAX_SOURCES], nsocks = 0, nfds = 1, timeout_ms = -1;
        double now = monotonic_seconds(), wait_until = 0;
        bool explicit_kick = atomic_exchange(&w->kicked, false);

        if (runner == NULL && (runner = load(w)) == NULL) {
            next_retry = now + delay;
            delay = fmin(delay * 2, w->cfg.retry_delay_max);
        }
        if (runner && !atomic_load(&w->paused) &&
            (due || explicit_kick || (next_retry > 0 && now >= next_retry) ||
             (next_check > 0 && now >= next_check))) {
            CycleResult res = runner_cycle(runner, explicit_kick, err, sizeof(err));
            const SyncDef *def = runner_def(runner);

            due = false;
            next_check = def->checktime > 0 ? monotonic_seconds() + def->checktime : 0;
            if (res == CYCLE_FAILED) {
                next_retry = monotonic_seconds() + delay;
                log_warn("cycle failed; retrying in %.1f s", delay);
                delay = fmin(delay * 2, w->cfg.retry_delay_max);
                next_poll = 0;
            } else if (res == CYCLE_PARTIAL) {
                /* The members online go on as usual (the poll included); the
                 * one left out is looked for again on the retry backoff. */
                next_retry = monotonic_seconds() + delay;
                log_warn("a member was left out; looking for it again in %.1f s", delay);
                delay = fmin(delay * 2, w->cfg.retry_delay_max);
                poll_delay = POLL_MIN_S;
                next_poll = def->autokick ? monotonic_seconds() + poll_delay : 0;
            } else {
                next_retry = 0;
                delay = w->cfg.retry_delay;
                poll_delay = res == CYCLE_DONE ? POLL_MIN_S : fmin(poll_delay * 2, POLL_MAX_S);
                next_poll = def->autokick ? monotonic_seconds() + poll_delay : 0;
            }
            continue; /* look again for kicks that came during the cycle */
        }
        if (runner && next_poll > 0 && now >= next_poll && !atomic_load(&w->paused)) {
            int found = runner_check_completed(runner);
            if (found != 0) {
                due = true; /* on error too: the cycle reconnects and reports */
                continue;
            }
            poll_delay = fmin(poll_delay * 2, POLL_MAX_S);
            next_poll = now + poll_delay;
        }
        if (runner)
            nsocks = runner_notify_sockets(runner, socks, CONFLICT_MAX_SOURCES);
        /* Notifications read during the cycle wait in libpq, not on the socket. */
        if (nsocks > 0 && runner_consume_notifies(runner)) {
            due = true;
            continue;
        }
        fds[0].fd = w->wake_fd;
        fds[0].events = POLLIN;
        for (int i = 0; i < nsocks; i++) {
            fds[nfds].fd = socks[i];
            fds[nfds++].events = POLLIN;
        }
        if (next_retry > 0)
            wait_until = next_retry;
        if (next_check > 0 && (wait_until == 0 || next_check < wait_until))
            wait_until = next_check;
        if (next_poll > 0 && !atomic_load(&w->paused) && (wait_until == 0 || next_poll < wait_until))
            wait_until = next_poll;
        if (wait_until > 0) {
            double ms = (wait_until - now) * 1000.0;
            timeout_ms = ms < 0 ? 0 : ms > 3600000 ? 3600000 : (int)ms + 1;
        }
        if (poll(fds, (nfds_t)nfds, timeout_ms) > 0) {
            if (fds[0].revents & POLLIN) {
                uint64_t v;
                if (read(w->wake_fd, &v, sizeof(v)) < 0) {
                    /* nothing pending after all */
                }
            }
            for (int i = 1; i < nfds; i++)
                if (fds[i].revents & (POLLIN | POLLERR | POLLHUP))
                    due = runner_consume_notifies(runner) || due;
        }
    }
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
    w->cancel = cancel_set_create();
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

void worker_kick(SyncWorker *w)
{
    atomic_store(&w->kicked, true);
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
    free(w->name);
    free(w);
}
