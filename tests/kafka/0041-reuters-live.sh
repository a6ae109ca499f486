#!/bin/bash
# 0041-reuters-live: live mode gives file mode's clusters on real wire copy
# (the Reuters rewrites development set, ../shared/data; skipped when
# absent), whatever the partitioning, backlog or crash:
#  A. the whole set pre-filled over 4 partitions, then `wiredup run`;
#  B. the same over 16 partitions;
#  C. 16 partitions, 60% pre-filled, the rest produced while it runs;
#  D. 4 partitions, kill -9 halfway, restart on the same state.
# Each: every input answered (A, B once), ARI >= 0.985 against the labels
# (D >= 0.98); A and B equal `wiredup replay --from-beginning --until-end`
# over the same topic record for record.
. "$(dirname "$0")/helpers.sh"

DATA=${WD_SHARED_DATA:-$WD_SOURCE_DIR/../shared/data}/reuters-rewrites-dev.jsonl
[ -r "$DATA" ] || skip "no $DATA"

start_broker --topic p4:4 --topic p16:16 --topic tail16:16 --topic crash4:4 \
  --topic p4.out:4 --topic p16.out:4 --topic tail16.out:4 --topic crash4.out:4 \
  --topic p4.replay:4 --topic p16.replay:4

keyed_from_jsonl "$DATA" "$T/all.keyed"
N=$(grep -c . "$T/all.keyed")
score() { # NAME RESULTS MIN_ARI [--once]
  "$PY" -m wdeval score "$DATA" "$2" --min-ari "$3" ${4:-} >"$T/$1.score" 2>&1 ||
    fail "$1: $(cat "$T/$1.score")"
  info "$1: $(cat "$T/$1.score")"
}
run_live() { # TOPIC NAME [wiredup args...]: run until every input is answered
  local topic=$1 name=$2
  shift 2
  start_wiredup "$name" --set input.topic="$topic" --set output.topic="$topic.out" \
    --set kafka.group.id="g-$topic" --set state.dir="$T/state-$topic" "$@"
}

# WD_CASES="D" runs only case D (the others take their time too).
CASES=${WD_CASES:-A B C D}
has_case() { case " $CASES " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- A, B: a backlog over 4 and 16 partitions
for P in 4 16; do
  has_case "$([ $P = 4 ] && echo A || echo B)" || continue
  produce_keyed "p$P" "$T/all.keyed"
  run_live "p$P" "live$P"
  wait_keys "p$P.out" "$N" 120
  stop_wiredup "$WD_PID"
  [ "$WD_RC" -eq 0 ] || fail "live run over $P partitions exited $WD_RC"
  dump_values "p$P.out" "$T/live$P.out"
  score "backlog-$P" "$T/live$P.out" 0.985 --once
  "$WIREDUP" replay --from-beginning --until-end --fresh-state --output-topic "p$P.replay" \
    --set metrics.listen= --set kafka.bootstrap.servers="$BOOTSTRAP" \
    --set input.topic="p$P" --set kafka.fetch.wait.max.ms=10 \
    >"$T/replay$P.out.log" 2>"$T/replay$P.log" || fail "replay of p$P failed"
  dump_values "p$P.replay" "$T/replay$P.out"
  "$PY" -m wdeval same "$T/live$P.out" "$T/replay$P.out" >"$T/same$P" 2>&1 ||
    fail "live and replay over $P partitions differ: $(cat "$T/same$P")"
  info "backlog over $P partitions: live equals replay record for record ($(cat "$T/same$P"))"
done

# ---- C: 60% backlog, the rest arriving while it runs
if has_case C; then
head -n $((N * 6 / 10)) "$T/all.keyed" >"$T/head.keyed"
tail -n +$((N * 6 / 10 + 1)) "$T/all.keyed" >"$T/tail.keyed"
split -n l/8 -d "$T/tail.keyed" "$T/tailpart."
produce_keyed tail16 "$T/head.keyed"
run_live tail16 tail
wait_keys tail16.out $((N * 6 / 10)) 120
for f in "$T"/tailpart.*; do
  produce_keyed tail16 "$f"
  sleep 0.3
done
wait_keys tail16.out "$N" 120
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "live run with a tail exited $WD_RC"
dump_values tail16.out "$T/tail.out"
score "backlog-60%-and-tail-16" "$T/tail.out" 0.985 --once
fi

# ---- D: kill -9 halfway through a backlog, restart on the same state. The
# backlog is produced in small message sets and the broker answers slowly
# (the mock serves one message set per partition per fetch), so reading it
# takes long enough to stop halfway.
if has_case D; then
kcat -b "$BOOTSTRAP" -P -t crash4 -K $'\t' -l -X batch.num.messages=8 -X linger.ms=0 \
  "$T/all.keyed" 2>>"$T/kcat.err" || fail "kcat could not produce to crash4"
broker_cmd rtt -1 25
PORT=$(free_port)
run_live crash4 crash1 --set state.checkpoint_interval=200ms \
  --set metrics.listen=127.0.0.1:$PORT
for _ in $(seq 1200); do
  scrape "$PORT" /metrics "$T/m" >/dev/null
  [ "$(metric "$T/m" wiredup_records_out_total)" -ge $((N / 2)) ] 2>/dev/null && break
  sleep 0.02
done
kill -KILL "$WD_PID"
wait "$WD_PID" 2>/dev/null
broker_cmd rtt -1 0
info "killed -9 with $(count_keys crash4.out) of $N answered"
run_live crash4 crash2
wait_keys crash4.out "$N" 120
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "restarted run exited $WD_RC"
grep -q 'msg="checkpoint loaded"' "$T/crash2.log" || fail "restart did not load the checkpoint"
dump_values crash4.out "$T/crash.out"
score "kill-9-and-restart-4" "$T/crash.out" 0.98
fi
info "ok"
