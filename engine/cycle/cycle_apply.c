/*
 * engine/cycle/cycle_apply.c - a cycle's changes to the writers.  Per unit
 * (the whole cycle, or batch_keys keys of a backlog: apply_all) every
 * writer begins, raises the sequences (first unit), loses the rows of
 * tables truncated on a source (empty_table), deletes the unit's keys and
 * receives the current rows by COPY (apply_table), then commits
 * (commit_all).  A unit that meets a transient error, a unique collision
 * (cycle_unique.c) or a change of a writer's columns is rolled back and
 * applied again (run_unit): delete by key plus copy of the current row is
 * harmless to repeat.  Also here: the sources' sequences read
 * (read_sequences), and the writers' side of makedelta (old_rows,
 * make_deltas) and of rebuild_index=2 (drop_indexes).  sync_cycle.c has
 * the cycle as a whole.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cycle_internal.h"
#include "index_rebuild.h"
#include "log.h"

/*
 * wkeys - the name of table t's key table on the writers.  Like the
 * sources' (cycle_keys.c), it lives as long as the connection and is
 * emptied at each commit; its name carries a hash of the key columns'
 * definition, so that keys of another type (a plan made again) get a
 * table of their own instead of one of the old shape.  The caller frees it.
 */
static char *wkeys(const TablePlan *p, int t)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (const unsigned char *q = (const unsigned char *)p->keydefs; *q; q++)
        h = (h ^ *q) * 16777619u;
    return xasprintf("bucardo_k%d_%08x", t, (unsigned)h);
}

/* makedelta_mask - c->to restricted to the writers whose database has
 * makedelta set, into c->md; false when there are none. */
static bool makedelta_mask(Cycle *c, int t)
{
    return makedelta_writers(c->r, t, c->to, c->md);
}

/*
 * old_rows - on makedelta writers, before the batch's rows replace theirs:
 * a hash of each key's current row (NULL: no row) into temp table
 * bucardo_o<t>, for make_deltas.
 */
static void old_rows(Cycle *c, int s, int t)
{
    TablePlan *p = &c->r->src[s].plans[t];
    char *prefix, *suffix, *keys;

    if (!makedelta_mask(c, t))
        return;
    keys = wkeys(p, t);
    prefix = xasprintf("CREATE TEMP TABLE IF NOT EXISTS bucardo_o%d (%s, bucardo_h text) ON COMMIT DROP;"
                       " TRUNCATE pg_temp.bucardo_o%d;"
                       " INSERT INTO pg_temp.bucardo_o%d SELECT k.*, md5(t::text) FROM pg_temp.%s k"
                       " LEFT JOIN ",
                       t, p->keydefs, t, t, keys);
    free(keys);
    suffix = xasprintf(" t ON %s", p->keyjoin);
    send_table(c->r, MSG_EXEC, prefix, p, suffix, c->md);
    free(prefix);
    free(suffix);
}

/*
 * make_deltas - on writers whose database has makedelta set, record the keys
 * whose row the batch really changed (old_rows has the rows before).  A
 * change that reaches a database already holding it stops there, so in a
 * ring of syncs (a->b, b->c, c->a) a change goes round once instead of for
 * ever.
 */
static void make_deltas(Cycle *c, int s, int t)
{
    TablePlan *p = &c->r->src[s].plans[t];
    char *prefix, *suffix;

    prefix = xasprintf("SELECT k.* FROM pg_temp.bucardo_o%d k LEFT JOIN ", t);
    suffix = xasprintf(" t ON %s WHERE md5(t::text) IS DISTINCT FROM k.bucardo_h", p->keyjoin);
    send_makedelta(c->r, s, p, prefix, suffix, c->to);
    free(prefix);
    free(suffix);
}

/*
 * read_sequences - the highest value of each sequence among the sources;
 * true in *changed when one moved since it was last applied.
 */
bool read_sequences(Cycle *c, long long *high, bool *called, bool *changed, char *err, size_t errlen)
{
    SyncRunner *r = c->r;

    *changed = false;
    for (int q = 0; q < r->def.nsequences; q++) {
        high[q] = -1;
        for (int s = 0; s < c->ns; s++) {
            if (!c->src_on[s])
                continue;
            char *name = table_qualified(r->src[s].conn, &r->def.sequences[q]);
            char *sql = xasprintf("SELECT last_value, is_called FROM %s", name);
            PGresult *res = src_query(r, s, name, sql, PGRES_TUPLES_OK, err, errlen);
            long long v;

            free(sql);
            free(name);
            if (res == NULL)
                return false;
            v = atoll(PQgetvalue(res, 0, 0));
            if (v > high[q] || (v == high[q] && strcmp(PQgetvalue(res, 0, 1), "t") == 0)) {
                high[q] = v;
                called[q] = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
            }
            PQclear(res);
        }
        *changed |= high[q] != r->seq_seen[q];
    }
    return true;
}

/*
 * apply_sequences - raise every member's sequence to the highest source
 * value (never lower one: a member ahead stays ahead).  setval is not
 * transactional; raising is harmless even if the cycle then rolls back.
 */
static void apply_sequences(Cycle *c)
{
    const long long *high = c->seq_high;
    const bool *called = c->seq_called;
    SyncRunner *r = c->r;

    for (int q = 0; q < r->def.nsequences; q++) {
        char *name = table_qualified(r->src[c->first].conn, &r->def.sequences[q]);
        char *lit = pg_quote_literal(r->src[c->first].conn, name);
        char *sql = xasprintf("SELECT pg_catalog.setval(%s, %lld, %s) FROM %s"
                              " WHERE last_value < %lld OR (last_value = %lld AND NOT is_called AND %s)",
                              lit, high[q], called[q] ? "true" : "false", name, high[q], high[q],
                              called[q] ? "true" : "false");
        send_all(r, MSG_EXEC, sql, NULL);
        free(sql);
        free(lit);
        free(name);
    }
}

/*
 * stream_rows - COPY table t's rows from source s to the writers marked in
 * c->to, one stream per distinct customcols select list.  `from` is the
 * FROM clause the rows come from, naming the table "t"; each writer gets
 * "COPY <its table> (<its columns>) FROM STDIN".  Whole rows move in binary
 * where the table allows it (TablePlan.binary, as for table copies): no
 * text conversion on either server - except for a small batch (c->text_rows,
 * see apply_table).
 */
static bool stream_rows(Cycle *c, int s, int t, const char *from, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    TablePlan *p = &r->src[s].plans[t];
    char **in = xcalloc((size_t)c->nw, sizeof(char *));
    bool *done = xcalloc((size_t)c->nw, sizeof(bool)), ok = true;

    for (int w = 0; ok && w < c->nw; w++) {
        const char *sel = p->wselect[w];
        bool pg = writer_is_pg(r, w);
        const char *format = pg && p->binary && !c->text_rows && sel == NULL ? " (FORMAT binary)" : "";
        char *out;
        if (!c->to[w] || done[w])
            continue;
        /* Every writer receiving the same select list shares one stream;
         * targets of other kinds take theirs in text (target_driver.h). */
        for (int v = w; v < c->nw; v++) {
            const char *other = p->wselect[v];
            if (c->to[v] && !done[v] && writer_is_pg(r, v) == pg &&
                (sel == NULL ? other == NULL : other != NULL && strcmp(sel, other) == 0)) {
                done[v] = true;
                in[v] = pg ? xasprintf("COPY %s (%s) FROM STDIN%s", p->wtable[v], p->wcolumns[v], format)
                           : xstrdup(p->wrows[v]);
            }
        }
        out = sel ? xasprintf("COPY (SELECT %s FROM (SELECT t.* FROM %s) AS t) TO STDOUT", sel, from)
                  : xasprintf("COPY (SELECT %s FROM %s) TO STDOUT%s", p->tcolumns, from, format);
        ok = stream(r, s, p->display, out, in, true, err, errlen);
        free(out);
        for (int v = 0; v < c->nw; v++) {
            free(in[v]);
            in[v] = NULL;
        }
    }
    free(in);
    free(done);
    return ok;
}

/*
 * one_stream - are all writers in c->to PostgreSQL writers taking table
 * t's rows with the same select list (one COPY out of the source serves
 * them all)?  Then
 * rows_copy gives that COPY and each writer's COPY in.
 */
static bool one_stream(const Cycle *c, const TablePlan *p)
{
    const char *sel = NULL;
    bool first = true;

    for (int w = 0; w < c->nw; w++) {
        if (!c->to[w])
            continue;
        if (!writer_is_pg(c->r, w))
            return false; /* targets of other kinds take their rows in text, apart */
        if (!first &&
            (sel == NULL ? p->wselect[w] != NULL : p->wselect[w] == NULL || strcmp(sel, p->wselect[w]) != 0))
            return false;
        sel = p->wselect[w];
        first = false;
    }
    return !first;
}

static char *rows_copy(const Cycle *c, const TablePlan *p, const char *from, char **in)
{
    const char *sel = NULL, *format;

    for (int w = 0; w < c->nw; w++)
        if (c->to[w])
            sel = p->wselect[w];
    format = p->binary && !c->text_rows && sel == NULL ? " (FORMAT binary)" : "";
    for (int w = 0; w < c->nw; w++)
        if (c->to[w])
            in[w] = xasprintf("COPY %s (%s) FROM STDIN%s", p->wtable[w], p->wcolumns[w], format);
    return sel ? xasprintf("COPY (SELECT %s FROM (SELECT t.* FROM %s) AS t) TO STDOUT", sel, from)
               : xasprintf("COPY (SELECT %s FROM %s) TO STDOUT%s", p->tcolumns, from, format);
}

/*
 * unique_apply - unique mode settles collisions with PostgreSQL statements:
 * the PostgreSQL writers in c->to go through unique_apply_rows, the others
 * take the rows as usual.
 */
static bool unique_apply(Cycle *c, int s, int t, const char *from, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    bool *pg = xcalloc((size_t)c->nw, sizeof(bool)), *others = c->to, any = false, ok;

    for (int w = 0; w < c->nw; w++) {
        pg[w] = c->to[w] && writer_is_pg(r, w);
        any |= c->to[w] && !pg[w];
    }
    ok = unique_apply_rows(r, s, t, pg, from, err, errlen);
    if (ok && any) {
        bool *rest = xcalloc((size_t)c->nw, sizeof(bool));
        for (int w = 0; w < c->nw; w++)
            rest[w] = c->to[w] && !pg[w];
        c->to = rest;
        ok = stream_rows(c, s, t, from, err, errlen);
        c->to = others;
        free(rest);
    }
    free(pg);
    return ok;
}

/*
 * apply_table - source s's changes of table t to the writers marked in
 * c->to: the keys numbered lo+1..hi (all of them when hi covers maxn).
 * When one COPY of the rows serves every writer (and not in unique mode),
 * the source gets the keys' COPY and the rows' COPY in one string
 * (stream_first, stream_second): one round trip for both.
 */
#define TEXT_ROWS_MAX_KEYS 2000

/* keys_out - the COPY out of table t's keys numbered lo+1..hi on a source. */
static char *keys_out(const TablePlan *p, int t, long lo, long hi)
{
    return xasprintf("COPY (SELECT %s FROM pg_temp.bucardo_k%d WHERE bucardo_n > %ld AND bucardo_n <= %ld"
                     " ORDER BY bucardo_n) TO STDOUT",
                     p->keycols, t, lo, hi);
}

/* rows_from - the FROM clause of those keys' rows (the table named "t"). */
static char *rows_from(const TablePlan *p, int t, long lo, long hi)
{
    return xasprintf("%s t JOIN pg_temp.bucardo_k%d k ON %s AND k.bucardo_n > %ld AND k.bucardo_n <= %ld",
                     p->from, t, p->keyjoin, lo, hi);
}

static bool apply_table(Cycle *c, int s, int t, long lo, long hi, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    TablePlan *p = &r->src[s].plans[t];
    char *sql, *out, **in, *from, *rows_out = NULL, **rows_in = NULL, *keys;
    bool ok, pair;

    if (c->nkeys[s * c->nt + t] == 0)
        return true;
    keys = wkeys(p, t);
    /* (quietly: IF NOT EXISTS says so in a notice; emptied in case an
     * earlier item of this transaction filled it) */
    sql =
        xasprintf("SET LOCAL client_min_messages = warning; CREATE TEMP TABLE IF NOT EXISTS %s (%s) ON COMMIT"
                  " DELETE ROWS; SET LOCAL client_min_messages TO DEFAULT; DELETE FROM pg_temp.%s",
                  keys, p->keydefs, keys);
    send_all(r, MSG_EXEC, sql, c->to);
    free(sql);
    out = keys_out(p, t, lo, hi);
    in = xcalloc((size_t)c->nw, sizeof(char *));
    /* Targets of other kinds delete the keys as they arrive (target_driver.h). */
    for (int w = 0; w < c->nw; w++)
        if (c->to[w])
            in[w] = writer_is_pg(r, w) ? xasprintf("COPY pg_temp.%s (%s) FROM STDIN", keys, p->keycols)
                                       : xstrdup(p->wkeys[w]);
    from = rows_from(p, t, lo, hi);
    pair = !c->unique_mode && one_stream(c, p);
    /* A small batch's rows travel as COPY text, which a PostgreSQL writer
     * can hold back and send as an INSERT in the same string as the next
     * statements (target_writer.c, "Held COPYs"): no round trip of its
     * own for the rows' CopyInResponse and result.  Larger batches stay in
     * binary, where the table allows it. */
    c->text_rows = hi - lo <= TEXT_ROWS_MAX_KEYS;
    if (pair && r->src[s].pre_used) {
        /* this pair went out with the cycle's BEGIN (presend_sql) */
        rows_in = xcalloc((size_t)c->nw, sizeof(char *));
        rows_out = rows_copy(c, p, from, rows_in);
        ok =
            src_pre_skip(r, s, t, err, errlen) && stream_sent(r, s, p->display, in, false, true, err, errlen);
    } else if (pair && c->sent_ahead[s] > 0) {
        /* this pair went out with the unit's others (send_ahead) */
        rows_in = xcalloc((size_t)c->nw, sizeof(char *));
        rows_out = rows_copy(c, p, from, rows_in);
        ok = stream_sent(r, s, p->display, in, false, true, err, errlen);
    } else if (pair) {
        rows_in = xcalloc((size_t)c->nw, sizeof(char *));
        rows_out = rows_copy(c, p, from, rows_in);
        ok = stream_first(r, s, p->display, out, rows_out, in, err, errlen);
    } else {
        ok = stream(r, s, p->display, out, in, false, err, errlen);
    }
    for (int w = 0; w < c->nw; w++)
        free(in[w]);
    free(in);
    free(out);
    if (ok) {
        if (hi - lo > 1000 && c->nkeys[s * c->nt + t] > 1000) {
            /* Without statistics the planner guesses the key table's size and
             * may join a large batch by scanning the whole table, per batch. */
            sql = xasprintf("ANALYZE pg_temp.%s", keys);
            send_all(r, MSG_EXEC, sql, c->to);
            free(sql);
        }
        for (int w = r->def.ntargets; w < c->nw; w++)
            c->wrote[w * c->nt + t] |= c->to[w];
        old_rows(c, s, t);
        sql = xasprintf(" t USING pg_temp.%s k WHERE %s", keys, p->keyjoin);
        send_table(r, MSG_EXEC, "DELETE FROM ", p, sql, c->to);
        free(sql);
        if (pair && r->src[s].pre_used) {
            ok = stream_sent(r, s, p->display, rows_in, true, true, err, errlen);
        } else if (pair && c->sent_ahead[s] > 0) {
            c->sent_ahead[s]--;
            ok = stream_sent(r, s, p->display, rows_in, true, c->sent_ahead[s] > 0, err, errlen);
        } else if (pair)
            ok = stream_second(r, s, p->display, true, rows_in, true, err, errlen);
        else if (c->unique_mode)
            ok = unique_apply(c, s, t, from, err, errlen);
        else
            ok = stream_rows(c, s, t, from, err, errlen);
        if (ok)
            make_deltas(c, s, t);
    }
    if (rows_in)
        for (int w = 0; w < c->nw; w++)
            free(rows_in[w]);
    free(rows_in);
    free(rows_out);
    free(from);
    free(keys);
    return ok;
}

/* What the writer's guard fails with (WRITER_GUARD_MESSAGE, as the server says it). */
#define GUARD_MATCH "bucardo: the columns of the sync's tables changed"

/*
 * commit_all - BARRIER, then COMMIT on every online writer; counts from them.
 * With one online writer, a PostgreSQL one whose tables' shape is known,
 * there is nobody to wait for: COMMIT goes without BARRIER, in the same
 * string as the unit's last statements (one round trip less), and the
 * writer checks the shape itself just before it (target_writer.c,
 * queue_guard); a failed guard is handled as a moved shape below.
 */
static bool commit_all(Cycle *c, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    long deletes = 0, inserts = 0;
    bool ok = true, guarded = false;
    int online = 0, only = -1;

    for (int w = 0; w < r->nwriters; w++)
        if (r->online[w]) {
            online++;
            only = w;
        }
    if (online == 1 && writer_is_pg(r, only) && r->wshape[only] != NULL) {
        guarded = true;
        send_all(r, MSG_COMMIT, r->wshape[only], NULL);
        ok = target_wait(r->writers[only], err, errlen);
    } else {
        send_all(r, MSG_BARRIER, NULL, NULL);
        for (int w = 0; w < r->nwriters; w++)
            if (r->online[w] && !target_wait(r->writers[w], ok ? err : NULL, errlen))
                ok = false;
    }
    /* DDL on a writer's tables since they were checked (likely the cause
     * of an error, too): not committed before run_unit has checked them
     * again. */
    for (int w = 0; w < r->nwriters; w++) {
        char *shape = r->online[w] ? target_shape(r->writers[w]) : NULL;
        if (shape && r->wshape[w] && strcmp(shape, r->wshape[w]) != 0 && !c->columns_moved) {
            bool only_moved = ok || (guarded && strstr(err, GUARD_MATCH) != NULL);
            if (only_moved)
                snprintf(err, errlen, "target %s: the columns of the sync's tables changed",
                         writer_dbinfo(r, w)->name);
            c->columns_moved = true;
            c->moved_only = only_moved;
            ok = false;
        }
        free(shape);
    }
    if (guarded && !ok && !c->columns_moved && strstr(err, GUARD_MATCH) != NULL) {
        /* the shape moved after BEGIN read it: the guard saw it, the BEGIN did not */
        c->columns_moved = true;
        c->moved_only = true;
    }
    if (!ok || guarded) {
        if (ok) {
            target_counts(r->writers[only], &deletes, &inserts);
            c->deletes += deletes;
            c->inserts += inserts;
        }
        return ok;
    }
    send_all(r, MSG_COMMIT, NULL, NULL);
    for (int w = 0; w < r->nwriters; w++) {
        long d, ins;
        if (!r->online[w])
            continue;
        if (!target_wait(r->writers[w], ok ? err : NULL, errlen))
            ok = false;
        target_counts(r->writers[w], &d, &ins);
        deletes += d;
        inserts += ins;
    }
    if (ok) {
        c->deletes += deletes;
        c->inserts += inserts;
    }
    return ok;
}

/*
 * transient - an error that goes away by itself: the application holding
 * the same rows (serialization failure, deadlock, lock timeout).  Retrying
 * the batch alone is enough; the sync must not be wedged by it.
 */
static bool transient(const char *err)
{
    return strstr(err, "(SQLSTATE 40001)") || strstr(err, "(SQLSTATE 40P01)") ||
           strstr(err, "(SQLSTATE 55P03)");
}

/*
 * drop_indexes - rebuild_index=2: queue on every writer in c->to the DROP
 * of table t's secondary indexes there, before its changes; returns the
 * sets (per writer, for recreate_indexes), or NULL with err set.  The drop,
 * the changes and the recreation share the writer's transaction, so an
 * interrupted cycle rolls back to the table with all its indexes.  Not on
 * the other sources of a multi-source sync: DROP INDEX needs ACCESS
 * EXCLUSIVE on the table, which the cycle's own reading transaction there
 * blocks (see empty_table).
 */
static IndexSet *drop_indexes(Cycle *c, int s, int t, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    IndexSet *ix = xcalloc((size_t)c->nw, sizeof(IndexSet));

    for (int w = 0; w < c->nw; w++) {
        if (!c->to[w] || w >= r->def.ntargets || !writer_is_pg(r, w))
            continue;
        if (!index_set_read(writer_dbinfo(r, w), r->src[s].plans[t].wtable[w], &r->def.tables[t],
                            r->client_encoding, INDEX_SECONDARY, &ix[w], err, errlen)) {
            for (int v = 0; v < c->nw; v++)
                index_set_free(&ix[v]);
            free(ix);
            return NULL;
        }
    }
    for (int w = 0; w < r->def.ntargets; w++)
        if (c->to[w])
            index_set_send_drop(&ix[w], r->writers[w]);
    return ix;
}

/* recreate_indexes - queue the CREATE INDEXes of drop_indexes; frees ix. */
static void recreate_indexes(Cycle *c, IndexSet *ix)
{
    for (int w = 0; w < c->nw; w++) {
        if (c->to[w] && w < c->r->def.ntargets)
            index_set_send_create(&ix[w], c->r->writers[w]);
        index_set_free(&ix[w]);
    }
    free(ix);
}

/* A piece of work: keys lo+1..hi of table t from source s; or, with s
 * -1, emptying table t after a TRUNCATE (empty_table). */
/* receives_deltas - does writer w take table t's changes in this cycle
 * (online, and not getting the table by copy instead)? */
static bool receives_deltas(const Cycle *c, int w, int t)
{
    const SyncRunner *r = c->r;

    return r->online[w] && !c->copy[t * c->nw + w] && !(w < r->def.ntargets && r->def.fullcopy[w]);
}

/*
 * delete_unchanged - on writer w, delete table t's rows (those matching
 * `cond` only, when given: a partition's constraint): all of them on a
 * target, and on a source writer those its own source did not change since
 * its prev (see empty_table).
 */
static void delete_unchanged(Cycle *c, int w, int t, const char *cond)
{
    SyncRunner *r = c->r;
    TablePlan *p = &r->src[c->first].plans[t];
    char *since = NULL, *where;

    if (w < r->def.ntargets) {
        where = xasprintf(" WHERE (%s)", cond);
    } else {
        int own = w - r->def.ntargets;
        /* keyjoin is "t.<key> = k.<key> AND ...": k is the delta row. */
        if (c->prev[own]) {
            char *lit = pg_quote_literal(r->src[c->first].conn, c->prev[own]);
            since = xasprintf(
                " AND NOT pg_catalog.pg_visible_in_snapshot(k.txid, %s::pg_catalog.pg_snapshot)", lit);
            free(lit);
        }
        /* With a capture filter, the source's rows outside it are its own:
         * a TRUNCATE elsewhere takes only the rows the sync replicates. */
        where = xasprintf(" t WHERE %s%s%s%s%s%sNOT EXISTS (SELECT 1 FROM %s k WHERE %s%s)", cond ? "(" : "",
                          cond ? cond : "", cond ? ") AND " : "", p->filter ? "(" : "",
                          p->filter ? p->filter : "", p->filter ? ") AND " : "", p->delta, p->keyjoin,
                          since ? since : "");
    }
    {
        bool *one = xcalloc((size_t)c->nw, sizeof(bool));
        one[w] = true;
        send_table(r, MSG_EXEC, "DELETE FROM ", p, where, one);
        free(one);
    }
    c->wrote[w * c->nt + t] = true;
    free(where);
    free(since);
}

/* What check_cuts' error says: run_unit knows it by this. */
#define CUT_MEANWHILE "truncated here during the cycle"

/*
 * check_cuts - on every source writer, last in the unit: fail the unit
 * (CUT_MEANWHILE) when its own database truncated a table (or partition)
 * the unit changed there after that source's snapshot `cur`.  Such a cut
 * is in the source's next window, and is replayed then on the other
 * members with their rows of this cycle counted as applied before it
 * (empty_table keeps only what they changed after this cycle) - but here
 * those rows arrived after the cut, so this member would keep rows every
 * other member loses.  TRUNCATE is not MVCC-safe either: the cycle's
 * reading transaction on that source may have read the truncated
 * partition as empty.  The cycle is run again (runner_cycle), with the cut
 * in its window.  Race-free: once the unit has changed a table, the
 * writer's locks make a TRUNCATE of it wait for the COMMIT, and one
 * committed before shows in truncate_log to this READ COMMITTED statement.
 * A writer whose source sits the cycle out compares with its prev.
 */
static void check_cuts(Cycle *c)
{
    SyncRunner *r = c->r;
    PGconn *conn = r->src[c->first].conn;

    for (int w = r->def.ntargets; c->ns > 1 && w < c->nw; w++) {
        int own = w - r->def.ntargets;
        const char *snap = c->src_on[own] ? c->cur[own] : c->prev[own];
        StrBuf rels, body;
        char *sql;

        if (!r->online[w])
            continue;
        strbuf_init(&rels);
        for (int t = 0; t < c->nt; t++) {
            if (!c->wrote[w * c->nt + t])
                continue;
            char *lit = pg_quote_literal(conn, r->src[c->first].plans[t].wtable[w]);
            strbuf_printf(&rels, "%s%s::pg_catalog.regclass::pg_catalog.oid", rels.len ? ", " : "", lit);
            free(lit);
        }
        if (rels.len == 0) {
            strbuf_free(&rels);
            continue;
        }
        strbuf_init(&body);
        strbuf_printf(&body,
                      "DECLARE bucardo_t text; BEGIN"
                      " SELECT pg_catalog.string_agg(DISTINCT l.relid::pg_catalog.regclass::text, ', ')"
                      " INTO bucardo_t FROM bucardo.truncate_log l WHERE l.relid IN (%s)",
                      rels.data);
        if (snap) {
            char *lit = pg_quote_literal(conn, snap);
            strbuf_printf(
                &body, " AND NOT pg_catalog.pg_visible_in_snapshot(l.txid, %s::pg_catalog.pg_snapshot)", lit);
            free(lit);
        }
        strbuf_append(&body, "; IF bucardo_t IS NOT NULL THEN RAISE EXCEPTION"
                             " 'table % " CUT_MEANWHILE ", after its snapshot of this database; the cycle"
                             " runs again', bucardo_t USING ERRCODE = '40001'; END IF; END");
        {
            char *lit = pg_quote_literal(conn, body.data);
            sql = xasprintf("DO %s", lit);
            target_send_new(r->writers[w], MSG_CHECK, sql);
            free(lit);
            free(sql);
        }
        strbuf_free(&body);
        strbuf_free(&rels);
    }
}

/*
 * empty_table - table t was truncated on a source in this cycle (the whole
 * table, or some of its partitions): before any source's keys of the
 * table, every writer that takes the TRUNCATE loses the rows nobody
 * changed.  The keys changed in the cycle are settled by the conflict
 * rule, a whole-table TRUNCATE counting as a change of every key
 * (resolve_conflicts), and applied after this as usual.
 *
 * A writer takes it when a source other than its own database truncated
 * the table in the window it receives (behind writers: the wider one).
 * Targets get TRUNCATE (or DELETE, see writer_table_referenced).  A source
 * writer gets a DELETE of the rows its own source did not change since its
 * prev instead: a TRUNCATE needs ACCESS EXCLUSIVE, which the cycle's own
 * REPEATABLE READ transaction on that source (holding ACCESS SHARE once it
 * read the table) would block for ever - PostgreSQL cannot see that wait
 * as a deadlock, since its other end is this thread.  The DELETE takes
 * ROW EXCLUSIVE, is MVCC, so the reading snapshot still sees the rows, and
 * keeps the source's own changes: those of the window are settled by
 * conflicts, those after cur come with the next cycle.
 *
 * A partition truncated or dropped on a source is replayed as a DELETE of
 * the rows matching its partition constraint (whatever the writer's own
 * partitions: the rows of the source's partition at that moment are
 * exactly the table's rows that match it), on source writers again only
 * of the rows their own source did not change.  Such a cut is not a change
 * of every key: a row another source changed in the window survives it.
 */
static bool empty_table(Cycle *c, int t, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    TablePlan *p = &r->src[c->first].plans[t];
    bool any = false;

    for (int w = 0; w < c->nw; w++) {
        c->to[w] = false;
        if (!receives_deltas(c, w, t))
            continue;
        for (int s = 0; s < c->ns; s++)
            if (c->src_on[s] && !(c->ns > 1 && w == source_writer(r, s)) &&
                (c->behind[s * c->nw + w] ? c->whole : c->whole_new)[s * c->nt + t])
                c->to[w] = true;
        any |= c->to[w] && w < r->def.ntargets;
    }
    if (any) {
        bool *targets = xcalloc((size_t)c->nw, sizeof(bool));
        for (int w = 0; w < r->def.ntargets; w++)
            targets[w] = c->to[w];
        send_table(r, MSG_EMPTY, "", p, "", targets);
        free(targets);
    }
    for (int w = r->def.ntargets; w < c->nw; w++)
        if (c->to[w])
            delete_unchanged(c, w, t, NULL);
    for (int s = 0; s < c->ns; s++) {
        const PartCut *cut = &c->cuts[s * c->nt + t];

        for (int w = 0; c->src_on[s] && w < c->nw; w++) {
            bool late = c->behind[s * c->nw + w];

            if (c->to[w] || !receives_deltas(c, w, t) || (c->ns > 1 && w == source_writer(r, s)))
                continue; /* emptied whole above, or not a receiver of s */
            for (int k = 0; k < cut->n; k++) {
                if (!(late || cut->isnew[k]))
                    continue;
                if (!writer_is_pg(r, w)) {
                    /* A partition constraint is PostgreSQL's to evaluate. */
                    snprintf(err, errlen,
                             "target %s: table %s: a truncated or detached partition cannot be replayed on a"
                             " %s target; copy the table again (onetimecopy=1)",
                             writer_dbinfo(r, w)->name, p->display, writer_dbinfo(r, w)->dbtype);
                    return false;
                }
                delete_unchanged(c, w, t, cut->cond[k]);
            }
        }
    }
    return true;
}

/*
 * apply_item - one piece of work, in two passes: writers up to date with
 * source s take its new keys (numbered 1..nnew); writers behind s take
 * every key of the wider window.  Each writer is in one pass only.  An
 * item with s -1 empties its table (empty_table).
 */
static bool apply_item(Cycle *c, const WorkItem *it, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    int s = it->s, t = it->t, i = s * c->nt + t;
    long newhi;
    bool ok = true;

    if (s < 0)
        return empty_table(c, t, err, errlen);
    newhi = it->hi < c->nnew[i] ? it->hi : c->nnew[i];
    for (int pass = 0; ok && pass < 2; pass++) {
        bool late = pass == 1, any = false;
        IndexSet *ix = NULL;
        long hi = late ? it->hi : newhi;

        if (it->lo >= hi)
            continue;
        for (int w = 0; w < c->nw; w++) {
            c->to[w] = r->online[w] && !c->copy[t * c->nw + w] &&
                       !(w < r->def.ntargets && r->def.fullcopy[w]) &&
                       !(c->ns > 1 && w == source_writer(r, s)) && c->behind[s * c->nw + w] == late;
            any |= c->to[w];
        }
        if (!any)
            continue;
        /* rebuild_index=2; not in unique mode, which settles collisions
         * by probing the very unique indexes a rebuild would drop (a
         * collision shows as the CREATE UNIQUE INDEX failing, and sends
         * the unit to unique mode). */
        if (r->def.tables[t].rebuild_index == 2 && !c->unique_mode && c->nkeys[i] > 0 &&
            (ix = drop_indexes(c, s, t, err, errlen)) == NULL)
            return false;
        ok = apply_table(c, s, t, it->lo, hi, err, errlen);
        if (ix)
            recreate_indexes(c, ix);
    }
    return ok;
}

/* current_writers - into c->to, the writers that take source s's new keys
 * of table t (apply_item's first pass); false when there are none. */
static bool current_writers(Cycle *c, int s, int t)
{
    SyncRunner *r = c->r;
    bool any = false;

    for (int w = 0; w < c->nw; w++) {
        c->to[w] = r->online[w] && !c->copy[t * c->nw + w] && !(w < r->def.ntargets && r->def.fullcopy[w]) &&
                   !(c->ns > 1 && w == source_writer(r, s)) && !c->behind[s * c->nw + w];
        any |= c->to[w];
    }
    return any;
}

/*
 * PRESEND_KEYS - the most keys a table may have for its rows to go out
 * with the cycle's BEGIN (presend_sql): a small batch's, in COPY text.
 */
#define PRESEND_KEYS TEXT_ROWS_MAX_KEYS

char *presend_sql(Cycle *c, int s, int **tabp, int *np)
{
    SyncRunner *r = c->r;
    bool text = c->text_rows, fits = true;
    int *tab, n = 0;
    StrBuf sql;

    *tabp = NULL;
    *np = 0;
    if (c->ns != 1 || r->def.nsequences > 0 || r->hooks || c->copy_cycle || r->src[s].plans == NULL ||
        r->src[s].pre_off)
        return NULL;
    tab = xcalloc((size_t)c->nt + 1, sizeof(int));
    strbuf_init(&sql);
    c->text_rows = true;
    for (int t = 0; fits && t < c->nt; t++) {
        TablePlan *p = &r->src[s].plans[t];
        char *from, *rows_out, **rows_in;

        if (r->def.tables[t].nkeys == 0 || !current_writers(c, s, t))
            continue;
        if (r->def.tables[t].rebuild_index == 2 || !one_stream(c, p)) {
            fits = false;
            break;
        }
        /* The guard (no key numbered above PRESEND_KEYS) makes a larger
         * table's pair empty: a backlog costs nothing here.  The range on
         * bucardo_n, though implied, stays: the key table has no
         * statistics, and without the range's selectivity the planner
         * takes a few hundred keys for thousands and joins them by
         * walking the whole table (25 ms instead of 2 for 1,000 keys of
         * pgbench_accounts at scale 1). */
        strbuf_printf(
            &sql,
            "%sCOPY (SELECT %s FROM pg_temp.bucardo_k%d WHERE bucardo_n > 0 AND bucardo_n <= %d AND NOT "
            "EXISTS (SELECT FROM pg_temp.bucardo_k%d WHERE bucardo_n > %d) ORDER BY bucardo_n) TO STDOUT",
            n ? "; " : "", p->keycols, t, PRESEND_KEYS, t, PRESEND_KEYS);
        from = xasprintf(
            "%s t JOIN pg_temp.bucardo_k%d k ON %s AND k.bucardo_n > 0 AND k.bucardo_n <= %d AND NOT"
            " EXISTS (SELECT FROM pg_temp.bucardo_k%d WHERE bucardo_n > %d)",
            p->from, t, p->keyjoin, PRESEND_KEYS, t, PRESEND_KEYS);
        rows_in = xcalloc((size_t)c->nw, sizeof(char *));
        rows_out = rows_copy(c, p, from, rows_in);
        strbuf_printf(&sql, "; %s", rows_out);
        for (int w = 0; w < c->nw; w++)
            free(rows_in[w]);
        free(rows_in);
        free(rows_out);
        free(from);
        tab[n++] = t;
    }
    c->text_rows = text;
    if (!fits || n == 0) {
        free(tab);
        strbuf_free(&sql);
        return NULL;
    }
    *tabp = tab;
    *np = n;
    return sql.data;
}

/*
 * presend_adopt - does the unit items[0..n) take what went out with
 * source s's BEGIN (presend_sql)?  Only the cycle's one unit, on its first
 * attempt, can: every table of the source with at most PRESEND_KEYS keys,
 * no TRUNCATE, no writer behind, and the same pairs as presend_sql writes
 * now (the writers online may have changed since).  Otherwise what went
 * ahead is read and dropped here, and the unit reads the source as usual.
 */
static void presend_adopt(Cycle *c, int s, const WorkItem *items, int n)
{
    SyncRunner *r = c->r;
    SourceConn *sc = &r->src[s];
    bool fits = !c->unique_mode && !c->exc.pending && !c->catchup[s] && n > 0;
    int *tab = NULL, m = 0;

    for (int k = 0; fits && k < n; k++)
        fits = items[k].s >= 0 && items[k].lo == 0 && items[k].hi >= c->maxn[items[k].s * c->nt + items[k].t];
    for (int t = 0; fits && t < c->nt; t++)
        fits = c->maxn[s * c->nt + t] <= PRESEND_KEYS && !c->truncated[s * c->nt + t];
    if (fits) {
        char *now = presend_sql(c, s, &tab, &m);
        fits = now != NULL && strcmp(now, sc->pre_sql) == 0;
        free(now);
        free(tab);
    }
    if (fits)
        sc->pre_used = true;
    else
        (void)src_idle(r, s);
}

/*
 * send_ahead - before a unit's items are applied, each source gets the
 * COPY pairs (keys, rows) of all its items in one string, when every one
 * of its items takes the paired path (one stream serves every writer, no
 * unique mode, no writer behind, no index rebuild, no TRUNCATE in the
 * unit, no customcode): apply_table then streams them in order
 * (stream_sent) without a round trip per table.  Otherwise nothing is
 * sent ahead and apply_table sends each pair itself.
 */
static void send_ahead(Cycle *c, const WorkItem *items, int n)
{
    SyncRunner *r = c->r;

    for (int s = 0; s < c->ns; s++) {
        c->sent_ahead[s] = 0;
        if (r->src[s].pre_sql != NULL)
            presend_adopt(c, s, items, n);
    }
    if (c->unique_mode || r->hooks)
        return;
    for (int k = 0; k < n; k++)
        if (items[k].s < 0)
            return;
    for (int s = 0; s < c->ns; s++) {
        StrBuf sql;
        int pairs = 0;
        bool fits = c->src_on[s] && !c->catchup[s] && !r->src[s].pre_used;

        strbuf_init(&sql);
        for (int k = 0; fits && k < n; k++) {
            const WorkItem *it = &items[k];
            int t = it->t, i = s * c->nt + t;
            TablePlan *p = &r->src[s].plans[t];
            long hi = it->hi < c->nnew[i] ? it->hi : c->nnew[i];
            char *out, *from, *rows_out, **rows_in;

            if (it->s != s || it->lo >= hi || c->nkeys[i] == 0 || !current_writers(c, s, t))
                continue;
            if (r->def.tables[t].rebuild_index == 2 || !one_stream(c, p)) {
                fits = false;
                break;
            }
            c->text_rows = hi - it->lo <= TEXT_ROWS_MAX_KEYS;
            out = keys_out(p, t, it->lo, hi);
            from = rows_from(p, t, it->lo, hi);
            rows_in = xcalloc((size_t)c->nw, sizeof(char *));
            rows_out = rows_copy(c, p, from, rows_in);
            strbuf_printf(&sql, "%s%s; %s", sql.len ? "; " : "", out, rows_out);
            for (int w = 0; w < c->nw; w++)
                free(rows_in[w]);
            free(rows_in);
            free(rows_out);
            free(from);
            free(out);
            pairs++;
        }
        if (fits && pairs > 1 && PQsendQuery(r->src[s].conn, sql.data) == 1)
            c->sent_ahead[s] = pairs;
        strbuf_free(&sql);
    }
}

/*
 * run_unit - apply items in one transaction per writer, retrying the unit
 * alone (up to five times, with a growing pause) when a writer hit a
 * transient error.  Re-applying is harmless: delete by key plus copy.
 */
static bool run_unit(Cycle *c, const WorkItem *items, int n, bool sequences, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    bool rechecked = false;

    c->unique_mode = false; /* the fast path first, for every unit */
    c->exc.pending = false;
    c->exc.attempts = 0;
    for (int attempt = 1;; attempt++) {
        bool ok = true;

        memset(c->wrote, 0, (size_t)(c->nw * c->nt) * sizeof(bool));
        send_all(r, MSG_BEGIN, r->client_encoding, NULL);
        if (sequences)
            apply_sequences(c);
        if (sequences && !unique_apply_deletes(r, c->udeletes, c->copy, err, errlen))
            return false;
        if (c->exc.pending) {
            /* The exception customcodes of the last attempt's failure, in
             * this attempt's transactions (cycle_hooks.c). */
            int helped = exception_run(c, err, errlen);
            if (helped <= 0) {
                send_all(r, MSG_ROLLBACK, NULL, NULL);
                for (int w = 0; w < r->nwriters; w++)
                    (void)target_wait(r->writers[w], NULL, 0);
                if (helped < 0)
                    return false;
                goto own_handling; /* err: the writer's error again */
            }
        }
        send_ahead(c, items, n);
        for (int i = 0; ok && i < n; i++)
            ok = apply_item(c, &items[i], err, errlen);
        for (int s = 0; s < c->ns; s++)
            if (r->src[s].pre_used)
                (void)src_idle(r, s); /* the pairs of tables without changes, and the string's end */
        if (!ok) {
            for (int s = 0; s < c->ns; s++)
                c->sent_ahead[s] = 0; /* the source's ROLLBACK drops what is left of the string */
            return false;             /* a source error: the cycle fails */
        }
        check_cuts(c);
        if (commit_all(c, err, errlen)) {
            c->conflicts += unique_collect(r);
            return true;
        }
        send_all(r, MSG_ROLLBACK, NULL, NULL);
        for (int w = 0; w < r->nwriters; w++)
            (void)target_wait(r->writers[w], NULL, 0);
        if (strstr(err, CUT_MEANWHILE)) {
            c->cut_meanwhile = true; /* not this unit again: the whole cycle (runner_cycle) */
            return false;
        }
        /* An exception customcode for the failing table looks at it first. */
        if (r->hooks && !c->unique_mode && !c->columns_moved && exception_prepare(c, items, n, err)) {
            attempt--;
            err[0] = '\0';
            continue;
        }
    own_handling:
        /* DDL on a writer: its columns are checked again (now that no
         * writer holds a lock), once per unit.  A mismatch fails the
         * cycle with a message naming database, table and column; the
         * changes stay queued.  Columns that still match: the unit is
         * applied again when the shape merely moved, and otherwise the
         * writer's own error stands. */
        if (!rechecked && (c->columns_moved || columns_suspect(err))) {
            bool again = c->columns_moved && c->moved_only;

            rechecked = true;
            c->columns_moved = false;
            if (!recheck_columns(r, err, errlen))
                return false;
            if (again) {
                log_info("%s; they still match the sources: applying this batch again", err);
                attempt--;
                err[0] = '\0';
                continue;
            }
        }
        if (!c->unique_mode && unique_violation(err)) {
            log_warn("%s; applying this batch again, settling unique collisions", err);
            c->unique_mode = true;
            attempt--;
            err[0] = '\0';
            continue;
        }
        if (!transient(err) || attempt == 5 || cancel_requested(r->cancel))
            return false;
        {
            /* Bucardo's kid_serial_sleep / kid_deadlock_sleep: the pause
             * before the retry, -1 for none (the cycle fails); a lock
             * timeout waits a little longer at each attempt. */
            double pause = strstr(err, "(SQLSTATE 40001)")   ? r->serial_sleep
                           : strstr(err, "(SQLSTATE 40P01)") ? r->deadlock_sleep
                                                             : 0.2 * attempt;
            struct timespec ts;

            if (pause < 0) {
                log_warn("%s; not retrying this batch (kid_serial_sleep / kid_deadlock_sleep is -1)", err);
                return false;
            }
            log_warn("%s; retrying this batch in %.1f s (attempt %d)", err, pause, attempt + 1);
            ts.tv_sec = (time_t)pause;
            ts.tv_nsec = (long)((pause - (double)ts.tv_sec) * 1e9);
            nanosleep(&ts, NULL);
        }
        err[0] = '\0';
    }
}

/* truncated_anywhere - did a source truncate table t in its window? */
static bool truncated_anywhere(const Cycle *c, int t)
{
    for (int s = 0; s < c->ns; s++)
        if (c->truncated[s * c->nt + t])
            return true;
    return false;
}

/*
 * unit_keys - keys per committed unit of a backlog.  Each unit pays its
 * writers three round trips (the string up to the rows' COPY, the rows
 * and their result, COMMIT) and its source one, whatever its size: at
 * 50 ms a 10,000-key unit spent about half of its 330 ms waiting on the
 * link.  So units are batch_keys on a local link and grow by one
 * batch_keys per UNIT_RTT_STEP of the longest round trip to an online
 * writer (target_rtt), at most batch_grow_max of them; the rows stream
 * through the chunk pool either way, so memory does not grow with them.
 */
#define UNIT_RTT_STEP 0.005

long unit_keys(Cycle *c)
{
    const SyncRunner *r = c->r;
    double rtt = 0;
    long grow;

    if (c->unit > 0 || r->batch_keys <= 0)
        return c->unit;
    for (int w = 0; w < r->nwriters; w++) {
        double one = r->online[w] ? target_rtt(r->writers[w]) : 0;
        if (one > rtt)
            rtt = one;
    }
    grow = (long)(rtt / UNIT_RTT_STEP);
    grow = grow < 1 ? 1 : grow > r->batch_grow_max ? r->batch_grow_max : grow;
    c->unit_rtt = rtt;
    c->unit = r->batch_keys > LONG_MAX / grow ? LONG_MAX : r->batch_keys * grow;
    return c->unit;
}

/*
 * apply_all - the deltas of every table, to every writer that takes them.
 * A cycle of at most one unit's keys (batch_keys; more across a slow link:
 * unit_keys) is one transaction per writer, so a target sees it whole
 * (foreign keys included).  A larger one - a backlog after an outage - is
 * applied in units of that many keys, each committed, so memory, locks and
 * the cost of a retry stay bounded; the cycle's snapshot is recorded only
 * after the last unit, so a crash in between re-applies everything
 * (harmlessly) and loses nothing.
 */
bool apply_all(Cycle *c, long total, char *err, size_t errlen)
{
    long batch = unit_keys(c);
    int n = 0, cap = (c->ns + 1) * c->nt + 1;
    WorkItem *items = xcalloc((size_t)cap, sizeof(WorkItem));
    bool ok = true;

    if (batch <= 0 || total <= batch) {
        for (int t = 0; t < c->nt; t++) {
            if (truncated_anywhere(c, t))
                items[n++] = (WorkItem){-1, t, 0, 0};
            for (int s = 0; s < c->ns; s++)
                items[n++] = (WorkItem){s, t, 0, c->maxn[s * c->nt + t]};
        }
        ok = run_unit(c, items, n, true, err, errlen);
        free(items);
        return ok;
    }
    if (batch > c->r->batch_keys)
        log_info("applying %ld changes in batches of %ld (%ld batch_keys: %.1f ms round trip to a target)",
                 total, batch, batch / c->r->batch_keys, c->unit_rtt * 1000);
    else
        log_info("applying %ld changes in batches of %ld", total, batch);
    ok = run_unit(c, items, 0, true, err, errlen); /* sequences */
    for (int t = 0; ok && t < c->nt; t++) {
        if (truncated_anywhere(c, t)) {
            WorkItem it = {-1, t, 0, 0};
            ok = run_unit(c, &it, 1, false, err, errlen);
        }
        for (int s = 0; ok && s < c->ns; s++) {
            long maxn = c->maxn[s * c->nt + t];
            for (long lo = 0; ok && lo < maxn; lo += batch) {
                WorkItem it = {s, t, lo, lo + batch};
                ok = run_unit(c, &it, 1, false, err, errlen);
            }
        }
    }
    free(items);
    return ok;
}
