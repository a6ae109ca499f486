#!/usr/bin/env bash
# valgrind memcheck over a stream-mode run against the mock broker: valid
# articles, hostile records (dead letters), a Produce error retried, then
# SIGTERM. wiredup must publish every result, exit 0 after the shutdown
# (flush, commit, leave the group, final checkpoint) and memcheck must find
# no error and no "definitely lost" block. Skips (77) without valgrind, on a
# sanitizer build, or without the Kafka test tools.
command -v valgrind >/dev/null || { echo "skip: valgrind not installed"; exit 77; }
[ -z "${WD_SANITIZE:-}" ] || { echo "skip: built with -fsanitize=$WD_SANITIZE"; exit 77; }
. "$WD_SOURCE_DIR/tests/kafka/helpers.sh"

start_broker --brokers 2 --topic articles:2 --topic articles.clusters:2 --topic articles.dlq:1

gen_articles 200 v 2 "$T/gen.jsonl"
keyed_from_jsonl "$T/gen.jsonl" "$T/all.keyed"
printf 'bad1\tnot json\nbad2\t{"id":"bad2","body":7}\nbad3\t[1,2]\n' >>"$T/all.keyed"
produce_keyed articles "$T/all.keyed"

WD_RUNNER="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30 --log-file=$T/vg.log" \
  start_wiredup run --set kafka.auto.commit.interval.ms=1000 --set state.checkpoint_interval=2s \
  --set kafka.max.in.flight.requests.per.connection=1 # Produce errors: see kafka/0030
broker_cmd errors Produce 2 NOT_LEADER_FOR_PARTITION NOT_ENOUGH_REPLICAS
wait_keys articles.clusters 200 60
wait_keys articles.dlq 3 30
stop_wiredup "$WD_PID" 60
grep -q 'msg="stream mode stopped" consumed=203 published=200 dead_lettered=3 acked=203 ' "$T/run.log" ||
  fail "no clean shutdown summary: $(grep 'stream mode stopped' "$T/run.log")"
if [ "$WD_RC" -eq 99 ] || grep -qE 'definitely lost: [1-9]|ERROR SUMMARY: [1-9]' "$T/vg.log"; then
  sed -n '1,120p' "$T/vg.log" >&2
  fail "memcheck: $(grep -E 'definitely lost|ERROR SUMMARY' "$T/vg.log" | head -n 3)"
fi
[ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC after SIGTERM"
grep -q 'ERROR SUMMARY: 0 errors' "$T/vg.log" || fail "no memcheck summary in $T/vg.log"
info "memcheck: $(grep -E 'definitely lost|ERROR SUMMARY' "$T/vg.log" | sed 's/^==[0-9]*== *//' | tr '\n' ' ')"
info "ok"
