#!/usr/bin/env bash
# scripts/test.sh [--asan|--tsan] - install what the tests need, build, and
# run every test (unit and integration, each integration test on its own
# throwaway PostgreSQL cluster) with ctest.  --tsan runs the tests labelled
# "threads" (the unit tests and the engine's integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
dir=$(scripts/build.sh "$@" | tail -n 1)
cd "$dir"
if [ "${1:-}" = "--tsan" ]; then
    ctest --output-on-failure -j2 -L threads
else
    ctest --output-on-failure -j2
fi
