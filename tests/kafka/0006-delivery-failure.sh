#!/bin/bash
# 0006-delivery-failure: when the broker refuses outputs for good (a
# non-retriable Produce error), wiredup logs one error line and exits 1, and
# no committed input offset lacks its output (nothing past the failure is
# committed). Bad kafka.* keys and values fail start-up with exit 2 naming
# the key.
. "$(dirname "$0")/helpers.sh"

# start-up errors need no broker
out=$("$WIREDUP" run --set metrics.listen= --set kafka.no.such.property=1 2>&1)
[ $? -eq 2 ] || fail "unknown kafka key: want exit 2"
echo "$out" | grep -q 'kafka.no.such.property' || fail "error does not name the key: $out"
out=$("$WIREDUP" run --set metrics.listen= --set kafka.session.timeout.ms=soon 2>&1)
[ $? -eq 2 ] || fail "bad kafka value: want exit 2"
echo "$out" | grep -q 'kafka.session.timeout.ms' || fail "error does not name the key: $out"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4
N=20000
gen_articles $N f 6 "$T/gen.jsonl"
keyed_from_jsonl "$T/gen.jsonl" "$T/all.keyed"
# paced as in 0005 so that the failure hits mid-stream, with nothing else
# producing while the injected errors are consumed
kcat -b "$BOOTSTRAP" -P -t articles -K $'\t' -X batch.num.messages=100 -l "$T/all.keyed" ||
  fail "kcat could not produce"
broker_cmd rtt -1 20

start_wiredup run
for _ in $(seq 300); do
  [ "$(kc -C -t articles.clusters -o beginning -c 300 -e -q -f 'x\n' 2>/dev/null | grep -c .)" -ge 300 ] && break
  sleep 0.1
done
# every Produce from now on fails with an error librdkafka does not retry
# (WD_T_ERR=OUT_OF_ORDER_SEQUENCE_NUMBER exercises the fatal-error path)
broker_cmd errors Produce 1000 ${WD_T_ERR:-MSG_SIZE_TOO_LARGE}
for _ in $(seq 300); do kill -0 "$WD_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$WD_PID" 2>/dev/null && fail "wiredup still running 30 s after outputs started failing"
wait "$WD_PID"
rc=$?
[ $rc -eq 1 ] || fail "want exit 1 after a delivery failure, got $rc"
[ "$(grep -c 'level=error msg=".*\(could not\|fatal\)' "$T/run.log")" -eq 1 ] ||
  fail "want one error line naming the delivery failure"
broker_cmd clear Produce
broker_cmd rtt -1 0

py_committed wiredup articles >"$T/committed" || fail "could not read committed offsets"
dump_values articles.clusters "$T/out.jsonl"
"$PY" - "$T/committed" "$T/out.jsonl" <<'PYEOF' || fail "a committed offset has no output"
import json, sys
committed = dict(map(int, l.split()) for l in open(sys.argv[1]))
published = {(o["input"]["partition"], o["input"]["offset"])
             for o in map(json.loads, open(sys.argv[2]))}
for p, c in committed.items():
    for o in range(max(c, 0)):
        assert (p, o) in published, "partition %d offset %d committed without output" % (p, o)
assert 0 < len(published) < 20000, "failure was not mid-stream"
print("committed %s; every committed offset has its output (%d outputs)"
      % (committed, len(published)))
PYEOF
info "ok"
