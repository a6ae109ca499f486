#!/bin/bash
# 0008-replay: `wiredup replay` (backfill).
#  - A live stream run commits its group's offsets; replays afterwards (same
#    group.id) leave them exactly as they were.
#  - Two --from-beginning --until-end replays into two topics exit by
#    themselves and publish identical results, and those are the results of
#    file mode over the records in event-time merge order (per partition in
#    offset order, earliest head first; ties by partition): the order is
#    computed here independently from the input topic, and the input is
#    produced shuffled so that the merge differs from arrival and file order.
#    One of the two fetches in tiny responses, so its partitions are paused
#    and resumed (bounded buffering) all along.
#  - --from-offsets replays exactly the listed partitions from the offsets.
#  - --from-timestamp: the mock cannot look offsets up by time, so replay
#    falls back to reading from the start and skipping earlier records (says
#    so once); exactly the records produced after that time are replayed.
#  - Without --until-end it follows the topic: records produced later are
#    processed too, and SIGTERM stops it cleanly (exit 0, summary).
. "$(dirname "$0")/helpers.sh"

start_broker --topic articles:4 --topic articles.clusters:4 --topic replay-a:3 \
  --topic replay-b:3 --topic replay-c:2 --topic replay-d:2

N=400
gen_articles $N r 7 "$T/gen.jsonl"
# shuffled: partitions then hold records out of event-time order
"$PY" - "$T/gen.jsonl" <<'PYEOF' || fail "shuffle"
import random, sys
lines = open(sys.argv[1]).read().splitlines()
random.Random(3).shuffle(lines)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PYEOF
keyed_from_jsonl "$T/gen.jsonl" "$T/gen.keyed"
produce_keyed articles "$T/gen.keyed"
info "produced $N articles"

# ---- the live service, group g1
start_wiredup live --set kafka.group.id=g1
LIVE=$WD_PID
wait_keys articles.clusters $N 40
stop_wiredup "$LIVE"
[ "$WD_RC" -eq 0 ] || fail "live run exited $WD_RC"
py_committed g1 articles >"$T/committed.before"
[ "$(awk '{s += $2} END {print s}' "$T/committed.before")" -eq $N ] ||
  fail "live run committed $(cat "$T/committed.before"), want offsets summing to $N"

# replay NAME ARGS...: runs `wiredup replay` (group g1, same state dir as the
# live run); must exit 0 by itself within 60 s. Summary in $T/NAME.out.
replay() {
  local name=$1
  shift
  timeout 60 "$WIREDUP" replay --set metrics.listen= --set kafka.bootstrap.servers="$BOOTSTRAP" \
    --set state.dir="$T/state" --set kafka.group.id=g1 --set kafka.fetch.wait.max.ms=10 \
    "$@" >"$T/$name.out" 2>"$T/$name.log"
  local rc=$?
  [ $rc -eq 0 ] || fail "replay $name exited $rc: $(tail -n 3 "$T/$name.log")"
  grep -q '^records=[0-9]* duplicates=[0-9]* clusters=[0-9]* .*records_per_s=' "$T/$name.out" ||
    fail "replay $name printed no summary: $(cat "$T/$name.out")"
  info "replay $name: $(cat "$T/$name.out")"
}

ls -l "$T/state" >"$T/state.before"
cksum "$T/state"/* >>"$T/state.before"
replay a --from-beginning --until-end --fresh-state --output-topic replay-a
# b fetches in 1 KiB responses and so buffers at most 16 KiB per partition:
# it pauses and resumes partitions all along, a takes the topic in one go
replay b --from-beginning --until-end --fresh-state --output-topic replay-b \
  --set kafka.max.partition.fetch.bytes=1024 --set log.level=debug
grep -q 'msg="partition resumed"' "$T/b.log" || fail "replay b never paused a partition"
grep -q "^records=$N " "$T/a.out" || fail "replay a: $(cat "$T/a.out"), want records=$N"
py_committed g1 articles >"$T/committed.after"
cmp -s "$T/committed.before" "$T/committed.after" ||
  fail "replay moved g1's offsets: before $(cat "$T/committed.before") after $(cat "$T/committed.after")"
ls -l "$T/state" >"$T/state.after"
cksum "$T/state"/* >>"$T/state.after"
cmp -s "$T/state.before" "$T/state.after" || fail "replay --fresh-state touched the checkpoint"

dump_values replay-a "$T/a.values"
dump_values replay-b "$T/b.values"
kc -C -t articles -o beginning -e -q -f '%p %o %s\n' >"$T/input.dump" 2>/dev/null ||
  fail "kcat could not read articles"
"$PY" - "$T/input.dump" "$T/merged.jsonl" <<'PYEOF' || fail "merge"
import json, sys
from datetime import datetime
parts = {}
for line in open(sys.argv[1], encoding="utf-8"):
    p, o, v = line.rstrip("\n").split(" ", 2)
    ts = datetime.strptime(json.loads(v)["published_at"], "%Y-%m-%dT%H:%M:%SZ").timestamp()
    parts.setdefault(int(p), []).append((int(o), ts, v))
for q in parts.values():
    q.sort()
out = open(sys.argv[2], "w", encoding="utf-8")
heads = {p: 0 for p in parts}
while True:
    live = [(parts[p][i][1], p) for p, i in heads.items() if i < len(parts[p])]
    if not live:
        break
    _, p = min(live)
    out.write(parts[p][heads[p]][2] + "\n")
    heads[p] += 1
PYEOF
"$WIREDUP" run --input "$T/merged.jsonl" --output "$T/merged.results" 2>"$T/file.log" ||
  fail "file mode failed"
"$PY" - "$T/a.values" "$T/b.values" "$T/merged.results" $N <<'PYEOF' || fail "replays differ"
import json, sys
a, b, f, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def load(path, strip_input):
    d = {}
    for line in open(path, encoding="utf-8"):
        v = json.loads(line)
        assert v["id"] not in d, "two results for %s in %s" % (v["id"], path)
        if strip_input:
            v.pop("input", None)
        v.pop("line", None)
        d[v["id"]] = v
    return d
ra, rb = load(a, False), load(b, False)
assert len(ra) == n, "replay a published %d results, want %d" % (len(ra), n)
assert ra == rb, "replays differ on %d ids" % sum(ra[k] != rb.get(k) for k in ra)
rf = load(f, True)
ra = {k: {x: y for x, y in v.items() if x != "input"} for k, v in ra.items()}
bad = [k for k in ra if ra[k] != rf.get(k)]
assert not bad, "replay != file mode over the merge order for %d ids, e.g. %s vs %s" % (
    len(bad), ra[bad[0]], rf.get(bad[0]))
dups = sum(1 for v in ra.values() if v["duplicate_of"])
assert dups > n // 5, "only %d duplicates: the test data has no clusters to order" % dups
print("replays identical; equal to file mode over the event-time merge; %d duplicates" % dups)
PYEOF

# ---- --from-offsets: partitions 1 and 3 only, 1 from offset 5
replay c --from-offsets 1:5,3:0 --until-end --fresh-state --output-topic replay-c
dump_values replay-c "$T/c.values"
"$PY" - "$T/input.dump" "$T/c.values" <<'PYEOF' || fail "--from-offsets replayed the wrong records"
import json, sys
want = set()
for line in open(sys.argv[1], encoding="utf-8"):
    p, o, _ = line.split(" ", 2)
    if (p == "1" and int(o) >= 5) or p == "3":
        want.add((int(p), int(o)))
got = [(json.loads(l)["input"]["partition"], json.loads(l)["input"]["offset"])
       for l in open(sys.argv[2], encoding="utf-8")]
assert len(got) == len(set(got)), "a record replayed twice"
assert set(got) == want, "got %d records, want %d; extra %s missing %s" % (
    len(got), len(want), sorted(set(got) - want)[:5], sorted(want - set(got))[:5])
print("--from-offsets: %d records, exactly partitions 1 (from 5) and 3" % len(got))
PYEOF

# ---- --from-timestamp: a second batch produced after a recorded time
sleep 1.2
FROM=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1.2
gen_articles 40 late 9 "$T/late.jsonl"
keyed_from_jsonl "$T/late.jsonl" "$T/late.keyed"
produce_keyed articles "$T/late.keyed"
replay d --from-timestamp "$FROM" --until-end --fresh-state --output-topic replay-d
grep -q "^records=40 .* skipped=$N " "$T/d.out" || fail "replay d: $(cat "$T/d.out"), want records=40 skipped=$N"
[ "$(grep -c 'did not answer the offset-for-time lookup' "$T/d.log")" -eq 1 ] ||
  fail "the fallback was not logged exactly once"
dump_values replay-d "$T/d.values"
"$PY" - "$T/late.jsonl" "$T/d.values" <<'PYEOF' || fail "--from-timestamp replayed the wrong records"
import json, sys
want = sorted(json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip())
got = sorted(json.loads(l)["id"] for l in open(sys.argv[2]))
assert got == want, "got %d ids, want the %d produced after the time" % (len(got), len(want))
PYEOF
# --until-end on nothing left: exits at once with records=0
replay e --from-offsets 0:999999 --until-end --fresh-state --output-topic replay-d
grep -q '^records=0 ' "$T/e.out" || fail "replay e: $(cat "$T/e.out")"

# ---- without --until-end: catches up, then follows the topic until SIGTERM
"$WIREDUP" replay --set metrics.listen= --set kafka.bootstrap.servers="$BOOTSTRAP" \
  --set state.dir="$T/state" --set kafka.group.id=g1 --set kafka.fetch.wait.max.ms=10 \
  --from-beginning --fresh-state --output-topic replay-f >"$T/f.out" 2>"$T/f.log" &
F_PID=$!
PIDS+=("$F_PID")
wait_keys replay-f $((N + 40)) 40
gen_articles 10 follow 11 "$T/follow.jsonl"
keyed_from_jsonl "$T/follow.jsonl" "$T/follow.keyed"
produce_keyed articles "$T/follow.keyed"
wait_keys replay-f $((N + 50)) 40
stop_wiredup "$F_PID"
[ "$WD_RC" -eq 0 ] || fail "following replay exited $WD_RC after SIGTERM"
grep -q "^records=$((N + 50)) " "$T/f.out" || fail "following replay: $(cat "$T/f.out")"
cmp -s "$T/committed.before" <(py_committed g1 articles) || fail "replay f moved g1's offsets"
info "ok"
