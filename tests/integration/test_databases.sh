#!/usr/bin/env bash
# add / list / update / remove database: the connection settings given are
# the ones stored and shown; a database bucardo cannot reach is refused
# (unless --force) and leaves the catalog as it was; bad settings are
# refused; a database in use is kept unless --force.  The role "alice"
# really needs her password (scram over the socket), and that password must
# never appear in anything bucardo prints, successful or not.
. "$TESTS_DIR/lib/setup.sh"
test_begin

PW='Zq8-s3cr3t-Pw'        # alice's real password
WRONG='Wr0ng-Pa55-Xy'     # a wrong one: must not leak either
createdb a && createdb b || fail createdb
sql postgres "create role alice login password '$PW'" >/dev/null || fail "create role alice"
sql a "create table t1 (id int primary key); grant select on t1 to alice" >/dev/null || fail "create t1"
# Only alice must authenticate; everybody else keeps trust.
pg_as_owner "sed -i '1i local all alice scram-sha-256' '$TEST_DIR/data/pg_hba.conf'" || fail "pg_hba.conf"
sql postgres "select pg_reload_conf()" >/dev/null
for _ in $(seq 50); do
    psql -X -w -U alice -d a -c "select 1" >/dev/null 2>&1 || break
    sleep 0.1
done
psql -X -w -U alice -d a -c "select 1" >/dev/null 2>&1 && fail "alice can connect without a password"
PGPASSWORD=$PW psql -X -w -U alice -d a -c "select 1" >/dev/null 2>&1 || fail "alice cannot connect with her password"

# Every output of bucardo goes to the transcript, searched for the
# passwords at the end.
T="$TEST_DIR/transcript"
ok() { run_ok "$@"; printf '%s\n%s\n' "$OUT" "$ERR" >>"$T"; }
no() { run_fail "$@"; printf '%s\n%s\n' "$OUT" "$ERR" >>"$T"; }
# unchanged BEFORE WHAT - the catalog is exactly as it was.
unchanged() { expect_equal "$1" "$(catalog_snapshot)" "catalog after $2"; }
# row NAME - the stored settings of a database, NULL as empty.
row() { sql bucardo "select array_to_string(array[dbname, host, port, dbuser, dbpass, service, conn, status,
                     case when makedelta then 't' else 'f' end], '|', '') from bucardo.db where name = '$1'"; }

# --- add with every connection setting; the stored row is what was given.
ok "$BUCARDO" add database d1 dbname=a host="$PGHOST" port="$PGPORT" user=alice pass="$PW"
expect_equal 'Added database "d1"' "$OUT" "add database d1"
expect_equal "a|$PGHOST|$PGPORT|alice|$PW|||active|f" "$(row d1)" "row of d1"
ok "$BUCARDO" list dbs
expect_equal "Database: d1  Status: active  Conn: psql -p $PGPORT -U alice -d a -h $PGHOST" "$OUT" "list dbs"

# Aliases of the keys (dbhost, dbport, username, password) mean the same.
ok "$BUCARDO" add db d1b db=a dbhost="$PGHOST" dbport="$PGPORT" username=alice password="$PW" status=inactive makedelta=yes
expect_equal "a|$PGHOST|$PGPORT|alice|$PW|||inactive|t" "$(row d1b)" "row of d1b (aliases)"
# A password given inside conn= works too, and is not printed either.
ok "$BUCARDO" add db d1c dbname=a user=alice conn="password=$PW"
expect_equal "a|||alice|||password=$PW|active|f" "$(row d1c)" "row of d1c (conn=)"
# The defaults: user bucardo, libpq's host and port, active.
ok "$BUCARDO" add db d2 dbname=b
expect_equal "b|||bucardo||||active|f" "$(row d2)" "row of d2 (defaults)"
# Empty settings mean libpq's defaults: stored as NULL, not as ''.
ok "$BUCARDO" add db e1 dbname=b host= port= pass=
expect_equal "b|||bucardo||||active|f" "$(row e1)" "row of e1 (empty settings)"
ok "$BUCARDO" list dbs e1
expect_equal "Database: e1  Status: active  Conn: psql -U bucardo -d b" "$OUT" "list dbs e1"
ok "$BUCARDO" remove db e1
expect_equal "" "$(row e1)" "row of e1 after remove"
# A service from ~/.pg_service.conf: no dbname= needed.  Without user=,
# no user is stored: the service (or libpq's default) says who, as for
# the psql line that list dbs shows.
printf '[svc]\nhost=%s\nport=%s\ndbname=b\n' "$PGHOST" "$PGPORT" >"$HOME/.pg_service.conf"
ok "$BUCARDO" add db s1 service=svc
expect_equal "|||||svc||active|f" "$(row s1)" "row of s1 (service)"
# A service file (PGSERVICEFILE) naming its user: bucardo connects as that
# user, not as "bucardo" - here only carol may connect to database c.
createdb c || fail "createdb c"
sql postgres "create role carol login" >/dev/null || fail "create role carol"
pg_as_owner "sed -i '1i local c carol trust\nlocal c all reject' '$TEST_DIR/data/pg_hba.conf'" || fail "pg_hba.conf"
sql postgres "select pg_reload_conf()" >/dev/null
for _ in $(seq 50); do
    psql -X -w -U bucardo -d c -c "select 1" >/dev/null 2>&1 || break
    sleep 0.1
done
psql -X -w -U bucardo -d c -c "select 1" >/dev/null 2>&1 && fail "bucardo can connect to c"
printf '[carols]\nhost=%s\nport=%s\ndbname=c\nuser=carol\n' "$PGHOST" "$PGPORT" >"$TEST_DIR/services.conf"
ok env PGSERVICEFILE="$TEST_DIR/services.conf" "$BUCARDO" add db s2 service=carols
expect_equal 'Added database "s2"' "$OUT" "add db s2 (service with a user)"
expect_equal "|||||carols||active|f" "$(row s2)" "row of s2 (service with a user)"
# user= given with the service wins over the service's user: refused here.
before=$(catalog_snapshot)
no env PGSERVICEFILE="$TEST_DIR/services.conf" "$BUCARDO" add db s3 service=carols user=bucardo
expect_err 'database "s3" was not added: cannot connect to it'
unchanged "$before" "add db s3 service=carols user=bucardo"
ok "$BUCARDO" remove db s2
ok "$BUCARDO" list dbs
# (column padding aside)
expect_equal "Database: d1 Status: active Conn: psql -p $PGPORT -U alice -d a -h $PGHOST
Database: d1b Status: inactive Conn: psql -p $PGPORT -U alice -d a -h $PGHOST
Database: d1c Status: active Conn: psql -U alice -d a
Database: d2 Status: active Conn: psql -U bucardo -d b
Database: s1 Status: active Conn: PGSERVICE=svc psql" "$(printf '%s\n' "$OUT" | tr -s ' ')" "list dbs (5 databases)"
ok "$BUCARDO" list dbs '^d1'
expect_equal 3 "$(printf '%s\n' "$OUT" | grep -c '^Database: d1')" "list dbs ^d1"
ok "$BUCARDO" list all
expect_out "^Database: d1 "

# --- refused, and the catalog unchanged: unreachable, bad password,
# duplicate, bad values.
before=$(catalog_snapshot)
no timeout 10 "$BUCARDO" add db x1 dbname=a port=1
expect_err 'x1.*(not added|connect)'
unchanged "$before" "add db on a dead port"
no timeout 10 "$BUCARDO" add db x1 dbname=nonexistent
expect_err 'nonexistent'
unchanged "$before" "add db of a missing database"
no timeout 10 "$BUCARDO" add db x1 dbname=a host=/nonexistent/dir
unchanged "$before" "add db on a missing socket dir"
no timeout 10 "$BUCARDO" add db x1 dbname=a user=alice pass="$WRONG"
expect_err 'password authentication failed'
unchanged "$before" "add db with a wrong password"
no timeout 10 "$BUCARDO" add db x1 dbname=a user=alice
unchanged "$before" "add db without a needed password"
no timeout 10 "$BUCARDO" add db x1 dbname=a user=alice conn="password=$WRONG"
unchanged "$before" "add db with a wrong password in conn="
no "$BUCARDO" add db d1 dbname=b
expect_err 'already exists'
unchanged "$before" "add db of a duplicate name"
no "$BUCARDO" add db d1 dbname=a user=alice pass="$PW"
unchanged "$before" "add db of a duplicate name with a password"
for port in abc 0 -1 65536 99999 5432abc "1.5" "$PGPORT host=evil"; do
    no "$BUCARDO" add db x1 dbname=a port="$port"
    expect_err "port"
done
unchanged "$before" "add db with bad ports"
no "$BUCARDO" add db x1 dbname=a pass="$PW" port=abc
no "$BUCARDO" add db x1 dbname=a status=sleeping
expect_err status
no "$BUCARDO" add db x1 dbname=a makedelta=perhaps
no "$BUCARDO" add db x1 dbname=a type=mysql
no "$BUCARDO" add db x1 dbname=a dbname=b
no "$BUCARDO" add db x1 dbname=a db=b
no "$BUCARDO" add db x1 dbname=a user=
no "$BUCARDO" add db x1 dbname=a pass="$PW" pass="$WRONG"
no "$BUCARDO" add db x1 dbname=a pass="$PW" password="$WRONG"
no "$BUCARDO" add db x1 dbname=a pas="$PW"
no "$BUCARDO" add db x1 host="$PGHOST"
expect_err "dbname"
no "$BUCARDO" add db x1
no "$BUCARDO" add db
unchanged "$before" "add db with bad settings"

# --- --force skips the connection test: stored as given.
ok timeout 10 "$BUCARDO" add db far dbname=nonexistent port=1 --force
expect_equal "nonexistent||1|bucardo||||active|f" "$(row far)" "row of a forced database"
ok timeout 10 "$BUCARDO" add db far2 --force dbname=a user=alice pass="$WRONG"
expect_equal "a|||alice|$WRONG|||active|f" "$(row far2)" "row of a forced database with a wrong password"

# --- update: valid changes are stored (and tested); bad ones roll back.
ok "$BUCARDO" update db d2 dbname=a
expect_equal "a|||bucardo||||active|f" "$(row d2)" "d2 after update dbname"
ok "$BUCARDO" update db d2 host="$PGHOST" port="$PGPORT" status=inactive
expect_equal "a|$PGHOST|$PGPORT|bucardo||||inactive|f" "$(row d2)" "d2 after update host/port/status"
ok "$BUCARDO" update db d2 host= port= status=active
expect_equal "a|||bucardo||||active|f" "$(row d2)" "d2 after clearing host/port"
ok "$BUCARDO" update db far2 pass="$PW"
expect_equal "a|||alice|$PW|||active|f" "$(row far2)" "far2 after fixing the password"
ok "$BUCARDO" update db d1c conn="password=$PW application_name=x"
expect_equal "a|||alice|||password=$PW application_name=x|active|f" "$(row d1c)" "d1c after update conn="
before=$(catalog_snapshot)
no timeout 10 "$BUCARDO" update db d1 port=1
printf '%s\n' "$OUT" | grep -q Changed && fail "a failed update says it changed something: $OUT"
unchanged "$before" "update db to a dead port"
no timeout 10 "$BUCARDO" update db d1 dbname=nonexistent user=bucardo
unchanged "$before" "update db to a missing database"
no timeout 10 "$BUCARDO" update db d1 pass="$WRONG"
expect_err 'password authentication failed'
printf '%s\n' "$OUT" | grep -q Changed && fail "a failed update says it changed something: $OUT"
unchanged "$before" "update db with a wrong password"
no timeout 10 "$BUCARDO" update db d1 pass=
unchanged "$before" "update db removing a needed password"
no timeout 10 "$BUCARDO" update db d1c conn="password=$WRONG"
unchanged "$before" "update db with a wrong password in conn="
no "$BUCARDO" update db d1 port=abc
unchanged "$before" "update db with a bad port"
no "$BUCARDO" update db d1 pass="$PW" port=65536
no "$BUCARDO" update db d1 status=maybe
no "$BUCARDO" update db d1 dbname=a dbname=b
no "$BUCARDO" update db d1 name=d9
no "$BUCARDO" update db d1 justaword
no "$BUCARDO" update db d1
no "$BUCARDO" update db nosuchdb port=5432
expect_err 'nosuchdb'
unchanged "$before" "update db with bad settings"
# --force stores settings it cannot test.
ok "$BUCARDO" update db far port=2 --force
expect_equal "nonexistent||2|bucardo||||active|f" "$(row far)" "far after a forced update"

# --- multi form: alpha,beta with dbname=a,b; one list value for both.
ok "$BUCARDO" add db alpha,beta dbname=a,b
expect_equal 'Added database "alpha"
Added database "beta"' "$OUT" "add db alpha,beta"
expect_equal "alpha|a
beta|b" "$(sql bucardo "select name, dbname from bucardo.db where name in ('alpha', 'beta') order by name")" "alpha,beta rows"
ok "$BUCARDO" add db g1,g2 dbname=b user=bucardo
expect_equal "g1|b|bucardo
g2|b|bucardo" "$(sql bucardo "select name, dbname, dbuser from bucardo.db where name in ('g1', 'g2') order by name")" "g1,g2 rows"
before=$(catalog_snapshot)
no timeout 10 "$BUCARDO" add db m1,m2 dbname=a,nonexistent
unchanged "$before" "add db m1,m2 where m2 is unreachable"
no timeout 10 "$BUCARDO" add db m1,alpha dbname=a
unchanged "$before" "add db m1,alpha where alpha exists"
no timeout 10 "$BUCARDO" add db m1,m2 dbname=a,b,c
unchanged "$before" "add db m1,m2 with three dbnames"

# --- remove: refused while in a dbgroup or holding tables; --force clears.
ok "$BUCARDO" add dbgroup grp alpha:source beta:target
ok "$BUCARDO" add table public.t1 db=alpha relgroup=rg
expect_equal 1 "$(sql bucardo "select count(*) from bucardo.relation where db = 'alpha'")" "alpha's table"
before=$(catalog_snapshot)
no "$BUCARDO" remove db alpha
expect_err 'grp'
unchanged "$before" "remove db alpha (in a dbgroup)"
no "$BUCARDO" remove db g1 alpha
unchanged "$before" "remove db g1 alpha (alpha in use)"
expect_equal 1 "$(sql bucardo "select count(*) from bucardo.db where name = 'g1'")" "g1 after a failed multi remove"
no "$BUCARDO" remove db nosuchdb
expect_err 'nosuchdb'
no "$BUCARDO" remove db
unchanged "$before" "remove of nothing"
ok "$BUCARDO" remove db alpha --force
expect_equal 'Removed database "alpha"' "$OUT" "remove db alpha --force"
expect_equal "0|0|0|0" "$(sql bucardo "select (select count(*) from bucardo.db where name = 'alpha'),
    (select count(*) from bucardo.dbgroup_member where db = 'alpha'),
    (select count(*) from bucardo.relation where db = 'alpha'),
    (select count(*) from bucardo.relgroup_member)")" "alpha after remove --force"
expect_equal "grp|beta|target" "$(sql bucardo "select dbgroup, db, role from bucardo.dbgroup_member")" "dbgroup grp after remove"
no "$BUCARDO" remove db beta
ok "$BUCARDO" remove db g1 g2 far
expect_equal "beta d1 d1b d1c d2 far2 s1" "$(sql bucardo "select string_agg(name, ' ' order by name) from bucardo.db")" \
    "databases after removals"
ok "$BUCARDO" remove dbgroup grp
ok "$BUCARDO" remove db beta
expect_equal 0 "$(sql bucardo "select count(*) from bucardo.db where name = 'beta'")" "beta after its dbgroup went"

# --- a server that accepts the connection and never answers (as a host
# that drops packets would): connecting gives up after 10 s instead of
# hanging, and the catalog is unchanged.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' >"$TEST_DIR/mute.port" &
mute=$!
until [ -s "$TEST_DIR/mute.port" ]; do sleep 0.05; done
before=$(catalog_snapshot)
t0=$(date +%s)
no timeout 60 "$BUCARDO" add database mute dbname=x host=127.0.0.1 port="$(cat "$TEST_DIR/mute.port")"
took=$(( $(date +%s) - t0 ))
kill $mute
[ "$took" -ge 9 ] && [ "$took" -le 30 ] || fail "connecting to a mute server took $took s (expected about 10)"
expect_err "timeout"
unchanged "$before" "add database to a mute server"

# --- the passwords never appeared in anything bucardo printed.
[ "$(wc -l <"$T")" -gt 100 ] || fail "transcript too short"
grep -F -- "$PW" "$T" && fail "the password appears in bucardo's output"
grep -F -- "$WRONG" "$T" && fail "the wrong password appears in bucardo's output"
echo "ok"
