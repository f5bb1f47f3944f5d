/*
 * engine/copy/index_rebuild.h - rebuild_index: load a target table without its
 * secondary indexes and recreate them afterwards (internal to the cycle:
 * see index_rebuild.c for which indexes and how a crash is survived).
 */
#ifndef BUCARDO_INDEX_REBUILD_H
#define BUCARDO_INDEX_REBUILD_H

#include "runner_internal.h"

/* The indexes of one table on one database that a load goes without. */
typedef struct IndexSet {
    int n;
    char **qname;      /* "schema"."index", quoted by the server */
    char **drop;       /* DROP INDEX ..., or ALTER TABLE ... DROP CONSTRAINT for the key */
    char **create;     /* CREATE INDEX ... as pg_get_indexdef gives it (+ TABLESPACE),
                        * or ALTER TABLE ... ADD CONSTRAINT ... PRIMARY KEY */
    char **comment;    /* COMMENT ON ... IS '...' (one or two statements), or NULL */
    bool *primary_key; /* the table's primary key (create adds the constraint) */
} IndexSet;

/* Which indexes index_set_read returns. */
enum {
    INDEX_SECONDARY = 1,   /* rebuild_index: the plain secondary indexes */
    INDEX_PRIMARY_KEY = 2, /* the primary key, where nothing depends on it */
};

/*
 * index_set_read - the indexes of `table` (quoted, as the writer names it)
 * on database db that a load may drop, of the kinds in `which`
 * (INDEX_SECONDARY | INDEX_PRIMARY_KEY; the key first), read on a connection of its own
 * with client_encoding `encoding` (the writers', so the definitions are
 * bytes they can send; NULL: the default).  The caller owns *out
 * (index_set_free) even on failure.
 */
bool index_set_read(const DbInfo *db, const char *table, const TableDef *t, const char *encoding, int which,
                    IndexSet *out, char *err, size_t errlen) MUST_CHECK;
void index_set_free(IndexSet *s);

/* index_set_send_drop / _create - queue on writer w every DROP of the
 * set, or every CREATE (and COMMENT) of it, the key first; nothing if empty. */
void index_set_send_drop(const IndexSet *s, Target *w);
void index_set_send_create(const IndexSet *s, Target *w);

/*
 * index_journal_add / _clear - record in the catalog (committed at once)
 * the indexes about to be dropped on database db, or forget them once
 * recreated.  Only needed where the drop commits before the recreation.
 */
bool index_journal_add(SyncRunner *r, const char *db, const char *table, const IndexSet *s, char *err,
                       size_t errlen) MUST_CHECK;
bool index_journal_clear(SyncRunner *r, const char *db, const IndexSet *s, char *err,
                         size_t errlen) MUST_CHECK;

/*
 * index_journal_restore - recreate every index this sync's journal still
 * lists (those missing on their database), then clear those entries.
 * Entries of databases no longer in the sync are left with a warning.
 */
bool index_journal_restore(SyncRunner *r, char *err, size_t errlen) MUST_CHECK;

#endif
