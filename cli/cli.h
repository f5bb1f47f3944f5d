/*
 * cli/cli.h - what the command families of the `bucardo` program share: the
 * parsed command line, the catalog connection, and output helpers.
 *
 * Every command runs in one catalog transaction (cli_begin/cli_finish), so
 * a failing command leaves the catalog exactly as it was.  Handlers return
 * an exit code: EXIT_OK, or EXIT_FAIL after printing one line saying why.
 */
#ifndef BUCARDO_CLI_H
#define BUCARDO_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "pgconn.h"
#include "util.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_ERROR = 2 };

/* The parsed command line (options from ~/.bucardorc first, then argv). */
typedef struct CliContext {
    ConnParams catalog;        /* --dbhost --dbport --dbuser --dbname --dbpass */
    const char *piddir;        /* --piddir */
    const char *relgroup;      /* --relgroup */
    const char *db;            /* --db */
    const char *debugfile;     /* --debugfile (legacy: 0 means no log) */
    const char *debugdir;      /* --debugdir (legacy --log-destination DIR) */
    const char *debugsyslog;   /* --debugsyslog (legacy: 1 adds syslog) */
    const char *cleandebugs;   /* --cleandebugs (legacy --log-clean) */
    StrList log_dests;         /* --log-destination, repeatable */
    bool log_dests_rc;         /* log_dests came from the rc file (the command line replaces them) */
    bool reading_rc;           /* options being applied come from the rc file */
    const char *log_extension; /* --log-extension */
    bool log_separate;         /* --log-separate */
    bool log_clean;            /* --log-clean */
    const char *log_level;     /* --log-level: overrides the log_level setting */
    const char *log_showline;  /* --log-showline: overrides log_showline */
    bool batch;                /* --batch: no questions */
    bool force;                /* --force */
    bool foreground;           /* --foreground / -f */
    int verbose;               /* --verbose, repeatable */
    int quiet;                 /* --quiet, repeatable */
    bool repair;               /* --repair (compare) */
    bool json;                 /* --json (compare, status) */
    int debug;                 /* --debug (repeatable) or env BUCARDO_DEBUG */
    bool dryrun;               /* --dryrun: roll back instead of committing */
    bool confirm;              /* --confirm or env BUCARDO_CONFIRM: ask before committing */
    bool notimer;              /* --notimer (kick): no progress bar or timer */
    bool showdays;             /* --show-days (status): "3d 12h" */
    bool compress;             /* --compress (status): no blanks in times */
    int exit_on_nosync;        /* --exit-on-nosync 1, --no-exit-on-nosync 0, unset -1 */
    long sort;                 /* --sort=N (status): +-1..9, 0 unset */
    long retry;                /* --retry=N (kick) */
    long retry_sleep;          /* --retry-sleep=S (kick) */
    const char *tsep;          /* --tsep: thousands separator, NULL: the locale's or ',' */
    const char *extra_name;    /* --extra-name (start): appended to the engine's version and process name */
    int sendmail;              /* --sendmail[=BOOL] (start): -1 not given (on, as Bucardo), 0, 1 */
    bool finish;               /* --finish (upgrade: drop Bucardo's saved objects) */
    StrList tables;            /* -t: only these tables */
    StrList exclude_tables;    /* -T */
    StrList schemas;           /* -n */
    StrList exclude_schemas;   /* -N */
    StrList words;             /* the verb, object kind, names, key=value pairs */
    StrList owned;             /* option values read from files (kept alive) */
    PGconn *cat;               /* open catalog connection, or NULL */
    StrBuf said;               /* cli_say's lines, printed once the transaction commits */
} CliContext;

/* A command handler: argv holds the words after the verb and object kind. */
typedef int (*CliHandler)(CliContext *ctx, int argc, char **argv);

/* The command's session (cli/session.c). */

/* cli_catalog - connect to the catalog and BEGIN; NULL on failure. */
PGconn *cli_catalog(CliContext *ctx) MUST_CHECK;

/* cli_finish - COMMIT when ok, else ROLLBACK; returns the exit code.
 * What cli_say collected is printed after a successful COMMIT, and
 * dropped otherwise. */
int cli_finish(CliContext *ctx, int code);

/*
 * cli_say - a line telling what the command changed in the catalog.  It is
 * held back until the transaction commits: a command that fails half-way
 * prints only its error, never "Added ..." for work it rolled back.
 */
void cli_say(CliContext *ctx, const char *fmt, ...) PRINTF_LIKE(2, 3);

/*
 * cli_info - an informational line on stdout (progress of start, stop,
 * kick...), printed at once unless --quiet.  Output a command exists for
 * (list, status, show...) is printed with printf regardless.
 */
void cli_info(const CliContext *ctx, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* cli_pretty_number - n with Bucardo's thousands separator (--tsep; ','
 * by default; --tsep= empty: none), into buf; returns buf. */
const char *cli_pretty_number(const CliContext *ctx, long n, char *buf, size_t len);

/* cli_debug - a line on stderr when --debug (or BUCARDO_DEBUG) is set. */
void cli_debug(const CliContext *ctx, const char *fmt, ...) PRINTF_LIKE(2, 3);

/*
 * cli_show_all_columns - with -vv (ctx->verbose >= 2), every column of the
 * rows `sql` returns for parameter `key`, one "    name = value" line each,
 * sorted by name (Bucardo's show_all_columns; a password shows as
 * "(hidden)"); nothing below -vv.  False after a failed query.
 */
bool cli_show_all_columns(CliContext *ctx, const char *sql, const char *key) MUST_CHECK;

/* cli_error - print one error line ("bucardo: ...") and return EXIT_FAIL. */
int cli_error(const char *fmt, ...) PRINTF_LIKE(1, 2);

/*
 * A key=value argument list.  cli_kv_parse splits argv (from `first` on)
 * into pairs, refusing words without '=' and keys outside `allowed`
 * (a NULL-terminated list; aliases are mapped by the caller).
 */
typedef struct KeyValues {
    StrList keys;
    StrList values;
} KeyValues;

bool cli_kv_parse(int argc, char **argv, int first, const char *const *allowed, const char *what,
                  KeyValues *out) MUST_CHECK;
const char *cli_kv_get(const KeyValues *kv, const char *key);
void cli_kv_free(KeyValues *kv);

/* Command families (one file each). */
int cmd_install(CliContext *ctx, int argc, char **argv);
int cmd_upgrade(CliContext *ctx, int argc, char **argv);
/* cli/cmd_migrate.c: `bucardo upgrade` on a Bucardo 5 catalog, and --finish. */
bool migrate_is_bucardo5(PGconn *cat);
int migrate_bucardo5(CliContext *ctx, PGconn *cat);
int migrate_finish(CliContext *ctx, PGconn *cat);
int cmd_add_db(CliContext *ctx, int argc, char **argv);
int cmd_remove_db(CliContext *ctx, int argc, char **argv);
int cmd_update_db(CliContext *ctx, int argc, char **argv);
int cmd_list_dbs(CliContext *ctx, int argc, char **argv);
int cmd_add_dbgroup(CliContext *ctx, int argc, char **argv);
int cmd_remove_dbgroup(CliContext *ctx, int argc, char **argv);
int cmd_list_dbgroups(CliContext *ctx, int argc, char **argv);
int cmd_add_table(CliContext *ctx, int argc, char **argv);
int cmd_add_all_tables(CliContext *ctx, int argc, char **argv);
int cmd_add_sequence(CliContext *ctx, int argc, char **argv);
int cmd_add_all_sequences(CliContext *ctx, int argc, char **argv);
int cmd_list_sequences(CliContext *ctx, int argc, char **argv);
int cmd_add_customname(CliContext *ctx, int argc, char **argv);
int cmd_add_customcols(CliContext *ctx, int argc, char **argv);
int cmd_list_customnames(CliContext *ctx, int argc, char **argv);
int cmd_list_customcols(CliContext *ctx, int argc, char **argv);
int cmd_remove_customname(CliContext *ctx, int argc, char **argv);
int cmd_remove_customcols(CliContext *ctx, int argc, char **argv);
int cmd_add_customcode(CliContext *ctx, int argc, char **argv);
int cmd_update_customcode(CliContext *ctx, int argc, char **argv);
int cmd_remove_customcode(CliContext *ctx, int argc, char **argv);
int cmd_list_customcodes(CliContext *ctx, int argc, char **argv);
int cmd_remove_table(CliContext *ctx, int argc, char **argv);
int cmd_list_tables(CliContext *ctx, int argc, char **argv);
int cmd_add_relgroup(CliContext *ctx, int argc, char **argv);
int cmd_remove_relgroup(CliContext *ctx, int argc, char **argv);
int cmd_list_relgroups(CliContext *ctx, int argc, char **argv);
int cmd_add_sync(CliContext *ctx, int argc, char **argv);
int cmd_update_sync(CliContext *ctx, int argc, char **argv);
int cmd_update_table(CliContext *ctx, int argc, char **argv);
int cmd_update_sequence(CliContext *ctx, int argc, char **argv);
int cmd_update_relgroup(CliContext *ctx, int argc, char **argv);
int cmd_update_dbgroup(CliContext *ctx, int argc, char **argv);
int cmd_remove_sync(CliContext *ctx, int argc, char **argv);
int cmd_list_syncs(CliContext *ctx, int argc, char **argv);
int cmd_list_all(CliContext *ctx, int argc, char **argv);
int cmd_show(CliContext *ctx, int argc, char **argv);
int cmd_set(CliContext *ctx, int argc, char **argv);

int cmd_start(CliContext *ctx, int argc, char **argv);
int cmd_check(CliContext *ctx, int argc, char **argv);
int cmd_stop(CliContext *ctx, int argc, char **argv);
int cmd_reopen(CliContext *ctx, int argc, char **argv);

/* The engine's log as `start` hands it over (cli/cmd_logging.c). */
typedef struct LogSetup {
    LogOptions opts;         /* its strings are owned below */
    const char *reason_file; /* absolute, or NULL when the setting is empty */
    StrList owned;
} LogSetup;

/* cli_log_setup - the log options and settings, from the command line and
 * the open catalog; false after printing why not. */
bool cli_log_setup(CliContext *ctx, LogSetup *s) MUST_CHECK;
void log_setup_free(LogSetup *s);
/* cli_default_log_dir - /var/log/bucardo, else the documented fallback
 * (created); xmalloc'd, NULL when there is none. */
char *cli_default_log_dir(void);
/* cli_reason_write - `start`/`stop` with their reason words: overwrite
 * reason_file and append to its .log (Bucardo's format). */
bool cli_reason_write(const char *reason_file, const char *event, int argc, char **argv) MUST_CHECK;
int cmd_restart(CliContext *ctx, int argc, char **argv);
int cmd_reload(CliContext *ctx, int argc, char **argv);
int cmd_kick(CliContext *ctx, int argc, char **argv);
int cmd_activate(CliContext *ctx, int argc, char **argv);
int cmd_deactivate(CliContext *ctx, int argc, char **argv);
int cmd_pause(CliContext *ctx, int argc, char **argv);
int cmd_resume(CliContext *ctx, int argc, char **argv);
int cmd_status(CliContext *ctx, int argc, char **argv);
int cmd_validate(CliContext *ctx, int argc, char **argv);
int cmd_inspect(CliContext *ctx, int argc, char **argv);
int cmd_compare(CliContext *ctx, int argc, char **argv);
int cmd_ping(CliContext *ctx, int argc, char **argv);    /* cli/cmd_engine.c */
int cmd_message(CliContext *ctx, int argc, char **argv); /* cli/cmd_engine.c */
int cmd_delta(CliContext *ctx, int argc, char **argv);   /* cli/cmd_delta.c */
int cmd_purge(CliContext *ctx, int argc, char **argv);   /* cli/cmd_delta.c */
/* cli_engine_confirm - after a committed activate/deactivate: wait up to
 * timeout s (0: no limit) for the running engine to say the sync's worker
 * runs (or is gone); *pid gets its pid (cli/cmd_engine.c). */
bool cli_engine_confirm(CliContext *ctx, const char *sync, bool want_running, long timeout, char *pid,
                        size_t pidlen) MUST_CHECK;
/* cmd_inspect_object - `inspect sync|relgroup NAME ...` (cli/cmd_inspect.c). */
int cmd_inspect_object(CliContext *ctx, const char *kind, int argc, char **argv);
/* cmd_remove_all - `remove TYPE all`: every object of kind (cli/cmd_all.c). */
int cmd_remove_all(CliContext *ctx, const char *kind);
/* cli_select_syncs - the syncs named by words (names, `all`, wildcards `%`
 * and `*`; noise word `sync`/`syncs` skipped) into out, in name order and
 * without repeats; a trailing number goes to *timeout when timeout is not
 * NULL (else it is a name).  False after printing why (cli/cmd_all.c). */
bool cli_select_syncs(CliContext *ctx, int argc, char **argv, StrList *out, long *timeout) MUST_CHECK;

/* cmd_clone, cmd_list_clones - Bucardo's clone jobs (cli/cmd_clone.c). */
int cmd_clone(CliContext *ctx, int argc, char **argv);
int cmd_list_clones(CliContext *ctx, int argc, char **argv);
/* cli_engine_running - is the engine running (piddir of the open catalog)?
 * Prints why not (cli/cmd_control.c). */
bool cli_engine_running(CliContext *ctx) MUST_CHECK;

/* cli_notify_reload - tell a running engine (at commit) to re-read the
 * catalog; harmless when none runs. */
bool cli_notify_reload(CliContext *ctx) MUST_CHECK;

/* Help text (cli/help.c). */
void cli_usage(void);
int cli_help_command(const char *verb, const char *action);

#endif
