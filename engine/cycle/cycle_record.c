/*
 * engine/cycle/cycle_record.c - the catalog's account of a cycle: at its
 * start, which members are behind (sync_member_state: load_members); once
 * every writer committed, the cycle recorded in one catalog transaction
 * (record: the online sources' new snapshots, the members left out or
 * caught up, the syncrun row, the end of a onetimecopy); then the delta
 * rows every reader of a source has applied purged (purge).  Every
 * catalog statement of the cycle is here but SQL_CYCLE_START
 * (sync_cycle.c), so reading and writing the member state sit together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cycle_internal.h"
#include "daemon.h"
#include "log.h"

static const char SQL_SAVE_SNAPSHOT[] =
    "INSERT INTO bucardo.sync_source_state (sync, db, snapshot) VALUES ($1, $2, $3::pg_snapshot)"
    " ON CONFLICT (sync, db) DO UPDATE SET snapshot = EXCLUDED.snapshot, updated = now()";
/* The first NOTIFY wakes a `bucardo kick SYNC TIMEOUT` waiting for this
 * run.  The others are Bucardo's, which scripts LISTEN for: channel
 * bucardo_syncdone_SYNC (bucardo_syncerror_SYNC for a failed run; none
 * when the name makes the channel longer than PostgreSQL's 63 bytes) and
 * channel bucardo with payload syncdone_SYNC / syncerror_SYNC. */
/* The run's row is the one SQL_CYCLE_START wrote ($9), ended here; a run
 * without one (the cycle failed before it, or a second run after an
 * after_sync failure: $9 NULL) gets a new row. */
static const char SQL_RECORD_RUN[] =
    "WITH run AS (INSERT INTO bucardo.syncrun"
    "             (id, sync, started, ended, state, deletes, inserts, conflicts, error, warning, truncates)"
    " VALUES (coalesce($9::bigint, nextval(pg_get_serial_sequence('bucardo.syncrun', 'id'))),"
    "         $1, $2, clock_timestamp(), $3, $4, $5, $6, $7, $8, $10)"
    " ON CONFLICT (id) DO UPDATE SET ended = EXCLUDED.ended, state = EXCLUDED.state,"
    "     deletes = EXCLUDED.deletes, inserts = EXCLUDED.inserts, conflicts = EXCLUDED.conflicts,"
    "     error = EXCLUDED.error, warning = EXCLUDED.warning, truncates = EXCLUDED.truncates"
    " RETURNING sync, state)"
    " SELECT pg_notify('" CHANNEL_RUN_DONE "', sync),"
    "        CASE WHEN octet_length(ev) < 56 THEN pg_notify('bucardo_' || ev, '') END,"
    "        pg_notify('bucardo', ev)"
    "   FROM run, LATERAL (SELECT CASE WHEN state = 'Bad' THEN 'syncerror_' ELSE 'syncdone_' END || sync) "
    "e(ev)";
/* stats_history: the runs kept per sync (0: all), trimmed as each is
 * recorded.  (OFFSET NULL means no offset: 0 must delete nothing, not keep
 * only the last run, hence the EXISTS.) */
static const char SQL_TRIM_RUNS[] =
    "DELETE FROM bucardo.syncrun WHERE sync = $1 AND ended IS NOT NULL"
    "   AND EXISTS (SELECT 1 FROM bucardo.config WHERE name = 'stats_history'"
    "               AND setting ~ '^[0-9]+$' AND setting::bigint > 0)"
    "   AND started < (SELECT started FROM bucardo.syncrun WHERE sync = $1 ORDER BY started DESC"
    "                   OFFSET (SELECT setting::bigint - 1 FROM bucardo.config WHERE name = 'stats_history'"
    "                            AND setting ~ '^[0-9]+$' AND setting::bigint > 0) LIMIT 1)";
/* A cycle that records no run (nothing to apply and no kick waiting,
 * endsync, a repeat) leaves no row, as before rows were written at the
 * start. */
static const char SQL_DROP_RUN[] = "DELETE FROM bucardo.syncrun WHERE id = $1::bigint AND ended IS NULL";
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
static const char SQL_PURGE_SNAPSHOTS[] = CATALOG_PURGE_SNAPSHOTS_SQL;

/* finish - send `first` (NULL: nothing) and the purge's DELETEs (sql, may
 * be empty) to source s as one string, and report what failed. */
static void finish(SyncRunner *r, int s, const char *first, const char *sql)
{
    PGconn *conn = r->src[s].conn;
    char *all;
    PGresult *d;

    if (first == NULL && sql[0] == '\0')
        return;
    (void)src_idle(r, s);
    all = xasprintf("%s%s%s", first ? first : "", first && sql[0] ? ";" : "", sql);
    d = PQexec(conn, all);
    free(all);
    if (PQresultStatus(d) != PGRES_COMMAND_OK)
        log_warn("source %s: %s failed: %s", r->def.sources[s].name,
                 first && PQtransactionStatus(conn) != PQTRANS_IDLE ? "ending the reading transaction"
                                                                    : "purging applied changes",
                 PQresultErrorMessage(d));
    PQclear(d);
}

/* purge_sql - the DELETEs (into *out, one per statement; none added for none) of the delta rows that
 * every sync reading source s has applied, by the snapshots the catalog
 * holds now (recorded ones only: this cycle's record came first). */
static void purge_sql(SyncRunner *r, int s, StrList *out)
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
    for (int t = 0; cond.len > 0 && t <= r->def.ntables; t++)
        if (t == r->def.ntables || r->def.tables[t].nkeys > 0) {
            char *del =
                xasprintf("DELETE FROM %s WHERE %s",
                          t < r->def.ntables ? r->src[s].plans[t].delta : "bucardo.truncate_log", cond.data);
            strlist_add(out, del);
            free(del);
        }
    strbuf_free(&cond);
}

/* purge - delete delta rows that every sync reading source s has applied;
 * `first` (e.g. the reading transaction's COMMIT, or NULL) goes out in the
 * same string, before them: one round trip for both. */
void purge(SyncRunner *r, int s, const char *first)
{
    StrList dels = {0};
    StrBuf sql;

    purge_sql(r, s, &dels);
    strbuf_init(&sql);
    for (int i = 0; i < dels.count; i++)
        strbuf_printf(&sql, "%s;", dels.items[i]);
    /* Every table's DELETE in one round trip (one implicit transaction,
     * after `first`). */
    finish(r, s, first, sql.data);
    strbuf_free(&sql);
    strlist_free(&dels);
}

void purge_later(SyncRunner *r, int s)
{
    SourceConn *sc = &r->src[s];

    strlist_free(&sc->tail);
    strlist_add(&sc->tail, "COMMIT");
    sc->tail_purge = true;
}

void src_tail(SyncRunner *r, int s, StrList *out)
{
    SourceConn *sc = &r->src[s];

    *out = sc->tail;
    memset(&sc->tail, 0, sizeof(StrList));
    if (sc->tail_purge && r->cat && sc->plans) {
        /* The snapshots the catalog holds now, as purge reads them right
         * before sending its DELETEs; in a transaction of its own: in a
         * string that goes on with the next cycle's BEGIN ISOLATION LEVEL,
         * DELETEs in the implicit one would make that BEGIN join them. */
        StrList dels = {0};

        purge_sql(r, s, &dels);
        if (dels.count > 0) {
            strlist_add(out, "BEGIN");
            for (int i = 0; i < dels.count; i++)
                strlist_add(out, dels.items[i]);
            strlist_add(out, "COMMIT");
        }
        strlist_free(&dels);
    }
    sc->tail_purge = false;
}

void src_settle(SyncRunner *r, int s)
{
    SourceConn *sc = &r->src[s];
    StrBuf all;
    PGresult *res;
    StrList tail;

    (void)src_idle(r, s);
    if (sc->tail.count == 0)
        return;
    if (sc->conn == NULL || PQstatus(sc->conn) != CONNECTION_OK) {
        /* The server ended the reading transaction; the next purge deletes these rows. */
        strlist_free(&sc->tail);
        sc->tail_purge = false;
        return;
    }
    src_tail(r, s, &tail);
    strbuf_init(&all);
    for (int i = 0; i < tail.count; i++)
        strbuf_printf(&all, "%s%s", i ? ";" : "", tail.items[i]);
    strlist_free(&tail);
    res = PQexec(sc->conn, all.data);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        log_warn(
            "source %s: ending the last cycle's reading transaction or purging applied changes failed: %s",
            r->def.sources[s].name, PQresultErrorMessage(res));
    PQclear(res);
    if (PQtransactionStatus(sc->conn) != PQTRANS_IDLE)
        PQclear(PQexec(sc->conn, "ROLLBACK"));
    strbuf_free(&all);
}

/*
 * add_members - record's statements for the sync_member_state rows of this
 * cycle: a writer left out is behind every online source from that
 * source's prev on (an existing row keeps its older snapshot); a behind
 * writer that took part has caught up with every online source.  Rows of
 * offline sources stay.  params holds 5 per (source, writer) pair.
 */
static void add_members(Cycle *c, PgStatement *st, int *n, const char **params)
{
    SyncRunner *r = c->r;

    for (int s = 0; s < c->ns; s++) {
        if (!c->src_on[s])
            continue;
        for (int w = 0; w < c->nw; w++) {
            const char **p = params + 5 * (s * c->nw + w);
            if (c->ns > 1 && w == source_writer(r, s))
                continue;
            p[0] = r->def.name;
            p[1] = r->def.sources[s].name;
            p[2] = writer_dbinfo(r, w)->name;
            p[3] = c->prev[s];
            p[4] = c->why[w];
            if (!r->online[w])
                st[(*n)++] = (PgStatement){SQL_MEMBER_LEFT_OUT, 5, p};
            else if (c->behind[s * c->nw + w])
                st[(*n)++] = (PgStatement){SQL_MEMBER_CAUGHT_UP, 3, p};
        }
    }
}

/*
 * record's lock on the sync's catalog row is waited for at most
 * RECORD_LOCK_WAIT.  A command holding that row is changing the sync and
 * may be waiting meanwhile for the tables this cycle's reading
 * transactions hold (capture installs its triggers under lock_timeout):
 * waiting longer would deadlock the two until its timeout.  Not getting
 * the lock counts as a definition that changed: the cycle is not
 * recorded, the sources' transactions end, and the reloaded sync applies
 * its changes again.
 */
#define RECORD_LOCK_WAIT "1s"

/* pipelined - st[0..n) in one round trip (pg_pipelined_steps), their
 * results cleared; the lock's (statement ilock, -1: none) timeout is the
 * sync being changed, said once and noted in c->shape_changed; the shape
 * check (statement ishape) must say true. */
static bool pipelined(Cycle *c, int n, const PgStatement *st, int ilock, int ishape)
{
    SyncRunner *r = c->r;
    PGresult **res = xcalloc((size_t)n + 1, sizeof(PGresult *));
    int failed;
    bool ok = pg_pipelined_steps(r->cat, "catalog", n, st, res, ilock, &failed);

    if (!ok && failed == ilock) {
        const char *code = PQresultErrorField(res[ilock], PG_DIAG_SQLSTATE);
        if (code && strcmp(code, "55P03") == 0) {
            c->shape_changed = true;
            log_warn("a command is changing the sync (its catalog row stayed locked for " RECORD_LOCK_WAIT
                     "): not recording this cycle; the reloaded sync applies its changes again");
        } else {
            pg_report("catalog", r->cat, res[ilock]);
        }
    }
    if (ok && ishape >= 0 &&
        (PQntuples(res[ishape]) != 1 || strcmp(PQgetvalue(res[ishape], 0, 0), "t") != 0)) {
        c->shape_changed = true;
        log_warn("the sync's tables or databases changed during this cycle: not recording it;"
                 " the reloaded sync applies its changes again");
        ok = false;
    }
    for (int i = 0; i < n; i++)
        PQclear(res[i]);
    free(res);
    return ok;
}

/*
 * record - in one catalog transaction: the run row (state NULL: none), and
 * when `advance` the online sources' new snapshots, the members left out or
 * caught up, and the end of a onetimecopy.  When advancing, two round
 * trips: the transaction with the sync's row locked and its shape checked,
 * then, if the shape is the one this cycle ran with, the writes and the
 * COMMIT; else one.
 */
bool record(Cycle *c, const char *state, long deletes, long inserts, const char *error, bool advance)
{
    SyncRunner *r = c->r;
    char d[32], in[32], cf[32], tr[32];
    /* The customcodes' warnings (cycle_hooks.c) after the members left out. */
    char *warning = c->hook_warn.len ? xasprintf("%s%s%s", c->left_out.len ? c->left_out.data : "",
                                                 c->left_out.len ? "; " : "", c->hook_warn.data)
                                     : NULL;
    const char *run[10] = {r->def.name,
                           c->started ? c->started : "now",
                           state,
                           d,
                           in,
                           cf,
                           error,
                           warning           ? warning
                           : c->left_out.len ? c->left_out.data
                                             : NULL,
                           c->run_open ? c->run_id : NULL,
                           tr};
    /* Two statements: the shape's must see what a command that held the lock committed. */
    const char *guard[2] = {r->def.name, r->def.shape ? r->def.shape : ""};
    int cap = c->ns * (c->nw + 1) + 8, n = 0, ilock = -1, ishape = -1;
    PgStatement *st = xcalloc((size_t)cap, sizeof(PgStatement));
    const char **members = xcalloc((size_t)(5 * c->ns * c->nw) + 1, sizeof(char *));
    const char **snaps = xcalloc((size_t)(3 * c->ns) + 1, sizeof(char *));
    long truncates = 0;
    bool ok;

    /* Bucardo's truncates: the tables whose TRUNCATE this run replicated
     * (one per table, whichever sources truncated it). */
    for (int t = 0; state != NULL && strcmp(state, "Good") == 0 && c->truncated && t < c->nt; t++)
        for (int s = 0; s < c->ns; s++)
            if (c->truncated[s * c->nt + t]) {
                truncates++;
                break;
            }
    snprintf(d, sizeof(d), "%ld", deletes);
    snprintf(in, sizeof(in), "%ld", inserts);
    snprintf(cf, sizeof(cf), "%ld", c->conflicts);
    snprintf(tr, sizeof(tr), "%ld", truncates);
    /* The commit does not wait for the catalog's WAL flush (2.8 ms per
     * cycle of 28 under pgbench -R 200 here), as SQL_CYCLE_START's: the
     * writers committed before, so a record lost in a catalog crash only
     * makes the next cycle apply the same changes again, which is
     * harmless (delete by key, copy of the current row), and the purge
     * deletes only what the catalog's snapshots - lost ones included -
     * saw applied.  Not for the end of a table copy: repeating that one
     * would cost a copy. */
    st[n++] = (PgStatement){"BEGIN", 0, NULL};
    if (!c->copy_cycle)
        st[n++] = (PgStatement){"SET LOCAL synchronous_commit = off", 0, NULL};
    if (advance) {
        st[n++] = (PgStatement){"SET LOCAL lock_timeout = '" RECORD_LOCK_WAIT "'", 0, NULL};
        ilock = n;
        st[n++] = (PgStatement){SQL_LOCK_SYNC, 1, guard};
        st[n++] = (PgStatement){"SET LOCAL lock_timeout TO DEFAULT", 0, NULL};
        ishape = n;
        st[n++] = (PgStatement){SQL_SAME_SHAPE, 2, guard};
    }
    ok = true;
    if (advance) { /* the writes wait for the shape's answer; a run row alone does not */
        ok = pipelined(c, n, st, ilock, ishape);
        n = 0;
    }
    for (int s = 0; advance && s < c->ns; s++)
        if (c->src_on[s]) {
            const char **snap = snaps + 3 * s;
            snap[0] = r->def.name;
            snap[1] = r->def.sources[s].name;
            snap[2] = c->cur[s];
            st[n++] = (PgStatement){SQL_SAVE_SNAPSHOT, 3, snap};
        }
    if (advance)
        add_members(c, st, &n, members);
    if (state == NULL) {
        if (c->run_open)
            st[n++] = (PgStatement){SQL_DROP_RUN, 1, (const char *const *)&c->run_id};
    } else {
        st[n++] = (PgStatement){SQL_RECORD_RUN, 10, run};
        st[n++] = (PgStatement){SQL_TRIM_RUNS, 1, run};
    }
    if (advance && c->copy_cycle)
        st[n++] = (PgStatement){SQL_ONETIMECOPY_DONE, 1, run};
    st[n++] = (PgStatement){"COMMIT", 0, NULL};
    ok = ok && pipelined(c, n, st, -1, -1);
    if (!ok) {
        if (PQtransactionStatus(r->cat) != PQTRANS_IDLE)
            PQclear(PQexec(r->cat, "ROLLBACK"));
        if (!c->shape_changed)
            log_error("could not record the cycle in the catalog");
        drop_run(c); /* not recorded: its running row goes */
    }
    c->run_open = false;
    free(st);
    free(members);
    free(snaps);
    free(warning);
    return ok;
}

/* drop_run - the cycle records no run: its running row goes (when the
 * catalog is there; else the next engine start ends it). */
void drop_run(Cycle *c)
{
    if (!c->run_open)
        return;
    c->run_open = false;
    if (c->r->cat != NULL && PQstatus(c->r->cat) == CONNECTION_OK &&
        PQtransactionStatus(c->r->cat) == PQTRANS_IDLE)
        if (!pg_exec(c->r->cat, "catalog", SQL_DROP_RUN, 1, (const char *const *)&c->run_id))
            log_warn("sync %s: cannot remove the syncrun row of a cycle that recorded nothing (id %s)",
                     c->r->def.name, c->run_id);
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
bool load_members(Cycle *c, char *err, size_t errlen)
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
