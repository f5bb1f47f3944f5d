/*
 * cli/cmd_control.c - controlling the engine: start, stop, restart,
 * reload, kick, activate/deactivate, pause/resume.
 *
 * `start` forks the engine (double fork, new session, stdio to /dev/null)
 * and waits on a pipe until the engine says it is running or why it is not,
 * so a failure to start is reported here with a non-zero exit.  `stop`
 * signals the engine and returns only once it has exited.  The other
 * commands are NOTIFYs on the catalog, which the engine LISTENs to.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "cli.h"
#include "cli_objects.h"
#include "daemon.h"
#include "progress.h"

static const char SQL_SYNC_EXISTS[] = "SELECT 1 FROM bucardo.sync WHERE name = $1";
static const char SQL_SYNC_ACTIVE[] = "SELECT 1 FROM bucardo.sync WHERE name = $1 AND status = 'active'";
static const char SQL_NOTIFY[] = "SELECT pg_notify($1, $2)";
static const char SQL_LAST_RUN[] =
    "SELECT state, coalesce(error, ''), extract(epoch FROM ended - $2::timestamptz), coalesce(warning, '')"
    "  FROM bucardo.syncrun WHERE sync = $1 AND started >= $2::timestamptz AND ended IS NOT NULL"
    " ORDER BY id DESC LIMIT 1";

/* engine_piddir - the piddir setting (xmalloc'd), from the open catalog. */
static char *engine_piddir(CliContext *ctx)
{
    char *piddir = catalog_get_setting(ctx->cat, "piddir");
    if (piddir == NULL)
        cli_error("the catalog has no piddir setting");
    return piddir;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* start_engine - fork the daemon; returns the exit code. */
static int start_engine(CliContext *ctx, const char *piddir)
{
    DaemonConfig cfg = {.catalog = ctx->catalog, .piddir = piddir};
    char cwd[4096], *logfile = NULL, buf[512];
    int fds[2], status;
    ssize_t n, got = 0;
    pid_t child;

    if (cfg.catalog.user == NULL)
        cfg.catalog.user = "bucardo";
    if (cfg.catalog.dbname == NULL)
        cfg.catalog.dbname = "bucardo";
    if (ctx->debugfile && strcmp(ctx->debugfile, "0") == 0)
        logfile = NULL;
    else if (getcwd(cwd, sizeof(cwd)) != NULL)
        logfile = xasprintf("%s/log.bucardo", cwd);
    else
        return cli_error("cannot find the current directory for log.bucardo");
    cfg.logfile = logfile;
    if (ctx->foreground) {
        /* The engine runs here; a reporter thread shows its table copies on
         * stdout (a bar on a terminal, a line a second otherwise) until
         * SIGTERM or Ctrl-C stops the engine. */
        CopyReporter *rep;
        int code;
        cfg.ready_fd = -1;
        printf("Starting Bucardo in the foreground (log: %s)\n", logfile ? logfile : "syslog");
        fflush(stdout);
        rep = copy_reporter_start(&cfg.catalog, stdout, 1);
        if (rep == NULL)
            fprintf(stderr, "bucardo: cannot start the progress thread; copies run without progress lines\n");
        code = daemon_run(&cfg);
        if (rep)
            copy_reporter_stop(rep);
        if (code == 0)
            printf("Bucardo stopped\n");
        else
            cli_error("the engine exited with status %d (see %s)", code, logfile ? logfile : "syslog");
        free(logfile);
        return code;
    }
    if (pipe(fds) != 0) {
        free(logfile);
        return cli_error("cannot create a pipe: %s", strerror(errno));
    }
    fflush(NULL);
    child = fork();
    if (child < 0) {
        free(logfile);
        return cli_error("cannot fork: %s", strerror(errno));
    }
    if (child == 0) {
        int null = open("/dev/null", O_RDWR);
        close(fds[0]);
        setsid();
        if (fork() != 0)
            _exit(0);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
        cfg.ready_fd = fds[1];
        _exit(daemon_run(&cfg));
    }
    close(fds[1]);
    waitpid(child, &status, 0);
    while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
        got += n;
    close(fds[0]);
    buf[got] = '\0';
    free(logfile);
    if (strncmp(buf, "OK", 2) != 0) {
        char *nl = strchr(buf, '\n');
        if (nl)
            *nl = '\0';
        return cli_error("the engine did not start: %s", got ? buf : "it exited at once (see log.bucardo)");
    }
    return EXIT_OK;
}

int cmd_start(CliContext *ctx, int argc, char **argv)
{
    char *piddir;
    long pid;
    int code;
    (void)argv;

    if (argc > 1)
        return cli_error("usage: bucardo start [\"reason\"] [--foreground] [--debugfile=0]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    piddir = engine_piddir(ctx);
    cli_finish(ctx, EXIT_OK); /* the engine opens its own connections */
    if (piddir == NULL)
        return EXIT_FAIL;
    printf("Checking for existing processes\n");
    pid = daemon_running_pid(piddir);
    if (pid > 0) {
        free(piddir);
        return cli_error("Bucardo is already running (pid %ld); use 'bucardo restart' or 'bucardo stop'",
                         pid);
    }
    if (access(piddir, W_OK) != 0) {
        cli_error("cannot write to the piddir %s: %s", piddir, strerror(errno));
        free(piddir);
        return EXIT_FAIL;
    }
    printf("Starting Bucardo\n");
    fflush(stdout);
    code = start_engine(ctx, piddir);
    free(piddir);
    return code;
}

/* stop_engine - SIGTERM the engine and wait for it to exit. */
static int stop_engine(const char *piddir, bool quiet_if_stopped)
{
    long pid = daemon_running_pid(piddir);

    if (pid == 0) {
        if (!quiet_if_stopped)
            printf("Bucardo is not running\n");
        return EXIT_OK;
    }
    printf("Stopping Bucardo (pid %ld) ... ", pid);
    fflush(stdout);
    if (kill((pid_t)pid, SIGTERM) != 0) {
        printf("\n");
        return cli_error("cannot signal the engine (pid %ld): %s", pid, strerror(errno));
    }
    /* The cycle in flight finishes or rolls back; give it a generous while. */
    for (int waited = 0; daemon_running_pid(piddir) == pid; waited += 50) {
        if (waited >= 120000) {
            printf("\n");
            return cli_error("the engine (pid %ld) did not stop within 120 s", pid);
        }
        sleep_ms(50);
    }
    printf("Done\n");
    return EXIT_OK;
}

int cmd_stop(CliContext *ctx, int argc, char **argv)
{
    char *piddir;
    int code;
    (void)argv;

    if (argc > 1)
        return cli_error("usage: bucardo stop [\"reason\"]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    piddir = engine_piddir(ctx);
    if (piddir == NULL)
        return EXIT_FAIL;
    code = stop_engine(piddir, false);
    free(piddir);
    return code;
}

int cmd_restart(CliContext *ctx, int argc, char **argv)
{
    char *piddir;
    int code;

    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    piddir = engine_piddir(ctx);
    if (piddir == NULL)
        return EXIT_FAIL;
    code = stop_engine(piddir, true);
    free(piddir);
    if (code != EXIT_OK)
        return code;
    cli_finish(ctx, EXIT_OK);
    return cmd_start(ctx, argc, argv);
}

/* notify - send a control message; the engine must be running. */
static bool notify(CliContext *ctx, const char *channel, const char *payload)
{
    const char *params[2] = {channel, payload};
    return pg_exec(ctx->cat, "catalog", SQL_NOTIFY, 2, params);
}

static bool require_running(CliContext *ctx)
{
    char *piddir = engine_piddir(ctx);
    bool running = piddir && daemon_running_pid(piddir) > 0;

    free(piddir);
    if (!running)
        cli_error("Bucardo is not running: start it with 'bucardo start'");
    return running;
}

bool cli_notify_reload(CliContext *ctx)
{
    return notify(ctx, CHANNEL_RELOAD, "");
}

/*
 * reload_config_wait - `reload config`: send it, commit, and wait (outside
 * any transaction, where notifications arrive) up to reload_config_timeout
 * seconds for the engine's bucardo_reload_config_finished.
 */
static int reload_config_wait(CliContext *ctx)
{
    char *setting = catalog_get_setting(ctx->cat, "reload_config_timeout");
    long timeout = 30;
    double deadline;
    bool done = false;

    if (setting == NULL || !parse_int(setting, 1, 3600, &timeout))
        timeout = 30;
    free(setting);
    if (!notify(ctx, CHANNEL_RELOAD, "config") ||
        !pg_exec(ctx->cat, "catalog", "LISTEN bucardo_reload_config_finished", 0, NULL) ||
        !pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL))
        return EXIT_FAIL;
    printf("Reloading configuration table\n");
    fflush(stdout);
    deadline = (double)time(NULL) + (double)timeout;
    while (!done && (double)time(NULL) < deadline) {
        struct pollfd pfd = {PQsocket(ctx->cat), POLLIN, 0};
        PGnotify *n;

        if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
            break;
        if (!PQconsumeInput(ctx->cat))
            break;
        while ((n = PQnotifies(ctx->cat)) != NULL) {
            done |= strcmp(n->relname, "bucardo_reload_config_finished") == 0;
            PQfreemem(n);
        }
    }
    if (!pg_exec(ctx->cat, "catalog", "UNLISTEN *", 0, NULL) ||
        !pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL))
        return EXIT_FAIL;
    if (!done)
        return cli_error("the engine did not confirm the reload within %ld s (reload_config_timeout)",
                         timeout);
    return EXIT_OK;
}

/*
 * cmd_reload - `reload`: the engine follows the catalog (restarting the
 * syncs whose definition changed); `reload config`: it rereads every
 * setting, restarting every sync with them; `reload [sync] SYNC...`: it
 * restarts the named syncs.  The payload of CHANNEL_RELOAD says which
 * (engine/daemon/daemon.c).
 */
int cmd_reload(CliContext *ctx, int argc, char **argv)
{
    int first = argc > 0 && strcmp(argv[0], "sync") == 0 ? 1 : 0;

    if (argc > 1 && strcmp(argv[0], "config") == 0)
        return cli_error("usage: bucardo reload [config | SYNC ...]");
    if (cli_catalog(ctx) == NULL || !require_running(ctx))
        return EXIT_FAIL;
    if (argc == 1 && strcmp(argv[0], "config") == 0)
        return reload_config_wait(ctx);
    for (int i = first; i < argc; i++)
        if (cli_row_exists(ctx->cat, SQL_SYNC_EXISTS, argv[i]) != 1)
            return cli_error("no sync named \"%s\"", argv[i]);
    for (int i = first; i < argc; i++) {
        char *payload = xasprintf("sync %s", argv[i]);
        bool ok = notify(ctx, CHANNEL_RELOAD, payload);
        free(payload);
        if (!ok)
            return EXIT_FAIL;
        cli_say(ctx, "Reloading sync %s\n", argv[i]);
    }
    if (first == argc) {
        if (!notify(ctx, CHANNEL_RELOAD, ""))
            return EXIT_FAIL;
        cli_say(ctx, "Reloading Bucardo\n");
    }
    return EXIT_OK;
}

static bool sync_exists(CliContext *ctx, const char *name)
{
    int found = cli_row_exists(ctx->cat, SQL_SYNC_EXISTS, name);
    if (found == 0)
        cli_error("no sync named \"%s\"", name);
    return found == 1;
}

/* The syncs one `bucardo kick` waits for, and the engine's refusals of them. */
typedef struct KickWait {
    char **syncs;
    char **refused; /* per sync: why the engine did not kick it (owned), or NULL */
    int n;
    const char *piddir;
} KickWait;

/*
 * wait_notified - sleep up to ms, or less when a notification arrives (the
 * engine's CHANNEL_RUN_DONE or CHANNEL_KICK_REFUSED, which the caller
 * LISTENs to outside any transaction).  Refusals are kept in kw, for
 * whichever sync they name.  A lost notification only costs the full sleep.
 */
static void wait_notified(PGconn *conn, int ms, KickWait *kw)
{
    struct pollfd fd = {PQsocket(conn), POLLIN, 0};
    bool any = false;
    PGnotify *n;

    /* The catalog queries in between may have read some already. */
    for (int round = 0; round < 2; round++) {
        while ((n = PQnotifies(conn)) != NULL) {
            const char *tab = strchr(n->extra, '\t');
            for (int i = 0; tab && strcmp(n->relname, CHANNEL_KICK_REFUSED) == 0 && i < kw->n; i++)
                if (kw->refused[i] == NULL && strcmp(tab + 1, kw->syncs[i]) == 0)
                    kw->refused[i] = xasprintf("%.*s", (int)(tab - n->extra), n->extra);
            PQfreemem(n);
            any = true;
        }
        if (any || round == 1)
            return;
        if (fd.fd < 0) {
            sleep_ms(ms);
            return;
        }
        if (poll(&fd, 1, ms) <= 0 || !PQconsumeInput(conn))
            return;
    }
}

/*
 * wait_for_run - the outcome of the first run of kw->syncs[k] that started
 * after `since`.  Gives up when the engine refuses the kick or stops.
 */
static int wait_for_run(CliContext *ctx, KickWait *kw, int k, const char *since, long timeout)
{
    const char *sync = kw->syncs[k];
    const char *params[2] = {sync, since};
    long waited = 0;
    bool stopped = false;
    CopyView view;
    /* The table copy in flight: a bar on a terminal, a line every 5 s otherwise. */
    bool viewing = copy_view_init(&view, ctx->cat, stdout, sync, 5, false);

    for (;;) {
        PGresult *res = pg_query(ctx->cat, "catalog", SQL_LAST_RUN, 2, params);
        const char *gone = NULL;
        if (res == NULL) {
            if (viewing)
                copy_view_end(&view);
            return EXIT_ERROR;
        }
        /* A stopped engine had its last chance: its run is looked for once more after it was seen gone. */
        if (PQntuples(res) == 0 && kw->refused[k] != NULL)
            gone = kw->refused[k];
        else if (PQntuples(res) == 0 && stopped)
            gone = "the engine stopped before it ran";
        if (gone != NULL) {
            if (viewing)
                copy_view_end(&view);
            PQclear(res);
            fflush(stdout);
            cli_error("cannot kick sync \"%s\": %s", sync, gone);
            return EXIT_ERROR; /* a kick's errors exit 2, its timeouts 1 */
        }
        if (PQntuples(res) == 1) {
            if (viewing)
                copy_view_end(&view);
            bool good = strcmp(PQgetvalue(res, 0, 0), "Good") == 0;
            printf("Kick %s: [%.0f s] %s%s\n", sync, atof(PQgetvalue(res, 0, 2)) + 0.5,
                   good ? "DONE!" : "FAILED: ", good ? "" : PQgetvalue(res, 0, 1));
            /* Done without a member that could not be reached: it catches up later. */
            if (good && PQgetvalue(res, 0, 3)[0] != '\0')
                printf("Kick %s: WARNING: ran without: %s\n", sync, PQgetvalue(res, 0, 3));
            PQclear(res);
            return good ? EXIT_OK : EXIT_ERROR;
        }
        PQclear(res);
        if (daemon_running_pid(kw->piddir) <= 0) {
            stopped = true;
            continue;
        }
        if (timeout > 0 && waited >= timeout * 1000) {
            if (viewing)
                copy_view_end(&view);
            printf("Kick %s: [%ld s] TIMEOUT\n", sync, timeout);
            return EXIT_FAIL;
        }
        {
            struct timespec t0, t1;
            long ms;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            wait_notified(ctx->cat, 1000 - (int)(waited % 1000), kw);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
            if (viewing && (waited % 1000) + ms >= 1000 && !copy_view_poll(&view, ctx->cat)) {
                copy_view_end(&view);
                viewing = false;
            }
            waited += ms > 0 ? ms : 1;
        }
    }
}

/*
 * cmd_kick - an inactive sync is refused here (the engine does not run it:
 * nothing would ever happen).  A paused one is refused by the engine,
 * which only it knows: a waiting kick reports that and fails.
 */
int cmd_kick(CliContext *ctx, int argc, char **argv)
{
    long timeout = -1;
    int nsyncs = argc, code = EXIT_OK;
    char *since = NULL;
    KickWait kw = {.syncs = argv};
    PGresult *res;

    if (argc > 1 && parse_int(argv[argc - 1], 0, 86400 * 365, &timeout))
        nsyncs = argc - 1;
    if (nsyncs < 1)
        return cli_error("usage: bucardo kick SYNC [SYNC ...] [TIMEOUT]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    for (int i = 0; i < nsyncs; i++) {
        int active;
        if (!sync_exists(ctx, argv[i]))
            return EXIT_FAIL;
        active = cli_row_exists(ctx->cat, SQL_SYNC_ACTIVE, argv[i]);
        if (active < 0)
            return EXIT_FAIL;
        if (active == 0)
            return cli_error("cannot kick inactive sync \"%s\": activate it first ('bucardo activate %s')",
                             argv[i], argv[i]);
    }
    if (!require_running(ctx))
        return EXIT_FAIL;
    res = pg_query(ctx->cat, "catalog", "SELECT clock_timestamp()", 0, NULL);
    if (res == NULL)
        return EXIT_FAIL;
    since = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    for (int i = 0; i < nsyncs; i++)
        if (!notify(ctx, CHANNEL_KICK, argv[i])) {
            free(since);
            return EXIT_FAIL;
        }
    /* Deliver the kicks now: NOTIFY is sent at commit.  The wait runs
     * outside a transaction, where the engine's notifications arrive. */
    if ((timeout >= 0 && (!pg_exec(ctx->cat, "catalog", "LISTEN " CHANNEL_RUN_DONE, 0, NULL) ||
                          !pg_exec(ctx->cat, "catalog", "LISTEN " CHANNEL_KICK_REFUSED, 0, NULL))) ||
        !pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL)) {
        free(since);
        return EXIT_FAIL;
    }
    if (timeout < 0) {
        for (int i = 0; i < nsyncs; i++)
            printf("Kicked sync %s\n", argv[i]);
    } else {
        kw.n = nsyncs;
        kw.refused = xcalloc((size_t)nsyncs, sizeof(char *));
        kw.piddir = engine_piddir(ctx);
        for (int i = 0; kw.piddir && i < nsyncs; i++) {
            int c = wait_for_run(ctx, &kw, i, since, timeout);
            if (c != EXIT_OK && code == EXIT_OK)
                code = c;
        }
        if (kw.piddir == NULL)
            code = EXIT_FAIL;
        for (int i = 0; i < nsyncs; i++)
            free(kw.refused[i]);
        free(kw.refused);
        free((char *)kw.piddir);
    }
    free(since);
    /* The command ends with the transaction it began in. */
    if (!pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL))
        return EXIT_FAIL;
    return code;
}

static int set_status(CliContext *ctx, int argc, char **argv, const char *status)
{
    if (argc < 1)
        return cli_error("usage: bucardo %s SYNC ...",
                         strcmp(status, "active") == 0 ? "activate" : "deactivate");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    for (int i = 0; i < argc; i++) {
        const char *params[2] = {argv[i], status};
        /* A sync that cannot run (remove db --force deactivated it) stays off. */
        if (!sync_exists(ctx, argv[i]) || (strcmp(status, "active") == 0 && !sync_check(ctx->cat, argv[i])) ||
            !pg_exec(ctx->cat, "catalog", "UPDATE bucardo.sync SET status = $2 WHERE name = $1", 2, params))
            return EXIT_FAIL;
        cli_say(ctx, "%s sync %s\n", strcmp(status, "active") == 0 ? "Activating" : "Deactivating", argv[i]);
    }
    /* A running engine picks the change up; a stopped one reads it at start. */
    return cli_notify_reload(ctx) ? EXIT_OK : EXIT_FAIL;
}

int cmd_activate(CliContext *ctx, int argc, char **argv)
{
    return set_status(ctx, argc, argv, "active");
}

int cmd_deactivate(CliContext *ctx, int argc, char **argv)
{
    return set_status(ctx, argc, argv, "inactive");
}

static int pause_resume(CliContext *ctx, int argc, char **argv, bool pause)
{
    PGresult *res = NULL;

    if (argc < 1)
        return cli_error("usage: bucardo %s SYNC ... | all", pause ? "pause" : "resume");
    if (cli_catalog(ctx) == NULL || !require_running(ctx))
        return EXIT_FAIL;
    if (argc == 1 && strcmp(argv[0], "all") == 0) {
        res = pg_query(ctx->cat, "catalog",
                       "SELECT name FROM bucardo.sync WHERE status = 'active' ORDER BY name", 0, NULL);
        if (res == NULL)
            return EXIT_FAIL;
    }
    for (int i = 0; i < (res ? PQntuples(res) : argc); i++) {
        const char *name = res ? PQgetvalue(res, i, 0) : argv[i];
        if ((!res && !sync_exists(ctx, name)) || !notify(ctx, pause ? CHANNEL_PAUSE : CHANNEL_RESUME, name)) {
            PQclear(res);
            return EXIT_FAIL;
        }
        cli_say(ctx, "%s sync %s\n", pause ? "Pausing" : "Resuming", name);
    }
    PQclear(res);
    return EXIT_OK;
}

int cmd_pause(CliContext *ctx, int argc, char **argv)
{
    return pause_resume(ctx, argc, argv, true);
}

int cmd_resume(CliContext *ctx, int argc, char **argv)
{
    return pause_resume(ctx, argc, argv, false);
}
