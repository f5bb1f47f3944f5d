/*
 * engine/drivers/driver_redis.c - Redis targets (hiredis), in Bucardo's key
 * layout: each row is a hash at key "<table>:<key value>" (a key of several
 * columns joined by ':'), holding one field per non-key column that is not
 * NULL.  <table> is the customname, else the table's name without schema.
 * A row whose non-key columns are all NULL (or that has none) holds its
 * key columns as fields instead: Bucardo wrote no hash for it at all, so
 * the row was missing on the target.
 *
 * Connection: host (default 127.0.0.1), port (default 6379), pass (AUTH,
 * with user when given), dbname a database number (SELECT) or empty.
 *
 * Each unit of a cycle is one MULTI ... EXEC: deletes (DEL of the changed
 * keys) and rows (HSET) are appended to the connection's output buffer
 * without waiting (pipelined), and the QUEUED replies are read after each
 * batch, so neither side's buffers grow with the unit.  A truncate is a
 * server-side script, queued like the rest, that deletes every key
 * "<table>:*" (SCAN in the script; Bucardo left the keys).  EXEC applies
 * the unit whole or not at all.
 */
#include "target_driver.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct RedisConn {
    redisContext *rc;
    long pending; /* replies not read yet */
    bool in_multi;
} RedisConn;

static bool rd_failed(RedisConn *c, const char *what, const char *msg, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, msg ? msg : (c->rc && c->rc->errstr[0] ? c->rc->errstr : "error"));
    return false;
}

/* command - one command now (outside MULTI); false with its error. */
static bool command(RedisConn *c, const char *what, int argc, const char **argv, char *err, size_t errlen)
{
    redisReply *r = redisCommandArgv(c->rc, argc, argv, NULL);
    bool ok = r && r->type != REDIS_REPLY_ERROR;

    if (!ok)
        rd_failed(c, what, r ? r->str : NULL, err, errlen);
    if (r)
        freeReplyObject(r);
    return ok;
}

static void rd_close(void *conn)
{
    RedisConn *c = conn;

    if (c == NULL)
        return;
    if (c->rc)
        redisFree(c->rc);
    free(c);
}

static void *rd_open(const DbInfo *db, const TargetConfig *cfg, char *err, size_t errlen)
{
    RedisConn *c = xcalloc(1, sizeof(RedisConn));
    struct timeval tv = {10, 0};
    const char *host = db->host && db->host[0] ? db->host : "127.0.0.1";

    (void)cfg;
    c->rc = host[0] == '/' ? redisConnectUnixWithTimeout(host, tv)
                           : redisConnectWithTimeout(host, db->port ? atoi(db->port) : 6379, tv);
    if (c->rc == NULL || c->rc->err) {
        snprintf(err, errlen, "cannot connect to Redis: %s", c->rc ? c->rc->errstr : "out of memory");
        rd_close(c);
        return NULL;
    }
    redisSetTimeout(c->rc, (struct timeval){600, 0});
    if (db->pass && db->pass[0]) {
        /* "bucardo" is the catalog's default user: AUTH with the password alone. */
        bool named = db->user && strcmp(db->user, "bucardo") != 0;
        const char *argv[3] = {"AUTH", named ? db->user : db->pass, db->pass};
        if (!command(c, "AUTH", named ? 3 : 2, argv, err, errlen)) {
            rd_close(c);
            return NULL;
        }
    }
    if (db->dbname && db->dbname[0]) {
        const char *argv[2] = {"SELECT", db->dbname};
        if (!command(c, "SELECT", 2, argv, err, errlen)) {
            rd_close(c);
            return NULL;
        }
    }
    return c;
}

static bool rd_alive(void *conn)
{
    RedisConn *c = conn;
    char err[200];

    return c && c->rc && !c->rc->err && !c->in_multi &&
           command(c, "PING", 1, (const char *[]){"PING"}, err, sizeof(err));
}

/* queue - append a command to the pipeline (inside MULTI). */
static void queue(RedisConn *c, int argc, const char **argv, const size_t *lens)
{
    redisAppendCommandArgv(c->rc, argc, argv, lens);
    c->pending++;
}

/* drain - read the pending replies (QUEUED, or an error). */
static bool drain(RedisConn *c, char *err, size_t errlen)
{
    bool ok = true;

    while (c->pending > 0) {
        redisReply *r = NULL;
        if (redisGetReply(c->rc, (void **)&r) != REDIS_OK || r == NULL)
            return rd_failed(c, "reading replies", NULL, err, errlen);
        c->pending--;
        if (r->type == REDIS_REPLY_ERROR && ok)
            ok = rd_failed(c, "command refused", r->str, err, errlen);
        freeReplyObject(r);
    }
    return ok;
}

static bool rd_begin(void *conn, char *err, size_t errlen)
{
    RedisConn *c = conn;

    c->pending = 0;
    queue(c, 1, (const char *[]){"MULTI"}, NULL);
    c->in_multi = true;
    return drain(c, err, errlen);
}

static bool rd_table(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    (void)conn;
    if (spec->nkeys < 1) {
        snprintf(err, errlen, "table %s: a Redis key needs the table's key columns", spec->table);
        return false;
    }
    return true;
}

/* row_key - "<table>:<k1>:<k2>..." from the first nkeys fields at key (the
 * key columns' positions in the row: keypos[]). */
static char *row_key(const TableSpec *spec, char **row, const int *keypos)
{
    StrBuf b;

    strbuf_init(&b);
    strbuf_append(&b, spec->table);
    for (int k = 0; k < spec->nkeys; k++) {
        strbuf_append(&b, ":");
        strbuf_append(&b, row[keypos[k]] ? row[keypos[k]] : "");
    }
    return b.data;
}

static bool rd_rows(void *conn, const TableSpec *spec, int nrows, char **vals, long *affected, char *err,
                    size_t errlen)
{
    RedisConn *c = conn;
    int nc = spec->ncols;
    int *keypos = xcalloc((size_t)spec->nkeys + 1, sizeof(int));
    const char **argv = xcalloc((size_t)nc * 2 + 2, sizeof(char *));

    for (int k = 0; k < spec->nkeys; k++) {
        keypos[k] = -1;
        for (int i = 0; i < nc; i++)
            if (strcmp(spec->cols[i], spec->keys[k]) == 0)
                keypos[k] = i;
        if (keypos[k] < 0) {
            snprintf(err, errlen, "table %s: key column %s is not among the columns it receives", spec->table,
                     spec->keys[k]);
            free(keypos);
            free(argv);
            return false;
        }
    }
    for (int r = 0; r < nrows; r++) {
        char **row = &vals[r * nc];
        char *key = row_key(spec, row, keypos);
        int argc = 2;

        if (spec->op == 'K') {
            argv[0] = "DEL";
            argv[1] = key;
        } else {
            argv[0] = "HSET";
            argv[1] = key;
            for (int i = 0; i < nc; i++) {
                bool is_key = false;
                for (int k = 0; k < spec->nkeys; k++)
                    is_key |= keypos[k] == i;
                if (is_key || row[i] == NULL)
                    continue;
                argv[argc++] = spec->cols[i];
                argv[argc++] = row[i];
            }
            for (int k = 0, none = argc == 2; none && k < spec->nkeys; k++) {
                argv[argc++] = spec->cols[keypos[k]];
                argv[argc++] = row[keypos[k]] ? row[keypos[k]] : "";
            }
        }
        queue(c, argc, argv, NULL);
        (*affected)++;
        free(key);
    }
    free(keypos);
    free(argv);
    return drain(c, err, errlen);
}

static bool rd_table_end(void *conn, const TableSpec *spec, long *affected, char *err, size_t errlen)
{
    (void)spec;
    (void)affected;
    return drain(conn, err, errlen);
}

/* The keys of a table: "<table>:*" with the glob's special characters escaped. */
static char *key_pattern(const char *table)
{
    StrBuf b;

    strbuf_init(&b);
    for (; *table; table++) {
        if (strchr("*?[]\\", *table))
            strbuf_append(&b, "\\");
        strbuf_append_len(&b, table, 1);
    }
    strbuf_append(&b, ":*");
    return b.data;
}

static const char EMPTY_SCRIPT[] =
    "local c = '0' repeat local r = redis.call('SCAN', c, 'MATCH', ARGV[1], 'COUNT', 1000) c = r[1]"
    " for _, k in ipairs(r[2]) do redis.call('DEL', k) end until c == '0' return 0";

static bool rd_empty(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    RedisConn *c = conn;
    char *pattern = key_pattern(spec->table);

    queue(c, 4, (const char *[]){"EVAL", EMPTY_SCRIPT, "0", pattern}, NULL);
    free(pattern);
    return drain(c, err, errlen);
}

static bool rd_commit(void *conn, char *err, size_t errlen)
{
    RedisConn *c = conn;
    redisReply *r;
    bool ok = true;

    if (!drain(c, err, errlen))
        return false;
    r = redisCommand(c->rc, "EXEC");
    c->in_multi = false;
    if (r == NULL)
        return rd_failed(c, "EXEC", NULL, err, errlen);
    if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_NIL)
        ok = rd_failed(c, "EXEC", r->type == REDIS_REPLY_ERROR ? r->str : "transaction aborted", err, errlen);
    for (size_t i = 0; ok && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_ERROR)
            ok = rd_failed(c, "EXEC", r->element[i]->str, err, errlen);
    freeReplyObject(r);
    return ok;
}

static void rd_rollback(void *conn)
{
    RedisConn *c = conn;
    char err[200];

    if (c->rc->err)
        return;
    (void)drain(c, err, sizeof(err));
    if (c->in_multi) {
        redisReply *r = redisCommand(c->rc, "DISCARD");
        if (r)
            freeReplyObject(r);
    }
    c->in_multi = false;
}

static int rd_is_empty(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    RedisConn *c = conn;
    char *pattern = key_pattern(spec->table);
    char cursor[32] = "0";
    int empty = 1;

    do {
        redisReply *r = redisCommand(c->rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            rd_failed(c, "SCAN", r && r->type == REDIS_REPLY_ERROR ? r->str : NULL, err, errlen);
            empty = -1;
        } else {
            snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
            if (r->element[1]->elements > 0)
                empty = 0;
        }
        if (r)
            freeReplyObject(r);
    } while (empty == 1 && strcmp(cursor, "0") != 0);
    free(pattern);
    return empty;
}

const RowDriver ROW_DRIVER_REDIS = {
    .kind = "redis",
    .open = rd_open,
    .alive = rd_alive,
    .begin = rd_begin,
    .table = rd_table,
    .rows = rd_rows,
    .table_end = rd_table_end,
    .empty = rd_empty,
    .commit = rd_commit,
    .rollback = rd_rollback,
    .close = rd_close,
    .is_empty = rd_is_empty,
};
