"""story_sim.py - story rules replayed as the stream would (story-pairs.py --sim).

Articles arrive in file order; one that joins a near-copy cluster (the
cluster_id wiredup gave it) takes its cluster's story; one that starts a
cluster is decided by the rule, from the pairs with an earlier article, and
never moves again. Each rule is scored by ARI on the whole set and
cross-validated: the threshold that is best on one half of the story folders
is scored on the other half, both ways."""
import collections


def replay(docs, sig, cl, rule, keep=None):
    """story label per article (indices in keep only, when given)."""
    story = {}
    members = collections.defaultdict(list)
    cohesion = {}  # story -> list of link strengths its members joined by
    first_of_cluster = {}
    idx = [k for k in range(len(docs)) if keep is None or k in keep]
    links = collections.defaultdict(list)  # j -> [(cos, i, signals)]
    keepset = set(idx)
    for (i, j), s in sig.items():
        if i in keepset and j in keepset:
            links[j].append((s["cos"], i, s))
    for j in idx:
        cid = cl.get(docs[j]["id"], docs[j]["id"])
        if cid != docs[j]["id"] and cid in first_of_cluster:
            st = story[first_of_cluster[cid]]
        else:
            first_of_cluster[docs[j]["id"]] = j
            st, strength = rule(j, links[j], story, members, cohesion)
            if st is None:
                st = j
                cohesion[st] = []
            else:
                cohesion[st].append(strength)
        story[j] = st
        members[st].append(j)
    return [story[j] for j in idx], [docs[j]["label"] for j in idx]


def rule_nn(t, guard=True):
    def r(j, links, story, members, coh):
        best = None
        for c, i, s in links:
            if guard and s["fig_differ"]:
                continue
            if c >= t and (best is None or c > best[0]):
                best = (c, i)
        return (story[best[1]], best[0]) if best else (None, 0)
    return r


def rule_avg(t, guard=False, floor=0.0):
    """average linkage: mean cos over all of the story's members (a pair
    whose figures disagree counts 0 with guard), and a best link >= floor."""
    def r(j, links, story, members, coh):
        tot = collections.defaultdict(float)
        top = collections.defaultdict(float)
        for c, i, s in links:
            if guard and s["fig_differ"]:
                continue
            tot[story[i]] += c
            top[story[i]] = max(top[story[i]], c)
        best = None
        for st, v in tot.items():
            a = v / len(members[st])
            if a >= t and top[st] >= floor and (best is None or a > best[0]):
                best = (a, st)
        return (best[1], best[0]) if best else (None, 0)
    return r


def rule_rel(floor, alpha):
    """best link, but only when >= floor and >= alpha x the story's cohesion
    (mean link its members joined by)."""
    def r(j, links, story, members, coh):
        best = {}
        for c, i, s in links:
            st = story[i]
            if c > best.get(st, 0):
                best[st] = c
        pick = None
        for st, c in best.items():
            h = coh.get(st) or []
            need = max(floor, alpha * (sum(h) / len(h))) if h else floor
            if c >= need and (pick is None or c > pick[0]):
                pick = (c, st)
        return (pick[1], pick[0]) if pick else (None, 0)
    return r


def rule_mass(t, k):
    """the story holding most of the cosine mass of the article's k nearest,
    when its share of the story's members is high: sum of the top-k links
    into a story over sqrt(story size), >= t."""
    def r(j, links, story, members, coh):
        top = sorted(links, key=lambda x: -x[0])[:k]
        mass = collections.defaultdict(float)
        for c, i, s in top:
            mass[story[i]] += c
        pick = None
        for st, m in mass.items():
            v = m / min(len(members[st]), k) ** 0.5
            if v >= t and (pick is None or v > pick[0]):
                pick = (v, st)
        return (pick[1], pick[0]) if pick else (None, 0)
    return r


def score(docs, sig, cl, rule, ari, keep=None):
    p, t = replay(docs, sig, cl, rule, keep)
    return ari(p, t)


def run(docs, sig, cl, ari, half_of):
    halves = [set(k for k, d in enumerate(docs) if half_of(d["label"]) == h) for h in (0, 1)]
    families = {
        "avg": (rule_avg, [0.08, 0.1, 0.12, 0.15, 0.18, 0.2, 0.25, 0.3]),
        "avg+guard": (lambda t: rule_avg(t, True), [0.08, 0.1, 0.12, 0.15, 0.18, 0.2, 0.25, 0.3]),
        "avg fl.2": (lambda t: rule_avg(t, False, 0.2), [0.08, 0.1, 0.12, 0.15, 0.18, 0.2, 0.25]),
        "nn+guard": (lambda t: rule_nn(t, True), [0.1, 0.15, 0.2, 0.25, 0.3]),
        "nn": (lambda t: rule_nn(t, False), [0.1, 0.15, 0.2, 0.25, 0.3]),
        "rel a=0.5": (lambda t: rule_rel(t, 0.5), [0.1, 0.15, 0.2, 0.25]),
        "mass k=5": (lambda t: rule_mass(t, 5), [0.15, 0.2, 0.25, 0.3]),
    }
    for name, (mk, grid) in families.items():
        full = [score(docs, sig, cl, mk(t), ari) for t in grid]
        hs = [[score(docs, sig, cl, mk(t), ari, halves[h]) for t in grid] for h in (0, 1)]
        cv = []
        for h in (0, 1):
            bi = max(range(len(grid)), key=lambda k: hs[h][k])
            cv.append(hs[1 - h][bi])
        print(f"{name:10s} " + " ".join(f"{t}:{a:.3f}" for t, a in zip(grid, full)))
        print(f"{'':10s} cv (tune half, score other) {cv[0]:.3f} {cv[1]:.3f}; "
              f"halves' own best {max(hs[0]):.3f} {max(hs[1]):.3f}")
