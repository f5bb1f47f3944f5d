/*
 * engine/daemon/daemon.c - the engine's controller (its main thread).
 *
 * It owns the only process-wide state: the log sink, the pid file, the
 * signal pipe, and the list of sync workers.  Its loop waits on the catalog
 * connection (LISTENing for kick / reload / pause / resume) and on a
 * self-pipe written by the signal handlers:
 *
 *   SIGTERM, SIGINT -> stop every worker (the statements of its cycle in
 *                      flight are cancelled, so it rolls back at once,
 *                      whatever it waits for), remove the pid file, exit 0;
 *   SIGHUP or NOTIFY bucardo_reload -> reload: workers of syncs that are
 *                      unchanged keep running, changed ones restart, removed
 *                      or deactivated ones stop, new ones start;
 *   SIGUSR2 (`bucardo reopen`, logrotate's postrotate) -> reopen every log
 *                      file by name (log.c: no line is lost or split).
 *
 * Under systemd (Type=notify) it says READY=1 once its syncs are loaded
 * and STOPPING=1 when it begins to stop; without NOTIFY_SOCKET, or built
 * without libsystemd, that is nothing.
 *
 * The pid file stays locked (flock) while the engine runs, so a second
 * engine for the same piddir refuses to start, however the starts race.
 *
 * A lost catalog connection is re-established every second; the workers
 * carry on meanwhile (they reconnect to the catalog on their own).  Kicks
 * sent while it was away are lost, so every sync not paused runs once
 * when it is back.
 *
 * It also owns what bounds the engine's connections (README.md,
 * Connections): the connection budget, whose max_concurrent_syncs slots a
 * sync must hold to run a cycle (conn_budget.h), and the watcher thread,
 * one connection per source database of autokick syncs, that wakes the
 * syncs whose sources changed (source_watch.h).  Capture notifications
 * go there, not here.
 */
#include "daemon.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "catalog.h"
#include "conn_budget.h"
#include "log.h"
#include "metrics.h"
#include "source_watch.h"
#include "sync_worker.h"

/* How long a stop lets the cycles in flight finish before cancelling them. */
#define STOP_GRACE_MS 3000

/*
 * The active syncs and a fingerprint of everything a worker loads at start
 * (engine/syncdef.c): the sync's row, its members and their databases, its
 * tables, and the customname/customcols entries that apply to it (matched,
 * like syncdef.c does, by the table's schema and name, for this sync or
 * every sync), and the customcodes that apply to it.  A reload restarts
 * exactly the workers whose fingerprint
 * changed, so anything left out here would be picked up only at restart.
 */
static const char SQL_ACTIVE_SYNCS[] =
    "SELECT s.name, md5(row(s.*)::text"
    "   || coalesce((SELECT string_agg(row(m.*)::text || row(d.*)::text, ',' ORDER BY m.position)"
    "                  FROM bucardo.dbgroup_member m JOIN bucardo.db d ON d.name = m.db"
    "                 WHERE m.dbgroup = s.dbgroup), '')"
    "   || coalesce((SELECT string_agg(row(r.*)::text, ',' ORDER BY rm.position)"
    "                  FROM bucardo.relgroup_member rm JOIN bucardo.relation r ON r.id = rm.relation"
    "                 WHERE rm.relgroup = s.relgroup), '')"
    "   || coalesce((SELECT string_agg(c.kind || row(c.id, c.relation, c.value, c.db, c.sync)::text, ','"
    "                                  ORDER BY c.kind, c.id)"
    "                  FROM (SELECT 'name' AS kind, id, relation, newname AS value, db, sync"
    "                          FROM bucardo.customname"
    "                        UNION ALL"
    "                        SELECT 'cols', id, relation, clause, db, sync FROM bucardo.customcols) c"
    "                  JOIN bucardo.relation cr ON cr.id = c.relation"
    "                 WHERE (c.sync IS NULL OR c.sync = s.name)"
    "                   AND EXISTS (SELECT 1 FROM bucardo.relgroup_member rm"
    "                                 JOIN bucardo.relation r ON r.id = rm.relation"
    "                                WHERE rm.relgroup = s.relgroup AND r.schemaname = cr.schemaname"
    "                                  AND r.relname = cr.relname)), '')"
    /* customcode (engine/hooks): the codes mapped to the sync or to a table
     * of the same schema and name in its relgroup */
    "   || coalesce((SELECT string_agg(row(cc.*)::text || coalesce(cm.sync, cm.relation::text), ','"
    "                                  ORDER BY cc.name, cm.sync, cm.relation)"
    "                  FROM bucardo.customcode cc JOIN bucardo.customcode_map cm ON cm.code = cc.name"
    "                  LEFT JOIN bucardo.relation mr ON mr.id = cm.relation"
    "                 WHERE cm.sync = s.name"
    "                    OR EXISTS (SELECT 1 FROM bucardo.relgroup_member rm"
    "                                 JOIN bucardo.relation r ON r.id = rm.relation"
    "                                WHERE rm.relgroup = s.relgroup AND r.schemaname = mr.schemaname"
    "                                  AND r.relname = mr.relname)), ''))"
    "  FROM bucardo.sync s WHERE s.status = 'active' ORDER BY s.name";

/* Runs an engine that died left running (syncrun rows with ended NULL,
 * written when a cycle starts): ended now as failed, so that nothing shows
 * as running for ever (Bucardo's controller ends them likewise). */
static const char SQL_END_STALE_RUNS[] =
    "UPDATE bucardo.syncrun SET ended = clock_timestamp(), state = 'Bad',"
    "       error = 'the engine stopped during this run (ended when the engine next started);"
    " its changes are applied by a later run'"
    " WHERE ended IS NULL";

static const char SQL_LISTEN[] =
    "LISTEN " CHANNEL_KICK "; LISTEN " CHANNEL_RELOAD "; LISTEN " CHANNEL_PAUSE "; LISTEN " CHANNEL_RESUME
    "; LISTEN " CHANNEL_PING "; LISTEN " CHANNEL_MESSAGE;

static const char SQL_SETTINGS[] =
    "SELECT coalesce((SELECT setting FROM bucardo.config WHERE name = 'chunk_size'), '262144'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'chunk_pool'), '64'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'retry_delay'), '1'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'retry_delay_max'), '60'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'batch_keys'), '10000'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'lock_timeout'), '60s'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'max_concurrent_syncs'), '8'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'conn_idle_timeout'), '60'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'kid_serial_sleep'), '0.5'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'kid_deadlock_sleep'), '0.5'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'stalled_after'), '10'),"
    "       coalesce((SELECT setting FROM bucardo.config WHERE name = 'batch_grow_max'), '8')";

/* The operations settings (mail alerts, metrics endpoint), in this order. */
static const char *const OPS_SETTINGS[] = {"default_email_from", "default_email_to", "default_email_host",
                                           "default_email_port", "email_auth_user",  "email_auth_pass",
                                           "email_debug_file",   "stats_script_url", "email_tls",
                                           "email_tls_verify",   "email_interval",   "metrics_listen"};
enum {
    OPS_FROM,
    OPS_TO,
    OPS_HOST,
    OPS_PORT,
    OPS_USER,
    OPS_PASS,
    OPS_DEBUG_FILE,
    OPS_STATS_URL,
    OPS_TLS,
    OPS_TLS_VERIFY,
    OPS_INTERVAL,
    OPS_LISTEN,
    NOPS
};
static const char SQL_OPS_SETTINGS[] =
    "SELECT n, coalesce((SELECT setting FROM bucardo.config WHERE name = n), '')"
    "  FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i) ORDER BY i";
/* Bucardo's placeholder recipient: mail goes nowhere until it is changed. */
#define EMAIL_NOBODY "nobody@example.com"

static const char SQL_THRESHOLDS[] =
    "SELECT name, extract(epoch FROM overdue)::float8, extract(epoch FROM expired)::float8"
    "  FROM bucardo.sync WHERE status = 'active'";

/* The controller's state: lives on daemon_run's stack, main thread only. */
typedef struct Controller {
    const DaemonConfig *cfg;
    WorkerConfig wcfg;
    PGconn *cat;
    SyncWorker **workers;
    char **fingerprints;
    int nworkers;
    int pid_fd; /* the pid file, locked while we run */
    long max_concurrent_syncs;
    char *ops[NOPS];   /* OPS_SETTINGS' values */
    Metrics *metrics;  /* always kept; served when metrics_listen is set */
    Alerter *alerts;   /* NULL: no mail */
    StrList levels_of; /* syncs whose lag passed overdue/expired ... */
    int *levels;       /* ... and the level last alerted (1 or 2) */
    bool quiet; /* starting every sync (engine start, reload config, reload SYNC): no activated_sync_ */
} Controller;

/* The signal pipe: written by handlers, the one global the daemon needs. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    char c = (char)sig;
    int saved = errno;
    if (write(signal_pipe[1], &c, 1) < 0) {
        /* pipe full: a signal is pending already */
    }
    errno = saved;
}

static char *pid_path(const char *piddir)
{
    return xasprintf("%s/%s", piddir, PID_FILE_NAME);
}

long daemon_running_pid(const char *piddir)
{
    char *path = pid_path(piddir), buf[64], proc[64], cmd[256];
    FILE *f = fopen(path, "r");
    long pid = 0;
    size_t n;

    free(path);
    if (f == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) == NULL || !parse_int(strtok(buf, "\n"), 1, 1L << 30, &pid))
        pid = 0;
    fclose(f);
    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
        return 0;
    /* A recycled pid belonging to something else is not our engine. */
    snprintf(proc, sizeof(proc), "/proc/%ld/cmdline", pid);
    f = fopen(proc, "r");
    if (f == NULL)
        return pid;
    n = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    cmd[n] = '\0';
    return strstr(cmd, "bucardo") ? pid : 0;
}

/*
 * write_pid_file - create the pid file, lock it (flock, held until we exit;
 * the kernel drops it when we are killed) and write our pid into it.  The
 * lock, not the CLI's look at the file, is what allows one engine per
 * piddir: two `bucardo start` racing past that look both get here, and
 * only one gets the lock.  A stale file of a killed engine is unlocked and
 * simply taken over.  Returns the locked descriptor; -1 on error; -2 when
 * another engine holds the lock (*holder: its pid, or 0 if not yet written).
 */
static int write_pid_file(const char *piddir, long *holder)
{
    char *path = pid_path(piddir), buf[32];
    int fd = -1, len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

    for (int tries = 0; tries < 10; tries++) {
        struct stat locked, named;

        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            break;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            ssize_t n;
            if (errno != EWOULDBLOCK)
                break;
            n = pread(fd, buf, sizeof(buf) - 1, 0);
            buf[n > 0 ? n : 0] = '\0';
            *holder = atol(buf);
            close(fd);
            free(path);
            return -2;
        }
        /* An exiting engine may have unlinked the file we locked: lock the
         * one the name points to. */
        if (fstat(fd, &locked) == 0 && stat(path, &named) == 0 && locked.st_ino == named.st_ino &&
            locked.st_dev == named.st_dev) {
            if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)len, 0) == len) {
                free(path);
                return fd;
            }
            break;
        }
        close(fd);
        fd = -1;
    }
    log_error("cannot write the pid file %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(path);
    return -1;
}

/* remove_pid_file - unlink it while still holding the lock, then let go. */
static void remove_pid_file(const char *piddir, int fd)
{
    char *path = pid_path(piddir);
    unlink(path);
    free(path);
    if (fd >= 0)
        close(fd);
}

static int find_worker(Controller *c, const char *name)
{
    for (int i = 0; i < c->nworkers; i++)
        if (strcmp(worker_name(c->workers[i]), name) == 0)
            return i;
    return -1;
}

static void remove_worker(Controller *c, int i)
{
    worker_stop(c->workers[i]);
    free(c->fingerprints[i]);
    c->workers[i] = c->workers[c->nworkers - 1];
    c->fingerprints[i] = c->fingerprints[c->nworkers - 1];
    c->nworkers--;
}

static void bucardo_event(PGconn *cat, const char *event);

/* reload - bring the workers in line with the catalog's active syncs.
 * A sync that stops running (deactivated, removed) is told as Bucardo's
 * bucardo_deactivated_sync_SYNC, one that starts after the engine's start
 * as bucardo_activated_sync_SYNC (a changed one restarts quietly). */
static bool reload(Controller *c)
{
    PGresult *res = pg_query(c->cat, "catalog", SQL_ACTIVE_SYNCS, 0, NULL);
    StrList restarted = {0};
    int n;

    if (res == NULL)
        return false;
    n = PQntuples(res);
    for (int i = c->nworkers - 1; i >= 0; i--) {
        bool keep = false, listed = false;
        for (int r = 0; r < n; r++)
            if (strcmp(PQgetvalue(res, r, 0), worker_name(c->workers[i])) == 0) {
                listed = true;
                keep = strcmp(PQgetvalue(res, r, 1), c->fingerprints[i]) == 0;
            }
        if (!keep) {
            char *event = xasprintf("deactivated_sync_%s", worker_name(c->workers[i]));
            log_info("stopping sync %s", worker_name(c->workers[i]));
            if (listed)
                strlist_add(&restarted, worker_name(c->workers[i]));
            else
                bucardo_event(c->cat, event);
            free(event);
            remove_worker(c, i);
        }
    }
    c->workers = xrealloc(c->workers, sizeof(SyncWorker *) * (size_t)(n + c->nworkers + 1));
    c->fingerprints = xrealloc(c->fingerprints, sizeof(char *) * (size_t)(n + c->nworkers + 1));
    for (int r = 0; r < n; r++) {
        if (find_worker(c, PQgetvalue(res, r, 0)) >= 0)
            continue;
        log_info("starting sync %s", PQgetvalue(res, r, 0));
        c->workers[c->nworkers] = worker_start(PQgetvalue(res, r, 0), &c->wcfg);
        c->fingerprints[c->nworkers++] = xstrdup(PQgetvalue(res, r, 1));
        if (!c->quiet && !strlist_contains(&restarted, PQgetvalue(res, r, 0))) {
            char *event = xasprintf("activated_sync_%s", PQgetvalue(res, r, 0));
            bucardo_event(c->cat, event);
            free(event);
        }
    }
    strlist_free(&restarted);
    PQclear(res);
    res = pg_query(c->cat, "catalog", SQL_THRESHOLDS, 0, NULL);
    for (int r = 0; res && r < PQntuples(res); r++)
        metrics_thresholds(metrics_sync(c->metrics, PQgetvalue(res, r, 0)), atof(PQgetvalue(res, r, 1)),
                           atof(PQgetvalue(res, r, 2)));
    PQclear(res);
    return true;
}

/*
 * check_levels - alert syncs whose lag passed their overdue or expired
 * (metrics_level), and those back on time.  Called about once a second by
 * the controller: a few atomic loads per sync.
 */
static void check_levels(Controller *c)
{
    for (int i = 0; c->alerts && i < c->nworkers; i++) {
        SyncMetrics *m = worker_metrics(c->workers[i]);
        const char *name = worker_name(c->workers[i]);
        int level = m ? metrics_level(m) : 0, k = -1, before;
        char detail[128];

        for (int j = 0; j < c->levels_of.count && k < 0; j++)
            if (strcmp(c->levels_of.items[j], name) == 0)
                k = j;
        if (k < 0) {
            strlist_add(&c->levels_of, name);
            c->levels = xrealloc(c->levels, sizeof(int) * (size_t)c->levels_of.count);
            k = c->levels_of.count - 1;
            c->levels[k] = 0;
        }
        before = c->levels[k];
        if (level == before)
            continue;
        snprintf(detail, sizeof(detail), "the oldest change not applied is %.0f s old",
                 m ? metrics_lag(m) : 0.0);
        if (level > before)
            alert_sync(c->alerts, name, level == 2 ? ALERT_EXPIRED : ALERT_OVERDUE, detail);
        else if (level == 0)
            alert_sync(c->alerts, name, ALERT_ON_TIME, detail);
        c->levels[k] = level;
    }
}

/* load_ops - the mail and metrics settings into c->ops. */
static bool load_ops(Controller *c)
{
    StrList names = {0};
    char *arr;
    PGresult *res;

    for (int i = 0; i < NOPS; i++)
        strlist_add(&names, OPS_SETTINGS[i]);
    arr = pg_array_literal(&names);
    strlist_free(&names);
    res = pg_query(c->cat, "catalog", SQL_OPS_SETTINGS, 1, (const char *[]){arr});
    free(arr);
    if (res == NULL)
        return false;
    for (int i = 0; i < NOPS && i < PQntuples(res); i++)
        c->ops[i] = xstrdup(PQgetvalue(res, i, 1));
    PQclear(res);
    return true;
}

/*
 * start_ops - the metrics endpoint (when metrics_listen is set) and the
 * mail thread (with --sendmail, when default_email_to or email_debug_file
 * is set).  A setting that cannot work stops the start with its reason:
 * nothing configured is silently left off.
 */
static bool start_ops(Controller *c, char *err, size_t errlen)
{
    c->metrics = metrics_create();
    if (c->ops[OPS_LISTEN][0] != '\0') {
        if (!metrics_serve(c->metrics, c->ops[OPS_LISTEN], &c->cfg->catalog, c->wcfg.budget, err, errlen))
            return false;
        log_info("metrics: Prometheus endpoint on http://%s/metrics", c->ops[OPS_LISTEN]);
    }
    if (!c->cfg->sendmail) {
        log_info("mail alerts off (--sendmail=0)");
    } else {
        bool to = c->ops[OPS_TO][0] != '\0' && strcmp(c->ops[OPS_TO], EMAIL_NOBODY) != 0;
        long port = 25, interval = 300;
        bool verify = true;
        char host[256], label[300];
        AlertConfig ac;

        if (!to && c->ops[OPS_DEBUG_FILE][0] == '\0') {
            log_info("mail alerts off: default_email_to is not set");
            goto done;
        }
        memset(&ac, 0, sizeof(ac));
        if (!parse_int(c->ops[OPS_PORT], 1, 65535, &port) ||
            !parse_int(c->ops[OPS_INTERVAL], 0, 7 * 86400, &interval) ||
            !alert_parse_tls(c->ops[OPS_TLS][0] ? c->ops[OPS_TLS] : "try", &ac.tls) ||
            (c->ops[OPS_TLS_VERIFY][0] && !parse_bool(c->ops[OPS_TLS_VERIFY], &verify))) {
            snprintf(err, errlen,
                     "mail settings: default_email_port \"%s\", email_interval \"%s\", email_tls \"%s\" or"
                     " email_tls_verify \"%s\" is not valid",
                     c->ops[OPS_PORT], c->ops[OPS_INTERVAL], c->ops[OPS_TLS], c->ops[OPS_TLS_VERIFY]);
            return false;
        }
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(label, sizeof(label), "bucardo@%s", host);
        ac.from = c->ops[OPS_FROM][0] ? c->ops[OPS_FROM] : EMAIL_NOBODY;
        ac.to = to ? c->ops[OPS_TO] : NULL;
        ac.host = c->ops[OPS_HOST][0] ? c->ops[OPS_HOST] : "localhost";
        ac.port = (int)port;
        ac.user = c->ops[OPS_USER];
        ac.pass = c->ops[OPS_PASS];
        ac.debug_file = c->ops[OPS_DEBUG_FILE];
        ac.stats_url = c->ops[OPS_STATS_URL];
        ac.tls_verify = verify;
        ac.interval = (double)interval;
        ac.label = label;
        c->alerts = alert_start(&ac);
        if (c->alerts == NULL) {
            snprintf(err, errlen, "mail alerts cannot start (see the log)");
            return false;
        }
        log_info("mail alerts to %s via %s:%ld%s (at most one mail per sync every %ld s)",
                 to ? c->ops[OPS_TO] : "nobody", ac.host, port,
                 ac.debug_file[0] ? ", copies in email_debug_file" : "", interval);
    }
done:
    c->wcfg.metrics = c->metrics;
    c->wcfg.alerts = c->alerts;
    return true;
}

/* stop_reason - what `bucardo stop "reason"` left in the piddir (removed),
 * else how the engine was told to stop.  Caller frees. */
static char *stop_reason(const DaemonConfig *cfg, const char *how)
{
    char *path = xasprintf("%s/%s", cfg->piddir, STOP_REASON_FILE_NAME), buf[1024];
    FILE *f = fopen(path, "r");
    size_t n = 0;

    if (f) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        unlink(path);
    }
    free(path);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return n > 0 ? xstrdup(buf) : xstrdup(how);
}

static bool connect_catalog(Controller *c)
{
    char reason[512];

    c->cat = budget_connect(c->wcfg.budget, &c->cfg->catalog, "catalog", reason, sizeof(reason));
    if (c->cat == NULL) {
        log_error("catalog: cannot connect: %s", reason);
        return false;
    }
    if (!pg_exec_script(c->cat, "catalog", SQL_LISTEN)) {
        PQfinish(c->cat);
        c->cat = NULL;
        return false;
    }
    return true;
}

/*
 * bucardo_event - one of Bucardo's notifications on the catalog database,
 * which scripts LISTEN for: channel "bucardo_EVENT" (Bucardo's form for its
 * controller's events; none when the channel would exceed PostgreSQL's 63
 * bytes).  A failure costs only the notification: it is logged.
 */
static void bucardo_event(PGconn *cat, const char *event)
{
    const char *params[1] = {event};

    if (cat == NULL ||
        !pg_exec(cat, "catalog", "SELECT pg_notify('bucardo_' || $1, '') WHERE octet_length($1) < 56", 1,
                 params))
        log_warn("could not send the notification bucardo_%s", event);
}

/*
 * refuse_kick - tell a waiting `bucardo kick` that no run of the sync will
 * come (Bucardo: "Cannot kick paused sync").  A failure only costs that
 * kick its wait: it is logged.
 */
static void refuse_kick(Controller *c, const char *sync, const char *why)
{
    char *payload = xasprintf("%s\t%s", why, sync);
    const char *params[2] = {CHANNEL_KICK_REFUSED, payload};

    if (!pg_exec(c->cat, "catalog", "SELECT pg_notify($1, $2)", 2, params))
        log_warn("cannot tell the kicking client that sync \"%s\" was not kicked", sync);
    free(payload);
    payload = xasprintf("syncerror_%s", sync); /* Bucardo's, for scripts waiting on a syncdone */
    bucardo_event(c->cat, payload);
    free(payload);
}

/*
 * handle_notifications - in the order they were sent.  A reload is done at
 * once, before the notifications after it: `update sync ...; kick sync`
 * must kick the worker that runs the updated definition, not the old one.
 */
static bool load_settings(Controller *c);

/*
 * reload_config - `bucardo reload config`: every setting read again, and
 * everything built from the settings built again: the workers stop (their
 * cycles in flight finish), the watcher and the connection budget are
 * recreated, the workers start with the new values.  Bucardo's
 * bucardo_reload_config_finished tells a waiting client it is done.
 */
static bool reload_config(Controller *c)
{
    bool ok;

    log_info("rereading every setting (reload config): restarting every sync");
    while (c->nworkers > 0)
        remove_worker(c, c->nworkers - 1);
    watch_stop(c->wcfg.watch);
    budget_destroy(c->wcfg.budget);
    ok = load_settings(c);
    c->wcfg.budget = budget_create(&c->cfg->catalog, c->wcfg.lock_timeout, (int)c->max_concurrent_syncs);
    c->wcfg.watch = watch_start(c->wcfg.budget, &c->cfg->catalog, c->wcfg.retry_delay,
                                c->wcfg.retry_delay_max, c->wcfg.stalled_after);
    c->quiet = true;
    ok = reload(c) && ok;
    c->quiet = false;
    if (ok)
        bucardo_event(c->cat, "reload_config_finished");
    return ok;
}

/* reload_sync - `bucardo reload SYNC`: its worker restarts, reading its
 * definition again (Bucardo's bucardo_reloaded_sync_SYNC when done). */
static bool reload_sync(Controller *c, const char *name)
{
    int i = find_worker(c, name);
    char *event;
    bool ok, running;

    log_info("reloading sync %s", name);
    if (i >= 0)
        remove_worker(c, i);
    c->quiet = true;
    ok = reload(c);
    c->quiet = false;
    running = ok && find_worker(c, name) >= 0;
    event = xasprintf("%s_%s", running ? "reloaded_sync" : "reload_error_sync", name);
    bucardo_event(c->cat, event);
    free(event);
    /* The waiting client's answer, for any length of name. */
    event = xasprintf("%s\t%s", running ? "reloaded" : "error", name);
    {
        const char *params[2] = {CHANNEL_RELOAD_DONE, event};
        if (c->cat == NULL || !pg_exec(c->cat, "catalog", "SELECT pg_notify($1, $2)", 2, params))
            log_warn("cannot tell the reloading client the outcome of the reload of sync \"%s\"", name);
    }
    free(event);
    return ok;
}

static void handle_notifications(Controller *c, bool *do_reload)
{
    PGnotify *n;

    while ((n = PQnotifies(c->cat)) != NULL) {
        int i;
        if (strcmp(n->relname, CHANNEL_RELOAD) == 0) {
            if (strcmp(n->extra, "config") == 0) {
                *do_reload = !reload_config(c);
            } else if (strncmp(n->extra, "sync ", 5) == 0) {
                *do_reload = !reload_sync(c, n->extra + 5);
            } else {
                log_info("reloading the catalog");
                *do_reload = !reload(c);
            }
            PQfreemem(n);
            continue;
        }
        if (strcmp(n->relname, CHANNEL_PING) == 0) {
            /* Answered from this loop: a pong says the controller itself
             * reads its catalog connection, not only that a pid exists. */
            /* With a sync name as payload (activate/deactivate waiting for
             * the reload they sent before), the answer says whether that
             * sync's worker runs now: "PID\tSYNC\trunning|stopped". */
            char *pong = n->extra[0] == '\0'
                             ? xasprintf("%ld", (long)getpid())
                             : xasprintf("%ld\t%s\t%s", (long)getpid(), n->extra,
                                         find_worker(c, n->extra) >= 0 ? "running" : "stopped");
            const char *params[2] = {CHANNEL_PONG, pong};
            if (!pg_exec(c->cat, "catalog", "SELECT pg_notify($1, $2)", 2, params))
                log_warn("cannot answer a ping");
            free(pong);
            PQfreemem(n);
            continue;
        }
        if (strcmp(n->relname, CHANNEL_MESSAGE) == 0) {
            log_info("MESSAGE: %s", n->extra);
            PQfreemem(n);
            continue;
        }
        i = find_worker(c, n->extra);
        if (strcmp(n->relname, CHANNEL_KICK) == 0 && (i < 0 || worker_paused(c->workers[i]))) {
            const char *why =
                i < 0 ? "it is not running (inactive, or not loaded: see the log)" : "it is paused";
            log_warn("cannot kick sync \"%s\": %s", n->extra, why);
            refuse_kick(c, n->extra, why);
        } else if (i < 0) {
            log_warn("%s for sync \"%s\", which is not running", n->relname, n->extra);
        } else if (strcmp(n->relname, CHANNEL_KICK) == 0) {
            worker_kick(c->workers[i]);
        } else {
            bool pause = strcmp(n->relname, CHANNEL_PAUSE) == 0;
            log_info("%s sync %s", pause ? "pausing" : "resuming", n->extra);
            worker_pause(c->workers[i], pause);
        }
        PQfreemem(n);
    }
}

/*
 * notify_systemd - a state line for systemd: libsystemd's sd_notify, loaded
 * only when systemd started us (NOTIFY_SOCKET set), so that an engine run
 * any other way maps neither libsystemd nor the libraries it pulls in
 * (about 0.4 MB of resident memory).  Without it there is nothing to tell.
 */
static void notify_systemd(const char *state)
{
    void *lib;
    int (*notify)(int, const char *);

    if (getenv("NOTIFY_SOCKET") == NULL)
        return;
    lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        log_warn("NOTIFY_SOCKET is set but libsystemd.so.0 cannot be loaded (%s): systemd is not told %s",
                 dlerror(), state);
        return;
    }
    *(void **)&notify = dlsym(lib, "sd_notify");
    if (notify == NULL || notify(0, state) < 0)
        log_warn("cannot tell systemd %s", state);
    dlclose(lib);
}

/* stderr_line - one line that reached the engine's stderr, as a log line:
 * libpq's "WARNING:  ..." without its own prefix. */
static void stderr_line(char *line)
{
    line[strcspn(line, "\r")] = '\0';
    if (strncmp(line, "WARNING:", 8) == 0)
        line += 8 + strspn(line + 8, " ");
    if (line[0] != '\0')
        log_warn("%s", line);
}

/* StderrRoute - stderr_to_log's pipe and thread (the daemon's top level
 * owns it): the thread ends, and is joined, before the log is closed. */
typedef struct StderrRoute {
    int fd;      /* the pipe's read end (the thread's) */
    int stop_fd; /* eventfd: written by stderr_stop */
    pthread_t thread;
    bool on;
} StderrRoute;

/* stderr_reader - the thread behind stderr_to_log's pipe: each line, in
 * the log's format (a line longer than the buffer is cut in pieces).  On
 * stderr_stop it takes what is still in the pipe, then ends. */
static void *stderr_reader(void *arg)
{
    const StderrRoute *route = arg;
    char buf[4096];
    size_t have = 0;
    bool stopping = false;

    log_set_thread_name(NULL, "stderr");
    for (;;) {
        struct pollfd fds[2] = {{.fd = route->fd, .events = POLLIN},
                                {.fd = route->stop_fd, .events = POLLIN}};
        ssize_t got;
        char *start = buf, *nl;

        if (!stopping && poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents & POLLIN)
            stopping = true;
        got = read(route->fd, buf + have, sizeof(buf) - 1 - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 && (stopping || got == 0 || errno != EAGAIN))
            break;
        if (got < 0)
            continue;
        have += (size_t)got;
        while ((nl = memchr(start, '\n', have - (size_t)(start - buf))) != NULL) {
            *nl = '\0';
            stderr_line(start);
            start = nl + 1;
        }
        have -= (size_t)(start - buf);
        memmove(buf, start, have);
        if (have == sizeof(buf) - 1) {
            buf[have] = '\0';
            stderr_line(buf);
            have = 0;
        }
    }
    if (have > 0) {
        buf[have] = '\0';
        stderr_line(buf);
    }
    return NULL;
}

/*
 * stderr_to_log - what reaches the engine's stderr goes to the log, in its
 * format (unless stderr is itself a destination): helpers shared with the
 * CLI report errors there, and libpq writes some warnings straight to
 * stderr (a password file with group or world access).  A pipe and a
 * thread turn each line into a log line; the pipe does not block its
 * writers (a line is lost rather than a writer stalled).  Set up once: the
 * log's reopen does not concern it.
 */
static void stderr_to_log(const DaemonConfig *cfg, StderrRoute *route)
{
    int fds[2];

    route->on = false;
    for (int i = 0; i < cfg->log.ndests; i++)
        if (strcmp(cfg->log.dests[i], "stderr") == 0)
            return;
    if (log_main_file() == NULL || pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        return;
    route->fd = fds[0];
    route->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (route->stop_fd < 0 || dup2(fds[1], STDERR_FILENO) < 0 ||
        pthread_create(&route->thread, NULL, stderr_reader, route) != 0) {
        log_warn("cannot route stderr to the log: %s", strerror(errno));
        if (route->stop_fd >= 0)
            close(route->stop_fd);
        close(fds[0]);
        close(fds[1]);
        return;
    }
    close(fds[1]);
    route->on = true;
}

/* stderr_stop - before the log closes: stderr goes to /dev/null from now
 * on, and the thread logs what the pipe still holds and ends (a child
 * process still holding the pipe does not keep it waiting). */
static void stderr_stop(StderrRoute *route)
{
    uint64_t one = 1;
    int null;

    if (!route->on)
        return;
    fflush(stderr);
    null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        (void)dup2(null, STDERR_FILENO);
        close(null);
    }
    if (write(route->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
        /* It stays in its poll: not joined, and its descriptors stay open
         * (closed, their numbers could be reused under it). */
        log_warn("cannot stop the stderr thread: %s", strerror(errno));
        route->on = false;
        return;
    }
    pthread_join(route->thread, NULL);
    close(route->stop_fd);
    close(route->fd);
    route->on = false;
}

/* log_stop_reason - `bucardo stop "reason"` wrote it to the reason file
 * right before its signal: say it in the log. */
static void log_stop_reason(const DaemonConfig *cfg)
{
    char line[1024];
    FILE *f;

    if (cfg->reason_file == NULL || (f = fopen(cfg->reason_file, "r")) == NULL)
        return;
    if (fgets(line, sizeof(line), f) != NULL && strstr(line, "| stop  |") != NULL) {
        line[strcspn(line, "\n")] = '\0';
        log_info("stop reason: %s", strstr(line, "| stop  |") + 10);
    }
    fclose(f);
}

static void ready(const DaemonConfig *cfg, const char *msg)
{
    if (cfg->ready_fd >= 0) {
        if (write(cfg->ready_fd, msg, strlen(msg)) < 0) {
            /* the starting CLI went away: nobody to tell */
        }
        close(cfg->ready_fd);
    }
}

/*
 * host_safe - Bucardo's host_safety_check: "=h1,h2" (one of these exact
 * host names), "~RE" (a regular expression, the server's dialect), any
 * other text (this exact name); empty: any host.  Guards against an engine
 * started on the wrong machine (a restored copy of the catalog, a standby
 * promoted by mistake).
 */
static bool host_safe(PGconn *cat, char *why, size_t whylen)
{
    char host[256] = "";
    const char *params[2] = {host, NULL};
    const char *regex;
    PGresult *res;
    char *setting;
    int ok;

    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "unknown");
    res =
        pg_query(cat, "catalog",
                 "SELECT coalesce((SELECT setting FROM bucardo.config WHERE name = 'host_safety_check'), '')",
                 0, NULL);
    if (res == NULL) {
        snprintf(why, whylen, "cannot read host_safety_check from the catalog");
        return false;
    }
    setting = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    ok = host_safety_match(setting, host, &regex);
    if (ok < 0) {
        params[1] = regex;
        res = pg_query(cat, "catalog", "SELECT $1 ~ $2", 2, params);
        if (res == NULL) {
            snprintf(why, whylen, "host_safety_check \"%s\": not a valid regular expression", setting);
            free(setting);
            return false;
        }
        ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
    }
    if (!ok)
        snprintf(why, whylen, "host_safety_check: this host (%s) does not match \"%s\": not starting", host,
                 setting);
    free(setting);
    return ok == 1;
}

/* setting_sleep - kid_serial_sleep / kid_deadlock_sleep: seconds from 0
 * to 3600, or -1 (no retry); anything else is 0.5, with a warning. */
static double setting_sleep(const char *value, const char *name)
{
    char *end;
    double d = strtod(value, &end);

    if (value[0] == '\0' || *end != '\0' || !((d >= 0 && d <= 3600) || d == -1)) {
        log_warn("%s \"%s\" is not a number of seconds from 0 to 3600 or -1; using 0.5", name, value);
        return 0.5;
    }
    return d;
}

static bool load_settings(Controller *c)
{
    PGresult *res = pg_query(c->cat, "catalog", SQL_SETTINGS, 0, NULL);
    long chunk_size, chunks;

    if (res == NULL)
        return false;
    if (!parse_int(PQgetvalue(res, 0, 0), 4096, 64L << 20, &chunk_size))
        chunk_size = 262144;
    if (!parse_int(PQgetvalue(res, 0, 1), 2, 1 << 20, &chunks))
        chunks = 64;
    c->wcfg.catalog = c->cfg->catalog;
    c->wcfg.chunk_size = (size_t)chunk_size;
    c->wcfg.chunks = (int)chunks;
    if (!parse_int(PQgetvalue(res, 0, 4), 0, 1L << 40, &c->wcfg.batch_keys))
        c->wcfg.batch_keys = 10000;
    snprintf(c->wcfg.lock_timeout, sizeof(c->wcfg.lock_timeout), "%s", PQgetvalue(res, 0, 5));
    c->wcfg.retry_delay = atof(PQgetvalue(res, 0, 2));
    c->wcfg.retry_delay_max = atof(PQgetvalue(res, 0, 3));
    if (c->wcfg.retry_delay <= 0)
        c->wcfg.retry_delay = 1;
    if (c->wcfg.retry_delay_max < c->wcfg.retry_delay)
        c->wcfg.retry_delay_max = c->wcfg.retry_delay;
    if (!parse_int(PQgetvalue(res, 0, 6), 1, 10000, &c->max_concurrent_syncs)) {
        log_warn("max_concurrent_syncs \"%s\" is not a number from 1 to 10000; using 8",
                 PQgetvalue(res, 0, 6));
        c->max_concurrent_syncs = 8;
    }
    {
        long idle;
        if (!parse_int(PQgetvalue(res, 0, 7), 0, 86400, &idle)) {
            log_warn("conn_idle_timeout \"%s\" is not a number of seconds from 0 to 86400; using 60",
                     PQgetvalue(res, 0, 7));
            idle = 60;
        }
        c->wcfg.idle_timeout = (double)idle;
    }
    c->wcfg.serial_sleep = setting_sleep(PQgetvalue(res, 0, 8), "kid_serial_sleep");
    c->wcfg.deadlock_sleep = setting_sleep(PQgetvalue(res, 0, 9), "kid_deadlock_sleep");
    {
        long after;
        if (!parse_int(PQgetvalue(res, 0, 10), 0, 86400 * 365, &after)) {
            log_warn("stalled_after \"%s\" is not a number of seconds from 0; using 10",
                     PQgetvalue(res, 0, 10));
            after = 10;
        }
        c->wcfg.stalled_after = (double)after;
    }
    if (!parse_int(PQgetvalue(res, 0, 11), 1, 1000, &c->wcfg.batch_grow_max)) {
        log_warn("batch_grow_max \"%s\" is not a number from 1 to 1000; using 8", PQgetvalue(res, 0, 11));
        c->wcfg.batch_grow_max = 8;
    }
    PQclear(res);
    return true;
}

int daemon_run(const DaemonConfig *cfg)
{
    Controller c = {.cfg = cfg, .pid_fd = -1, .quiet = true};
    StderrRoute route = {.fd = -1, .stop_fd = -1};
    struct sigaction sa;
    bool stop = false, do_reload = false;
    double reconnect_wait = 0;

    /* --extra-name: "bucardo NAME" in ps -e, top and /proc/PID/comm (the
     * kernel keeps 15 bytes); threads started later inherit it. */
    if (cfg->extra_name && cfg->extra_name[0]) {
        char comm[16];
        snprintf(comm, sizeof(comm), "bucardo %s", cfg->extra_name);
        (void)prctl(PR_SET_NAME, comm, 0, 0, 0); /* cosmetic: a failure changes nothing else */
    }
    {
        char err[512], msg[600];
        if (!log_configure(&cfg->log, err, sizeof(err))) {
            snprintf(msg, sizeof(msg), "%s\n", err);
            ready(cfg, msg);
            return 1;
        }
    }
    log_set_thread_name(NULL, "controller");
    stderr_to_log(cfg, &route);
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        ready(cfg, "cannot create the signal pipe\n");
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!connect_catalog(&c) || !load_settings(&c) || !load_ops(&c)) {
        ready(cfg, "cannot connect to the catalog database\n");
        return 1;
    }
    {
        char why[512];
        if (!host_safe(c.cat, why, sizeof(why))) {
            log_error("%s", why);
            strncat(why, "\n", sizeof(why) - strlen(why) - 1);
            ready(cfg, why);
            PQfinish(c.cat);
            return 1;
        }
    }
    {
        long holder = 0;
        c.pid_fd = write_pid_file(cfg->piddir, &holder);
        if (c.pid_fd == -2) {
            char msg[128];
            snprintf(msg, sizeof(msg), "Bucardo is already running (pid %ld)\n", holder);
            log_error("another engine holds the pid file (pid %ld)", holder);
            ready(cfg, msg);
            return 1;
        }
        if (c.pid_fd < 0) {
            ready(cfg, "cannot write the pid file (is the piddir writable?)\n");
            return 1;
        }
    }
    log_info("bucardo %s%s%s started, pid %ld", BUCARDO_VERSION, cfg->extra_name ? " " : "",
             cfg->extra_name ? cfg->extra_name : "", (long)getpid());
    /* Stalled databases are what this engine's syncs find: an earlier
     * run's marks go (the cycles mark again what is still unreachable). */
    if (!pg_exec(c.cat, "catalog", "DELETE FROM bucardo.db_state", 0, NULL))
        log_warn("cannot clear the stalled marks of an earlier run (bucardo.db_state)");
    if (!pg_exec(c.cat, "catalog", SQL_END_STALE_RUNS, 0, NULL))
        log_warn("cannot end the runs an earlier engine left running (bucardo.syncrun, ended IS NULL)");
    if (cfg->reason && cfg->reason[0])
        log_info("start reason: %s", cfg->reason);
    c.wcfg.budget = budget_create(&cfg->catalog, c.wcfg.lock_timeout, (int)c.max_concurrent_syncs);
    {
        char err[512], msg[600];
        if (!start_ops(&c, err, sizeof(err))) {
            log_error("%s", err);
            snprintf(msg, sizeof(msg), "%s\n", err);
            alert_stop(c.alerts, 0);
            metrics_free(c.metrics);
            budget_destroy(c.wcfg.budget);
            remove_pid_file(cfg->piddir, c.pid_fd);
            ready(cfg, msg);
            return 1;
        }
    }
    c.wcfg.watch = watch_start(c.wcfg.budget, &cfg->catalog, c.wcfg.retry_delay, c.wcfg.retry_delay_max,
                               c.wcfg.stalled_after);
    log_info("at most %ld syncs run a cycle at once (max_concurrent_syncs)", c.max_concurrent_syncs);
    if (!reload(&c)) {
        while (c.nworkers > 0)
            remove_worker(&c, c.nworkers - 1);
        watch_stop(c.wcfg.watch);
        alert_stop(c.alerts, 0);
        metrics_free(c.metrics);
        budget_destroy(c.wcfg.budget);
        remove_pid_file(cfg->piddir, c.pid_fd);
        ready(cfg, "cannot read the syncs from the catalog\n");
        return 1;
    }
    ready(cfg, "OK\n");
    c.quiet = false;
    bucardo_event(c.cat, "started");
    if (c.alerts) {
        char host[256], *body;
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        body = xasprintf("Bucardo %s started on %s, pid %ld, with %d active sync(s).\nReason: %s\n",
                         BUCARDO_VERSION, host, (long)getpid(), c.nworkers,
                         cfg->reason && cfg->reason[0] ? cfg->reason : "none given");
        alert_engine(c.alerts, "Bucardo started", body);
        free(body);
    }
    notify_systemd("READY=1");

    while (!stop) {
        struct pollfd fds[2] = {{signal_pipe[0], POLLIN, 0}, {c.cat ? PQsocket(c.cat) : -1, POLLIN, 0}};
        if (poll(fds, 2, 1000) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN) {
            char sig;
            while (read(signal_pipe[0], &sig, 1) == 1) {
                if (sig == SIGHUP) {
                    do_reload = true;
                } else if (sig == SIGUSR2) {
                    if (log_reopen()) {
                        log_info("reopened the log files");
                    }
                } else {
                    stop = true;
                }
            }
        }
        if (c.cat && (fds[1].revents & (POLLIN | POLLERR | POLLHUP))) {
            if (!PQconsumeInput(c.cat) || PQstatus(c.cat) != CONNECTION_OK) {
                log_warn("lost the catalog connection; reconnecting");
                PQfinish(c.cat);
                c.cat = NULL;
            } else {
                handle_notifications(&c, &do_reload);
            }
        }
        if (c.cat == NULL && !stop) {
            if (reconnect_wait > 0) {
                reconnect_wait -= 1;
                continue;
            }
            if (connect_catalog(&c)) {
                log_info("catalog connection re-established");
                do_reload = true;
                /* A kick sent while it was away was lost (a `bucardo kick`
                 * waiting for the run would wait its whole timeout): every
                 * sync not paused runs once. */
                for (int i = 0; i < c.nworkers; i++)
                    if (!worker_paused(c.workers[i]))
                        worker_kick(c.workers[i]);
            } else {
                reconnect_wait = 1;
            }
        }
        if (do_reload && c.cat && !stop) {
            log_info("reloading the catalog");
            do_reload = !reload(&c);
        }
        check_levels(&c);
        /* A connection that died under a statement (the server restarted
         * right after we reconnected) has no socket left to poll: without
         * this, the reload would be retried on it every second for ever. */
        if (c.cat && PQstatus(c.cat) != CONNECTION_OK && !stop) {
            log_warn("lost the catalog connection; reconnecting");
            PQfinish(c.cat);
            c.cat = NULL;
        }
    }
    notify_systemd("STOPPING=1");
    log_info("stopping");
    log_stop_reason(cfg);
    /* Every sync at once: cycles in flight get STOP_GRACE_MS to finish (a
     * stop then records no failed run), and one still running after that
     * - waiting on a lock, copying a large table - is cancelled and rolls
     * back, so a stop never waits on a cycle for long. */
    for (int i = 0; i < c.nworkers; i++)
        worker_finish(c.workers[i]);
    for (int waited = 0; waited < STOP_GRACE_MS; waited += 50) {
        bool all = true;
        for (int i = 0; all && i < c.nworkers; i++)
            all = worker_exited(c.workers[i]);
        if (all)
            break;
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    }
    for (int i = 0; i < c.nworkers; i++)
        if (!worker_exited(c.workers[i]))
            worker_interrupt(c.workers[i]);
    while (c.nworkers > 0)
        remove_worker(&c, c.nworkers - 1);
    free(c.workers);
    free(c.fingerprints);
    watch_stop(c.wcfg.watch);
    /* The endpoint's scrapes use the budget: it goes first. */
    metrics_free(c.metrics);
    budget_destroy(c.wcfg.budget);
    if (c.cat) {
        bucardo_event(c.cat, "stopped");
        PQfinish(c.cat);
    }
    if (c.alerts) {
        char *reason = stop_reason(cfg, "a signal (SIGTERM or SIGINT)"), *body;
        body =
            xasprintf("Bucardo %s stopped, pid %ld.\nReason: %s\n", BUCARDO_VERSION, (long)getpid(), reason);
        alert_engine(c.alerts, "Bucardo stopped", body);
        free(body);
        free(reason);
    } else {
        free(stop_reason(cfg, ""));
    }
    /* A dead mail server delays the stop by at most this much. */
    alert_stop(c.alerts, 15);
    for (int i = 0; i < NOPS; i++)
        free(c.ops[i]);
    strlist_free(&c.levels_of);
    free(c.levels);
    remove_pid_file(cfg->piddir, c.pid_fd);
    log_info("stopped");
    stderr_stop(&route);
    log_close();
    return 0;
}
