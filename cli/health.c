/*
 * cli/health.c - a sync's backlog and lag, read on its sources
 * (health.h has the rule).  One connection per source, one statement per
 * table and snapshot: the sync's own, and that of each member behind.
 * Delta tables have no index (sql/capture.sql: none would help the
 * engine), so each statement reads its delta table once; a sync that is
 * keeping up has small ones.
 */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "syncdef.h"

static const char SQL_PREV[] = "SELECT db, snapshot::text, extract(epoch FROM now() - updated)::float8"
                               "  FROM bucardo.sync_source_state WHERE sync = $1";
static const char SQL_BEHIND[] = "SELECT member, source, snapshot::text,"
                                 "       to_char(since, 'YYYY-MM-DD HH24:MI:SS'), coalesce(reason, 'offline')"
                                 "  FROM bucardo.sync_member_state WHERE sync = $1";
static const char SQL_ROLES[] = "SELECT m.db, m.role FROM bucardo.sync s"
                                "  JOIN bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
                                " WHERE s.name = $1 ORDER BY m.position";

/* pending - keys of table t changed on `conn` and not visible in snapshot
 * snap (NULL: every delta row), and the age of the oldest.  False, err
 * set, on error. */
static bool pending(PGconn *conn, const TableDef *t, const char *snap, long *keys, double *lag, char *err,
                    size_t errlen)
{
    char *delta = capture_object_name("delta", t), *qd = pg_quote_ident(conn, delta);
    StrBuf sql;
    PGresult *res;
    const char *params[1] = {snap};
    bool ok;

    strbuf_init(&sql);
    strbuf_append(&sql, "SELECT count(DISTINCT ");
    strbuf_append(&sql, t->nkeys > 1 ? "(" : "");
    for (int k = 0; k < t->nkeys; k++) {
        char *q = pg_quote_ident(conn, t->keycols[k]);
        strbuf_printf(&sql, "%s%s", k ? ", " : "", q);
        free(q);
    }
    strbuf_append(&sql, t->nkeys > 1 ? ")" : "");
    strbuf_printf(&sql,
                  "), coalesce(extract(epoch FROM now() - min(txntime))::float8, 0) FROM bucardo.%s"
                  " WHERE %s",
                  qd,
                  snap ? "NOT pg_catalog.pg_visible_in_snapshot(txid, $1::pg_catalog.pg_snapshot)" : "true");
    res = PQexecParams(conn, sql.data, snap ? 1 : 0, NULL, params, NULL, NULL, 0);
    ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (ok) {
        *keys = atol(PQgetvalue(res, 0, 0));
        *lag = atof(PQgetvalue(res, 0, 1));
        if (*lag < 0)
            *lag = 0;
    } else {
        const char *msg = PQresultErrorMessage(res);
        snprintf(err, errlen, "%s.%s: %.*s", t->schemaname, t->relname, (int)strcspn(msg, "\n"), msg);
    }
    PQclear(res);
    strbuf_free(&sql);
    free(qd);
    free(delta);
    return ok;
}

static const char *find_value(PGresult *res, int keycol, const char *key, int valcol)
{
    for (int r = 0; res && r < PQntuples(res); r++)
        if (strcmp(PQgetvalue(res, r, keycol), key) == 0)
            return PQgetisnull(res, r, valcol) ? NULL : PQgetvalue(res, r, valcol);
    return NULL;
}

/* Per source: was it read, and what waits there for the sync as a whole. */
typedef struct SourceRead {
    PGconn *conn;
    bool ok;
    long keys;
    double lag;
} SourceRead;

bool health_measure(PGconn *cat, const char *sync, SyncHealth *out)
{
    SyncDef def;
    const char *params[1] = {sync};
    PGresult *prev = NULL, *behind = NULL, *roles = NULL;
    SourceRead *src;
    char err[512];

    memset(out, 0, sizeof(*out));
    switch (syncdef_load(cat, sync, &def)) {
    case LOOKUP_FOUND: break;
    case LOOKUP_ABSENT: fprintf(stderr, "bucardo: no sync named \"%s\"\n", sync); return false;
    case LOOKUP_ERROR: return false;
    }
    prev = pg_query(cat, "catalog", SQL_PREV, 1, params);
    behind = pg_query(cat, "catalog", SQL_BEHIND, 1, params);
    roles = pg_query(cat, "catalog", SQL_ROLES, 1, params);
    if (prev == NULL || behind == NULL || roles == NULL) {
        PQclear(prev);
        PQclear(behind);
        PQclear(roles);
        syncdef_free(&def);
        return false;
    }
    /* An unreachable source must not hold `status` or a monitoring check. */
    setenv("PGCONNECT_TIMEOUT", "5", 0);
    src = xcalloc((size_t)def.nsources + 1, sizeof(SourceRead));
    out->tables = xcalloc((size_t)(def.nsources * def.ntables) + 1, sizeof(TableBacklog));
    for (int s = 0; s < def.nsources; s++) {
        ConnParams cp = dbinfo_params(&def.sources[s]);
        const char *snap = find_value(prev, 0, def.sources[s].name, 1);

        src[s].conn = pg_connect_err(&cp, err, sizeof(err));
        src[s].ok = src[s].conn != NULL;
        if (!src[s].ok) {
            char *line = xasprintf("source %s: %s", def.sources[s].name, err);
            const char *age = find_value(prev, 0, def.sources[s].name, 2);
            strlist_add(&out->errors, line);
            free(line);
            src[s].lag = age ? atof(age) : 0;
            continue;
        }
        for (int t = 0; t < def.ntables; t++) {
            TableBacklog *b;
            long keys = 0;
            double lag = 0;
            if (def.tables[t].nkeys == 0)
                continue;
            if (!pending(src[s].conn, &def.tables[t], snap, &keys, &lag, err, sizeof(err))) {
                char *line = xasprintf("source %s: %s", def.sources[s].name, err);
                strlist_add(&out->errors, line);
                free(line);
                src[s].ok = false;
                continue;
            }
            b = &out->tables[out->ntables++];
            b->table = xasprintf("%s.%s", def.tables[t].schemaname, def.tables[t].relname);
            b->source = xstrdup(def.sources[s].name);
            b->keys = keys;
            b->lag = lag;
            src[s].keys += keys;
            if (lag > src[s].lag)
                src[s].lag = lag;
        }
    }
    for (int s = 0; s < def.nsources; s++) {
        out->keys += src[s].keys;
        if (src[s].lag > out->lag)
            out->lag = src[s].lag;
    }
    out->members = xcalloc((size_t)PQntuples(roles) + 1, sizeof(MemberHealth));
    for (int r = 0; r < PQntuples(roles); r++) {
        MemberHealth *m = &out->members[out->nmembers++];
        const char *name = PQgetvalue(roles, r, 0);
        bool is_behind = false;

        m->name = xstrdup(name);
        m->role = xstrdup(PQgetvalue(roles, r, 1));
        if (strcmp(m->role, "fullcopy") == 0) {
            m->state = xstrdup("fullcopy");
            continue;
        }
        for (int s = 0; s < def.nsources; s++) {
            long keys = 0;
            double lag = 0;
            bool member_behind = false;
            const char *bsnap = NULL;

            if (strcmp(def.sources[s].name, name) == 0)
                continue;
            for (int b = 0; b < PQntuples(behind); b++)
                if (strcmp(PQgetvalue(behind, b, 0), name) == 0 &&
                    strcmp(PQgetvalue(behind, b, 1), def.sources[s].name) == 0) {
                    member_behind = true;
                    bsnap = PQgetisnull(behind, b, 2) ? NULL : PQgetvalue(behind, b, 2);
                    if (m->since == NULL) {
                        m->since = xstrdup(PQgetvalue(behind, b, 3));
                        m->reason = xstrdup(PQgetvalue(behind, b, 4));
                    }
                }
            if (!member_behind) {
                keys = src[s].keys;
                lag = src[s].lag;
            } else if (src[s].ok) {
                is_behind = true;
                for (int t = 0; t < def.ntables; t++) {
                    long k = 0;
                    double l = 0;
                    if (def.tables[t].nkeys == 0)
                        continue;
                    if (pending(src[s].conn, &def.tables[t], bsnap, &k, &l, err, sizeof(err))) {
                        keys += k;
                        if (l > lag)
                            lag = l;
                    }
                }
            } else {
                is_behind = true;
                lag = src[s].lag;
            }
            m->keys += keys;
            if (lag > m->lag)
                m->lag = lag;
        }
        m->state = xstrdup(is_behind ? "behind" : m->keys > 0 ? "pending" : "current");
        if (m->lag > out->lag)
            out->lag = m->lag;
    }
    for (int s = 0; s < def.nsources; s++)
        if (src[s].conn)
            PQfinish(src[s].conn);
    free(src);
    PQclear(prev);
    PQclear(behind);
    PQclear(roles);
    syncdef_free(&def);
    return true;
}

void health_free(SyncHealth *h)
{
    for (int i = 0; i < h->ntables; i++) {
        free(h->tables[i].table);
        free(h->tables[i].source);
    }
    free(h->tables);
    for (int i = 0; i < h->nmembers; i++) {
        free(h->members[i].name);
        free(h->members[i].role);
        free(h->members[i].state);
        free(h->members[i].since);
        free(h->members[i].reason);
    }
    free(h->members);
    strlist_free(&h->errors);
    memset(h, 0, sizeof(*h));
}
