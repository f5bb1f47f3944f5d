/*
 * cli/cmd_logging.c - what `start` hands the engine about its log, the
 * reason file of `start "reason"` / `stop "reason"`, and `bucardo reopen`.
 *
 * Where the log goes (Bucardo's rules, bucardo's option handling): the
 * --log-destination options (repeatable: directories, stderr, stdout,
 * syslog, none); without any, the legacy --debugfile=0 (no log) or
 * --debugdir DIR, plus --debugsyslog=1; without those, the default
 * directory.  The default is Bucardo's /var/log/bucardo when it is (or can
 * be made) a writable directory, else $XDG_STATE_HOME/bucardo (by default
 * ~/.local/state/bucardo), created when missing: never the directory
 * `start` happens to run in.  The line format comes from the catalog's
 * log_* settings, --log-level and --log-showline overriding theirs.
 * warning_file, log_conflict_file and reason_file name files; a relative
 * name is taken in the first log directory (or the default one).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "cli.h"
#include "daemon.h"

#define DEFAULT_LOG_DIR "/var/log/bucardo"

static const char SQL_LOG_SETTINGS[] = "SELECT name, setting FROM bucardo.config"
                                       " WHERE name IN ('log_level', 'log_showtime', 'log_showpid',"
                                       "  'log_showlevel', 'log_showline', 'log_microsecond',"
                                       "  'log_timer_format', 'log_showsyncname', 'syslog_facility',"
                                       "  'warning_file', 'log_conflict_file', 'reason_file')";

/* is_writable_dir - a directory we may create files in. */
static bool is_writable_dir(const char *dir)
{
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
}

/* mkdir_p - create dir and its missing parents (mode 0755 / 0700 for the last). */
static bool mkdir_p(const char *dir, mode_t mode)
{
    char *copy = xstrdup(dir);
    bool ok = true;

    for (char *p = copy + 1; ok && *p; p++)
        if (*p == '/') {
            *p = '\0';
            ok = mkdir(copy, 0755) == 0 || errno == EEXIST;
            *p = '/';
        }
    ok = ok && (mkdir(copy, mode) == 0 || errno == EEXIST);
    free(copy);
    return ok && is_writable_dir(dir);
}

char *cli_default_log_dir(void)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char *dir;

    if (is_writable_dir(DEFAULT_LOG_DIR) ||
        (mkdir(DEFAULT_LOG_DIR, 0755) == 0 && is_writable_dir(DEFAULT_LOG_DIR)))
        return xstrdup(DEFAULT_LOG_DIR);
    if (state && state[0] == '/')
        dir = xasprintf("%s/bucardo", state);
    else if (home && home[0] == '/')
        dir = xasprintf("%s/.local/state/bucardo", home);
    else
        return NULL;
    if (mkdir_p(dir, 0700))
        return dir;
    free(dir);
    return NULL;
}

void log_setup_free(LogSetup *s)
{
    strlist_free(&s->owned);
    s->reason_file = NULL;
}

/* keep - a copy owned by the setup. */
static const char *keep(LogSetup *s, char *str)
{
    strlist_add(&s->owned, str);
    free(str);
    return s->owned.items[s->owned.count - 1];
}

/* in_dir - an absolute path for a file setting ("" or NULL: none). */
static const char *in_dir(LogSetup *s, const char *dir, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return NULL;
    if (name[0] == '/')
        return keep(s, xstrdup(name));
    return keep(s, xasprintf("%s/%s", dir, name));
}

static bool flag_setting(const char *name, const char *value, bool *out)
{
    if (!parse_bool(value, out))
        return cli_error("setting %s is \"%s\", not 0 or 1", name, value) == 0;
    return true;
}

bool cli_log_setup(CliContext *ctx, LogSetup *s)
{
    LogOptions *o = &s->opts;
    const char *filedir = NULL, *warning_file = "bucardo.warning.log",
               *conflict_file = "bucardo_conflict.log", *reason_file = "bucardo.restart.reason.txt";
    bool none = false;
    PGresult *res;

    memset(s, 0, sizeof(*s));
    log_options_default(o);
    /* Destinations. */
    if (ctx->log_dests.count > 0) {
        for (int i = 0; i < ctx->log_dests.count; i++)
            strlist_add(&s->owned, ctx->log_dests.items[i]);
    } else if (ctx->debugfile && strcmp(ctx->debugfile, "0") == 0) {
        none = true;
    } else if (ctx->debugdir) {
        strlist_add(&s->owned, ctx->debugdir);
    } else {
        char *dir = cli_default_log_dir();
        if (dir == NULL)
            return cli_error("no log directory: %s is not writable and there is no HOME for the fallback"
                             " (give --log-destination)",
                             DEFAULT_LOG_DIR) == 0;
        strlist_add(&s->owned, dir);
        free(dir);
    }
    if (ctx->log_dests.count == 0 && ctx->debugsyslog && strcmp(ctx->debugsyslog, "0") != 0)
        strlist_add(&s->owned, "syslog");
    if (none && s->owned.count == 0)
        strlist_add(&s->owned, "none");
    for (int i = 0; i < s->owned.count; i++)
        none |= strcmp(s->owned.items[i], "none") == 0;
    if (s->owned.count > LOG_MAX_DESTS)
        return cli_error("at most %d log destinations", LOG_MAX_DESTS) == 0;
    for (int i = 0; i < s->owned.count; i++) {
        const char *d = s->owned.items[i];
        bool special = strcmp(d, "stderr") == 0 || strcmp(d, "stdout") == 0 || strcmp(d, "syslog") == 0 ||
                       strcmp(d, "none") == 0;
        if (!special) {
            char real[4096];
            if (!is_writable_dir(d))
                return cli_error("log destination \"%s\" is not a writable directory (or stderr, stdout,"
                                 " syslog, none)",
                                 d) == 0;
            /* The engine runs in another directory: make it absolute. */
            if (realpath(d, real) == NULL)
                return cli_error("log destination \"%s\": %s", d, strerror(errno)) == 0;
            free(s->owned.items[i]);
            s->owned.items[i] = xstrdup(real);
            d = s->owned.items[i];
            if (filedir == NULL)
                filedir = d;
        }
    }
    /* The items stay put from here on (nothing else is added before they
     * are copied into o->dests). */
    o->ndests = s->owned.count;
    for (int i = 0; i < o->ndests; i++)
        o->dests[i] = s->owned.items[i];
    o->extension = ctx->log_extension;
    o->separate = ctx->log_separate;
    o->clean = ctx->log_clean || (ctx->cleandebugs && strcmp(ctx->cleandebugs, "0") != 0);

    /* Settings. */
    res = pg_query(ctx->cat, "catalog", SQL_LOG_SETTINGS, 0, NULL);
    if (res == NULL)
        return false;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *name = PQgetvalue(res, r, 0), *value = PQgetvalue(res, r, 1);
        bool ok = true;
        long n;
        if (strcmp(name, "log_level") == 0 && ctx->log_level == NULL)
            ok = log_level_parse(value, &o->level) ||
                 cli_error("setting log_level is \"%s\", not terse, normal, verbose or debug", value) == 0;
        else if (strcmp(name, "log_showtime") == 0) {
            ok = parse_int(value, 0, 3, &n) ||
                 cli_error("setting log_showtime is \"%s\", not 0, 1, 2 or 3", value) == 0;
            o->showtime = (int)n;
        } else if (strcmp(name, "log_showpid") == 0)
            ok = flag_setting(name, value, &o->showpid);
        else if (strcmp(name, "log_showlevel") == 0)
            ok = flag_setting(name, value, &o->showlevel);
        else if (strcmp(name, "log_showline") == 0 && ctx->log_showline == NULL)
            ok = flag_setting(name, value, &o->showline);
        else if (strcmp(name, "log_microsecond") == 0)
            ok = flag_setting(name, value, &o->microsecond);
        else if (strcmp(name, "log_showsyncname") == 0)
            ok = flag_setting(name, value, &o->showsyncname);
        else if (strcmp(name, "log_timer_format") == 0)
            o->timer_format = keep(s, xstrdup(value));
        else if (strcmp(name, "syslog_facility") == 0)
            ok = log_facility_parse(value, &o->syslog_facility) ||
                 cli_error("setting syslog_facility is \"%s\", not LOG_LOCAL0..7, LOG_USER or LOG_DAEMON",
                           value) == 0;
        else if (strcmp(name, "warning_file") == 0)
            warning_file = keep(s, xstrdup(value));
        else if (strcmp(name, "log_conflict_file") == 0)
            conflict_file = keep(s, xstrdup(value));
        else if (strcmp(name, "reason_file") == 0)
            reason_file = keep(s, xstrdup(value));
        if (!ok) {
            PQclear(res);
            return false;
        }
    }
    PQclear(res);
    if (ctx->log_level && !log_level_parse(ctx->log_level, &o->level))
        return cli_error("--log-level \"%s\" is not terse, normal, verbose or debug", ctx->log_level) == 0;
    if (ctx->log_showline && !parse_bool(ctx->log_showline, &o->showline))
        return cli_error("--log-showline \"%s\" is not 0 or 1", ctx->log_showline) == 0;
    if (filedir == NULL) {
        char *dir = cli_default_log_dir();
        if (dir == NULL) {
            /* Only absolute file settings can be honoured. */
            dir = xstrdup("/");
            if ((warning_file[0] && warning_file[0] != '/') ||
                (conflict_file[0] && conflict_file[0] != '/') || (reason_file[0] && reason_file[0] != '/')) {
                free(dir);
                return cli_error("no directory for warning_file, log_conflict_file and reason_file:"
                                 " give them absolute paths or a --log-destination directory") == 0;
            }
        }
        filedir = keep(s, dir);
    }
    o->warning_file = none ? NULL : in_dir(s, filedir, warning_file);
    o->conflict_file = none ? NULL : in_dir(s, filedir, conflict_file);
    s->reason_file = in_dir(s, filedir, reason_file);
    return true;
}

bool cli_reason_write(const char *reason_file, const char *event, int argc, char **argv)
{
    char stamp[64], *logname;
    StrBuf line;
    time_t now = time(NULL);
    struct tm tm;
    FILE *f;
    const char *dot, *slash;
    bool ok = true;

    if (reason_file == NULL)
        return true;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%a %b %e %H:%M:%S %Y", &tm);
    strbuf_init(&line);
    strbuf_printf(&line, "%s | %-5s | ", stamp, event);
    for (int i = 0; i < argc; i++)
        strbuf_printf(&line, "%s%s", i ? " " : "", argv[i]);
    strbuf_append(&line, "\n");
    /* Bucardo: the reason log is the reason file's name ending in .log. */
    dot = strrchr(reason_file, '.');
    slash = strrchr(reason_file, '/');
    if (dot && (slash == NULL || dot > slash + 1))
        logname = xasprintf("%.*s.log", (int)(dot - reason_file), reason_file);
    else
        logname = xasprintf("%s.log", reason_file);
    if ((f = fopen(reason_file, "w")) == NULL || fputs(line.data, f) < 0 || fclose(f) != 0) {
        ok = cli_error("cannot write the reason file %s: %s", reason_file, strerror(errno)) == 0;
    } else if ((f = fopen(logname, "a")) == NULL || fputs(line.data, f) < 0 || fclose(f) != 0) {
        ok = cli_error("cannot append to the reason log %s: %s", logname, strerror(errno)) == 0;
    }
    free(logname);
    strbuf_free(&line);
    return ok;
}

/*
 * cmd_reopen - SIGUSR2 to the engine (Bucardo's signal for it): it reopens
 * every log file by name.  For logrotate's postrotate, --piddir finds the
 * engine without the catalog.
 */
int cmd_reopen(CliContext *ctx, int argc, char **argv)
{
    char *piddir;
    long pid;
    (void)argv;

    if (argc > 0)
        return cli_error("usage: bucardo reopen [--piddir DIR]");
    if (ctx->piddir) {
        piddir = xstrdup(ctx->piddir);
    } else {
        if (cli_catalog(ctx) == NULL)
            return EXIT_FAIL;
        piddir = catalog_get_setting(ctx->cat, "piddir");
        if (piddir == NULL)
            return cli_error("the catalog has no piddir setting");
    }
    pid = daemon_running_pid(piddir);
    free(piddir);
    if (pid <= 0)
        return cli_error("Bucardo is not running: nothing to reopen");
    if (kill((pid_t)pid, SIGUSR2) != 0)
        return cli_error("cannot signal the engine (pid %ld): %s", pid, strerror(errno));
    if (ctx->quiet == 0)
        printf("Sent USR2 to Bucardo processes\n");
    return EXIT_OK;
}
