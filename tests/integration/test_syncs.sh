#!/usr/bin/env bash
# Syncs: add sync with dbs= (first source, rest targets), explicit roles,
# fullcopy targets and dbgroup=; reuse of a dbgroup with the same members;
# every option stored with its default or the given value; bad values
# refused with the catalog unchanged; a delta sync refused over a table
# without a key (fullcopy accepted); update sync; removal of what a sync
# uses refused; remove sync; the list syncs line.
. "$TESTS_DIR/lib/setup.sh"
test_begin

for d in a b c; do
    createdb "$d" || fail createdb
    sql "$d" "create table t1 (id int primary key, v text); create table t2 (id int primary key);
              create table nokey (x int)" >/dev/null || fail "tables of $d"
done
run_ok "$BUCARDO" add db A dbname=a
run_ok "$BUCARDO" add db B dbname=b
run_ok "$BUCARDO" add db C dbname=c
run_ok "$BUCARDO" add table public.t1 public.t2 db=A relgroup=rg
run_ok "$BUCARDO" add table public.nokey db=A relgroup=rgnk
run_ok "$BUCARDO" add relgroup rgnk public.t1
run_ok "$BUCARDO" add table public.t1 db=B relgroup=rgb

unchanged() { expect_equal "$1" "$(catalog_snapshot)" "catalog after $2"; }
COLS="status, autokick, onetimecopy, conflict_strategy, checktime, stayalive, kidsalive, rebuild_index,
      analyze_after_copy, strict_checking, overdue, expired, lifetime, maxkicks, priority"
# opts SYNC - every option of a sync, NULL as empty.
opts() { sql bucardo "select format(repeat('%s|', 14) || '%s', $COLS) from bucardo.sync where name = '$1'"; }
DEFAULTS="active|t|0|bucardo_latest||t|t|0|t|t|00:00:00|00:00:00||0|0"
# members GROUP - a dbgroup's members in order.
members() {
    sql bucardo "select coalesce(string_agg(db || ':' || role, ' ' order by position), '')
                 from bucardo.dbgroup_member where dbgroup = '$1'"
}
ngroups() { sql bucardo "select count(*) from bucardo.dbgroup"; }
sync_row() { sql bucardo "select relgroup, dbgroup from bucardo.sync where name = '$1'"; }

# --- dbs=A,B: A source, B target, a new dbgroup named after the sync.
run_ok "$BUCARDO" add sync s1 relgroup=rg dbs=A,B
expect_equal 'Added sync "s1"
Created a new dbgroup named "s1"' "$OUT" "add sync s1"
expect_equal "" "$ERR" "stderr of add sync s1"
expect_equal "rg|s1" "$(sync_row s1)" "sync s1"
expect_equal "A:source B:target" "$(members s1)" "dbgroup s1"
expect_equal "$DEFAULTS" "$(opts s1)" "options of s1 (defaults)"

# The same databases again: the dbgroup is reused, none is created.
n=$(ngroups)
run_ok "$BUCARDO" add sync s2 relgroup=rg dbs=A,B
expect_equal 'Added sync "s2"' "$OUT" "add sync s2 (dbgroup reused)"
expect_equal "" "$ERR" "stderr of add sync s2 (capture already there)"
expect_equal "rg|s1" "$(sync_row s2)" "sync s2"
expect_equal "$n" "$(ngroups)" "dbgroups after s2"
# Explicit roles.
run_ok "$BUCARDO" add sync s3 relgroup=rg dbs=A:source,B:source,C:target
expect_equal "A:source B:source C:target" "$(members s3)" "dbgroup s3"
expect_equal "rg|s3" "$(sync_row s3)" "sync s3"
# A fullcopy target.
run_ok "$BUCARDO" add sync s4 relgroup=rg dbs=A,B:fullcopy
expect_equal "A:source B:fullcopy" "$(members s4)" "dbgroup s4"
# dbgroup= of a dbgroup made by hand.
run_ok "$BUCARDO" add dbgroup g1 A:source C:target
run_ok "$BUCARDO" add sync s5 relgroup=rg dbgroup=g1
expect_equal 'Added sync "s5"' "$OUT" "add sync s5"
expect_equal "rg|g1" "$(sync_row s5)" "sync s5"
# dbs= matching g1's members reuses g1.
n=$(ngroups)
run_ok "$BUCARDO" add sync s6 relgroup=rg dbs=A,C onetimecopy=2 autokick=0 conflict_strategy=bucardo_source \
    checktime=60 stayalive=no kidsalive=false rebuild_index=1 analyze_after_copy=off strict_checking=0 \
    overdue='1 hour' expired=30 lifetime='1 day' maxkicks=5 priority=7 status=inactive
expect_equal "rg|g1" "$(sync_row s6)" "sync s6 reuses g1"
expect_equal "$n" "$(ngroups)" "dbgroups after s6"
expect_equal "inactive|f|2|bucardo_source|00:01:00|f|f|1|f|f|01:00:00|00:00:30|1 day|5|7" "$(opts s6)" "options of s6"
# herd= (Bucardo's old name), a strategy naming databases, "0" = none.
run_ok "$BUCARDO" add sync s7 herd=rg dbs=A:source,B:source conflict_strategy=B,A checktime=0 lifetime=0
expect_equal "active|t|0|B,A||t|t|0|t|t|00:00:00|00:00:00||0|0" "$(opts s7)" "options of s7"
# A dbgroup named like the sync but with other members is not touched.
run_ok "$BUCARDO" add dbgroup s8 C:source A:target
run_ok "$BUCARDO" add sync s8 relgroup=rg dbs=A,B,C
expect_out '^Created a new dbgroup named "s8_2"$'
expect_equal "C:source A:target" "$(members s8)" "hand-made dbgroup s8"
expect_equal "A:source B:target C:target" "$(members s8_2)" "dbgroup s8_2"
expect_equal "rg|s8_2" "$(sync_row s8)" "sync s8"

# --- refused: bad option values, bad structure; nothing changes (no new
# dbgroup either).
before=$(catalog_snapshot)
# bad_add ERROR_REGEX ARGS... - add sync bad ARGS fails saying ERROR_REGEX.
bad_add() {
    local re=$1
    shift
    run_fail timeout 10 "$BUCARDO" add sync bad "$@"
    expect_err "$re"
}
bad_add onetimecopy relgroup=rg dbs=A,B onetimecopy=5
bad_add onetimecopy relgroup=rg dbs=A,B onetimecopy=-1
bad_add onetimecopy relgroup=rg dbs=A,B onetimecopy=one
bad_add autokick relgroup=rg dbs=A,B autokick=maybe
bad_add autokick relgroup=rg dbs=A,B autokick=
bad_add conflict_strategy relgroup=rg dbs=A,B conflict_strategy=nonsense
bad_add conflict_strategy relgroup=rg dbs=A,B conflict_strategy=A,C
bad_add conflict_strategy relgroup=rg dbs=A,B conflict_strategy=
bad_add checktime relgroup=rg dbs=A,B checktime=abc
bad_add checktime relgroup=rg dbs=A,B checktime=-5
bad_add checktime relgroup=rg dbs=A,B checktime='-1 hour'
bad_add overdue relgroup=rg dbs=A,B overdue=soon
bad_add lifetime relgroup=rg dbs=A,B lifetime='1 parsec'
bad_add rebuild_index relgroup=rg dbs=A,B rebuild_index=3
bad_add maxkicks relgroup=rg dbs=A,B maxkicks=-1
bad_add priority relgroup=rg dbs=A,B priority=high
bad_add status relgroup=rg dbs=A,B status=paused
bad_add stayalive relgroup=rg dbs=A,B stayalive=2
bad_add 'unknown.*foo' relgroup=rg dbs=A,B foo=1
bad_add 'more than once' relgroup=rg dbs=A,B autokick=1 autokick=0
bad_add 'key=value' relgroup=rg dbs=A,B autokick
bad_add 'relgroup' dbs=A,B
bad_add 'dbs|dbgroup' relgroup=rg
bad_add 'nosuch' relgroup=nosuch dbs=A,B
bad_add 'Z' relgroup=rg dbs=A,Z
bad_add 'target' relgroup=rg dbs=A
bad_add 'source' relgroup=rg dbs=A:target,B:target
bad_add 'twice' relgroup=rg dbs=A,A
bad_add 'role' relgroup=rg dbs=A:boss,B
bad_add 'nosuch' relgroup=rg dbgroup=nosuch
bad_add 'either' relgroup=rg dbgroup=g1 dbs=A,B
bad_add 'not a source' relgroup=rg dbs=B,C
bad_add 'not a source' relgroup=rgb dbs=A,B
unchanged "$before" "refused add sync"
run_fail "$BUCARDO" add sync s1 relgroup=rg dbs=A,B
expect_err 'already exists'
run_fail "$BUCARDO" add sync relgroup=rg dbs=A,B
run_fail "$BUCARDO" add sync
unchanged "$before" "refused add sync (names)"

# An empty relgroup gives nothing to replicate.
run_ok "$BUCARDO" add relgroup empty
before=$(catalog_snapshot)
run_fail "$BUCARDO" add sync bad relgroup=empty dbs=A,B
expect_err 'no tables'
unchanged "$before" "add sync over an empty relgroup"

# --- a table without a key: refused for delta (naming it), fine for fullcopy.
before=$(catalog_snapshot)
run_fail "$BUCARDO" add sync dnk relgroup=rgnk dbs=A,B
expect_err 'public\.nokey'
unchanged "$before" "delta sync over a keyless table"
run_fail "$BUCARDO" add sync dnk relgroup=rgnk dbs=A:source,B:source
expect_err 'public\.nokey'
unchanged "$before" "multi-source sync over a keyless table"
run_ok "$BUCARDO" add sync fnk relgroup=rgnk dbs=A,B:fullcopy
expect_equal "rgnk|s4" "$(sync_row fnk)" "sync fnk (reusing s4's dbgroup)"
# ...and a fullcopy sync cannot be turned into a delta one.
before=$(catalog_snapshot)
run_fail "$BUCARDO" update sync fnk dbs=A,B
expect_err 'public\.nokey'
unchanged "$before" "update sync fnk to delta"
run_fail "$BUCARDO" update sync s1 relgroup=rgnk
expect_err 'public\.nokey'
unchanged "$before" "update sync s1 to a keyless relgroup"

# --- update sync: valid changes stored; invalid ones roll everything back.
run_ok "$BUCARDO" update sync s1 onetimecopy=1 autokick=no checktime='5 minutes' status=inactive
expect_out '^Set onetimecopy to "1" for sync "s1"$'
expect_equal "" "$ERR" "stderr of update sync s1"
expect_equal "inactive|f|1|bucardo_latest|00:05:00|t|t|0|t|t|00:00:00|00:00:00||0|0" "$(opts s1)" "s1 after update"
run_ok "$BUCARDO" update sync s1 checktime=0 status=active autokick=1 onetimecopy=0
expect_equal "$DEFAULTS" "$(opts s1)" "s1 back to its defaults"
run_ok "$BUCARDO" update sync s2 dbgroup=g1
expect_equal "rg|g1" "$(sync_row s2)" "s2 moved to g1"
# dbs= of new members: a new dbgroup, since s2's old one is shared.
run_ok "$BUCARDO" update sync s2 dbs=B,C relgroup=rgb
expect_out '^Created a new dbgroup named "s2"$'
expect_equal "B:source C:target" "$(members s2)" "dbgroup s2"
expect_equal "rgb|s2" "$(sync_row s2)" "sync s2 after update dbs= relgroup="
# dbs= reuses a dbgroup with the same members, else makes a new one: it
# never rewrites an existing dbgroup (s1's may be shared), so a free name
# is chosen when the sync's own is taken.
run_ok "$BUCARDO" update sync s1 dbs=A,B,C
expect_equal "rg|s8_2" "$(sync_row s1)" "s1 reuses s8_2 (same members)"
run_ok "$BUCARDO" update sync s1 dbs=A,C:fullcopy
expect_out '^Created a new dbgroup named "s1_2"$'
expect_equal "A:source B:target" "$(members s1)" "dbgroup s1 untouched"
expect_equal "A:source C:fullcopy" "$(members s1_2)" "dbgroup s1_2"
before=$(catalog_snapshot)
# state SYNC - its row, options and the number of dbgroups, in one query.
state() {
    sql bucardo "select relgroup || '|' || dbgroup || '|' || format(repeat('%s|', 14) || '%s', $COLS)
                        || '|' || (select count(*) from bucardo.dbgroup) from bucardo.sync where name = '$1'"
}
s1_state=$(state s1)
# bad_update ERROR_REGEX ARGS... - update sync ARGS fails, s1 stays as it
# was (and the whole catalog, checked after the last one).
bad_update() {
    local re=$1
    shift
    run_fail timeout 10 "$BUCARDO" update sync "$@"
    expect_err "$re"
    expect_equal "$s1_state" "$(state s1)" "sync s1 after update sync $*"
}
bad_update onetimecopy s1 onetimecopy=9
bad_update onetimecopy s1 autokick=0 onetimecopy=9
bad_update autokick s1 onetimecopy=1 autokick=maybe
bad_update conflict_strategy s1 conflict_strategy=nonsense
bad_update checktime s1 checktime=abc
bad_update 'unknown' s1 foo=bar
bad_update 'nosuch' s1 relgroup=nosuch
bad_update 'nosuch' s1 dbgroup=nosuch
bad_update 'target' s1 dbs=A
bad_update 'nosuchsync' nosuchsync autokick=0
bad_update 'usage' s1
bad_update 'not a source' s1 relgroup=rgb
bad_update 'key=value' s1 autokick
unchanged "$before" "refused updates"

# --- removing what a sync uses is refused.
before=$(catalog_snapshot)
run_fail "$BUCARDO" remove relgroup rg
expect_err 's1'
run_fail "$BUCARDO" remove dbgroup g1
expect_err 's2|s5|s6'
run_fail "$BUCARDO" remove dbgroup s8_2 g1
run_fail "$BUCARDO" remove table public.t2 db=A
expect_err 's1'
run_fail "$BUCARDO" remove db A
run_fail "$BUCARDO" remove relgroup nosuch
run_fail "$BUCARDO" remove dbgroup nosuch
unchanged "$before" "refused removals"
# Unused ones go.
run_ok "$BUCARDO" remove relgroup empty
run_ok "$BUCARDO" remove dbgroup s8
expect_equal 0 "$(sql bucardo "select (select count(*) from bucardo.dbgroup where name = 's8')
                                    + (select count(*) from bucardo.relgroup where name = 'empty')")" "removed groups"

# --- list syncs: one line per sync, its relgroup, dbgroup and members.
run_ok "$BUCARDO" list syncs
expect_equal "$(sql bucardo "select count(*) from bucardo.sync")" "$(printf '%s\n' "$OUT" | grep -c .)" "list syncs lines"
printf '%s\n' "$OUT" | grep -Ev '^Sync "[^"]+" +Relgroup "[^"]+"  DB group "[^"]+" [A-C]:[a-z]+( [A-C]:[a-z]+)*  \[(Active|Inactive)\]$' &&
    fail "list syncs lines of the wrong shape: $OUT"
expect_out '^Sync "s1" +Relgroup "rg"  DB group "s1_2" A:source C:fullcopy  \[Active\]$'
expect_out '^Sync "s6" +Relgroup "rg"  DB group "g1" A:source C:target  \[Inactive\]$'
expect_out '^Sync "fnk" +Relgroup "rgnk"  DB group "s4" A:source B:fullcopy  \[Active\]$'
run_ok "$BUCARDO" list syncs '^s[0-9]$'
expect_equal 8 "$(printf '%s\n' "$OUT" | grep -c '^Sync')" "list syncs ^s[0-9]$"
run_ok "$BUCARDO" list syncs nomatch
expect_equal "No syncs" "$OUT" "list syncs nomatch"

# --- remove sync
before=$(catalog_snapshot)
run_fail "$BUCARDO" remove sync nosuch
expect_err nosuch
# A bad name after a good one: nothing is removed, not even the good
# sync's capture on its sources (it was dropped, and committed there,
# before the bad name rolled the catalog back).
capture() {
    for d in a b c; do
        sql "$d" "select string_agg(tgrelid::regclass || ' ' || tgname, ', ' order by tgrelid::regclass::text, tgname) from pg_trigger
                  where tgname like 'bucardo%'"
    done
}
cap=$(capture)
[ -n "$cap" ] || fail "no capture anywhere before remove sync"
for s in s1 s2 s3 s4 s5 s6 s7 s8 fnk; do
    run_fail "$BUCARDO" remove sync "$s" nosuch
    expect_equal "$cap" "$(capture)" "capture triggers after a refused remove sync $s nosuch"
done
run_fail "$BUCARDO" remove sync
unchanged "$before" "refused remove sync"
run_ok "$BUCARDO" remove sync s3
expect_equal 'Removed sync "s3"' "$OUT" "remove sync s3"
expect_equal 0 "$(sql bucardo "select count(*) from bucardo.sync where name = 's3'")" "s3 after remove"
expect_equal "A:source B:source C:target" "$(members s3)" "s3's dbgroup stays"
run_ok "$BUCARDO" remove sync s1 s2 s4 s5 s6 s7 s8 fnk
expect_equal 0 "$(sql bucardo "select count(*) from bucardo.sync")" "syncs after removing all"
# Now nothing uses them.
run_ok "$BUCARDO" remove dbgroup g1 s1
run_ok "$BUCARDO" remove relgroup rg
run_ok "$BUCARDO" remove table public.t2 db=A
run_ok "$BUCARDO" list syncs
expect_equal "No syncs" "$OUT" "list syncs at the end"
echo "ok"
