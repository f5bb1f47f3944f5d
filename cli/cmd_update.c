/*
 * cli/cmd_update.c - `update table`, `update sequence`, `update relgroup`
 * and `update dbgroup`: changing what syncs replicate, and between whom,
 * after the objects were added.
 *
 * Such a change can alter a sync that runs.  Every command works the same
 * way, in the command's one catalog transaction:
 *   1. note the syncs the change touches (AffectedSyncs), with their
 *      definitions as they were;
 *   2. change the catalog;
 *   3. recheck each of those syncs as it is now (sync_check: still
 *      runnable; then sync_capture: capture on every table of every
 *      source, once all of them passed the check), drop
 *      the capture that no sync reads any more and the replication state of
 *      databases that stopped being a source, and tell a running engine to
 *      reload (it restarts the syncs whose definition changed).
 * Anything refused rolls the whole command back; what changed is printed
 * only once everything succeeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "cli.h"
#include "cli_objects.h"
#include "relinfo.h"
#include "syncdef.h"

static const char SQL_RELGROUP_EXISTS[] = "SELECT 1 FROM bucardo.relgroup WHERE name = $1";
static const char SQL_DBGROUP_EXISTS[] = "SELECT 1 FROM bucardo.dbgroup WHERE name = $1";
static const char SQL_SYNCS_OF_RELGROUP[] = "SELECT name FROM bucardo.sync WHERE relgroup = $1 ORDER BY name";
static const char SQL_SYNCS_OF_DBGROUP[] = "SELECT name FROM bucardo.sync WHERE dbgroup = $1 ORDER BY name";
static const char SQL_SYNCS_OF_RELATION[] =
    "SELECT DISTINCT s.name FROM bucardo.sync s JOIN bucardo.relgroup_member m ON m.relgroup = s.relgroup"
    " WHERE m.relation = $1::integer ORDER BY 1";
static const char SQL_REMOVE_REL_MEMBER[] =
    "DELETE FROM bucardo.relgroup_member WHERE relgroup = $1 AND relation = $2::integer";
static const char SQL_REMOVE_REL_MEMBERSHIPS[] =
    "DELETE FROM bucardo.relgroup_member WHERE relation = $1::integer";
static const char SQL_RENAME_RELGROUP[] = "UPDATE bucardo.relgroup SET name = $2 WHERE name = $1";
static const char SQL_RENAME_DBGROUP[] = "UPDATE bucardo.dbgroup SET name = $2 WHERE name = $1";
static const char SQL_DB_MEMBER_ROLE[] =
    "SELECT role FROM bucardo.dbgroup_member WHERE dbgroup = $1 AND db = $2";
static const char SQL_DB_MEMBER_FULL_ROLE[] =
    "SELECT " DBGROUP_MEMBER_ROLE_SQL " FROM bucardo.dbgroup_member WHERE dbgroup = $1 AND db = $2";
static const char SQL_DBGROUP_SIZE[] = "SELECT count(*) FROM bucardo.dbgroup_member WHERE dbgroup = $1";
static const char SQL_REMOVE_DB_MEMBER[] =
    "DELETE FROM bucardo.dbgroup_member WHERE dbgroup = $1 AND db = $2";
static const char SQL_RELATION_ROW[] =
    "SELECT db, schemaname, relname, kind FROM bucardo.relation WHERE id = $1::integer";
static const char SQL_RELATION_TAKEN[] =
    "SELECT 1 FROM bucardo.relation WHERE db = $1 AND schemaname = $2 AND relname = $3";
static const char SQL_RENAME_RELATION[] =
    "UPDATE bucardo.relation SET schemaname = $2, relname = $3, pkey = $4::text[], pkeytype = $5::text[]"
    " WHERE id = $1::integer";
/* A database that is no longer a source of a sync starts afresh if it
 * becomes one again: its old snapshot would skip or replay changes. */
static const char SQL_FORGET_OLD_SOURCES[] =
    "DELETE FROM bucardo.sync_source_state ss WHERE ss.sync = $1 AND NOT EXISTS"
    " (SELECT 1 FROM bucardo.sync s JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
    "   WHERE s.name = ss.sync AND m.db = ss.db AND m.role = 'source')";

/* The syncs a command touches, with their definitions before the change. */
typedef struct AffectedSyncs {
    int count;
    SyncDef *defs;
} AffectedSyncs;

/*
 * affected_add - add the syncs that `sql` (one parameter) names to `a`,
 * each loaded as it is now; syncs already there are skipped.  `a` owns the
 * definitions (affected_free).
 */
static bool affected_add(PGconn *cat, const char *sql, const char *param, AffectedSyncs *a)
{
    const char *params[1] = {param};
    PGresult *res = pg_query(cat, "catalog", sql, 1, params);

    if (res == NULL)
        return false;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *name = PQgetvalue(res, r, 0);
        bool known = false;

        for (int i = 0; i < a->count; i++)
            known = known || strcmp(a->defs[i].name, name) == 0;
        if (known)
            continue;
        a->defs = xrealloc(a->defs, sizeof(SyncDef) * (size_t)(a->count + 1));
        if (syncdef_load(cat, name, &a->defs[a->count]) != LOOKUP_FOUND) {
            PQclear(res);
            return cli_error("sync \"%s\": cannot read its definition", name) == 0;
        }
        a->count++;
    }
    PQclear(res);
    return true;
}

static void affected_free(AffectedSyncs *a)
{
    for (int i = 0; i < a->count; i++)
        syncdef_free(&a->defs[i]);
    free(a->defs);
    a->defs = NULL;
    a->count = 0;
}

/*
 * affected_finish - step 3 of the header: recheck every affected sync as the
 * catalog now has it, clean up after the old definitions, and have a
 * running engine reload at commit.  `what` names the change ("update table
 * public.t1") for the refusal: an active sync that could not run any more
 * refuses it.  An inactive one that cannot run (remove db --force left it
 * without a target) does not block the change: activate checks it again;
 * its capture is left as it is until then.
 */
static bool affected_finish(CliContext *ctx, const AffectedSyncs *a, const char *what)
{
    bool *skip = xcalloc((size_t)a->count + 1, sizeof(bool));
    bool ok = true;

    for (int i = 0; ok && i < a->count; i++) {
        const char *params[1] = {a->defs[i].name};
        char why[512] = "";
        int runnable = sync_runnable(ctx->cat, a->defs[i].name, why, sizeof(why));
        if (runnable < 0)
            ok = false;
        else if (runnable == 0 && strcmp(a->defs[i].status, "active") == 0)
            ok = cli_error("%s refused: %s", what, why) == 0;
        else if (runnable == 0) {
            skip[i] = true;
            cli_say(ctx, "Note: sync \"%s\" is %s and cannot run as it is (%s): activate checks it again\n",
                    a->defs[i].name, a->defs[i].status, why);
        }
        ok = ok && pg_exec(ctx->cat, "catalog", SQL_FORGET_OLD_SOURCES, 1, params);
    }
    for (int i = 0; ok && i < a->count; i++)
        if (!ctx->dryrun && !skip[i] && !sync_capture(ctx->cat, a->defs[i].name))
            ok = false;
    /* Capture of tables (or sources) no sync reads any more; tables still
     * read keep theirs, with autokick as their readers now want it. */
    for (int i = 0; ok && i < a->count; i++)
        if (!ctx->dryrun && !capture_sync_cleanup(ctx->cat, &a->defs[i]))
            ok = cli_error("sync \"%s\": could not remove change capture it no longer needs",
                           a->defs[i].name) == 0;
    free(skip);
    return ok && (a->count == 0 || cli_notify_reload(ctx));
}

/* print_affected - which syncs a successful change went to. */
static void print_affected(StrBuf *said, const AffectedSyncs *a)
{
    for (int i = 0; i < a->count; i++)
        strbuf_printf(said, "Sync \"%s\" changed%s\n", a->defs[i].name,
                      strcmp(a->defs[i].status, "active") == 0 ? ": a running engine reloads it" : "");
}

/* rename_checked - rename a relgroup or dbgroup after checking the new name. */
static bool rename_checked(PGconn *cat, const char *kind, NameKind name_kind, const char *exists_sql,
                           const char *rename_sql, const char *from, const char *to)
{
    const char *params[2] = {from, to};
    int found;

    if (!cli_check_name(name_kind, to))
        return false;
    found = cli_row_exists(cat, exists_sql, to);
    if (found != 0)
        return found > 0 ? cli_error("a %s named \"%s\" already exists", kind, to) == 0 : false;
    return pg_exec(cat, "catalog", rename_sql, 2, params);
}

/*
 * group_start - the common start of `update relgroup|dbgroup`: the
 * catalog, the group (it must exist), and the syncs that use it.
 */
static bool group_start(CliContext *ctx, const char *kind, const char *exists_sql, const char *syncs_sql,
                        const char *name, AffectedSyncs *a)
{
    int found;

    if (cli_catalog(ctx) == NULL)
        return false;
    found = cli_row_exists(ctx->cat, exists_sql, name);
    if (found == 0)
        cli_error("no %s named \"%s\"", kind, name);
    return found == 1 && affected_add(ctx->cat, syncs_sql, name, a);
}

/*
 * group_done - the common end of `update relgroup|dbgroup`: the rename if
 * one was asked, the affected syncs checked and a running engine told,
 * then everything said at once.
 */
static bool group_done(CliContext *ctx, const char *kind, NameKind name_kind, const char *exists_sql,
                       const char *rename_sql, const char *name, const char *newname, const AffectedSyncs *a,
                       StrBuf *said)
{
    if (newname) {
        if (!rename_checked(ctx->cat, kind, name_kind, exists_sql, rename_sql, name, newname))
            return false;
        strbuf_printf(said, "Renamed %s \"%s\" to \"%s\"\n", kind, name, newname);
    }
    {
        char *what = xasprintf("update %s %s", kind, name);
        bool ok = affected_finish(ctx, a, what);
        free(what);
        if (!ok)
            return false;
    }
    print_affected(said, a);
    cli_say(ctx, "%s", said->data);
    return true;
}

/* The words of `update relgroup|dbgroup NAME ...`, sorted by what they ask. */
typedef struct GroupWords {
    StrList add, remove, plain; /* names after "add", after "remove", before either */
    KeyValues kv;
} GroupWords;

/*
 * group_words - split the words after the group's name.  "add" and "remove"
 * (or "delete") switch the list the following names go to; names may also
 * be comma lists; key=value words are checked against `keys` (a word with
 * a ':' before its '=' is a dbgroup member with Bucardo's extras).
 */
static bool group_words(int argc, char **argv, const char *const *keys, const char *what, GroupWords *g)
{
    StrList *into = &g->plain;
    int nkv = 0;
    char **kvwords = xcalloc((size_t)argc + 1, sizeof(char *));
    bool ok;

    memset(g, 0, sizeof(*g));
    for (int i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '='), *colon = strchr(argv[i], ':');
        /* "DB:t:pri=2" is a member with extras, not key=value. */
        if (eq != NULL && (colon == NULL || colon > eq))
            kvwords[nkv++] = argv[i];
        else if (strcmp(argv[i], "add") == 0)
            into = &g->add;
        else if (strcmp(argv[i], "remove") == 0 || strcmp(argv[i], "delete") == 0)
            into = &g->remove;
        else
            strlist_add_split(into, argv[i], ',');
    }
    ok = cli_kv_parse(nkv, kvwords, 0, keys, what, &g->kv);
    free(kvwords);
    return ok;
}

static void group_words_free(GroupWords *g)
{
    strlist_free(&g->add);
    strlist_free(&g->remove);
    strlist_free(&g->plain);
    cli_kv_free(&g->kv);
}

/* relgroup_change - the adds and removes of `update relgroup`, into `said`. */
static bool relgroup_change(PGconn *cat, const char *group, const GroupWords *g, const char *db, StrBuf *said)
{
    for (int i = 0; i < g->add.count; i++) {
        PGresult *rel = relation_find(cat, g->add.items[i], db);
        bool added, ok;

        if (rel == NULL)
            return false;
        ok = relgroup_add(cat, group, PQgetvalue(rel, 0, 0), &added);
        if (ok)
            strbuf_printf(said,
                          added ? "Added %s to relgroup \"%s\"\n" : "%s is already in relgroup \"%s\"\n",
                          PQgetvalue(rel, 0, 2), group);
        PQclear(rel);
        if (!ok)
            return false;
    }
    for (int i = 0; i < g->remove.count; i++) {
        PGresult *rel = relation_find(cat, g->remove.items[i], db), *res;
        const char *params[2] = {group, NULL};
        bool gone;

        if (rel == NULL)
            return false;
        params[1] = PQgetvalue(rel, 0, 0);
        res = pg_query(cat, "catalog", SQL_REMOVE_REL_MEMBER, 2, params);
        gone = res && strcmp(PQcmdTuples(res), "1") == 0;
        if (res && !gone)
            cli_error("%s (database %s) is not in relgroup \"%s\"", PQgetvalue(rel, 0, 2),
                      PQgetvalue(rel, 0, 1), group);
        else if (gone)
            strbuf_printf(said, "Removed %s from relgroup \"%s\"\n", PQgetvalue(rel, 0, 2), group);
        PQclear(res);
        PQclear(rel);
        if (!gone)
            return false;
    }
    return true;
}

int cmd_update_relgroup(CliContext *ctx, int argc, char **argv)
{
    static const char *const keys[] = {"name", "db", NULL};
    GroupWords g;
    AffectedSyncs a = {0};
    StrBuf said;
    const char *newname, *db;
    int code = EXIT_FAIL;

    if (argc < 2 || strchr(argv[0], '=') != NULL)
        return cli_error(
            "usage: bucardo update relgroup NAME [add TABLE ...] [remove TABLE ...] [name=NEWNAME]");
    strbuf_init(&said);
    if (!group_words(argc, argv, keys, "update relgroup", &g))
        goto out;
    newname = cli_kv_get(&g.kv, "name");
    db = cli_kv_get(&g.kv, "db") ? cli_kv_get(&g.kv, "db") : ctx->db;
    if (g.plain.count > 0) {
        cli_error("update relgroup: say \"add\" or \"remove\" before \"%s\"", g.plain.items[0]);
        goto out;
    }
    if (g.add.count + g.remove.count == 0 && newname == NULL) {
        cli_error("update relgroup: nothing to change: give add TABLE, remove TABLE or name=NEWNAME");
        goto out;
    }
    if (!group_start(ctx, "relgroup", SQL_RELGROUP_EXISTS, SQL_SYNCS_OF_RELGROUP, argv[0], &a) ||
        !relgroup_change(ctx->cat, argv[0], &g, db, &said))
        goto out;
    if (!group_done(ctx, "relgroup", NAME_RELGROUP, SQL_RELGROUP_EXISTS, SQL_RENAME_RELGROUP, argv[0],
                    newname, &a, &said))
        goto out;
    code = EXIT_OK;
out:
    affected_free(&a);
    group_words_free(&g);
    strbuf_free(&said);
    return code;
}

/*
 * member_role - the role database `db` has in dbgroup `group` (bare, or
 * with its extras when `full`), owned by the caller, or NULL when it is no
 * member (*error tells a failed query).
 */
static char *member_role(PGconn *cat, const char *group, const char *db, bool full, bool *error)
{
    const char *params[2] = {group, db};
    PGresult *res = pg_query(cat, "catalog", full ? SQL_DB_MEMBER_FULL_ROLE : SQL_DB_MEMBER_ROLE, 2, params);
    char *role = NULL;

    *error = res == NULL;
    if (res && PQntuples(res) == 1)
        role = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return role;
}

/* set_member - the member's role and extras become `full` (one member). */
static bool set_member(PGconn *cat, const char *group, const char *db, const char *full)
{
    StrList dbs = {0}, roles = {0};
    bool ok;

    strlist_add(&dbs, db);
    strlist_add(&roles, full);
    ok = dbgroup_add_members(cat, group, &dbs, &roles, NULL);
    strlist_free(&dbs);
    strlist_free(&roles);
    return ok;
}

/*
 * dbgroup_change - the removes, adds and role changes of `update dbgroup`,
 * into `said`.  A database added without a role joins as a target (as a
 * source when the group was empty, like `add dbgroup`).  Members take
 * Bucardo's extras (DB:ROLE:pri=N:makedelta=B) in both forms.
 */
static bool dbgroup_change(PGconn *cat, const char *group, GroupWords *g, StrBuf *said)
{
    bool error, ok = true;
    char *role;

    for (int i = 0; i < g->remove.count; i++) {
        const char *params[2] = {group, g->remove.items[i]};
        role = member_role(cat, group, g->remove.items[i], false, &error);
        if (role == NULL)
            return error ? false
                         : cli_error("database \"%s\" is not in dbgroup \"%s\"", g->remove.items[i], group) ==
                               0;
        free(role);
        if (!pg_exec(cat, "catalog", SQL_REMOVE_DB_MEMBER, 2, params))
            return false;
        strbuf_printf(said, "Removed database \"%s\" from dbgroup \"%s\"\n", g->remove.items[i], group);
    }
    for (int i = 0; ok && i < g->add.count; i++) {
        char *db = g->add.items[i];
        PGresult *size = pg_query(cat, "catalog", SQL_DBGROUP_SIZE, 1, (const char *const *)&group);
        StrBuf full;
        bool given;

        if (size == NULL)
            return false;
        strbuf_init(&full);
        ok = dbgroup_member_word(db, strcmp(PQgetvalue(size, 0, 0), "0") == 0 ? "source" : "target", &full,
                                 &given);
        PQclear(size);
        role = ok ? member_role(cat, group, db, false, &error) : NULL;
        if (ok && (role || error)) {
            if (role)
                cli_error(
                    "database \"%s\" is already in dbgroup \"%s\" (as %s): give %s:ROLE without \"add\" to "
                    "change its role",
                    db, group, role, db);
            ok = false;
        }
        free(role);
        ok = ok && set_member(cat, group, db, full.data);
        if (ok)
            strbuf_printf(said, "Added database \"%s\" to dbgroup \"%s\" as %s\n", db, group, full.data);
        strbuf_free(&full);
    }
    for (int i = 0; ok && i < g->plain.count; i++) {
        char *db = g->plain.items[i], *colon = strchr(db, ':'), *now = NULL;
        StrBuf full;
        bool given;

        if (colon == NULL)
            return cli_error("update dbgroup: give %s:ROLE to change a role, or say \"add\" or \"remove\" "
                             "before it",
                             db) == 0;
        *colon = '\0';
        role = member_role(cat, group, db, false, &error);
        if (role == NULL)
            return error ? false
                         : cli_error("database \"%s\" is not in dbgroup \"%s\" (use \"add %s:%s\")", db,
                                     group, db, colon + 1) == 0;
        *colon = ':';
        strbuf_init(&full);
        /* "DB:pri=3" keeps the role and sets the extras. */
        ok =
            dbgroup_member_word(db, role, &full, &given) && (now = member_role(cat, group, db, true, &error));
        if (ok && strcmp(now, full.data) != 0) {
            ok = set_member(cat, group, db, full.data);
            if (ok)
                strbuf_printf(said, "Changed database \"%s\" in dbgroup \"%s\" from %s to %s\n", db, group,
                              now, full.data);
        } else if (ok) {
            strbuf_printf(said, "Database \"%s\" is already %s in dbgroup \"%s\"\n", db, full.data, group);
        }
        free(now);
        free(role);
        strbuf_free(&full);
    }
    return ok;
}

int cmd_update_dbgroup(CliContext *ctx, int argc, char **argv)
{
    static const char *const keys[] = {"name", NULL};
    GroupWords g;
    AffectedSyncs a = {0};
    StrBuf said;
    const char *newname;
    int code = EXIT_FAIL;

    if (argc < 2 || strchr(argv[0], '=') != NULL)
        return cli_error(
            "usage: bucardo update dbgroup NAME [add DB[:ROLE] ...] [remove DB ...] [DB:ROLE ...] "
            "[name=NEWNAME]");
    strbuf_init(&said);
    if (!group_words(argc, argv, keys, "update dbgroup", &g))
        goto out;
    newname = cli_kv_get(&g.kv, "name");
    if (g.add.count + g.remove.count + g.plain.count == 0 && newname == NULL) {
        cli_error(
            "update dbgroup: nothing to change: give add DB[:ROLE], remove DB, DB:ROLE or name=NEWNAME");
        goto out;
    }
    if (!group_start(ctx, "dbgroup", SQL_DBGROUP_EXISTS, SQL_SYNCS_OF_DBGROUP, argv[0], &a) ||
        !dbgroup_change(ctx->cat, argv[0], &g, &said))
        goto out;
    if (!group_done(ctx, "dbgroup", NAME_DBGROUP, SQL_DBGROUP_EXISTS, SQL_RENAME_DBGROUP, argv[0], newname,
                    &a, &said))
        goto out;
    code = EXIT_OK;
out:
    affected_free(&a);
    group_words_free(&g);
    strbuf_free(&said);
    return code;
}

/*
 * set_relgroups - the relation's relgroups become exactly `list` (a comma
 * list; relgroups not there yet are created, like `add table relgroup=`).
 */
static bool set_relgroups(PGconn *cat, const char *relid, const char *display, const char *list, StrBuf *said)
{
    StrList groups = {0};
    const char *params[1] = {relid};
    bool ok = true;

    strlist_add_split(&groups, list, ',');
    if (groups.count == 0) {
        strlist_free(&groups);
        return cli_error("relgroup: expected one or more relgroup names, got \"%s\"", list) == 0;
    }
    ok = pg_exec(cat, "catalog", SQL_REMOVE_REL_MEMBERSHIPS, 1, params);
    for (int i = 0; ok && i < groups.count; i++) {
        bool created, added;
        ok = relgroup_ensure(cat, groups.items[i], &created) &&
             relgroup_add(cat, groups.items[i], relid, &added);
        if (ok && created)
            strbuf_printf(said, "Created relgroup \"%s\"\n", groups.items[i]);
    }
    if (ok)
        strbuf_printf(said, "%s is now in relgroup(s) %s\n", display, list);
    strlist_free(&groups);
    return ok;
}

/*
 * rename_relation - the table (or sequence) `relid` was renamed or moved to
 * another schema in its database: find it there under its new name, read
 * its key again, and record both.  Only for tables no sync replicates: a
 * running sync's capture is tied to the old name.
 */
static bool rename_relation(CliContext *ctx, const char *relid, const char *schema, const char *name,
                            StrBuf *said)
{
    const char *params[1] = {relid};
    PGresult *row = pg_query(ctx->cat, "catalog", SQL_RELATION_ROW, 1, params);
    DbInfo db;
    PGconn *conn = NULL;
    RelInfoList rels = {0};
    const RelInfo *match = NULL;
    char *who = NULL, *oldname = NULL;
    bool ok = false, sequences;

    if (row == NULL)
        return false;
    sequences = strcmp(PQgetvalue(row, 0, 3), "sequence") == 0;
    schema = schema ? schema : PQgetvalue(row, 0, 1);
    name = name ? name : PQgetvalue(row, 0, 2);
    oldname = xasprintf("%s.%s", PQgetvalue(row, 0, 1), PQgetvalue(row, 0, 2));
    who = xasprintf("database %s", PQgetvalue(row, 0, 0));
    {
        const char *taken[3] = {PQgetvalue(row, 0, 0), schema, name};
        PGresult *res = pg_query(ctx->cat, "catalog", SQL_RELATION_TAKEN, 3, taken);
        if (res == NULL)
            goto out;
        if (PQntuples(res) > 0) {
            cli_error("%s.%s of database \"%s\" is already known to bucardo", schema, name, taken[0]);
            PQclear(res);
            goto out;
        }
        PQclear(res);
    }
    switch (catalog_load_db(ctx->cat, PQgetvalue(row, 0, 0), &db)) {
    case LOOKUP_FOUND: break;
    default: goto out;
    }
    conn = dbinfo_connect(&db);
    dbinfo_free(&db);
    if (conn == NULL || !relinfo_list(conn, who, sequences, &rels))
        goto out;
    for (int i = 0; i < rels.count; i++)
        if (strcmp(rels.items[i].schemaname, schema) == 0 && strcmp(rels.items[i].relname, name) == 0)
            match = &rels.items[i];
    if (match == NULL) {
        cli_error("no %s named %s.%s in database \"%s\"", sequences ? "sequence" : "table", schema, name,
                  PQgetvalue(row, 0, 0));
        goto out;
    }
    {
        const char *set[5] = {relid, schema, name, match->keycols, match->keytypes};
        if (!pg_exec(ctx->cat, "catalog", SQL_RENAME_RELATION, 5, set))
            goto out;
    }
    strbuf_printf(said, "Changed %s %s to %s.%s\n", sequences ? "sequence" : "table", oldname, schema, name);
    ok = true;
out:
    if (conn)
        PQfinish(conn);
    relinfo_list_free(&rels);
    PQclear(row);
    free(who);
    free(oldname);
    return ok;
}

/*
 * Bucardo's per-table options (goat columns): each overrides the sync's
 * for this table (engine/catalog/syncdef.c resolves them); "default" sets
 * it back to the sync's.  makedelta: on, off, or the databases that record
 * the rows of this table they receive as their own changes.  ghost: the
 * table is not replicated and its capture goes (when no other sync reads
 * it).  priority: its order in its relgroups, higher first.
 */
typedef enum TableOptType {
    TO_BOOL,
    TO_REBUILD,
    TO_MAKEDELTA,
    TO_PRIORITY,
    TO_STRATEGY,
    TO_FILTER
} TableOptType;
/* A table's own conflict_strategy: a built-in one (a list of databases
 * belongs to a sync, whose members it names). */
static const char *const TABLE_STRATEGIES[] = {"bucardo_source", "bucardo_target",
                                               "bucardo_skip",   "bucardo_random",
                                               "bucardo_latest", "bucardo_latest_all_tables",
                                               "bucardo_abort",  NULL};
static const struct {
    const char *key;
    TableOptType type;
    bool nullable; /* "default" allowed: back to the sync's value */
} TABLE_OPTIONS[] = {
    {"autokick", TO_BOOL, true},
    {"rebuild_index", TO_REBUILD, true},
    {"analyze_after_copy", TO_BOOL, true},
    {"strict_checking", TO_BOOL, true},
    {"vacuum_after_copy", TO_BOOL, false},
    {"ghost", TO_BOOL, false},
    {"makedelta", TO_MAKEDELTA, true},
    {"priority", TO_PRIORITY, false},
    {"conflict_strategy", TO_STRATEGY, true},
    {"capture_filter", TO_FILTER, true},
};
#define NTABLE_OPTIONS (sizeof(TABLE_OPTIONS) / sizeof(TABLE_OPTIONS[0]))

/* table_option - check one per-table option and store it; its line into said. */
static bool table_option(PGconn *cat, const char *relid, const char *table, size_t o, const char *value,
                         StrBuf *said)
{
    const char *key = TABLE_OPTIONS[o].key, *stored = value, *cast = "";
    const char *params[2] = {relid, NULL};
    char *sql;
    bool b, ok;
    long n;

    if (TABLE_OPTIONS[o].nullable && strcmp(value, "default") == 0) {
        stored = NULL;
    } else {
        switch (TABLE_OPTIONS[o].type) {
        case TO_BOOL:
            if (!parse_bool(value, &b))
                return cli_error("%s: expected a boolean (1/0, true/false, yes/no)%s, got \"%s\"", key,
                                 TABLE_OPTIONS[o].nullable ? " or default" : "", value) == 0;
            stored = b ? "true" : "false";
            cast = "::boolean";
            break;
        case TO_REBUILD:
            if (!parse_int(value, 0, 2, &n))
                return cli_error("rebuild_index: expected 0, 1, 2 or default, got \"%s\"", value) == 0;
            cast = "::smallint";
            break;
        case TO_PRIORITY:
            if (!parse_int(value, -1000000, 1000000, &n))
                return cli_error("priority: expected a whole number, got \"%s\"", value) == 0;
            break;
        case TO_STRATEGY: {
            bool known = false;
            for (int i = 0; TABLE_STRATEGIES[i]; i++)
                known |= strcmp(value, TABLE_STRATEGIES[i]) == 0;
            if (!known)
                return cli_error(
                           "conflict_strategy: expected default or one of bucardo_source, bucardo_target, "
                           "bucardo_skip, bucardo_random, bucardo_latest, bucardo_latest_all_tables, "
                           "bucardo_abort, got \"%s\"",
                           value) == 0;
            break;
        }
        case TO_FILTER:
            /* checked against the databases by check_filter; "" clears it too */
            if (value[0] == '\0')
                stored = NULL;
            break;
        case TO_MAKEDELTA:
            if (parse_bool(value, &b)) {
                stored = b ? "on" : NULL;
            } else {
                StrList dbs = {0};
                strlist_add_split(&dbs, value, ',');
                for (int i = 0; i < dbs.count; i++) {
                    int found = cli_row_exists(cat, "SELECT 1 FROM bucardo.db WHERE name = $1", dbs.items[i]);
                    if (found != 1) {
                        if (found == 0)
                            cli_error("makedelta: no database named \"%s\" (expected on, off, default or a "
                                      "list of databases)",
                                      dbs.items[i]);
                        strlist_free(&dbs);
                        return false;
                    }
                }
                if (dbs.count == 0) {
                    strlist_free(&dbs);
                    return cli_error("makedelta: expected on, off, default or a list of databases") == 0;
                }
                strlist_free(&dbs);
            }
            break;
        }
    }
    params[1] = stored;
    /* Column names come from TABLE_OPTIONS, never from the user. */
    if (TABLE_OPTIONS[o].type == TO_PRIORITY)
        sql = xasprintf(
            "UPDATE bucardo.relgroup_member SET priority = $2::integer WHERE relation = $1::integer");
    else
        sql = xasprintf("UPDATE bucardo.relation SET %s = $2%s WHERE id = $1::integer", key, cast);
    ok = pg_exec(cat, "catalog", sql, 2, params);
    free(sql);
    if (ok && TABLE_OPTIONS[o].type == TO_FILTER)
        strbuf_printf(said,
                      "Changed table %s capture_filter to %s\n"
                      "Rows already on the targets that the new filter leaves out stay there until the "
                      "table is copied again (update sync SYNC onetimecopy=1)\n",
                      table, stored == NULL ? "none (every row)" : stored);
    else if (ok)
        strbuf_printf(said, "Changed table %s %s to %s\n", table, key,
                      stored == NULL ? (strcmp(value, "default") == 0 ? "the sync's" : "off") : stored);
    return ok;
}

/*
 * filter_shape_ok - the filter is pasted into several statements inside
 * "(...)": it must stay one expression there.  Outside quoted strings and
 * identifiers: parentheses balanced, never closing more than it opened,
 * and no ';', '$' (dollar quotes, parameters, the template's tags) or
 * comment (which would swallow the closing parenthesis).
 */
static bool filter_shape_ok(const char *f)
{
    int depth = 0;

    for (const char *p = f; *p; p++) {
        if (*p == '\'' || *p == '"') {
            char q = *p;
            for (p++; *p && !(*p == q && p[1] != q); p += (*p == q) ? 2 : 1)
                ;
            if (*p == '\0')
                return false; /* unterminated */
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            if (--depth < 0)
                return false;
        } else if (*p == ';' || *p == '$' || (p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
            return false;
        }
    }
    return depth == 0;
}

/*
 * check_filter - a capture filter must be a boolean expression over the
 * table's columns on every database it will run on: the table's own and
 * every source of the syncs reading it (the capture trigger compiles it
 * only when it first fires, in an application's write).  It is tried as
 * the trigger runs it, with search_path pg_catalog, pg_temp, in a
 * transaction rolled back.  One error line naming the database.
 */
static bool check_filter(PGconn *cat, const char *relid, const char *filter, const AffectedSyncs *a)
{
    const char *params[1] = {relid};
    PGresult *row = pg_query(cat, "catalog", SQL_RELATION_ROW, 1, params);
    StrList dbs = {0};
    bool ok = row != NULL;

    if (!filter_shape_ok(filter)) {
        PQclear(row);
        return cli_error("capture_filter: expected one SQL expression over the table's columns (balanced "
                         "parentheses; no \";\", \"$\" or comment)") == 0;
    }
    if (ok)
        strlist_add(&dbs, PQgetvalue(row, 0, 0));
    for (int i = 0; ok && i < a->count; i++)
        for (int s = 0; s < a->defs[i].nsources; s++)
            if (!strlist_contains(&dbs, a->defs[i].sources[s].name))
                strlist_add(&dbs, a->defs[i].sources[s].name);
    for (int d = 0; ok && d < dbs.count; d++) {
        DbInfo db;
        PGconn *conn;
        char *table, *sql;
        PGresult *res;

        if (catalog_load_db(cat, dbs.items[d], &db) != LOOKUP_FOUND) {
            ok = false;
            break;
        }
        if (db.dbtype != NULL && strcmp(db.dbtype, "postgres") != 0) {
            dbinfo_free(&db); /* a target of another kind never runs it */
            continue;
        }
        conn = dbinfo_connect(&db);
        dbinfo_free(&db);
        if (conn == NULL) {
            ok = false;
            break;
        }
        {
            TableDef t = {.schemaname = PQgetvalue(row, 0, 1), .relname = PQgetvalue(row, 0, 2)};
            table = table_qualified(conn, &t);
        }
        sql =
            xasprintf("SELECT (SELECT count(*) FROM ONLY %s AS bucardo_r WHERE (%s) LIMIT 0)", table, filter);
        res = PQexec(conn, "BEGIN READ ONLY; SET LOCAL search_path = pg_catalog, pg_temp");
        PQclear(res);
        res = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            cli_error("capture_filter \"%s\": not a filter of table %s on database %s: %s", filter,
                      PQgetvalue(row, 0, 2), dbs.items[d], msg ? msg : PQerrorMessage(conn));
            ok = false;
        }
        PQclear(res);
        PQfinish(conn);
        free(sql);
        free(table);
    }
    strlist_free(&dbs);
    PQclear(row);
    return ok;
}

/* update_relation - `update table` / `update sequence`. */
static int update_relation(CliContext *ctx, int argc, char **argv, bool sequences)
{
    static const char *const table_keys[] = {"db",
                                             "relgroup",
                                             "herd",
                                             "schemaname",
                                             "tablename",
                                             "autokick",
                                             "rebuild_index",
                                             "analyze_after_copy",
                                             "vacuum_after_copy",
                                             "makedelta",
                                             "strict_checking",
                                             "ghost",
                                             "priority",
                                             "conflict_strategy",
                                             "capture_filter",
                                             NULL};
    static const char *const seq_keys[] = {"db", "relgroup", "herd", "schemaname", "sequencename", NULL};
    const char *noun = sequences ? "sequence" : "table";
    KeyValues kv;
    AffectedSyncs a = {0};
    StrBuf said;
    PGresult *rel = NULL;
    const char *relgroups, *schema, *name;
    bool options = false;
    char *relid = NULL;
    int code = EXIT_FAIL;

    if (argc < 2 || strchr(argv[0], '=') != NULL)
        return cli_error(sequences
                             ? "usage: bucardo update sequence [SCHEMA.]SEQUENCE [db=NAME] key=value ..."
                             : "usage: bucardo update table [SCHEMA.]TABLE [db=NAME] key=value ...");
    if (!cli_kv_parse(argc, argv, 1, sequences ? seq_keys : table_keys,
                      sequences ? "update sequence" : "update table", &kv))
        return EXIT_FAIL;
    strbuf_init(&said);
    for (size_t o = 0; o < NTABLE_OPTIONS; o++)
        options |= cli_kv_get(&kv, TABLE_OPTIONS[o].key) != NULL;
    relgroups = cli_kv_get(&kv, "relgroup") ? cli_kv_get(&kv, "relgroup") : cli_kv_get(&kv, "herd");
    schema = cli_kv_get(&kv, "schemaname");
    name = cli_kv_get(&kv, sequences ? "sequencename" : "tablename");
    if (relgroups == NULL && schema == NULL && name == NULL && !options) {
        cli_error("update %s: nothing to change: give relgroup=, schemaname=%s or %s=", noun,
                  sequences ? "" : ", an option such as vacuum_after_copy=",
                  sequences ? "sequencename" : "tablename");
        goto out;
    }
    if ((schema && schema[0] == '\0') || (name && name[0] == '\0')) {
        cli_error("update %s: a new schema or %s name cannot be empty", noun, noun);
        goto out;
    }
    if (cli_catalog(ctx) == NULL)
        goto out;
    rel = relation_find(ctx->cat, argv[0], cli_kv_get(&kv, "db") ? cli_kv_get(&kv, "db") : ctx->db);
    if (rel == NULL)
        goto out;
    relid = xstrdup(PQgetvalue(rel, 0, 0));
    {
        const char *params[1] = {relid};
        PGresult *row = pg_query(ctx->cat, "catalog", SQL_RELATION_ROW, 1, params);
        bool other = row && strcmp(PQgetvalue(row, 0, 3), noun) != 0;

        if (other)
            cli_error("%s is a %s: use bucardo update %s", PQgetvalue(rel, 0, 2), PQgetvalue(row, 0, 3),
                      PQgetvalue(row, 0, 3));
        PQclear(row);
        if (row == NULL || other)
            goto out;
    }
    if (!affected_add(ctx->cat, SQL_SYNCS_OF_RELATION, relid, &a))
        goto out;
    if (schema || name) {
        if (a.count > 0) {
            cli_error(
                "cannot rename %s %s: sync \"%s\" replicates it (take it out of the sync's relgroup first)",
                noun, PQgetvalue(rel, 0, 2), a.defs[0].name);
            goto out;
        }
        if (!rename_relation(ctx, relid, schema, name, &said))
            goto out;
    }
    if (relgroups) {
        StrList groups = {0};
        bool ok = true;
        /* The syncs of the relgroups it joins are touched too. */
        strlist_add_split(&groups, relgroups, ',');
        for (int i = 0; ok && i < groups.count; i++)
            ok = affected_add(ctx->cat, SQL_SYNCS_OF_RELGROUP, groups.items[i], &a);
        strlist_free(&groups);
        if (!ok || !set_relgroups(ctx->cat, relid, PQgetvalue(rel, 0, 2), relgroups, &said))
            goto out;
    }
    {
        const char *filter = cli_kv_get(&kv, "capture_filter");
        if (filter && filter[0] && strcmp(filter, "default") != 0 &&
            !check_filter(ctx->cat, relid, filter, &a))
            goto out;
    }
    for (size_t o = 0; o < NTABLE_OPTIONS; o++) {
        const char *value = cli_kv_get(&kv, TABLE_OPTIONS[o].key);
        if (value && !table_option(ctx->cat, relid, PQgetvalue(rel, 0, 2), o, value, &said))
            goto out;
    }
    {
        char *what = xasprintf("update %s %s", noun, PQgetvalue(rel, 0, 2));
        bool ok = affected_finish(ctx, &a, what);
        free(what);
        if (!ok)
            goto out;
    }
    print_affected(&said, &a);
    cli_say(ctx, "%s", said.data);
    code = EXIT_OK;
out:
    PQclear(rel);
    free(relid);
    affected_free(&a);
    strbuf_free(&said);
    cli_kv_free(&kv);
    return code;
}

int cmd_update_table(CliContext *ctx, int argc, char **argv)
{
    return update_relation(ctx, argc, argv, false);
}

int cmd_update_sequence(CliContext *ctx, int argc, char **argv)
{
    return update_relation(ctx, argc, argv, true);
}
