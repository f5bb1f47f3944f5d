/*
 * tests/unit/test_chunk_queue.c - the bounded chunk pool and the writer
 * queues: order is kept, the pool bounds what is in flight, shared chunks
 * go back only after their last reader, and a producer blocked on an empty
 * pool wakes when a consumer releases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chunk_queue.h"

static void test_fifo_order(void **state)
{
    MsgQueue *q = msgq_create();
    (void)state;
    for (int i = 0; i < 100; i++) {
        char sql[16];
        snprintf(sql, sizeof(sql), "%d", i);
        msgq_push(q, msg_new(MSG_EXEC, sql, NULL));
    }
    for (int i = 0; i < 100; i++) {
        Msg *m = msgq_pop(q);
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        assert_string_equal(m->sql, want);
        msg_free(m);
    }
    msgq_destroy(q);
}

static void test_refcount(void **state)
{
    ChunkPool *pool = chunk_pool_create(2, 64);
    Chunk *c;
    (void)state;
    assert_int_equal(chunk_pool_free_count(pool), 2);
    c = chunk_get(pool);
    assert_int_equal(chunk_pool_free_count(pool), 1);
    atomic_store(&c->refs, 3);
    chunk_release(pool, c);
    chunk_release(pool, c);
    assert_int_equal(chunk_pool_free_count(pool), 1);
    chunk_release(pool, c);
    assert_int_equal(chunk_pool_free_count(pool), 2);
    chunk_pool_destroy(pool);
}

/* A consumer thread that sums the bytes it gets and releases each chunk. */
typedef struct Consumer {
    MsgQueue *q;
    ChunkPool *pool;
    long bytes;
    long checksum;
} Consumer;

static void *consume(void *arg)
{
    Consumer *c = arg;
    for (;;) {
        Msg *m = msgq_pop(c->q);
        if (m->type == MSG_STOP) {
            msg_free(m);
            return NULL;
        }
        c->bytes += (long)m->chunk->len;
        for (size_t i = 0; i < m->chunk->len; i++)
            c->checksum += (unsigned char)m->chunk->data[i];
        chunk_release(c->pool, m->chunk);
        msg_free(m);
    }
}

/* Two consumers share every chunk; the pool of 4 bounds the producer. */
static void test_fanout_bounded(void **state)
{
    enum { NCHUNKS = 4, SIZE = 128, ROUNDS = 20000 };
    ChunkPool *pool = chunk_pool_create(NCHUNKS, SIZE);
    Consumer cons[2];
    pthread_t th[2];
    long want = 0;
    (void)state;

    for (int i = 0; i < 2; i++) {
        cons[i] = (Consumer){.q = msgq_create(), .pool = pool};
        pthread_create(&th[i], NULL, consume, &cons[i]);
    }
    for (int r = 0; r < ROUNDS; r++) {
        Chunk *c = chunk_get(pool);
        assert_true(chunk_pool_free_count(pool) >= 0);
        c->len = (size_t)(r % SIZE) + 1;
        memset(c->data, r & 0xff, c->len);
        want += (long)c->len * (r & 0xff);
        atomic_store(&c->refs, 2);
        for (int i = 0; i < 2; i++)
            msgq_push(cons[i].q, msg_new(MSG_DATA, NULL, c));
    }
    for (int i = 0; i < 2; i++) {
        msgq_push(cons[i].q, msg_new(MSG_STOP, NULL, NULL));
        pthread_join(th[i], NULL);
        assert_int_equal(cons[i].checksum, want);
        msgq_destroy(cons[i].q);
    }
    assert_int_equal(cons[0].bytes, cons[1].bytes);
    assert_int_equal(chunk_pool_free_count(pool), NCHUNKS);
    chunk_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_order),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_fanout_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
