/*
 * cli/progress.c - the live view of table copies, drawn from
 * bucardo.copy_progress (see progress.h).
 *
 * On a terminal one bar is redrawn in place ("\r") for the copy started
 * last; anywhere else (a file, a pipe) each copy in flight gets a plain line
 * every plain_every polls, so logs stay readable.  A copy whose row the
 * engine has not touched for 30 s is stale (an engine that died mid-copy)
 * and is not shown.
 *
 * CopyReporter runs a view on a thread of its own for `start --foreground`,
 * where the engine runs in this process: it sleeps on a condition variable
 * for a second between polls, so stopping it (a flag under the mutex plus a
 * signal) takes effect at once.  Its catalog connection belongs to it.
 */
#include "progress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char SQL_NOW[] = "SELECT clock_timestamp()";
static const char SQL_COPIES[] = "SELECT sync, tablename, target, bytes, estimate, coalesce(rows, 0), done,"
                                 "       greatest(extract(epoch FROM CASE WHEN done THEN updated ELSE "
                                 "clock_timestamp() END - started), 0.001),"
                                 "       started::text"
                                 "  FROM bucardo.copy_progress"
                                 " WHERE ($1::text IS NULL OR sync = $1)"
                                 "   AND CASE WHEN done THEN updated >= $2::timestamptz"
                                 "            ELSE updated > clock_timestamp() - interval '30 seconds' END"
                                 " ORDER BY started DESC, sync, tablename";

/* Columns of SQL_COPIES. */
enum { C_SYNC, C_TABLE, C_TARGET, C_BYTES, C_ESTIMATE, C_ROWS, C_DONE, C_SECS, C_STARTED };

bool copy_view_init(CopyView *v, PGconn *cat, FILE *out, const char *sync, int plain_every, bool report_done)
{
    PGresult *res;

    memset(v, 0, sizeof(*v));
    v->out = out;
    v->tty = isatty(fileno(out));
    v->plain_every = plain_every > 0 ? plain_every : 1;
    v->report_done = report_done;
    v->sync = sync;
    res = pg_query(cat, "catalog", SQL_NOW, 0, NULL);
    if (res == NULL)
        return false;
    snprintf(v->since, sizeof(v->since), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return true;
}

/* end_line - finish the bar's line before anything else is printed. */
static void end_line(CopyView *v)
{
    if (v->drawn)
        fputc('\n', v->out);
    v->drawn = false;
}

/* report_end - "Copied ..." once per finished copy. */
static void report_end(CopyView *v, PGresult *res, int r)
{
    char *key = xasprintf("%s|%s|%s", PQgetvalue(res, r, C_SYNC), PQgetvalue(res, r, C_TABLE),
                          PQgetvalue(res, r, C_STARTED));
    double mb = atof(PQgetvalue(res, r, C_BYTES)) / 1048576.0, secs = atof(PQgetvalue(res, r, C_SECS));

    if (!strlist_contains(&v->reported, key)) {
        end_line(v);
        fprintf(v->out, "Copied %s -> %s: %s rows, %.1f MB in %.1f s (%.1f MB/s, %.0f rows/s)\n",
                PQgetvalue(res, r, C_TABLE), PQgetvalue(res, r, C_TARGET), PQgetvalue(res, r, C_ROWS), mb,
                secs, mb / secs, atof(PQgetvalue(res, r, C_ROWS)) / secs);
        strlist_add(&v->reported, key);
    }
    free(key);
}

bool copy_view_poll(CopyView *v, PGconn *cat)
{
    const char *params[2] = {v->sync, v->since};
    PGresult *res = pg_query(cat, "catalog", SQL_COPIES, 2, params);
    bool plain_now = v->polls++ % v->plain_every == v->plain_every - 1;
    int newest = -1;

    if (res == NULL)
        return false;
    for (int r = PQntuples(res) - 1; r >= 0; r--)
        if (strcmp(PQgetvalue(res, r, C_DONE), "t") != 0)
            newest = r;
    /* Oldest first, so the lines come in the order the copies started. */
    for (int r = PQntuples(res) - 1; r >= 0; r--) {
        double mb = atof(PQgetvalue(res, r, C_BYTES)) / 1048576.0;
        double est = atof(PQgetvalue(res, r, C_ESTIMATE)) / 1048576.0,
               secs = atof(PQgetvalue(res, r, C_SECS));
        double rows = atof(PQgetvalue(res, r, C_ROWS)), frac = est > 0 ? mb / est : 0;
        int width = (int)(frac > 1 ? 20 : frac * 20);

        if (strcmp(PQgetvalue(res, r, C_DONE), "t") == 0) {
            if (v->report_done)
                report_end(v, res, r);
        } else if (v->tty && r == newest) {
            fprintf(v->out, "\rCopying %s [%.*s%*s] %.0f rows, %.0f of ~%.0f MB, %.1f MB/s ",
                    PQgetvalue(res, r, C_TABLE), width, "====================", 20 - width, "", rows, mb, est,
                    mb / secs);
            v->drawn = true;
        } else if (!v->tty && plain_now) {
            fprintf(v->out, "Copying %s -> %s: %.0f rows, %.1f of ~%.1f MB, %.1f MB/s, %.0f rows/s\n",
                    PQgetvalue(res, r, C_TABLE), PQgetvalue(res, r, C_TARGET), rows, mb, est, mb / secs,
                    rows / secs);
        }
    }
    fflush(v->out);
    PQclear(res);
    return true;
}

void copy_view_end(CopyView *v)
{
    end_line(v);
    fflush(v->out);
    strlist_free(&v->reported);
}

struct CopyReporter {
    ConnParams catalog;
    FILE *out;
    int plain_every;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop; /* under lock */
};

/* reporter_wait - sleep about a second; false once asked to stop. */
static bool reporter_wait(CopyReporter *rep)
{
    struct timespec deadline;
    bool go;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 1;
    pthread_mutex_lock(&rep->lock);
    while (!rep->stop && pthread_cond_timedwait(&rep->wake, &rep->lock, &deadline) == 0) {
    }
    go = !rep->stop;
    pthread_mutex_unlock(&rep->lock);
    return go;
}

static void *reporter_main(void *arg)
{
    CopyReporter *rep = arg;
    PGconn *cat = NULL;
    CopyView view;
    bool viewing = false;

    while (reporter_wait(rep)) {
        if (cat == NULL) {
            char reason[512];
            cat = pg_connect_err(&rep->catalog, reason, sizeof(reason));
            if (cat == NULL)
                continue; /* the engine reports catalog trouble itself */
            if (!viewing)
                viewing = copy_view_init(&view, cat, rep->out, NULL, rep->plain_every, true);
        }
        if (!viewing || !copy_view_poll(&view, cat)) {
            PQfinish(cat);
            cat = NULL;
        }
    }
    if (viewing)
        copy_view_end(&view);
    if (cat)
        PQfinish(cat);
    return NULL;
}

CopyReporter *copy_reporter_start(const ConnParams *catalog, FILE *out, int plain_every)
{
    CopyReporter *rep = xcalloc(1, sizeof(CopyReporter));

    rep->catalog = *catalog;
    rep->out = out;
    rep->plain_every = plain_every;
    pthread_mutex_init(&rep->lock, NULL);
    pthread_cond_init(&rep->wake, NULL);
    if (pthread_create(&rep->thread, NULL, reporter_main, rep) != 0) {
        pthread_cond_destroy(&rep->wake);
        pthread_mutex_destroy(&rep->lock);
        free(rep);
        return NULL;
    }
    return rep;
}

void copy_reporter_stop(CopyReporter *rep)
{
    pthread_mutex_lock(&rep->lock);
    rep->stop = true;
    pthread_cond_signal(&rep->wake);
    pthread_mutex_unlock(&rep->lock);
    pthread_join(rep->thread, NULL);
    pthread_cond_destroy(&rep->wake);
    pthread_mutex_destroy(&rep->lock);
    free(rep);
}
