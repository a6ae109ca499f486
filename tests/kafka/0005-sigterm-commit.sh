#!/bin/bash
# 0005-sigterm-commit: SIGTERM in the middle of a stream. wiredup exits 0 and
# the group's committed offsets (read back with kafka-python) cover exactly
# the records whose results were published: every input offset below the
# committed one has its output, none at or above it has. A restart in the
# same group publishes the rest, repeating nothing; the union has every id.
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4

N=20000
gen_articles $N s 5 "$T/gen.jsonl"
keyed_from_jsonl "$T/gen.jsonl" "$T/all.keyed"
# Small message sets plus broker latency pace the consumer (the mock returns
# one message set per partition per fetch), so SIGTERM lands mid-stream.
kcat -b "$BOOTSTRAP" -P -t articles -K $'\t' -X batch.num.messages=100 -l "$T/all.keyed" ||
  fail "kcat could not produce"
info "produced $N articles"
broker_cmd rtt -1 20

start_wiredup first
# stop as soon as results flow: mid-stream
for _ in $(seq 300); do
  [ "$(kc -C -t articles.clusters -o beginning -c 300 -e -q -f 'x\n' 2>/dev/null | grep -c .)" -ge 300 ] && break
  sleep 0.1
done
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC after SIGTERM"
grep -q 'msg="stream mode stopped"' "$T/first.log" || fail "no shutdown summary"
py_committed wiredup articles >"$T/committed.1" || fail "could not read committed offsets"
dump_values articles.clusters "$T/out.1"
info "first run: $(grep -c . "$T/out.1") results; committed: $(tr '\n' ' ' <"$T/committed.1")"

"$PY" - "$T/committed.1" "$T/out.1" $N <<'PYEOF' || fail "committed offsets do not match the published results"
import json, sys
committed = dict(map(int, l.split()) for l in open(sys.argv[1]))
out = [json.loads(l)["input"] for l in open(sys.argv[2])]
n = int(sys.argv[3])
assert len(committed) == 4, committed
published = {(o["partition"], o["offset"]) for o in out}
assert len(published) == len(out), "an input offset was published twice in one clean run"
covered = {(p, o) for p, c in committed.items() for o in range(max(c, 0))}
assert covered == published, ("committed-but-unpublished %d, published-but-uncommitted %d"
                              % (len(covered - published), len(published - covered)))
assert 0 < len(published) < n, "SIGTERM was not mid-stream (%d of %d done)" % (len(published), n)
print("committed offsets cover exactly the %d published records" % len(published))
PYEOF

broker_cmd rtt -1 0
start_wiredup second
wait_keys articles.clusters $N 45
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "second run exited $WD_RC"
py_committed wiredup articles >"$T/committed.2" || fail "could not read committed offsets"
dump_values articles.clusters "$T/out.all"

"$PY" - "$T/gen.jsonl" "$T/out.all" "$T/committed.2" <<'PYEOF' || fail "restart check failed"
import json, sys
ids = {json.loads(l)["id"] for l in open(sys.argv[1])}
out = [json.loads(l) for l in open(sys.argv[2])]
committed = dict(map(int, l.split()) for l in open(sys.argv[3]))
got = {o["id"] for o in out}
assert got == ids, "%d ids missing" % len(ids - got)
coords = [(o["input"]["partition"], o["input"]["offset"]) for o in out]
assert len(coords) == len(set(coords)), "%d input offsets published twice" % (len(coords) - len(set(coords)))
assert len(out) == len(ids), (len(out), len(ids))
assert sum(committed.values()) == len(ids), committed
print("union: %d ids, each once; final commit covers all" % len(got))
PYEOF
info "ok"
