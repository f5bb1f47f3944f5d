/*
 * include/conn_budget.h - how many connections the engine holds, whatever
 * the number of syncs.
 *
 * A sync runs a cycle (or loads its definition) only while it holds one of
 * max_concurrent_syncs slots; each slot keeps one catalog connection for
 * whoever holds it, so the catalog sees one connection per slot, not one per
 * sync.  A sync's data connections (sources, writers) are open only while
 * it holds a slot (sync_worker.c gives the slot back, and closes them, when
 * the sync goes idle or another sync waits).
 *
 * budget_connect is how the engine opens every connection: it first
 * looks at the server's limits through a probe session (one per server and
 * role), never takes a superuser-reserved slot and always leaves two of the
 * others free, and warns (naming the database) when the engine takes the
 * last ones.  See README.md, "Connections", for the formula.
 */
#ifndef BUCARDO_CONN_BUDGET_H
#define BUCARDO_CONN_BUDGET_H

#include <stdatomic.h>

#include "pgconn.h"

typedef struct ConnBudget ConnBudget;

/* budget_create - `slots` cycle slots for syncs whose catalog is `catalog`
 * (borrowed: must outlive the budget); every catalog connection it opens
 * gets `lock_timeout` (copied). */
ConnBudget *budget_create(const ConnParams *catalog, const char *lock_timeout, int slots);
/* budget_destroy - close the kept catalog connections (no slot may be held). */
void budget_destroy(ConnBudget *b);
int budget_slots(const ConnBudget *b);

/*
 * budget_acquire - wait for a free slot; *cat gets the catalog connection
 * kept with it (NULL: none yet, the holder connects, see budget_catalog).
 * Waiters are served first come, first served: a freed slot goes to the
 * oldest, never to a newcomer.  false (no slot taken) only when *stop
 * became true while waiting.
 */
bool budget_acquire(ConnBudget *b, const atomic_bool *stop, PGconn **cat) MUST_CHECK;
/* budget_release - give the slot back, with its catalog connection (kept
 * for the next holder when healthy and outside a transaction; else closed). */
void budget_release(ConnBudget *b, PGconn *cat);
/* budget_waiting - how many syncs wait for a slot now. */
int budget_waiting(ConnBudget *b);
/* budget_contended - does a sync wait for a slot now, none being free? */
bool budget_contended(ConnBudget *b);
/* budget_contention_fd - an eventfd that polls readable (POLLIN) while
 * budget_contended is true: a sync lingering on its slot polls it, so it
 * gives the slot back the moment another needs one.  Never read it. */
int budget_contention_fd(const ConnBudget *b);
/* budget_catalog - *cat usable: kept when healthy, else (re)connected
 * through budget_connect; false (error logged) when it cannot be. */
bool budget_catalog(ConnBudget *b, PGconn **cat) MUST_CHECK;

/*
 * budget_connect - pg_connect_err, after a look at the server's limits
 * (max_connections, superuser_reserved_connections, client sessions in
 * pg_stat_activity) through the server's probe session, under the probe's
 * lock so the engine's own connections are counted one at a time (those
 * still opening as well); the connects themselves overlap.  When
 * fewer than two non-reserved slots would stay free, no connection is made
 * and NULL returned (err says so; callers treat it like an unreachable
 * database and retry later); taking one of the last tenth is logged as a
 * warning naming `dbname` (at most once a minute per database).  b NULL
 * (the CLI): plain pg_connect_err.
 */
PGconn *budget_connect(ConnBudget *b, const ConnParams *cp, const char *dbname, char *err,
                       size_t errlen) MUST_CHECK;

#endif
