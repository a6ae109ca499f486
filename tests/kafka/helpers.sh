# helpers.sh - shared by tests/kafka/NNNN-*.sh (kcat tests/ style).
#
# Each test starts its own wiredup-mock-broker on loopback, drives wiredup in
# stream mode against it with kcat and kafka-python, and always cleans up
# (broker, wiredup processes, temp dir) through the EXIT trap. Every wait is
# bounded. Exit 77 = skipped (ctest SKIP_RETURN_CODE).
#
# Environment (set by tests/CMakeLists.txt): WIREDUP, WD_MOCK_BROKER,
# WD_SOURCE_DIR, WD_BUILD_DIR. WD_KEEP=1 keeps the temp dir for a post-mortem.

set -u

PY=/usr/bin/python3 # the Debian python has kafka-python; a pyenv one may not
# wdkafka.py (shared kafka-python code) for the tests' inline Python
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
TEST_NAME=$(basename "$0" .sh)
T0=$SECONDS

skip() { echo "skip: $*"; exit 77; }
fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  for f in "$T"/*.log "$T"/broker.err "$T"/kcat.err; do
    [ -s "$f" ] && { echo "--- tail of $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}
info() { echo "[$TEST_NAME +$((SECONDS - T0))s] $*"; }

[ -n "${WIREDUP:-}" ] && [ -x "$WIREDUP" ] || skip "WIREDUP not set or not executable"
[ -n "${WD_MOCK_BROKER:-}" ] && [ -x "$WD_MOCK_BROKER" ] || skip "wiredup-mock-broker not built"
command -v kcat >/dev/null || skip "kcat not installed"
"$PY" -c 'import kafka' 2>/dev/null || skip "kafka-python (python3-kafka) not installed"

T=$(mktemp -d "${TMPDIR:-/tmp}/wd-kafka-$TEST_NAME.XXXXXX")
PIDS=()
BROKER_PID=
BOOTSTRAP=

cleanup() {
  local rc=$?
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  exec 7>&- 2>/dev/null
  if [ "${WD_KEEP:-0}" = 1 ] || { [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "${WD_KEEP_ON_FAIL:-}" ]; }; then
    echo "kept $T"
  else
    rm -rf "$T"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_broker [wiredup-mock-broker args...]: sets BOOTSTRAP and BROKER_PID.
# Commands go to its stdin through fd 7 (see broker_cmd).
start_broker() {
  mkfifo "$T/broker.in"
  "$WD_MOCK_BROKER" "$@" <"$T/broker.in" >"$T/broker.out" 2>"$T/broker.err" &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  exec 7>"$T/broker.in" # opening the write end lets the broker's open finish
  for _ in $(seq 100); do
    BOOTSTRAP=$(head -n 1 "$T/broker.out" 2>/dev/null | sed -n 's/^bootstrap\.servers=//p')
    [ -n "$BOOTSTRAP" ] && break
    kill -0 "$BROKER_PID" 2>/dev/null || fail "mock broker exited: $(cat "$T/broker.err")"
    sleep 0.1
  done
  [ -n "$BOOTSTRAP" ] || fail "mock broker printed no bootstrap line in 10 s"
  info "mock broker at $BOOTSTRAP"
}

# broker_cmd CMD...: send a fault-injection command and wait for its answer.
broker_cmd() {
  local before
  before=$(wc -l <"$T/broker.out")
  echo "$*" >&7
  for _ in $(seq 50); do
    [ "$(wc -l <"$T/broker.out")" -gt "$before" ] && break
    sleep 0.1
  done
  local answer
  answer=$(tail -n 1 "$T/broker.out")
  [ "$answer" = "ok $*" ] || fail "broker command '$*': ${answer:-no answer}"
  info "broker: $*"
}

# kc ARGS...: kcat consumer against the mock with short fetch waits.
kc() { kcat -b "$BOOTSTRAP" -X fetch.wait.max.ms=10 "$@"; }

# produce_keyed TOPIC FILE: FILE holds "key<TAB>value" lines.
produce_keyed() {
  kcat -b "$BOOTSTRAP" -P -t "$1" -K $'\t' -l "$2" 2>>"$T/kcat.err" ||
    fail "kcat could not produce $2 to $1: $(tail -n 2 "$T/kcat.err")"
}

# keyed_from_jsonl IN OUT: "id<TAB>line" per JSON line (the Kafka key is the id).
keyed_from_jsonl() {
  "$PY" - "$1" "$2" <<'EOF' || fail "could not key $1"
import json, sys
with open(sys.argv[1], encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in f:
        line = line.strip()
        if line:
            out.write("%s\t%s\n" % (json.loads(line)["id"], line))
EOF
}

# gen_articles N PREFIX SEED OUT.jsonl: N synthetic articles, about a third
# of them near-duplicates of an earlier story (one word changed). Any two
# copies of a story are far above the clustering threshold and different
# stories share nothing, so the clusters do not depend on arrival order.
gen_articles() {
  "$PY" - "$@" <<'EOF' || fail "could not generate articles"
import json, random, sys
n, prefix, seed, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
rng = random.Random(seed)
vocab = ["w%04d" % i for i in range(5000)]
stories = []
with open(out, "w") as f:
    for i in range(n):
        if stories and rng.random() < 0.35:
            words = list(rng.choice(stories))
            words[rng.randrange(len(words))] = rng.choice(vocab)
        else:
            words = [rng.choice(vocab) for _ in range(rng.randint(60, 120))]
            stories.append(words)
        f.write(json.dumps({"id": "%s%06d" % (prefix, i), "title": " ".join(words[:8]),
                            "body": " ".join(words), "source": "src%d.example" % (i % 7),
                            "published_at": "2025-06-%02dT%02d:%02d:00Z"
                            % (1 + i // 1440 % 28, i // 60 % 24, i % 60)}) + "\n")
EOF
}

# gen_timeline N PREFIX SEED: N articles one a minute (50 hours for 3,000),
# 35% of them copies (one word changed) of a story started in the 90 minutes
# before, so with index.window=2h any eviction too early, or any record
# decided out of event-time order, changes the clusters. Writes
# $T/all.jsonl and, per partition P of 4, $T/part.P (id<TAB>record,
# partition = index mod 4).
gen_timeline() {
  "$PY" - "$T" "$1" "$2" "$3" <<'EOF' || fail "could not generate articles"
import json, random, sys
t, n, prefix, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = random.Random(seed)
vocab = ["w%05d" % i for i in range(20000)]
recent = []  # (minute, words)
parts = [open("%s/part.%d" % (t, p), "w") for p in range(4)]
with open(t + "/all.jsonl", "w") as f:
    for i in range(n):
        recent = [(m, w) for m, w in recent if i - m <= 90]
        if recent and rng.random() < 0.35:
            words = list(rng.choice(recent)[1])
            words[rng.randrange(len(words))] = rng.choice(vocab)
        else:
            words = [rng.choice(vocab) for _ in range(rng.randint(60, 120))]
            recent.append((i, words))
        a = {"id": "%s%05d" % (prefix, i), "body": " ".join(words),
             "source": "src%d.example" % (i % 5),
             "published_at": "2025-03-%02dT%02d:%02d:00Z" % (1 + i // 1440, i // 60 % 24, i % 60)}
        line = json.dumps(a)
        f.write(line + "\n")
        parts[i % 4].write("%s\t%s\n" % (a["id"], line))
EOF
}

# start_wiredup NAME [wiredup run args...]: stream mode against the mock,
# stderr to $T/NAME.log, checkpoints in $T/state; sets WD_PID. The metrics endpoint is off (tests run
# in parallel and would fight over 127.0.0.1:9464); a test that wants it
# passes --set metrics.listen=127.0.0.1:$(free_port). WD_RUNNER, when set,
# is a command line wiredup runs under (e.g. valgrind and its options).
start_wiredup() {
  local name=$1
  shift
  ${WD_RUNNER:-} "$WIREDUP" run --set metrics.listen= --set kafka.bootstrap.servers="$BOOTSTRAP" \
    --set state.dir="$T/state" \
    --set kafka.session.timeout.ms=6000 --set kafka.heartbeat.interval.ms=1000 \
    --set kafka.fetch.wait.max.ms=10 "$@" 2>"$T/$name.log" &
  WD_PID=$!
  PIDS+=("$WD_PID")
  info "started wiredup $name (pid $WD_PID)"
}

# stop_wiredup PID [TIMEOUT_S]: SIGTERM, wait (bounded); sets WD_RC.
stop_wiredup() {
  local pid=$1 limit=${2:-30}
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq $((limit * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "wiredup (pid $pid) still running ${limit}s after SIGTERM"
  wait "$pid"
  WD_RC=$?
}

# count_keys TOPIC: distinct message keys in TOPIC now.
count_keys() {
  kc -C -t "$1" -o beginning -e -q -f '%k\n' 2>/dev/null | sort -u | grep -c .
}

# wait_keys TOPIC N TIMEOUT_S: until TOPIC holds N distinct keys.
wait_keys() {
  local have=0
  for _ in $(seq $(($3 * 2))); do
    have=$(count_keys "$1")
    [ "$have" -ge "$2" ] && return 0
    sleep 0.5
  done
  fail "$1 has $have distinct keys after $3 s, want $2"
}

# dump_values TOPIC OUT: every value of TOPIC, one per line.
dump_values() {
  kc -C -t "$1" -o beginning -e -q -f '%s\n' >"$2" 2>/dev/null || fail "kcat could not read $1"
}

# py_committed GROUP TOPIC: "partition offset" lines, the group's committed
# offsets read back with kafka-python (-1 = none).
py_committed() {
  "$PY" - "$BOOTSTRAP" "$1" "$2" <<'EOF'
import sys
from kafka import KafkaConsumer, TopicPartition
bs, group, topic = sys.argv[1], sys.argv[2], sys.argv[3]
c = KafkaConsumer(bootstrap_servers=bs.split(","), group_id=group,
                  enable_auto_commit=False, api_version_auto_timeout_ms=10000)
parts = sorted(c.partitions_for_topic(topic) or [])
for p in parts:
    off = c.committed(TopicPartition(topic, p))
    print(p, -1 if off is None else off)
c.close(autocommit=False)
EOF
}

# free_port: a TCP port free on 127.0.0.1 right now (the kernel's pick).
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# scrape PORT PATH OUT: GET http://127.0.0.1:PORT/PATH into OUT; prints the
# HTTP status (000 when nothing answers).
scrape() {
  "$PY" - "$1" "$2" "$3" <<'EOF'
import sys, urllib.request, urllib.error
port, path, out = sys.argv[1:4]
try:
    with urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, path), timeout=5) as r:
        body, code = r.read(), r.status
except urllib.error.HTTPError as e:
    body, code = e.read(), e.code
except OSError:
    body, code = b"", 0
open(out, "wb").write(body)
print("%03d" % code)
EOF
}

# metric FILE NAME{LABELS}: the value of one sample in a scraped exposition
# (empty when absent).
metric() {
  awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# make_batches N PREFIX SEED LINES: the fault tests' input: N generated
# articles in $T/gen.jsonl, keyed by id in $T/all.keyed, and split into
# $T/batch.00, $T/batch.01, ... of LINES records each.
make_batches() {
  gen_articles "$1" "$2" "$3" "$T/gen.jsonl"
  keyed_from_jsonl "$T/gen.jsonl" "$T/all.keyed"
  split -l "$4" -d "$T/all.keyed" "$T/batch."
}

# end_fault_run N [KEYS_TIMEOUT_S] [COMMIT_TIMEOUT_S]: the fault tests'
# ending. Waits until articles.clusters holds N distinct ids (N=0: no wait)
# and the group has committed articles to its end (lag 0); wiredup must
# still be running and stop with exit 0; then check_results on everything.
end_fault_run() {
  [ "$1" -gt 0 ] && wait_keys articles.clusters "$1" "${2:-40}"
  wait_committed_end wiredup articles "${3:-30}"
  kill -0 "$WD_PID" 2>/dev/null || fail "wiredup died"
  stop_wiredup "$WD_PID"
  [ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC"
  dump_values articles.clusters "$T/out.jsonl"
  check_results "$T/gen.jsonl" "$T/out.jsonl"
}

# check_results IN.jsonl OUT.jsonl: the fault tests' "loses nothing" rule.
# Every input id has a result and no other id does; an id with more than one
# result is an at-least-once redelivery, so every copy must be identical
# (same answer, same input coordinates). Prints the counts.
check_results() {
  "$PY" - "$1" "$2" <<'PYEOF' || fail "result check failed"
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
by_id = {}
for line in open(sys.argv[2], encoding="utf-8"):
    if line.strip():
        v = json.loads(line)
        by_id.setdefault(v["id"], []).append(v)
missing = sorted(set(ids) - set(by_id))
assert not missing, "%d ids without a result, e.g. %s" % (len(missing), missing[:5])
extra = sorted(set(by_id) - set(ids))
assert not extra, "results for ids never produced: %s" % extra[:5]
repeated = {i: rs for i, rs in by_id.items() if len(rs) > 1}
for i, rs in repeated.items():
    assert all(r == rs[0] for r in rs), "id %s has different results: %s" % (i, rs)
print("%d ids, %d results, %d ids answered more than once (identical copies)"
      % (len(ids), sum(len(rs) for rs in by_id.values()), len(repeated)))
PYEOF
}

# wait_committed_end GROUP TOPIC TIMEOUT_S: until GROUP's committed offset of
# every partition of TOPIC is its end offset (the lag is 0), bounded.
wait_committed_end() {
  "$PY" - "$BOOTSTRAP" "$1" "$2" "$3" <<'PYEOF' || fail "$1 did not commit $2 to its end in $3 s"
import sys, time
from kafka import KafkaConsumer, TopicPartition
bs, group, topic, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
c = KafkaConsumer(bootstrap_servers=bs.split(","), group_id=group,
                  enable_auto_commit=False, api_version_auto_timeout_ms=10000)
tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
deadline = time.monotonic() + limit
while True:
    ends = c.end_offsets(tps)
    lag = {tp.partition: ends[tp] - (c.committed(tp) or 0) for tp in tps}
    if tps and not any(lag.values()):
        print("committed == end offsets %s" % [ends[tp] for tp in tps])
        break
    if time.monotonic() > deadline:
        print("lag per partition after %.0f s: %s" % (limit, lag))
        sys.exit(1)
    time.sleep(0.5)
c.close(autocommit=False)
PYEOF
}

# wait_records TOPIC N TIMEOUT_S: until TOPIC holds at least N records
# (the sum of its end offsets). Asks only ListOffsets, never Fetch, so
# Fetch errors injected for wiredup stay for wiredup.
wait_records() {
  "$PY" - "$BOOTSTRAP" "$1" "$2" "$3" <<'PYEOF' || fail "$1 has fewer than $2 records after $3 s"
import sys, time
from kafka import KafkaConsumer, TopicPartition
bs, topic, want, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
c = KafkaConsumer(bootstrap_servers=bs.split(","), api_version_auto_timeout_ms=10000)
deadline = time.monotonic() + limit
have = 0
while True:
    parts = c.partitions_for_topic(topic) or []
    if parts:
        have = sum(c.end_offsets([TopicPartition(topic, p) for p in parts]).values())
        if have >= want:
            break
    if time.monotonic() > deadline:
        print("%s: %d records, want %d" % (topic, have, want))
        sys.exit(1)
    time.sleep(0.3)
c.close()
PYEOF
}
