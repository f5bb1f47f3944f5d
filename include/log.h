/*
 * include/log.h - the engine's log: one line per event, to any set of
 * destinations at once (files in directories, stderr, stdout, syslog, or
 * none), safe to call from any thread.
 *
 * The destinations and the line format (Bucardo's log_* settings and
 * --log-* options) are fixed by log_configure before any thread starts.
 * Every line is formatted once into a local buffer and written with one
 * write(2) per destination, so lines of different threads never
 * interleave.  log_reopen (the controller, on SIGUSR2 / `bucardo reopen`)
 * reopens every file under the same descriptor numbers (dup2), so a thread
 * writing meanwhile writes its whole line to the old file or to the new
 * one: no line is lost or split by a rotation.  Debug and verbose lines
 * cost one integer comparison when the level is lower.
 */
#ifndef BUCARDO_LOG_H
#define BUCARDO_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Bucardo's levels: terse shows warnings and errors, normal adds INFO,
 * verbose adds VERBOSE, debug everything. */
typedef enum LogLevel { LOG_ERROR_LVL, LOG_WARN_LVL, LOG_INFO_LVL, LOG_VERBOSE_LVL, LOG_DEBUG_LVL } LogLevel;

#define LOG_MAX_DESTS 8

/* The log's configuration, read by `bucardo start` from its options and
 * the catalog's settings.  Strings are borrowed for the call only. */
typedef struct LogOptions {
    const char *dests[LOG_MAX_DESTS]; /* a directory, "stderr", "stdout", "syslog" ("none": nothing) */
    int ndests;
    const char *extension; /* --log-extension: log.bucardo.EXT */
    bool separate;         /* --log-separate: a sync's lines go to log.bucardo[.EXT].sync.NAME */
    bool clean;            /* --log-clean: remove log.bucardo* files of the directories first */
    LogLevel level;
    int showtime;             /* 0 none, 1 epoch seconds, 2 UTC, 3 local time */
    const char *timer_format; /* strftime format for 2 and 3; "" or NULL: %Y-%m-%d %H:%M:%S */
    bool microsecond;         /* .uuuuuu after the time */
    bool showpid, showlevel, showline, showsyncname;
    int syslog_facility;       /* LOG_LOCAL1 etc. */
    const char *warning_file;  /* absolute path: a copy of every WARNING and ERROR line; NULL: none */
    const char *conflict_file; /* absolute path: every conflict line; NULL: none */
} LogOptions;

/* log_options_default - Bucardo's defaults (level normal, local time, pid,
 * level and sync name shown), no destination. */
void log_options_default(LogOptions *o);

/*
 * log_configure - open every destination of `o` (creating files, appending)
 * and make it the sink.  Called once, before any thread starts.  On failure
 * says which file could not be opened in err and logs nowhere new.
 */
bool log_configure(const LogOptions *o, char *err, size_t errlen) MUST_CHECK;

/*
 * log_reopen - reopen every log file by name (after a rotation), keeping
 * the descriptors' numbers.  Controller only.  Returns false (and logs
 * why, to the old file) if one could not be reopened.
 */
bool log_reopen(void);
void log_close(void);

/* log_main_file - the first directory destination's file (for stderr of
 * helpers and for messages naming the log), or NULL. */
const char *log_main_file(void);

/*
 * log_to_stderr - before log_configure (or without it): lines of `level`
 * and worse go to stderr.  The CLI runs engine code (validate, compare) and
 * keeps only its warnings and errors: the engine's INFO lines ("connected
 * to source ...") would land in the middle of the command's own output.
 */
void log_to_stderr(LogLevel level);
bool log_enabled(LogLevel level);
void log_write(LogLevel level, const char *file, int line, const char *fmt, ...) PRINTF_LIKE(4, 5);

/* log_conflict - a conflict line: to the log at INFO and to the conflict
 * file when one is configured (log_conflict_file). */
void log_conflict_at(const char *file, int line, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Parsers for the settings; false when the word is not one. */
bool log_level_parse(const char *word, LogLevel *out);
bool log_facility_parse(const char *word, int *out);

#define log_msg(level, ...) log_write(level, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...)      log_msg(LOG_ERROR_LVL, __VA_ARGS__)
#define log_warn(...)       log_msg(LOG_WARN_LVL, __VA_ARGS__)
#define log_info(...)       log_msg(LOG_INFO_LVL, __VA_ARGS__)
#define log_conflict(...)   log_conflict_at(__FILE__, __LINE__, __VA_ARGS__)
#define log_verbose(...)                                                                                     \
    do {                                                                                                     \
        if (log_enabled(LOG_VERBOSE_LVL))                                                                    \
            log_msg(LOG_VERBOSE_LVL, __VA_ARGS__);                                                           \
    } while (0)
#define log_debug(...)                                                                                       \
    do {                                                                                                     \
        if (log_enabled(LOG_DEBUG_LVL))                                                                      \
            log_msg(LOG_DEBUG_LVL, __VA_ARGS__);                                                             \
    } while (0)

/*
 * log_set_thread_name - this thread's role (copied), shown on its lines:
 * sync is the sync it works for (NULL: none) and role what it does for it
 * ("" for the sync's own thread, "target b", "copy"), or the role alone
 * ("controller").  With log_showsyncname the line shows "sync S role";
 * with --log-separate the thread's lines go to the sync's own file.
 */
void log_set_thread_name(const char *sync, const char *role);

#endif
