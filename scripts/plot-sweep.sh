#!/usr/bin/env bash
# Plot pair precision and recall against cluster.threshold from `wiredup eval
# --sweep` (gnuplot, PNG).
#   scripts/plot-sweep.sh LABELLED.jsonl OUT.png [--set KEY=VALUE]...
# WIREDUP (default build/wiredup) picks the binary. The other decision rules
# (containment, cosine) stay at their configured values while the Jaccard
# threshold moves, so the curves show what the threshold adds on top of them.
# SWEEP_KEY=cluster.word_cosine (any key taking 0..1) sweeps that key instead,
# 0.05 to 0.95, one `wiredup eval --set KEY=V` per point.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: plot-sweep.sh LABELLED.jsonl OUT.png [--set K=V]..." >&2; exit 2; }
in=$1 out=$2; shift 2
bin=${WIREDUP:-$here/build/wiredup}
[ -x "$bin" ] || { echo "plot-sweep: $bin not built (scripts/build.sh release)" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot-sweep: gnuplot not installed" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
key=${SWEEP_KEY:-cluster.threshold}
if [ "$key" = cluster.threshold ]; then
  "$bin" eval --input "$in" --sweep "$@" >"$tmp/sweep.txt"
else
  for i in $(seq 1 19); do
    v=$(awk -v i="$i" 'BEGIN { printf "%.2f", i * 0.05 }')
    echo "threshold=$v $("$bin" eval --input "$in" "$@" --set "$key=$v" | tr '\n' ' ')"
  done >"$tmp/sweep.txt"
fi
# "threshold=0.3 ari=... pair_precision=... pair_recall=..." -> columns
awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
       print v["threshold"], v["pair_precision"], v["pair_recall"], v["ari"] }' \
  "$tmp/sweep.txt" >"$tmp/sweep.dat"
name=$(basename "$in" .jsonl)
gnuplot <<GP
set terminal pngcairo size 800,500 font ",11" noenhanced
set output "$out"
set title "$name: pair precision and recall vs $key"
set xlabel "$key"
set ylabel "score"
set key bottom left
set grid
set xrange [0:1]
plot "$tmp/sweep.dat" using 1:2 with linespoints title "pair precision", \
     "" using 1:3 with linespoints title "pair recall", \
     "" using 1:4 with lines dashtype 2 title "ARI"
GP
echo "wrote $out"
