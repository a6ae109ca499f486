#!/usr/bin/env python3
"""story-desks.py - the story layer on desks it was not tuned on.

issue 19 asks for a story rule that holds on another newsroom's set, which
is not in ../shared. This builds stand-ins for the ways another desk differs
from meter-courts-dev, from the research data beside the project (nothing is
written into the repository), and scores `wiredup eval --stories` on each
next to the plain baseline tuned on that set:

  urdu-events   counter-urdu-dev with event labels: an agency story, its
                derived copies and the newspaper stories paired with it
                (COUNTER's `pair`, non-derived included) are one event.
                Another language, another agency, mostly two-article events.
  names-shared  meter-courts-dev with each story's own names (capitalised
                words in half its articles and at most 3 stories) renamed
                to another story's, stories in threes: different stories
                about the same people, as a showbiz desk's are.
  round-ups     meter-courts-dev with a digest every 25 articles: the
                opening lines of 4 recent stories, its own story. Hubs.
  day-fifth-N   a fifth of meter-courts-dev's days (5 draws): a small desk
                of 180-340 articles, as the held-out one is.

Baselines (exact Jaccard of word k-shingles after NFKC case folding, k and
threshold tuned on the set itself, k in 1..3):
  plain         union-find over all pairs, as README's table: offline, and
                a late article may merge two earlier stories;
  plain-stream  what a stream can do with it: each article, at arrival,
                joins the story of its most similar earlier article.

  scripts/story-desks.py --wiredup build/wiredup [--baseline] [--set K=V]...
"""
import argparse
import collections
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unicodedata


def ari(pred, truth):
    def c2(x):
        return x * (x - 1) / 2.0
    ab = collections.Counter(zip(pred, truth))
    sa = sum(c2(c) for c in collections.Counter(pred).values())
    sb = sum(c2(c) for c in collections.Counter(truth).values())
    sab = sum(c2(c) for c in ab.values())
    tot = c2(len(pred))
    exp = sa * sb / tot if tot else 0.0
    mx = (sa + sb) / 2.0
    return (sab - exp) / (mx - exp) if mx != exp else 1.0


def urdu_events(recs):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for r in recs:
        parent[find("c" + r["cluster"])] = find("p" + r["pair"])
    return [dict(r, cluster=find("c" + r["cluster"])) for r in recs]


def names_shared(recs, group=3, names=3):
    by = collections.defaultdict(list)
    for r in recs:
        by[r["cluster"]].append(r)
    cap = re.compile(r"\b[A-Z][a-z]{2,}\b")
    caps, df = {}, collections.Counter()
    for s, rs in by.items():
        c = collections.Counter(w for r in rs for w in set(cap.findall(r["text"])))
        caps[s] = c
        df.update(c.keys())
    own = {s: [w for w, k in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
               if 2 * k >= len(by[s]) and df[w] <= 3][:names] for s, c in caps.items()}
    order = sorted(by, key=lambda s: hashlib.md5(("1" + s).encode()).hexdigest())
    ren = {}
    for g in (order[i:i + group] for i in range(0, len(order), group)):
        for s in g[1:]:
            ren[s] = dict(zip(own[s], own[g[0]]))
    out = []
    for r in recs:
        t = r["text"]
        for w, v in ren.get(r["cluster"], {}).items():
            t = re.sub(r"\b%s\b" % w, v, t)
            t = re.sub(r"\b%s\b" % w.upper(), v.upper(), t)
        out.append(dict(r, text=t))
    return out


def round_ups(recs, every=25, stories=4):
    rng = random.Random(7)
    out = []
    for i, r in enumerate(recs):
        out.append(r)
        if i and i % every == 0:
            recent = recs[max(0, i - 150):i]
            picks, seen = [], set()
            for c in rng.sample(recent, len(recent)):
                if c["cluster"] not in seen:
                    seen.add(c["cluster"])
                    picks.append(c)
                if len(picks) == stories:
                    break
            text = "\n\n".join(" ".join(p["text"].split("\n")[:6]) for p in picks)
            out.append(dict(id="roundup-%d" % i, text=text, cluster="roundup-%d" % i,
                            source="digest"))
    return out


def day_fifth(recs, seed):
    rng = random.Random(seed)
    days = sorted({r["date"] for r in recs})
    keep = set(rng.sample(days, max(1, len(days) // 5)))
    return [r for r in recs if r["date"] in keep]


def tokens(text):
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())


def plain_scores(recs):
    """Best ARI (and its k, t) of plain union-find and plain-stream."""
    truth = [r["cluster"] for r in recs]
    best = {"plain": (-1.0, 0, 0.0), "plain-stream": (-1.0, 0, 0.0)}
    grid = [x / 100 for x in (2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50)]
    for k in (1, 2, 3):
        sets = []
        for r in recs:
            w = tokens(r["text"])
            sets.append({tuple(w[i:i + k]) for i in range(len(w) - k + 1)})
        jac = collections.defaultdict(list)  # j -> [(J, i)], i < j, J > 0
        for j in range(len(sets)):
            for i in range(j):
                c = len(sets[i] & sets[j])
                if c:
                    jac[j].append((c / (len(sets[i]) + len(sets[j]) - c), i))
        for t in grid:
            parent = list(range(len(recs)))

            def find(x):
                while parent[x] != x:
                    parent[x] = parent[parent[x]]
                    x = parent[x]
                return x
            story = []
            for j in range(len(recs)):
                near = [(v, i) for v, i in jac[j] if v >= t]
                for v, i in near:
                    parent[find(i)] = find(j)
                story.append(story[max(near)[1]] if near else j)
            for name, pred in (("plain", [find(i) for i in range(len(recs))]),
                               ("plain-stream", story)):
                a = ari(pred, truth)
                if a > best[name][0]:
                    best[name] = (a, k, t)
    return best


def wiredup_ari(wiredup, path, sets):
    cmd = [wiredup, "eval", "--input", path, "--stories", "--set", "input.fields.text=text"]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(re.search(r"^ari=([-\d.]+)", out, re.M).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                   "shared", "data"))
    ap.add_argument("--wiredup", default="build/wiredup")
    ap.add_argument("--baseline", action="store_true", help="also the plain baselines (slow)")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE for wiredup")
    args = ap.parse_args()
    meter_p = os.path.join(args.data, "meter-courts-dev.jsonl")
    urdu_p = os.path.join(args.data, "counter-urdu-dev.jsonl")
    if not (os.path.exists(meter_p) and os.path.exists(urdu_p)):
        print("story-desks: %s has no meter-courts-dev / counter-urdu-dev; skipped" % args.data)
        return 0
    meter = [json.loads(l) for l in open(meter_p)]
    urdu = [json.loads(l) for l in open(urdu_p)]
    desks = [("meter-courts-dev", meter), ("urdu-events", urdu_events(urdu)),
             ("names-shared", names_shared(meter)), ("round-ups", round_ups(meter))]
    desks += [("day-fifth-%d" % s, day_fifth(meter, s)) for s in range(1, 6)]
    cols = ["desk", "articles", "stories", "wiredup"]
    if args.baseline:
        cols += ["plain (k, t)", "plain-stream (k, t)"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    with tempfile.TemporaryDirectory() as tmp:
        for name, recs in desks:
            path = os.path.join(tmp, name + ".jsonl")
            with open(path, "w") as f:
                for r in recs:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
            row = [name, str(len(recs)), str(len({r["cluster"] for r in recs})),
                   "%.3f" % wiredup_ari(args.wiredup, path, args.set)]
            if args.baseline:
                b = plain_scores(recs)
                row += ["%.3f (%d, %.2f)" % b[k] for k in ("plain", "plain-stream")]
            print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
