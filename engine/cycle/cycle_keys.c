/*
 * engine/cycle/cycle_keys.c - what changed on a source in a cycle: the
 * window between its snapshots (changed_since; for a source with a writer
 * behind it the wider catchup_window), each table's changed keys into temp
 * table bucardo_k<t> on the source, numbered for batches in key order - a
 * catching-up source's new keys first (collect_keys, order_keys) - and the
 * TRUNCATEs and partition cuts of the window (read_cuts).  All of it reads
 * the sources in the cycle's snapshot and writes nothing but temp tables;
 * sync_cycle.c has the cycle as a whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cycle_internal.h"

/* changed_since - the visibility condition of a cycle (literals quoted);
 * cur NULL: the transaction's own snapshot, which is cur (keys_ahead). */
static char *changed_since(PGconn *conn, const char *cur, const char *prev)
{
    char *qc = cur ? pg_quote_literal(conn, cur) : xstrdup("pg_catalog.pg_current_snapshot()"), *out;

    if (prev == NULL) {
        out = xasprintf("pg_visible_in_snapshot(txid, %s::pg_snapshot)", qc);
    } else {
        char *qp = pg_quote_literal(conn, prev);
        out = xasprintf("pg_visible_in_snapshot(txid, %s::pg_snapshot)"
                        " AND NOT pg_visible_in_snapshot(txid, %s::pg_snapshot)",
                        qc, qp);
        free(qp);
    }
    free(qc);
    return out;
}

/*
 * catchup_window - the visibility condition of a catching-up source s: its
 * changes in cur not yet visible in prev or in the snapshot of any online
 * writer behind it.  Snapshots of one source are ordered in time, so this
 * is the window of the oldest of them, a superset of the normal one.
 */
static char *catchup_window(Cycle *c, int s)
{
    SyncRunner *r = c->r;
    PGconn *conn = r->src[s].conn;
    char *lit = pg_quote_literal(conn, c->cur[s]);
    bool everything = c->prev[s] == NULL;
    StrBuf b;

    strbuf_init(&b);
    strbuf_printf(&b, "pg_visible_in_snapshot(txid, %s::pg_snapshot)", lit);
    free(lit);
    for (int w = 0; w < c->nw; w++)
        if (r->online[w] && c->behind[s * c->nw + w] && c->bsnap[s * c->nw + w] == NULL)
            everything = true; /* a member that has received nothing yet */
    if (everything)
        return b.data;
    lit = pg_quote_literal(conn, c->prev[s]);
    strbuf_printf(&b, " AND (NOT pg_visible_in_snapshot(txid, %s::pg_snapshot)", lit);
    free(lit);
    for (int w = 0; w < c->nw; w++)
        if (r->online[w] && c->behind[s * c->nw + w]) {
            lit = pg_quote_literal(conn, c->bsnap[s * c->nw + w]);
            strbuf_printf(&b, " OR NOT pg_visible_in_snapshot(txid, %s::pg_snapshot)", lit);
            free(lit);
        }
    strbuf_append(&b, ")");
    return b.data;
}

/*
 * hierarchy_problem - SQL yielding what happened to table p's hierarchy
 * that its capture did not follow (text), or NULL: the partition guard of
 * sql/capture.sql keeps bucardo.capture_partition equal to a partitioned
 * table's leaves and moves a statement-captured table that joins an
 * inheritance hierarchy to the row trigger, in the DDL's own transaction.
 * Read through pg_inherits in the cycle's snapshot, like the map.
 */
static char *hierarchy_problem(const TablePlan *p)
{
    if (p->partitioned)
        return xasprintf(
            "(WITH RECURSIVE tree (oid) AS (SELECT %s::regclass::oid UNION SELECT i.inhrelid"
            "   FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid),"
            " leaf AS (SELECT k.oid FROM tree JOIN pg_catalog.pg_class k ON k.oid = tree.oid WHERE k.relkind "
            "<> 'p'),"
            " map AS (SELECT part, name FROM bucardo.capture_partition WHERE parent = %s::regclass)"
            " SELECT string_agg(x, '; ') FROM ("
            "   SELECT format('its partition %%s was created or attached', leaf.oid::regclass) AS x FROM leaf"
            "    WHERE leaf.oid NOT IN (SELECT part FROM map)"
            "   UNION ALL SELECT format('its partition %%s was detached or dropped', map.name) FROM map"
            "    WHERE map.part NOT IN (SELECT oid FROM leaf)) q)",
            p->literal, p->literal);
    return xasprintf(
        "(SELECT 'it joined an inheritance hierarchy' WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g"
        "  WHERE g.tgrelid = %s::regclass AND g.tgname = 'bucardo_delta_ins' AND g.tgparentid = 0)"
        " AND EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i"
        "  WHERE i.inhrelid = %s::regclass OR i.inhparent = %s::regclass))",
        p->literal, p->literal, p->literal);
}

/* read_cuts - the partitions of table t that source s truncated or
 * dropped within `window`, and which of them within `recent`, into
 * c->cuts; truncated/trunc_new are set to match. */
static bool read_cuts(Cycle *c, int s, int t, const char *window, const char *recent, char *err,
                      size_t errlen)
{
    TablePlan *p = &c->r->src[s].plans[t];
    PartCut *cut = &c->cuts[s * c->nt + t];
    char *sql = xasprintf("SELECT part, bool_or(%s) FROM bucardo.truncate_log WHERE relid = %s::regclass"
                          " AND part IS NOT NULL AND %s GROUP BY part",
                          recent, p->literal, window);
    PGresult *res = src_query(c->r, s, p->display, sql, PGRES_TUPLES_OK, err, errlen);

    free(sql);
    if (res == NULL)
        return false;
    /* A hash partition's constraint names its parent by oid, which means
     * another table (or none) on any other database: it cannot be
     * replayed there.  A copy of the whole table (onetimecopy=1, one
     * source: every writer takes the copy) makes the cut moot. */
    for (int i = 0; i < PQntuples(res); i++)
        if (strstr(PQgetvalue(res, i, 0), "satisfies_hash_partition(") != NULL) {
            bool copied = c->r->def.onetimecopy == 1 && c->ns == 1;
            if (!copied)
                snprintf(err, errlen,
                         "source %s: table %s: a hash partition of it was truncated or dropped, which "
                         "cannot be replayed on another database (its bounds name the source's table by "
                         "oid); copy the table (onetimecopy=1)",
                         c->r->def.sources[s].name, p->display);
            PQclear(res);
            return copied;
        }
    cut->n = PQntuples(res);
    cut->cond = xcalloc((size_t)cut->n + 1, sizeof(char *));
    cut->isnew = xcalloc((size_t)cut->n + 1, sizeof(bool));
    for (int i = 0; i < cut->n; i++) {
        cut->cond[i] = xstrdup(PQgetvalue(res, i, 0));
        cut->isnew[i] = strcmp(PQgetvalue(res, i, 1), "t") == 0;
        c->truncated[s * c->nt + t] = true;
        c->trunc_new[s * c->nt + t] |= cut->isnew[i];
    }
    PQclear(res);
    return true;
}

/*
 * keys_drop - source s's keys sent ahead (keys_ahead) are of no use: its
 * window is wider, or its plans changed.  Their results go and so do the
 * temp tables, so that collect_keys can make them again.
 */
bool keys_drop(Cycle *c, int s, char *err, size_t errlen)
{
    StrBuf sql;
    PGresult *res;

    if (c->ahead[s] == NULL)
        return true;
    strbuf_init(&sql);
    for (int i = 0; i < c->ahead_n[s]; i++) {
        PQclear(c->ahead[s][i]);
        strbuf_printf(&sql, "%sDROP TABLE IF EXISTS pg_temp.bucardo_k%d", sql.len ? "; " : "",
                      c->ahead_tab[s][i]);
    }
    PQclear(c->ahead[s][c->ahead_n[s]]);
    free(c->ahead[s]);
    c->ahead[s] = NULL;
    res = sql.len ? src_query(c->r, s, "changed keys", sql.data, PGRES_COMMAND_OK, err, errlen) : NULL;
    strbuf_free(&sql);
    if (res == NULL && c->ahead_n[s] > 0)
        return false;
    PQclear(res);
    return true;
}

/*
 * collect_keys - per table, source s's changed keys (and the time of each
 * key's latest change) into temp table bucardo_k<t>, and whether a TRUNCATE
 * of the table is among the changes.  A catching-up source collects the
 * wider window of its behind writers, with bucardo_new = changed after
 * prev, and numbers its keys new first.
 */
/*
 * keys_statements - the statements of collect_keys for source s, window
 * cond (wide, isnew: a catching-up source's, else NULL): statement i < *n
 * fills bucardo_k<tab[i]>, statement *n is the TRUNCATE checks.  The
 * caller frees st[0..*n].sql, st and tab.
 */
static SrcStatement *keys_statements(Cycle *c, int s, const char *cond, const char *wide, const char *isnew,
                                     bool prepare, int **tabp, int *np)
{
    SyncRunner *r = c->r;
    SourceConn *sc = &r->src[s];
    /* prepared: the window with the last snapshot as $1 (keys_ahead's) */
    const char *pcond = "pg_visible_in_snapshot(txid, pg_catalog.pg_current_snapshot())"
                        " AND NOT pg_visible_in_snapshot(txid, $1::pg_snapshot)";
    const char *tw = prepare ? pcond : wide ? wide : cond, *tc = prepare ? pcond : cond;
    SrcStatement *st = xcalloc((size_t)c->nt + 1, sizeof(SrcStatement));
    int *tab = xcalloc((size_t)c->nt + 1, sizeof(int)), n = 0;
    StrBuf trunc, setup;
    int nsetup = 1;

    strbuf_init(&trunc);
    strbuf_append(&trunc, "SELECT true");
    /* The key tables live as long as the connection, emptied at each
     * commit: creating (and dropping) four temp tables per cycle cost more
     * than the rest of a small cycle's statements together.  They are
     * created where missing in front of the first keys statement, quietly
     * (IF NOT EXISTS says so in a notice).  keys_drop drops them, so a
     * plan with other key types makes them again. */
    strbuf_init(&setup);
    strbuf_append(&setup, "SET LOCAL client_min_messages = warning");
    for (int t = 0; t < c->nt; t++)
        if (r->def.tables[t].nkeys > 0) {
            strbuf_printf(&setup,
                          "; CREATE TEMP TABLE IF NOT EXISTS bucardo_k%d (%s, bucardo_txntime timestamptz,"
                          " bucardo_n bigint, bucardo_new boolean) ON COMMIT DELETE ROWS",
                          t, r->src[s].plans[t].keydefs);
            nsetup++;
        }
    for (int t = 0; t < c->nt; t++) {
        TablePlan *p = &r->src[s].plans[t];
        char *fill;

        if (r->def.tables[t].nkeys == 0)
            continue; /* no capture: fullcopy targets only */
        /* Keys are numbered so that a large cycle can apply them in batches,
         * in key order: every join by key then walks the key index (and a
         * table clustered on it) forward instead of jumping around.  A
         * catching-up source numbers its new keys first. */
        if (wide)
            fill = xasprintf("INSERT INTO pg_temp.bucardo_k%d (%s, bucardo_txntime, bucardo_n, bucardo_new)"
                             " SELECT %s, max(txntime), row_number() OVER (ORDER BY bool_or(%s) DESC, %s),"
                             " bool_or(%s) FROM %s WHERE %s GROUP BY %s",
                             t, p->keycols, p->keycols, isnew, p->keycols, isnew, p->delta, wide, p->keycols);
        else
            fill = xasprintf("INSERT INTO pg_temp.bucardo_k%d (%s, bucardo_txntime, bucardo_n)"
                             " SELECT %s, max(txntime), row_number() OVER (ORDER BY %s) FROM %s WHERE %s"
                             " GROUP BY %s",
                             t, p->keycols, p->keycols, p->keycols, p->delta, cond, p->keycols);
        st[n].sql = fill; /* the first one gets the setup in front, below */
        st[n].what = p->display;
        st[n].expect = PGRES_COMMAND_OK;
        {
            char *problem = hierarchy_problem(p);
            strbuf_printf(
                &trunc,
                ", EXISTS (SELECT 1 FROM bucardo.truncate_log WHERE relid = %s::regclass AND part IS NULL"
                " AND %s),"
                " EXISTS (SELECT 1 FROM bucardo.truncate_log WHERE relid = %s::regclass AND part IS NULL"
                " AND %s),"
                " (SELECT extract(epoch FROM max(txntime)) FROM bucardo.truncate_log"
                "   WHERE relid = %s::regclass AND part IS NULL AND %s),"
                " EXISTS (SELECT 1 FROM bucardo.truncate_log WHERE relid = %s::regclass"
                " AND part IS NOT NULL AND %s), %s",
                p->literal, tw, p->literal, tc, p->literal, tw, p->literal, tw, problem);
            free(problem);
        }
        tab[n++] = t;
    }
    sc->cuts_sent = 0;
    if (prepare && n > 0) {
        char *lit = pg_quote_literal(sc->conn, c->prev[s]);
        unsigned seq = sc->cuts_ready;

        if (seq == 0) { /* prepared with the setup; ready once the string succeeded (begin_ahead) */
            seq = sc->cuts_sent = ++sc->cuts_seq;
            strbuf_printf(&setup, "; PREPARE bucardo_cuts%u (pg_snapshot) AS %s", seq, trunc.data);
            nsetup++;
        }
        strbuf_free(&trunc);
        strbuf_init(&trunc);
        strbuf_printf(&trunc, "EXECUTE bucardo_cuts%u(%s)", seq, lit);
        free(lit);
    }
    if (n > 0) {
        char *first = xasprintf("%s; %s", setup.data, st[0].sql);
        free((char *)st[0].sql);
        st[0].sql = first;
        st[0].extra = nsetup;
    }
    strbuf_free(&setup);
    st[n] = (SrcStatement){trunc.data, "changed keys", PGRES_TUPLES_OK, 0};
    *tabp = tab;
    *np = n;
    return st;
}

/*
 * keys_ahead - the statements of collect_keys for a source whose window is
 * the normal one (prev to the transaction's own snapshot), to go out in
 * the same string as the BEGIN that takes the snapshot (sync_cycle.c,
 * source_begin): collect_keys then takes their results (keys_take) instead
 * of a round trip of its own, unless the source turned out to be catching
 * up or its plans were rebuilt (keys_drop).  The caller frees st[i].sql
 * (i <= *n), st and *tab.
 */
SrcStatement *keys_ahead(Cycle *c, int s, int **tab, int *n)
{
    char *cond = changed_since(c->r->src[s].conn, NULL, c->prev[s]);
    SrcStatement *st = keys_statements(c, s, cond, NULL, NULL, c->prev[s] != NULL, tab, n);

    free(cond);
    return st;
}

bool collect_keys(Cycle *c, int s, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    char *cond = changed_since(r->src[s].conn, c->cur[s], c->prev[s]);
    char *wide = c->catchup[s] ? catchup_window(c, s) : NULL, *isnew = NULL;
    bool ok = true;
    SrcStatement *st;
    PGresult **res;
    int *tab, n;

    if (wide && c->prev[s] == NULL) {
        isnew = xstrdup("true");
    } else if (wide) {
        char *lit = pg_quote_literal(r->src[s].conn, c->prev[s]);
        isnew = xasprintf("NOT pg_visible_in_snapshot(txid, %s::pg_snapshot)", lit);
        free(lit);
    }
    /* Every table's keys and the TRUNCATE checks go in one round trip:
     * statement i < n fills bucardo_k<tab[i]>, the last one reads, per
     * table, whether a TRUNCATE of the whole table is among the changes
     * (whole window, new) and when the window's latest one was (conflicts:
     * see resolve_conflicts), whether partitions of it were truncated or
     * dropped (whole window; read by read_cuts), and what capture could
     * not follow (hierarchy_problem).  Sent ahead with the BEGIN when
     * the window is the normal one (keys_ahead). */
    if (c->ahead[s] && wide) {
        ok = keys_drop(c, s, err, errlen);
        if (!ok) {
            free(cond);
            free(wide);
            free(isnew);
            return false;
        }
    }
    st = keys_statements(c, s, cond, wide, isnew, false, &tab, &n);
    res = xcalloc((size_t)c->nt + 1, sizeof(PGresult *));
    if (c->ahead[s]) {
        /* same statements (the window written as pg_current_snapshot(), which is cur) */
        for (int i = 0; i <= n; i++)
            res[i] = c->ahead[s][i];
        free(c->ahead[s]);
        c->ahead[s] = NULL;
    } else {
        ok = src_batch(r, s, n + 1, st, res, err, errlen);
    }
    for (int i = 0; ok && i < n; i++) {
        int t = tab[i], k = s * c->nt + t;
        c->nkeys[k] = c->maxn[k] = atol(PQcmdTuples(res[i]));
        c->whole[k] = c->truncated[k] = strcmp(PQgetvalue(res[n], 0, 1 + 5 * i), "t") == 0;
        c->whole_new[k] = c->trunc_new[k] = strcmp(PQgetvalue(res[n], 0, 2 + 5 * i), "t") == 0;
        c->trunc_time[k] = strtod(PQgetvalue(res[n], 0, 3 + 5 * i), NULL);
        if (!PQgetisnull(res[n], 0, 5 + 5 * i)) {
            snprintf(
                err, errlen,
                "source %s: table %s: %s without its capture following (the event trigger "
                "bucardo_partition_guard is missing or disabled there: creating it needs a superuser), "
                "so changes of its rows may be missing on the other databases; run 'bucardo validate %s' "
                "and then copy the table (onetimecopy=1)",
                r->def.sources[s].name, r->src[s].plans[t].display, PQgetvalue(res[n], 0, 5 + 5 * i),
                r->def.name);
            ok = false;
        } else if (strcmp(PQgetvalue(res[n], 0, 4 + 5 * i), "t") == 0) {
            ok = read_cuts(c, s, t, wide ? wide : cond, cond, err, errlen);
        }
    }
    for (int i = 0; i <= n; i++)
        free((char *)st[i].sql);
    for (int i = 0; ok && i <= n; i++)
        PQclear(res[i]);
    free(st);
    free(res);
    free(tab);
    free(cond);
    free(wide);
    free(isnew);
    return ok;
}

/*
 * index_keys - source s's key table of table t gets an index on bucardo_n
 * when the cycle applies it in more than one unit: batches read the keys
 * by number, and without the index each would scan all of them (a backlog
 * would cost O(n^2)).  A table of at most one unit is read whole.  Made
 * after the conflicts, which can add keys (add_keys), and the numbering.
 */
static bool index_keys(Cycle *c, int s, int t, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    char *sql;
    PGresult *res;

    if (unit_keys(c) <= 0 || c->maxn[s * c->nt + t] <= unit_keys(c))
        return true;
    sql = xasprintf("SET LOCAL client_min_messages = warning;"
                    " CREATE INDEX IF NOT EXISTS bucardo_k%d_n ON pg_temp.bucardo_k%d (bucardo_n);"
                    " ANALYZE pg_temp.bucardo_k%d",
                    t, t, t);
    res = src_query(r, s, r->src[s].plans[t].display, sql, PGRES_COMMAND_OK, err, errlen);
    free(sql);
    if (res == NULL)
        return false;
    PQclear(res);
    return true;
}

/*
 * order_keys - after conflicts are settled, number a catching-up source's
 * keys new first (resolve_conflicts made the keys it won new: every member
 * must take the winner's row), so that current writers take keys 1..nnew
 * and behind writers all of them.  Other sources' keys are all new.  Then
 * index_keys.
 */
bool order_keys(Cycle *c, int s, char *err, size_t errlen)
{
    SyncRunner *r = c->r;

    for (int t = 0; t < c->nt; t++) {
        int i = s * c->nt + t;
        char *sql;
        PGresult *res;

        if (!c->catchup[s] || c->nkeys[i] == 0) {
            c->nnew[i] = c->maxn[i];
            if (!index_keys(c, s, t, err, errlen))
                return false;
            continue;
        }
        sql = xasprintf("UPDATE pg_temp.bucardo_k%d k SET bucardo_n = o.n"
                        " FROM (SELECT ctid AS id, row_number() OVER (ORDER BY bucardo_new DESC, %s) AS n"
                        "       FROM pg_temp.bucardo_k%d) o WHERE k.ctid = o.id;"
                        " SELECT count(*) FILTER (WHERE bucardo_new), count(*) FROM pg_temp.bucardo_k%d",
                        t, r->src[s].plans[t].keycols, t, t);
        res = src_query(r, s, r->src[s].plans[t].display, sql, PGRES_TUPLES_OK, err, errlen);
        free(sql);
        if (res == NULL)
            return false;
        c->nnew[i] = atol(PQgetvalue(res, 0, 0));
        c->nkeys[i] = c->maxn[i] = atol(PQgetvalue(res, 0, 1));
        PQclear(res);
        if (!index_keys(c, s, t, err, errlen))
            return false;
    }
    return true;
}
