#!/usr/bin/env python3
"""story-pairs.py - what separates same-story from different-story pairs.

An offline model of the story layer's inputs, for measuring signals and
trying story rules before they are written in C: per article, the 64
heaviest words by tf-idf with document frequencies counted online (each
article weighted by the articles before it, as simhash.c does), its
numbers (2+ digits), its source; then, for every pair of articles, the
signals, and each signal's separation (ROC AUC of same-story against
different-story pairs among pairs sharing some heavy word). With --sim it
replays story rules as the stream would (one pass, decisions at arrival)
and scores them by ARI, on the whole set and on the two halves of a split
by story folder (a hash of the label), tuned on one half and scored on the
other. Standard library only; an approximation of the C stages (tokens are
\\w+ after case folding), so the C rule is measured again with wiredup eval.

  scripts/story-pairs.py --input meter-courts-dev.jsonl --text text \\
      --clusters run-output.jsonl [--sim]
"""
import argparse
import collections
import hashlib
import json
import math
import re
import sys

TOP = 64
PROBE = 8


def tokens(text):
    return re.findall(r"\w+", text.casefold())


def numbers(toks):
    return {t for t in toks if sum(c.isdigit() for c in t) >= 2 and t.isdigit()}


def build(recs, field):
    df = collections.Counter()
    n = 0
    docs = []
    for r in recs:
        toks = tokens(r[field])
        tf = collections.Counter(toks)
        n1 = n + 1.0
        w = {t: (1 + math.log(c)) * (math.log(n1 / (df[t] + 1.0)) + 1.0)
             for t, c in tf.items()}
        top = sorted(w.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        vec = dict(top)
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        heavy = [t for t, _ in top[:PROBE]]
        # idf at arrival, for rarity of shared words
        idf = {t: math.log(n1 / (df[t] + 1.0)) + 1.0 for t in vec}
        docs.append(dict(id=r["id"], label=r.get("cluster"), src=r.get("source"),
                         vec=vec, norm=norm, heavy=set(heavy),
                         nums=numbers(toks), idf=idf))
        for t in tf:
            df[t] += 1
        n += 1
    return docs


def cosine(a, b):
    if len(a["vec"]) > len(b["vec"]):
        a, b = b, a
    dot = sum(v * b["vec"].get(t, 0.0) for t, v in a["vec"].items())
    return dot / (a["norm"] * b["norm"])


def pair_signals(a, b):
    """Signals of earlier article a and later article b."""
    shared = a["vec"].keys() & b["vec"].keys()
    union = a["vec"].keys() | b["vec"].keys()
    # rarity-weighted Jaccard of the kept words, idf as b saw it
    idf = {**a["idf"], **b["idf"]}
    rj = (sum(idf[t] for t in shared) / sum(idf[t] for t in union)) if union else 0.0
    hs = min(len(a["heavy"] & b["vec"].keys()), len(b["heavy"] & a["vec"].keys()))
    na, nb = a["nums"], b["nums"]
    numsh = len(na & nb)
    fig_differ = len(na) >= 2 and len(nb) >= 2 and 2 * numsh < min(len(na), len(nb))
    return dict(cos=cosine(a, b), rjac=rj, heavy=hs, nums=numsh,
                fig_differ=int(fig_differ), same_src=int(a["src"] == b["src"] and a["src"] is not None))


def auc(pos, neg):
    """P(pos > neg) + 0.5 P(tie), by ranks."""
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    rank_sum, i, r = 0.0, 0, 1
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        avg = (r + r + (j - i) - 1) / 2.0
        rank_sum += avg * sum(1 for k in range(i, j) if allv[k][1])
        r += j - i
        i = j
    np_, nn = len(pos), len(neg)
    if not np_ or not nn:
        return float("nan")
    return (rank_sum - np_ * (np_ + 1) / 2.0) / (np_ * nn)


def ari(pred, truth):
    def c2(x):
        return x * (x - 1) / 2.0
    n = len(pred)
    ab = collections.Counter(zip(pred, truth))
    sa = sum(c2(c) for c in collections.Counter(pred).values())
    sb = sum(c2(c) for c in collections.Counter(truth).values())
    sab = sum(c2(c) for c in ab.values())
    tot = c2(n)
    exp = sa * sb / tot if tot else 0
    mx = (sa + sb) / 2.0
    return (sab - exp) / (mx - exp) if mx != exp else 1.0


def half_of(label):
    return hashlib.md5(label.encode()).digest()[0] & 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--text", default="body")
    ap.add_argument("--clusters", help="wiredup run output: cluster_id per id")
    ap.add_argument("--sim", action="store_true")
    ap.add_argument("--dump", help="write per-pair signals (TSV) here")
    args = ap.parse_args()
    recs = [json.loads(l) for l in open(args.input)]
    docs = build(recs, args.text)
    n = len(docs)
    cl = {}
    if args.clusters:
        for l in open(args.clusters):
            o = json.loads(l)
            cl[o["id"]] = o["cluster_id"]

    # every pair with a shared kept word: signals and label agreement
    sig = {}
    inv = collections.defaultdict(list)
    for j, d in enumerate(docs):
        cands = set()
        for t in d["vec"]:
            cands.update(inv[t])
        for i in cands:
            s = pair_signals(docs[i], d)
            s["same"] = int(docs[i]["label"] == d["label"])
            sig[(i, j)] = s
        for t in d["vec"]:
            inv[t].append(j)
    # rank of i among j's earlier articles by cosine (1 = nearest)
    by_j = collections.defaultdict(list)
    for (i, j), s in sig.items():
        by_j[j].append((s["cos"], i))
    for j, lst in by_j.items():
        lst.sort(key=lambda x: (-x[0], x[1]))
        for r, (_, i) in enumerate(lst):
            sig[(i, j)]["rank"] = r + 1
    pos = [s for s in sig.values() if s["same"]]
    neg = [s for s in sig.values() if not s["same"]]
    truth_pairs = sum(c * (c - 1) // 2 for c in collections.Counter(d["label"] for d in docs).values())
    print(f"articles={n} candidate_pairs={len(sig)} same_story={len(pos)} "
          f"(of {truth_pairs} true pairs) different={len(neg)}")
    for k in ("cos", "rjac", "heavy", "nums", "fig_differ", "same_src", "rank"):
        sgn = -1 if k in ("fig_differ", "same_src", "rank") else 1
        a = auc([sgn * s[k] for s in pos], [sgn * s[k] for s in neg])
        mp = sum(s[k] for s in pos) / len(pos)
        mn = sum(s[k] for s in neg) / len(neg)
        print(f"  {k:10s} AUC={a:.3f} mean same={mp:.3f} different={mn:.3f}")
    # among strong-enough word overlap, what do the other signals add?
    for lo in (0.15, 0.25):
        p2 = [s for s in pos if s["cos"] >= lo]
        n2 = [s for s in neg if s["cos"] >= lo]
        print(f"  pairs with cos >= {lo}: same={len(p2)} different={len(n2)}")
        for k in ("rjac", "heavy", "nums", "fig_differ", "same_src", "rank"):
            sgn = -1 if k in ("fig_differ", "same_src", "rank") else 1
            print(f"    {k:10s} AUC={auc([sgn * s[k] for s in p2], [sgn * s[k] for s in n2]):.3f}")
    if args.dump:
        with open(args.dump, "w") as f:
            keys = ["cos", "rjac", "heavy", "nums", "fig_differ", "same_src", "rank", "same"]
            f.write("i\tj\t" + "\t".join(keys) + "\n")
            for (i, j), s in sorted(sig.items()):
                f.write(f"{i}\t{j}\t" + "\t".join(str(s[k]) for k in keys) + "\n")
    if args.sim:
        import story_sim  # noqa: E402  (beside this script)
        story_sim.run(docs, sig, cl, ari, half_of)


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    main()
