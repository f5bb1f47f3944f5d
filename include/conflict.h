/*
 * include/conflict.h - multi-source conflict resolution: which source's
 * version of a key wins when several sources changed it in one cycle.
 *
 * Pure functions over the sync's conflict_strategy and the per-source facts
 * of one key; no I/O, so every rule is unit-tested.
 */
#ifndef BUCARDO_CONFLICT_H
#define BUCARDO_CONFLICT_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define CONFLICT_MAX_SOURCES 32

typedef enum ConflictKind {
    CONFLICT_SOURCE,     /* bucardo_source: the first source in dbgroup order wins */
    CONFLICT_TARGET,     /* bucardo_target: the last source in dbgroup order wins */
    CONFLICT_SKIP,       /* bucardo_skip: conflicting keys are not replicated */
    CONFLICT_RANDOM,     /* bucardo_random: any one of them */
    CONFLICT_LATEST,     /* bucardo_latest: the most recent change wins */
    CONFLICT_LATEST_ALL, /* bucardo_latest_all_tables: the source with the cycle's latest change wins all */
    CONFLICT_ABORT,      /* bucardo_abort: the cycle fails */
    CONFLICT_LIST,       /* "B,A,C": the first listed database that changed the key wins */
    CONFLICT_CUSTOM      /* bucardo_custom: the conflict customcodes decide (engine/hooks); a key
                          * they leave undecided goes to the latest change, as bucardo_latest */
} ConflictKind;

typedef struct ConflictRule {
    ConflictKind kind;
    int norder;
    int order[CONFLICT_MAX_SOURCES]; /* CONFLICT_LIST: source indexes, most preferred first */
} ConflictRule;

/* What a winner can be besides a source index. */
enum { CONFLICT_NO_WINNER = -1, CONFLICT_FAIL = -2 };

/*
 * conflict_rule_parse - the rule for strategy text; `sources` are the
 * sync's source names in dbgroup order.  False when the text is neither a
 * known strategy nor a comma list of those sources.
 */
bool conflict_rule_parse(const char *text, char *const *sources, int nsources, ConflictRule *out) MUST_CHECK;

/*
 * conflict_winner - the winning source of a key changed by the sources in
 * `changed` (bit i: source i), where times[i] is source i's latest change
 * time of the key (seconds) and latest_all the source that wins under
 * CONFLICT_LATEST_ALL.  `random` is any random number.  Returns a source
 * index, CONFLICT_NO_WINNER (skip the key) or CONFLICT_FAIL (abort).
 */
int conflict_winner(const ConflictRule *rule, uint32_t changed, int nsources, const double *times,
                    int latest_all, uint64_t random);

#endif
