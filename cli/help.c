/*
 * cli/help.c - `bucardo --help` and `bucardo help COMMAND`.
 *
 * One entry per verb: its synopsis and what it does, in our own words.
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
     "bucardo add table [SCHEMA.]TABLE ... [db=NAME] [relgroup=NAME]\n"
     "bucardo add relgroup NAME [TABLE ...]\n"
     "bucardo add dbgroup NAME DB:source DB:target ...\n"
     "bucardo add sync NAME relgroup=NAME dbs=A,B[:source|:target|:fullcopy],... | dbgroup=NAME\n"
     "                 [autokick=1] [onetimecopy=0|1|2] [conflict_strategy=bucardo_latest]\n"
     "                 [checktime=INTERVAL] [status=active|inactive] [stayalive=1] [kidsalive=1]\n"
     "                 [rebuild_index=0|1|2] [analyze_after_copy=1] [strict_checking=1] ...\n"
     "  Adds an object to the catalog.  A database is tested with a connection first.\n"
     "  NAME: 1 to 63 bytes of UTF-8, no control characters, no '=', not starting with '-',\n"
     "  not starting or ending with a blank; database names also without ',' or ':';\n"
     "  a sync is not named \"all\" nor a number.\n"},
    {"update",
     "bucardo update database NAME key=value ...   (same keys as add database)\n"
     "bucardo update sync NAME key=value ...       (same keys as add sync)\n"
     "bucardo update table|sequence [SCHEMA.]NAME [db=NAME] relgroup=A[,B] | schemaname=S | tablename=T\n"
     "bucardo update relgroup NAME [add TABLE ...] [remove TABLE ...] [name=NEWNAME]\n"
     "bucardo update dbgroup NAME [add DB[:ROLE] ...] [remove DB ...] [DB:ROLE ...] [name=NEWNAME]\n"
     "  A change to what a sync uses is checked against the sync, capture is put in\n"
     "  place (or dropped), and a running engine reloads the sync.\n"},
    {"remove", "bucardo remove database|dbgroup|table|relgroup|sync NAME ...\n"
               "  Refuses to remove something still in use; remove database --force also\n"
               "  removes the database's tables and dbgroup memberships.\n"},
    {"list", "bucardo list dbs|dbgroups|tables|relgroups|syncs|all [REGEX]\n"},
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
    printf("  add TYPE NAME ...       add a database, dbgroup, table(s), relgroup or sync\n");
    printf("  update TYPE NAME ...    change a database, sync, table, sequence, relgroup or dbgroup\n");
    printf("  remove TYPE NAME ...    remove objects\n");
    printf("  list TYPE [REGEX]       list dbs, dbgroups, tables, relgroups, syncs or all\n");
    printf("  show all|NAME           show configuration settings\n");
    printf("  set NAME=VALUE          change a configuration setting\n");
    printf("  compare SYNC [TABLE]    find rows that differ between source and targets\n");
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
