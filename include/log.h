/*
 * include/log.h - the engine's log: one line per event, to a file
 * (log.bucardo by default) or to syslog, safe to call from any thread.
 *
 * Lines carry a timestamp, the level and the thread's role (e.g. "sync
 * benchdelta"), so an error names what failed.  Debug lines cost one
 * integer comparison when the level is lower.
 */
#ifndef BUCARDO_LOG_H
#define BUCARDO_LOG_H

#include <stdbool.h>

#include "util.h"

typedef enum LogLevel { LOG_ERROR_LVL, LOG_WARN_LVL, LOG_INFO_LVL, LOG_DEBUG_LVL } LogLevel;

/*
 * log_open - send the log to `path` (appending), or to syslog when path is
 * NULL.  Called once by the daemon before any thread starts.
 */
bool log_open(const char *path, LogLevel level) MUST_CHECK;
void log_close(void);

/*
 * log_to_stderr - before log_open (or without it): lines of `level` and
 * worse go to stderr.  The CLI runs engine code (validate, compare) and
 * keeps only its warnings and errors: the engine's INFO lines ("connected
 * to source ...") would land in the middle of the command's own output.
 */
void log_to_stderr(LogLevel level);
bool log_enabled(LogLevel level);
void log_msg(LogLevel level, const char *fmt, ...) PRINTF_LIKE(2, 3);

#define log_error(...) log_msg(LOG_ERROR_LVL, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN_LVL, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO_LVL, __VA_ARGS__)
#define log_debug(...)                                                                                       \
    do {                                                                                                     \
        if (log_enabled(LOG_DEBUG_LVL))                                                                      \
            log_msg(LOG_DEBUG_LVL, __VA_ARGS__);                                                             \
    } while (0)

/* log_set_thread_name - the role shown on this thread's lines (copied). */
void log_set_thread_name(const char *name);

#endif
