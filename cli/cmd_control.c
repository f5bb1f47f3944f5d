/*
 * cli/cmd_control.c - controlling the engine: start, stop, restart,
 * reload, kick, activate/deactivate, pause/resume.
 *
 * `start` forks the engine (double fork, new session, stdio to /dev/null)
 * and waits on a pipe until the engine says it is running or why it is not,
 * so a failure to start is reported here with a non-zero exit.  `stop`
 * signals the engine and returns only once it has exited.  Both write
 * their reason to reason_file (cmd_logging.c), which the engine logs.  The other
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

static const char SQL_SYNC_ACTIVE[] = "SELECT 1 FROM bucardo.sync WHERE name = $1 AND status = 'active'";
static const char SQL_NOTIFY[] = "SELECT pg_notify($1, $2)";
static const char SQL_LAST_RUN[] =
    "SELECT state, coalesce(error, ''), extract(epoch FROM ended - $2::timestamptz), coalesce(warning, '')"
    "  FROM bucardo.syncrun WHERE sync = $1 AND started >= $2::timestamptz AND ended IS NOT NULL"
    " ORDER BY id DESC LIMIT 1";

/* engine_piddir - the piddir setting (xmalloc'd), from the open catalog. */
static char *engine_piddir(CliContext *ctx)
{
    /* --piddir wins over the catalog's setting, for start, stop and the rest. */
    char *piddir = ctx->piddir ? xstrdup(ctx->piddir) : catalog_get_setting(ctx->cat, "piddir");
    if (piddir == NULL)
        cli_error("the catalog has no piddir setting");
    return piddir;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* describe_log - where the log goes, for messages (xmalloc'd). */
static char *describe_log(const LogOptions *o)
{
    StrBuf b;

    strbuf_init(&b);
    for (int i = 0; i < o->ndests; i++) {
        const char *d = o->dests[i];
        bool special = strcmp(d, "stderr") == 0 || strcmp(d, "stdout") == 0 || strcmp(d, "syslog") == 0 ||
                       strcmp(d, "none") == 0;
        strbuf_printf(&b, "%s%s%s%s%s", b.len ? ", " : "", d, special ? "" : "/log.bucardo",
                      !special && o->extension ? "." : "", !special && o->extension ? o->extension : "");
    }
    if (b.len == 0)
        strbuf_append(&b, "none");
    return b.data;
}

/* start_engine - fork the daemon; returns the exit code. */
static int start_engine(CliContext *ctx, const char *piddir, const LogSetup *ls, const char *reason)
{
    DaemonConfig cfg = {.catalog = ctx->catalog,
                        .piddir = piddir,
                        .log = ls->opts,
                        .reason_file = ls->reason_file,
                        .reason = reason,
                        .sendmail = ctx->sendmail != 0,
                        .extra_name = ctx->extra_name};
    char *logfile = describe_log(&ls->opts), buf[512];
    int fds[2], status;
    ssize_t n, got = 0;
    pid_t child;

    if (cfg.catalog.user == NULL)
        cfg.catalog.user = "bucardo";
    if (cfg.catalog.dbname == NULL)
        cfg.catalog.dbname = "bucardo";
    if (ctx->foreground) {
        /* The engine runs here; a reporter thread shows its table copies on
         * stdout (a bar on a terminal, a line a second otherwise) until
         * SIGTERM or Ctrl-C stops the engine. */
        CopyReporter *rep;
        int code;
        cfg.ready_fd = -1;
        printf("Starting Bucardo in the foreground (log: %s)\n", logfile);
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
            cli_error("the engine exited with status %d (see %s)", code, logfile);
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
            /* Like Bucardo, a stdout or stderr log destination keeps
             * that stream of the terminal `start` ran in. */
            bool keep_out = false, keep_err = false;
            for (int i = 0; i < ls->opts.ndests; i++) {
                keep_out |= strcmp(ls->opts.dests[i], "stdout") == 0;
                keep_err |= strcmp(ls->opts.dests[i], "stderr") == 0;
            }
            dup2(null, 0);
            if (!keep_out)
                dup2(null, 1);
            if (!keep_err)
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
    if (strncmp(buf, "OK", 2) != 0) {
        char *nl = strchr(buf, '\n');
        if (nl)
            *nl = '\0';
        cli_error("the engine did not start: %s%s%s", got ? buf : "it exited at once (see ",
                  got ? "" : logfile, got ? "" : ")");
        free(logfile);
        return EXIT_FAIL;
    }
    free(logfile);
    return EXIT_OK;
}

int cmd_start(CliContext *ctx, int argc, char **argv)
{
    char *piddir;
    long pid;
    int code;
    LogSetup ls = {0};

    if (argc > 1)
        return cli_error(
            "usage: bucardo start [\"reason\"] [--foreground] [--sendmail=0] [--log-destination DEST ...]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    piddir = engine_piddir(ctx);
    /* --exit-on-nosync: Bucardo's MCP exits at start when no sync is
     * active; here start refuses (this engine otherwise waits for one). */
    if (piddir != NULL && ctx->exit_on_nosync == 1) {
        int any = cli_row_exists(ctx->cat, "SELECT 1 FROM bucardo.sync WHERE status = $1", "active");
        if (any <= 0) {
            free(piddir);
            return any < 0 ? EXIT_FAIL : cli_error("no active syncs, so not starting (--exit-on-nosync)");
        }
    }
    if (piddir != NULL && !cli_log_setup(ctx, &ls)) {
        log_setup_free(&ls);
        free(piddir);
        piddir = NULL;
    }
    cli_finish(ctx, EXIT_OK); /* the engine opens its own connections */
    if (piddir == NULL)
        return EXIT_FAIL;
    cli_info(ctx, "Checking for existing processes\n");
    pid = daemon_running_pid(piddir);
    if (pid > 0) {
        free(piddir);
        log_setup_free(&ls);
        return cli_error("Bucardo is already running (pid %ld); use 'bucardo restart' or 'bucardo stop'",
                         pid);
    }
    if (access(piddir, W_OK) != 0) {
        cli_error("cannot write to the piddir %s: %s", piddir, strerror(errno));
        free(piddir);
        log_setup_free(&ls);
        return EXIT_FAIL;
    }
    if (!cli_reason_write(ls.reason_file, "start", argc, argv)) {
        free(piddir);
        log_setup_free(&ls);
        return EXIT_FAIL;
    }
    cli_info(ctx, "Starting Bucardo\n");
    code = start_engine(ctx, piddir, &ls, argc > 0 ? argv[0] : NULL);
    free(piddir);
    log_setup_free(&ls);
    return code;
}

/*
 * process_exited - has process pid ended?  The engine unlinks its pid file
 * as almost its last act, but a few milliseconds of exit (log close,
 * threads, libc) follow; a dead process that its parent has not reaped
 * yet (a zombie) has ended too, which only /proc tells (its state Z).
 * Without /proc a process that kill(pid, 0) still finds counts as ended:
 * its pid file is gone, and a zombie cannot be told from a living one.
 */
static bool process_exited(long pid)
{
    char path[64], state = '\0';
    FILE *f;

    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return true;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return errno != ENOENT || access("/proc/self/stat", F_OK) != 0;
    /* "pid (comm) S ...": the state follows the last ')' */
    {
        char buf[512];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        char *rp;

        buf[n] = '\0';
        rp = strrchr(buf, ')');
        if (rp && rp[1] == ' ')
            state = rp[2];
    }
    fclose(f);
    return state == 'Z' || state == 'X';
}

/* stop_engine - SIGTERM the engine and wait for it to exit; the reason
 * (NULL: none) goes to the engine's stop mail through a file in piddir. */
static int stop_engine(const CliContext *ctx, const char *piddir, bool quiet_if_stopped, const char *reason)
{
    long pid = daemon_running_pid(piddir);

    if (pid == 0) {
        if (!quiet_if_stopped)
            cli_info(ctx, "Bucardo is not running\n");
        return EXIT_OK;
    }
    if (reason && reason[0]) {
        char *path = xasprintf("%s/%s", piddir, STOP_REASON_FILE_NAME);
        FILE *f = fopen(path, "w");
        if (f == NULL || fprintf(f, "%s\n", reason) < 0)
            fprintf(stderr, "bucardo: cannot write the stop reason to %s; stopping without it\n", path);
        if (f)
            fclose(f);
        free(path);
    }
    cli_info(ctx, "Stopping Bucardo (pid %ld) ... ", pid);
    if (kill((pid_t)pid, SIGTERM) != 0) {
        cli_info(ctx, "\n");
        return cli_error("cannot signal the engine (pid %ld): %s", pid, strerror(errno));
    }
    /* The cycle in flight finishes or rolls back; give it a generous while. */
    for (int waited = 0; daemon_running_pid(piddir) == pid; waited += 50) {
        if (waited >= 120000) {
            cli_info(ctx, "\n");
            return cli_error("the engine (pid %ld) did not stop within 120 s", pid);
        }
        sleep_ms(50);
    }
    /* The pid file is gone: the process ends within moments. */
    for (int waited = 0; !process_exited(pid); waited += 10) {
        if (waited >= 10000) {
            cli_info(ctx, "\n");
            return cli_error("the engine (pid %ld) removed its pid file but still runs after 10 s", pid);
        }
        sleep_ms(10);
    }
    cli_info(ctx, "Done\n");
    return EXIT_OK;
}

int cmd_stop(CliContext *ctx, int argc, char **argv)
{
    char *piddir;
    int code;
    LogSetup ls;

    if (argc > 1)
        return cli_error("usage: bucardo stop [\"reason\"]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    piddir = engine_piddir(ctx);
    if (piddir == NULL)
        return EXIT_FAIL;
    /* The reason goes where a start with the same options put its own. */
    if (argc > 0 && daemon_running_pid(piddir) > 0) {
        bool ok = cli_log_setup(ctx, &ls) && cli_reason_write(ls.reason_file, "stop", argc, argv);
        log_setup_free(&ls);
        if (!ok) {
            free(piddir);
            return EXIT_FAIL;
        }
    }
    code = stop_engine(ctx, piddir, false, argc > 0 ? argv[0] : NULL);
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
    code = stop_engine(ctx, piddir, true, argc > 0 ? argv[0] : "restart");
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

bool cli_engine_running(CliContext *ctx)
{
    return require_running(ctx);
}

bool cli_notify_reload(CliContext *ctx)
{
    return notify(ctx, CHANNEL_RELOAD, "");
}

static bool named_explicitly(int argc, char **argv, const char *name);

/*
 * wait_notice - wait, outside any transaction and LISTENing to channel,
 * up to timeout_ms for a notification on it.  With want non-NULL, only a
 * payload "HEAD\tWANT" counts, and *head gets HEAD.  Returns 1 when it
 * came, 0 on timeout, -1 when the connection failed (said on stderr).
 */
static int wait_notice(PGconn *conn, const char *channel, const char *want, long timeout_ms, char *head,
                       size_t headlen)
{
    struct timespec t0, t;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
        PGnotify *n;
        long left;
        int found = 0;

        while ((n = PQnotifies(conn)) != NULL) {
            const char *tab = strchr(n->extra, '\t');
            if (strcmp(n->relname, channel) == 0 &&
                (want == NULL || (tab != NULL && strcmp(tab + 1, want) == 0))) {
                if (head != NULL)
                    snprintf(head, headlen, "%.*s", tab ? (int)(tab - n->extra) : (int)strlen(n->extra),
                             n->extra);
                found = 1;
            }
            PQfreemem(n);
        }
        if (found)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0)
            return 0;
        if ((poll(&pfd, 1, left > 200 ? 200 : (int)left) < 0 && errno != EINTR) || !PQconsumeInput(conn)) {
            cli_error("lost the catalog connection while waiting for the engine: %s", PQerrorMessage(conn));
            return -1;
        }
    }
}

/*
 * reload_config_wait - `reload config [TIMEOUT]`: send it, commit, and
 * wait (outside any transaction, where notifications arrive) up to TIMEOUT
 * seconds (0: reload_config_timeout's, as Bucardo) for the engine's
 * bucardo_reload_config_finished.  Bucardo's shape: a line saying what is
 * asked, then DONE!, or an error and a non-zero exit when no confirmation
 * came in time.
 */
static int reload_config_wait(CliContext *ctx, long timeout)
{
    int got;

    if (timeout <= 0) {
        char *setting = catalog_get_setting(ctx->cat, "reload_config_timeout");
        if (setting == NULL || !parse_int(setting, 1, 3600, &timeout))
            timeout = 30;
        free(setting);
    }
    if (!notify(ctx, CHANNEL_RELOAD, "config") ||
        !pg_exec(ctx->cat, "catalog", "LISTEN bucardo_reload_config_finished", 0, NULL) ||
        !pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL))
        return EXIT_FAIL;
    cli_info(ctx, "Asking Bucardo to reread its settings (the bucardo_config table)\n");
    got = wait_notice(ctx->cat, "bucardo_reload_config_finished", NULL, timeout * 1000, NULL, 0);
    if (got < 0 || !pg_exec(ctx->cat, "catalog", "UNLISTEN *", 0, NULL) ||
        !pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL))
        return EXIT_FAIL;
    if (got == 0)
        return cli_error(
            "waited %ld s, but the engine never confirmed the configuration reload (give a longer "
            "wait: 'bucardo reload config SECONDS', or set reload_config_timeout)",
            timeout);
    cli_info(ctx, "DONE!\n");
    return EXIT_OK;
}

/* How long `reload SYNC` waits for each sync's reload, as Bucardo. */
#define RELOAD_SYNC_WAIT_S 10

/*
 * reload_syncs - `reload SYNC...`, each active sync in turn: the reload is
 * sent and committed, and the engine's word awaited (up to
 * RELOAD_SYNC_WAIT_S s), as Bucardo: "Reloading sync S...Reload of sync S
 * successful|failed".  A sync named explicitly that is not active is only
 * warned about (Bucardo: "Cannot reload: status of sync ... is ..."); `all`
 * and wildcards take the active ones.  Non-zero when a reload failed.
 */
static int reload_syncs(CliContext *ctx, int argc, char **argv, const StrList *syncs)
{
    int code = EXIT_OK;

    if (!pg_exec(ctx->cat, "catalog", "LISTEN " CHANNEL_RELOAD_DONE, 0, NULL))
        return EXIT_FAIL;
    for (int i = 0; i < syncs->count; i++) {
        const char *name = syncs->items[i], *params[1] = {name};
        PGresult *res =
            pg_query(ctx->cat, "catalog", "SELECT status FROM bucardo.sync WHERE name = $1", 1, params);
        char status[64] = "", answer[32] = "";
        int got;

        if (res == NULL)
            return EXIT_FAIL;
        if (PQntuples(res) == 1)
            snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        if (strcmp(status, "active") != 0) {
            if (named_explicitly(argc, argv, name))
                fprintf(stderr, "Cannot reload: status of sync \"%s\" is %s\n", name,
                        status[0] ? status : "gone");
            continue;
        }
        cli_info(ctx, "Reloading sync %s...", name);
        {
            char *payload = xasprintf("sync %s", name);
            bool ok = notify(ctx, CHANNEL_RELOAD, payload) && pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL);
            free(payload);
            if (!ok) {
                cli_info(ctx, "\n");
                return EXIT_FAIL;
            }
        }
        got = wait_notice(ctx->cat, CHANNEL_RELOAD_DONE, name, RELOAD_SYNC_WAIT_S * 1000L, answer,
                          sizeof(answer));
        if (got < 0) {
            cli_info(ctx, "\n");
            return EXIT_FAIL;
        }
        if (got == 0)
            cli_info(ctx, "Reload of sync %s failed: the engine did not answer within %d s\n", name,
                     RELOAD_SYNC_WAIT_S);
        else if (strcmp(answer, "reloaded") == 0)
            cli_info(ctx, "Reload of sync %s successful\n", name);
        else
            cli_info(ctx, "Reload of sync %s failed: its worker is not running (see the log)\n", name);
        if (got == 0 || strcmp(answer, "reloaded") != 0) {
            code = EXIT_FAIL;
            if (ctx->quiet > 0)
                cli_error("the reload of sync \"%s\" failed", name);
        }
        if (!pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL))
            return EXIT_FAIL;
    }
    return code;
}

/*
 * cmd_reload - `reload`: the engine follows the catalog (restarting the
 * syncs whose definition changed); `reload config [TIMEOUT]`: it rereads
 * every setting, restarting every sync with them; `reload [sync] SYNC...`
 * (names, all, wildcards: checked to exist): it restarts the named syncs,
 * one after the other, each awaited.  The payload of CHANNEL_RELOAD says
 * which (engine/daemon/daemon.c).
 */
int cmd_reload(CliContext *ctx, int argc, char **argv)
{
    int first = argc > 0 && strcmp(argv[0], "sync") == 0 ? 1 : 0;
    StrList syncs = {0};
    int code = EXIT_FAIL;

    if (argc > 0 && strcmp(argv[0], "config") == 0) {
        long timeout = 0;
        if (argc > 2 || (argc == 2 && !parse_int(argv[1], 0, 86400, &timeout)))
            return cli_error("usage: bucardo reload config [TIMEOUT (seconds)]");
        if (cli_catalog(ctx) == NULL || !require_running(ctx))
            return EXIT_FAIL;
        return reload_config_wait(ctx, timeout);
    }
    if (cli_catalog(ctx) == NULL || !require_running(ctx))
        return EXIT_FAIL;
    if (argc > first && !cli_select_syncs(ctx, argc - first, argv + first, &syncs, NULL))
        goto out;
    if (argc > first && syncs.count == 0) {
        cli_error("usage: bucardo reload [config [TIMEOUT] | SYNC ...]");
        goto out;
    }
    if (syncs.count > 0 && !ctx->dryrun) {
        code = reload_syncs(ctx, argc - first, argv + first, &syncs);
        goto out;
    }
    /* --dryrun: the reloads are sent at commit, which does not come. */
    for (int i = 0; i < syncs.count; i++) {
        char *payload = xasprintf("sync %s", syncs.items[i]);
        bool ok = notify(ctx, CHANNEL_RELOAD, payload);
        free(payload);
        if (!ok)
            goto out;
        cli_say(ctx, "Reloading sync %s\n", syncs.items[i]);
    }
    if (syncs.count == 0) {
        if (!notify(ctx, CHANNEL_RELOAD, ""))
            goto out;
        cli_say(ctx, "Reloading Bucardo\n");
    }
    code = EXIT_OK;
out:
    strlist_free(&syncs);
    return code;
}

/* named_explicitly - whether name was typed as itself (not through
 * `all` or a wildcard). */
static bool named_explicitly(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

/* The syncs one `bucardo kick` waits for, and the engine's refusals of them. */
typedef struct KickWait {
    char **syncs;
    char **refused; /* per sync: why the engine did not kick it (owned), or NULL */
    int n;
    const char *piddir;
    bool notimer; /* --notimer: no progress view while waiting, no [N s] */
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
    bool viewing = !kw->notimer && copy_view_init(&view, ctx->cat, stdout, sync, 5, false);

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
            /* --notimer: Bucardo's plain "Kick S: DONE!", for cron mails. */
            if (kw->notimer)
                printf("Kick %s: %s%s\n", sync,
                       good ? "DONE!" : "FAILED: ", good ? "" : PQgetvalue(res, 0, 1));
            else
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
            if (kw->notimer)
                printf("Kick %s: TIMEOUT\n", sync);
            else
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
 * kick_once - kick syncs[i] for every i with todo[i], and with a timeout
 * wait for their runs; todo[i] stays true for the ones that failed.
 * Returns the worst exit code.
 */
static int kick_once(CliContext *ctx, char **syncs, int nsyncs, bool *todo, long timeout)
{
    char *since = NULL;
    int code = EXIT_OK, n = 0;
    char **list = xcalloc((size_t)nsyncs + 1, sizeof(char *));
    int *index = xcalloc((size_t)nsyncs + 1, sizeof(int));
    KickWait kw = {.syncs = list};
    PGresult *res;

    for (int i = 0; i < nsyncs; i++)
        if (todo[i]) {
            index[n] = i;
            list[n++] = syncs[i];
        }
    res = pg_query(ctx->cat, "catalog", "SELECT clock_timestamp()", 0, NULL);
    if (res == NULL) {
        code = EXIT_FAIL;
        goto out;
    }
    since = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    for (int i = 0; i < n; i++)
        if (!notify(ctx, CHANNEL_KICK, list[i])) {
            code = EXIT_FAIL;
            goto out;
        }
    /* Deliver the kicks now: NOTIFY is sent at commit.  The wait runs
     * outside a transaction, where the engine's notifications arrive. */
    if ((timeout >= 0 && (!pg_exec(ctx->cat, "catalog", "LISTEN " CHANNEL_RUN_DONE, 0, NULL) ||
                          !pg_exec(ctx->cat, "catalog", "LISTEN " CHANNEL_KICK_REFUSED, 0, NULL))) ||
        !pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL)) {
        code = EXIT_FAIL;
        goto out;
    }
    if (timeout < 0) {
        for (int i = 0; i < n; i++) {
            cli_info(ctx, "Kicked sync %s\n", list[i]);
            todo[index[i]] = false;
        }
    } else {
        kw.n = n;
        kw.refused = xcalloc((size_t)n + 1, sizeof(char *));
        kw.piddir = engine_piddir(ctx);
        kw.notimer = ctx->notimer;
        for (int i = 0; kw.piddir && i < n; i++) {
            int c = wait_for_run(ctx, &kw, i, since, timeout);
            if (c == EXIT_OK)
                todo[index[i]] = false;
            else if (code == EXIT_OK)
                code = c;
        }
        if (kw.piddir == NULL)
            code = EXIT_FAIL;
        for (int i = 0; i < n; i++)
            free(kw.refused[i]);
        free(kw.refused);
        free((char *)kw.piddir);
    }
    /* The command ends with the transaction it began in. */
    if (!pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL))
        code = EXIT_FAIL;
out:
    free(since);
    free(list);
    free(index);
    return code;
}

/*
 * cmd_kick - kick SYNC ... [TIMEOUT] (names, `all`, wildcards '%' '*').
 * An inactive sync named explicitly is skipped with Bucardo's "Cannot kick
 * inactive sync" while the active ones named with it are kicked; when none
 * is active the kick is refused (nothing would ever happen: Bucardo exits
 * 0 there).  `all` and wildcards take the active ones.  A paused one is refused by the engine, which only it
 * knows: a waiting kick reports that and fails.  --retry=N: a failed or timed-out run is kicked again, up to
 * N times, after --retry-sleep seconds.
 */
int cmd_kick(CliContext *ctx, int argc, char **argv)
{
    long timeout = -1;
    int code = EXIT_FAIL;
    StrList sel = {0}, syncs = {0}, inactive = {0};
    bool *todo = NULL;

    if (argc < 1)
        return cli_error("usage: bucardo kick SYNC [SYNC ...] [TIMEOUT]");
    if (!cli_select_syncs(ctx, argc, argv, &sel, &timeout))
        goto out;
    for (int i = 0; i < sel.count; i++) {
        int active = cli_row_exists(ctx->cat, SQL_SYNC_ACTIVE, sel.items[i]);
        if (active < 0)
            goto out;
        if (active == 0 && named_explicitly(argc, argv, sel.items[i]))
            strlist_add(&inactive, sel.items[i]);
        if (active == 1)
            strlist_add(&syncs, sel.items[i]);
    }
    if (syncs.count == 0 && inactive.count > 0) {
        cli_error("cannot kick inactive sync \"%s\": activate it first ('bucardo activate %s')",
                  inactive.items[0], inactive.items[0]);
        goto out;
    }
    if (syncs.count == 0) {
        cli_error(sel.count ? "no active sync to kick" : "usage: bucardo kick SYNC [SYNC ...] [TIMEOUT]");
        goto out;
    }
    if (!require_running(ctx))
        goto out;
    /* As Bucardo, an inactive sync among active ones is said and skipped;
     * the active ones are kicked, and the exit code is theirs. */
    for (int i = 0; i < inactive.count; i++)
        printf("Cannot kick inactive sync \"%s\"\n", inactive.items[i]);
    fflush(stdout);
    todo = xcalloc((size_t)syncs.count, sizeof(bool));
    for (int i = 0; i < syncs.count; i++)
        todo[i] = true;
    for (long attempt = 0;; attempt++) {
        code = kick_once(ctx, syncs.items, syncs.count, todo, timeout);
        if (code == EXIT_OK || timeout < 0 || attempt >= ctx->retry)
            break;
        cli_info(ctx, "Kick failed: retrying in %ld s (retry %ld of %ld)\n", ctx->retry_sleep, attempt + 1,
                 ctx->retry);
        sleep_ms((int)(ctx->retry_sleep * 1000));
        {
            char *piddir = engine_piddir(ctx);
            bool alive = piddir && daemon_running_pid(piddir) > 0;
            free(piddir);
            if (!alive)
                break;
        }
    }
out:
    free(todo);
    strlist_free(&sel);
    strlist_free(&syncs);
    strlist_free(&inactive);
    return code;
}

/*
 * set_status - activate/deactivate SYNC... [TIMEOUT] (names, `all`,
 * wildcards).  With TIMEOUT (seconds, 0: no limit) the engine must be
 * running, and the command waits, after committing, until the engine says
 * each sync's worker runs (or is gone): Bucardo's "Activating sync X...OK".
 */
static int set_status(CliContext *ctx, int argc, char **argv, const char *status)
{
    bool activate = strcmp(status, "active") == 0;
    StrList syncs = {0};
    long timeout = -1;
    int code = EXIT_FAIL;

    if (argc < 1)
        return cli_error("usage: bucardo %s SYNC ... [TIMEOUT]", activate ? "activate" : "deactivate");
    if (!cli_select_syncs(ctx, argc, argv, &syncs, &timeout))
        goto out;
    if (syncs.count == 0) {
        cli_error("usage: bucardo %s SYNC ... [TIMEOUT]", activate ? "activate" : "deactivate");
        goto out;
    }
    if (timeout >= 0 && !require_running(ctx))
        goto out;
    for (int i = 0; i < syncs.count; i++) {
        const char *params[2] = {syncs.items[i], status};
        /* A sync that cannot run (remove db --force deactivated it) stays off. */
        if ((activate && !sync_check(ctx->cat, syncs.items[i])) ||
            !pg_exec(ctx->cat, "catalog",
                     "UPDATE bucardo.sync SET status = $2,"
                     " status_note = CASE WHEN $2 = 'active' THEN NULL ELSE status_note END WHERE name = $1",
                     2, params))
            goto out;
        if (timeout < 0)
            cli_say(ctx, "%s sync %s\n", activate ? "Activating" : "Deactivating", syncs.items[i]);
    }
    /* A running engine picks the change up; a stopped one reads it at start. */
    if (!cli_notify_reload(ctx))
        goto out;
    code = EXIT_OK;
    if (timeout < 0 || ctx->dryrun)
        goto out; /* --dryrun: nothing committed, nothing to wait for */
    /* Commit now (--confirm may still say no), then wait for the engine. */
    code = cli_finish(ctx, EXIT_OK);
    if (code != EXIT_OK || cli_catalog(ctx) == NULL) {
        code = EXIT_FAIL;
        goto out;
    }
    for (int i = 0; code == EXIT_OK && i < syncs.count; i++) {
        const char *params[2] = {syncs.items[i], status};
        char pid[32] = "";
        {
            PGresult *res = pg_query(ctx->cat, "catalog",
                                     "SELECT 1 FROM bucardo.sync WHERE name = $1 AND status = $2", 2, params);
            bool changed = res && PQntuples(res) == 1;
            PQclear(res);
            if (res == NULL) {
                code = EXIT_FAIL;
                break;
            }
            if (!changed)
                continue; /* --confirm said no, or someone changed it back */
        }
        cli_info(ctx, "%s sync %s...", activate ? "Activating" : "Deactivating", syncs.items[i]);
        if (!cli_engine_confirm(ctx, syncs.items[i], activate, timeout, pid, sizeof(pid))) {
            cli_info(ctx, "\n");
            code = EXIT_FAIL;
        } else {
            cli_info(ctx, "OK\n");
        }
    }
out:
    strlist_free(&syncs);
    return code;
}

int cmd_activate(CliContext *ctx, int argc, char **argv)
{
    return set_status(ctx, argc, argv, "active");
}

int cmd_deactivate(CliContext *ctx, int argc, char **argv)
{
    return set_status(ctx, argc, argv, "inactive");
}

/* pause_resume - pause|resume SYNC ... (names, `all`, wildcards; `all`
 * and wildcards take the active syncs only: the others do not run). */
static int pause_resume(CliContext *ctx, int argc, char **argv, bool pause)
{
    StrList syncs = {0};
    int code = EXIT_FAIL;

    if (argc < 1)
        return cli_error("usage: bucardo %s SYNC ... | all", pause ? "pause" : "resume");
    if (!cli_select_syncs(ctx, argc, argv, &syncs, NULL) || !require_running(ctx))
        goto out;
    for (int i = 0; i < syncs.count; i++) {
        const char *name = syncs.items[i];
        if (!named_explicitly(argc, argv, name)) {
            int active = cli_row_exists(ctx->cat, SQL_SYNC_ACTIVE, name);
            if (active < 0)
                goto out;
            if (active == 0)
                continue;
        }
        if (!notify(ctx, pause ? CHANNEL_PAUSE : CHANNEL_RESUME, name))
            goto out;
        cli_say(ctx, "%s sync %s\n", pause ? "Pausing" : "Resuming", name);
    }
    code = EXIT_OK;
out:
    strlist_free(&syncs);
    return code;
}

int cmd_pause(CliContext *ctx, int argc, char **argv)
{
    return pause_resume(ctx, argc, argv, true);
}

int cmd_resume(CliContext *ctx, int argc, char **argv)
{
    return pause_resume(ctx, argc, argv, false);
}
