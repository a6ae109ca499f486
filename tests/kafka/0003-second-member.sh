#!/bin/bash
# 0003-second-member: while articles keep arriving, a second wiredup joins
# the group (cooperative rebalance: it takes some partitions), then leaves
# (SIGTERM: its partitions come back). Every input id gets a result; the
# first member warns that duplicates across members will be missed.
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4

N=4000
BATCHES=8
gen_articles $N m 3 "$T/gen.jsonl"
keyed_from_jsonl "$T/gen.jsonl" "$T/all.keyed"
split -n l/$BATCHES -d "$T/all.keyed" "$T/batch."
produce_keyed articles "$T/batch.00"

start_wiredup A
A_PID=$WD_PID
wait_keys articles.clusters 100 30
produce_keyed articles "$T/batch.01"

start_wiredup B
B_PID=$WD_PID
# keep the stream going while B joins; bounded wait for B's assignment
b=2
for _ in $(seq 40); do
  if [ $b -lt 5 ]; then produce_keyed articles "$T/batch.0$b"; b=$((b + 1)); fi
  grep -q 'msg="partitions assigned" topic=articles partitions=[0-9]' "$T/B.log" && break
  sleep 0.5
done
grep -q 'msg="partitions assigned" topic=articles partitions=[0-9]' "$T/B.log" ||
  fail "B got no partitions within 20 s"
info "B got partitions: $(grep -o "partitions=[0-9][0-9,]*" "$T/B.log" | head -1)"
while [ $b -lt 6 ]; do produce_keyed articles "$T/batch.0$b"; b=$((b + 1)); sleep 0.5; done

stop_wiredup "$B_PID"
[ "$WD_RC" -eq 0 ] || fail "B exited $WD_RC"
info "B left"
while [ $b -lt $BATCHES ]; do produce_keyed articles "$T/batch.0$b"; b=$((b + 1)); sleep 0.5; done

wait_keys articles.clusters $N 45
grep -q 'duplicates across members will be missed' "$T/A.log" ||
  fail "A did not warn about the shared assignment"
stop_wiredup "$A_PID"
[ "$WD_RC" -eq 0 ] || fail "A exited $WD_RC"

dump_values articles.clusters "$T/out.jsonl"
"$PY" - "$T/gen.jsonl" "$T/out.jsonl" <<'PYEOF' || fail "result check failed"
import json, sys
ids = {json.loads(l)["id"] for l in open(sys.argv[1])}
out = [json.loads(l) for l in open(sys.argv[2])]
got = {o["id"] for o in out}
missing = ids - got
assert not missing, "%d ids without a result, e.g. %s" % (len(missing), sorted(missing)[:5])
assert got == ids, "unexpected ids"
print("%d ids, %d results (%d redelivered after rebalances)" % (len(ids), len(out), len(out) - len(ids)))
PYEOF
info "ok"
