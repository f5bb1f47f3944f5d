#!/usr/bin/env bash
# scripts/build.sh [--asan|--tsan] - configure and build into build/ (or
# build-asan/, build-tsan/).  Prints the build directory on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
opts=()
case "${1:-}" in
    --asan) dir=build-asan; opts+=(-DBUCARDO_ASAN=ON -DCMAKE_C_COMPILER=clang) ;;
    --tsan) dir=build-tsan; opts+=(-DBUCARDO_TSAN=ON -DCMAKE_C_COMPILER=clang) ;;
    "") ;;
    *) echo "usage: $0 [--asan|--tsan]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${opts[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
echo "$dir"
