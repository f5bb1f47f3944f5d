#!/usr/bin/env bash
# Server encodings: a UTF8 source replicating to a LATIN1 target converts
# every character (never garbled bytes); a character the target's encoding
# cannot hold fails the cycle with a clear error instead of being mangled,
# and the sync recovers once the row is gone.  A SQL_ASCII source and
# target pass high-bit bytes through unchanged.
. "$TESTS_DIR/lib/setup.sh"
test_begin

createdb -E UTF8 -T template0 --locale=C u8 || fail "createdb u8"
createdb -E LATIN1 -T template0 --locale=C l1 || fail "createdb l1"
createdb -E SQL_ASCII -T template0 --locale=C a1 || fail "createdb a1"
createdb -E SQL_ASCII -T template0 --locale=C a2 || fail "createdb a2"
for db in u8 l1 a1 a2; do
    sql "$db" "create table t (id int primary key, v text)" >/dev/null || fail "schema on $db"
done
run_ok "$BUCARDO" add db u8 dbname=u8
run_ok "$BUCARDO" add db l1 dbname=l1
run_ok "$BUCARDO" add db a1 dbname=a1
run_ok "$BUCARDO" add db a2 dbname=a2
run_ok "$BUCARDO" add table public.t db=u8 relgroup=rg_u
run_ok "$BUCARDO" add table public.t db=a1 relgroup=rg_a
run_ok "$BUCARDO" add sync conv relgroup=rg_u dbs=u8,l1 autokick=0
run_ok "$BUCARDO" add sync raw relgroup=rg_a dbs=a1,a2 autokick=0
run_ok "$BUCARDO" start

# Rows as every client sees them (psql converts both to UTF8).
rows() { PGCLIENTENCODING=UTF8 psql -X -At -d "$1" -c "select id, v from t order by id"; }

PGCLIENTENCODING=UTF8 sql u8 "insert into t values (1, 'café'), (2, 'Müller ßtraße'), (3, 'ÀÉÎÕÜ àéîõü ÿ'), (4, 'plain')" >/dev/null
run_ok "$BUCARDO" kick conv 0
[ "$(rows u8)" = "$(rows l1)" ] || fail "LATIN1 target differs: $(rows l1)"
# The target stores LATIN1 bytes: 'é' is one byte there.
[ "$(sql l1 "select octet_length(v) from t where id = 1")" = 4 ] || fail "l1: 'café' is not 4 bytes in LATIN1"

# A character LATIN1 cannot hold: the cycle fails, naming the problem.
PGCLIENTENCODING=UTF8 sql u8 "insert into t values (5, 'price: 5 €')" >/dev/null
"$BUCARDO" kick conv 0 >kick.out 2>&1 && fail "kick succeeded with a row LATIN1 cannot hold"
grep -q 'has no equivalent in encoding "LATIN1"' kick.out || fail "kick did not say why: $(cat kick.out)"
[ "$(sql l1 "select count(*) from t where id = 5")" = 0 ] || fail "the unconvertible row reached l1"
sql u8 "delete from t where id = 5" >/dev/null
run_ok "$BUCARDO" kick conv 0
[ "$(rows u8)" = "$(rows l1)" ] || fail "conv did not recover"

# SQL_ASCII: bytes, not characters; 0xE9 stays 0xE9.
sql a1 "insert into t values (1, convert_from('\\x63616671e9'::bytea, 'SQL_ASCII')), (2, 'ascii')" >/dev/null ||
    fail "insert into a1"
run_ok "$BUCARDO" kick raw 0
a=$(sql a1 "select string_agg(encode(convert_to(v, 'SQL_ASCII'), 'hex'), ',' order by id) from t")
b=$(sql a2 "select string_agg(encode(convert_to(v, 'SQL_ASCII'), 'hex'), ',' order by id) from t")
[ "$a" = "$b" ] || fail "SQL_ASCII bytes changed: $a vs $b"
case "$b" in *e9*) ;; *) fail "the high-bit byte did not arrive: $b" ;; esac

run_ok "$BUCARDO" stop
echo "ok"
