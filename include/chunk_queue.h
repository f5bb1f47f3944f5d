/*
 * include/chunk_queue.h - the bounded hand-over between a COPY reader and
 * its writers: a fixed pool of fixed-size chunks, and one message queue per
 * writer.
 *
 * The pool is the memory bound: a reader that finds it empty waits until a
 * writer gives a chunk back.  A chunk sent to N writers carries a reference
 * count of N; the last writer to finish with it returns it to the pool.
 * Queues are liburcu wait-free queues (one producer here, one consumer);
 * consumers sleep only on the empty -> non-empty edge.
 */
#ifndef BUCARDO_CHUNK_QUEUE_H
#define BUCARDO_CHUNK_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <urcu/lfstack.h>
#include <urcu/wfcqueue.h>

#include "util.h"

typedef struct Chunk {
    struct cds_lfs_node free_node; /* link in the pool's free list */
    atomic_int refs;               /* writers still holding it */
    size_t len;                    /* bytes of COPY data in data[] */
    char data[];
} Chunk;

typedef struct ChunkPool ChunkPool;

/* chunk_pool_create - nchunks chunks of `size` bytes, all free. */
ChunkPool *chunk_pool_create(int nchunks, size_t size);
/* chunk_pool_destroy - every chunk must be back in the pool. */
void chunk_pool_destroy(ChunkPool *pool);
size_t chunk_pool_chunk_size(const ChunkPool *pool);
/* chunk_pool_free_count - chunks currently in the pool (for tests). */
int chunk_pool_free_count(ChunkPool *pool);

/* chunk_get - a free chunk (len 0, refs 0); waits while the pool is empty. */
Chunk *chunk_get(ChunkPool *pool);
/* chunk_release - drop one reference; the last one returns it to the pool. */
void chunk_release(ChunkPool *pool, Chunk *chunk);

/* What a writer is asked to do, in order. */
typedef enum MsgType {
    MSG_CONNECT,    /* (re)connect if needed (and check a kept connection), then report */
    MSG_BEGIN,      /* (re)connect if needed, set client_encoding to sql, begin the transaction */
    MSG_EXEC,       /* run sql (no result needed) */
    MSG_QUERY,      /* run sql; keep its rows for writer_take_rows */
    MSG_CHECK,      /* run sql, a check the sync thread expects to fail at times: its error
                       is the transaction's error as usual, but the writer does not log it */
    MSG_EMPTY,      /* empty the table named (quoted) in sql: TRUNCATE, or DELETE
                     * where another table's foreign key references it */
    MSG_COPY_BEGIN, /* start "COPY ... FROM STDIN" given in sql */
    MSG_DATA,       /* send chunk's bytes into the COPY in progress */
    MSG_COPY_END,   /* finish the COPY in progress */
    MSG_BARRIER,    /* report: everything so far done (or failed) */
    MSG_COMMIT,     /* COMMIT, then report */
    MSG_ROLLBACK,   /* ROLLBACK (if a transaction is open), then report */
    MSG_DISCONNECT, /* close the connection (the sync gives its budget slot back), then report */
    MSG_STOP        /* leave the thread */
} MsgType;

typedef struct Msg {
    struct cds_wfcq_node node;
    MsgType type;
    Chunk *chunk; /* MSG_DATA: one reference owned by this message */
    char *sql;    /* MSG_EXEC, MSG_QUERY, MSG_CHECK, MSG_EMPTY, MSG_COPY_BEGIN; MSG_BEGIN: the client_encoding
                     (owned) */
    bool count;   /* MSG_COPY_BEGIN, MSG_EXEC: the rows copied or INSERTed count as applied */
} Msg;

typedef struct MsgQueue MsgQueue;

MsgQueue *msgq_create(void);
void msgq_destroy(MsgQueue *q);
/* msgq_push - hand `msg` (xmalloc'd) to the consumer, which frees it. */
void msgq_push(MsgQueue *q, Msg *msg);
/* msgq_pop - the next message; waits while the queue is empty. */
Msg *msgq_pop(MsgQueue *q);
/* msg_new - an xmalloc'd message; sql is copied when not NULL. */
Msg *msg_new(MsgType type, const char *sql, Chunk *chunk);
void msg_free(Msg *msg);

#endif
