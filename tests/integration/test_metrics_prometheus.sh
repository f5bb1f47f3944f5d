#!/usr/bin/env bash
# The engine's Prometheus endpoint (metrics_listen), scraped by a real
# Prometheus server (Debian's prometheus, started here with its config and
# data in the test's directory, scraping every second).  A PromQL query
# through Prometheus' HTTP API returns the lag of a sync that falls behind
# (its target table locked past lock_timeout while the source changes):
# it grows with the time the change waits, the backlog shows the keys
# waiting, and both return to about zero once the lock is gone and the
# target equals the source.  Rows applied and errors are counted.
. "$TESTS_DIR/lib/setup.sh"
test_begin
PROM_PID=
cleanup() {
    [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
    pg_stop_cluster
}
trap cleanup EXIT
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

test_databases "CREATE TABLE items (id int PRIMARY KEY, v text);" src tgt
test_sync s1 rg src:source,tgt:target
MPORT=$(free_port)
run_fail "$BUCARDO" set metrics_listen=localhost:http
expect_err 'expected PORT, HOST:PORT'
run_ok "$BUCARDO" set metrics_listen=127.0.0.1:"$MPORT" retry_delay=0.5 retry_delay_max=1 lock_timeout=500ms
run_ok "$BUCARDO" start
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$TEST_DIR/scrape.txt" || fail "the endpoint does not answer"
grep -q '^bucardo_sync_lag_seconds{sync="s1"} ' "$TEST_DIR/scrape.txt" || fail "no lag of s1: $(head -40 "$TEST_DIR/scrape.txt")"
grep -q '^bucardo_engine_resident_bytes [1-9]' "$TEST_DIR/scrape.txt" || fail "no engine RSS"
grep -q '^bucardo_member_behind{sync="s1",member="tgt",role="target"} 0' "$TEST_DIR/scrape.txt" ||
    fail "no member state: $(grep member "$TEST_DIR/scrape.txt")"

PPORT=$(free_port)
mkdir -p "$TEST_DIR/prom"
cat >"$TEST_DIR/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: bucardo
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
/usr/bin/prometheus --config.file="$TEST_DIR/prom/prometheus.yml" --storage.tsdb.path="$TEST_DIR/prom/data" \
    --web.listen-address=127.0.0.1:"$PPORT" --log.level=warn >"$TEST_DIR/prom/prometheus.log" 2>&1 &
PROM_PID=$!
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null || fail "prometheus did not start: $(cat "$TEST_DIR/prom/prometheus.log")"

# promql QUERY - the first sample's value of an instant query ("" when none).
promql() {
    curl -sf "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
        /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
r = d["data"]["result"]
print(r[0]["value"][1] if d["status"] == "success" and r else "")'
}
# wait_promql QUERY PYTHON_CONDITION TIMEOUT - until the value v satisfies it; prints v.
wait_promql() {
    local deadline=$(( $(date +%s) + $3 )) v
    while :; do
        v=$(promql "$1")
        [ -n "$v" ] && /usr/bin/python3 -c "import sys; v = float(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$v" &&
            { echo "$v"; return 0; }
        [ "$(date +%s)" -ge "$deadline" ] && fail "PromQL $1: $v does not satisfy $2 after $3 s"
        sleep 0.5
    done
}

psql -X -q -d src -c "INSERT INTO items SELECT i, 'v' || i FROM generate_series(1, 500) i" || fail "rows"
wait_synced src tgt 20 items
applied=$(wait_promql 'sum(bucardo_sync_rows_applied_total{sync="s1",kind="insert"})' 'v >= 500' 20)
echo "rows applied (insert) seen by prometheus: $applied"
wait_promql 'bucardo_sync_lag_seconds{sync="s1"}' 'v < 1' 20 >/dev/null

# The target is locked: the sync fails and falls behind.
psql -X -q -d tgt -c "BEGIN; LOCK TABLE items IN EXCLUSIVE MODE; SELECT pg_sleep(300)" >/dev/null 2>&1 &
HOLD=$!
until [ "$(sql tgt "select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'items' and l.mode = 'ExclusiveLock' and l.granted")" = 1 ]; do
    sleep 0.05
done
t0=$(date +%s.%N)
psql -X -q -d src -c "UPDATE items SET v = 'late' WHERE id <= 42" || fail "change while locked"
lag=$(wait_promql 'bucardo_sync_lag_seconds{sync="s1"}' 'v >= 6' 30)
waited=$(/usr/bin/python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$t0")
echo "lag while the target is locked: ${lag}s (the change has waited ${waited}s)"
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) + 2 else 1)" "$lag" "$waited" ||
    fail "lag $lag is more than the change waited ($waited s)"
backlog=$(wait_promql 'sum(bucardo_table_backlog_keys{sync="s1",table="public.items"})' 'v == 42' 10)
errors=$(wait_promql 'bucardo_sync_errors_total{sync="s1"}' 'v >= 1' 10)
member=$(wait_promql 'bucardo_member_lag_seconds{sync="s1",member="tgt"}' 'v >= 6' 10)
echo "backlog $backlog keys, $errors failed cycles, member tgt lag ${member}s"
[ "$(table_digest src items)" != "$(table_digest tgt items)" ] || fail "the target got the change through the lock?"

# Caught up: the target equals the source, and the lag is about zero again.
sql tgt "select pg_terminate_backend(pid) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'items' and l.mode = 'ExclusiveLock'" >/dev/null
wait "$HOLD" 2>/dev/null
wait_synced src tgt 20 items
lag=$(wait_promql 'bucardo_sync_lag_seconds{sync="s1"}' 'v < 1' 20)
backlog=$(wait_promql 'sum(bucardo_table_backlog_keys{sync="s1"})' 'v == 0' 10)
wait_promql 'bucardo_member_lag_seconds{sync="s1",member="tgt"}' 'v < 1' 10 >/dev/null
echo "after catch-up: lag ${lag}s, backlog $backlog"

curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/other" | grep -q 404 || fail "a wrong path is not a 404"
# Prometheus keeps its connection open: the stop does not wait for it.
start=$(date +%s)
run_ok "$BUCARDO" stop
took=$(( $(date +%s) - start ))
[ "$took" -le 10 ] || fail "stop took $took s"
curl -sf "http://127.0.0.1:$MPORT/metrics" >/dev/null 2>&1 && fail "the endpoint still answers after stop"

# A taken address stops the start with its reason.
/usr/bin/python3 -c 'import socket, time, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$MPORT" &
BLOCK=$!
until ss -ltn | grep -q "127.0.0.1:$MPORT "; do sleep 0.1; done
run_fail "$BUCARDO" start
expect_err "metrics_listen 127.0.0.1:$MPORT: cannot listen there"
kill "$BLOCK"
wait "$BLOCK" 2>/dev/null
echo ok
