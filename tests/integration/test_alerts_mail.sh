#!/usr/bin/env bash
# Mail alerts through a real SMTP server (Debian's python3-aiosmtpd, started
# here on a free port, with AUTH): the engine mails its start and stop with
# their reasons, a sync made to fail (its target table locked past
# lock_timeout) and its recovery, its lag passing overdue and expired and
# coming back, a member left behind (its database refusing connections)
# and caught up; a sync flapping Bad/Good many times sends
# at most one mail per email_interval, the last one giving its final state;
# email_debug_file gets a copy of every mail; the SMTP password is in no
# log, listing or mail.  Then the SMTP server dies: the sync replicates as
# before and the engine still stops promptly.
. "$TESTS_DIR/lib/setup.sh"
test_begin
PY=/usr/bin/python3 # Debian's python3, which has aiosmtpd
MAILDIR=$TEST_DIR/mail
SINK_PID=
cleanup() {
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null
    pg_stop_cluster
}
trap cleanup EXIT
"$PY" "$TESTS_DIR/lib/smtp_sink.py" "$MAILDIR" --user alerts --password 'Pa55-w0rd!' 2>"$TEST_DIR/sink.err" &
SINK_PID=$!
for _ in $(seq 100); do [ -f "$MAILDIR/port" ] && break; sleep 0.1; done
[ -f "$MAILDIR/port" ] || fail "the SMTP server did not start: $(cat "$TEST_DIR/sink.err")"
SMTP_PORT=$(cat "$MAILDIR/port")

test_databases "CREATE TABLE items (id int PRIMARY KEY, v text);" src tgt tgt2
test_sync s1 rg src:source,tgt:target,tgt2:target overdue='3 seconds' expired='6 seconds'
INTERVAL=6
run_ok "$BUCARDO" set default_email_to=dba@example.com default_email_from=bucardo@example.com \
    default_email_host=127.0.0.1 default_email_port="$SMTP_PORT" email_auth_user=alerts \
    "email_auth_pass=Pa55-w0rd!" email_tls=off email_interval=$INTERVAL \
    email_debug_file="$TEST_DIR/mail.debug" retry_delay=0.5 retry_delay_max=0.5 lock_timeout=500ms
run_fail "$BUCARDO" set email_tls=sometimes
expect_err 'expected one of off, try, starttls, smtps'
run_ok "$BUCARDO" show email_auth_pass
expect_out '^email_auth_pass = \*\*\*\*\*\*\*\*$'
expect_no 'Pa55'

# mails - the messages received so far, one file each.
mails() { ls "$MAILDIR"/*.eml 2>/dev/null; }
nmails() { mails | wc -l; }
# wait_mail TIMEOUT PATTERN - until a mail's Subject matches PATTERN; prints its file.
wait_mail() {
    local deadline=$(( $(date +%s) + $1 )) f
    while :; do
        for f in $(mails); do
            grep -Eq "^Subject: .*$2" "$f" && { echo "$f"; return 0; }
        done
        [ "$(date +%s)" -ge "$deadline" ] && fail "no mail with subject matching '$2' after $1 s; subjects:
$(grep -h '^Subject:' $(mails) /dev/null)"
        sleep 0.2
    done
}

run_ok "$BUCARDO" start "nightly maintenance done"
m=$(wait_mail 20 'Bucardo started')
grep -q '^Reason: nightly maintenance done' "$m" || fail "start mail without the reason: $(cat "$m")"
grep -q '^X-Envelope-To: dba@example.com' "$m" || fail "start mail not to default_email_to: $(cat "$m")"
grep -q '^From: bucardo@example.com' "$m" || fail "start mail not from default_email_from: $(cat "$m")"
[ "$(wc -l <"$MAILDIR/auth.log")" -ge 1 ] || fail "the engine did not authenticate (email_auth_user)"

psql -X -q -d src -c "INSERT INTO items SELECT i, 'v' || i FROM generate_series(1, 100) i" || fail "rows"
wait_synced src tgt 20 items

# hold_table - lock tgt.items against writes (reads go on) in a background
# session until release_table.
# wait_text TIMEOUT REGEX - until a mail's text matches REGEX; prints its file.
wait_text() {
    local deadline=$(( $(date +%s) + $1 )) f
    while :; do
        for f in $(mails); do
            grep -Eq "$2" "$f" && { echo "$f"; return 0; }
        done
        [ "$(date +%s)" -ge "$deadline" ] && fail "no mail matching '$2' after $1 s; mails:
$(cat $(mails) /dev/null)"
        sleep 0.2
    done
}

hold_table() {
    psql -X -q -d tgt -c "BEGIN; LOCK TABLE items IN EXCLUSIVE MODE; SELECT pg_sleep(300)" >/dev/null 2>&1 &
    HOLD=$!
    until [ "$(sql tgt "select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'items' and l.mode = 'ExclusiveLock' and l.granted")" = 1 ]; do
        sleep 0.05
    done
}
release_table() {
    sql tgt "select pg_terminate_backend(pid) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'items' and l.mode = 'ExclusiveLock'" >/dev/null
    wait "$HOLD" 2>/dev/null
}
last_id() { sql bucardo "select coalesce(max(id), 0) from bucardo.syncrun where sync = 's1'"; }

# 1. The sync fails: one mail, naming the error; it stays Bad past overdue
# and expired; then it recovers.  The alerts after the first are held and
# come at most one mail per interval, the last one's subject giving the
# last state.
hold_table
before=$(last_id)
t0=$(date +%s)
psql -X -q -d src -c "UPDATE items SET v = 'failing' WHERE id <= 10" || fail "change 1"
wait_run s1 20 "id > $before AND state = 'Bad'"
# (The lag may pass overdue before the first cycle fails: then the Bad
# alert is held, and comes in the next mail.)
m=$(wait_text 20 '^Subject: .*sync s1 is Bad|^[-0-9]+ [0-9:]+  Bad: ')
grep -qi 'lock' "$m" || fail "the Bad alert does not give the error: $(cat "$m")"
while [ $(( $(date +%s) - t0 )) -lt 8 ]; do sleep 0.5; done
release_table
wait_synced src tgt 20 items
m=$(wait_mail $((INTERVAL + 10)) 'sync s1 is on time again')
echo "recovery mail: $(grep '^Subject:' "$m")"
for what in 'overdue: the oldest change not applied is [3-9] s old' 'expired: the oldest change not applied is [6-9] s old' \
    'Good: a cycle completed' 'on time: the oldest change not applied is 0 s old'; do
    grep -Eq "^[-0-9]+ [0-9:]+  $what" $(mails) || fail "no mail lists '$what': $(cat $(mails))"
done
# No thresholds from here on: the flapping below is about Bad and Good.
run_ok "$BUCARDO" update sync s1 overdue=0 expired=0
wait_synced src tgt2 20 items

# 1b. A member cannot be reached: it is left behind (the sync stays Good),
# one mail says so; back, it catches up, and the next mail says that.
sleep $((INTERVAL + 1))
psql -X -q -d postgres -c "ALTER DATABASE tgt2 ALLOW_CONNECTIONS false" || fail "tgt2 offline"
sql postgres "select pg_terminate_backend(pid) from pg_stat_activity where datname = 'tgt2'" >/dev/null
psql -X -q -d src -c "UPDATE items SET v = 'tgt2 away' WHERE id BETWEEN 20 AND 29" || fail "change for tgt2"
wait_synced src tgt 20 items
m=$(wait_mail 20 'sync s1 left a member behind')
grep -q 'tgt2' "$m" || fail "the member-behind mail does not name tgt2: $(cat "$m")"
psql -X -q -d postgres -c "ALTER DATABASE tgt2 ALLOW_CONNECTIONS true" || fail "tgt2 online"
wait_synced src tgt2 30 items
m=$(wait_mail $((INTERVAL + 10)) 'sync s1 has every member caught up')
echo "member mails: left behind, then $(grep '^Subject:' "$m")"

# 2. Flapping: Bad and Good again, many times within a few intervals.
sleep $((INTERVAL + 1)) # the flood window of the mails above is over
n0=$(nmails)
t0=$(date +%s)
before=$(last_id)
for i in 1 2 3 4 5 6; do
    hold_table
    b=$(last_id)
    psql -X -q -d src -c "UPDATE items SET v = 'flap $i' WHERE id = $i" || fail "flap $i"
    wait_run s1 20 "id > $b AND state = 'Bad'"
    release_table
    wait_synced src tgt 20 items
done
wait_synced src tgt2 20 items
t1=$(date +%s)
transitions=$(sql bucardo "select count(*) from (select state, lag(state) over (order by id) p from bucardo.syncrun
                            where sync = 's1' and id > $before and state in ('Good', 'Bad')) x where p is distinct from state")
# Every held alert is out one interval after the last mail at the latest.
sleep $((INTERVAL + 3))
sent=$(( $(nmails) - n0 ))
limit=$(( (t1 - t0) / INTERVAL + 2 ))
echo "flapping: $transitions state changes in $((t1 - t0)) s, $sent mail(s) (limit $limit, email_interval $INTERVAL s)"
[ "$transitions" -ge 10 ] || fail "the sync did not flap enough to test the limit ($transitions changes)"
[ "$sent" -ge 1 ] && [ "$sent" -le "$limit" ] && [ "$sent" -lt "$transitions" ] || fail "$sent mails for $transitions changes in $((t1 - t0)) s (limit $limit)"
lastmail=$(mails | tail -1)
grep -q '^Subject: .*sync s1 is Good again' "$lastmail" || fail "the last mail does not give the final state (Good): $(grep '^Subject' "$lastmail")"
grep -q 'held by the flood limit' "$lastmail" || fail "the last mail is not a digest: $(cat "$lastmail")"
wait_synced src tgt 5 items

# 3. The SMTP server dies: replication goes on at its usual pace.
kill "$SINK_PID"
wait "$SINK_PID" 2>/dev/null
SINK_PID=
hold_table
b=$(last_id)
psql -X -q -d src -c "UPDATE items SET v = 'no mail server' WHERE id > 50" || fail "change without smtp"
wait_run s1 20 "id > $b AND state = 'Bad'"
release_table
start=$(date +%s)
wait_synced src tgt 10 items
psql -X -q -d src -c "INSERT INTO items VALUES (1000, 'after')" || fail "insert without smtp"
wait_synced src tgt 10 items
echo "replicated without a mail server in $(( $(date +%s) - start )) s"

# Stop: the stop mail cannot go, and the stop does not wait long for it.
start=$(date +%s)
run_ok "$BUCARDO" stop "end of test"
took=$(( $(date +%s) - start ))
[ "$took" -le 25 ] || fail "stop took $took s with a dead mail server"
grep -q 'not sent' log.bucardo || fail "no log line for the mails that could not be sent"

# The debug file has every mail the server got, and more (those it could not).
got=$(nmails)
copies=$(grep -c '^X-Bucardo: alert' "$TEST_DIR/mail.debug")
[ "$copies" -gt "$got" ] || fail "email_debug_file has $copies mails, the server got $got (and some failed)"
grep -q 'Reason: end of test' "$TEST_DIR/mail.debug" || fail "the stop mail (with its reason) is not in email_debug_file"
! grep -q 'Pa55-w0rd' log.bucardo "$TEST_DIR/mail.debug" $(mails) || fail "the SMTP password leaked"
echo "ok: $got mails received, $copies in email_debug_file"
