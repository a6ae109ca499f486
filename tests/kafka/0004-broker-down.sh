#!/bin/bash
# 0004-broker-down: while wiredup streams, one broker goes down for 6 s (its
# partitions stall: the mock moves no leaders), then every broker goes down
# for 4 s, and the next Produce requests fail with retriable errors. Nothing
# is lost: every input id gets a result, and wiredup still stops cleanly.
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4

N=4000
gen_articles $N d 4 "$T/gen.jsonl"
keyed_from_jsonl "$T/gen.jsonl" "$T/all.keyed"
split -n l/4 -d "$T/all.keyed" "$T/batch."
produce_keyed articles "$T/batch.00"

start_wiredup run
wait_keys articles.clusters 200 30

broker_cmd down 2
# produced while broker 2 is down: kcat queues for its partitions (bounded
# by the timeout: it delivers once the broker is back)
kcat -b "$BOOTSTRAP" -P -t articles -K $'\t' -l "$T/batch.01" 2>"$T/kcat.err" &
KCAT_PID=$!
PIDS+=("$KCAT_PID")
sleep 6
broker_cmd up 2
for _ in $(seq 300); do kill -0 $KCAT_PID 2>/dev/null || break; sleep 0.1; done
wait $KCAT_PID || fail "kcat could not produce batch 1"

broker_cmd errors Produce 6 NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT _TRANSPORT NOT_ENOUGH_REPLICAS LEADER_NOT_AVAILABLE NOT_LEADER_FOR_PARTITION
produce_keyed articles "$T/batch.02"
sleep 1
broker_cmd down -1
sleep 4
broker_cmd up -1
produce_keyed articles "$T/batch.03"

wait_keys articles.clusters $N 45
kill -0 "$WD_PID" 2>/dev/null || fail "wiredup died"
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC"

dump_values articles.clusters "$T/out.jsonl"
"$PY" - "$T/gen.jsonl" "$T/out.jsonl" <<'PYEOF' || fail "result check failed"
import json, sys
ids = {json.loads(l)["id"] for l in open(sys.argv[1])}
out = [json.loads(l) for l in open(sys.argv[2])]
got = {o["id"] for o in out}
missing = ids - got
assert not missing, "%d ids without a result, e.g. %s" % (len(missing), sorted(missing)[:5])
assert got == ids, "unexpected ids"
# the idempotent producer never duplicates on retry; redelivery (after a
# lost assignment) would repeat an input offset: count both
coords = [(o["input"]["partition"], o["input"]["offset"]) for o in out]
print("%d ids, %d results, %d repeated input offsets" % (len(ids), len(out), len(coords) - len(set(coords))))
PYEOF
info "ok"
