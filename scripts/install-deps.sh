#!/usr/bin/env bash
# scripts/install-deps.sh - install exactly the Debian packages bucardo needs
# to build, test and benchmark; does nothing when they are all present.
# libclang-rt-14-dev holds the sanitizer runtimes of the ASan/TSan builds
# (clang only recommends it); valgrind is for bench/capture_cost.sh.
set -euo pipefail

PACKAGES=(
    gcc clang clang-format libclang-rt-14-dev make cmake pkg-config
    libpq-dev liburcu-dev libxxhash-dev libcmocka-dev
    postgresql-15 postgresql-client-15
    python3 time
    valgrind
    # customcode (JSON, the Perl runner), alerts and metrics, logging, package
    libjson-c-dev perl libdbd-pg-perl libcurl4-openssl-dev libmicrohttpd-dev
    python3-aiosmtpd prometheus curl logrotate systemd dpkg-dev
    # the migration from Bucardo 5 and the comparisons against Bucardo 5.6
    bucardo postgresql-plperl-15
    # targets other than PostgreSQL (engine/drivers/) and their tests' servers
    libsqlite3-dev sqlite3 libmariadb-dev mariadb-server mariadb-client
    libhiredis-dev redis-server
    # the Firebird target (libfbclient, ibase.h) and its test's server and isql-fb
    firebird-dev firebird3.0-server firebird3.0-utils
    # bench/mariadb_bench.sh --bucardo56: Bucardo 5.6 reaches MariaDB through DBD::mysql
    libdbd-mysql-perl
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
