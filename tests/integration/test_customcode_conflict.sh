#!/usr/bin/env bash
# Conflict customcodes with conflict_strategy=bucardo_custom, three sources:
# the row with the higher `version` column wins on every member, not the
# latest change - as a SQL function body, as a command (python3), and as
# an unchanged Bucardo Perl customcode through the project's Perl runner
# (getdbh: it reads the versions through DBI handles).  One call per table
# per cycle, whatever the number of conflicting keys; an endsync answer
# cancels the cycle and loses nothing.  Then an unchanged
# Bucardo Perl exception customcode, on a one-way sync, that renames the
# colliding target row through its DBI handle and sets retry.  And
# bucardo_custom without a conflict code: a Bad run naming the table, and
# the changes still arrive once a code is added.  $info->{shared} lasts
# between the calls of a sync's Perl codes.
. "$TESTS_DIR/lib/setup.sh"
test_begin

test_databases "
    CREATE TABLE doc (id int PRIMARY KEY, version int NOT NULL, body text);
    INSERT INTO doc SELECT i, 1, 'init' FROM generate_series(1, 20) i;" a b c
test_sync ms rg a:source,b:source,c:source conflict_strategy=bucardo_custom autokick=0
run_ok "$BUCARDO" set retry_delay=0.2 retry_delay_max=1
D=$TEST_DIR/codes
mkdir -p "$D"

cat >"$D/version.sql" <<'EOF'
DECLARE
    c jsonb;
    w jsonb := '{}';
    best text;
    bv int;
    s text;
    r jsonb;
BEGIN
    INSERT INTO public.calls (what, n) VALUES ('sql', jsonb_array_length(info->'conflicts'));
    FOR c IN SELECT * FROM jsonb_array_elements(info->'conflicts') LOOP
        best := NULL;
        bv := NULL;
        FOR s, r IN SELECT key, value FROM jsonb_each(c->'rows') LOOP
            IF jsonb_typeof(r) = 'object' AND (bv IS NULL OR (r->>'version')::int > bv) THEN
                best := s;
                bv := (r->>'version')::int;
            END IF;
        END LOOP;
        IF best IS NOT NULL THEN
            w := w || jsonb_build_object(c->>'keytext', best);
        END IF;
    END LOOP;
    RETURN jsonb_build_object('winners', w);
END
EOF
cat >"$D/version.py" <<EOF
#!/usr/bin/env python3
import json, sys
info = json.load(sys.stdin)
winners = {}
for c in info["conflicts"]:
    rows = {db: row for db, row in c["rows"].items() if row is not None}
    if rows:
        winners[c["keytext"]] = max(rows, key=lambda db: rows[db]["version"])
import os
if os.path.exists("$D/stop"):
    json.dump({"endsync": 1}, sys.stdout)
    sys.exit(0)
with open("$D/py_calls", "a") as f:
    f.write("%d\n" % len(info["conflicts"]))
json.dump({"winners": winners, "message": "python picked %d" % len(winners)}, sys.stdout)
EOF
chmod +x "$D/version.py"
# Bucardo's documentation style: the body of a sub taking $info; keys of
# conflicts are the primary key values, set to the winning database.
cat >"$D/version.pl" <<'EOF'
use strict;
use warnings;

my $info = shift;
my $conflicts = $info->{conflicts};
my $table = "$info->{schemaname}.$info->{tablename}";
for my $key (keys %$conflicts) {
    my ($best, $bestv);
    for my $db (sort keys %{ $conflicts->{$key} }) {
        my ($v) = $info->{dbh}{$db}->selectrow_array("SELECT version FROM $table WHERE id = ?", undef, $key);
        if (defined $v and (!defined $bestv or $v > $bestv)) {
            ($best, $bestv) = ($db, $v);
        }
    }
    $conflicts->{$key} = $best if defined $best;
}
$info->{message} = 'Perl picked by version';
return;
EOF

# The SQL code's own table (after the sync's tables were added): a call and its number of keys.
sql a "CREATE TABLE calls (seq serial PRIMARY KEY, what text, n int)" >/dev/null
run_ok "$BUCARDO" start

# ---- bucardo_custom without a conflict code ----
id0=$(sql bucardo "select coalesce(max(id), 0) from bucardo.syncrun where sync = 'ms'")
sql a "update doc set version = 2, body = 'a' where id = 20" >/dev/null
sql b "update doc set version = 3, body = 'b' where id = 20" >/dev/null
"$BUCARDO" kick ms >/dev/null 2>&1
wait_run ms 20 "id > $id0 and state = 'Bad' and error like '%table public.doc: conflict_strategy is bucardo_custom and no conflict customcode%'"

# round CODE: conflicts on keys 1..3 (and one change on c only), each key's
# highest version on another member than its latest change.
round=0
round() {
    local code=$1 v
    round=$((round + 1))
    v=$((round * 10))
    sql a "update doc set version = $v + 9, body = 'a$round' where id = 1;
           update doc set version = $v + 1, body = 'a$round' where id = 2;
           update doc set version = $v + 5, body = 'a$round' where id = 3" >/dev/null
    sleep 0.05
    sql b "update doc set version = $v + 5, body = 'b$round' where id = 1;
           update doc set version = $v + 9, body = 'b$round' where id = 2" >/dev/null
    sleep 0.05
    sql c "update doc set version = $v + 7, body = 'c$round' where id = 1;
           update doc set version = $v + 7, body = 'c$round' where id = 2;
           update doc set version = $v + 1, body = 'c$round' where id = 3;
           update doc set version = $v, body = 'c only $round' where id = 4" >/dev/null
    run_ok "$BUCARDO" kick ms 30
    wait_synced a b 30 doc
    wait_synced a c 30 doc
    for db in a b c; do
        expect_equal "1|$((v + 9))|a$round
2|$((v + 9))|b$round
3|$((v + 5))|a$round
4|$v|c only $round" "$(sql $db "select id || '|' || version || '|' || body from doc where id <= 4 order by id")" \
            "$code: doc on $db"
    done
    expect_equal 3 "$(sql bucardo "select conflicts from bucardo.syncrun where sync = 'ms' and state = 'Good'
                                   order by id desc limit 1")" "$code: conflicts counted"
}

run_ok "$BUCARDO" add customcode bysql whenrun=conflict src_code="$D/version.sql" sync=ms db=a
sleep 1
# The Bad cycle's conflict (key 20) is settled by the code now: b's version 3.
run_ok "$BUCARDO" kick ms 30
wait_synced a b 30 doc
wait_synced a c 30 doc
expect_equal "3|b" "$(sql c "select version || '|' || body from doc where id = 20")" "key 20 after the code came"
round sql
expect_equal "1|3" "$(sql a "select count(*) || '|' || max(n) from calls where what = 'sql' and seq > (select min(seq) from calls where what = 'sql')")" \
    "the SQL code: one call per table per cycle, three keys"
run_ok "$BUCARDO" remove customcode bysql

run_ok "$BUCARDO" add customcode bypython whenrun=conflict src_code="$D/version.py" relation=public.doc getdbh=0
sleep 1
round command
expect_equal 3 "$(tail -n 1 "$D/py_calls")" "keys in the command's call"
grep -q "Message from conflict code bypython: python picked 3" log.bucardo || fail "python's message"
# endsync from a conflict code: the cycle is cancelled, nothing recorded, nothing lost.
touch "$D/stop"
sql a "update doc set version = 500, body = 'a end' where id = 9; update doc set body = 'a alone' where id = 10" >/dev/null
sql b "update doc set version = 600, body = 'b end' where id = 9" >/dev/null
"$BUCARDO" kick ms >/dev/null 2>&1
for _ in $(seq 50); do grep -q "cycle cancelled by a customcode (endsync)" log.bucardo && break; sleep 0.2; done
grep -q "cycle cancelled by a customcode (endsync)" log.bucardo || fail "conflict endsync not logged"
expect_equal "init" "$(sql c "select body from doc where id = 10")" "doc 10 on c while the conflict code ends the cycle"
rm "$D/stop"
wait_synced a b 30 doc
wait_synced a c 30 doc
expect_equal "9|600|b end
10|1|a alone" "$(sql c "select id || '|' || version || '|' || body from doc where id in (9, 10) order by id")" \
    "doc 9 and 10 after endsync stopped"
run_ok "$BUCARDO" remove customcode bypython

run_ok "$BUCARDO" add customcode byperl whenrun=conflict src_code="$D/version.pl" sync=ms getdbh=1
run_ok "$BUCARDO" list customcodes
expect_out "Code: byperl  When run: conflict  Kind: perl"
sleep 1
round perl
grep -q "Message from conflict code byperl: Perl picked by version" log.bucardo || fail "Perl's message"
run_ok "$BUCARDO" stop

# ---- an unchanged Bucardo Perl exception code, one-way sync ----
test_databases "CREATE TABLE person (id int PRIMARY KEY, email text UNIQUE);" p q
test_sync one rg2 p:source,q:target autokick=0
cat >"$D/rename.pl" <<'EOF'
use strict;
use warnings;

my $info = shift;

## Only unique violations: a row on the target holds the email
return if $info->{error_string} !~ /duplicate key|23505/;
my $source = $info->{dbh}{p};
my $target = $info->{dbh}{q};
my $table = "$info->{schemaname}.$info->{tablename}";
for my $db (keys %{ $info->{deltabin} }) {
    for my $id (keys %{ $info->{deltabin}{$db} }) {
        my ($email) = $source->selectrow_array("SELECT email FROM $table WHERE id = ?", undef, $id);
        next if !defined $email;
        $target->do("UPDATE $table SET email = email || '.old' WHERE email = ? AND id <> ?", undef, $email, $id);
    }
}
$info->{message} = "renamed on attempt $info->{attempts}";
$info->{retry} = 1;
return;
EOF
run_ok "$BUCARDO" add customcode renamer whenrun=exception src_code="$D/rename.pl" sync=one
run_ok "$BUCARDO" start
run_ok "$BUCARDO" kick one 20
sql q "insert into person values (7, 'dup@example.org')" >/dev/null
sql p "insert into person values (1, 'dup@example.org'), (2, 'fine@example.org')" >/dev/null
run_ok "$BUCARDO" kick one 30
expect_equal "1|dup@example.org
2|fine@example.org
7|dup@example.org.old" "$(sql q "select id || '|' || email from person order by id")" "person on q after the Perl exception code"
expect_equal Good "$(sql bucardo "select state from bucardo.syncrun where sync = 'one' order by id desc limit 1")" "last run of one"
grep -q "Message from exception code renamer: renamed on attempt 1" log.bucardo || fail "renamer's message"

# ---- $info->{shared} lasts between the calls of a sync, across its codes ----
sql p "CREATE TABLE runs (n serial PRIMARY KEY, who text, v int)" >/dev/null
cat >"$D/count.pl" <<'EOF'
my $info = shift;
$info->{shared}{n}++;
$info->{shared}{handle} = $info->{dbh}{p};    # not JSON: kept as null, not a failure
$info->{dbh}{p}->do('INSERT INTO runs (who, v) VALUES (?, ?)', undef, 'count', $info->{shared}{n});
return;
EOF
cat >"$D/read.pl" <<'EOF'
my $info = shift;
$info->{dbh}{p}->do('INSERT INTO runs (who, v) VALUES (?, ?)', undef, 'read', $info->{shared}{n});
return;
EOF
run_ok "$BUCARDO" stop  # both codes arrive with one load of the sync
run_ok "$BUCARDO" add customcode count whenrun=before_sync src_code="$D/count.pl" sync=one priority=1
run_ok "$BUCARDO" add customcode read whenrun=after_sync src_code="$D/read.pl" sync=one
run_ok "$BUCARDO" start
for i in 1 2 3; do run_ok "$BUCARDO" kick one 20; done
# after_sync runs once the cycle is recorded: wait for the last one's read.
deadline=$(( $(date +%s) + 10 ))
until [ "$(sql p "select count(*) filter (where who = 'count') = count(*) filter (where who = 'read') from runs")" = t ]; do
    [ "$(date +%s)" -lt $deadline ] || break
    sleep 0.2
done
runs=$(sql p "select string_agg(who || ':' || coalesce(v::text, 'null'), ' ' order by n) from runs")
n=$(sql p "select count(*) from runs where who = 'count'")
[ "$n" -ge 3 ] || fail "shared: only $n cycles: $runs"
expect_equal "$(for i in $(seq 1 "$n"); do printf 'count:%d read:%d ' "$i" "$i"; done | sed 's/ $//')" "$runs" \
    "what the codes kept in shared (one count per cycle, read by the next code)"
run_ok "$BUCARDO" stop
exit 0
