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

#include "cli.h"
#include "log.h"

/* One option: its spellings, whether it takes a value, where it goes. */
typedef enum OptKind { OPT_FLAG, OPT_VALUE } OptKind;
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
    {O_DB, OPT_VALUE, {"db"}, 0},
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

/* Which object kind a word names, e.g. "dbs" and "database" both -> "db". */
static const char *normalise_kind(const char *word)
{
    static const char *const map[][2] = {
        {"db", "db"},
        {"dbs", "db"},
        {"database", "db"},
        {"databases", "db"},
        {"dbgroup", "dbgroup"},
        {"dbgroups", "dbgroup"},
        {"table", "table"},
        {"tables", "table"},
        {"relgroup", "relgroup"},
        {"relgroups", "relgroup"},
        {"herd", "relgroup"},
        {"herds", "relgroup"},
        {"sync", "sync"},
        {"syncs", "sync"},
        {"all", "all"},
        {"sequence", "sequence"},
        {"sequences", "sequence"},
        {"customname", "customname"},
        {"customnames", "customname"},
        {"customcols", "customcols"},
        {"customcol", "customcols"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(word, map[i][0]) == 0)
            return map[i][1];
    return NULL;
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
    {"add", "all", cmd_add_all_tables},
    {"add", "relgroup", cmd_add_relgroup},
    {"add", "sync", cmd_add_sync},
    {"remove", "db", cmd_remove_db},
    {"remove", "dbgroup", cmd_remove_dbgroup},
    {"remove", "table", cmd_remove_table},
    {"remove", "sequence", cmd_remove_table},
    {"remove", "customname", cmd_remove_customname},
    {"remove", "customcols", cmd_remove_customcols},
    {"remove", "relgroup", cmd_remove_relgroup},
    {"remove", "sync", cmd_remove_sync},
    {"update", "db", cmd_update_db},
    {"update", "sync", cmd_update_sync},
    {"update", "table", cmd_update_table},
    {"update", "sequence", cmd_update_sequence},
    {"update", "relgroup", cmd_update_relgroup},
    {"update", "dbgroup", cmd_update_dbgroup},
    {"list", "db", cmd_list_dbs},
    {"list", "dbgroup", cmd_list_dbgroups},
    {"list", "table", cmd_list_tables},
    {"list", "sequence", cmd_list_sequences},
    {"list", "customname", cmd_list_customnames},
    {"list", "customcols", cmd_list_customcols},
    {"list", "relgroup", cmd_list_relgroups},
    {"list", "sync", cmd_list_syncs},
    {"list", "all", cmd_list_all},
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
    {"validate", NULL, cmd_validate},
    {"inspect", NULL, cmd_inspect},
    {"compare", NULL, cmd_compare},
    {"show", NULL, cmd_show},
    {"set", NULL, cmd_set},
};
#define NCOMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

/* apply_option - store one option's value in the context. */
static void apply_option(CliContext *ctx, OptId id, const char *value)
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
    case O_QUIET: ctx->quiet++; break;
    case O_TABLE: strlist_add_split(&ctx->tables, value, ','); break;
    case O_EXCLUDE_TABLE: strlist_add_split(&ctx->exclude_tables, value, ','); break;
    case O_SCHEMA: strlist_add_split(&ctx->schemas, value, ','); break;
    case O_EXCLUDE_SCHEMA: strlist_add_split(&ctx->exclude_schemas, value, ','); break;
    case O_REPAIR: ctx->repair = true; break;
    case O_JSON: ctx->json = true; break;
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
        default: apply_option(ctx, spec->id, value); break;
        }
    }
    return true;
}

/*
 * read_rcfile - apply "name=value" lines (an optional leading "--" is
 * allowed, '#' starts a comment) before the command line's own options.
 * A missing default file is fine; a missing named file is an error.
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

    if (f == NULL) {
        if (!must_exist)
            return true;
        return cli_error("cannot open %s", path) == 0;
    }
    while (fgets(line, sizeof(line), f)) {
        char *s = line, *eq, *end;
        const char *value;
        size_t namelen;
        const OptSpec *spec;

        lineno++;
        end = s + strlen(s);
        /* A longer line would come back in pieces, the second one read as
         * a line of its own: refuse it rather than misread it. */
        if (end - s == (ptrdiff_t)sizeof(line) - 1 && end[-1] != '\n' && !feof(f)) {
            fclose(f);
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
        eq = strchr(s, '=');
        /* Bucardo's rc files allow blanks around '=' ("dbport = 5432"). */
        namelen = eq ? (size_t)(eq - s) : strlen(s);
        while (namelen > 0 && (s[namelen - 1] == ' ' || s[namelen - 1] == '\t'))
            namelen--;
        value = eq ? eq + 1 : NULL;
        while (value && (*value == ' ' || *value == '\t'))
            value++;
        spec = find_long(s, namelen);
        if (spec == NULL || spec->id == O_BUCARDORC || spec->id == O_HELP || spec->id == O_VERSION ||
            spec->id == O_NO_BUCARDORC || (spec->kind == OPT_VALUE && eq == NULL)) {
            fclose(f);
            return cli_error("%s line %d: not a known \"option=value\" setting", path, lineno) == 0;
        }
        if (spec->kind == OPT_FLAG) {
            bool on = true;
            if (value && !parse_bool(value, &on)) {
                fclose(f);
                return cli_error("%s line %d: not a boolean value", path, lineno) == 0;
            }
            if (on)
                apply_option(ctx, spec->id, NULL);
        } else {
            strlist_add(&ctx->owned, value);
            apply_option(ctx, spec->id, ctx->owned.items[ctx->owned.count - 1]);
        }
    }
    if (ferror(f)) {
        fclose(f);
        return cli_error("cannot read %s", path) == 0;
    }
    fclose(f);
    return true;
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

/* dispatch - find the handler for the words and run it. */
static int dispatch(CliContext *ctx)
{
    char **w = ctx->words.items;
    int n = ctx->words.count;
    const char *kind;

    if (strcmp(w[0], "help") == 0)
        return n > 1 ? cli_help_command(w[1]) : (cli_usage(), EXIT_OK);
    kind = n > 1 ? normalise_kind(w[1]) : NULL;
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

int main(int argc, char **argv)
{
    CliContext ctx;
    Parsed parsed = {0};
    int code;

    memset(&ctx, 0, sizeof(ctx));
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
    if (!parsed.no_rc) {
        const char *home = getenv("HOME");
        bool ok = true;
        if (parsed.rcfile) {
            ok = read_rcfile(&ctx, parsed.rcfile, true);
        } else if (home) {
            char *path = xasprintf("%s/.bucardorc", home);
            ok = read_rcfile(&ctx, path, false);
            free(path);
        }
        if (!ok) {
            context_free(&ctx);
            return EXIT_FAIL;
        }
    }
    if (!parse_args(&ctx, argc, argv, &parsed)) {
        context_free(&ctx);
        return EXIT_FAIL;
    }
    if (parsed.version) {
        printf("bucardo version %s\n", BUCARDO_VERSION);
        code = EXIT_OK;
    } else if (parsed.help || ctx.words.count == 0) {
        if (parsed.help && ctx.words.count > 0)
            code = cli_help_command(ctx.words.items[0]);
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
