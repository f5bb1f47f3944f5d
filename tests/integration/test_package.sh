#!/usr/bin/env bash
# The Debian package: built from this tree by CPack (`cpack -G DEB`, prefix
# /usr), installed with `dpkg -i` into a private root (dpkg --instdir and
# --admindir: this machine has Debian's Perl bucardo installed, which owns
# /usr/bin/bucardo and which the package Conflicts with/Replaces, and
# other tests run meanwhile; the private database holds the package's
# dependencies, copied from the machine's, so dpkg checks them).  Then the
# tutorial runs with the installed `bucardo`, `systemd-analyze verify`
# accepts the unit (and refuses a copy naming a missing binary: not a no-op),
# the man page renders, and `dpkg -r` then `dpkg -P` leave nothing behind.
# Needs root (dpkg); skips with a message otherwise.
. "$TESTS_DIR/lib/setup.sh"
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: test_package needs root (dpkg -i)"
    exit 0
fi
for tool in cpack dpkg dpkg-deb systemd-analyze; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
done
test_begin --no-install
SRC=$(cd "$TESTS_DIR/.." && pwd)

# --- build the package
B=$TEST_DIR/pkgbuild
run_ok cmake -S "$SRC" -B "$B" -DCMAKE_INSTALL_PREFIX=/usr -DBUCARDO_TESTS=OFF
run_ok cmake --build "$B" -j2
(cd "$B" && cpack -G DEB >"$TEST_DIR/cpack.out" 2>&1) || fail "cpack failed: $(tail -5 "$TEST_DIR/cpack.out")"
DEB=$(ls "$B"/*.deb 2>/dev/null | head -1)
[ -f "$DEB" ] || fail "cpack made no .deb: $(tail -5 "$TEST_DIR/cpack.out")"
contents=$(dpkg-deb -c "$DEB") || fail "dpkg-deb -c $DEB"
for f in ./usr/bin/bucardo ./usr/share/man/man1/bucardo.1.gz ./usr/lib/systemd/system/bucardo.service \
    ./etc/logrotate.d/bucardo ./usr/lib/sysusers.d/bucardo.conf; do
    printf '%s\n' "$contents" | grep -q " $f\$" || fail "the package lacks $f"
done
expect_equal "bucardo-c" "$(dpkg-deb -f "$DEB" Package)" "package name"
dpkg-deb -f "$DEB" Depends | grep -q libpq5 || fail "no dependency on libpq5: $(dpkg-deb -f "$DEB" Depends)"
dpkg-deb -f "$DEB" Conflicts | grep -qw bucardo || fail "no Conflicts: bucardo"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles | grep -qx /etc/logrotate.d/bucardo ||
    fail "/etc/logrotate.d/bucardo is not a conffile"

# --- a private dpkg root holding the package's dependencies
R=$TEST_DIR/root
A=$R/var/lib/dpkg
mkdir -p "$A/info" "$A/updates"
: >"$A/available"
: >"$A/status"
for p in $(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/(.*//; s/[[:space:]]//g'); do
    dpkg-query -s "$p" >>"$A/status" 2>/dev/null || fail "dependency $p is not installed here"
    echo >>"$A/status"
    : >"$A/info/$(dpkg-query -W -f='${binary:Package}' "$p").list"
done
DPKG=(dpkg --instdir="$R" --admindir="$A" --force-script-chrootless)
before=$(find "$R" -path "$A" -prune -o -print | sort)
run_ok "${DPKG[@]}" -i "$DEB"
expect_equal "install ok installed" "$(dpkg-query --admindir="$A" -W -f='${Status}' bucardo-c)" "status after dpkg -i"
BIN=$R/usr/bin/bucardo
[ -x "$BIN" ] || fail "no $BIN"
run_ok "$BIN" --version
expect_equal "bucardo version 5.6.0" "$OUT" "installed bucardo --version"

# --- the man page renders; the unit is valid
man -l "$R/usr/share/man/man1/bucardo.1.gz" 2>/dev/null | grep -q "bucardo reopen\|reopen" ||
    fail "the man page does not render"
UNIT=$R/usr/lib/systemd/system/bucardo.service
run_ok systemd-analyze verify "$UNIT"
# The same unit with this package's binary (the machine's /usr/bin/bucardo is Perl's).
mkdir -p "$TEST_DIR/unit"
sed "s|/usr/bin/bucardo|$BIN|" "$UNIT" >"$TEST_DIR/unit/bucardo.service"
run_ok systemd-analyze verify "$TEST_DIR/unit/bucardo.service"
grep -q '^Type=notify' "$UNIT" || fail "the unit is not Type=notify"
grep -q 'start --foreground' "$UNIT" || fail "the unit does not run the engine in the foreground"
sed "s|/usr/bin/bucardo|$TEST_DIR/no-such-bucardo|" "$UNIT" >"$TEST_DIR/unit/broken.service"
systemd-analyze verify "$TEST_DIR/unit/broken.service" >/dev/null 2>&1 &&
    fail "systemd-analyze verify accepted a broken unit: the check is a no-op"
grep -q "libsystemd.so.0" "$BIN" || fail "the installed binary does not load libsystemd (sd_notify)"

# --- the tutorial with the installed bucardo
mkdir -p "$TEST_DIR/piddir" "$TEST_DIR/logs"
echo "log-destination = $TEST_DIR/logs" >"$HOME/.bucardorc"
OUT=$(echo p | "$BIN" install --piddir="$TEST_DIR/piddir") || fail "install failed: $OUT"
expect_out "^Installation is now complete\.$"
run_ok createdb test1
run_ok createdb test2
run_ok pgbench -i -q test1
run_ok pgbench -i -q test2
run_ok "$BIN" add database test1 dbname=test1
run_ok "$BIN" add database test2 dbname=test2
run_ok "$BIN" add all tables db=test1 -T pgbench_history --relgroup=pgbench --verbose
expect_out "^New tables added: 3$"
run_ok "$BIN" add sync benchdelta relgroup=pgbench dbs=test1,test2
expect_out '^Added sync "benchdelta"$'
run_ok "$BIN" start
expect_out "^Starting Bucardo$"
run_ok psql -d test1 -c 'update pgbench_tellers set bid=999 where tid = 1'
wait_synced test1 test2 30 pgbench_accounts pgbench_branches pgbench_tellers
expect_equal "1|999|0|" "$(psql -d test2 -At -c 'select * from pgbench_tellers where tid = 1')" "tid 1 on test2"
run_ok "$BIN" status benchdelta
expect_out "^Rows deleted/inserted    : 1 / 1$"
run_ok "$BIN" reopen
run_ok "$BIN" stop
expect_out "Done"
grep -q "applied 1 change" "$TEST_DIR/logs/log.bucardo" || fail "the installed engine logged no applied change"

# --- remove, then purge: nothing left
run_ok "${DPKG[@]}" -r bucardo-c
[ -e "$BIN" ] && fail "dpkg -r left $BIN"
[ -f "$R/etc/logrotate.d/bucardo" ] || fail "dpkg -r removed the conffile (only purge should)"
run_ok "${DPKG[@]}" -P bucardo-c
expect_equal "" "$(dpkg-query --admindir="$A" -W -f='${Status}' bucardo-c 2>/dev/null)" "status after purge"
after=$(find "$R" -path "$A" -prune -o -print | sort)
expect_equal "$before" "$after" "files outside the dpkg database before dpkg -i and after dpkg -P"
ls "$A/info" | grep -q bucardo-c && fail "dpkg left bucardo-c's control files"
echo "PASS: $(basename "$DEB") built, installed, ran the tutorial, removed and purged"
