/*
 * cli/main.c - the `bucardo` program: option parsing, ~/.bucardorc, and
 * the table of commands.
 *
 * Options may appear anywhere on the line, like Bucardo's (GetOptions with
 * permutation); every other word is positional: the verb, the object kind,
 * names, and key=value parameters.  The command table maps (verb, kind) to
 * one handler in a cli/cmd_*.c file.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

/* One option: its spellings, whether it takes a value, where it goes. */
/* OPT_BOOL: "--name" is on, "--name=0" (any parse_bool word) sets it. */
typedef enum OptKind { OPT_FLAG, OPT_VALUE, OPT_BOOL } OptKind;
typedef enum OptId {
    O_DBHOST,
    O_DBPORT,
    O_DBUSER,
    O_DBNAME,
    O_DBPASS,
    O_PIDDIR,
    O_RELGROUP,
    O_DB,
    O_DEBUGFILE,
    O_BATCH,
    O_FORCE,
    O_FOREGROUND,
    O_VERBOSE,
    O_QUIET,
    O_TABLE,
    O_EXCLUDE_TABLE,
    O_SCHEMA,
    O_EXCLUDE_SCHEMA,
    O_HELP,
    O_VERSION,
    O_BUCARDORC,
    O_NO_BUCARDORC,
    O_REPAIR,
    O_JSON,
    O_DEBUG,
    O_DRYRUN,
    O_CONFIRM,
    O_VV,
    O_VVV,
    O_VVVV,
    O_QUICKSTART,
    O_BCVERBOSE,
    O_NOTIMER,
    O_SORT,
    O_SHOWDAYS,
    O_COMPRESS,
    O_RETRY,
    O_RETRYSLEEP,
    O_TSEP,
    O_EXIT_ON_NOSYNC,
    O_NO_EXIT_ON_NOSYNC,
    O_SENDMAIL,
    O_EXTRA_NAME,
    O_FINISH,
    O_LOG_DEST,
    O_LOG_SEPARATE,
    O_LOG_EXTENSION,
    O_LOG_CLEAN,
    O_LOG_LEVEL,
    O_LOG_SHOWLINE,
    O_DEBUGDIR,
    O_DEBUGSYSLOG,
    O_CLEANDEBUGS
} OptId;

typedef struct OptSpec {
    OptId id;
    OptKind kind;
    const char *longs[4]; /* without the leading "--" */
    char shortname;       /* 0: none */
} OptSpec;

static const OptSpec OPTIONS[] = {
    {O_DBHOST, OPT_VALUE, {"dbhost", "db-host", "host"}, 'h'},
    {O_DBPORT, OPT_VALUE, {"dbport", "db-port", "port"}, 'p'},
    {O_DBUSER, OPT_VALUE, {"dbuser", "db-user"}, 'U'},
    {O_DBNAME, OPT_VALUE, {"dbname", "db-name"}, 'd'},
    {O_DBPASS, OPT_VALUE, {"dbpass", "db-pass"}, 'P'},
    {O_PIDDIR, OPT_VALUE, {"piddir", "pid-dir"}, 0},
    {O_RELGROUP, OPT_VALUE, {"relgroup", "herd"}, 0},
    {O_DB, OPT_VALUE, {"db", "database"}, 0},
    {O_DEBUGFILE, OPT_VALUE, {"debugfile"}, 0},
    {O_BATCH, OPT_FLAG, {"batch"}, 0},
    {O_FORCE, OPT_FLAG, {"force"}, 0},
    {O_FOREGROUND, OPT_FLAG, {"foreground"}, 'f'},
    {O_VERBOSE, OPT_FLAG, {"verbose"}, 'v'},
    {O_QUIET, OPT_FLAG, {"quiet"}, 'q'},
    {O_TABLE, OPT_VALUE, {"table"}, 't'},
    {O_EXCLUDE_TABLE, OPT_VALUE, {"exclude-table"}, 'T'},
    {O_SCHEMA, OPT_VALUE, {"schema"}, 'n'},
    {O_EXCLUDE_SCHEMA, OPT_VALUE, {"exclude-schema"}, 'N'},
    {O_HELP, OPT_FLAG, {"help"}, '?'},
    {O_VERSION, OPT_FLAG, {"version"}, 0},
    {O_BUCARDORC, OPT_VALUE, {"bucardorc"}, 0},
    {O_NO_BUCARDORC, OPT_FLAG, {"no-bucardorc"}, 0},
    {O_REPAIR, OPT_FLAG, {"repair"}, 0},
    {O_JSON, OPT_FLAG, {"json"}, 0},
    {O_DEBUG, OPT_FLAG, {"debug"}, 0},
    {O_DRYRUN, OPT_FLAG, {"dryrun", "dry-run"}, 0},
    {O_CONFIRM, OPT_FLAG, {"confirm"}, 0},
    {O_VV, OPT_FLAG, {"vv"}, 0},
    {O_VVV, OPT_FLAG, {"vvv"}, 0},
    {O_VVVV, OPT_FLAG, {"vvvv"}, 0},
    {O_QUICKSTART, OPT_FLAG, {"quickstart"}, 0},
    {O_BCVERBOSE, OPT_FLAG, {"bcverbose"}, 0},
    {O_NOTIMER, OPT_FLAG, {"notimer"}, 0},
    {O_SORT, OPT_VALUE, {"sort"}, 0},
    {O_SHOWDAYS, OPT_FLAG, {"showdays", "show-days"}, 0},
    {O_COMPRESS, OPT_FLAG, {"compress"}, 0},
    {O_RETRY, OPT_VALUE, {"retry"}, 0},
    {O_RETRYSLEEP, OPT_VALUE, {"retrysleep", "retry-sleep"}, 0},
    {O_TSEP, OPT_VALUE, {"tsep"}, 0},
    {O_EXIT_ON_NOSYNC, OPT_FLAG, {"exit-on-nosync"}, 0},
    {O_NO_EXIT_ON_NOSYNC, OPT_FLAG, {"no-exit-on-nosync"}, 0},
    {O_SENDMAIL, OPT_BOOL, {"sendmail"}, 0},
    {O_EXTRA_NAME, OPT_VALUE, {"extra-name", "extraname"}, 0},
    {O_FINISH, OPT_FLAG, {"finish"}, 0},
    {O_LOG_DEST, OPT_VALUE, {"log-destination", "log-dest", "logdest"}, 0},
    {O_LOG_SEPARATE, OPT_FLAG, {"log-separate", "log-sep", "logseparate", "debugfilesep"}, 0},
    {O_LOG_EXTENSION, OPT_VALUE, {"log-extension", "log-ext", "logextension", "debugname"}, 0},
    {O_LOG_CLEAN, OPT_FLAG, {"log-clean", "logclean"}, 0},
    {O_LOG_LEVEL, OPT_VALUE, {"log-level", "loglevel"}, 0},
    {O_LOG_SHOWLINE, OPT_VALUE, {"log-showline", "log-show-line", "logshowline"}, 0},
    {O_DEBUGDIR, OPT_VALUE, {"debugdir"}, 0},
    {O_DEBUGSYSLOG, OPT_VALUE, {"debugsyslog"}, 0},
    {O_CLEANDEBUGS, OPT_VALUE, {"cleandebugs"}, 0},
};
#define NOPTIONS (sizeof(OPTIONS) / sizeof(OPTIONS[0]))

/* starts_ci - whether word starts with prefix, ignoring case. */
static bool starts_ci(const char *word, const char *prefix)
{
    return strncasecmp(word, prefix, strlen(prefix)) == 0;
}

/*
 * normalise_kind - which object kind a word names, with Bucardo's
 * abbreviations, misspellings, plurals and any case (its
 * standardize_name): "tab", "tbales", "seq", "cname", "ccol", "dbs",
 * "database", "herd", "sink"...  NULL: not an object kind.
 */
static const char *normalise_kind(const char *w)
{
    size_t n = strlen(w);

    if (starts_ci(w, "code") || starts_ci(w, "ccode") || starts_ci(w, "customcode") ||
        starts_ci(w, "custom_code"))
        return "customcode";
    if (starts_ci(w, "cname") || starts_ci(w, "customname") || starts_ci(w, "custom_name"))
        return "customname";
    if (starts_ci(w, "ccol") || starts_ci(w, "customcol") || starts_ci(w, "custom_col"))
        return "customcols";
    if (starts_ci(w, "dbg") || (n > 6 && (w[0] == 'd' || w[0] == 'D') && strcasestr(w + 2, "group") != NULL))
        return "dbgroup";
    if (starts_ci(w, "db") || starts_ci(w, "database"))
        return "db";
    if (starts_ci(w, "relgr") || starts_ci(w, "herd"))
        return "relgroup";
    if (n >= 4 && (w[0] == 's' || w[0] == 'S') && strchr("yiYI", w[1]) && (w[2] == 'n' || w[2] == 'N') &&
        strchr("ckCK", w[3]))
        return "sync";
    if (starts_ci(w, "tab") || starts_ci(w, "tbale"))
        return "table";
    if (starts_ci(w, "seq"))
        return "sequence";
    if (strcasecmp(w, "all") == 0)
        return "all";
    if (starts_ci(w, "config"))
        return "config";
    if (starts_ci(w, "clon"))
        return "clone";
    return NULL;
}

/*
 * normalise_verb - Bucardo's spellings of a verb (any case; "l", "lsit",
 * "del", "upd", "strt", "msg", "vali...", ...) to the verb of the command
 * table.  Unknown words come back lower-cased.  The result is static or
 * the (lower-cased in place) word itself.
 */
static const char *normalise_verb(char *w)
{
    static const char *const alias[][2] = {
        {"l", "list"},          {"lsit", "list"},       {"liast", "list"},  {"lisy", "list"},
        {"lit", "list"},        {"delete", "remove"},   {"del", "remove"},  {"upd", "update"},
        {"udpate", "update"},   {"strt", "start"},      {"msg", "message"}, {"deltas", "delta"},
        {"uprgade", "upgrade"}, {"ugprade", "upgrade"},
    };

    for (char *p = w; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
        if (strcmp(w, alias[i][0]) == 0)
            return alias[i][1];
    if (strncmp(w, "vali", 4) == 0)
        return "validate";
    if (strncmp(w, "upgr", 4) == 0)
        return "upgrade";
    if (strncmp(w, "instal", 6) == 0)
        return "install";
    return w;
}

/* The table of commands: (verb, kind) -> handler.  kind NULL: no kind word. */
typedef struct Command {
    const char *verb;
    const char *kind;
    CliHandler handler;
} Command;

static const Command COMMANDS[] = {
    {"install", NULL, cmd_install},
    {"upgrade", NULL, cmd_upgrade},
    {"add", "db", cmd_add_db},
    {"add", "dbgroup", cmd_add_dbgroup},
    {"add", "table", cmd_add_table},
    {"add", "sequence", cmd_add_sequence},
    {"add", "customname", cmd_add_customname},
    {"add", "customcols", cmd_add_customcols},
    {"add", "customcode", cmd_add_customcode},
    {"add", "all", cmd_add_all_tables},
    {"add", "relgroup", cmd_add_relgroup},
    {"add", "sync", cmd_add_sync},
    {"remove", "db", cmd_remove_db},
    {"remove", "dbgroup", cmd_remove_dbgroup},
    {"remove", "table", cmd_remove_table},
    {"remove", "sequence", cmd_remove_table},
    {"remove", "customname", cmd_remove_customname},
    {"remove", "customcols", cmd_remove_customcols},
    {"remove", "customcode", cmd_remove_customcode},
    {"remove", "relgroup", cmd_remove_relgroup},
    {"remove", "sync", cmd_remove_sync},
    {"update", "db", cmd_update_db},
    {"update", "sync", cmd_update_sync},
    {"update", "table", cmd_update_table},
    {"update", "sequence", cmd_update_sequence},
    {"update", "relgroup", cmd_update_relgroup},
    {"update", "dbgroup", cmd_update_dbgroup},
    {"update", "customcode", cmd_update_customcode},
    {"list", "db", cmd_list_dbs},
    {"list", "dbgroup", cmd_list_dbgroups},
    {"list", "table", cmd_list_tables},
    {"list", "sequence", cmd_list_sequences},
    {"list", "customname", cmd_list_customnames},
    {"list", "customcols", cmd_list_customcols},
    {"list", "customcode", cmd_list_customcodes},
    {"list", "relgroup", cmd_list_relgroups},
    {"list", "sync", cmd_list_syncs},
    {"list", "all", cmd_list_all},
    {"list", "clone", cmd_list_clones},
    {"clone", NULL, cmd_clone},
    {"start", NULL, cmd_start},
    {"stop", NULL, cmd_stop},
    {"reopen", NULL, cmd_reopen},
    {"restart", NULL, cmd_restart},
    {"reload", NULL, cmd_reload},
    {"kick", NULL, cmd_kick},
    {"activate", NULL, cmd_activate},
    {"deactivate", NULL, cmd_deactivate},
    {"pause", NULL, cmd_pause},
    {"resume", NULL, cmd_resume},
    {"status", NULL, cmd_status},
    {"check", NULL, cmd_check},
    {"validate", NULL, cmd_validate},
    {"inspect", NULL, cmd_inspect},
    {"compare", NULL, cmd_compare},
    {"show", NULL, cmd_show},
    {"set", NULL, cmd_set},
    {"ping", NULL, cmd_ping},
    {"message", NULL, cmd_message},
    {"delta", NULL, cmd_delta},
    {"purge", NULL, cmd_purge},
};
#define NCOMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

/*
 * apply_option - store one option's value in the context; false after
 * printing why a value is invalid.  `from` names where it came from (the
 * command line or an rc file line) for that error.
 */
static bool apply_option(CliContext *ctx, OptId id, const char *value, const char *from)
{
    switch (id) {
    case O_DBHOST: ctx->catalog.host = value; break;
    case O_DBPORT: ctx->catalog.port = value; break;
    case O_DBUSER: ctx->catalog.user = value; break;
    case O_DBNAME: ctx->catalog.dbname = value; break;
    case O_DBPASS: ctx->catalog.password = value; break;
    case O_PIDDIR: ctx->piddir = value; break;
    case O_RELGROUP: ctx->relgroup = value; break;
    case O_DB: ctx->db = value; break;
    case O_DEBUGFILE: ctx->debugfile = value; break;
    case O_BATCH: ctx->batch = true; break;
    case O_FORCE: ctx->force = true; break;
    case O_FOREGROUND: ctx->foreground = true; break;
    case O_VERBOSE: ctx->verbose++; break;
    case O_VV: ctx->verbose = 2; break;
    case O_VVV: ctx->verbose = 3; break;
    case O_VVVV: ctx->verbose = 4; break;
    case O_QUIET: ctx->quiet++; break;
    case O_TABLE: strlist_add_split(&ctx->tables, value, ','); break;
    case O_EXCLUDE_TABLE: strlist_add_split(&ctx->exclude_tables, value, ','); break;
    case O_SCHEMA: strlist_add_split(&ctx->schemas, value, ','); break;
    case O_EXCLUDE_SCHEMA: strlist_add_split(&ctx->exclude_schemas, value, ','); break;
    case O_REPAIR: ctx->repair = true; break;
    case O_JSON: ctx->json = true; break;
    case O_DEBUG: ctx->debug++; break;
    case O_DRYRUN: ctx->dryrun = true; break;
    case O_CONFIRM: ctx->confirm = true; break;
    case O_NOTIMER: ctx->notimer = true; break;
    case O_SHOWDAYS: ctx->showdays = true; break;
    case O_COMPRESS: ctx->compress = true; break;
    case O_EXIT_ON_NOSYNC: ctx->exit_on_nosync = 1; break;
    case O_NO_EXIT_ON_NOSYNC: ctx->exit_on_nosync = 0; break;
    case O_TSEP: ctx->tsep = value; break;
    case O_SORT:
        /* Bucardo: +-1 to 9, a column of the status table (2 and 4 sort by name). */
        if (!parse_int(value, -9, 9, &ctx->sort) || ctx->sort == 0)
            return cli_error("%s: invalid --sort \"%s\": expected 1 to 9 or -1 to -9", from, value) == 0;
        break;
    case O_RETRY:
        if (!parse_int(value, 0, 1000000, &ctx->retry))
            return cli_error("%s: invalid --retry \"%s\": expected a number of retries", from, value) == 0;
        break;
    case O_RETRYSLEEP:
        if (!parse_int(value, 0, 86400, &ctx->retry_sleep))
            return cli_error("%s: invalid --retry-sleep \"%s\": expected seconds (0 to 86400)", from,
                             value) == 0;
        break;
    case O_QUICKSTART:
    case O_BCVERBOSE:
        /* Accepted like Bucardo 5.6 accepts them: there they do nothing any
         * more (quickstart skipped checks this engine never makes at start;
         * bcverbose was the MCP's constructor verbosity, which is the log's
         * level here).  Said, not silently dropped. */
        if (ctx->verbose > 0)
            fprintf(stderr, "bucardo: --%s has no effect (as in Bucardo 5.6)\n",
                    id == O_QUICKSTART ? "quickstart" : "bcverbose");
        break;
    case O_EXTRA_NAME: ctx->extra_name = value; break;
    case O_SENDMAIL: ctx->sendmail = value == NULL || strcmp(value, "1") == 0 ? 1 : 0; break;
    case O_FINISH: ctx->finish = true; break;
    case O_LOG_DEST:
        /* Repeatable; the command line's replace the rc file's. */
        if (!ctx->reading_rc && ctx->log_dests_rc) {
            strlist_free(&ctx->log_dests);
            ctx->log_dests_rc = false;
        }
        strlist_add(&ctx->log_dests, value);
        ctx->log_dests_rc |= ctx->reading_rc;
        break;
    case O_LOG_SEPARATE: ctx->log_separate = true; break;
    case O_LOG_EXTENSION: ctx->log_extension = value; break;
    case O_LOG_CLEAN: ctx->log_clean = true; break;
    case O_LOG_LEVEL: ctx->log_level = value; break;
    case O_LOG_SHOWLINE: ctx->log_showline = value; break;
    case O_DEBUGDIR: ctx->debugdir = value; break;
    case O_DEBUGSYSLOG: ctx->debugsyslog = value; break;
    case O_CLEANDEBUGS: ctx->cleandebugs = value; break;
    case O_HELP:
    case O_VERSION:
    case O_BUCARDORC:
    case O_NO_BUCARDORC: break;
    }
    return true;
}

static const OptSpec *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        for (int j = 0; j < 4 && OPTIONS[i].longs[j]; j++)
            if (strlen(OPTIONS[i].longs[j]) == len && strncmp(OPTIONS[i].longs[j], name, len) == 0)
                return &OPTIONS[i];
    return NULL;
}

static const OptSpec *find_short(char c)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (OPTIONS[i].shortname == c)
            return &OPTIONS[i];
    return NULL;
}

typedef struct Parsed {
    bool help;
    bool version;
    bool no_rc;
    const char *rcfile;
} Parsed;

/*
 * parse_args - split argv into options and words.  Option values point into
 * argv (which outlives the context).  Returns false after printing an error.
 */
static bool parse_args(CliContext *ctx, int argc, char **argv, Parsed *p)
{
    bool only_words = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const OptSpec *spec = NULL;
        const char *value = NULL;

        if (only_words || arg[0] != '-' || arg[1] == '\0') {
            strlist_add(&ctx->words, arg);
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_words = true;
            continue;
        }
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            spec = find_long(name, len);
            if (spec == NULL)
                return cli_error("unknown option \"%.*s\" (see bucardo --help)", (int)(len + 2), arg) == 0;
            if (eq) {
                if (spec->kind == OPT_FLAG)
                    return cli_error("option \"--%.*s\" takes no value", (int)len, name) == 0;
                value = eq + 1;
            }
        } else if (arg[2] != '\0' && (spec = find_long(arg + 1, strlen(arg + 1))) != NULL &&
                   spec->kind == OPT_FLAG && strlen(arg + 1) > 1) {
            /* -vv, -vvv, -vvvv, -debug...: Bucardo's Getopt::Long takes a
             * long option's name after one dash too. */
        } else {
            spec = find_short(arg[1]);
            if (spec == NULL)
                return cli_error("unknown option \"-%c\" (see bucardo --help)", arg[1]) == 0;
            if (arg[2] != '\0') {
                if (spec->kind == OPT_FLAG)
                    return cli_error("option \"-%c\" takes no value", arg[1]) == 0;
                value = arg + 2;
            }
        }
        if (spec->kind == OPT_BOOL) {
            bool on = true;
            if (value && !parse_bool(value, &on))
                return cli_error("option \"%s\" takes a boolean value (1/0, yes/no, on/off)", arg) == 0;
            value = on ? "1" : "0";
        }
        if (spec->kind == OPT_VALUE && value == NULL) {
            if (i + 1 >= argc)
                return cli_error("option \"%s\" needs a value", arg) == 0;
            value = argv[++i];
        }
        switch (spec->id) {
        case O_HELP: p->help = true; break;
        case O_VERSION: p->version = true; break;
        case O_NO_BUCARDORC: p->no_rc = true; break;
        case O_BUCARDORC: p->rcfile = value; break;
        default:
            if (!apply_option(ctx, spec->id, value, "command line"))
                return false;
            break;
        }
    }
    return true;
}

/*
 * warn_unused_key - an rc file key this program does not use (Bucardo's
 * --sendmail, --log-destination... or a typo): a warning, once per key,
 * never an error, so one rc file can serve both programs.
 */
static void warn_unused_key(StrList *warned, const char *path, int lineno, const char *name, size_t len)
{
    char *key = xasprintf("%.*s", (int)len, name);

    for (int i = 0; i < warned->count; i++)
        if (strcmp(warned->items[i], key) == 0) {
            free(key);
            return;
        }
    fprintf(stderr, "bucardo: warning: %s line %d: \"%s\" is not used by this program; ignored\n", path,
            lineno, key);
    strlist_add(warned, key);
    free(key);
}

/*
 * read_rcfile - apply the file's settings before the command line's own
 * options.  Lines are "name=value" or "name: value" (Bucardo's two forms,
 * blanks allowed around the separator; an optional leading "--"), '#'
 * starts a comment, a bare name sets a flag.  A key this program does not
 * use, or a line that is not a setting, is warned about and skipped; a key
 * it uses with a bad value is an error.  A missing default file is fine; a
 * missing named file is an error.
 */
static bool read_rcfile_lines(CliContext *ctx, const char *path, bool must_exist);

static bool read_rcfile(CliContext *ctx, const char *path, bool must_exist)
{
    bool ok;

    ctx->reading_rc = true;
    ok = read_rcfile_lines(ctx, path, must_exist);
    ctx->reading_rc = false;
    return ok;
}

static bool read_rcfile_lines(CliContext *ctx, const char *path, bool must_exist)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0;
    StrList warned = {0};

    if (f == NULL) {
        if (!must_exist)
            return true;
        return cli_error("cannot open %s", path) == 0;
    }
    while (fgets(line, sizeof(line), f)) {
        char *s = line, *end, *from;
        const char *value = NULL;
        size_t namelen = 0;
        const OptSpec *spec;
        bool ok;

        lineno++;
        end = s + strlen(s);
        /* A longer line would come back in pieces, the second one read as
         * a line of its own: refuse it rather than misread it. */
        if (end - s == (ptrdiff_t)sizeof(line) - 1 && end[-1] != '\n' && !feof(f)) {
            fclose(f);
            strlist_free(&warned);
            return cli_error("%s line %d: longer than %d bytes", path, lineno, (int)sizeof(line) - 2) == 0;
        }
        while (*s == ' ' || *s == '\t')
            s++;
        while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        if (s[0] == '-' && s[1] == '-')
            s += 2;
        while (s[namelen] == '_' || s[namelen] == '-' || (s[namelen] >= 'a' && s[namelen] <= 'z') ||
               (s[namelen] >= 'A' && s[namelen] <= 'Z') || (s[namelen] >= '0' && s[namelen] <= '9'))
            namelen++;
        {
            const char *sep = s + namelen;
            while (*sep == ' ' || *sep == '\t')
                sep++;
            if (*sep == '=' || *sep == ':') {
                value = sep + 1;
                while (*value == ' ' || *value == '\t')
                    value++;
            } else if (*sep != '\0') {
                namelen = 0;
            }
            if (namelen == 0) {
                fprintf(stderr, "bucardo: warning: %s line %d: not a \"name=value\" setting; ignored\n", path,
                        lineno);
                continue;
            }
        }
        spec = find_long(s, namelen);
        if (spec == NULL || spec->id == O_BUCARDORC || spec->id == O_HELP || spec->id == O_VERSION ||
            spec->id == O_NO_BUCARDORC) {
            warn_unused_key(&warned, path, lineno, s, namelen);
            continue;
        }
        if (spec->kind == OPT_VALUE && value == NULL) {
            fclose(f);
            strlist_free(&warned);
            return cli_error("%s line %d: \"%.*s\" needs a value", path, lineno, (int)namelen, s) == 0;
        }
        from = xasprintf("%s line %d", path, lineno);
        if (spec->kind == OPT_FLAG || spec->kind == OPT_BOOL) {
            bool on = true;
            ok = value == NULL || parse_bool(value, &on);
            if (!ok)
                cli_error("%s: not a boolean value", from);
            else if (spec->kind == OPT_BOOL)
                ok = apply_option(ctx, spec->id, on ? "1" : "0", from);
            else if (on)
                ok = apply_option(ctx, spec->id, NULL, from);
        } else {
            strlist_add(&ctx->owned, value);
            ok = apply_option(ctx, spec->id, ctx->owned.items[ctx->owned.count - 1], from);
        }
        free(from);
        if (!ok) {
            fclose(f);
            strlist_free(&warned);
            return false;
        }
    }
    strlist_free(&warned);
    if (ferror(f)) {
        fclose(f);
        return cli_error("cannot read %s", path) == 0;
    }
    fclose(f);
    return true;
}

/*
 * read_default_rcfile - Bucardo's search: ./.bucardorc, then
 * ~/.bucardorc, then /etc/bucardorc; the first that exists is read, the
 * others are not.  BUCARDO_ETC_RC (for tests) replaces /etc/bucardorc.
 */
static bool read_default_rcfile(CliContext *ctx)
{
    const char *home = getenv("HOME"), *etc = getenv("BUCARDO_ETC_RC");
    char *homerc = home ? xasprintf("%s/.bucardorc", home) : NULL;
    const char *candidates[3] = {".bucardorc", homerc, etc && *etc ? etc : "/etc/bucardorc"};
    bool ok = true;

    for (int i = 0; i < 3; i++)
        if (candidates[i] && access(candidates[i], F_OK) == 0) {
            cli_debug(ctx, "reading %s", candidates[i]);
            ok = read_rcfile(ctx, candidates[i], true);
            break;
        }
    free(homerc);
    return ok;
}

static void context_free(CliContext *ctx)
{
    strlist_free(&ctx->tables);
    strlist_free(&ctx->exclude_tables);
    strlist_free(&ctx->schemas);
    strlist_free(&ctx->exclude_schemas);
    strlist_free(&ctx->words);
    strlist_free(&ctx->owned);
    strlist_free(&ctx->log_dests);
    strbuf_free(&ctx->said);
}

/*
 * dispatch_words - find the handler for w[0..n) (the verb already
 * normalised) and run it.
 */
static int dispatch_words(CliContext *ctx, int n, char **w)
{
    const char *kind;

    if (strcmp(w[0], "help") == 0)
        return n > 1 ? cli_help_command(normalise_verb(w[1]), n > 2 ? w[2] : NULL) : (cli_usage(), EXIT_OK);
    /* "config show|set ..." is Bucardo's older spelling of show/set. */
    if (strcmp(w[0], "config") == 0) {
        if (n >= 2 && strcasecmp(w[1], "show") == 0)
            return n == 2 ? cmd_show(ctx, 1, (char *[]){"all"}) : cmd_show(ctx, n - 2, w + 2);
        if (n >= 2 && strcasecmp(w[1], "set") == 0)
            return cmd_set(ctx, n - 2, w + 2);
        return cli_error("usage: bucardo config show [NAME ...|all] | bucardo config set NAME=VALUE ...");
    }
    /* What cannot be rolled back is refused under --dryrun rather than done
     * (upgrade decides for itself: the switch from Bucardo 5 has a dry run). */
    if (ctx->dryrun && (strcmp(w[0], "install") == 0 || (strcmp(w[0], "compare") == 0 && ctx->repair)))
        return cli_error("%s%s cannot be run with --dryrun: its changes are not made in one transaction",
                         w[0], strcmp(w[0], "compare") == 0 ? " --repair" : "");
    kind = n > 1 ? normalise_kind(w[1]) : NULL;
    if (strcmp(w[0], "list") == 0 && kind && strcmp(kind, "config") == 0)
        return n == 2 ? cmd_show(ctx, 1, (char *[]){"all"}) : cmd_show(ctx, n - 2, w + 2);
    /* "inspect sync|relgroup NAME"; "inspect [table] NAME" stays cmd_inspect's. */
    if (strcmp(w[0], "inspect") == 0 && kind && (strcmp(kind, "sync") == 0 || strcmp(kind, "relgroup") == 0))
        return cmd_inspect_object(ctx, kind, n - 2, w + 2);
    /* "remove all TYPE" / "remove TYPE all": every object of a kind. */
    if (strcmp(w[0], "remove") == 0 && n == 3) {
        const char *k0 = normalise_kind(w[1]), *k1 = normalise_kind(w[2]);
        if (k0 && k1 && strcmp(k0, "all") == 0 && strcmp(k1, "all") != 0)
            return cmd_remove_all(ctx, k1);
        if (k0 && k1 && strcmp(k1, "all") == 0 && strcmp(k0, "all") != 0)
            return cmd_remove_all(ctx, k0);
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const Command *c = &COMMANDS[i];
        if (strcmp(c->verb, w[0]) != 0)
            continue;
        if (c->kind == NULL)
            return c->handler(ctx, n - 1, w + 1);
        if (kind && strcmp(c->kind, kind) == 0) {
            /* "add all tables|sequences": the word after "all" says which. */
            if (strcmp(kind, "all") == 0 && strcmp(w[0], "add") == 0) {
                const char *what = n >= 3 && normalise_kind(w[2]) ? normalise_kind(w[2]) : "";
                if (strcmp(what, "table") == 0)
                    return c->handler(ctx, n - 3, w + 3);
                if (strcmp(what, "sequence") == 0)
                    return cmd_add_all_sequences(ctx, n - 3, w + 3);
                return cli_error("usage: bucardo add all tables|sequences [db=NAME] [relgroup=NAME]");
            }
            return c->handler(ctx, n - 2, w + 2);
        }
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].verb, w[0]) == 0) {
            if (n < 2)
                return cli_error("\"%s\" needs an object kind (see bucardo help %s)", w[0], w[0]);
            return cli_error("cannot %s \"%s\" (see bucardo help %s)", w[0], w[1], w[0]);
        }
    return cli_error("unknown command \"%s\" (see bucardo --help)", w[0]);
}

/*
 * dispatch - normalise the verb (any case, Bucardo's abbreviations and
 * misspellings, the "add_sync" form: verb and noun joined by '_'), then
 * run the command.
 */
static int dispatch(CliContext *ctx)
{
    int n = ctx->words.count, code;
    char **w = xcalloc((size_t)n + 2, sizeof(char *));
    char *joined = NULL, *verb = ctx->words.items[0];
    char *us = strchr(verb, '_');
    int k = 0;

    /* Bucardo's /^(\w+)_(\w+)$/: "add_sync", "list_tables". */
    if (us != NULL && us > verb && us[1] != '\0' && strchr(us + 1, '_') == NULL &&
        strspn(verb, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(verb)) {
        joined = xstrdup(verb);
        joined[us - verb] = '\0';
        w[k++] = (char *)normalise_verb(joined);
        w[k++] = joined + (us - verb) + 1;
    } else {
        w[k++] = (char *)normalise_verb(verb);
    }
    for (int i = 1; i < n; i++)
        w[k++] = ctx->words.items[i];
    cli_debug(ctx, "command: %.64s%s%.64s", w[0], k > 1 ? " " : "", k > 1 ? w[1] : "");
    code = dispatch_words(ctx, k, w);
    free(joined);
    free(w);
    return code;
}

int main(int argc, char **argv)
{
    CliContext ctx;
    Parsed parsed = {0};
    int code;

    memset(&ctx, 0, sizeof(ctx));
    ctx.sendmail = -1;
    strbuf_init(&ctx.said);
    /* Engine code run by a command reports through its return values; its
     * progress lines are for the engine's log, not for this output. */
    log_to_stderr(LOG_WARN_LVL);
    /* Options of the rc file are applied first, so the command line wins;
     * the rc file to read is itself chosen on the command line. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-bucardorc") == 0)
            parsed.no_rc = true;
        else if (strncmp(argv[i], "--bucardorc=", 12) == 0)
            parsed.rcfile = argv[i] + 12;
        else if (strcmp(argv[i], "--bucardorc") == 0 && i + 1 < argc)
            parsed.rcfile = argv[i + 1];
    }
    ctx.exit_on_nosync = -1;
    {
        const char *d = getenv("BUCARDO_DEBUG");
        long level;
        if (d && *d && parse_int(d, 0, 100, &level))
            ctx.debug = (int)level;
        else if (d && *d)
            ctx.debug = 1;
    }
    if (!parsed.no_rc) {
        bool ok = parsed.rcfile ? read_rcfile(&ctx, parsed.rcfile, true) : read_default_rcfile(&ctx);
        if (!ok) {
            context_free(&ctx);
            return EXIT_FAIL;
        }
    }
    if (!parse_args(&ctx, argc, argv, &parsed)) {
        context_free(&ctx);
        return EXIT_FAIL;
    }
    {
        /* Bucardo: BUCARDO_CONFIRM applies unless --confirm was given. */
        const char *c = getenv("BUCARDO_CONFIRM");
        bool on = false;
        if (!ctx.confirm && c && *c && (!parse_bool(c, &on) || on))
            ctx.confirm = true;
    }
    if (parsed.version) {
        printf("bucardo version %s\n", BUCARDO_VERSION);
        code = EXIT_OK;
    } else if (parsed.help || ctx.words.count == 0) {
        if (parsed.help && ctx.words.count > 0)
            code = cli_help_command(normalise_verb(ctx.words.items[0]),
                                    ctx.words.count > 1 ? ctx.words.items[1] : NULL);
        else if (parsed.help) {
            cli_usage();
            code = EXIT_OK;
        } else {
            /* A failing run prints its one line on stderr and nothing on
             * stdout, so scripts never mistake the usage for output. */
            code = cli_error("no command given (see bucardo --help)");
        }
    } else {
        code = dispatch(&ctx);
        code = cli_finish(&ctx, code);
    }
    context_free(&ctx);
    return code;
}
