/*
 * engine/daemon/source_watch.c - one thread that wakes autokick syncs: per source
 * database, one connection LISTENing on the capture's channel, and a poll
 * for transactions completed since the last look that left rows in a delta
 * table of a sync (their NOTIFY may have been skipped: sql/capture.sql,
 * section kick).
 *
 * The poll keeps its own reference snapshot per database.  It asks first
 * whether any transaction completed since it (reads no table, false on an
 * idle server), and only then, per sync, whether one of its delta tables
 * (or bucardo.truncate_log) has rows its reference does not see; then the
 * reference moves to the statement's snapshot.  A change is seen by the
 * first poll whose snapshot sees it committed; the sync woken then runs a
 * cycle whose snapshot is taken later still, so nothing is missed, and the
 * engine's own transactions on a source (temp tables, purge) write no
 * delta row, so they wake no one.  A NOTIFY names the delta table and the
 * transaction (DELTA:XID): the syncs reading that table are woken on it
 * at once (notified), and the poll then looks for what the transactions
 * that skipped their NOTIFY changed; the poll reports the transactions it
 * found (report_xids), so a sync whose last cycle saw them runs no second
 * cycle (sync_worker.c, worker_notified).  A NOTIFY runs the poll at once
 * (unless paced, below); it runs again POLL_MIN_S after a poll that found
 * something and backs off to POLL_MAX_S while it finds nothing: an idle
 * source costs two table-less queries a second.  Polls that had to read
 * large delta tables (a backlog not applied yet) delay the next one in
 * proportion, at most POLL_PACE_MAX_S (paced), so the watcher takes about
 * a tenth of a source's backend at most.
 *
 * Registrations change under `lock` (sync threads add and remove theirs);
 * the thread copies them when their generation moved, and wakes a sync
 * only under `lock` while it is registered, so never a freed one.  The
 * reference is shared by a database's syncs, so a sync that joins a
 * database already watched is woken once when the thread takes it in
 * (rebuild): polls made meanwhile did not look at its delta tables.
 *
 * Stalled sources (bucardo.db_state, setting stalled_after): every query
 * of the thread is sent without waiting (PQsendQuery*) and its answer
 * taken when the socket has it, so a source that stops answering - a
 * frozen server, a network partition - holds only its own poll, not the
 * thread.  A database whose query has gone unanswered, or that could not
 * be connected to, for stalled_after seconds gets its row in
 * bucardo.db_state, written through the thread's own catalog connection
 * (opened when first needed); its first answer after that deletes the
 * row.  So an idle sync's source is marked stalled and healthy again
 * without a cycle running, and a cycle costs nothing more: the marks ride
 * on the polls the watcher makes anyway.  The syncs' cycles mark the same
 * rows when they cannot connect (sync_cycle.c, note_reach); both agree
 * through the row.
 */
#include "source_watch.h"

#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "capture.h"
#include "log.h"

#define POLL_MIN_S 0.01
#define POLL_MAX_S 0.5
/* A query unanswered this long at least marks its database stalled. */
#define UNANSWERED_MIN_S 1.0
/* New delta rows a poll reports by transaction (more: it reports its
 * reference and snapshot instead, see polled). */
#define POLL_XIDS 64
/* A poll's cost beyond its round trip is followed by this many times as
 * long without one (the watcher takes at most a tenth of a source's
 * backend), but never more than POLL_PACE_MAX_S: a poll slowed by a
 * stalled server says little about the next one. */
#define POLL_COST_RATIO 9.0
#define POLL_PACE_MAX_S 5.0

/* Which of the delta tables exist: a sync whose capture is not installed
 * yet must not break the poll of the others (its cycles report it). */
static const char SQL_EXISTING[] =
    "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'bucardo' AND c.relname = ANY ($1::text[])";

typedef struct Reg {
    SyncWorker *owner;
    long serial; /* unique per registration (a restarted sync's new worker may reuse the address) */
    DbInfo db;
    char *key; /* the database's name and connection parameters */
    StrList deltas;
} Reg;

/* What a connection's query in flight is for. */
typedef enum { Q_NONE, Q_LISTEN, Q_EXISTING, Q_POLL } Pending;

/* One source database, owned by the thread. */
typedef struct Watched {
    char *key;
    DbInfo db;
    int nowners;
    SyncWorker **owners;
    long *serials;   /* per owner: its registration's */
    StrList *deltas; /* per owner */
    PGconn *conn;
    char *ref; /* the poll's reference snapshot */
    char *sql; /* the poll; NULL until built for this connection and these owners */
    bool have_truncate_log;
    double next_poll, poll_delay, next_connect, connect_delay;
    double poll_floor;    /* the quickest poll answered on conn: its round trip (0: none yet) */
    double poll_earliest; /* no poll before then (watch_poll_gap) */
    double poll_excess;   /* the last poll's time beyond poll_floor */
    bool failing;         /* the last connection attempt failed (logged once) */
    Pending pending;      /* the query in flight on conn */
    double pending_since; /* when it was sent */
    bool repoll;          /* a NOTIFY came while a poll was in flight: poll again after it */
    bool stale;           /* the poll in flight was made for the owners before a rebuild */
    double down_since;    /* first failed connection (0: none since the last answer) */
    char *down_why;       /* why it failed */
    int marked;           /* bucardo.db_state has its row: 1 yes, 0 no, -1 not known yet */
    double mark_retry;    /* a failed catalog write is tried again from then */
} Watched;

struct SourceWatch {
    ConnBudget *budget;
    const ConnParams *catalog; /* borrowed */
    double retry_delay, retry_delay_max;
    double stalled_after; /* -1: never mark */
    pthread_t thread;
    int wake_fd;
    atomic_bool stop;

    pthread_mutex_t lock;
    Reg *regs;
    int nregs;
    long generation;
    long serials; /* registrations made */

    /* The thread's own. */
    PGconn *cat; /* for bucardo.db_state; NULL until needed */
    Watched *dbs;
    int ndbs;
    long built;
};

static char *dup_str(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static DbInfo dbinfo_copy(const DbInfo *db)
{
    DbInfo c = {dup_str(db->name),   dup_str(db->dbname), dup_str(db->host),    dup_str(db->port),
                dup_str(db->user),   dup_str(db->pass),   dup_str(db->service), dup_str(db->conn),
                dup_str(db->status), db->makedelta,       dup_str(db->dbtype)};
    return c;
}

static void wake(SourceWatch *w)
{
    uint64_t one = 1;
    if (write(w->wake_fd, &one, sizeof(one)) < 0) {
        /* saturated: a wake-up is pending already */
    }
}

static void watched_close(Watched *d)
{
    if (d->conn)
        PQfinish(d->conn);
    d->conn = NULL;
    free(d->ref);
    d->ref = NULL;
    free(d->sql);
    d->sql = NULL;
    d->pending = Q_NONE;
    d->repoll = false;
    d->stale = false;
    d->poll_floor = 0;
    d->poll_earliest = 0;
    d->poll_excess = 0;
}

static void watched_free(Watched *d)
{
    watched_close(d);
    free(d->key);
    free(d->down_why);
    dbinfo_free(&d->db);
    for (int i = 0; i < d->nowners; i++)
        strlist_free(&d->deltas[i]);
    free(d->deltas);
    free(d->owners);
    free(d->serials);
}

/* was_owner - was registration `serial` among the owners of the old
 * database `key`? */
static bool was_owner(const Watched *old, int nold, const char *key, long serial)
{
    for (int k = 0; k < nold; k++)
        if (old[k].key && strcmp(old[k].key, key) == 0)
            for (int i = 0; i < old[k].nowners; i++)
                if (old[k].serials[i] == serial)
                    return true;
    return false;
}

static void kick_owner(SourceWatch *w, SyncWorker *owner, const char *why);

/*
 * rebuild - the databases of the registrations now: a database whose name
 * and parameters are unchanged keeps its connection and reference.
 *
 * A sync new to such a database is kicked once, here, after the rebuild:
 * between its watch_add and now, polls that did not know it yet may have
 * moved the kept reference past a change of its tables that its first
 * cycle (run right after watch_add, possibly before that change) did not
 * see either; no later poll would find it.  The cycle this kick starts
 * takes its snapshot after the reference the next polls start from, as a
 * (re)connection's kick does (connect_db).
 */
static void rebuild(SourceWatch *w)
{
    Watched *old = w->dbs;
    int nold = w->ndbs;
    SyncWorker **fresh = NULL; /* new owners of kept databases: to kick (see above) */
    int nfresh = 0;

    w->dbs = NULL;
    w->ndbs = 0;
    pthread_mutex_lock(&w->lock);
    w->built = w->generation;
    for (int i = 0; i < w->nregs; i++) {
        Reg *g = &w->regs[i];
        Watched *d = NULL;

        for (int k = 0; k < w->ndbs && d == NULL; k++)
            if (strcmp(w->dbs[k].key, g->key) == 0)
                d = &w->dbs[k];
        if (d == NULL) {
            w->dbs = xrealloc(w->dbs, sizeof(Watched) * (size_t)(w->ndbs + 1));
            d = &w->dbs[w->ndbs++];
            memset(d, 0, sizeof(*d));
            d->key = xstrdup(g->key);
            d->db = dbinfo_copy(&g->db);
            d->connect_delay = w->retry_delay;
            d->poll_delay = POLL_MIN_S;
            d->marked = -1;
            for (int k = 0; k < nold; k++)
                if (old[k].key && strcmp(old[k].key, g->key) == 0) {
                    /* The query in flight stays in flight (its answer is
                     * taken as usual); a poll's text is built again for
                     * the new owners, so its answer only moves on. */
                    d->conn = old[k].conn;
                    d->ref = old[k].ref;
                    d->failing = old[k].failing;
                    d->next_connect = old[k].next_connect;
                    d->connect_delay = old[k].connect_delay;
                    d->pending = old[k].pending;
                    d->pending_since = old[k].pending_since;
                    d->repoll = old[k].repoll;
                    d->poll_floor = old[k].poll_floor;
                    d->poll_earliest = old[k].poll_earliest;
                    d->poll_excess = old[k].poll_excess;
                    d->stale = old[k].pending == Q_POLL || old[k].pending == Q_EXISTING;
                    d->down_since = old[k].down_since;
                    d->down_why = old[k].down_why;
                    d->marked = old[k].marked;
                    d->mark_retry = old[k].mark_retry;
                    old[k].conn = NULL;
                    old[k].ref = NULL;
                    old[k].down_why = NULL;
                }
        }
        d->owners = xrealloc(d->owners, sizeof(SyncWorker *) * (size_t)(d->nowners + 1));
        d->deltas = xrealloc(d->deltas, sizeof(StrList) * (size_t)(d->nowners + 1));
        d->serials = xrealloc(d->serials, sizeof(long) * (size_t)(d->nowners + 1));
        d->owners[d->nowners] = g->owner;
        d->serials[d->nowners] = g->serial;
        if (d->conn && !was_owner(old, nold, g->key, g->serial)) {
            fresh = xrealloc(fresh, sizeof(SyncWorker *) * (size_t)(nfresh + 1));
            fresh[nfresh++] = g->owner;
        }
        memset(&d->deltas[d->nowners], 0, sizeof(StrList));
        for (int k = 0; k < g->deltas.count; k++)
            strlist_add(&d->deltas[d->nowners], g->deltas.items[k]);
        d->nowners++;
    }
    pthread_mutex_unlock(&w->lock);
    for (int k = 0; k < nold; k++)
        watched_free(&old[k]);
    free(old);
    for (int i = 0; i < nfresh; i++)
        kick_owner(w, fresh[i], "joined a database watched already; it runs once");
    free(fresh);
}

/* kick_owner - wake `owner`, if it is still registered (else it may be
 * freed already); `why`, when not NULL, is logged (debug). */
static void kick_owner(SourceWatch *w, SyncWorker *owner, const char *why)
{
    pthread_mutex_lock(&w->lock);
    for (int k = 0; k < w->nregs; k++)
        if (w->regs[k].owner == owner) {
            if (why)
                log_debug("sync %s: %s", worker_name(owner), why);
            worker_changed(owner);
            break;
        }
    pthread_mutex_unlock(&w->lock);
}

/* kick_found - tell owner i of d what the poll from reference `ref` to
 * snapshot `cur` found, if it is still registered (worker_found). */
static void kick_found(SourceWatch *w, const Watched *d, int i, const char *ref, const char *cur)
{
    pthread_mutex_lock(&w->lock);
    for (int k = 0; k < w->nregs; k++)
        if (w->regs[k].owner == d->owners[i]) {
            worker_found(d->owners[i], d->db.name, ref, cur);
            break;
        }
    pthread_mutex_unlock(&w->lock);
}

/* report_xids - tell owner i of d which transactions its new delta rows
 * come from ("{x,y,...}", as the poll gives them); false when the list
 * may be cut (POLL_XIDS rows) or cannot be read: the caller reports the
 * poll's snapshots instead. */
static bool report_xids(SourceWatch *w, const Watched *d, int i, const char *list)
{
    unsigned long long xids[POLL_XIDS];
    int n = 0;
    const char *p = list;
    char *end;

    if (*p++ != '{')
        return false;
    while (*p && *p != '}') {
        if (n == POLL_XIDS)
            return false;
        xids[n++] = strtoull(p, &end, 10);
        if (end == p || (*end != ',' && *end != '}'))
            return false;
        p = *end == ',' ? end + 1 : end;
    }
    if (*p != '}' || n == 0 || n == POLL_XIDS)
        return false;
    pthread_mutex_lock(&w->lock);
    for (int k = 0; k < w->nregs; k++)
        if (w->regs[k].owner == d->owners[i]) {
            for (int x = 0; x < n; x++)
                worker_notified(d->owners[i], d->db.name, xids[x]);
            break;
        }
    pthread_mutex_unlock(&w->lock);
    return true;
}

/* kick - wake owner i of d, if it is still registered. */
static void kick(SourceWatch *w, const Watched *d, int i)
{
    kick_owner(w, d->owners[i], NULL);
}

static void kick_all(SourceWatch *w, const Watched *d)
{
    for (int i = 0; i < d->nowners; i++)
        kick(w, d, i);
}

/* catalog - the thread's catalog connection, (re)opened when needed. */
static PGconn *catalog(SourceWatch *w)
{
    char reason[1024];

    if (w->cat && PQstatus(w->cat) != CONNECTION_OK) {
        PQfinish(w->cat);
        w->cat = NULL;
    }
    if (w->cat == NULL) {
        w->cat = budget_connect(w->budget, w->catalog, "catalog", reason, sizeof(reason));
        if (w->cat == NULL)
            log_warn("watcher: cannot connect to the catalog to mark stalled databases: %s", reason);
    }
    return w->cat;
}

/*
 * answered - d answered a query: it is not stalled (any more).  The row is
 * deleted once per watcher when it was not known (an earlier engine's, or
 * a cycle's that failed meanwhile), then only after a mark.
 */
static void answered(SourceWatch *w, Watched *d)
{
    const char *params[1] = {d->db.name};
    PGconn *cat;
    PGresult *res;

    d->down_since = 0;
    if (d->marked == 0 || w->stalled_after < 0 || monotonic_seconds() < d->mark_retry)
        return;
    cat = catalog(w);
    res = cat ? pg_query(cat, "catalog", "DELETE FROM bucardo.db_state WHERE db = $1 RETURNING since", 1,
                         params)
              : NULL;
    if (res == NULL) {
        d->mark_retry = monotonic_seconds() + w->retry_delay;
        return;
    }
    if (PQntuples(res) > 0)
        log_info("database %s answers again: no longer stalled", d->db.name);
    PQclear(res);
    d->marked = 0;
}

/* failed - d could not be connected to (why). */
static void failed(Watched *d, double since, const char *why)
{
    if (d->down_since == 0)
        d->down_since = since;
    free(d->down_why);
    d->down_why = xstrdup(why);
}

/*
 * stalled_at - when d is to be marked stalled (0: not to be): stalled_after
 * seconds after its first failed connection, or after its query in flight
 * was sent (at least UNANSWERED_MIN_S: stalled_after 0 means at the first
 * failed connection, not at every query), whichever comes first.
 */
static double stalled_at(const SourceWatch *w, const Watched *d)
{
    double at = 0;

    if (w->stalled_after < 0 || d->marked == 1)
        return 0;
    if (d->down_since > 0)
        at = d->down_since + w->stalled_after;
    if (d->conn && d->pending != Q_NONE) {
        double q = d->pending_since + fmax(w->stalled_after, UNANSWERED_MIN_S);
        if (at == 0 || q < at)
            at = q;
    }
    if (at == 0)
        return 0;
    return at > d->mark_retry ? at : d->mark_retry;
}

/* check_stalled - mark d stalled when its time has come (stalled_at). */
static void check_stalled(SourceWatch *w, Watched *d, double now)
{
    double at = stalled_at(w, d), since;
    char ago[32], why[1200];
    const char *params[3] = {d->db.name, ago, why};
    bool unanswered;
    PGconn *cat;
    PGresult *res;

    if (at == 0 || now < at)
        return;
    unanswered = !(d->down_since > 0 && now >= d->down_since + w->stalled_after);
    since = unanswered ? d->pending_since : d->down_since;
    if (unanswered)
        snprintf(why, sizeof(why), "does not answer (a query of the autokick watcher waits for %.0f s)",
                 now - since);
    else
        snprintf(why, sizeof(why), "%s", d->down_why ? d->down_why : "cannot connect");
    snprintf(ago, sizeof(ago), "%.3f", now - since);
    cat = catalog(w);
    res = cat ? pg_query(cat, "catalog",
                         "INSERT INTO bucardo.db_state (db, since, reason)"
                         " SELECT $1, clock_timestamp() - make_interval(secs => $2::float8), $3"
                         "  WHERE EXISTS (SELECT 1 FROM bucardo.db WHERE name = $1)"
                         " ON CONFLICT (db) DO UPDATE SET reason = EXCLUDED.reason RETURNING 1",
                         3, params)
              : NULL;
    if (res == NULL) {
        d->mark_retry = now + w->retry_delay;
        return;
    }
    PQclear(res);
    log_warn("database %s %s: marked stalled; its changes are kept until it is back", d->db.name,
             unanswered ? "does not answer" : "cannot be reached");
    d->marked = 1;
}

/* lost - drop d's connection; its owners get a cycle (it finds out what
 * is wrong, or applies what the watcher could not look at), and the
 * connection is tried again after the delay. */
static void lost(SourceWatch *w, Watched *d, const char *why)
{
    log_warn("database %s: %s; its autokick syncs run once, and it is watched again in %.1f s", d->db.name,
             why, d->connect_delay);
    failed(d, monotonic_seconds(), why);
    watched_close(d);
    d->next_connect = monotonic_seconds() + d->connect_delay;
    d->connect_delay = fmin(d->connect_delay * 2, w->retry_delay_max);
    kick_all(w, d);
}

/* send_query - q on d's connection, without waiting for its answer
 * (several statements only without parameters). */
static bool send_query(SourceWatch *w, Watched *d, Pending q, const char *sql, int nparams,
                       const char *const *params)
{
    int sent = nparams == 0 ? PQsendQuery(d->conn, sql)
                            : PQsendQueryParams(d->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!sent) {
        char why[1100];
        snprintf(why, sizeof(why), "cannot send a query: %s", PQerrorMessage(d->conn));
        lost(w, d, why);
        return false;
    }
    d->pending = q;
    d->pending_since = monotonic_seconds();
    return true;
}

/* start_poll - send the poll, or first the look at which delta tables
 * exist when the poll is not built for these owners yet. */
static void start_poll(SourceWatch *w, Watched *d)
{
    const char *params[1];

    if (d->sql == NULL) {
        StrList all = {0};
        char *array;
        for (int i = 0; i < d->nowners; i++)
            for (int k = 0; k < d->deltas[i].count; k++)
                strlist_add(&all, d->deltas[i].items[k]);
        strlist_add(&all, "truncate_log");
        array = pg_array_literal(&all);
        strlist_free(&all);
        params[0] = array;
        send_query(w, d, Q_EXISTING, SQL_EXISTING, 1, params);
        free(array);
        return;
    }
    params[0] = d->ref;
    send_query(w, d, Q_POLL, d->sql, 1, params);
}

/* build_sql - the poll for d's owners, quoted for d's connection, from
 * the answer to SQL_EXISTING. */
static void build_sql(Watched *d, PGresult *res)
{
    StrList all = {0};
    StrBuf sql;

    for (int r = 0; r < PQntuples(res); r++)
        strlist_add(&all, PQgetvalue(res, r, 0));
    d->have_truncate_log = strlist_contains(&all, "truncate_log");
    strbuf_init(&sql);
    strbuf_printf(
        &sql,
        "WITH s AS (SELECT $1::pg_catalog.pg_snapshot AS ref, pg_catalog.pg_current_snapshot() AS cur),"
        " g AS (SELECT cur, EXISTS (SELECT FROM pg_catalog.pg_snapshot_xip(ref) x"
        "                          WHERE pg_catalog.pg_visible_in_snapshot(x, cur))"
        "   OR pg_catalog.pg_snapshot_xmax(cur)::text::numeric"
        "      - pg_catalog.pg_snapshot_xmax(ref)::text::numeric"
        "      > (SELECT count(*) FROM pg_catalog.pg_snapshot_xip(cur) x"
        "         WHERE x >= pg_catalog.pg_snapshot_xmax(ref)) AS moved FROM s)"
        " SELECT cur::text, CASE WHEN moved THEN %s ELSE false END",
        d->have_truncate_log
            ? "EXISTS (SELECT FROM bucardo.truncate_log"
              " WHERE NOT pg_catalog.pg_visible_in_snapshot(txid, $1::pg_catalog.pg_snapshot))"
            : "false");
    /* Per owner: the transactions of its delta tables' new rows (up to
     * POLL_XIDS rows' worth; NULL: none), for worker_notified. */
    for (int i = 0; i < d->nowners; i++) {
        int n = 0;
        strbuf_append(&sql, ", CASE WHEN moved THEN (SELECT pg_catalog.array_agg(txid)::text FROM (");
        for (int k = 0; k < d->deltas[i].count; k++) {
            char *q;
            if (!strlist_contains(&all, d->deltas[i].items[k]))
                continue;
            q = pg_quote_ident(d->conn, d->deltas[i].items[k]);
            strbuf_printf(&sql,
                          "%sSELECT txid FROM bucardo.%s"
                          " WHERE NOT pg_catalog.pg_visible_in_snapshot(txid, $1::pg_catalog.pg_snapshot)",
                          n++ ? " UNION ALL " : "", q);
            free(q);
        }
        if (n == 0)
            strbuf_append(&sql, "SELECT NULL::xid8 AS txid WHERE false");
        strbuf_printf(&sql, " LIMIT %d) v) END", POLL_XIDS);
    }
    strbuf_append(&sql, " FROM g");
    strlist_free(&all);
    free(d->sql);
    d->sql = sql.data;
}

/* connect - LISTEN first, then the reference snapshot (listened), then
 * every owner runs a cycle: what committed before the reference, that
 * cycle sees; what commits after it, the poll finds. */
static void connect_db(SourceWatch *w, Watched *d)
{
    ConnParams cp = dbinfo_params(&d->db);
    char reason[1024];
    double tried = monotonic_seconds();

    d->conn = budget_connect(w->budget, &cp, d->db.name, reason, sizeof(reason));
    if (d->conn == NULL) {
        if (!d->failing)
            log_warn("database %s: cannot connect to watch it for changes: %s", d->db.name, reason);
        d->failing = true;
        failed(d, tried, reason);
        d->next_connect = monotonic_seconds() + d->connect_delay;
        d->connect_delay = fmin(d->connect_delay * 2, w->retry_delay_max);
        /* As when a connection is lost: while the watcher cannot look, its
         * owners run a cycle at each attempt, so an idle autokick sync
         * whose own connections succeed still applies what committed. */
        kick_all(w, d);
        return;
    }
    send_query(w, d, Q_LISTEN, "LISTEN " CAPTURE_CHANNEL "; SELECT pg_catalog.pg_current_snapshot()::text", 0,
               NULL);
}

/* listened - the answer to connect_db's query. */
static void listened(SourceWatch *w, Watched *d, PGresult *res)
{
    free(d->ref);
    d->ref = xstrdup(PQgetvalue(res, 0, 0));
    if (d->failing)
        log_info("database %s: watching it for changes again", d->db.name);
    d->failing = false;
    d->connect_delay = w->retry_delay;
    d->poll_delay = POLL_MIN_S;
    d->next_poll = monotonic_seconds() + POLL_MIN_S;
    kick_all(w, d);
}

/* polled - the answer to a poll (see the top of the file). */
static void polled(SourceWatch *w, Watched *d, PGresult *res)
{
    bool found = false;

    for (int i = 0; i < d->nowners; i++) {
        bool truncated = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        if (truncated || !PQgetisnull(res, 0, i + 2)) {
            found = true;
            if (truncated || !report_xids(w, d, i, PQgetvalue(res, 0, i + 2)))
                kick_found(w, d, i, d->ref, PQgetvalue(res, 0, 0));
        }
    }
    free(d->ref);
    d->ref = xstrdup(PQgetvalue(res, 0, 0));
    d->poll_delay = found ? POLL_MIN_S : fmin(d->poll_delay * 2, POLL_MAX_S);
    d->next_poll = monotonic_seconds() + d->poll_delay;
}

/*
 * paced - after an answer to q that took `took` seconds: the watcher's
 * own queries on d cost the source next to nothing while its delta tables
 * are small, but a poll that found new transactions reads them whole (they
 * have no index, so that capture stays cheap), and a backlog of a million
 * rows makes that ~100 ms.  On a busy source every poll finds some, and
 * polls would follow each other at once: the watcher would take a core of
 * the source.  So the next poll waits watch_poll_gap() past this answer,
 * by what the last two polls both took beyond the connection's quickest
 * answer (its round trip, learnt from the table-less queries at connect
 * and idle polls): one slow answer - the thread busy elsewhere, a server
 * hiccup - does not hold the next poll back.  NOTIFYs still wake syncs at
 * once: only changes whose NOTIFY was skipped can wait longer.
 */
static void paced(Watched *d, Pending q, double took)
{
    double excess;

    if (d->poll_floor <= 0 || took < d->poll_floor)
        d->poll_floor = took;
    if (q != Q_POLL)
        return;
    excess = took - d->poll_floor;
    d->poll_earliest =
        monotonic_seconds() + watch_poll_gap(d->poll_floor + fmin(excess, d->poll_excess), d->poll_floor);
    d->poll_excess = excess;
}

/* poll_due - when d's next poll may go. */
static double poll_due(const Watched *d)
{
    return fmax(d->next_poll, d->poll_earliest);
}

double watch_poll_gap(double took, double floor)
{
    double excess = took - floor;

    if (excess <= 0)
        return 0;
    return fmin(POLL_COST_RATIO * excess, POLL_PACE_MAX_S);
}

/*
 * take_answer - d's answer has come in whole (PQisBusy false): handle it.
 * An answer to a poll made for the owners before a rebuild is only an
 * answer (the reference stays; the next poll, built for the owners now,
 * starts from it as soon as paced allows).
 */
static void take_answer(SourceWatch *w, Watched *d)
{
    double took = monotonic_seconds() - d->pending_since; /* before any catalog write here */
    Pending q = d->pending;
    bool stale = d->stale;
    PGresult *res, *last = NULL;
    bool ok = true;
    char why[1100] = "";

    while ((res = PQgetResult(d->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && ok) {
            ok = false;
            snprintf(why, sizeof(why), "%s", PQresultErrorMessage(res));
        }
        PQclear(last);
        last = res;
    }
    d->pending = Q_NONE;
    d->stale = false;
    if (ok && (last == NULL || PQresultStatus(last) != PGRES_TUPLES_OK || PQntuples(last) < 1)) {
        ok = false;
        snprintf(why, sizeof(why), "no answer");
    }
    if (ok && q == Q_POLL && !stale && PQnfields(last) != d->nowners + 2) {
        ok = false;
        snprintf(why, sizeof(why), "an answer of %d columns for %d syncs", PQnfields(last), d->nowners);
    }
    if (!ok) {
        char msg[1200];
        snprintf(msg, sizeof(msg), "%s: %s",
                 q == Q_LISTEN     ? "cannot LISTEN"
                 : q == Q_EXISTING ? "cannot read its delta tables"
                                   : "looking for new changes",
                 why);
        PQclear(last);
        lost(w, d, msg);
        return;
    }
    answered(w, d);
    paced(d, q, took);
    if (q == Q_LISTEN)
        listened(w, d, last);
    else if (stale)
        d->next_poll = monotonic_seconds();
    else if (q == Q_EXISTING) {
        build_sql(d, last);
        d->next_poll = monotonic_seconds();
    } else {
        polled(w, d, last);
        if (d->repoll)
            d->next_poll = monotonic_seconds();
        d->repoll = false;
    }
    PQclear(last);
}

/*
 * notified - a NOTIFY from d with payload "DELTA:XID": the capture of a
 * table an autokick sync reads names its delta table and its transaction
 * (sql/capture.sql, section kick).  Every owner reading that table is
 * woken at once, without the poll's round trip (the notifying transaction
 * has committed, so a cycle that starts now sees it), unless the last
 * cycle it completed saw that transaction already (worker_notified).  Any
 * other payload (empty: a TRUNCATE, or a capture installed by an older
 * engine) wakes no one here: the poll that follows finds the owners.
 */
static void notified(SourceWatch *w, const Watched *d, const char *payload)
{
    const char *colon = payload ? strrchr(payload, ':') : NULL;
    char *name, *end;
    unsigned long long xid;

    if (colon == NULL || colon == payload)
        return;
    xid = strtoull(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1)
        return;
    name = xasprintf("%.*s", (int)(colon - payload), payload);
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < d->nowners; i++)
        if (strlist_contains(&d->deltas[i], name))
            for (int k = 0; k < w->nregs; k++)
                if (w->regs[k].owner == d->owners[i]) {
                    worker_notified(d->owners[i], d->db.name, xid);
                    break;
                }
    pthread_mutex_unlock(&w->lock);
    free(name);
}

static void *watch_main(void *arg)
{
    SourceWatch *w = arg;

    log_set_thread_name(NULL, "watcher");
    while (!atomic_load(&w->stop)) {
        struct pollfd *fds;
        double now, until = 0;
        int nfds = 1, timeout_ms = -1;
        long generation;

        pthread_mutex_lock(&w->lock);
        generation = w->generation;
        pthread_mutex_unlock(&w->lock);
        if (generation != w->built)
            rebuild(w);
        now = monotonic_seconds();
        for (int i = 0; i < w->ndbs; i++) {
            Watched *d = &w->dbs[i];
            if (d->conn == NULL && now >= d->next_connect)
                connect_db(w, d);
            else if (d->conn && d->pending == Q_NONE && now >= poll_due(d))
                start_poll(w, d);
            check_stalled(w, d, monotonic_seconds());
        }
        fds = xcalloc((size_t)w->ndbs + 1, sizeof(struct pollfd));
        fds[0].fd = w->wake_fd;
        fds[0].events = POLLIN;
        now = monotonic_seconds();
        for (int i = 0; i < w->ndbs; i++) {
            Watched *d = &w->dbs[i];
            double next = d->conn ? (d->pending == Q_NONE ? poll_due(d) : 0) : d->next_connect;
            double mark = stalled_at(w, d);
            if (d->conn) {
                fds[nfds].fd = PQsocket(d->conn);
                fds[nfds++].events = POLLIN;
            }
            if (mark > 0 && (next == 0 || mark < next))
                next = mark;
            if (next > 0 && (until == 0 || next < until))
                until = next;
        }
        if (until > 0) {
            double ms = (until - now) * 1000.0;
            timeout_ms = ms < 0 ? 0 : ms > 3600000 ? 3600000 : (int)ms + 1;
        }
        if (poll(fds, (nfds_t)nfds, timeout_ms) > 0) {
            if (fds[0].revents & POLLIN) {
                uint64_t v;
                if (read(w->wake_fd, &v, sizeof(v)) < 0) {
                    /* nothing pending after all */
                }
            }
            /* fds[1..] follow the connected databases in order. */
            for (int i = 0, f = 1; i < w->ndbs; i++) {
                Watched *d = &w->dbs[i];
                PGnotify *n;
                bool any = false;

                if (d->conn == NULL)
                    continue;
                if (!(fds[f++].revents & (POLLIN | POLLERR | POLLHUP)))
                    continue;
                if (!PQconsumeInput(d->conn)) {
                    lost(w, d, "lost the connection");
                    continue;
                }
                while ((n = PQnotifies(d->conn)) != NULL) {
                    any = true;
                    notified(w, d, n->extra);
                    PQfreemem(n);
                }
                if (d->pending != Q_NONE && !PQisBusy(d->conn))
                    take_answer(w, d);
                if (d->conn == NULL)
                    continue;
                /* The NOTIFY woke its table's syncs (notified); then the
                 * poll, at once unless paced: it finds what transactions that skipped
                 * their NOTIFY (the capture's debounce) committed, and
                 * moves the reference past the notifying ones.  What it
                 * finds that the NOTIFY's cycle sees, that cycle applies:
                 * the sync runs no second cycle for it (worker_found).  A
                 * poll in flight may have taken its snapshot before that
                 * transaction: one more follows it. */
                if (any && d->pending == Q_NONE)
                    d->next_poll = monotonic_seconds();
                else if (any && d->pending == Q_POLL)
                    d->repoll = true;
            }
        }
        free(fds);
    }
    for (int i = 0; i < w->ndbs; i++)
        watched_free(&w->dbs[i]);
    free(w->dbs);
    w->dbs = NULL;
    w->ndbs = 0;
    if (w->cat)
        PQfinish(w->cat);
    w->cat = NULL;
    return NULL;
}

SourceWatch *watch_start(ConnBudget *budget, const ConnParams *catalog, double retry_delay,
                         double retry_delay_max, double stalled_after)
{
    SourceWatch *w = xcalloc(1, sizeof(SourceWatch));

    w->budget = budget;
    w->catalog = catalog;
    w->stalled_after = stalled_after;
    w->retry_delay = retry_delay > 0 ? retry_delay : 1;
    w->retry_delay_max = retry_delay_max > w->retry_delay ? retry_delay_max : w->retry_delay;
    pthread_mutex_init(&w->lock, NULL);
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake_fd < 0 || pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        log_error("cannot start the watcher thread");
        exit(3);
    }
    return w;
}

void watch_stop(SourceWatch *w)
{
    if (w == NULL)
        return;
    atomic_store(&w->stop, true);
    wake(w);
    pthread_join(w->thread, NULL);
    close(w->wake_fd);
    for (int i = 0; i < w->nregs; i++) {
        dbinfo_free(&w->regs[i].db);
        free(w->regs[i].key);
        strlist_free(&w->regs[i].deltas);
    }
    free(w->regs);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void watch_add(SourceWatch *w, SyncWorker *owner, const DbInfo *db, const StrList *deltas)
{
    Reg g = {.owner = owner, .db = dbinfo_copy(db)};

    /* \x01 cannot be in a conninfo value given on the command line. */
    g.key = xasprintf("%s\x01%s\x01%s\x01%s\x01%s\x01%s\x01%s\x01%s", db->name, db->dbname ? db->dbname : "",
                      db->host ? db->host : "", db->port ? db->port : "", db->user ? db->user : "",
                      db->pass ? db->pass : "", db->service ? db->service : "", db->conn ? db->conn : "");
    for (int i = 0; i < deltas->count; i++)
        strlist_add(&g.deltas, deltas->items[i]);
    pthread_mutex_lock(&w->lock);
    g.serial = ++w->serials;
    w->regs = xrealloc(w->regs, sizeof(Reg) * (size_t)(w->nregs + 1));
    w->regs[w->nregs++] = g;
    w->generation++;
    pthread_mutex_unlock(&w->lock);
    wake(w);
}

void watch_remove(SourceWatch *w, SyncWorker *owner)
{
    bool changed = false;

    pthread_mutex_lock(&w->lock);
    for (int i = w->nregs - 1; i >= 0; i--)
        if (w->regs[i].owner == owner) {
            dbinfo_free(&w->regs[i].db);
            free(w->regs[i].key);
            strlist_free(&w->regs[i].deltas);
            w->regs[i] = w->regs[--w->nregs];
            changed = true;
        }
    if (changed)
        w->generation++;
    pthread_mutex_unlock(&w->lock);
    if (changed)
        wake(w);
}
