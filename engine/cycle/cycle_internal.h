/*
 * engine/cycle/cycle_internal.h - the state of one sync cycle (Cycle) and
 * the functions that cross between the files the cycle is made of:
 * sync_cycle.c runs it, cycle_keys.c reads the sources' changed keys,
 * cycle_apply.c applies them to the writers, cycle_record.c keeps the
 * catalog's account of it.  Everything here belongs to the sync thread and
 * lives for one cycle.
 */
#ifndef BUCARDO_CYCLE_INTERNAL_H
#define BUCARDO_CYCLE_INTERNAL_H

#include "runner_internal.h"

/* The rows a partitioned table lost with its partitions in a cycle's
 * window (TRUNCATE of a partition, or one dropped): per partition, its
 * constraint (SQL over the table's columns, from bucardo.truncate_log)
 * and whether that happened after prev (see apply_item). */
typedef struct PartCut {
    int n;
    char **cond;
    bool *isnew;
} PartCut;

/* One piece of a unit (cycle_apply.c): source s's keys lo+1..hi of table
 * t (s -1: the table's TRUNCATEs). */
typedef struct WorkItem {
    int s, t;
    long lo, hi;
} WorkItem;

/* An exception customcode's business in the unit being applied
 * (cycle_hooks.c): the failure it is to look at in the next attempt. */
typedef struct ExceptionState {
    bool pending; /* the next attempt runs the exception codes first */
    int w, t;     /* the failing writer and table */
    long lo, hi;  /* the failing batch's keys (bucardo_n), per source */
    int attempts; /* exception calls in this unit */
    char *error;  /* the writer's error */
    char *sqlstate;
} ExceptionState;

/* Everything one cycle works with; freed by cycle_free (sync_cycle.c). */
typedef struct Cycle {
    SyncRunner *r;
    int ns, nt, nw;
    char *started;    /* catalog clock at the start */
    char *run_id;     /* the syncrun row written at the start (ended NULL: running), or NULL */
    bool run_open;    /* that row is not ended yet: record() ends it, drop_run() removes it */
    char **prev;      /* per source: snapshot of the last completed cycle, or NULL */
    char **cur;       /* per source: this cycle's snapshot */
    long *nkeys;      /* [s * nt + t]: changed keys of table t on source s */
    long *maxn;       /* [s * nt + t]: numbers of those keys run 1..maxn (gaps after conflicts) */
    bool *truncated;  /* [s * nt + t] */
    bool *copy;       /* [t * nw + w]: table t is copied whole to writer w */
    bool *to;         /* scratch writer mask */
    bool *md;         /* scratch: the writers of `to` with makedelta */
    bool copy_cycle;  /* onetimecopy or fullcopy targets */
    bool unique_mode; /* this unit's rows go through staging, unique collisions settled (cycle_unique.c) */
    bool text_rows;   /* this batch is small: its rows in COPY text (apply_table) */
    int *sent_ahead;  /* per source: COPY pairs of the unit already sent (send_ahead), not yet streamed */
    bool *udeletes;   /* [s * nt + t]: rows lost in unique collisions, deleted everywhere */
    long conflicts;
    long long *seq_high; /* per sequence: the highest source value */
    bool *seq_called;
    long deletes, inserts;
    /* Members offline and behind (sync_cycle.c: "Members that cannot be reached"). */
    bool *src_on;       /* per source: reachable in this cycle */
    bool *behind;       /* [s * nw + w]: writer w has a sync_member_state row for source s */
    char **bsnap;       /* [s * nw + w]: that row's snapshot (NULL: nothing received yet) */
    bool *catchup;      /* per source: an online writer is behind it, so bucardo_k<t> has old keys */
    long *nnew;         /* [s * nt + t]: keys numbered 1..nnew are new; the rest only behind writers take */
    bool *trunc_new;    /* [s * nt + t]: a TRUNCATE after prev (truncated: in the whole window) */
    double *trunc_time; /* [s * nt + t]: when the window's latest TRUNCATE was (epoch seconds) */
    bool *whole;        /* [s * nt + t]: of those, the whole table's (else only partitions') */
    bool *whole_new;    /* [s * nt + t]: the same after prev */
    PartCut *cuts;      /* [s * nt + t]: partitions truncated or dropped in the window */
    char **why;         /* per writer: why it is left out of this cycle, or NULL */
    int first;          /* the first online source (quoting, column checks) */
    StrBuf left_out;    /* every reason, "; "-separated: the run's warning */
    bool shape_changed; /* record() found the sync's tables or databases changed */
    bool columns_moved; /* a writer's tables' shape at BEGIN was not the one last checked */
    bool moved_only;    /* ... and no writer failed: the unit can be applied again */
    bool *wrote;        /* [w * nt + t]: source writer w changed table t in the current unit */
    bool cut_meanwhile; /* a source writer's own database truncated a table it changed after
                           that source's snapshot: the cycle must run again (check_cuts) */
    /* customcode (cycle_hooks.c) */
    bool endsync;       /* a code cancelled the cycle: nothing is recorded, it runs again */
    StrBuf hook_warn;   /* the codes' warnings and skipped keys: part of the run's warning */
    ExceptionState exc; /* exception codes of the unit being applied */
    /* Keys statements sent with the BEGIN (cycle_keys.c, keys_ahead), per source. */
    PGresult ***ahead; /* their results, ahead_n + 1 of them, until collect_keys takes them; or NULL */
    int *ahead_n;      /* how many fill a key table */
    int **ahead_tab;   /* which tables those are */
    /* The cycle's unit of a backlog (cycle_apply.c, unit_keys), fixed at
     * first use so the key tables' indexes and the batches agree. */
    long unit;       /* keys per committed unit (0: not fixed yet) */
    double unit_rtt; /* the round trip it was sized by, seconds */
} Cycle;

/* presend_sql (cycle_apply.c) - the COPY pairs (keys, rows) of every table
 * of source s, to go out in the string of the cycle's BEGIN (sync_cycle.c,
 * begin_ahead) so that a source is read in one round trip.  Sent before
 * the keys are counted, they assume what most cycles are: one unit, every
 * table at most a small batch's keys, rows in COPY text; a larger table's
 * pair is empty (a guard in its statements).  The unit that matches them
 * streams them; any other use of the connection drops them (src_idle).
 * NULL when the sync rules them out (several sources, sequences,
 * customcode, table copies, writers needing different streams,
 * rebuild_index=2).  *tab (the caller frees it): the table of each pair. */
char *presend_sql(Cycle *c, int s, int **tab, int *n);

/* cycle_keys.c: each source's window and changed keys (see there). */
bool collect_keys(Cycle *c, int s, char *err, size_t errlen) MUST_CHECK;
SrcStatement *keys_ahead(Cycle *c, int s, int **tab, int *n);
bool keys_drop(Cycle *c, int s, char *err, size_t errlen) MUST_CHECK;
bool order_keys(Cycle *c, int s, char *err, size_t errlen) MUST_CHECK;

/* cycle_apply.c: the sequences, and the changes to the writers. */
bool read_sequences(Cycle *c, long long *high, bool *called, bool *changed, char *err,
                    size_t errlen) MUST_CHECK;
bool apply_all(Cycle *c, long total, char *err, size_t errlen) MUST_CHECK;
/* unit_keys - keys per committed unit of a backlog in this cycle (0: no
 * batches, batch_keys is 0): batch_keys, more across a slow link. */
long unit_keys(Cycle *c);

/* cycle_hooks.c: the hook points of the cycle (README.md, "Customcode").
 * cycle_hook runs point p's codes (for table "schema.table", or NULL):
 * false with err set when one failed; c->endsync when one cancelled the
 * cycle.  It costs one pointer check when the sync has no customcode. */
bool cycle_hook_run(Cycle *c, HookPoint p, int t, char *err, size_t errlen) MUST_CHECK;
static inline bool cycle_hook(Cycle *c, HookPoint p, int t, char *err, size_t errlen)
{
    return c->r->hooks == NULL || cycle_hook_run(c, p, t, err, errlen);
}
/* cycle_hooks_load - the runner's codes, once per runner. */
bool cycle_hooks_load(SyncRunner *r, char *err, size_t errlen) MUST_CHECK;
/* exception_prepare - after a unit failed with err (rolled back): is there
 * an exception code for the failing table, and may it be tried again?
 * Then c->exc is pending and the next attempt calls exception_run. */
bool exception_prepare(Cycle *c, const WorkItem *items, int n, const char *err);
/* exception_run - in the next attempt, after BEGIN on every writer: the
 * exception codes (SQL ones in the failing writer's transaction).  1: they
 * repaired (retry) or skipped the keys, go on; 0: none could help (err is
 * the original error again); -1: a code failed (err names it). */
int exception_run(Cycle *c, char *err, size_t errlen);

/* cycle_record.c: the catalog's account of the cycle. */
bool load_members(Cycle *c, char *err, size_t errlen) MUST_CHECK;
bool record(Cycle *c, const char *state, long deletes, long inserts, const char *error, bool advance);
void drop_run(Cycle *c);
void purge(SyncRunner *r, int s, const char *first);
/* purge_later - the same, and source s's reading transaction's COMMIT
 * before it, left to send (r->src[s].tail, tail_purge): the next cycle
 * sends them in its first string (source_begin), or src_settle when none
 * follows soon.  The DELETEs are made when sent (src_tail). */
void purge_later(SyncRunner *r, int s);
/* src_tail - what source s has left to send, as statements (into *out,
 * the caller's to free), the purge's made now from the catalog's
 * snapshots; nothing is left to send after. */
void src_tail(SyncRunner *r, int s, StrList *out);

#endif
