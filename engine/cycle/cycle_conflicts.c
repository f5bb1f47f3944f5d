/*
 * engine/cycle/cycle_conflicts.c - settling conflicts in a multi-source cycle.
 *
 * After each source has its changed keys of a table in temp table
 * bucardo_k<t> (keys + the time of the latest change), the keys of every
 * source that changed anything are read here (COPY text, one line per key)
 * into a KeySet.  A key marked by two or more sources is a conflict: the
 * sync's rule picks the winner, the conflict is logged with table, key,
 * sources and winner, and the losing sources drop the key from their
 * bucardo_k<t> (the keys are sent back by COPY into a temp table and
 * deleted by join).  Each source then replicates only the keys it won, so
 * every member ends with the winner's version.
 *
 * A TRUNCATE is a change of every key at the time it was made: a source
 * that truncated the table in this cycle takes part in the conflict of
 * every key another source changed, with the TRUNCATE's time (or its own
 * change of the key, if later).  A key it wins that it did not change
 * itself is added to its bucardo_k<t>: it has no row for it, so every
 * member deletes it.  With bucardo_latest, a row changed after the latest
 * TRUNCATE survives everywhere and one changed before it goes everywhere
 * (cycle_apply.c's empty_table empties the rows nobody changed).
 *
 * A source catching up a member that was offline also brings keys older
 * than this cycle (bucardo_new false): they are settled like the others,
 * and a key such a source wins is marked new, since then every member must
 * take the winner's row, not only the one that was away.
 *
 * Memory: the KeySet holds the changed keys of one table of one cycle
 * while it is being settled (only tables changed on two or more sources).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "conflict.h"
#include "keyset.h"
#include "log.h"
#include "runner_internal.h"

/* read_keys - add source s's changed keys of table t to ks. */
static bool read_keys(SyncRunner *r, int s, int t, KeySet *ks, char *err, size_t errlen)
{
    PGconn *conn = r->src[s].conn;
    TablePlan *p = &r->src[s].plans[t];
    char *sql = xasprintf("COPY (SELECT %s, extract(epoch FROM bucardo_txntime) FROM pg_temp.bucardo_k%d)"
                          " TO STDOUT",
                          p->keycols, t);
    PGresult *res = src_query(r, s, p->display, sql, PGRES_COPY_OUT, err, errlen);
    char *buf;
    int len;
    bool ok = res != NULL;

    free(sql);
    PQclear(res);
    while (ok && (len = PQgetCopyData(conn, &buf, 0)) > 0) {
        char *tab;
        if (buf[len - 1] == '\n')
            buf[--len] = '\0';
        tab = strrchr(buf, '\t');
        if (tab != NULL)
            keyset_add(ks, buf, (size_t)(tab - buf), s, strtod(tab + 1, NULL));
        PQfreemem(buf);
    }
    while ((res = PQgetResult(conn)) != NULL) {
        if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "source %s: %s: reading changed keys: %s", r->def.sources[s].name,
                     p->display, PQresultErrorMessage(res));
            ok = false;
        }
        PQclear(res);
    }
    return ok;
}

/*
 * load_key_list - keys (COPY text lines) into a new temp table
 * bucardo_<kind><t> on source s, for the DELETE or UPDATE that follows.
 */
static bool load_key_list(SyncRunner *r, int s, int t, char kind, const StrBuf *keys, char *err,
                          size_t errlen)
{
    TablePlan *p = &r->src[s].plans[t];
    char *sql = xasprintf("CREATE TEMP TABLE bucardo_%c%d (%s) ON COMMIT DROP;"
                          " COPY pg_temp.bucardo_%c%d (%s) FROM STDIN",
                          kind, t, p->keydefs, kind, t, p->keycols);
    bool ok = src_copy_in(r, s, p->display, sql, keys, err, errlen);

    free(sql);
    return ok;
}

bool drop_listed_keys(SyncRunner *r, int s, int t, char list, long *nkeys, char *err, size_t errlen)
{
    TablePlan *p = &r->src[s].plans[t];
    char *sql = xasprintf("DELETE FROM pg_temp.bucardo_k%d k USING pg_temp.bucardo_%c%d l WHERE %s", t, list,
                          t, p->lostjoin);
    PGresult *res = src_query(r, s, p->display, sql, PGRES_COMMAND_OK, err, errlen);

    free(sql);
    if (res == NULL)
        return false;
    *nkeys -= atol(PQcmdTuples(res));
    PQclear(res);
    return true;
}

/* drop_lost - remove from source s's bucardo_k<t> the keys it lost. */
static bool drop_lost(SyncRunner *r, int s, int t, const StrBuf *lost, long *nkeys, char *err, size_t errlen)
{
    return load_key_list(r, s, t, 'l', lost, err, errlen) &&
           drop_listed_keys(r, s, t, 'l', nkeys, err, errlen);
}

/* mark_won - in a catching-up source's bucardo_k<t>, the keys it won are new. */
static bool mark_won(SyncRunner *r, int s, int t, const StrBuf *won, char *err, size_t errlen)
{
    TablePlan *p = &r->src[s].plans[t];
    PGresult *res;
    char *sql;

    if (!load_key_list(r, s, t, 'w', won, err, errlen))
        return false;
    sql = xasprintf("UPDATE pg_temp.bucardo_k%d k SET bucardo_new = true FROM pg_temp.bucardo_w%d l WHERE %s",
                    t, t, p->lostjoin);
    res = src_query(r, s, p->display, sql, PGRES_COMMAND_OK, err, errlen);
    free(sql);
    if (res == NULL)
        return false;
    PQclear(res);
    return true;
}

/*
 * add_keys - keys that truncating source s won without having changed them
 * (COPY text lines) into its bucardo_k<t>, numbered after its own, at the
 * TRUNCATE's time `when` (new, for a catching-up source's bucardo_new).
 */
static bool add_keys(SyncRunner *r, int s, int t, const StrBuf *keys, double when, bool catchup, long *nkeys,
                     long *maxn, char *err, size_t errlen)
{
    TablePlan *p = &r->src[s].plans[t];
    PGresult *res;
    char *sql;
    long n;

    if (!load_key_list(r, s, t, 'a', keys, err, errlen))
        return false;
    sql = xasprintf("INSERT INTO pg_temp.bucardo_k%d (%s, bucardo_txntime, bucardo_n%s)"
                    " SELECT %s, pg_catalog.to_timestamp(%.6f), %ld + row_number() OVER (ORDER BY %s)%s"
                    " FROM pg_temp.bucardo_a%d",
                    t, p->keycols, catchup ? ", bucardo_new" : "", p->keycols, when, *maxn, p->keycols,
                    catchup ? ", true" : "", t);
    res = src_query(r, s, p->display, sql, PGRES_COMMAND_OK, err, errlen);
    free(sql);
    if (res == NULL)
        return false;
    n = atol(PQcmdTuples(res));
    *nkeys += n;
    *maxn += n;
    PQclear(res);
    return true;
}

int conflicts_latest_source(SyncRunner *r, const long *nkeys, char *err, size_t errlen, bool *ok)
{
    int nt = r->def.ntables, best = -1;
    double best_time = 0;

    *ok = true;
    for (int s = 0; s < r->def.nsources; s++)
        for (int t = 0; t < nt; t++) {
            char *sql;
            PGresult *res;
            if (nkeys[s * nt + t] == 0)
                continue;
            sql = xasprintf("SELECT extract(epoch FROM max(bucardo_txntime)) FROM pg_temp.bucardo_k%d", t);
            res = src_query(r, s, r->src[s].plans[t].display, sql, PGRES_TUPLES_OK, err, errlen);
            free(sql);
            if (res == NULL) {
                *ok = false;
                return -1;
            }
            if (!PQgetisnull(res, 0, 0) && (best < 0 || strtod(PQgetvalue(res, 0, 0), NULL) > best_time)) {
                best = s;
                best_time = strtod(PQgetvalue(res, 0, 0), NULL);
            }
            PQclear(res);
        }
    return best;
}

/*
 * custom_winners - the conflict customcodes' winner of each conflicting
 * key of table t (in keyset_next order; CONFLICT_NO_WINNER: left to the
 * strategy) into *out.  `required` (bucardo_custom): a table without a
 * conflict code is an error, as in Bucardo.
 */
static bool custom_winners(SyncRunner *r, int t, KeySet *ks, uint32_t truncators, const double *trunc_time,
                           bool required, int **out, char *err, size_t errlen)
{
    char *table = xasprintf("%s.%s", r->def.tables[t].schemaname, r->def.tables[t].relname);
    const KeyEntry **keys = NULL;
    const KeyEntry *e;
    size_t pos = 0;
    int n = 0, cap = 0, nt = r->def.ntables;
    bool ok = true;

    if (!hooks_has(r->hooks, HOOK_CONFLICT, table)) {
        if (required)
            snprintf(err, errlen,
                     "sync %s: table %s: conflict_strategy is bucardo_custom and no conflict customcode"
                     " applies to the table",
                     r->def.name, table);
        free(table);
        return !required;
    }
    free(table);
    while ((e = keyset_next(ks, &pos)) != NULL) {
        for (int s = 0; s < r->def.nsources; s++)
            if (truncators & (1u << s))
                keyset_add(ks, e->key, e->len, s, trunc_time[s * nt + t]);
        if ((e->sources & (e->sources - 1)) == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            keys = xrealloc(keys, sizeof(KeyEntry *) * (size_t)cap);
        }
        keys[n++] = e;
    }
    *out = xcalloc((size_t)n + 1, sizeof(int));
    if (n > 0)
        ok = conflict_hook(r, t, (const struct KeyEntry *const *)keys, n, *out, err, errlen);
    free(keys);
    return ok;
}

/* describe - "A, B" for the sources in mask; the key with tabs as ", ". */
static void describe(const SyncRunner *r, uint32_t mask, const KeyEntry *e, StrBuf *who, StrBuf *key)
{
    strbuf_reset(who);
    strbuf_reset(key);
    for (int s = 0; s < r->def.nsources; s++)
        if (mask & (1u << s))
            strbuf_printf(who, "%s%s", who->len ? ", " : "", r->def.sources[s].name);
    for (size_t i = 0; i < e->len; i++)
        strbuf_append(key, e->key[i] == '\t' ? ", " : (char[]){e->key[i], '\0'});
}

bool table_rule(const SyncRunner *r, int t, char **names, int ns, ConflictRule *rule, char *err,
                size_t errlen)
{
    const char *strategy =
        r->def.tables[t].conflict_strategy ? r->def.tables[t].conflict_strategy : r->def.conflict_strategy;

    if (conflict_rule_parse(strategy, names, ns, rule))
        return true;
    snprintf(err, errlen, "sync %s: table %s.%s: unknown conflict_strategy \"%s\"", r->def.name,
             r->def.tables[t].schemaname, r->def.tables[t].relname, strategy);
    return false;
}

bool resolve_conflicts(SyncRunner *r, long *nkeys, long *maxn, const bool *catchup, const bool *truncated,
                       const double *trunc_time, long *conflicts, char *err, size_t errlen)
{
    int ns = r->def.nsources, nt = r->def.ntables, latest_all = -1;
    char *names[CONFLICT_MAX_SOURCES];
    ConflictRule rule;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    StrBuf who, keytext;
    bool ok = true;

    if (ns < 2)
        return true;
    if (ns > CONFLICT_MAX_SOURCES) {
        snprintf(err, errlen, "sync %s: more than %d sources", r->def.name, CONFLICT_MAX_SOURCES);
        return false;
    }
    for (int s = 0; s < ns; s++)
        names[s] = r->def.sources[s].name;
    /* Each table's strategy (its own, else the sync's); the latest source
     * of all tables is found once, before any key is dropped. */
    for (int t = 0; t < nt; t++) {
        if (!table_rule(r, t, names, ns, &rule, err, errlen))
            return false;
        if (rule.kind == CONFLICT_LATEST_ALL && latest_all < 0) {
            latest_all = conflicts_latest_source(r, nkeys, err, errlen, &ok);
            if (!ok)
                return false;
        }
    }
    strbuf_init(&who);
    strbuf_init(&keytext);
    for (int t = 0; ok && t < nt; t++) {
        int changed_on = 0;
        uint32_t truncators = 0; /* sources that truncated the table in this cycle */
        KeySet *ks;
        StrBuf lost[CONFLICT_MAX_SOURCES], won[CONFLICT_MAX_SOURCES], added[CONFLICT_MAX_SOURCES];
        size_t pos = 0;
        const KeyEntry *e;
        const char *table = NULL; /* named through a source that is online */
        int *cw = NULL, ncw = 0;  /* the conflict customcodes' winners, in keyset order */

        for (int s = 0; s < ns; s++) {
            if (truncated && truncated[s * nt + t])
                truncators |= 1u << s;
            if (nkeys[s * nt + t] > 0 || (truncators & (1u << s))) {
                changed_on++;
                table = table ? table : r->src[s].plans[t].display;
            }
        }
        if (changed_on < 2 || !table_rule(r, t, names, ns, &rule, err, errlen))
            continue; /* (the rules were all parsed above) */
        ks = keyset_create();
        for (int s = 0; ok && s < ns; s++)
            if (nkeys[s * nt + t] > 0)
                ok = read_keys(r, s, t, ks, err, errlen);
        for (int s = 0; s < ns; s++) {
            strbuf_init(&lost[s]);
            strbuf_init(&won[s]);
            strbuf_init(&added[s]);
        }
        /* Conflict customcodes (cycle_hooks.c) see every conflicting key
         * of the table at once, before the loop below settles them: a
         * first pass, in the same order, collects them. */
        if (ok && (rule.kind == CONFLICT_CUSTOM || hooks_has(r->hooks, HOOK_CONFLICT, NULL)))
            ok = custom_winners(r, t, ks, truncators, trunc_time, rule.kind == CONFLICT_CUSTOM, &cw, err,
                                errlen);
        ncw = 0;
        while (ok && (e = keyset_next(ks, &pos)) != NULL) {
            uint32_t by_truncate = truncators & ~e->sources; /* have no change of their own */
            int winner;
            /* The entry exists: keyset_add updates it in place (no growth). */
            for (int s = 0; s < ns; s++)
                if (truncators & (1u << s))
                    keyset_add(ks, e->key, e->len, s, trunc_time[s * nt + t]);
            if ((e->sources & (e->sources - 1)) == 0)
                continue; /* changed on one source only */
            winner = cw && cw[ncw] != CONFLICT_NO_WINNER
                         ? cw[ncw]
                         : conflict_winner(&rule, e->sources, ns, e->times, latest_all,
                                           XXH3_64bits_withSeed(e->key, e->len, seed));
            if (cw)
                ncw++;
            (*conflicts)++;
            describe(r, e->sources, e, &who, &keytext);
            if (winner == CONFLICT_FAIL) {
                snprintf(err, errlen,
                         "sync %s: table %s: key (%s) changed on %s, and conflict_strategy is bucardo_abort",
                         r->def.name, table, keytext.data, who.data);
                ok = false;
                break;
            }
            log_conflict("conflict: table %s key (%s) changed on %s%s: %s%s", table, keytext.data, who.data,
                         truncators & e->sources ? " (a TRUNCATE counts as a change of every key)" : "",
                         winner >= 0 ? "winner " : "skipped, no winner",
                         winner >= 0 ? r->def.sources[winner].name : "");
            if (winner >= 0 && (by_truncate & (1u << winner))) {
                strbuf_append_len(&added[winner], e->key, e->len);
                strbuf_append(&added[winner], "\n");
            } else if (winner >= 0 && catchup && catchup[winner]) {
                strbuf_append_len(&won[winner], e->key, e->len);
                strbuf_append(&won[winner], "\n");
            }
            for (int s = 0; s < ns; s++)
                if ((e->sources & ~by_truncate & (1u << s)) && s != winner) {
                    strbuf_append_len(&lost[s], e->key, e->len);
                    strbuf_append(&lost[s], "\n");
                }
        }
        for (int s = 0; s < ns; s++) {
            if (ok && lost[s].len > 0)
                ok = drop_lost(r, s, t, &lost[s], &nkeys[s * nt + t], err, errlen);
            if (ok && won[s].len > 0)
                ok = mark_won(r, s, t, &won[s], err, errlen);
            if (ok && added[s].len > 0)
                ok = add_keys(r, s, t, &added[s], trunc_time[s * nt + t], catchup && catchup[s],
                              &nkeys[s * nt + t], &maxn[s * nt + t], err, errlen);
            strbuf_free(&lost[s]);
            strbuf_free(&won[s]);
            strbuf_free(&added[s]);
        }
        keyset_free(ks);
        free(cw);
    }
    strbuf_free(&who);
    strbuf_free(&keytext);
    return ok;
}
