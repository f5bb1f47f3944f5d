#!/usr/bin/env bash
# Sequences: `add sequence`, `add all sequences`, sequences in a relgroup
# next to tables; their values reach the targets, and between two sources
# the highest value wins everywhere.
. "$TESTS_DIR/lib/setup.sh"
test_begin
test_databases "CREATE TABLE t (id serial PRIMARY KEY, v text);
                CREATE SEQUENCE other_seq; CREATE SEQUENCE \"Odd Seq\";" a b c
run_ok "$BUCARDO" add all tables db=a relgroup=rg
run_ok "$BUCARDO" add all sequences db=a relgroup=rg --verbose
expect_out "New sequences added: 3"
run_ok "$BUCARDO" list sequences
expect_out '^1\. Sequence: public\."?Odd Seq'
expect_out 'Sequence: public\.t_id_seq +DB: a'
run_ok "$BUCARDO" list tables
expect_no "t_id_seq"
run_fail "$BUCARDO" add sequence no_such_seq db=a
expect_err 'no sequence named "no_such_seq"'

run_ok "$BUCARDO" add sync s relgroup=rg dbs=a,c
run_ok "$BUCARDO" start
sql a "insert into t (v) select 'x' from generate_series(1, 25); select setval('other_seq', 500)" >/dev/null
wait_synced a c 20 t
for _ in $(seq 100); do
    [ "$(sql c "select last_value from other_seq")" = 500 ] && break
    sleep 0.1
done
expect_equal "25|500" "$(sql c "select (select last_value from t_id_seq) || '|' || (select last_value from other_seq)")" \
    "sequence values on the target"

# Two sources: the highest value wins on every member.
run_ok "$BUCARDO" stop
run_ok "$BUCARDO" remove sync s
run_ok "$BUCARDO" add sync ms relgroup=rg dbs=a:source,b:source,c:target
sql b "select setval('\"Odd Seq\"', 900)" >/dev/null
sql a "select setval('\"Odd Seq\"', 700)" >/dev/null
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick ms 20
expect_out DONE
expect_equal "900|900|900" "$(sql a "select last_value from \"Odd Seq\"")|$(sql b "select last_value from \"Odd Seq\"")|$(sql c "select last_value from \"Odd Seq\"")" \
    "highest value on every member"
run_ok "$BUCARDO" stop
echo ok
