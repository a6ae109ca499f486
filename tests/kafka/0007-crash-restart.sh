#!/bin/bash
# 0007-crash-restart: kill -9 in the middle of a stream, restart. wiredup
# loads its checkpoint and starts each partition at the checkpoint or the
# committed offset, whichever is earlier. Every input then has a result, a
# record answered twice got the same answer both times, and copies published
# after the crash join the clusters their stories started before it.
. "$(dirname "$0")/helpers.sh"

# One input partition: the order of records is then fixed, so "the same
# answer on reprocessing" can be checked record by record.
start_broker --topic articles:1 --topic articles.clusters:2

"$PY" - "$T" <<'EOF' || fail "could not generate articles"
import json, random, sys
t = sys.argv[1]
rng = random.Random(17)
vocab = ["w%04d" % i for i in range(5000)]
stories, n = [], 0
def article(prefix, words, i):
    return {"id": "%s%04d" % (prefix, i), "body": " ".join(words),
            "source": "src%d.example" % (i % 5),
            "published_at": "2025-06-01T%02d:%02d:00Z" % (i // 60 % 24, i % 60)}
def copy(words):
    w = list(words)
    w[rng.randrange(len(w))] = rng.choice(vocab)
    return w
def batch(path, prefix, start, count):
    with open(path, "w") as f:
        for i in range(start, start + count):
            if stories and rng.random() < 0.3:
                words = copy(rng.choice(stories))
            else:
                words = [rng.choice(vocab) for _ in range(rng.randint(60, 100))]
                stories.append(words)
            a = article(prefix, words, i)
            f.write("%s\t%s\n" % (a["id"], json.dumps(a)))
batch(t + "/a.keyed", "a", 0, 300)      # before the first checkpoint
batch(t + "/a2.keyed", "a", 300, 100)   # after it, before the crash
known = list(enumerate(stories))
with open(t + "/b.keyed", "w") as f, open(t + "/b.story", "w") as m:
    for k, (s, words) in enumerate(rng.sample(known, 60)):
        a = article("b", copy(words), 400 + k)
        f.write("%s\t%s\n" % (a["id"], json.dumps(a)))
        m.write("%s %d\n" % (a["id"], s))
with open(t + "/story.words", "w") as f:
    json.dump(stories, f)
EOF

start_wiredup first --set state.checkpoint_interval=3s \
  --set kafka.auto.commit.interval.ms=200
produce_keyed articles "$T/a.keyed"
wait_keys articles.clusters 300 45
for _ in $(seq 100); do
  grep -q 'msg="checkpoint written".*articles=300' "$T/first.log" && break
  sleep 0.2
done
grep -q 'msg="checkpoint written".*articles=300' "$T/first.log" ||
  fail "no checkpoint with the first 300 articles"
info "checkpoint with 300 articles written"
produce_keyed articles "$T/a2.keyed"
wait_keys articles.clusters 400 45
for _ in $(seq 100); do
  [ "$(py_committed wiredup articles | awk '{s += $2} END {print s}')" = 400 ] && break
  sleep 0.2
done
kill -KILL "$WD_PID"
wait "$WD_PID" 2>/dev/null
info "killed -9; committed: $(py_committed wiredup articles | tr '\n' ' ')"
[ -s "$T/state/wiredup.state" ] || fail "no checkpoint file after the crash"

produce_keyed articles "$T/b.keyed"
start_wiredup second --set state.checkpoint_interval=3s
wait_keys articles.clusters 460 60
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "restarted wiredup exited $WD_RC"
grep -q 'msg="checkpoint loaded"' "$T/second.log" || fail "restart did not load the checkpoint"
grep -q 'msg="partition starts at the checkpoint' "$T/second.log" &&
  info "restart went back to the checkpoint, before the committed offset"
dump_values articles.clusters "$T/out"

"$PY" - "$T" <<'EOF' || fail "results after the crash are wrong"
import json, sys
t = sys.argv[1]
ids = [l.split("\t", 1)[0] for f in ("a.keyed", "a2.keyed", "b.keyed")
       for l in open("%s/%s" % (t, f))]
out = [json.loads(l) for l in open(t + "/out")]
by_id = {}
for o in out:
    by_id.setdefault(o["id"], []).append(o)
missing = [i for i in ids if i not in by_id]
assert not missing, "%d inputs without a result, e.g. %s" % (len(missing), missing[:5])
for i, rs in by_id.items():
    assert all(r == rs[0] for r in rs), "%s answered differently: %s" % (i, rs)
again = sum(len(rs) - 1 for rs in by_id.values())
# The stories' first articles: a story's cluster is named after its first copy.
stories = json.load(open(t + "/story.words"))
first_of = {}
for l in open(t + "/a.keyed").read().splitlines() + open(t + "/a2.keyed").read().splitlines():
    a = json.loads(l.split("\t", 1)[1])
    words = a["body"].split()
    for s, sw in enumerate(stories):
        if sw == words and s not in first_of:
            first_of[s] = a["id"]
joined = 0
for l in open(t + "/b.story"):
    bid, s = l.split()
    r = by_id[bid][0]
    want = by_id[first_of[int(s)]][0]["cluster_id"]
    assert r["duplicate_of"] is not None, "%s (copy of story %s) started a new cluster" % (bid, s)
    assert r["cluster_id"] == want, "%s joined %s, its story is cluster %s" % (bid, r["cluster_id"], want)
    joined += 1
print("%d inputs answered (%d answered again, identically); %d post-crash copies "
      "joined their pre-crash clusters" % (len(ids), again, joined))
EOF
info "ok"
