#!/usr/bin/env bash
# scripts/format.sh [--check] - clang-format every C source and header of
# the project in place (.clang-format at the top); --check changes nothing
# and fails, listing the files, when one is not formatted.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--check" ]; then
    bad=()
    for f in "${files[@]}"; do
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done
    if [ ${#bad[@]} -gt 0 ]; then
        printf 'not clang-formatted (run scripts/format.sh): %s\n' "${bad[@]}" >&2
        exit 1
    fi
    echo "all ${#files[@]} C files are clang-formatted"
else
    clang-format -i "${files[@]}"
fi
