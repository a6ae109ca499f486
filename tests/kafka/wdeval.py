"""wdeval.py - cluster quality of a stream's results, for the Kafka tests
(helpers.sh puts this directory on PYTHONPATH).

    python3 wdeval.py score LABELLED.jsonl RESULTS [--label-field F] [--min-ari X]
        [--min-recall X] [--once]
    python3 wdeval.py same RESULTS_A RESULTS_B

RESULTS is one output record (JSON) per line, as kcat dumps a topic. `score`
prints ari, pair precision/recall and how many inputs were answered, and
fails (exit 1) when an input has no answer, when an article was answered
twice with different answers, with --once when any was answered twice, or
below a minimum. `same` fails unless both hold the same answer for every id
(cluster_id, duplicate_of, similarity, cluster_size): record for record.
"""
import json
import sys
from collections import Counter


def results(path):
    """{id: answer} and how many answers each id got. Answers of one id must
    agree (a redelivery is answered as the first time)."""
    by_id, seen, differ = {}, Counter(), []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            key = (r["cluster_id"], r["duplicate_of"], r["similarity"], r["cluster_size"])
            if r["id"] in by_id and by_id[r["id"]] != key:
                differ.append(r["id"])
            by_id.setdefault(r["id"], key)
            seen[r["id"]] += 1
    return by_id, seen, differ


def pairs(n):
    return n * (n - 1) // 2


def ari(truth, found):
    """Adjusted Rand index and pair precision/recall of two {id: label}."""
    ids = list(truth)
    cont = Counter((truth[i], found[i]) for i in ids)
    a = Counter(truth[i] for i in ids)
    b = Counter(found[i] for i in ids)
    idx = sum(pairs(v) for v in cont.values())
    sa = sum(pairs(v) for v in a.values())
    sb = sum(pairs(v) for v in b.values())
    total = pairs(len(ids))
    expected = sa * sb / total if total else 0.0
    top = (sa + sb) / 2 - expected
    score = (idx - expected) / top if top else 1.0
    precision = idx / sb if sb else 1.0
    recall = idx / sa if sa else 1.0
    return score, precision, recall


def score(argv):
    labelled, out = argv[0], argv[1]
    opts = {"--label-field": "cluster", "--min-ari": None, "--min-recall": None}
    once = "--once" in argv
    rest = [a for a in argv[2:] if a != "--once"]
    for k, v in zip(rest[::2], rest[1::2]):
        opts[k] = v
    truth = {}
    with open(labelled, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                truth[str(r["id"])] = r[opts["--label-field"]]
    by_id, seen, differ = results(out)
    missing = [i for i in truth if i not in by_id]
    found = {i: by_id[i][0] for i in truth if i in by_id}
    s, p, r = ari({i: truth[i] for i in found}, found)
    twice = sum(1 for c in seen.values() if c > 1)
    print("ari=%.4f pair_precision=%.4f pair_recall=%.4f answered=%d of %d twice=%d"
          " differing=%d" % (s, p, r, len(found), len(truth), twice, len(differ)))
    bad = []
    if missing:
        bad.append("%d inputs without an answer, e.g. %s" % (len(missing), missing[:5]))
    if differ:
        bad.append("%d ids answered differently, e.g. %s" % (len(differ), differ[:5]))
    if once and twice:
        bad.append("%d ids answered more than once" % twice)
    if opts["--min-ari"] and s < float(opts["--min-ari"]):
        bad.append("ari %.4f below %s" % (s, opts["--min-ari"]))
    if opts["--min-recall"] and r < float(opts["--min-recall"]):
        bad.append("pair recall %.4f below %s" % (r, opts["--min-recall"]))
    for b in bad:
        print("FAIL: " + b, file=sys.stderr)
    return 1 if bad else 0


def same(argv):
    a, _, da = results(argv[0])
    b, _, db = results(argv[1])
    diff = sorted(i for i in set(a) | set(b) if a.get(i) != b.get(i))
    print("%d ids, %d answers differ" % (len(set(a) | set(b)), len(diff)))
    for i in diff[:10]:
        print("  %s: %s vs %s" % (i, a.get(i), b.get(i)), file=sys.stderr)
    return 1 if diff or da or db else 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "score" and len(sys.argv) >= 4:
        sys.exit(score(sys.argv[2:]))
    if cmd == "same" and len(sys.argv) == 4:
        sys.exit(same(sys.argv[2:]))
    sys.exit(__doc__)
