#!/usr/bin/env bash
# Tables: `add all tables` with its filters (-t -T -n -N, pkonly), the key
# each table is replicated by (primary key, else a unique index over NOT
# NULL key columns, never a nullable, partial or expression one), `add
# table` plain and schema-qualified, ambiguous names, `remove table`, and
# hostile names (quotes and SQL in names, mixed case, 63 bytes, unicode, a
# reserved word) which must be stored and shown as they are, with no SQL
# of theirs ever run.
. "$TESTS_DIR/lib/setup.sh"
test_begin

LONG=t23456789012345678901234567890123456789012345678901234567890123   # 63 bytes
WEIRD='we"ird; drop table x'
[ ${#LONG} -eq 63 ] || fail "LONG is ${#LONG} bytes"
createdb src || fail createdb
psql -X -q -v ON_ERROR_STOP=1 -d src >/dev/null <<EOF || fail "cannot create the tables"
create table public.x (id int primary key);
create table public.plain (id int primary key);
create schema other;
create table other.plain (id bigint primary key);
create table public.composite (a int, b text, c int, primary key (a, b));
create table public.both_ (a int not null unique, b int, c int, primary key (b, c));
create table public.uniq_nn (x int not null, y int, unique (y), unique (x));
create table public.uniq_incl (x int not null, y int, unique (x) include (y));
create table public.uniq_null (x int unique, y int);
create table public.uniq_partial (x int not null, y int);
create unique index on public.uniq_partial (x) where y > 0;
create table public.uniq_expr (n text not null);
create unique index on public.uniq_expr (lower(n));
create table public.deferred (id int primary key deferrable initially deferred);
create table public.nokey (x int);
create schema "we""ird; drop table x";
create table "we""ird; drop table x"."we""ird; drop table x" (id int primary key, "v""al" text);
create table public."MixedCase" ("ID" int primary key);
create table public.$LONG (id int primary key);
create table public."tëst_表" ("ключ" int primary key);
create table public."select" ("from" int primary key);
EOF
# tables_of DB - every user table of a real database, to see none was dropped.
tables_of() {
    sql "$1" "select string_agg(format('%s.%s', schemaname, tablename), ' ' order by schemaname, tablename)
              from pg_tables where schemaname not in ('pg_catalog', 'information_schema')"
}
SRC_TABLES=$(tables_of src)
expect_equal 17 "$(sql src "select count(*) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')")" \
    "tables created"
# known DB - the tables the catalog holds for a database, as schema.table.
known() {
    sql bucardo "select coalesce(string_agg(schemaname || '.' || relname, ' ' order by schemaname, relname), '')
                 from bucardo.relation where db = '$1'"
}
unchanged() { expect_equal "$1" "$(catalog_snapshot)" "catalog after $2"; }

# --- add all tables (the only database): everything, with the right keys.
run_ok "$BUCARDO" add db s dbname=src
run_ok "$BUCARDO" add all tables --verbose
expect_out "^New tables added: 17$"
expect_out "^  $WEIRD\.$WEIRD$"
expect_equal "MixedCase|{ID}|{integer}
both_|{b,c}|{integer,integer}
composite|{a,b}|{integer,text}
deferred||
nokey||
plain|{id}|{integer}
select|{from}|{integer}
$LONG|{id}|{integer}
tëst_表|{ключ}|{integer}
uniq_expr||
uniq_incl|{x}|{integer}
uniq_nn|{x}|{integer}
uniq_null||
uniq_partial||
x|{id}|{integer}" \
    "$(sql bucardo "select relname, pkey, pkeytype from bucardo.relation where db = 's' and schemaname = 'public'
                    order by relname")" "keys found in schema public"
expect_equal "plain|{id}|{bigint}" \
    "$(sql bucardo "select relname, pkey, pkeytype from bucardo.relation where schemaname = 'other'")" "key of other.plain"
expect_equal "{id}" \
    "$(sql bucardo "select pkey from bucardo.relation where schemaname = '$(printf '%s' "$WEIRD" | sed "s/'/''/g")'
                    and relname = 'we\"ird; drop table x'")" "key of the weird table"
run_ok "$BUCARDO" list tables
# (numbering and column padding aside)
expect_equal "Table: other.plain DB: s PK: id (bigint)
Table: public.MixedCase DB: s PK: ID (integer)
Table: public.both_ DB: s PK: b|c (integer|integer)
Table: public.composite DB: s PK: a|b (integer|text)
Table: public.deferred DB: s PK: none
Table: public.nokey DB: s PK: none
Table: public.plain DB: s PK: id (integer)
Table: public.select DB: s PK: from (integer)
Table: public.$LONG DB: s PK: id (integer)
Table: public.tëst_表 DB: s PK: ключ (integer)
Table: public.uniq_expr DB: s PK: none
Table: public.uniq_incl DB: s PK: x (integer)
Table: public.uniq_nn DB: s PK: x (integer)
Table: public.uniq_null DB: s PK: none
Table: public.uniq_partial DB: s PK: none
Table: public.x DB: s PK: id (integer)
Table: $WEIRD.$WEIRD DB: s PK: id (integer)" \
    "$(printf '%s\n' "$OUT" | sed 's/^ *[0-9]*\. //' | tr -s ' ')" "list tables"
expect_equal "$(seq -s ' ' 17)" "$(printf '%s\n' "$OUT" | sed 's/^ *\([0-9]*\)\..*/\1/' | tr '\n' ' ' | sed 's/ $//')" \
    "list tables numbering"
# A second run finds nothing new and changes nothing.
before=$(catalog_snapshot)
run_ok "$BUCARDO" add all tables
expect_equal "New tables added: 0" "$OUT" "add all tables again"
unchanged "$before" "add all tables again"
run_ok "$BUCARDO" list tables 'we"ird'
expect_equal 1 "$(printf '%s\n' "$OUT" | grep -c .)" "list tables 'we\"ird'"

# --- filters, each on its own database entry (same real database).
# filter NAME ARGS... - add the database NAME, add all tables with ARGS.
filter() {
    local name=$1
    shift
    run_ok "$BUCARDO" add db "$name" dbname=src
    run_ok "$BUCARDO" add all tables db="$name" "$@"
}
filter ft -t plain
expect_equal "other.plain public.plain" "$(known ft)" "-t plain"
expect_equal "New tables added: 2" "$OUT" "-t plain output"
filter ft2 -t public.plain,composite -t x
expect_equal "public.composite public.plain public.x" "$(known ft2)" "-t public.plain,composite -t x"
filter ft3 --table="$WEIRD.$WEIRD" --table=MixedCase
expect_equal "public.MixedCase $WEIRD.$WEIRD" "$(known ft3)" "--table WEIRD --table MixedCase"
filter ft4 -t nosuchtable
expect_equal "" "$(known ft4)" "-t nosuchtable"
expect_equal "New tables added: 0" "$OUT" "-t nosuchtable output"
filter fT -T plain -T "$WEIRD" -T public.$LONG,uniq_expr
expect_equal "public.MixedCase public.both_ public.composite public.deferred public.nokey public.select public.tëst_表 public.uniq_incl public.uniq_nn public.uniq_null public.uniq_partial public.x" \
    "$(known fT)" "-T plain -T WEIRD -T LONG,uniq_expr"
filter fn -n other
expect_equal "other.plain" "$(known fn)" "-n other"
filter fn2 --schema=other,"$WEIRD"
expect_equal "other.plain $WEIRD.$WEIRD" "$(known fn2)" "--schema=other,WEIRD"
filter fN -N public
expect_equal "other.plain $WEIRD.$WEIRD" "$(known fN)" "-N public"
filter fN2 -N public -N "$WEIRD"
expect_equal "other.plain" "$(known fN2)" "-N public -N WEIRD"
filter fnT -n public -T x -t plain,x,nokey
expect_equal "public.nokey public.plain" "$(known fnT)" "-n public -t plain,x,nokey -T x"
filter fpk pkonly=1 -n public
expect_equal "public.MixedCase public.both_ public.composite public.plain public.select public.$LONG public.tëst_表 public.uniq_incl public.uniq_nn public.x" \
    "$(known fpk)" "pkonly=1 -n public"
expect_equal 0 "$(sql bucardo "select count(*) from bucardo.relation where db = 'fpk' and pkey is null")" "pkonly=1 keyless"
filter fkv schema=public table=plain,nokey exclude-table=nokey
expect_equal "public.plain" "$(known fkv)" "schema= table= exclude-table="
filter frg -n other --relgroup=rg1 --verbose
expect_out "^Creating relgroup: rg1$"
expect_out "^Added table other.plain to relgroup rg1$"
filter frg2 -t composite,x relgroup=rg2
expect_equal "rg1|frg|other.plain
rg2|frg2|public.composite
rg2|frg2|public.x" "$(sql bucardo "select m.relgroup, r.db, r.schemaname || '.' || r.relname from bucardo.relgroup_member m
    join bucardo.relation r on r.id = m.relation order by 1, 3")" "relgroup members"

# Refused, and nothing changed.
before=$(catalog_snapshot)
run_fail "$BUCARDO" add all tables db=nosuchdb
expect_err nosuchdb
run_fail "$BUCARDO" add all tables db=s pkonly=maybe
run_fail "$BUCARDO" add all tables db=s bogus=1
run_fail "$BUCARDO" add all tables db=s plain
run_fail "$BUCARDO" add all
run_fail "$BUCARDO" add all things
unchanged "$before" "refused add all tables"

# --- add table: single, schema-qualified, lists, hostile names.
run_ok "$BUCARDO" add db s2 dbname=src
before=$(catalog_snapshot)
run_fail "$BUCARDO" add table plain db=s2
expect_err 'plain.*(2 tables|ambiguous)|schema\.table'
unchanged "$before" "add table of an ambiguous name"
run_fail "$BUCARDO" add table public.plain
expect_err 'db='
unchanged "$before" "add table without db= among several databases"
run_fail "$BUCARDO" add table nosuch db=s2
run_fail "$BUCARDO" add table other.x db=s2
run_fail "$BUCARDO" add table mixedcase db=s2
run_fail "$BUCARDO" add table public.plain db=nosuchdb
run_fail "$BUCARDO" add table public.plain,nosuch db=s2
run_fail "$BUCARDO" add table public.plain db=s2 bogus=1
run_fail "$BUCARDO" add table db=s2
run_fail "$BUCARDO" add table
unchanged "$before" "refused add table"
expect_equal "" "$(known s2)" "s2 after refusals"

run_ok "$BUCARDO" add table public.plain db=s2
expect_equal "Added table public.plain" "$OUT" "add table public.plain"
expect_equal "public|plain|{id}|{integer}" \
    "$(sql bucardo "select schemaname, relname, pkey, pkeytype from bucardo.relation where db = 's2'")" "row of s2's plain"
before=$(catalog_snapshot)
run_fail "$BUCARDO" add table public.plain db=s2
expect_err 'already'
unchanged "$before" "add table of a known table"
run_ok "$BUCARDO" add table other.plain composite,uniq_nn db=s2 relgroup=rgs2
expect_equal "other.plain public.composite public.plain public.uniq_nn" "$(known s2)" "s2 after add table list"
# A known table can still join a relgroup.
run_ok "$BUCARDO" add table public.plain db=s2 relgroup=rgs2
expect_equal "other.plain public.composite public.uniq_nn public.plain" \
    "$(sql bucardo "select string_agg(r.schemaname || '.' || r.relname, ' ' order by m.position)
                    from bucardo.relgroup_member m join bucardo.relation r on r.id = m.relation
                    where m.relgroup = 'rgs2'")" "relgroup rgs2 in order"
run_ok "$BUCARDO" add table "$WEIRD.$WEIRD" db=s2
expect_equal "Added table $WEIRD.$WEIRD" "$OUT" "add table WEIRD"
run_ok "$BUCARDO" add table MixedCase public.select "$LONG" 'tëst_表' db=s2
expect_equal "Added table public.MixedCase
Added table public.select
Added table public.$LONG
Added table public.tëst_表" "$OUT" "add table of hostile names"
expect_equal "other.plain public.MixedCase public.composite public.plain public.select public.$LONG public.tëst_表 public.uniq_nn $WEIRD.$WEIRD" \
    "$(known s2)" "s2 after hostile names"
expect_equal "$WEIRD|$WEIRD|{id}" \
    "$(sql bucardo "select schemaname, relname, pkey from bucardo.relation where db = 's2' and relname like 'we%'")" \
    "weird row stored verbatim"
run_ok "$BUCARDO" list tables '^public\.select$'
expect_equal 4 "$(printf '%s\n' "$OUT" | grep -c 'public.select ')" "list tables of public.select (s, fT, fpk, s2)"

# --- remove table
before=$(catalog_snapshot)
run_fail "$BUCARDO" remove table plain
expect_err 'ambiguous'
run_fail "$BUCARDO" remove table public.plain
expect_err 'ambiguous|db='
run_fail "$BUCARDO" remove table nosuch
run_fail "$BUCARDO" remove table public.plain db=nosuchdb
run_fail "$BUCARDO" remove table public.uniq_nn db=s2 public.nosuch db=s2
run_fail "$BUCARDO" remove table public.uniq_nn public.nosuch db=s2
run_fail "$BUCARDO" remove table db=s2
run_fail "$BUCARDO" remove table
unchanged "$before" "refused remove table"
run_ok "$BUCARDO" remove table public.plain db=s2
expect_out "^Removed (table )?public\.plain \(database s2\)$"
run_ok "$BUCARDO" remove table "$WEIRD.$WEIRD" public.select db=s2
expect_equal "other.plain public.MixedCase public.composite public.$LONG public.tëst_表 public.uniq_nn" \
    "$(known s2)" "s2 after remove table"
expect_equal "other.plain public.composite public.uniq_nn" \
    "$(sql bucardo "select string_agg(r.schemaname || '.' || r.relname, ' ' order by m.position)
                    from bucardo.relgroup_member m join bucardo.relation r on r.id = m.relation
                    where m.relgroup = 'rgs2'")" "relgroup rgs2 after remove table"
# A bare name is fine once it is unambiguous.
run_ok "$BUCARDO" remove table "$LONG" db=s2
run_ok "$BUCARDO" remove table x db=ft2
expect_equal "public.composite public.plain" "$(known ft2)" "ft2 after remove table x"

# --- nothing bucardo did dropped or changed a table of the real database.
expect_equal "$SRC_TABLES" "$(tables_of src)" "tables of src at the end"
expect_equal "t|t" "$(sql src "select to_regclass('public.x') is not null, to_regclass('public.plain') is not null")" \
    "public.x and public.plain still there"
echo "ok"
