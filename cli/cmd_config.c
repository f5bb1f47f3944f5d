/*
 * cli/cmd_config.c - configuration settings (`show`, `set`) and
 * `list all`.
 *
 * Settings live in bucardo.config; only known names can be set, so a typo
 * is an error and not a new, silently ignored setting.  Values of the
 * settings with a type (SETTING_TYPES) are checked too: the engine would
 * otherwise fall back to its default without a word.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "sqltext.h"
#include "metrics.h"
#include "utf8.h"

static const char SQL_SHOW[] = "SELECT name, setting, noeffect FROM bucardo.config"
                               " WHERE $1::text IS NULL OR name = lower($1)"
                               "    OR (NOT EXISTS (SELECT 1 FROM bucardo.config WHERE name = lower($1))"
                               "        AND strpos(name, lower($1)) > 0)"
                               " ORDER BY name";
static const char SQL_SET[] =
    "UPDATE bucardo.config SET setting = $2 WHERE name = lower($1) RETURNING noeffect";

/* Bucardo's names for settings this project has under another name. */
static const char *const ALIASES[][2] = {{"statement_chunk_size", "batch_keys"}};

/* setting_name - the name a setting is stored under (aliases resolved). */
static const char *setting_name(const char *name)
{
    for (size_t i = 0; i < sizeof(ALIASES) / sizeof(ALIASES[0]); i++)
        if (strcasecmp(name, ALIASES[i][0]) == 0)
            return ALIASES[i][1];
    return name;
}

/* A typed setting: its name and what its value must be. */
typedef enum SettingType {
    S_INT,
    S_NUMBER,
    S_BOOL,
    S_WORD,
    S_DURATION,
    S_LISTEN,
    S_SLEEP,
    S_REGEX
} SettingType;
typedef struct SettingSpec {
    const char *name;
    SettingType type;
    long min, max;            /* S_INT */
    const char *const *words; /* S_WORD: NULL-terminated */
} SettingSpec;

static const char *const ISOLATION_LEVELS[] = {"repeatable read", "serializable", NULL};
static const char *const LOG_LEVELS[] = {"terse", "normal", "verbose", "debug", NULL};
static const char *const FACILITIES[] = {"LOG_LOCAL0", "LOG_LOCAL1", "LOG_LOCAL2", "LOG_LOCAL3",
                                         "LOG_LOCAL4", "LOG_LOCAL5", "LOG_LOCAL6", "LOG_LOCAL7",
                                         "LOG_USER",   "LOG_DAEMON", NULL};
static const char *const STRATEGIES[] = {"bucardo_source", "bucardo_target", "bucardo_skip",
                                         "bucardo_random", "bucardo_latest", "bucardo_latest_all_tables",
                                         "bucardo_abort",  "bucardo_custom", NULL};
static const char *const EMAIL_TLS[] = {"off", "try", "starttls", "smtps", NULL};
static const SettingSpec SETTING_TYPES[] = {
    {"default_email_port", S_INT, 1, 65535, NULL},
    {"email_interval", S_INT, 0, 7 * 86400, NULL},
    {"email_tls", S_WORD, 0, 0, EMAIL_TLS},
    {"email_tls_verify", S_BOOL, 0, 0, NULL},
    {"metrics_listen", S_LISTEN, 0, 0, NULL},
    {"batch_keys", S_INT, 1, 1L << 40, NULL},
    {"batch_grow_max", S_INT, 1, 1000, NULL},
    {"chunk_size", S_INT, 4096, 64L << 20, NULL},
    {"chunk_pool", S_INT, 2, 1L << 20, NULL},
    {"max_concurrent_syncs", S_INT, 1, 10000, NULL},
    {"stats_history", S_INT, 0, 1L << 30, NULL},
    {"default_checktime", S_INT, 0, 1000000000, NULL},
    {"retry_delay", S_NUMBER, 0, 0, NULL},
    {"retry_delay_max", S_NUMBER, 0, 0, NULL},
    {"log_showtime", S_INT, 0, 3, NULL},
    {"log_level", S_WORD, 0, 0, LOG_LEVELS},
    {"default_conflict_strategy", S_WORD, 0, 0, STRATEGIES},
    {"lock_timeout", S_DURATION, 0, 0, NULL},
    {"conn_idle_timeout", S_INT, 0, 86400, NULL},
    {"log_showpid", S_BOOL, 0, 0, NULL},
    {"log_showlevel", S_BOOL, 0, 0, NULL},
    {"log_showline", S_BOOL, 0, 0, NULL},
    {"log_microsecond", S_BOOL, 0, 0, NULL},
    {"log_showsyncname", S_BOOL, 0, 0, NULL},
    {"syslog_facility", S_WORD, 0, 0, FACILITIES},
    {"isolation_level", S_WORD, 0, 0, ISOLATION_LEVELS},
    {"kid_serial_sleep", S_SLEEP, 0, 0, NULL},
    {"kid_deadlock_sleep", S_SLEEP, 0, 0, NULL},
    {"tcp_keepalives_idle", S_INT, 0, 1000000, NULL},
    {"tcp_keepalives_interval", S_INT, 0, 1000000, NULL},
    {"tcp_keepalives_count", S_INT, 0, 1000000, NULL},
    {"host_safety_check", S_REGEX, 0, 0, NULL},
    {"reload_config_timeout", S_INT, 1, 3600, NULL},
    {"stalled_after", S_INT, 0, 31536000, NULL},
};

/* is_duration - a PostgreSQL time setting above zero: digits, then
 * optionally a unit (ms, s, min, h, d; none: milliseconds).  Zero would
 * mean waiting for ever. */
static bool is_duration(const char *value)
{
    static const char *const units[] = {"", "ms", "s", "min", "h", "d"};
    const char *p = value;
    bool nonzero = false;

    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        nonzero |= *p != '0';
    if (p - value > 9)
        return false;
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(p, units[i]) == 0)
            return nonzero;
    return false;
}

/* check_setting - is `value` right for setting `name`?  Prints why not.
 * Settings without a type take any value.  A regular expression is
 * checked by the server (cat), whose regex dialect the engine uses. */
static bool check_setting(PGconn *cat, const char *name, const char *value)
{
    for (size_t i = 0; i < sizeof(SETTING_TYPES) / sizeof(SETTING_TYPES[0]); i++) {
        const SettingSpec *s = &SETTING_TYPES[i];
        char *end;
        long n;
        bool b;

        if (strcasecmp(s->name, name) != 0)
            continue;
        switch (s->type) {
        case S_INT:
            if (!parse_int(value, s->min, s->max, &n))
                return cli_error("set %s: expected a whole number from %ld to %ld, got \"%s\"", s->name,
                                 s->min, s->max, value) == 0;
            return true;
        case S_NUMBER: {
            double d = strtod(value, &end);
            if (value[0] == '\0' || *end != '\0' || !(d > 0 && d <= 1e6))
                return cli_error("set %s: expected a number of seconds above 0, got \"%s\"", s->name,
                                 value) == 0;
            return true;
        }
        case S_BOOL:
            if (!parse_bool(value, &b))
                return cli_error("set %s: expected a boolean (1/0, true/false, yes/no), got \"%s\"", s->name,
                                 value) == 0;
            return true;
        case S_LISTEN: {
            char host[256];
            int port;
            if (value[0] != '\0' && !metrics_parse_listen(value, host, sizeof(host), &port))
                return cli_error("set %s: expected PORT, HOST:PORT or [IPV6]:PORT (empty: off), got \"%s\"",
                                 s->name, value) == 0;
            return true;
        }
        case S_SLEEP: {
            double d = strtod(value, &end);
            if (value[0] == '\0' || *end != '\0' || !((d >= 0 && d <= 3600) || d == -1))
                return cli_error("set %s: expected seconds from 0 to 3600, or -1 (no retry), got \"%s\"",
                                 s->name, value) == 0;
            return true;
        }
        case S_REGEX: {
            /* host_safety_check: only its "~RE" form is a regular expression */
            const char *params[1] = {value[0] == '~' ? value + 1 : value};
            if (strlen(value) > 4096)
                return cli_error("set %s: longer than 4096 bytes - no host name list is that long",
                                 s->name) == 0;
            if (value[0] != '~')
                return true;
            PGresult *res = PQexecParams(cat, "SELECT '' ~ $1", 1, NULL, params, NULL, NULL, 0);
            bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
            PQclear(res);
            if (!ok)
                return cli_error("set %s: not a valid regular expression: \"%s\"", s->name, value) == 0;
            return true;
        }
        case S_DURATION:
            if (!is_duration(value))
                return cli_error("set %s: expected a time above 0 such as 500ms, 10s or 2min, got \"%s\"",
                                 s->name, value) == 0;
            return true;
        case S_WORD: {
            StrBuf all;
            for (int w = 0; s->words[w]; w++)
                if (strcmp(s->words[w], value) == 0)
                    return true;
            strbuf_init(&all);
            for (int w = 0; s->words[w]; w++)
                strbuf_printf(&all, "%s%s", w ? ", " : "", s->words[w]);
            cli_error("set %s: expected one of %s, got \"%s\"", s->name, all.data, value);
            strbuf_free(&all);
            return false;
        }
        }
    }
    return true;
}

static int show(CliContext *ctx, const char *name)
{
    const char *params[1] = {name ? setting_name(name) : NULL};
    PGresult *res = pg_query(ctx->cat, "catalog", SQL_SHOW, 1, params);
    int width = 0;

    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return cli_error("no setting named \"%s\" (see bucardo show all)", name);
    }
    for (int r = 0; r < PQntuples(res); r++)
        if (utf8_width(PQgetvalue(res, r, 0)) > width)
            width = utf8_width(PQgetvalue(res, r, 0));
    /* A password is shown as set or not, never itself. */
    for (int r = 0; r < PQntuples(res); r++) {
        printf("%s%*s = %s", PQgetvalue(res, r, 0), utf8_pad(PQgetvalue(res, r, 0), width), "",
               strcmp(PQgetvalue(res, r, 0), "email_auth_pass") == 0 && PQgetvalue(res, r, 1)[0]
                   ? "********"
                   : PQgetvalue(res, r, 1));
        if (!PQgetisnull(res, r, 2))
            printf("  (no effect here: %s)", PQgetvalue(res, r, 2));
        printf("\n");
    }
    PQclear(res);
    return EXIT_OK;
}

/* sql_literal - parse the SQL string literal at *p ('...' with '' for a
 * quote), advancing *p past it; NULL when *p is not at one. */
static char *sql_literal(const char **p)
{
    StrBuf out;
    const char *s = *p;

    if (*s != '\'')
        return NULL;
    strbuf_init(&out);
    for (s++; *s; s++) {
        if (*s == '\'' && s[1] == '\'') {
            strbuf_append(&out, "'");
            s++;
        } else if (*s == '\'') {
            *p = s + 1;
            return out.data;
        } else {
            char c[2] = {*s, '\0'};
            strbuf_append(&out, c);
        }
    }
    strbuf_free(&out);
    return NULL;
}

/*
 * next_statement - the SQL statement starting at *p, up to its ';' (one
 * outside string literals, comments and $$ bodies - a ';' or an apostrophe
 * in a setting's description or a comment must not end it), into a new
 * string with comments left out; *p moves past it.  NULL at the end.
 */
static char *next_statement(const char **p)
{
    const char *s = *p;
    StrBuf out;

    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == ';')
        s++;
    if (*s == '\0')
        return NULL;
    strbuf_init(&out);
    while (*s && *s != ';') {
        const char *from = s;
        if (s[0] == '-' && s[1] == '-') {
            while (*s && *s != '\n')
                s++;
            continue;
        }
        if (*s == '\'') {
            for (s++; *s && !(*s == '\'' && s[1] != '\''); s += (*s == '\'' ? 2 : 1))
                ;
        } else if (s[0] == '$' && s[1] == '$') {
            const char *close = strstr(s + 2, "$$");
            s = close ? close + 1 : s + strlen(s) - 1;
        }
        if (*s)
            s++;
        strbuf_append_len(&out, from, (size_t)(s - from));
    }
    *p = s;
    return out.data;
}

/* value_after - the string literal following `key` in `stmt`, or NULL. */
static char *value_after(const char *stmt, const char *key)
{
    const char *k = strstr(stmt, key);

    if (k == NULL)
        return NULL;
    k += strlen(key);
    while (*k == ' ' || *k == '\n')
        k++;
    return sql_literal(&k);
}

/* set_default - record name's default (replacing an earlier one when
 * `replace`, else only the first value counts). */
static void set_default(StrList *names, StrList *values, const char *name, const char *value, bool replace)
{
    for (int i = 0; i < names->count; i++)
        if (strcmp(names->items[i], name) == 0) {
            if (replace) {
                free(values->items[i]);
                values->items[i] = xstrdup(value);
            }
            return;
        }
    strlist_add(names, name);
    strlist_add(values, value);
}

/*
 * config_defaults - every setting's default as the install creates it,
 * from the embedded catalog and upgrade SQL (which run at install), in
 * their order: the first value each "INSERT INTO [bucardo.]config (name,
 * setting, ...) VALUES ('name', 'setting', ...), ..." gives a name, then
 * what a later "UPDATE bucardo.config SET setting = 'v' ... WHERE name =
 * 'n'" makes of it (log_showtime's 1 became 3 that way).  Settings added
 * by later sections are found the same way.
 */
static void config_defaults(StrList *names, StrList *values)
{
    const char *texts[2] = {sql_catalog, sql_upgrade};

    for (int t = 0; t < 2; t++) {
        const char *p = texts[t];
        char *stmt;
        while ((stmt = next_statement(&p)) != NULL) {
            const char *head = stmt + strspn(stmt, " \n\t"), *v = strstr(head, "VALUES");
            if (strstr(head, "INSERT INTO") == head && strstr(head, "config (name, setting") && v) {
                for (const char *q = v + 6; *q; q++) {
                    const char *r = q + 1;
                    char *name, *value;
                    if (*q == '\'') { /* skip a literal outside a row's first two */
                        char *skip = sql_literal(&q);
                        free(skip);
                        q--;
                        continue;
                    }
                    if (*q != '(')
                        continue;
                    while (*r == ' ' || *r == '\n')
                        r++;
                    name = sql_literal(&r);
                    if (name == NULL)
                        continue;
                    while (*r == ',' || *r == ' ' || *r == '\n')
                        r++;
                    value = sql_literal(&r);
                    if (value != NULL)
                        set_default(names, values, name, value, false);
                    free(name);
                    free(value);
                    q = r - 1;
                }
            } else if (strstr(head, "UPDATE bucardo.config SET setting =") == head) {
                char *value = value_after(stmt, "SET setting =");
                char *name = value_after(stmt, "WHERE name =");
                if (value && name)
                    set_default(names, values, name, value, true);
                free(value);
                free(name);
            }
            free(stmt);
        }
    }
}

/* show_changed - `show changed`: the settings whose value is not the one
 * the install gives them (a setting no install creates is shown too). */
static int show_changed(CliContext *ctx)
{
    StrList names = {0}, values = {0};
    PGresult *res =
        pg_query(ctx->cat, "catalog", "SELECT name, setting FROM bucardo.config ORDER BY name", 0, NULL);
    int width = 0, shown = 0;

    if (res == NULL)
        return EXIT_FAIL;
    config_defaults(&names, &values);
    for (int pass = 0; pass < 2; pass++)
        for (int r = 0; r < PQntuples(res); r++) {
            const char *name = PQgetvalue(res, r, 0), *def = NULL;
            for (int i = 0; i < names.count && def == NULL; i++)
                if (strcmp(names.items[i], name) == 0)
                    def = values.items[i];
            if (def != NULL && strcmp(def, PQgetvalue(res, r, 1)) == 0)
                continue;
            if (pass == 0 && utf8_width(name) > width)
                width = utf8_width(name);
            if (pass == 1) {
                /* A password is shown as set, never itself (as show does). */
                printf("%s%*s = %s (default: %s)\n", name, utf8_pad(name, width), "",
                       strcmp(name, "email_auth_pass") == 0 && PQgetvalue(res, r, 1)[0]
                           ? "********"
                           : PQgetvalue(res, r, 1),
                       def ? def : "none");
                shown++;
            }
        }
    if (shown == 0)
        printf("No settings have been changed from their defaults\n");
    PQclear(res);
    strlist_free(&names);
    strlist_free(&values);
    return EXIT_OK;
}

int cmd_show(CliContext *ctx, int argc, char **argv)
{
    if (argc < 1)
        return cli_error("usage: bucardo show all | changed | NAME ...");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    if (strcmp(argv[0], "all") == 0)
        return argc == 1 ? show(ctx, NULL) : cli_error("usage: bucardo show all");
    if (strcmp(argv[0], "changed") == 0)
        return argc == 1 ? show_changed(ctx) : cli_error("usage: bucardo show changed");
    for (int i = 0; i < argc; i++)
        if (show(ctx, argv[i]) != EXIT_OK)
            return EXIT_FAIL;
    return EXIT_OK;
}

int cmd_set(CliContext *ctx, int argc, char **argv)
{
    StrBuf said;
    int code = EXIT_FAIL;

    if (argc < 1)
        return cli_error("usage: bucardo set NAME=VALUE ...");
    for (int i = 0; i < argc; i++)
        if (strchr(argv[i], '=') == NULL || argv[i][0] == '=')
            return cli_error("set: expected NAME=VALUE, got \"%s\"", argv[i]);
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    /* The "Updated" lines are printed only once every setting is known:
     * a failing `set a=1 b=2` changes nothing, so it must not claim it did. */
    strbuf_init(&said);
    for (int i = 0; i < argc; i++) {
        char *name = xstrdup(argv[i]);
        char *eq = strchr(name, '=');
        const char *params[2] = {name, eq + 1};
        PGresult *res;

        *eq = '\0';
        params[0] = setting_name(name);
        if (!check_setting(ctx->cat, params[0], eq + 1)) {
            free(name);
            goto out;
        }
        res = pg_query(ctx->cat, "catalog", SQL_SET, 2, params);
        if (res == NULL) {
            free(name);
            goto out;
        }
        if (PQntuples(res) != 1) {
            PQclear(res);
            cli_error("no setting named \"%s\" (see bucardo show all)", name);
            free(name);
            goto out;
        }
        strbuf_printf(&said, "Updated configuration setting \"%s\"\n", name);
        if (!PQgetisnull(res, 0, 0))
            strbuf_printf(&said, "Note: %s has no effect in this engine: %s\n", name, PQgetvalue(res, 0, 0));
        PQclear(res);
        free(name);
    }
    cli_say(ctx, "%s", said.data);
    code = EXIT_OK;
out:
    strbuf_free(&said);
    return code;
}

/*
 * cmd_list_all - every listing, in Bucardo's order and with its headings:
 * customcodes, customnames and customcols first and only when there are
 * any, then dbgroups, databases, relgroups, syncs, tables, sequences, and
 * an empty line.  A REGEX narrows the named objects, as each listing does.
 */
int cmd_list_all(CliContext *ctx, int argc, char **argv)
{
    static const struct {
        const char *title, *count_sql; /* count_sql: listed only when it gives > 0 */
        CliHandler list;
        bool regex;
    } LISTINGS[] = {
        {"customcodes", "SELECT count(*) FROM bucardo.customcode", cmd_list_customcodes, false},
        {"customnames", "SELECT count(*) FROM bucardo.customname", cmd_list_customnames, false},
        {"customcols", "SELECT count(*) FROM bucardo.customcols", cmd_list_customcols, false},
        {"dbgroups", NULL, cmd_list_dbgroups, true},
        {"databases", NULL, cmd_list_dbs, true},
        {"relgroup", NULL, cmd_list_relgroups, true},
        {"syncs", NULL, cmd_list_syncs, true},
        {"tables", NULL, cmd_list_tables, true},
        {"sequences", NULL, cmd_list_sequences, true},
    };

    if (argc > 1)
        return cli_error("usage: bucardo list all [REGEX]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    for (size_t i = 0; i < sizeof(LISTINGS) / sizeof(LISTINGS[0]); i++) {
        if (LISTINGS[i].count_sql != NULL) {
            PGresult *res = pg_query(ctx->cat, "catalog", LISTINGS[i].count_sql, 0, NULL);
            bool any;
            if (res == NULL)
                return EXIT_FAIL;
            any = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
            PQclear(res);
            if (!any)
                continue;
        }
        printf("-- %s:\n", LISTINGS[i].title);
        fflush(stdout);
        if (LISTINGS[i].list(ctx, LISTINGS[i].regex ? argc : 0, argv) != EXIT_OK)
            return EXIT_FAIL;
    }
    printf("\n");
    return EXIT_OK;
}
