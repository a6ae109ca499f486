#!/usr/bin/env bash
# Rewrite tests/golden/<case>.out.jsonl from the current build. Run it only
# for an intended change in results, and review `git diff tests/golden`
# line by line before committing: these files are users' cluster ids.
#   scripts/regen-golden.sh [BUILD_DIR]   (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build}/wiredup
[ -x "$bin" ] || { echo "regen-golden: $bin not built (scripts/build.sh release)" >&2; exit 1; }
for in in "$here"/tests/golden/*.in.jsonl; do
  out=${in%.in.jsonl}.out.jsonl
  "$bin" run --input "$in" --output "$out" 2>/dev/null
  echo "wrote ${out#"$here"/} ($(wc -l < "$out") records)"
done
