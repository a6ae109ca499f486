#!/bin/bash
# 0032-slow-broker: while wiredup streams, broker 1 answers every request
# 500 ms late for a few seconds, then all brokers 800 ms late (heartbeats,
# fetches, produce acknowledgements and commits all slow), then single
# requests stall: one Fetch answer held for 3 s on broker 2 and one Produce
# answer for 3 s on broker 3. wiredup keeps running, every input id gets a
# result (a repeat must be an identical redelivery), the group's committed
# offsets reach the end of the input (lag 0), and it stops cleanly.
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4

N=2000
make_batches $N s 32 500

start_wiredup run --set kafka.auto.commit.interval.ms=1000
produce_keyed articles "$T/batch.00"
wait_records articles.clusters 200 40

broker_cmd rtt 1 500
produce_keyed articles "$T/batch.01"
sleep 2
broker_cmd rtt -1 800
produce_keyed articles "$T/batch.02" # kcat is slowed too: a few seconds
broker_cmd rtt -1 0
wait_records articles.clusters 1500 40

# freeze wiredup so that the stalls meet its own requests, not kcat's
kill -STOP "$WD_PID"
produce_keyed articles "$T/batch.03"
broker_cmd broker-errors 2 Fetch NO_ERROR@3000
broker_cmd broker-errors 3 Produce NO_ERROR@3000
kill -CONT "$WD_PID"

end_fault_run $N
info "ok"
