#!/bin/bash
# 0004-broker-down: while wiredup streams, one broker goes down for 6 s (its
# partitions stall: the mock moves no leaders), then every broker goes down
# for 4 s (request errors are 0030's). Nothing is lost: every input id gets a result (a repeat must be an identical
# redelivery), the group's committed offsets reach the end of the input
# (lag 0), and wiredup still stops cleanly.
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4

N=4000
make_batches $N d 4 $((N / 4))
produce_keyed articles "$T/batch.00"

start_wiredup run --set kafka.auto.commit.interval.ms=1000
wait_keys articles.clusters 200 30

broker_cmd down 2
# produced while broker 2 is down: kcat queues for its partitions (bounded
# by the timeout: it delivers once the broker is back)
kcat -b "$BOOTSTRAP" -P -t articles -K $'\t' -l "$T/batch.01" 2>"$T/kcat.err" &
KCAT_PID=$!
PIDS+=("$KCAT_PID")
sleep 6
broker_cmd up 2
for _ in $(seq 300); do kill -0 $KCAT_PID 2>/dev/null || break; sleep 0.1; done
wait $KCAT_PID || fail "kcat could not produce batch 1"

produce_keyed articles "$T/batch.02"
sleep 1
broker_cmd down -1
sleep 4
broker_cmd up -1
produce_keyed articles "$T/batch.03"

end_fault_run $N 45
info "ok"
