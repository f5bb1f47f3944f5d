/*
 * cli/cmd_table.c - tables: `add table`, `add all tables`, `remove table`,
 * `list tables`.
 *
 * Tables are read from the live database (engine/catalog/relinfo.c finds each
 * one's key) and recorded in the catalog; adding a table does not start
 * replicating it, a sync does.  A table without a usable key is recorded
 * with "PK: none": fullcopy syncs can copy it, delta syncs refuse it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "cli_objects.h"
#include "relinfo.h"
#include "utf8.h"

static const char SQL_INSERT_REL[] =
    "INSERT INTO bucardo.relation (db, schemaname, relname, pkey, pkeytype, kind)"
    " VALUES ($1, $2, $3, $4::text[], $5::text[], $6)"
    " ON CONFLICT (db, schemaname, relname) DO NOTHING RETURNING id";
static const char SQL_REL_ID[] =
    "SELECT id FROM bucardo.relation WHERE db = $1 AND schemaname = $2 AND relname = $3";
static const char SQL_ALL_DBS[] =
    "SELECT name FROM bucardo.db WHERE $1::text IS NULL OR name = $1 ORDER BY name";
static const char SQL_REL_USERS[] =
    "SELECT string_agg(DISTINCT s.name, ', ') FROM bucardo.relgroup_member m"
    "  JOIN bucardo.sync s ON s.relgroup = m.relgroup WHERE m.relation = $1 HAVING count(*) > 0";
static const char SQL_DELETE_REL[] = "WITH m AS (DELETE FROM bucardo.relgroup_member WHERE relation = $1)"
                                     " DELETE FROM bucardo.relation WHERE id = $1";
static const char SQL_LIST_TABLES[] =
    "SELECT schemaname || '.' || relname, db,"
    "       CASE WHEN pkey IS NULL THEN 'none'"
    "            ELSE array_to_string(pkey, '|') || ' (' || array_to_string(pkeytype, '|') || ')' END,"
    "       id"
    "  FROM bucardo.relation"
    " WHERE kind = $2 AND schemaname || '.' || relname ~ coalesce($1, '')"
    " ORDER BY schemaname, relname, db";
/* list tables --verbose: its relgroups, the syncs replicating it and the
 * per-table options set on it (Bucardo's "autokick:true" words); -vv: its
 * row. */
static const char SQL_TABLE_DETAIL[] =
    "SELECT concat_ws('  ',"
    "  'Relgroups: ' || (SELECT string_agg(m.relgroup, ',' ORDER BY m.relgroup)"
    "                      FROM bucardo.relgroup_member m WHERE m.relation = r.id),"
    "  'Syncs: ' || (SELECT string_agg(DISTINCT s.name, ',') FROM bucardo.relgroup_member m"
    "                  JOIN bucardo.sync s ON s.relgroup = m.relgroup WHERE m.relation = r.id),"
    "  'autokick:' || r.autokick, 'rebuild_index:' || r.rebuild_index,"
    "  'analyze_after_copy:' || r.analyze_after_copy,"
    "  CASE WHEN r.vacuum_after_copy THEN 'vacuum_after_copy:true' END,"
    "  'strict_checking:' || r.strict_checking, '(makedelta:' || r.makedelta || ')',"
    "  CASE WHEN r.ghost THEN 'ghost:true' END, 'conflict_strategy:' || r.conflict_strategy)"
    "  FROM bucardo.relation r WHERE r.id = $1::integer";
static const char SQL_TABLE_ROW[] = "SELECT * FROM bucardo.relation WHERE id = $1::integer";

/* On the database: a partition of that name (as name_matches), and the root
 * of its partition tree, which is what is replicated (partitions are not
 * listed by relinfo_list). */
static const char SQL_PARTITION_ROOT[] =
    "SELECT n.nspname || '.' || c.relname, rn.nspname || '.' || r.relname"
    "  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    "  JOIN pg_catalog.pg_class r ON r.oid = pg_catalog.pg_partition_root(c.oid)"
    "  JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace"
    " WHERE c.relispartition AND (c.relname = $1 OR n.nspname || '.' || c.relname = $1)"
    " ORDER BY 1 LIMIT 1";

static const char *const ALL_TABLES_KEYS[] = {"db",    "relgroup",      "herd",   "schema", "exclude-schema",
                                              "table", "exclude-table", "pkonly", NULL};
static const char *const ADD_TABLE_KEYS[] = {"db", "relgroup", "herd", NULL};

static bool name_matches(const RelInfo *r, const char *name)
{
    size_t sl = strlen(r->schemaname);
    if (strcmp(r->relname, name) == 0)
        return true;
    return strncmp(name, r->schemaname, sl) == 0 && name[sl] == '.' && strcmp(name + sl + 1, r->relname) == 0;
}

/*
 * not_found - the error for a name add table did not find: a leaf or
 * inner partition is named as such, with the table to add instead.
 */
static void not_found(PGconn *conn, const char *noun, const char *name, const char *db, bool sequences)
{
    const char *params[1] = {name};
    char *who = xasprintf("database %s", db);
    PGresult *res = sequences ? NULL : pg_query(conn, who, SQL_PARTITION_ROOT, 1, params);

    if (res != NULL && PQntuples(res) == 1)
        cli_error("%s is a partition of %s in database \"%s\": add %s, which replicates all its partitions",
                  PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), db, PQgetvalue(res, 0, 1));
    else if (res != NULL || sequences)
        cli_error("no %s named \"%s\" in database \"%s\"", noun, name, db);
    PQclear(res);
    free(who);
}

static bool in_list(const StrList *l, const RelInfo *r)
{
    for (int i = 0; i < l->count; i++)
        if (name_matches(r, l->items[i]))
            return true;
    return false;
}

/*
 * record_table - add one discovered table to the catalog (unless there) and
 * to the relgroup (when given).  *is_new says whether the table was new,
 * *joined whether it joined the relgroup now (false: it was there already).
 */
static bool record_table(CliContext *ctx, const char *db, const RelInfo *r, const char *relgroup,
                         bool sequences, bool *is_new, bool *joined)
{
    const char *params[6] = {db,         r->schemaname, r->relname,
                             r->keycols, r->keytypes,   sequences ? "sequence" : "table"};
    PGresult *res = pg_query(ctx->cat, "catalog", SQL_INSERT_REL, 6, params);
    char *id;
    bool added = false, ok = true;

    if (res == NULL)
        return false;
    *is_new = PQntuples(res) == 1;
    if (!*is_new) {
        PQclear(res);
        res = pg_query(ctx->cat, "catalog", SQL_REL_ID, 3, params);
        if (res == NULL)
            return false;
    }
    id = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (relgroup) {
        ok = relgroup_add(ctx->cat, relgroup, id, &added);
        if (ok && added && ctx->verbose)
            cli_say(ctx, "Added %s %s.%s to relgroup %s\n", sequences ? "sequence" : "table", r->schemaname,
                    r->relname, relgroup);
    }
    free(id);
    *joined = added;
    return ok;
}

/* prepare_relgroup - create the relgroup named by relgroup=/--relgroup. */
static bool prepare_relgroup(CliContext *ctx, const char *relgroup)
{
    bool created;

    if (relgroup == NULL)
        return true;
    if (!relgroup_ensure(ctx->cat, relgroup, &created))
        return false;
    if (created && ctx->verbose)
        cli_say(ctx, "Creating relgroup: %s\n", relgroup);
    return true;
}

static PGconn *connect_db(CliContext *ctx, const char *name)
{
    DbInfo db;
    PGconn *conn;

    switch (catalog_load_db(ctx->cat, name, &db)) {
    case LOOKUP_ERROR: return NULL;
    case LOOKUP_ABSENT: cli_error("no database named \"%s\"", name); return NULL;
    case LOOKUP_FOUND: break;
    }
    conn = dbinfo_connect(&db);
    dbinfo_free(&db);
    return conn;
}

/* add_all - `add all tables` / `add all sequences`. */
static int add_all(CliContext *ctx, int argc, char **argv, bool sequences)
{
    const char *noun = sequences ? "sequences" : "tables";
    KeyValues kv;
    const char *db, *relgroup, *pkonly_text;
    bool pkonly = false;
    StrList added = {0};
    PGresult *dbs = NULL;
    int code = EXIT_FAIL;

    if (!cli_kv_parse(argc, argv, 0, ALL_TABLES_KEYS, "add all tables", &kv))
        return EXIT_FAIL;
    db = cli_kv_get(&kv, "db") ? cli_kv_get(&kv, "db") : ctx->db;
    relgroup = cli_kv_get(&kv, "relgroup") ? cli_kv_get(&kv, "relgroup")
               : cli_kv_get(&kv, "herd")   ? cli_kv_get(&kv, "herd")
                                           : ctx->relgroup;
    if ((pkonly_text = cli_kv_get(&kv, "pkonly")) && !parse_bool(pkonly_text, &pkonly)) {
        cli_error("pkonly: expected a boolean, got \"%s\"", pkonly_text);
        goto out;
    }
    if (cli_kv_get(&kv, "schema"))
        strlist_add_split(&ctx->schemas, cli_kv_get(&kv, "schema"), ',');
    if (cli_kv_get(&kv, "exclude-schema"))
        strlist_add_split(&ctx->exclude_schemas, cli_kv_get(&kv, "exclude-schema"), ',');
    if (cli_kv_get(&kv, "table"))
        strlist_add_split(&ctx->tables, cli_kv_get(&kv, "table"), ',');
    if (cli_kv_get(&kv, "exclude-table"))
        strlist_add_split(&ctx->exclude_tables, cli_kv_get(&kv, "exclude-table"), ',');
    if (cli_catalog(ctx) == NULL)
        goto out;
    {
        const char *params[1] = {db};
        dbs = pg_query(ctx->cat, "catalog", SQL_ALL_DBS, 1, params);
    }
    if (dbs == NULL)
        goto out;
    if (PQntuples(dbs) == 0) {
        cli_error(db ? "no database named \"%s\"" : "no databases have been added yet%s", db ? db : "");
        goto out;
    }
    if (!prepare_relgroup(ctx, relgroup))
        goto out;
    for (int d = 0; d < PQntuples(dbs); d++) {
        const char *dbname = PQgetvalue(dbs, d, 0);
        PGconn *conn = connect_db(ctx, dbname);
        char *who = xasprintf("database %s", dbname);
        RelInfoList tables;
        bool ok;

        ok = conn && relinfo_list(conn, who, sequences, &tables);
        free(who);
        if (conn)
            PQfinish(conn);
        if (!ok)
            goto out;
        for (int i = 0; i < tables.count && ok; i++) {
            const RelInfo *r = &tables.items[i];
            bool is_new, joined;

            if ((ctx->schemas.count && !strlist_contains(&ctx->schemas, r->schemaname)) ||
                strlist_contains(&ctx->exclude_schemas, r->schemaname) ||
                (ctx->tables.count && !in_list(&ctx->tables, r)) || in_list(&ctx->exclude_tables, r) ||
                (pkonly && r->nkeys == 0))
                continue;
            ok = record_table(ctx, dbname, r, relgroup, sequences, &is_new, &joined);
            if (ok && is_new) {
                char *full = xasprintf("%s.%s", r->schemaname, r->relname);
                strlist_add(&added, full);
                free(full);
            }
        }
        relinfo_list_free(&tables);
        if (!ok)
            goto out;
    }
    if (added.count > 0 && ctx->verbose) {
        cli_say(ctx, "New %s:\n", noun);
        for (int i = 0; i < added.count; i++)
            cli_say(ctx, "  %s\n", added.items[i]);
    }
    cli_say(ctx, "New %s added: %d\n", noun, added.count);
    code = EXIT_OK;
out:
    PQclear(dbs);
    strlist_free(&added);
    cli_kv_free(&kv);
    return code;
}

int cmd_add_all_tables(CliContext *ctx, int argc, char **argv)
{
    return add_all(ctx, argc, argv, false);
}

int cmd_add_all_sequences(CliContext *ctx, int argc, char **argv)
{
    return add_all(ctx, argc, argv, true);
}

/* add_named - `add table` / `add sequence`. */
static int add_named(CliContext *ctx, int argc, char **argv, bool sequences)
{
    const char *noun = sequences ? "sequence" : "table";
    KeyValues kv;
    StrList names = {0};
    const char *db, *relgroup;
    PGconn *conn = NULL;
    RelInfoList tables = {0};
    int first_kv = 0, code = EXIT_FAIL;

    while (first_kv < argc && strchr(argv[first_kv], '=') == NULL)
        strlist_add_split(&names, argv[first_kv++], ',');
    if (names.count == 0) {
        strlist_free(&names);
        return cli_error("usage: bucardo add %s [SCHEMA.]NAME ... db=NAME [relgroup=NAME]", noun);
    }
    if (!cli_kv_parse(argc, argv, first_kv, ADD_TABLE_KEYS, "add table", &kv)) {
        strlist_free(&names);
        return EXIT_FAIL;
    }
    db = cli_kv_get(&kv, "db") ? cli_kv_get(&kv, "db") : ctx->db;
    relgroup = cli_kv_get(&kv, "relgroup") ? cli_kv_get(&kv, "relgroup")
               : cli_kv_get(&kv, "herd")   ? cli_kv_get(&kv, "herd")
                                           : ctx->relgroup;
    if (cli_catalog(ctx) == NULL)
        goto out;
    if (db == NULL) {
        PGresult *res = pg_query(ctx->cat, "catalog", "SELECT name FROM bucardo.db ORDER BY name", 0, NULL);
        if (res == NULL)
            goto out;
        if (PQntuples(res) != 1) {
            PQclear(res);
            cli_error(PQntuples(res) ? "several databases are known: say which with db=NAME"
                                     : "no databases have been added yet");
            goto out;
        }
        strlist_add(&ctx->owned, PQgetvalue(res, 0, 0));
        db = ctx->owned.items[ctx->owned.count - 1];
        PQclear(res);
    }
    conn = connect_db(ctx, db);
    if (conn == NULL)
        goto out;
    {
        char *who = xasprintf("database %s", db);
        bool ok = relinfo_list(conn, who, sequences, &tables);
        free(who);
        if (!ok)
            goto out;
    }
    if (!prepare_relgroup(ctx, relgroup))
        goto out;
    for (int n = 0; n < names.count; n++) {
        const RelInfo *match = NULL;
        int hits = 0;
        bool is_new, joined;

        for (int i = 0; i < tables.count; i++)
            if (name_matches(&tables.items[i], names.items[n])) {
                /* "schema.table" beats a bare name that happens to match too */
                if (match == NULL || strchr(names.items[n], '.') == NULL || hits == 0)
                    match = &tables.items[i];
                hits++;
            }
        if (hits == 0) {
            not_found(conn, noun, names.items[n], db, sequences);
            goto out;
        }
        if (hits > 1) {
            cli_error("table name \"%s\" matches %d tables in database \"%s\": give schema.table",
                      names.items[n], hits, db);
            goto out;
        }
        if (!record_table(ctx, db, match, relgroup, sequences, &is_new, &joined))
            goto out;
        if (is_new)
            cli_say(ctx, "Added %s %s.%s\n", noun, match->schemaname, match->relname);
        else if (relgroup != NULL) {
            /* Known already: what the command did is put it in the relgroup
             * (said with --verbose by record_table), or nothing at all. */
            if (joined && !ctx->verbose)
                cli_say(ctx, "Added %s %s.%s to relgroup %s\n", noun, match->schemaname, match->relname,
                        relgroup);
            else if (!joined)
                cli_say(ctx, "%s %s.%s of database \"%s\" is already in relgroup %s\n",
                        sequences ? "Sequence" : "Table", match->schemaname, match->relname, db, relgroup);
        } else {
            cli_error("%s %s.%s of database \"%s\" is already known", noun, match->schemaname, match->relname,
                      db);
            goto out;
        }
    }
    code = EXIT_OK;
out:
    if (conn)
        PQfinish(conn);
    relinfo_list_free(&tables);
    strlist_free(&names);
    cli_kv_free(&kv);
    return code;
}

int cmd_add_table(CliContext *ctx, int argc, char **argv)
{
    return add_named(ctx, argc, argv, false);
}

int cmd_add_sequence(CliContext *ctx, int argc, char **argv)
{
    return add_named(ctx, argc, argv, true);
}

int cmd_remove_table(CliContext *ctx, int argc, char **argv)
{
    static const char *const keys[] = {"db", NULL};
    KeyValues kv;
    int first_kv = 0, code = EXIT_FAIL;

    while (first_kv < argc && strchr(argv[first_kv], '=') == NULL)
        first_kv++;
    if (first_kv == 0)
        return cli_error("usage: bucardo remove table [SCHEMA.]TABLE ... [db=NAME]");
    if (!cli_kv_parse(argc, argv, first_kv, keys, "remove table", &kv))
        return EXIT_FAIL;
    if (cli_catalog(ctx) == NULL)
        goto out;
    for (int i = 0; i < first_kv; i++) {
        PGresult *rel =
            relation_find(ctx->cat, argv[i], cli_kv_get(&kv, "db") ? cli_kv_get(&kv, "db") : ctx->db);
        PGresult *users;
        const char *params[1];

        if (rel == NULL)
            goto out;
        params[0] = PQgetvalue(rel, 0, 0);
        users = pg_query(ctx->cat, "catalog", SQL_REL_USERS, 1, params);
        if (users == NULL) {
            PQclear(rel);
            goto out;
        }
        if (PQntuples(users) > 0) {
            cli_error("cannot remove table %s: it is replicated by sync(s) %s", PQgetvalue(rel, 0, 2),
                      PQgetvalue(users, 0, 0));
            PQclear(users);
            PQclear(rel);
            goto out;
        }
        PQclear(users);
        if (!pg_exec(ctx->cat, "catalog", SQL_DELETE_REL, 1, params)) {
            PQclear(rel);
            goto out;
        }
        cli_say(ctx, "Removed %s (database %s)\n", PQgetvalue(rel, 0, 2), PQgetvalue(rel, 0, 1));
        PQclear(rel);
    }
    code = EXIT_OK;
out:
    cli_kv_free(&kv);
    return code;
}

/* list_relation_detail - what --verbose adds under a table or sequence. */
static bool list_relation_detail(CliContext *ctx, const char *id)
{
    const char *params[1] = {id};
    PGresult *res = pg_query(ctx->cat, "catalog", SQL_TABLE_DETAIL, 1, params);

    if (res == NULL)
        return false;
    if (PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] != '\0')
        printf("  %s\n", PQgetvalue(res, 0, 0));
    PQclear(res);
    return cli_show_all_columns(ctx, SQL_TABLE_ROW, id);
}

/* list_relations - `list tables` / `list sequences`. */
static int list_relations(CliContext *ctx, int argc, char **argv, bool sequences)
{
    const char *params[2] = {argc > 0 ? argv[0] : NULL, sequences ? "sequence" : "table"};
    PGresult *res;
    int nwidth, twidth = 0, dwidth = 0, n;

    if (argc > 1)
        return cli_error("usage: bucardo list %s [REGEX]", sequences ? "sequences" : "tables");
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    res = pg_query(ctx->cat, "catalog", SQL_LIST_TABLES, 2, params);
    if (res == NULL)
        return EXIT_FAIL;
    n = PQntuples(res);
    if (n == 0)
        printf("No %s\n", sequences ? "sequences" : "tables");
    nwidth = snprintf(NULL, 0, "%d", n);
    for (int r = 0; r < n; r++) {
        if (utf8_width(PQgetvalue(res, r, 0)) > twidth)
            twidth = utf8_width(PQgetvalue(res, r, 0));
        if (utf8_width(PQgetvalue(res, r, 1)) > dwidth)
            dwidth = utf8_width(PQgetvalue(res, r, 1));
    }
    for (int r = 0; r < n; r++) {
        if (sequences)
            printf("%*d. Sequence: %s%*s  DB: %s\n", nwidth, r + 1, PQgetvalue(res, r, 0),
                   utf8_pad(PQgetvalue(res, r, 0), twidth), "", PQgetvalue(res, r, 1));
        else
            printf("%*d. Table: %s%*s  DB: %s%*s  PK: %s\n", nwidth, r + 1, PQgetvalue(res, r, 0),
                   utf8_pad(PQgetvalue(res, r, 0), twidth), "", PQgetvalue(res, r, 1),
                   utf8_pad(PQgetvalue(res, r, 1), dwidth), "", PQgetvalue(res, r, 2));
        if (ctx->verbose > 0 && !list_relation_detail(ctx, PQgetvalue(res, r, 3))) {
            PQclear(res);
            return EXIT_FAIL;
        }
    }
    PQclear(res);
    return EXIT_OK;
}

int cmd_list_tables(CliContext *ctx, int argc, char **argv)
{
    return list_relations(ctx, argc, argv, false);
}

int cmd_list_sequences(CliContext *ctx, int argc, char **argv)
{
    return list_relations(ctx, argc, argv, true);
}
