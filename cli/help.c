/*
 * cli/help.c - `bucardo --help` and `bucardo help COMMAND`.
 *
 * One entry per verb of the command table (cli/main.c): its synopsis and
 * what it does, in our own words.  tests/integration/test_gap_bugs.sh asks
 * for the help of every verb the usage lists.
 */
#include <stdio.h>
#include <string.h>

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
     "bucardo add relgroup NAME [TABLE ...]\n"
     "bucardo add dbgroup NAME DB:source DB:target ...\n"
     "bucardo add sync NAME relgroup=NAME dbs=A,B[:source|:target|:fullcopy],... | dbgroup=NAME\n"
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
     "  A change to what a sync uses is checked against the sync, capture is put in\n"
     "  place (or dropped), and a running engine reloads the sync.\n"},
    {"remove", "bucardo remove database|dbgroup|table|sequence|relgroup|sync NAME ...\n"
               "bucardo remove customname|customcols ID ...\n"
               "  Refuses to remove something still in use.  remove database --force also\n"
               "  removes the database's tables and dbgroup memberships; a sync left without a\n"
               "  source, a target or tables is deactivated, and a running engine reloads.\n"},
    {"list", "bucardo list dbs|dbgroups|tables|sequences|relgroups|syncs|all [REGEX]\n"
             "bucardo list customnames|customcols\n"},
    {"upgrade", "bucardo upgrade\n"
                "  Brings the catalog to this program's version and refreshes the change capture\n"
                "  of every sync on its sources.\n"},
    {"start", "bucardo start [\"reason\"] [--foreground] [--debugfile=0]\n"
              "  Starts the engine (one process, a thread per active sync) and returns once it\n"
              "  runs, or says why it could not start.  The log goes to ./log.bucardo, or to\n"
              "  syslog with --debugfile=0.  --foreground: do not detach.\n"},
    {"stop", "bucardo stop [\"reason\"]\n"
             "  Stops the engine and returns once it has exited; each sync finishes or rolls\n"
             "  back the cycle it is running.\n"},
    {"restart", "bucardo restart [\"reason\"]\n  stop, then start.\n"},
    {"reload", "bucardo reload [config | SYNC ...]\n"
               "  Has the running engine reread the catalog: syncs whose definition changed\n"
               "  restart, removed or deactivated ones stop, new ones start.  reload config:\n"
               "  every setting is read again (every sync restarts), waiting up to\n"
               "  reload_config_timeout seconds.  reload SYNC: those syncs restart.\n"},
    {"kick", "bucardo kick SYNC [SYNC ...] [TIMEOUT]\n"
             "  Asks the engine to run the syncs now.  With TIMEOUT (seconds; 0: no limit),\n"
             "  waits for each run and prints its outcome; the exit status is non-zero when\n"
             "  a run failed or did not end in time.\n"},
    {"activate", "bucardo activate SYNC ...\n"
                 "  Marks the syncs active (after checking each can run); a running engine\n"
                 "  starts them.\n"},
    {"deactivate", "bucardo deactivate SYNC ...\n"
                   "  Marks the syncs inactive; a running engine stops them after their cycle.\n"},
    {"pause", "bucardo pause SYNC ... | all\n"
              "  Has the running engine stop running the syncs until resumed (not kept across\n"
              "  an engine restart).\n"},
    {"resume", "bucardo resume SYNC ... | all\n  Undoes pause.\n"},
    {"status", "bucardo status [SYNC ...]\n"
               "  Without a name: one line per sync (state, last good and bad runs).  With\n"
               "  names: the details of each sync, its last error and the copies in flight.\n"},
    {"validate", "bucardo validate SYNC ... | all\n"
                 "  Checks that each sync can run (members, tables, keys, and on every receiving\n"
                 "  database the tables and columns) and reinstalls its change capture.\n"},
    {"inspect", "bucardo inspect [table] [SCHEMA.]TABLE [db=NAME]\n"
                "  What bucardo knows of a table: its database, key, relgroups and syncs, its\n"
                "  approximate size, its capture triggers and the changes not yet purged.\n"},
    {"show", "bucardo show all | bucardo show NAME ...\n  Shows configuration settings.\n"},
    {"set", "bucardo set NAME=VALUE ...\n  Changes configuration settings.\n"},
    {"compare", "bucardo compare SYNC [TABLE ...] [--repair] [--json]\n"
                "  Compares the rows of the sync's source and targets by checksums of key ranges, each on\n"
                "  a snapshot, and names the keys missing, extra or different on each target.  Exit status\n"
                "  0: equal, 1: different, 2: error.  --repair queues those keys for the next cycle and\n"
                "  kicks the sync; --json prints one JSON document.\n"},
    {"help", "bucardo help [COMMAND]\n"},
};

void cli_usage(void)
{
    printf("bucardo - asynchronous multi-source replication for PostgreSQL (version %s)\n\n",
           BUCARDO_VERSION);
    printf("Usage: bucardo [options] COMMAND [arguments]\n\nCommands:\n");
    printf("  install                 create the bucardo catalog database\n");
    printf("  add TYPE NAME ...       add a database, dbgroup, table(s), sequence(s), relgroup, sync,\n");
    printf("                          customname or customcols\n");
    printf("  update TYPE NAME ...    change a database, sync, table, sequence, relgroup or dbgroup\n");
    printf("  remove TYPE NAME ...    remove objects\n");
    printf("  list TYPE [REGEX]       list dbs, dbgroups, tables, relgroups, syncs or all\n");
    printf("  show all|NAME           show configuration settings\n");
    printf("  set NAME=VALUE          change a configuration setting\n");
    printf("  compare SYNC [TABLE]    find rows that differ between source and targets\n");
    printf("  upgrade                 bring the catalog to this version\n");
    printf("  start | stop | restart  control the engine\n");
    printf("  reload                  have the running engine reread the catalog\n");
    printf("  kick SYNC [TIMEOUT]     run syncs now, optionally waiting for the outcome\n");
    printf("  activate | deactivate   turn syncs on or off\n");
    printf("  pause | resume          hold syncs in the running engine\n");
    printf("  status [SYNC]           the state of the syncs\n");
    printf("  validate SYNC|all       check syncs and reinstall their change capture\n");
    printf("  inspect TABLE           what bucardo knows of a table\n");
    printf("  help COMMAND            help on one command\n\n");
    printf("Options (anywhere on the line; also read from ~/.bucardorc as name=value lines):\n");
    printf("  -d, --dbname NAME       catalog database (default bucardo)\n");
    printf("  -U, --dbuser USER       catalog user (default bucardo)\n");
    printf("  -P, --dbpass PASS       catalog password (prefer ~/.pgpass)\n");
    printf("  -h, --dbhost HOST       catalog host (default: libpq's, e.g. PGHOST)\n");
    printf("  -p, --dbport PORT       catalog port (default: libpq's, e.g. PGPORT)\n");
    printf("      --piddir DIR        pid file directory (install)\n");
    printf("      --bucardorc FILE    read options from FILE instead of ~/.bucardorc\n");
    printf("      --no-bucardorc      read no options file\n");
    printf("      --batch             do not ask questions\n");
    printf("      --force             skip safety checks where a command allows it\n");
    printf("  -v, --verbose           say more\n");
    printf("  -q, --quiet             say less\n");
    printf("  -?, --help              this help\n");
    printf("      --version           print the version and exit\n");
}

int cli_help_command(const char *verb)
{
    for (size_t i = 0; i < sizeof(HELP) / sizeof(HELP[0]); i++)
        if (strcmp(HELP[i].verb, verb) == 0) {
            fputs(HELP[i].text, stdout);
            return EXIT_OK;
        }
    return cli_error("no help for \"%s\": not a command (see bucardo --help)", verb);
}
