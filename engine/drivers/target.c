/*
 * engine/drivers/target.c - the Target handle the sync cycle holds for each
 * receiving database (include/target_driver.h): it picks the TargetClass by
 * the database's kind and forwards every call to it, so the cycle never
 * names a kind.  Also the kinds `add db type=` accepts, and the TableSpec
 * encoding that carries a table operation in a message to a
 * non-PostgreSQL target.
 */
#include "target_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct Target {
    const TargetClass *cls;
    void *impl;
    char *name;
};

bool target_kind_is_pg(const char *type)
{
    return type == NULL || strcmp(type, "postgres") == 0;
}

bool target_kind_is_flat(const char *type)
{
    return type && (strcmp(type, "flatpg") == 0 || strcmp(type, "flatsql") == 0);
}

bool target_kind_check(const char *type, char *why, size_t whylen)
{
    static const char *const ok[] = {"postgres", "mysql",  "mariadb", "sqlite",
                                     "redis",    "flatpg", "flatsql", "firebird"};
    static const char *const untested[] = {"mongo", "oracle", "drizzle"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(type, ok[i]) == 0)
            return true;
    if (strcmp(type, "maria") == 0) /* Bucardo's manual spells it so */
        return true;
    for (size_t i = 0; i < sizeof(untested) / sizeof(untested[0]); i++)
        if (strcmp(type, untested[i]) == 0) {
            snprintf(why, whylen,
                     "database type \"%s\" is not supported: Debian has no %s server to test a driver"
                     " against (README: Targets other than PostgreSQL)",
                     type, type);
            return false;
        }
    snprintf(why, whylen,
             "unknown database type \"%s\": expected postgres, mysql, mariadb, sqlite, redis, flatpg, "
             "flatsql or firebird",
             type);
    return false;
}

Target *target_start(const DbInfo *db, const TargetConfig *cfg)
{
    Target *t = xcalloc(1, sizeof(Target));

    t->cls = target_kind_is_pg(db->dbtype) ? &TARGET_CLASS_PG : &TARGET_CLASS_ROWS;
    t->name = xstrdup(db->name);
    t->impl = t->cls->start(db, cfg);
    return t;
}

void target_send(Target *t, Msg *msg)
{
    t->cls->send(t->impl, msg);
}

void target_send_new(Target *t, MsgType type, const char *sql)
{
    t->cls->send(t->impl, msg_new(type, sql, NULL));
}

bool target_wait(Target *t, char *err, size_t errlen)
{
    return t->cls->wait(t->impl, err, errlen);
}

void target_counts(Target *t, long *deleted, long *inserted)
{
    t->cls->counts(t->impl, deleted, inserted);
}

char *target_take_rows(Target *t)
{
    return t->cls->take_rows(t->impl);
}

const char *target_db_name(const Target *t)
{
    return t->name;
}

void target_set_shape_query(Target *t, const char *expr)
{
    t->cls->set_shape_query(t->impl, expr);
}

char *target_shape(Target *t)
{
    return t->cls->shape(t->impl);
}

double target_rtt(Target *t)
{
    return t->cls->rtt ? t->cls->rtt(t->impl) : 0;
}

bool target_speaks_pg(const Target *t)
{
    return t->cls->speaks_pg;
}

void target_stop(Target *t)
{
    if (t == NULL)
        return;
    t->cls->stop(t->impl);
    free(t->name);
    free(t);
}

/*
 * The encoding: "\001" op, then fields separated by "\037" (unit
 * separator): schema, table, nkeys, keys..., ncols, cols...  Identifiers
 * holding \001 or \037 are refused by target_spec_decode's caller never
 * seeing them: PostgreSQL names cannot contain them in practice, and a
 * spec that does not parse fails the operation with a message.
 */
char *target_spec_encode(const TableSpec *spec)
{
    StrBuf b;

    strbuf_init(&b);
    strbuf_printf(&b, "\001%c\037%s\037%s\037%d", spec->op, spec->schema ? spec->schema : "", spec->table,
                  spec->nkeys);
    for (int i = 0; i < spec->nkeys; i++)
        strbuf_printf(&b, "\037%s", spec->keys[i]);
    strbuf_printf(&b, "\037%d", spec->ncols);
    for (int i = 0; i < spec->ncols; i++)
        strbuf_printf(&b, "\037%s", spec->cols[i]);
    return b.data;
}

/* split - s at every sep, empty pieces kept. */
static void split(StrList *l, const char *s, char sep)
{
    for (;;) {
        const char *end = strchr(s, sep);
        size_t n = end ? (size_t)(end - s) : strlen(s);
        char *piece = xmalloc(n + 1);

        memcpy(piece, s, n);
        piece[n] = '\0';
        strlist_add(l, piece);
        free(piece);
        if (end == NULL)
            break;
        s = end + 1;
    }
}

bool target_spec_decode(const char *s, TableSpec *spec)
{
    StrList f = {0};
    int i = 3;
    bool ok = false;

    memset(spec, 0, sizeof(*spec));
    if (s == NULL || s[0] != '\001' || s[1] == '\0')
        return false;
    spec->op = s[1];
    split(&f, s + 2, '\037');
    /* f.items[0] is "" (the string starts with a separator). */
    if (f.count < 5)
        goto out;
    spec->schema = xstrdup(f.items[1]);
    spec->table = xstrdup(f.items[2]);
    spec->nkeys = atoi(f.items[i++]);
    if (spec->nkeys < 0 || i + spec->nkeys >= f.count)
        goto out;
    spec->keys = xcalloc((size_t)spec->nkeys + 1, sizeof(char *));
    for (int k = 0; k < spec->nkeys; k++)
        spec->keys[k] = xstrdup(f.items[i++]);
    spec->ncols = atoi(f.items[i++]);
    if (spec->ncols < 0 || i + spec->ncols != f.count)
        goto out;
    spec->cols = xcalloc((size_t)spec->ncols + 1, sizeof(char *));
    for (int c = 0; c < spec->ncols; c++)
        spec->cols[c] = xstrdup(f.items[i++]);
    ok = true;
out:
    strlist_free(&f);
    if (!ok)
        target_spec_free(spec);
    return ok;
}

void target_spec_free(TableSpec *spec)
{
    free(spec->schema);
    free(spec->table);
    for (int i = 0; spec->keys && i < spec->nkeys; i++)
        free(spec->keys[i]);
    free(spec->keys);
    for (int i = 0; spec->cols && i < spec->ncols; i++)
        free(spec->cols[i]);
    free(spec->cols);
    memset(spec, 0, sizeof(*spec));
}

void target_put_ident(StrBuf *b, const char *name, char quote)
{
    strbuf_append_len(b, &quote, 1);
    for (; *name; name++) {
        if (*name == quote)
            strbuf_append_len(b, &quote, 1);
        strbuf_append_len(b, name, 1);
    }
    strbuf_append_len(b, &quote, 1);
}

char *target_select_sql(const TableSpec *spec, char quote, const char *const *wrap)
{
    StrBuf sql;

    strbuf_init(&sql);
    strbuf_append(&sql, "SELECT ");
    for (int i = 0; i < spec->ncols; i++) {
        const char *fn = wrap ? wrap[i] : NULL;
        strbuf_append(&sql, i ? ", " : "");
        if (fn)
            strbuf_printf(&sql, "%s(", fn);
        target_put_ident(&sql, spec->cols[i], quote);
        strbuf_append(&sql, fn ? ")" : "");
    }
    strbuf_append(&sql, " FROM ");
    target_put_ident(&sql, spec->table, quote);
    strbuf_append(&sql, " ORDER BY ");
    for (int k = 0; k < spec->nkeys; k++) {
        strbuf_append(&sql, k ? ", " : "");
        target_put_ident(&sql, spec->keys[k], quote);
    }
    return sql.data;
}

/* target_time_utc - MariaDB and Firebird keep a time without its zone:
 * both store timestamptz as UTC. */
bool target_time_utc(const char *v, char *out, size_t outlen)
{
    size_t n = strlen(v);
    const char *off = NULL;
    struct tm tm = {0};
    int oh = 0, om = 0, os = 0, sign;
    char frac[16] = "";
    time_t t;

    /* The offset follows the time: the last '+' or '-' after position 10. */
    for (size_t i = n; i > 10; i--)
        if (v[i - 1] == '+' || v[i - 1] == '-') {
            off = v + i - 1;
            break;
        }
    if (off == NULL) {
        snprintf(out, outlen, "%s", v);
        return true;
    }
    if (sscanf(v, "%4d-%2d-%2d %2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec) != 6)
        return false;
    {
        const char *dot = strchr(v, '.');
        if (dot && dot < off)
            snprintf(frac, sizeof(frac), "%.*s", (int)(off - dot), dot);
    }
    sign = *off == '-' ? -1 : 1;
    if (sscanf(off + 1, "%2d:%2d:%2d", &oh, &om, &os) < 1)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm) - sign * (oh * 3600 + om * 60 + os);
    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%04d-%02d-%02d %02d:%02d:%02d%s", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return true;
}

void target_trim_frac(char *s)
{
    char *dot = strchr(s, '.'), *end;

    if (dot == NULL)
        return;
    end = s + strlen(s);
    while (end > dot + 1 && end[-1] == '0')
        *--end = '\0';
    if (end == dot + 1)
        *dot = '\0';
}
