#!/bin/bash
# 0020-hostile: stream mode under hostile records (issue 8), beyond
# 0002-dead-letters. Every malformed record goes to the dead-letter topic
# unchanged (value and key) with a wiredup.error reason and its
# wiredup.source; valid ones around them get correct answers; processing
# continues. Covers: JSON that is not an object, truncated JSON, bad ids
# (null, object, array, bool), text not a string, invalid UTF-8 (value and
# key), raw control bytes, \u0000, a Kafka key with a NUL byte, 100,000-deep
# nesting, empty values and tombstones, a record over input.max_bytes; valid emoji and
# right-to-left text; a redelivered id (stored answer repeated); bad
# timestamps (processed with the Kafka message time instead, as the contract's
# fallback says).
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 1 --topic articles:1 --topic articles.clusters:1 --topic articles.dlq:1

# Produce with kafka-python: exact bytes, keys and message timestamps.
"$PY" - "$BOOTSTRAP" "$T/expect.json" <<'PYEOF' || fail "could not produce"
import json, sys
from kafka import KafkaProducer
bs, expect_path = sys.argv[1], sys.argv[2]
story = ("The port authority said on Monday that dock workers would return to work "
         "after a three day strike over pay and shift patterns, ending a dispute that "
         "had left dozens of container ships waiting at anchor outside the harbour.")
arabic = ("قالت هيئة الميناء يوم الاثنين إن عمال الرصيف سيعودون إلى العمل بعد إضراب "
          "استمر ثلاثة أيام بسبب الأجور ونظام المناوبات مما أنهى نزاعا ترك عشرات السفن")
J = lambda **kw: json.dumps(kw, ensure_ascii=False).encode()
MSG_TS = 1748772000000  # 2025-06-01T10:00:00Z
# (value, key, expected: "ok:<id>" or "dlq:<reason word>")
recs = [
    (J(id="g1", body=story, source="wire.example"), None, "ok:g1"),
    (b'"a string"', None, "dlq:not a json object"),
    (b"[1,2,3]", None, "dlq:not a json object"),
    (b'{"id":"t1","body":"cut off', None, "dlq:not valid json"),
    (b'{"id":null,"body":"x"}', None, "dlq:id"),
    (b'{"id":{"a":1},"body":"x"}', None, "dlq:id"),
    (b'{"id":["x"],"body":"x"}', None, "dlq:id"),
    (b'{"id":false,"body":"x"}', None, "dlq:id"),
    (b'{"id":"m1","body":{"p":1}}', None, "dlq:not a string"),
    (b'{"id":"u1","body":"caf\xe9"}', None, "dlq:utf-8"),
    (J(id="u2", body="valid value, bad key"), b"k\xff", "dlq:utf-8"),
    (J(body="key with a NUL"), b"k\x00z", "dlq:nul"),
    (b'{"id":"c1","body":"a\x01b"}', None, "dlq:control"),
    (rb'{"id":"c2\u0000x","body":"x"}', None, "dlq:u0000"),
    (b"[" * 100000 + b"]" * 100000, None, "dlq:nested"),
    (b"", None, "dlq:empty"),
    (None, b"tombstone", "dlq:empty"),
    (J(id="big", body="word " * 60000), None, "dlq:max_bytes"),
    (J(id="g2", body=story.replace("three day", "three-day"), source="metro.example"), None, "ok:g2"),
    (J(id="rtl1", body=arabic), None, "ok:rtl1"),
    (J(id="rtl2", body=arabic + " \u200fاليوم 🌍"), None, "ok:rtl2"),
    (J(id="ts1", body="bad timestamp here", published_at="2017-02-30T00:00:00Z"), None, "ok:ts1"),
    (J(id="ts2", body="out of range timestamp", published_at=253402300800000), None, "ok:ts2"),
    (J(id="g1", body="redelivered id with other text"), None, "ok:g1"),
]
p = KafkaProducer(bootstrap_servers=bs.split(","), max_request_size=4 << 20,
                  api_version_auto_timeout_ms=10000)
for v, k, _ in recs:
    p.send("articles", value=v, key=k, partition=0, timestamp_ms=MSG_TS)
p.flush(30)
p.close()
json.dump([e for _, _, e in recs], open(expect_path, "w"))
PYEOF
info "produced 24 records (17 malformed)"

start_wiredup hostile --set input.max_bytes=256KiB
wait_keys articles.clusters 6 40
for _ in $(seq 40); do
  [ "$(kc -C -t articles.dlq -o beginning -e -q -f 'x\n' 2>/dev/null | grep -c .)" -ge 17 ] && break
  sleep 0.5
done
kill -0 "$WD_PID" 2>/dev/null || fail "wiredup died"
info "stopping"; stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC"
[ "$(grep -c 'msg="dead-lettered invalid record"' "$T/hostile.log")" -eq 17 ] ||
  fail "expected 17 dead-letter log lines, got $(grep -c 'dead-lettered' "$T/hostile.log")"
[ "$(grep -c 'msg="ignored bad timestamp"' "$T/hostile.log")" -eq 2 ] ||
  fail "expected 2 bad-timestamp warnings"

"$PY" - "$BOOTSTRAP" "$T/expect.json" <<'PYEOF' || fail "check failed"
import json, sys
from wdkafka import read_topic
bs, expect = sys.argv[1].split(","), json.load(open(sys.argv[2]))
def read(topic, want):
    return read_topic(bs, topic, want, max_partition_fetch_bytes=4 << 20,
                      fetch_max_bytes=8 << 20)
inp = {r.offset: r for r in read("articles", len(expect))}
assert len(inp) == len(expect), "input has %d records" % len(inp)
dlq = read("articles.dlq", 17)
want_dlq = {off: e[4:] for off, e in enumerate(expect) if e.startswith("dlq:")}
assert len(dlq) == len(want_dlq), "want %d dead letters, got %d" % (len(want_dlq), len(dlq))
for r in dlq:
    h = {k: v.decode("utf-8") for k, v in r.headers}
    topic, part, off = h["wiredup.source"].split("/")
    off = int(off)
    assert topic == "articles" and part == "0" and off in want_dlq, h
    orig = inp[off]
    assert r.value == orig.value and r.key == orig.key, "offset %d changed in the DLQ" % off
    reason = h.get("wiredup.error", "")
    assert want_dlq[off] in reason.lower(), "offset %d: reason %r lacks %r" % (off, reason, want_dlq[off])
    del want_dlq[off]
    print("dead letter %d: %s" % (off, reason))
assert not want_dlq, "missing dead letters: %r" % want_dlq
out = read("articles.clusters", 8)
res = {}
for r in out:
    v = json.loads(r.value)
    assert r.key.decode() == v["id"]
    res.setdefault(v["id"], []).append(v)
want_ok = sorted(e[3:] for e in expect if e.startswith("ok:"))
assert sorted(v["id"] for r in out for v in [json.loads(r.value)]) == want_ok, sorted(res)
g1a, g1b = res["g1"]
for k in ("cluster_id", "duplicate_of", "similarity", "cluster_size"):
    assert g1a[k] == g1b[k], "redelivered g1 answered differently: %r %r" % (g1a, g1b)
assert res["g2"][0]["duplicate_of"] == "g1" and res["g2"][0]["cluster_id"] == "g1", res["g2"]
assert res["rtl2"][0]["duplicate_of"] == "rtl1", res["rtl2"]
for i in ("ts1", "ts2"):  # bad timestamp: the Kafka message time instead
    assert res[i][0]["published_at"] == "2025-06-01T10:00:00Z", res[i]
print("%d results, %d dead letters with reasons; values and keys unchanged" % (len(out), len(dlq)))
PYEOF
info "ok"
