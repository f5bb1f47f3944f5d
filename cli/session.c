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

int cli_finish(CliContext *ctx, int code)
{
    if (ctx->cat != NULL) {
        if (code == EXIT_OK) {
            if (!pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL))
                code = EXIT_FAIL;
        } else {
            PGresult *res = PQexec(ctx->cat, "ROLLBACK");
            PQclear(res);
        }
        PQfinish(ctx->cat);
        ctx->cat = NULL;
    }
    if (code == EXIT_OK && ctx->said.len > 0)
        fputs(ctx->said.data, stdout);
    strbuf_reset(&ctx->said);
    return code;
}
