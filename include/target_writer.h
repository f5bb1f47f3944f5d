/*
 * include/target_writer.h - one thread per target database that applies
 * what the sync's reader sends it, in order, on its own connection.
 *
 * The writer owns its connection (reconnecting at the start of a cycle
 * when it was lost, or closed by DISCONNECT while the sync is idle).  The sync thread talks to it only
 * through messages; after a BARRIER, COMMIT or ROLLBACK it collects the
 * outcome with writer_wait().  After a failure the writer skips work until
 * the ROLLBACK, still releasing every chunk it is sent.
 */
#ifndef BUCARDO_TARGET_WRITER_H
#define BUCARDO_TARGET_WRITER_H

#include "cancel.h"
#include "catalog.h"
#include "chunk_queue.h"
#include "conn_budget.h"

typedef struct TargetWriter TargetWriter;

/* writer_start - a thread for target `db` (copied) of sync `sync`;
 * lock_timeout (e.g. "60s") bounds its waits for locks held by others;
 * it connects through budget_connect(budget, ...) (budget may be NULL);
 * its connection is watched by `cancel` (may be NULL), and once that has
 * fired the writer starts no statement (its transaction fails). */
TargetWriter *writer_start(const DbInfo *db, const char *sync, const char *lock_timeout, ChunkPool *pool,
                           CancelSet *cancel, ConnBudget *budget);
/* writer_send - queue a message (ownership passes to the writer). */
void writer_send(TargetWriter *w, Msg *msg);
/* writer_send_new - writer_send(msg_new(type, sql, NULL)). */
void writer_send_new(TargetWriter *w, MsgType type, const char *sql);
/*
 * writer_wait - wait for the reply to the last CONNECT/BARRIER/COMMIT/ROLLBACK/DISCONNECT.
 * Returns true when everything since BEGIN succeeded; otherwise copies the
 * first error (naming the database and SQLSTATE) into err.
 */
bool writer_wait(TargetWriter *w, char *err, size_t errlen);
/* writer_counts - rows deleted and inserted since the last BEGIN. */
void writer_counts(TargetWriter *w, long *deleted, long *inserted);
/* writer_take_rows - the rows of QUERY messages since the last BEGIN (or
 * the last take), one line each, fields tab-separated; NULL when none.
 * The caller frees it.  Call after writer_wait. */
char *writer_take_rows(TargetWriter *w);
const char *writer_db_name(const TargetWriter *w);
/* writer_rtt - the shortest round trip to the target seen on the writer's
 * connections (the session setup, a lone COMMIT), in seconds; 0 before
 * the first connection. */
double writer_rtt(TargetWriter *w);
/* The error a COMMIT sent without BARRIER fails with when the target's
 * tables changed shape during the unit (target_writer.c, queue_guard). */
#define WRITER_GUARD_MESSAGE "bucardo: the columns of the sync''s tables changed"

/* writer_set_shape_query - an expression (engine/sync_runner.c,
 * shape_expr) every later BEGIN reads in its own round trip; NULL: none. */
void writer_set_shape_query(TargetWriter *w, const char *expr);
/* writer_shape - its value at the last BEGIN (the caller frees it), or
 * NULL.  Call after writer_wait. */
char *writer_shape(TargetWriter *w);

/* writer_stop - stop the thread, close its connection, free it. */
void writer_stop(TargetWriter *w);

/*
 * writer_table_referenced - on conn, does another table's foreign key
 * reference `table` (quoted)?  PostgreSQL refuses to TRUNCATE such a table
 * alone, even under session_replication_role = replica; DELETE works, and
 * replica mode fires no foreign key trigger.  *partitioned: the table is
 * partitioned, and is emptied whole (TRUNCATE t); any other table is
 * emptied ONLY (an inheritance parent's rows are its own, its children are
 * tables of their own), and only foreign keys to it count.  False with
 * both unset on error (the result's message is in conn's error).
 */
bool writer_table_referenced(PGconn *conn, const char *table, bool *referenced, bool *partitioned) MUST_CHECK;

#endif
