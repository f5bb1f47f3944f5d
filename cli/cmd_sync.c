/*
 * cli/cmd_sync.c - syncs: `add sync`, `update sync`, `remove sync`,
 * `list syncs`.
 *
 * A sync is checked as a whole after every change (sync_validate), inside
 * the command's transaction: a dbgroup with a source and a target, a
 * non-empty relgroup whose tables live on a source, keys on every table of
 * a delta sync, a known conflict strategy.  Any failure rolls the command
 * back, so a sync in the catalog is always one the engine can run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "capture.h"
#include "cli.h"
#include "cli_objects.h"
#include "syncdef.h"
#include "utf8.h"

static const char SQL_SYNC_EXISTS[] = "SELECT 1 FROM bucardo.sync WHERE name = $1";
static const char SQL_RELGROUP_EXISTS[] = "SELECT 1 FROM bucardo.relgroup WHERE name = $1";
static const char SQL_DBGROUP_EXISTS[] = "SELECT 1 FROM bucardo.dbgroup WHERE name = $1";
static const char SQL_INSERT_SYNC[] =
    "INSERT INTO bucardo.sync (name, relgroup, dbgroup) VALUES ($1, $2, $3)";
/* A new sync's conflict_strategy: default_conflict_strategy (a given
 * conflict_strategy= is applied after this). */
static const char SQL_DEFAULT_STRATEGY[] =
    "UPDATE bucardo.sync SET conflict_strategy = c.setting FROM bucardo.config c"
    " WHERE bucardo.sync.name = $1 AND c.name = 'default_conflict_strategy'";
static const char SQL_RENAME_SYNC[] = "UPDATE bucardo.sync SET name = $2 WHERE name = $1";
/* The index journal names its sync without a foreign key (it outlives one). */
static const char SQL_RENAME_JOURNAL[] = "UPDATE bucardo.index_rebuild SET sync = $2 WHERE sync = $1";
static const char SQL_DELETE_SYNC[] = "DELETE FROM bucardo.sync WHERE name = $1";
static const char SQL_ROLE_COUNTS[] =
    "SELECT count(*) FILTER (WHERE m.role = 'source'), count(*) FILTER (WHERE m.role <> 'source'),"
    "       count(*) FILTER (WHERE m.role = 'target'), s.conflict_strategy"
    "  FROM bucardo.sync s LEFT JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
    " WHERE s.name = $1 GROUP BY s.conflict_strategy";
static const char SQL_SYNC_TABLES[] =
    "SELECT r.schemaname || '.' || r.relname, r.db, r.pkey IS NULL AND r.kind = 'table',"
    "       EXISTS (SELECT 1 FROM bucardo.dbgroup_member m"
    "                WHERE m.dbgroup = s.dbgroup AND m.db = r.db AND m.role = 'source'),"
    "       EXISTS (SELECT 1 FROM bucardo.dbgroup_member m WHERE m.dbgroup = s.dbgroup AND m.db = r.db)"
    "  FROM bucardo.sync s"
    "  JOIN bucardo.relgroup_member rm ON rm.relgroup = s.relgroup"
    "  JOIN bucardo.relation r ON r.id = rm.relation"
    " WHERE s.name = $1 ORDER BY rm.position";
static const char SQL_IS_MEMBER[] =
    "SELECT 1 FROM bucardo.sync s JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
    " WHERE s.name = $1 AND m.db = $2";
static const char SQL_LIST_SYNCS[] =
    "SELECT s.name, s.relgroup, s.dbgroup, s.status,"
    "       (SELECT string_agg(m.db || ':' || m.role, ' ' ORDER BY m.position)"
    "          FROM bucardo.dbgroup_member m WHERE m.dbgroup = s.dbgroup)"
    "  FROM bucardo.sync s WHERE s.name ~ coalesce($1, '') ORDER BY s.priority, s.name";

/* list syncs --verbose: its tables and sequences, higher priority first
 * (Bucardo's order), once each however many databases registered them;
 * -vv: the sync's row. */
static const char SQL_SYNC_RELATIONS[] =
    "SELECT initcap(r.kind), r.schemaname || '.' || r.relname, max(m.priority)"
    "  FROM bucardo.sync s JOIN bucardo.relgroup_member m ON m.relgroup = s.relgroup"
    "  JOIN bucardo.relation r ON r.id = m.relation"
    " WHERE s.name = $1 GROUP BY 1, 2 ORDER BY 3 DESC, 2";
static const char SQL_SYNC_ROW[] = "SELECT * FROM bucardo.sync WHERE name = $1";

/* A sync option: its column and how its value is checked. */
typedef enum OptType { T_BOOL, T_INT, T_INTERVAL, T_STATUS, T_STRATEGY, T_NAME, T_WORD } OptType;
typedef struct SyncOption {
    const char *key;
    OptType type;
    long min, max;            /* T_INT */
    const char *const *words; /* T_WORD: NULL-terminated */
    const char *noeffect;     /* why this engine does nothing with it (said when set) */
} SyncOption;

static const char *const ISOLATION_LEVELS[] = {"serializable", "repeatable read", NULL};
static const char *const DELETE_METHODS[] = {"default", "delete", "truncate", "truncate_cascade", NULL};
#define NO_PROCESSES "this engine runs a sync as threads of one process, with no controller or KID processes"

static const SyncOption SYNC_OPTIONS[] = {
    {"status", T_STATUS, 0, 0, NULL, NULL},
    {"autokick", T_BOOL, 0, 0, NULL, NULL},
    {"onetimecopy", T_INT, 0, 2, NULL, NULL},
    {"conflict_strategy", T_STRATEGY, 0, 0, NULL, NULL},
    {"checktime", T_INTERVAL, 0, 0, NULL, NULL},
    {"stayalive", T_BOOL, 0, 0, NULL, NO_PROCESSES " to keep alive"},
    {"kidsalive", T_BOOL, 0, 0, NULL, NO_PROCESSES " to keep alive"},
    {"rebuild_index", T_INT, 0, 2, NULL, NULL},
    {"analyze_after_copy", T_BOOL, 0, 0, NULL, NULL},
    {"strict_checking", T_BOOL, 0, 0, NULL, NULL},
    {"overdue", T_INTERVAL, 0, 0, NULL, NULL},
    {"expired", T_INTERVAL, 0, 0, NULL, NULL},
    {"lifetime", T_INTERVAL, 0, 0, NULL, NO_PROCESSES " to restart"},
    {"maxkicks", T_INT, 0, 1000000000, NULL, NO_PROCESSES " to restart"},
    {"priority", T_INT, -1000000, 1000000, NULL, NULL},
    {"copy_streams", T_INT, 0, 64, NULL, NULL},
    {"isolation_level", T_WORD, 0, 0, ISOLATION_LEVELS, NULL},
    {"deletemethod", T_WORD, 0, 0, DELETE_METHODS, NULL},
    {"vacuum_after_copy", T_BOOL, 0, 0, NULL, NULL},
    {"track_rates", T_BOOL, 0, 0, NULL,
     "no rate tracking here (Bucardo 5.6 never fills bucardo_rate either); bucardo.syncrun has each run's "
     "start, end and counts"},
    {"relgroup", T_NAME, 0, 0, NULL, NULL},
    {"dbgroup", T_NAME, 0, 0, NULL, NULL},
};
#define NSYNC_OPTIONS (sizeof(SYNC_OPTIONS) / sizeof(SYNC_OPTIONS[0]))

static const char *const SYNC_KEYS[] = {"status",
                                        "tables",
                                        "autokick",
                                        "onetimecopy",
                                        "conflict_strategy",
                                        "checktime",
                                        "stayalive",
                                        "kidsalive",
                                        "rebuild_index",
                                        "analyze_after_copy",
                                        "strict_checking",
                                        "overdue",
                                        "expired",
                                        "lifetime",
                                        "maxkicks",
                                        "priority",
                                        "copy_streams",
                                        "isolation_level",
                                        "txnmode",
                                        "deletemethod",
                                        "vacuum_after_copy",
                                        "track_rates",
                                        "copyextra",
                                        "name",
                                        "relgroup",
                                        "herd",
                                        "dbgroup",
                                        "dbs",
                                        NULL};

static const char *const STRATEGIES[] = {"bucardo_source", "bucardo_target", "bucardo_skip",
                                         "bucardo_random", "bucardo_latest", "bucardo_latest_all_tables",
                                         "bucardo_abort",  "bucardo_custom", NULL};

static const SyncOption *find_option(const char *key)
{
    if (strcmp(key, "txnmode") == 0) /* Bucardo's other name for it */
        key = "isolation_level";
    for (size_t i = 0; i < NSYNC_OPTIONS; i++)
        if (strcmp(SYNC_OPTIONS[i].key, key) == 0)
            return &SYNC_OPTIONS[i];
    return NULL;
}

/*
 * interval_sign - is `text` a valid interval, and which sign?  1: positive,
 * 0: zero, -1: negative, -2: not an interval.  The server's own parser
 * decides; its error (which would not name the option) is not printed,
 * the caller says what was wrong.  A failed statement aborts the
 * transaction, which the failing command rolls back anyway.
 */
static int interval_sign(PGconn *cat, const char *text)
{
    const char *params[1] = {text};
    PGresult *res = PQexecParams(cat, "SELECT sign(extract(epoch FROM $1::interval))::int", 1, NULL, params,
                                 NULL, NULL, 0);
    long sign = -2;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
        !parse_int(PQgetvalue(res, 0, 0), -1, 1, &sign))
        sign = -2;
    PQclear(res);
    return (int)sign;
}

/*
 * set_option - validate and store one option of a sync.  An interval
 * given as a bare number is seconds, as Bucardo has it; 0 or nothing means
 * none (NULL, or 0 for overdue and expired); anything else must be a
 * positive interval the server can parse.
 */
static bool set_option(PGconn *cat, const char *sync, const SyncOption *opt, const char *value)
{
    const char *params[2] = {sync, value};
    const char *cast = "";
    char *sql, *normalised = NULL;
    bool ok, b;
    long n;

    switch (opt->type) {
    case T_BOOL:
        if (!parse_bool(value, &b))
            return cli_error("%s: expected a boolean (1/0, true/false, yes/no), got \"%s\"", opt->key,
                             value) == 0;
        params[1] = b ? "true" : "false";
        cast = "::boolean";
        break;
    case T_INT:
        if (!parse_int(value, opt->min, opt->max, &n))
            return cli_error("%s: expected a whole number from %ld to %ld, got \"%s\"", opt->key, opt->min,
                             opt->max, value) == 0;
        cast = "::integer";
        break;
    case T_INTERVAL:
        /* "0" is checked first: 0 seconds is "none", never a zero interval
         * that would read as "every 0 seconds". */
        if (value[0] == '\0' || strcmp(value, "0") == 0)
            params[1] = NULL;
        else if (parse_int(value, 1, 1000000000, &n))
            params[1] = normalised = xasprintf("%ld seconds", n);
        else {
            int sign = interval_sign(cat, value);
            if (sign < 0)
                return cli_error("%s: expected a number of seconds or an interval such as \"5 minutes\", "
                                 "not negative, got \"%s\"",
                                 opt->key, value) == 0;
            if (sign == 0)
                params[1] = NULL;
        }
        cast = "::interval";
        break;
    case T_STATUS:
        if (strcmp(value, "active") != 0 && strcmp(value, "inactive") != 0)
            return cli_error("status: expected active or inactive, got \"%s\"", value) == 0;
        break;
    case T_WORD: {
        bool known = false;
        for (int i = 0; opt->words[i]; i++)
            if (strcasecmp(value, opt->words[i]) == 0) {
                params[1] = opt->words[i];
                known = true;
            }
        if (!known) {
            StrBuf all;
            strbuf_init(&all);
            for (int i = 0; opt->words[i]; i++)
                strbuf_printf(&all, "%s%s", i ? ", " : "", opt->words[i]);
            cli_error("%s: expected one of %s, got \"%s\"", opt->key, all.data, value);
            strbuf_free(&all);
            return false;
        }
        break;
    }
    case T_STRATEGY:
    case T_NAME: break;
    }
    if (opt->type == T_INTERVAL && params[1] == NULL &&
        (strcmp(opt->key, "overdue") == 0 || strcmp(opt->key, "expired") == 0))
        params[1] = "0";
    /* The column name comes from SYNC_OPTIONS, never from the user. */
    sql = xasprintf("UPDATE bucardo.sync SET %s = $2%s WHERE name = $1", opt->key, cast);
    ok = pg_exec(cat, "catalog", sql, 2, params);
    free(sql);
    free(normalised);
    return ok;
}

/*
 * not_runnable - say why a sync cannot run: into why[] when the caller
 * asked for the reason (remove db --force deactivates such syncs), else as
 * the command's error.  Returns 0, sync_runnable's "not runnable".
 */
static int not_runnable(char *why, size_t whylen, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int not_runnable(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    if (why != NULL)
        snprintf(why, whylen, "%s", msg);
    else
        cli_error("%s", msg);
    free(msg);
    return 0;
}

/* valid_strategy - a built-in name, or a comma list of the sync's databases:
 * 1 yes, 0 no (see not_runnable), -1 error. */
static int valid_strategy(PGconn *cat, const char *sync, const char *strategy, char *why, size_t whylen)
{
    StrList dbs = {0};
    bool ok = true;

    for (int i = 0; STRATEGIES[i]; i++)
        if (strcmp(strategy, STRATEGIES[i]) == 0)
            return 1;
    strlist_add_split(&dbs, strategy, ',');
    if (dbs.count == 0)
        ok = false;
    for (int i = 0; ok && i < dbs.count; i++) {
        const char *params[2] = {sync, dbs.items[i]};
        PGresult *res = pg_query(cat, "catalog", SQL_IS_MEMBER, 2, params);
        if (res == NULL) {
            strlist_free(&dbs);
            return -1;
        }
        ok = PQntuples(res) > 0;
        PQclear(res);
    }
    strlist_free(&dbs);
    if (!ok)
        return not_runnable(
            why, whylen,
            "conflict_strategy \"%s\" is neither a known strategy (bucardo_source, "
            "bucardo_target, bucardo_skip, bucardo_random, bucardo_latest, "
            "bucardo_latest_all_tables, bucardo_abort, bucardo_custom) nor a list of the sync's databases",
            strategy);
    return 1;
}

int sync_runnable(PGconn *cat, const char *sync, char *why, size_t whylen)
{
    const char *params[1] = {sync};
    PGresult *res = pg_query(cat, "catalog", SQL_ROLE_COUNTS, 1, params);
    long sources, others, delta_targets;
    int ok = 1;

    if (res == NULL)
        return -1;
    if (!parse_int(PQgetvalue(res, 0, 0), 0, 1L << 30, &sources) ||
        !parse_int(PQgetvalue(res, 0, 1), 0, 1L << 30, &others) ||
        !parse_int(PQgetvalue(res, 0, 2), 0, 1L << 30, &delta_targets))
        sources = others = delta_targets = 0;
    if (sources == 0)
        ok = not_runnable(why, whylen, "sync \"%s\": its dbgroup has no source database", sync);
    else if (others == 0 && sources < 2)
        ok = not_runnable(why, whylen, "sync \"%s\": its dbgroup has no target database", sync);
    if (ok == 1)
        ok = valid_strategy(cat, sync, PQgetvalue(res, 0, 3), why, whylen);
    PQclear(res);
    if (ok != 1)
        return ok;

    res = pg_query(cat, "catalog", SQL_SYNC_TABLES, 1, params);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0)
        ok = not_runnable(why, whylen, "sync \"%s\": its relgroup has no tables", sync);
    for (int r = 0; ok == 1 && r < PQntuples(res); r++) {
        const char *table = PQgetvalue(res, r, 0), *db = PQgetvalue(res, r, 1);
        /* A fullcopy sync (one source, every other member fullcopy: no
         * capture, no delta) reads its tables by name from its source,
         * so a table may be registered on any of its databases - what
         * `clone` needs for a prime other than the database the tables
         * were added on. */
        bool copy_only = sources == 1 && delta_targets == 0;
        if (strcmp(PQgetvalue(res, r, 3), "t") != 0 &&
            !(copy_only && strcmp(PQgetvalue(res, r, 4), "t") == 0))
            ok = not_runnable(
                why, whylen,
                "sync \"%s\": table %s belongs to database \"%s\", which is not a source of the sync", sync,
                table, db);
        else if (strcmp(PQgetvalue(res, r, 2), "t") == 0 && (delta_targets > 0 || sources > 1))
            ok = not_runnable(
                why, whylen,
                "sync \"%s\": table %s has no primary key or unique index over NOT NULL columns, "
                "so it can only be in a fullcopy sync",
                sync, table);
    }
    PQclear(res);
    return ok;
}

/* sync_validate - is the sync, as now stored, one the engine can run?
 * Prints why not. */
static bool sync_validate(PGconn *cat, const char *sync)
{
    return sync_runnable(cat, sync, NULL, 0) == 1;
}

/*
 * install_capture - put the sync's capture in place on its sources.  Each
 * source commits on its own before the catalog does; installing is
 * idempotent, so a catalog failure afterwards leaves nothing harmful.
 */
static bool install_capture(PGconn *cat, const char *sync)
{
    SyncDef def;
    bool ok;

    if (syncdef_load(cat, sync, &def) != LOOKUP_FOUND)
        return false;
    ok = capture_sync_install(cat, &def);
    syncdef_free(&def);
    if (!ok)
        cli_error("sync \"%s\": could not install change capture on its source database(s)", sync);
    return ok;
}

bool sync_check(PGconn *cat, const char *sync)
{
    return sync_validate(cat, sync);
}

bool sync_capture(PGconn *cat, const char *sync)
{
    return install_capture(cat, sync);
}

/* say_noeffect - for each option of kv this engine has nothing to do
 * with: a note saying why (stored and shown all the same). */
static void say_noeffect(CliContext *ctx, const KeyValues *kv)
{
    for (int i = 0; i < kv->keys.count; i++) {
        const SyncOption *opt = find_option(kv->keys.items[i]);
        if (opt && opt->noeffect)
            cli_say(ctx, "Note: %s has no effect in this engine: %s\n", opt->key, opt->noeffect);
    }
}

/* apply_options - every option of kv except the structural ones.
 * copyextra: only empty.  Bucardo appended it to its COPY statements
 * (e.g. "WITH OIDS", gone since PostgreSQL 12); here the engine picks each
 * COPY's format itself (text or binary, FREEZE where allowed), and every
 * other option (NULL, DELIMITER, ENCODING...) would change how rows are
 * read on one side or the other, so none is taken. */
static bool apply_options(PGconn *cat, const char *sync, const KeyValues *kv)
{
    const char *extra = cli_kv_get(kv, "copyextra");

    if (extra && extra[0] != '\0')
        return cli_error(
                   "copyextra: no extra COPY options are taken (\"%s\"): the engine chooses each COPY's "
                   "format itself, and options such as NULL or DELIMITER would change the rows copied",
                   extra) == 0;
    for (int i = 0; i < kv->keys.count; i++) {
        const char *key = kv->keys.items[i];
        const SyncOption *opt = find_option(key);
        if (opt == NULL || opt->type == T_NAME)
            continue;
        if (!set_option(cat, sync, opt, kv->values.items[i]))
            return false;
    }
    return true;
}

/*
 * free_dbgroup_name - the name for a new dbgroup of a sync: the sync's own
 * name, or when a dbgroup already has it (one made by hand, or the sync's
 * previous dbgroup on `update sync dbs=`) the first free NAME_2, NAME_3...
 * (NAME cut at a character boundary so that the whole fits in 63 bytes).
 * Owned by the caller; NULL after an error.
 */
static char *free_dbgroup_name(PGconn *cat, const char *sync)
{
    for (int i = 1; i <= 1000; i++) {
        char suffix[16];
        char *candidate;
        int keep, found;

        suffix[0] = '\0';
        if (i > 1)
            snprintf(suffix, sizeof(suffix), "_%d", i);
        keep = utf8_prefix(sync, 63 - strlen(suffix));
        candidate = xasprintf("%.*s%s", keep, sync, suffix);
        found = cli_row_exists(cat, SQL_DBGROUP_EXISTS, candidate);

        if (found == 0)
            return candidate;
        free(candidate);
        if (found < 0)
            return NULL;
    }
    cli_error("no free name for a new dbgroup of sync \"%s\": give dbgroup=NAME", sync);
    return NULL;
}

/*
 * resolve_dbgroup - the dbgroup a sync uses: dbgroup=NAME (created from dbs=
 * when it does not exist yet), or for dbs= alone a dbgroup with exactly
 * those members, else a new one named after the sync (free_dbgroup_name).
 * Returns an owned name or NULL; *created says a new dbgroup was made.
 */
static char *resolve_dbgroup(PGconn *cat, const char *sync, const char *dbgroup, const char *dbs_text,
                             bool *created)
{
    StrList dbs = {0}, roles = {0};
    char *name = NULL, *new_name = NULL;
    int found;
    bool error;

    *created = false;
    if (dbs_text == NULL) {
        found = cli_row_exists(cat, SQL_DBGROUP_EXISTS, dbgroup);
        if (found == 0)
            cli_error("no dbgroup named \"%s\"", dbgroup);
        return found == 1 ? xstrdup(dbgroup) : NULL;
    }
    if (!dbgroup_parse_members(1, (char **)&dbs_text, &dbs, &roles))
        goto out;
    if (dbgroup) {
        found = cli_row_exists(cat, SQL_DBGROUP_EXISTS, dbgroup);
        if (found < 0)
            goto out;
        if (found) {
            cli_error("dbgroup \"%s\" already exists: give either dbgroup= or dbs=", dbgroup);
            goto out;
        }
    } else {
        name = dbgroup_find_same(cat, &dbs, &roles, &error);
        if (name || error)
            goto out;
        dbgroup = new_name = free_dbgroup_name(cat, sync);
        if (dbgroup == NULL)
            goto out;
    }
    if (!dbgroup_create(cat, dbgroup) || !dbgroup_add_members(cat, dbgroup, &dbs, &roles, NULL))
        goto out;
    *created = true;
    name = xstrdup(dbgroup);
out:
    free(new_name);
    strlist_free(&dbs);
    strlist_free(&roles);
    return name;
}

/*
 * SQL_FIND_SOURCE_REL - a table of tables=, looked up among the sync's
 * source databases (as Bucardo does): the best match (schema.table before a
 * bare name, then by database) and how many different schema.table names
 * match.  A table registered from several sources is one table for the sync:
 * the first registration stands for it.
 */
static const char SQL_FIND_SOURCE_REL[] =
    "WITH m AS (SELECT id, db, schemaname || '.' || relname AS q FROM bucardo.relation"
    "            WHERE (schemaname || '.' || relname = $1 OR relname = $1)"
    "              AND db IN (SELECT db FROM bucardo.dbgroup_member WHERE dbgroup = $2 AND role = 'source'))"
    " SELECT id, db, q, (SELECT count(DISTINCT q) FROM m) FROM m ORDER BY q = $1 DESC, db, q LIMIT 1";

/* find_sync_table - one name of tables=: with --db, in that database;
 * else among the sources of dbgroup `group`, and when none of them has it,
 * wherever it is registered (relation_find's errors). */
static PGresult *find_sync_table(CliContext *ctx, const char *name, const char *group)
{
    const char *params[2] = {name, group};
    PGresult *res;

    if (ctx->db != NULL)
        return relation_find(ctx->cat, name, ctx->db);
    res = pg_query(ctx->cat, "catalog", SQL_FIND_SOURCE_REL, 2, params);
    if (res == NULL)
        return NULL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return relation_find(ctx->cat, name, NULL);
    }
    if (strcmp(PQgetvalue(res, 0, 3), "1") != 0 && strcmp(PQgetvalue(res, 0, 2), name) != 0) {
        cli_error("table name \"%s\" is ambiguous: it names tables in several schemas of the sync's source "
                  "database(s) (give schema.table)",
                  name);
        PQclear(res);
        return NULL;
    }
    return res;
}

/*
 * add_tables - tables=T1,T2,...: put each table (known to bucardo; looked
 * up in the sync's sources, dbgroup `dbgroup`, unless --db names the
 * database) into relgroup `group`, created when missing.  Said on commit.
 */
static bool add_tables(CliContext *ctx, const char *group, const char *dbgroup, const char *list)
{
    StrList names = {0};
    bool created, ok = true;

    strlist_add_split(&names, list, ',');
    if (names.count == 0) {
        strlist_free(&names);
        return cli_error("add sync: tables= lists no table") == 0;
    }
    if (!relgroup_ensure(ctx->cat, group, &created)) {
        strlist_free(&names);
        return false;
    }
    if (created)
        cli_say(ctx, "Created relgroup \"%s\"\n", group);
    for (int i = 0; ok && i < names.count; i++) {
        PGresult *rel = find_sync_table(ctx, names.items[i], dbgroup);
        bool added;
        ok = rel != NULL && relgroup_add(ctx->cat, group, PQgetvalue(rel, 0, 0), &added);
        if (ok && added)
            cli_say(ctx, "Added %s to relgroup \"%s\"\n", PQgetvalue(rel, 0, 2), group);
        PQclear(rel);
    }
    strlist_free(&names);
    return ok;
}

int cmd_add_sync(CliContext *ctx, int argc, char **argv)
{
    KeyValues kv;
    const char *relgroup, *dbs, *dbgroup;
    char *group = NULL;
    bool created;
    int found, code = EXIT_FAIL;

    if (argc < 1 || strchr(argv[0], '=') != NULL)
        return cli_error("usage: bucardo add sync NAME relgroup=NAME dbs=DB1,DB2[,...] [option=value ...]");
    if (!cli_check_name(NAME_SYNC, argv[0]))
        return EXIT_FAIL;
    if (!cli_kv_parse(argc, argv, 1, SYNC_KEYS, "add sync", &kv))
        return EXIT_FAIL;
    if (cli_kv_get(&kv, "name")) {
        cli_kv_free(&kv);
        return cli_error("add sync: the sync's name comes first (bucardo add sync NAME ...), not as name=");
    }
    relgroup = cli_kv_get(&kv, "relgroup") ? cli_kv_get(&kv, "relgroup")
               : cli_kv_get(&kv, "herd")   ? cli_kv_get(&kv, "herd")
                                           : ctx->relgroup;
    dbs = cli_kv_get(&kv, "dbs");
    dbgroup = cli_kv_get(&kv, "dbgroup");
    /* tables=T1,T2: Bucardo's implicit relgroup, named after the sync
     * unless relgroup= names one. */
    if (relgroup == NULL && cli_kv_get(&kv, "tables"))
        relgroup = argv[0];
    if (relgroup == NULL) {
        cli_error("add sync: relgroup= (or tables=) is required");
        goto out;
    }
    if (dbs == NULL && dbgroup == NULL) {
        cli_error("add sync: dbs= (a list of databases) or dbgroup= is required");
        goto out;
    }
    if (cli_catalog(ctx) == NULL)
        goto out;
    found = cli_row_exists(ctx->cat, SQL_SYNC_EXISTS, argv[0]);
    if (found != 0) {
        if (found > 0)
            cli_error("a sync named \"%s\" already exists", argv[0]);
        goto out;
    }
    if (cli_kv_get(&kv, "tables") == NULL) {
        found = cli_row_exists(ctx->cat, SQL_RELGROUP_EXISTS, relgroup);
        if (found != 1) {
            if (found == 0)
                cli_error("no relgroup named \"%s\"", relgroup);
            goto out;
        }
    }
    /* dbs=NAME of an existing dbgroup (Bucardo's dbs=DBGROUPNAME): one
     * name, no role - a single database could not make a sync anyway. */
    if (dbs != NULL && dbgroup == NULL && strpbrk(dbs, ",:") == NULL) {
        found = cli_row_exists(ctx->cat, SQL_DBGROUP_EXISTS, dbs);
        if (found < 0)
            goto out;
        if (found == 1) {
            dbgroup = dbs;
            dbs = NULL;
        }
    }
    group = resolve_dbgroup(ctx->cat, argv[0], dbgroup, dbs, &created);
    if (group == NULL)
        goto out;
    /* tables= once the dbgroup is known: its sources decide which
     * registration of a table the sync reads */
    if (cli_kv_get(&kv, "tables") && !add_tables(ctx, relgroup, group, cli_kv_get(&kv, "tables")))
        goto out;
    {
        const char *params[3] = {argv[0], relgroup, group};
        if (!pg_exec(ctx->cat, "catalog", SQL_INSERT_SYNC, 3, params) ||
            !pg_exec(ctx->cat, "catalog", SQL_DEFAULT_STRATEGY, 1, params))
            goto out;
    }
    if (!apply_options(ctx->cat, argv[0], &kv) || !sync_validate(ctx->cat, argv[0]) ||
        !(ctx->dryrun || install_capture(ctx->cat, argv[0])))
        goto out;
    if (!cli_notify_reload(ctx))
        goto out;
    cli_say(ctx, "Added sync \"%s\"\n", argv[0]);
    if (created)
        cli_say(ctx, "Created a new dbgroup named \"%s\"\n", group);
    say_noeffect(ctx, &kv);
    code = EXIT_OK;
out:
    free(group);
    cli_kv_free(&kv);
    return code;
}

/* rename_sync - `update sync X name=Y`: every table naming a sync follows
 * (foreign keys ON UPDATE CASCADE, and the index journal here). */
static bool rename_sync(PGconn *cat, const char *from, const char *to)
{
    const char *params[2] = {from, to};
    int found;

    if (!cli_check_name(NAME_SYNC, to))
        return false;
    found = cli_row_exists(cat, SQL_SYNC_EXISTS, to);
    if (found != 0)
        return found > 0 ? cli_error("a sync named \"%s\" already exists", to) == 0 : false;
    return pg_exec(cat, "catalog", SQL_RENAME_SYNC, 2, params) &&
           pg_exec(cat, "catalog", SQL_RENAME_JOURNAL, 2, params);
}

int cmd_update_sync(CliContext *ctx, int argc, char **argv)
{
    KeyValues kv;
    StrList new_groups = {0}; /* dbgroups made for dbs=, told on success */
    int found, code = EXIT_FAIL;
    const char *newname;
    char **args;
    bool parsed;

    if (argc < 2)
        return cli_error("usage: bucardo update sync NAME key=value ...");
    /* Bucardo's bare words: `update sync X inactive` is status=inactive. */
    args = xcalloc((size_t)argc, sizeof(char *));
    for (int i = 0; i < argc; i++)
        args[i] =
            xstrdup(i > 0 && (strcasecmp(argv[i], "active") == 0 || strcasecmp(argv[i], "inactive") == 0)
                        ? (strcasecmp(argv[i], "active") == 0 ? "status=active" : "status=inactive")
                        : argv[i]);
    parsed = cli_kv_parse(argc, args, 1, SYNC_KEYS, "update sync", &kv);
    for (int i = 0; i < argc; i++)
        free(args[i]);
    free(args);
    if (!parsed)
        return EXIT_FAIL;
    if (cli_kv_get(&kv, "tables")) {
        cli_kv_free(&kv);
        return cli_error(
            "update sync: tables= is for add sync; change the tables with 'bucardo update relgroup'");
    }
    if (cli_catalog(ctx) == NULL)
        goto out;
    found = cli_row_exists(ctx->cat, SQL_SYNC_EXISTS, argv[0]);
    if (found != 1) {
        if (found == 0)
            cli_error("no sync named \"%s\"", argv[0]);
        goto out;
    }
    for (int i = 0; i < kv.keys.count; i++) {
        const char *key = kv.keys.items[i], *value = kv.values.items[i];
        const char *params[2] = {argv[0], value};

        if (strcmp(key, "relgroup") == 0 || strcmp(key, "herd") == 0) {
            found = cli_row_exists(ctx->cat, SQL_RELGROUP_EXISTS, value);
            if (found != 1) {
                if (found == 0)
                    cli_error("no relgroup named \"%s\"", value);
                goto out;
            }
            if (!pg_exec(ctx->cat, "catalog", "UPDATE bucardo.sync SET relgroup = $2 WHERE name = $1", 2,
                         params))
                goto out;
        } else if (strcmp(key, "dbgroup") == 0 || strcmp(key, "dbs") == 0) {
            bool created;
            char *group = strcmp(key, "dbs") == 0 ? resolve_dbgroup(ctx->cat, argv[0], NULL, value, &created)
                                                  : resolve_dbgroup(ctx->cat, argv[0], value, NULL, &created);
            bool ok;
            if (group == NULL)
                goto out;
            params[1] = group;
            ok = pg_exec(ctx->cat, "catalog", "UPDATE bucardo.sync SET dbgroup = $2 WHERE name = $1", 2,
                         params);
            if (ok && created)
                strlist_add(&new_groups, group);
            free(group);
            if (!ok)
                goto out;
        }
    }
    if (!apply_options(ctx->cat, argv[0], &kv) || !sync_validate(ctx->cat, argv[0]) ||
        !(ctx->dryrun || install_capture(ctx->cat, argv[0])))
        goto out;
    newname = cli_kv_get(&kv, "name");
    if (newname && strcmp(newname, argv[0]) != 0 && !rename_sync(ctx->cat, argv[0], newname))
        goto out;
    if (!cli_notify_reload(ctx))
        goto out;
    for (int i = 0; i < kv.keys.count; i++)
        if (strcmp(kv.keys.items[i], "name") == 0)
            cli_say(ctx, "Renamed sync \"%s\" to \"%s\"\n", argv[0], kv.values.items[i]);
        else
            cli_say(ctx, "Set %s to \"%s\" for sync \"%s\"\n", kv.keys.items[i], kv.values.items[i], argv[0]);
    say_noeffect(ctx, &kv);
    for (int i = 0; i < new_groups.count; i++)
        cli_say(ctx, "Created a new dbgroup named \"%s\"\n", new_groups.items[i]);
    code = EXIT_OK;
out:
    strlist_free(&new_groups);
    cli_kv_free(&kv);
    return code;
}

/*
 * cmd_remove_sync - remove syncs and the capture no other sync needs.
 * Capture removal commits on each source on its own, before the catalog
 * does, so it comes last: every name is checked and every sync deleted
 * from the catalog first, and a bad name further on the line can no longer
 * leave a sync in the catalog whose capture is gone (whose changes would
 * then never be recorded).
 */
int cmd_remove_sync(CliContext *ctx, int argc, char **argv)
{
    SyncDef *defs;
    int loaded = 0, code = EXIT_FAIL;

    if (argc < 1)
        return cli_error("usage: bucardo remove sync NAME [NAME ...]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    defs = xcalloc((size_t)argc, sizeof(SyncDef));
    for (; loaded < argc; loaded++) {
        LookupStatus found = syncdef_load(ctx->cat, argv[loaded], &defs[loaded]);
        if (found != LOOKUP_FOUND) {
            if (found == LOOKUP_ABSENT)
                cli_error("no sync named \"%s\"", argv[loaded]);
            goto out;
        }
        for (int j = 0; j < loaded; j++)
            if (strcmp(argv[j], argv[loaded]) == 0) {
                cli_error("sync \"%s\" is named twice", argv[loaded]);
                loaded++;
                goto out;
            }
    }
    for (int i = 0; i < argc; i++) {
        const char *params[1] = {argv[i]};
        if (!pg_exec(ctx->cat, "catalog", SQL_DELETE_SYNC, 1, params))
            goto out;
    }
    /* Capture goes once no other sync reads the table (counted without these). */
    for (int i = 0; i < argc; i++)
        if (!ctx->dryrun && !capture_sync_cleanup(ctx->cat, &defs[i])) {
            cli_error("sync \"%s\" was not removed", argv[i]);
            goto out;
        }
    if (!cli_notify_reload(ctx))
        goto out;
    for (int i = 0; i < argc; i++)
        cli_say(ctx, "Removed sync \"%s\"\n", argv[i]);
    code = EXIT_OK;
out:
    for (int i = 0; i < loaded; i++)
        syncdef_free(&defs[i]);
    free(defs);
    return code;
}

int cmd_list_syncs(CliContext *ctx, int argc, char **argv)
{
    const char *params[1] = {argc > 0 ? argv[0] : NULL};
    PGresult *res;
    int width = 0;

    if (argc > 1)
        return cli_error("usage: bucardo list syncs [REGEX]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    res = pg_query(ctx->cat, "catalog", SQL_LIST_SYNCS, 1, params);
    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0)
        printf("No syncs\n");
    for (int r = 0; r < PQntuples(res); r++)
        if (utf8_width(PQgetvalue(res, r, 0)) + 2 > width)
            width = utf8_width(PQgetvalue(res, r, 0)) + 2;
    for (int r = 0; r < PQntuples(res); r++) {
        char *quoted = xasprintf("\"%s\"", PQgetvalue(res, r, 0));
        printf("Sync %s%*s  Relgroup \"%s\"  DB group \"%s\" %s  [%s]\n", quoted, utf8_pad(quoted, width), "",
               PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
               PQgetisnull(res, r, 4) ? "" : PQgetvalue(res, r, 4),
               strcmp(PQgetvalue(res, r, 3), "active") == 0 ? "Active" : "Inactive");
        free(quoted);
        if (ctx->verbose > 0) {
            const char *key[1] = {PQgetvalue(res, r, 0)};
            PGresult *rels = pg_query(ctx->cat, "catalog", SQL_SYNC_RELATIONS, 1, key);
            for (int i = 0; rels && i < PQntuples(rels); i++)
                printf("  %s %s\n", PQgetvalue(rels, i, 0), PQgetvalue(rels, i, 1));
            if (rels == NULL || !cli_show_all_columns(ctx, SQL_SYNC_ROW, key[0])) {
                PQclear(rels);
                PQclear(res);
                return EXIT_FAIL;
            }
            PQclear(rels);
        }
    }
    PQclear(res);
    return EXIT_OK;
}
