#!/bin/bash
# 0034-stop-during-outage: SIGTERM while every broker is down and 500
# outputs are still unacknowledged (their Produce answers were held, then
# the brokers went away). wiredup must still stop (bounded: the flush gives
# up after its timeout, the commit and the group leave fail) with exit 0,
# commit nothing past what was acknowledged, and say how many outputs were
# not delivered. Once the brokers are back, a restart answers every input
# (a repeat must be an identical redelivery) and the committed offsets reach
# the end (lag 0).
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4

make_batches 1000 o 34 500

PORT=$(free_port)
start_wiredup first --set kafka.auto.commit.interval.ms=1000 --set metrics.listen=127.0.0.1:$PORT
produce_keyed articles "$T/batch.00"
wait_records articles.clusters 500 40

kill -STOP "$WD_PID"
produce_keyed articles "$T/batch.01"
for b in 1 2 3; do broker_cmd broker-errors $b Produce NO_ERROR@30000; done
kill -CONT "$WD_PID"
# until wiredup has consumed the batch; its outputs wait for their answers
for _ in $(seq 200); do
  scrape "$PORT" /metrics "$T/m" >/dev/null
  [ "$(metric "$T/m" wiredup_records_in_total)" = 1000 ] && break
  sleep 0.1
done
[ "$(metric "$T/m" wiredup_records_in_total)" = 1000 ] ||
  fail "wiredup consumed $(metric "$T/m" wiredup_records_in_total) records, want 1000"
info "consumed 1000, acknowledged $(metric "$T/m" wiredup_records_out_total)"
broker_cmd down -1
stop_wiredup "$WD_PID" 40
[ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC after SIGTERM during the outage"
grep -q 'msg="outputs not delivered at exit" count=[1-9]' "$T/first.log" ||
  fail "no outputs were in flight at the stop: $(grep 'stream mode stopped' "$T/first.log")"
info "$(grep -o 'msg="outputs not delivered at exit".*' "$T/first.log")"

broker_cmd up -1
start_wiredup second --set kafka.auto.commit.interval.ms=1000
wait_keys articles.clusters 1000 40
wait_committed_end wiredup articles 30
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "restarted wiredup exited $WD_RC"
dump_values articles.clusters "$T/out.jsonl"
check_results "$T/gen.jsonl" "$T/out.jsonl"
info "ok"
