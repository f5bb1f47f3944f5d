#!/usr/bin/env bash
# One sync from a PostgreSQL source into a PostgreSQL target and one target
# of every other kind at once - MariaDB, SQLite, Redis, flatpg and flatsql
# (the servers started here, in the test's dir) - through a random
# workload with autokick: inserts, updates, key changes, deletes and a
# truncate, on a table with a one-column key and one with a two-column
# key.  Then every target is read back and must hold exactly the source's
# rows: MariaDB and SQLite by their clients, Redis hash by hash in
# Bucardo's layout (<table>:<key>, one field per non-NULL non-key column), the
# flat files replayed with psql into empty databases, in order.
. "$TESTS_DIR/lib/setup.sh"
. "$TESTS_DIR/lib/servers.sh"
test_begin
mariadb_start my
redis_start rd
SCHEMA="CREATE TABLE acct (id int PRIMARY KEY, bid int, balance int, filler text);
        CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b))"
test_databases "$SCHEMA" src pgt replay_pg replay_sql
mariadb_sql my "CREATE TABLE acct (id int PRIMARY KEY, bid int, balance int, filler text);
                CREATE TABLE pairs (a int, b varchar(40), v text, PRIMARY KEY (a, b))" || fail "MariaDB tables"
LITE=$TEST_DIR/lite.db
sqlite3 "$LITE" "CREATE TABLE acct (id integer PRIMARY KEY, bid integer, balance integer, filler text);
                 CREATE TABLE pairs (a integer, b text, v text, PRIMARY KEY (a, b));" || fail "SQLite tables"
mkdir -p "$TEST_DIR/flat"
run_ok "$BUCARDO" set flatfile_dir="$TEST_DIR/flat"
run_ok "$BUCARDO" add db my type=mariadb dbname=db host="$MARIADB_SOCK" user=root
run_ok "$BUCARDO" add db lite type=sqlite dbname="$LITE"
run_ok "$BUCARDO" add db rd type=redis host=127.0.0.1 port="$REDIS_PORT"
run_ok "$BUCARDO" add db fpg type=flatpg
run_ok "$BUCARDO" add db fsql type=flatsql
# list dbs: each kind with its own client's connection line, as Bucardo
run_ok "$BUCARDO" list dbs
expect_out "^Database: my +Type: mariadb +Status: active  Conn: mysql -u root -D db -h $MARIADB_SOCK\$"
expect_out "^Database: rd +Type: redis +Status: active  Conn: redis-cli -h 127.0.0.1 -p $REDIS_PORT\$"
expect_out "^Database: lite +Type: sqlite +Status: active  Conn: sqlite3 $LITE\$"
run_ok "$BUCARDO" add all tables db=src relgroup=rg
run_ok "$BUCARDO" add sync s relgroup=rg dbs=src:source,pgt:target,my:target,lite:target,rd:target,fpg:target,fsql:target
run_ok "$BUCARDO" start

sql src "INSERT INTO acct SELECT i, i % 10, 0, 'filler ' || i FROM generate_series(1, 2000) i;
         INSERT INTO pairs SELECT i % 50, 'b' || i, 'v' || i FROM generate_series(1, 500) i" >/dev/null
for round in $(seq 1 15); do
    sql src "SELECT setseed($round / 100.0);
             INSERT INTO acct SELECT 2000 + $round * 100 + i, i % 10, (random() * 1000)::int,
                    CASE WHEN random() < 0.2 THEN NULL ELSE 'new ' || i END FROM generate_series(1, 50) i;
             UPDATE acct SET balance = balance + (random() * 100)::int WHERE random() < 0.1;
             UPDATE acct SET filler = NULL WHERE random() < 0.02;
             UPDATE acct SET id = id + 100000 WHERE id IN (SELECT id FROM acct WHERE id < 100000 ORDER BY random() LIMIT 5);
             DELETE FROM acct WHERE random() < 0.02;
             UPDATE pairs SET b = b || 'x' WHERE random() < 0.05;
             UPDATE pairs SET v = NULL WHERE random() < 0.02;
             DELETE FROM pairs WHERE random() < 0.02;
             INSERT INTO pairs SELECT $round, 'r' || i, 'w' || i FROM generate_series(1, 10) i ON CONFLICT DO NOTHING" >/dev/null ||
        fail "workload round $round"
    [ "$round" = 8 ] && { sql src "TRUNCATE pairs; INSERT INTO pairs VALUES (1, 'after', 'truncate')" >/dev/null; }
    sleep 0.2
done
run_ok "$BUCARDO" kick s 60
expect_out DONE

ACCT_SQL="SELECT concat_ws('|', id, bid, balance, coalesce(filler, 'N')) FROM acct ORDER BY id"
PAIRS_SQL="SELECT concat_ws('|', a, b, coalesce(v, 'N')) FROM pairs ORDER BY a, b"
src_acct=$(sql src "$ACCT_SQL")
src_pairs=$(sql src "$PAIRS_SQL" | LC_ALL=C sort)
[ "$(printf '%s\n' "$src_acct" | wc -l)" -gt 2000 ] || fail "the workload left too few rows"

wait_synced src pgt 60 acct pairs
for _ in $(seq 100); do
    [ "$(mariadb_sql my "$ACCT_SQL")" = "$src_acct" ] && break
    sleep 0.2
done
expect_equal "$src_acct" "$(mariadb_sql my "$ACCT_SQL")" "MariaDB acct"
expect_equal "$src_pairs" "$(mariadb_sql my "$PAIRS_SQL" | LC_ALL=C sort)" "MariaDB pairs"
LITE_ACCT="SELECT id || '|' || coalesce(bid, 'N') || '|' || coalesce(balance, 'N') || '|' || coalesce(filler, 'N') FROM acct ORDER BY id"
LITE_PAIRS="SELECT a || '|' || b || '|' || coalesce(v, 'N') FROM pairs"
expect_equal "$src_acct" "$(sqlite3 "$LITE" "$LITE_ACCT")" "SQLite acct"
expect_equal "$src_pairs" "$(sqlite3 "$LITE" "$LITE_PAIRS" | LC_ALL=C sort)" "SQLite pairs"

# Redis: every hash of a table, "key|field=value|..." with the fields sorted.
REDIS_DUMP="local out = {}
for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
    local h = redis.call('HGETALL', k)
    local f = {}
    for i = 1, #h, 2 do f[#f + 1] = h[i] .. '=' .. h[i + 1] end
    table.sort(f)
    out[#out + 1] = k .. '|' .. table.concat(f, '|')
end
return out"
redis_rows() { redis_cli rd --raw EVAL "$REDIS_DUMP" 0 "$1" | LC_ALL=C sort; }
src_redis_acct=$(sql src "SELECT 'acct:' || id || '|' || concat_ws('|', 'balance=' || balance, 'bid=' || bid, 'filler=' || filler) FROM acct" | LC_ALL=C sort)
# (a row without a non-NULL non-key column holds its key columns instead)
src_redis_pairs=$(sql src "SELECT 'pairs:' || a || ':' || b || coalesce('|v=' || v, '|a=' || a || '|b=' || b) FROM pairs" | LC_ALL=C sort)
expect_equal "$src_redis_acct" "$(redis_rows 'acct:*')" "Redis acct"
expect_equal "$src_redis_pairs" "$(redis_rows 'pairs:*')" "Redis pairs"

ls "$TEST_DIR/flat" | grep -q '\.tmp$' && fail "a .tmp file is left in flatfile_dir"
for f in $(ls "$TEST_DIR/flat" | sort -t. -k5,5 -k6,6n); do
    case $f in
    *.fpg.*) db=replay_pg ;;
    *.fsql.*) db=replay_sql ;;
    esac
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$TEST_DIR/flat/$f" >/dev/null || fail "replaying $f into $db"
done
expect_equal "$src_acct" "$(sql replay_pg "$ACCT_SQL")" "flatpg acct"
expect_equal "$src_pairs" "$(sql replay_pg "$PAIRS_SQL" | LC_ALL=C sort)" "flatpg pairs"
expect_equal "$src_acct" "$(sql replay_sql "$ACCT_SQL")" "flatsql acct"
expect_equal "$src_pairs" "$(sql replay_sql "$PAIRS_SQL" | LC_ALL=C sort)" "flatsql pairs"

# The Redis server killed in the middle of a large cycle and started again
# (its append-only file keeps what EXEC committed): nothing lost, nothing doubled.
sql src "INSERT INTO acct SELECT i, i % 10, i, repeat('y', 100) FROM generate_series(500000, 540000) i" >/dev/null
sleep 0.3
redis_stop rd
sql src "UPDATE acct SET balance = -1 WHERE id % 1000 = 0; DELETE FROM acct WHERE id BETWEEN 520000 AND 520100" >/dev/null
sleep 2
redis_restart rd
nacct=$(sql src "select count(*) from acct")
for _ in $(seq 300); do
    [ "$(redis_cli rd DBSIZE)" = "$((nacct + $(sql src "select count(*) from pairs")))" ] &&
        [ "$(redis_cli rd HGET acct:540000 balance)" = "-1" ] && break
    sleep 0.3
done
src_redis_acct=$(sql src "SELECT 'acct:' || id || '|' || concat_ws('|', 'balance=' || balance, 'bid=' || bid, 'filler=' || filler) FROM acct" | LC_ALL=C sort)
expect_equal "$(printf '%s\n' "$src_redis_acct" | md5sum)" "$(redis_rows 'acct:*' | md5sum)" "Redis acct after its outage"
expect_equal "$nacct" "$(redis_cli rd EVAL "return #redis.call('KEYS', 'acct:*')" 0)" "Redis key count after its outage"
run_ok "$BUCARDO" stop
echo ok
