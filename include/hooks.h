/*
 * include/hooks.h - customcode: the codes a sync runs at the hook points of
 * its cycle (Bucardo's whenrun values), and the two ways to run one: a SQL
 * function body in a database, or a command given JSON on stdin.
 *
 * A sync's codes are read from the catalog once per runner (a change of
 * them restarts the worker: they are part of its fingerprint) into a
 * Hooks, which is NULL when the sync has none: each hook point of the cycle
 * costs one pointer check then.  The Hooks belongs to the sync thread.
 *
 * The contract with a code (README.md, "Customcode"): it receives a JSON
 * object (the hook's information, plus syncname, whenrun, customcode,
 * version, sources, targets and - when getdbh - dbinfo, the members'
 * connection settings without passwords) and answers a JSON object whose
 * keys message, warning, error, lastcode, nextcode, skip, endsync and retry
 * are honoured as Bucardo does; conflict and exception codes answer more
 * (the callers read it).
 */
#ifndef BUCARDO_HOOKS_H
#define BUCARDO_HOOKS_H

#include <json-c/json.h>
#include <stdbool.h>

#include "cancel.h"
#include "conn_budget.h"
#include "syncdef.h"
#include "util.h"

typedef enum HookPoint {
    HOOK_BEFORE_TXN,
    HOOK_BEFORE_CHECK_ROWS,
    HOOK_BEFORE_TRIGGER_DROP,
    HOOK_AFTER_TRIGGER_DROP,
    HOOK_AFTER_TABLE_SYNC,
    HOOK_EXCEPTION,
    HOOK_CONFLICT,
    HOOK_BEFORE_TRIGGER_ENABLE,
    HOOK_AFTER_TRIGGER_ENABLE,
    HOOK_AFTER_TXN,
    HOOK_BEFORE_SYNC,
    HOOK_AFTER_SYNC,
    HOOK_NPOINTS
} HookPoint;

typedef struct Hooks Hooks;

/* One code as the hook's callers see it. */
typedef struct HookCode {
    char *name;
    HookPoint point;
    char *kind;     /* "sql", "command" or "perl" */
    char *src;      /* SQL body, command path, or Perl text */
    char *language; /* of a SQL body */
    char *db;       /* where a SQL body runs; NULL: the hook's default database */
    char *table;    /* "schema.table" the code is for; NULL: every table of the sync */
    double timeout; /* seconds per call */
    bool getdbh;
    int priority;
    StrList installed; /* databases where its SQL function is installed (this runner) */
} HookCode;

/*
 * hooks_load - the active codes of sync `def` (for the sync, or for one of
 * its tables), in priority order per hook point; NULL when there are none
 * (and on error, with *ok false and err set).  def, budget and cancel (the
 * sync's stop switch, may be NULL: a command running when it fires is
 * killed) are borrowed for the life of the Hooks.
 */
Hooks *hooks_load(PGconn *cat, const SyncDef *def, ConnBudget *budget, const CancelSet *cancel, bool *ok,
                  char *err, size_t errlen);
void hooks_free(Hooks *h);

/* hooks_has - does h run any code at `point` (for table "schema.table",
 * or for any table when table is NULL)?  False when h is NULL. */
bool hooks_has(const Hooks *h, HookPoint point, const char *table);

/* hooks_point_name - "before_txn", ... */
const char *hooks_point_name(HookPoint point);

/* One call of a hook point's codes. */
typedef struct HookCall {
    HookPoint point;
    const char *table;      /* "schema.table" for table hooks; NULL */
    const char *default_db; /* where a SQL code without db= runs (a member of the sync) */
    json_object *info;      /* the hook's information (borrowed; the common keys are added) */
    /* When set, a SQL code that runs in default_db is called through it (a
     * statement in a transaction the caller holds there: exception codes
     * run in the writer's apply transaction); *answer is xmalloc'd text. */
    bool (*in_txn)(void *arg, const char *sql, char **answer, char *err, size_t errlen);
    /* When set, called with each code's answer (an object) before the
     * common keys are looked at; false (err set) fails the call. */
    bool (*on_answer)(void *arg, const HookCode *code, json_object *answer, char *err, size_t errlen);
    void *arg;
} HookCall;

typedef struct HookOutcome {
    int ran;        /* codes called */
    bool endsync;   /* a code asked to cancel the cycle */
    bool retry;     /* a code asked to retry (exception codes) */
    bool skip_keys; /* a code asked to leave the failing batch's keys out (exception codes) */
    StrBuf warnings;
} HookOutcome;

/*
 * hooks_run - the codes of call->point (for call->table) in priority order:
 * each code's message and warning are logged, an error fails the call
 * (err names the customcode), lastcode stops the rest, nextcode and skip go
 * on, endsync and retry stop and are reported in *out.  A command that
 * fails, hangs past its timeout or answers no JSON object, and a SQL body
 * that does not install or raises, fail the call (err names the code).
 * The caller strbuf_free()s out->warnings.
 */
bool hooks_run(Hooks *h, const HookCall *call, HookOutcome *out, char *err, size_t errlen) MUST_CHECK;

/* hooks_perl_runner - the Perl runner's path (the installed one, else the
 * source tree's), or NULL when neither exists. */
const char *hooks_perl_runner(void);

#endif
