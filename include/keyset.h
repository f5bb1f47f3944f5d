/*
 * include/keyset.h - the changed keys of one table across the sources of a
 * multi-source cycle, to find the keys changed on more than one source.
 *
 * Keys are the raw COPY text of the key columns (never parsed: equal keys
 * have equal text, since every source prints them with the same types).
 * The set owns copies of the keys; it is hashed with XXH3.
 */
#ifndef BUCARDO_KEYSET_H
#define BUCARDO_KEYSET_H

#include <stddef.h>
#include <stdint.h>

#include "conflict.h"

typedef struct KeyEntry {
    char *key; /* COPY text of the key columns, no newline */
    size_t len;
    uint64_t hash;
    uint32_t sources;                   /* bit i: changed on source i */
    double times[CONFLICT_MAX_SOURCES]; /* per source: latest change, seconds */
} KeyEntry;

typedef struct KeySet KeySet;

KeySet *keyset_create(void);
void keyset_free(KeySet *ks);
/* keyset_add - record that `source` changed `key` at `time`. */
void keyset_add(KeySet *ks, const char *key, size_t len, int source, double time);
size_t keyset_count(const KeySet *ks);
/* keyset_next - iterate: *pos starts at 0; NULL at the end. */
const KeyEntry *keyset_next(const KeySet *ks, size_t *pos);

#endif
