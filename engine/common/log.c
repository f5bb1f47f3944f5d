/*
 * engine/common/log.c - the engine's log sink.
 *
 * The destinations and the line format are set once by log_configure
 * (the daemon, before any thread starts; or log_to_stderr, by the CLI) and
 * are read-only afterwards: they are the daemon's top-level state.  What
 * changes later is only the file behind a descriptor: log_reopen opens each
 * file by name again and dup3()s it onto the descriptor number every
 * thread uses, an atomic swap in the kernel, so a line is written whole to
 * the old file or whole to the new one.  Each line is formatted into a
 * local buffer and written with one write(2) per destination on O_APPEND
 * descriptors, so lines of different threads never interleave.
 *
 * With --log-separate a sync's threads write to the sync's own file in
 * each directory (log.bucardo[.EXT].sync.NAME): the files are opened when
 * the sync's first thread names itself, kept in a list under a mutex (the
 * only lock, taken at thread start and at reopen, never per line) and
 * found again through a thread-local pointer.
 *
 * A line: [time] [pid] [LEVEL:] [#file:line] [sync S ]role: message, each
 * part per its setting (log_showtime, log_showpid, log_showlevel,
 * log_showline, log_showsyncname).  Syslog gets the role and message only:
 * it stamps time, pid and priority itself.
 */
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

typedef enum DestKind { D_FILE, D_STDERR, D_STDOUT, D_SYSLOG } DestKind;

typedef struct Dest {
    DestKind kind;
    char *dir;  /* D_FILE */
    char *path; /* D_FILE: dir/log.bucardo[.EXT] */
    int fd;
} Dest;

/* A sync's own files (--log-separate), one per directory destination. */
typedef struct SepFile {
    char *sync;
    char *paths[LOG_MAX_DESTS];
    int fds[LOG_MAX_DESTS];
    struct SepFile *next;
} SepFile;

/* The sink: set by log_configure / log_to_stderr before threads start. */
static Dest dests[LOG_MAX_DESTS];
static int ndests;
static bool configured; /* false: the CLI's stderr */
static LogLevel log_level = LOG_INFO_LVL;
static LogOptions fmt;
static char timer_format[128];
static char *extension;
static char *warn_path, *conflict_path;
static int warn_fd = -1, conflict_fd = -1;
static bool use_syslog;
/* --log-separate: the list only grows; the mutex guards it. */
static SepFile *sep_files;
static pthread_mutex_t sep_lock = PTHREAD_MUTEX_INITIALIZER;

static _Thread_local char thread_name[160] = "main";
static _Thread_local SepFile *thread_sep;

static const char *const LEVEL_NAMES[] = {"ERROR", "WARNING", "INFO", "VERBOSE", "DEBUG"};

void log_options_default(LogOptions *o)
{
    memset(o, 0, sizeof(*o));
    o->level = LOG_INFO_LVL;
    o->showtime = 3;
    o->showpid = true;
    o->showlevel = true;
    o->showsyncname = true;
    o->syslog_facility = LOG_LOCAL1;
}

bool log_level_parse(const char *word, LogLevel *out)
{
    static const struct {
        const char *name;
        LogLevel level;
    } map[] = {{"terse", LOG_WARN_LVL},
               {"normal", LOG_INFO_LVL},
               {"verbose", LOG_VERBOSE_LVL},
               {"debug", LOG_DEBUG_LVL}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(word, map[i].name) == 0) {
            *out = map[i].level;
            return true;
        }
    return false;
}

bool log_facility_parse(const char *word, int *out)
{
    static const struct {
        const char *name;
        int facility;
    } map[] = {{"LOG_USER", LOG_USER},     {"LOG_DAEMON", LOG_DAEMON}, {"LOG_LOCAL0", LOG_LOCAL0},
               {"LOG_LOCAL1", LOG_LOCAL1}, {"LOG_LOCAL2", LOG_LOCAL2}, {"LOG_LOCAL3", LOG_LOCAL3},
               {"LOG_LOCAL4", LOG_LOCAL4}, {"LOG_LOCAL5", LOG_LOCAL5}, {"LOG_LOCAL6", LOG_LOCAL6},
               {"LOG_LOCAL7", LOG_LOCAL7}};
    const char *w = strncasecmp(word, "LOG_", 4) == 0 ? word + 4 : word;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(w, map[i].name + 4) == 0) {
            *out = map[i].facility;
            return true;
        }
    return false;
}

static int open_append(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* clean_dir - --log-clean: remove log.bucardo and log.bucardo.* in dir. */
static void clean_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "log.bucardo") != 0 && strncmp(e->d_name, "log.bucardo.", 12) != 0)
            continue;
        char *p = xasprintf("%s/%s", dir, e->d_name);
        if (unlink(p) != 0)
            fprintf(stderr, "bucardo: cannot remove old log %s: %s\n", p, strerror(errno));
        free(p);
    }
    closedir(d);
}

bool log_configure(const LogOptions *o, char *err, size_t errlen)
{
    fmt = *o;
    log_level = o->level;
    snprintf(timer_format, sizeof(timer_format), "%s",
             o->timer_format && o->timer_format[0] ? o->timer_format : "%Y-%m-%d %H:%M:%S");
    fmt.timer_format = timer_format;
    extension = o->extension && o->extension[0] ? xstrdup(o->extension) : NULL;
    ndests = 0;
    for (int i = 0; i < o->ndests; i++) {
        const char *d = o->dests[i];
        Dest *x = &dests[ndests];
        bool dup = false;
        if (strcmp(d, "none") == 0) {
            /* Bucardo: any "none" means no log at all. */
            for (int k = 0; k < ndests; k++)
                if (dests[k].kind == D_FILE)
                    close(dests[k].fd);
            ndests = 0;
            break;
        }
        for (int k = 0; k < ndests; k++)
            dup |= (dests[k].kind == D_FILE && strcmp(dests[k].dir, d) == 0) ||
                   (dests[k].kind != D_FILE && strcmp(d, dests[k].kind == D_STDERR   ? "stderr"
                                                         : dests[k].kind == D_STDOUT ? "stdout"
                                                                                     : "syslog") == 0);
        if (dup)
            continue;
        memset(x, 0, sizeof(*x));
        x->fd = -1;
        if (strcmp(d, "stderr") == 0)
            x->kind = D_STDERR;
        else if (strcmp(d, "stdout") == 0)
            x->kind = D_STDOUT;
        else if (strcmp(d, "syslog") == 0) {
            x->kind = D_SYSLOG;
            openlog("bucardo", LOG_PID | LOG_NDELAY, o->syslog_facility);
            use_syslog = true;
        } else {
            x->kind = D_FILE;
            if (o->clean)
                clean_dir(d);
            x->dir = xstrdup(d);
            x->path =
                extension ? xasprintf("%s/log.bucardo.%s", d, extension) : xasprintf("%s/log.bucardo", d);
            x->fd = open_append(x->path);
            if (x->fd < 0) {
                snprintf(err, errlen, "cannot open the log file %s: %s", x->path, strerror(errno));
                free(x->dir);
                free(x->path);
                return false;
            }
        }
        ndests++;
    }
    if (o->warning_file && o->warning_file[0]) {
        warn_path = xstrdup(o->warning_file);
        if ((warn_fd = open_append(warn_path)) < 0) {
            snprintf(err, errlen, "cannot open the warning_file %s: %s", warn_path, strerror(errno));
            return false;
        }
    }
    if (o->conflict_file && o->conflict_file[0]) {
        conflict_path = xstrdup(o->conflict_file);
        if ((conflict_fd = open_append(conflict_path)) < 0) {
            snprintf(err, errlen, "cannot open the log_conflict_file %s: %s", conflict_path, strerror(errno));
            return false;
        }
    }
    configured = true;
    return true;
}

const char *log_main_file(void)
{
    for (int i = 0; i < ndests; i++)
        if (dests[i].kind == D_FILE)
            return dests[i].path;
    return NULL;
}

/* reopen_fd - open path again and put it under the number fd. */
static bool reopen_fd(const char *path, int fd)
{
    int nfd = open_append(path);
    bool ok;

    if (nfd < 0) {
        log_error("cannot reopen the log file %s: %s", path, strerror(errno));
        return false;
    }
    ok = dup3(nfd, fd, O_CLOEXEC) >= 0;
    if (!ok)
        log_error("cannot reopen the log file %s: %s", path, strerror(errno));
    close(nfd);
    return ok;
}

bool log_reopen(void)
{
    bool ok = true;

    for (int i = 0; i < ndests; i++)
        if (dests[i].kind == D_FILE)
            ok &= reopen_fd(dests[i].path, dests[i].fd);
    if (warn_fd >= 0)
        ok &= reopen_fd(warn_path, warn_fd);
    if (conflict_fd >= 0)
        ok &= reopen_fd(conflict_path, conflict_fd);
    pthread_mutex_lock(&sep_lock);
    for (SepFile *s = sep_files; s; s = s->next)
        for (int i = 0; i < ndests; i++)
            if (s->fds[i] >= 0)
                ok &= reopen_fd(s->paths[i], s->fds[i]);
    pthread_mutex_unlock(&sep_lock);
    return ok;
}

void log_to_stderr(LogLevel level)
{
    log_level = level;
}

void log_close(void)
{
    if (use_syslog)
        closelog();
    for (int i = 0; i < ndests; i++) {
        if (dests[i].kind == D_FILE) {
            close(dests[i].fd);
            free(dests[i].dir);
            free(dests[i].path);
        }
    }
    ndests = 0;
    if (warn_fd >= 0)
        close(warn_fd);
    if (conflict_fd >= 0)
        close(conflict_fd);
    warn_fd = conflict_fd = -1;
    free(warn_path);
    free(conflict_path);
    warn_path = conflict_path = NULL;
    pthread_mutex_lock(&sep_lock);
    while (sep_files) {
        SepFile *s = sep_files;
        sep_files = s->next;
        for (int i = 0; i < LOG_MAX_DESTS; i++) {
            if (s->fds[i] >= 0)
                close(s->fds[i]);
            free(s->paths[i]);
        }
        free(s->sync);
        free(s);
    }
    pthread_mutex_unlock(&sep_lock);
    free(extension);
    extension = NULL;
    use_syslog = false;
    configured = false;
}

bool log_enabled(LogLevel level)
{
    return level <= log_level;
}

/* separate_file - the sync's own files (opened at its first thread). */
static SepFile *separate_file(const char *sync)
{
    SepFile *s;

    pthread_mutex_lock(&sep_lock);
    for (s = sep_files; s; s = s->next)
        if (strcmp(s->sync, sync) == 0)
            break;
    if (s == NULL) {
        char safe[64];
        size_t n = 0;
        /* A sync name may hold anything: keep the file name a plain word. */
        for (const char *p = sync; *p && n < sizeof(safe) - 1; p++)
            safe[n++] = (*p == '/' || (unsigned char)*p < 0x20 || *p == 0x7f) ? '_' : *p;
        safe[n] = '\0';
        s = xcalloc(1, sizeof(*s));
        s->sync = xstrdup(sync);
        for (int i = 0; i < LOG_MAX_DESTS; i++)
            s->fds[i] = -1;
        for (int i = 0; i < ndests; i++) {
            if (dests[i].kind != D_FILE)
                continue;
            s->paths[i] = xasprintf("%s.sync.%s", dests[i].path, safe);
            s->fds[i] = open_append(s->paths[i]);
            if (s->fds[i] < 0) {
                /* Its lines go to the main file instead, as before. */
                fprintf(stderr, "bucardo: cannot open %s: %s\n", s->paths[i], strerror(errno));
            }
        }
        s->next = sep_files;
        sep_files = s;
    }
    pthread_mutex_unlock(&sep_lock);
    return s;
}

void log_set_thread_name(const char *sync, const char *role)
{
    if (sync == NULL)
        snprintf(thread_name, sizeof(thread_name), "%s", role);
    else if (!configured || fmt.showsyncname)
        snprintf(thread_name, sizeof(thread_name), "sync %s%s%s", sync, role[0] ? " " : "", role);
    else
        snprintf(thread_name, sizeof(thread_name), "%s", role[0] ? role : "sync");
    thread_sep = configured && fmt.separate && sync ? separate_file(sync) : NULL;
}

static void write_all(int fd, const char *buf, size_t n)
{
    if (write(fd, buf, n) < 0) {
        /* Nowhere left to report a failing log; keep replicating. */
    }
}

/* format_line - the header and message into line; returns the length
 * (without a newline); *body: where the role begins (for syslog). */
static size_t format_line(char *line, size_t cap, LogLevel level, const char *file, int lineno, size_t *body,
                          const char *fmtstr, va_list ap)
{
    size_t n = 0;

    if (!configured || fmt.showtime) {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        if (configured && fmt.showtime == 1) {
            n += (size_t)snprintf(line + n, cap - n, "%ld", (long)tv.tv_sec);
        } else {
            if (configured && fmt.showtime == 2)
                gmtime_r(&tv.tv_sec, &tm);
            else
                localtime_r(&tv.tv_sec, &tm);
            n += strftime(line + n, cap - n, configured ? timer_format : "%Y-%m-%d %H:%M:%S", &tm);
        }
        if (!configured)
            n += (size_t)snprintf(line + n, cap - n, ".%03d", (int)(tv.tv_usec / 1000));
        else if (fmt.microsecond)
            n += (size_t)snprintf(line + n, cap - n, ".%06ld", (long)tv.tv_usec);
        if (configured && fmt.showtime == 2 && strcmp(timer_format, "%Y-%m-%d %H:%M:%S") == 0)
            n += (size_t)snprintf(line + n, cap - n, " UTC");
        line[n++] = ' ';
    }
    if (!configured || fmt.showpid)
        n += (size_t)snprintf(line + n, cap - n, "[%d] ", (int)getpid());
    if (!configured || fmt.showlevel)
        n += (size_t)snprintf(line + n, cap - n, "%s: ", LEVEL_NAMES[level]);
    if (configured && fmt.showline) {
        const char *base = strrchr(file, '/');
        n += (size_t)snprintf(line + n, cap - n, "#%s:%d ", base ? base + 1 : file, lineno);
    }
    *body = n;
    n += (size_t)snprintf(line + n, cap - n, "%s: ", thread_name);
    if (n < cap)
        n += (size_t)vsnprintf(line + n, cap - n, fmtstr, ap);
    if (n >= cap - 1)
        n = cap - 2;
    while (n > 0 && line[n - 1] == '\n')
        n--;
    return n;
}

/* emit - one formatted line (line[n] may be overwritten) to every sink. */
static void emit(LogLevel level, char *line, size_t n, size_t body)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_INFO, LOG_DEBUG};
    SepFile *sep = thread_sep;

    if (!configured) {
        line[n] = '\n';
        write_all(STDERR_FILENO, line, n + 1);
        return;
    }
    for (int i = 0; i < ndests; i++)
        if (dests[i].kind == D_SYSLOG) {
            line[n] = '\0';
            syslog(prio[level], "%s", line + body);
        }
    line[n] = '\n';
    for (int i = 0; i < ndests; i++) {
        switch (dests[i].kind) {
        case D_FILE: write_all(sep && sep->fds[i] >= 0 ? sep->fds[i] : dests[i].fd, line, n + 1); break;
        case D_STDERR: write_all(STDERR_FILENO, line, n + 1); break;
        case D_STDOUT: write_all(STDOUT_FILENO, line, n + 1); break;
        case D_SYSLOG: break;
        }
    }
    if (warn_fd >= 0 && level <= LOG_WARN_LVL)
        write_all(warn_fd, line, n + 1);
}

void log_write(LogLevel level, const char *file, int lineno, const char *fmtstr, ...)
{
    char line[4096];
    size_t n, body;
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmtstr);
    n = format_line(line, sizeof(line), level, file, lineno, &body, fmtstr, ap);
    va_end(ap);
    emit(level, line, n, body);
}

void log_conflict_at(const char *file, int lineno, const char *fmtstr, ...)
{
    char line[4096];
    size_t n, body;
    va_list ap;

    if (!log_enabled(LOG_INFO_LVL) && conflict_fd < 0)
        return;
    va_start(ap, fmtstr);
    n = format_line(line, sizeof(line), LOG_INFO_LVL, file, lineno, &body, fmtstr, ap);
    va_end(ap);
    if (conflict_fd >= 0) {
        line[n] = '\n';
        write_all(conflict_fd, line, n + 1);
    }
    if (log_enabled(LOG_INFO_LVL))
        emit(LOG_INFO_LVL, line, n, body);
}
