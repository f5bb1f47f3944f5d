/*
 * engine/cycle/cycle_hooks.c - the cycle's side of customcode: what each
 * hook point tells the codes, and what their answers do to the cycle
 * (engine/hooks/hooks.c runs them; README.md, "Customcode", has the map of
 * Bucardo's hook points onto this cycle).
 *
 *  - cycle_hook_run: the hooks of the cycle as a whole (before_sync ...
 *    after_sync) and after_table_sync; an endsync answer sets c->endsync
 *    (sync_cycle.c then ends the cycle unrecorded: its changes stay queued).
 *  - exception_prepare / exception_run: a unit that failed on a writer is
 *    rolled back (run_unit); when the failing table has exception codes,
 *    the next attempt first runs them - a SQL code in the failing writer's
 *    new transaction, so its repair and the retried apply commit together
 *    or not at all - and goes on when one asked to retry, or to skip the
 *    failing batch's keys (deleted from the sources' key tables for this
 *    cycle, logged and counted in the run's warning).
 *  - conflict_hook: one call per table per cycle with every conflicting key
 *    and each source's version of its row; the answer names winners per
 *    key (or a table-wide order of databases), and keys left undecided go
 *    to the sync's strategy (bucardo_custom: the latest change).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conflict.h"
#include "cycle_internal.h"
#include "keyset.h"
#include "log.h"

/* At most this many keys of a failing batch are shown to exception codes. */
#define EXCEPTION_KEYS_MAX 10000
/* An exception is handed to the codes at most this often per unit. */
#define EXCEPTION_ATTEMPTS 3

bool cycle_hooks_load(SyncRunner *r, char *err, size_t errlen)
{
    bool ok = true;

    if (r->hooks_loaded)
        return true;
    r->hooks = hooks_load(r->cat, &r->def, r->budget, r->cancel, &ok, err, errlen);
    r->hooks_loaded = ok;
    return ok;
}

static char *table_name(const SyncRunner *r, int t)
{
    return xasprintf("%s.%s", r->def.tables[t].schemaname, r->def.tables[t].relname);
}

static json_object *rellist(const SyncRunner *r)
{
    json_object *list = json_object_new_array();

    for (int t = 0; t < r->def.ntables; t++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "schemaname", json_object_new_string(r->def.tables[t].schemaname));
        json_object_object_add(o, "tablename", json_object_new_string(r->def.tables[t].relname));
        json_object_array_add(list, o);
    }
    return list;
}

/* default_db - where a SQL code without db= runs: the first online source. */
static const char *default_db(const Cycle *c)
{
    for (int s = 0; c->src_on && s < c->ns; s++)
        if (c->src_on[s])
            return c->r->def.sources[s].name;
    return c->r->def.sources[0].name;
}

bool cycle_hook_run(Cycle *c, HookPoint p, int t, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    char *table = t >= 0 ? table_name(r, t) : NULL;
    json_object *info;
    HookCall call = {.point = p, .table = table, .default_db = default_db(c)};
    HookOutcome out;
    bool ok;

    if (!hooks_has(r->hooks, p, table)) {
        free(table);
        return true;
    }
    info = json_object_new_object();
    json_object_object_add(info, "rellist", rellist(r));
    if (c->nkeys && p != HOOK_BEFORE_SYNC && p != HOOK_BEFORE_TXN && p != HOOK_BEFORE_CHECK_ROWS) {
        json_object *deltas = json_object_new_object();
        long rows = 0;
        for (int tt = 0; tt < c->nt; tt++) {
            long n = 0;
            char *name = table_name(r, tt);
            for (int s = 0; s < c->ns; s++)
                n += c->nkeys[s * c->nt + tt];
            json_object_object_add(deltas, name, json_object_new_int64(n));
            free(name);
            rows += n;
        }
        json_object_object_add(info, "deltas", deltas);
        json_object_object_add(info, "rows", json_object_new_int64(rows));
    }
    if (t >= 0) {
        json_object_object_add(info, "schemaname", json_object_new_string(r->def.tables[t].schemaname));
        json_object_object_add(info, "tablename", json_object_new_string(r->def.tables[t].relname));
    }
    call.info = info;
    ok = hooks_run(r->hooks, &call, &out, err, errlen);
    json_object_put(info);
    free(table);
    if (out.warnings.len)
        strbuf_printf(&c->hook_warn, "%s%s", c->hook_warn.len ? "; " : "", out.warnings.data);
    strbuf_free(&out.warnings);
    if (ok && out.endsync) {
        if (p == HOOK_AFTER_SYNC)
            log_warn("sync %s: endsync from an after_sync customcode comes too late: the cycle is recorded",
                     r->def.name);
        else
            c->endsync = true;
    }
    return ok;
}

/* ---- exception codes ---- */

/* failing_writer - the writer err ("target NAME: ...") comes from, or -1. */
static int failing_writer(const Cycle *c, const char *err)
{
    int best = -1;
    size_t best_len = 0;

    for (int w = 0; w < c->nw; w++) {
        const char *name = writer_dbinfo(c->r, w)->name;
        size_t n = strlen(name);
        if (strncmp(err, "target ", 7) == 0 && strncmp(err + 7, name, n) == 0 &&
            strncmp(err + 7 + n, ": ", 2) == 0 && n > best_len) {
            best = w;
            best_len = n;
        }
    }
    return best;
}

/* failing_table - the table of the unit's items err names (a COPY's
 * context "COPY name,", or the writer's quoted name of it in a
 * statement); the only table with keys when just one has; else -1. */
static int failing_table(const Cycle *c, const WorkItem *items, int n, int w, const char *err)
{
    int only = -1, count = 0;

    for (int i = 0; i < n; i++) {
        int t = items[i].t;
        const TablePlan *p;
        char *copy;
        bool named;
        if (items[i].s < 0 || !c->src_on[items[i].s] || c->nkeys[items[i].s * c->nt + t] == 0)
            continue;
        p = &c->r->src[items[i].s].plans[t];
        copy = xasprintf("COPY %s,", c->r->def.tables[t].relname);
        named = strstr(err, copy) || (p->wtable && p->wtable[w] && strstr(err, p->wtable[w]));
        free(copy);
        if (named)
            return t;
        if (only != t) {
            only = t;
            count++;
        }
    }
    return count == 1 ? only : -1;
}

bool exception_prepare(Cycle *c, const WorkItem *items, int n, const char *err)
{
    int w, t;
    const char *state;
    char *table;
    bool has;

    if (c->r->hooks == NULL || !hooks_has(c->r->hooks, HOOK_EXCEPTION, NULL))
        return false;
    if (c->exc.attempts >= EXCEPTION_ATTEMPTS || (w = failing_writer(c, err)) < 0 ||
        (t = failing_table(c, items, n, w, err)) < 0)
        return false;
    table = table_name(c->r, t);
    has = hooks_has(c->r->hooks, HOOK_EXCEPTION, table);
    free(table);
    if (!has)
        return false;
    free(c->exc.error);
    free(c->exc.sqlstate);
    c->exc.error = xstrdup(err);
    state = strstr(err, "(SQLSTATE ");
    c->exc.sqlstate = state ? xasprintf("%.5s", state + 10) : NULL;
    c->exc.w = w;
    c->exc.t = t;
    c->exc.lo = 0;
    c->exc.hi = -1; /* every key of the table in the unit */
    for (int i = 0; i < n; i++)
        if (items[i].t == t && items[i].s >= 0) {
            c->exc.lo = items[i].lo;
            c->exc.hi = items[i].hi;
        }
    c->exc.pending = true;
    return true;
}

/* batch_keys - per source, the keys of the failing batch as JSON objects,
 * and (into rows) the source's current row of each (null: deleted). */
static json_object *batch_keys(Cycle *c, json_object *rows, char *err, size_t errlen, bool *ok)
{
    json_object *keys = json_object_new_object();
    int t = c->exc.t;

    *ok = true;
    for (int s = 0; *ok && s < c->ns; s++) {
        TablePlan *p;
        PGresult *res;
        char *sql;
        json_object *list;
        if (!c->src_on[s] || c->nkeys[s * c->nt + t] == 0)
            continue;
        p = &c->r->src[s].plans[t];
        sql = xasprintf(
            "SELECT row_to_json(k)::text, to_jsonb(t)::text FROM (SELECT %s FROM pg_temp.bucardo_k%d"
            " WHERE bucardo_n > %ld AND (%ld < 0 OR bucardo_n <= %ld) ORDER BY bucardo_n LIMIT %d) k"
            " LEFT JOIN %s t ON %s",
            p->keycols, t, c->exc.lo, c->exc.hi, c->exc.hi, EXCEPTION_KEYS_MAX, p->from, p->keyjoin);
        res = src_query(c->r, s, p->display, sql, PGRES_TUPLES_OK, err, errlen);
        free(sql);
        if (res == NULL) {
            *ok = false;
            break;
        }
        list = json_object_new_array();
        {
            json_object *rl = json_object_new_array();
            for (int i = 0; i < PQntuples(res); i++) {
                json_object_array_add(list, json_tokener_parse(PQgetvalue(res, i, 0)));
                json_object_array_add(rl, PQgetisnull(res, i, 1) ? NULL
                                                                 : json_tokener_parse(PQgetvalue(res, i, 1)));
            }
            json_object_object_add(rows, c->r->def.sources[s].name, rl);
        }
        json_object_object_add(keys, c->r->def.sources[s].name, list);
        PQclear(res);
    }
    return keys;
}

/* skip_batch - the failing batch's keys leave the sources' key tables. */
static bool skip_batch(Cycle *c, const char *codes, char *err, size_t errlen)
{
    int t = c->exc.t;
    long total = 0;
    char *table = table_name(c->r, t);

    for (int s = 0; s < c->ns; s++) {
        TablePlan *p;
        PGresult *res;
        char *sql;
        long n;
        if (!c->src_on[s] || c->nkeys[s * c->nt + t] == 0)
            continue;
        p = &c->r->src[s].plans[t];
        sql = xasprintf(
            "DELETE FROM pg_temp.bucardo_k%d WHERE bucardo_n > %ld AND (%ld < 0 OR bucardo_n <= %ld)", t,
            c->exc.lo, c->exc.hi, c->exc.hi);
        res = src_query(c->r, s, p->display, sql, PGRES_COMMAND_OK, err, errlen);
        free(sql);
        if (res == NULL) {
            free(table);
            return false;
        }
        n = atol(PQcmdTuples(res));
        PQclear(res);
        c->nkeys[s * c->nt + t] -= n;
        total += n;
    }
    log_warn(
        "sync %s: table %s: exception customcode %s skipped %ld key(s) of the failing batch (%s); they are "
        "not replicated",
        c->r->def.name, table, codes, total, c->exc.error);
    strbuf_printf(&c->hook_warn, "%s%ld key(s) of table %s skipped by exception customcode %s",
                  c->hook_warn.len ? "; " : "", total, table, codes);
    free(table);
    return true;
}

/* The in_txn of exception codes: a statement in the failing writer's transaction. */
typedef struct ExcTxn {
    Cycle *c;
    StrBuf codes; /* the codes that answered, for messages */
} ExcTxn;

static bool exc_in_txn(void *arg, const char *sql, char **answer, char *err, size_t errlen)
{
    ExcTxn *x = arg;
    Target *w = x->c->r->writers[x->c->exc.w];
    char *rows;

    if (!target_speaks_pg(w)) {
        /* Only a PostgreSQL target has a transaction a SQL code can join. */
        snprintf(err, errlen,
                 "target %s is not PostgreSQL: a SQL exception code cannot run in its transaction",
                 target_db_name(w));
        return false;
    }
    target_send_new(w, MSG_QUERY, sql);
    target_send_new(w, MSG_BARRIER, NULL);
    if (!target_wait(w, err, errlen))
        return false;
    rows = target_take_rows(w);
    if (rows == NULL) {
        *answer = xstrdup("{}");
        return true;
    }
    rows[strcspn(rows, "\n")] = '\0';
    *answer = rows;
    return true;
}

static bool exc_on_answer(void *arg, const HookCode *code, json_object *answer, char *err, size_t errlen)
{
    ExcTxn *x = arg;

    (void)answer;
    (void)err;
    (void)errlen;
    strbuf_printf(&x->codes, "%s%s", x->codes.len ? ", " : "", code->name);
    return true;
}

int exception_run(Cycle *c, char *err, size_t errlen)
{
    SyncRunner *r = c->r;
    int t = c->exc.t;
    char *table = table_name(r, t);
    json_object *info = json_object_new_object(), *keycols = json_object_new_array();
    ExcTxn x = {.c = c};
    HookCall call = {.point = HOOK_EXCEPTION,
                     .table = table,
                     .default_db = writer_dbinfo(r, c->exc.w)->name,
                     .info = info,
                     .in_txn = exc_in_txn,
                     .on_answer = exc_on_answer,
                     .arg = &x};
    HookOutcome out;
    bool ok;
    int result;

    c->exc.pending = false;
    c->exc.attempts++;
    strbuf_init(&x.codes);
    json_object_object_add(info, "schemaname", json_object_new_string(r->def.tables[t].schemaname));
    json_object_object_add(info, "tablename", json_object_new_string(r->def.tables[t].relname));
    for (int k = 0; k < r->def.tables[t].nkeys; k++)
        json_object_array_add(keycols, json_object_new_string(r->def.tables[t].keycols[k]));
    json_object_object_add(info, "keycols", keycols);
    json_object_object_add(info, "dbname", json_object_new_string(writer_dbinfo(r, c->exc.w)->name));
    json_object_object_add(info, "error_string", json_object_new_string(c->exc.error));
    if (c->exc.sqlstate)
        json_object_object_add(info, "sqlstate", json_object_new_string(c->exc.sqlstate));
    json_object_object_add(info, "attempts", json_object_new_int(c->exc.attempts));
    {
        json_object *rows = json_object_new_object();
        json_object_object_add(info, "keys", batch_keys(c, rows, err, errlen, &ok));
        json_object_object_add(info, "rows", rows);
    }
    log_warn("sync %s: table %s: handing the error to the exception customcode(s) (attempt %d): %s",
             r->def.name, table, c->exc.attempts, c->exc.error);
    ok = ok && hooks_run(r->hooks, &call, &out, err, errlen);
    json_object_put(info);
    if (!ok) {
        result = -1;
    } else {
        if (out.warnings.len)
            strbuf_printf(&c->hook_warn, "%s%s", c->hook_warn.len ? "; " : "", out.warnings.data);
        if (out.skip_keys) {
            result = skip_batch(c, x.codes.data ? x.codes.data : "?", err, errlen) ? 1 : -1;
        } else if (out.retry) {
            log_info("sync %s: table %s: exception customcode %s repaired; applying the batch again",
                     r->def.name, table, x.codes.data ? x.codes.data : "?");
            result = 1;
        } else {
            snprintf(err, errlen, "%s", c->exc.error);
            log_warn("sync %s: table %s: no exception customcode could help", r->def.name, table);
            result = 0;
        }
        if (out.endsync) {
            /* The unit is rolled back (run_unit), the cycle cancelled (sync_cycle.c). */
            snprintf(err, errlen, "sync %s: table %s: an exception customcode ended the sync: %s",
                     r->def.name, table, c->exc.error);
            c->endsync = true;
            result = -1;
        }
    }
    strbuf_free(&out.warnings);
    strbuf_free(&x.codes);
    free(table);
    return result;
}

/* ---- conflict codes ---- */

typedef struct ConflictAnswer {
    SyncRunner *r;
    const KeyEntry *const *keys;
    int n;
    int *winners;
    char **keytext; /* per key: the text codes name it by */
} ConflictAnswer;

static int source_named(const SyncRunner *r, const char *name)
{
    for (int s = 0; s < r->def.nsources; s++)
        if (strcmp(r->def.sources[s].name, name) == 0)
            return s;
    return -1;
}

/* decide - key i goes to source `name`, which must have changed it. */
static bool decide(ConflictAnswer *a, const HookCode *code, int i, const char *name, char *err, size_t errlen)
{
    int s = source_named(a->r, name);

    if (a->winners[i] != CONFLICT_NO_WINNER)
        return true; /* an earlier code decided */
    if (s < 0 || !(a->keys[i]->sources & (1u << s))) {
        snprintf(err, errlen,
                 "customcode %s (conflict): winner \"%s\" for key (%s) is not a source that changed it",
                 code->name, name, a->keytext[i]);
        return false;
    }
    a->winners[i] = s;
    return true;
}

/* order_winner - the first database of a space/comma list that changed key i. */
static void order_winner(ConflictAnswer *a, int i, const char *list)
{
    StrList names = {0};
    char *copy = xstrdup(list);

    for (char *p = copy; *p; p++)
        if (*p == ',')
            *p = ' ';
    strlist_add_split(&names, copy, ' ');
    for (int k = 0; k < names.count && a->winners[i] == CONFLICT_NO_WINNER; k++) {
        int s = names.items[k][0] ? source_named(a->r, names.items[k]) : -1;
        if (s >= 0 && (a->keys[i]->sources & (1u << s)))
            a->winners[i] = s;
    }
    strlist_free(&names);
    free(copy);
}

static bool conflict_on_answer(void *arg, const HookCode *code, json_object *answer, char *err, size_t errlen)
{
    ConflictAnswer *a = arg;
    json_object *map = NULL, *v;
    const char *order = NULL;

    /* winners (this engine's) or conflicts (Bucardo's hash, as the Perl
     * runner returns it): key text -> database. */
    if (!json_object_object_get_ex(answer, "winners", &map) || json_object_get_type(map) != json_type_object)
        if (!json_object_object_get_ex(answer, "conflicts", &map) ||
            json_object_get_type(map) != json_type_object)
            map = NULL;
    for (int i = 0; map && i < a->n; i++)
        if (json_object_object_get_ex(map, a->keytext[i], &v) &&
            json_object_get_type(v) == json_type_string &&
            !decide(a, code, i, json_object_get_string(v), err, errlen))
            return false;
    if (json_object_object_get_ex(answer, "tablewinner", &v) && json_object_get_type(v) == json_type_string)
        order = json_object_get_string(v);
    else if (json_object_object_get_ex(answer, "tablewinner_always", &v) &&
             json_object_get_type(v) == json_type_string)
        order = json_object_get_string(v);
    else if (json_object_object_get_ex(answer, "syncwinner", &v) &&
             json_object_get_type(v) == json_type_string)
        order = json_object_get_string(v);
    else if (json_object_object_get_ex(answer, "syncwinner_always", &v) &&
             json_object_get_type(v) == json_type_string)
        order = json_object_get_string(v);
    for (int i = 0; order && i < a->n; i++)
        order_winner(a, i, order);
    return true;
}

/* source_rows - each conflicting key's row on source s into rows[i] (JSON
 * text, NULL: no row), and its key as JSON into keyjson[i] when NULL. */
static bool source_rows(SyncRunner *r, int s, int t, const KeyEntry *const *keys, int n, json_object **rows,
                        json_object **keyjson, char *err, size_t errlen)
{
    TablePlan *p = &r->src[s].plans[t];
    StrBuf data;
    char *sql;
    PGresult *res;
    bool ok;

    strbuf_init(&data);
    for (int i = 0; i < n; i++)
        if (keys[i]->sources & (1u << s)) {
            strbuf_append_len(&data, keys[i]->key, keys[i]->len);
            strbuf_printf(&data, "\t%d\n", i);
        }
    sql = xasprintf("CREATE TEMP TABLE IF NOT EXISTS bucardo_c%d (%s, bucardo_i integer) ON COMMIT DROP;"
                    " TRUNCATE pg_temp.bucardo_c%d; COPY pg_temp.bucardo_c%d (%s, bucardo_i) FROM STDIN",
                    t, p->keydefs, t, t, p->keycols);
    ok = src_copy_in(r, s, p->display, sql, &data, err, errlen);
    free(sql);
    strbuf_free(&data);
    if (!ok)
        return false;
    sql = xasprintf("SELECT k.bucardo_i, (to_jsonb(k) - 'bucardo_i')::text, to_jsonb(t)::text"
                    " FROM pg_temp.bucardo_c%d k LEFT JOIN %s t ON %s",
                    t, p->from, p->keyjoin);
    res = src_query(r, s, p->display, sql, PGRES_TUPLES_OK, err, errlen);
    free(sql);
    if (res == NULL)
        return false;
    for (int i = 0; i < PQntuples(res); i++) {
        int k = atoi(PQgetvalue(res, i, 0));
        if (k < 0 || k >= n)
            continue;
        if (keyjson[k] == NULL)
            keyjson[k] = json_tokener_parse(PQgetvalue(res, i, 1));
        rows[k] = PQgetisnull(res, i, 2) ? NULL : json_tokener_parse(PQgetvalue(res, i, 2));
    }
    PQclear(res);
    return true;
}

bool conflict_hook(SyncRunner *r, int t, const KeyEntry *const *keys, int n, int *winners, char *err,
                   size_t errlen)
{
    int ns = r->def.nsources;
    char *table = table_name(r, t);
    json_object *info = json_object_new_object(), *list = json_object_new_array(),
                *keycols = json_object_new_array();
    json_object **keyjson = xcalloc((size_t)n + 1, sizeof(json_object *));
    json_object **rows = xcalloc((size_t)(n * ns) + 1, sizeof(json_object *));
    char **keytext = xcalloc((size_t)n + 1, sizeof(char *));
    ConflictAnswer a = {.r = r, .keys = keys, .n = n, .winners = winners, .keytext = keytext};
    HookCall call = {
        .point = HOOK_CONFLICT, .table = table, .info = info, .on_answer = conflict_on_answer, .arg = &a};
    HookOutcome out = {0};
    bool ok = true;

    for (int i = 0; i < n; i++)
        winners[i] = CONFLICT_NO_WINNER;
    for (int s = 0; ok && s < ns; s++) {
        json_object **srow = xcalloc((size_t)n + 1, sizeof(json_object *));
        bool any = false;
        for (int i = 0; i < n; i++)
            any |= (keys[i]->sources & (1u << s)) != 0;
        if (any)
            ok = source_rows(r, s, t, keys, n, srow, keyjson, err, errlen);
        for (int i = 0; i < n; i++)
            rows[i * ns + s] = srow[i];
        free(srow);
    }
    for (int i = 0; ok && i < n; i++) {
        json_object *o = json_object_new_object(), *who = json_object_new_array(),
                    *versions = json_object_new_object();
        /* The key's text: its columns' COPY text, tab-separated (one column: the value). */
        keytext[i] = xasprintf("%.*s", (int)keys[i]->len, keys[i]->key);
        json_object_object_add(o, "keytext", json_object_new_string(keytext[i]));
        json_object_object_add(o, "key", keyjson[i] ? keyjson[i] : json_object_new_object());
        keyjson[i] = NULL;
        for (int s = 0; s < ns; s++)
            if (keys[i]->sources & (1u << s)) {
                json_object_array_add(who, json_object_new_string(r->def.sources[s].name));
                json_object_object_add(versions, r->def.sources[s].name, rows[i * ns + s]);
                rows[i * ns + s] = NULL;
            }
        json_object_object_add(o, "sources", who);
        json_object_object_add(o, "rows", versions);
        json_object_array_add(list, o);
    }
    for (int k = 0; k < r->def.tables[t].nkeys; k++)
        json_object_array_add(keycols, json_object_new_string(r->def.tables[t].keycols[k]));
    json_object_object_add(info, "schemaname", json_object_new_string(r->def.tables[t].schemaname));
    json_object_object_add(info, "tablename", json_object_new_string(r->def.tables[t].relname));
    json_object_object_add(info, "keycols", keycols);
    json_object_object_add(info, "conflicts", list);
    call.default_db = r->def.sources[0].name;
    for (int s = 0; s < ns; s++)
        if (!r->src[s].offline) {
            call.default_db = r->def.sources[s].name;
            break;
        }
    ok = ok && hooks_run(r->hooks, &call, &out, err, errlen);
    if (ok && out.endsync)
        r->hook_endsync = true; /* sync_cycle.c cancels the cycle after the conflicts */
    strbuf_free(&out.warnings);
    json_object_put(info);
    for (int i = 0; i < n; i++) {
        json_object_put(keyjson[i]);
        for (int s = 0; s < ns; s++)
            json_object_put(rows[i * ns + s]);
        free(keytext[i]);
    }
    free(keyjson);
    free(rows);
    free(keytext);
    free(table);
    return ok;
}
