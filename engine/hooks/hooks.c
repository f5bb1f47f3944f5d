/*
 * engine/hooks/hooks.c - customcode: a sync's codes per hook point, and
 * running them (include/hooks.h has the contract, README.md "Customcode"
 * the user's side).
 *
 * A SQL code is a function body installed as bucardo."customcode_<name>"
 * (info jsonb) RETURNS jsonb in the database it runs in, once per runner
 * and database (CREATE OR REPLACE, so an edited body arrives with the
 * restarted worker), and called on a connection of its own (autocommit,
 * statement_timeout = the code's timeout) - or, for exception codes in the
 * failing writer's database, through the caller's in_txn, inside the
 * writer's apply transaction.
 *
 * A command (kind command, or kind perl: the Perl runner with the code's
 * text in the request) is started with posix_spawn in a process group of
 * its own, given the request on stdin, and must answer a JSON object on
 * stdout and exit 0 within its timeout; otherwise it is killed (its group)
 * and the call fails, naming the code, the way it failed and the last
 * line it wrote on stderr.  JSON is read and written with json-c.
 */
#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "log.h"
#include "pgconn.h"

extern char **environ;

/* Bigger answers are refused: a code answers decisions, not data. */
#define ANSWER_MAX  ((size_t)64 << 20)
#define STDERR_KEEP 2048

struct Hooks {
    const SyncDef *def;
    ConnBudget *budget;
    const CancelSet *cancel;
    int n[HOOK_NPOINTS];
    HookCode *codes[HOOK_NPOINTS]; /* n[p] of them, in priority order */
    json_object *shared;           /* Bucardo's $info->{shared}: kept between the calls of this sync */
};

static const char *const POINT_NAMES[HOOK_NPOINTS] = {
    "before_txn",  "before_check_rows", "before_trigger_drop",   "after_trigger_drop",   "after_table_sync",
    "exception",   "conflict",          "before_trigger_enable", "after_trigger_enable", "after_txn",
    "before_sync", "after_sync"};

/* The sync's active codes: mapped to it, or to a table it replicates
 * (matched by schema and table name, as syncdef.c matches customnames). */
static const char SQL_CODES[] =
    "SELECT DISTINCT c.name, c.whenrun, c.kind, c.src_code, c.language, c.db, c.timeout, c.getdbh, "
    "c.priority,"
    "       r.schemaname || '.' || r.relname"
    "  FROM bucardo.customcode c JOIN bucardo.customcode_map m ON m.code = c.name"
    "  LEFT JOIN bucardo.relation r ON r.id = m.relation"
    " WHERE c.status = 'active'"
    "   AND (m.sync = $1 OR EXISTS (SELECT 1 FROM bucardo.sync s"
    "                                JOIN bucardo.relgroup_member rm ON rm.relgroup = s.relgroup"
    "                                JOIN bucardo.relation x ON x.id = rm.relation"
    "                               WHERE s.name = $1 AND x.schemaname = r.schemaname AND x.relname = "
    "r.relname))"
    " ORDER BY c.priority, c.name";

const char *hooks_point_name(HookPoint point)
{
    return point >= 0 && point < HOOK_NPOINTS ? POINT_NAMES[point] : "?";
}

static void code_free(HookCode *c)
{
    free(c->name);
    free(c->kind);
    free(c->src);
    free(c->language);
    free(c->db);
    free(c->table);
    strlist_free(&c->installed);
}

void hooks_free(Hooks *h)
{
    if (h == NULL)
        return;
    for (int p = 0; p < HOOK_NPOINTS; p++) {
        for (int i = 0; i < h->n[p]; i++)
            code_free(&h->codes[p][i]);
        free(h->codes[p]);
    }
    json_object_put(h->shared);
    free(h);
}

Hooks *hooks_load(PGconn *cat, const SyncDef *def, ConnBudget *budget, const CancelSet *cancel, bool *ok,
                  char *err, size_t errlen)
{
    const char *params[1] = {def->name};
    PGresult *res = pg_query(cat, "catalog", SQL_CODES, 1, params);
    Hooks *h;

    *ok = res != NULL;
    if (res == NULL) {
        snprintf(err, errlen, "sync %s: catalog: cannot read its customcodes", def->name);
        return NULL;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return NULL;
    }
    h = xcalloc(1, sizeof(Hooks));
    h->def = def;
    h->budget = budget;
    h->cancel = cancel;
    h->shared = json_object_new_object();
    for (int i = 0; i < PQntuples(res); i++) {
        HookPoint p = HOOK_NPOINTS;
        HookCode *c;
        for (int k = 0; k < HOOK_NPOINTS; k++)
            if (strcmp(POINT_NAMES[k], PQgetvalue(res, i, 1)) == 0)
                p = (HookPoint)k;
        if (p == HOOK_NPOINTS)
            continue; /* the catalog's CHECK makes this impossible */
        h->codes[p] = xrealloc(h->codes[p], sizeof(HookCode) * (size_t)(h->n[p] + 1));
        c = &h->codes[p][h->n[p]++];
        memset(c, 0, sizeof(*c));
        c->name = xstrdup(PQgetvalue(res, i, 0));
        c->point = p;
        c->kind = xstrdup(PQgetvalue(res, i, 2));
        c->src = xstrdup(PQgetvalue(res, i, 3));
        c->language = xstrdup(PQgetvalue(res, i, 4));
        c->db = PQgetisnull(res, i, 5) ? NULL : xstrdup(PQgetvalue(res, i, 5));
        c->timeout = strtod(PQgetvalue(res, i, 6), NULL);
        c->getdbh = strcmp(PQgetvalue(res, i, 7), "t") == 0;
        c->priority = atoi(PQgetvalue(res, i, 8));
        c->table = PQgetisnull(res, i, 9) ? NULL : xstrdup(PQgetvalue(res, i, 9));
    }
    PQclear(res);
    for (int p = 0; p < HOOK_NPOINTS; p++)
        if (h->n[p])
            log_info("sync %s: %d customcode(s) at %s", def->name, h->n[p], POINT_NAMES[p]);
    return h;
}

static bool code_applies(const HookCode *c, const char *table)
{
    return c->table == NULL || table == NULL || strcmp(c->table, table) == 0;
}

bool hooks_has(const Hooks *h, HookPoint point, const char *table)
{
    if (h == NULL)
        return false;
    for (int i = 0; i < h->n[point]; i++)
        if (code_applies(&h->codes[point][i], table))
            return true;
    return false;
}

const char *hooks_perl_runner(void)
{
    static const char *const paths[] = {
#ifdef BUCARDO_PERL_RUNNER_INSTALLED
        BUCARDO_PERL_RUNNER_INSTALLED,
#endif
#ifdef BUCARDO_PERL_RUNNER_SOURCE
        BUCARDO_PERL_RUNNER_SOURCE,
#endif
        NULL};
    const char *env = getenv("BUCARDO_PERL_RUNNER");

    if (env && access(env, R_OK) == 0)
        return env;
    for (int i = 0; paths[i]; i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

/* find_db - the member of the sync named `name`, or NULL. */
static const DbInfo *find_db(const SyncDef *def, const char *name)
{
    for (int s = 0; name && s < def->nsources; s++)
        if (strcmp(def->sources[s].name, name) == 0)
            return &def->sources[s];
    for (int t = 0; name && t < def->ntargets; t++)
        if (strcmp(def->targets[t].name, name) == 0)
            return &def->targets[t];
    return NULL;
}

static void add_str(json_object *o, const char *key, const char *value)
{
    if (value)
        json_object_object_add(o, key, json_object_new_string(value));
}

/* dbinfo - one member's connection settings, without password or conn
 * string (which may hold one): .pgpass and service files supply those. */
static json_object *dbinfo(const DbInfo *db, const char *role)
{
    json_object *o = json_object_new_object();
    add_str(o, "dbname", db->dbname);
    add_str(o, "host", db->host);
    add_str(o, "port", db->port);
    add_str(o, "user", db->user);
    add_str(o, "service", db->service);
    add_str(o, "role", role);
    return o;
}

/* request - the hook's information plus the common keys, for code c. */
static json_object *request(const Hooks *h, const HookCode *c, const HookCall *call)
{
    json_object *req = json_object_new_object(), *src = json_object_new_array(),
                *tgt = json_object_new_array();

    json_object_object_foreach(call->info, key, val) json_object_object_add(req, key, json_object_get(val));
    add_str(req, "syncname", h->def->name);
    add_str(req, "whenrun", POINT_NAMES[c->point]);
    add_str(req, "customcode", c->name);
    add_str(req, "version", BUCARDO_VERSION);
    add_str(req, "conflict_strategy", h->def->conflict_strategy);
    for (int s = 0; s < h->def->nsources; s++)
        json_object_array_add(src, json_object_new_string(h->def->sources[s].name));
    for (int t = 0; t < h->def->ntargets; t++)
        json_object_array_add(tgt, json_object_new_string(h->def->targets[t].name));
    json_object_object_add(req, "sources", src);
    json_object_object_add(req, "targets", tgt);
    if (h->def->nsources == 1)
        add_str(req, "sourcename", h->def->sources[0].name);
    if (h->def->ntargets == 1)
        add_str(req, "targetname", h->def->targets[0].name);
    if (c->getdbh) {
        json_object *dbs = json_object_new_object();
        for (int s = 0; s < h->def->nsources; s++)
            json_object_object_add(dbs, h->def->sources[s].name, dbinfo(&h->def->sources[s], "source"));
        for (int t = 0; t < h->def->ntargets; t++)
            json_object_object_add(dbs, h->def->targets[t].name, dbinfo(&h->def->targets[t], "target"));
        json_object_object_add(req, "dbinfo", dbs);
    }
    json_object_object_add(req, "getdbh", json_object_new_boolean(c->getdbh));
    json_object_object_add(req, "shared", json_object_get(h->shared));
    if (strcmp(c->kind, "perl") == 0)
        add_str(req, "src_code", c->src);
    return req;
}

/* last_line - the last non-empty line of text (in place). */
static const char *last_line(char *text)
{
    size_t n = strlen(text);
    char *nl;

    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

/*
 * run_command - code c (a command, or the Perl runner with c's text) with
 * `input` on stdin; *answer its stdout (xmalloc'd).  False with err set
 * when it cannot start, exits non-zero or by a signal, or outlives its
 * timeout (then its process group is killed).
 */
static bool run_command(const Hooks *h, const HookCode *c, const char *input, char **answer, char *err,
                        size_t errlen)
{
    int in[2], out[2], errp[2];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    const char *runner = NULL;
    char *argv[3];
    pid_t pid;
    StrBuf obuf, ebuf;
    size_t len = strlen(input), sent = 0;
    double deadline = monotonic_seconds() + c->timeout;
    bool timed_out = false, too_big = false, stopped = false;
    int status = 0, rc;

    if (strcmp(c->kind, "perl") == 0) {
        if ((runner = hooks_perl_runner()) == NULL) {
            snprintf(err, errlen, "customcode %s: the Perl runner (customcode_runner.pl) is not installed",
                     c->name);
            return false;
        }
        argv[0] = (char *)"perl";
        argv[1] = (char *)runner;
        argv[2] = NULL;
    } else {
        argv[0] = c->src;
        argv[1] = NULL;
    }
    if (pipe2(in, O_CLOEXEC) != 0)
        goto pipe_failed;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        goto pipe_failed;
    }
    if (pipe2(errp, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        goto pipe_failed;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    {
        sigset_t none, def;
        sigemptyset(&none);
        sigemptyset(&def);
        sigaddset(&def, SIGPIPE);
        sigaddset(&def, SIGTERM);
        sigaddset(&def, SIGINT);
        sigaddset(&def, SIGHUP);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &def);
    }
    rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(in[0]);
    close(out[1]);
    close(errp[1]);
    if (rc != 0) {
        close(in[1]);
        close(out[0]);
        close(errp[0]);
        snprintf(err, errlen, "customcode %s: cannot run %s: %s", c->name, argv[0], strerror(rc));
        return false;
    }
    (void)fcntl(in[1], F_SETFL, O_NONBLOCK);
    strbuf_init(&obuf);
    strbuf_init(&ebuf);
    {
        struct pollfd p[3] = {{.fd = in[1], .events = POLLOUT},
                              {.fd = out[0], .events = POLLIN},
                              {.fd = errp[0], .events = POLLIN}};
        if (len == 0) {
            close(in[1]);
            p[0].fd = -1;
        }
        while (p[0].fd >= 0 || p[1].fd >= 0 || p[2].fd >= 0) {
            double left = deadline - monotonic_seconds();
            char buf[65536];
            if (left <= 0) {
                timed_out = true;
                break;
            }
            if (h->cancel && cancel_requested(h->cancel)) {
                stopped = true;
                break;
            }
            /* At most 200 ms at a time: a stopping engine does not wait for it. */
            if (poll(p, 3, left > 0.2 ? 200 : (int)(left * 1000) + 1) < 0 && errno != EINTR)
                break;
            if (p[0].fd >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
                ssize_t n = write(p[0].fd, input + sent, len - sent);
                if (n > 0)
                    sent += (size_t)n;
                if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == len) {
                    close(p[0].fd); /* the command may not read everything: that is its business */
                    p[0].fd = -1;
                }
            }
            for (int i = 1; i < 3; i++) {
                if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLERR | POLLHUP)))
                    continue;
                ssize_t n = read(p[i].fd, buf, sizeof(buf));
                if (n > 0) {
                    StrBuf *b = i == 1 ? &obuf : &ebuf;
                    if (i == 1 && obuf.len + (size_t)n > ANSWER_MAX) {
                        too_big = true;
                    } else {
                        strbuf_append_len(b, buf, (size_t)n);
                        if (i == 2 && ebuf.len > 4 * STDERR_KEEP) { /* keep the tail */
                            memmove(ebuf.data, ebuf.data + ebuf.len - STDERR_KEEP, STDERR_KEEP);
                            ebuf.len = STDERR_KEEP;
                            ebuf.data[ebuf.len] = '\0';
                        }
                    }
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    close(p[i].fd);
                    p[i].fd = -1;
                }
            }
            if (too_big)
                break;
        }
        for (int i = 0; i < 3; i++)
            if (p[i].fd >= 0)
                close(p[i].fd);
    }
    /* Its output is closed: it has (nearly) ended; wait for it up to the deadline. */
    while (!timed_out && !too_big && !stopped) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        struct timespec pause = {0, 5000000L};
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            status = 0;
            break;
        }
        if (monotonic_seconds() >= deadline)
            timed_out = true;
        else if (h->cancel && cancel_requested(h->cancel))
            stopped = true;
        else
            nanosleep(&pause, NULL);
    }
    if (timed_out || too_big || stopped) {
        kill(-pid, SIGKILL); /* its own process group (POSIX_SPAWN_SETPGROUP) */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (timed_out || too_big || stopped || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        const char *tail = last_line(ebuf.data ? ebuf.data : (char[]){'\0'});
        if (stopped)
            snprintf(err, errlen, "customcode %s: command %s killed: the engine is stopping", c->name,
                     runner ? runner : c->src);
        else if (timed_out)
            snprintf(err, errlen, "customcode %s: command %s did not answer within %.0f s (killed)%s%s",
                     c->name, runner ? runner : c->src, c->timeout, tail[0] ? ": " : "", tail);
        else if (too_big)
            snprintf(err, errlen, "customcode %s: command %s answered more than %zu bytes", c->name,
                     runner ? runner : c->src, ANSWER_MAX);
        else if (WIFSIGNALED(status))
            snprintf(err, errlen, "customcode %s: command %s killed by signal %d%s%s", c->name,
                     runner ? runner : c->src, WTERMSIG(status), tail[0] ? ": " : "", tail);
        else
            snprintf(err, errlen, "customcode %s: command %s exited with status %d%s%s", c->name,
                     runner ? runner : c->src, WEXITSTATUS(status), tail[0] ? ": " : "", tail);
        strbuf_free(&obuf);
        strbuf_free(&ebuf);
        return false;
    }
    if (ebuf.len > 0)
        log_info("customcode %s wrote on stderr: %s", c->name, last_line(ebuf.data));
    strbuf_free(&ebuf);
    *answer = obuf.data ? obuf.data : xstrdup("");
    return true;

pipe_failed:
    snprintf(err, errlen, "customcode %s: cannot create pipes: %s", c->name, strerror(errno));
    return false;
}

/* literal - a SQL string literal of text for any standard_conforming_strings. */
static char *literal(const char *text)
{
    StrBuf sb;

    strbuf_init(&sb);
    strbuf_append(&sb, "E'");
    for (const char *p = text; *p; p++) {
        if (*p == '\'' || *p == '\\')
            strbuf_append_len(&sb, p, 1);
        strbuf_append_len(&sb, p, 1);
    }
    strbuf_append(&sb, "'");
    return sb.data;
}

/* function_name - bucardo."customcode_<name>" (the name is checked by the catalog). */
static char *function_name(const HookCode *c)
{
    return xasprintf("bucardo.\"customcode_%s\"", c->name);
}

/* sql_install - c's function in database db, once per runner. */
static bool sql_install(Hooks *h, HookCode *c, const DbInfo *db, PGconn *conn, char *err, size_t errlen)
{
    char *fn, *lang, *body, *sql;
    PGresult *res;
    bool ok;

    if (strlist_contains(&c->installed, db->name))
        return true;
    fn = function_name(c);
    lang = pg_quote_ident(conn, c->language);
    body = pg_quote_literal(conn, c->src);
    sql = xasprintf("CREATE SCHEMA IF NOT EXISTS bucardo;"
                    " CREATE OR REPLACE FUNCTION %s(info jsonb) RETURNS jsonb LANGUAGE %s AS %s",
                    fn, lang, body);
    res = PQexec(conn, sql);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "customcode %s (%s): cannot install its SQL body in database %s: %s%s%s%s",
                 c->name, POINT_NAMES[c->point], db->name,
                 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                     ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                     : PQerrorMessage(conn),
                 PQresultErrorField(res, PG_DIAG_SQLSTATE) ? " (SQLSTATE " : "",
                 PQresultErrorField(res, PG_DIAG_SQLSTATE) ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : "",
                 PQresultErrorField(res, PG_DIAG_SQLSTATE) ? ")" : "");
    else
        strlist_add(&c->installed, db->name);
    PQclear(res);
    free(fn);
    free(lang);
    free(body);
    free(sql);
    (void)h;
    return ok;
}

/* connect_db - a connection of the hook's own to db (through the budget). */
static PGconn *connect_db(Hooks *h, const HookCode *c, const DbInfo *db, char *err, size_t errlen)
{
    ConnParams cp = dbinfo_params(db);
    char reason[512];
    PGconn *conn = h->budget ? budget_connect(h->budget, &cp, db->name, reason, sizeof(reason))
                             : pg_connect_err(&cp, reason, sizeof(reason));

    if (conn == NULL)
        snprintf(err, errlen, "customcode %s: cannot connect to database %s: %s", c->name, db->name, reason);
    return conn;
}

/* run_sql - c's function in its database with `input`; *answer its text. */
static bool run_sql(Hooks *h, HookCode *c, const HookCall *call, const char *input, char **answer, char *err,
                    size_t errlen)
{
    const char *dbname = c->db ? c->db : call->default_db;
    const DbInfo *db = find_db(h->def, dbname);
    PGconn *conn;
    PGresult *res;
    char *sql, *fn;
    bool ok;

    if (db == NULL) {
        snprintf(err, errlen, "customcode %s: database %s is not a member of sync %s", c->name,
                 dbname ? dbname : "(none)", h->def->name);
        return false;
    }
    if ((conn = connect_db(h, c, db, err, errlen)) == NULL)
        return false;
    if (!sql_install(h, c, db, conn, err, errlen)) {
        PQfinish(conn);
        return false;
    }
    fn = function_name(c);
    if (call->in_txn && (c->db == NULL || (call->default_db && strcmp(c->db, call->default_db) == 0))) {
        char *lit = literal(input);
        PQfinish(conn);
        sql = xasprintf("SELECT %s(%s::jsonb)::text", fn, lit);
        free(lit);
        free(fn);
        ok = call->in_txn(call->arg, sql, answer, err, errlen);
        free(sql);
        if (!ok) {
            char *why = xstrdup(err);
            snprintf(err, errlen, "customcode %s (%s) in database %s: %s", c->name, POINT_NAMES[c->point],
                     db->name, why);
            free(why);
        }
        return ok;
    }
    sql = xasprintf("SET statement_timeout = %ld", (long)(c->timeout * 1000));
    res = PQexec(conn, sql);
    PQclear(res);
    free(sql);
    sql = xasprintf("SELECT %s($1::jsonb)::text", fn);
    free(fn);
    {
        const char *params[1] = {input};
        res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    }
    free(sql);
    ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (ok) {
        *answer = xstrdup(PQgetisnull(res, 0, 0) ? "{}" : PQgetvalue(res, 0, 0));
    } else {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(err, errlen, "customcode %s (%s) in database %s: %s%s%s%s", c->name, POINT_NAMES[c->point],
                 db->name, msg ? msg : PQerrorMessage(conn), state ? " (SQLSTATE " : "", state ? state : "",
                 state ? ")" : "");
        /* A body that does not compile is installed again next time (it
         * may have been fixed in the database by hand). */
        for (int i = 0; i < c->installed.count; i++)
            if (strcmp(c->installed.items[i], db->name) == 0)
                c->installed.items[i][0] = '\0';
    }
    PQclear(res);
    PQfinish(conn);
    return ok;
}

/* flag - is key set in answer to something true-ish (Bucardo: any non-empty string)? */
static bool flag(json_object *answer, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(answer, key, &v) || v == NULL)
        return false;
    switch (json_object_get_type(v)) {
    case json_type_boolean: return json_object_get_boolean(v);
    case json_type_int: return json_object_get_int64(v) != 0;
    case json_type_string:
        return json_object_get_string_len(v) > 0 && strcmp(json_object_get_string(v), "0") != 0;
    case json_type_null: return false;
    default: return true;
    }
}

static const char *text_of(json_object *answer, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(answer, key, &v) || v == NULL || json_object_get_type(v) == json_type_null)
        return NULL;
    return json_object_get_string(v)[0] ? json_object_get_string(v) : NULL;
}

bool hooks_run(Hooks *h, const HookCall *call, HookOutcome *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    strbuf_init(&out->warnings);
    if (h == NULL)
        return true;
    for (int i = 0; i < h->n[call->point]; i++) {
        HookCode *c = &h->codes[call->point][i];
        json_object *req, *answer;
        char *input, *text = NULL;
        bool ok;

        if (!code_applies(c, call->table))
            continue;
        req = request(h, c, call);
        input = xstrdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
        json_object_put(req);
        log_info("sync %s: running %s customcode %s%s%s", h->def->name, POINT_NAMES[c->point], c->name,
                 call->table ? " for " : "", call->table ? call->table : "");
        ok = strcmp(c->kind, "sql") == 0 ? run_sql(h, c, call, input, &text, err, errlen)
                                         : run_command(h, c, input, &text, err, errlen);
        free(input);
        out->ran++;
        if (!ok)
            return false;
        answer = text[strspn(text, " \t\r\n")] ? json_tokener_parse(text) : json_object_new_object();
        if (answer == NULL || json_object_get_type(answer) != json_type_object) {
            snprintf(err, errlen, "customcode %s (%s): its answer is not a JSON object: %.200s", c->name,
                     POINT_NAMES[c->point], text);
            json_object_put(answer);
            free(text);
            return false;
        }
        free(text);
        {
            /* An answer's shared (an object) is what the next call gets. */
            json_object *sh;
            if (json_object_object_get_ex(answer, "shared", &sh) &&
                json_object_get_type(sh) == json_type_object) {
                json_object_put(h->shared);
                h->shared = json_object_get(sh);
            }
        }
        if (call->on_answer && !call->on_answer(call->arg, c, answer, err, errlen)) {
            json_object_put(answer);
            return false;
        }
        if (text_of(answer, "message"))
            log_info("Message from %s code %s: %s", POINT_NAMES[c->point], c->name,
                     text_of(answer, "message"));
        if (text_of(answer, "warning")) {
            log_warn("Warning! Code %s %s: %s", POINT_NAMES[c->point], c->name, text_of(answer, "warning"));
            strbuf_printf(&out->warnings, "%scustomcode %s: %s", out->warnings.len ? "; " : "", c->name,
                          text_of(answer, "warning"));
        }
        if (text_of(answer, "error")) {
            snprintf(err, errlen, "customcode %s (%s) error: %s", c->name, POINT_NAMES[c->point],
                     text_of(answer, "error"));
            json_object_put(answer);
            return false;
        }
        if (flag(answer, "endsync")) {
            log_info("sync %s: %s code %s requests a cancellation of the rest of the cycle", h->def->name,
                     POINT_NAMES[c->point], c->name);
            out->endsync = true;
            json_object_put(answer);
            return true;
        }
        if (flag(answer, "skip_keys")) {
            out->skip_keys = true;
            json_object_put(answer);
            return true;
        }
        if (flag(answer, "retry")) {
            out->retry = true;
            json_object_put(answer);
            return true;
        }
        if (flag(answer, "lastcode")) {
            json_object_put(answer);
            return true;
        }
        json_object_put(answer); /* nextcode, skip or nothing: the next code */
    }
    return true;
}
