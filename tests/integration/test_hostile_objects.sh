#!/usr/bin/env bash
# Bucardo's own objects - databases, dbgroups, relgroups, syncs - with
# hostile names: quotes and semicolons (SQL that must never run), spaces,
# unicode (63-byte names of 2- and 3-byte characters, wide characters,
# emoji), mixed case, SQL reserved words.  Rows replicate end to end
# through them (kick, status, list, update, pause/resume, remove), the
# targets end up equal to the source, and listings stay aligned by display
# width.  The names the command line itself would misread are refused with
# one clear line, and the catalog is left unchanged.
. "$TESTS_DIR/lib/setup.sh"
test_begin

rep() { printf "$1%.0s" $(seq "$2"); }
EVIL="x'; drop table t; --"                 # quote, semicolon, spaces, SQL
DQ='Mixed "Case" 🐘'                          # double quotes, mixed case, emoji
JA63="$(rep '日本' 10)語"                      # 63 bytes, 21 wide characters
K63=$(rep '日' 21)                            # 63 bytes of 3-byte characters
SZ63="$(rep 'ß' 31)x"                         # 63 bytes of 2-byte characters
for n in "$JA63" "$K63" "$SZ63"; do
    [ "$(printf '%s' "$n" | wc -c)" -eq 63 ] || fail "$n is not 63 bytes"
done
# Databases (bucardo names) and the PostgreSQL databases behind them.
SRC=$EVIL T1=$JA63 T2=select T3=$DQ
# A dbgroup, relgroups, syncs.
DG='user; "g" 🐘'
RG1=table RG2=$SZ63
S1=$EVIL S2=$K63 S3=user
TQ="\"Tab'le \"\"2\"\"\""                    # a quoted table name, for SQL

for db in src tgt1 tgt2 tgt3; do
    createdb "$db" && psql -X -q -d "$db" <<'SQL' || fail "schema on $db"
CREATE TABLE t (id int PRIMARY KEY);   -- the victim of $EVIL, were it run as SQL
CREATE TABLE item (id int PRIMARY KEY, v text);
CREATE TABLE "Tab'le ""2""" (k text PRIMARY KEY, n int);
SQL
done
sql src "insert into t values (1)" >/dev/null
run_ok "$BUCARDO" add database "$SRC" dbname=src
expect_out "Added database \"$SRC\""
run_ok "$BUCARDO" add database "$T1" dbname=tgt1
run_ok "$BUCARDO" add database "$T2" dbname=tgt2
run_ok "$BUCARDO" add database "$T3" dbname=tgt3
run_ok "$BUCARDO" add table public.item db="$SRC" relgroup="$RG1"
run_ok "$BUCARDO" add relgroup "$RG2"
run_ok "$BUCARDO" add table "public.Tab'le \"2\"" db="$SRC" relgroup="$RG2"
run_ok "$BUCARDO" add dbgroup "$DG" "$SRC:source" "$T2:target"
run_ok "$BUCARDO" add sync "$S1" relgroup="$RG1" dbs="$SRC:source,$T1:target"
expect_out "Created a new dbgroup named \"$S1\""
# A dbgroup already has S2's name: the new one is S2 cut at a character
# boundary plus "_2", 62 bytes of valid UTF-8.
run_ok "$BUCARDO" add dbgroup "$K63" "$SRC:source" "$T3:target"
run_ok "$BUCARDO" add sync "$S2" relgroup="$RG2" dbs="$SRC:source,$T2:target,$T3:target"
expect_out "Created a new dbgroup named \"$(rep '日' 20)_2\""
run_ok "$BUCARDO" add sync "$S3" relgroup="$RG1" dbgroup="$DG"
run_ok "$BUCARDO" update sync "$S3" dbs="$SRC,$T3"
expect_out "Set dbs to \"$SRC,$T3\" for sync \"$S3\""
run_ok "$BUCARDO" update sync "$S3" dbgroup="$DG" autokick=0

psql -X -q -d src <<'SQL' || fail "rows on src"
INSERT INTO item SELECT i, 'v' || i || E' \'; --' FROM generate_series(1, 300) i;
INSERT INTO "Tab'le ""2""" SELECT 'k' || i || ' 日本', i FROM generate_series(1, 200) i;
SQL
run_ok "$BUCARDO" start
for s in "$S1" "$S2" "$S3"; do
    run_ok "$BUCARDO" kick "$s" 30
    expect_out "Kick $s: .*DONE"
done
wait_synced src tgt1 30 item
wait_synced src tgt2 30 item "$TQ"
wait_synced src tgt3 30 "$TQ"

# Changes flow on, also after update, pause and resume.
run_ok "$BUCARDO" pause "$S2"
expect_out "Pausing sync $S2"
run_ok "$BUCARDO" resume "$S2"
psql -X -q -d src <<'SQL' || fail "changes on src"
UPDATE item SET v = 'changed' WHERE id % 3 = 0;
DELETE FROM item WHERE id % 7 = 0;
UPDATE "Tab'le ""2""" SET n = -n WHERE n % 2 = 0;
DELETE FROM "Tab'le ""2""" WHERE n % 5 = 0;
SQL
run_ok "$BUCARDO" kick "$S1" "$S2" "$S3" 30
wait_synced src tgt1 30 item
wait_synced src tgt2 30 item "$TQ"
wait_synced src tgt3 30 "$TQ"
expect_equal 1 "$(sql src "select count(*) from t")" "the victim table on src"
for db in tgt1 tgt2; do
    expect_equal 258 "$(sql "$db" "select count(*) from item")" "rows of item on $db"
done
for db in tgt2 tgt3; do
    expect_equal 160 "$(sql "$db" "select count(*) from $TQ")" "rows of $TQ on $db"
done
expect_equal 1 "$(sql bucardo "select count(*) from pg_tables where schemaname = 'bucardo' and tablename = 'db'")" \
    "the catalog's own tables"

# Status and listings name every object, aligned by display width.
run_ok "$BUCARDO" status
for s in "$S1" "$S2" "$S3"; do expect_out "$s"; done
# status: the '|' of every row line in the same column
python3 - "$OUT" <<'PY' || fail "status columns are not aligned:
$OUT"
import sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in s)
lines = [l for l in sys.argv[1].splitlines() if "|" in l]
cols = {tuple(width(l[:i]) for i, c in enumerate(l) if c == "|") for l in lines}
sys.exit(0 if len(lines) == 3 and len(cols) == 1 else 1)
PY
run_ok "$BUCARDO" status "$S2"
run_ok "$BUCARDO" list dbs
# aligned: "Status:" starts in the same column on every line
aligned() {  # aligned TEXT MARKER - MARKER at the same display column on every line
    python3 - "$1" "$2" <<'PY'
import sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in s)
cols = {width(l[:l.index(sys.argv[2])]) for l in sys.argv[1].splitlines() if sys.argv[2] in l}
sys.exit(0 if len(cols) == 1 else 1)
PY
}
aligned "$OUT" "  Status:" || fail "list dbs is not aligned:
$OUT"
for d in "$SRC" "$T1" "$T2" "$T3"; do expect_out "Database: $d"; done
run_ok "$BUCARDO" list tables
aligned "$OUT" "  PK:" || fail "list tables is not aligned:
$OUT"
run_ok "$BUCARDO" list syncs
aligned "$OUT" "  Relgroup" || fail "list syncs is not aligned:
$OUT"
run_ok "$BUCARDO" list relgroups
aligned "$OUT" "  DB:" || fail "list relgroups is not aligned:
$OUT"
run_ok "$BUCARDO" list dbgroups
aligned "$OUT" "  Members:" || fail "list dbgroups is not aligned:
$OUT"
run_ok "$BUCARDO" list all
run_ok "$BUCARDO" validate "$S1"
run_ok "$BUCARDO" update database "$T2" status=active
expect_out "Changed database \"$T2\" status"

# A relgroup in use renamed to another hostile name: the sync follows.
NEWRG='Rel "grp"; 🐘 select'
run_ok "$BUCARDO" update relgroup "$RG2" name="$NEWRG"
RG2=$NEWRG
run_ok "$BUCARDO" list relgroups
expect_out "Relgroup: $RG2 +DB: $SRC"
sql src "insert into $TQ values ('after rename', 1)" >/dev/null
run_ok "$BUCARDO" kick "$S2" 30
wait_synced src tgt2 30 "$TQ"

# Names the command line would misread: refused, nothing changed.
before=$(catalog_snapshot)
refused() {  # refused ARGS... - a name refused by the naming rule
    run_fail "$BUCARDO" "$@"
    expect_err 'invalid (database|dbgroup|relgroup|sync) name'
}
refused add database 'a:b' dbname=src
refused add database -- '-x' dbname=src
refused add database 'x=y' dbname=src
refused add database ' lead' dbname=src
refused add database 'trail ' dbname=src
refused add database $'new\nline' dbname=src
refused add database $'\xff\xfe' dbname=src
refused add database "${K63}a" dbname=src
refused add dbgroup $'tab\tgroup' "$SRC:source" "$T1:target"
refused add dbgroup "$(rep 'ß' 32)" "$SRC:source" "$T1:target"
refused add relgroup 'r=1'
refused add relgroup $'esc\x1b[31m'
refused add sync all relgroup="$RG1" dbs="$SRC,$T1"
refused add sync 42 relgroup="$RG1" dbs="$SRC,$T1"
refused add sync $'\xc3(' relgroup="$RG1" dbs="$SRC,$T1"
refused update relgroup "$RG2" 'name=a=b'
refused update dbgroup "$DG" $'name=\xff'
# the error names the rule, on one line, with the bad bytes escaped
run_fail "$BUCARDO" add database $'new\nline' dbname=src
expect_err '"new\\nline": it holds a control character \(a name is 1 to 63 bytes of UTF-8'
expect_equal "$before" "$(catalog_snapshot)" "catalog after refused names"

# Removal of everything, by its hostile name.
run_ok "$BUCARDO" stop
run_ok "$BUCARDO" remove sync "$S1" "$S2" "$S3"
expect_out "Removed sync \"$S2\""
[ "$(sql src "select count(*) from pg_tables where schemaname = 'bucardo' and tablename like 'delta%'")" = 0 ] ||
    fail "capture left on src after the syncs went"
run_ok "$BUCARDO" remove dbgroup "$DG" "$K63"
run_ok "$BUCARDO" remove relgroup "$RG1" "$RG2"
run_ok "$BUCARDO" remove database --force "$SRC" "$T1" "$T2" "$T3"
expect_out "Removed database \"$T3\""
run_ok "$BUCARDO" list dbs
expect_equal "No databases" "$OUT" "list dbs at the end"
expect_equal 1 "$(sql src "select count(*) from t")" "the victim table on src at the end"
echo ok
