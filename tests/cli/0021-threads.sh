#!/usr/bin/env bash
# pipeline.threads: worker threads fingerprint, one thread clusters in input
# order, so 1 and 4 threads (and the default, one per CPU) give byte-identical
# results and the same log lines, in the same order: on the sample, the golden
# inputs, a file of bad lines and a generated corpus with learned boilerplate.
. "$(dirname "$0")/helpers.sh"

# same_run NAME FILE [ARGS...]: stdout and stderr (timing fields dropped) of
# threads=1 equal those of threads=4 and of the default
same_run() {
  local name=$1 in=$2; shift 2
  local t
  for t in 1 4 0; do
    "$WIREDUP" run --input "$in" --set pipeline.threads=$t "$@" \
      >"$T_TMP/out.$t" 2>"$T_TMP/err.$t"
    echo "exit=$?" >>"$T_TMP/out.$t"
    sed -E 's/ (seconds|records_per_s)=[0-9.]+//g' "$T_TMP/err.$t" >"$T_TMP/errs.$t"
  done
  [ -s "$T_TMP/out.1" ] && [ "$(wc -l <"$T_TMP/out.1")" -gt 1 ] \
    || { t_fail "$name: no results"; return; }
  for t in 4 0; do
    if cmp -s "$T_TMP/out.1" "$T_TMP/out.$t" && cmp -s "$T_TMP/errs.1" "$T_TMP/errs.$t"; then
      t_pass "$name: threads=1 and threads=$t agree ($(($(wc -l <"$T_TMP/out.1") - 1)) results)"
    else
      t_fail "$name: threads=$t differs: $(diff "$T_TMP/out.1" "$T_TMP/out.$t" | head -5) \
$(diff "$T_TMP/errs.1" "$T_TMP/errs.$t" | head -5)"
    fi
  done
}

same_run sample "$WD_SOURCE_DIR/config/sample-articles.jsonl"
for in in "$WD_SOURCE_DIR"/tests/golden/*.in.jsonl; do
  same_run "golden $(basename "$in" .in.jsonl)" "$in"
done

# bad lines between good ones: JSON errors, a bad timestamp (its warning is
# logged by the clustering thread, in order), blank and over-long lines
bad=$T_TMP/bad.jsonl
{
  for i in $(seq 1 90); do
    echo "{\"id\":\"g$i\",\"source\":\"s$((i % 3))\",\"body\":\"Story $((i % 7)) about the harbour strike and the talks on pay, part $((i % 7)) of the series.\\n\\nSubscribe to our newsletter for more.\"}"
    case $((i % 10)) in
      1) echo 'not json' ;;
      3) echo "{\"id\":\"t$i\",\"body\":\"a record with a bad time\",\"published_at\":\"yesterday\"}" ;;
      5) echo '' ;;
      7) python3 -c 'print("{\"id\":\"big\",\"body\":\"" + "x " * 3000 + "\"}")' ;;
    esac
  done
} >"$bad"
same_run "bad lines" "$bad" --set input.max_bytes=4KiB
t_grep "$T_TMP/err.4" 'line=2 reason="not valid JSON' "bad line reported with threads"
t_grep "$T_TMP/err.4" 'ignored bad timestamp" id=t3 ' "timestamp warning with threads"

# a corpus with many republished copies and per-outlet boilerplate, long
# enough that learned lines drop text in most articles
gen=$WD_BUILD_DIR/benchmarks/wd-datagen
if [ -x "$gen" ]; then
  "$gen" --count 800 --seed 7 --output "$T_TMP/gen.jsonl" 2>/dev/null
  same_run "generated corpus" "$T_TMP/gen.jsonl"
else
  t_pass "wd-datagen not built: generated corpus skipped"
fi
t_done
