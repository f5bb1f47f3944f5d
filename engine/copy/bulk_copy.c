/*
 * engine/copy/bulk_copy.c - whole-table copies (onetimecopy, fullcopy targets)
 * in parallel streams.
 *
 * How a table is copied:
 *
 *  1. On the cycle's source transaction (REPEATABLE READ), export its
 *     snapshot, and read the table's size in blocks.
 *  2. One stream: one writer connection per target does BEGIN; TRUNCATE;
 *     COPY ... FREEZE; COMMIT - FREEZE is allowed because the table was
 *     truncated in the same transaction, and spares the target the later
 *     hint-bit and freeze passes.  Small tables run it on the sync thread,
 *     larger ones on a thread of their own (as a range of one) so that the
 *     sync thread can report progress meanwhile.
 *     Several streams: each target's table is truncated and committed first, then
 *     the heap is split into N ranges of blocks (ctid >= '(a,0)' AND ctid <
 *     '(b,0)': a TID range scan, PostgreSQL 14+), and N threads each copy
 *     one range on their own source connection - which imports the exported
 *     snapshot, so every stream sees exactly the cycle's rows and each row
 *     version lies in exactly one range - into their own writer connection
 *     per target, committing independently.  Ranges need no key, so tables
 *     without one split the same way.
 *  3. ANALYZE each target table, unless analyze_after_copy is off; then
 *     VACUUM it if the table's vacuum_after_copy is on (vacuum_targets).
 *
 * rebuild_index (index_rebuild.c): the targets' secondary indexes are
 * dropped before the load and recreated after it - inside the one
 * transaction of a single stream; around the streams, journaled in the
 * catalog, with parallel streams.  The table is then always analyzed, as
 * new expression indexes have no statistics until it is.  Parallel streams
 * also load without the primary key where nothing depends on it (same
 * journal), whatever rebuild_index says: built after the load it is
 * smaller and the copy faster (measured by bench/bulk_bench.sh).
 *
 * Rows move in binary COPY format when every column has a built-in type
 * and strict_checking confirmed the targets' types are the same: it spares
 * both servers the text conversions.  Otherwise, and for customcols, text.
 *
 * The copy commits on the targets before the rest of the cycle does.  That
 * is safe: a cycle that then fails leaves onetimecopy set (it is cleared
 * only with the cycle's record), so the next cycle copies again from
 * scratch; and targets apply with session_replication_role = replica, so
 * the order of tables does not matter to foreign keys.
 *
 * Threads: the calling sync thread starts the range threads and waits,
 * writing progress (rows and bytes read, an estimate from the table's
 * size) to the catalog about once a second.  Each range thread owns its source
 * connection and its writers; all share the runner's chunk pool, which
 * bounds memory whatever the number of streams.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulk_copy.h"
#include "index_rebuild.h"
#include "log.h"
#include "target_writer.h"

static const char SQL_SIZE[] =
    "SELECT pg_catalog.pg_relation_size(%s::regclass) / current_setting('block_size')::bigint,"
    "       pg_catalog.pg_relation_size(%s::regclass)";
static const char SQL_PROGRESS[] =
    "INSERT INTO bucardo.copy_progress (sync, tablename, target, streams, bytes, estimate)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT (sync, tablename) DO UPDATE SET target = EXCLUDED.target, streams = EXCLUDED.streams,"
    "   bytes = EXCLUDED.bytes, estimate = EXCLUDED.estimate, rows = NULL, started = now(), updated = now(),"
    "   done = false";
static const char SQL_PROGRESS_UPDATE[] =
    "UPDATE bucardo.copy_progress SET bytes = $3, updated = now(), rows = $4::bigint, done = $5::boolean"
    " WHERE sync = $1 AND tablename = $2";

/* Tables smaller than this many blocks (8 MB at 8 kB) go in one stream. */
enum { PARALLEL_MIN_BLOCKS = 1024 };

/* One range: its thread, connections and outcome. */
typedef struct Range {
    pthread_t thread;
    const BulkCopy *job;
    const IndexSet *indexes; /* per writer, to drop and recreate; NULL: none */
    long first, last;        /* block range; last < 0: to the end */
    bool whole;              /* the only range: truncate and load in one transaction */
    bool ok;
    char err[1024];
    long rows;
} Range;

static int default_streams(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

/* start_writers - one writer per copy target, with its transaction open. */
static Target **start_writers(const BulkCopy *job)
{
    SyncRunner *r = job->r;
    Target **ws = xcalloc((size_t)r->nwriters, sizeof(Target *));

    for (int w = 0; w < r->nwriters; w++)
        if (job->to[w]) {
            TargetConfig tc = runner_target_config(r);
            ws[w] = target_start(writer_dbinfo(r, w), &tc);
            target_send_new(ws[w], MSG_BEGIN, r->client_encoding);
        }
    return ws;
}

/* finish_writers - BARRIER, COMMIT (or ROLLBACK), stop; rows copied. */
static bool finish_writers(const BulkCopy *job, Target **ws, bool ok, char *err, size_t errlen, long *rows)
{
    SyncRunner *r = job->r;

    *rows = 0;
    for (int w = 0; w < r->nwriters; w++)
        if (ws[w])
            target_send_new(ws[w], ok ? MSG_BARRIER : MSG_ROLLBACK, NULL);
    for (int w = 0; w < r->nwriters; w++)
        if (ws[w] && !target_wait(ws[w], ok ? err : NULL, errlen))
            ok = false;
    for (int w = 0; w < r->nwriters; w++)
        if (ws[w])
            target_send_new(ws[w], ok ? MSG_COMMIT : MSG_ROLLBACK, NULL);
    for (int w = 0; w < r->nwriters; w++) {
        long d, ins;
        if (ws[w] == NULL)
            continue;
        if (!target_wait(ws[w], ok ? err : NULL, errlen))
            ok = false;
        target_counts(ws[w], &d, &ins);
        *rows = ins > *rows ? ins : *rows;
        target_stop(ws[w]);
    }
    free(ws);
    return ok;
}

/*
 * empty_sql - the statement that empties the table on writer w: TRUNCATE,
 * or DELETE where other tables' foreign keys reference it (see
 * writer_table_referenced); rows of the referencing tables then wait for
 * the reload as in any delta cycle.  Decided here rather than by the
 * writer (MSG_EMPTY) because COPY FREEZE is allowed only after TRUNCATE.
 * Caller frees.
 */
static char *empty_sql(const BulkCopy *job, int w)
{
    const char *table = job->r->src[0].plans[job->table].wtable[w];
    const char *only = job->r->wpart[w * job->r->def.ntables + job->table] ? "" : "ONLY ";
    const char *method = job->r->def.deletemethod ? job->r->def.deletemethod : "default";

    /* deletemethod (Bucardo's): truncate fails where a foreign key points
     * at the table; truncate_cascade also empties the referencing tables
     * (their rows come back only if a sync copies them too). */
    if (strcmp(method, "truncate") == 0)
        return xasprintf("TRUNCATE %s%s", only, table);
    if (strcmp(method, "truncate_cascade") == 0)
        return xasprintf("TRUNCATE %s%s CASCADE", only, table);
    return xasprintf("%s%s%s", job->referenced[w] ? "DELETE FROM " : "TRUNCATE ", only, table);
}

/*
 * read_referenced - fill job->referenced: per copy target, whether other
 * tables' foreign keys reference the table there.
 */
static bool read_referenced(BulkCopy *job, char *err, size_t errlen)
{
    SyncRunner *r = job->r;

    for (int w = 0; w < r->nwriters; w++) {
        const DbInfo *db = writer_dbinfo(r, w);
        ConnParams cp;
        char reason[512];
        const char *table;
        PGconn *conn;
        bool ok;

        if (!job->to[w])
            continue;
        cp = dbinfo_params(db);
        if ((conn = budget_connect(r->budget, &cp, db->name, reason, sizeof(reason))) == NULL) {
            snprintf(err, errlen, "target %s: cannot connect: %s", db->name, reason);
            return false;
        }
        table = r->src[0].plans[job->table].wtable[w];
        ok = writer_table_referenced(conn, table, &job->referenced[w],
                                     &r->wpart[w * r->def.ntables + job->table]);
        /* referenced[] also says "emptied by DELETE" (no COPY FREEZE then). */
        if (r->def.deletemethod && strcmp(r->def.deletemethod, "delete") == 0)
            job->referenced[w] = true;
        else if (r->def.deletemethod && strncmp(r->def.deletemethod, "truncate", 8) == 0)
            job->referenced[w] = false;
        if (!ok)
            snprintf(err, errlen, "target %s: cannot read the foreign keys referencing %s: %s", db->name,
                     table, PQerrorMessage(conn));
        PQfinish(conn);
        if (!ok)
            return false;
    }
    return true;
}

/*
 * copy_range - copy one block range (or the whole table) into ws, one pipe
 * per distinct customcols select list.  `freeze`: the table was truncated
 * in the writers' transaction, so COPY FREEZE may be used.  Rows go in
 * binary when the table's types allow it (TablePlan.binary) and the
 * writer receives every column unchanged; customcols go as text.
 */
static bool copy_range(const BulkCopy *job, PGconn *src, Target **ws, long first, long last, bool freeze,
                       char *err, size_t errlen)
{
    SyncRunner *r = job->r;
    const TablePlan *p = &r->src[0].plans[job->table];
    char **in = xcalloc((size_t)r->nwriters, sizeof(char *));
    bool *done = xcalloc((size_t)r->nwriters, sizeof(bool)), ok = true;
    char range[128] = "", *where;

    if (first > 0 || last >= 0)
        snprintf(range, sizeof(range), "ctid >= '(%ld,0)'::tid%s", first, last >= 0 ? " AND ctid < " : "");
    if (last >= 0)
        snprintf(range + strlen(range), sizeof(range) - strlen(range), "'(%ld,0)'::tid", last);
    /* A capture filter: only the rows the sync replicates are copied. */
    where = xasprintf("%s%s%s%s%s%s", range[0] || p->filter ? " WHERE " : "", range,
                      range[0] && p->filter ? " AND " : "", p->filter ? "(" : "", p->filter ? p->filter : "",
                      p->filter ? ")" : "");
    for (int w = 0; ok && w < r->nwriters; w++) {
        const char *sel = p->wselect[w];
        CopyPipe pipe = {.src = src,
                         .srcname = r->def.sources[0].name,
                         .pool = r->pool,
                         .writers = ws,
                         .nwriters = r->nwriters,
                         .copy_in = in,
                         .count = true};
        char *out;

        bool pg = writer_is_pg(r, w);
        bool binary = pg && p->binary && sel == NULL;

        if (!job->to[w] || done[w])
            continue;
        for (int v = w; v < r->nwriters; v++) {
            const char *other = p->wselect[v];
            if (job->to[v] && !done[v] && writer_is_pg(r, v) == pg &&
                (sel == NULL ? other == NULL : other != NULL && strcmp(sel, other) == 0)) {
                /* FREEZE needs the TRUNCATE, and a table with storage of its
                 * own: PostgreSQL refuses it on a partitioned table. */
                bool fz = freeze && !job->referenced[v] && !r->wpart[v * r->def.ntables + job->table];
                const char *opts =
                    binary ? (fz ? " (FORMAT binary, FREEZE)" : " (FORMAT binary)") : (fz ? " (FREEZE)" : "");
                done[v] = true;
                /* Targets of other kinds take their rows as a table operation (target_driver.h). */
                in[v] = pg ? xasprintf("COPY %s (%s) FROM STDIN%s", p->wtable[v], p->wcolumns[v], opts)
                           : xstrdup(p->wrows[v]);
            }
        }
        out = xasprintf("COPY (SELECT %s FROM %s AS t%s) TO STDOUT%s", sel ? sel : p->columns, p->table_from,
                        where, binary ? " (FORMAT binary)" : "");
        ok = copy_pipe(&pipe, p->display, out, (atomic_long *)&job->bytes, (atomic_long *)&job->read, err,
                       errlen);
        free(out);
        for (int v = 0; v < r->nwriters; v++) {
            free(in[v]);
            in[v] = NULL;
        }
    }
    free(where);
    free(in);
    free(done);
    return ok;
}

/* send_empty - queue on every writer in ws the DROP of `indexes` (unless
 * NULL) and the statement that empties the table. */
static void send_empty(const BulkCopy *job, Target **ws, const IndexSet *indexes)
{
    for (int w = 0; w < job->r->nwriters; w++)
        if (ws[w]) {
            char *sql = empty_sql(job, w);
            if (indexes)
                index_set_send_drop(&indexes[w], ws[w]);
            target_send_new(ws[w], MSG_EXEC, sql);
            free(sql);
        }
}

/*
 * load_whole - on writers ws (transactions open): drop the indexes in
 * `indexes` (may be NULL), TRUNCATE, COPY ... FREEZE the whole table from
 * src, recreate the indexes.  The caller commits or rolls back.
 */
static bool load_whole(const BulkCopy *job, PGconn *src, Target **ws, const IndexSet *indexes, char *err,
                       size_t errlen)
{
    bool ok;

    send_empty(job, ws, indexes);
    ok = copy_range(job, src, ws, 0, -1, true, err, errlen);
    for (int w = 0; indexes && w < job->r->nwriters; w++)
        if (ws[w])
            index_set_send_create(&indexes[w], ws[w]);
    return ok;
}

static void *range_main(void *arg)
{
    Range *rg = arg;
    const BulkCopy *job = rg->job;
    SyncRunner *r = job->r;
    ConnParams cp = dbinfo_params(&r->def.sources[0]);
    char reason[512], *sql;
    PGconn *src;
    int slot;
    Target **ws;
    PGresult *res;

    log_set_thread_name(r->def.name, "copy");
    rg->ok = false;
    src = budget_connect(r->budget, &cp, r->def.sources[0].name, reason, sizeof(reason));
    if (src == NULL) {
        snprintf(rg->err, sizeof(rg->err), "source %s: cannot connect: %s", r->def.sources[0].name, reason);
        return NULL;
    }
    slot = cancel_watch(r->cancel, src); /* a stopping engine cancels the copy */
    /* The isolation level of the cycle's transaction that exported the
     * snapshot: PostgreSQL requires it for a serializable import. */
    sql = xasprintf("SET client_encoding = '%s'; " PG_ROW_TEXT_SETTINGS
                    "; BEGIN ISOLATION LEVEL %s READ ONLY; SET TRANSACTION SNAPSHOT '%s'",
                    pg_copy_encoding(src), r->def.serializable ? "SERIALIZABLE" : "REPEATABLE READ",
                    job->snapshot);
    res = PQexec(src, sql);
    free(sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(rg->err, sizeof(rg->err), "source %s: importing the cycle's snapshot: %s",
                 r->def.sources[0].name, PQresultErrorMessage(res));
        PQclear(res);
        cancel_unwatch(r->cancel, slot);
        PQfinish(src);
        return NULL;
    }
    PQclear(res);
    ws = start_writers(job);
    if (rg->whole)
        rg->ok = load_whole(job, src, ws, rg->indexes, rg->err, sizeof(rg->err));
    else
        rg->ok = copy_range(job, src, ws, rg->first, rg->last, false, rg->err, sizeof(rg->err));
    rg->ok = finish_writers(job, ws, rg->ok, rg->err, sizeof(rg->err), &rg->rows);
    cancel_unwatch(r->cancel, slot);
    PQfinish(src);
    return NULL;
}

/* progress - record the copy's state in the catalog (best effort): rows
 * read so far, or when done the rows copied. */
static void progress(const BulkCopy *job, bool done, long rows)
{
    SyncRunner *r = job->r;
    char bytes[32], nrows[32];
    const char *params[5] = {r->def.name, r->src[0].plans[job->table].display, bytes, nrows,
                             done ? "true" : "false"};

    snprintf(bytes, sizeof(bytes), "%ld", atomic_load((atomic_long *)&job->bytes));
    snprintf(nrows, sizeof(nrows), "%ld", done ? rows : atomic_load((atomic_long *)&job->read));
    if (r->cat && !pg_exec(r->cat, "catalog", SQL_PROGRESS_UPDATE, 5, params))
        log_warn("could not record the copy's progress");
}

static bool start_progress(const BulkCopy *job, int streams, long estimate)
{
    SyncRunner *r = job->r;
    StrBuf targets;
    char ns[16], est[32];
    const char *params[6];
    bool ok;

    strbuf_init(&targets);
    for (int w = 0; w < r->nwriters; w++)
        if (job->to[w])
            strbuf_printf(&targets, "%s%s", targets.len ? ", " : "", writer_dbinfo(r, w)->name);
    snprintf(ns, sizeof(ns), "%d", streams);
    snprintf(est, sizeof(est), "%ld", estimate);
    params[0] = r->def.name;
    params[1] = r->src[0].plans[job->table].display;
    params[2] = targets.data;
    params[3] = ns;
    params[4] = "0";
    params[5] = est;
    ok = r->cat && pg_exec(r->cat, "catalog", SQL_PROGRESS, 6, params);
    strbuf_free(&targets);
    return ok;
}

/* truncate_targets - TRUNCATE the table on every copy target (dropping
 * `indexes` first, unless NULL), committed. */
static bool truncate_targets(const BulkCopy *job, const IndexSet *indexes, char *err, size_t errlen)
{
    Target **ws = start_writers(job);
    long rows;

    send_empty(job, ws, indexes);
    return finish_writers(job, ws, true, err, errlen, &rows);
}

/*
 * read_indexes - per copy target, the indexes of kinds `which` the load
 * goes without (writer-indexed array, caller frees with free_indexes);
 * *none when no target has any; NULL on error.
 */
static IndexSet *read_indexes(const BulkCopy *job, int which, bool *none, char *err, size_t errlen)
{
    SyncRunner *r = job->r;
    IndexSet *ix = xcalloc((size_t)r->nwriters, sizeof(IndexSet));

    *none = true;

    for (int w = 0; w < r->nwriters; w++)
        if (job->to[w] &&
            !index_set_read(writer_dbinfo(r, w), r->src[0].plans[job->table].wtable[w],
                            &r->def.tables[job->table], r->client_encoding, which, &ix[w], err, errlen)) {
            for (int v = 0; v <= w; v++)
                index_set_free(&ix[v]);
            free(ix);
            return NULL;
        } else if (ix[w].n > 0) {
            *none = false;
        }
    return ix;
}

static void free_indexes(const SyncRunner *r, IndexSet *ix)
{
    for (int w = 0; ix && w < r->nwriters; w++)
        index_set_free(&ix[w]);
    free(ix);
}

/*
 * rebuild_after_streams - recreate the indexes the parallel streams loaded
 * without, one transaction per target, then forget them in the journal.
 * Runs whether or not the streams succeeded: a target keeps its indexes.
 */
static bool rebuild_after_streams(const BulkCopy *job, const IndexSet *ix, char *err, size_t errlen)
{
    SyncRunner *r = job->r;
    Target **ws = start_writers(job);
    long ignored;
    bool ok;

    for (int w = 0; w < r->nwriters; w++)
        if (ws[w])
            index_set_send_create(&ix[w], ws[w]);
    ok = finish_writers(job, ws, true, err, errlen, &ignored);
    for (int w = 0; ok && w < r->nwriters; w++)
        if (job->to[w])
            ok = index_journal_clear(r, writer_dbinfo(r, w)->name, &ix[w], err, errlen);
    return ok;
}

/*
 * copy_streams - the table in `streams` range threads on the exported
 * snapshot (one thread: the whole table in one transaction), reporting
 * progress while they run.
 */
static bool copy_streams(BulkCopy *job, int streams, long nblocks, const IndexSet *ix, long *rows, char *err,
                         size_t errlen)
{
    SyncRunner *r = job->r;
    const TablePlan *p = &r->src[0].plans[job->table];
    Range *ranges;
    PGresult *res;
    int running = 0;
    bool ok = true;

    res = src_query(r, 0, p->display, "SELECT pg_export_snapshot()", PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return false;
    snprintf(job->snapshot, sizeof(job->snapshot), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (streams > 1 && ix) {
        for (int w = 0; w < r->nwriters; w++)
            if (job->to[w] &&
                !index_journal_add(r, writer_dbinfo(r, w)->name, p->wtable[w], &ix[w], err, errlen))
                return false;
    }
    if (streams > 1 && !truncate_targets(job, ix, err, errlen)) {
        /* The drop may have committed on some targets and not on others:
         * the journal recreates what is missing, where it is missing. */
        char rerr[1024];
        if (ix && !index_journal_restore(r, rerr, sizeof(rerr)))
            log_warn("%s (the journal keeps the indexes of %s to recreate later)", rerr, p->display);
        return false;
    }
    ranges = xcalloc((size_t)streams, sizeof(Range));
    for (int i = 0; i < streams; i++) {
        ranges[i].job = job;
        ranges[i].whole = streams == 1;
        ranges[i].indexes = streams == 1 ? ix : NULL;
        ranges[i].first = nblocks * i / streams;
        ranges[i].last = i == streams - 1 ? -1 : nblocks * (i + 1) / streams;
        if (pthread_create(&ranges[i].thread, NULL, range_main, &ranges[i]) != 0) {
            snprintf(err, errlen, "sync %s: cannot start a copy thread", r->def.name);
            ok = false;
            break;
        }
        running++;
    }
    /* Wait, reporting progress about once a second. */
    for (int i = 0; i < running; i++) {
        struct timespec deadline;
        for (;;) {
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_sec += 1;
            if (pthread_timedjoin_np(ranges[i].thread, NULL, &deadline) == 0)
                break;
            progress(job, false, 0);
        }
        if (!ranges[i].ok && ok) {
            snprintf(err, errlen, "%s", ranges[i].err);
            ok = false;
        }
        *rows += ranges[i].rows;
    }
    free(ranges);
    if (streams > 1 && ix) {
        char rerr[1024];
        if (!rebuild_after_streams(job, ix, rerr, sizeof(rerr))) {
            if (ok)
                snprintf(err, errlen, "%s", rerr);
            else
                log_error("%s", rerr);
            ok = false;
        }
    }
    return ok;
}

/*
 * vacuum_targets - the table's vacuum_after_copy: VACUUM it on every target
 * it was copied to.  VACUUM cannot run in a transaction, so the writers only
 * connect (no BEGIN) before it.  The copy is committed by then and the data
 * is right either way: a failure is logged, not the copy's.
 */
static void vacuum_targets(const BulkCopy *job)
{
    SyncRunner *r = job->r;
    const TablePlan *p = &r->src[0].plans[job->table];
    Target **ws = xcalloc((size_t)r->nwriters, sizeof(Target *));
    char err[1024] = "";
    long ignored;

    for (int w = 0; w < r->nwriters; w++)
        if (job->to[w]) {
            char *sql = xasprintf("VACUUM %s", p->wtable[w]);
            TargetConfig tc = runner_target_config(r);
            ws[w] = target_start(writer_dbinfo(r, w), &tc);
            target_send_new(ws[w], MSG_CONNECT, NULL);
            target_send_new(ws[w], MSG_EXEC, sql);
            free(sql);
        }
    if (finish_writers(job, ws, true, err, sizeof(err), &ignored))
        log_info("vacuumed table %s on its targets (vacuum_after_copy)", p->display);
    else
        log_warn("vacuum_after_copy of table %s: %s", p->display, err);
}

/* copy_table - bulk_copy_table, with job->referenced allocated. */
static bool copy_table(BulkCopy *job, char *err, size_t errlen)
{
    SyncRunner *r = job->r;
    const TablePlan *p = &r->src[0].plans[job->table];
    PGconn *src = r->src[0].conn;
    char *sql;
    PGresult *res;
    long nblocks, estimate, rows = 0;
    int streams = r->def.copy_streams > 0 ? r->def.copy_streams : default_streams();
    IndexSet *ix = NULL;
    int which;
    bool ok = true, retry_restore = false;

    atomic_init(&job->bytes, 0);
    atomic_init(&job->read, 0);
    /* Indexes an interrupted copy of this sync dropped come back first.
     * One that cannot (rows on the target now break a unique key) is tried
     * again once this copy has replaced the rows: not fatal here, or the
     * copy that would repair it could never run. */
    if (!index_journal_restore(r, err, errlen)) {
        log_warn("%s; trying again after the copy of %s", err, p->display);
        retry_restore = true;
        err[0] = '\0';
    }
    if (!read_referenced(job, err, errlen))
        return false;
    sql = xasprintf(SQL_SIZE, p->literal, p->literal);
    res = src_query(r, 0, p->display, sql, PGRES_TUPLES_OK, err, errlen);
    free(sql);
    if (res == NULL)
        return false;
    nblocks = atol(PQgetvalue(res, 0, 0));
    estimate = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    if (nblocks < PARALLEL_MIN_BLOCKS && r->def.copy_streams == 0)
        streams = 1;
    if (streams > nblocks)
        streams = nblocks > 0 ? (int)nblocks : 1;
    /* Parallel streams always go without the primary key where that is
     * safe (index_rebuild.c says why and when); rebuild_index adds the
     * secondary indexes. */
    which = (r->def.tables[job->table].rebuild_index > 0 ? INDEX_SECONDARY : 0) |
            (streams > 1 ? INDEX_PRIMARY_KEY : 0);
    if (which) {
        bool none;
        if ((ix = read_indexes(job, which, &none, err, errlen)) == NULL)
            return false;
        if (none) { /* nothing to rebuild: a plain copy */
            free_indexes(r, ix);
            ix = NULL;
        }
    }
    if (!start_progress(job, streams, estimate))
        log_warn("could not record the start of the copy of %s", p->display);
    log_info("copying table %s (%ld kB) in %d stream(s)%s", p->display, estimate / 1024, streams,
             ix ? ", indexes rebuilt after" : "");

    if (streams == 1 && nblocks < PARALLEL_MIN_BLOCKS) {
        /* Small: on the cycle's own source transaction, no progress needed. */
        Target **ws = start_writers(job);
        ok = load_whole(job, src, ws, ix, err, errlen);
        ok = finish_writers(job, ws, ok, err, errlen, &rows);
    } else {
        ok = copy_streams(job, streams, nblocks, ix, &rows, err, errlen);
    }
    if (ok && (r->def.tables[job->table].analyze_after_copy || ix)) {
        Target **ws = start_writers(job);
        long ignored;
        for (int w = 0; w < r->nwriters; w++)
            if (ws[w]) {
                sql = xasprintf("ANALYZE %s", p->wtable[w]);
                target_send_new(ws[w], MSG_EXEC, sql);
                free(sql);
            }
        ok = finish_writers(job, ws, true, err, errlen, &ignored);
    }
    if (ok && r->def.tables[job->table].vacuum_after_copy)
        vacuum_targets(job);
    free_indexes(r, ix);
    if (ok && retry_restore) { /* another table's entry may wait for that table's copy */
        char rerr[1024];
        if (!index_journal_restore(r, rerr, sizeof(rerr)))
            log_warn("%s; trying again at the next copy or engine start", rerr);
    }
    progress(job, ok, rows);
    job->rows = rows;
    if (ok)
        log_info("copied table %s: %ld rows, %ld kB of COPY data, %d stream(s)", p->display, rows,
                 (long)atomic_load(&job->bytes) / 1024, streams);
    return ok;
}

/*
 * copy_others - the table to the targets in `others`, all of other kinds
 * than PostgreSQL: emptied, then loaded in one stream from the cycle's own
 * source transaction, one transaction per target.  Their drivers load in
 * bulk on their own; none of the PostgreSQL machinery (parallel ranges,
 * index rebuilds, FREEZE, ANALYZE) applies.
 */
static bool copy_others(BulkCopy *job, const bool *others, long *rows, char *err, size_t errlen)
{
    SyncRunner *r = job->r;
    const TablePlan *p = &r->src[0].plans[job->table];
    BulkCopy sub = {.r = r, .table = job->table, .to = others, .referenced = job->referenced};
    Target **ws;
    bool ok;

    atomic_init(&sub.bytes, 0);
    atomic_init(&sub.read, 0);
    ws = start_writers(&sub);
    for (int w = 0; w < r->nwriters; w++)
        if (ws[w])
            target_send_new(ws[w], MSG_EMPTY, p->wempty[w]);
    ok = copy_range(&sub, r->src[0].conn, ws, 0, -1, false, err, errlen);
    ok = finish_writers(&sub, ws, ok, err, errlen, rows);
    if (ok)
        log_info("copied table %s to its targets other than PostgreSQL: %ld rows", p->display, *rows);
    return ok;
}

bool bulk_copy_table(BulkCopy *job, char *err, size_t errlen)
{
    SyncRunner *r = job->r;
    const bool *to = job->to;
    bool *pg = xcalloc((size_t)r->nwriters, sizeof(bool)),
         *others = xcalloc((size_t)r->nwriters, sizeof(bool));
    bool ok = true, any_pg = false, any_other = false;
    long rows = 0;

    for (int w = 0; w < r->nwriters; w++) {
        pg[w] = to[w] && writer_is_pg(r, w);
        others[w] = to[w] && !pg[w];
        any_pg |= pg[w];
        any_other |= others[w];
    }
    job->referenced = xcalloc((size_t)job->r->nwriters, sizeof(bool));
    if (any_other)
        ok = copy_others(job, others, &rows, err, errlen);
    if (ok && any_pg) {
        job->to = pg;
        ok = copy_table(job, err, errlen);
        job->to = to;
    } else {
        job->rows = rows;
    }
    free(job->referenced);
    job->referenced = NULL;
    free(pg);
    free(others);
    return ok;
}
