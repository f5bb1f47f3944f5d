/*
 * cli/cmd_check.c - `bucardo check [SYNC ...]`: a monitoring check in the
 * style of Nagios plugins (Bucardo ships one apart, check_bucardo_sync).
 *
 * For each sync named (none: every sync) it measures the lag - the age of
 * the oldest change not delivered to every member, read on the sources
 * (cli/health.c) - and applies the sync's thresholds:
 *
 *   lag > expired (when expired > 0)  CRITICAL  exit 2
 *   lag > overdue (when overdue > 0)  WARNING   exit 1
 *   otherwise                         OK        exit 0
 *   cannot tell (catalog, no sync)    UNKNOWN   exit 3
 *
 * The worst sync decides.  A source that cannot be read counts with the
 * age of the sync's last snapshot of it (an upper bound of its lag), and
 * the line says so.  One line of output, then performance data:
 *
 *   BUCARDO_SYNC WARNING: s1 lag 75s > overdue 60s; s2 OK (lag 0s) | s1_lag=75.0s;60;120;0 s2_lag=0.0s;;;0
 *
 * It runs without the engine (a stopped engine's syncs fall behind too)
 * and writes nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "health.h"

enum { CHECK_OK, CHECK_WARNING, CHECK_CRITICAL, CHECK_UNKNOWN };

static const char SQL_CHECK[] =
    "SELECT name, extract(epoch FROM overdue)::float8, extract(epoch FROM expired)::float8"
    "  FROM bucardo.sync WHERE $1::text IS NULL OR name = $1 ORDER BY name";

static const char *const LEVELS[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

/* check_one - one sync's level, its text and its performance data. */
static int check_one(CliContext *ctx, const char *name, double overdue, double expired, StrBuf *text,
                     StrBuf *perf)
{
    SyncHealth h;
    int level = CHECK_OK;

    if (!health_measure(ctx->cat, name, &h)) {
        strbuf_printf(text, "%s%s cannot be measured", text->len ? "; " : "", name);
        return CHECK_UNKNOWN;
    }
    if (expired > 0 && h.lag > expired)
        level = CHECK_CRITICAL;
    else if (overdue > 0 && h.lag > overdue)
        level = CHECK_WARNING;
    strbuf_printf(text, "%s%s ", text->len ? "; " : "", name);
    if (level == CHECK_CRITICAL)
        strbuf_printf(text, "lag %.0fs > expired %.0fs", h.lag, expired);
    else if (level == CHECK_WARNING)
        strbuf_printf(text, "lag %.0fs > overdue %.0fs", h.lag, overdue);
    else
        strbuf_printf(text, "OK (lag %.0fs)", h.lag);
    if (h.keys > 0)
        strbuf_printf(text, ", %ld key(s) waiting", h.keys);
    for (int i = 0; i < h.nmembers; i++)
        if (strcmp(h.members[i].state, "behind") == 0)
            strbuf_printf(text, ", %s behind", h.members[i].name);
    if (h.errors.count > 0)
        strbuf_printf(text, " (%s: lag is an upper bound)", h.errors.items[0]);
    strbuf_printf(perf, "%s'%s_lag'=%.1fs;", perf->len ? " " : "", name, h.lag);
    if (overdue > 0)
        strbuf_printf(perf, "%.0f", overdue);
    strbuf_append(perf, ";");
    if (expired > 0)
        strbuf_printf(perf, "%.0f", expired);
    strbuf_printf(perf, ";0 '%s_backlog'=%ld", name, h.keys);
    health_free(&h);
    return level;
}

int cmd_check(CliContext *ctx, int argc, char **argv)
{
    StrBuf text, perf;
    int worst = CHECK_OK, nsyncs = 0;

    if (cli_catalog(ctx) == NULL) {
        printf("BUCARDO_SYNC UNKNOWN: cannot connect to the catalog\n");
        return CHECK_UNKNOWN;
    }
    strbuf_init(&text);
    strbuf_init(&perf);
    for (int i = 0; i < (argc ? argc : 1); i++) {
        const char *params[1] = {argc ? argv[i] : NULL};
        PGresult *res = pg_query(ctx->cat, "catalog", SQL_CHECK, 1, params);

        if (res == NULL) {
            worst = CHECK_UNKNOWN;
            strbuf_printf(&text, "%scannot read the catalog", text.len ? "; " : "");
            break;
        }
        if (argc && PQntuples(res) == 0) {
            worst = CHECK_UNKNOWN;
            strbuf_printf(&text, "%sno sync named \"%s\"", text.len ? "; " : "", argv[i]);
        }
        for (int r = 0; r < PQntuples(res); r++) {
            int level = check_one(ctx, PQgetvalue(res, r, 0), atof(PQgetvalue(res, r, 1)),
                                  atof(PQgetvalue(res, r, 2)), &text, &perf);
            /* UNKNOWN ranks above OK but below a known problem. */
            if (worst == CHECK_UNKNOWN ? level == CHECK_CRITICAL || level == CHECK_WARNING
                                       : (level == CHECK_UNKNOWN ? worst == CHECK_OK : level > worst))
                worst = level;
            nsyncs++;
        }
        PQclear(res);
    }
    if (nsyncs == 0 && argc == 0)
        strbuf_append(&text, "no syncs");
    printf("BUCARDO_SYNC %s: %s%s%s\n", LEVELS[worst], text.data, perf.len ? " | " : "", perf.data);
    strbuf_free(&text);
    strbuf_free(&perf);
    return worst;
}
