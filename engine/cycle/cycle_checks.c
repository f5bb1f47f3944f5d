/*
 * engine/cycle/cycle_checks.c - before a sync's first cycle, after every reload,
 * and whenever the columns of the replicated tables may have changed (a
 * source's shape moved, a writer's shape at BEGIN moved, or a writer failed
 * with an error such a change causes): do the tables on every receiving
 * database have every source's columns, with the same types?
 *
 * COPY moves rows by column name, so a missing column fails the cycle
 * anyway, but with a message about COPY; checking first names the table,
 * the database and the column.  With strict_checking=0 a type mismatch is
 * only a warning (the DBA accepts implicit conversions); a missing column
 * is always an error, since the rows cannot be applied at all.  A column
 * only the receiving table has is accepted when it can be left out of an
 * INSERT (nullable, or with a default or identity): replicated rows get
 * its default there.  One that is NOT NULL without a default is an error.
 *
 * While the check fails the cycle fails before it reads any change, so
 * the changes stay queued on the sources and arrive once the columns
 * match again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "runner_internal.h"

/* Is the table partitioned (see SyncRunner.wpart)? */
static const char SQL_TABLE_PARTITIONED[] =
    "SELECT c.relkind = 'p' FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass";
static const char SQL_TABLE_COLUMNS[] =
    "SELECT attname, pg_catalog.format_type(atttypid, atttypmod),"
    "       attnotnull AND NOT atthasdef AND attidentity = ''"
    "  FROM pg_catalog.pg_attribute"
    " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
    " ORDER BY attname";

/* find_column - the row of column `col` in a SQL_TABLE_COLUMNS result, or -1. */
static int find_column(const PGresult *res, const char *col)
{
    for (int j = 0; j < PQntuples(res); j++)
        if (strcmp(PQgetvalue(res, j, 0), col) == 0)
            return j;
    return -1;
}

/* compare_table - the columns of source srcdb (src) against those of db (dst). */
static bool compare_table(const SyncRunner *r, const char *table, bool strict, const char *srcdb,
                          const char *db, PGresult *src, PGresult *dst, char *err, size_t errlen)
{
    for (int i = 0; i < PQntuples(src); i++) {
        const char *col = PQgetvalue(src, i, 0), *type = PQgetvalue(src, i, 1);
        int found = find_column(dst, col);

        if (found < 0) {
            snprintf(err, errlen, "sync %s: table %s on database %s has no column \"%s\" (source %s has it)",
                     r->def.name, table, db, col, srcdb);
            return false;
        }
        if (strcmp(PQgetvalue(dst, found, 1), type) != 0) {
            if (strict) {
                snprintf(err, errlen,
                         "sync %s: table %s column \"%s\" is %s on database %s but %s on the source %s "
                         "(strict_checking is on)",
                         r->def.name, table, col, PQgetvalue(dst, found, 1), db, type, srcdb);
                return false;
            }
            log_warn("table %s column \"%s\" is %s on database %s but %s on the source %s", table, col,
                     PQgetvalue(dst, found, 1), db, type, srcdb);
        }
    }
    for (int j = 0; j < PQntuples(dst); j++)
        if (strcmp(PQgetvalue(dst, j, 2), "t") == 0 && find_column(src, PQgetvalue(dst, j, 0)) < 0) {
            snprintf(err, errlen,
                     "sync %s: table %s on database %s has column \"%s\", NOT NULL without a default,"
                     " which source %s does not have",
                     r->def.name, table, db, PQgetvalue(dst, j, 0), srcdb);
            return false;
        }
    return true;
}

/* usable_source - source s is connected and planned in this cycle. */
static bool usable_source(const SyncRunner *r, int s)
{
    return r->src[s].conn && r->src[s].plans && !r->src[s].offline;
}

/* first_source - the first source usable in this cycle, or -1. */
static int first_source(const SyncRunner *r)
{
    for (int s = 0; s < r->def.nsources; s++)
        if (usable_source(r, s))
            return s;
    return -1;
}

/*
 * writer_shape_sql - the shape (shape_expr) of writer w's tables, quoted
 * through source s's connection; also handed to the writer, which reads it
 * with every BEGIN (target_writer.c) at no round trip of its own.
 */
static char *writer_shape_sql(SyncRunner *r, int s, int w)
{
    char **names = xcalloc((size_t)r->def.ntables + 1, sizeof(char *));
    StrBuf sql;

    for (int t = 0; t < r->def.ntables; t++)
        names[t] = r->src[s].plans[t].wtable[w];
    strbuf_init(&sql);
    shape_expr(&sql, r->src[s].conn, names, r->def.ntables);
    free(names);
    target_set_shape_query(r->writers[w], sql.data);
    return sql.data;
}

/* A table to check: source s's table t against writer w's (on dst). */
typedef struct {
    int s, t;
    int part, dcols, scols; /* indexes into the pipelined results (scols: on source s; -1: none) */
} TableCheck;

/* check_table - one check, on the results of its statements. */
static bool check_table(SyncRunner *r, int w, const TableCheck *k, PGresult **dres, PGresult **sres,
                        char *err, size_t errlen)
{
    const DbInfo *db = writer_dbinfo(r, w);
    const TablePlan *p = &r->src[k->s].plans[k->t];
    PGresult *b = dres[k->part];

    /* Whether the writer's table is partitioned decides ONLY in its
     * deletes and copies (writer_only, runner_internal.h). */
    if (PQresultStatus(b) != PGRES_TUPLES_OK || PQntuples(b) != 1) {
        snprintf(err, errlen, "sync %s: table %s is missing on database %s: %s", r->def.name, p->display,
                 db->name, b ? PQresultErrorMessage(b) : "no connection");
        return false;
    }
    r->wpart[w * r->def.ntables + k->t] = strcmp(PQgetvalue(b, 0, 0), "t") == 0;
    b = dres[k->dcols];
    if (p->wselect[w] != NULL) {
        /* customcols: the target needs the columns it is sent. */
        if (PQresultStatus(b) == PGRES_TUPLES_OK)
            return true;
        snprintf(err, errlen, "sync %s: table %s on database %s cannot take its customcols: %s", r->def.name,
                 p->display, db->name, b ? PQresultErrorMessage(b) : "no connection");
        return false;
    }
    PGresult *a = sres[k->scols];
    if (PQresultStatus(a) != PGRES_TUPLES_OK)
        snprintf(err, errlen, "source %s: table %s: %s", r->def.sources[k->s].name, p->display,
                 a ? PQresultErrorMessage(a) : "no connection");
    else if (PQresultStatus(b) != PGRES_TUPLES_OK)
        snprintf(err, errlen, "sync %s: table %s is missing on database %s: %s", r->def.name, p->display,
                 db->name, b ? PQresultErrorMessage(b) : "no connection");
    else
        return compare_table(r, p->display, r->def.tables[p->index].strict_checking,
                             r->def.sources[k->s].name, db->name, a, b, err, errlen);
    return false;
}

/*
 * check_writer - every source's tables against writer w's (on dst): the
 * statements on dst (the shape of its tables first, for r->wshape[w]) go
 * out in one pipeline, and those on each source in one of their own, all
 * sent before any answer is read, so the check costs one round trip in
 * all, not two per table.
 */
static bool check_writer(SyncRunner *r, int w, PGconn *dst, char *err, size_t errlen)
{
    int nt = r->def.ntables, ns = r->def.nsources, nk = 0, nd = 1;
    TableCheck *checks = xcalloc((size_t)(ns * nt) + 1, sizeof(TableCheck));
    char **dsql = xcalloc((size_t)(2 * ns * nt) + 2, sizeof(char *));
    char **dpar = xcalloc((size_t)(2 * ns * nt) + 2, sizeof(char *));
    PGresult **dres = xcalloc((size_t)(2 * ns * nt) + 2, sizeof(PGresult *));
    char ***ssql = xcalloc((size_t)ns, sizeof(char **)), ***spar = xcalloc((size_t)ns, sizeof(char **));
    PGresult ***sres = xcalloc((size_t)ns, sizeof(PGresult **));
    int *nsq = xcalloc((size_t)ns, sizeof(int));
    bool ok = true;
    char *shape_sql = writer_shape_sql(r, first_source(r), w);

    /* The shape first: a change after it shows at the writer's next
     * BEGIN, and the columns are checked again then. */
    dsql[0] = xasprintf("SELECT %s", shape_sql);
    free(shape_sql);
    for (int s = 0; s < ns; s++) {
        if (!usable_source(r, s) || (ns > 1 && w == source_writer(r, s)))
            continue;
        ssql[s] = xcalloc((size_t)nt + 1, sizeof(char *));
        spar[s] = xcalloc((size_t)nt + 1, sizeof(char *));
        sres[s] = xcalloc((size_t)nt + 1, sizeof(PGresult *));
        for (int t = 0; t < nt; t++) {
            const TablePlan *p = &r->src[s].plans[t];
            TableCheck *k = &checks[nk++];

            k->s = s;
            k->t = t;
            k->part = nd;
            dsql[nd] = xstrdup(SQL_TABLE_PARTITIONED);
            dpar[nd++] = p->wtable[w];
            k->dcols = nd;
            k->scols = -1;
            if (p->wselect[w] != NULL) {
                dsql[nd] = xasprintf("SELECT %s FROM %s LIMIT 0", p->wcolumns[w], p->wtable[w]);
                dpar[nd++] = NULL;
            } else {
                dsql[nd] = xstrdup(SQL_TABLE_COLUMNS);
                dpar[nd++] = p->wtable[w];
                k->scols = nsq[s];
                ssql[s][nsq[s]] = xstrdup(SQL_TABLE_COLUMNS);
                spar[s][nsq[s]++] = p->qualified;
            }
        }
    }
    pg_pipeline_send(dst, nd, dsql, dpar, dres);
    for (int s = 0; s < ns; s++)
        if (nsq[s] > 0) {
            (void)src_idle(r, s); /* a failure there fails these too */
            pg_pipeline_send(r->src[s].conn, nsq[s], ssql[s], spar[s], sres[s]);
        }
    pg_pipeline_recv(dst, nd, dres);
    for (int s = 0; s < ns; s++)
        if (nsq[s] > 0)
            pg_pipeline_recv(r->src[s].conn, nsq[s], sres[s]);
    free(r->wshape[w]);
    r->wshape[w] = PQresultStatus(dres[0]) == PGRES_TUPLES_OK ? xstrdup(PQgetvalue(dres[0], 0, 0)) : NULL;
    for (int i = 0; ok && i < nk; i++)
        ok = check_table(r, w, &checks[i], dres, sres[checks[i].s], err, errlen);
    for (int i = 0; i < nd; i++) {
        PQclear(dres[i]);
        free(dsql[i]);
    }
    for (int s = 0; s < ns; s++) {
        for (int i = 0; i < nsq[s]; i++) {
            PQclear(sres[s][i]);
            free(ssql[s][i]);
        }
        free(ssql[s]);
        free(spar[s]);
        free(sres[s]);
    }
    free(checks);
    free(dsql);
    free(dpar);
    free(dres);
    free(ssql);
    free(spar);
    free(sres);
    free(nsq);
    return ok;
}

/*
 * check_other - writer w, a target of another kind than PostgreSQL: every
 * table there with the columns it receives, of types that can hold the
 * source's (target_check_table).  customcols are checked by name only.
 */
static bool check_other(SyncRunner *r, int s, int w, char *err, size_t errlen)
{
    TargetConfig tc = runner_target_config(r);

    for (int t = 0; t < r->def.ntables; t++) {
        const TablePlan *p = &r->src[s].plans[t];
        StrList types = {0};
        bool ok;

        if (p->wselect[w] == NULL)
            strlist_add_split(&types, p->coltypes, '\037');
        ok = target_check_table(writer_dbinfo(r, w), &tc, p->wrows[w], p->wselect[w] ? NULL : &types, err,
                                errlen);
        strlist_free(&types);
        if (!ok) {
            char detail[1024];
            snprintf(detail, sizeof(detail), "%s", err);
            snprintf(err, errlen, "sync %s: %s", r->def.name, detail);
            return false;
        }
    }
    return true;
}

bool check_columns(SyncRunner *r, char *err, size_t errlen)
{
    bool ok = true, all = true;
    int first = first_source(r);

    if (r->checked)
        return true;
    if (first < 0)
        return true; /* no source in this cycle: nothing is sent */
    for (int w = 0; ok && w < r->nwriters; w++) {
        const DbInfo *db = writer_dbinfo(r, w);
        ConnParams cp;
        char reason[512];
        PGconn *dst;

        if (r->wchecked[w])
            continue;
        if (!r->online[w]) {
            all = false; /* checked when it is back */
            continue;
        }
        if (!writer_is_pg(r, w)) {
            ok = r->wchecked[w] = check_other(r, first, w, err, errlen);
            continue;
        }
        cp = dbinfo_params(db);
        dst = budget_connect(r->budget, &cp, db->name, reason, sizeof(reason));
        if (dst == NULL) {
            snprintf(err, errlen, "target %s: cannot connect: %s", db->name, reason);
            return false;
        }
        ok = check_writer(r, w, dst, err, errlen);
        PQfinish(dst);
        r->wchecked[w] = ok;
    }
    for (size_t n = strlen(err); n > 0 && err[n - 1] == '\n'; n--)
        err[n - 1] = '\0';
    r->checked = ok && all;
    return ok;
}

bool columns_suspect(const char *err)
{
    /* undefined column / table, datatype mismatch, invalid binary or text
     * representation, not null violation, value too long / out of range,
     * and the protocol violation a binary COPY into a wider type raises */
    static const char *const states[] = {"42703", "42P01", "42804", "22P03", "22P02",
                                         "23502", "22001", "22003", "08P01"};

    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        char tag[32];
        snprintf(tag, sizeof(tag), "(SQLSTATE %s)", states[i]);
        if (strstr(err, tag))
            return true;
    }
    return false;
}

bool recheck_columns(SyncRunner *r, char *err, size_t errlen)
{
    char check[2048] = "";

    r->checked = false;
    for (int w = 0; w < r->nwriters; w++)
        r->wchecked[w] = false;
    if (check_columns(r, check, sizeof(check)))
        return true;
    snprintf(err, errlen, "%s", check);
    return false;
}

bool runner_validate(SyncRunner *r, char *err, size_t errlen)
{
    err[0] = '\0';
    r->checked = false;
    for (int w = 0; w < r->nwriters; w++)
        r->wchecked[w] = false;
    return runner_ensure_source(r, 0, NULL, err, errlen) && check_columns(r, err, errlen);
}
