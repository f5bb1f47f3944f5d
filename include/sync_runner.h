/*
 * include/sync_runner.h - what one sync thread holds between cycles (its
 * definition, its catalog and source connections, its target writers and
 * chunk pool), and the cycle itself.
 *
 * A SyncRunner belongs to exactly one sync thread; the writer threads it
 * starts belong to it and stop with it.
 */
#ifndef BUCARDO_SYNC_RUNNER_H
#define BUCARDO_SYNC_RUNNER_H

#include "cancel.h"
#include "conn_budget.h"
#include "syncdef.h"

typedef struct SyncRunner SyncRunner;

typedef enum CycleResult {
    CYCLE_DONE,   /* changes applied to every target and recorded */
    CYCLE_EMPTY,  /* nothing to do */
    CYCLE_FAILED, /* rolled back everywhere; error logged and recorded */
    CYCLE_PARTIAL /* done or empty without some member: run again soon so it catches up */
} CycleResult;

/* Limits that bound the runner's memory. */
typedef struct RunnerLimits {
    int chunks;               /* chunks in the pool */
    size_t chunk_size;        /* bytes per chunk */
    long batch_keys;          /* keys per transaction when a cycle is larger (0: no limit) */
    const char *lock_timeout; /* lock_timeout of every session (copied); NULL: 60s */
    CancelSet *cancel;        /* the sync's stop switch (borrowed; may be NULL) */
    ConnBudget *budget;       /* every connection through budget_connect; NULL (the CLI): plain */
    /* Seconds before a batch that met a serialization failure / a deadlock
     * is applied again (kid_serial_sleep, kid_deadlock_sleep); -1: no
     * retry, the cycle fails (and the sync is retried after retry_delay). */
    double serial_sleep, deadlock_sleep;
    /* Seconds a member must stay unreachable before the cycles mark it
     * stalled in bucardo.db_state (setting stalled_after); -1: never. */
    double stalled_after;
    /* At most this many times batch_keys per transaction across a slow
     * link (setting batch_grow_max; cycle_apply.c, unit_keys); 1: never more. */
    long batch_grow_max;
} RunnerLimits;

/* runner_create - takes ownership of *def (left zeroed). */
SyncRunner *runner_create(SyncDef *def, const ConnParams *catalog, RunnerLimits limits);
void runner_destroy(SyncRunner *r);

/*
 * runner_cycle - one sync cycle.  `explicit_kick` records even an empty
 * cycle, so `bucardo kick SYNC TIMEOUT` sees its outcome.  On failure, err
 * holds the error (which names database, table and SQLSTATE).
 */
CycleResult runner_cycle(SyncRunner *r, bool explicit_kick, char *err, size_t errlen);

/*
 * runner_attach_catalog - the catalog connection of the budget slot the
 * sync thread holds (NULL: connect when needed); runner_release - close the
 * data connections (sources, writers; the sources' plans are kept, and the
 * next connection's BEGIN says whether the tables' shape still fits them)
 * and hand back the catalog connection, when the thread gives its slot
 * back.
 */
void runner_attach_catalog(SyncRunner *r, PGconn *cat);
PGconn *runner_release(SyncRunner *r);

/*
 * runner_validate - connect to the first source and check that every
 * receiving database has each table with the source's columns (the check
 * the engine makes before a sync's first cycle).  err says what is wrong.
 */
bool runner_validate(SyncRunner *r, char *err, size_t errlen) MUST_CHECK;

/*
 * CycleStats - what the last runner_cycle did, for the engine's metrics
 * and alerts (metrics.h, alert.h).  Owned by the runner, valid until its
 * next cycle.  ntables is 0 when that cycle failed before reading keys.
 */
typedef struct CycleStats {
    long deletes, inserts, conflicts;
    int ntables;
    char *const *table_names; /* "schema.table", per table of runner_def */
    const long *table_keys;   /* keys found per table, every source together */
    const char *left_out;     /* members left out and why ("" when none) */
} CycleStats;

const CycleStats *runner_last_stats(const SyncRunner *r);

/*
 * runner_settle - send, and wait for, what the last cycle left to send on
 * its sources: the reading transactions' COMMIT and the purge, which go in
 * the next cycle's first string when it follows soon.  The sync thread
 * calls it when none followed within SETTLE_AFTER_S (sync_worker.c), and
 * releasing the sources does too, so no reading transaction stays open
 * while the sync is idle.
 */
void runner_settle(SyncRunner *r);
/* runner_unsettled - has the last cycle left something to send? */
bool runner_unsettled(const SyncRunner *r);

/*
 * runner_saw - has the last cycle that took a snapshot on source database
 * `db` one that sees every transaction `cur` sees and `ref` does not (both
 * pg_snapshot texts of that database, from the watcher's poll)?  Then the
 * changes that poll found need no cycle now: that cycle applied them, or
 * it failed or left a member out and the sync's retry (on its backoff)
 * applies them.  False when unsure.
 */
bool runner_saw(const SyncRunner *r, const char *db, const char *ref, const char *cur);

/* runner_sees - does the last cycle that took a snapshot on source
 * database `db` see transaction `xid` committed (as runner_saw)? */
bool runner_sees(const SyncRunner *r, const char *db, unsigned long long xid);

/* runner_def - the definition the runner works from. */
const SyncDef *runner_def(const SyncRunner *r);

#endif
