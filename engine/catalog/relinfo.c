/*
 * engine/catalog/relinfo.c - find the tables of a database and the key each is
 * replicated by, in one catalog query.
 *
 * Choice of key: the primary key; failing that, the unique index with the
 * fewest key columns whose columns are all NOT NULL, that is valid,
 * immediate, and has neither a predicate nor expressions (any other unique
 * index cannot identify a row).  INCLUDE columns are not part of the key.
 */
#include "relinfo.h"

#include <stdlib.h>
#include <string.h>

static const char SQL_TABLES[] =
    "SELECT n.nspname, c.relname, k.cols, k.types, coalesce(cardinality(k.cols), 0)"
    "  FROM pg_catalog.pg_class c"
    "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    "  LEFT JOIN LATERAL ("
    "       SELECT array_agg(a.attname::text ORDER BY x.ord) AS cols,"
    "              array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY x.ord) AS types"
    "         FROM (SELECT i.indkey, i.indnkeyatts"
    "                 FROM pg_catalog.pg_index i"
    "                WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid"
    "                  AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL"
    /* Only the key columns must be NOT NULL: indkey also lists the
     * INCLUDE columns, which come after the first indnkeyatts. */
    "                  AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS nk(attnum, "
    "ord)"
    "                                    JOIN pg_catalog.pg_attribute na"
    "                                      ON na.attrelid = c.oid AND na.attnum = nk.attnum"
    "                                   WHERE nk.ord <= i.indnkeyatts AND NOT na.attnotnull)"
    "                ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid"
    "                LIMIT 1) best"
    "        CROSS JOIN LATERAL unnest(best.indkey::int2[]) WITH ORDINALITY AS x(attnum, ord)"
    "         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.attnum"
    "        WHERE x.ord <= best.indnkeyatts) k ON true"
    " WHERE c.relkind = ANY ($1::\"char\"[]) AND NOT c.relispartition"
    "   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'bucardo')"
    "   AND n.nspname !~ '^pg_(toast|temp_)'"
    " ORDER BY n.nspname, c.relname";

bool relinfo_list(PGconn *conn, const char *who, bool sequences, RelInfoList *out)
{
    const char *params[1] = {sequences ? "{S}" : "{r,p}"};
    PGresult *res = pg_query(conn, who, SQL_TABLES, 1, params);
    int n;

    out->items = NULL;
    out->count = 0;
    if (res == NULL)
        return false;
    n = PQntuples(res);
    out->items = xcalloc((size_t)n, sizeof(RelInfo));
    for (int i = 0; i < n; i++) {
        RelInfo *r = &out->items[i];
        long nkeys = 0;

        r->schemaname = xstrdup(PQgetvalue(res, i, 0));
        r->relname = xstrdup(PQgetvalue(res, i, 1));
        if (!parse_int(PQgetvalue(res, i, 4), 0, 32, &nkeys))
            nkeys = 0;
        r->nkeys = (int)nkeys;
        r->keycols = nkeys ? xstrdup(PQgetvalue(res, i, 2)) : NULL;
        r->keytypes = nkeys ? xstrdup(PQgetvalue(res, i, 3)) : NULL;
    }
    out->count = n;
    PQclear(res);
    return true;
}

void relinfo_list_free(RelInfoList *list)
{
    for (int i = 0; i < list->count; i++) {
        free(list->items[i].schemaname);
        free(list->items[i].relname);
        free(list->items[i].keycols);
        free(list->items[i].keytypes);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}
