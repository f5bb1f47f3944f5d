/*
 * engine/cycle/unique_pairs.c - settling unique-value collisions between sources
 * (see unique_pairs.h).
 *
 * The rows are sorted by value, so equal values are adjacent; each run of
 * equal values is one candidate collision.  A run whose rows all come from
 * one source is no collision (that source's own index already allows it).
 * Values are compared as COPY text: every source prints them with the same
 * types and settings, so equal values print equally (except types whose
 * equality ignores part of the text, e.g. numeric scale or citext case,
 * which therefore are not paired here; the writers' fallback still keeps
 * every member consistent with the row it received).
 */
#include "unique_pairs.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

static int compare_values(const void *a, const void *b)
{
    const UniqueRow *x = a, *y = b;
    size_t n = x->vlen < y->vlen ? x->vlen : y->vlen;
    int c = memcmp(x->value, y->value, n);

    if (c != 0)
        return c;
    if (x->vlen != y->vlen)
        return x->vlen < y->vlen ? -1 : 1;
    return x->source - y->source;
}

long unique_settle(UniqueRow *rows, size_t n, const ConflictRule *rule, int nsources, int latest_all,
                   uint64_t seed, size_t *abort_at)
{
    long collisions = 0;
    size_t i = 0;

    if (n > 1)
        qsort(rows, n, sizeof(UniqueRow), compare_values);
    while (i < n) {
        size_t end = i + 1;
        uint32_t mask = 0;
        double times[CONFLICT_MAX_SOURCES] = {0};
        int winner;

        while (end < n && rows[end].vlen == rows[i].vlen &&
               memcmp(rows[end].value, rows[i].value, rows[i].vlen) == 0)
            end++;
        for (size_t j = i; j < end; j++) {
            int s = rows[j].source;
            if (!(mask & (1u << s)) || rows[j].time > times[s])
                times[s] = rows[j].time;
            mask |= 1u << s;
        }
        if ((mask & (mask - 1)) == 0) {
            i = end;
            continue;
        }
        collisions++;
        winner = conflict_winner(rule, mask, nsources, times, latest_all,
                                 XXH3_64bits_withSeed(rows[i].value, rows[i].vlen, seed));
        if (winner == CONFLICT_FAIL) {
            *abort_at = i;
            return -1;
        }
        for (size_t j = i; j < end; j++) {
            UniqueFate fate = winner >= 0 ? UNIQUE_LOSE : UNIQUE_HOLD;
            if (rows[j].source == winner)
                continue;
            if (fate > rows[j].fate) {
                rows[j].fate = fate;
                rows[j].winner = winner;
            }
        }
        i = end;
    }
    return collisions;
}
