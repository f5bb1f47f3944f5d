/*
 * cli/health.h - what a sync has not delivered yet, measured on its
 * sources: per table the keys waiting and the age of the oldest change
 * (lag), per member the same for what it still has to receive.  Used by
 * `bucardo status --json` and `bucardo check`.
 *
 * A change waits for the sync when its delta row's transaction is not
 * visible in the sync's last snapshot of that source (sync_source_state),
 * and for a member left behind when it is not visible in the snapshot up
 * to which that member received (sync_member_state) - the engine's own
 * window rule (engine/cycle/sync_cycle.c), read the same way.
 */
#ifndef BUCARDO_CLI_HEALTH_H
#define BUCARDO_CLI_HEALTH_H

#include <stdbool.h>

#include "pgconn.h"
#include "util.h"

typedef struct TableBacklog {
    char *table;  /* schema.table */
    char *source; /* the source database it waits on */
    long keys;    /* distinct keys changed and not applied */
    double lag;   /* seconds since the oldest such change; 0 when none */
} TableBacklog;

typedef struct MemberHealth {
    char *name;
    char *role;   /* source, target, fullcopy */
    char *state;  /* "current", "pending", "behind", "fullcopy" */
    char *since;  /* behind: since when (text), else NULL */
    char *reason; /* behind: why, else NULL */
    long keys;    /* keys it has still to receive */
    double lag;   /* age of the oldest change it has still to receive */
} MemberHealth;

typedef struct SyncHealth {
    long keys;  /* every table, every source */
    double lag; /* the oldest change not delivered to every member */
    int ntables;
    TableBacklog *tables;
    int nmembers;
    MemberHealth *members;
    StrList errors; /* sources that could not be read, and why; their lag is
                     * the age of the sync's last snapshot of them (an upper
                     * bound), their keys unknown */
} SyncHealth;

/* health_measure - fill *out for `sync` (the catalog transaction is the
 * caller's).  False, with a message printed, only when the sync cannot be
 * loaded; unreadable sources are in out->errors. */
bool health_measure(PGconn *cat, const char *sync, SyncHealth *out) MUST_CHECK;
void health_free(SyncHealth *h);

#endif
