/*
 * cli/cmd_clone.c - Bucardo's `clone` and `list clones`: a one-off copy of
 * a sync's tables (or a dbgroup's, with a relgroup or a list of tables)
 * from the prime source to every other member, and the record of it.
 *
 * How a clone runs: the command checks its words and the catalog (nothing
 * is written when anything is wrong), checks that the engine runs, and
 * records the job in bucardo.clone (status running, committed).  It then
 * reuses what exists: `add sync` makes a temporary sync "bucardo_clone_ID"
 * whose one source is the prime and whose other members are fullcopy
 * targets (its own dbgroup, and its own relgroup for tables=), committed;
 * `kick SYNC 0` has the engine copy every table and waits for the run;
 * `remove sync` takes the temporary sync away again, with its dbgroup and
 * relgroup.  The job's row ends as done (the run's counts) or failed (the
 * run's error).  Bucardo queues the job for its daemon instead; this
 * command waits, so its exit code says whether the copy happened.
 *
 * A command killed mid-copy leaves its row running and its temporary
 * objects behind: the next `clone` or `list clones` finds it (sweep, by
 * the advisory lock a live command holds) and cleans up after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "cli_objects.h"

static const char SQL_SYNC_MEMBERS[] = "SELECT m.db, m.role, s.relgroup FROM bucardo.sync s JOIN "
                                       "bucardo.dbgroup_member m ON m.dbgroup = s.dbgroup"
                                       " WHERE s.name = $1 ORDER BY m.position, m.db";
static const char SQL_DBGROUP_MEMBERS[] =
    "SELECT db, role, NULL FROM bucardo.dbgroup_member WHERE dbgroup = $1 ORDER BY position, db";
static const char SQL_SYNC_EXISTS[] = "SELECT 1 FROM bucardo.sync WHERE name = $1";
static const char SQL_DBGROUP_EXISTS[] = "SELECT 1 FROM bucardo.dbgroup WHERE name = $1";
static const char SQL_RELGROUP_EXISTS[] = "SELECT 1 FROM bucardo.relgroup WHERE name = $1";
static const char SQL_INSERT_CLONE[] =
    "INSERT INTO bucardo.clone (status, sync, dbgroup, relgroup, options, started)"
    " VALUES ('running', $1, $2, $3, $4, now()) RETURNING id";
static const char SQL_LAST_RUN[] =
    "SELECT state, coalesce(error, ''), inserts, deletes FROM bucardo.syncrun WHERE sync = $1"
    " AND ended IS NOT NULL ORDER BY started DESC, id DESC LIMIT 1";
static const char SQL_END_CLONE[] =
    "UPDATE bucardo.clone SET status = $2, summary = $3, ended = now() WHERE id = $1";
static const char SQL_DROP_DBGROUP[] = "DELETE FROM bucardo.dbgroup WHERE name = $1";
static const char SQL_DROP_RELGROUP[] = "DELETE FROM bucardo.relgroup WHERE name = $1";
/* A table of tables=, looked for among the clone's databases: on the
 * prime first, then in their order (Bucardo finds it wherever it was
 * added; the temporary sync is a fullcopy one, which reads it by name). */
static const char SQL_FIND_TABLE[] =
    "SELECT r.id, r.schemaname || '.' || r.relname FROM bucardo.relation r"
    "  JOIN unnest($2::text[]) WITH ORDINALITY AS m(db, ord) ON m.db = r.db"
    " WHERE (r.schemaname || '.' || r.relname = $1 OR r.relname = $1)"
    " ORDER BY r.schemaname || '.' || r.relname = $1 DESC, m.ord, r.schemaname";
static const char SQL_MAKE_RELGROUP[] = "INSERT INTO bucardo.relgroup (name) VALUES ($1)";
/*
 * A clone command holds a session advisory lock on (CLONE_LOCK, its id)
 * from the moment its row exists until it ends, so a clone whose row says
 * running while nobody holds its lock was interrupted (its command was
 * killed, or lost its connection).  The sweep takes the lock of each clone
 * that left something behind or still says running (a transaction lock:
 * two sweeps never clean the same one, and a live clone is skipped).
 */
#define CLONE_LOCK "1111706702" /* 'BCLN' */
static const char SQL_LOCK_CLONE[] = "SELECT pg_catalog.pg_advisory_lock(" CLONE_LOCK ", $1::int)";
static const char SQL_UNLOCK_CLONE[] = "SELECT pg_catalog.pg_advisory_unlock(" CLONE_LOCK ", $1::int)";
static const char SQL_SWEEP[] =
    "SELECT c.id, c.status IN ('new', 'running') FROM bucardo.clone c"
    " WHERE (c.status IN ('new', 'running')"
    "        OR EXISTS (SELECT 1 FROM bucardo.sync WHERE name = 'bucardo_clone_' || c.id)"
    "        OR EXISTS (SELECT 1 FROM bucardo.dbgroup WHERE name = 'bucardo_clone_' || c.id)"
    "        OR EXISTS (SELECT 1 FROM bucardo.relgroup WHERE name = 'bucardo_clone_' || c.id))"
    "   AND pg_catalog.pg_try_advisory_xact_lock(" CLONE_LOCK ", c.id)"
    " ORDER BY c.id";
static const char SQL_INTERRUPTED[] =
    "UPDATE bucardo.clone SET status = 'failed', ended = now(), summary = $2 WHERE id = $1::int";
static const char SQL_LIST_CLONES[] =
    "SELECT id, status, sync, dbgroup, relgroup, to_char(started, 'YYYY-MM-DD HH24:MI:SS TZ'),"
    " to_char(ended, 'YYYY-MM-DD HH24:MI:SS TZ'), options, summary FROM bucardo.clone ORDER BY id";

/* What `clone` was asked for. */
typedef struct CloneArgs {
    const char *sync, *dbgroup, *relgroup, *tables, *prime;
    StrList relids; /* tables=: the relations found for them (find_tables) */
} CloneArgs;

/* starts_ci - does w start with prefix, in any case? */
static bool starts_ci(const char *w, const char *prefix)
{
    return strncasecmp(w, prefix, strlen(prefix)) == 0;
}

/*
 * parse_args - Bucardo's words: sync=, dbgroup= (dbg...), relgroup= or
 * tables= (herd=, table=), prime=.  Each at most once; false after
 * printing why.
 */
static bool parse_args(int argc, char **argv, CloneArgs *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        const char **slot = NULL;
        if (eq == NULL || eq == argv[i] || eq[1] == '\0')
            return cli_error("clone: expected key=value, not \"%s\" (see bucardo help clone)", argv[i]) == 0;
        if (starts_ci(argv[i], "sync="))
            slot = &a->sync;
        else if (starts_ci(argv[i], "dbg"))
            slot = &a->dbgroup;
        else if (starts_ci(argv[i], "relgroup=") || starts_ci(argv[i], "herd="))
            slot = &a->relgroup;
        else if (starts_ci(argv[i], "tables=") || starts_ci(argv[i], "table="))
            slot = &a->tables;
        else if (starts_ci(argv[i], "prime="))
            slot = &a->prime;
        else
            return cli_error("clone: unknown option \"%.*s\" (sync=, dbgroup=, relgroup=, tables=, prime=)",
                             (int)(eq - argv[i]), argv[i]) == 0;
        if (*slot != NULL)
            return cli_error("clone: %.*s= is given twice", (int)(eq - argv[i]), argv[i]) == 0;
        *slot = eq + 1;
    }
    if ((a->sync == NULL) == (a->dbgroup == NULL))
        return cli_error("clone: give a sync (sync=NAME) or a database group (dbgroup=NAME), not both") == 0;
    if (a->sync && (a->relgroup || a->tables))
        return cli_error("clone: relgroup= and tables= go with dbgroup=; sync= copies the sync's tables") ==
               0;
    if (a->dbgroup && (a->relgroup == NULL) == (a->tables == NULL))
        return cli_error("clone: dbgroup= needs relgroup=NAME or tables=T1,T2 (one of them)") == 0;
    return true;
}

/*
 * find_tables - the relations of tables=T1,T2 into a->relids: each name
 * looked for in --db when given, else among the members (`members`, rows
 * of db names in column 0), on the prime first.  False after printing why.
 */
static bool find_tables(CliContext *ctx, CloneArgs *a, const char *prime, const PGresult *members)
{
    StrList names = {0}, dbs = {0};
    char *array;
    bool ok;

    strlist_add_split(&names, a->tables, ',');
    ok = names.count > 0;
    if (!ok)
        cli_error("clone: tables= lists no table");
    strlist_add(&dbs, ctx->db ? ctx->db : prime);
    for (int r = 0; ctx->db == NULL && r < PQntuples(members); r++)
        if (!strlist_contains(&dbs, PQgetvalue(members, r, 0)))
            strlist_add(&dbs, PQgetvalue(members, r, 0));
    array = pg_array_literal(&dbs);
    for (int i = 0; ok && i < names.count; i++) {
        const char *params[2] = {names.items[i], array};
        PGresult *rel = pg_query(ctx->cat, "catalog", SQL_FIND_TABLE, 2, params);
        ok = rel != NULL;
        if (ok && PQntuples(rel) == 0) {
            ok = false;
            if (ctx->db)
                cli_error("clone: no table named \"%s\" is known to bucardo in database %s (add it with "
                          "'bucardo add table')",
                          names.items[i], ctx->db);
            else
                cli_error(
                    "clone: no table named \"%s\" is known to bucardo in the databases of %s \"%s\" (add "
                    "it with 'bucardo add table')",
                    names.items[i], a->sync ? "sync" : "dbgroup", a->sync ? a->sync : a->dbgroup);
        } else if (ok && PQntuples(rel) > 1 && strcmp(PQgetvalue(rel, 0, 1), names.items[i]) != 0 &&
                   strcmp(PQgetvalue(rel, 0, 1), PQgetvalue(rel, 1, 1)) != 0) {
            ok = false;
            cli_error("clone: table name \"%s\" is ambiguous (give schema.table)", names.items[i]);
        } else if (ok && !strlist_contains(&a->relids, PQgetvalue(rel, 0, 0)))
            strlist_add(&a->relids, PQgetvalue(rel, 0, 0));
        PQclear(rel);
    }
    free(array);
    strlist_free(&names);
    strlist_free(&dbs);
    return ok;
}

/*
 * check_objects - every named sync, dbgroup, relgroup and table exists;
 * fills dbs (members, prime first) and roles ("source", then "fullcopy")
 * for the temporary sync, and *relgroup (the sync's, borrowed from res:
 * the caller PQclears *res).  False after printing why.
 */
static bool check_objects(CliContext *ctx, CloneArgs *a, StrList *dbs, StrList *roles, PGresult **res)
{
    const char *what = a->sync ? a->sync : a->dbgroup;
    const char *params[1] = {what};
    StrList sources = {0};
    const char *prime = a->prime;
    bool ok = false;
    int found = cli_row_exists(ctx->cat, a->sync ? SQL_SYNC_EXISTS : SQL_DBGROUP_EXISTS, what);

    *res = NULL;
    if (found != 1)
        return found == 0 ? cli_error("clone: no %s named \"%s\"", a->sync ? "sync" : "dbgroup", what) == 0
                          : false;
    if (a->relgroup) {
        found = cli_row_exists(ctx->cat, SQL_RELGROUP_EXISTS, a->relgroup);
        if (found != 1)
            return found == 0 ? cli_error("clone: no relgroup named \"%s\"", a->relgroup) == 0 : false;
    }
    *res = pg_query(ctx->cat, "catalog", a->sync ? SQL_SYNC_MEMBERS : SQL_DBGROUP_MEMBERS, 1, params);
    if (*res == NULL)
        return false;
    for (int r = 0; r < PQntuples(*res); r++)
        if (strcmp(PQgetvalue(*res, r, 1), "source") == 0)
            strlist_add(&sources, PQgetvalue(*res, r, 0));
    if (sources.count == 0) {
        cli_error("clone: %s \"%s\" has no source database", a->sync ? "sync" : "dbgroup", what);
        goto out;
    }
    if (prime == NULL && sources.count > 1) {
        StrBuf list;
        strbuf_init(&list);
        for (int i = 0; i < sources.count; i++)
            strbuf_printf(&list, "%s%s", i ? ", " : "", sources.items[i]);
        cli_error(
            "clone: %s \"%s\" has several sources: give prime=DB so we know which database to copy from "
            "(one of: %s)",
            a->sync ? "sync" : "dbgroup", what, list.data);
        strbuf_free(&list);
        goto out;
    }
    for (int r = 0; prime == NULL && r < PQntuples(*res); r++)
        if (strcmp(PQgetvalue(*res, r, 1), "source") == 0)
            prime = PQgetvalue(*res, r, 0); /* lives with *res, as ctx->db below */
    if (!strlist_contains(&sources, prime)) {
        cli_error("clone: the prime must be a source database of %s \"%s\", not \"%s\"",
                  a->sync ? "sync" : "dbgroup", what, prime);
        goto out;
    }
    if (a->tables && !find_tables(ctx, a, prime, *res))
        goto out;
    if (PQntuples(*res) < 2) {
        cli_error("clone: %s \"%s\" has no other database to copy to", a->sync ? "sync" : "dbgroup", what);
        goto out;
    }
    strlist_add(dbs, prime);
    strlist_add(roles, "source");
    for (int r = 0; r < PQntuples(*res); r++)
        if (strcmp(PQgetvalue(*res, r, 0), prime) != 0) {
            strlist_add(dbs, PQgetvalue(*res, r, 0));
            strlist_add(roles, "fullcopy");
        }
    ok = true;
out:
    strlist_free(&sources);
    return ok;
}

/* next_transaction - COMMIT (ok) or ROLLBACK, then BEGIN again. */
static bool next_transaction(CliContext *ctx, bool commit)
{
    return pg_exec(ctx->cat, "catalog", commit ? "COMMIT" : "ROLLBACK", 0, NULL) &&
           pg_exec(ctx->cat, "catalog", "BEGIN", 0, NULL);
}

/* end_clone - the job's row gets its outcome (in the open transaction). */
static bool end_clone(CliContext *ctx, const char *id, bool done, const char *summary)
{
    const char *params[3] = {id, done ? "done" : "failed", summary};
    return pg_exec(ctx->cat, "catalog", SQL_END_CLONE, 3, params);
}

/*
 * remove_temporary - the temporary sync `temp` (when it is still there),
 * its dbgroup and its relgroup go, in one committed transaction.  The
 * engine may still be writing the end of the sync's run (its reload comes
 * with this commit): a failed attempt is rolled back and made again.
 * Each attempt looks at what is there, so one that finds the sync gone
 * (an earlier attempt's, or another command's, work) still takes the
 * groups.  With `id`, clone id's row is recorded as failed with `summary`
 * in the same transaction.  The transaction is open again on return.
 */
static bool remove_temporary(CliContext *ctx, const char *temp, const char *id, const char *summary)
{
    const char *params[1] = {temp}, *row[2] = {id, summary};
    bool removed = false;

    for (int attempt = 0; !removed && attempt < 10; attempt++) {
        int found;
        if (attempt > 0) {
            struct timespec second = {1, 0};
            (void)next_transaction(ctx, false);
            nanosleep(&second, NULL);
        }
        found = cli_row_exists(ctx->cat, SQL_SYNC_EXISTS, temp);
        removed = found >= 0 && (id == NULL || pg_exec(ctx->cat, "catalog", SQL_INTERRUPTED, 2, row)) &&
                  (found == 0 || cmd_remove_sync(ctx, 1, (char **)params) == EXIT_OK) &&
                  pg_exec(ctx->cat, "catalog", SQL_DROP_DBGROUP, 1, params) &&
                  pg_exec(ctx->cat, "catalog", SQL_DROP_RELGROUP, 1, params) && next_transaction(ctx, true);
        strbuf_reset(&ctx->said);
    }
    if (!removed)
        (void)next_transaction(ctx, false);
    return removed;
}

/*
 * sweep - clean up after interrupted clones: each clone whose row still
 * says running (or new) while no command holds its lock, or whose
 * temporary sync, dbgroup or relgroup is still there once it ended, has
 * them removed (remove_temporary); a running one is recorded as failed,
 * its summary saying it was interrupted and how far its copy had got.
 * Committed as it goes; under --dryrun nothing is done.  `tell`: a line
 * per clone cleaned (clone; list clones shows the rows instead).  A clone it
 * cannot clean is left for the next sweep (with a warning).
 */
static void sweep(CliContext *ctx, bool tell)
{
    PGresult *res;

    if (ctx->dryrun)
        return;
    res = pg_query(ctx->cat, "catalog", SQL_SWEEP, 0, NULL);
    if (res == NULL) {
        (void)next_transaction(ctx, false);
        return;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        bool running = strcmp(PQgetvalue(res, r, 1), "t") == 0;
        char *temp = xasprintf("bucardo_clone_%s", id), *summary = NULL;
        const char *params[1] = {temp};
        PGresult *run;

        if (running) {
            run = pg_query(ctx->cat, "catalog", SQL_LAST_RUN, 1, params);
            if (run != NULL && PQntuples(run) == 1)
                summary = xasprintf("interrupted: the clone command ended before the copy was recorded; the "
                                    "copy's last run was %s%s%s (%s rows inserted)",
                                    PQgetvalue(run, 0, 0), PQgetvalue(run, 0, 1)[0] ? ": " : "",
                                    PQgetvalue(run, 0, 1), PQgetvalue(run, 0, 2));
            else
                summary = xstrdup("interrupted: the clone command ended before the copy was done");
            PQclear(run);
        }
        if (!remove_temporary(ctx, temp, running ? id : NULL, summary))
            fprintf(
                stderr,
                "bucardo: warning: clone %s: could not clean up after it (sync %s): the next clone or list "
                "clones tries again\n",
                id, temp);
        else if (tell)
            cli_info(ctx, "Clone %s %s: removed its temporary sync %s\n", id,
                     running ? "was interrupted" : "had left its temporary objects", temp);
        free(summary);
        free(temp);
    }
    PQclear(res);
    (void)next_transaction(ctx, true);
}

/*
 * run_copy - make the temporary sync, kick it and wait, read its run,
 * remove it.  Leaves the outcome in *summary (owned by the caller) and
 * says whether the copy was done; *removed whether the temporary sync
 * and its groups are gone again.  The catalog transaction is open again
 * on return (the failed step's work rolled back).
 */
static bool run_copy(CliContext *ctx, const char *temp, const CloneArgs *a, const char *relgroup,
                     const StrList *dbs, const StrList *roles, char **summary, bool *removed)
{
    StrBuf dbsarg, targets;
    char *args[4];
    int n = 0;
    bool done = false;
    char *relarg, *dbgarg = xasprintf("dbgroup=%s", temp);
    PGresult *res;

    strbuf_init(&dbsarg);
    strbuf_init(&targets);
    for (int i = 1; i < dbs->count; i++)
        strbuf_printf(&targets, "%s%s", i > 1 ? ", " : "", dbs->items[i]);
    strbuf_append(&dbsarg, "dbs=");
    for (int i = 0; i < dbs->count; i++)
        strbuf_printf(&dbsarg, "%s%s:%s", i ? "," : "", dbs->items[i], roles->items[i]);
    relarg = xasprintf("relgroup=%s", a->tables ? temp : relgroup);
    args[n++] = (char *)temp;
    args[n++] = relarg;
    args[n++] = dbgarg;
    args[n++] = dbsarg.data;

    *summary = NULL;
    *removed = true; /* nothing made yet */
    /* tables=: the relgroup is made here, of the relations find_tables
     * found (wherever they were added), in the sync's transaction. */
    if (a->tables) {
        const char *params[1] = {temp};
        bool ok = pg_exec(ctx->cat, "catalog", SQL_MAKE_RELGROUP, 1, params);
        for (int i = 0; ok && i < a->relids.count; i++) {
            bool added;
            ok = relgroup_add(ctx->cat, temp, a->relids.items[i], &added);
        }
        if (!ok) {
            *summary = xasprintf("could not make relgroup %s for the copy", temp);
            (void)next_transaction(ctx, false);
            goto out;
        }
    }
    if (cmd_add_sync(ctx, n, args) != EXIT_OK) {
        *summary = xasprintf("could not set up sync %s for the copy (see the error printed then)", temp);
        strbuf_reset(&ctx->said);
        (void)next_transaction(ctx, false);
        goto out;
    }
    strbuf_reset(&ctx->said);
    if (!next_transaction(ctx, true)) {
        *summary = xasprintf("could not commit sync %s for the copy", temp);
        goto out;
    }
    {
        char *kick[2] = {(char *)temp, "0"};
        int code = cmd_kick(ctx, 2, kick);
        const char *params[1] = {temp};
        res = pg_query(ctx->cat, "catalog", SQL_LAST_RUN, 1, params);
        if (res != NULL && PQntuples(res) == 1) {
            done = code == EXIT_OK && strcmp(PQgetvalue(res, 0, 0), "Good") == 0;
            *summary =
                done ? xasprintf("copied from %s to %s: %s rows inserted", dbs->items[0], targets.data,
                                 PQgetvalue(res, 0, 2))
                     : xasprintf("%s", PQgetvalue(res, 0, 1)[0] ? PQgetvalue(res, 0, 1) : "the copy failed");
        } else {
            *summary = xstrdup("the engine did not run the copy");
        }
        PQclear(res);
    }
    *removed = remove_temporary(ctx, temp, NULL, NULL);
    if (!*removed)
        cli_error(
            "clone: the temporary sync %s could not be removed: the next clone or list clones removes it, "
            "or 'bucardo remove sync %s'",
            temp, temp);
out:
    free(relarg);
    free(dbgarg);
    strbuf_free(&dbsarg);
    strbuf_free(&targets);
    return done;
}

/*
 * cmd_clone - clone sync=NAME [prime=DB] | dbgroup=NAME relgroup=NAME|
 * tables=T1,T2 [prime=DB].  Bad input: one error, nothing written.
 */
int cmd_clone(CliContext *ctx, int argc, char **argv)
{
    CloneArgs a;
    StrList dbs = {0}, roles = {0};
    PGresult *members = NULL, *res;
    const char *relgroup;
    char *options = NULL, *temp = NULL, *summary = NULL;
    char id[32];
    int code = EXIT_FAIL;
    bool done, removed = true, locked = false;

    if (argc < 1)
        return cli_error(
            "usage: bucardo clone sync=NAME [prime=DB] | dbgroup=NAME relgroup=NAME|tables=T1,T2 "
            "[prime=DB]");
    if (!parse_args(argc, argv, &a))
        return EXIT_FAIL;
    if (ctx->dryrun)
        return cli_error("clone cannot be run with --dryrun: its copy is not made in one transaction");
    if (cli_catalog(ctx) == NULL)
        goto out;
    sweep(ctx, true);
    if (!check_objects(ctx, &a, &dbs, &roles, &members))
        goto out;
    relgroup = a.sync ? PQgetvalue(members, 0, 2) : a.relgroup;
    if (!cli_engine_running(ctx))
        goto out;
    options = xasprintf("prime=%s%s%s", dbs.items[0], a.tables ? ";tables=" : "", a.tables ? a.tables : "");
    {
        const char *params[4] = {a.sync, a.dbgroup, a.tables ? NULL : relgroup, options};
        res = pg_query(ctx->cat, "catalog", SQL_INSERT_CLONE, 4, params);
        if (res == NULL)
            goto out;
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        params[0] = id;
        if (!pg_exec(ctx->cat, "catalog", SQL_LOCK_CLONE, 1, params))
            goto out;
        locked = true;
    }
    temp = xasprintf("bucardo_clone_%s", id);
    {
        int found = cli_row_exists(ctx->cat, SQL_SYNC_EXISTS, temp);
        if (found != 0) {
            if (found > 0)
                cli_error("clone: a sync named \"%s\" exists already: remove or rename it first", temp);
            goto out;
        }
    }
    if (!next_transaction(ctx, true))
        goto out;
    cli_info(ctx, "Clone %s has been started: copying from %s to %d database(s) by sync %s\n", id,
             dbs.items[0], dbs.count - 1, temp);
    done = run_copy(ctx, temp, &a, relgroup, &dbs, &roles, &summary, &removed);
    /* Committed here: a failed command's transaction is rolled back. */
    if (!end_clone(ctx, id, done, summary) || !next_transaction(ctx, true))
        goto out;
    if (done)
        cli_say(ctx, "Clone %s: done (%s)\n", id, summary);
    else
        cli_error("clone %s failed: %s", id, summary);
    code = !done ? EXIT_ERROR : removed ? EXIT_OK : EXIT_FAIL;
out:
    if (locked && ctx->cat != NULL) {
        const char *params[1] = {id};
        PGresult *unlock = PQexecParams(ctx->cat, SQL_UNLOCK_CLONE, 1, NULL, params, NULL, NULL, 0);
        PQclear(unlock);
    }
    strlist_free(&a.relids);
    PQclear(members);
    strlist_free(&dbs);
    strlist_free(&roles);
    free(options);
    free(temp);
    free(summary);
    return code;
}

/*
 * cmd_list_clones - list clones [ID ...]: Bucardo's lines, "Clone #ID
 * Status: S  Sync: X ... " and the summary on a line of its own.
 */
int cmd_list_clones(CliContext *ctx, int argc, char **argv)
{
    PGresult *res;

    if (cli_catalog(ctx) == NULL)
        return EXIT_FAIL;
    sweep(ctx, false);
    res = pg_query(ctx->cat, "catalog", SQL_LIST_CLONES, 0, NULL);
    if (res == NULL)
        return EXIT_FAIL;
    for (int i = 0; i < argc; i++) {
        bool known = false;
        for (int r = 0; r < PQntuples(res); r++)
            known |= strcmp(PQgetvalue(res, r, 0), argv[i]) == 0;
        if (!known) {
            PQclear(res);
            return cli_error("No such clone id \"%s\": try bucardo list clones", argv[i]);
        }
    }
    if (PQntuples(res) == 0)
        printf("No clones have been created yet\n");
    for (int r = 0; r < PQntuples(res); r++) {
        static const char *const label[] = {
            NULL, NULL, "  Sync: ", " Dbgroup: ", "  Relgroup: ", "  Started: ", "  Ended: ", "  "};
        bool wanted = argc == 0;
        for (int i = 0; i < argc; i++)
            wanted |= strcmp(PQgetvalue(res, r, 0), argv[i]) == 0;
        if (!wanted)
            continue;
        printf("Clone #%s Status: %s", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
        for (int c = 2; c <= 7; c++)
            if (!PQgetisnull(res, r, c))
                printf("%s%s", label[c], PQgetvalue(res, r, c));
        if (!PQgetisnull(res, r, 8))
            printf("\n  Summary: %s", PQgetvalue(res, r, 8));
        printf("\n");
    }
    PQclear(res);
    return EXIT_OK;
}
