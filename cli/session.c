/*
 * cli/session.c - what every command handler runs inside: one catalog
 * transaction (cli_catalog opens it, cli_finish commits or rolls it back,
 * so a failing command leaves the catalog as it was) and the one error line
 * a failing command prints (cli_error).
 *
 * The handlers in cli/cmd_*.c call these; cli/main.c only parses the
 * command line and dispatches, so nothing here depends on main.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"
#include "cli.h"
#include "utf8.h"

/*
 * redact_passwords - in place, "***" for the value after every "pass=" or
 * "password=" (any case; so also dbpass= and --dbpass=), up to a blank or
 * a quote.  Errors echo what was typed, and a password typed in the wrong
 * place (as a name, after a typo in its key) must still not be shown.
 */
static void redact_passwords(char *line)
{
    for (char *p = line; (p = strchr(p, '=')) != NULL; p++) {
        char *end;
        bool pass = (p - line >= 4 && strncasecmp(p - 4, "pass", 4) == 0) ||
                    (p - line >= 8 && strncasecmp(p - 8, "password", 8) == 0);

        if (!pass || p[1] == '\0' || p[1] == ' ' || p[1] == '"')
            continue;
        end = p + 1 + strcspn(p + 1, " \"");
        memmove(p + 4, end, strlen(end) + 1);
        memcpy(p + 1, "***", 3);
        p += 3;
    }
}

int cli_error(const char *fmt, ...)
{
    /* Errors echo what was typed: a huge argument must not make a huge
     * error, and a newline, a terminal escape or malformed UTF-8 in it must
     * not break the one line, so the line goes out through utf8_printable. */
    enum { ERROR_MAX = 1000 };
    char *line, *shown;
    va_list ap;

    va_start(ap, fmt);
    line = xvasprintf(fmt, ap);
    va_end(ap);
    redact_passwords(line);
    shown = utf8_printable(line, ERROR_MAX);
    fprintf(stderr, "bucardo: %s\n", shown);
    free(shown);
    free(line);
    return EXIT_FAIL;
}

PGconn *cli_catalog(CliContext *ctx)
{
    ConnParams cp = ctx->catalog;

    if (ctx->cat != NULL)
        return ctx->cat; /* `list all` runs several listings in one transaction */
    if (cp.user == NULL)
        cp.user = "bucardo";
    if (cp.dbname == NULL)
        cp.dbname = "bucardo";
    cli_debug(ctx, "connecting to the catalog: dbname=%s host=%s port=%s user=%s", cp.dbname,
              cp.host ? cp.host : "(default)", cp.port ? cp.port : "(default)", cp.user);
    ctx->cat = catalog_connect(&cp);
    if (ctx->cat == NULL)
        return NULL;
    if (!pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL)) {
        PQfinish(ctx->cat);
        ctx->cat = NULL;
    }
    return ctx->cat;
}

void cli_say(CliContext *ctx, const char *fmt, ...)
{
    va_list ap;
    char *line;

    va_start(ap, fmt);
    line = xvasprintf(fmt, ap);
    va_end(ap);
    strbuf_append(&ctx->said, line);
    free(line);
}

const char *cli_pretty_number(const CliContext *ctx, long n, char *buf, size_t len)
{
    char digits[32];
    const char *sep = ctx->tsep ? ctx->tsep : ",";
    size_t nd, out = 0;

    snprintf(digits, sizeof(digits), "%ld", n);
    nd = strlen(digits);
    for (size_t i = 0; i < nd && out + strlen(sep) + 2 < len; i++) {
        buf[out++] = digits[i];
        if (n >= 1000 && i + 1 < nd && (nd - i - 1) % 3 == 0)
            for (const char *p = sep; *p && out + 2 < len; p++)
                buf[out++] = *p;
    }
    buf[out] = '\0';
    return buf;
}

void cli_info(const CliContext *ctx, const char *fmt, ...)
{
    va_list ap;

    if (ctx->quiet > 0)
        return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

void cli_debug(const CliContext *ctx, const char *fmt, ...)
{
    va_list ap;

    if (ctx->debug <= 0)
        return;
    fputs("bucardo: DEBUG: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* changed_catalog - whether the open transaction wrote anything (it has
 * an xid then); -1 when that cannot be told. */
static int changed_catalog(PGconn *cat)
{
    PGresult *res = pg_query(cat, "catalog", "SELECT pg_current_xact_id_if_assigned() IS NOT NULL", 0, NULL);
    int changed = res ? strcmp(PQgetvalue(res, 0, 0), "t") == 0 : -1;

    PQclear(res);
    return changed;
}

/* confirmed - ask "Commit the changes? Y/N" and read the answer from stdin
 * (Bucardo: a line with a Y in it, any case, says yes). */
static bool confirmed(void)
{
    char answer[256];

    printf("Commit the changes? Y/N ");
    fflush(stdout);
    if (fgets(answer, sizeof(answer), stdin) == NULL)
        return false;
    return strchr(answer, 'y') != NULL || strchr(answer, 'Y') != NULL;
}

/*
 * cli_finish - see cli.h.  A command that wrote to the catalog ends, under
 * --dryrun, in ROLLBACK and says so; under --confirm, its lines are shown
 * and it commits only on a yes from stdin.  A command that wrote nothing
 * just commits (its NOTIFYs, if any, go out).
 */
int cli_finish(CliContext *ctx, int code)
{
    bool print_said = code == EXIT_OK;
    const char *after = NULL;

    if (ctx->cat != NULL) {
        int changed = code == EXIT_OK && (ctx->dryrun || ctx->confirm || ctx->verbose > 0)
                          ? changed_catalog(ctx->cat)
                          : 0;
        bool commit = code == EXIT_OK;

        if (changed < 0) {
            commit = false;
            code = EXIT_FAIL;
        } else if (changed && ctx->dryrun) {
            commit = false;
            after = "DRYRUN: the changes above were rolled back, nothing was committed\n";
        } else if (changed && ctx->confirm) {
            if (ctx->said.len > 0)
                fputs(ctx->said.data, stdout);
            print_said = false;
            commit = confirmed();
            after = commit ? "Changes have been committed\n" : "Changes have been rolled back\n";
        }
        cli_debug(ctx, "%s", commit ? "COMMIT" : "ROLLBACK");
        if (commit) {
            if (!pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL)) {
                code = EXIT_FAIL;
                print_said = false;
                after = NULL;
            }
        } else {
            PGresult *res = PQexec(ctx->cat, "ROLLBACK");
            PQclear(res);
        }
        PQfinish(ctx->cat);
        ctx->cat = NULL;
    }
    if (print_said && ctx->said.len > 0 && ctx->quiet <= 0)
        fputs(ctx->said.data, stdout);
    if (after != NULL)
        fputs(after, stdout);
    strbuf_reset(&ctx->said);
    return code;
}
