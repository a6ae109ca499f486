#!/bin/bash
# 0002-dead-letters: malformed records (not JSON, no id, invalid UTF-8, over
# input.max_bytes, no text) go to the dead-letter topic unchanged, with the
# wiredup.error and wiredup.source headers; the valid records around them
# are processed.
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4 --topic articles.dlq:1

# All in partition 0, keyless (a key would be taken as the id), bad ones
# between good ones so that "processing continues" is visible.
"$PY" - "$T/input.bin" <<'PYEOF' || fail "could not write input"
import json, sys
def ok(i):
    return json.dumps({"id": "v%d" % i, "title": "t", "source": "s.example",
                       "body": "valid article number %d with enough words to shingle" % i})
big = json.dumps({"id": "too-big", "body": "x" * 5000})
recs = [ok(1),
        "this is not json {",
        json.dumps({"title": "no id here", "body": "some text"}),
        ok(2),
        '{"id":"bad-utf8","body":"caf\xe9 au lait"}',
        big,
        json.dumps({"id": "no-text", "title": "only a title"}),
        ok(3), ok(4)]
with open(sys.argv[1], "wb") as f:
    for r in recs:
        f.write(r.encode("latin-1") if "bad-utf8" in r else r.encode("utf-8"))
        f.write(b"\n")
PYEOF
kcat -b "$BOOTSTRAP" -P -t articles -p 0 -l "$T/input.bin" || fail "kcat produce failed"
info "produced 9 records to partition 0 (5 malformed)"

start_wiredup dlq --set input.max_bytes=2048
wait_keys articles.clusters 4 40
# the DLQ records are produced before the valid ones after them, but give
# their acks a moment anyway: wait for 5 dead letters
for _ in $(seq 40); do
  [ "$(kc -C -t articles.dlq -o beginning -e -q -f 'x\n' 2>/dev/null | grep -c .)" -ge 5 ] && break
  sleep 0.5
done
info "stopping"; stop_wiredup "$WD_PID"; info stopped
[ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC"
[ "$(grep -c 'msg="dead-lettered invalid record"' "$T/dlq.log")" -eq 5 ] ||
  fail "expected 5 dead-letter log lines"

"$PY" - "$BOOTSTRAP" <<'PYEOF' || fail "dead-letter check failed"
import json, sys
from wdkafka import read_topic
bs = sys.argv[1].split(",")
def read(topic, want):
    return read_topic(bs, topic, want)
inp = {r.offset: r for r in read("articles", 9)}
assert len(inp) == 9, len(inp)
dlq = read("articles.dlq", 5)
assert len(dlq) == 5, "want 5 dead letters, got %d" % len(dlq)
want_reason = {1: "json", 2: "id", 4: "utf", 5: "max_bytes", 6: "text"}
for r in dlq:
    h = {k: v.decode("utf-8") for k, v in r.headers}
    assert "wiredup.error" in h and h["wiredup.error"], "no reason: %r" % (r.headers,)
    topic, part, off = h["wiredup.source"].split("/")
    assert topic == "articles" and part == "0", h
    orig = inp[int(off)]
    assert r.value == orig.value, "value changed for offset %s" % off
    assert r.key == orig.key, "key changed for offset %s" % off
    word = want_reason[int(off)]
    assert word in h["wiredup.error"].lower().replace("-", "").replace(" ", "_") or \
        word in h["wiredup.error"].lower(), "offset %s reason %r lacks %r" % (off, h["wiredup.error"], word)
    print("dead letter offset %s: %s" % (off, h["wiredup.error"]))
assert sorted(int(dict(r.headers)["wiredup.source"].decode().split("/")[2]) for r in dlq) == [1, 2, 4, 5, 6]
out = read("articles.clusters", 4)
ids = sorted(json.loads(r.value)["id"] for r in out)
assert ids == ["v1", "v2", "v3", "v4"], ids
print("4 results, 5 dead letters with headers; values unchanged")
PYEOF
info "ok"
