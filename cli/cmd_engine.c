/*
 * cli/cmd_engine.c - talking to the running engine through its catalog
 * connection: `ping` and `message`.
 *
 * Both go over the same path as kick and reload: a NOTIFY on the catalog,
 * which the engine's controller LISTENs to.  `ping` then LISTENs for the
 * answer (CHANNEL_PONG, sent by the controller's own loop), so an OK means
 * the engine reads its catalog connection, not only that a pid file names
 * a live process.  The output is a Nagios plugin's: one "OK: ..." or
 * "CRITICAL: ..." line, exit 0 or 1, as Bucardo's.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "cli.h"
#include "daemon.h"

/* now_ms - a monotonic clock in milliseconds. */
static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/*
 * wait_pong - up to timeout_s seconds (0: for ever) for a notification on
 * CHANNEL_PONG on conn (outside a transaction); its payload (the engine's
 * pid) into pid.  False on timeout or a lost connection.
 */
static bool wait_pong(PGconn *conn, long timeout_s, char *pid, size_t len)
{
    long start = now_ms();

    for (;;) {
        struct pollfd fd = {PQsocket(conn), POLLIN, 0};
        long left = timeout_s > 0 ? timeout_s * 1000L - (now_ms() - start) : 1000;
        PGnotify *n;

        if (!PQconsumeInput(conn))
            return false;
        while ((n = PQnotifies(conn)) != NULL) {
            bool pong = strcmp(n->relname, CHANNEL_PONG) == 0;
            if (pong)
                snprintf(pid, len, "%s", n->extra[0] ? n->extra : "?");
            PQfreemem(n);
            if (pong)
                return true;
        }
        if (left <= 0)
            return false;
        if (fd.fd < 0 || poll(&fd, 1, (int)(left > 1000 ? 1000 : left)) < 0)
            return false;
    }
}

/*
 * cmd_ping - `bucardo ping [TIMEOUT]` (seconds, default 15, 0: no limit).
 * Bucardo takes the first word that starts with digits as the timeout.
 */
int cmd_ping(CliContext *ctx, int argc, char **argv)
{
    long timeout = 15, start;
    char pid[32];
    const char *params[2] = {CHANNEL_PING, ""};

    if (argc > 1 || (argc == 1 && !parse_int(argv[0], 0, 86400, &timeout)))
        return cli_error("usage: bucardo ping [TIMEOUT]  (seconds, 0 to 86400)");
    if (ctx->verbose > 0)
        printf("Pinging MCP, timeout = %ld\n", timeout);
    if (cli_catalog(ctx) == NULL) {
        printf("CRITICAL: cannot connect to the Bucardo catalog\n");
        return EXIT_FAIL;
    }
    start = now_ms();
    if (!pg_exec(ctx->cat, "catalog", "LISTEN " CHANNEL_PONG, 0, NULL) ||
        !pg_exec(ctx->cat, "catalog", "SELECT pg_notify($1, $2)", 2, params) ||
        !pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL)) {
        printf("CRITICAL: cannot send a ping on the catalog\n");
        return EXIT_FAIL;
    }
    if (wait_pong(ctx->cat, timeout, pid, sizeof(pid))) {
        if (ctx->quiet <= 0)
            printf("OK: Got response from PID %s\n", pid);
        return pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL) ? EXIT_OK : EXIT_FAIL;
    }
    if (ctx->quiet <= 0)
        printf("CRITICAL: Timed out (%ld s), no ping response from MCP\n", (now_ms() - start + 500) / 1000);
    /* The command's transaction ends with the BEGIN it began in. */
    if (!pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL))
        return EXIT_FAIL;
    return EXIT_FAIL;
}

/*
 * cmd_message - `bucardo message TEXT ...`: the words joined by blanks go
 * to the running engine, which logs "MESSAGE: TEXT".  Control characters
 * become blanks, so a message is one log line and cannot forge others.
 * A NOTIFY is lost when no engine listens, so the engine must be running
 * (Bucardo queues the message in a table; here it is refused at once).
 */
int cmd_message(CliContext *ctx, int argc, char **argv)
{
    StrBuf text;
    const char *params[2] = {CHANNEL_MESSAGE, NULL};
    char *piddir;
    long pid;
    bool ok;

    if (argc < 1)
        return cli_error("usage: bucardo message TEXT");
    strbuf_init(&text);
    for (int i = 0; i < argc; i++)
        strbuf_printf(&text, "%s%s", i ? " " : "", argv[i]);
    for (size_t i = 0; i < text.len; i++)
        if ((unsigned char)text.data[i] < 0x20 || text.data[i] == 0x7f)
            text.data[i] = ' ';
    if (text.len == 0 || text.len > 7000) {
        strbuf_free(&text);
        return cli_error("message: the text must be 1 to 7000 bytes");
    }
    if (cli_catalog(ctx) == NULL) {
        strbuf_free(&text);
        return EXIT_FAIL;
    }
    piddir = ctx->piddir ? xstrdup(ctx->piddir) : catalog_get_setting(ctx->cat, "piddir");
    pid = piddir ? daemon_running_pid(piddir) : 0;
    free(piddir);
    if (pid <= 0) {
        strbuf_free(&text);
        return cli_error("Bucardo is not running: the message would reach no log");
    }
    params[1] = text.data;
    ok = pg_exec(ctx->cat, "catalog", "SELECT pg_notify($1, $2)", 2, params);
    strbuf_free(&text);
    if (!ok)
        return EXIT_FAIL;
    if (ctx->verbose > 0)
        cli_say(ctx, "Added message\n");
    return EXIT_OK;
}

/*
 * cli_engine_confirm - wait up to timeout seconds (0: no limit) until the
 * running engine says sync's worker is running (want_running) or gone.
 * The question is a ping carrying the sync's name, answered from the
 * controller's loop after every notification sent before it - so after
 * the reload the caller committed.  Runs outside a transaction, and leaves
 * one open (BEGIN) as the command's session expects.  *pid gets the
 * engine's pid.  False on timeout or error (said on stderr).
 */
bool cli_engine_confirm(CliContext *ctx, const char *sync, bool want_running, long timeout, char *pid,
                        size_t pidlen)
{
    const char *params[2] = {CHANNEL_PING, sync};
    long start = now_ms();
    bool ok = false;

    if (!pg_exec(ctx->cat, "catalog", "LISTEN " CHANNEL_PONG, 0, NULL) ||
        !pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL))
        return false;
    while (!ok) {
        char answer[512];
        long left = timeout > 0 ? timeout - (now_ms() - start) / 1000 : 1;
        if (left <= 0) {
            cli_error("the engine did not confirm sync \"%s\" within %ld s", sync, timeout);
            break;
        }
        if (!pg_exec(ctx->cat, "catalog", "SELECT pg_notify($1, $2)", 2, params))
            break;
        /* Pongs to other pings (no sync, or another sync) are skipped. */
        while (wait_pong(ctx->cat, left < 1 ? 1 : (left > 1 ? 1 : left), answer, sizeof(answer))) {
            char *t1 = strchr(answer, '\t'), *t2 = t1 ? strrchr(answer, '\t') : NULL;
            if (t1 == NULL || t2 == t1 || (size_t)(t2 - t1 - 1) != strlen(sync) ||
                strncmp(t1 + 1, sync, strlen(sync)) != 0)
                continue;
            *t1 = '\0';
            snprintf(pid, pidlen, "%s", answer);
            ok = strcmp(t2 + 1, want_running ? "running" : "stopped") == 0;
            break;
        }
    }
    if (!pg_exec(ctx->cat, "catalog", "UNLISTEN " CHANNEL_PONG, 0, NULL) ||
        !pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL))
        return false;
    return ok;
}
