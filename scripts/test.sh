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

# Fuzzing (tests/fuzz, clang libFuzzer + ASan + UBSan), a short bounded run
# per harness; scripts/fuzz.sh SECONDS runs longer on demand.
# A fixed seed and input count: the same inputs on every machine, so a CI
# failure is a real regression that replays locally (random, longer runs:
# scripts/fuzz.sh SECONDS). The time is only a cap for slow machines.
fuzz_secs=${WD_FUZZ_SECONDS:-60}
export WD_FUZZ_SEED=${WD_FUZZ_SEED:-20261128}
export WD_FUZZ_RUNS=${WD_FUZZ_RUNS:-decode=3000,text=30000,config=1500,fprec=20000}
echo "== fuzz: $WD_FUZZ_RUNS inputs (seed $WD_FUZZ_SEED, at most ${fuzz_secs}s per harness)"
fuzz_rc=0
"$here/scripts/fuzz.sh" "$fuzz_secs" || fuzz_rc=$?
if [ "$fuzz_rc" -eq 77 ]; then
  echo "== fuzz: SKIPPED: clang with libFuzzer is not installed (clang-14 libclang-rt-14-dev)"
elif [ "$fuzz_rc" -ne 0 ]; then
  echo "== fuzz: FAILED (inputs in build-fuzz/crashes/)" >&2
  exit "$fuzz_rc"
fi
