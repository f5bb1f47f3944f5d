/*
 * cli/help.c - `bucardo --help` and `bucardo help COMMAND`.
 *
 * One entry per verb of the command table (cli/main.c): its synopsis and
 * what it does, in our own words.  tests/integration/test_gap_bugs.sh asks
 * for the help of every verb the usage lists.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

typedef struct HelpEntry {
    const char *verb;
    const char *text;
} HelpEntry;

static const HelpEntry HELP[] = {
    {"install",
     "bucardo install [--piddir=DIR] [--dbhost=H] [--dbport=P] [--dbuser=U] [--dbname=D] [--batch]\n"
     "  Creates the 'bucardo' superuser, the 'bucardo' database and the catalog in an\n"
     "  existing cluster.  Asks before proceeding unless --batch is given.\n"},
    {"add",
     "bucardo add database NAME dbname=DB [host=H] [port=P] [user=U] [pass=X] [service=S]\n"
     "                          [conn=\"k=v ...\"] [sslmode=M] [status=active|inactive] [--force]\n"
     "bucardo add all tables [db=NAME] [relgroup=NAME] [-t T] [-T T] [-n S] [-N S] [pkonly=1] [--verbose]\n"
     "bucardo add table|sequence [SCHEMA.]NAME ... [db=NAME] [relgroup=NAME]\n"
     "bucardo add all sequences [db=NAME] [relgroup=NAME]\n"
     "bucardo add customname [SCHEMA.]TABLE NEWNAME [db=TARGET] [sync=NAME]\n"
     "bucardo add customcols [SCHEMA.]TABLE \"SELECT a, b\" [db=TARGET] [sync=NAME]\n"
     "bucardo add customcode NAME whenrun=HOOK src_code=FILE [sync=NAME | relation=TABLE] [about=TEXT]\n"
     "                 [priority=N] [status=active|inactive] [getdbh=1] [kind=sql|command|perl]\n"
     "                 [db=NAME] [language=plpgsql] [timeout=SECONDS]\n"
     "bucardo add relgroup NAME [TABLE ...]\n"
     "bucardo add dbgroup NAME DB:source DB:target ...\n"
     "bucardo add sync NAME relgroup=NAME|tables=T1,T2 dbs=A,B[:source|:target|:fullcopy],... | dbs=DBGROUP\n"
     "                 | dbgroup=NAME\n"
     "                 [autokick=1] [onetimecopy=0|1|2] [conflict_strategy=bucardo_latest]\n"
     "                 [checktime=INTERVAL] [status=active|inactive] [stayalive=1] [kidsalive=1]\n"
     "                 [rebuild_index=0|1|2] [analyze_after_copy=1] [strict_checking=1]\n"
     "                 [isolation_level=serializable|\"repeatable read\"] [vacuum_after_copy=0]\n"
     "                 [deletemethod=default|delete|truncate|truncate_cascade] ...\n"
     "  add database also takes dbdsn=DSN, pgpass=FILE, dbgroup=G[:ROLE][,G2...] and the\n"
     "  words addalltables, addallsequences; dbgroup members DB:ROLE[:pri=N][:makedelta=1]\n"
     "  (ROLE source, target, fullcopy, or s, t).\n"
     "  Adds an object to the catalog.  A database is tested with a connection first.\n"
     "  NAME: 1 to 63 bytes of UTF-8, no control characters, no '=', not starting with '-',\n"
     "  not starting or ending with a blank; database names also without ',' or ':';\n"
     "  a sync is not named \"all\" nor a number.\n"},
    {"update",
     "bucardo update database NAME key=value ...   (same keys as add database)\n"
     "bucardo update sync NAME key=value ...       (same keys as add sync; name=NEWNAME,\n"
     "                                              and the words active, inactive)\n"
     "bucardo update table|sequence [SCHEMA.]NAME [db=NAME] relgroup=A[,B] | schemaname=S | tablename=T\n"
     "      tables also: autokick, rebuild_index, analyze_after_copy, vacuum_after_copy,\n"
     "      strict_checking, conflict_strategy, makedelta=on|off|DB,.., ghost, priority=N\n"
     "      (each the table's own; \"default\": the sync's)\n"
     "bucardo update relgroup NAME [add TABLE ...] [remove TABLE ...] [name=NEWNAME]\n"
     "bucardo update dbgroup NAME [add DB[:ROLE] ...] [remove DB ...] [DB:ROLE ...] [name=NEWNAME]\n"
     "      a member word may carry Bucardo's extras: DB:ROLE:pri=N:makedelta=B, or DB:pri=N\n"
     "bucardo update customcode NAME key=value ... (same keys as add customcode, and name=)\n"
     "  A change to what a sync uses is checked against the sync, capture is put in\n"
     "  place (or dropped), and a running engine reloads the sync.\n"},
    {"remove", "bucardo remove database|dbgroup|table|sequence|relgroup|sync NAME ...\n"
               "bucardo remove customname|customcols ID ...\n"
               "bucardo remove customcode NAME ...\n"
               "bucardo remove TYPE all   (or: remove all TYPE)\n"
               "  TYPE all: every object of that kind, in one transaction (all or none,\n"
               "  with the checks of a single remove).  Also spelled delete, del.\n"
               "  Refuses to remove something still in use.  remove database --force also\n"
               "  removes the database's tables and dbgroup memberships; a sync left without a\n"
               "  source, a target or tables is deactivated, and a running engine reloads.\n"},
    {"list", "bucardo list dbs|dbgroups|tables|sequences|relgroups|syncs|all [REGEX]\n"
             "bucardo list customnames|customcols|customcodes\n"
             "bucardo list config [NAME ...]   (same as show)\n"
             "bucardo list clones [ID ...]   (the clone jobs and their outcome)\n"
             "  Kinds may be abbreviated as Bucardo allows: db, dbg, tab, seq, relgr/herd,\n"
             "  sync, cname, ccol; any case; verb spellings l, lsit, lit.\n"
             "  --verbose: more per object (a database's dbgroups and syncs, a sync's tables,\n"
             "  a relgroup's members, a table's syncs and options); -vv: every catalog column.\n"},
    {"upgrade", "bucardo upgrade [--dryrun] | bucardo upgrade --finish\n"
                "  Brings the catalog to this program's version and refreshes the change capture\n"
                "  of every sync on its sources.  On a Bucardo 5 catalog (Bucardo stopped), it\n"
                "  converts every object in one go and turns the changes Bucardo had not yet\n"
                "  delivered into pending changes of this program's capture; Bucardo's catalog\n"
                "  and objects are kept in schema bucardo5.  --dryrun: say what would be\n"
                "  converted and what cannot be, change nothing.  --finish: drop schema\n"
                "  bucardo5 everywhere (README, Switching from Bucardo).\n"},
    {"start", "bucardo start [\"reason\"] [--foreground] [--log-destination DEST ...]\n"
              "      [--log-level LEVEL] [--log-extension EXT] [--log-separate] [--log-clean]\n"
              "      [--log-showline 0|1] [--sendmail=0] [--exit-on-nosync] [--extra-name NAME]\n"
              "  Starts the engine (one process, a thread per active sync) and returns once it\n"
              "  runs, or says why it could not start.  The log goes to log.bucardo in\n"
              "  /var/log/bucardo (else ~/.local/state/bucardo), or to every --log-destination:\n"
              "  a directory, stderr, stdout, syslog or none.  The reason goes to reason_file\n"
              "  and the log.  --foreground: do not detach.  Mail alerts (start, stop, a sync\n"
              "  Bad or Good again, overdue, expired, a member behind) go to default_email_to\n"
              "  unless --sendmail=0; the reason is in the start mail.\n"},
    {"reopen", "bucardo reopen [--piddir DIR]\n"
               "  Has the running engine reopen its log files (after logrotate moved them):\n"
               "  sends it SIGUSR2.  With --piddir, the catalog is not needed.\n"},
    {"stop", "bucardo stop [\"reason\"]\n"
             "  Stops the engine and returns once it has exited; each sync finishes or rolls\n"
             "  back the cycle it is running.  The reason is in the stop mail.\n"},
    {"restart", "bucardo restart [\"reason\"]\n  stop, then start.\n"},
    {"reload", "bucardo reload [config [TIMEOUT] | SYNC ...]\n"
               "  Has the running engine reread the catalog: syncs whose definition changed\n"
               "  restart, removed or deactivated ones stop, new ones start.  reload config:\n"
               "  every setting is read again (every sync restarts), waiting up to TIMEOUT\n"
               "  seconds (default: reload_config_timeout) for the engine's word; non-zero\n"
               "  exit when it does not come.  reload SYNC: each active sync restarts in turn,\n"
               "  waiting up to 10 s for each; an inactive one is skipped with a warning.\n"},
    {"kick", "bucardo kick SYNC|all|PATTERN ... [TIMEOUT] [--retry=N] [--retry-sleep=S] [--notimer]\n"
             "  Asks the engine to run the syncs now (all: every active sync; PATTERN with\n"
             "  % or * matches names).  With TIMEOUT (seconds; 0: no limit), waits for each\n"
             "  run and prints its outcome; the exit status is non-zero when a run failed or\n"
             "  did not end in time.  --retry=N kicks a failed run again up to N times,\n"
             "  --retry-sleep=S seconds apart; --notimer shows no progress while waiting\n"
             "  and no [N s] timer.  An inactive sync named with active ones is skipped\n"
             "  (\"Cannot kick inactive sync\"); one named alone is refused.\n"},
    {"clone", "bucardo clone sync=NAME [prime=DB]\n"
              "bucardo clone dbgroup=NAME relgroup=NAME|tables=T1,T2 [prime=DB]\n"
              "  Copies the tables' data once from the prime (the one source, or prime=DB\n"
              "  among several) to every other database of the sync or dbgroup.  The engine\n"
              "  must be running: it copies through a temporary fullcopy sync\n"
              "  (bucardo_clone_ID) that the command kicks, waits for and removes.  The job\n"
              "  is recorded in bucardo.clone: see bucardo list clones.\n"},
    {"activate", "bucardo activate SYNC|all|PATTERN ... [TIMEOUT]\n"
                 "  Marks the syncs active (after checking each can run); a running engine\n"
                 "  starts them.  With TIMEOUT (seconds, 0: no limit) the engine must be running\n"
                 "  and the command waits until it says each sync runs (\"...OK\").\n"},
    {"deactivate", "bucardo deactivate SYNC|all|PATTERN ... [TIMEOUT]\n"
                   "  Marks the syncs inactive; a running engine stops them after their cycle.\n"
                   "  With TIMEOUT, waits until the engine says each has stopped.\n"},
    {"pause", "bucardo pause SYNC|all|PATTERN ...\n"
              "  Has the running engine stop running the syncs until resumed (not kept across\n"
              "  an engine restart).\n"},
    {"resume", "bucardo resume SYNC|all|PATTERN ...\n  Undoes pause.\n"},
    {"status", "bucardo status [SYNC ...|all] [--sort=N] [--show-days] [--compress] [--tsep=SEP] [--json]\n"
               "  Without a name: one line per sync (state, last good and bad runs).  With\n"
               "  names (all, or % and * patterns): the details of each sync, its last error\n"
               "  and the copies in flight.  --sort=N orders the table by column N (1 name,\n"
               "  3 state, 5/6 last good age/time, 7 rows, 8/9 last bad age/time; negative:\n"
               "  descending).  --show-days shows days in ages, --compress drops their blanks,\n"
               "  --tsep sets the thousands separator.  Environment: BUCARDO_DATEFORMAT and\n"
               "  BUCARDO_SHORTDATEFORMAT (to_char patterns) for the times.  --json: one JSON\n"
               "  document with every figure, plus each sync's backlog (keys waiting per\n"
               "  table), lag (age of the oldest change not delivered) and members.\n"},
    {"check", "bucardo check [SYNC ...]\n"
              "  A monitoring check (Nagios plugin style): each sync's lag against its overdue\n"
              "  and expired.  Prints one line; exits 0 OK, 1 WARNING (past overdue),\n"
              "  2 CRITICAL (past expired), 3 UNKNOWN.\n"},
    {"validate", "bucardo validate SYNC ... | all\n"
                 "  Checks that each sync can run (members, tables, keys, and on every receiving\n"
                 "  database the tables and columns) and reinstalls its change capture.\n"},
    {"inspect", "bucardo inspect [table] [SCHEMA.]TABLE [db=NAME]\n"
                "bucardo inspect sync NAME ...\n"
                "bucardo inspect relgroup NAME ...\n"
                "  What bucardo knows of a table (its database, key, relgroups and syncs, its\n"
                "  approximate size, its capture triggers and the changes not yet purged), of a\n"
                "  sync (members, options, runs, relations) or of a relgroup.\n"},
    {"show", "bucardo show all | changed | NAME ...\n"
             "  Shows configuration settings (NAME: a setting, or part of names); changed:\n"
             "  those whose value is not the installed default.\n"},
    {"set", "bucardo set NAME=VALUE ...\n  Changes configuration settings.\n"},
    {"config", "bucardo config show [all|NAME ...]\n"
               "bucardo config set NAME=VALUE ...\n"
               "  Bucardo's older spelling of show and set.\n"},
    {"ping", "bucardo ping [TIMEOUT]\n"
             "  Asks the running engine to answer on the catalog (default 15 s, 0: no limit).\n"
             "  Prints \"OK: Got response from PID N\" and exits 0, or \"CRITICAL: ...\" and\n"
             "  exits 1: a Nagios check.\n"},
    {"message", "bucardo message TEXT ...   (also: msg)\n"
                "  Writes \"MESSAGE: TEXT\" into the running engine's log (one line: control\n"
                "  characters become blanks).  Refused when the engine is not running.\n"},
    {"delta", "bucardo delta [totals] [DB ...]\n"
              "  Counts the changes waiting in the delta tables of each source database\n"
              "  (DB may use % and *); totals: the grand total only; --verbose: per table.\n"},
    {"purge", "bucardo purge [all | TABLE ...]\n"
              "  Deletes the delta rows of the tables (all: every captured table, and the\n"
              "  truncate log) that every sync reading them has applied, as the engine does\n"
              "  after each cycle.  A change not yet delivered to every target is never\n"
              "  deleted; nothing is purged for a table a sync has not completed a cycle of.\n"},
    {"compare", "bucardo compare SYNC [TABLE ...] [--repair] [--json]\n"
                "  Compares the rows of the sync's source and targets by checksums of key ranges, each on\n"
                "  a snapshot, and names the keys missing, extra or different on each target.  Exit status\n"
                "  0: equal, 1: different, 2: error.  --repair queues those keys for the next cycle and\n"
                "  kicks the sync; --json prints one JSON document.\n"},
    {"help", "bucardo help [COMMAND [ACTION]]\n"
             "  Help on one command, or on one action of it (help add sync).\n"},
};

void cli_usage(void)
{
    printf("bucardo - asynchronous multi-source replication for PostgreSQL (version %s)\n\n",
           BUCARDO_VERSION);
    printf("Usage: bucardo [options] COMMAND [arguments]\n\nCommands:\n");
    printf("  install                 create the bucardo catalog database\n");
    printf("  add TYPE NAME ...       add a database, dbgroup, table(s), sequence(s), relgroup, sync,\n");
    printf("                          customname, customcols or customcode\n");
    printf("  update TYPE NAME ...    change a database, sync, table, sequence, relgroup or dbgroup\n");
    printf("  remove TYPE NAME|all    remove objects\n");
    printf("  list TYPE [REGEX]       list dbs, dbgroups, tables, sequences, relgroups, syncs,\n");
    printf("                          customnames, customcols, config, clones or all\n");
    printf("  inspect TYPE NAME       what bucardo knows of a table, sync or relgroup\n");
    printf("  show all|changed|NAME   show configuration settings\n");
    printf("  set NAME=VALUE          change a configuration setting\n");
    printf("  config show|set         older spelling of show and set\n");
    printf("  compare SYNC [TABLE]    find rows that differ between source and targets\n");
    printf("  validate SYNC|all       check syncs and reinstall their change capture\n");
    printf("  upgrade                 bring the catalog to this version (or switch from Bucardo 5)\n");
    printf("  start [\"reason\"]        start the engine\n");
    printf("  stop [\"reason\"]         stop the engine\n");
    printf("  restart [\"reason\"]      stop, then start\n");
    printf("  reload [config | SYNC]  have the running engine reread the catalog\n");
    printf("  reopen                  have the running engine reopen its log files\n");
    printf("  ping [TIMEOUT]          check that the engine answers (Nagios OK/CRITICAL)\n");
    printf("  kick SYNC... [TIMEOUT]  run syncs now, optionally waiting for the outcome\n");
    printf("  clone sync=NAME [prime=DB]  copy a sync's tables once from the prime to the others\n");
    printf("  activate SYNC... [T]    turn syncs on (T: wait for the engine)\n");
    printf("  deactivate SYNC... [T]  turn syncs off\n");
    printf("  pause | resume SYNC...  hold syncs in the running engine\n");
    printf("  status [SYNC...|all]    the state of the syncs (--json: one JSON document)\n");
    printf("  check [SYNC...]         monitoring check of lag vs overdue/expired (exit 0/1/2/3)\n");
    printf("  delta [totals] [DB...]  changes waiting in the sources' delta tables\n");
    printf("  purge [all|TABLE...]    delete delta rows every reader has applied\n");
    printf("  message TEXT            write a line into the running engine's log\n");
    printf("  help COMMAND [ACTION]   help on one command\n");
    printf("  SYNC may be a name, all, or a pattern with %% or *.\n\n");
    printf("Options (anywhere on the line; also read from the first of ./.bucardorc,\n");
    printf("~/.bucardorc and /etc/bucardorc, as name=value or name: value lines):\n");
    printf("  -d, --dbname NAME       catalog database (default bucardo)\n");
    printf("  -U, --dbuser USER       catalog user (default bucardo)\n");
    printf("  -P, --dbpass PASS       catalog password (prefer ~/.pgpass)\n");
    printf("  -h, --dbhost HOST       catalog host (default: libpq's, e.g. PGHOST)\n");
    printf("  -p, --dbport PORT       catalog port (default: libpq's, e.g. PGPORT)\n");
    printf("      --db, --database DB the database of add table/sequence and similar commands\n");
    printf("      --piddir DIR        pid file directory (install, start, stop; else the catalog's)\n");
    printf("      --bucardorc FILE    read options from FILE instead\n");
    printf("      --no-bucardorc      read no options file\n");
    printf("      --batch             do not ask questions\n");
    printf("      --force             skip safety checks where a command allows it\n");
    printf("      --dryrun, --dry-run roll back every catalog change instead of committing it\n");
    printf("      --confirm           ask before committing (env BUCARDO_CONFIRM)\n");
    printf("  -v, --verbose           say more (repeatable; -vv, --vvv, --vvvv: levels 2-4)\n");
    printf("  -q, --quiet             say only errors and what was asked for\n");
    printf("      --debug             debug lines on stderr (env BUCARDO_DEBUG)\n");
    printf("      --exit-on-nosync    start: refuse when no sync is active (--no-exit-on-nosync)\n");
    printf("      --quickstart, --bcverbose   accepted; no effect, as in Bucardo 5.6\n");
    printf("      --retry N, --retry-sleep S, --notimer   kick\n");
    printf("      --sort N, --show-days, --compress, --tsep SEP   status (tsep: delta too)\n");
    printf("  -?, --help              this help\n");
    printf("      --version           print the version and exit\n");
}

/*
 * help_action - the lines of `text` for one action: synopsis lines
 * "bucardo VERB WORD..." whose WORD starts like `action` (any case, with
 * what follows on indented continuation lines), then the description
 * (lines indented by two).  False when no synopsis line matches.
 */
static bool help_action(const char *verb, const char *text, const char *action)
{
    StrBuf out;
    bool keep = false, any = false;
    size_t vlen = strlen(verb), alen = strlen(action);

    strbuf_init(&out);
    for (const char *l = text; *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        if (strncmp(l, "bucardo ", 8) == 0) {
            const char *w = l + 8 + vlen + 1;
            keep = strncmp(l + 8, verb, vlen) == 0 && alen > 0 && (size_t)(w - l) < len &&
                   strncasecmp(w, action, alen) == 0;
            /* "database|dbgroup|table": any alternative may match */
            for (const char *bar = w; !keep && bar < l + len && *bar != ' '; bar++)
                if (*bar == '|' && strncasecmp(bar + 1, action, alen) == 0)
                    keep = true;
            any = any || keep;
        } else if (strncmp(l, "  ", 2) == 0 && l[2] != ' ') {
            keep = true; /* the description */
        }
        if (keep)
            strbuf_printf(&out, "%.*s\n", (int)len, l);
        l = nl ? nl + 1 : l + len;
    }
    if (any)
        fputs(out.data, stdout);
    strbuf_free(&out);
    return any;
}

int cli_help_command(const char *verb, const char *action)
{
    for (size_t i = 0; i < sizeof(HELP) / sizeof(HELP[0]); i++)
        if (strcmp(HELP[i].verb, verb) == 0) {
            if (action == NULL) {
                fputs(HELP[i].text, stdout);
                return EXIT_OK;
            }
            if (help_action(verb, HELP[i].text, action))
                return EXIT_OK;
            return cli_error("no help for \"%s %s\" (see bucardo help %s)", verb, action, verb);
        }
    return cli_error("no help for \"%s\": not a command (see bucardo --help)", verb);
}
