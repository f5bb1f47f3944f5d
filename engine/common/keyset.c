/*
 * engine/common/keyset.c - an open-addressing hash set of keys (see keyset.h).
 *
 * Linear probing over a power-of-two table of entry pointers, grown at 50%
 * load; entries never move once made, so pointers handed out stay valid
 * until keyset_free.
 */
#include "keyset.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

struct KeySet {
    KeyEntry **slots;
    size_t cap; /* power of two */
    size_t count;
};

KeySet *keyset_create(void)
{
    KeySet *ks = xcalloc(1, sizeof(KeySet));
    ks->cap = 1024;
    ks->slots = xcalloc(ks->cap, sizeof(KeyEntry *));
    return ks;
}

void keyset_free(KeySet *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->cap; i++)
        if (ks->slots[i]) {
            free(ks->slots[i]->key);
            free(ks->slots[i]);
        }
    free(ks->slots);
    free(ks);
}

static void grow(KeySet *ks)
{
    size_t cap = ks->cap * 2;
    KeyEntry **slots = xcalloc(cap, sizeof(KeyEntry *));

    for (size_t i = 0; i < ks->cap; i++) {
        KeyEntry *e = ks->slots[i];
        size_t j;
        if (e == NULL)
            continue;
        for (j = e->hash & (cap - 1); slots[j]; j = (j + 1) & (cap - 1))
            ;
        slots[j] = e;
    }
    free(ks->slots);
    ks->slots = slots;
    ks->cap = cap;
}

void keyset_add(KeySet *ks, const char *key, size_t len, int source, double time)
{
    uint64_t h = XXH3_64bits(key, len);
    size_t j;
    KeyEntry *e;

    for (j = h & (ks->cap - 1); (e = ks->slots[j]) != NULL; j = (j + 1) & (ks->cap - 1))
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
            break;
    if (e == NULL) {
        if ((ks->count + 1) * 2 > ks->cap) {
            grow(ks);
            keyset_add(ks, key, len, source, time);
            return;
        }
        e = xcalloc(1, sizeof(KeyEntry));
        e->key = xmalloc(len + 1);
        memcpy(e->key, key, len);
        e->key[len] = '\0';
        e->len = len;
        e->hash = h;
        ks->slots[j] = e;
        ks->count++;
    }
    if (!(e->sources & (1u << source)) || time > e->times[source])
        e->times[source] = time;
    e->sources |= 1u << source;
}

size_t keyset_count(const KeySet *ks)
{
    return ks->count;
}

const KeyEntry *keyset_next(const KeySet *ks, size_t *pos)
{
    while (*pos < ks->cap) {
        KeyEntry *e = ks->slots[(*pos)++];
        if (e)
            return e;
    }
    return NULL;
}
