/*
 * engine/drivers/driver_pg.c - PostgreSQL as a TargetClass: a thin adapter
 * over the writer thread of cycle/target_writer.c, which takes PostgreSQL
 * statements and COPY streams as they are.  Nothing here knows SQL; the
 * writer keeps its own protocol (target_writer.h).
 */
#include "target_driver.h"
#include "target_writer.h"

static void *pg_start(const DbInfo *db, const TargetConfig *cfg)
{
    return writer_start(db, cfg->sync, cfg->lock_timeout, cfg->pool, cfg->cancel, cfg->budget);
}

static void pg_send(void *impl, Msg *msg)
{
    writer_send(impl, msg);
}

static bool pg_wait(void *impl, char *err, size_t errlen)
{
    return writer_wait(impl, err, errlen);
}

static void pg_counts(void *impl, long *deleted, long *inserted)
{
    writer_counts(impl, deleted, inserted);
}

static char *pg_take_rows(void *impl)
{
    return writer_take_rows(impl);
}

static void pg_set_shape_query(void *impl, const char *expr)
{
    writer_set_shape_query(impl, expr);
}

static char *pg_shape(void *impl)
{
    return writer_shape(impl);
}

static double pg_rtt(void *impl)
{
    return writer_rtt(impl);
}

static void pg_stop(void *impl)
{
    writer_stop(impl);
}

const TargetClass TARGET_CLASS_PG = {
    .kind = "postgres",
    .speaks_pg = true,
    .start = pg_start,
    .send = pg_send,
    .wait = pg_wait,
    .counts = pg_counts,
    .take_rows = pg_take_rows,
    .set_shape_query = pg_set_shape_query,
    .shape = pg_shape,
    .rtt = pg_rtt,
    .stop = pg_stop,
};
