/*
 * engine/copy/bulk_copy.h - whole-table copies of a sync cycle (internal to the
 * cycle: see bulk_copy.c for how a copy is split and why it is safe).
 */
#ifndef BUCARDO_BULK_COPY_H
#define BUCARDO_BULK_COPY_H

#include "runner_internal.h"

typedef struct BulkCopy {
    SyncRunner *r;
    int table;         /* index into r->def.tables */
    const bool *to;    /* per writer: copy the table there */
    char snapshot[64]; /* exported snapshot of the cycle (filled in) */
    atomic_long bytes; /* COPY bytes read so far (all streams) */
    atomic_long read;  /* rows read so far (all streams) */
    long rows;         /* rows copied (per target), when done */
    bool *referenced;  /* per writer: other tables' foreign keys point at it (own) */
} BulkCopy;

/*
 * bulk_copy_table - copy job->table from source 0, as of the cycle's
 * snapshot, to every writer marked in job->to, replacing its contents.
 * Commits on the targets; err names the table and database on failure.
 * With the sync's rebuild_index, the targets' secondary indexes are
 * dropped for the load and recreated after it (index_rebuild.c).
 */
bool bulk_copy_table(BulkCopy *job, char *err, size_t errlen) MUST_CHECK;

#endif
