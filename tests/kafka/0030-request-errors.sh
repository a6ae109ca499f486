#!/bin/bash
# 0030-request-errors: injected request errors while wiredup streams. Each
# phase freezes wiredup (SIGSTOP), produces a batch with kcat, queues the
# faults on the mock and lets wiredup go on (SIGCONT), so the errors meet
# wiredup's own requests, not kcat's:
#  1. Produce: retriable errors cluster-wide, and per broker with slow answers
#  2. Fetch: partition errors cluster-wide and a fetch stalled for 2 s
#  3. OffsetCommit: coordinator errors, then UNKNOWN_MEMBER_ID, which makes
#     the consumer lose its assignment, rejoin the group and consume from
#     the last commit again (redeliveries)
# wiredup keeps running, every input id gets a result (a repeat must be an
# identical redelivery), the group's committed offsets reach the end of the
# input (lag 0), and it still stops cleanly with exit 0.
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 3 --topic articles:4 --topic articles.clusters:4

N=2000
make_batches $N e 30 400

# One Produce request in flight per connection: the mock checks the
# idempotent producer's sequence numbers for transactional producers only.
# With requests pipelined, it writes the batch after one it failed, and
# librdkafka then counts the failed batch as written too (a real broker
# refuses the later one, OUT_OF_ORDER_SEQUENCE_NUMBER, and nothing is lost):
# 2-3 of 2000 results went missing in one run of five without this.
start_wiredup run --set kafka.auto.commit.interval.ms=1000 \
  --set kafka.max.in.flight.requests.per.connection=1
produce_keyed articles "$T/batch.00"
wait_records articles.clusters 400 40

# phase BATCH CMD...: batch BATCH arrives while wiredup is frozen, then the
# broker commands run and wiredup goes on.
phase() {
  local batch=$1
  shift
  kill -STOP "$WD_PID"
  produce_keyed articles "$T/batch.$batch"
  local c
  for c in "$@"; do broker_cmd $c; done
  kill -CONT "$WD_PID"
}

phase 01 "errors Produce 5 NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT NOT_ENOUGH_REPLICAS LEADER_NOT_AVAILABLE NOT_LEADER_FOR_PARTITION" \
  "broker-errors 1 Produce REQUEST_TIMED_OUT@300 NO_ERROR@1000" \
  "broker-errors 2 Produce NOT_ENOUGH_REPLICAS@200 NOT_LEADER_FOR_PARTITION@100" \
  "broker-errors 3 Produce NO_ERROR@1500"
wait_records articles.clusters 800 40

phase 02 "errors Fetch 5 NOT_LEADER_FOR_PARTITION LEADER_NOT_AVAILABLE UNKNOWN_TOPIC_OR_PART KAFKA_STORAGE_ERROR NOT_LEADER_FOR_PARTITION" \
  "broker-errors 2 Fetch NO_ERROR@2000"
wait_records articles.clusters 1200 40

phase 03 "errors OffsetCommit 4 COORDINATOR_NOT_AVAILABLE NOT_COORDINATOR REQUEST_TIMED_OUT COORDINATOR_LOAD_IN_PROGRESS"
wait_records articles.clusters 1600 40
sleep 2 # a few auto commits meet the errors

phase 04 "errors OffsetCommit 1 UNKNOWN_MEMBER_ID"
end_fault_run $N
# the UNKNOWN_MEMBER_ID commit made wiredup lose its assignment and rejoin
grep -q 'msg="partitions revoked".* lost=true' "$T/run.log" ||
  fail "the injected UNKNOWN_MEMBER_ID did not cost the assignment"
# it is the only member: owning nothing for a moment after a lost assignment
# is not another member sharing the input
grep 'another group member shares the input' "$T/run.log" &&
  fail "false 'another group member' warning after a lost assignment"
info "ok"
