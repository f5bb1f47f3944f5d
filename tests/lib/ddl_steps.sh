# tests/lib/ddl_steps.sh - sourced by the DDL tests (test_ddl_running,
# test_ddl_idle): sync s from src to tgt, whose runs each step waits for.
#
# on DB SQL           - run SQL on DB; the test fails on an error.
# wait_bad REGEX      - a Bad run of s after the last one seen (SEEN), its
#                       error matching REGEX.
# wait_good TABLE...  - those tables equal on src and tgt, and a Good run of
#                       s after the last one seen.
on() { psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "$2" >/dev/null || fail "on $1: $2"; }
last_run() { sql bucardo "select id from bucardo.syncrun where sync = 's' order by id desc limit 1"; }
wait_bad() {
    wait_run s 30 "id > ${SEEN:-0} AND state = 'Bad' AND error ~ '$1'"
    SEEN=$(last_run)
}
wait_good() {
    wait_synced src tgt 30 "$@"
    wait_run s 30 "id > ${SEEN:-0} AND state = 'Good'"
    SEEN=$(last_run)
}
