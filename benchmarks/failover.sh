#!/usr/bin/env bash
# failover.sh - how long results stop when the elected instance of a
# scaled-out topology (topology.enabled) dies.
#   benchmarks/failover.sh [--wiredup PATH] [--broker PATH] [--partitions P]
#                          [--count N] [--kill-after S] [--session-timeout MS]
#                          [--prefill N] [--standby true|false]
# Prints one line:
#   bench=stream.failover partitions=P count=N ... p50_ms=... max_ms=...
#     session_timeout_ms=MS prefill=N standby=B catch_up_ms=C
# max_ms is the failover: articles are sent one at a time (20-100 ms apart)
# and each is timed until its result is read back (latency.py); the one in
# flight when the elected instance is killed with -9 waits for the group to
# notice (kafka.session.timeout.ms), elect another instance, and for that
# one to catch up: with --standby true (topology.standby, the default) the
# other instance kept a warm copy and carries on from it; with false it
# rebuilds the memory from <group>.fingerprints (--prefill N articles are
# put through first, so there is a memory to rebuild). catch_up_ms is that
# last part alone, from the new owner's log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
WIREDUP=$here/../build/wiredup
BROKER=
PARTS=8
COUNT=150
KILL_AFTER=4
SESSION=6000
PREFILL=2000
STANDBY=true
while [ $# -gt 0 ]; do
  case "$1" in
    --wiredup) WIREDUP=$2; shift 2 ;;
    --broker) BROKER=$2; shift 2 ;;
    --partitions) PARTS=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --kill-after) KILL_AFTER=$2; shift 2 ;;
    --session-timeout) SESSION=$2; shift 2 ;;
    --prefill) PREFILL=$2; shift 2 ;;
    --standby) STANDBY=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "failover.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$BROKER" ] || BROKER=$(dirname "$WIREDUP")/wiredup-mock-broker
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/wd-bench-failover.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  exec 7>&- 2>/dev/null
  [ $rc -ne 0 ] && for f in "$T"/*.log "$T"/broker.err; do
    [ -s "$f" ] && { echo "--- tail of $f" >&2; tail -n 10 "$f" >&2; }
  done
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkfifo "$T/broker.in"
"$BROKER" --topic "articles:$PARTS" --topic "articles.clusters:4" --topic "wiredup.fingerprints:1" \
  <"$T/broker.in" >"$T/broker.out" 2>"$T/broker.err" &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
exec 7>"$T/broker.in"
BS=
for _ in $(seq 100); do
  BS=$(head -n 1 "$T/broker.out" 2>/dev/null | sed -n 's/^bootstrap\.servers=//p')
  [ -n "$BS" ] && break
  sleep 0.1
done
[ -n "$BS" ] || { echo "failover.sh: mock broker printed no bootstrap line" >&2; exit 1; }

if [ "$PREFILL" -gt 0 ]; then # a memory to rebuild: PREFILL generated articles
  "$(dirname "$WIREDUP")/benchmarks/wd-datagen" --count "$PREFILL" --seed 3 >"$T/pre.jsonl" 2>/dev/null
  "$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    if l.strip(): print(json.loads(l)["id"] + "\t" + l.strip())' "$T/pre.jsonl" >"$T/pre.keyed"
  kcat -b "$BS" -P -t articles -K $'\t' -l "$T/pre.keyed"
fi

member() { # NAME
  "$WIREDUP" run --set topology.enabled=true --set "topology.standby=$STANDBY" \
    --set "kafka.bootstrap.servers=$BS" \
    --set metrics.listen= --set "state.dir=$T/state-$1" \
    --set "kafka.session.timeout.ms=$SESSION" --set kafka.heartbeat.interval.ms=1000 \
    --set kafka.fetch.wait.max.ms=10 2>"$T/$1.log" &
  PIDS+=($!)
}
member one
P1=${PIDS[-1]}
member two
P2=${PIDS[-1]}

# latency.py sends its warm-up articles once the group is joined; the kill
# comes KILL_AFTER seconds into the timed articles.
"$PY" "$here/latency.py" --bootstrap "$BS" --count "$COUNT" --warmup 5 --seed 5 \
  --timeout 120 --bench stream.failover --watch-pid "$BROKER_PID" \
  --fields "partitions=$PARTS session_timeout_ms=$SESSION prefill=$PREFILL standby=$STANDBY" >"$T/result" &
LAT=$!
for _ in $(seq 1200); do # the prefill answered and the warm-up going
  grep -q 'msg="cluster role elected' "$T/one.log" "$T/two.log" 2>/dev/null && break
  sleep 0.1
done
owner=
for _ in $(seq 600); do
  out=$(kcat -b "$BS" -C -t articles.clusters -o beginning -e -q -f '%k\n' 2>/dev/null | sort -u | grep -c . || true)
  [ "$out" -ge $((PREFILL + 5)) ] && break
  sleep 0.2
done
sleep "$KILL_AFTER"
if grep -q 'msg="cluster role elected' "$T/one.log"; then owner=$P1; else owner=$P2; fi
kill -KILL "$owner"
wait "$owner" 2>/dev/null || true
echo "failover.sh: killed -9 the elected instance at $(date +%s.%N)" >&2
wait "$LAT"
if [ "$owner" = "$P1" ]; then new=two; else new=one; fi
catch=$(sed -n 's/.*msg="cluster role caught up.*catch_up_ms=\([0-9]*\).*/\1/p' "$T/$new.log" | tail -n 1)
echo "$(cat "$T/result") catch_up_ms=${catch:-?}"
