/*
 * include/source_watch.h - the engine's one watcher of autokick sources: a
 * thread holding one connection per source database that an autokick sync
 * reads, LISTENing for the capture's NOTIFY and polling for changes whose
 * NOTIFY was skipped, and waking the syncs concerned.
 *
 * Syncs themselves keep no connection between cycles (conn_budget.h), so
 * this is what wakes them, and what notices an idle sync's source going
 * away (stalled); its connections are bounded by the number of
 * source databases, not of syncs.
 */
#ifndef BUCARDO_SOURCE_WATCH_H
#define BUCARDO_SOURCE_WATCH_H

#include "catalog.h"
#include "conn_budget.h"
#include "sync_worker.h"

typedef struct SourceWatch SourceWatch;

/* watch_start - the thread; a lost or refused connection is tried again
 * after retry_delay seconds, doubling up to retry_delay_max.  A source
 * that cannot be connected to, or leaves a query unanswered, for
 * stalled_after seconds (-1: never) is marked stalled in bucardo.db_state
 * through a connection to `catalog` (borrowed: must outlive the watcher),
 * and the mark is deleted at its next answer. */
SourceWatch *watch_start(ConnBudget *budget, const ConnParams *catalog, double retry_delay,
                         double retry_delay_max, double stalled_after);
/* watch_stop - end the thread, close its connections, free it (every
 * owner must have been removed). */
void watch_stop(SourceWatch *w);

/*
 * watch_add - sync worker `owner` reads database `db` (copied); `deltas`
 * names (unqualified, unquoted, in schema bucardo) the delta tables of its
 * tables there.  The owner gets worker_changed() when one of them, or
 * bucardo.truncate_log, has rows of a transaction completed since the
 * watcher last looked, on every NOTIFY from the database, whenever the
 * watcher (re)connects to it, and once when the watcher takes the
 * registration in while watching the database already (its polls may have
 * moved past a change the owner's first cycle did not see yet).
 */
void watch_add(SourceWatch *w, SyncWorker *owner, const DbInfo *db, const StrList *deltas);
/* watch_remove - every registration of owner; it is not called after. */
void watch_remove(SourceWatch *w, SyncWorker *owner);

/* watch_poll_gap - how long after a poll's answer the next poll waits,
 * when it took `took` seconds on a connection whose quickest answer took
 * `floor` (see source_watch.c, paced); exposed for its unit test. */
double watch_poll_gap(double took, double floor);

#endif
