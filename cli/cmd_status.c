/*
 * cli/cmd_status.c - `bucardo status` (one line per sync) and
 * `bucardo status SYNC` (the detail block), read from the catalog's run
 * history (bucardo.syncrun) and the engine's pid file.
 *
 * The table's layout follows Bucardo's: each column as wide as its widest
 * value or its title plus one, cells padded with a space on each side.
 *
 * --json prints one document (json-c) with every figure of the detail
 * block, for every sync or the ones named, plus what the text does not
 * show: the backlog (keys waiting per table and source), the lag (age of
 * the oldest change not delivered) and each member's state, measured on
 * the sources (cli/health.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "catalog.h"
#include "cli.h"
#include "daemon.h"
#include "health.h"
#include "utf8.h"

static const char SQL_STATUS[] =
    "SELECT s.name,"
    "       CASE WHEN s.status <> 'active' THEN 'Inactive' ELSE coalesce(last.state, 'No runs') END,"
    "       to_char(good.ended, $2),"
    "       extract(epoch FROM now() - good.ended)::bigint,"
    "       good.deletes || '/' || good.inserts,"
    "       to_char(bad.ended, $2),"
    "       extract(epoch FROM now() - bad.ended)::bigint,"
    "       to_char(good.ended, $3),"
    "       ceil(extract(epoch FROM good.ended - good.started))::bigint,"
    "       good.deletes, good.inserts, s.relgroup,"
    "       (SELECT string_agg(m.db, ',' ORDER BY m.position) FROM bucardo.dbgroup_member m"
    "         WHERE m.dbgroup = s.dbgroup AND m.role = 'source'),"
    "       (SELECT count(*) FROM bucardo.relgroup_member rm WHERE rm.relgroup = s.relgroup),"
    "       s.status, coalesce(to_char(s.checktime, 'HH24:MI:SS'), 'None'),"
    "       to_char(s.overdue, 'HH24:MI:SS'), to_char(s.expired, 'HH24:MI:SS'),"
    "       s.stayalive, s.kidsalive, s.rebuild_index, s.autokick, s.onetimecopy, s.analyze_after_copy,"
    "       coalesce(lasterr.error, ''),"
    "       extract(epoch FROM good.ended), extract(epoch FROM bad.ended),"
    "       (SELECT string_agg(DISTINCT ms.member, ',') FROM bucardo.sync_member_state ms"
    "         WHERE ms.sync = s.name),"
    "       extract(epoch FROM s.overdue)::float8, extract(epoch FROM s.expired)::float8,"
    "       to_char(good.ended AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
    "       to_char(bad.ended AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
    "       good.conflicts, extract(epoch FROM s.checktime)::float8,"
    "       (SELECT string_agg(m.db, ',' ORDER BY m.position) FROM bucardo.dbgroup_member m"
    "         WHERE m.dbgroup = s.dbgroup AND m.role <> 'source'),"
    "       s.conflict_strategy,"
    "       s.status_note,"
    /* its databases the engine marked stalled (bucardo.db_state) */
    "       (SELECT string_agg(ds.db || ' since ' || to_char(ds.since, 'Mon DD, YYYY HH24:MI:SS'), ', '"
    "                          ORDER BY ds.db)"
    "          FROM bucardo.db_state ds"
    "         WHERE ds.db IN (SELECT m.db FROM bucardo.dbgroup_member m WHERE m.dbgroup = s.dbgroup)),"
    "       (SELECT string_agg(ds.db, ',' ORDER BY ds.db) FROM bucardo.db_state ds"
    "         WHERE ds.db IN (SELECT m.db FROM bucardo.dbgroup_member m WHERE m.dbgroup = s.dbgroup)),"
    /* a run in progress (its syncrun row is written when it starts) */
    "       EXISTS (SELECT 1 FROM bucardo.syncrun r WHERE r.sync = s.name AND r.ended IS NULL)"
    "  FROM bucardo.sync s"
    "  LEFT JOIN LATERAL (SELECT state FROM bucardo.syncrun r WHERE r.sync = s.name AND r.ended IS NOT NULL"
    "                      ORDER BY r.id DESC LIMIT 1) last ON true"
    "  LEFT JOIN LATERAL (SELECT * FROM bucardo.syncrun r WHERE r.sync = s.name AND r.state = 'Good'"
    "                      ORDER BY r.id DESC LIMIT 1) good ON true"
    "  LEFT JOIN LATERAL (SELECT * FROM bucardo.syncrun r WHERE r.sync = s.name AND r.state = 'Bad'"
    "                      ORDER BY r.id DESC LIMIT 1) bad ON true"
    "  LEFT JOIN LATERAL (SELECT error FROM bucardo.syncrun r WHERE r.sync = s.name AND r.ended IS NOT NULL"
    "                      ORDER BY r.id DESC LIMIT 1) lasterr ON true"
    " WHERE $1::text IS NULL OR s.name = $1"
    " ORDER BY s.name";

/* Column numbers of SQL_STATUS. */
enum {
    S_NAME,
    S_STATE,
    S_GOOD_TIME,
    S_GOOD_AGO,
    S_GOOD_ID,
    S_BAD_TIME,
    S_BAD_AGO,
    S_GOOD_LONG,
    S_GOOD_RUN,
    S_DELETES,
    S_INSERTS,
    S_RELGROUP,
    S_SOURCES,
    S_NTABLES,
    S_STATUS,
    S_CHECKTIME,
    S_OVERDUE,
    S_EXPIRED,
    S_STAYALIVE,
    S_KIDSALIVE,
    S_REBUILD,
    S_AUTOKICK,
    S_ONETIMECOPY,
    S_ANALYZE,
    S_ERROR,
    S_GOOD_EPOCH,
    S_BAD_EPOCH,
    S_BEHIND, /* members left behind (bucardo.sync_member_state), or NULL */
    S_OVERDUE_S,
    S_EXPIRED_S,
    S_GOOD_ISO,
    S_BAD_ISO,
    S_CONFLICTS,
    S_CHECKTIME_S,
    S_TARGETS,
    S_STRATEGY,
    S_NOTE,         /* why the program made it inactive (sync.status_note), or NULL */
    S_STALLED_LONG, /* its databases marked stalled, with since when, or NULL */
    S_STALLED,      /* the same, names only */
    S_RUNNING       /* a run is in progress: t or f */
};

/*
 * state_text - the State of a sync as status prints it: the last completed
 * run's state, and where Bucardo shows the running run's status instead,
 * "(running)" after it, or "Running" before any run completed (owned).
 * A sync that retries after failures thus still says Bad while it tries.
 */
static char *state_text(const PGresult *res, int r)
{
    bool running = strcmp(PQgetvalue(res, r, S_RUNNING), "t") == 0;
    const char *state = PQgetvalue(res, r, S_STATE);

    if (!running || strcmp(state, "Inactive") == 0)
        return xstrdup(state);
    if (strcmp(state, "No runs") == 0)
        return xstrdup("Running");
    return xasprintf("%s (running)", state);
}

/* The display options of status (--show-days, --compress, --sort). */
typedef struct StatusOpts {
    bool showdays, compress;
    long sort;
} StatusOpts;

/*
 * ago - the age of an event in seconds as Bucardo prints it: "1h 2m 3s"
 * (units above zero; hours beyond a day unless --show-days, which gives
 * "3d 12h 1m 0s"), without blanks under --compress; into buf.
 */
static const char *ago(const char *seconds, const StatusOpts *o, char *buf, size_t len)
{
    long s = atol(seconds), d = 0, h, m;
    size_t out = 0;

    if (seconds[0] == '\0') {
        buf[0] = '\0';
        return buf;
    }
    if (s < 0)
        s = 0;
    if (o->showdays && s >= 86400) {
        d = s / 86400;
        s -= d * 86400;
    }
    h = s >= 3600 ? s / 3600 : 0;
    s -= h * 3600;
    m = s >= 60 ? s / 60 : 0;
    s -= m * 60;
    buf[0] = '\0';
    if (d > 0)
        out += (size_t)snprintf(buf + out, len - out, "%ldd ", d);
    if (h > 0 && out < len)
        out += (size_t)snprintf(buf + out, len - out, "%ldh ", h);
    if (m > 0 && out < len)
        out += (size_t)snprintf(buf + out, len - out, "%ldm ", m);
    if (out < len)
        snprintf(buf + out, len - out, "%lds", s);
    if (o->compress) {
        char *w = buf;
        for (const char *r = buf; *r; r++)
            if (*r != ' ')
                *w++ = *r;
        *w = '\0';
    }
    return buf;
}

static const char *yes_no(const char *b)
{
    return strcmp(b, "t") == 0 || strcmp(b, "1") == 0 || strcmp(b, "2") == 0 ? "Yes" : "No";
}

static void print_pid(CliContext *ctx)
{
    char *piddir = ctx->piddir ? xstrdup(ctx->piddir) : catalog_get_setting(ctx->cat, "piddir");
    long pid = piddir ? daemon_running_pid(piddir) : 0;

    if (pid > 0)
        printf("PID of Bucardo MCP: %ld\n", pid);
    else
        printf("Bucardo is not running\n");
    free(piddir);
}

#define NCOLS 7
/* sort_key - the number --sort compares for row r (columns 5 to 9). */
static double sort_key(PGresult *res, int r, long col)
{
    switch (col < 0 ? -col : col) {
    case 5: return PQgetisnull(res, r, S_GOOD_AGO) ? -1 : atof(PQgetvalue(res, r, S_GOOD_AGO));
    case 6: return PQgetisnull(res, r, S_GOOD_EPOCH) ? -1 : atof(PQgetvalue(res, r, S_GOOD_EPOCH));
    case 7: return atof(PQgetvalue(res, r, S_DELETES)) + atof(PQgetvalue(res, r, S_INSERTS));
    case 8: return PQgetisnull(res, r, S_BAD_AGO) ? -1 : atof(PQgetvalue(res, r, S_BAD_AGO));
    case 9: return PQgetisnull(res, r, S_BAD_EPOCH) ? -1 : atof(PQgetvalue(res, r, S_BAD_EPOCH));
    default: return 0;
    }
}

typedef struct SortCtx {
    PGresult *res;
    long col;
} SortCtx;

/* compare_rows - Bucardo's --sort: 1 name, 3 state, 5 last good age, 6
 * last good time, 7 rows deleted+inserted, 8 last bad age, 9 last bad
 * time (2 and 4 by name); negative: descending; ties by name. */
static int compare_rows(const void *a, const void *b, void *arg)
{
    const SortCtx *c = arg;
    int ra = *(const int *)a, rb = *(const int *)b, sign = c->col < 0 ? -1 : 1, cmp = 0;
    long col = c->col < 0 ? -c->col : c->col;
    const char *na = PQgetvalue(c->res, ra, S_NAME), *nb = PQgetvalue(c->res, rb, S_NAME);

    if (col == 1)
        return sign * strcmp(na, nb);
    if (col == 3)
        cmp = strcmp(PQgetvalue(c->res, ra, S_STATE), PQgetvalue(c->res, rb, S_STATE));
    else if (col >= 5) {
        double ka = sort_key(c->res, ra, col), kb = sort_key(c->res, rb, col);
        cmp = ka < kb ? -1 : ka > kb;
    }
    return cmp != 0 ? sign * cmp : strcmp(na, nb);
}

static void print_table(const CliContext *ctx, PGresult *res, const StatusOpts *o)
{
    static const char *const titles[NCOLS] = {"Name",     "State",    "Last good", "Time",
                                              "Last I/D", "Last bad", "Time"};
    int n = PQntuples(res), width[NCOLS];
    char ***cells = xcalloc((size_t)n, sizeof(char **));
    int *order = xcalloc((size_t)n + 1, sizeof(int));
    SortCtx sc = {res, o->sort ? o->sort : 1};

    for (int r = 0; r < n; r++)
        order[r] = r;
    qsort_r(order, (size_t)n, sizeof(int), compare_rows, &sc);

    for (int c = 0; c < NCOLS; c++)
        width[c] = (int)strlen(titles[c]) + (c > 0);
    for (int i = 0; i < n; i++) {
        char buf[64];
        int r = order[i];
        cells[r] = xcalloc(NCOLS, sizeof(char *));
        cells[r][0] = xstrdup(PQgetvalue(res, r, S_NAME));
        /* A sync whose runs are Good while a member misses them says so
         * here too, not only in `status SYNC`. */
        {
            char *state = state_text(res, r);
            cells[r][1] = PQgetisnull(res, r, S_BEHIND)
                              ? xstrdup(state)
                              : xasprintf("%s (behind: %s)", state, PQgetvalue(res, r, S_BEHIND));
            free(state);
        }
        /* Databases the engine cannot reach (Bucardo's stalled). */
        if (!PQgetisnull(res, r, S_STALLED)) {
            char *with = xasprintf("%s (stalled: %s)", cells[r][1], PQgetvalue(res, r, S_STALLED));
            free(cells[r][1]);
            cells[r][1] = with;
        }
        cells[r][2] = xstrdup(PQgetisnull(res, r, S_GOOD_TIME) ? "none" : PQgetvalue(res, r, S_GOOD_TIME));
        cells[r][3] = xstrdup(ago(PQgetvalue(res, r, S_GOOD_AGO), o, buf, sizeof(buf)));
        if (PQgetisnull(res, r, S_GOOD_ID)) {
            cells[r][4] = xstrdup("");
        } else {
            char d[48], in[48];
            cells[r][4] =
                xasprintf("%s/%s", cli_pretty_number(ctx, atol(PQgetvalue(res, r, S_DELETES)), d, sizeof(d)),
                          cli_pretty_number(ctx, atol(PQgetvalue(res, r, S_INSERTS)), in, sizeof(in)));
        }
        cells[r][5] = xstrdup(PQgetisnull(res, r, S_BAD_TIME) ? "none" : PQgetvalue(res, r, S_BAD_TIME));
        cells[r][6] = xstrdup(ago(PQgetvalue(res, r, S_BAD_AGO), o, buf, sizeof(buf)));
        for (int c = 0; c < NCOLS; c++)
            if (utf8_width(cells[r][c]) > width[c])
                width[c] = utf8_width(cells[r][c]);
    }
    for (int c = 0; c < NCOLS; c++)
        printf("%s %-*s ", c ? " " : "", width[c], titles[c]);
    printf("\n");
    for (int c = 0; c < NCOLS; c++) {
        printf("%s", c ? "+" : "");
        for (int i = 0; i < width[c] + 2; i++)
            putchar('=');
    }
    printf("\n");
    for (int i = 0; i < n; i++) {
        int r = order[i];
        for (int c = 0; c < NCOLS; c++) {
            printf("%s %s%*s ", c ? "|" : "", cells[r][c], utf8_pad(cells[r][c], width[c]), "");
            free(cells[r][c]);
        }
        printf("\n");
        free(cells[r]);
    }
    free(cells);
    free(order);
}

static const char SQL_COPIES[] = "SELECT tablename, target, streams, bytes, estimate, rows, done,"
                                 "       greatest(extract(epoch FROM updated - started), 0.001)"
                                 "  FROM bucardo.copy_progress WHERE sync = $1 ORDER BY started, tablename";

/* print_copies - the table copies in flight (with rate and ETA) and done. */
static void print_copies(PGconn *cat, const char *sync)
{
    const char *params[1] = {sync};
    PGresult *res = pg_query(cat, "catalog", SQL_COPIES, 1, params);

    if (res == NULL)
        return;
    for (int r = 0; r < PQntuples(res); r++) {
        double mb = atof(PQgetvalue(res, r, 3)) / 1048576.0, est = atof(PQgetvalue(res, r, 4)) / 1048576.0;
        double secs = atof(PQgetvalue(res, r, 7)), rate = mb / secs;
        bool done = strcmp(PQgetvalue(res, r, 6), "t") == 0;

        if (done)
            printf(
                "Last copy                : %s -> %s: %s rows, %.1f MB in %.1fs (%.1f MB/s, %s stream(s))\n",
                PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                PQgetisnull(res, r, 5) ? "?" : PQgetvalue(res, r, 5), mb, secs, rate, PQgetvalue(res, r, 2));
        else
            printf("Copy in progress         : %s -> %s: %s rows, %.1f MB of ~%.1f MB, %.1f MB/s, ETA %.0fs"
                   " (%s stream(s))\n",
                   PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                   PQgetisnull(res, r, 5) ? "0" : PQgetvalue(res, r, 5), mb, est, rate,
                   rate > 0 && est > mb ? (est - mb) / rate : 0.0, PQgetvalue(res, r, 2));
    }
    PQclear(res);
}

static const char SQL_BEHIND[] =
    "SELECT member, to_char(min(since), 'Mon DD, YYYY HH24:MI:SS'),"
    "       string_agg(source, ',' ORDER BY source), max(reason)"
    "  FROM bucardo.sync_member_state WHERE sync = $1 GROUP BY member ORDER BY member";

/* print_behind - members that missed cycles while unreachable, and why. */
static void print_behind(PGconn *cat, const char *sync)
{
    const char *params[1] = {sync};
    PGresult *res = pg_query(cat, "catalog", SQL_BEHIND, 1, params);

    if (res == NULL)
        return;
    for (int r = 0; r < PQntuples(res); r++)
        printf("Behind                   : %s since %s, changes of %s to catch up (%s)\n",
               PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
               PQgetisnull(res, r, 3) ? "offline" : PQgetvalue(res, r, 3));
    PQclear(res);
}

static void print_detail(const CliContext *ctx, PGresult *res, int r)
{
    const char *line = "======================================================================";

    printf("%s\n", line);
    if (PQgetisnull(res, r, S_GOOD_LONG))
        printf("Last good                : none\n");
    else
        printf("Last good                : %s (time to run: %ss)\n", PQgetvalue(res, r, S_GOOD_LONG),
               PQgetvalue(res, r, S_GOOD_RUN));
    if (PQgetisnull(res, r, S_DELETES))
        printf("Rows deleted/inserted    : none\n");
    else {
        char d[48], in[48];
        printf("Rows deleted/inserted    : %s / %s\n",
               cli_pretty_number(ctx, atol(PQgetvalue(res, r, S_DELETES)), d, sizeof(d)),
               cli_pretty_number(ctx, atol(PQgetvalue(res, r, S_INSERTS)), in, sizeof(in)));
    }
    printf("Sync name                : %s\n", PQgetvalue(res, r, S_NAME));
    {
        char *state = state_text(res, r);
        printf("Current state            : %s\n", state);
        free(state);
    }
    printf("Source relgroup/database : %s / %s\n", PQgetvalue(res, r, S_RELGROUP),
           PQgetvalue(res, r, S_SOURCES));
    printf("Tables in sync           : %s\n", PQgetvalue(res, r, S_NTABLES));
    printf("Status                   : %s\n",
           strcmp(PQgetvalue(res, r, S_STATUS), "active") == 0 ? "Active" : "Inactive");
    if (!PQgetisnull(res, r, S_NOTE))
        printf("Status note              : %s\n", PQgetvalue(res, r, S_NOTE));
    if (!PQgetisnull(res, r, S_STALLED_LONG))
        printf("Stalled databases        : %s\n", PQgetvalue(res, r, S_STALLED_LONG));
    printf("Check time               : %s\n", PQgetvalue(res, r, S_CHECKTIME));
    printf("Overdue time             : %s\n", PQgetvalue(res, r, S_OVERDUE));
    printf("Expired time             : %s\n", PQgetvalue(res, r, S_EXPIRED));
    printf("Stayalive/Kidsalive      : %s / %s\n", yes_no(PQgetvalue(res, r, S_STAYALIVE)),
           yes_no(PQgetvalue(res, r, S_KIDSALIVE)));
    printf("Rebuild index            : %s\n", yes_no(PQgetvalue(res, r, S_REBUILD)));
    printf("Autokick                 : %s\n", yes_no(PQgetvalue(res, r, S_AUTOKICK)));
    printf("Onetimecopy              : %s\n", yes_no(PQgetvalue(res, r, S_ONETIMECOPY)));
    printf("Post-copy analyze        : %s\n", yes_no(PQgetvalue(res, r, S_ANALYZE)));
    printf("Last error:              : %s\n", PQgetvalue(res, r, S_ERROR));
    printf("%s\n", line);
}

/* date_formats - BUCARDO_SHORTDATEFORMAT and BUCARDO_DATEFORMAT (to_char
 * patterns, as in Bucardo), or Bucardo's defaults. */
static void date_formats(const char **shortfmt, const char **longfmt)
{
    const char *s = getenv("BUCARDO_SHORTDATEFORMAT"), *l = getenv("BUCARDO_DATEFORMAT");

    *shortfmt = s && *s ? s : "HH24:MI:SS";
    *longfmt = l && *l ? l : "Mon DD, YYYY HH24:MI:SS";
}

/* Small json-c helpers: a text cell (NULL for SQL NULL), numbers. */
static json_object *jtext(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? NULL : json_object_new_string(PQgetvalue(res, r, c));
}

static json_object *jnum(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? NULL : json_object_new_double(atof(PQgetvalue(res, r, c)));
}

static json_object *jint(PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? NULL : json_object_new_int64(atoll(PQgetvalue(res, r, c)));
}

static json_object *jbool(PGresult *res, int r, int c)
{
    return json_object_new_boolean(strcmp(yes_no(PQgetvalue(res, r, c)), "Yes") == 0);
}

static json_object *jlist(PGresult *res, int r, int c)
{
    json_object *a = json_object_new_array();
    StrList l = {0};

    if (!PQgetisnull(res, r, c))
        strlist_add_split(&l, PQgetvalue(res, r, c), ',');
    for (int i = 0; i < l.count; i++)
        json_object_array_add(a, json_object_new_string(l.items[i]));
    strlist_free(&l);
    return a;
}

/* json_copies - bucardo.copy_progress rows of the sync. */
static json_object *json_copies(PGconn *cat, const char *sync)
{
    const char *params[1] = {sync};
    PGresult *res = pg_query(cat, "catalog", SQL_COPIES, 1, params);
    json_object *a = json_object_new_array();

    for (int r = 0; res && r < PQntuples(res); r++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "table", jtext(res, r, 0));
        json_object_object_add(o, "target", jtext(res, r, 1));
        json_object_object_add(o, "streams", jint(res, r, 2));
        json_object_object_add(o, "bytes", jint(res, r, 3));
        json_object_object_add(o, "estimate_bytes", jint(res, r, 4));
        json_object_object_add(o, "rows", jint(res, r, 5));
        json_object_object_add(o, "done", json_object_new_boolean(strcmp(PQgetvalue(res, r, 6), "t") == 0));
        json_object_object_add(o, "seconds", jnum(res, r, 7));
        json_object_array_add(a, o);
    }
    PQclear(res);
    return a;
}

/* json_sync - one sync: the detail block's figures and its health. */
static json_object *json_sync(CliContext *ctx, PGresult *res, int r, bool *ok)
{
    json_object *o = json_object_new_object(), *good = json_object_new_object(),
                *bad = json_object_new_object();
    json_object *backlog = json_object_new_array(), *members = json_object_new_array(), *errs;
    const char *name = PQgetvalue(res, r, S_NAME);
    SyncHealth h;

    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "state", jtext(res, r, S_STATE));
    json_object_object_add(o, "running",
                           json_object_new_boolean(strcmp(PQgetvalue(res, r, S_RUNNING), "t") == 0));
    json_object_object_add(
        o, "status",
        json_object_new_string(strcmp(PQgetvalue(res, r, S_STATUS), "active") == 0 ? "active" : "inactive"));
    json_object_object_add(good, "ended", jtext(res, r, S_GOOD_ISO));
    json_object_object_add(good, "seconds_ago", jint(res, r, S_GOOD_AGO));
    json_object_object_add(good, "duration_seconds", jint(res, r, S_GOOD_RUN));
    json_object_object_add(good, "deletes", jint(res, r, S_DELETES));
    json_object_object_add(good, "inserts", jint(res, r, S_INSERTS));
    json_object_object_add(good, "conflicts", jint(res, r, S_CONFLICTS));
    json_object_object_add(o, "last_good", good);
    json_object_object_add(bad, "ended", jtext(res, r, S_BAD_ISO));
    json_object_object_add(bad, "seconds_ago", jint(res, r, S_BAD_AGO));
    json_object_object_add(o, "last_bad", bad);
    json_object_object_add(o, "last_error", jtext(res, r, S_ERROR));
    json_object_object_add(o, "relgroup", jtext(res, r, S_RELGROUP));
    json_object_object_add(o, "sources", jlist(res, r, S_SOURCES));
    json_object_object_add(o, "targets", jlist(res, r, S_TARGETS));
    json_object_object_add(o, "tables", jint(res, r, S_NTABLES));
    json_object_object_add(o, "checktime_seconds", jnum(res, r, S_CHECKTIME_S));
    json_object_object_add(o, "overdue_seconds", jnum(res, r, S_OVERDUE_S));
    json_object_object_add(o, "expired_seconds", jnum(res, r, S_EXPIRED_S));
    json_object_object_add(o, "stayalive", jbool(res, r, S_STAYALIVE));
    json_object_object_add(o, "kidsalive", jbool(res, r, S_KIDSALIVE));
    json_object_object_add(o, "rebuild_index", jint(res, r, S_REBUILD));
    json_object_object_add(o, "autokick", jbool(res, r, S_AUTOKICK));
    json_object_object_add(o, "onetimecopy", jint(res, r, S_ONETIMECOPY));
    json_object_object_add(o, "analyze_after_copy", jbool(res, r, S_ANALYZE));
    json_object_object_add(o, "conflict_strategy", jtext(res, r, S_STRATEGY));
    json_object_object_add(o, "behind", jlist(res, r, S_BEHIND));
    json_object_object_add(o, "stalled", jlist(res, r, S_STALLED));
    json_object_object_add(o, "copies", json_copies(ctx->cat, name));
    if (!health_measure(ctx->cat, name, &h)) {
        *ok = false;
        json_object_put(backlog);
        json_object_put(members);
        return o;
    }
    json_object_object_add(o, "lag_seconds", json_object_new_double(h.lag));
    json_object_object_add(o, "backlog_keys", json_object_new_int64(h.keys));
    for (int t = 0; t < h.ntables; t++) {
        json_object *b = json_object_new_object();
        json_object_object_add(b, "table", json_object_new_string(h.tables[t].table));
        json_object_object_add(b, "source", json_object_new_string(h.tables[t].source));
        json_object_object_add(b, "keys", json_object_new_int64(h.tables[t].keys));
        json_object_object_add(b, "lag_seconds", json_object_new_double(h.tables[t].lag));
        json_object_array_add(backlog, b);
    }
    json_object_object_add(o, "backlog", backlog);
    for (int i = 0; i < h.nmembers; i++) {
        const MemberHealth *mh = &h.members[i];
        json_object *m = json_object_new_object();
        json_object_object_add(m, "name", json_object_new_string(mh->name));
        json_object_object_add(m, "role", json_object_new_string(mh->role));
        json_object_object_add(m, "state", json_object_new_string(mh->state));
        json_object_object_add(m, "behind_since", mh->since ? json_object_new_string(mh->since) : NULL);
        json_object_object_add(m, "behind_reason", mh->reason ? json_object_new_string(mh->reason) : NULL);
        json_object_object_add(m, "backlog_keys", json_object_new_int64(mh->keys));
        json_object_object_add(m, "lag_seconds", json_object_new_double(mh->lag));
        json_object_array_add(members, m);
    }
    json_object_object_add(o, "members", members);
    errs = json_object_new_array();
    for (int i = 0; i < h.errors.count; i++)
        json_object_array_add(errs, json_object_new_string(h.errors.items[i]));
    json_object_object_add(o, "unreadable", errs);
    health_free(&h);
    return o;
}

/* status_json - the document for every sync (argc 0) or the ones named. */
static int status_json(CliContext *ctx, int argc, char **argv)
{
    json_object *doc = json_object_new_object(), *engine = json_object_new_object(),
                *syncs = json_object_new_array();
    char *piddir = catalog_get_setting(ctx->cat, "piddir");
    long pid = piddir ? daemon_running_pid(piddir) : 0;
    bool ok = true;
    StrList named = {0};
    const char *shortfmt, *longfmt;

    free(piddir);
    json_object_object_add(engine, "running", json_object_new_boolean(pid > 0));
    json_object_object_add(engine, "pid", pid > 0 ? json_object_new_int64(pid) : NULL);
    json_object_object_add(doc, "engine", engine);
    json_object_object_add(doc, "syncs", syncs);
    if (argc > 0 && !cli_select_syncs(ctx, argc, argv, &named, NULL)) {
        strlist_free(&named);
        json_object_put(doc);
        return EXIT_FAIL;
    }
    date_formats(&shortfmt, &longfmt);
    for (int i = 0; ok && i < (argc ? named.count : 1); i++) {
        const char *params[3] = {argc ? named.items[i] : NULL, shortfmt, longfmt};
        PGresult *res = pg_query(ctx->cat, "catalog", SQL_STATUS, 3, params);
        if (res == NULL) {
            ok = false;
            break;
        }
        for (int r = 0; ok && r < PQntuples(res); r++)
            json_object_array_add(syncs, json_sync(ctx, res, r, &ok));
        PQclear(res);
    }
    if (ok)
        printf("%s\n",
               json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(doc);
    strlist_free(&named);
    return ok ? EXIT_OK : EXIT_FAIL;
}

/*
 * cmd_status - `status` (the table, sorted by --sort), `status SYNC ...`
 * and `status all` (the detail block of each sync; names may use the
 * wildcards '%' and '*').
 */
int cmd_status(CliContext *ctx, int argc, char **argv)
{
    PGresult *res;
    StatusOpts o = {ctx->showdays, ctx->compress, ctx->sort};
    const char *shortfmt, *longfmt;
    StrList syncs = {0};

    date_formats(&shortfmt, &longfmt);
    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    if (ctx->json)
        return status_json(ctx, argc, argv);
    if (argc == 0) {
        res = pg_query(ctx->cat, "catalog", SQL_STATUS, 3, (const char *[]){NULL, shortfmt, longfmt});
        if (res == NULL)
            return EXIT_FAIL;
        print_pid(ctx);
        if (PQntuples(res) == 0)
            printf("No syncs have been created yet.\n");
        else
            print_table(ctx, res, &o);
        PQclear(res);
        return EXIT_OK;
    }
    if (!cli_select_syncs(ctx, argc, argv, &syncs, NULL)) {
        strlist_free(&syncs);
        return EXIT_FAIL;
    }
    for (int i = 0; i < syncs.count; i++) {
        const char *params[3] = {syncs.items[i], shortfmt, longfmt};
        res = pg_query(ctx->cat, "catalog", SQL_STATUS, 3, params);
        if (res == NULL || PQntuples(res) == 0) {
            PQclear(res);
            strlist_free(&syncs);
            return EXIT_FAIL;
        }
        print_detail(ctx, res, 0);
        print_behind(ctx->cat, syncs.items[i]);
        print_copies(ctx->cat, syncs.items[i]);
        PQclear(res);
    }
    strlist_free(&syncs);
    return EXIT_OK;
}
