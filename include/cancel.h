/*
 * include/cancel.h - a sync's stop switch for the statements in flight.
 *
 * A blocking libpq call cannot be interrupted, and a statement can wait on
 * a lock for as long as lock_timeout allows (or, before it was set
 * everywhere, for ever): `bucardo stop` must not wait for that.  Every
 * connection a sync's threads work with is watched here (its PGcancel
 * handle, taken by the thread that owns the connection); cancel_fire,
 * from the thread stopping the sync, cancels whatever each of them is
 * running, and from then on cancel_requested tells the sync's threads to
 * start nothing new.  Thread-safe; a NULL set watches nothing.
 */
#ifndef BUCARDO_CANCEL_H
#define BUCARDO_CANCEL_H

#include <stdbool.h>

#include <libpq-fe.h>

typedef struct CancelSet CancelSet;

CancelSet *cancel_set_create(void);
void cancel_set_free(CancelSet *cs);
/* cancel_watch - conn (connected, owned by the calling thread) can be
 * cancelled by cancel_fire; returns its slot, or -1 (nothing watched). */
int cancel_watch(CancelSet *cs, PGconn *conn);
/* cancel_unwatch - before the connection is closed; slot -1 is ignored. */
void cancel_unwatch(CancelSet *cs, int slot);
/* cancel_fire - cancel_requested is true from now on, and each watched
 * connection's statement in flight (if any) is cancelled.  The stopping
 * thread calls it again until the sync's thread is gone: a statement sent
 * just after a cancel request reached an idle server is caught next time. */
void cancel_fire(CancelSet *cs);
bool cancel_requested(const CancelSet *cs);

#endif
