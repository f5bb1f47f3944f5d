/*
 * engine/catalog/capture.c - install and remove change capture (sql/capture.sql)
 * for one table of a source database.
 *
 * sql/capture.sql is a template in sections ("-- @@SECTION name@@"):
 * common (once per database), table (delta table, trigger function,
 * triggers), kick (the autokick wake-up, put into the trigger function of
 * a table an autokick sync reads) and drop (everything of one table).  Placeholders are replaced by text that
 * was quoted here with PQescapeIdentifier, so no user-given name reaches
 * the server unquoted.  They are replaced in one pass over the template, so
 * a name that looks like a placeholder (a key column "@RELID@", a table
 * "@DELTA@") is never replaced in turn.
 */
#include "capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "sqltext.h"

char *capture_object_name(const char *prefix, const TableDef *t)
{
    /* Hash schema and table with a separator that cannot occur in both. */
    size_t ls = strlen(t->schemaname), lt = strlen(t->relname);
    char *full = xmalloc(ls + lt + 2);
    XXH64_hash_t h;
    char *out;
    int keep = (int)(lt > 40 ? 40 : lt);

    memcpy(full, t->schemaname, ls);
    full[ls] = '\0';
    memcpy(full + ls + 1, t->relname, lt + 1);
    h = XXH3_64bits(full, ls + lt + 1);
    free(full);
    /* Do not cut a multi-byte UTF-8 character in half. */
    while (keep > 0 && keep < (int)lt && ((unsigned char)t->relname[keep] & 0xC0) == 0x80)
        keep--;
    out = xasprintf("%s_%.*s_%08x", prefix, keep, t->relname, (unsigned)(h & 0xffffffffu));
    return out;
}

/* quoted_name - capture_object_name(prefix, t), quoted for conn. */
static char *quoted_name(PGconn *conn, const char *prefix, const TableDef *t)
{
    char *name = capture_object_name(prefix, t), *q = pg_quote_ident(conn, name);

    free(name);
    return q;
}

/* match - the test of row `rec` (OLD or NEW) against `filter`. */
static char *match(const char *rec, const char *filter)
{
    return filter ? xasprintf("EXISTS (SELECT FROM (SELECT %s.*) AS bucardo_r WHERE (%s))", rec, filter)
                  : xstrdup("true");
}

/* kick_section - the kick section for table t, its NOTIFY's payload
 * (@KICKNAME@) filled in with its delta table's name. */
static char *kick_section(PGconn *conn, const TableDef *t)
{
    static const char ph[] = "@KICKNAME@";
    char *text = sql_section(sql_capture, "kick"), *name = capture_object_name("delta", t);
    char *lit = pg_quote_literal(conn, name);
    const char *p = text, *at;
    StrBuf out;

    strbuf_init(&out);
    while ((at = strstr(p, ph)) != NULL) {
        strbuf_append_len(&out, p, (size_t)(at - p));
        strbuf_append(&out, lit);
        p = at + strlen(ph);
    }
    strbuf_append(&out, p);
    free(lit);
    free(name);
    free(text);
    return out.data;
}

/* render - the section with every placeholder of table t filled in;
 * @KICK@ gets the kick section when `autokick`; `filter` (NULL: none) is
 * the capture filter (see FILTERS in sql/capture.sql). */
static char *render(PGconn *conn, const char *name, const TableDef *t, bool autokick, const char *filter)
{
    char *text = sql_section(sql_capture, name);
    StrBuf keydefs, keycols, newkeys, newrow, oldrow;
    char *relid;
    struct {
        const char *ph;
        char *value;
    } subs[24];
    int n = 0;

    if (text == NULL)
        return NULL;
    strbuf_init(&keydefs);
    strbuf_init(&keycols);
    strbuf_init(&newkeys);
    strbuf_init(&newrow);
    strbuf_init(&oldrow);
    for (int k = 0; k < t->nkeys; k++) {
        char *q = pg_quote_ident(conn, t->keycols[k]);
        const char *sep = k ? ", " : "";
        strbuf_printf(&keydefs, "%s%s %s", sep, q, t->keytypes[k]);
        strbuf_printf(&keycols, "%s%s", sep, q);
        strbuf_printf(&newkeys, "%sn.%s", sep, q);
        strbuf_printf(&newrow, "%sNEW.%s", sep, q);
        strbuf_printf(&oldrow, "%sOLD.%s", sep, q);
        free(q);
    }
    {
        char *qualified = table_qualified(conn, t);
        char *lit = pg_quote_literal(conn, qualified);
        relid = xasprintf("%s::regclass::oid", lit);
        free(lit);
        free(qualified);
    }
#define SUB(p, v) (subs[n].ph = (p), subs[n++].value = (v))
    SUB("@SCHEMA@", pg_quote_ident(conn, t->schemaname));
    SUB("@TABLE@", pg_quote_ident(conn, t->relname));
    SUB("@DELTA@", quoted_name(conn, "delta", t));
    SUB("@FUNC@", quoted_name(conn, "capture", t));
    SUB("@FUNCROW@", quoted_name(conn, "capture_row", t));
    SUB("@KEYDEFS@", keydefs.data);
    SUB("@KEYCOLS@", keycols.data);
    SUB("@NEWKEYS@", newkeys.data);
    SUB("@NEWROWKEYS@", newrow.data);
    SUB("@OLDROWKEYS@", oldrow.data);
    SUB("@RELID@", relid);
    SUB("@KICK@", autokick ? kick_section(conn, t) : xstrdup(""));
    SUB("@TRUNCARG@", xstrdup(autokick ? "'kick'" : ""));
    SUB("@KICKBOOL@", xstrdup(autokick ? "true" : "false"));
    SUB("@FILTERED@", xstrdup(filter ? "true" : "false"));
    SUB("@OLDMATCH@", match("OLD", filter));
    SUB("@NEWMATCH@", match("NEW", filter));
    SUB("@FUNCSET@", xstrdup(filter ? "SET search_path = pg_catalog, pg_temp\n" : ""));
    SUB("@FUNCOPT@", xstrdup(filter ? "#variable_conflict use_column\n" : ""));
#undef SUB
    {
        StrBuf out;
        strbuf_init(&out);
        for (const char *p = text; *p;) {
            int i = -1;
            if (*p == '@') /* placeholders all end in '@': none is a prefix of another */
                for (i = n - 1; i >= 0 && strncmp(p, subs[i].ph, strlen(subs[i].ph)) != 0; i--)
                    ;
            if (i >= 0) {
                strbuf_append(&out, subs[i].value);
                p += strlen(subs[i].ph);
            } else {
                strbuf_append_len(&out, p++, 1);
            }
        }
        free(text);
        text = out.data;
    }
    for (int i = 0; i < n; i++)
        free(subs[i].value);
    return text;
}

static bool run_section(PGconn *conn, const char *who, const char *name, const TableDef *t, bool autokick,
                        const char *filter)
{
    char *sql = render(conn, name, t, autokick, filter);
    bool ok;

    if (sql == NULL)
        return true; /* the template has no such section: nothing to do */
    ok = pg_exec_script(conn, who, sql);
    free(sql);
    return ok;
}

/*
 * safe_names - the template's PL/pgSQL bodies are dollar-quoted with tags
 * starting "$bucardo": a name holding one would end a body early.
 */
static bool safe_names(const char *who, const TableDef *t, const char *filter)
{
    const char *names[34] = {t->schemaname, t->relname};
    int n = 2;

    for (int k = 0; k < t->nkeys && n < 34; k++)
        names[n++] = t->keycols[k];
    for (int i = 0; i < n; i++)
        if (strstr(names[i], "$bucardo") != NULL) {
            fprintf(stderr,
                    "%s: table %s.%s: the name \"%s\" contains \"$bucardo\", which change capture "
                    "cannot quote; rename it to replicate the table\n",
                    who, t->schemaname, t->relname, names[i]);
            return false;
        }
    if (filter && strstr(filter, "$bucardo") != NULL) {
        fprintf(stderr,
                "%s: table %s.%s: the capture filter contains \"$bucardo\", which change capture cannot "
                "quote\n",
                who, t->schemaname, t->relname);
        return false;
    }
    return true;
}

bool capture_install(PGconn *conn, const char *who, const TableDef *t, bool autokick, const char *filter)
{
    if (!safe_names(who, t, filter))
        return false;
    if (t->nkeys == 0)
        return true; /* fullcopy-only table: no deltas to capture */
    return run_section(conn, who, "common", t, false, NULL) &&
           run_section(conn, who, "table", t, autokick, filter);
}

bool capture_remove(PGconn *conn, const char *who, const TableDef *t)
{
    return run_section(conn, who, "drop", t, false, NULL);
}

/* How many syncs read table t on source `db` (other than by the removed
 * one), and whether any of them autokicks - inactive ones included:
 * `activate` does not reinstall capture, so a sync reactivated later
 * would otherwise have lost its wake-up.  And the capture filter the
 * trigger needs: NULL when a reader takes every row, else the readers'
 * filters OR'ed (each reader's cycles read its own rows through its own). */
static const char SQL_TABLE_READERS[] =
    "SELECT count(*), coalesce(bool_or(coalesce(r.autokick, s.autokick)), false),"
    "       CASE WHEN bool_or(r.capture_filter IS NULL) THEN NULL"
    "            ELSE string_agg(DISTINCT '(' || r.capture_filter || ')', ' OR ') END"
    "  FROM bucardo.sync s"
    "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup AND m.role = 'source' AND m.db = $1"
    "  JOIN bucardo.relgroup_member rm ON rm.relgroup = s.relgroup"
    "  JOIN bucardo.relation r ON r.id = rm.relation"
    " WHERE r.schemaname = $2 AND r.relname = $3 AND NOT r.ghost";

static bool table_readers(PGconn *cat, const char *db, const TableDef *t, long *count, bool *autokick,
                          char **filter)
{
    const char *params[3] = {db, t->schemaname, t->relname};
    PGresult *res = pg_query(cat, "catalog", SQL_TABLE_READERS, 3, params);

    if (res == NULL)
        return false;
    *count = atol(PQgetvalue(res, 0, 0));
    *autokick = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    *filter = PQgetisnull(res, 0, 2) ? NULL : xstrdup(PQgetvalue(res, 0, 2));
    PQclear(res);
    return true;
}

/* How long installing or removing capture waits for a table's lock. */
#define CAPTURE_LOCK_TIMEOUT "10s"

/* for_each_source - run `fn` on every table, in one transaction per source. */
static bool for_each_source(PGconn *cat, const SyncDef *def, bool install)
{
    for (int s = 0; s < def->nsources; s++) {
        const DbInfo *db = &def->sources[s];
        char *who = xasprintf("database %s", db->name);
        PGconn *conn = dbinfo_connect(db);
        /* The templates are idempotent (IF NOT EXISTS, DROP ... IF EXISTS):
         * their "already exists, skipping" notices are no news, and must
         * not land on the stderr of `bucardo add sync`.  (Re)creating
         * triggers locks each table exclusively: behind a long transaction
         * that would queue every query of the application on that table
         * behind us, so give up after CAPTURE_LOCK_TIMEOUT instead. */
        bool ok = conn != NULL && pg_exec(conn, who, "BEGIN", 0, NULL) &&
                  pg_exec(conn, who, "SET LOCAL client_min_messages = warning", 0, NULL) &&
                  pg_exec(conn, who, "SET LOCAL lock_timeout = '" CAPTURE_LOCK_TIMEOUT "'", 0, NULL);

        for (int i = 0; ok && i < def->ntables; i++) {
            const TableDef *t = &def->tables[i];
            long readers;
            bool autokick;
            char *filter = NULL;

            ok = table_readers(cat, db->name, t, &readers, &autokick, &filter);
            if (!ok)
                break;
            if (install)
                ok = capture_install(conn, who, t, autokick, filter);
            else if (readers == 0)
                ok = capture_remove(conn, who, t);
            else /* still read by others: with or without the kick and filter they need */
                ok = capture_install(conn, who, t, autokick, filter);
            free(filter);
        }
        ok = ok && pg_exec(conn, who, "COMMIT", 0, NULL);
        if (conn)
            PQfinish(conn);
        free(who);
        if (!ok)
            return false;
    }
    return true;
}

/*
 * capture_sync_install - the sync's row is locked first, until the
 * caller's catalog transaction ends: a running engine cannot record a cycle
 * of this sync meanwhile (see SYNC_SHAPE_SQL), since the capture committed
 * here on the sources is visible before the catalog change is.
 */
bool capture_sync_install(PGconn *cat, const SyncDef *def)
{
    const char *params[1] = {def->name};

    return pg_exec(cat, "catalog", "SELECT FROM bucardo.sync WHERE name = $1 FOR UPDATE", 1, params) &&
           for_each_source(cat, def, true);
}

bool capture_sync_cleanup(PGconn *cat, const SyncDef *def)
{
    return for_each_source(cat, def, false);
}
