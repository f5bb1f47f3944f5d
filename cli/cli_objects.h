/*
 * cli/cli_objects.h - catalog helpers shared by several command families:
 * dbgroup membership (add dbgroup, add sync dbs=...) and relgroup
 * membership (add relgroup, add table, add all tables), and rechecking a
 * sync after what it uses changed (the update commands).
 * All of them print their own errors and run in the caller's transaction.
 */
#ifndef BUCARDO_CLI_OBJECTS_H
#define BUCARDO_CLI_OBJECTS_H

#include "cli.h"

/* cli_row_exists - does `sql` with one parameter return a row?  -1: error. */
int cli_row_exists(PGconn *cat, const char *sql, const char *param);

/* The kinds of catalog objects a user names (see cli_check_name). */
typedef enum NameKind { NAME_DATABASE, NAME_DBGROUP, NAME_RELGROUP, NAME_SYNC } NameKind;

/*
 * cli_check_name - may a new catalog object of `kind` be called `name`?
 * Names are stored as given and always reach SQL as parameters or quoted
 * identifiers, so almost anything goes: 1 to 63 bytes of valid UTF-8 with
 * no control characters.  Refused is only what the command line itself
 * would misread: '=' (key=value), a leading '-' (an option), a leading or
 * trailing blank (trimmed by ~/.bucardorc); for databases ',' and ':'
 * (dbs=A:source,B lists); for syncs "all" and plain numbers (pause all,
 * kick SYNC TIMEOUT).  Prints why not.
 */
bool cli_check_name(NameKind kind, const char *name) MUST_CHECK;

/* A member's role as dbgroup_parse_members writes it: with its extras
 * ("target:pri=2:makedelta=1"), from a dbgroup_member row. */
#define DBGROUP_MEMBER_ROLE_SQL                                                                              \
    "role || CASE WHEN priority <> 0 THEN ':pri=' || priority ELSE '' END"                                   \
    " || CASE WHEN makedelta THEN ':makedelta=1' ELSE '' END"

/*
 * dbgroup_member_word - one member word "DB[:ROLE][:pri=N][:makedelta=B]"
 * (Bucardo's role letters s/t and its old names too): `item` is cut to the
 * database name in place, `full` gets the canonical role with its extras
 * (default_role when no role is named); *given says whether anything
 * followed the name.  Prints why not.
 */
bool dbgroup_member_word(char *item, const char *default_role, StrBuf *full, bool *given) MUST_CHECK;

/* dbgroup_parse_members - "A:source,B" words into dbs/roles (first: source). */
bool dbgroup_parse_members(int n, char **items, StrList *dbs, StrList *roles) MUST_CHECK;
/* dbgroup_add_members - with ctx, each member added is told (cli_say); NULL: quietly. */
bool dbgroup_add_members(PGconn *cat, const char *group, const StrList *dbs, const StrList *roles,
                         CliContext *ctx) MUST_CHECK;
bool dbgroup_create(PGconn *cat, const char *name) MUST_CHECK;

/* dbgroup_find_same - name of a dbgroup with exactly these members (owned by
 * the caller), or NULL; *error tells a failed query from "none". */
char *dbgroup_find_same(PGconn *cat, const StrList *dbs, const StrList *roles, bool *error);

/* relgroup_ensure - create the relgroup unless it exists; *created says. */
bool relgroup_ensure(PGconn *cat, const char *name, bool *created) MUST_CHECK;

/* relgroup_add - put relation `relid` into the relgroup (no-op if there);
 * *added says whether it was new. */
bool relgroup_add(PGconn *cat, const char *relgroup, const char *relid, bool *added) MUST_CHECK;

/*
 * relation_find - the catalog table a user-given name ("schema.table" or
 * "table") means, optionally within one database.  Returns a result (the
 * caller PQclears) whose first row is (id, db, schema.table), or NULL after
 * printing why (unknown, or ambiguous).
 */
PGresult *relation_find(PGconn *cat, const char *name, const char *db) MUST_CHECK;

/*
 * After something sync `name` uses changed (its relgroup, its dbgroup, one
 * of its tables), in the caller's transaction: sync_check - is the sync
 * still one the engine can run?  sync_capture - put capture in place on
 * every table of every source (each source commits on its own: check every
 * sync first).  Both print why not.
 */
bool sync_check(PGconn *cat, const char *name) MUST_CHECK;

/* sync_runnable - sync_check that says why not in why[] instead of printing
 * it: 1 runnable, 0 not (why[] says why), -1 a catalog error (printed). */
int sync_runnable(PGconn *cat, const char *name, char *why, size_t whylen) MUST_CHECK;
bool sync_capture(PGconn *cat, const char *name) MUST_CHECK;

/*
 * customcode_drop_function - drop SQL customcode `code`'s function from
 * catalog database `dbname` (remove customcode, a code moved elsewhere,
 * remove db --force).  Best effort: a database that cannot be reached or
 * refuses is named in a warning on stderr, and the function stays there.
 */
void customcode_drop_function(CliContext *ctx, const char *code, const char *dbname);

#endif
