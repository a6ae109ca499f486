#!/usr/bin/env bash
# stream.sh - stream-mode throughput through the mock broker, beside kcat's
# consume-only rate on the same topic and broker, in the same run.
#   benchmarks/stream.sh WIREDUP MOCK_BROKER CORPUS.jsonl [REPS]
# Prints bench=stream.kcat_consume, bench=stream.wiredup and bench=stream.replay lines.
#
# The corpus is produced once, keyed by id (so it spreads over 16
# partitions: the mock keeps at most 5 MiB per partition), with kcat. Then:
#  - kcat -C (no group) reads the topic from the beginning to its end, REPS
#    times; its rate is docs / wall time of the whole read.
#  - wiredup stream mode consumes it and publishes one result per article,
#    from empty state (a checkpoint left by an earlier run would turn every
#    record into a redelivery: stored answers, no clustering work).
#    Its rate is taken from the output records' CreateTime stamps (set when
#    wiredup hands each result to its producer): (N - 1) / (last - first),
#    which leaves out the mock's 3 s first group join. The wall time from
#    start until a kcat reader holds all N results is printed too.
set -euo pipefail
WIREDUP=$1
MOCK=$2
CORPUS=$3
REPS=${4:-3}
PARTS=16
T=$(mktemp -d "${TMPDIR:-/tmp}/wd-bench-stream.XXXXXX")
BROKER_PID=
WD_PID=
cleanup() {
  set +e
  [ -n "$WD_PID" ] && kill -TERM "$WD_PID" 2>/dev/null && wait "$WD_PID" 2>/dev/null
  if [ -n "$BROKER_PID" ]; then
    kill -TERM "$BROKER_PID" 2>/dev/null
    wait "$BROKER_PID" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT

now_ns() { date +%s%N; }

# report_times NAME [FIELDS]: one bench=NAME line from the wall times (ns)
# in times[], FIELDS appended
report_times() {
  local best med
  read -r best med < <(printf '%s\n' "${times[@]}" | sort -n |
    awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; print v[1], m}')
  awk -v name="$1" -v n="$N" -v b="$BYTES" -v best="$best" -v med="$med" -v reps="$REPS" \
    -v extra="${2:+ $2}" 'BEGIN {
    printf "bench=%s docs=%d reps=%d bytes_per_doc=%.0f ns_per_doc=%.1f ns_per_doc_median=%.1f docs_per_s=%.0f docs_per_s_median=%.0f mb_per_s=%.1f mb_per_s_median=%.1f%s\n",
      name, n, reps, b / n, best / n, med / n, n / (best / 1e9), n / (med / 1e9), b / (best / 1e3), b / (med / 1e3), extra }'
}

N=$(grep -c . "$CORPUS")
BYTES=$(wc -c <"$CORPUS")
"$MOCK" --brokers 1 --topic articles:$PARTS --topic articles.clusters:$PARTS \
  >"$T/broker.out" 2>"$T/broker.err" &
BROKER_PID=$!
BS=
for _ in $(seq 100); do
  BS=$(sed -n '1s/^bootstrap\.servers=//p' "$T/broker.out" 2>/dev/null)
  [ -n "$BS" ] && break
  sleep 0.1
done
[ -n "$BS" ] || { echo "stream.sh: mock broker did not start" >&2; exit 1; }

# "id<TAB>record": the key is the article id, as a Kafka producer would send it
sed -E 's/^\{"id":"([^"]+)".*$/\1\t&/' "$CORPUS" >"$T/keyed"
kcat -b "$BS" -P -t articles -K $'\t' -l "$T/keyed" 2>"$T/produce.err"

# ---- kcat consume-only. CPU time (user+sys) beside the wall time: on a
# shared machine the wall time says more about the other jobs.
best=0 times=() cpu_best=
TIMEFORMAT='%U %S'
for _ in $(seq "$REPS"); do
  t0=$(now_ns)
  { time kcat -b "$BS" -C -t articles -o beginning -e -q -X fetch.wait.max.ms=5 \
    -f '%s\n' 2>/dev/null | wc -l >"$T/got"; } 2>"$T/kcat.cpu"
  t1=$(now_ns)
  got=$(cat "$T/got")
  [ "$got" -eq "$N" ] || { echo "stream.sh: kcat read $got of $N" >&2; exit 1; }
  times+=($((t1 - t0)))
  cpu=$(awk '{print $1 + $2}' "$T/kcat.cpu")
  cpu_best=$(awk -v a="$cpu" -v b="${cpu_best:-$cpu}" 'BEGIN {print a < b ? a : b}')
done
report_times stream.kcat_consume "$(awk -v c="$cpu_best" -v n="$N" \
  'BEGIN {printf "cpu_s=%.2f cpu_us_per_doc=%.1f", c, c * 1e6 / n}')"

# ---- wiredup stream mode (one run: the group's offsets move)
t0=$(now_ns)
"$WIREDUP" run --set kafka.bootstrap.servers="$BS" --set kafka.fetch.wait.max.ms=5 \
  --set kafka.session.timeout.ms=6000 --set log.level=warn --set state.dir="$T/state" \
  --set metrics.listen= 2>"$T/wiredup.log" &
WD_PID=$!
timeout 300 kcat -b "$BS" -C -t articles.clusters -o beginning -c "$N" -q \
  -X fetch.wait.max.ms=5 -f '%T\n' >"$T/ts" 2>/dev/null || true
t1=$(now_ns)
got=$(grep -c . "$T/ts" || true)
# its CPU time so far: start-up and the idle group join included
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$WD_PID/stat")
kill -TERM "$WD_PID"
wait "$WD_PID" || { echo "stream.sh: wiredup failed: $(tail -n 3 "$T/wiredup.log")" >&2; exit 1; }
WD_PID=
[ "$got" -eq "$N" ] || { echo "stream.sh: $got of $N results arrived" >&2; exit 1; }
sort -n "$T/ts" | awk -v n="$N" -v b="$BYTES" -v wall="$((t1 - t0))" -v cpu="$cpu" '
  NR == 1 {first = $1} {last = $1}
  END {
    span = (last - first) / 1e3; if (span <= 0) span = 1e-3
    rate = (n - 1) / span
    printf "bench=stream.wiredup docs=%d reps=1 bytes_per_doc=%.0f ns_per_doc=%.1f docs_per_s=%.0f mb_per_s=%.1f span_s=%.3f wall_s_with_join=%.3f cpu_s=%.2f cpu_us_per_doc=%.1f\n",
      n, b / n, 1e9 / rate, rate, rate * b / n / 1e6, span, wall / 1e9, cpu, cpu * 1e6 / n }'

# ---- wiredup replay: the whole topic, --until-end, into a fresh topic each
# time (no group, nothing committed), REPS times. Wall time of the command,
# start-up and final flush included; its own summary line gives the rate
# between its start and its exit too.
times=()
for r in $(seq "$REPS"); do
  t0=$(now_ns)
  "$WIREDUP" replay --set kafka.bootstrap.servers="$BS" --set kafka.fetch.wait.max.ms=5 \
    --set metrics.listen= --set log.level=warn --from-beginning --until-end --fresh-state \
    --output-topic "replay.$r" >"$T/replay.out" 2>"$T/replay.log" ||
    { echo "stream.sh: replay failed: $(tail -n 3 "$T/replay.log")" >&2; exit 1; }
  t1=$(now_ns)
  grep -q "^records=$N " "$T/replay.out" ||
    { echo "stream.sh: replay: $(cat "$T/replay.out"), want records=$N" >&2; exit 1; }
  times+=($((t1 - t0)))
done
report_times stream.replay
