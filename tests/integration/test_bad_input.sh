#!/usr/bin/env bash
# Bad command lines, one after another: unknown verbs and kinds, missing
# names and values, options without their value or in odd places, a
# 100000-byte argument, invalid UTF-8, objects that do not exist or already
# exist, removals of objects in use.  Each must fail (exit 1..127, never a
# crash or a hang) within a few seconds with a short message on stderr,
# and together they must leave the catalog exactly as it was.
. "$TESTS_DIR/lib/setup.sh"
test_begin

# Something of every kind, for duplicates and removals in use.
for d in a b; do
    createdb "$d" && sql "$d" "create table t1 (id int primary key)" >/dev/null || fail "database $d"
done
sql a "create table pt (id int primary key) partition by range (id);
       create table pt_a partition of pt for values from (0) to (100) partition by range (id);
       create table pt_a1 partition of pt_a for values from (0) to (10)" >/dev/null || fail "partitions"
run_ok "$BUCARDO" add db d1 dbname=a
run_ok "$BUCARDO" add db d2 dbname=b
run_ok "$BUCARDO" add db d3 dbname=b  # in use nowhere: removable
run_ok "$BUCARDO" add table public.t1 db=d1 relgroup=rg1
run_ok "$BUCARDO" add dbgroup g1 d1:source d2:target
run_ok "$BUCARDO" add sync s1 relgroup=rg1 dbs=d1,d2

BIG=$(head -c 100000 /dev/zero | tr '\0' x)
[ ${#BIG} -eq 100000 ] || fail "BIG is ${#BIG} bytes"
# One bad command line per line, in shell syntax (quotes and $'..' work;
# $BIG is the huge argument).
BAD_LINES=$(cat <<'EOF'
frobnicate
frobnicate db x
-
"$BIG"
$'\xff\xfe'
add
add frob x
add "$BIG" x
add database
add database x
add database x dbname
add database x =a
add database x dbname=a stray
add database x dbname=a dbname=b
add database x dbname=a port=abc
add database x dbname=a port=0
add database x dbname=nosuchdb
add database x dbname=a port=1
add database x dbname=a user=nosuchuser
add database x dbname=a nosuchkey=1
add database '' dbname=a
add database 'x:y' dbname=a
add database ' ab' dbname=a
add database "$BIG" dbname=a
add database x dbname="$BIG"
add database x dbname=a host="$BIG"
add database $'\xff' dbname=a
add database x dbname=$'\xff'
add database d1 dbname=a
add database d1,x9 dbname=a
add dbgroup
add dbgroup '' d1:source
add dbgroup gx nosuchdb:source
add dbgroup gx d1:boss
add dbgroup gx d1,d1
add dbgroup gx d1:source nosuchdb
add dbgroup g1 d2:source nosuchdb
add dbgroup "$BIG" d1:source d2:target
add relgroup
add relgroup ''
add relgroup rg1
add relgroup rgx nosuchtable
add relgroup "$BIG"
add relgroup $'\xff'
add relgroup rgx all
add relgroup rgx public.t1 nosuchtable
add table
add table db=d1
add table nosuchtable db=d1
add table public.t1 db=nosuchdb
add table public.t1 db=d1
add table "$BIG" db=d1
add table $'\xff' db=d1
add table public.t1 db=d1 bogus=1
add all
add all things
add all tables db=nosuchdb
add all tables db=d1 bogus=1
add all tables db=d1 pkonly=2
add all tables db=d1 -t
add all tables db=d1 --relgroup
add sync
add sync relgroup=rg1 dbs=d1,d2
add sync '' relgroup=rg1 dbs=d1,d2
add sync s1 relgroup=rg1 dbs=d1,d2
add sync sx
add sync sx relgroup=rg1
add sync sx dbs=d1,d2
add sync sx relgroup=nosuch dbs=d1,d2
add sync sx relgroup=rg1 dbs=d1,nosuchdb
add sync sx relgroup=rg1 dbs=d1
add sync sx relgroup=rg1 dbs=d2,d1
add sync sx relgroup=rg1 dbs=d1,d2 onetimecopy=5
add sync sx relgroup=rg1 dbs=d1,d2 autokick=maybe
add sync sx relgroup=rg1 dbs=d1,d2 conflict_strategy=nonsense
add sync sx relgroup=rg1 dbs=d1,d2 checktime=abc
add sync sx relgroup=rg1 dbs=d1,d2 checktime="$BIG"
add sync sx relgroup=rg1 dbs=d1,d2 checktime=$'\xff'
add sync sx relgroup=rg1 dbs=d1,d2 nosuchoption=1
add sync sx relgroup=rg1 dbgroup=nosuch
add sync "$BIG" relgroup=rg1 dbs=d1,d2
add sync all relgroup=rg1 dbs=d1,d2
remove
remove frob x
remove database
remove database nosuchdb
remove database d1
remove database d2 nosuchdb
remove database d3 nosuchdb
remove database d3 d3
remove database d1 nosuchdb --force
remove database "$BIG"
remove database $'\xff'
remove dbgroup
remove dbgroup nosuch
remove dbgroup g1
remove relgroup
remove relgroup nosuch
remove relgroup rg1
remove table
remove table nosuch
remove table public.t1
remove table public.t1 db=nosuchdb
remove table public.t1 bogus=1
remove sync
remove sync nosuch
remove sync s1 nosuch
activate s1 0
activate s1 nosuch
deactivate s1 nosuch
remove sync "$BIG"
remove sync -- nosuch
update
update database
update database d1
update database nosuchdb port=1
update database d1 port=abc
update database d1 port=1
update database d1 dbname=nosuchdb
update database d1 bogus=1
update database d1 stray
update database d1 status=maybe
update sync
update sync s1
update sync nosuch autokick=0
update sync s1 autokick=maybe
update sync s1 onetimecopy=9
update sync s1 dbs=d1
update sync s1 relgroup=nosuch
update sync s1 dbgroup=nosuch
update sync s1 bogus=1
update table t1 x=1
update dbgroup g1 x=1
list
list frob
list dbs a b
list dbs '('
list tables '['
list syncs '*'
list all a b
show
show nosuchsetting
show all extra
show $'\xff'
show "$BIG"
set
set piddir
set =x
set nosuchsetting=1
set piddir=/x nosuchsetting=1
set piddir=$'\xff'
help nonsense
help "$BIG"
install now
list dbs --dbhost
list dbs --dbport
list --dbport 1 dbs
list dbs --dbname=nosuchdb
list dbs --dbhost="$BIG"
list dbs --dbport="$BIG"
--frobnicate list dbs
--frobnicate=1 list dbs
-z list dbs
--batch=yes list dbs
-vq list dbs
--=x list dbs
add --force database
list dbs --bucardorc
list dbs --bucardorc=/nonexistent/rc
EOF
)

before=$(catalog_snapshot)
[ -n "$before" ] || fail "empty catalog snapshot"
count=0
while IFS= read -r line; do
    [ -n "$line" ] || continue
    eval "args=($line)"
    shown=$(printf '%s' "$line" | cut -c1-80)
    start=$SECONDS
    rc=0
    OUT=$(timeout 10 "$BUCARDO" "${args[@]}" 2>"$TEST_DIR/stderr" </dev/null) || rc=$?
    ERR=$(cat "$TEST_DIR/stderr")
    [ $rc -ne 124 ] || fail "hung (killed after 10 s): bucardo $shown"
    [ $rc -ne 0 ] || fail "succeeded: bucardo $shown
stdout: $(printf '%s' "$OUT" | cut -c1-300)"
    [ $rc -lt 128 ] || fail "crashed with exit $rc: bucardo $shown
$(printf '%s' "$ERR" | cut -c1-500)"
    [ $((SECONDS - start)) -le 5 ] || fail "took $((SECONDS - start)) s: bucardo $shown"
    [ -n "$ERR" ] || fail "no error message: bucardo $shown"
    # Nothing on stdout: no "Added ..." for work that was rolled back.
    [ -z "$OUT" ] || fail "printed on stdout although it failed: bucardo $shown
stdout: $(printf '%s' "$OUT" | cut -c1-300)"
    [ "$(printf '%s\n' "$ERR" | wc -l)" -le 3 ] || fail "more than 3 error lines: bucardo $shown
$(printf '%s' "$ERR" | cut -c1-500)"
    [ "${#ERR}" -le 2000 ] || fail "error of ${#ERR} bytes: bucardo $shown
$(printf '%s' "$ERR" | cut -c1-500)"
    count=$((count + 1))
done <<<"$BAD_LINES"
[ $count -ge 150 ] || fail "only $count bad command lines ran"

# Some of them, with their exact message: one line on stderr saying why,
# nothing on stdout (no "Removed database \"d3\"" for the removal rolled
# back, no "Created ..." before a missing member), exit 1.
refused() {  # refused STDERR ARGS...
    local want=$1 rc=0
    shift
    OUT=$("$BUCARDO" "$@" 2>"$TEST_DIR/stderr" </dev/null) || rc=$?
    expect_equal 1 "$rc" "exit code of bucardo $*"
    expect_equal "" "$OUT" "stdout of bucardo $*"
    expect_equal "$want" "$(cat "$TEST_DIR/stderr")" "stderr of bucardo $*"
}
refused 'bucardo: no database named "nosuchdb"' remove database d3 nosuchdb
refused 'bucardo: no table named "all" is known to bucardo (add it with '"'bucardo add table')" add relgroup rgx all
refused 'bucardo: no database named "nosuchdb"' add dbgroup gx d1:source nosuchdb
# a trailing number is activate's timeout (Bucardo's): waiting needs a running engine
refused "bucardo: Bucardo is not running: start it with 'bucardo start'" activate s1 0
refused 'bucardo: public.pt_a1 is a partition of public.pt in database "d1": add public.pt, which replicates all its partitions' \
    add table pt_a1 db=d1
refused 'bucardo: public.pt_a is a partition of public.pt in database "d1": add public.pt, which replicates all its partitions' \
    add table public.pt_a db=d1 relgroup=rg1
expect_equal "$before" "$(catalog_snapshot)" "catalog after $count bad command lines"
# And the catalog still works.
run_ok "$BUCARDO" list syncs
expect_equal 'Sync "s1"  Relgroup "rg1"  DB group "g1" d1:source d2:target  [Active]' "$OUT" "list syncs at the end"
echo "ok ($count bad command lines)"
