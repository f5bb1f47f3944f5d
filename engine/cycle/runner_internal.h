/*
 * engine/cycle/runner_internal.h - the inside of a SyncRunner, shared by the
 * files that make up a sync cycle (sync_runner.c: connections and plans;
 * sync_cycle.c: the cycle, with cycle_keys.c, cycle_apply.c and
 * cycle_record.c, which share cycle_internal.h; cycle_stream.c: COPY
 * streams; cycle_checks.c: the receiving tables' columns;
 * cycle_conflicts.c: multi-source conflicts; cycle_unique.c: unique indexes
 * other than the key).  Everything here belongs to the sync thread.
 */
#ifndef BUCARDO_RUNNER_INTERNAL_H
#define BUCARDO_RUNNER_INTERNAL_H

#include <stdatomic.h>

#include "chunk_queue.h"
#include "hooks.h"
#include "conflict.h"
#include "sync_runner.h"
#include "target_driver.h"

/* cycle_unique.c: a table's unique indexes other than the key, on one source. */
typedef struct UniqueInfo UniqueInfo;

/* One database's reachability as this sync's cycles saw it. */
typedef struct ReachState {
    char *db;
    double down_since; /* monotonic_seconds() of the first failure in a row; 0: reached */
    int marked;        /* bucardo.db_state has its row: 1 yes, 0 no, -1 not known yet */
} ReachState;

/* Per source and table: SQL fragments quoted for that connection. */
typedef struct TablePlan {
    char *display;   /* schema.table, unquoted, for messages */
    char *qualified; /* "schema"."table" */
    /* What reads the table's rows: "ONLY schema.table", or the table
     * itself where it is partitioned.  Each table of an inheritance
     * hierarchy is replicated as itself: a parent's rows are its own, not
     * its children's (they belong to the children's own entries, if any).
     * With a capture filter, "(SELECT * FROM <that> WHERE (filter))": every
     * read of the rows sees only those the sync replicates. */
    char *from;
    char *table_from;   /* "ONLY schema.table" or the table: `from` without the filter */
    const char *filter; /* the table's capture filter (borrowed from the TableDef), or NULL */
    bool partitioned;   /* relkind 'p' on this source */
    int index;          /* its position in def.tables */
    char *literal;      /* 'schema.table' as a literal, for ::regclass */
    char *delta;        /* bucardo."delta_..." */
    char *columns;      /* quoted column list */
    char *tcolumns;     /* the same, each prefixed with "t." */
    char *keycols;      /* k1, k2 (quoted) */
    char *keydefs;      /* k1 type1, k2 type2 */
    char *keyjoin;      /* t.k1 = k.k1 AND ... */
    char *lostjoin;     /* k.k1 = l.k1 AND ... */
    bool binary;        /* binary COPY is safe: built-in types, checked equal on targets */
    /* Per writer (customname / customcols): the table there, the select
     * list it receives (NULL: every column) and the COPY column list. */
    char **wtable;
    char **wselect;
    char **wcolumns;
    /* Per writer that is not PostgreSQL: its table operations, encoded
     * (target_spec_encode): add rows, delete keys, empty; NULL for others. */
    char **wrows;
    char **wkeys;
    char **wempty;
    char *colnames;     /* the columns unquoted, separated by \037 */
    char *coltypes;     /* their types (format_type), the same way */
    UniqueInfo *unique; /* read when first needed (cycle_unique.c); NULL before */
} TablePlan;

/* One source: its reading connection and plans. */
typedef struct SourceConn {
    PGconn *conn;
    TablePlan *plans; /* def.ntables of them; kept while closed (runner_release) */
    char *begin_sql;  /* runner_begin_sql (owned, built with the plans) */
    char *shape;      /* the shape (shape_expr) of the tables the plans were made from */
    int cancel_slot;  /* in the runner's CancelSet, -1: none */
    bool offline;     /* left out of the cycle in progress (unreachable) */
    /* Statements the last cycle left to send (purge_later): its reading
     * transaction's COMMIT, then the purge in a transaction of its own.
     * Sent before anything else on the connection: by the next cycle in
     * its first string, else by src_settle. */
    StrList tail;
    bool tail_purge; /* and the purge after it (src_tail makes its DELETEs) */
    /* COPY pairs (keys, rows) that went out in the string of the cycle's
     * BEGIN (cycle_apply.c, presend_sql): their results come next on the
     * connection, before anything else's.  The unit that matches them
     * streams them (presend_adopt); any other statement on the connection
     * reads and drops them first (src_idle). */
    char *pre_sql; /* as sent; NULL: nothing pending */
    int *pre_tab;  /* the table of each pair, in order */
    int pre_n;     /* pairs sent */
    int pre_next;  /* the next pair on the connection */
    bool pre_used; /* adopted by the unit being applied */
    bool pre_off;  /* one failed: none ahead until the connection is replanned */
    /* The TRUNCATE checks of the keys sent ahead (cycle_keys.c), as a
     * prepared statement: planning them cost 2 ms a cycle, more than
     * running them.  Named bucardo_cuts<seq>; cuts_ready: the number of
     * the one prepared on this connection for these plans (0: none);
     * cuts_sent: the one sent in the string in flight. */
    unsigned cuts_seq, cuts_ready, cuts_sent;
    /* The session's setup statements, not sent yet: a new connection with
     * kept plans sends them in its first BEGIN's string (runner_connect_source). */
    StrList setup;
} SourceConn;

/*
 * Writers: one per target, then (multi-source only) one per source, since
 * every source is also a target of the others.  writers[nwriters].
 */
struct SyncRunner {
    SyncDef def;
    ConnParams catalog_params;
    ConnBudget *budget; /* NULL in the CLI */
    PGconn *cat;        /* the budget slot's, while the sync thread holds one */
    SourceConn *src;    /* def.nsources */
    Target **writers;
    int nwriters;
    ChunkPool *pool;
    bool checked;          /* columns compared since the last (re)load */
    long batch_keys;       /* keys per transaction in large cycles (0: no limit) */
    long batch_grow_max;   /* at most this many times batch_keys across a slow link (unit_keys) */
    double serial_sleep;   /* kid_serial_sleep: before a batch's retry after 40001; -1: none */
    double deadlock_sleep; /* kid_deadlock_sleep: the same after 40P01 */
    char *lock_timeout;    /* every session's lock_timeout (sources, writers, catalog) */
    CancelSet *cancel;     /* the sync's stop switch (borrowed from the worker; may be NULL) */
    long long *seq_seen;   /* per sequence: the highest value last applied, -1: none */
    /* Per source: the snapshot of the last cycle that took one there, NULL:
     * none yet.  What it sees is applied everywhere, or (the cycle failed
     * or left a member out) is applied by the retry the sync thread
     * schedules then.  runner_saw / runner_sees compare the watcher's
     * reports with it. */
    char **applied_snap;
    const char *client_encoding; /* for the writers: pg_copy_encoding of the sources (a literal) */
    bool indexes_restored;       /* the index_rebuild journal was replayed since the start */
    double restore_retry_at;     /* monotonic_seconds() before which a cycle does not replay it again */
    double restore_retry_delay;  /* after the last failed replay; doubles up to RESTORE_RETRY_MAX_S */
    /* Per writer: reachable in the cycle in progress (all true outside
     * cycles).  send_all/send_table with no mask reach only these. */
    bool *online;
    bool *wchecked; /* per writer: its columns were checked since the last (re)load */
    char **wshape;  /* per writer: the shape (shape_expr) of its tables when they were checked */
    /* [w * def.ntables + t]: table t is partitioned on writer w (read by
     * check_columns, before any cycle writes there).  Writers change a
     * plain table ONLY, a partitioned one as a whole (ONLY would change
     * nothing there). */
    bool *wpart;
    /* customcode (engine/hooks): the sync's codes, read at its first cycle
     * (a change restarts the worker); NULL when it has none, and then each
     * hook point costs this one pointer check. */
    Hooks *hooks;
    bool hooks_loaded;
    bool hook_endsync; /* a conflict customcode asked to cancel the cycle in progress */
    /* What the last cycle did (runner_last_stats): names made once, keys
     * and left_out rewritten by each cycle. */
    CycleStats last;
    char **last_names;
    long *last_keys;
    StrBuf last_left_out;
    /* Reachability of the sync's databases (sync_cycle.c, note_reach):
     * stalled in bucardo.db_state after stalled_after seconds unreachable
     * (-1: never), cleared when reached. */
    double stalled_after;
    ReachState *reach;
    int nreach;
};

/* writer_only - "ONLY " where writer w's table of plan p is not
 * partitioned, else "": what goes before its name in DELETE, TRUNCATE and
 * reads of its rows. */
static inline const char *writer_only(const SyncRunner *r, const TablePlan *p, int w)
{
    return r->wpart[w * r->def.ntables + p->index] ? "" : "ONLY ";
}

/* The database writer w applies to. */
static inline const DbInfo *writer_dbinfo(const SyncRunner *r, int w)
{
    return w < r->def.ntargets ? &r->def.targets[w] : &r->def.sources[w - r->def.ntargets];
}

/* runner_target_config - what target_start needs for r's writers (borrowed from r). */
static inline TargetConfig runner_target_config(const SyncRunner *r)
{
    return (TargetConfig){.sync = r->def.name,
                          .lock_timeout = r->lock_timeout,
                          .pool = r->pool,
                          .cancel = r->cancel,
                          .budget = r->budget,
                          .flat_dir = r->def.flatfile_dir};
}

/* writer_is_pg - writer w takes PostgreSQL statements (target_driver.h);
 * every other writer is a target of another kind. */
static inline bool writer_is_pg(const SyncRunner *r, int w)
{
    return target_speaks_pg(r->writers[w]);
}

/* Writer index of source s (only when def.nsources > 1). */
static inline int source_writer(const SyncRunner *r, int s)
{
    return r->def.ntargets + s;
}

/* cycle_hooks.c: the conflict customcodes of table t, in one call, for
 * the n conflicting keys: winners[i] a source index, or
 * CONFLICT_NO_WINNER where they left key i to the sync's strategy. */
struct KeyEntry;
bool conflict_hook(SyncRunner *r, int t, const struct KeyEntry *const *keys, int n, int *winners, char *err,
                   size_t errlen) MUST_CHECK;

/* sync_runner.c */
/* runner_ensure_source - source s connected and planned; on failure
 * *unreachable (when not NULL) says whether the database could not be
 * reached at all, as opposed to refusing what it was asked. */
bool runner_ensure_source(SyncRunner *r, int s, bool *unreachable, char *err, size_t errlen) MUST_CHECK;
/* runner_connect_source - runner_ensure_source; with defer_setup, a new
 * connection whose plans are kept leaves its setup statements in
 * src[s].setup when they may travel with the first BEGIN (its session's
 * client_encoding is already the one they set): the caller sends them in
 * that string, one round trip less. */
bool runner_connect_source(SyncRunner *r, int s, bool *unreachable, bool defer_setup, char *err,
                           size_t errlen) MUST_CHECK;
/* runner_source_setup - send src[s].setup (if any) on its own; on failure
 * the connection is dropped. */
bool runner_source_setup(SyncRunner *r, int s, char *err, size_t errlen) MUST_CHECK;
void runner_drop_source(SyncRunner *r, int s);
/* shape_expr - append a parenthesised expression that is the shape of the
 * tables (quoted qualified names, each made a literal for conn): one text
 * that changes with any change of their columns. */
void shape_expr(StrBuf *out, PGconn *conn, char *const *tables, int n);
/* runner_begin_sql - source s's first statement of a cycle: BEGIN
 * REPEATABLE READ, then one row of the snapshot and the tables' shape. */
const char *runner_begin_sql(SyncRunner *r, int s);
/* runner_source_shape - the shape source s's cycle snapshot sees: when it
 * is not the one its plans were made from, plan them again (in the
 * snapshot's transaction, so they match it) and have every writer's
 * columns checked again. */
bool runner_source_shape(SyncRunner *r, int s, const char *shape, char *err, size_t errlen) MUST_CHECK;
bool runner_ensure_catalog(SyncRunner *r) MUST_CHECK;

/* cycle_stream.c */
/* send_all - a message to every writer in `to` (NULL: the online ones);
 * PostgreSQL statements (EXEC, QUERY, CHECK) reach PostgreSQL writers
 * only (writer_is_pg): steps with no meaning elsewhere (sequences, temp
 * tables, ANALYZE).  Row changes reach the others as table operations. */
void send_all(SyncRunner *r, MsgType type, const char *sql, const bool *to);
/* send_table - prefix + the writer's name of the table + suffix, to each
 * PostgreSQL writer marked in `to` (no format string: names may hold any
 * character); a writer of another kind gets MSG_EMPTY only, as its table
 * operation (TablePlan.wempty).
 * The name has "ONLY " before it where writer_only says so, except for
 * MSG_EMPTY, which takes the bare name. */
void send_table(SyncRunner *r, MsgType type, const char *prefix, const TablePlan *p, const char *suffix,
                const bool *to);
/* makedelta_writers - `to` restricted to the writers whose database has
 * makedelta set, into md; false when there are none. */
bool makedelta_writers(const SyncRunner *r, int t, const bool *to, bool *md);
/* send_makedelta - record in the own delta table of p of each makedelta
 * writer in `to` the keys that select_prefix + its table name +
 * select_suffix returns; see there. */
void send_makedelta(SyncRunner *r, int s, const TablePlan *p, const char *select_prefix,
                    const char *select_suffix, const bool *to);
/* A COPY from one source connection into several writers. */
typedef struct CopyPipe {
    PGconn *src;
    const char *srcname;
    ChunkPool *pool;
    Target **writers;
    int nwriters;
    char *const *copy_in; /* per writer: its COPY ... FROM STDIN, or NULL */
    bool count;           /* the rows count as applied */
    /* Two COPYs in one round trip (stream_pair): `more` - copy_out is
     * "COPY a TO STDOUT; COPY b TO STDOUT": stop after a, leaving b's
     * result next on the connection; `sent` - this COPY was b: its result
     * is next, nothing is sent. */
    bool more, sent;
} CopyPipe;

/* copy_pipe - run copy_out on pipe->src and feed the writers; bytes and
 * rows (if not NULL) grow by the bytes and rows read, for progress reports. */
bool copy_pipe(const CopyPipe *pipe, const char *what, const char *copy_out, atomic_long *bytes,
               atomic_long *rows, char *err, size_t errlen) MUST_CHECK;

/* stream - COPY out of source s into every writer w with copy_in[w] set. */
bool stream(SyncRunner *r, int s, const char *what, const char *copy_out, char *const *copy_in, bool count,
            char *err, size_t errlen) MUST_CHECK;
/* stream_first / stream_second - two COPYs out of source s in one round
 * trip: stream_first sends "first; second" and streams the first into the
 * writers with copy_in[w]; the caller may then queue writer messages, and
 * must call stream_second (also after stream_first failed: it then only
 * reads what is left on the connection and returns false). */
bool stream_first(SyncRunner *r, int s, const char *what, const char *first, const char *second,
                  char *const *copy_in, char *err, size_t errlen) MUST_CHECK;
bool stream_second(SyncRunner *r, int s, const char *what, bool first_ok, char *const *copy_in, bool count,
                   char *err, size_t errlen) MUST_CHECK;
/* stream_sent - the next COPY out of a string already sent to source s
 * (stream_first's, or the unit's: cycle_apply.c, send_ahead) into the
 * writers with copy_in[w]; more: further COPYs of that string follow (on a
 * failure they are read and dropped). */
bool stream_sent(SyncRunner *r, int s, const char *what, char *const *copy_in, bool count, bool more,
                 char *err, size_t errlen) MUST_CHECK;
PGresult *src_query(SyncRunner *r, int s, const char *what, const char *sql, ExecStatusType expect, char *err,
                    size_t errlen) MUST_CHECK;
/* src_copy_in - run copy_in ("... COPY ... FROM STDIN", after any setup
 * statements) on source s and send it data (COPY text). */
bool src_copy_in(SyncRunner *r, int s, const char *what, const char *copy_in, const StrBuf *data, char *err,
                 size_t errlen) MUST_CHECK;
/* src_settle - run what the last cycle left to send on source s (tail),
 * and wait for it; a failure is a warning (the next purge deletes what
 * this one did not).  Nothing to do: returns at once. */
void src_settle(SyncRunner *r, int s);

/* src_batch - n statements on source s in one round trip; results[i] gets
 * statement i's result (the caller PQclear()s them) when every one has its
 * expected status; otherwise none is kept and err names the failing one. */
typedef struct SrcStatement {
    const char *sql;
    const char *what; /* for messages: the table, or the step */
    ExecStatusType expect;
    int extra; /* sql starts with this many setup statements (COMMAND_OK; their results are dropped) */
} SrcStatement;
bool src_batch(SyncRunner *r, int s, int n, const SrcStatement *st, PGresult **results, char *err,
               size_t errlen) MUST_CHECK;
/* src_batch_at - src_batch that also tells which statement failed
 * (*failed: its index; n when the string could not be sent or a result
 * was missing; -1 when none failed). */
bool src_batch_at(SyncRunner *r, int s, int n, const SrcStatement *st, PGresult **results, int *failed,
                  char *err, size_t errlen) MUST_CHECK;
/* src_batch_then - src_batch_at with `then` in the same string after the n
 * statements; their results are left unread on the connection (the
 * caller records them in r->src[s].pre_*).  On failure nothing is left. */
bool src_batch_then(SyncRunner *r, int s, int n, const SrcStatement *st, const char *then, PGresult **results,
                    int *failed, char *err, size_t errlen) MUST_CHECK;
/* src_idle - read and drop what was sent ahead on source s and is still
 * unread (SourceConn.pre_sql), so that the connection can take a new
 * statement.  False when one of those statements failed (logged; the
 * source's transaction is then aborted). */
bool src_idle(SyncRunner *r, int s);
/* src_pre_skip - read and drop the pairs sent ahead before table t's;
 * false (err set) when table t's pair is not the next one. */
bool src_pre_skip(SyncRunner *r, int s, int t, char *err, size_t errlen) MUST_CHECK;

/* cycle_checks.c */
/* check_columns - the columns of every online writer not checked yet since
 * the last (re)load or change of shape, against every online source. */
bool check_columns(SyncRunner *r, char *err, size_t errlen) MUST_CHECK;
/* columns_suspect - err (a writer's) is one a change of a table's columns
 * can cause: undefined column, type mismatch, bad data for the type... */
bool columns_suspect(const char *err);
/* recheck_columns - forget every check and check again now; on a mismatch
 * err gets the check's message (naming database, table and column) and the
 * result is false.  true: the columns match (err unchanged). */
bool recheck_columns(SyncRunner *r, char *err, size_t errlen) MUST_CHECK;

/* cycle_conflicts.c */
/* table_rule - the conflict rule of table t (its conflict_strategy, else
 * the sync's) among the sources `names`; false (err set) when unknown. */
bool table_rule(const SyncRunner *r, int t, char **names, int ns, ConflictRule *rule, char *err,
                size_t errlen);

/* resolve_conflicts - settle keys changed on several sources; catchup (per
 * source, may be NULL): its bucardo_k<t> has a bucardo_new column, set on
 * the keys it wins so that every member takes them. */
/* drop_listed_keys - delete from source s's bucardo_k<t> the keys listed
 * in temp table bucardo_<list><t>; *nkeys goes down by as many. */
bool drop_listed_keys(SyncRunner *r, int s, int t, char list, long *nkeys, char *err,
                      size_t errlen) MUST_CHECK;
/* truncated/trunc_time ([s*nt+t], truncated may be NULL): the sources that
 * truncated a table in this cycle and when; such a source competes for
 * every key changed elsewhere, and keys it wins are added to its
 * bucardo_k<t> (nkeys and maxn grow). */
bool resolve_conflicts(SyncRunner *r, long *nkeys, long *maxn, const bool *catchup, const bool *truncated,
                       const double *trunc_time, long *conflicts, char *err, size_t errlen) MUST_CHECK;
/* conflicts_latest_source - the source whose latest change of this cycle
 * is newest (bucardo_latest_all_tables); *ok false on error. */
int conflicts_latest_source(SyncRunner *r, const long *nkeys, char *err, size_t errlen, bool *ok);

/* cycle_unique.c */
void unique_info_free(UniqueInfo *u);
/* unique_violation - err is a unique violation (SQLSTATE 23505). */
bool unique_violation(const char *err);
/*
 * unique_resolve - multi-source: rows changed on different sources that
 * hold the same value in a unique index other than the key are settled by
 * the conflict rule; losers leave their source's key list (nkeys[s*nt+t]
 * shrinks) and, when they must be deleted everywhere, deletes[s*nt+t] is
 * set.  Each collision adds one to *conflicts.  Nothing to do (true) with
 * a single source.
 */
bool unique_resolve(SyncRunner *r, long *nkeys, long *conflicts, bool *deletes, char *err,
                    size_t errlen) MUST_CHECK;
/* unique_apply_deletes - send every writer (but those copying the table
 * whole: copy[t*nwriters+w]) the deletes unique_resolve decided. */
bool unique_apply_deletes(SyncRunner *r, const bool *deletes, const bool *copy, char *err,
                          size_t errlen) MUST_CHECK;
/* unique_apply_rows - the "unique mode" replacement of streaming table t's
 * rows from source s (FROM clause `from`, naming the table "t") to the
 * writers in `to`: staged, colliding writer rows deleted, then inserted. */
bool unique_apply_rows(SyncRunner *r, int s, int t, const bool *to, const char *from, char *err,
                       size_t errlen) MUST_CHECK;
/* unique_collect - after a unit committed: log the writers' deleted
 * colliding rows; returns how many (conflicts). */
long unique_collect(SyncRunner *r);

#endif
