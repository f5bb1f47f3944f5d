/*
 * cli/cmd_compare.c - `bucardo compare SYNC [TABLE ...] [--repair] [--json]`:
 * which rows differ between a sync's source and its targets
 * (engine/compare/compare.c does the comparing; this file picks the tables and
 * prints the outcome).
 *
 * Exit status: 0 when every compared table is equal, 1 when some differ
 * (also after --repair queued them: they differed when compared), 2 on
 * any error.  Text output names each table with its row count, time and
 * rate, then the keys that differ; --json prints one JSON document with
 * every key instead.  --repair commits the keys into the source's delta
 * tables and then kicks the sync through the catalog.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"
#include "daemon.h"
#include "syncdef.h"

static const char SQL_KICK[] = "SELECT pg_notify($1, $2)";

/* Keys listed per table in text output (--json lists all). */
#define TEXT_KEY_LIMIT 1000

/*
 * select_tables - selected[i] for each table of the sync named on the
 * command line ("schema.table", or "table" when that is unambiguous);
 * all of them when none is named.  Prints why and returns false when a
 * name matches no table of the sync, or several.
 */
static bool select_tables(const SyncDef *def, int argc, char **argv, bool *selected)
{
    for (int i = 0; i < def->ntables; i++)
        selected[i] = argc == 0;
    for (int a = 0; a < argc; a++) {
        int found = -1, matches = 0;
        for (int i = 0; i < def->ntables; i++) {
            const TableDef *t = &def->tables[i];
            char *full = xasprintf("%s.%s", t->schemaname, t->relname);
            if (strcmp(argv[a], full) == 0 || strcmp(argv[a], t->relname) == 0) {
                found = i;
                matches++;
            }
            free(full);
        }
        if (matches == 0) {
            cli_error("sync %s has no table \"%s\"", def->name, argv[a]);
            return false;
        }
        if (matches > 1) {
            cli_error("sync %s has several tables named \"%s\": give the schema too", def->name, argv[a]);
            return false;
        }
        selected[found] = true;
    }
    return true;
}

static double rate(const CompareTable *t)
{
    return t->seconds > 0 ? (double)t->rows / t->seconds : 0;
}

static void print_keys(const CompareTable *t, const char *what, const char *db, const CmpRowList *l,
                       long *shown)
{
    StrBuf sb;

    strbuf_init(&sb);
    for (size_t i = 0; i < l->count && *shown < TEXT_KEY_LIMIT; i++, (*shown)++) {
        strbuf_reset(&sb);
        cmp_key_format(&sb, t->def->nkeys, t->def->keycols, (const char *const *)l->rows[i].key);
        printf("  %s on %s: %s\n", what, db, sb.data);
    }
    strbuf_free(&sb);
}

static void print_text(const SyncDef *def, const CompareResult *res)
{
    for (int i = 0; i < res->ntables; i++) {
        const CompareTable *t = &res->tables[i];
        long diffs = compare_table_differences(t), shown = 0;

        printf("Table %s.%s: ", t->def->schemaname, t->def->relname);
        if (t->skipped) {
            printf("skipped (%s)\n", t->skipped);
            continue;
        }
        if (diffs == 0) {
            printf("equal");
        } else {
            bool first = true;
            printf("%ld difference%s (", diffs, diffs == 1 ? "" : "s");
            for (int j = 0; j < t->ntargets; j++) {
                const CompareTarget *g = &t->targets[j];
                size_t counts[3] = {g->missing.count, g->extra.count, g->different.count};
                static const char *const kinds[3] = {"missing", "extra", "different"};
                for (int k = 0; k < 3; k++) {
                    if (counts[k] == 0)
                        continue;
                    printf("%s%zu %s on %s", first ? "" : ", ", counts[k], kinds[k], g->db);
                    first = false;
                }
            }
            printf(")");
        }
        printf(" (%lld rows, %.2f s, %.0f rows/s)\n", (long long)t->rows, t->seconds, rate(t));
        for (int j = 0; j < t->ntargets; j++) {
            print_keys(t, "missing", t->targets[j].db, &t->targets[j].missing, &shown);
            print_keys(t, "extra", t->targets[j].db, &t->targets[j].extra, &shown);
            print_keys(t, "different", t->targets[j].db, &t->targets[j].different, &shown);
        }
        if (shown < diffs)
            printf("  ... and %ld more (--json lists them all)\n", diffs - shown);
    }
    if (res->repaired > 0)
        printf("Queued %ld key%s for repair into the delta tables of %s and kicked sync %s\n", res->repaired,
               res->repaired == 1 ? "" : "s", def->sources[0].name, def->name);
}

/* json_keys - the keys of l as objects {key column: value} (json-c). */
static json_object *json_keys(const CompareTable *t, const CmpRowList *l)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; i < l->count; i++) {
        json_object *k = json_object_new_object();
        for (int c = 0; c < t->def->nkeys; c++)
            json_object_object_add(k, t->def->keycols[c], json_object_new_string(l->rows[i].key[c]));
        json_object_array_add(a, k);
    }
    return a;
}

static void print_json(const SyncDef *def, const CompareResult *res, bool equal)
{
    json_object *doc = json_object_new_object(), *tables = json_object_new_array();

    json_object_object_add(doc, "sync", json_object_new_string(def->name));
    json_object_object_add(doc, "source", json_object_new_string(def->sources[0].name));
    json_object_object_add(doc, "equal", json_object_new_boolean(equal));
    json_object_object_add(doc, "seconds", json_object_new_double(res->seconds));
    json_object_object_add(doc, "repaired", json_object_new_int64(res->repaired));
    for (int i = 0; i < res->ntables; i++) {
        const CompareTable *t = &res->tables[i];
        json_object *o = json_object_new_object(), *key = json_object_new_array(), *targets;
        char *full = xasprintf("%s.%s", t->def->schemaname, t->def->relname), sum[32];

        json_object_object_add(o, "table", json_object_new_string(full));
        free(full);
        json_object_object_add(o, "schema", json_object_new_string(t->def->schemaname));
        json_object_object_add(o, "name", json_object_new_string(t->def->relname));
        for (int k = 0; k < t->def->nkeys; k++)
            json_object_array_add(key, json_object_new_string(t->def->keycols[k]));
        json_object_object_add(o, "key", key);
        json_object_array_add(tables, o);
        if (t->skipped) {
            json_object_object_add(o, "status", json_object_new_string("skipped"));
            json_object_object_add(o, "reason", json_object_new_string(t->skipped));
            continue;
        }
        json_object_object_add(o, "status",
                               json_object_new_string(compare_table_differences(t) ? "different" : "equal"));
        json_object_object_add(o, "rows", json_object_new_int64(t->rows));
        json_object_object_add(o, "seconds", json_object_new_double(t->seconds));
        json_object_object_add(o, "rows_per_second", json_object_new_double(floor(rate(t))));
        snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)t->checksum);
        json_object_object_add(o, "checksum", json_object_new_string(sum));
        json_object_object_add(o, "queries", json_object_new_int(t->queries));
        targets = json_object_new_array();
        for (int j = 0; j < t->ntargets; j++) {
            const CompareTarget *g = &t->targets[j];
            json_object *to = json_object_new_object();
            json_object_object_add(to, "target", json_object_new_string(g->db));
            json_object_object_add(to, "rows", json_object_new_int64(g->rows));
            snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)g->checksum);
            json_object_object_add(to, "checksum", json_object_new_string(sum));
            snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)g->source_checksum);
            json_object_object_add(to, "source_checksum", json_object_new_string(sum));
            json_object_object_add(to, "missing", json_keys(t, &g->missing));
            json_object_object_add(to, "extra", json_keys(t, &g->extra));
            json_object_object_add(to, "different", json_keys(t, &g->different));
            json_object_array_add(targets, to);
        }
        json_object_object_add(o, "targets", targets);
    }
    json_object_object_add(doc, "tables", tables);
    printf("%s\n",
           json_object_to_json_string_ext(doc, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(doc);
}

/* kick - wake the engine for the sync now (NOTIFY is delivered at commit);
 * harmless when no engine runs: the deltas wait for the next cycle. */
static bool kick(CliContext *ctx, const char *sync)
{
    const char *params[2] = {CHANNEL_KICK, sync};

    return pg_exec(ctx->cat, "catalog", SQL_KICK, 2, params) &&
           pg_exec(ctx->cat, "catalog", "COMMIT", 0, NULL) && pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL);
}

int cmd_compare(CliContext *ctx, int argc, char **argv)
{
    SyncDef def;
    CompareResult res;
    bool *selected, equal = true;
    int code;

    if (argc < 1) {
        cli_error("usage: bucardo compare SYNC [TABLE ...] [--repair] [--json]");
        return EXIT_ERROR;
    }
    if (cli_catalog(ctx) == NULL)
        return EXIT_ERROR;
    switch (syncdef_load(ctx->cat, argv[0], &def)) {
    case LOOKUP_FOUND: break;
    case LOOKUP_ABSENT: cli_error("no sync named \"%s\"", argv[0]); return EXIT_ERROR;
    case LOOKUP_ERROR: return EXIT_ERROR;
    }
    selected = xcalloc((size_t)def.ntables + 1, sizeof(bool));
    if (!select_tables(&def, argc - 1, argv + 1, selected)) {
        free(selected);
        syncdef_free(&def);
        return EXIT_ERROR;
    }
    if (!compare_sync(&def, selected, ctx->repair, &res)) {
        cli_error("compare of sync %s failed", def.name);
        code = EXIT_ERROR;
    } else {
        for (int i = 0; i < res.ntables; i++)
            equal = equal && compare_table_differences(&res.tables[i]) == 0;
        code = equal ? EXIT_OK : EXIT_FAIL;
        if (res.repaired > 0 && !kick(ctx, def.name)) {
            cli_error("sync %s: the keys are queued for repair, but kicking the sync failed", def.name);
            code = EXIT_ERROR;
        }
        if (ctx->json)
            print_json(&def, &res, equal);
        else
            print_text(&def, &res);
    }
    compare_result_free(&res);
    free(selected);
    syncdef_free(&def);
    return code;
}
