/*
 * engine/catalog/syncdef.c - read a sync's definition from the catalog.
 *
 * Key columns come back one row per column (unnest WITH ORDINALITY), so no
 * array literal is ever parsed on the client.
 */
#include "syncdef.h"

#include <stdlib.h>
#include <string.h>

static const char SQL_SYNC[] =
    "SELECT name, relgroup, status, autokick, onetimecopy, conflict_strategy,"
    "       coalesce(extract(epoch FROM checktime), 0), analyze_after_copy, strict_checking,"
    "       copy_streams, rebuild_index,"
    "       coalesce(isolation_level,"
    "                (SELECT setting FROM bucardo.config WHERE name = 'isolation_level'), 'repeatable read'),"
    "       deletemethod,"
    "       CASE WHEN checktime IS NULL AND NOT autokick"
    "            THEN coalesce((SELECT setting FROM bucardo.config WHERE name = 'default_checktime'), '0')"
    "       END"
    "  FROM bucardo.sync WHERE name = $1";
static const char SQL_MEMBERS[] = "SELECT m.db, m.role, m.makedelta FROM bucardo.sync s"
                                  "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
                                  " WHERE s.name = $1 ORDER BY m.priority DESC, m.position";
static const char SQL_TABLES[] =
    "SELECT r.id, r.schemaname, r.relname, k.col, k.typ, r.vacuum_after_copy OR s.vacuum_after_copy,"
    "       coalesce(r.autokick, s.autokick), coalesce(r.analyze_after_copy, s.analyze_after_copy),"
    "       coalesce(r.strict_checking, s.strict_checking), coalesce(r.rebuild_index, s.rebuild_index),"
    "       r.makedelta, coalesce(r.conflict_strategy, s.conflict_strategy), r.capture_filter"
    "  FROM bucardo.sync s"
    "  JOIN bucardo.relgroup_member rm ON rm.relgroup = s.relgroup"
    "  JOIN bucardo.relation r ON r.id = rm.relation"
    "  LEFT JOIN LATERAL unnest(r.pkey, r.pkeytype) WITH ORDINALITY AS k(col, typ, ord) ON true"
    " WHERE s.name = $1 AND r.kind = 'table' AND NOT r.ghost"
    " ORDER BY rm.priority DESC, rm.position, k.ord";

static const char SQL_SEQUENCES[] = "SELECT r.schemaname, r.relname"
                                    "  FROM bucardo.sync s"
                                    "  JOIN bucardo.relgroup_member rm ON rm.relgroup = s.relgroup"
                                    "  JOIN bucardo.relation r ON r.id = rm.relation"
                                    " WHERE s.name = $1 AND r.kind = 'sequence' AND NOT r.ghost"
                                    " ORDER BY rm.priority DESC, rm.position";

static bool load_sequences(PGconn *cat, SyncDef *def)
{
    const char *params[1] = {def->name};
    PGresult *res = pg_query(cat, "catalog", SQL_SEQUENCES, 1, params);

    if (res == NULL)
        return false;
    def->sequences = xcalloc((size_t)PQntuples(res) + 1, sizeof(TableDef));
    for (int r = 0; r < PQntuples(res); r++) {
        TableDef *t = &def->sequences[def->nsequences++];
        t->schemaname = xstrdup(PQgetvalue(res, r, 0));
        t->relname = xstrdup(PQgetvalue(res, r, 1));
    }
    PQclear(res);
    return true;
}

static const char SQL_CUSTOM[] =
    "SELECT r.schemaname, r.relname, 'name', c.newname, coalesce(c.db, ''), c.sync IS NULL"
    "  FROM bucardo.customname c JOIN bucardo.relation r ON r.id = c.relation"
    " WHERE c.sync IS NULL OR c.sync = $1"
    " UNION ALL "
    "SELECT r.schemaname, r.relname, 'cols', c.clause, coalesce(c.db, ''), c.sync IS NULL"
    "  FROM bucardo.customcols c JOIN bucardo.relation r ON r.id = c.relation"
    " WHERE c.sync IS NULL OR c.sync = $1"
    " ORDER BY 6, 5";

bool table_makedelta(const TableDef *t, const DbInfo *db)
{
    StrList dbs = {0};
    bool on;

    if (db->makedelta)
        return true;
    if (t->makedelta == NULL)
        return false;
    if (strcmp(t->makedelta, "on") == 0)
        return true;
    strlist_add_split(&dbs, t->makedelta, ',');
    on = strlist_contains(&dbs, db->name);
    strlist_free(&dbs);
    return on;
}

const char *tabledef_custom(const StrList *dbs, const StrList *values, const char *db)
{
    for (int i = 0; i < dbs->count; i++)
        if (strcmp(dbs->items[i], db) == 0)
            return values->items[i];
    for (int i = 0; i < dbs->count; i++)
        if (dbs->items[i][0] == '\0')
            return values->items[i];
    return NULL;
}

/* load_customs - attach customname/customcols entries to their tables. */
static bool load_customs(PGconn *cat, SyncDef *def)
{
    const char *params[1] = {def->name};
    PGresult *res = pg_query(cat, "catalog", SQL_CUSTOM, 1, params);

    if (res == NULL)
        return false;
    for (int r = 0; r < PQntuples(res); r++)
        for (int i = 0; i < def->ntables; i++) {
            TableDef *t = &def->tables[i];
            bool is_name = strcmp(PQgetvalue(res, r, 2), "name") == 0;
            if (strcmp(t->schemaname, PQgetvalue(res, r, 0)) != 0 ||
                strcmp(t->relname, PQgetvalue(res, r, 1)) != 0)
                continue;
            strlist_add(is_name ? &t->name_db : &t->cols_db, PQgetvalue(res, r, 4));
            strlist_add(is_name ? &t->name_value : &t->cols_value, PQgetvalue(res, r, 3));
        }
    PQclear(res);
    return true;
}

static bool load_members(PGconn *cat, SyncDef *def)
{
    const char *params[1] = {def->name};
    PGresult *res = pg_query(cat, "catalog", SQL_MEMBERS, 1, params);
    int n;

    if (res == NULL)
        return false;
    n = PQntuples(res);
    def->sources = xcalloc((size_t)n, sizeof(DbInfo));
    def->targets = xcalloc((size_t)n, sizeof(DbInfo));
    def->fullcopy = xcalloc((size_t)n, sizeof(bool));
    for (int r = 0; r < n; r++) {
        const char *role = PQgetvalue(res, r, 1);
        bool source = strcmp(role, "source") == 0;
        DbInfo *slot = source ? &def->sources[def->nsources] : &def->targets[def->ntargets];

        if (catalog_load_db(cat, PQgetvalue(res, r, 0), slot) != LOOKUP_FOUND) {
            PQclear(res);
            return false;
        }
        /* The member's own makedelta (db:role:makedelta=1) in this dbgroup. */
        slot->makedelta |= strcmp(PQgetvalue(res, r, 2), "t") == 0;
        if (source)
            def->nsources++;
        else
            def->fullcopy[def->ntargets++] = strcmp(role, "fullcopy") == 0;
    }
    PQclear(res);
    return true;
}

static bool load_tables(PGconn *cat, SyncDef *def)
{
    const char *params[1] = {def->name};
    PGresult *res = pg_query(cat, "catalog", SQL_TABLES, 1, params);
    const char *last_id = NULL;
    int n;

    if (res == NULL)
        return false;
    n = PQntuples(res);
    def->tables = xcalloc((size_t)n, sizeof(TableDef));
    for (int r = 0; r < n; r++) {
        TableDef *t;
        if (last_id == NULL || strcmp(last_id, PQgetvalue(res, r, 0)) != 0) {
            t = &def->tables[def->ntables++];
            t->schemaname = xstrdup(PQgetvalue(res, r, 1));
            t->relname = xstrdup(PQgetvalue(res, r, 2));
            t->vacuum_after_copy = strcmp(PQgetvalue(res, r, 5), "t") == 0;
            t->autokick = strcmp(PQgetvalue(res, r, 6), "t") == 0;
            t->analyze_after_copy = strcmp(PQgetvalue(res, r, 7), "t") == 0;
            t->strict_checking = strcmp(PQgetvalue(res, r, 8), "t") == 0;
            t->rebuild_index = atoi(PQgetvalue(res, r, 9));
            t->makedelta = PQgetisnull(res, r, 10) ? NULL : xstrdup(PQgetvalue(res, r, 10));
            t->conflict_strategy = xstrdup(PQgetvalue(res, r, 11));
            t->capture_filter = PQgetisnull(res, r, 12) ? NULL : xstrdup(PQgetvalue(res, r, 12));
            /* 32 = INDEX_MAX_KEYS: no key has more columns */
            t->keycols = xcalloc(32, sizeof(char *));
            t->keytypes = xcalloc(32, sizeof(char *));
            last_id = PQgetvalue(res, r, 0);
        }
        t = &def->tables[def->ntables - 1];
        if (!PQgetisnull(res, r, 3) && t->nkeys < 32) {
            t->keycols[t->nkeys] = xstrdup(PQgetvalue(res, r, 3));
            t->keytypes[t->nkeys++] = xstrdup(PQgetvalue(res, r, 4));
        }
    }
    PQclear(res);
    return true;
}

LookupStatus syncdef_load(PGconn *cat, const char *name, SyncDef *out)
{
    const char *params[1] = {name};
    PGresult *res = pg_query(cat, "catalog", SQL_SYNC, 1, params);
    char *end;

    memset(out, 0, sizeof(*out));
    if (res == NULL)
        return LOOKUP_ERROR;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return LOOKUP_ABSENT;
    }
    out->name = xstrdup(PQgetvalue(res, 0, 0));
    out->relgroup = xstrdup(PQgetvalue(res, 0, 1));
    out->status = xstrdup(PQgetvalue(res, 0, 2));
    out->autokick = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    out->onetimecopy = atoi(PQgetvalue(res, 0, 4));
    out->conflict_strategy = xstrdup(PQgetvalue(res, 0, 5));
    out->checktime = strtod(PQgetvalue(res, 0, 6), &end);
    out->analyze_after_copy = strcmp(PQgetvalue(res, 0, 7), "t") == 0;
    out->strict_checking = strcmp(PQgetvalue(res, 0, 8), "t") == 0;
    out->copy_streams = atoi(PQgetvalue(res, 0, 9));
    out->rebuild_index = atoi(PQgetvalue(res, 0, 10));
    out->serializable = strcmp(PQgetvalue(res, 0, 11), "serializable") == 0;
    out->deletemethod = xstrdup(PQgetvalue(res, 0, 12));
    if (!PQgetisnull(res, 0, 13)) /* autokick off, no checktime: default_checktime */
        out->checktime = strtod(PQgetvalue(res, 0, 13), &end);
    PQclear(res);
    if (!load_members(cat, out) || !load_tables(cat, out) || !load_sequences(cat, out) ||
        !load_customs(cat, out)) {
        syncdef_free(out);
        return LOOKUP_ERROR;
    }
    res = pg_query(cat, "catalog", "SELECT " SYNC_SHAPE_SQL " FROM bucardo.sync s WHERE s.name = $1", 1,
                   params);
    if (res == NULL || PQntuples(res) != 1) {
        PQclear(res);
        syncdef_free(out);
        return LOOKUP_ERROR;
    }
    out->shape = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    out->flatfile_dir = catalog_get_setting(cat, "flatfile_dir");
    return LOOKUP_FOUND;
}

void syncdef_free(SyncDef *def)
{
    free(def->shape);
    free(def->flatfile_dir);
    for (int i = 0; i < def->nsources; i++)
        dbinfo_free(&def->sources[i]);
    for (int i = 0; i < def->ntargets; i++)
        dbinfo_free(&def->targets[i]);
    for (int i = 0; i < def->ntables; i++) {
        TableDef *t = &def->tables[i];
        for (int k = 0; k < t->nkeys; k++) {
            free(t->keycols[k]);
            free(t->keytypes[k]);
        }
        free(t->keycols);
        free(t->keytypes);
        strlist_free(&t->name_db);
        strlist_free(&t->name_value);
        strlist_free(&t->cols_db);
        strlist_free(&t->cols_value);
        free(t->schemaname);
        free(t->relname);
        free(t->makedelta);
        free(t->conflict_strategy);
        free(t->capture_filter);
    }
    for (int i = 0; i < def->nsequences; i++) {
        free(def->sequences[i].schemaname);
        free(def->sequences[i].relname);
    }
    free(def->sequences);
    free(def->sources);
    free(def->targets);
    free(def->fullcopy);
    free(def->tables);
    free(def->name);
    free(def->relgroup);
    free(def->status);
    free(def->conflict_strategy);
    free(def->deletemethod);
    memset(def, 0, sizeof(*def));
}

char *table_qualified(PGconn *conn, const TableDef *t)
{
    char *s = pg_quote_ident(conn, t->schemaname);
    char *r = pg_quote_ident(conn, t->relname);
    char *q = xasprintf("%s.%s", s, r);

    free(s);
    free(r);
    return q;
}

char *table_custom_qualified(PGconn *conn, const TableDef *t, const char *name)
{
    const char *dot = strchr(name, '.');
    char *schema = dot ? xasprintf("%.*s", (int)(dot - name), name) : xstrdup(t->schemaname);
    char *qs = pg_quote_ident(conn, schema), *qt = pg_quote_ident(conn, dot ? dot + 1 : name);
    char *out = xasprintf("%s.%s", qs, qt);

    free(schema);
    free(qs);
    free(qt);
    return out;
}
