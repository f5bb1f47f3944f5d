/*
 * engine/cycle/sync_cycle.c - one cycle of a sync: sources -> every other member.
 *
 * How a cycle works:
 *
 *  1. Each source opens a REPEATABLE READ transaction and takes its snapshot
 *     `cur`.  The catalog holds `prev`, that source's snapshot of the last
 *     completed cycle.  The changes of this cycle are the delta rows whose
 *     transaction is visible in cur but was not in prev (PgQ's tick method):
 *     a transaction still running at the last cycle is not skipped - it shows
 *     up the first time a snapshot sees it committed, however late.
 *  2. Per table, the changed keys (with the time of their latest change) go
 *     into temp table bucardo_k<t> on the source.  With several sources, keys
 *     changed on more than one are settled by the conflict rule
 *     (cycle_conflicts.c): losers drop them, so each key comes from one place.
 *     Rows of different sources colliding in another unique index are
 *     settled the same way (cycle_unique.c).
 *  3. Each writer (every target, and every other source) gets the keys
 *     streamed with COPY into a temp table of its own, deletes those rows,
 *     and receives the source's current rows for them by COPY.  A key deleted
 *     on the source simply stays deleted.  Rows travel as COPY text, chunked,
 *     never parsed (cycle_stream.c).
 *  4. Every writer applies the whole cycle in one transaction with
 *     session_replication_role = replica, so applied rows fire no capture
 *     trigger (nothing echoes back) and no foreign key.  Only when all
 *     writers committed is the cycle recorded (snapshots + run row, one
 *     catalog transaction); then delta rows that every sync reading a source
 *     has applied are purged - without customcode, in front of the next
 *     cycle's first string, with the sources' COMMIT (purge_later).
 *
 * A writer that meets a unique index other than the key (SQLSTATE 23505)
 * has the unit applied again in "unique mode" (cycle_unique.c).
 *
 * A crash anywhere before the record re-runs the same changes next time,
 * which is harmless: delete-by-key plus copy of the current row is
 * idempotent.  Nothing is purged before every writer committed.
 *
 * Where each step lives: this file runs the cycle (start_cycle: the
 * snapshots and who is online; runner_cycle: the steps in order, and what
 * a failure leaves behind) and the whole-table copies it starts;
 * cycle_keys.c reads each source's window and changed keys (steps 1-2);
 * cycle_apply.c applies them to the writers, unit by unit, and commits
 * (steps 3-4); cycle_record.c keeps the catalog's account: who is behind,
 * the recorded cycle, the purge.  Their shared state, the Cycle, is in
 * cycle_internal.h.
 *
 * Members that cannot be reached.  At the start of a cycle every writer
 * connects (in its thread, while the sources are read) and each source
 * opens its transaction; a database that cannot be reached is left out of
 * the cycle with a warning naming it and why (the run row's `warning`),
 * and the cycle goes on as long as one source and one member to apply to
 * remain (a table-copy cycle still needs everyone).
 *
 *  - An offline source contributes nothing: its prev stays where it was, so
 *    its changes simply wait for it.
 *  - An offline writer misses the cycle: catalog table sync_member_state
 *    gets a row (sync, source, member, snapshot) per online source, with
 *    that source's prev - everything the member has received from it.  A
 *    row only exists while the member is behind; purge keeps every delta
 *    row a row's snapshot does not see yet.
 *  - When a behind writer is online again, its sources collect the wider
 *    window: visible in cur and not in prev or in any online behind
 *    writer's snapshot (snapshots of one source are ordered in time, so
 *    this is the window of the oldest).  bucardo_k<t>.bucardo_new marks the
 *    keys changed after prev, and they are numbered first: writers up to
 *    date take keys 1..nnew as in a normal cycle, behind writers all of
 *    them (apply_item).  Old keys still take part in conflicts, so a
 *    member coming back with changes made while it was away is settled
 *    against the others' changes of the same keys by the sync's strategy;
 *    a key won by a catching-up source counts as new, so every member takes
 *    the winner's row.  Once recorded, the behind writer's rows go.
 *  - A cycle that left someone out returns CYCLE_PARTIAL: the sync thread
 *    tries again after retry_delay (with backoff), so a member that comes
 *    back catches up without waiting for a new change.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk_copy.h"
#include "cycle_internal.h"
#include "index_rebuild.h"
#include "log.h"

/* Replaying the index journal again after a failure (see runner_cycle). */
#define RESTORE_RETRY_MIN_S 10.0
#define RESTORE_RETRY_MAX_S 600.0

/* The catalog's clock and the sync's onetimecopy (the row with db NULL), and
 * every source's last snapshot.  onetimecopy is read at every cycle: the
 * engine clears it itself after a copy, so `update sync ... onetimecopy=1`
 * can leave the sync's fingerprint as it was and the worker running.
 * In the same statement (no round trip of its own), the run's syncrun row,
 * state Running and ended NULL, as Bucardo writes one when a run starts:
 * monitoring SQL's `WHERE ended IS NULL` shows what runs.  record() ends
 * it; a cycle that records no run removes it (drop_run); one left by an
 * engine that died is ended at the next start (daemon.c).  Its commit
 * does not wait for the catalog's WAL flush (synchronous_commit off for
 * this statement's transaction): a row lost in a catalog crash is
 * harmless, record() writes it again.  A row of this sync still running
 * is one a cycle could not end (its catalog connection broke): ended here
 * as failed, since a sync runs one cycle at a time. */
static const char SQL_CYCLE_START[] =
    "WITH quick AS (SELECT set_config('synchronous_commit', 'off', true)),"
    " lost AS (UPDATE bucardo.syncrun SET ended = clock_timestamp(), state = 'Bad',"
    "              error = 'the catalog connection broke during this run; a later run applies its changes'"
    "           WHERE sync = $1 AND ended IS NULL),"
    " run AS (INSERT INTO bucardo.syncrun (sync, started, state)"
    "         VALUES ($1, clock_timestamp(), 'Running') RETURNING id, started)"
    " SELECT NULL::text, started::text, (SELECT onetimecopy::text FROM bucardo.sync WHERE name = $1),"
    "        id::text FROM run, quick"
    " UNION ALL SELECT db, snapshot::text, NULL, NULL FROM bucardo.sync_source_state WHERE sync = $1";

/* keep_applied - each source's snapshot of a cycle that ran, for
 * runner_saw: one that completed applied what it saw; one that failed or
 * left someone out is run again on the retry backoff (sync_worker.c). */
static void keep_applied(Cycle *c)
{
    for (int s = 0; s < c->ns; s++)
        if (c->cur[s]) {
            free(c->r->applied_snap[s]);
            c->r->applied_snap[s] = xstrdup(c->cur[s]);
        }
}

static void cycle_free(Cycle *c)
{
    for (int s = 0; s < c->ns; s++) {
        free(c->prev[s]);
        free(c->cur[s]);
    }
    for (int i = 0; i < c->ns * c->nw; i++)
        free(c->bsnap[i]);
    for (int w = 0; w < c->nw; w++) {
        free(c->why[w]);
        c->r->online[w] = true; /* outside cycles every writer counts as online */
    }
    for (int s = 0; c->ahead && s < c->ns; s++) {
        for (int i = 0; c->ahead[s] && i <= c->ahead_n[s]; i++)
            PQclear(c->ahead[s][i]);
        free(c->ahead[s]);
        free(c->ahead_tab[s]);
    }
    free(c->sent_ahead);
    free(c->ahead);
    free(c->ahead_n);
    free(c->ahead_tab);
    free(c->src_on);
    free(c->behind);
    free(c->bsnap);
    free(c->catchup);
    free(c->nnew);
    free(c->trunc_new);
    free(c->trunc_time);
    free(c->whole);
    free(c->whole_new);
    for (int i = 0; c->cuts && i < c->ns * c->nt; i++) {
        for (int k = 0; k < c->cuts[i].n; k++)
            free(c->cuts[i].cond[k]);
        free(c->cuts[i].cond);
        free(c->cuts[i].isnew);
    }
    free(c->cuts);
    free(c->why);
    strbuf_free(&c->left_out);
    strbuf_free(&c->hook_warn);
    free(c->exc.error);
    free(c->exc.sqlstate);
    free(c->prev);
    free(c->cur);
    free(c->started);
    free(c->run_id);
    free(c->nkeys);
    free(c->maxn);
    free(c->truncated);
    free(c->seq_high);
    free(c->seq_called);
    free(c->copy);
    free(c->to);
    free(c->udeletes);
    free(c->md);
    free(c->wrote);
}

/* target_is_empty - does writer w's table t have no rows?  -1 on error. */
static int target_is_empty(Cycle *c, int w, int t, char *err, size_t errlen)
{
    const DbInfo *db = writer_dbinfo(c->r, w);
    ConnParams cp = dbinfo_params(db);
    char reason[512], *sql;
    PGconn *conn;
    PGresult *res;
    int empty = -1;

    if (!writer_is_pg(c->r, w)) {
        TargetConfig tc = runner_target_config(c->r);
        return target_table_empty(db, &tc, c->r->src[0].plans[t].wrows[w], err, errlen);
    }
    conn = budget_connect(c->r->budget, &cp, db->name, reason, sizeof(reason));
    if (conn == NULL) {
        snprintf(err, errlen, "target %s: cannot connect: %s", db->name, reason);
        return -1;
    }
    /* lock_timeout: a user's lock on the table does not hold the cycle. */
    {
        char *lit = pg_quote_literal(conn, c->r->lock_timeout);
        sql = xasprintf("SET lock_timeout = %s; SELECT NOT EXISTS (SELECT 1 FROM %s%s)", lit,
                        writer_only(c->r, &c->r->src[0].plans[t], w), c->r->src[0].plans[t].wtable[w]);
        free(lit);
    }
    res = PQexec(conn, sql);
    free(sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        empty = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    else
        snprintf(err, errlen, "target %s: table %s: %s", db->name, c->r->src[0].plans[t].display,
                 PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(conn);
    return empty;
}

/*
 * plan_copies - per table and target, whether this cycle copies the whole
 * table there: fullcopy targets always, onetimecopy=1 every target,
 * onetimecopy=2 targets where it is empty.  Other sources of a multi-source
 * sync are never overwritten by a copy.
 */
static bool plan_copies(Cycle *c, char *err, size_t errlen)
{
    SyncRunner *r = c->r;

    for (int t = 0; t < c->nt; t++)
        for (int w = 0; w < r->def.ntargets; w++) {
            bool *copy = &c->copy[t * c->nw + w];
            *copy = r->def.fullcopy[w] || r->def.onetimecopy == 1;
            if (!*copy && r->def.onetimecopy == 2) {
                int empty = target_is_empty(c, w, t, err, errlen);
                if (empty < 0)
                    return false;
                *copy = empty;
            }
        }
    return true;
}

/*
 * copy_tables - the whole-table copies of this cycle (bulk_copy.c), before
 * the writers open the cycle's transactions: the copies commit on their own
 * connections and must not wait behind the cycle's locks.
 */
static bool copy_tables(Cycle *c, long *inserts, char *err, size_t errlen)
{
    for (int t = 0; t < c->nt; t++) {
        BulkCopy job = {.r = c->r, .table = t, .to = &c->copy[t * c->nw]};
        bool any = false;

        for (int w = 0; w < c->nw; w++)
            any |= c->copy[t * c->nw + w];
        if (!any)
            continue;
        if (!bulk_copy_table(&job, err, errlen))
            return false;
        *inserts += job.rows;
    }
    return true;
}

/* end_sources_one - COMMIT or ROLLBACK source s's reading transaction. */
static void end_sources_one(Cycle *c, int s, const char *how)
{
    PGconn *conn = c->r->src[s].conn;
    if (conn && PQstatus(conn) == CONNECTION_OK) {
        PGresult *res;
        (void)src_idle(c->r, s);
        res = PQexec(conn, how);
        PQclear(res);
    } else {
        runner_drop_source(c->r, s);
    }
}

/* end_sources - COMMIT or ROLLBACK every source's reading transaction. */
static void end_sources(Cycle *c, const char *how)
{
    for (int s = 0; s < c->ns; s++)
        end_sources_one(c, s, how);
}

static void rollback_all(Cycle *c)
{
    SyncRunner *r = c->r;

    send_all(r, MSG_ROLLBACK, NULL, NULL);
    for (int w = 0; w < r->nwriters; w++)
        (void)target_wait(r->writers[w], NULL, 0);
    end_sources(c, "ROLLBACK");
}

typedef enum SourceStart { SOURCE_STARTED, SOURCE_OFFLINE, SOURCE_FAILED } SourceStart;

/*
 * source_begin - source s in its REPEATABLE READ transaction, with its
 * snapshot in c->cur[s].  A kept connection the server has dropped since
 * the last cycle is replaced once.  SOURCE_OFFLINE: the database cannot be
 * reached (err says why); SOURCE_FAILED: any other error.
 */
/*
 * begin_ahead - source_begin's round trip with the keys statements of the
 * normal window in it too (cycle_keys.c, keys_ahead), their results kept
 * in c->ahead[s].  Returns the snapshot's row as src_query would, or NULL
 * (err set; *retry: the connection is fine and only a keys statement
 * failed - rolled back, so the plain BEGIN can run and the step that
 * explains it best report it).
 */
#define TAIL_WHAT "ending the last cycle's reading transaction and purging its applied changes"

static PGresult *begin_ahead(Cycle *c, int s, bool *retry, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    const char *begin = runner_begin_sql(r, s), *semi = strchr(begin, ';');
    int *tab = NULL, n = 0;
    SrcStatement *keys = keys_ahead(c, s, &tab, &n);
    int *pre_tab = NULL, pre_n = 0;
    char *pre = presend_sql(c, s, &pre_tab, &pre_n);
    StrList tail;
    int k;
    SrcStatement *st;
    PGresult **res, *snap = NULL;
    char *first = xasprintf("%.*s", (int)(semi - begin), begin);
    StrList *setup = &r->src[s].setup;
    bool ok;
    int failed;

    src_tail(r, s, &tail); /* the last cycle's COMMIT and purge go first */
    /* A new connection's setup (runner_connect_source) goes before all,
     * committed in a transaction of its own: the cycle's ROLLBACK must not
     * undo it.  (A new connection has no tail.) */
    if (setup->count > 0) {
        strlist_add(&tail, "BEGIN");
        for (int i = 0; i < setup->count; i++)
            strlist_add(&tail, setup->items[i]);
        strlist_add(&tail, "COMMIT");
    }
    k = tail.count;
    st = xcalloc((size_t)(k + n + 3), sizeof(SrcStatement));
    res = xcalloc((size_t)(k + n + 3), sizeof(PGresult *));
    *retry = false;
    for (int i = 0; i < k; i++)
        st[i] = (SrcStatement){tail.items[i], setup->count > 0 ? "session setup" : TAIL_WHAT,
                               PGRES_COMMAND_OK, 0};
    st[k] = (SrcStatement){first, "begin", PGRES_COMMAND_OK, 0};
    st[k + 1] = (SrcStatement){semi + 1, "begin", PGRES_TUPLES_OK, 0};
    for (int i = 0; i <= n; i++)
        st[k + i + 2] = keys[i];
    ok = src_batch_then(r, s, k + n + 3, st, pre, res, &failed, err, errlen);
    if (setup->count > 0) {
        strlist_free(setup);
        if (!ok && (failed < k || failed >= k + n + 3)) {
            /* The session may not be set up: not kept (source_begin
             * connects again, the setup then on its own). */
            runner_drop_source(r, s);
        }
    }
    if (ok) {
        SourceConn *sc = &r->src[s];
        if (sc->cuts_sent) /* prepared now */
            sc->cuts_ready = sc->cuts_sent;
        if (pre) { /* their results follow on the connection */
            sc->pre_sql = pre;
            sc->pre_tab = pre_tab;
            sc->pre_n = pre_n;
            sc->pre_next = 0;
            sc->pre_used = false;
            pre = NULL;
            pre_tab = NULL;
        }
        for (int i = 0; i <= k; i++)
            PQclear(res[i]);
        snap = res[k + 1];
        c->ahead[s] = xcalloc((size_t)n + 1, sizeof(PGresult *));
        for (int i = 0; i <= n; i++)
            c->ahead[s][i] = res[k + i + 2];
        c->ahead_n[s] = n;
        free(c->ahead_tab[s]);
        c->ahead_tab[s] = tab;
        tab = NULL;
    } else if (r->src[s].conn && PQstatus(r->src[s].conn) == CONNECTION_OK &&
               PQtransactionStatus(r->src[s].conn) == PQTRANS_INERROR && strstr(err, "(SQLSTATE ") &&
               !cancel_requested(r->cancel)) {
        PGresult *rb = PQexec(r->src[s].conn, "ROLLBACK");
        *retry = PQresultStatus(rb) == PGRES_COMMAND_OK;
        PQclear(rb);
    }
    if (snap == NULL && strstr(err, TAIL_WHAT))
        log_warn("%s", err); /* the next purge deletes what this one did not */
    strlist_free(&tail);
    for (int i = 0; i <= n; i++)
        free((char *)keys[i].sql);
    free(keys);
    free(tab);
    free(pre);
    free(pre_tab);
    free(first);
    free(st);
    free(res);
    return snap;
}

/* ahead_forget - the keys statements' results of begin_ahead, dropped
 * unread (their transaction is rolled back). */
static void ahead_forget(Cycle *c, int s)
{
    if (c->ahead[s] == NULL)
        return;
    for (int i = 0; i <= c->ahead_n[s]; i++)
        PQclear(c->ahead[s][i]);
    free(c->ahead[s]);
    c->ahead[s] = NULL;
}

static SourceStart source_begin(Cycle *c, int s, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    /* The keys go with the BEGIN unless customcode may run in between
     * (before_check_rows) or the cycle copies tables. */
    bool ahead = r->hooks == NULL && !c->copy_cycle;

    /* What the last cycle left to send (purge_later) goes in begin_ahead's
     * string; on any other path it is sent and waited for first. */
    if (!(ahead && r->src[s].plans && r->src[s].shape))
        src_settle(r, s);
    for (int attempt = 0;; attempt++) {
        bool unreachable = false, retry = false;
        PGresult *res;

        if (!runner_connect_source(r, s, &unreachable, ahead, err, errlen))
            return unreachable ? SOURCE_OFFLINE : SOURCE_FAILED;
        /* One round trip: the transaction, its snapshot and the shape of
         * the tables' columns in it (a change re-plans them); and, ahead,
         * the changed keys. */
        /* (ahead only with plans, this connection's or kept from the last
         * one; a new connection with kept plans sends its setup in that
         * string too, runner_connect_source) */
        if (ahead && r->src[s].plans && r->src[s].shape) {
            res = begin_ahead(c, s, &retry, err, errlen);
        } else {
            if (!runner_source_setup(r, s, err, errlen)) /* not deferred on this path */
                return SOURCE_FAILED;
            res = src_query(r, s, "begin", runner_begin_sql(r, s), PGRES_TUPLES_OK, err, errlen);
        }
        if (retry) {
            ahead = false;
            attempt--;
            continue;
        }
        /* A kept connection the server closed (restart, shutdown) is tried
         * once more; a server that closes it again is going away: that
         * source sits the cycle out, as one that cannot be reached.  A lost
         * connection is an error without SQLSTATE: libpq 15 leaves
         * PQstatus at CONNECTION_OK when the server's last words before
         * closing were a notice (as in an immediate shutdown). */
        if (res == NULL && (PQstatus(r->src[s].conn) == CONNECTION_BAD || !strstr(err, "(SQLSTATE "))) {
            runner_drop_source(r, s);
            if (attempt == 0)
                continue;
            return SOURCE_OFFLINE;
        }
        if (res == NULL)
            return SOURCE_FAILED;
        if (r->src[s].pre_sql &&
            (r->src[s].shape == NULL || strcmp(r->src[s].shape, PQgetvalue(res, 0, 1)) != 0) &&
            !src_idle(r, s)) {
            /* The rows read ahead were written for the old columns and
             * failed, which aborted the transaction: begin again without. */
            PQclear(res);
            ahead_forget(c, s);
            PQclear(PQexec(r->src[s].conn, "ROLLBACK"));
            ahead = false;
            attempt--;
            continue;
        }
        c->cur[s] = xstrdup(PQgetvalue(res, 0, 0));
        if (c->ahead[s] && (r->src[s].shape == NULL || strcmp(r->src[s].shape, PQgetvalue(res, 0, 1)) != 0) &&
            !keys_drop(c, s, err, errlen)) { /* planned again: the keys ahead may not fit */
            PQclear(res);
            return SOURCE_FAILED;
        }
        if (!runner_source_shape(r, s, PQgetvalue(res, 0, 1), err, errlen)) {
            PQclear(res);
            return SOURCE_FAILED;
        }
        PQclear(res);
        return SOURCE_STARTED;
    }
}

/* db_inactive - set out of replication by `update db X status=inactive`. */
static bool db_inactive(const DbInfo *db)
{
    return db->status != NULL && strcmp(db->status, "inactive") == 0;
}

/*
 * note_reach - Bucardo's stalled databases: a database this sync could not
 * reach for stalled_after seconds gets a row in bucardo.db_state (`list
 * dbs` and `status` show it stalled); the first cycle that reaches it
 * again deletes the row.  Its changes are kept meanwhile like those of any
 * member left out (sync_member_state), so nothing is lost.  Each sync
 * writes only on a change of what it saw (and once at its start, to clear
 * a row left by an earlier run); several syncs sharing a database agree
 * through the row itself (INSERT ... ON CONFLICT keeps the first `since`).
 * A catalog error here is logged and tried again next cycle: it never
 * fails the cycle.
 */
static void note_reach(SyncRunner *r, const char *db, bool reached, const char *why)
{
    ReachState *s = NULL;
    double now = monotonic_seconds();

    if (r->stalled_after < 0)
        return;
    for (int i = 0; i < r->nreach && s == NULL; i++)
        if (strcmp(r->reach[i].db, db) == 0)
            s = &r->reach[i];
    if (s == NULL) {
        r->reach = xrealloc(r->reach, sizeof(ReachState) * (size_t)(r->nreach + 1));
        s = &r->reach[r->nreach++];
        *s = (ReachState){.db = xstrdup(db), .down_since = 0, .marked = -1};
    }
    if (reached) {
        s->down_since = 0;
        if (s->marked != 0) {
            const char *params[1] = {db};
            PGresult *res = pg_query(r->cat, "catalog",
                                     "DELETE FROM bucardo.db_state WHERE db = $1 RETURNING since", 1, params);
            if (res != NULL) {
                if (PQntuples(res) > 0)
                    log_info("database %s is reachable again: no longer stalled (sync %s)", db, r->def.name);
                s->marked = 0;
            }
            PQclear(res);
        }
        return;
    }
    if (s->down_since == 0)
        s->down_since = now;
    if (s->marked != 1 && now - s->down_since >= r->stalled_after) {
        char ago[32];
        const char *params[3] = {db, ago, why};
        PGresult *res;

        snprintf(ago, sizeof(ago), "%.3f", now - s->down_since);
        res = pg_query(r->cat, "catalog",
                       "INSERT INTO bucardo.db_state (db, since, reason)"
                       " SELECT $1, clock_timestamp() - make_interval(secs => $2::float8), $3"
                       "  WHERE EXISTS (SELECT 1 FROM bucardo.db WHERE name = $1)"
                       " ON CONFLICT (db) DO UPDATE SET reason = EXCLUDED.reason RETURNING 1",
                       3, params);
        if (res != NULL) {
            log_warn(
                "database %s is unreachable: marked stalled (sync %s); its changes are kept until it is back",
                db, r->def.name);
            s->marked = 1;
        }
        PQclear(res);
    }
}

/* leave_out - note (log and warning) that a member sits this cycle out. */
static void leave_out(Cycle *c, const char *reason)
{
    log_warn("%s; left out of this cycle of sync %s, it catches up when it is back", reason, c->r->def.name);
    strbuf_printf(&c->left_out, "%s%s", c->left_out.len ? "; " : "", reason);
}

/*
 * start_cycle - snapshots (prev from the catalog, cur from each source
 * online), which writers are online (they connect while the sources are
 * read), and who is behind.  Fails when no source, or no member to apply
 * to, is left, and in table-copy cycles when anyone is missing.
 */
static bool start_cycle(Cycle *c, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    const char *params[1] = {r->def.name};
    PGresult *res = NULL;
    bool any_source = false, any_pair = false;
    char why[1024];

    /* Waited for at most a second (as record's lock, cycle_record.c): the
     * last cycle's reading transactions may still be open (purge_later),
     * and a command changing the sync may hold its catalog row while it
     * waits for their tables; failing here ends them (fail_sources). */
    {
        /* One round trip: a failed statement aborts the transaction, and
         * its COMMIT then rolls back. */
        const PgStatement st[4] = {{"BEGIN", 0, NULL},
                                   {"SET LOCAL lock_timeout = '1s'", 0, NULL},
                                   {SQL_CYCLE_START, 1, params},
                                   {"COMMIT", 0, NULL}};
        PGresult *out[4];
        int failed;
        bool ok = pg_pipelined_steps(r->cat, "catalog", 4, st, out, -1, &failed);

        for (int i = 0; i < 4; i++)
            if (i != 2 || !ok)
                PQclear(out[i]);
        res = ok ? out[2] : NULL;
        if (!ok && PQtransactionStatus(r->cat) != PQTRANS_IDLE)
            PQclear(PQexec(r->cat, "ROLLBACK"));
    }
    if (res == NULL) {
        snprintf(err, errlen, "catalog: cannot read the last snapshots of sync %s", r->def.name);
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 0)) {
            c->started = xstrdup(PQgetvalue(res, i, 1));
            c->run_id = xstrdup(PQgetvalue(res, i, 3));
            c->run_open = true;
            if (!PQgetisnull(res, i, 2))
                r->def.onetimecopy = atoi(PQgetvalue(res, i, 2));
            c->copy_cycle = r->def.onetimecopy > 0;
            for (int w = 0; w < r->def.ntargets; w++)
                c->copy_cycle |= r->def.fullcopy[w];
            continue;
        }
        for (int s = 0; s < c->ns; s++)
            if (c->prev[s] == NULL && strcmp(r->def.sources[s].name, PQgetvalue(res, i, 0)) == 0)
                c->prev[s] = xstrdup(PQgetvalue(res, i, 1));
    }
    PQclear(res);
    /* The encoding of the last cycle's sources: a writer that connects
     * sets it up with its session (target_writer.c, ensure_conn). */
    send_all(r, MSG_CONNECT, r->client_encoding, NULL);
    for (int s = 0; s < c->ns; s++) {
        /* A database set inactive (update db X status=inactive) sits out
         * like an unreachable one: its changes wait, and it catches up
         * when it is active again. */
        SourceStart started = SOURCE_OFFLINE;
        if (db_inactive(&r->def.sources[s])) {
            snprintf(why, sizeof(why), "database %s is inactive (status=inactive)", r->def.sources[s].name);
        } else {
            started = source_begin(c, s, why, sizeof(why));
            if (started != SOURCE_FAILED)
                note_reach(r, r->def.sources[s].name, started == SOURCE_STARTED, why);
        }
        switch (started) {
        case SOURCE_STARTED:
            c->src_on[s] = true;
            if (!any_source)
                c->first = s;
            any_source = true;
            break;
        case SOURCE_OFFLINE:
            leave_out(c, why);
            if (!err[0])
                snprintf(err, errlen, "sync %s: no source reachable: %s", r->def.name, why);
            break;
        case SOURCE_FAILED: snprintf(err, errlen, "%s", why); return false;
        }
    }
    for (int s = 0; s < c->ns; s++)
        r->src[s].offline = !c->src_on[s];
    for (int w = 0; w < c->nw; w++) {
        bool reached = target_wait(r->writers[w], why, sizeof(why));
        /* A source's own writer was noted with the source. */
        if (w < r->def.ntargets && !db_inactive(writer_dbinfo(r, w)))
            note_reach(r, writer_dbinfo(r, w)->name, reached, why);
        if (!reached || (db_inactive(writer_dbinfo(r, w)) &&
                         snprintf(why, sizeof(why), "database %s is inactive (status=inactive)",
                                  writer_dbinfo(r, w)->name))) {
            r->online[w] = false;
            c->why[w] = xstrdup(why);
            leave_out(c, why);
        }
    }
    if (!any_source)
        return false;
    for (int s = 0; s < c->ns; s++)
        for (int w = 0; c->src_on[s] && w < c->nw; w++)
            any_pair |= r->online[w] && !(c->ns > 1 && w == source_writer(r, s));
    if (!any_pair) {
        snprintf(err, errlen, "sync %s: no target reachable: %s", r->def.name, c->left_out.data);
        return false;
    }
    if (c->copy_cycle && c->left_out.len) {
        snprintf(err, errlen, "sync %s: a table copy needs every member: %s", r->def.name, c->left_out.data);
        return false;
    }
    err[0] = '\0';
    return load_members(c, err, errlen);
}

static void debug_keys(const Cycle *c, double seconds);

/*
 * keep_stats - what cycle c did into r->last (runner_last_stats), for the
 * engine's metrics: a few integers per table, once per cycle.
 */
static void keep_stats(Cycle *c, bool keys_read)
{
    SyncRunner *r = c->r;

    if (r->last_names == NULL) {
        r->last_names = xcalloc((size_t)c->nt + 1, sizeof(char *));
        r->last_keys = xcalloc((size_t)c->nt + 1, sizeof(long));
        for (int t = 0; t < c->nt; t++)
            r->last_names[t] = xasprintf("%s.%s", r->def.tables[t].schemaname, r->def.tables[t].relname);
        strbuf_init(&r->last_left_out);
    }
    for (int t = 0; t < c->nt; t++) {
        r->last_keys[t] = 0;
        for (int s = 0; keys_read && s < c->ns; s++)
            r->last_keys[t] += c->nkeys[s * c->nt + t];
    }
    strbuf_reset(&r->last_left_out);
    strbuf_append(&r->last_left_out, c->left_out.len ? c->left_out.data : "");
    r->last.deletes = c->deletes;
    r->last.inserts = c->inserts;
    r->last.conflicts = c->conflicts;
    r->last.ntables = keys_read ? c->nt : 0;
    r->last.table_names = r->last_names;
    r->last.table_keys = r->last_keys;
    r->last.left_out = r->last_left_out.data;
}

/*
 * run_cycle - one attempt at a cycle (runner_cycle).  *again: it was
 * rolled back, unrecorded, because a source writer's own database
 * truncated a table the cycle changed there after that source's snapshot
 * (cycle_apply.c, check_cuts), and may_repeat allowed running it again;
 * otherwise such a cycle fails like any other.
 */
static CycleResult run_cycle(SyncRunner *r, bool explicit_kick, bool may_repeat, bool *again, char *err,
                             size_t errlen)
{
    Cycle c = {.r = r, .ns = r->def.nsources, .nt = r->def.ntables, .nw = r->nwriters};
    /* Times of the steps, for the debug lines (log_level debug). */
    double t_start = monotonic_seconds(), t_keys = 0, t_apply = 0;
    long total = 0;
    bool any_truncate = false, seq_changed = false, keys_read = false;
    CycleResult result = CYCLE_FAILED;

    err[0] = '\0';
    /* A cycle that fails before it begins counted nothing (the metrics). */
    r->last.deletes = r->last.inserts = r->last.conflicts = 0;
    r->last.ntables = 0;
    if (!runner_ensure_catalog(r)) {
        snprintf(err, errlen, "catalog: cannot connect");
        return CYCLE_FAILED;
    }
    /* Indexes a table copy dropped before the engine died come back first.
     * One that cannot come back (rows on the target break a unique key)
     * does not stop the sync: deltas apply without it, the copy still due
     * replaces the rows and tries again (bulk_copy.c), and so do later
     * cycles - not every cycle, as a failed CREATE UNIQUE INDEX may have
     * read the whole table: after RESTORE_RETRY_MIN_S, doubling up to
     * RESTORE_RETRY_MAX_S. */
    if (!r->indexes_restored && monotonic_seconds() >= r->restore_retry_at) {
        if (index_journal_restore(r, err, errlen)) {
            r->indexes_restored = true;
        } else {
            r->restore_retry_delay = r->restore_retry_delay > 0
                                         ? fmin(r->restore_retry_delay * 2, RESTORE_RETRY_MAX_S)
                                         : RESTORE_RETRY_MIN_S;
            r->restore_retry_at = monotonic_seconds() + r->restore_retry_delay;
            log_warn("sync %s: %s; tried again in %.0f s and after copies", r->def.name, err,
                     r->restore_retry_delay);
        }
        err[0] = '\0';
    }
    c.prev = xcalloc((size_t)c.ns, sizeof(char *));
    c.cur = xcalloc((size_t)c.ns, sizeof(char *));
    c.nkeys = xcalloc((size_t)(c.ns * c.nt), sizeof(long));
    c.maxn = xcalloc((size_t)(c.ns * c.nt), sizeof(long));
    c.seq_high = xcalloc((size_t)r->def.nsequences + 1, sizeof(long long));
    c.seq_called = xcalloc((size_t)r->def.nsequences + 1, sizeof(bool));
    c.truncated = xcalloc((size_t)(c.ns * c.nt), sizeof(bool));
    c.copy = xcalloc((size_t)(c.nt * c.nw) + 1, sizeof(bool));
    c.to = xcalloc((size_t)c.nw, sizeof(bool));
    c.udeletes = xcalloc((size_t)(c.ns * c.nt) + 1, sizeof(bool));
    c.md = xcalloc((size_t)c.nw + 1, sizeof(bool));
    c.src_on = xcalloc((size_t)c.ns, sizeof(bool));
    c.sent_ahead = xcalloc((size_t)c.ns, sizeof(int));
    c.ahead = xcalloc((size_t)c.ns, sizeof(PGresult **));
    c.ahead_n = xcalloc((size_t)c.ns, sizeof(int));
    c.ahead_tab = xcalloc((size_t)c.ns, sizeof(int *));
    c.behind = xcalloc((size_t)(c.ns * c.nw) + 1, sizeof(bool));
    c.bsnap = xcalloc((size_t)(c.ns * c.nw) + 1, sizeof(char *));
    c.catchup = xcalloc((size_t)c.ns, sizeof(bool));
    c.nnew = xcalloc((size_t)(c.ns * c.nt), sizeof(long));
    c.trunc_new = xcalloc((size_t)(c.ns * c.nt), sizeof(bool));
    c.trunc_time = xcalloc((size_t)(c.ns * c.nt), sizeof(double));
    c.whole = xcalloc((size_t)(c.ns * c.nt), sizeof(bool));
    c.whole_new = xcalloc((size_t)(c.ns * c.nt), sizeof(bool));
    c.cuts = xcalloc((size_t)(c.ns * c.nt) + 1, sizeof(PartCut));
    c.why = xcalloc((size_t)c.nw + 1, sizeof(char *));
    c.wrote = xcalloc((size_t)(c.nw * c.nt) + 1, sizeof(bool));
    strbuf_init(&c.left_out);
    strbuf_init(&c.hook_warn);
    c.copy_cycle = r->def.onetimecopy > 0;
    for (int w = 0; w < r->def.ntargets; w++)
        c.copy_cycle |= r->def.fullcopy[w];

    /* customcode (cycle_hooks.c): before_sync and before_txn before the
     * sources' snapshots; an endsync there ends the cycle before it began. */
    r->hook_endsync = false;
    if (!r->hooks_loaded && !cycle_hooks_load(r, err, errlen))
        goto fail_record;
    if (!cycle_hook(&c, HOOK_BEFORE_SYNC, -1, err, errlen) ||
        (!c.endsync && !cycle_hook(&c, HOOK_BEFORE_TXN, -1, err, errlen)))
        goto fail_record;
    if (c.endsync)
        goto ended;
    if (!start_cycle(&c, err, errlen) || !check_columns(r, err, errlen) ||
        !read_sequences(&c, c.seq_high, c.seq_called, &seq_changed, err, errlen))
        goto fail_sources;
    if (!cycle_hook(&c, HOOK_BEFORE_CHECK_ROWS, -1, err, errlen))
        goto fail_sources;
    if (c.endsync)
        goto ended_sources;
    for (int s = 0; s < c.ns; s++)
        if (c.src_on[s] && !collect_keys(&c, s, err, errlen))
            goto fail_sources;
    keys_read = true;
    if (!resolve_conflicts(r, c.nkeys, c.maxn, c.catchup, c.whole, c.trunc_time, &c.conflicts, err, errlen) ||
        !unique_resolve(r, c.nkeys, &c.conflicts, c.udeletes, err, errlen))
        goto fail_sources;
    if (r->hook_endsync) { /* a conflict customcode's endsync */
        r->hook_endsync = false;
        c.endsync = true;
        goto ended_sources;
    }
    for (int s = 0; s < c.ns; s++)
        if (c.src_on[s] && !order_keys(&c, s, err, errlen))
            goto fail_sources;
    for (int i = 0; i < c.ns * c.nt; i++) {
        total += c.nkeys[i];
        any_truncate |= c.truncated[i];
    }
    t_keys = monotonic_seconds();
    if (log_enabled(LOG_DEBUG_LVL))
        debug_keys(&c, t_keys - t_start);
    for (int s = 0; s < c.ns; s++)
        seq_changed |= c.catchup[s]; /* a member back from an outage gets the sequences too */
    if (total == 0 && !any_truncate && !c.copy_cycle && !seq_changed) {
        if (r->hooks)
            end_sources(&c, "ROLLBACK");
        else
            for (int s = 0; s < c.ns; s++) /* sent with what follows (purge_later) */
                if (c.src_on[s] && r->src[s].conn && PQstatus(r->src[s].conn) == CONNECTION_OK)
                    strlist_add(&r->src[s].tail, "ROLLBACK");
                else
                    end_sources_one(&c, s, "ROLLBACK");
        if (r->hooks && (!cycle_hook(&c, HOOK_AFTER_TXN, -1, err, errlen) || c.endsync))
            goto hooks_ended;
        /* Nothing new is visible up to cur: the next cycle may start there. */
        (void)record(&c, explicit_kick || c.conflicts || c.hook_warn.len ? "Good" : NULL, 0, 0, NULL, true);
        result = c.left_out.len ? CYCLE_PARTIAL : CYCLE_EMPTY;
        if (r->hooks && !cycle_hook(&c, HOOK_AFTER_SYNC, -1, err, errlen))
            goto fail_after;
        goto out;
    }

    if (c.copy_cycle && (!plan_copies(&c, err, errlen) || !copy_tables(&c, &c.inserts, err, errlen)))
        goto fail_sources;
    if (r->hooks) {
        /* The engine applies in replica mode instead of dropping triggers:
         * both trigger_drop hooks run here, before the writers begin. */
        if (!cycle_hook(&c, HOOK_BEFORE_TRIGGER_DROP, -1, err, errlen) ||
            (!c.endsync && !cycle_hook(&c, HOOK_AFTER_TRIGGER_DROP, -1, err, errlen)))
            goto fail_sources;
        if (c.endsync)
            goto ended_sources;
    }
    if (!apply_all(&c, total, err, errlen)) {
        /* Writers that committed before one failed re-apply the same changes
         * next time, which is harmless. */
        rollback_all(&c);
        if (c.endsync) /* an exception customcode's endsync */
            goto ended;
        if (c.cut_meanwhile && may_repeat && !cancel_requested(r->cancel)) {
            log_info("%s", err);
            *again = true;
            goto out;
        }
        goto fail_record;
    }
    t_apply = monotonic_seconds();
    if (r->hooks) {
        /* The writers committed.  An endsync from here on leaves the cycle
         * unrecorded: the next one applies the same changes again, which
         * is harmless (delete by key, copy of the current row). */
        for (int t = 0; t < c.nt && !c.endsync; t++) {
            long n = 0;
            for (int s = 0; s < c.ns; s++)
                n += c.nkeys[s * c.nt + t];
            if (n > 0 && !cycle_hook(&c, HOOK_AFTER_TABLE_SYNC, t, err, errlen))
                goto fail_sources;
        }
        if ((!c.endsync && !cycle_hook(&c, HOOK_BEFORE_TRIGGER_ENABLE, -1, err, errlen)) ||
            (!c.endsync && !cycle_hook(&c, HOOK_AFTER_TRIGGER_ENABLE, -1, err, errlen)))
            goto fail_sources;
        if (c.endsync)
            goto ended_sources;
    }
    /* Without customcode (after_txn runs between them), the sources'
     * reading transactions end after the record, in the same string as the
     * purge: one round trip per source instead of two.  They only read
     * (and made temp tables), so the record does not need them ended. */
    if (r->hooks) {
        end_sources(&c, "COMMIT");
        if (!cycle_hook(&c, HOOK_AFTER_TXN, -1, err, errlen) || c.endsync)
            goto hooks_ended;
    }
    if (!record(&c, "Good", c.deletes, c.inserts, NULL, true)) {
        if (!r->hooks)
            end_sources(&c, "COMMIT");
        snprintf(err, errlen, "catalog: cannot record the cycle of sync %s", r->def.name);
        goto out;
    }
    for (int s = 0; s < c.ns; s++) {
        PGconn *conn = r->src[s].conn;
        if (r->hooks) {
            if (c.src_on[s])
                purge(r, s, NULL);
        } else if (c.src_on[s] && conn && PQstatus(conn) == CONNECTION_OK) {
            purge_later(r, s);
        } else {
            end_sources_one(&c, s, "COMMIT");
        }
    }
    for (int q = 0; q < r->def.nsequences; q++)
        r->seq_seen[q] = c.seq_high[q];
    if (c.copy_cycle && r->def.onetimecopy > 0) {
        log_info("onetimecopy %d done; back to deltas", r->def.onetimecopy);
        r->def.onetimecopy = 0;
    }
    log_info("applied %ld change(s)%s: %ld deleted, %ld inserted, %ld conflict(s)%s", total,
             c.copy_cycle ? " and table copies" : "", c.deletes, c.inserts, c.conflicts,
             c.left_out.len ? "; some members were left out" : "");
    log_debug("cycle times: window, keys and conflicts %.1f ms; copies and apply to %d writer(s) %.1f ms;"
              " source commit, record and purge %.1f ms; total %.1f ms",
              (t_keys - t_start) * 1000, c.nw, (t_apply - t_keys) * 1000,
              (monotonic_seconds() - t_apply) * 1000, (monotonic_seconds() - t_start) * 1000);
    result = c.left_out.len ? CYCLE_PARTIAL : CYCLE_DONE;
    if (r->hooks && !cycle_hook(&c, HOOK_AFTER_SYNC, -1, err, errlen))
        goto fail_after;
    goto out;

hooks_ended:
    /* after_txn: the sources' transactions are over. */
    if (!c.endsync)
        goto fail_record;
    goto ended;
ended_sources:
    rollback_all(&c);
ended:
    /* A customcode's endsync: nothing recorded, prev stays, so every change
     * of this cycle is still queued; the sync runs again after retry_delay. */
    snprintf(err, errlen, "sync %s: cycle cancelled by a customcode (endsync); its changes stay queued",
             r->def.name);
    result = CYCLE_PARTIAL;
    goto out;
fail_after:
    /* after_sync failed: the cycle is recorded Good already; the error is
     * logged and recorded as a run of its own, and the sync retries. */
    log_error("%s", err);
    if (runner_ensure_catalog(r))
        record(&c, "Bad", 0, 0, err, false);
    result = CYCLE_FAILED;
    goto out;

fail_sources:
    rollback_all(&c);
fail_record:
    if (!err[0])
        snprintf(err, errlen, "sync %s: cycle failed", r->def.name);
    if (cancel_requested(r->cancel)) {
        /* The cancelled statement's error says "canceling statement due
         * to user request": say who the user was. */
        char *why = xstrdup(err);
        snprintf(err, errlen, "sync %s: cycle interrupted, the engine is stopping (%s)", r->def.name, why);
        free(why);
    }
    log_error("%s", err);
    if (runner_ensure_catalog(r))
        record(&c, "Bad", 0, 0, err, false);
out:
    drop_run(&c); /* a run not recorded leaves no row */
    keep_applied(&c);
    keep_stats(&c, keys_read);
    cycle_free(&c);
    return result;
}

/* debug_keys - log_level debug: the keys of each table and source this
 * cycle found, and how long finding them took. */
static void debug_keys(const Cycle *c, double seconds)
{
    long tables = 0;

    for (int s = 0; s < c->ns; s++)
        for (int t = 0; t < c->nt; t++) {
            long n = c->nkeys[s * c->nt + t];
            if (n == 0 && !c->truncated[s * c->nt + t])
                continue;
            tables++;
            log_debug("source %s table %s: %ld changed key(s)%s", c->r->def.sources[s].name,
                      c->r->src[s].plans[t].display, n, c->truncated[s * c->nt + t] ? ", truncated" : "");
        }
    log_debug("window and keys: %ld table(s) of %d changed on %d source(s), in %.1f ms", tables, c->nt, c->ns,
              seconds * 1000);
}

/* How often a cycle is run again straight away for a TRUNCATE on a source
 * writer during it (run_cycle) before it fails and waits for retry_delay. */
#define CUT_REPEATS 5

CycleResult runner_cycle(SyncRunner *r, bool explicit_kick, char *err, size_t errlen)
{
    for (int attempt = 1;; attempt++) {
        bool again = false;
        CycleResult res = run_cycle(r, explicit_kick, attempt <= CUT_REPEATS, &again, err, errlen);

        if (!again)
            return res;
    }
}
