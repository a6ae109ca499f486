#!/bin/bash
# 0031-leader-moves: three brokers; while wiredup streams, the leaders of
# every input and output partition move to another broker three times, and
# the group coordinator moves with them. The old leaders answer
# NOT_LEADER_FOR_PARTITION (the coordinator NOT_COORDINATOR) and the clients
# must find the new ones. wiredup keeps running, every input id gets a
# result (a repeat must be an identical redelivery), the group's committed
# offsets reach the end of the input (lag 0), and it stops cleanly.
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4

N=2000
make_batches $N m 31 500

start_wiredup run --set kafka.auto.commit.interval.ms=1000
produce_keyed articles "$T/batch.00"
wait_records articles.clusters 200 40
for round in 1 2 3; do
  # the next batch, produced while the leaders move under both clients
  produce_keyed articles "$T/batch.0$round" &
  KCAT_PID=$!
  PIDS+=("$KCAT_PID")
  for p in 0 1 2 3; do
    broker_cmd leader articles $p $(((p + round) % 3 + 1))
    broker_cmd leader articles.clusters $p $(((p + round + 1) % 3 + 1))
  done
  broker_cmd coordinator group wiredup $((round % 3 + 1))
  wait $KCAT_PID || fail "kcat could not produce batch $round"
  wait_records articles.clusters $((500 * round + 200)) 40
done

end_fault_run $N
info "ok"
