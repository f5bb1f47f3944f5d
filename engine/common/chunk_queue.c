/*
 * engine/common/chunk_queue.c - chunk pool and writer queues (see chunk_queue.h).
 *
 * Sleeping and waking happen only at the edges: a consumer sleeps when its
 * queue is empty and the producer signals only when its enqueue found the
 * queue empty; the reader sleeps when the pool is empty and a release
 * signals only when it refilled an empty pool.  Each edge check is redone
 * under the mutex before sleeping, so no wake-up is lost:
 *
 *   consumer: lock; while (empty) wait; unlock      producer: enqueue;
 *                                                    if (was empty) { lock; signal; unlock }
 *
 * The producer cannot signal between the consumer's check and its wait,
 * because signalling needs the mutex the consumer holds until it waits.
 */
#include "chunk_queue.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

/*
 * liburcu publishes nodes with its own barriers, which ThreadSanitizer
 * cannot see; these annotations state the same happens-before edges
 * (enqueue -> dequeue, release to pool -> get from pool) in its terms.
 * They compile to nothing in other builds.
 */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BUCARDO_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define BUCARDO_TSAN 1
#endif
#ifdef BUCARDO_TSAN
#include <sanitizer/tsan_interface.h>
#define HAPPENS_BEFORE(p) __tsan_release(p)
#define HAPPENS_AFTER(p)  __tsan_acquire(p)
#else
#define HAPPENS_BEFORE(p) ((void)(p))
#define HAPPENS_AFTER(p)  ((void)(p))
#endif

struct ChunkPool {
    struct cds_lfs_stack free_list;
    pthread_mutex_t lock;
    pthread_cond_t refilled;
    size_t chunk_size;
    int nchunks;
    Chunk **all;      /* every chunk, for destroy */
    atomic_int nfree; /* chunks in free_list, for tests and status */
};

struct MsgQueue {
    struct cds_wfcq_head head;
    struct cds_wfcq_tail tail;
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
};

ChunkPool *chunk_pool_create(int nchunks, size_t size)
{
    ChunkPool *pool = xcalloc(1, sizeof(ChunkPool));

    cds_lfs_init(&pool->free_list);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->refilled, NULL);
    pool->chunk_size = size;
    pool->nchunks = nchunks;
    pool->all = xcalloc((size_t)nchunks, sizeof(Chunk *));
    for (int i = 0; i < nchunks; i++) {
        Chunk *c = xmalloc(sizeof(Chunk) + size);
        cds_lfs_node_init(&c->free_node);
        atomic_init(&c->refs, 0);
        c->len = 0;
        pool->all[i] = c;
        cds_lfs_push(&pool->free_list, &c->free_node);
    }
    atomic_init(&pool->nfree, nchunks);
    return pool;
}

void chunk_pool_destroy(ChunkPool *pool)
{
    if (pool == NULL)
        return;
    for (int i = 0; i < pool->nchunks; i++)
        free(pool->all[i]);
    free(pool->all);
    cds_lfs_destroy(&pool->free_list);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->refilled);
    free(pool);
}

size_t chunk_pool_chunk_size(const ChunkPool *pool)
{
    return pool->chunk_size;
}

int chunk_pool_free_count(ChunkPool *pool)
{
    return atomic_load(&pool->nfree);
}

static Chunk *pop_free(ChunkPool *pool)
{
    struct cds_lfs_node *node = cds_lfs_pop_blocking(&pool->free_list);

    if (node == NULL)
        return NULL;
    atomic_fetch_sub(&pool->nfree, 1);
    HAPPENS_AFTER(node);
    return caa_container_of(node, Chunk, free_node);
}

Chunk *chunk_get(ChunkPool *pool)
{
    Chunk *c = pop_free(pool);

    if (c == NULL) {
        pthread_mutex_lock(&pool->lock);
        while ((c = pop_free(pool)) == NULL)
            pthread_cond_wait(&pool->refilled, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
    c->len = 0;
    atomic_store(&c->refs, 0);
    return c;
}

void chunk_release(ChunkPool *pool, Chunk *chunk)
{
    if (atomic_fetch_sub(&chunk->refs, 1) != 1)
        return;
    cds_lfs_node_init(&chunk->free_node);
    atomic_fetch_add(&pool->nfree, 1);
    HAPPENS_BEFORE(&chunk->free_node);
    if (!cds_lfs_push(&pool->free_list, &chunk->free_node)) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->refilled);
        pthread_mutex_unlock(&pool->lock);
    }
}

MsgQueue *msgq_create(void)
{
    MsgQueue *q = xcalloc(1, sizeof(MsgQueue));

    cds_wfcq_init(&q->head, &q->tail);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    return q;
}

void msgq_destroy(MsgQueue *q)
{
    if (q == NULL)
        return;
    cds_wfcq_destroy(&q->head, &q->tail);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->nonempty);
    free(q);
}

void msgq_push(MsgQueue *q, Msg *msg)
{
    cds_wfcq_node_init(&msg->node);
    HAPPENS_BEFORE(&msg->node);
    if (!cds_wfcq_enqueue(&q->head, &q->tail, &msg->node)) {
        pthread_mutex_lock(&q->lock);
        pthread_cond_signal(&q->nonempty);
        pthread_mutex_unlock(&q->lock);
    }
}

Msg *msgq_pop(MsgQueue *q)
{
    struct cds_wfcq_node *node;

    for (;;) {
        if (cds_wfcq_empty(&q->head, &q->tail)) {
            pthread_mutex_lock(&q->lock);
            while (cds_wfcq_empty(&q->head, &q->tail))
                pthread_cond_wait(&q->nonempty, &q->lock);
            pthread_mutex_unlock(&q->lock);
        }
        /* One consumer per queue: the unlocked dequeue is safe. */
        node = __cds_wfcq_dequeue_nonblocking(&q->head, &q->tail);
        if (node == CDS_WFCQ_WOULDBLOCK) {
            sched_yield(); /* an enqueue is half done: it finishes in a few instructions */
            continue;
        }
        if (node != NULL) {
            HAPPENS_AFTER(node);
            return caa_container_of(node, Msg, node);
        }
    }
}

Msg *msg_new(MsgType type, const char *sql, Chunk *chunk)
{
    Msg *m = xcalloc(1, sizeof(Msg));

    m->type = type;
    m->sql = sql ? xstrdup(sql) : NULL;
    m->chunk = chunk;
    return m;
}

void msg_free(Msg *msg)
{
    free(msg->sql);
    free(msg);
}
