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
 *     has applied are purged.
 *
 * A writer that meets a unique index other than the key (SQLSTATE 23505)
 * has the unit applied again in "unique mode" (cycle_unique.c).
 *
 * A crash anywhere before the record re-runs the same changes next time,
 * which is harmless: delete-by-key plus copy of the current row is
 * idempotent.  Nothing is purged before every writer committed.
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
#include <time.h>

#include "bulk_copy.h"
#include "daemon.h"
#include "index_rebuild.h"
#include "log.h"
#include "runner_internal.h"

/* Replaying the index journal again after a failure (see runner_cycle). */
#define RESTORE_RETRY_MIN_S 10.0
#define RESTORE_RETRY_MAX_S 600.0

/* The catalog's clock and the sync's onetimecopy (the row with db NULL), and
 * every source's last snapshot.  onetimecopy is read at every cycle: the
 * engine clears it itself after a copy, so `update sync ... onetimecopy=1`
 * can leave the sync's fingerprint as it was and the worker running. */
static const char SQL_CYCLE_START[] =
    "SELECT NULL::text, clock_timestamp()::text, (SELECT onetimecopy::text FROM bucardo.sync WHERE name = $1)"
    " UNION ALL SELECT db, snapshot::text, NULL FROM bucardo.sync_source_state WHERE sync = $1";
static const char SQL_SAVE_SNAPSHOT[] =
    "INSERT INTO bucardo.sync_source_state (sync, db, snapshot) VALUES ($1, $2, $3::pg_snapshot)"
    " ON CONFLICT (sync, db) DO UPDATE SET snapshot = EXCLUDED.snapshot, updated = now()";
/* The NOTIFY wakes a `bucardo kick SYNC TIMEOUT` waiting for this run. */
static const char SQL_RECORD_RUN[] =
    "WITH run AS (INSERT INTO bucardo.syncrun"
    "             (sync, started, ended, state, deletes, inserts, conflicts, error, warning)"
    " VALUES ($1, $2, clock_timestamp(), $3, $4, $5, $6, $7, $8) RETURNING sync)"
    " SELECT pg_notify('" CHANNEL_RUN_DONE "', sync) FROM run";
static const char SQL_MEMBER_STATE[] =
    "SELECT source, member, snapshot::text FROM bucardo.sync_member_state WHERE sync = $1";
/* A member left out keeps the snapshot it had (the first cycle it missed). */
static const char SQL_MEMBER_LEFT_OUT[] =
    "INSERT INTO bucardo.sync_member_state (sync, source, member, snapshot, reason)"
    " VALUES ($1, $2, $3, $4::pg_snapshot, $5)"
    " ON CONFLICT (sync, source, member) DO UPDATE SET reason = EXCLUDED.reason";
static const char SQL_MEMBER_CAUGHT_UP[] =
    "DELETE FROM bucardo.sync_member_state WHERE sync = $1 AND source = $2 AND member = $3";
/* record()'s guard: the sync's row locked, then its shape (SYNC_SHAPE_SQL). */
static const char SQL_LOCK_SYNC[] = "SELECT FROM bucardo.sync WHERE name = $1 FOR SHARE";
static const char SQL_SAME_SHAPE[] = "SELECT " SYNC_SHAPE_SQL " = $2 FROM bucardo.sync s WHERE s.name = $1";
static const char SQL_ONETIMECOPY_DONE[] = "UPDATE bucardo.sync SET onetimecopy = 0 WHERE name = $1";
static const char SQL_PURGE_SNAPSHOTS[] =
    "SELECT NULL::text FROM bucardo.sync s"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = $1"
    " WHERE NOT EXISTS (SELECT 1 FROM bucardo.sync_source_state ss WHERE ss.sync = s.name AND ss.db = $1)"
    " UNION ALL "
    "SELECT ss.snapshot::text FROM bucardo.sync_source_state ss"
    "  JOIN bucardo.sync s ON s.name = ss.sync"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = ss.db"
    " WHERE ss.db = $1"
    " UNION ALL "
    "SELECT ms.snapshot::text FROM bucardo.sync_member_state ms"
    "  JOIN bucardo.sync s ON s.name = ms.sync"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.db = ms.member"
    " WHERE ms.source = $1";

/* The rows a partitioned table lost with its partitions in a cycle's
 * window (TRUNCATE of a partition, or one dropped): per partition, its
 * constraint (SQL over the table's columns, from bucardo.truncate_log)
 * and whether that happened after prev (see apply_item). */
typedef struct PartCut {
    int n;
    char **cond;
    bool *isnew;
} PartCut;

/* Everything one cycle works with; freed by cycle_free. */
typedef struct Cycle {
    SyncRunner *r;
    int ns, nt, nw;
    char *started;    /* catalog clock at the start */
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
    bool *udeletes;   /* [s * nt + t]: rows lost in unique collisions, deleted everywhere */
    long conflicts;
    long long *seq_high; /* per sequence: the highest source value */
    bool *seq_called;
    long deletes, inserts;
    /* Members offline and behind (see "Members that cannot be reached"). */
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
} Cycle;

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
    free(c->prev);
    free(c->cur);
    free(c->started);
    free(c->nkeys);
    free(c->maxn);
    free(c->truncated);
    free(c->seq_high);
    free(c->seq_called);
    free(c->copy);
    free(c->to);
    free(c->udeletes);
    free(c->md);
}

/* changed_since - the visibility condition of a cycle (literals quoted). */
static char *changed_since(PGconn *conn, const char *cur, const char *prev)
{
    char *qc = pg_quote_literal(conn, cur), *out;

    if (prev == NULL) {
        out = xasprintf("pg_visible_in_snapshot(txid, %s::pg_snapshot)", qc);
    } else {
        char *qp = pg_quote_literal(conn, prev);
        out = xasprintf("pg_visible_in_snapshot(txid, %s::pg_snapshot)"
                        " AND NOT pg_visible_in_snapshot(txid, %s::pg_snapshot)",
                        qc, qp);
        free(qp);
    }
    free(qc);
    return out;
}

/*
 * catchup_window - the visibility condition of a catching-up source s: its
 * changes in cur not yet visible in prev or in the snapshot of any online
 * writer behind it.  Snapshots of one source are ordered in time, so this
 * is the window of the oldest of them, a superset of the normal one.
 */
static char *catchup_window(Cycle *c, int s)
{
    SyncRunner *r = c->r;
    PGconn *conn = r->src[s].conn;
    char *lit = pg_quote_literal(conn, c->cur[s]);
    bool everything = c->prev[s] == NULL;
    StrBuf b;

    strbuf_init(&b);
    strbuf_printf(&b, "pg_visible_in_snapshot(txid, %s::pg_snapshot)", lit);
    free(lit);
    for (int w = 0; w < c->nw; w++)
        if (r->online[w] && c->behind[s * c->nw + w] && c->bsnap[s * c->nw + w] == NULL)
            everything = true; /* a member that has received nothing yet */
    if (everything)
        return b.data;
    lit = pg_quote_literal(conn, c->prev[s]);
    strbuf_printf(&b, " AND (NOT pg_visible_in_snapshot(txid, %s::pg_snapshot)", lit);
    free(lit);
    for (int w = 0; w < c->nw; w++)
        if (r->online[w] && c->behind[s * c->nw + w]) {
            lit = pg_quote_literal(conn, c->bsnap[s * c->nw + w]);
            strbuf_printf(&b, " OR NOT pg_visible_in_snapshot(txid, %s::pg_snapshot)", lit);
            free(lit);
        }
    strbuf_append(&b, ")");
    return b.data;
}

/*
 * hierarchy_problem - SQL yielding what happened to table p's hierarchy
 * that its capture did not follow (text), or NULL: the partition guard of
 * sql/capture.sql keeps bucardo.capture_partition equal to a partitioned
 * table's leaves and moves a statement-captured table that joins an
 * inheritance hierarchy to the row trigger, in the DDL's own transaction.
 * Read through pg_inherits in the cycle's snapshot, like the map.
 */
static char *hierarchy_problem(const TablePlan *p)
{
    if (p->partitioned)
        return xasprintf(
            "(WITH RECURSIVE tree (oid) AS (SELECT %s::regclass::oid UNION SELECT i.inhrelid"
            "   FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid),"
            " leaf AS (SELECT k.oid FROM tree JOIN pg_catalog.pg_class k ON k.oid = tree.oid WHERE k.relkind "
            "<> 'p'),"
            " map AS (SELECT part, name FROM bucardo.capture_partition WHERE parent = %s::regclass)"
            " SELECT string_agg(x, '; ') FROM ("
            "   SELECT format('its partition %%s was created or attached', leaf.oid::regclass) AS x FROM leaf"
            "    WHERE leaf.oid NOT IN (SELECT part FROM map)"
            "   UNION ALL SELECT format('its partition %%s was detached or dropped', map.name) FROM map"
            "    WHERE map.part NOT IN (SELECT oid FROM leaf)) q)",
            p->literal, p->literal);
    return xasprintf(
        "(SELECT 'it joined an inheritance hierarchy' WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g"
        "  WHERE g.tgrelid = %s::regclass AND g.tgname = 'bucardo_delta_ins' AND g.tgparentid = 0)"
        " AND EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i"
        "  WHERE i.inhrelid = %s::regclass OR i.inhparent = %s::regclass))",
        p->literal, p->literal, p->literal);
}

/* read_cuts - the partitions of table t that source s truncated or
 * dropped within `window`, and which of them within `recent`, into
 * c->cuts; truncated/trunc_new are set to match. */
static bool read_cuts(Cycle *c, int s, int t, const char *window, const char *recent, char *err,
                      size_t errlen)
{
    TablePlan *p = &c->r->src[s].plans[t];
    PartCut *cut = &c->cuts[s * c->nt + t];
    char *sql = xasprintf("SELECT part, bool_or(%s) FROM bucardo.truncate_log WHERE relid = %s::regclass"
                          " AND part IS NOT NULL AND %s GROUP BY part",
                          recent, p->literal, window);
    PGresult *res = src_query(c->r, s, p->display, sql, PGRES_TUPLES_OK, err, errlen);

    free(sql);
    if (res == NULL)
        return false;
    /* A hash partition's constraint names its parent by oid, which means
     * another table (or none) on any other database: it cannot be
     * replayed there.  A copy of the whole table (onetimecopy=1, one
     * source: every writer takes the copy) makes the cut moot. */
    for (int i = 0; i < PQntuples(res); i++)
        if (strstr(PQgetvalue(res, i, 0), "satisfies_hash_partition(") != NULL) {
            bool copied = c->r->def.onetimecopy == 1 && c->ns == 1;
            if (!copied)
                snprintf(err, errlen,
                         "source %s: table %s: a hash partition of it was truncated or dropped, which "
                         "cannot be replayed on another database (its bounds name the source's table by "
                         "oid); copy the table (onetimecopy=1)",
                         c->r->def.sources[s].name, p->display);
            PQclear(res);
            return copied;
        }
    cut->n = PQntuples(res);
    cut->cond = xcalloc((size_t)cut->n + 1, sizeof(char *));
    cut->isnew = xcalloc((size_t)cut->n + 1, sizeof(bool));
    for (int i = 0; i < cut->n; i++) {
        cut->cond[i] = xstrdup(PQgetvalue(res, i, 0));
        cut->isnew[i] = strcmp(PQgetvalue(res, i, 1), "t") == 0;
        c->truncated[s * c->nt + t] = true;
        c->trunc_new[s * c->nt + t] |= cut->isnew[i];
    }
    PQclear(res);
    return true;
}

/*
 * collect_keys - per table, source s's changed keys (and the time of each
 * key's latest change) into temp table bucardo_k<t>, and whether a TRUNCATE
 * of the table is among the changes.  A catching-up source collects the
 * wider window of its behind writers, with bucardo_new = changed after
 * prev, and numbers its keys new first.
 */
static bool collect_keys(Cycle *c, int s, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    char *cond = changed_since(r->src[s].conn, c->cur[s], c->prev[s]);
    char *wide = c->catchup[s] ? catchup_window(c, s) : NULL, *isnew = NULL;
    bool ok = true;

    if (wide && c->prev[s] == NULL) {
        isnew = xstrdup("true");
    } else if (wide) {
        char *lit = pg_quote_literal(r->src[s].conn, c->prev[s]);
        isnew = xasprintf("NOT pg_visible_in_snapshot(txid, %s::pg_snapshot)", lit);
        free(lit);
    }
    /* Every table's keys and the TRUNCATE checks go in one round trip:
     * statement i < n fills bucardo_k<tab[i]>, the last one reads, per
     * table, whether a TRUNCATE of the whole table is among the changes
     * (whole window, new) and when the window's latest one was (conflicts:
     * see resolve_conflicts), whether partitions of it were truncated or
     * dropped (whole window; read by read_cuts), and what capture could
     * not follow (hierarchy_problem). */
    SrcStatement *st = xcalloc((size_t)c->nt + 1, sizeof(SrcStatement));
    PGresult **res = xcalloc((size_t)c->nt + 1, sizeof(PGresult *));
    int *tab = xcalloc((size_t)c->nt + 1, sizeof(int)), n = 0;
    StrBuf trunc;

    strbuf_init(&trunc);
    strbuf_append(&trunc, "SELECT true");
    for (int t = 0; t < c->nt; t++) {
        TablePlan *p = &r->src[s].plans[t];

        if (r->def.tables[t].nkeys == 0)
            continue; /* no capture: fullcopy targets only */
        /* Keys are numbered so that a large cycle can apply them in batches,
         * in key order: every join by key then walks the key index (and a
         * table clustered on it) forward instead of jumping around.  A
         * catching-up source numbers its new keys first. */
        if (wide)
            st[n].sql = xasprintf("CREATE TEMP TABLE bucardo_k%d ON COMMIT DROP AS"
                                  " SELECT %s, max(txntime) AS bucardo_txntime,"
                                  " row_number() OVER (ORDER BY bool_or(%s) DESC, %s) AS bucardo_n,"
                                  " bool_or(%s) AS bucardo_new FROM %s WHERE %s GROUP BY %s",
                                  t, p->keycols, isnew, p->keycols, isnew, p->delta, wide, p->keycols);
        else
            st[n].sql =
                xasprintf("CREATE TEMP TABLE bucardo_k%d ON COMMIT DROP AS"
                          " SELECT %s, max(txntime) AS bucardo_txntime,"
                          " row_number() OVER (ORDER BY %s) AS bucardo_n FROM %s WHERE %s GROUP BY %s",
                          t, p->keycols, p->keycols, p->delta, cond, p->keycols);
        st[n].what = p->display;
        st[n].expect = PGRES_COMMAND_OK;
        {
            char *problem = hierarchy_problem(p);
            strbuf_printf(
                &trunc,
                ", EXISTS (SELECT 1 FROM bucardo.truncate_log WHERE relid = %s::regclass AND part IS NULL"
                " AND %s),"
                " EXISTS (SELECT 1 FROM bucardo.truncate_log WHERE relid = %s::regclass AND part IS NULL"
                " AND %s),"
                " (SELECT extract(epoch FROM max(txntime)) FROM bucardo.truncate_log"
                "   WHERE relid = %s::regclass AND part IS NULL AND %s),"
                " EXISTS (SELECT 1 FROM bucardo.truncate_log WHERE relid = %s::regclass"
                " AND part IS NOT NULL AND %s), %s",
                p->literal, wide ? wide : cond, p->literal, cond, p->literal, wide ? wide : cond, p->literal,
                wide ? wide : cond, problem);
            free(problem);
        }
        tab[n++] = t;
    }
    st[n] = (SrcStatement){trunc.data, "changed keys", PGRES_TUPLES_OK};
    ok = src_batch(r, s, n + 1, st, res, err, errlen);
    for (int i = 0; ok && i < n; i++) {
        int t = tab[i], k = s * c->nt + t;
        c->nkeys[k] = c->maxn[k] = atol(PQcmdTuples(res[i]));
        c->whole[k] = c->truncated[k] = strcmp(PQgetvalue(res[n], 0, 1 + 5 * i), "t") == 0;
        c->whole_new[k] = c->trunc_new[k] = strcmp(PQgetvalue(res[n], 0, 2 + 5 * i), "t") == 0;
        c->trunc_time[k] = strtod(PQgetvalue(res[n], 0, 3 + 5 * i), NULL);
        if (!PQgetisnull(res[n], 0, 5 + 5 * i)) {
            snprintf(
                err, errlen,
                "source %s: table %s: %s without its capture following (the event trigger "
                "bucardo_partition_guard is missing or disabled there: creating it needs a superuser), "
                "so changes of its rows may be missing on the other databases; run 'bucardo validate %s' "
                "and then copy the table (onetimecopy=1)",
                r->def.sources[s].name, r->src[s].plans[t].display, PQgetvalue(res[n], 0, 5 + 5 * i),
                r->def.name);
            ok = false;
        } else if (strcmp(PQgetvalue(res[n], 0, 4 + 5 * i), "t") == 0) {
            ok = read_cuts(c, s, t, wide ? wide : cond, cond, err, errlen);
        }
    }
    for (int i = 0; i < n; i++)
        free((char *)st[i].sql);
    for (int i = 0; ok && i <= n; i++)
        PQclear(res[i]);
    strbuf_free(&trunc);
    free(st);
    free(res);
    for (int i = 0; ok && i < n; i++) {
        int t = tab[i];
        TablePlan *p = &r->src[s].plans[t];
        char *sql;
        PGresult *ix;

        if (r->batch_keys <= 0 || c->nkeys[s * c->nt + t] <= r->batch_keys)
            continue;
        /* Batches read the keys by number: without an index each batch
         * would scan all of them, and a backlog would cost O(n^2). */
        sql = xasprintf("CREATE INDEX ON pg_temp.bucardo_k%d (bucardo_n); ANALYZE pg_temp.bucardo_k%d", t, t);
        ix = src_query(r, s, p->display, sql, PGRES_COMMAND_OK, err, errlen);
        free(sql);
        if (ix == NULL)
            ok = false;
        PQclear(ix);
    }
    free(tab);
    free(cond);
    free(wide);
    free(isnew);
    return ok;
}

/* makedelta_mask - c->to restricted to the writers whose database has
 * makedelta set, into c->md; false when there are none. */
static bool makedelta_mask(Cycle *c)
{
    return makedelta_writers(c->r, c->to, c->md);
}

/*
 * old_rows - on makedelta writers, before the batch's rows replace theirs:
 * a hash of each key's current row (NULL: no row) into temp table
 * bucardo_o<t>, for make_deltas.
 */
static void old_rows(Cycle *c, int s, int t)
{
    TablePlan *p = &c->r->src[s].plans[t];
    char *prefix, *suffix;

    if (!makedelta_mask(c))
        return;
    prefix = xasprintf("CREATE TEMP TABLE IF NOT EXISTS bucardo_o%d (%s, bucardo_h text) ON COMMIT DROP;"
                       " TRUNCATE pg_temp.bucardo_o%d;"
                       " INSERT INTO pg_temp.bucardo_o%d SELECT k.*, md5(t::text) FROM pg_temp.bucardo_k%d k"
                       " LEFT JOIN ",
                       t, p->keydefs, t, t, t);
    suffix = xasprintf(" t ON %s", p->keyjoin);
    send_table(c->r, MSG_EXEC, prefix, p, suffix, c->md);
    free(prefix);
    free(suffix);
}

/*
 * order_keys - after conflicts are settled, number a catching-up source's
 * keys new first (resolve_conflicts made the keys it won new: every member
 * must take the winner's row), so that current writers take keys 1..nnew
 * and behind writers all of them.  Other sources' keys are all new.
 */
static bool order_keys(Cycle *c, int s, char *err, size_t errlen)
{
    SyncRunner *r = c->r;

    for (int t = 0; t < c->nt; t++) {
        int i = s * c->nt + t;
        char *sql;
        PGresult *res;

        if (!c->catchup[s] || c->nkeys[i] == 0) {
            c->nnew[i] = c->maxn[i];
            continue;
        }
        sql = xasprintf("UPDATE pg_temp.bucardo_k%d k SET bucardo_n = o.n"
                        " FROM (SELECT ctid AS id, row_number() OVER (ORDER BY bucardo_new DESC, %s) AS n"
                        "       FROM pg_temp.bucardo_k%d) o WHERE k.ctid = o.id;"
                        " SELECT count(*) FILTER (WHERE bucardo_new), count(*) FROM pg_temp.bucardo_k%d",
                        t, r->src[s].plans[t].keycols, t, t);
        res = src_query(r, s, r->src[s].plans[t].display, sql, PGRES_TUPLES_OK, err, errlen);
        free(sql);
        if (res == NULL)
            return false;
        c->nnew[i] = atol(PQgetvalue(res, 0, 0));
        c->nkeys[i] = c->maxn[i] = atol(PQgetvalue(res, 0, 1));
        PQclear(res);
    }
    return true;
}

/*
 * make_deltas - on writers whose database has makedelta set, record the keys
 * whose row the batch really changed (old_rows has the rows before).  A
 * change that reaches a database already holding it stops there, so in a
 * ring of syncs (a->b, b->c, c->a) a change goes round once instead of for
 * ever.
 */
static void make_deltas(Cycle *c, int s, int t)
{
    TablePlan *p = &c->r->src[s].plans[t];
    char *prefix, *suffix;

    prefix = xasprintf("SELECT k.* FROM pg_temp.bucardo_o%d k LEFT JOIN ", t);
    suffix = xasprintf(" t ON %s WHERE md5(t::text) IS DISTINCT FROM k.bucardo_h", p->keyjoin);
    send_makedelta(c->r, s, p, prefix, suffix, c->to);
    free(prefix);
    free(suffix);
}

/*
 * read_sequences - the highest value of each sequence among the sources;
 * true in *changed when one moved since it was last applied.
 */
static bool read_sequences(Cycle *c, long long *high, bool *called, bool *changed, char *err, size_t errlen)
{
    SyncRunner *r = c->r;

    *changed = false;
    for (int q = 0; q < r->def.nsequences; q++) {
        high[q] = -1;
        for (int s = 0; s < c->ns; s++) {
            if (!c->src_on[s])
                continue;
            char *name = table_qualified(r->src[s].conn, &r->def.sequences[q]);
            char *sql = xasprintf("SELECT last_value, is_called FROM %s", name);
            PGresult *res = src_query(r, s, name, sql, PGRES_TUPLES_OK, err, errlen);
            long long v;

            free(sql);
            free(name);
            if (res == NULL)
                return false;
            v = atoll(PQgetvalue(res, 0, 0));
            if (v > high[q] || (v == high[q] && strcmp(PQgetvalue(res, 0, 1), "t") == 0)) {
                high[q] = v;
                called[q] = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
            }
            PQclear(res);
        }
        *changed |= high[q] != r->seq_seen[q];
    }
    return true;
}

/*
 * apply_sequences - raise every member's sequence to the highest source
 * value (never lower one: a member ahead stays ahead).  setval is not
 * transactional; raising is harmless even if the cycle then rolls back.
 */
static void apply_sequences(Cycle *c)
{
    const long long *high = c->seq_high;
    const bool *called = c->seq_called;
    SyncRunner *r = c->r;

    for (int q = 0; q < r->def.nsequences; q++) {
        char *name = table_qualified(r->src[c->first].conn, &r->def.sequences[q]);
        char *lit = pg_quote_literal(r->src[c->first].conn, name);
        char *sql = xasprintf("SELECT pg_catalog.setval(%s, %lld, %s) FROM %s"
                              " WHERE last_value < %lld OR (last_value = %lld AND NOT is_called AND %s)",
                              lit, high[q], called[q] ? "true" : "false", name, high[q], high[q],
                              called[q] ? "true" : "false");
        send_all(r, MSG_EXEC, sql, NULL);
        free(sql);
        free(lit);
        free(name);
    }
}

/*
 * stream_rows - COPY table t's rows from source s to the writers marked in
 * c->to, one stream per distinct customcols select list.  `from` is the
 * FROM clause the rows come from, naming the table "t"; each writer gets
 * "COPY <its table> (<its columns>) FROM STDIN".  Whole rows move in binary
 * where the table allows it (TablePlan.binary, as for table copies): no
 * text conversion on either server.
 */
static bool stream_rows(Cycle *c, int s, int t, const char *from, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    TablePlan *p = &r->src[s].plans[t];
    char **in = xcalloc((size_t)c->nw, sizeof(char *));
    bool *done = xcalloc((size_t)c->nw, sizeof(bool)), ok = true;

    for (int w = 0; ok && w < c->nw; w++) {
        const char *sel = p->wselect[w];
        const char *format = p->binary && sel == NULL ? " (FORMAT binary)" : "";
        char *out;
        if (!c->to[w] || done[w])
            continue;
        /* Every writer receiving the same select list shares one stream. */
        for (int v = w; v < c->nw; v++) {
            const char *other = p->wselect[v];
            if (c->to[v] && !done[v] &&
                (sel == NULL ? other == NULL : other != NULL && strcmp(sel, other) == 0)) {
                done[v] = true;
                in[v] = xasprintf("COPY %s (%s) FROM STDIN%s", p->wtable[v], p->wcolumns[v], format);
            }
        }
        out = sel ? xasprintf("COPY (SELECT %s FROM (SELECT t.* FROM %s) AS t) TO STDOUT", sel, from)
                  : xasprintf("COPY (SELECT %s FROM %s) TO STDOUT%s", p->tcolumns, from, format);
        ok = stream(r, s, p->display, out, in, true, err, errlen);
        free(out);
        for (int v = 0; v < c->nw; v++) {
            free(in[v]);
            in[v] = NULL;
        }
    }
    free(in);
    free(done);
    return ok;
}

/*
 * apply_table - source s's changes of table t to the writers marked in
 * c->to: the keys numbered lo+1..hi (all of them when hi covers maxn).
 */
static bool apply_table(Cycle *c, int s, int t, long lo, long hi, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    TablePlan *p = &r->src[s].plans[t];
    char *sql, *out, **in, *from;
    bool ok;

    if (c->nkeys[s * c->nt + t] == 0)
        return true;
    sql = xasprintf(
        "CREATE TEMP TABLE IF NOT EXISTS bucardo_k%d (%s) ON COMMIT DROP; TRUNCATE pg_temp.bucardo_k%d", t,
        p->keydefs, t);
    send_all(r, MSG_EXEC, sql, c->to);
    free(sql);
    out = xasprintf("COPY (SELECT %s FROM pg_temp.bucardo_k%d WHERE bucardo_n > %ld AND bucardo_n <= %ld"
                    " ORDER BY bucardo_n) TO STDOUT",
                    p->keycols, t, lo, hi);
    in = xcalloc((size_t)c->nw, sizeof(char *));
    for (int w = 0; w < c->nw; w++)
        if (c->to[w])
            in[w] = xasprintf("COPY pg_temp.bucardo_k%d (%s) FROM STDIN", t, p->keycols);
    ok = stream(r, s, p->display, out, in, false, err, errlen);
    for (int w = 0; w < c->nw; w++)
        free(in[w]);
    free(in);
    free(out);
    if (!ok)
        return false;
    if (hi - lo > 1000 && c->nkeys[s * c->nt + t] > 1000) {
        /* Without statistics the planner guesses the key table's size and
         * may join a large batch by scanning the whole table, per batch. */
        sql = xasprintf("ANALYZE pg_temp.bucardo_k%d", t);
        send_all(r, MSG_EXEC, sql, c->to);
        free(sql);
    }
    old_rows(c, s, t);
    sql = xasprintf(" t USING pg_temp.bucardo_k%d k WHERE %s", t, p->keyjoin);
    send_table(r, MSG_EXEC, "DELETE FROM ", p, sql, c->to);
    free(sql);
    from = xasprintf("%s t JOIN pg_temp.bucardo_k%d k ON %s AND k.bucardo_n > %ld AND k.bucardo_n <= %ld",
                     p->from, t, p->keyjoin, lo, hi);
    ok = c->unique_mode ? unique_apply_rows(r, s, t, c->to, from, err, errlen)
                        : stream_rows(c, s, t, from, err, errlen);
    free(from);
    if (ok)
        make_deltas(c, s, t);
    return ok;
}

/* target_is_empty - does writer w's table t have no rows?  -1 on error. */
static int target_is_empty(Cycle *c, int w, int t, char *err, size_t errlen)
{
    const DbInfo *db = writer_dbinfo(c->r, w);
    ConnParams cp = dbinfo_params(db);
    char reason[512], *sql;
    PGconn *conn = budget_connect(c->r->budget, &cp, db->name, reason, sizeof(reason));
    PGresult *res;
    int empty = -1;

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

/* purge - delete delta rows that every sync reading source s has applied. */
static void purge(SyncRunner *r, int s)
{
    const char *params[1] = {r->def.sources[s].name};
    PGconn *conn = r->src[s].conn;
    PGresult *res = pg_query(r->cat, "catalog", SQL_PURGE_SNAPSHOTS, 1, params);
    StrBuf cond;

    if (res == NULL)
        return;
    strbuf_init(&cond);
    for (int i = 0; i < PQntuples(res); i++) {
        char *lit;
        if (PQgetisnull(res, i, 0)) { /* a sync that never completed a cycle still needs them */
            strbuf_free(&cond);
            PQclear(res);
            return;
        }
        lit = pg_quote_literal(conn, PQgetvalue(res, i, 0));
        strbuf_printf(&cond, "%spg_visible_in_snapshot(txid, %s::pg_snapshot)", i ? " AND " : "", lit);
        free(lit);
    }
    PQclear(res);
    if (cond.len > 0) {
        /* Every table's DELETE in one round trip (one implicit transaction). */
        StrBuf sql;
        PGresult *d;

        strbuf_init(&sql);
        for (int t = 0; t <= r->def.ntables; t++)
            if (t == r->def.ntables || r->def.tables[t].nkeys > 0)
                strbuf_printf(&sql, "DELETE FROM %s WHERE %s;",
                              t < r->def.ntables ? r->src[s].plans[t].delta : "bucardo.truncate_log",
                              cond.data);
        d = PQexec(conn, sql.data);
        if (PQresultStatus(d) != PGRES_COMMAND_OK)
            log_warn("source %s: purging applied changes failed: %s", r->def.sources[s].name,
                     PQresultErrorMessage(d));
        PQclear(d);
        strbuf_free(&sql);
    }
    strbuf_free(&cond);
}

/*
 * record_members - the sync_member_state rows of this cycle: a writer left
 * out is behind every online source from that source's prev on (an
 * existing row keeps its older snapshot); a behind writer that took part
 * has caught up with every online source.  Rows of offline sources stay.
 */
static bool record_members(Cycle *c)
{
    SyncRunner *r = c->r;
    bool ok = true;

    for (int s = 0; ok && s < c->ns; s++) {
        if (!c->src_on[s])
            continue;
        for (int w = 0; ok && w < c->nw; w++) {
            const char *p[5] = {r->def.name, r->def.sources[s].name, writer_dbinfo(r, w)->name, c->prev[s],
                                c->why[w]};
            if (c->ns > 1 && w == source_writer(r, s))
                continue;
            if (!r->online[w])
                ok = pg_exec(r->cat, "catalog", SQL_MEMBER_LEFT_OUT, 5, p);
            else if (c->behind[s * c->nw + w])
                ok = pg_exec(r->cat, "catalog", SQL_MEMBER_CAUGHT_UP, 3, p);
        }
    }
    return ok;
}

/*
 * record - in one catalog transaction: the run row (state NULL: none), and
 * when `advance` the online sources' new snapshots, the members left out or
 * caught up, and the end of a onetimecopy.
 */
static bool record(Cycle *c, const char *state, long deletes, long inserts, const char *error, bool advance)
{
    SyncRunner *r = c->r;
    char d[32], in[32], cf[32];
    const char *run[8] = {r->def.name, c->started ? c->started : "now",          state, d, in, cf,
                          error,       c->left_out.len ? c->left_out.data : NULL};
    bool ok;

    snprintf(d, sizeof(d), "%ld", deletes);
    snprintf(in, sizeof(in), "%ld", inserts);
    snprintf(cf, sizeof(cf), "%ld", c->conflicts);
    ok = pg_exec(r->cat, "catalog", "BEGIN", 0, NULL);
    if (ok && advance) {
        /* Two statements: the second must see what a command that held the
         * lock committed. */
        const char *guard[2] = {r->def.name, r->def.shape ? r->def.shape : ""};
        PGresult *res;

        ok = pg_exec(r->cat, "catalog", SQL_LOCK_SYNC, 1, guard);
        res = ok ? pg_query(r->cat, "catalog", SQL_SAME_SHAPE, 2, guard) : NULL;
        if (res == NULL || PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
            if (res != NULL) {
                c->shape_changed = true;
                log_warn("the sync's tables or databases changed during this cycle: not recording it;"
                         " the reloaded sync applies its changes again");
            }
            ok = false;
        }
        PQclear(res);
    }
    for (int s = 0; ok && advance && s < c->ns; s++) {
        const char *snap[3] = {r->def.name, r->def.sources[s].name, c->cur[s]};
        if (c->src_on[s])
            ok = pg_exec(r->cat, "catalog", SQL_SAVE_SNAPSHOT, 3, snap);
    }
    ok = ok && (!advance || record_members(c)) &&
         (state == NULL || pg_exec(r->cat, "catalog", SQL_RECORD_RUN, 8, run)) &&
         (!(advance && c->copy_cycle) || pg_exec(r->cat, "catalog", SQL_ONETIMECOPY_DONE, 1, run)) &&
         pg_exec(r->cat, "catalog", "COMMIT", 0, NULL);
    if (!ok) {
        PGresult *res = PQexec(r->cat, "ROLLBACK");
        PQclear(res);
        if (!c->shape_changed)
            log_error("could not record the cycle in the catalog");
    }
    return ok;
}

/* end_sources - COMMIT or ROLLBACK every source's reading transaction. */
static void end_sources(Cycle *c, const char *how)
{
    for (int s = 0; s < c->ns; s++) {
        PGconn *conn = c->r->src[s].conn;
        if (conn && PQstatus(conn) == CONNECTION_OK) {
            PGresult *res = PQexec(conn, how);
            PQclear(res);
        } else {
            runner_drop_source(c->r, s);
        }
    }
}

static void rollback_all(Cycle *c)
{
    SyncRunner *r = c->r;

    send_all(r, MSG_ROLLBACK, NULL, NULL);
    for (int w = 0; w < r->nwriters; w++)
        (void)writer_wait(r->writers[w], NULL, 0);
    end_sources(c, "ROLLBACK");
}

typedef enum SourceStart { SOURCE_STARTED, SOURCE_OFFLINE, SOURCE_FAILED } SourceStart;

/*
 * source_begin - source s in its REPEATABLE READ transaction, with its
 * snapshot in c->cur[s].  A kept connection the server has dropped since
 * the last cycle is replaced once.  SOURCE_OFFLINE: the database cannot be
 * reached (err says why); SOURCE_FAILED: any other error.
 */
static SourceStart source_begin(Cycle *c, int s, char *err, size_t errlen)
{
    SyncRunner *r = c->r;

    for (int attempt = 0;; attempt++) {
        bool unreachable = false;
        PGresult *res;

        if (!runner_ensure_source(r, s, &unreachable, err, errlen))
            return unreachable ? SOURCE_OFFLINE : SOURCE_FAILED;
        /* One round trip: the transaction, its snapshot and the shape of
         * the tables' columns in it (a change re-plans them). */
        res = src_query(r, s, "begin", runner_begin_sql(r, s), PGRES_TUPLES_OK, err, errlen);
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
        c->cur[s] = xstrdup(PQgetvalue(res, 0, 0));
        if (!runner_source_shape(r, s, PQgetvalue(res, 0, 1), err, errlen)) {
            PQclear(res);
            return SOURCE_FAILED;
        }
        PQclear(res);
        return SOURCE_STARTED;
    }
}

/* leave_out - note (log and warning) that a member sits this cycle out. */
static void leave_out(Cycle *c, const char *reason)
{
    log_warn("%s; left out of this cycle of sync %s, it catches up when it is back", reason, c->r->def.name);
    strbuf_printf(&c->left_out, "%s%s", c->left_out.len ? "; " : "", reason);
}

/* writer_index - the writer of database `name`, or -1. */
static int writer_index(const SyncRunner *r, const char *name)
{
    for (int w = 0; w < r->nwriters; w++)
        if (strcmp(writer_dbinfo(r, w)->name, name) == 0)
            return w;
    return -1;
}

/*
 * load_members - the sync_member_state rows into c->behind/bsnap, and which
 * online sources have an online writer behind them (c->catchup).
 */
static bool load_members(Cycle *c, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    const char *params[1] = {r->def.name};
    PGresult *res = pg_query(r->cat, "catalog", SQL_MEMBER_STATE, 1, params);

    if (res == NULL) {
        snprintf(err, errlen, "catalog: cannot read the members behind of sync %s", r->def.name);
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        int w = writer_index(r, PQgetvalue(res, i, 1)), s = -1;
        for (int k = 0; k < c->ns; k++)
            if (strcmp(r->def.sources[k].name, PQgetvalue(res, i, 0)) == 0)
                s = k;
        if (s < 0 || w < 0)
            continue; /* no longer a member: purge ignores it too */
        c->behind[s * c->nw + w] = true;
        c->bsnap[s * c->nw + w] = PQgetisnull(res, i, 2) ? NULL : xstrdup(PQgetvalue(res, i, 2));
        if (c->src_on[s] && r->online[w])
            c->catchup[s] = true;
    }
    PQclear(res);
    return true;
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
    PGresult *res = pg_query(r->cat, "catalog", SQL_CYCLE_START, 1, params);
    bool any_source = false, any_pair = false;
    char why[1024];

    if (res == NULL) {
        snprintf(err, errlen, "catalog: cannot read the last snapshots of sync %s", r->def.name);
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 0)) {
            c->started = xstrdup(PQgetvalue(res, i, 1));
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
    send_all(r, MSG_CONNECT, NULL, NULL);
    for (int s = 0; s < c->ns; s++) {
        switch (source_begin(c, s, why, sizeof(why))) {
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
    for (int w = 0; w < c->nw; w++)
        if (!writer_wait(r->writers[w], why, sizeof(why))) {
            r->online[w] = false;
            c->why[w] = xstrdup(why);
            leave_out(c, why);
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

/* commit_all - BARRIER, then COMMIT on every online writer; counts from them. */
static bool commit_all(Cycle *c, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    long deletes = 0, inserts = 0;
    bool ok = true;

    send_all(r, MSG_BARRIER, NULL, NULL);
    for (int w = 0; w < r->nwriters; w++)
        if (r->online[w] && !writer_wait(r->writers[w], ok ? err : NULL, errlen))
            ok = false;
    /* DDL on a writer's tables since they were checked (likely the cause
     * of an error, too): not committed before run_unit has checked them
     * again. */
    for (int w = 0; w < r->nwriters; w++) {
        char *shape = r->online[w] ? writer_shape(r->writers[w]) : NULL;
        if (shape && r->wshape[w] && strcmp(shape, r->wshape[w]) != 0 && !c->columns_moved) {
            if (ok)
                snprintf(err, errlen, "target %s: the columns of the sync's tables changed",
                         writer_dbinfo(r, w)->name);
            c->columns_moved = true;
            c->moved_only = ok;
            ok = false;
        }
        free(shape);
    }
    if (!ok)
        return false;
    send_all(r, MSG_COMMIT, NULL, NULL);
    for (int w = 0; w < r->nwriters; w++) {
        long d, ins;
        if (!r->online[w])
            continue;
        if (!writer_wait(r->writers[w], ok ? err : NULL, errlen))
            ok = false;
        writer_counts(r->writers[w], &d, &ins);
        deletes += d;
        inserts += ins;
    }
    if (ok) {
        c->deletes += deletes;
        c->inserts += inserts;
    }
    return ok;
}

/*
 * transient - an error that goes away by itself: the application holding
 * the same rows (serialization failure, deadlock, lock timeout).  Retrying
 * the batch alone is enough; the sync must not be wedged by it.
 */
static bool transient(const char *err)
{
    return strstr(err, "(SQLSTATE 40001)") || strstr(err, "(SQLSTATE 40P01)") ||
           strstr(err, "(SQLSTATE 55P03)");
}

/*
 * drop_indexes - rebuild_index=2: queue on every writer in c->to the DROP
 * of table t's secondary indexes there, before its changes; returns the
 * sets (per writer, for recreate_indexes), or NULL with err set.  The drop,
 * the changes and the recreation share the writer's transaction, so an
 * interrupted cycle rolls back to the table with all its indexes.  Not on
 * the other sources of a multi-source sync: DROP INDEX needs ACCESS
 * EXCLUSIVE on the table, which the cycle's own reading transaction there
 * blocks (see empty_table).
 */
static IndexSet *drop_indexes(Cycle *c, int s, int t, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    IndexSet *ix = xcalloc((size_t)c->nw, sizeof(IndexSet));

    for (int w = 0; w < c->nw; w++) {
        if (!c->to[w] || w >= r->def.ntargets)
            continue;
        if (!index_set_read(writer_dbinfo(r, w), r->src[s].plans[t].wtable[w], &r->def.tables[t],
                            r->client_encoding, INDEX_SECONDARY, &ix[w], err, errlen)) {
            for (int v = 0; v < c->nw; v++)
                index_set_free(&ix[v]);
            free(ix);
            return NULL;
        }
    }
    for (int w = 0; w < r->def.ntargets; w++)
        if (c->to[w])
            index_set_send_drop(&ix[w], r->writers[w]);
    return ix;
}

/* recreate_indexes - queue the CREATE INDEXes of drop_indexes; frees ix. */
static void recreate_indexes(Cycle *c, IndexSet *ix)
{
    for (int w = 0; w < c->nw; w++) {
        if (c->to[w] && w < c->r->def.ntargets)
            index_set_send_create(&ix[w], c->r->writers[w]);
        index_set_free(&ix[w]);
    }
    free(ix);
}

/* A piece of work: keys lo+1..hi of table t from source s; or, with s
 * -1, emptying table t after a TRUNCATE (empty_table). */
typedef struct WorkItem {
    int s, t;
    long lo, hi;
} WorkItem;

/* receives_deltas - does writer w take table t's changes in this cycle
 * (online, and not getting the table by copy instead)? */
static bool receives_deltas(const Cycle *c, int w, int t)
{
    const SyncRunner *r = c->r;

    return r->online[w] && !c->copy[t * c->nw + w] && !(w < r->def.ntargets && r->def.fullcopy[w]);
}

/*
 * delete_unchanged - on writer w, delete table t's rows (those matching
 * `cond` only, when given: a partition's constraint): all of them on a
 * target, and on a source writer those its own source did not change since
 * its prev (see empty_table).
 */
static void delete_unchanged(Cycle *c, int w, int t, const char *cond)
{
    SyncRunner *r = c->r;
    TablePlan *p = &r->src[c->first].plans[t];
    char *since = NULL, *where;

    if (w < r->def.ntargets) {
        where = xasprintf(" WHERE (%s)", cond);
    } else {
        int own = w - r->def.ntargets;
        /* keyjoin is "t.<key> = k.<key> AND ...": k is the delta row. */
        if (c->prev[own]) {
            char *lit = pg_quote_literal(r->src[c->first].conn, c->prev[own]);
            since = xasprintf(
                " AND NOT pg_catalog.pg_visible_in_snapshot(k.txid, %s::pg_catalog.pg_snapshot)", lit);
            free(lit);
        }
        where = xasprintf(" t WHERE %s%s%sNOT EXISTS (SELECT 1 FROM %s k WHERE %s%s)", cond ? "(" : "",
                          cond ? cond : "", cond ? ") AND " : "", p->delta, p->keyjoin, since ? since : "");
    }
    {
        bool *one = xcalloc((size_t)c->nw, sizeof(bool));
        one[w] = true;
        send_table(r, MSG_EXEC, "DELETE FROM ", p, where, one);
        free(one);
    }
    free(where);
    free(since);
}

/*
 * empty_table - table t was truncated on a source in this cycle (the whole
 * table, or some of its partitions): before any source's keys of the
 * table, every writer that takes the TRUNCATE loses the rows nobody
 * changed.  The keys changed in the cycle are settled by the conflict
 * rule, a whole-table TRUNCATE counting as a change of every key
 * (resolve_conflicts), and applied after this as usual.
 *
 * A writer takes it when a source other than its own database truncated
 * the table in the window it receives (behind writers: the wider one).
 * Targets get TRUNCATE (or DELETE, see writer_table_referenced).  A source
 * writer gets a DELETE of the rows its own source did not change since its
 * prev instead: a TRUNCATE needs ACCESS EXCLUSIVE, which the cycle's own
 * REPEATABLE READ transaction on that source (holding ACCESS SHARE once it
 * read the table) would block for ever - PostgreSQL cannot see that wait
 * as a deadlock, since its other end is this thread.  The DELETE takes
 * ROW EXCLUSIVE, is MVCC, so the reading snapshot still sees the rows, and
 * keeps the source's own changes: those of the window are settled by
 * conflicts, those after cur come with the next cycle.
 *
 * A partition truncated or dropped on a source is replayed as a DELETE of
 * the rows matching its partition constraint (whatever the writer's own
 * partitions: the rows of the source's partition at that moment are
 * exactly the table's rows that match it), on source writers again only
 * of the rows their own source did not change.  Such a cut is not a change
 * of every key: a row another source changed in the window survives it.
 */
static void empty_table(Cycle *c, int t)
{
    SyncRunner *r = c->r;
    TablePlan *p = &r->src[c->first].plans[t];
    bool any = false;

    for (int w = 0; w < c->nw; w++) {
        c->to[w] = false;
        if (!receives_deltas(c, w, t))
            continue;
        for (int s = 0; s < c->ns; s++)
            if (c->src_on[s] && !(c->ns > 1 && w == source_writer(r, s)) &&
                (c->behind[s * c->nw + w] ? c->whole : c->whole_new)[s * c->nt + t])
                c->to[w] = true;
        any |= c->to[w] && w < r->def.ntargets;
    }
    if (any) {
        bool *targets = xcalloc((size_t)c->nw, sizeof(bool));
        for (int w = 0; w < r->def.ntargets; w++)
            targets[w] = c->to[w];
        send_table(r, MSG_EMPTY, "", p, "", targets);
        free(targets);
    }
    for (int w = r->def.ntargets; w < c->nw; w++)
        if (c->to[w])
            delete_unchanged(c, w, t, NULL);
    for (int s = 0; s < c->ns; s++) {
        const PartCut *cut = &c->cuts[s * c->nt + t];

        for (int w = 0; c->src_on[s] && w < c->nw; w++) {
            bool late = c->behind[s * c->nw + w];

            if (c->to[w] || !receives_deltas(c, w, t) || (c->ns > 1 && w == source_writer(r, s)))
                continue; /* emptied whole above, or not a receiver of s */
            for (int k = 0; k < cut->n; k++)
                if (late || cut->isnew[k])
                    delete_unchanged(c, w, t, cut->cond[k]);
        }
    }
}

/*
 * apply_item - one piece of work, in two passes: writers up to date with
 * source s take its new keys (numbered 1..nnew); writers behind s take
 * every key of the wider window.  Each writer is in one pass only.  An
 * item with s -1 empties its table (empty_table).
 */
static bool apply_item(Cycle *c, const WorkItem *it, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    int s = it->s, t = it->t, i = s * c->nt + t;
    long newhi;
    bool ok = true;

    if (s < 0) {
        empty_table(c, t);
        return true;
    }
    newhi = it->hi < c->nnew[i] ? it->hi : c->nnew[i];
    for (int pass = 0; ok && pass < 2; pass++) {
        bool late = pass == 1, any = false;
        IndexSet *ix = NULL;
        long hi = late ? it->hi : newhi;

        if (it->lo >= hi)
            continue;
        for (int w = 0; w < c->nw; w++) {
            c->to[w] = r->online[w] && !c->copy[t * c->nw + w] &&
                       !(w < r->def.ntargets && r->def.fullcopy[w]) &&
                       !(c->ns > 1 && w == source_writer(r, s)) && c->behind[s * c->nw + w] == late;
            any |= c->to[w];
        }
        if (!any)
            continue;
        /* rebuild_index=2; not in unique mode, which settles collisions
         * by probing the very unique indexes a rebuild would drop (a
         * collision shows as the CREATE UNIQUE INDEX failing, and sends
         * the unit to unique mode). */
        if (r->def.rebuild_index == 2 && !c->unique_mode && c->nkeys[i] > 0 &&
            (ix = drop_indexes(c, s, t, err, errlen)) == NULL)
            return false;
        ok = apply_table(c, s, t, it->lo, hi, err, errlen);
        if (ix)
            recreate_indexes(c, ix);
    }
    return ok;
}

/*
 * run_unit - apply items in one transaction per writer, retrying the unit
 * alone (up to five times, with a growing pause) when a writer hit a
 * transient error.  Re-applying is harmless: delete by key plus copy.
 */
static bool run_unit(Cycle *c, const WorkItem *items, int n, bool sequences, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    bool rechecked = false;

    c->unique_mode = false; /* the fast path first, for every unit */
    for (int attempt = 1;; attempt++) {
        bool ok = true;

        send_all(r, MSG_BEGIN, r->client_encoding, NULL);
        if (sequences)
            apply_sequences(c);
        if (sequences && !unique_apply_deletes(r, c->udeletes, c->copy, err, errlen))
            return false;
        for (int i = 0; ok && i < n; i++) {
            ok = apply_item(c, &items[i], err, errlen);
            if (!ok)
                return false; /* a source error: the cycle fails */
        }
        if (commit_all(c, err, errlen)) {
            c->conflicts += unique_collect(r);
            return true;
        }
        send_all(r, MSG_ROLLBACK, NULL, NULL);
        for (int w = 0; w < r->nwriters; w++)
            (void)writer_wait(r->writers[w], NULL, 0);
        /* DDL on a writer: its columns are checked again (now that no
         * writer holds a lock), once per unit.  A mismatch fails the
         * cycle with a message naming database, table and column; the
         * changes stay queued.  Columns that still match: the unit is
         * applied again when the shape merely moved, and otherwise the
         * writer's own error stands. */
        if (!rechecked && (c->columns_moved || columns_suspect(err))) {
            bool again = c->columns_moved && c->moved_only;

            rechecked = true;
            c->columns_moved = false;
            if (!recheck_columns(r, err, errlen))
                return false;
            if (again) {
                log_info("%s; they still match the sources: applying this batch again", err);
                attempt--;
                err[0] = '\0';
                continue;
            }
        }
        if (!c->unique_mode && unique_violation(err)) {
            log_warn("%s; applying this batch again, settling unique collisions", err);
            c->unique_mode = true;
            attempt--;
            err[0] = '\0';
            continue;
        }
        if (!transient(err) || attempt == 5 || cancel_requested(r->cancel))
            return false;
        log_warn("%s; retrying this batch (attempt %d)", err, attempt + 1);
        {
            struct timespec pause = {0, 200000000L * attempt};
            nanosleep(&pause, NULL);
        }
        err[0] = '\0';
    }
}

/* truncated_anywhere - did a source truncate table t in its window? */
static bool truncated_anywhere(const Cycle *c, int t)
{
    for (int s = 0; s < c->ns; s++)
        if (c->truncated[s * c->nt + t])
            return true;
    return false;
}

/*
 * apply_all - the deltas of every table, to every writer that takes them.
 * A cycle of at most batch_keys keys is one transaction per writer, so a
 * target sees it whole (foreign keys included).  A larger one - a backlog
 * after an outage - is applied in batches of batch_keys keys, each
 * committed, so memory, locks and the cost of a retry stay bounded; the
 * cycle's snapshot is recorded only after the last batch, so a crash in
 * between re-applies everything (harmlessly) and loses nothing.
 */
static bool apply_all(Cycle *c, long total, char *err, size_t errlen)
{
    long batch = c->r->batch_keys;
    int n = 0, cap = (c->ns + 1) * c->nt + 1;
    WorkItem *items = xcalloc((size_t)cap, sizeof(WorkItem));
    bool ok = true;

    if (batch <= 0 || total <= batch) {
        for (int t = 0; t < c->nt; t++) {
            if (truncated_anywhere(c, t))
                items[n++] = (WorkItem){-1, t, 0, 0};
            for (int s = 0; s < c->ns; s++)
                items[n++] = (WorkItem){s, t, 0, c->maxn[s * c->nt + t]};
        }
        ok = run_unit(c, items, n, true, err, errlen);
        free(items);
        return ok;
    }
    log_info("applying %ld changes in batches of %ld", total, batch);
    ok = run_unit(c, items, 0, true, err, errlen); /* sequences */
    for (int t = 0; ok && t < c->nt; t++) {
        if (truncated_anywhere(c, t)) {
            WorkItem it = {-1, t, 0, 0};
            ok = run_unit(c, &it, 1, false, err, errlen);
        }
        for (int s = 0; ok && s < c->ns; s++) {
            long maxn = c->maxn[s * c->nt + t];
            for (long lo = 0; ok && lo < maxn; lo += batch) {
                WorkItem it = {s, t, lo, lo + batch};
                ok = run_unit(c, &it, 1, false, err, errlen);
            }
        }
    }
    free(items);
    return ok;
}

CycleResult runner_cycle(SyncRunner *r, bool explicit_kick, char *err, size_t errlen)
{
    Cycle c = {.r = r, .ns = r->def.nsources, .nt = r->def.ntables, .nw = r->nwriters};
    long total = 0;
    bool any_truncate = false, seq_changed = false;
    CycleResult result = CYCLE_FAILED;

    err[0] = '\0';
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
    strbuf_init(&c.left_out);
    c.copy_cycle = r->def.onetimecopy > 0;
    for (int w = 0; w < r->def.ntargets; w++)
        c.copy_cycle |= r->def.fullcopy[w];

    if (!start_cycle(&c, err, errlen) || !check_columns(r, err, errlen) ||
        !read_sequences(&c, c.seq_high, c.seq_called, &seq_changed, err, errlen))
        goto fail_sources;
    for (int s = 0; s < c.ns; s++)
        if (c.src_on[s] && !collect_keys(&c, s, err, errlen))
            goto fail_sources;
    if (!resolve_conflicts(r, c.nkeys, c.maxn, c.catchup, c.whole, c.trunc_time, &c.conflicts, err, errlen) ||
        !unique_resolve(r, c.nkeys, &c.conflicts, c.udeletes, err, errlen))
        goto fail_sources;
    for (int s = 0; s < c.ns; s++)
        if (c.src_on[s] && !order_keys(&c, s, err, errlen))
            goto fail_sources;
    for (int i = 0; i < c.ns * c.nt; i++) {
        total += c.nkeys[i];
        any_truncate |= c.truncated[i];
    }
    for (int s = 0; s < c.ns; s++)
        seq_changed |= c.catchup[s]; /* a member back from an outage gets the sequences too */
    if (total == 0 && !any_truncate && !c.copy_cycle && !seq_changed) {
        end_sources(&c, "ROLLBACK");
        /* Nothing new is visible up to cur: the next cycle may start there. */
        (void)record(&c, explicit_kick || c.conflicts ? "Good" : NULL, 0, 0, NULL, true);
        result = c.left_out.len ? CYCLE_PARTIAL : CYCLE_EMPTY;
        goto out;
    }

    if (c.copy_cycle && (!plan_copies(&c, err, errlen) || !copy_tables(&c, &c.inserts, err, errlen)))
        goto fail_sources;
    if (!apply_all(&c, total, err, errlen)) {
        /* Writers that committed before one failed re-apply the same changes
         * next time, which is harmless. */
        rollback_all(&c);
        goto fail_record;
    }
    end_sources(&c, "COMMIT");
    if (!record(&c, "Good", c.deletes, c.inserts, NULL, true)) {
        snprintf(err, errlen, "catalog: cannot record the cycle of sync %s", r->def.name);
        goto out;
    }
    for (int s = 0; s < c.ns; s++)
        if (c.src_on[s])
            purge(r, s);
    for (int q = 0; q < r->def.nsequences; q++)
        r->seq_seen[q] = c.seq_high[q];
    if (c.copy_cycle && r->def.onetimecopy > 0) {
        log_info("onetimecopy %d done; back to deltas", r->def.onetimecopy);
        r->def.onetimecopy = 0;
    }
    log_info("applied %ld change(s)%s: %ld deleted, %ld inserted, %ld conflict(s)%s", total,
             c.copy_cycle ? " and table copies" : "", c.deletes, c.inserts, c.conflicts,
             c.left_out.len ? "; some members were left out" : "");
    result = c.left_out.len ? CYCLE_PARTIAL : CYCLE_DONE;
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
    cycle_free(&c);
    return result;
}
