#!/usr/bin/env bash
# One command for the whole suite: install what is missing, build the normal
# and the AddressSanitizer+UBSan flavours, run every ctest case in both.
# (.ci/run calls exactly this.)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/install-deps.sh"
jobs=$(nproc)

echo "== build: release"
"$here/scripts/build.sh" release "$here/build"
echo "== test: release"
(cd "$here/build" && ctest --output-on-failure -j "$jobs")

echo "== build: asan+ubsan"
"$here/scripts/build.sh" asan "$here/build-asan"
echo "== test: asan+ubsan"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd "$here/build-asan" && ctest --output-on-failure -j "$jobs" -LE slow)
