/*
 * cli/cmd_dbgroup.c - dbgroups: which databases a sync joins, and in which
 * role (source, target, fullcopy).
 *
 * Members keep the order the user gave them: the first source is the one
 * `bucardo_source` conflict resolution prefers.  dbgroup_find_or_create is
 * shared with `add sync dbs=...`, which reuses a dbgroup with exactly the
 * same members instead of making a duplicate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_objects.h"
#include "utf8.h"

static const char SQL_GROUP_EXISTS[] = "SELECT 1 FROM bucardo.dbgroup WHERE name = $1";
static const char SQL_CREATE_GROUP[] = "INSERT INTO bucardo.dbgroup (name) VALUES ($1)";
static const char SQL_DB_EXISTS[] = "SELECT 1 FROM bucardo.db WHERE name = $1";
static const char SQL_UPSERT_MEMBER[] =
    "INSERT INTO bucardo.dbgroup_member (dbgroup, db, role, position, priority, makedelta)"
    " VALUES ($1, $2, $3, (SELECT coalesce(max(position), 0) + 1 FROM bucardo.dbgroup_member"
    "                       WHERE dbgroup = $1), $4::integer, $5::boolean)"
    " ON CONFLICT (dbgroup, db) DO UPDATE"
    " SET role = EXCLUDED.role, priority = EXCLUDED.priority, makedelta = EXCLUDED.makedelta";
static const char SQL_SAME_MEMBERS[] =
    "SELECT dbgroup FROM bucardo.dbgroup_member GROUP BY dbgroup"
    " HAVING array_agg(db ORDER BY position) = $1::text[]"
    "    AND array_agg(" DBGROUP_MEMBER_ROLE_SQL " ORDER BY position) = $2::text[]"
    " ORDER BY dbgroup LIMIT 1";
static const char SQL_GROUP_USERS[] =
    "SELECT string_agg(name, ', ' ORDER BY name) FROM bucardo.sync WHERE dbgroup = $1 HAVING count(*) > 0";
static const char SQL_DELETE_GROUP[] = "DELETE FROM bucardo.dbgroup WHERE name = $1";
static const char SQL_GROUP_ROW[] = "SELECT * FROM bucardo.dbgroup WHERE name = $1";
/* Members' priorities show as Bucardo's ":pri=N" when not 0. */
static const char SQL_LIST_GROUPS[] =
    "SELECT g.name, string_agg(m.db || ':' || m.role"
    "                         || CASE WHEN m.priority <> 0 THEN ':pri=' || m.priority ELSE '' END,"
    "                         ' ' ORDER BY m.position)"
    "  FROM bucardo.dbgroup g LEFT JOIN bucardo.dbgroup_member m ON m.dbgroup = g.name"
    " WHERE g.name ~ coalesce($1, '')"
    " GROUP BY g.name ORDER BY g.name";

/* row_exists - does `sql` with one parameter return a row?  -1 on error. */
int cli_row_exists(PGconn *cat, const char *sql, const char *param)
{
    const char *params[1] = {param};
    PGresult *res = pg_query(cat, "catalog", sql, 1, params);
    int found;

    if (res == NULL)
        return -1;
    found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

/* The object kinds cli_check_name knows, as the messages name them. */
static const char *const NAME_KINDS[] = {"database", "dbgroup", "relgroup", "sync"};

bool cli_check_name(NameKind kind, const char *name)
{
    static const char RULE[] = "a name is 1 to 63 bytes of UTF-8 without control characters or '=', "
                               "not starting with '-' nor starting or ending with a blank";
    const char *what = NAME_KINDS[kind], *why = NULL;
    size_t len = strlen(name);
    char *shown;
    bool digits = len > 0;

    for (size_t i = 0; i < len; i++)
        digits = digits && name[i] >= '0' && name[i] <= '9';
    if (len == 0)
        return cli_error("a %s needs a name", what) == 0;
    if (len > 63)
        why = "it is longer than 63 bytes";
    else if (!utf8_valid(name, len))
        why = "it is not valid UTF-8";
    else if (utf8_has_control(name))
        why = "it holds a control character";
    else if (strchr(name, '=') != NULL)
        why = "'=' would make it read as key=value";
    else if (name[0] == '-')
        why = "a leading '-' would make it read as an option";
    else if (name[0] == ' ' || name[len - 1] == ' ')
        why = "it starts or ends with a blank";
    else if (kind == NAME_DATABASE && strpbrk(name, ",:") != NULL)
        why = "',' and ':' separate the databases of dbs= lists (DB:role,DB)";
    else if (kind == NAME_SYNC && strcmp(name, "all") == 0)
        why = "\"all\" means every sync to pause, resume and validate";
    else if (kind == NAME_SYNC && digits)
        why = "a number after the syncs of kick is its timeout";
    if (why == NULL)
        return true;
    shown = utf8_printable(name, 60);
    cli_error("invalid %s name \"%s\": %s (%s%s)", what, shown, why, RULE,
              kind == NAME_DATABASE ? "; a database name also without ',' or ':'"
              : kind == NAME_SYNC   ? "; a sync is not named \"all\" nor a number"
                                    : "");
    free(shown);
    return false;
}

/*
 * member_extras - Bucardo's extras after a member's role, "pri=N" (also
 * "priority=N") and "makedelta=BOOL", appended to `role` in one canonical
 * form (":pri=N:makedelta=1", what DBGROUP_MEMBER_ROLE_SQL gives back); the
 * words start at `rest` (colon-separated).  Prints why not.
 */
static bool member_extras(const char *name, char *rest, StrBuf *role)
{
    long pri = 0;
    bool makedelta = false;

    for (char *word = rest; word != NULL;) {
        char *next = strchr(word, ':'), *eq;
        if (next)
            *next++ = '\0';
        eq = strchr(word, '=');
        if (eq == NULL)
            return cli_error("database \"%s\": expected key=value after its role, got \"%s\"", name, word) ==
                   0;
        *eq = '\0';
        if (strcmp(word, "pri") == 0 || strcmp(word, "priority") == 0) {
            if (!parse_int(eq + 1, -1000000, 1000000, &pri))
                return cli_error("database \"%s\": pri: expected a whole number, got \"%s\"", name, eq + 1) ==
                       0;
        } else if (strcmp(word, "makedelta") == 0) {
            if (!parse_bool(eq + 1, &makedelta))
                return cli_error("database \"%s\": makedelta: expected a boolean, got \"%s\"", name,
                                 eq + 1) == 0;
        } else {
            return cli_error("database \"%s\": unknown member setting \"%s\" (expected pri= or makedelta=)",
                             name, word) == 0;
        }
        word = next;
    }
    if (pri != 0)
        strbuf_printf(role, ":pri=%ld", pri);
    if (makedelta)
        strbuf_printf(role, ":makedelta=1");
    return true;
}

/* canonical_role - Bucardo's role names and letters: s source, t target. */
static const char *canonical_role(const char *role)
{
    if (strcmp(role, "master") == 0 || strcmp(role, "s") == 0)
        return "source";
    if (strcmp(role, "slave") == 0 || strcmp(role, "replica") == 0 || strcmp(role, "t") == 0)
        return "target";
    return role;
}

bool dbgroup_member_word(char *item, const char *default_role, StrBuf *full, bool *given)
{
    char *colon = strchr(item, ':');
    const char *role = default_role;
    char *extras = NULL;

    *given = colon != NULL;
    if (colon) {
        extras = strchr(colon + 1, ':');
        *colon = '\0';
        if (extras)
            *extras++ = '\0';
        /* "A:pri=2": no role given, the default one with extras. */
        if (strchr(colon + 1, '=') != NULL) {
            if (extras)
                extras[-1] = ':';
            extras = colon + 1;
        } else if (colon[1] != '\0') {
            role = canonical_role(colon + 1);
        }
        if (strcmp(role, "source") != 0 && strcmp(role, "target") != 0 && strcmp(role, "fullcopy") != 0)
            return cli_error("invalid role \"%s\" for database \"%s\": expected source, target or fullcopy",
                             role, item) == 0;
    }
    strbuf_printf(full, "%s", role);
    return extras == NULL || member_extras(item, extras, full);
}

bool dbgroup_parse_members(int n, char **items, StrList *dbs, StrList *roles)
{
    for (int i = 0; i < n; i++) {
        StrList parts = {0};
        strlist_add_split(&parts, items[i], ',');
        for (int j = 0; j < parts.count; j++) {
            char *name = parts.items[j];
            StrBuf full;
            bool given;

            strbuf_init(&full);
            if (!dbgroup_member_word(name, dbs->count == 0 ? "source" : "target", &full, &given)) {
                strbuf_free(&full);
                strlist_free(&parts);
                return false;
            }
            if (name[0] == '\0' || strlist_contains(dbs, name)) {
                cli_error(name[0] ? "database \"%s\" is listed twice" : "empty database name%s", name);
                strbuf_free(&full);
                strlist_free(&parts);
                return false;
            }
            strlist_add(dbs, name);
            strlist_add(roles, full.data);
            strbuf_free(&full);
        }
        strlist_free(&parts);
    }
    if (dbs->count == 0)
        return cli_error("no databases given") == 0;
    return true;
}

bool dbgroup_add_members(PGconn *cat, const char *group, const StrList *dbs, const StrList *roles,
                         CliContext *ctx)
{
    for (int i = 0; i < dbs->count; i++) {
        /* roles as dbgroup_parse_members wrote them: "role[:pri=N][:makedelta=1]" */
        char *role = xstrdup(roles->items[i]), *pri = strstr(role, ":pri="),
             *md = strstr(role, ":makedelta=1");
        char *colon = strchr(role, ':');
        char prio[32];
        const char *params[5] = {group, dbs->items[i], role, prio, md ? "true" : "false"};
        int found = cli_row_exists(cat, SQL_DB_EXISTS, dbs->items[i]);
        bool ok;

        snprintf(prio, sizeof(prio), "%ld", pri ? strtol(pri + 5, NULL, 10) : 0L);
        if (colon)
            *colon = '\0';
        if (found <= 0) {
            free(role);
            return found < 0 ? false : cli_error("no database named \"%s\"", dbs->items[i]) == 0;
        }
        if (strcmp(role, "source") == 0) {
            /* Only PostgreSQL has the capture a source needs (as in Bucardo). */
            found = cli_row_exists(cat, "SELECT 1 FROM bucardo.db WHERE name = $1 AND dbtype <> 'postgres'",
                                   dbs->items[i]);
            if (found != 0) {
                free(role);
                return found < 0
                           ? false
                           : cli_error("database \"%s\" cannot be a source: only PostgreSQL databases can"
                                       " (it is a target-only type)",
                                       dbs->items[i]) == 0;
            }
        }
        ok = pg_exec(cat, "catalog", SQL_UPSERT_MEMBER, 5, params);
        free(role);
        if (!ok)
            return false;
        if (ctx)
            cli_say(ctx, "Added database \"%s\" to dbgroup \"%s\" as %s\n", dbs->items[i], group,
                    roles->items[i]);
    }
    return true;
}

char *dbgroup_find_same(PGconn *cat, const StrList *dbs, const StrList *roles, bool *error)
{
    char *a = pg_array_literal(dbs), *b = pg_array_literal(roles);
    const char *params[2] = {a, b};
    PGresult *res = pg_query(cat, "catalog", SQL_SAME_MEMBERS, 2, params);
    char *found = NULL;

    free(a);
    free(b);
    *error = res == NULL;
    if (res && PQntuples(res) > 0)
        found = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return found;
}

bool dbgroup_create(PGconn *cat, const char *name)
{
    const char *params[1] = {name};
    int found;

    if (!cli_check_name(NAME_DBGROUP, name))
        return false;
    found = cli_row_exists(cat, SQL_GROUP_EXISTS, name);
    if (found < 0)
        return false;
    if (found)
        return cli_error("a dbgroup named \"%s\" already exists", name) == 0;
    return pg_exec(cat, "catalog", SQL_CREATE_GROUP, 1, params);
}

int cmd_add_dbgroup(CliContext *ctx, int argc, char **argv)
{
    StrList dbs = {0}, roles = {0};
    int code = EXIT_FAIL, found;

    if (argc < 1)
        return cli_error("usage: bucardo add dbgroup NAME db1:source db2:target ...");
    if (argc > 1 && !dbgroup_parse_members(argc - 1, argv + 1, &dbs, &roles))
        goto out;
    if (cli_catalog(ctx) == NULL)
        goto out;
    found = cli_row_exists(ctx->cat, SQL_GROUP_EXISTS, argv[0]);
    if (found < 0)
        goto out;
    if (!found) {
        if (!dbgroup_create(ctx->cat, argv[0]))
            goto out;
        cli_say(ctx, "Created dbgroup \"%s\"\n", argv[0]);
    }
    if (!dbgroup_add_members(ctx->cat, argv[0], &dbs, &roles, ctx))
        goto out;
    code = EXIT_OK;
out:
    strlist_free(&dbs);
    strlist_free(&roles);
    return code;
}

int cmd_remove_dbgroup(CliContext *ctx, int argc, char **argv)
{
    if (argc < 1)
        return cli_error("usage: bucardo remove dbgroup NAME [NAME ...]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    for (int i = 0; i < argc; i++) {
        const char *params[1] = {argv[i]};
        PGresult *res;
        int found = cli_row_exists(ctx->cat, SQL_GROUP_EXISTS, argv[i]);

        if (found < 0)
            return EXIT_FAIL;
        if (!found)
            return cli_error("no dbgroup named \"%s\"", argv[i]);
        res = pg_query(ctx->cat, "catalog", SQL_GROUP_USERS, 1, params);
        if (res == NULL)
            return EXIT_FAIL;
        if (PQntuples(res) > 0) {
            cli_error("cannot remove dbgroup \"%s\": it is used by sync(s) %s", argv[i],
                      PQgetvalue(res, 0, 0));
            PQclear(res);
            return EXIT_FAIL;
        }
        PQclear(res);
        if (!pg_exec(ctx->cat, "catalog", SQL_DELETE_GROUP, 1, params))
            return EXIT_FAIL;
        cli_say(ctx, "Removed dbgroup \"%s\"\n", argv[i]);
    }
    return EXIT_OK;
}

int cmd_list_dbgroups(CliContext *ctx, int argc, char **argv)
{
    const char *params[1] = {argc > 0 ? argv[0] : NULL};
    PGresult *res;
    int width = 0;

    if (argc > 1)
        return cli_error("usage: bucardo list dbgroups [REGEX]");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    res = pg_query(ctx->cat, "catalog", SQL_LIST_GROUPS, 1, params);
    if (res == NULL)
        return EXIT_FAIL;
    if (PQntuples(res) == 0)
        printf("No dbgroups\n");
    for (int r = 0; r < PQntuples(res); r++)
        if (utf8_width(PQgetvalue(res, r, 0)) > width)
            width = utf8_width(PQgetvalue(res, r, 0));
    for (int r = 0; r < PQntuples(res); r++) {
        printf("dbgroup: %s%*s  Members: %s\n", PQgetvalue(res, r, 0), utf8_pad(PQgetvalue(res, r, 0), width),
               "", PQgetisnull(res, r, 1) ? "none" : PQgetvalue(res, r, 1));
        if (!cli_show_all_columns(ctx, SQL_GROUP_ROW, PQgetvalue(res, r, 0))) {
            PQclear(res);
            return EXIT_FAIL;
        }
    }
    PQclear(res);
    return EXIT_OK;
}
