#!/usr/bin/python3
"""latency.py - the producer/consumer side of benchmarks/latency.sh.

  latency.py --bootstrap HOST:PORT [--in-topic articles] [--out-topic articles.clusters]
             [--count N] [--warmup W] [--gap-ms 20:100] [--seed S] [--fields ...]

Produces articles one at a time to --in-topic (keyed by a fresh unique id,
published_at = now, bodies taken round-robin from config/sample-articles.jsonl)
and times each until the record with that key appears on --out-topic. The
latency is the consumer's receive time minus the time of the produce call,
both time.perf_counter() in this one process. The consumer is assigned to
every partition of --out-topic at its end before the first article, and
fetches with fetch_max_wait_ms=5 (the receive side's resolution).
With --out-topic equal to --in-topic (the floor) the same records come back
without wiredup in between.

The first W warm-up articles (the first waits up to --join-timeout for the
group join) are not counted. Prints one key=value line (bench=... first).
"""
import argparse
import json
import os
import random
import sys
import time
from datetime import datetime, timezone

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))


def load_samples(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                a = json.loads(line)
                out.append({k: a[k] for k in ("title", "body", "source") if k in a})
    return out


def pct(sorted_v, q):
    """Nearest-rank percentile (q in 0..100) of a sorted list."""
    if not sorted_v:
        return float("nan")
    k = max(1, int(-(-q * len(sorted_v) // 100)))  # ceil(q/100 * n), at least 1
    return sorted_v[min(k, len(sorted_v)) - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--in-topic", default="articles")
    ap.add_argument("--out-topic", default="articles.clusters")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--gap-ms", default="20:100")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=45.0, help="per article, s")
    ap.add_argument("--join-timeout", type=float, default=90.0, help="first warm-up, s")
    ap.add_argument("--samples", default=os.path.join(HERE, "..", "config", "sample-articles.jsonl"))
    ap.add_argument("--bench", default="stream.idle_latency")
    ap.add_argument("--fields", default="", help="appended to the result line")
    ap.add_argument("--raw", help="one line per timed article: latency_ms id send_unix_s "
                    "input_partition input_offset (latency -1: no answer)")
    ap.add_argument("--watch-pid", type=int, action="append", default=[],
                    help="give up at once when this process is gone (repeatable)")
    a = ap.parse_args()
    gap_lo, gap_hi = (float(x) for x in a.gap_ms.split(":"))
    rng = random.Random(a.seed)
    samples = load_samples(a.samples)
    bs = a.bootstrap.split(",")

    cons = KafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False,
                         fetch_max_wait_ms=5, api_version_auto_timeout_ms=10000)
    parts = None
    for _ in range(100):
        parts = cons.partitions_for_topic(a.out_topic)
        if parts:
            break
        time.sleep(0.1)
    if not parts:
        sys.exit("latency.py: topic %s has no partitions" % a.out_topic)
    tps = [TopicPartition(a.out_topic, p) for p in sorted(parts)]
    cons.assign(tps)
    cons.seek_to_end(*tps)
    for tp in tps:  # resolve the end offsets now, not on the first poll
        cons.position(tp)

    prod = KafkaProducer(bootstrap_servers=bs, linger_ms=0, acks=1,
                         api_version_auto_timeout_ms=10000)
    prod.partitions_for(a.in_topic)  # metadata before the first timed send

    run = "%x%04x" % (int(time.time()), os.getpid() & 0xFFFF)
    seen = set()
    sent = []  # (id, wall-clock send time, future) of the article being timed

    def gone():
        for pid in a.watch_pid:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return pid
        return None

    def one(i, limit):
        art = dict(samples[i % len(samples)])
        aid = "lat-%s-%06d" % (run, i)
        art["id"] = aid
        art["published_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        key = aid.encode()
        val = json.dumps(art, ensure_ascii=False).encode("utf-8")
        wall = time.time()
        t0 = time.perf_counter()
        fut = prod.send(a.in_topic, key=key, value=val)
        sent.append((aid, wall, fut))
        deadline = t0 + limit
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            if gone():
                sys.exit("latency.py: process %d exited during the run" % gone())
            got = cons.poll(timeout_ms=max(1, int(min(left, 0.5) * 1000)), max_records=500)
            t1 = time.perf_counter()
            for recs in got.values():
                for r in recs:
                    if r.key:
                        seen.add(r.key)
            if key in seen:
                seen.discard(key)
                return (t1 - t0) * 1000.0

    for i in range(a.warmup):
        ms = one(i, a.join_timeout if i == 0 else a.timeout)
        if ms is None:
            sys.exit("latency.py: warm-up article %d got no result in time" % i)
        time.sleep(rng.uniform(gap_lo, gap_hi) / 1000.0)

    lat, missing, detail = [], 0, []
    for i in range(a.warmup, a.warmup + a.count):
        del sent[:]
        ms = one(i, a.timeout)
        aid, wall, fut = sent[0]
        try:
            md = fut.get(timeout=5)
            where = "%d %d" % (md.partition, md.offset)
        except Exception:  # only for the detail line
            where = "? ?"
        detail.append("%.3f %s %.6f %s" % (ms if ms is not None else -1, aid, wall, where))
        if ms is None:
            missing += 1
        else:
            lat.append(ms)
        time.sleep(rng.uniform(gap_lo, gap_hi) / 1000.0)
    prod.close()
    cons.close()
    if a.raw:  # latency_ms id send_unix_s input_partition input_offset (-1: no answer)
        with open(a.raw, "w") as f:
            f.write("".join(d + "\n" for d in detail))
    s = sorted(lat)
    mean = sum(s) / len(s) if s else float("nan")
    print("bench=%s count=%d answered=%d missing=%d min_ms=%.1f p50_ms=%.1f p90_ms=%.1f "
          "p99_ms=%.1f max_ms=%.1f mean_ms=%.1f%s"
          % (a.bench, a.count, len(s), missing, s[0] if s else float("nan"), pct(s, 50),
             pct(s, 90), pct(s, 99), s[-1] if s else float("nan"), mean,
             " " + a.fields if a.fields else ""))
    sys.stdout.flush()
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
