#!/bin/bash
# 0001-roundtrip: kcat produces articles keyed by id across 4 partitions;
# stream mode publishes exactly one result per article, keyed by its id; the
# clusters, as a partition of ids, are the ones file mode finds on the same
# file; kcat and kafka-python both read the results.
#  A. 3000 generated articles in bulk (clusters independent of arrival order)
#  B. the bundled sample one record at a time, so that the stream sees the
#     file's order and even borderline matches must agree with file mode.
. "$(dirname "$0")/helpers.sh"

SAMPLE=$WD_SOURCE_DIR/config/sample-articles.jsonl
[ -s "$SAMPLE" ] || skip "no $SAMPLE"

# compare_clusters STREAM.jsonl FILE.jsonl IDS.jsonl TOPIC
compare_clusters() {
  "$PY" - "$BOOTSTRAP" "$@" <<'PYEOF' || fail "comparison failed for $4"
import json, sys
from wdkafka import read_topic
bs, stream_path, file_path, input_path, topic = sys.argv[1:6]
ids = [json.loads(l)["id"] for l in open(input_path, encoding="utf-8") if l.strip()]

# kafka-python reads what kcat read: one record per id, key == id.
recs = read_topic(bs.split(","), topic, len(ids))
assert len(recs) == len(ids), "kafka-python read %d records, want %d" % (len(recs), len(ids))
for r in recs:
    v = json.loads(r.value.decode("utf-8"))
    assert r.key.decode("utf-8") == v["id"], "key %r != id %r" % (r.key, v["id"])
    assert "partition" in v["input"] and "offset" in v["input"], v
assert sorted(r.key.decode() for r in recs) == sorted(ids), "ids differ"

def clusters(path):
    groups = {}
    for line in open(path, encoding="utf-8"):
        v = json.loads(line)
        groups.setdefault(v["cluster_id"], set()).add(v["id"])
    return sorted(sorted(g) for g in groups.values())

s, f = clusters(stream_path), clusters(file_path)
if s != f:
    print("stream-only groups:", [g for g in s if g not in f][:10])
    print("file-only groups:  ", [g for g in f if g not in s][:10])
    sys.exit(1)
print("%s: kafka-python read %d results; %d clusters (%d multi) agree with file mode"
      % (topic, len(recs), len(s), sum(len(g) > 1 for g in s)))
PYEOF
}

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4 \
  --topic sample:4 --topic sample.clusters:4

# ---- A: bulk
N=3000
gen_articles $N a 1 "$T/gen.jsonl"
keyed_from_jsonl "$T/gen.jsonl" "$T/gen.keyed"
produce_keyed articles "$T/gen.keyed"
info "produced $N generated articles"
start_wiredup bulk
BULK_PID=$WD_PID
wait_keys articles.clusters $N 40
stop_wiredup "$BULK_PID"
[ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC after SIGTERM"
grep -q 'msg="stream mode stopped"' "$T/bulk.log" || fail "no shutdown summary in the log"
dump_values articles.clusters "$T/bulk.stream"
# one clean run, no redelivery: exactly one result per article
[ "$(grep -c . "$T/bulk.stream")" -eq $N ] || fail "$(grep -c . "$T/bulk.stream") results for $N"
"$WIREDUP" run --input "$T/gen.jsonl" --output "$T/bulk.file" 2>"$T/file.log" ||
  fail "file mode failed"
compare_clusters "$T/bulk.stream" "$T/bulk.file" "$T/gen.jsonl" articles.clusters

# ---- B: the sample, one record at a time
keyed_from_jsonl "$SAMPLE" "$T/sample.keyed"
NS=$(grep -c . "$T/sample.keyed")
start_wiredup seq --set input.topic=sample --set output.topic=sample.clusters \
  --set kafka.group.id=wiredup-seq
i=0
while IFS= read -r line; do
  i=$((i + 1))
  printf '%s\n' "$line" >"$T/one.keyed"
  produce_keyed sample "$T/one.keyed"
  # wait for its result before sending the next (first one: group join)
  wait_keys sample.clusters $i 30
done <"$T/sample.keyed"
info "sample: $NS articles produced one by one"
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "wiredup (sample) exited $WD_RC"
dump_values sample.clusters "$T/sample.stream"
[ "$(grep -c . "$T/sample.stream")" -eq "$NS" ] || fail "sample: $(grep -c . "$T/sample.stream") results for $NS"
"$WIREDUP" run --input "$SAMPLE" --output "$T/sample.file" 2>>"$T/file.log" || fail "file mode failed"
compare_clusters "$T/sample.stream" "$T/sample.file" "$SAMPLE" sample.clusters
info "ok"
