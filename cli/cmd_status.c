/*
 * cli/cmd_status.c - `bucardo status` (one line per sync) and
 * `bucardo status SYNC` (the detail block), read from the catalog's run
 * history (bucardo.syncrun) and the engine's pid file.
 *
 * The table's layout follows Bucardo's: each column as wide as its widest
 * value or its title plus one, cells padded with a space on each side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "daemon.h"
#include "utf8.h"

static const char SQL_STATUS[] =
    "SELECT s.name,"
    "       CASE WHEN s.status <> 'active' THEN 'Inactive' ELSE coalesce(last.state, 'No runs') END,"
    "       to_char(good.ended, 'HH24:MI:SS'),"
    "       extract(epoch FROM now() - good.ended)::bigint,"
    "       good.deletes || '/' || good.inserts,"
    "       to_char(bad.ended, 'HH24:MI:SS'),"
    "       extract(epoch FROM now() - bad.ended)::bigint,"
    "       to_char(good.ended, 'Mon DD, YYYY HH24:MI:SS'),"
    "       ceil(extract(epoch FROM good.ended - good.started))::bigint,"
    "       good.deletes, good.inserts, s.relgroup,"
    "       (SELECT string_agg(m.db, ',' ORDER BY m.position) FROM bucardo.dbgroup_member m"
    "         WHERE m.dbgroup = s.dbgroup AND m.role = 'source'),"
    "       (SELECT count(*) FROM bucardo.relgroup_member rm WHERE rm.relgroup = s.relgroup),"
    "       s.status, coalesce(to_char(s.checktime, 'HH24:MI:SS'), 'None'),"
    "       to_char(s.overdue, 'HH24:MI:SS'), to_char(s.expired, 'HH24:MI:SS'),"
    "       s.stayalive, s.kidsalive, s.rebuild_index, s.autokick, s.onetimecopy, s.analyze_after_copy,"
    "       coalesce(lasterr.error, ''),"
    "       (SELECT string_agg(DISTINCT ms.member, ',') FROM bucardo.sync_member_state ms"
    "         WHERE ms.sync = s.name),"
    "       s.status_note"
    "  FROM bucardo.sync s"
    "  LEFT JOIN LATERAL (SELECT state FROM bucardo.syncrun r WHERE r.sync = s.name"
    "                      ORDER BY r.id DESC LIMIT 1) last ON true"
    "  LEFT JOIN LATERAL (SELECT * FROM bucardo.syncrun r WHERE r.sync = s.name AND r.state = 'Good'"
    "                      ORDER BY r.id DESC LIMIT 1) good ON true"
    "  LEFT JOIN LATERAL (SELECT * FROM bucardo.syncrun r WHERE r.sync = s.name AND r.state = 'Bad'"
    "                      ORDER BY r.id DESC LIMIT 1) bad ON true"
    "  LEFT JOIN LATERAL (SELECT error FROM bucardo.syncrun r WHERE r.sync = s.name"
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
    S_BEHIND, /* members left behind (bucardo.sync_member_state), or NULL */
    S_NOTE    /* why the program made it inactive (sync.status_note), or NULL */
};

/* ago - "1m 9s"-style age of an event, into buf. */
static const char *ago(const char *seconds, char *buf, size_t len)
{
    long s = atol(seconds), d = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60;

    if (seconds[0] == '\0')
        buf[0] = '\0';
    else if (d > 0)
        snprintf(buf, len, "%ldd %ldh", d, h);
    else if (h > 0)
        snprintf(buf, len, "%ldh %ldm", h, m);
    else if (m > 0)
        snprintf(buf, len, "%ldm %lds", m, s % 60);
    else
        snprintf(buf, len, "%lds", s < 0 ? 0 : s);
    return buf;
}

static const char *yes_no(const char *b)
{
    return strcmp(b, "t") == 0 || strcmp(b, "1") == 0 || strcmp(b, "2") == 0 ? "Yes" : "No";
}

static void print_pid(CliContext *ctx)
{
    char *piddir = catalog_get_setting(ctx->cat, "piddir");
    long pid = piddir ? daemon_running_pid(piddir) : 0;

    if (pid > 0)
        printf("PID of Bucardo MCP: %ld\n", pid);
    else
        printf("Bucardo is not running\n");
    free(piddir);
}

#define NCOLS 7
static void print_table(PGresult *res)
{
    static const char *const titles[NCOLS] = {"Name",     "State",    "Last good", "Time",
                                              "Last I/D", "Last bad", "Time"};
    int n = PQntuples(res), width[NCOLS];
    char ***cells = xcalloc((size_t)n, sizeof(char **));

    for (int c = 0; c < NCOLS; c++)
        width[c] = (int)strlen(titles[c]) + (c > 0);
    for (int r = 0; r < n; r++) {
        char buf[64];
        cells[r] = xcalloc(NCOLS, sizeof(char *));
        cells[r][0] = xstrdup(PQgetvalue(res, r, S_NAME));
        /* A sync whose runs are Good while a member misses them says so
         * here too, not only in `status SYNC`. */
        cells[r][1] =
            PQgetisnull(res, r, S_BEHIND)
                ? xstrdup(PQgetvalue(res, r, S_STATE))
                : xasprintf("%s (behind: %s)", PQgetvalue(res, r, S_STATE), PQgetvalue(res, r, S_BEHIND));
        cells[r][2] = xstrdup(PQgetisnull(res, r, S_GOOD_TIME) ? "none" : PQgetvalue(res, r, S_GOOD_TIME));
        cells[r][3] = xstrdup(ago(PQgetvalue(res, r, S_GOOD_AGO), buf, sizeof(buf)));
        cells[r][4] = xstrdup(PQgetisnull(res, r, S_GOOD_ID) ? "" : PQgetvalue(res, r, S_GOOD_ID));
        cells[r][5] = xstrdup(PQgetisnull(res, r, S_BAD_TIME) ? "none" : PQgetvalue(res, r, S_BAD_TIME));
        cells[r][6] = xstrdup(ago(PQgetvalue(res, r, S_BAD_AGO), buf, sizeof(buf)));
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
    for (int r = 0; r < n; r++) {
        for (int c = 0; c < NCOLS; c++) {
            printf("%s %s%*s ", c ? "|" : "", cells[r][c], utf8_pad(cells[r][c], width[c]), "");
            free(cells[r][c]);
        }
        printf("\n");
        free(cells[r]);
    }
    free(cells);
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

static void print_detail(PGresult *res, int r)
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
    else
        printf("Rows deleted/inserted    : %s / %s\n", PQgetvalue(res, r, S_DELETES),
               PQgetvalue(res, r, S_INSERTS));
    printf("Sync name                : %s\n", PQgetvalue(res, r, S_NAME));
    printf("Current state            : %s\n", PQgetvalue(res, r, S_STATE));
    printf("Source relgroup/database : %s / %s\n", PQgetvalue(res, r, S_RELGROUP),
           PQgetvalue(res, r, S_SOURCES));
    printf("Tables in sync           : %s\n", PQgetvalue(res, r, S_NTABLES));
    printf("Status                   : %s\n",
           strcmp(PQgetvalue(res, r, S_STATUS), "active") == 0 ? "Active" : "Inactive");
    if (!PQgetisnull(res, r, S_NOTE))
        printf("Status note              : %s\n", PQgetvalue(res, r, S_NOTE));
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

int cmd_status(CliContext *ctx, int argc, char **argv)
{
    PGresult *res;

    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    if (argc == 0) {
        res = pg_query(ctx->cat, "catalog", SQL_STATUS, 1, (const char *[]){NULL});
        if (res == NULL)
            return EXIT_FAIL;
        print_pid(ctx);
        if (PQntuples(res) == 0)
            printf("No syncs have been created yet.\n");
        else
            print_table(res);
        PQclear(res);
        return EXIT_OK;
    }
    for (int i = 0; i < argc; i++) {
        const char *params[1] = {argv[i]};
        res = pg_query(ctx->cat, "catalog", SQL_STATUS, 1, params);
        if (res == NULL)
            return EXIT_FAIL;
        if (PQntuples(res) == 0) {
            PQclear(res);
            return cli_error("no sync named \"%s\"", argv[i]);
        }
        print_detail(res, 0);
        print_behind(ctx->cat, argv[i]);
        print_copies(ctx->cat, argv[i]);
        PQclear(res);
    }
    return EXIT_OK;
}
