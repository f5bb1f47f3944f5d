/*
 * engine/common/conn_budget.c - the engine's connection budget: cycle slots with
 * their kept catalog connections (a counting semaphore under one mutex),
 * and the look at a server's limits behind every connection it opens.
 *
 * Why slots rather than a pool of each kind: a cycle needs the catalog
 * (start, progress, record) and its data connections together, so bounding
 * the cycles running at once bounds both, and the catalog connection can
 * simply travel with the slot.  See include/conn_budget.h.
 */
#include "conn_budget.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Warn when fewer non-reserved slots than this share of them stay free. */
#define LOW_SLOTS_PERCENT 10
#define LOW_SLOTS_MIN     3
#define WARN_EVERY_S      60.0
/* Catalog connections kept for free slots: a few, so that a large budget
 * whose syncs are idle does not hold one per slot. */
#define KEEP_IDLE_CATALOG 4
/* Non-reserved slots the engine always leaves to other clients. */
#define KEEP_FREE 2

/* The limits of the server a session runs on, read on that session: how
 * many client sessions it allows, how many of those only some roles may
 * take (superuser_reserved_connections, and PostgreSQL 16's
 * reserved_connections), how many client sessions exist (this one too),
 * and whether this session's role is a superuser. */
static const char SQL_SERVER_LIMITS[] =
    "SELECT pg_catalog.current_setting('max_connections')::int,"
    "       pg_catalog.current_setting('superuser_reserved_connections')::int"
    "       + coalesce(pg_catalog.current_setting('reserved_connections', true), '0')::int,"
    "       (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend'),"
    "       (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)";

/* A sync waiting for a slot, on its own stack: slots are handed over in
 * the order the waiters came (budget_release gives the freed slot and a
 * kept catalog connection straight to the first), so a sync cannot starve
 * while others keep taking the slots it waits for. */
typedef struct Waiter {
    struct Waiter *next;
    pthread_cond_t handed; /* signalled when granted */
    bool granted;
    PGconn *cat;
} Waiter;

/* One per server (and role): a kept session that looks at the server's
 * limits before the engine opens another connection there. */
typedef struct Probe {
    char *key;
    pthread_mutex_t lock; /* held for the look at the limits */
    PGconn *conn;
    int connecting; /* the engine's connections opening now, past their look */
} Probe;

struct ConnBudget {
    const ConnParams *catalog;
    char *lock_timeout; /* of every catalog connection (SET once per connection) */
    int slots;
    pthread_mutex_t lock;
    int free_slots;
    Waiter *first, *last; /* the queue of waiting syncs, oldest first */
    int blocked;          /* waiters in the queue */
    int contended_fd;     /* eventfd, readable while blocked > 0 (budget_contention_fd) */
    PGconn **kept;        /* catalog connections of free slots; nkept of them */
    int nkept;
    /* Low-slot warnings given: database name and when (monotonic). */
    char **warned;
    double *warned_at;
    int nwarned;
    Probe **probes; /* never freed before the budget */
    int nprobes;
};

ConnBudget *budget_create(const ConnParams *catalog, const char *lock_timeout, int slots)
{
    ConnBudget *b = xcalloc(1, sizeof(ConnBudget));

    b->catalog = catalog;
    b->lock_timeout = xstrdup(lock_timeout);
    b->slots = b->free_slots = slots < 1 ? 1 : slots;
    b->kept = xcalloc(KEEP_IDLE_CATALOG, sizeof(PGconn *));
    pthread_mutex_init(&b->lock, NULL);
    b->contended_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->contended_fd < 0) {
        log_error("cannot create the connection budget's eventfd: %s", strerror(errno));
        exit(3);
    }
    return b;
}

void budget_destroy(ConnBudget *b)
{
    if (b == NULL)
        return;
    for (int i = 0; i < b->nkept; i++)
        PQfinish(b->kept[i]);
    free(b->lock_timeout);
    for (int i = 0; i < b->nwarned; i++)
        free(b->warned[i]);
    for (int i = 0; i < b->nprobes; i++) {
        if (b->probes[i]->conn)
            PQfinish(b->probes[i]->conn);
        pthread_mutex_destroy(&b->probes[i]->lock);
        free(b->probes[i]->key);
        free(b->probes[i]);
    }
    free(b->probes);
    free(b->warned);
    free(b->warned_at);
    free(b->kept);
    pthread_mutex_destroy(&b->lock);
    close(b->contended_fd);
    free(b);
}

int budget_slots(const ConnBudget *b)
{
    return b->slots;
}

/* set_blocked - one more (+1) or one fewer (-1) sync finding no free slot;
 * the contention eventfd is readable exactly while some are (under lock). */
static void set_blocked(ConnBudget *b, int delta)
{
    uint64_t v = 1;

    b->blocked += delta;
    if (delta > 0 && b->blocked == 1) {
        if (write(b->contended_fd, &v, sizeof(v)) < 0) {
            /* a full counter is readable already */
        }
    } else if (delta < 0 && b->blocked == 0) {
        if (read(b->contended_fd, &v, sizeof(v)) < 0) {
            /* not readable: nothing to reset */
        }
    }
}

bool budget_acquire(ConnBudget *b, const atomic_bool *stop, PGconn **cat)
{
    Waiter w = {.next = NULL, .granted = false, .cat = NULL};

    *cat = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->free_slots > 0 && b->first == NULL) {
        b->free_slots--;
        if (b->nkept > 0)
            *cat = b->kept[--b->nkept];
        pthread_mutex_unlock(&b->lock);
        return true;
    }
    pthread_cond_init(&w.handed, NULL);
    if (b->last)
        b->last->next = &w;
    else
        b->first = &w;
    b->last = &w;
    set_blocked(b, +1);
    while (!w.granted && !atomic_load(stop)) {
        struct timespec until;

        /* Timed: a stopping sync must not wait for someone else's cycle. */
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w.handed, &b->lock, &until);
    }
    if (!w.granted) { /* stopping: leave the queue */
        Waiter **pp = &b->first, *prev = NULL;

        while (*pp != &w) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = w.next;
        if (b->last == &w)
            b->last = prev;
        set_blocked(b, -1);
    }
    pthread_mutex_unlock(&b->lock);
    pthread_cond_destroy(&w.handed);
    *cat = w.cat;
    return w.granted;
}

void budget_release(ConnBudget *b, PGconn *cat)
{
    if (cat && (PQstatus(cat) != CONNECTION_OK || PQtransactionStatus(cat) != PQTRANS_IDLE)) {
        PQfinish(cat);
        cat = NULL;
    }
    pthread_mutex_lock(&b->lock);
    if (cat && b->nkept < KEEP_IDLE_CATALOG)
        b->kept[b->nkept++] = cat;
    else if (cat)
        PQfinish(cat);
    if (b->first) { /* hand the slot to the oldest waiter */
        Waiter *w = b->first;

        b->first = w->next;
        if (b->first == NULL)
            b->last = NULL;
        w->granted = true;
        w->cat = b->nkept > 0 ? b->kept[--b->nkept] : NULL;
        set_blocked(b, -1);
        pthread_cond_signal(&w->handed);
    } else {
        b->free_slots++;
    }
    pthread_mutex_unlock(&b->lock);
}

int budget_waiting(ConnBudget *b)
{
    int n;

    pthread_mutex_lock(&b->lock);
    n = b->blocked;
    pthread_mutex_unlock(&b->lock);
    return n;
}

int budget_contention_fd(const ConnBudget *b)
{
    return b->contended_fd;
}

bool budget_contended(ConnBudget *b)
{
    bool yes;

    pthread_mutex_lock(&b->lock);
    yes = b->blocked > 0;
    pthread_mutex_unlock(&b->lock);
    return yes;
}

bool budget_catalog(ConnBudget *b, PGconn **cat)
{
    char reason[1024];

    if (*cat && PQstatus(*cat) == CONNECTION_OK)
        return true;
    if (*cat)
        PQfinish(*cat);
    *cat = budget_connect(b, b->catalog, "catalog", reason, sizeof(reason));
    if (*cat == NULL) {
        log_error("catalog: cannot connect: %s", reason);
        return false;
    }
    /* Recording a cycle locks the sync's row: a command holding it must
     * not hold the sync for ever either. */
    {
        char *lit = pg_quote_literal(*cat, b->lock_timeout), *set = xasprintf("SET lock_timeout = %s", lit);
        bool ok = pg_exec(*cat, "catalog", set, 0, NULL);

        free(set);
        free(lit);
        if (!ok) {
            PQfinish(*cat);
            *cat = NULL;
        }
    }
    return *cat != NULL;
}

/* should_warn - true at most once per WARN_EVERY_S for database `dbname`. */
static bool should_warn(ConnBudget *b, const char *dbname)
{
    double now = monotonic_seconds();
    bool warn = true;
    int i;

    pthread_mutex_lock(&b->lock);
    for (i = 0; i < b->nwarned; i++)
        if (strcmp(b->warned[i], dbname) == 0)
            break;
    if (i < b->nwarned) {
        warn = now - b->warned_at[i] >= WARN_EVERY_S;
    } else {
        b->warned = xrealloc(b->warned, sizeof(char *) * (size_t)(b->nwarned + 1));
        b->warned_at = xrealloc(b->warned_at, sizeof(double) * (size_t)(b->nwarned + 1));
        b->warned[b->nwarned++] = xstrdup(dbname);
    }
    if (warn)
        b->warned_at[i] = now;
    pthread_mutex_unlock(&b->lock);
    return warn;
}

/* probe_key - which server and role a connection goes to, as far as the
 * parameters say (databases of one server share its probe). */
static char *probe_key(const ConnParams *cp)
{
    return xasprintf("%s\x01%s\x01%s\x01%s\x01%s", cp->host ? cp->host : "", cp->port ? cp->port : "",
                     cp->user ? cp->user : "", cp->service ? cp->service : "", cp->extra ? cp->extra : "");
}

/* Server limits as the probe read them. */
typedef struct Limits {
    long max, reserved, used;
    bool super;
} Limits;

static bool read_limits(PGconn *conn, Limits *l, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, SQL_SERVER_LIMITS);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
              parse_int(PQgetvalue(res, 0, 0), 1, 1L << 30, &l->max) &&
              parse_int(PQgetvalue(res, 0, 1), 0, 1L << 30, &l->reserved) &&
              parse_int(PQgetvalue(res, 0, 2), 0, 1L << 30, &l->used);

    if (ok)
        l->super = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    else
        snprintf(err, errlen, "cannot read the server's connection limits: %s", PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

/* probe_for - the probe of cp's server, connected (NULL, err set, when it
 * cannot be).  A new probe that finds itself in a reserved slot leaves. */
static Probe *probe_for(ConnBudget *b, const ConnParams *cp, const char *dbname, char *err, size_t errlen)
{
    char *key = probe_key(cp);
    Probe *p = NULL;
    Limits l;

    pthread_mutex_lock(&b->lock);
    for (int i = 0; i < b->nprobes && p == NULL; i++)
        if (strcmp(b->probes[i]->key, key) == 0)
            p = b->probes[i];
    if (p == NULL) {
        b->probes = xrealloc(b->probes, sizeof(Probe *) * (size_t)(b->nprobes + 1));
        p = b->probes[b->nprobes++] = xcalloc(1, sizeof(Probe));
        p->key = key;
        key = NULL;
        pthread_mutex_init(&p->lock, NULL);
    }
    pthread_mutex_unlock(&b->lock);
    free(key);
    pthread_mutex_lock(&p->lock);
    if (p->conn && PQstatus(p->conn) != CONNECTION_OK) {
        PQfinish(p->conn);
        p->conn = NULL;
    }
    if (p->conn == NULL) {
        p->conn = pg_connect_err(cp, err, errlen);
        if (p->conn && read_limits(p->conn, &l, err, errlen) && l.used > l.max - l.reserved) {
            snprintf(
                err, errlen,
                "its server has only reserved connection slots left (%ld client sessions,"
                " max_connections %ld, %ld reserved); the engine does not take them and tries again later",
                l.used, l.max, l.reserved);
            PQfinish(p->conn);
            p->conn = NULL;
        }
        if (p->conn == NULL) {
            pthread_mutex_unlock(&p->lock);
            if (should_warn(b, dbname))
                log_warn("database %s: %s", dbname, err);
            return NULL;
        }
    }
    return p; /* locked */
}

PGconn *budget_connect(ConnBudget *b, const ConnParams *cp, const char *dbname, char *err, size_t errlen)
{
    Probe *p;
    Limits l;
    long open, left, low;
    PGconn *conn;

    if (b == NULL)
        return pg_connect_err(cp, err, errlen);
    p = probe_for(b, cp, dbname, err, errlen);
    if (p == NULL)
        return NULL;
    /* Under the probe's lock: the engine's own connections to this server
     * are counted one after the other - those still opening too, which
     * pg_stat_activity may not list yet - so they never overshoot
     * together; the connects themselves (several round trips each across
     * a WAN) then run in parallel. */
    if (!read_limits(p->conn, &l, err, errlen)) {
        PQfinish(p->conn);
        p->conn = NULL;
        pthread_mutex_unlock(&p->lock);
        if (should_warn(b, dbname))
            log_warn("database %s: %s", dbname, err);
        return NULL;
    }
    open = l.max - l.reserved;                /* the slots anyone may take */
    left = open - l.used - p->connecting - 1; /* free for others once we are in */
    if (left < KEEP_FREE) {
        pthread_mutex_unlock(&p->lock);
        snprintf(err, errlen,
                 "its server has no connection slot to spare (%ld client sessions, max_connections %ld, %ld"
                 " reserved; the engine leaves %d of the others free and never takes a reserved one);"
                 " trying again later",
                 l.used, l.max, l.reserved, KEEP_FREE);
        if (should_warn(b, dbname))
            log_warn("database %s: %s; lower max_concurrent_syncs or raise max_connections (README.md,"
                     " Connections)",
                     dbname, err);
        return NULL;
    }
    p->connecting++;
    pthread_mutex_unlock(&p->lock);
    conn = pg_connect_err(cp, err, errlen);
    pthread_mutex_lock(&p->lock);
    p->connecting--;
    pthread_mutex_unlock(&p->lock);
    low = open * LOW_SLOTS_PERCENT / 100;
    if (low < LOW_SLOTS_MIN)
        low = LOW_SLOTS_MIN;
    if (conn && left < low && should_warn(b, dbname))
        log_warn("database %s: the engine took one of the server's last connection slots: %ld of %ld left to"
                 " other clients (max_connections %ld, %ld reserved); lower max_concurrent_syncs or raise"
                 " max_connections (README.md, Connections)",
                 dbname, left, open, l.max, l.reserved);
    return conn;
}
