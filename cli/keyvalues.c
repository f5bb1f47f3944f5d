/*
 * cli/keyvalues.c - the key=value parameters of add/update commands
 * ("dbname=test1 host=db1", "relgroup=pgbench dbs=A,B").
 *
 * Keys are case-insensitive and checked against the command's list, so a
 * typo is an error instead of a silently ignored setting.  A key given
 * twice is an error too: which one should win is anybody's guess.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

bool cli_kv_parse(int argc, char **argv, int first, const char *const *allowed, const char *what,
                  KeyValues *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = first; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        char *key;
        bool known = false;

        if (eq == NULL || eq == argv[i]) {
            cli_error("%s: expected key=value, got \"%s\"", what, argv[i]);
            cli_kv_free(out);
            return false;
        }
        key = xmalloc((size_t)(eq - argv[i]) + 1);
        for (size_t j = 0; j < (size_t)(eq - argv[i]); j++)
            key[j] = (char)((argv[i][j] >= 'A' && argv[i][j] <= 'Z') ? argv[i][j] + 32 : argv[i][j]);
        key[eq - argv[i]] = '\0';
        for (int j = 0; allowed[j]; j++)
            if (strcmp(allowed[j], key) == 0)
                known = true;
        if (!known || strlist_contains(&out->keys, key)) {
            cli_error(known ? "%s: \"%s\" given more than once" : "%s: unknown parameter \"%s\"", what, key);
            free(key);
            cli_kv_free(out);
            return false;
        }
        strlist_add(&out->keys, key);
        strlist_add(&out->values, eq + 1);
        free(key);
    }
    return true;
}

const char *cli_kv_get(const KeyValues *kv, const char *key)
{
    for (int i = 0; i < kv->keys.count; i++)
        if (strcmp(kv->keys.items[i], key) == 0)
            return kv->values.items[i];
    return NULL;
}

void cli_kv_free(KeyValues *kv)
{
    strlist_free(&kv->keys);
    strlist_free(&kv->values);
}
