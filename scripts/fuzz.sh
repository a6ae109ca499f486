#!/usr/bin/env bash
# Build the libFuzzer harnesses (tests/fuzz/) with clang + ASan + UBSan in
# build-fuzz/ and fuzz each for SECONDS (default 60).
#   scripts/fuzz.sh [SECONDS] [HARNESS...]       HARNESS: decode text config fprec
# Each harness starts from its seed corpus (tests/fuzz/corpus/<h>) plus every
# input that once crashed (tests/fuzz/regress/<h>) and keeps what it learns in
# build-fuzz/corpus/<h>, so later runs go on where earlier ones stopped.
# A crash, leak, UB or timeout is written to build-fuzz/crashes/<h>/ and the
# script exits 1; copy the file to tests/fuzz/regress/<h>/ once it is fixed.
# Exit 77 when clang with libFuzzer is not available.
# WD_FUZZ_RUNS / WD_FUZZ_SEED (see below) make a bounded, repeatable run: what
# scripts/test.sh (and so CI) does, so that CI fails on a regression input or
# a bug the fixed run reaches, never on the luck of a random one; longer
# random runs (no WD_FUZZ_RUNS) are for finding new bugs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(decode text config fprec)
dir=${WD_FUZZ_DIR:-$here/build-fuzz}

cc=${WD_FUZZ_CC:-}
if [ -z "$cc" ]; then
  for c in clang clang-14; do command -v "$c" >/dev/null && { cc=$c; break; }; done
fi
if [ -z "$cc" ] || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
    "$cc" -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
  echo "fuzz.sh: clang with libFuzzer not available (Debian: clang-14 libclang-rt-14-dev)" >&2
  exit 77
fi

CC=$cc cmake -S "$here" -B "$dir" -DWD_FUZZ=ON -DWD_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWD_BUILD_BENCHMARKS=OFF -DWD_WERROR=ON >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$dir" -j "${WD_JOBS:-2}" --target "${targets[@]}" 2>&1 |
  grep -vE '^\[ *[0-9]+%\]' || true

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for h in "${harnesses[@]}"; do
  bin=$dir/tests/fuzz/fuzz_$h
  [ -x "$bin" ] || { echo "fuzz.sh: no harness $h" >&2; exit 2; }
  mkdir -p "$dir/corpus/$h" "$dir/crashes/$h"
  log=$dir/fuzz-$h.log
  echo "== fuzz: $h for ${secs}s (log: $log)"
  set +e
  case $h in decode|fprec) max_len=16384 ;; text) max_len=8192 ;; *) max_len=4096 ;; esac
  # WD_FUZZ_RUNS="decode=N,text=N,...": stop after N inputs (SECONDS stays a
  # cap); with WD_FUZZ_SEED the run is then the same on every machine that
  # starts from the same corpus (a clean clone: the seeds and regress/).
  extra=()
  runs=$(echo ",${WD_FUZZ_RUNS:-}," | sed -n "s/.*,$h=\([0-9]*\),.*/\1/p")
  [ -n "$runs" ] && extra+=(-runs="$runs")
  [ -n "${WD_FUZZ_SEED:-}" ] && extra+=(-seed="$WD_FUZZ_SEED")
  "$bin" "${extra[@]}" -max_total_time="$secs" -max_len=$max_len -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/crashes/$h/" "$dir/corpus/$h" \
    "$here/tests/fuzz/corpus/$h" "$here/tests/fuzz/regress/$h" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -aoE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1 || true)
  if [ $rc -ne 0 ]; then
    echo "   $h: FAILED (exit $rc) after ${execs:-?} executions; $cov"
    grep -aE '^(==[0-9]+==ERROR|SUMMARY|.*invariant failed|.*runtime error)' "$log" |
      head -n 5 | sed 's/^/   /' || true
    grep -aoE 'Test unit written to .*' "$log" | sed 's/^/   /' || true
    failed+=("$h")
  else
    echo "   $h: ok, ${execs:-?} executions; $cov"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
