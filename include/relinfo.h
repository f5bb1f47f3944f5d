/*
 * include/relinfo.h - discovery of the tables of a user database and of the
 * key bucardo replicates them by.
 *
 * The key is the primary key, or else the narrowest valid, non-partial
 * unique index over plain NOT NULL columns.  A table with neither has no key
 * (nkeys == 0): it can be fully copied but not replicated by delta.
 */
#ifndef BUCARDO_RELINFO_H
#define BUCARDO_RELINFO_H

#include "pgconn.h"

typedef struct RelInfo {
    char *schemaname;
    char *relname;
    int nkeys;      /* 0 when the table has no usable key */
    char *keycols;  /* text[] literal of key column names, or NULL */
    char *keytypes; /* text[] literal of their types (format_type) */
} RelInfo;

typedef struct RelInfoList {
    RelInfo *items;
    int count;
} RelInfoList;

/*
 * relinfo_list - every ordinary or partitioned table (sequences: every
 * sequence) of the database outside the system schemas and schema bucardo,
 * sorted by schema and name.  The caller frees the list with
 * relinfo_list_free.  Errors name `who`.
 */
bool relinfo_list(PGconn *conn, const char *who, bool sequences, RelInfoList *out) MUST_CHECK;
void relinfo_list_free(RelInfoList *list);

#endif
