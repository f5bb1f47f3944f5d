/*
 * engine/common/log.c - the engine's log sink.
 *
 * The sink (file or syslog) and level are set once by the daemon before
 * threads start (or by the CLI at its start, log_to_stderr) and never
 * change afterwards, so they are the daemon's
 * top-level state, read-only for every thread.  Each line is formatted into
 * a local buffer and written with one write(2) on an O_APPEND descriptor,
 * so lines of different threads never interleave.
 */
#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static bool log_syslog;
static LogLevel log_level = LOG_INFO_LVL;
static _Thread_local char thread_name[80] = "main";

bool log_open(const char *path, LogLevel level)
{
    log_level = level;
    if (path == NULL) {
        openlog("bucardo", LOG_PID, LOG_DAEMON);
        log_syslog = true;
        return true;
    }
    log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return log_fd >= 0;
}

void log_to_stderr(LogLevel level)
{
    log_level = level;
}

void log_close(void)
{
    if (log_syslog)
        closelog();
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    log_syslog = false;
}

bool log_enabled(LogLevel level)
{
    return level <= log_level;
}

void log_set_thread_name(const char *name)
{
    snprintf(thread_name, sizeof(thread_name), "%s", name);
}

void log_msg(LogLevel level, const char *fmt, ...)
{
    static const char *const names[] = {"ERROR", "WARNING", "INFO", "DEBUG"};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    char line[4096];
    size_t n = 0;
    va_list ap;

    if (!log_enabled(level))
        return;
    if (!log_syslog) {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03d [%d] %s: ", (int)(tv.tv_usec / 1000),
                              (int)getpid(), names[level]);
    }
    n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ", thread_name);
    va_start(ap, fmt);
    if (n < sizeof(line))
        n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    while (n > 0 && line[n - 1] == '\n')
        n--;
    if (log_syslog) {
        line[n] = '\0';
        syslog(prio[level], "%s", line);
        return;
    }
    line[n++] = '\n';
    if (log_fd >= 0 && write(log_fd, line, n) < 0) {
        /* Nowhere left to report a failing log; keep replicating. */
    } else if (log_fd < 0) {
        fwrite(line, 1, n, stderr);
    }
}
