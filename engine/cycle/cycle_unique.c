/*
 * engine/cycle/cycle_unique.c - rows that collide with a unique index other than
 * the key (a UNIQUE constraint, a unique partial or expression index).
 *
 * A writer applies a source's rows by deleting their keys and copying the
 * rows in.  When another row there, under another key, holds the same
 * unique value, the COPY fails with SQLSTATE 23505.  That is a conflict,
 * settled in two places:
 *
 * 1. Between sources (multi-source, before anything is applied):
 *    unique_resolve() reads, for each table changed on two or more sources,
 *    the changed rows' keys and values of every unique index (the indexes'
 *    own expressions and predicates, evaluated on each source), pairs equal
 *    values of different sources (unique_pairs.c) and lets the sync's
 *    conflict_strategy pick the winner, exactly as for a key.  A losing row
 *    leaves its source's key list and goes to that source's temp table
 *    bucardo_x<t>; unique_apply_deletes() deletes it on EVERY member, its
 *    own database included, at the start of the cycle's first unit, so
 *    every member ends with the winner alone; a makedelta member records
 *    the delete in its own delta table, so it cascades.  (bucardo_skip:
 *    the rows stay where they are and are not replicated, as for a key.)
 *    Memory: the changed rows' keys and values of one table, as for key
 *    conflicts.
 *
 * 2. On the writer (any sync; the colliding row there was not changed on
 *    another source in this cycle): the source's row is the truth.  The
 *    writer's row is either about to be replaced later in this cycle (a
 *    swap of unique values split across two batches) or exists only there;
 *    either way it is deleted and the incoming row applied, so the target
 *    ends equal to the source.  This costs nothing until it happens: the
 *    unit is applied normally, and only when a writer reports 23505 is it
 *    rolled back and applied again in "unique mode" (that unit only: the
 *    next batch tries the fast path again): rows go by COPY into a temp
 *    staging table (analyzed, so the joins below probe indexes), the writer
 *    deletes its rows colliding with a staged row in each unique index
 *    (pg_temp functions of sql/unique.sql, reading the writer's own
 *    catalog: a target's indexes may differ from the source's), then
 *    INSERTs the staged rows.  The deleted rows are reported back
 *    (MSG_QUERY) and logged and counted as conflicts once the unit commits.
 *    On a makedelta writer their keys also join the batch's old rows
 *    (bucardo_o<t>), so the writer's delta table records the deletes and
 *    they cascade like the rows the batch changed.
 *
 * A collision that remains (e.g. the source itself lacks the index and
 * holds duplicates) still fails the cycle, naming the index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "runner_internal.h"
#include "sqltext.h"
#include "unique_pairs.h"

/* One unique index of a table on a source (text as sql/unique.sql gives it). */
typedef struct UniqueIndex {
    char *name;
    char *cols; /* "(e1), (e2)" */
    int ncols;
    char *pred; /* "true" when not partial */
    bool nnd;   /* NULLS NOT DISTINCT */
} UniqueIndex;

struct UniqueInfo {
    int n;
    UniqueIndex *ix;
};

void unique_info_free(UniqueInfo *u)
{
    if (u == NULL)
        return;
    for (int i = 0; i < u->n; i++) {
        free(u->ix[i].name);
        free(u->ix[i].cols);
        free(u->ix[i].pred);
    }
    free(u->ix);
    free(u);
}

bool unique_violation(const char *err)
{
    return strstr(err, "(SQLSTATE 23505)") != NULL;
}

/* key_array - ARRAY['k1', ...]::name[] of table t's key columns, quoted for conn. */
static char *key_array(SyncRunner *r, PGconn *conn, int t)
{
    const TableDef *td = &r->def.tables[t];
    StrBuf sb;

    strbuf_init(&sb);
    strbuf_append(&sb, "ARRAY[");
    for (int k = 0; k < td->nkeys; k++) {
        char *lit = pg_quote_literal(conn, td->keycols[k]);
        strbuf_printf(&sb, "%s%s", k ? ", " : "", lit);
        free(lit);
    }
    strbuf_append(&sb, "]::name[]");
    return sb.data;
}

/*
 * load_indexes - source s's unique indexes of table t other than the key,
 * cached in its plan (until the connection is dropped).
 */
static bool load_indexes(SyncRunner *r, int s, int t, char *err, size_t errlen)
{
    TablePlan *p = &r->src[s].plans[t];
    char *fn = sql_section(sql_unique, "indexes"), *keys, *sql;
    PGresult *res;
    UniqueInfo *u;

    if (p->unique != NULL)
        return true;
    res = src_query(r, s, p->display, fn, PGRES_COMMAND_OK, err, errlen);
    free(fn);
    if (res == NULL)
        return false;
    PQclear(res);
    keys = key_array(r, r->src[s].conn, t);
    sql = xasprintf("SELECT name, array_to_string(cols, ', '), cardinality(cols), pred, nulls_not_distinct"
                    " FROM pg_temp.bucardo_unique_indexes(%s::regclass, %s)",
                    p->literal, keys);
    free(keys);
    res = src_query(r, s, p->display, sql, PGRES_TUPLES_OK, err, errlen);
    free(sql);
    if (res == NULL)
        return false;
    u = xcalloc(1, sizeof(UniqueInfo));
    u->n = PQntuples(res);
    u->ix = xcalloc((size_t)u->n + 1, sizeof(UniqueIndex));
    for (int i = 0; i < u->n; i++) {
        u->ix[i].name = xstrdup(PQgetvalue(res, i, 0));
        u->ix[i].cols = xstrdup(PQgetvalue(res, i, 1));
        u->ix[i].ncols = atoi(PQgetvalue(res, i, 2));
        u->ix[i].pred = xstrdup(PQgetvalue(res, i, 3));
        u->ix[i].nnd = strcmp(PQgetvalue(res, i, 4), "t") == 0;
    }
    PQclear(res);
    p->unique = u;
    return true;
}

/* read_copy - the output of a COPY ... TO STDOUT on source s, appended to out. */
static bool read_copy(SyncRunner *r, int s, const char *what, const char *sql, StrBuf *out, char *err,
                      size_t errlen)
{
    PGconn *conn = r->src[s].conn;
    PGresult *res = src_query(r, s, what, sql, PGRES_COPY_OUT, err, errlen);
    bool ok = res != NULL;
    char *buf;
    int len;

    PQclear(res);
    while (ok && (len = PQgetCopyData(conn, &buf, 0)) > 0) {
        strbuf_append_len(out, buf, (size_t)len);
        PQfreemem(buf);
    }
    while (ok && (res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "source %s: %s: %s", r->def.sources[s].name, what,
                     PQresultErrorMessage(res));
            ok = false;
        }
        PQclear(res);
    }
    return ok;
}

/* Rows read for one index: their text lives in bufs[source]. */
typedef struct RowSet {
    UniqueRow *rows;
    size_t n, cap;
} RowSet;

/*
 * parse_rows - COPY lines "key fields \t value fields \t time" of source s
 * into rows pointing into text (which must outlive them).
 */
static void parse_rows(RowSet *rs, char *text, size_t len, int s, int nkeys, int ncols)
{
    char *line = text, *end = text + len;

    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line)), *f = line, *vstart = NULL, *tstart = NULL;
        int field = 0;

        if (nl == NULL)
            nl = end;
        for (char *c = line; c < nl; c++)
            if (*c == '\t') {
                field++;
                if (field == nkeys)
                    vstart = c + 1;
                if (field == nkeys + ncols)
                    tstart = c + 1;
            }
        if (vstart && tstart) {
            UniqueRow *u;
            if (rs->n == rs->cap) {
                rs->cap = rs->cap ? rs->cap * 2 : 64;
                rs->rows = xrealloc(rs->rows, rs->cap * sizeof(UniqueRow));
            }
            u = &rs->rows[rs->n++];
            memset(u, 0, sizeof(*u));
            u->key = f;
            u->klen = (size_t)(vstart - 1 - f);
            u->value = vstart;
            u->vlen = (size_t)(tstart - 1 - vstart);
            u->source = s;
            *nl = '\0';
            u->time = strtod(tstart, NULL);
        }
        line = nl + 1;
    }
}

/* text_of - a COPY text fragment for messages: tabs as ", ". */
static char *text_of(const char *s, size_t len)
{
    char *out = xmalloc(2 * len + 1), *o = out;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\t') {
            *o++ = ',';
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* group_end - the end of the run of rows with the same value as rows[i]. */
static size_t group_end(const UniqueRow *rows, size_t n, size_t i)
{
    size_t end = i + 1;

    while (end < n && rows[end].vlen == rows[i].vlen &&
           memcmp(rows[end].value, rows[i].value, rows[i].vlen) == 0)
        end++;
    return end;
}

/* describe_group - "value (v) written under key (k1) on A, key (k2) on B"
 * for the collision whose rows start at rows[i] (rows sorted by value). */
static void describe_group(const SyncRunner *r, const UniqueRow *rows, size_t n, size_t i, StrBuf *out)
{
    size_t end = group_end(rows, n, i);
    char *v = text_of(rows[i].value, rows[i].vlen);

    strbuf_printf(out, "value (%s) written under ", v);
    free(v);
    for (size_t j = i; j < end; j++) {
        char *k = text_of(rows[j].key, rows[j].klen);
        strbuf_printf(out, "%skey (%s) on %s", j > i ? ", " : "", k, r->def.sources[rows[j].source].name);
        free(k);
    }
}

/*
 * log_and_drop - log each settled collision of rs (sorted by value) and
 * append its losing rows' keys to lost[source] as COPY lines "key \t t|f"
 * (t: delete it on every database; f: skipped, leave it where it is).
 */
static void log_and_drop(const SyncRunner *r, const char *table, const UniqueIndex *ix, const RowSet *rs,
                         StrBuf *lost)
{
    StrBuf who;

    strbuf_init(&who);
    for (size_t i = 0, end; i < rs->n; i = end) {
        int winner = CONFLICT_NO_WINNER;
        bool settled = false;

        end = group_end(rs->rows, rs->n, i);
        for (size_t j = i; j < end; j++)
            if (rs->rows[j].fate != UNIQUE_KEEP) {
                settled = true;
                winner = rs->rows[j].winner;
            }
        if (!settled)
            continue;
        strbuf_reset(&who);
        describe_group(r, rs->rows, rs->n, i, &who);
        if (winner >= 0)
            log_info(
                "conflict: sync %s table %s unique index %s: %s: winner %s, the other rows are deleted on"
                " every database",
                r->def.name, table, ix->name, who.data, r->def.sources[winner].name);
        else
            log_conflict(
                "conflict: sync %s table %s unique index %s: %s: skipped, no winner, each keeps its row",
                r->def.name, table, ix->name, who.data);
        for (size_t j = i; j < end; j++) {
            const UniqueRow *u = &rs->rows[j];
            if (u->fate == UNIQUE_KEEP)
                continue;
            strbuf_append_len(&lost[u->source], u->key, u->klen);
            strbuf_append(&lost[u->source], u->fate == UNIQUE_LOSE ? "\tt\n" : "\tf\n");
        }
    }
    strbuf_free(&who);
}

/*
 * settle_index - pair source rows of one index of table t; losers' keys
 * go to lost[s] as COPY lines "key \t t|f" (t: delete everywhere).
 */
static bool settle_index(SyncRunner *r, int t, const UniqueIndex *ix, const long *nkeys,
                         const ConflictRule *rule, int latest_all, StrBuf *lost, long *conflicts, char *err,
                         size_t errlen)
{
    int ns = r->def.nsources, nt = r->def.ntables;
    StrBuf *bufs = xcalloc((size_t)ns, sizeof(StrBuf));
    RowSet rs = {0};
    bool ok = true;
    const char *table = NULL; /* named through a source that is online */

    for (int s = 0; s < ns; s++) {
        strbuf_init(&bufs[s]);
        if (nkeys[s * nt + t] > 0 && table == NULL)
            table = r->src[s].plans[t].display;
    }
    for (int s = 0; ok && s < ns; s++) {
        TablePlan *p;
        char *sql;
        if (nkeys[s * nt + t] == 0)
            continue; /* nothing changed, or offline (no plans) */
        p = &r->src[s].plans[t];
        sql = xasprintf("COPY (SELECT %s, %s, extract(epoch FROM bucardo_txntime) FROM"
                        " (SELECT t.*, k.bucardo_txntime FROM %s t JOIN pg_temp.bucardo_k%d k ON %s) t"
                        " WHERE (%s)%s%s%s) TO STDOUT",
                        p->keycols, ix->cols, p->from, t, p->keyjoin, ix->pred, ix->nnd ? "" : " AND ROW(",
                        ix->nnd ? "" : ix->cols, ix->nnd ? "" : ") IS NOT NULL");
        ok = read_copy(r, s, p->display, sql, &bufs[s], err, errlen);
        free(sql);
    }
    for (int s = 0; ok && s < ns; s++)
        parse_rows(&rs, bufs[s].data, bufs[s].len, s, r->def.tables[t].nkeys, ix->ncols);
    if (ok && rs.n > 1) {
        size_t at = 0;
        long n = unique_settle(rs.rows, rs.n, rule, ns, latest_all,
                               (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32), &at);
        if (n < 0) {
            StrBuf who;
            strbuf_init(&who);
            describe_group(r, rs.rows, rs.n, at, &who);
            snprintf(err, errlen,
                     "sync %s: table %s: unique index %s: %s, and conflict_strategy is bucardo_abort",
                     r->def.name, table, ix->name, who.data);
            strbuf_free(&who);
            ok = false;
        } else {
            *conflicts += n;
        }
        if (ok)
            log_and_drop(r, table, ix, &rs, lost);
    }
    free(rs.rows);
    for (int s = 0; s < ns; s++)
        strbuf_free(&bufs[s]);
    free(bufs);
    return ok;
}

/*
 * drop_losers - on source s: the lost keys of table t into temp table
 * bucardo_x<t> (with whether to delete them everywhere), and out of its
 * key list bucardo_k<t>.  *deletes: some must be deleted everywhere.
 */
static bool drop_losers(SyncRunner *r, int s, int t, const StrBuf *lost, long *nkeys, bool *deletes,
                        char *err, size_t errlen)
{
    TablePlan *p = &r->src[s].plans[t];
    char *sql = xasprintf("CREATE TEMP TABLE IF NOT EXISTS bucardo_x%d (%s, bucardo_del bool) ON COMMIT DROP;"
                          " COPY pg_temp.bucardo_x%d (%s, bucardo_del) FROM STDIN",
                          t, p->keydefs, t, p->keycols);
    bool ok = src_copy_in(r, s, p->display, sql, lost, err, errlen);

    free(sql);
    if (!ok || !drop_listed_keys(r, s, t, 'x', nkeys, err, errlen))
        return false;
    *deletes = *deletes || strstr(lost->data, "\tt\n") != NULL;
    return true;
}

/* add_index - ix into list (of n) unless an index with the same definition is there. */
static void add_index(const UniqueIndex ***list, int *n, const UniqueIndex *ix)
{
    for (int i = 0; i < *n; i++)
        if (strcmp((*list)[i]->cols, ix->cols) == 0 && strcmp((*list)[i]->pred, ix->pred) == 0 &&
            (*list)[i]->nnd == ix->nnd)
            return;
    *list = xrealloc(*list, (size_t)(*n + 1) * sizeof(**list));
    (*list)[(*n)++] = ix;
}

bool unique_resolve(SyncRunner *r, long *nkeys, long *conflicts, bool *deletes, char *err, size_t errlen)
{
    int ns = r->def.nsources, nt = r->def.ntables, latest_all = -1;
    char *names[CONFLICT_MAX_SOURCES];
    ConflictRule rule;
    bool ok = true, latest_known = false;

    if (ns < 2 || ns > CONFLICT_MAX_SOURCES)
        return true; /* resolve_conflicts refused more sources already */
    for (int s = 0; s < ns; s++)
        names[s] = r->def.sources[s].name;
    for (int t = 0; ok && t < nt; t++) {
        if (!table_rule(r, t, names, ns, &rule, err, errlen))
            return false;
        const UniqueIndex **list = NULL;
        int changed_on = 0, nlist = 0;
        StrBuf lost[CONFLICT_MAX_SOURCES];

        for (int s = 0; s < ns; s++)
            changed_on += nkeys[s * nt + t] > 0;
        if (changed_on < 2)
            continue; /* a collision between sources needs rows changed on two */
        for (int s = 0; ok && s < ns; s++)
            if (nkeys[s * nt + t] > 0 && (ok = load_indexes(r, s, t, err, errlen)))
                for (int i = 0; i < r->src[s].plans[t].unique->n; i++)
                    add_index(&list, &nlist, &r->src[s].plans[t].unique->ix[i]);
        if (ok && nlist > 0 && rule.kind == CONFLICT_LATEST_ALL && !latest_known) {
            latest_all = conflicts_latest_source(r, nkeys, err, errlen, &ok);
            latest_known = true;
        }
        for (int s = 0; s < ns; s++)
            strbuf_init(&lost[s]);
        for (int i = 0; ok && i < nlist; i++)
            ok = settle_index(r, t, list[i], nkeys, &rule, latest_all, lost, conflicts, err, errlen);
        for (int s = 0; s < ns; s++) {
            if (ok && lost[s].len > 0)
                ok = drop_losers(r, s, t, &lost[s], &nkeys[s * nt + t], &deletes[s * nt + t], err, errlen);
            strbuf_free(&lost[s]);
        }
        free(list);
    }
    return ok;
}

bool unique_apply_deletes(SyncRunner *r, const bool *deletes, const bool *copy, char *err, size_t errlen)
{
    int ns = r->def.nsources, nt = r->def.ntables, nw = r->nwriters;
    bool *to = xcalloc((size_t)nw, sizeof(bool)), ok = true;
    char **in = xcalloc((size_t)nw, sizeof(char *));

    for (int s = 0; ok && ns > 1 && s < ns; s++)
        for (int t = 0; ok && t < nt; t++) {
            TablePlan *p;
            char *sql, *out;
            if (!deletes[s * nt + t])
                continue; /* none, or an offline source (no plans) */
            p = &r->src[s].plans[t];
            /* Every member, the loser's own database included; not the
             * ones this cycle copies the table to whole. */
            for (int w = 0; w < nw; w++)
                to[w] = r->online[w] && !copy[t * nw + w] && !(w < r->def.ntargets && r->def.fullcopy[w]);
            sql = xasprintf("CREATE TEMP TABLE IF NOT EXISTS bucardo_x%d (%s) ON COMMIT DROP;"
                            " TRUNCATE pg_temp.bucardo_x%d",
                            t, p->keydefs, t);
            send_all(r, MSG_EXEC, sql, to);
            free(sql);
            for (int w = 0; w < nw; w++)
                in[w] = !to[w] ? NULL
                        : !writer_is_pg(r, w)
                            ? xstrdup(p->wkeys[w]) /* deleted as they arrive */
                            : xasprintf("COPY pg_temp.bucardo_x%d (%s) FROM STDIN", t, p->keycols);
            out = xasprintf("COPY (SELECT %s FROM pg_temp.bucardo_x%d WHERE bucardo_del) TO STDOUT",
                            p->keycols, t);
            ok = stream(r, s, p->display, out, in, false, err, errlen);
            free(out);
            for (int w = 0; w < nw; w++) {
                free(in[w]);
                in[w] = NULL;
            }
            if (!ok)
                continue;
            /* A makedelta member records the keys it is about to delete,
             * so the deletes cascade (as make_deltas does for a batch). */
            out = xasprintf("SELECT k.* FROM pg_temp.bucardo_x%d k JOIN ", t);
            sql = xasprintf(" t ON %s", p->keyjoin);
            send_makedelta(r, s, p, out, sql, to);
            free(out);
            free(sql);
            sql = xasprintf(" t USING pg_temp.bucardo_x%d k WHERE %s", t, p->keyjoin);
            send_table(r, MSG_EXEC, "DELETE FROM ", p, sql, to);
            free(sql);
        }
    free(in);
    free(to);
    return ok;
}

/* send_counted - an EXEC whose INSERTed rows count as applied. */
static void send_counted(Target *w, const char *sql)
{
    Msg *m = msg_new(MSG_EXEC, sql, NULL);

    m->count = true;
    target_send(w, m);
}

bool unique_apply_rows(SyncRunner *r, int s, int t, const bool *to, const char *from, char *err,
                       size_t errlen)
{
    PGconn *conn = r->src[s].conn;
    TablePlan *p = &r->src[s].plans[t];
    int nw = r->nwriters;
    char **in = xcalloc((size_t)nw, sizeof(char *));
    bool *done = xcalloc((size_t)nw, sizeof(bool)), ok = true;
    char *fn_indexes = sql_section(sql_unique, "indexes"), *fn_settle = sql_section(sql_unique, "settle");
    char *keys = key_array(r, conn, t);

    for (int w = 0; w < nw; w++) {
        char *sql;
        if (!to[w])
            continue;
        target_send_new(r->writers[w], MSG_EXEC, fn_indexes);
        target_send_new(r->writers[w], MSG_EXEC, fn_settle);
        sql = xasprintf(
            "CREATE TEMP TABLE IF NOT EXISTS bucardo_u%d (LIKE %s INCLUDING GENERATED) ON COMMIT DROP;"
            " TRUNCATE pg_temp.bucardo_u%d",
            t, p->wtable[w], t);
        target_send_new(r->writers[w], MSG_EXEC, sql);
        free(sql);
    }
    /* The rows into the staging tables: one stream per select list. */
    for (int w = 0; ok && w < nw; w++) {
        const char *sel = p->wselect[w];
        char *out;
        if (!to[w] || done[w])
            continue;
        for (int v = w; v < nw; v++) {
            const char *other = p->wselect[v];
            if (to[v] && !done[v] &&
                (sel == NULL ? other == NULL : other != NULL && strcmp(sel, other) == 0)) {
                done[v] = true;
                in[v] = xasprintf("COPY pg_temp.bucardo_u%d (%s) FROM STDIN", t, p->wcolumns[v]);
            }
        }
        out = sel ? xasprintf("COPY (SELECT %s FROM (SELECT t.* FROM %s) AS t) TO STDOUT", sel, from)
                  : xasprintf("COPY (SELECT %s FROM %s) TO STDOUT", p->tcolumns, from);
        ok = stream(r, s, p->display, out, in, false, err, errlen);
        free(out);
        for (int v = 0; v < nw; v++) {
            free(in[v]);
            in[v] = NULL;
        }
    }
    /* Each writer clears the way, then inserts, then reports what it deleted. */
    for (int w = 0; ok && w < nw; w++) {
        char *lit, *sql, *olds;
        if (!to[w])
            continue;
        /* Statistics, so the planner probes the writer's indexes with the
         * staged rows instead of scanning its whole table. */
        sql = xasprintf("ANALYZE pg_temp.bucardo_u%d", t);
        target_send_new(r->writers[w], MSG_EXEC, sql);
        free(sql);
        lit = pg_quote_literal(conn, p->wtable[w]);
        /* A makedelta writer has the cycle's bucardo_o<t> (cycle_apply.c,
         * old_rows): the rows deleted here are changes to cascade too. */
        olds = table_makedelta(&r->def.tables[t], writer_dbinfo(r, w))
                   ? xasprintf(", 'pg_temp.bucardo_o%d'::regclass", t)
                   : xstrdup("");
        sql = xasprintf(
            "SELECT pg_temp.bucardo_unique_settle(%s::regclass, %s, 'pg_temp.bucardo_u%d'::regclass%s)", lit,
            keys, t, olds);
        target_send_new(r->writers[w], MSG_EXEC, sql);
        free(sql);
        free(olds);
        free(lit);
        sql = xasprintf("INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.bucardo_u%d",
                        p->wtable[w], p->wcolumns[w], p->wcolumns[w], t);
        send_counted(r->writers[w], sql);
        free(sql);
        sql = xasprintf("DELETE FROM pg_temp.bucardo_uc RETURNING %d, %d, translate(idx, E'\\t\\n', '  '),"
                        " translate(old_key, E'\\t\\n', '  '), translate(new_key, E'\\t\\n', '  ')",
                        s, t);
        target_send_new(r->writers[w], MSG_QUERY, sql);
        free(sql);
    }
    free(keys);
    free(fn_indexes);
    free(fn_settle);
    free(in);
    free(done);
    return ok;
}

long unique_collect(SyncRunner *r)
{
    long n = 0;

    for (int w = 0; w < r->nwriters; w++) {
        char *rows = target_take_rows(r->writers[w]), *line, *save = NULL;
        if (rows == NULL)
            continue;
        for (line = strtok_r(rows, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *f[5], *tab = line;
            int nf = 0, s, t;
            while (nf < 5 && tab) {
                f[nf++] = tab;
                tab = strchr(tab, '\t');
                if (tab)
                    *tab++ = '\0';
            }
            if (nf < 5)
                continue;
            s = atoi(f[0]);
            t = atoi(f[1]);
            if (s < 0 || s >= r->def.nsources || t < 0 || t >= r->def.ntables)
                continue;
            n++;
            log_conflict(
                "conflict: sync %s table %s.%s unique index %s on %s: row %s held the value of row %s "
                "from %s;"
                " deleted there, winner %s",
                r->def.name, r->def.tables[t].schemaname, r->def.tables[t].relname, f[2],
                target_db_name(r->writers[w]), f[3], f[4], r->def.sources[s].name, r->def.sources[s].name);
        }
        free(rows);
    }
    return n;
}
