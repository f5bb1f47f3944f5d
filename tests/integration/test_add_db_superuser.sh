#!/usr/bin/env bash
# add database without user= on a server that has no "bucardo" role yet
# (Bucardo's fallback): connect as postgres, create the bucardo superuser,
# and add the database as bucardo.  A user given explicitly is never
# replaced, and nothing is created for it.
. "$TESTS_DIR/lib/setup.sh"
test_begin --second-cluster
role_on_2() { psql -X -q -At -h "$PGHOST2" -p "$PGPORT2" -d postgres -c "select count(*) from pg_roles where rolname = '$1'"; }
expect_equal "0" "$(role_on_2 bucardo)" "no bucardo role on the second server"
before=$(catalog_snapshot)
run_fail "$BUCARDO" add database r2 dbname=postgres host="$PGHOST2" port="$PGPORT2" user=nobody_here
expect_err 'role "nobody_here" does not exist'
unchanged_after=$(catalog_snapshot)
expect_equal "$before" "$unchanged_after" "catalog after a refused add"
expect_equal "0" "$(role_on_2 bucardo)" "nothing created for an explicit user"
run_ok "$BUCARDO" add database r2 dbname=postgres host="$PGHOST2" port="$PGPORT2"
expect_out '^Created superuser "bucardo" on the server of database "r2" \(connected as postgres\)$'
expect_out '^Added database "r2"$'
expect_equal "1|t" "$(psql -X -q -At -h "$PGHOST2" -p "$PGPORT2" -d postgres -c "select concat_ws('|', count(*), bool_and(rolsuper)) from pg_roles where rolname = 'bucardo'")" "bucardo superuser on the second server"
expect_equal "bucardo" "$(sql bucardo "select dbuser from bucardo.db where name = 'r2'")" "r2 connects as bucardo"
echo ok
