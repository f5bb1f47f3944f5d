#!/usr/bin/env bash
# customcols and customname in a multi-source sync (dbs=a:source,
# b:source,c:target) apply to the target only: a row written on one source
# reaches the other source as it is, under its own name, and the target
# gets it transformed and renamed.  Judged on the table contents of all
# three, after inserts, updates and deletes on both sources, and after a
# onetimecopy.  (Before the fix the other source got the transformed rows,
# and the customname table was looked for on it.)
. "$TESTS_DIR/lib/setup.sh"
test_begin
for db in a b; do
    createdb "$db" && psql -X -q -d "$db" -c "
        CREATE TABLE t (id int PRIMARY KEY, inty int);
        CREATE TABLE u (id int PRIMARY KEY, v text)" || fail "schema on $db"
done
# The target has t as is (customcols only) and u under another name (customname only).
createdb c && psql -X -q -d c -c "
    CREATE TABLE t (id int PRIMARY KEY, inty int);
    CREATE SCHEMA other; CREATE TABLE other.\"U two\" (id int PRIMARY KEY, v text)" || fail "schema on c"
for db in a b c; do run_ok "$BUCARDO" add database "$db" dbname="$db"; done
run_ok "$BUCARDO" add all tables db=a relgroup=rg
# No db=: every database of every sync (Bucardo applies them to targets only).
run_ok "$BUCARDO" add customcols t "SELECT id, inty*30 AS inty"
run_ok "$BUCARDO" add customname u 'other.U two'
run_ok "$BUCARDO" add sync ms relgroup=rg dbs=a:source,b:source,c:target
# Naming a source is refused: it would be accepted and never applied.
before=$(catalog_snapshot)
run_fail "$BUCARDO" add customcols t "SELECT id" db=b
expect_equal "" "$OUT" "stdout of add customcols ... db=b"
expect_equal 'bucardo: customcols: database "b" is a source of sync "ms", and customcols applies to targets only' \
    "$ERR" "stderr of add customcols ... db=b"
run_fail "$BUCARDO" add customname u other.x db=a sync=ms
expect_equal "" "$OUT" "stdout of add customname ... db=a"
expect_equal 'bucardo: customname: database "a" is a source of sync "ms", and customname applies to targets only' \
    "$ERR" "stderr of add customname ... db=a"
expect_equal "$before" "$(catalog_snapshot)" "catalog after customs naming a source"
run_ok "$BUCARDO" set retry_delay=0.2 retry_delay_max=1
run_ok "$BUCARDO" start

plain() {  # plain DB TABLE - its rows, id:value
    sql "$1" "select coalesce(string_agg(id || ':' || $3, ',' order by id), '') from $2"
}
# check WHAT - a and b hold the same untransformed rows; c holds t's times 30 and u under its other name.
check() {
    local want_t want_u deadline=$(( $(date +%s) + 30 ))
    while :; do
        want_t=$(plain a t inty) want_u=$(plain a u v)
        [ "$(plain b t inty)" = "$want_t" ] && [ "$(plain b u v)" = "$want_u" ] &&
            [ "$(plain c t 'inty / 30')" = "$want_t" ] &&
            [ "$(sql c "select bool_and(inty % 30 = 0) is not false from t")" = t ] &&
            [ "$(plain c 'other."U two"' v)" = "$want_u" ] && break
        [ "$(date +%s)" -ge "$deadline" ] && break
        sleep 0.1
    done
    expect_equal "$want_t" "$(plain b t inty)" "t on source b ($1)"
    expect_equal "$want_u" "$(plain b u v)" "u on source b ($1)"
    expect_equal "$(sql a "select coalesce(string_agg(id || ':' || inty * 30, ',' order by id), '') from t")" \
        "$(plain c t inty)" "t on target c, times 30 ($1)"
    expect_equal "$want_u" "$(plain c 'other."U two"' v)" "u on target c under its customname ($1)"
    # b has no table under u's custom name: nothing was written anywhere else.
    expect_equal "" "$(sql b "select to_regclass('other.\"U two\"')")" "customname table on source b ($1)"
}

sql a "insert into t select i, i from generate_series(1, 50) i; insert into u select i, 'a' || i from generate_series(1, 20) i" >/dev/null
check "inserts on a"
[ "$(plain a t inty)" != "" ] || fail "no rows on a"
sql b "insert into t select i, i from generate_series(51, 80) i; update t set inty = inty + 1 where id <= 10;
       delete from t where id between 40 and 45; insert into u values (100, 'from b'); update u set v = 'b' where id = 1" >/dev/null
check "changes on b"
sql a "update t set inty = -inty where id > 70; delete from u where id = 2" >/dev/null
check "changes on a"
# The rows of b were never multiplied: its own and a's are the plain values.
expect_equal "0" "$(sql b "select count(*) from t where abs(inty) > 100")" "rows multiplied on source b"

# A onetimecopy (it never overwrites another source) refills the target transformed.
sql c 'truncate t, other."U two"' >/dev/null
run_ok "$BUCARDO" update sync ms onetimecopy=1
run_ok "$BUCARDO" kick ms 30
expect_out DONE
check "onetimecopy"
run_ok "$BUCARDO" stop
echo ok
