#!/bin/bash
# 0009-threads: stream mode and replay fingerprint on pipeline.threads worker
# threads and cluster in consume order, so their results are byte-identical
# for any thread count, and equal to file mode's serial path.
#  A. Stream mode on a one-partition topic (consume order = topic order)
#     with threads=1, 3 and the default: the same results, in the same order,
#     and the same dead letters; the results equal file mode's on the same
#     lines (threads=1: one record at a time, no fingerprint workers).
#  B. Replay of a four-partition topic (its event-time merge order depends
#     on the topic only) with threads=1, 3 and the default: the same results
#     on every output partition, in the same order.
# The input: generated articles with per-outlet boilerplate (learned lines,
# so the fingerprint hints matter), a few bad records (dead letters) and a
# few ids sent twice (the stored answer is repeated).
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 1 --topic one:1 --topic one.dlq:1 --topic four:4 \
  --topic out.1:1 --topic out.3:1 --topic out.0:1 \
  --topic rp.1:4 --topic rp.3:4 --topic rp.0:4

# ---- the input: at most the mock's 5 MiB per partition
gen=$WD_BUILD_DIR/benchmarks/wd-datagen
if [ -x "$gen" ]; then
  "$gen" --count 1000 --seed 11 --words-median 300 --output "$T/gen.jsonl" 2>/dev/null ||
    fail "wd-datagen failed"
else
  gen_articles 1000 a 11 "$T/gen.jsonl"
fi
"$PY" - "$T/gen.jsonl" "$T/in.jsonl" <<'EOF' || fail "could not build the input"
import sys
lines = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
out = []
for i, line in enumerate(lines):
    out.append(line)
    if i % 150 == 75:
        out.append('{"id":"bad%d","body":' % i)          # not JSON: dead letter
    if i % 200 == 100:
        out.append('{"id":"nobody%d","title":"x"}' % i)  # no text: dead letter
    if i % 300 == 150:
        out.append(lines[i - 40])                          # an id sent again
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(out) + "\n")
EOF
"$PY" - "$T/in.jsonl" "$T/in.keyed" <<'EOF' || fail "could not key the input"
import json, re, sys
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in open(sys.argv[1], encoding="utf-8"):
        line = line.rstrip("\n")
        try:
            key = json.loads(line)["id"]
        except ValueError:
            key = re.match(r'\{"id":"([^"]+)"', line).group(1)
        out.write("%s\t%s\n" % (key, line))
EOF
TOTAL=$(grep -c . "$T/in.keyed")
BAD=$(grep -c -E '^(bad|nobody)' "$T/in.keyed")
GOOD=$((TOTAL - BAD))
produce_keyed one "$T/in.keyed"
produce_keyed four "$T/in.keyed"
info "produced $TOTAL records ($BAD bad) to one (1 partition) and four (4 partitions)"

# ---- A: stream mode, one partition
for t in 1 3 0; do
  start_wiredup "stream.$t" --set state.dir="$T/state.$t" --set pipeline.threads=$t \
    --set input.topic=one --set output.topic=out.$t --set kafka.group.id=g$t
  wait_records out.$t $GOOD 90
  wait_committed_end g$t one 30
  stop_wiredup "$WD_PID"
  [ "$WD_RC" -eq 0 ] || fail "threads=$t: wiredup exited $WD_RC"
  kc -C -t out.$t -o beginning -e -q -f '%k\t%s\n' >"$T/out.$t" 2>/dev/null ||
    fail "kcat could not read out.$t"
  [ "$(grep -c . "$T/out.$t")" -eq $GOOD ] ||
    fail "threads=$t: $(grep -c . "$T/out.$t") results, want $GOOD"
done
kc -C -t one.dlq -o beginning -e -q -f '%k\t%h\t%s\n' >"$T/dlq" 2>/dev/null
# three runs, one dead-letter topic: each run's dead letters, in order
[ "$(grep -c . "$T/dlq")" -eq $((3 * BAD)) ] ||
  fail "$(grep -c . "$T/dlq") dead letters, want 3 x $BAD"
split -l "$BAD" -d "$T/dlq" "$T/dlq."
for t in 3 0; do
  cmp -s "$T/out.1" "$T/out.$t" ||
    fail "threads=$t results differ from threads=1: $(diff "$T/out.1" "$T/out.$t" | head -4)"
done
cmp -s "$T/dlq.00" "$T/dlq.01" && cmp -s "$T/dlq.00" "$T/dlq.02" ||
  fail "dead letters differ between thread counts"

# file mode, one thread (wd_engine_process per line): the same answers
"$WIREDUP" run --input "$T/in.jsonl" --output "$T/file.jsonl" --set pipeline.threads=1 \
  2>"$T/file.log" || fail "file mode failed"
"$PY" - "$T/out.0" "$T/file.jsonl" <<'EOF' || fail "stream results differ from file mode"
import json, sys
stream = [json.loads(l.split("\t", 1)[1]) for l in open(sys.argv[1], encoding="utf-8")]
file = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert len(stream) == len(file), (len(stream), len(file))
for s, f in zip(stream, file):
    s.pop("input"); f.pop("line")
    assert s == f, "stream %s != file %s" % (s, f)
print("%d results equal file mode's" % len(file))
EOF
info "A: threads=1, 3 and default agree with each other and with file mode ($GOOD results)"

# ---- B: replay, four partitions
for t in 1 3 0; do
  timeout 90 "$WIREDUP" replay --set metrics.listen= --set kafka.bootstrap.servers="$BOOTSTRAP" \
    --set state.dir="$T/state.rp" --set kafka.fetch.wait.max.ms=10 --set input.topic=four \
    --set pipeline.threads=$t --from-beginning --until-end --fresh-state \
    --output-topic rp.$t >"$T/rp.$t.out" 2>"$T/rp.$t.log" ||
    fail "replay threads=$t failed: $(tail -n 3 "$T/rp.$t.log")"
  grep -q "^records=$TOTAL " "$T/rp.$t.out" ||
    fail "replay threads=$t: $(cat "$T/rp.$t.out"), want records=$TOTAL"
  # per output partition, in order (sort -s keeps each partition's order)
  kc -C -t rp.$t -o beginning -e -q -f '%p\t%k\t%s\n' 2>/dev/null | sort -s -n -k1,1 \
    >"$T/rp.$t"
  [ "$(grep -c . "$T/rp.$t")" -eq $GOOD ] ||
    fail "replay threads=$t: $(grep -c . "$T/rp.$t") results, want $GOOD"
done
for t in 3 0; do
  cmp -s "$T/rp.1" "$T/rp.$t" ||
    fail "replay threads=$t differs from threads=1: $(diff "$T/rp.1" "$T/rp.$t" | head -4)"
done
info "B: replay with threads=1, 3 and default publish identical results"
info "ok"
