#!/usr/bin/env bash
# latency.sh - how fast an idle (caught-up) stream answers one new article.
#   benchmarks/latency.sh [--wiredup PATH] [--broker PATH] [--count N] [--partitions P]
#                         [--fetch-wait MS|default] [--warmup W] [--seed S] [--floor]
#                         [--log FILE] [--raw FILE] [-- EXTRA wiredup run ARGS...]
# --log FILE keeps wiredup's stderr, each line prefixed with its Unix time;
# --raw FILE one line per timed article (latency.py --raw). For a post-mortem:
#   latency.sh --partitions 16 --log wd.log --raw lat.txt -- --set log.level=debug --set kafka.debug=fetch
# Prints one line:
#   bench=stream.idle_latency partitions=P count=N answered=N missing=0 min_ms=...
#     p50_ms=... p90_ms=... p99_ms=... max_ms=... mean_ms=... fetch_wait_ms=100 wiredup=PATH
#
# Starts wiredup-mock-broker with articles:P and articles.clusters:P, then
# `wiredup run` in stream mode with the settings a user would give on a real
# cluster (bootstrap servers, no metrics endpoint, state in the temp dir)
# plus kafka.fetch.wait.max.ms (100 by default: the mock answers an empty
# fetch only after the whole wait; `--fetch-wait default` leaves librdkafka's
# 500). benchmarks/latency.py (kafka-python, /usr/bin/python3) produces W
# warm-up articles (the first waits for the group join), then N articles one
# at a time, 20-100 ms apart, each keyed by a fresh id with published_at =
# now, and times each until its result is on articles.clusters (a consumer
# assigned to every output partition, fetch_max_wait_ms=5): receive time
# minus produce-call time on one clock.
#
# --floor: no wiredup; the same client produces to articles and reads the
# same topic back (bench=stream.idle_latency_floor): the part of the figure
# that is the client, the mock broker and the 5 ms fetch wait.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
WIREDUP=$here/../build/wiredup
BROKER=
COUNT=200
PARTS=4
FETCH_WAIT=100
WARMUP=5
SEED=1
FLOOR=0
LOG=
RAW=
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wiredup) WIREDUP=$2; shift 2 ;;
    --broker) BROKER=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --partitions) PARTS=$2; shift 2 ;;
    --fetch-wait) FETCH_WAIT=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --floor) FLOOR=1; shift ;;
    --log) LOG=$2; shift 2 ;;
    --raw) RAW=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "latency.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$BROKER" ] || BROKER=$(dirname "$WIREDUP")/wiredup-mock-broker
PY=/usr/bin/python3 # the Debian python has kafka-python
[ -x "$BROKER" ] || { echo "latency.sh: no mock broker at $BROKER" >&2; exit 2; }
[ "$FLOOR" = 1 ] || [ -x "$WIREDUP" ] || { echo "latency.sh: no wiredup at $WIREDUP" >&2; exit 2; }
"$PY" -c 'import kafka' 2>/dev/null || { echo "latency.sh: $PY has no kafka-python" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/wd-bench-latency.XXXXXX")
BROKER_PID=
WD_PID=
cleanup() {
  local rc=$?
  set +e
  for p in $WD_PID $BROKER_PID; do
    kill -TERM "$p" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  exec 7>&- 2>/dev/null
  [ -n "$LOG" ] && [ -f "$T/wiredup.log" ] && cp "$T/wiredup.log" "$LOG"
  if [ $rc -ne 0 ]; then
    for f in "$T"/wiredup.log "$T"/broker.err; do
      [ -s "$f" ] && { echo "--- tail of $f" >&2; tail -n 15 "$f" >&2; }
    done
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The broker as tests/kafka/helpers.sh starts it: stdin from a FIFO held
# open on fd 7 (it stops when its stdin ends), bootstrap line first.
mkfifo "$T/broker.in"
"$BROKER" --topic "articles:$PARTS" --topic "articles.clusters:$PARTS" \
  <"$T/broker.in" >"$T/broker.out" 2>"$T/broker.err" &
BROKER_PID=$!
exec 7>"$T/broker.in"
BS=
for _ in $(seq 100); do
  BS=$(head -n 1 "$T/broker.out" 2>/dev/null | sed -n 's/^bootstrap\.servers=//p')
  [ -n "$BS" ] && break
  kill -0 "$BROKER_PID" 2>/dev/null || { echo "latency.sh: mock broker exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$BS" ] || { echo "latency.sh: mock broker printed no bootstrap line" >&2; exit 1; }

fw_field=$FETCH_WAIT
[ "$FETCH_WAIT" = default ] && fw_field=default
if [ "$FLOOR" = 1 ]; then
  "$PY" "$here/latency.py" --bootstrap "$BS" --in-topic articles --out-topic articles \
    --watch-pid "$BROKER_PID" \
    --count "$COUNT" --warmup "$WARMUP" --seed "$SEED" --bench stream.idle_latency_floor \
    ${RAW:+--raw "$RAW"} --fields "partitions=$PARTS client=kafka-python"
  exit $?
fi

fw=()
[ "$FETCH_WAIT" = default ] || fw=(--set "kafka.fetch.wait.max.ms=$FETCH_WAIT")
if [ -n "$LOG" ]; then # every log line prefixed with its Unix time (s), to match --raw
  "$WIREDUP" run --set "kafka.bootstrap.servers=$BS" --set metrics.listen= \
    --set "state.dir=$T/state" "${fw[@]}" "${EXTRA[@]}" \
    2> >(perl -MTime::HiRes=time -ne 'BEGIN { $| = 1 } printf "%.6f %s", time, $_' >"$T/wiredup.log") &
else
  "$WIREDUP" run --set "kafka.bootstrap.servers=$BS" --set metrics.listen= \
    --set "state.dir=$T/state" "${fw[@]}" "${EXTRA[@]}" 2>"$T/wiredup.log" &
fi
WD_PID=$!

rc=0
"$PY" "$here/latency.py" --bootstrap "$BS" --count "$COUNT" --warmup "$WARMUP" --seed "$SEED" \
  --watch-pid "$BROKER_PID" --watch-pid "$WD_PID" \
  ${RAW:+--raw "$RAW"} --fields "partitions=$PARTS fetch_wait_ms=$fw_field wiredup=$WIREDUP" || rc=$?
kill -0 "$WD_PID" 2>/dev/null || { echo "latency.sh: wiredup exited early" >&2; exit 1; }
exit $rc
