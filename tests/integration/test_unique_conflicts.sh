#!/usr/bin/env bash
# A row applied to a member can collide with a unique index other than the
# key (bucardo/bucardo issue 146).  That is a conflict, settled, logged and
# counted - never a sync that goes Bad and retries forever:
#  (a) source -> target, the target holding other rows with the same values
#      (a UNIQUE constraint, and a unique partial expression index whose
#      predicate must be honoured): afterwards target == source;
#  (b) a swap of unique values in one source transaction, the two keys
#      applied in different batches (batch_keys=1): target == source;
#  (c) two sources inserting different keys with the same unique value:
#      the conflict_strategy's winner everywhere, the loser's row gone from
#      every member (its own database included), for bucardo_latest,
#      bucardo_source and an explicit list; bucardo_abort fails clearly.
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "
    CREATE TABLE acct (id int PRIMARY KEY, email text UNIQUE, code text, active bool NOT NULL DEFAULT true);
    CREATE UNIQUE INDEX acct_code ON acct (lower(code)) WHERE active;
    INSERT INTO acct VALUES (10, 'p@x', 'P', true), (11, 'q@x', 'Q', true), (97, 'old@x', 'DUP', false),
                            (96, NULL, NULL, true);" src tgt
test_databases "CREATE TABLE m (id int PRIMARY KEY, u text UNIQUE, v text)" a b c
test_sync s rs src,tgt autokick=0
test_sync ms rm a:source,b:source,c:target autokick=0
run_ok "$BUCARDO" start

last_run() {  # last_run SYNC COLUMNS
    sql bucardo "select $2 from bucardo.syncrun where sync = '$1' order by id desc limit 1"
}
no_bad_runs() {
    [ "$(sql bucardo "select count(*) from bucardo.syncrun where sync = '$1' and state = 'Bad'")" = 0 ] ||
        fail "sync $1 went Bad: $(sql bucardo "select error from bucardo.syncrun where sync = '$1' and state = 'Bad' limit 1")"
}

# (a) Rows that exist only on the target hold the values the source now
# writes under other keys.  Row 97 (inactive, code DUP) is outside the
# partial index: the incoming active 'dup' does not collide with it; nor
# does row 4's NULL email with row 96's (NULLs are distinct).
sql tgt "insert into acct values (99, 'a@x', 'only-on-target', true), (98, 'zz@x', 'ABC', true)" >/dev/null
sql src "insert into acct values (1, 'a@x', 'one', true), (2, 'b@x', 'abc', true), (3, 'c@x', 'dup', true),
                                 (4, NULL, NULL, true)" >/dev/null
run_ok "$BUCARDO" kick s 30
expect_out DONE
wait_synced src tgt 10 acct
no_bad_runs s
expect_equal "Good 2 4" "$(last_run s "state || ' ' || conflicts || ' ' || inserts")" "the run record (state conflicts inserts)"
grep -q "conflict: sync s table public.acct unique index public.acct_email_key on tgt: row (99) held the value of row (1) from src" \
    log.bucardo || fail "the email collision was not logged"
grep -q "unique index public.acct_code on tgt: row (98) held the value of row (2)" log.bucardo ||
    fail "the lower(code) collision was not logged"
[ "$(sql tgt "select count(*) from acct where id = 97")" = 1 ] || fail "a row outside the partial index was deleted"

# The fast path is back for the next cycle: a plain change, no conflict.
sql src "update acct set code = 'one-b' where id = 1" >/dev/null
run_ok "$BUCARDO" kick s 30
wait_synced src tgt 10 acct
expect_equal "Good 0" "$(last_run s "state || ' ' || conflicts")" "a plain cycle after the conflicts"

# (b) A swap of unique values in one transaction, applied one key per batch.
run_ok "$BUCARDO" stop
run_ok "$BUCARDO" set batch_keys=1 batch_grow_max=1
run_ok "$BUCARDO" start
# The start's own cycle may apply the swap before the kick does (the kick
# then records an empty run): count the conflicts of every run since here.
before=$(sql bucardo "select coalesce(max(id), 0) from bucardo.syncrun")
sql src "begin; update acct set email = 'tmp' where id = 10; update acct set email = 'p@x' where id = 11;
         update acct set email = 'q@x' where id = 10; commit" >/dev/null
run_ok "$BUCARDO" kick s 30
expect_out DONE
wait_synced src tgt 10 acct
no_bad_runs s
grep -q "applying 2 changes in batches of 1" log.bucardo || fail "the swap was not split into batches"
[ "$(sql bucardo "select sum(conflicts) from bucardo.syncrun where sync = 's' and id > $before")" -ge 1 ] ||
    fail "the batch-boundary collision was not counted"
run_ok "$BUCARDO" stop
run_ok "$BUCARDO" set batch_keys=10000
run_ok "$BUCARDO" start

# (c) Two sources, two keys, one unique value.
# collide STRATEGY WINNER: a inserts first, b a moment later.
n=0
collide() {
    local strategy=$1 winner=$2 ida idb idw idl before
    n=$((n + 1))
    before=$(sql bucardo "select coalesce(max(id), 0) from bucardo.syncrun")
    ida=$((n * 10 + 1)) idb=$((n * 10 + 2))
    run_ok "$BUCARDO" update sync ms conflict_strategy="$strategy"
    run_ok "$BUCARDO" stop
    sql a "insert into m values ($ida, 'u-$strategy', 'from a')" >/dev/null
    sleep 0.05
    sql b "insert into m values ($idb, 'u-$strategy', 'from b')" >/dev/null
    run_ok "$BUCARDO" start
    run_ok "$BUCARDO" kick ms 30
    expect_out DONE
    if [ "$winner" = a ]; then idw=$ida idl=$idb; else idw=$idb idl=$ida; fi
    wait_synced a b 10 m
    wait_synced a c 10 m
    for db in a b c; do
        expect_equal "$idw" "$(sql "$db" "select string_agg(id::text, ',') from m where u = 'u-$strategy'")" \
            "$strategy: the row holding the value on $db"
        expect_equal 0 "$(sql "$db" "select count(*) from m where id = $idl")" "$strategy: the loser's row on $db"
    done
    expect_equal "Good 1" "$(sql bucardo "select string_agg(distinct state, ',') || ' ' || sum(conflicts)
        from bucardo.syncrun where sync = 'ms' and id > $before")" "$strategy: the runs (states, conflicts)"
    grep -q "sync ms table public.m unique index public.m_u_key: value (u-$strategy) written under key ($ida) on a, key ($idb) on b: winner $winner, the other rows are deleted" \
        log.bucardo || fail "$strategy: the collision was not logged"
}
collide bucardo_latest b
collide bucardo_source a
collide "b,a" b
no_bad_runs ms

# bucardo_skip: neither row is replicated; each source keeps its own.
run_ok "$BUCARDO" update sync ms conflict_strategy=bucardo_skip
run_ok "$BUCARDO" stop
sql a "insert into m values (801, 'u-skip', 'from a')" >/dev/null
sql b "insert into m values (802, 'u-skip', 'from b')" >/dev/null
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick ms 30
expect_equal "801|802|" "$(sql a "select string_agg(id::text, ',') from m where u = 'u-skip'")|$(
    sql b "select string_agg(id::text, ',') from m where u = 'u-skip'")|$(
    sql c "select string_agg(id::text, ',') from m where u = 'u-skip'")" "bucardo_skip: the rows on a, b, c"
grep -q "unique index public.m_u_key: value (u-skip) written under key (801) on a, key (802) on b: skipped" \
    log.bucardo || fail "bucardo_skip: the collision was not logged"
# Settle it by hand for what follows.
sql b "delete from m where id = 802" >/dev/null
sql a "update m set v = 'settled' where id = 801" >/dev/null
run_ok "$BUCARDO" kick ms 30
wait_synced a b 10 m
wait_synced a c 10 m
no_bad_runs ms

# bucardo_abort: the cycle fails, naming the index; nothing is applied.
run_ok "$BUCARDO" update sync ms conflict_strategy=bucardo_abort
run_ok "$BUCARDO" stop
sql a "insert into m values (901, 'u-abort', 'from a')" >/dev/null
sql b "insert into m values (902, 'u-abort', 'from b')" >/dev/null
run_ok "$BUCARDO" start
"$BUCARDO" kick ms 10 >/dev/null 2>&1 || true  # the cycle may have failed before the kick
wait_run ms 10 "state = 'Bad' and error like '%unique index public.m_u_key: value (u-abort) written under key (901) on a, key (902) on b, and conflict_strategy is bucardo_abort'"
run_ok "$BUCARDO" status ms
expect_out "Current state +: Bad"
expect_equal 0 "$(sql c "select count(*) from m where u = 'u-abort'")" "bucardo_abort applied a row"
# Another strategy settles it.
run_ok "$BUCARDO" update sync ms conflict_strategy=bucardo_source
run_ok "$BUCARDO" kick ms 30
wait_synced a b 10 m
wait_synced a c 10 m
expect_equal 901 "$(sql c "select string_agg(id::text, ',') from m where u = 'u-abort'")" "after bucardo_abort, bucardo_source"
run_ok "$BUCARDO" stop
echo ok
