/*
 * engine/compare/compare_sql.c - every statement `bucardo compare` runs, and how it
 * runs them: the session settings and snapshot, the per-side digest and
 * row statements of a table (templates filled in with names quoted by
 * PQescapeIdentifier; values always travel as parameters), running one
 * statement on several servers at once, reading the results, and queuing
 * keys for repair.  engine/compare/compare.c decides what to run.
 *
 * Why the statements look the way they do is in the header of
 * engine/compare/compare.c; in short: each server hashes each row's columns as
 * text ("C" collation) with hashtextextended(), and sums a range's rows
 * up with count(*) and bit_xor(), per bucket of content-defined key
 * boundaries.
 */
#include "compare_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"

/* Equal values must print, hence hash, the same on every server: fix
 * every setting that changes how a value prints.  work_mem keeps the
 * hash aggregate and sorts of a few thousand buckets in memory. */
static const char SQL_SESSION[] =
    "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC';"
    " SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8';"
    " SET work_mem = '64MB'; SET application_name = 'bucardo compare';"
    " BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
/* The first query of the transaction: it also takes the snapshot. */
static const char SQL_SERVER[] =
    "SELECT current_setting('server_encoding'), current_setting('server_version_num')::int";
static const char SQL_COLUMNS[] =
    "SELECT attname FROM pg_catalog.pg_attribute"
    " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
    " ORDER BY attnum";
/* Whether the key column's type has a fixed length (see SQL_DIGEST_SCALAR). */
static const char SQL_KEY_FIXED[] =
    "SELECT ty.typlen > 0 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid"
    " WHERE a.attrelid = $1::regclass AND a.attname = $2";
/* The planner's row count (summed over partitions), else a guess from the size. */
static const char SQL_ESTIMATE[] =
    "SELECT coalesce(sum(CASE WHEN c.reltuples >= 1 THEN c.reltuples::float8"
    "                         ELSE pg_catalog.pg_relation_size(c.oid) / 100.0 END), 0)"
    "  FROM pg_catalog.pg_class c"
    " WHERE c.oid IN (SELECT $1::regclass"
    "                 UNION SELECT p.relid FROM pg_catalog.pg_partition_tree($1::regclass) p WHERE p.isleaf)";
/*
 * The buckets of a range ($1 is spacing - 1): g numbers the bucket, then
 * its row count, the XOR of its row hashes and its first key's columns as
 * text (NULL for bucket 0, the rows before the first boundary).
 *
 * One key column of a fixed-length type: the boundaries go into an array
 * and width_bucket() finds each row's bucket in a plain (parallel) scan
 * with a hash aggregate - as fast as hashing the rows at all.  Otherwise
 * the key order is walked, numbering buckets by a running count of
 * boundaries: width_bucket() steps through an array of variable-length
 * values from its start for each probe, and compares records slowly.
 */
static const char SQL_DIGEST_SCALAR[] =
    "WITH b AS MATERIALIZED (SELECT coalesce(array_agg(@KEYCOLS@ ORDER BY @KEYCOLS@), '{}') AS a"
    "                          FROM @TABLE@ t WHERE (@KEYHASH@) & $1::int8 = 0 AND @RANGE@)"
    " SELECT s.g, s.c, s.x, ((SELECT b.a FROM b))[s.g]::text"
    "   FROM (SELECT width_bucket(@KEYCOLS@, (SELECT b.a FROM b)) AS g, count(*) AS c, bit_xor(@ROWHASH@) AS "
    "x"
    "           FROM @TABLE@ t WHERE @RANGE@ GROUP BY 1) s"
    "  ORDER BY 1";
static const char SQL_DIGEST_WINDOW[] =
    "SELECT s.g, count(*), bit_xor(s.h)@BOUNDS@"
    "  FROM (SELECT @KEYALIASES@, f.b,"
    "               sum(f.b::int) OVER (ORDER BY @KEYCOLS@ ROWS UNBOUNDED PRECEDING) AS g,"
    "               @ROWHASH@ AS h"
    "          FROM @TABLE@ t CROSS JOIN LATERAL (SELECT (@KEYHASH@) & $1::int8 = 0 AS b) f"
    "         WHERE @RANGE@) s"
    " GROUP BY s.g ORDER BY s.g";
/*
 * The first buckets of a table whose boundaries the source's statistics
 * give ($1: the histogram of its one fixed-length key column, sorted):
 * both sides use the same array, so no side scans for boundaries first.
 */
static const char SQL_DIGEST_GIVEN[] =
    "SELECT s.g, s.c, s.x, ($1::@KEYTYPE@[])[s.g]::text"
    "  FROM (SELECT width_bucket(@KEYCOLS@, $1::@KEYTYPE@[]) AS g, count(*) AS c, bit_xor(@ROWHASH@) AS x"
    "          FROM @TABLE@ t GROUP BY 1) s"
    " ORDER BY 1";
/* The source's histogram of the key column, when it has enough bounds to
 * be worth using (with inheritance children: the one that covers them). */
static const char SQL_HISTOGRAM[] = "SELECT s.histogram_bounds::text FROM pg_catalog.pg_stats s"
                                    " WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = $3"
                                    "   AND pg_catalog.array_length(s.histogram_bounds, 1) >= 16"
                                    " ORDER BY s.inherited DESC LIMIT 1";
static const char SQL_ROWS[] = "SELECT @KEYTEXT@, @ROWHASH@ FROM @TABLE@ t WHERE @RANGE@";
/* Reading a source's rows for a target of another kind
 * (engine/compare/compare_rows.c): as the sync reads them (its row text
 * settings, the session's own TimeZone, which timestamptz text carries
 * into a target that stores it as text), then the comparison's settings
 * back.  @COLS@ are the columns, @TABLE@ the table, @KEYCOLS@ its key. */
static const char SQL_SOURCE_TEXT[] = PG_ROW_TEXT_SETTINGS "; RESET TimeZone";
static const char SQL_COMPARE_TEXT[] = "SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1;"
                                       " SET TimeZone = 'UTC'; RESET lc_monetary; RESET xmloption";
static const char SQL_SOURCE_ROWS[] = "SELECT @COLS@ FROM @TABLE@ t ORDER BY @KEYCOLS@";
static const char SQL_REPAIR[] =
    "INSERT INTO bucardo.@DELTA@ (@KEYNAMES@) SELECT @CASTS@ FROM unnest(@ARRAYS@) AS u(@UCOLS@)";

char *cmpsql_who(const TableSql *ts, const SyncDef *def, const Side *s)
{
    if (ts == NULL)
        return xasprintf("sync %s: database %s", def->name, s->db);
    return xasprintf("sync %s: table %s.%s: database %s", def->name, ts->t->schemaname, ts->t->relname,
                     s->db);
}

bool cmpsql_run(const TableSql *ts, Side *const *sides, int n, const char *const *sql, int nparams,
                const char *const *params, PGresult **res)
{
    const SyncDef *def = ts->def;
    bool ok = true;
    bool *sent = xcalloc((size_t)n, sizeof(bool));

    for (int i = 0; i < n; i++) {
        res[i] = NULL;
        sent[i] = PQsendQueryParams(sides[i]->conn, sql[i], nparams, NULL, params, NULL, NULL, 0) == 1;
        if (!sent[i]) {
            char *w = cmpsql_who(ts, def, sides[i]);
            pg_report(w, sides[i]->conn, NULL);
            free(w);
            ok = false;
        }
    }
    for (int i = 0; i < n; i++) {
        PGresult *r;
        if (!sent[i])
            continue;
        while ((r = PQgetResult(sides[i]->conn)) != NULL) {
            ExecStatusType st = PQresultStatus(r);
            if (res[i] == NULL && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
                char *w = cmpsql_who(ts, def, sides[i]);
                pg_report(w, sides[i]->conn, r);
                free(w);
                ok = false;
            }
            if (res[i] == NULL)
                res[i] = r;
            else
                PQclear(r);
        }
    }
    free(sent);
    if (!ok)
        for (int i = 0; i < n; i++) {
            PQclear(res[i]);
            res[i] = NULL;
        }
    return ok;
}

/* ---------------------------------------------------------------- SQL text */

/* fill - template with each placeholder subs[2i] replaced by subs[2i+1],
 * in one pass: text put in is never searched again, so a quoted name that
 * contains a placeholder stays as it is. */
static char *fill(const char *template, const char *const *subs, int nsubs)
{
    StrBuf sb;

    strbuf_init(&sb);
    for (const char *p = template; *p;) {
        int hit = -1;
        for (int i = 0; *p == '@' && i < nsubs; i += 2)
            if (strncmp(p, subs[i], strlen(subs[i])) == 0) {
                hit = i;
                break;
            }
        if (hit < 0) {
            strbuf_append_len(&sb, p++, 1);
            continue;
        }
        strbuf_append(&sb, subs[hit + 1]);
        p += strlen(subs[hit]);
    }
    return sb.data;
}

char *cmpsql_statement(const TableSql *ts, const SideSql *side, StatementKind kind, const char *range)
{
    const char *subs[] = {"@BOUNDS@",  ts->bounds,  "@KEYALIASES@",    ts->aliases, "@KEYCOLS@",
                          ts->keycols, "@ROWHASH@", side->rowhash,     "@KEYHASH@", ts->keyhash,
                          "@TABLE@",   side->table, "@KEYTEXT@",       ts->keytext, "@RANGE@",
                          range,       "@KEYTYPE@", ts->t->keytypes[0]};
    const char *template = kind == STMT_ROWS    ? SQL_ROWS
                           : kind == STMT_GIVEN ? SQL_DIGEST_GIVEN
                           : ts->scalar         ? SQL_DIGEST_SCALAR
                                                : SQL_DIGEST_WINDOW;

    return fill(template, subs, 18);
}

bool cmpsql_histogram(const TableSql *ts, Side *src, char **bounds)
{
    const char *params[3] = {ts->t->schemaname, ts->t->relname, ts->t->keycols[0]};
    char *w;
    PGresult *res;

    *bounds = NULL;
    if (!ts->scalar)
        return true;
    w = cmpsql_who(ts, ts->def, src);
    res = pg_query(src->conn, w, SQL_HISTOGRAM, 3, params);
    free(w);
    if (res == NULL)
        return false;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        *bounds = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return true;
}

/*
 * side_sql - a side reading `table` (a table or a parenthesised query,
 * aliased t) and hashing the columns named in cols.  The row hash goes by
 * column name and position in cols, so column order on a target does not
 * matter.
 */
static SideSql side_sql(PGconn *conn, const char *table, const StrList *cols)
{
    StrBuf rowhash;
    SideSql out;

    strbuf_init(&rowhash);
    strbuf_append(&rowhash, "hashtextextended((");
    for (int i = 0; i < cols->count; i++) {
        char *q = pg_quote_ident(conn, cols->items[i]);
        strbuf_printf(&rowhash, "%scoalesce(hashtextextended(t.%s::text COLLATE \"C\", %d), %d)",
                      i ? " # " : "", q, i, -(i + 1));
        free(q);
    }
    strbuf_append(&rowhash, ")::text, 0)");
    out.table = xstrdup(table);
    out.rowhash = rowhash.data;
    return out;
}

/* key_sql - the key's fragments of ts (see TableSql). */
static void key_sql(PGconn *conn, TableSql *ts)
{
    StrBuf aliases, keycols, keytext, keyhash, bounds;

    strbuf_init(&aliases);
    strbuf_init(&keycols);
    strbuf_init(&keytext);
    strbuf_init(&keyhash);
    strbuf_init(&bounds);
    for (int k = 0; k < ts->t->nkeys; k++) {
        char *q = pg_quote_ident(conn, ts->t->keycols[k]);
        const char *sep = k ? ", " : "";
        strbuf_printf(&aliases, "%st.%s AS k%d", sep, q, k);
        strbuf_printf(&keycols, "%st.%s", sep, q);
        strbuf_printf(&keytext, "%st.%s::text", sep, q);
        strbuf_printf(&keyhash, "%shashtextextended(t.%s::text COLLATE \"C\", %d)", k ? " # " : "", q, k);
        strbuf_printf(&bounds, ", min(CASE WHEN s.b THEN s.k%d::text END)", k);
        free(q);
    }
    ts->aliases = aliases.data;
    ts->keycols = keycols.data;
    ts->keytext = keytext.data;
    ts->keyhash = keyhash.data;
    ts->bounds = bounds.data;
}

/* column_names - the names of the columns of the first result of sql. */
static bool column_names(PGconn *conn, const char *w, const char *sql, int nparams, const char *const *params,
                         bool names_in_rows, StrList *out)
{
    PGresult *res = pg_query(conn, w, sql, nparams, params);

    if (res == NULL)
        return false;
    if (names_in_rows)
        for (int i = 0; i < PQntuples(res); i++)
            strlist_add(out, PQgetvalue(res, i, 0));
    else
        for (int i = 0; i < PQnfields(res); i++)
            strlist_add(out, PQfname(res, i));
    PQclear(res);
    return true;
}

/*
 * side_from - what reads `table` (quoted) on side s: the table itself where
 * it is partitioned (its rows are its partitions'), else ONLY the table -
 * an inheritance parent's rows are its own, as the sync replicates them
 * (see TablePlan.from).  NULL on error.
 */
static char *side_from(Side *s, const char *w, const char *table)
{
    const char *params[1] = {table};
    PGresult *res =
        pg_query(s->conn, w, "SELECT c.relkind = 'p' FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass",
                 1, params);
    char *out;

    if (res == NULL)
        return NULL;
    out = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? xstrdup(table)
                                                                         : xasprintf("ONLY %s", table);
    PQclear(res);
    return out;
}

bool cmpsql_plan_table(const SyncDef *def, Side *sides, const TableDef *t, TableSql *ts)
{
    Side *src = &sides[0];
    char *from = NULL;
    const char *params[1];
    StrList cols = {0};
    char *w;
    bool ok;

    memset(ts, 0, sizeof(*ts));
    ts->def = def;
    ts->t = t;
    ts->qualified = table_qualified(src->conn, t);
    ts->tsrc = xcalloc((size_t)def->ntargets + 1, sizeof(SideSql));
    ts->tgt = xcalloc((size_t)def->ntargets + 1, sizeof(SideSql));
    params[0] = ts->qualified;
    w = cmpsql_who(ts, def, src);
    ok = column_names(src->conn, w, SQL_COLUMNS, 1, params, true, &cols);
    key_sql(src->conn, ts);
    if (ok && t->nkeys == 1) {
        const char *kp[2] = {ts->qualified, t->keycols[0]};
        PGresult *res = pg_query(src->conn, w, SQL_KEY_FIXED, 2, kp);
        ok = res != NULL;
        ts->scalar = ok && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
    }
    ok = ok && (from = side_from(src, w, ts->qualified)) != NULL;
    if (ok && t->capture_filter) {
        /* A capture filter: the sync replicates the source's matching rows
         * only, and each target must hold exactly those (all its rows are
         * compared, so one left outside the filter shows). */
        char *filtered = xasprintf("(SELECT * FROM %s WHERE (%s))", from, t->capture_filter);
        free(from);
        from = filtered;
    }
    if (ok)
        ts->src = side_sql(src->conn, from, &cols);
    for (int i = 0; ok && i < def->ntargets; i++) {
        const char *db = def->targets[i].name;
        const char *name = tabledef_custom(&t->name_db, &t->name_value, db);
        const char *clause = tabledef_custom(&t->cols_db, &t->cols_value, db);
        char *qtable = name ? table_custom_qualified(src->conn, t, name) : xstrdup(ts->qualified);
        char *wt = cmpsql_who(ts, def, &sides[i + 1]);
        char *table = side_from(&sides[i + 1], wt, qtable);

        free(wt);
        free(qtable);
        if (table == NULL) {
            ok = false;
            break;
        }
        if (clause == NULL) {
            ts->tgt[i] = side_sql(src->conn, table, &cols);
        } else {
            char *query = xasprintf("(SELECT %s FROM %s AS t)", clause, from);
            char *probe = xasprintf("SELECT * FROM %s t LIMIT 0", query);
            StrList ccols = {0};
            ok = column_names(src->conn, w, probe, 0, NULL, false, &ccols);
            if (ok) {
                ts->tsrc[i] = side_sql(src->conn, query, &ccols);
                ts->tgt[i] = side_sql(src->conn, table, &ccols);
            }
            strlist_free(&ccols);
            free(probe);
            free(query);
        }
        free(table);
    }
    strlist_free(&cols);
    free(from);
    free(w);
    return ok;
}

static void side_sql_free(SideSql *s)
{
    free(s->table);
    free(s->rowhash);
}

void cmpsql_table_free(TableSql *ts)
{
    for (int i = 0; ts->tgt && i < ts->def->ntargets; i++) {
        side_sql_free(&ts->tsrc[i]);
        side_sql_free(&ts->tgt[i]);
    }
    side_sql_free(&ts->src);
    free(ts->tsrc);
    free(ts->tgt);
    free(ts->qualified);
    free(ts->keycols);
    free(ts->aliases);
    free(ts->keytext);
    free(ts->keyhash);
    free(ts->bounds);
}

void cmpsql_append_range(StrBuf *sb, const TableSql *ts, char *const *lo, char *const *hi, StrList *params)
{
    const TableDef *t = ts->t;
    char *const *bound[2] = {lo, hi};
    const char *op[2] = {">=", "<"};
    bool any = false;

    for (int side = 0; side < 2; side++) {
        if (bound[side] == NULL)
            continue;
        strbuf_append(sb, any ? " AND " : "");
        strbuf_printf(sb, t->nkeys > 1 ? "ROW(%s) %s ROW(" : "%s %s ", ts->keycols, op[side]);
        for (int k = 0; k < t->nkeys; k++) {
            strlist_add(params, bound[side][k]);
            strbuf_printf(sb, "%s$%d::%s", k ? ", " : "", params->count, t->keytypes[k]);
        }
        strbuf_append(sb, t->nkeys > 1 ? ")" : "");
        any = true;
    }
    if (!any)
        strbuf_append(sb, "true");
}

bool cmpsql_estimate(const TableSql *ts, Side *src, double *rows)
{
    const char *params[1] = {ts->qualified};
    char *w = cmpsql_who(ts, ts->def, src);
    PGresult *res = pg_query(src->conn, w, SQL_ESTIMATE, 1, params);

    free(w);
    if (res == NULL)
        return false;
    *rows = strtod(PQgetvalue(res, 0, 0), NULL);
    PQclear(res);
    return true;
}

/* ---------------------------------------------------------------- results */

void cmpsql_parse_buckets(const PGresult *res, int nkeys, CmpBucketList *out)
{
    const char **lo = xcalloc((size_t)nkeys, sizeof(char *));

    for (int r = 0; r < PQntuples(res); r++) {
        CmpDigest d = {strtoll(PQgetvalue(res, r, 1), NULL, 10),
                       (uint64_t)strtoll(PQgetvalue(res, r, 2), NULL, 10)};
        bool bounded = !PQgetisnull(res, r, 3);
        for (int k = 0; k < nkeys; k++)
            lo[k] = PQgetvalue(res, r, 3 + k);
        cmp_buckets_add(out, nkeys, bounded ? lo : NULL, d);
    }
    free(lo);
}

void cmpsql_parse_rows(const PGresult *res, int nkeys, CmpRowList *out)
{
    const char **key = xcalloc((size_t)nkeys, sizeof(char *));

    for (int r = 0; r < PQntuples(res); r++) {
        for (int k = 0; k < nkeys; k++)
            key[k] = PQgetvalue(res, r, k);
        cmp_rows_add(out, nkeys, key, (uint64_t)strtoll(PQgetvalue(res, r, nkeys), NULL, 10));
    }
    free(key);
}

bool cmpsql_open(const SyncDef *def, const DbInfo *db, Side *s, const Side *src)
{
    PGresult *res;
    char *w;
    bool ok;

    s->db = db->name;
    s->conn = dbinfo_connect(db);
    if (s->conn == NULL)
        return false;
    w = cmpsql_who(NULL, def, s);
    res = pg_exec_script(s->conn, w, SQL_SESSION) ? pg_query(s->conn, w, SQL_SERVER, 0, NULL) : NULL;
    ok = res != NULL;
    if (ok && atoi(PQgetvalue(res, 0, 1)) < 140000) {
        fprintf(stderr, "%s: compare needs PostgreSQL 14 or later (bit_xor), this is version %s\n", w,
                PQparameterStatus(s->conn, "server_version"));
        ok = false;
    }
    if (ok && src != NULL) {
        const char *mine = PQgetvalue(res, 0, 0), *theirs = PQparameterStatus(src->conn, "server_encoding");
        if (theirs && strcmp(mine, theirs) != 0) {
            fprintf(stderr,
                    "%s: server encoding %s differs from the source's (%s): rows cannot be compared\n", w,
                    mine, theirs);
            ok = false;
        }
    }
    PQclear(res);
    free(w);
    return ok;
}

bool cmpsql_queue_keys(const SyncDef *def, Side *src, const CompareTable *r, long *queued)
{
    const TableDef *t = r->def;
    StrList *cols = xcalloc((size_t)t->nkeys, sizeof(StrList));
    StrBuf names, casts, arrays, ucols;
    char **params = xcalloc((size_t)t->nkeys, sizeof(char *));
    char *delta = capture_object_name("delta", t), *qdelta = pg_quote_ident(src->conn, delta), *sql, *w;
    long n = 0;
    bool ok;

    for (int i = 0; i < r->ntargets; i++) {
        const CmpRowList *lists[3] = {&r->targets[i].missing, &r->targets[i].extra, &r->targets[i].different};
        for (int l = 0; l < 3; l++)
            for (size_t j = 0; j < lists[l]->count; j++, n++)
                for (int k = 0; k < t->nkeys; k++)
                    strlist_add(&cols[k], lists[l]->rows[j].key[k]);
    }
    strbuf_init(&names);
    strbuf_init(&casts);
    strbuf_init(&arrays);
    strbuf_init(&ucols);
    for (int k = 0; k < t->nkeys; k++) {
        char *q = pg_quote_ident(src->conn, t->keycols[k]);
        const char *sep = k ? ", " : "";
        strbuf_printf(&names, "%s%s", sep, q);
        strbuf_printf(&casts, "%su.c%d::%s", sep, k, t->keytypes[k]);
        strbuf_printf(&arrays, "%s$%d::text[]", sep, k + 1);
        strbuf_printf(&ucols, "%sc%d", sep, k);
        params[k] = pg_array_literal(&cols[k]);
        free(q);
    }
    {
        const char *subs[] = {"@DELTA@",  qdelta,     "@KEYNAMES@", names.data, "@CASTS@",
                              casts.data, "@ARRAYS@", arrays.data,  "@UCOLS@",  ucols.data};
        sql = fill(SQL_REPAIR, subs, 10);
    }
    w = xasprintf("sync %s: table %s.%s: database %s: repair", def->name, t->schemaname, t->relname, src->db);
    ok = pg_exec(src->conn, w, sql, t->nkeys, (const char *const *)params);
    if (ok)
        *queued += n;
    for (int k = 0; k < t->nkeys; k++) {
        strlist_free(&cols[k]);
        free(params[k]);
    }
    free(w);
    free(sql);
    free(cols);
    free(params);
    free(delta);
    free(qdelta);
    strbuf_free(&names);
    strbuf_free(&casts);
    strbuf_free(&arrays);
    strbuf_free(&ucols);
    return ok;
}

bool cmpsql_columns(const SyncDef *def, Side *src, const TableDef *t, const char *clause, char **from,
                    StrList *out)
{
    char *qualified = table_qualified(src->conn, t),
         *w = xasprintf("sync %s: table %s.%s: database %s", def->name, t->schemaname, t->relname, src->db);
    const char *params[1] = {qualified};
    char *table = side_from(src, w, qualified);
    bool ok = table != NULL;

    *from = NULL;
    if (ok && clause == NULL) {
        ok = column_names(src->conn, w, SQL_COLUMNS, 1, params, true, out);
        *from = table;
        table = NULL;
    } else if (ok) {
        char *probe;
        *from = xasprintf("(SELECT %s FROM %s AS t)", clause, table);
        probe = xasprintf("SELECT * FROM %s t LIMIT 0", *from);
        ok = column_names(src->conn, w, probe, 0, NULL, false, out);
        free(probe);
    }
    free(table);
    free(qualified);
    free(w);
    return ok;
}

bool cmpsql_scan_source(const SyncDef *def, Side *src, const TableDef *t, const char *from,
                        const StrList *cols, bool (*row)(void *arg, const PGresult *res), void *arg)
{
    char *w = xasprintf("sync %s: table %s.%s: database %s", def->name, t->schemaname, t->relname, src->db);
    StrBuf names, keys;
    PGresult *res;
    char *sql;
    bool ok, failed = false;

    strbuf_init(&names);
    strbuf_init(&keys);
    for (int i = 0; i < cols->count; i++) {
        char *q = pg_quote_ident(src->conn, cols->items[i]);
        strbuf_printf(&names, "%st.%s", i ? ", " : "", q);
        free(q);
    }
    for (int k = 0; k < t->nkeys; k++) {
        char *q = pg_quote_ident(src->conn, t->keycols[k]);
        strbuf_printf(&keys, "%st.%s", k ? ", " : "", q);
        free(q);
    }
    {
        const char *subs[] = {"@COLS@", names.data, "@TABLE@", from, "@KEYCOLS@", keys.data};
        sql = fill(SQL_SOURCE_ROWS, subs, 6);
    }
    ok = pg_exec_script(src->conn, w, SQL_SOURCE_TEXT) && PQsendQuery(src->conn, sql) == 1;
    if (ok && PQsetSingleRowMode(src->conn) != 1)
        ok = false;
    if (!ok)
        pg_report(w, src->conn, NULL);
    while (ok && (res = PQgetResult(src->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE && !failed)
            failed = !row(arg, res);
        else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && !failed) {
            pg_report(w, src->conn, res);
            failed = true;
        }
        PQclear(res);
    }
    ok = ok && !failed;
    ok = pg_exec_script(src->conn, w, SQL_COMPARE_TEXT) && ok;
    strbuf_free(&names);
    strbuf_free(&keys);
    free(sql);
    free(w);
    return ok;
}
