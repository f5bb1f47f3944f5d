/*
 * engine/common/cancel.c - a sync's stop switch: see include/cancel.h.
 *
 * PQcancel is safe to call from another thread than the one using the
 * connection; the handles live under a mutex so a connection closed by its
 * thread (cancel_unwatch first) is never cancelled through a freed handle.
 */
#include "cancel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "log.h"
#include "util.h"

struct CancelSet {
    pthread_mutex_t lock;
    PGcancel **slots; /* NULL: free */
    int nslots;
    atomic_bool fired;
};

CancelSet *cancel_set_create(void)
{
    CancelSet *cs = xcalloc(1, sizeof(CancelSet));

    pthread_mutex_init(&cs->lock, NULL);
    atomic_init(&cs->fired, false);
    return cs;
}

void cancel_set_free(CancelSet *cs)
{
    if (cs == NULL)
        return;
    for (int i = 0; i < cs->nslots; i++)
        if (cs->slots[i])
            PQfreeCancel(cs->slots[i]);
    free(cs->slots);
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}

int cancel_watch(CancelSet *cs, PGconn *conn)
{
    PGcancel *handle;
    int slot = -1;

    if (cs == NULL || conn == NULL || (handle = PQgetCancel(conn)) == NULL)
        return -1;
    pthread_mutex_lock(&cs->lock);
    for (int i = 0; i < cs->nslots && slot < 0; i++)
        if (cs->slots[i] == NULL)
            slot = i;
    if (slot < 0) {
        cs->slots = xrealloc(cs->slots, sizeof(PGcancel *) * (size_t)(cs->nslots + 1));
        slot = cs->nslots++;
    }
    cs->slots[slot] = handle;
    pthread_mutex_unlock(&cs->lock);
    return slot;
}

void cancel_unwatch(CancelSet *cs, int slot)
{
    if (cs == NULL || slot < 0)
        return;
    pthread_mutex_lock(&cs->lock);
    if (slot < cs->nslots && cs->slots[slot]) {
        PQfreeCancel(cs->slots[slot]);
        cs->slots[slot] = NULL;
    }
    pthread_mutex_unlock(&cs->lock);
}

void cancel_fire(CancelSet *cs)
{
    char err[256];

    if (cs == NULL)
        return;
    atomic_store(&cs->fired, true);
    pthread_mutex_lock(&cs->lock);
    for (int i = 0; i < cs->nslots; i++)
        if (cs->slots[i] && !PQcancel(cs->slots[i], err, (int)sizeof(err)))
            log_warn("cannot cancel a statement in flight: %s", err);
    pthread_mutex_unlock(&cs->lock);
}

bool cancel_requested(const CancelSet *cs)
{
    return cs != NULL && atomic_load(&((CancelSet *)cs)->fired);
}
