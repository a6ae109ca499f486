#!/bin/bash
# 0040-event-time: live mode takes its partitions' records in event-time order
# and evicts only behind the slowest partition, so the similarity window
# means the same as in file mode however the records are spread:
#  A. a backlog over 8 partitions gives file mode's answers record for
#     record (and replay's), nothing late, nothing out of order;
#  B. one partition lags by hours of event time (its producer is behind):
#     its copies still find their originals, which the other partitions'
#     newer records would have evicted; the clusters are file mode's;
#  C. a partition that never receives anything holds the watermark back
#     until input.idle_timeout, then lets go: eviction goes on, and the
#     answers are file mode's;
#  D. kill -9 halfway through a backlog over 8 partitions and a restart on
#     the same state: every article answered, twice only identically, and
#     the answers are still file mode's, record for record.
# The articles span 50 hours against a 2-hour window, and a copy follows its
# original by at most 90 minutes: any eviction too early splits a cluster.
. "$(dirname "$0")/helpers.sh"

start_broker --topic back8:8 --topic back8.out:4 --topic back8.replay:4 \
  --topic skew:4 --topic skew.out:4 --topic idle:4 --topic idle10m.out:4 --topic idle0.out:4 \
  --topic crash8:8 --topic crash8.out:4

# The articles (helpers.sh gen_timeline): one a minute, copies within 90
# minutes of their story; $T/all.jsonl and, per partition P of 4, $T/part.P.
N=3000
gen_timeline $N e 40
keyed_from_jsonl "$T/all.jsonl" "$T/all.keyed"
WINDOW=(--set index.window=2h --set index.allowed_lateness=10m)
"$WIREDUP" run --input "$T/all.jsonl" --output "$T/file.out" "${WINDOW[@]}" 2>"$T/file.log" ||
  fail "file mode failed"

# same_clusters A B: the two result sets group the articles alike (ARI 1).
same_clusters() {
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
def groups(path):
    g = {}
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            g.setdefault(r["cluster_id"], set()).add(r["id"])
    return sorted(sorted(v) for v in g.values())
a, b = groups(sys.argv[1]), groups(sys.argv[2])
if a != b:
    sa, sb = set(map(tuple, a)), set(map(tuple, b))
    print("%d vs %d clusters; only in the first: %s; only in the second: %s"
          % (len(a), len(b), sorted(sa - sb)[:3], sorted(sb - sa)[:3]))
    sys.exit(1)
print("%d clusters (%d with copies)" % (len(a), sum(len(x) > 1 for x in a)))
EOF
}
run_live() { # TOPIC NAME [wiredup args...]
  local topic=$1 name=$2
  shift 2
  start_wiredup "$name" --set input.topic="$topic" --set output.topic="$topic.out" \
    --set kafka.group.id="g-$topic" --set state.dir="$T/state-$topic" "${WINDOW[@]}" "$@"
}
stopped_field() { # LOG KEY: a field of the "stream mode stopped" line
  sed -n 's/.*msg="stream mode stopped".* '"$2"'=\([0-9]*\).*/\1/p' "$1"
}

# ---- A: a backlog over 8 partitions
produce_keyed back8 "$T/all.keyed"
run_live back8 back8
wait_keys back8.out $N 60
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "backlog run exited $WD_RC"
dump_values back8.out "$T/back8.out"
"$PY" -m wdeval same "$T/back8.out" "$T/file.out" >"$T/same.file" 2>&1 ||
  fail "backlog over 8 partitions differs from file mode: $(cat "$T/same.file")"
[ "$(stopped_field "$T/back8.log" late)" = 0 ] || fail "backlog: records late: $(grep stopped "$T/back8.log")"
[ "$(stopped_field "$T/back8.log" out_of_order)" = 0 ] ||
  fail "backlog: records out of order: $(grep stopped "$T/back8.log")"
[ "$(stopped_field "$T/back8.log" index_articles)" -lt $((N / 4)) ] ||
  fail "backlog: nothing evicted? $(grep stopped "$T/back8.log")"
"$WIREDUP" replay --from-beginning --until-end --fresh-state --output-topic back8.replay \
  --set metrics.listen= --set kafka.bootstrap.servers="$BOOTSTRAP" --set input.topic=back8 \
  --set kafka.fetch.wait.max.ms=10 "${WINDOW[@]}" >/dev/null 2>"$T/replay.log" ||
  fail "replay failed"
dump_values back8.replay "$T/back8.replay"
"$PY" -m wdeval same "$T/back8.out" "$T/back8.replay" >"$T/same.replay" 2>&1 ||
  fail "live and replay differ: $(cat "$T/same.replay")"
info "A: backlog over 8 partitions = file mode = replay, record for record ($(cat "$T/same.file"))"

# ---- B: partition 0 lags by hours of event time
head -n 75 "$T/part.0" >"$T/p0.early" # its first 5 hours
tail -n +76 "$T/part.0" >"$T/p0.late"
for p in 1 2 3; do
  kcat -b "$BOOTSTRAP" -P -t skew -p $p -K $'\t' -l "$T/part.$p" 2>>"$T/kcat.err" ||
    fail "kcat -p $p"
done
kcat -b "$BOOTSTRAP" -P -t skew -p 0 -K $'\t' -l "$T/p0.early" 2>>"$T/kcat.err" || fail "kcat -p 0"
PORT=$(free_port)
run_live skew skew --set input.idle_timeout=10m --set metrics.listen=127.0.0.1:$PORT
want=$(($(grep -c . "$T/part.1") + $(grep -c . "$T/part.2") + $(grep -c . "$T/part.3") + 75))
wait_keys skew.out "$want" 60
lag=
for _ in $(seq 50); do # published once a second
  scrape "$PORT" /metrics "$T/skew.metrics" >/dev/null
  lag=$(metric "$T/skew.metrics" 'wiredup_partition_event_time_lag_seconds{topic="skew",partition="0"}')
  awk -v l="${lag:-0}" 'BEGIN { exit !(l > 40 * 3600) }' && break
  sleep 0.2
done
awk -v l="${lag:-0}" 'BEGIN { exit !(l > 40 * 3600) }' ||
  fail "partition 0 should lag by about 45 hours of event time, metrics say '${lag}'"
info "B: partition 0 lags by $lag s of event time"
kcat -b "$BOOTSTRAP" -P -t skew -p 0 -K $'\t' -l "$T/p0.late" 2>>"$T/kcat.err" || fail "kcat -p 0"
wait_keys skew.out $N 60
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "skew run exited $WD_RC"
dump_values skew.out "$T/skew.out"
# they came after newer records, but never behind the watermark: it waited
[ "$(stopped_field "$T/skew.log" out_of_order)" -gt 0 ] ||
  fail "skew: partition 0's records should count as out of order: $(grep stopped "$T/skew.log")"
[ "$(stopped_field "$T/skew.log" late)" = 0 ] ||
  fail "skew: the watermark should wait for partition 0: $(grep stopped "$T/skew.log")"
same_clusters "$T/skew.out" "$T/file.out" >"$T/skew.same" ||
  fail "a lagging partition changed the clusters: $(cat "$T/skew.same")"
info "B: the lagging partition's copies joined their clusters ($(cat "$T/skew.same"))"

# ---- C: partition 3 never receives a record. It holds the watermark (and
# eviction) back until it is idle: with input.idle_timeout=10m it still does
# at the end; with 0 (an empty partition never holds it back) eviction keeps
# pace and the answers are file mode's over the same articles, record for
# record.
for p in 0 1 2; do
  kcat -b "$BOOTSTRAP" -P -t idle -p $p -K $'\t' -l "$T/part.$p" 2>>"$T/kcat.err" ||
    fail "kcat -p $p"
done
NI=$((N - $(grep -c . "$T/part.3")))
grep -v -F -f <(cut -f1 "$T/part.3" | sed 's/.*/"id": "&"/') "$T/all.jsonl" >"$T/idle.jsonl"
"$WIREDUP" run --input "$T/idle.jsonl" --output "$T/idle.file" "${WINDOW[@]}" 2>>"$T/file.log" ||
  fail "file mode failed"
for timeout in 10m 0; do
  PORT=$(free_port)
  run_live idle "idle$timeout" --set input.idle_timeout=$timeout \
    --set kafka.group.id="g-idle$timeout" --set state.dir="$T/state-idle$timeout" \
    --set output.topic="idle$timeout.out" --set metrics.listen=127.0.0.1:$PORT
  wait_keys "idle$timeout.out" $NI 60
  for _ in $(seq 50); do # the merge's partitions are published once a second
    scrape "$PORT" /metrics "$T/idle$timeout.metrics" >/dev/null
    [ -n "$(metric "$T/idle$timeout.metrics" 'wiredup_partition_idle{topic="idle",partition="3"}')" ] &&
      break
    sleep 0.2
  done
  stop_wiredup "$WD_PID"
  [ "$WD_RC" -eq 0 ] || fail "idle run ($timeout) exited $WD_RC"
  dump_values "idle$timeout.out" "$T/idle$timeout.out"
done
[ "$(stopped_field "$T/idle10m.log" index_articles)" = $NI ] ||
  fail "an empty partition not yet idle should hold eviction back: $(grep stopped "$T/idle10m.log")"
[ "$(metric "$T/idle10m.metrics" 'wiredup_partition_idle{topic="idle",partition="3"}')" = 0 ] ||
  fail "partition 3 reported idle before input.idle_timeout"
[ "$(stopped_field "$T/idle0.log" index_articles)" -lt $((NI / 4)) ] ||
  fail "an idle partition held eviction back: $(grep stopped "$T/idle0.log")"
[ "$(metric "$T/idle0.metrics" 'wiredup_partition_idle{topic="idle",partition="3"}')" = 1 ] ||
  fail "partition 3 is not reported idle: $(grep partition_idle "$T/idle0.metrics")"
"$PY" -m wdeval same "$T/idle0.out" "$T/idle.file" >"$T/idle.same" 2>&1 ||
  fail "past an idle partition the answers differ from file mode: $(cat "$T/idle.same")"
same_clusters "$T/idle10m.out" "$T/idle.file" >"$T/idle.same10" ||
  fail "holding eviction back changed the clusters: $(cat "$T/idle.same10")"
info "C: an empty partition holds eviction back until idle, then lets go ($(cat "$T/idle.same"))"
# ---- D: kill -9 halfway through a backlog, restart on the same state. Small
# message sets and a slow broker (the mock serves one set per partition per
# fetch) make the backlog take long enough to stop halfway.
kcat -b "$BOOTSTRAP" -P -t crash8 -K $'\t' -l -X batch.num.messages=8 -X linger.ms=0 \
  "$T/all.keyed" 2>>"$T/kcat.err" || fail "kcat could not produce to crash8"
broker_cmd rtt -1 25
PORT=$(free_port)
run_live crash8 crash1 --set state.checkpoint_interval=200ms --set metrics.listen=127.0.0.1:$PORT
done_out=0
for _ in $(seq 1500); do
  scrape "$PORT" /metrics "$T/crash.metrics" >/dev/null
  done_out=$(metric "$T/crash.metrics" wiredup_records_out_total)
  [ "${done_out:-0}" -ge $((N / 2)) ] && break
  sleep 0.02
done
kill -KILL "$WD_PID"
wait "$WD_PID" 2>/dev/null
broker_cmd rtt -1 0
[ "${done_out:-0}" -lt $N ] || fail "the backlog was done before the kill"
info "D: killed -9 with ${done_out:-0} of $N answered"
run_live crash8 crash2
wait_keys crash8.out $N 90
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "restarted run exited $WD_RC"
grep -q 'msg="checkpoint loaded"' "$T/crash2.log" || fail "restart did not load the checkpoint"
dump_values crash8.out "$T/crash8.out"
"$PY" -m wdeval same "$T/crash8.out" "$T/file.out" >"$T/crash.same" 2>&1 ||
  fail "after kill -9 and restart the answers differ from file mode: $(cat "$T/crash.same")"
info "D: after kill -9 and a restart, file mode's answers ($(cat "$T/crash.same"); $(($(grep -c . "$T/crash8.out") - N)) given twice, identically)"
info "ok"
