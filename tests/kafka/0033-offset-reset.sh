#!/bin/bash
# 0033-offset-reset: a Fetch answered OFFSET_OUT_OF_RANGE (as after an
# unclean leader election truncated the log) makes librdkafka reset the
# consumer to the start of the partition (auto.offset.reset=earliest) while
# outputs are still in flight (their Produce answer is held 3 s). wiredup
# goes back with it: no crash on the rewind (it once hit an assertion in the
# offset tracker here), every input id gets a result, the records read twice
# get identical answers, the committed offset reaches the end (lag 0), and it
# stops cleanly.
. "$(dirname "$0")/helpers.sh"

# One broker and one partition: every Fetch meets the injected errors in turn.
start_broker --brokers 1 --topic articles:1 --topic articles.clusters:1

make_batches 1000 r 33 500

start_wiredup run --set kafka.auto.commit.interval.ms=1000
produce_keyed articles "$T/batch.00"
wait_records articles.clusters 500 40

kill -STOP "$WD_PID"
# small message sets: the mock serves one per Fetch, so the batch takes many
kcat -b "$BOOTSTRAP" -X batch.num.messages=25 -P -t articles \
  -K $'\t' -l "$T/batch.01" 2>>"$T/kcat.err" || fail "kcat could not produce batch 1"
broker_cmd broker-errors 1 Produce NO_ERROR@3000
broker_cmd errors Fetch 3 NO_ERROR NO_ERROR OFFSET_OUT_OF_RANGE
kill -CONT "$WD_PID"

for _ in $(seq 100); do
  grep -q 'offset reset .* Offset out of range' "$T/run.log" && break
  sleep 0.1
done
grep -q 'offset reset .* Offset out of range' "$T/run.log" ||
  fail "the consumer did not reset its offset"
end_fault_run 0 40 40
info "ok"
