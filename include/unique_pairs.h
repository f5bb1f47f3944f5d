/*
 * include/unique_pairs.h - which rows lose when rows changed on different
 * sources of a multi-source cycle hold the same value in a unique index
 * other than the key.
 *
 * Pure logic over rows already read (no I/O), so it is unit-tested; the
 * sync's conflict rule (conflict.h) picks the winner exactly as it does for
 * a key changed on several sources.
 */
#ifndef BUCARDO_UNIQUE_PAIRS_H
#define BUCARDO_UNIQUE_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "conflict.h"

/* What becomes of a changed row; a later state overrides an earlier one. */
typedef enum UniqueFate {
    UNIQUE_KEEP, /* no collision, or it won: replicated as usual */
    UNIQUE_HOLD, /* collided, no winner (bucardo_skip): not replicated, left where it is */
    UNIQUE_LOSE  /* collided and lost: deleted on every member, its origin included */
} UniqueFate;

/* One changed row of one source, as the value of one unique index. */
typedef struct UniqueRow {
    const char *key; /* COPY text of the key columns (not owned) */
    size_t klen;
    const char *value; /* COPY text of the index's columns (not owned) */
    size_t vlen;
    int source;
    double time;     /* the key's latest change on that source, seconds */
    UniqueFate fate; /* out */
    int winner;      /* out, when not KEEP: the winning source, or CONFLICT_NO_WINNER */
} UniqueRow;

/*
 * unique_settle - group rows by value; every value held by rows of two or
 * more sources is a collision settled by `rule` (latest_all and seed as in
 * conflict_winner).  Rows of the other sources get UNIQUE_LOSE (or
 * UNIQUE_HOLD when the rule names no winner), the winner's rows stay KEEP.
 * Rows are reordered (sorted by value).  Returns the number of collisions,
 * or -1 when the rule is bucardo_abort; then *abort_at is the index of a
 * row of the first collision.
 */
long unique_settle(UniqueRow *rows, size_t n, const ConflictRule *rule, int nsources, int latest_all,
                   uint64_t seed, size_t *abort_at);

#endif
