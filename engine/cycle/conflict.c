/*
 * engine/cycle/conflict.c - the conflict rules of multi-source syncs.
 *
 * A conflict is a key changed on two or more sources since the last
 * completed cycle.  Exactly one version must win everywhere, or the members
 * would diverge; the rule only chooses which.  Ties in time go to the source
 * listed first, so every rule is deterministic except bucardo_random.
 */
#include "conflict.h"

#include <stdlib.h>
#include <string.h>

bool conflict_rule_parse(const char *text, char *const *sources, int nsources, ConflictRule *out)
{
    static const struct {
        const char *name;
        ConflictKind kind;
    } names[] = {
        {"bucardo_source", CONFLICT_SOURCE}, {"bucardo_target", CONFLICT_TARGET},
        {"bucardo_skip", CONFLICT_SKIP},     {"bucardo_random", CONFLICT_RANDOM},
        {"bucardo_latest", CONFLICT_LATEST}, {"bucardo_latest_all_tables", CONFLICT_LATEST_ALL},
        {"bucardo_abort", CONFLICT_ABORT},   {"bucardo_custom", CONFLICT_CUSTOM},
    };
    StrList list = {0};
    bool ok = true;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(text, names[i].name) == 0) {
            out->kind = names[i].kind;
            return true;
        }
    out->kind = CONFLICT_LIST;
    strlist_add_split(&list, text, ',');
    for (int i = 0; ok && i < list.count; i++) {
        int found = -1;
        for (int s = 0; s < nsources && s < CONFLICT_MAX_SOURCES; s++)
            if (strcmp(list.items[i], sources[s]) == 0)
                found = s;
        ok = found >= 0 && out->norder < CONFLICT_MAX_SOURCES;
        for (int j = 0; ok && j < out->norder; j++)
            ok = out->order[j] != found;
        if (ok)
            out->order[out->norder++] = found;
    }
    strlist_free(&list);
    return ok && out->norder > 0;
}

static int first_in(uint32_t changed, int nsources)
{
    for (int s = 0; s < nsources; s++)
        if (changed & (1u << s))
            return s;
    return CONFLICT_NO_WINNER;
}

int conflict_winner(const ConflictRule *rule, uint32_t changed, int nsources, const double *times,
                    int latest_all, uint64_t random)
{
    int best = CONFLICT_NO_WINNER, n = 0;

    switch (rule->kind) {
    case CONFLICT_SOURCE: return first_in(changed, nsources);
    case CONFLICT_TARGET:
        for (int s = 0; s < nsources; s++)
            if (changed & (1u << s))
                best = s;
        return best;
    case CONFLICT_SKIP: return CONFLICT_NO_WINNER;
    case CONFLICT_ABORT: return CONFLICT_FAIL;
    case CONFLICT_RANDOM:
        for (int s = 0; s < nsources; s++)
            if (changed & (1u << s))
                n++;
        n = n ? (int)(random % (uint64_t)n) : 0;
        for (int s = 0; s < nsources; s++)
            if ((changed & (1u << s)) && n-- == 0)
                return s;
        return CONFLICT_NO_WINNER;
    case CONFLICT_CUSTOM: /* keys the conflict customcodes left undecided */
    case CONFLICT_LATEST:
        for (int s = 0; s < nsources; s++)
            if ((changed & (1u << s)) && (best < 0 || times[s] > times[best]))
                best = s;
        return best;
    case CONFLICT_LATEST_ALL:
        /* The cycle's latest source wins whatever it touched; a key it did
         * not touch falls back to the latest change of that key. */
        if (latest_all >= 0 && (changed & (1u << latest_all)))
            return latest_all;
        for (int s = 0; s < nsources; s++)
            if ((changed & (1u << s)) && (best < 0 || times[s] > times[best]))
                best = s;
        return best;
    case CONFLICT_LIST:
        for (int i = 0; i < rule->norder; i++)
            if (changed & (1u << rule->order[i]))
                return rule->order[i];
        /* None of the listed databases changed it: the first source wins. */
        return first_in(changed, nsources);
    }
    return CONFLICT_NO_WINNER;
}
