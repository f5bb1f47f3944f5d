/*
 * engine/common/sqltext.c - sections of the embedded SQL files.
 *
 * Templates that hold several pieces (sql/capture.sql: per database, per
 * table, ...; sql/upgrade.sql: one piece per catalog version) mark each
 * with a line "-- @@SECTION name@@", so the pieces stay in one readable
 * .sql file instead of many C strings.
 */
#include "sqltext.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

char *sql_section(const char *text, const char *name)
{
    char *marker = xasprintf("-- @@SECTION %s@@\n", name);
    const char *start = strstr(text, marker), *end;
    char *out = NULL;

    if (start) {
        start += strlen(marker);
        end = strstr(start, "-- @@SECTION ");
        if (end == NULL)
            end = start + strlen(start);
        out = xmalloc((size_t)(end - start) + 1);
        memcpy(out, start, (size_t)(end - start));
        out[end - start] = '\0';
    }
    free(marker);
    return out;
}
