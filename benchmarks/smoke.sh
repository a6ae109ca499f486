#!/usr/bin/env bash
# smoke.sh - ctest bench.smoke: the benchmarks build and run, and print a
# well-formed bench= line for every stage. No speed is asserted.
# Environment: WIREDUP (the binary), WD_BENCH_DIR (where wd-* are built).
set -u
fail() { echo "FAIL [bench.smoke]: $*" >&2; exit 1; }
B=${WD_BENCH_DIR:?}
for f in "$B/wd-datagen" "$B/wd-bench-stages" "$B/wd-bench-scale" "$B/wd-bench-ref" "${WIREDUP:?}"; do
  [ -x "$f" ] || fail "$f not built"
done
T=$(mktemp -d "${TMPDIR:-/tmp}/wd-bench-smoke.XXXXXX")
trap 'rm -rf "$T"' EXIT

# The generator is deterministic and wiredup accepts every record it writes.
"$B/wd-datagen" --count 60 --seed 7 --output "$T/a.jsonl" 2>"$T/a.err" || fail "wd-datagen failed"
"$B/wd-datagen" --count 60 --seed 7 >"$T/b.jsonl" 2>/dev/null || fail "wd-datagen to stdout failed"
cmp -s "$T/a.jsonl" "$T/b.jsonl" || fail "wd-datagen is not deterministic for one seed"
[ "$(grep -c . "$T/a.jsonl")" -eq 60 ] || fail "wd-datagen wrote $(grep -c . "$T/a.jsonl") records, want 60"
grep -Eq '^datagen records=60 copies=[1-9][0-9]* ' "$T/a.err" || fail "no copies in: $(cat "$T/a.err")"
"$WIREDUP" run --input "$T/a.jsonl" --output "$T/out.jsonl" 2>"$T/run.err" || fail "wiredup run failed"
[ "$(grep -c . "$T/out.jsonl")" -eq 60 ] || fail "wiredup answered $(grep -c . "$T/out.jsonl") of 60: $(cat "$T/run.err")"

# The reference path reads every record and finds the copies' bands.
"$B/wd-bench-ref" "$T/a.jsonl" --reps 1 >"$T/ref.txt" || fail "wd-bench-ref failed"
grep -Eq '^bench=ref docs=60 seconds=[0-9.]+ docs_per_s=[0-9]+ candidates=[1-9][0-9]*$' "$T/ref.txt" ||
  fail "wd-bench-ref: $(cat "$T/ref.txt")"

# Every stage prints one line with positive numbers in every field.
"$B/wd-bench-stages" --docs 40 --reps 2 >"$T/stages.txt" || fail "wd-bench-stages failed"
num='[0-9]+(\.[0-9]+)?'
for s in stage.decode stage.normalise stage.boilerplate stage.shingle stage.shingle.hashes \
         stage.minhash.oph stage.minhash.mix stage.simhash stage.lsh stage.lsh.reserved stage.cluster stage.output \
         engine.inprocess floor.decode floor.normalise floor.boilerplate floor.shingle_minhash \
         floor.simhash floor.lsh floor.cluster floor.output; do
  n=$(grep -Ec "^bench=$s docs=40 reps=2 bytes_per_doc=$num ns_per_doc=$num ns_per_doc_median=$num docs_per_s=$num docs_per_s_median=$num mb_per_s=$num mb_per_s_median=$num cpu_ns_per_doc=$num cpu_ns_per_doc_median=$num allocs_per_doc=$num\$" "$T/stages.txt")
  [ "$n" -eq 1 ] || fail "stage $s: $n well-formed lines in: $(cat "$T/stages.txt")"
done
# The stateless stages and the output allocate nothing once warm (the first
# pass grows every scratch buffer to its high-water mark).
for s in stage.decode stage.normalise stage.boilerplate stage.shingle stage.minhash.oph \
         stage.simhash stage.output; do
  grep -Eq "^bench=$s .* allocs_per_doc=0\.000( |\$)" "$T/stages.txt" ||
    fail "stage $s allocates per record: $(grep "^bench=$s " "$T/stages.txt")"
done
grep -Eq "^bench=stages.summary docs=40 bytes=[0-9]+ peak_rss_kb=[0-9]+$" "$T/stages.txt" ||
  fail "no summary line"
if grep -Ev '^bench=[a-z0-9_.]+( [a-z0-9_]+=[^ =]+)+$' "$T/stages.txt"; then
  fail "lines above are not bench=NAME key=value..."
fi

"$B/wd-bench-scale" --max 300 --batch 100 >"$T/scale.txt" || fail "wd-bench-scale failed"
[ "$(grep -Ec "^bench=scale docs=(100|200|300) batch=100 ns_per_doc=$num wall_ns_per_doc=$num docs_per_s=$num .*index_docs=(100|200|300) index_bytes=[0-9]+ .*peak_rss_kb=[0-9]+ .*cal_ns_per_doc=$num rel_cost=$num interval_docs=[0-9]+ interval_ns_per_doc=$num interval_rel_cost=$num$" "$T/scale.txt")" -eq 3 ] ||
  fail "scale lines: $(cat "$T/scale.txt")"
grep -Eq "^bench=scale.total docs=300 " "$T/scale.txt" || fail "no scale total"
echo "bench.smoke: ok"
