#!/usr/bin/env python3
"""tests/lib/cli_fuzz.py - run thousands of generated command lines against
the real `bucardo` binary and a real installed catalog (called by
tests/integration/test_cli_fuzz.sh, which sets the cluster up).

Why this shape: each case is checked on its own, so a failure names the
exact argument list that caused it and FUZZ_SEED replays it.

  * Cases come from a seeded generator: most are built to be invalid (they
    must exit non-zero), the rest are mutations of valid command lines
    (they may succeed).
  * Case i runs on worker i % FUZZ_WORKERS; every worker has a catalog
    database of its own (its HOME holds a .bucardorc naming it) and runs
    its cases in order, so a seed replays the same sequence per worker.
  * After every case the worker fingerprints its catalog (an md5 of every
    row of every catalog table, through a psql session kept open).  A case
    that exits non-zero must leave the fingerprint unchanged; a case that
    succeeds may change it, and the catalog is then restored to the
    starting rows, so every case meets the same objects.
  * Every case: no signal, exit < 128, no hang (10 s), no sanitizer report,
    and when it fails, 1 to 3 lines (at most 2000 bytes) on stderr.

Environment: BUCARDO, TEST_DIR, FUZZ_CATALOGS (space-separated catalog
database names, one per worker), FUZZ_SEED, FUZZ_CASES, BUCARDO_SANITIZER.
"""
import glob
import os
import random
import subprocess
import sys
import threading
import time

TIMEOUT = 10
HUGE = b"x" * 100000
BAD_UTF8 = [b"\xff\xfe", b"a\xc3(", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80"]
CONTROL = [b"a\nb", b"a\tb", b"\r", b"\x1b[31mred", b"x\x7f", b"\x01", "a\u0085b".encode()]
ODD = [b"", b" ", b"-", b"=", b"==", b"x'; drop table t; --", "é日🐘".encode(), b"%s%n%x", b"$1",
       b"\\", b'"', b"*", b"(", b"[", b"select"]
VERBS = {b"install", b"upgrade", b"add", b"remove", b"update", b"list", b"start", b"stop", b"restart",
         b"reload", b"kick", b"activate", b"deactivate", b"pause", b"resume", b"status", b"validate",
         b"inspect", b"compare", b"show", b"set", b"help", b"ping", b"message", b"msg", b"delta", b"purge",
         b"config", b"del", b"delete", b"upd", b"udpate", b"l", b"lsit", b"strt", b"check", b"clone"}
# Verbs that change the catalog: when they fail, stdout stays empty (what
# they did was rolled back, so nothing of it is told).
MUTATING = {b"add", b"remove", b"update", b"activate", b"deactivate", b"set", b"pause", b"resume", b"reload",
            b"config", b"del", b"delete", b"upd", b"udpate", b"clone"}
# Verbs a mutation must never produce: they would start an engine or
# rebuild the catalog, not what this test is about.
# ping waits up to its timeout (15 s by default) for an engine that does
# not run here, and says CRITICAL on stdout as a Nagios check must: its bad
# syntax is in MISSING instead.  check, a Nagios plugin too, says UNKNOWN
# on stdout (exit 3) for a sync it does not know.  strt is start.
BANNED = {b"start", b"restart", b"install", b"upgrade", b"ping", b"strt", b"check"}
BAD_OPTIONS = [b"--frobnicate", b"-z", b"--batch=1", b"--verbose=yes", b"--=x", b"---", b"--force=0",
               b"--bucardorc=/nonexistent/rc", b"--dbname=no_such_catalog", b"--dbport=1",
               b"--dbhost=/nonexistent/dir", b"-\xff", b"--\xff", b"--dbhost\n"]
GOOD_OPTIONS = [b"--force", b"--verbose", b"-v", b"-q", b"--batch", b"--relgroup=rg1", b"--db=d1", b"--",
                b"--quiet", b"-t", b"public.t1", b"--json"]

VALID_LINES = [
    "list dbs", "list dbgroups", "list tables", "list relgroups", "list syncs", "list all", "list sequences",
    "list customnames", "list customcols", "list customcodes", "status --json", "check s1", "list dbs d", "status", "status s1", "show all", "show piddir",
    "set batch_keys=5000", "set log_level=debug", "add database d3 dbname=b", "add dbgroup g2 d1:source d2:target",
    "add relgroup rg2 public.t1", "add table public.t2 db=d1 relgroup=rg1", "add all tables db=d2 relgroup=rgb",
    "add all sequences db=d1", "add sequence public.q1 db=d1",
    "add sync s2 relgroup=rg1 dbs=d1:source,d2:target autokick=0",
    "add sync s3 relgroup=rg1 dbgroup=g1 onetimecopy=2 conflict_strategy=bucardo_source",
    "update sync s1 autokick=0 onetimecopy=1 checktime=5", "update sync s1 dbs=d1,d2:fullcopy",
    "update sync s1 status=inactive priority=3 lifetime=1h", "update database d2 status=inactive",
    "update database d2 port=%PORT%", "remove sync s1", "remove relgroup rg1", "remove dbgroup g1",
    "remove database d2 --force", "remove table public.t1", "remove sequence public.q1", "activate s1",
    "deactivate s1", "validate s1", "validate all", "compare s1", "inspect public.t1",
    "add customname t1 t1x db=d2", "add customcols public.t1 SELECT_id db=d2", "remove customname t1",
    "help", "help add", "kick s1 5", "reload", "pause all", "stop", "compare s1 public.t1 --json",
    "inspect table public.t1 db=d1", "list all s", "status s1 --verbose", "remove dbgroup g1 --force",
    "delta", "delta totals", "delta d1 --verbose", "delta d% --tsep=.", "purge all", "purge public.t1",
    "purge t%", "message hello there", "msg hi", "kick all 5", "kick s% 5 --retry=1 --retry-sleep=0 --notimer",
    "activate s1 5", "deactivate all", "deactivate s* 0", "pause s%", "status all", "status s%",
    "status --sort=-3 --show-days --compress --tsep=.", "inspect sync s1", "inspect relgroup rg1",
    "list config", "list config batch_keys", "config show", "config show log_level", "config set batch_keys=5000",
    "show changed", "remove customname all", "remove all syncs", "remove sync all", "lsit tab", "l seq",
    "LIST CNAME", "list ccol", "del sync s1", "upd sync s1 autokick=0", "add_sync s4 tables=public.t1 dbs=g1",
    "add sync s5 relgroup=rg1 dbs=g1", "set batch_keys=5000 --dryrun", "add relgroup rg3 public.t1 --confirm",
    "add relgroup rg4 public.t1 --dry-run --verbose", "help kick", "help add sync", "status s1 -vv",
    "list syncs --debug", "list dbs --database=d1", "list syncs --quickstart --bcverbose",
    "stop --piddir=/nonexistent/dir", "validate s1 --exit-on-nosync", "list dbs --no-exit-on-nosync",
    "update table public.t1 capture_filter=id>0", "update table public.t1 capture_filter=default",
    "set stalled_after=30",
    "list dbs -v", "list dbs d1 -vv", "list syncs --verbose", "list syncs s1 -vv", "list tables -v",
    "list tables -vvv", "list sequences -vv", "list relgroups -v", "list dbgroups -vv", "list customcodes -vvv",
    "list all -vv", "update dbgroup g1 remove d2 add d2:t:pri=2", "update dbgroup g1 d2:s:makedelta=1",
    "update dbgroup g1 d2:pri=3", "stop --extra-name=east", "update dbgroup g1 d2:target:pri=0:makedelta=0",
    "list clones", "list clone", "help clone",
    "reload config", "reload config 5", "reload config 0", "reload s1", "reload sync s1 s0", "reload s%",
    "kick s1 s0 5 --notimer", "kick s1 s0", "help reload",
]


def tokens(line):
    out = []
    for w in line.split(" "):
        w = w.replace("%PORT%", os.environ.get("PGPORT", "5432")).replace("SELECT_id", "SELECT id")
        out.append(w.encode())
    return out


def pick(rng, *pools):
    return rng.choice(rng.choice(pools))


# ---- cases that must fail -------------------------------------------------

def refused_name(rng, extra=()):
    return pick(rng, [HUGE, b"x" * 64, "日".encode() * 22], BAD_UTF8, CONTROL,
                [b"", b"x=y", b" x", b"x ", b"=", *extra])


def g_unknown_verb(rng):
    verb = pick(rng, [b"frob", b"lisst", b"ad", b"removee", b"kik", b"sync", b"db", b"all", b"pingg", b"purg",
                      HUGE], BAD_UTF8, CONTROL, [o for o in ODD if o not in (b"-",) and not o.startswith(b"-")])
    if verb == b"":
        verb = b"nothing"
    return [verb] + [pick(rng, ODD, [b"s1", b"d1", b"dbs", b"x=1"]) for _ in range(rng.randrange(3))]


def g_bad_kind(rng):
    verb = rng.choice([b"add", b"remove", b"update", b"list"])
    # (Bucardo's kinds go by prefix - "dbz" is a db, "tablez" a table - so
    # these start like none of them.)
    kind = pick(rng, [b"dvz", b"tbl", b"snyc", b"relgorup", b"everything", HUGE, b"",
                      b"settings", b"clowns"], BAD_UTF8, CONTROL)
    if verb == b"update":
        kind = rng.choice([kind, b"table", b"relgroup", b"dbgroup", b"sequence", b"all"])
    if verb == b"list" and kind == b"":
        kind = b"nothing"
    return [verb, kind] + [pick(rng, ODD, [b"s1"]) for _ in range(rng.randrange(2))]


MISSING = [
    "add", "add database", "add database x", "add dbgroup", "add relgroup", "add sync", "add sync sx",
    "add sync sx relgroup=rg1", "add sync sx dbs=d1,d2", "add table", "add all", "add all things",
    "add sequence", "add customname", "add customname t1", "add customcols", "add customcols t1",
    "update", "update sync", "update sync s1", "update database", "update database d1", "remove",
    "remove sync", "remove database", "remove relgroup", "remove dbgroup", "remove table", "remove customname",
    "kick", "activate", "deactivate", "pause", "resume", "validate", "compare", "inspect", "set", "show",
    "list dbs a b", "list syncs a b", "status s1 s2 s3 extra", "help nosuchverb", "list",
    "add database x dbname", "add database x =a", "add database x dbname=a stray",
    "update sync s1 autokick", "set batch_keys", "set =1",
    "ping x", "ping 1 2", "ping -1", "delta nosuchdb", "delta d2", "purge nosuchtable", "message",
    "kick zz% 5", "kick s1 5 --retry=x", "kick s1 --retry-sleep=-1", "status --sort=0", "status --sort=10",
    "status --sort=x", "status zz%", "inspect sync", "inspect sync nosuch", "inspect relgroup nosuch",
    "remove all frobs", "remove frobs all", "config", "config frob", "config set", "config set batch_keys",
    "add sync s9 tables=nosuch dbs=g1", "add sync s9 tables= dbs=g1", "update sync s1 tables=public.t1",
    "help add frob", "activate zz* 5", "deactivate s1 5", "show changed x", "pause zz%", "msg",
    "upgrade --dryrun", "install --dry-run --batch", "compare s1 --repair --dryrun",
    "clone", "clone sync=", "clone s1", "clone prime=d1", "clone frob=1", "clone sync=s1 dbgroup=g1",
    "clone dbgroup=g1", "clone dbgroup=g1 relgroup=rg1 tables=public.t1", "clone sync=s1 sync=s1",
    "clone sync=s1 relgroup=rg1", "clone sync=s1 --dryrun",
    "reload config x", "reload config 1 2", "reload config -1", "reload config 99999999999999999999",
    "reload config 1.5", "reload zz%", "reload sync nosuch",
]


def g_missing(rng):
    line = tokens(rng.choice(MISSING))
    if rng.random() < 0.4:
        line = [rng.choice([b"--batch", b"-v", b"-q", b"--verbose"])] + line
    if rng.random() < 0.3:
        line.append(rng.choice([b"--dbhost", b"--dbport", b"--piddir", b"-t", b"--relgroup", b"-d"]))
    return line


def g_refused_name(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return [b"add", b"database", refused_name(rng, [b"a:b", b"all:x"]), b"dbname=a"]
    if kind == 1:
        return [b"add", b"relgroup", refused_name(rng)]
    if kind == 2:
        return [b"add", b"dbgroup", refused_name(rng), b"d1:source", b"d2:target"]
    return [b"add", b"sync", refused_name(rng, [b"all", b"42", b"s1"]), b"relgroup=rg1", b"dbs=d1,d2"]


BAD_SYNC_VALUES = {
    b"autokick": [b"maybe", b"2", b"", b"yes please", b"-1"],
    b"stayalive": [b"maybe", b"10"],
    b"analyze_after_copy": [b"sure"],
    b"onetimecopy": [b"3", b"-1", b"abc", b"", b"99999999999999999999", b"1.5", b"0x1"],
    b"rebuild_index": [b"7", b"one"],
    b"maxkicks": [b"-1", b"1000000001", b"abc", b"1.5"],
    b"priority": [b"1000001", b"-1000001", b"x", b"9223372036854775808"],
    b"copy_streams": [b"65", b"-1", b"many"],
    b"checktime": [b"abc", b"-5 minutes", b"5 parsecs", b"-5", b"1 fortnight"],
    b"overdue": [b"soon", b"-1 day"],
    b"lifetime": [b"forever", b"-3"],
    b"status": [b"enabled", b"", b"ACTIVE "],
    b"conflict_strategy": [b"nonsense", b"d1,nosuch", b"", b"bucardo_newest"],
    b"relgroup": [b"nosuch", b""],
    b"dbgroup": [b"nosuch", b""],
    b"dbs": [b"d1", b"nosuch,d2", b"d1,d1", b"d1:boss,d2", b":source", b",", b"", b"d2,d1",
             b"d1:s,d2:t:pri=x", b"d1:s,d2:t:color=red", b"d1:s,d2:t:makedelta=perhaps"],
    b"isolation_level": [b"dirty", b"", b"read committed"],
    b"txnmode": [b"chaos"],
    b"deletemethod": [b"drop", b"", b"truncate cascade"],
    b"vacuum_after_copy": [b"sometimes"],
    b"track_rates": [b"fast"],
    b"copyextra": [b"WITH OIDS", b"NULL 'x'"],
}
BAD_DB_VALUES = {
    b"port": [b"0", b"65536", b"abc", b"-1", b"99999999999999999999", b"5432x"],
    b"status": [b"on", b"", b"Active"],
    b"makedelta": [b"perhaps", b"2"],
    b"user": [b""],
    b"type": [b"mysql", b"", b"Postgres"],
    b"dbname": [b"no_such_database"],
    b"host": [b"/nonexistent/dir"],
    b"sslmode": [b"bogus", b""],
    b"ssp": [b"maybe"],
    b"server_side_prepares": [b"2"],
    b"dbgroup": [b"", b"g1:boss", b"-x"],
    b"dbdsn": [b"dbi:Pg:dbname=no_such_database"],
}


def bad_value(rng, table):
    key = rng.choice(list(table))
    val = rng.choice(table[key] + [HUGE] + BAD_UTF8[:2])
    if key in (b"status", b"conflict_strategy", b"relgroup", b"dbgroup") and val in BAD_UTF8[:2]:
        val = b"\xff"
    return key + b"=" + val


def g_bad_value(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return [b"update", b"sync", b"s1", bad_value(rng, BAD_SYNC_VALUES)]
    if kind == 1:
        # (dbgroup=NEW with dbs= is valid: it names the dbgroup to create)
        kv = bad_value(rng, {k: v for k, v in BAD_SYNC_VALUES.items() if k != b"dbgroup"})
        return [b"add", b"sync", b"sx", b"relgroup=rg1", b"dbs=d1,d2", kv]
    if kind == 2:
        return [b"update", b"database", b"d2", bad_value(rng, BAD_DB_VALUES)]
    if kind == 3:
        return [b"add", b"database", b"dx", b"dbname=a", bad_value(rng, BAD_DB_VALUES)]
    # unknown, empty or repeated keys
    return rng.choice([
        [b"update", b"sync", b"s1", b"nosuchkey=1"], [b"update", b"sync", b"s1", b"=1"],
        [b"update", b"sync", b"s1", b"="], [b"update", b"sync", b"s1", b"autokick=1", b"AUTOKICK=0"],
        [b"add", b"database", b"dx", b"dbname=a", b"=a"], [b"add", b"database", b"dx", b"dbname=a", b"db=b"],
        [b"add", b"database", b"dx", b"dbname=a", b"dbname=a"], [b"set", b"nosuch_setting=1"],
        [b"set", b"=x"], [b"set", b"batch_keys=1", b"nosuch=2"], [b"update", b"database", b"d2", b"=x"],
        [b"add", b"table", b"public.t1", b"db="], [b"add", b"table", b"public.t1", b"=d1"],
        [b"add", b"all", b"tables", b"db=nosuch"], [b"add", b"all", b"tables", b"frob=1"],
        [b"update", b"table", b"public.t1", b"capture_filter=nosuch = 1"],
        [b"update", b"table", b"public.t1", b"capture_filter=id +"],
        [b"update", b"table", b"public.t1", b"capture_filter=id > 0) OR (true"],
        [b"update", b"table", b"public.t1", b"capture_filter=id > 0; DROP TABLE t1"],
        [b"update", b"table", b"public.t1", b"capture_filter=id > 0 --"],
        [b"update", b"table", b"public.t1", b"capture_filter=id"],
    ])


def g_absent(rng):
    name = pick(rng, [b"nosuch", b"S1", b"s1 ", b"d", HUGE], BAD_UTF8, CONTROL)
    return rng.choice([
        [b"remove", b"sync", name], [b"remove", b"relgroup", name], [b"remove", b"dbgroup", name],
        [b"remove", b"database", name], [b"remove", b"table", name], [b"kick", name], [b"activate", name],
        [b"deactivate", name], [b"validate", name], [b"compare", name], [b"inspect", name],
        [b"update", b"sync", name, b"autokick=1"], [b"update", b"database", name, b"port=1"],
        [b"add", b"table", name, b"db=d1"], [b"add", b"relgroup", b"rgx", name],
        [b"add", b"sync", b"sx", b"relgroup=" + name, b"dbs=d1,d2"],
        [b"add", b"sync", b"sx", b"relgroup=rg1", b"dbgroup=" + name],
        [b"add", b"dbgroup", b"gx", name + b":source"], [b"add", b"customname", name, b"x"],
        [b"remove", b"customname", name], [b"status", name], [b"clone", b"sync=" + name],
        [b"clone", b"dbgroup=" + name, b"relgroup=rg1"], [b"clone", b"dbgroup=g1", b"relgroup=" + name],
        [b"clone", b"dbgroup=g1", b"tables=" + name], [b"clone", b"sync=s1", b"prime=" + name],
    ])


def g_conflict(rng):
    return tokens(rng.choice([
        # several names, the last one wrong: nothing of the first is kept or told
        "remove database d2 nosuch --force", "remove sync s1 nosuch", "add dbgroup gx d1:source nosuch",
        "add relgroup rgx public.t1 nosuch", "add relgroup rgx all", "activate s1 0", "deactivate s1 nosuch",
        "activate s0 s1 nosuch", "add dbgroup g1 d2:source nosuch",
        # an inactive sync cannot be kicked (waiting or not); a partition is not a table to add
        "kick s0", "kick s0 0", "kick s1 s0 5", "add table pt_a db=d1", "add table public.pt_a1 db=d1",
        "add table pt_a1 db=d1 relgroup=rg1", "add database dx service=no_such_service",
        # customs apply to targets only: naming a database that is only a source is refused
        "add customname t1 t1x db=d1", "add customcols public.t1 SELECT_id db=d1 sync=s1",
        "add database d1 dbname=a", "add relgroup rg1", "add sync s1 relgroup=rg1 dbs=d1,d2",
        "add table public.t1 db=d1", "remove database d1", "remove relgroup rg1", "remove dbgroup g1",
        "add dbgroup gx d1:source d1:target", "add dbgroup gx d1,d1", "update dbgroup g1 d2:t:foo=1",
        "update dbgroup g1 d2:t:pri=x", "update dbgroup g1 d2:boss:pri=1", "update dbgroup g1 add d2:t:pri=1",
        "update dbgroup g1 add nosuch:t:pri=1", "update dbgroup g1 d2:t:makedelta=maybe", "kick s1", "kick s1 10", "pause s1",
        "resume all", "reload", "list dbs (", "list tables [", "list syncs *", "status ?", "show nosuch_setting",
        "remove sync -- --force", "add relgroup -- -x", "kick -- -1", "-- --version", "-- -v list dbs",
        "--batch --batch remove sync -- s1 --force nosuch",
        # clone: the prime must be a source; the engine must run; an unknown clone id
        "clone sync=s1 prime=d2", "clone sync=s1", "clone dbgroup=g1 relgroup=rg1", "list clones 1",
    ]))


def g_bad_option(rng):
    base = rng.choice([tokens(rng.choice(VALID_LINES)), g_missing(rng), g_absent(rng)])
    base = [t for t in base if t != b"--"]
    pos = rng.randrange(len(base) + 1)
    option = rng.choice(BAD_OPTIONS)
    if b"help" in base and option.startswith((b"--db", b"--bucardorc")):
        option = b"--frobnicate"   # help needs no catalog: only a parse error fails it
    return base[:pos] + [option] + base[pos:]


BAD_SETTINGS = {
    b"batch_keys": [b"abc", b"0", b"-5", b"1.5", b""], b"chunk_size": [b"1", b"big"], b"chunk_pool": [b"1", b"x"],
    b"retry_delay": [b"0", b"-1", b"soon", b""], b"retry_delay_max": [b"nan", b"inf"], b"kick_sleep": [b"abc"],
    b"log_showtime": [b"maybe"], b"log_level": [b"loud", b"DEBUG", b""], b"stats_history": [b"-1", b"many"],
    b"default_conflict_strategy": [b"whatever", b"d1,d2"], b"default_checktime": [b"-1", b"5m"],
    b"isolation_level": [b"dirty", b""], b"statement_chunk_size": [b"0", b"many"],
    b"kid_serial_sleep": [b"-2", b"soon", b""], b"kid_deadlock_sleep": [b"3601", b"x"],
    b"tcp_keepalives_idle": [b"-1", b"soon"], b"host_safety_check": [b"~(["],
    b"reload_config_timeout": [b"0", b"x"], b"stalled_after": [b"-1", b"soon", b"", b"1.5"],
}


def g_bad_setting(rng):
    kv = bad_value(rng, BAD_SETTINGS)
    line = [b"set", kv]
    if rng.random() < 0.4:
        line.insert(rng.randrange(1, 3), b"batch_keys=100")   # a valid one beside it changes nothing either
    return line


# rc files that must make any command fail (written by write_rc_files).
# (Keys this program does not use, and lines that are no setting, are only
# warned about, as Bucardo's rc files serve other options too: a file of
# those alone is no reason to fail.  test_config checks the warnings.)
BAD_RC = [b"frobnicate = 1\ndbport\n", b"dbport\n", b"help=1\ndbname: no_such_catalog\n", b"batch = maybe\n",
          b"dbhost=" + b"x" * 5000 + b"\n", b"dbname = no_such_catalog\n", b"\xff\xfe=1\ndbport: 1\n",
          b"bucardorc = /etc/passwd\nsort = x\n", b"dbport = 1\n", b"# fine\n--dbuser=no_such_role\n",
          b"version\nretry: -1\n", b"=x\ndbuser: no_such_role\n", b"sort: 0\n", b"retry-sleep = soon\n"]


def write_rc_files(test_dir):
    paths = []
    for i, text in enumerate(BAD_RC):
        path = os.path.join(test_dir, f"bad{i}.rc")
        with open(path, "wb") as f:
            f.write(text)
        paths.append(path.encode())
    return paths + [b"/", b"/nonexistent/rc", b""]


def g_bad_rc(rng):
    line = tokens(rng.choice([v for v in VALID_LINES if not v.startswith("help")]))
    path = rng.choice(RC_PATHS)
    opt = [b"--bucardorc=" + path] if rng.random() < 0.5 else [b"--bucardorc", path]
    pos = rng.randrange(len(line) + 1)
    return line[:pos] + opt + line[pos:]


def g_password(rng):
    """Invalid lines holding a password: it must not be shown (the secret
    is returned with the line, see generate)."""
    sec = b"Pw%08x" % rng.randrange(1 << 32)
    return rng.choice([
        [b"add", b"database", b"pass=" + sec, b"dbname=a"],
        [b"add", b"database", b"dx", b"dbname=a", b"pass=" + sec, b"frob=1"],
        [b"add", b"database", b"dx", b"dbname=no_such_database", b"password=" + sec],
        [b"add", b"database", b"dx", b"dbname=a", b"pass=" + sec, b"port=abc"],
        [b"add", b"database", b"dx", b"dbname=a", b"conn=password=" + sec + b" host=/nonexistent/dir"],
        [b"add", b"database", b"dx", b"dbname=a", b"DbPass=" + sec, b"pass=" + sec],
        [b"update", b"database", b"pass=" + sec, b"port=1"],
        [b"update", b"database", b"d2", b"pass=" + sec, b"host=/nonexistent/dir"],
        [b"update", b"database", b"d2", b"password=" + sec, b"status=maybe"],
        [b"update", b"sync", b"s1", b"pass=" + sec],
        [b"update", b"sync", b"password=" + sec, b"autokick=1"],
        [b"--dbpass=" + sec, b"frob"], [b"-P", sec, b"list", b"dbs", b"--frob"],
        [b"--dbpass", sec, b"--dbport=1", b"list", b"dbs"], [b"-P" + sec, b"kick", b"nosuch"],
        [b"remove", b"database", b"password=" + sec], [b"kick", b"pass=" + sec],
    ]), sec


RC_PATHS = []
MUST_FAIL = [g_password, g_bad_setting, g_bad_rc, g_unknown_verb, g_bad_kind, g_missing, g_refused_name, g_bad_value, g_absent, g_conflict,
             g_bad_option]


# ---- mutations of valid lines (may succeed) -------------------------------

def mutate(rng):
    line = tokens(rng.choice(VALID_LINES))
    pool = [HUGE, b"", *BAD_UTF8[:3], *CONTROL[:3], *ODD, *GOOD_OPTIONS, b"s1", b"d1", b"rg1", b"g1", b"0",
            b"-1", b"99999999999999999999", b"x=1", b"dbs=d1,d2", b"relgroup=rg1", b"autokick=maybe"]
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        i = rng.randrange(len(line)) if line else 0
        if op == 0 and line:
            del line[i]
        elif op == 1 and line:
            line.insert(i, line[i])
        elif op == 2 and len(line) > 1:
            j = rng.randrange(len(line))
            line[i], line[j] = line[j], line[i]
        elif op == 3 and line and line[i]:
            line[i] = line[i][:rng.randrange(len(line[i]))]
        elif op == 4 and line:
            line[i] = rng.choice(pool)
        else:
            line.insert(i, rng.choice(pool))
    if any(t in BANNED for t in line) or not line or b"--help" in line or b"--version" in line:
        return None
    return line


def generate(rng):
    """One case: (argument list, whether it must fail, a password it must
    never show or None)."""
    if rng.random() < 0.75:
        gen = rng.choice(MUST_FAIL)
        if gen is g_password:
            line, sec = gen(rng)
            return line, True, sec
        return gen(rng), True, None
    while True:
        line = mutate(rng)
        if line is not None:
            return line, False, None


# ---- running ---------------------------------------------------------------

def shown(args):
    out = []
    for a in args:
        r = repr(a)[1:]
        out.append(r if len(r) <= 60 else f"{r[:40]}...<{len(a)} bytes>")
    return "bucardo " + " ".join(out)


class Catalog:
    """A psql session on one worker's catalog: fingerprint and restore."""

    def __init__(self, dbname):
        self.dbname = dbname
        self.psql = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=0", "-d", dbname],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        tables = self.query("SELECT string_agg(format('%I', tablename), ',' ORDER BY tablename)"
                            " FROM pg_tables WHERE schemaname = 'bucardo'")[0].split(",")
        self.tables = ", ".join("bucardo." + t for t in tables)
        self.fp_sql = "SELECT md5(" + " || ".join(
            f"coalesce((SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM bucardo.{t} t), '-')"
            for t in tables) + ")"
        dump = subprocess.run(["pg_dump", "-d", dbname, "--data-only", "--schema=bucardo", "--inserts",
                               "--disable-triggers", "--no-owner"], capture_output=True, check=True).stdout
        self.restore_sql = (b"BEGIN;\nTRUNCATE " + self.tables.encode() + b" CASCADE;\n" + dump + b"\nCOMMIT;\n")
        self.start = self.fingerprint()

    def query(self, sql):
        self.psql.stdin.write(sql.encode() + b";\n\\echo __END__\n")
        self.psql.stdin.flush()
        lines = []
        while True:
            line = self.psql.stdout.readline()
            if not line:
                raise RuntimeError(f"psql on {self.dbname} went away")
            line = line.decode(errors="replace").rstrip("\n")
            if line == "__END__":
                return lines
            lines.append(line)

    def fingerprint(self):
        out = self.query(self.fp_sql)
        return out[-1] if out else "?"

    def restore(self):
        self.psql.stdin.write(self.restore_sql + b"\\echo __END__\n")
        self.psql.stdin.flush()
        while True:
            line = self.psql.stdout.readline()
            if not line or line.rstrip(b"\n") == b"__END__":
                break
        return self.fingerprint() == self.start

    def close(self):
        self.psql.stdin.close()
        self.psql.wait()


class Fuzzer:
    def __init__(self, bucardo, test_dir, catalogs):
        self.bucardo = bucardo.encode()
        self.test_dir = test_dir
        self.catalogs = catalogs
        self.failures = []
        self.lock = threading.Lock()
        self.stats = {"rejected": 0, "accepted": 0, "restored": 0}

    def fail(self, n, args, what):
        with self.lock:
            self.failures.append(f"case {n}: {what}\n    {shown(args)}")

    def sanitizer_reports(self):
        return set(glob.glob(os.path.join(self.test_dir, "sanitizer.*")))

    def worker(self, w, cases):
        home = os.path.join(self.test_dir, f"fuzz{w}")
        env = dict(os.environ, HOME=home, PGCONNECT_TIMEOUT="3")
        cat = Catalog(self.catalogs[w])
        before = cat.start
        for n, (args, must_fail, secret) in cases:
            reports = self.sanitizer_reports()
            try:
                p = subprocess.run([self.bucardo] + args, env=env, cwd=home, stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.fail(n, args, f"hung: killed after {TIMEOUT} s")
                if not cat.restore():
                    self.fail(n, args, "catalog could not be restored")
                    break
                before = cat.start
                continue
            rc, err = p.returncode, p.stderr
            new = self.sanitizer_reports() - reports
            if new:
                text = b"".join(open(f, "rb").read()[:3000] for f in sorted(new)).decode(errors="replace")
                self.fail(n, args, f"sanitizer report:\n{text}")
                for f in new:
                    os.rename(f, f.replace("sanitizer.", "fuzz-sanitizer."))
            if secret is not None and (secret in p.stdout or secret in err):
                self.fail(n, args, f"the password {secret!r} was shown:\n    {(p.stdout + err)[:300]!r}")
            if rc < 0 or rc >= 128:
                self.fail(n, args, f"crashed: exit {rc}\n    stderr: {err[:500]!r}")
            after = cat.fingerprint()
            if rc != 0:
                with self.lock:
                    self.stats["rejected"] += 1
                # --debug lines and the rc file's warnings (keys it does not
                # use) come on top of the one error line and are not counted.
                said = [l for l in err.rstrip(b"\n").split(b"\n")
                        if l and not l.startswith((b"bucardo: DEBUG: ", b"bucardo: warning: "))]
                nlines = len(said)
                verb = next((a for a in args if a in VERBS), None)
                # `config show` is show (what it found, then the error for
                # what it did not), only `config set` changes anything.
                if verb == b"config" and b"set" not in args:
                    verb = b"show"
                if verb in MUTATING and p.stdout:
                    self.fail(n, args, f"exit {rc}, yet it told of changes on stdout: {p.stdout[:300]!r}")
                if nlines == 0:
                    self.fail(n, args, f"exit {rc} with nothing on stderr\n    stdout: {p.stdout[:300]!r}")
                elif nlines > 3 or len(err) > 2000 + 200 * (len(err.split(b"\n")) - nlines):
                    self.fail(n, args, f"{nlines} lines / {len(err)} bytes on stderr: {err[:500]!r}")
                if after != before:
                    self.fail(n, args, f"exit {rc}, yet the catalog changed\n    stderr: {err[:300]!r}")
            else:
                with self.lock:
                    self.stats["accepted"] += 1
                if must_fail:
                    self.fail(n, args, f"accepted (exit 0) but it is invalid\n    stdout: {p.stdout[:300]!r}")
            if after != cat.start:
                with self.lock:
                    self.stats["restored"] += 1
                if not cat.restore():
                    self.fail(n, args, "catalog could not be restored to its starting rows")
                    break
            before = cat.start
        cat.close()

    def run(self, cases, nworkers):
        threads = []
        for w in range(nworkers):
            mine = [(n, c) for n, c in enumerate(cases) if n % nworkers == w]
            t = threading.Thread(target=self.worker, args=(w, mine))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()


def self_check(dbname):
    """The fingerprint must see a change of any catalog row, and restore
    must undo it: otherwise the catalog checks could never fail."""
    cat = Catalog(dbname)
    cat.query("UPDATE bucardo.sync SET priority = priority + 1 WHERE name = 's1'")
    changed = cat.fingerprint() != cat.start
    cat.query("INSERT INTO bucardo.relgroup (name) VALUES ('self-check')")
    restored = cat.restore()
    cat.close()
    return changed and restored


def main():
    bucardo, test_dir = os.environ["BUCARDO"], os.environ["TEST_DIR"]
    catalogs = os.environ["FUZZ_CATALOGS"].split()
    sanitizer = os.environ.get("BUCARDO_SANITIZER") == "1"
    seed = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(1 << 31))
    ncases = int(os.environ.get("FUZZ_CASES") or (1000 if sanitizer else 3000))
    print(f"cli fuzz: seed {seed}, {ncases} cases on {len(catalogs)} workers "
          f"(replay: FUZZ_SEED={seed} FUZZ_CASES={ncases})", flush=True)
    if not self_check(catalogs[0]):
        print("FAIL: the catalog fingerprint misses changes, or restore does not undo them")
        return 1
    RC_PATHS.extend(write_rc_files(test_dir))
    rng = random.Random(seed)
    cases = [generate(rng) for _ in range(ncases)]
    fuzzer = Fuzzer(bucardo, test_dir, catalogs)
    start = time.monotonic()
    fuzzer.run(cases, len(catalogs))
    s = fuzzer.stats
    print(f"cli fuzz: {ncases} cases in {time.monotonic() - start:.1f} s: {s['rejected']} rejected, "
          f"{s['accepted']} accepted ({s['restored']} changed the catalog, restored); "
          f"{sum(1 for c in cases if c[1])} were generated invalid", flush=True)
    if fuzzer.failures:
        print(f"FAIL: {len(fuzzer.failures)} failing cases (seed {seed}); the first ones:")
        for f in fuzzer.failures[:25]:
            print(f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
