#!/usr/bin/env bash
# run.sh - build and run every wiredup benchmark, then write the Markdown
# table and the plots to benchmarks/results/.
#   benchmarks/run.sh [--quick] [--build DIR] [--out DIR]
# --quick: small sizes (about a minute); default: full sizes (scale to 1M
# articles; about 15 minutes on 2 cores).
# Outputs: bench.txt (every bench= line), machine.txt, RESULTS.md,
# stages.png (throughput per stage), scale.png (cost and index bytes vs
# index size). Single-core figures are pinned to CPU 0 with taskset.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mode=full
build=$here/build
out=$here/benchmarks/results
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --build) build=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$mode" = quick ]; then
  STAGE_DOCS=1000 STAGE_REPS=3 E2E_DOCS=5000 E2E_REPS=3 STREAM_DOCS=4000 SCALE_MAX=50000
else
  STAGE_DOCS=4000 STAGE_REPS=7 E2E_DOCS=30000 E2E_REPS=5 STREAM_DOCS=12000 SCALE_MAX=1000000
fi

"$here/scripts/build.sh" release "$build" >/dev/null
B=$build/benchmarks
for f in "$build/wiredup" "$build/wiredup-mock-broker" "$B/wd-datagen" "$B/wd-bench-stages" \
         "$B/wd-bench-scale" "$B/wd-bench-ref"; do
  [ -x "$f" ] || { echo "run.sh: $f not built" >&2; exit 1; }
done
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c 0)

mkdir -p "$out"
T=$(mktemp -d "${TMPDIR:-/tmp}/wd-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
res=$out/bench.txt
: >"$res"
log() { echo "[run.sh $(date -u +%H:%M:%S)] $*" >&2; }

{
  echo "mode=$mode"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit=$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "nproc=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "kernel=$(uname -r)"
  echo "compiler=$(cc --version | head -n 1)"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"

log "corpus: $E2E_DOCS articles"
"$B/wd-datagen" --count "$E2E_DOCS" --seed 1 --output "$T/gen.jsonl" 2>"$T/datagen.txt"
cat "$T/datagen.txt" >&2
sed 's/^datagen /bench=corpus /' "$T/datagen.txt" >>"$res"

log "stages: $STAGE_DOCS docs x $STAGE_REPS"
"${PIN[@]}" "$B/wd-bench-stages" --docs "$STAGE_DOCS" --reps "$STAGE_REPS" | tee -a "$res"

# best_median VALUES...: "best median" of the numbers given
best_median() {
  printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {
    printf "%s %s\n", v[1], NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
bytes=$(wc -c <"$T/gen.jsonl")
# e2e NAME CMD-PREFIX...: E2E_REPS runs of file mode over the corpus; one
# bench= line. The debug log's "file mode threads" line (multi-threaded runs)
# gives the clustering thread's and the workers' CPU time of the best run.
e2e() {
  local name=$1
  shift
  local times=() cpus=() rss=0 best_t=0 extra=""
  for _ in $(seq "$E2E_REPS"); do
    t0=$(date +%s%N)
    /usr/bin/time -f '%M %U %S' -o "$T/rss" "$@" "$build/wiredup" run \
      --input "$T/gen.jsonl" --output /dev/null --set log.level=debug 2>"$T/e2e.log"
    t1=$(date +%s%N)
    times+=($((t1 - t0)))
    read -r r u s < <(tail -n 1 "$T/rss")
    cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.0f", (u + s) * 1e9 }')")
    [ "$r" -gt "$rss" ] && rss=$r
    if [ "$best_t" -eq 0 ] || [ $((t1 - t0)) -lt "$best_t" ]; then
      best_t=$((t1 - t0))
      extra=$(sed -n -e 's/.*msg="file mode threads" threads=\([0-9]*\) reader_cluster_cpu_s=\([0-9.]*\) fingerprint_cpu_s=\([0-9.]*\).*/threads=\1 cluster_thread_cpu_s=\2 worker_cpu_s=\3/p' \
        -e 's/.*msg="file mode allocations" .*allocs_per_record=\([0-9.]*\) allocs_per_record_after_1000=\([0-9.]*\).*/allocs_per_doc=\1 allocs_per_doc_warm=\2/p' \
        "$T/e2e.log" | paste -sd' ')
    fi
  done
  read -r best med < <(best_median "${times[@]}")
  read -r cbest cmed < <(best_median "${cpus[@]}")
  awk -v name="$name" -v n="$E2E_DOCS" -v b="$bytes" -v reps="$E2E_REPS" -v rss="$rss" \
    -v best="$best" -v med="$med" -v cbest="$cbest" -v cmed="$cmed" -v extra="$extra" 'BEGIN {
    printf "bench=%s docs=%d reps=%d bytes_per_doc=%.0f ns_per_doc=%.1f ns_per_doc_median=%.1f docs_per_s=%.0f docs_per_s_median=%.0f mb_per_s=%.1f mb_per_s_median=%.1f cpu_ns_per_doc=%.1f cpu_ns_per_doc_median=%.1f peak_rss_kb=%d%s\n",
      name, n, reps, b / n, best / n, med / n, n / (best / 1e9), n / (med / 1e9), b / (best / 1e3), b / (med / 1e3), cbest / n, cmed / n, rss, extra == "" ? "" : " " extra }' |
    tee -a "$res"
}

log "file mode end to end, one core: $E2E_DOCS docs x $E2E_REPS"
e2e e2e.file.1core "${PIN[@]}" env
log "the bare reference path on the same corpus and core (issue 18)"
"${PIN[@]}" "$B/wd-bench-ref" "$T/gen.jsonl" --reps "$E2E_REPS" | tee -a "$res"
awk '/^bench=e2e.file.1core / { for (i = 1; i <= NF; i++) if ($i ~ /^docs_per_s=/) { split($i, a, "="); w = a[2] } }
     /^bench=ref / { for (i = 1; i <= NF; i++) if ($i ~ /^docs_per_s=/) { split($i, a, "="); r = a[2] } }
     END { if (w && r) printf "bench=ratio.ref wiredup_docs_per_s=%d ref_docs_per_s=%d ratio=%.3f\n", w, r, w / r }' \
  "$res" | tee -a "$res"
log "file mode end to end, all cores (pipeline.threads=0): $E2E_DOCS docs x $E2E_REPS"
e2e e2e.file.allcores env

log "stream mode through the mock broker: $STREAM_DOCS docs"
head -n "$STREAM_DOCS" "$T/gen.jsonl" >"$T/stream.jsonl"
bash "$here/benchmarks/stream.sh" "$build/wiredup" "$build/wiredup-mock-broker" \
  "$T/stream.jsonl" 3 | tee -a "$res"

log "scale: up to $SCALE_MAX articles in one index"
/usr/bin/time -f '%M' -o "$T/rss" "${PIN[@]}" "$B/wd-bench-scale" --max "$SCALE_MAX" |
  tee -a "$res"
echo "bench=scale.process peak_rss_kb=$(tail -n 1 "$T/rss")" | tee -a "$res"

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
/usr/bin/python3 "$here/benchmarks/report.py" "$out"
log "wrote $out/RESULTS.md, $out/stages.png, $out/scale.png"
