#!/bin/bash
# 0010-metrics: the Prometheus endpoint during a stream run. /healthz answers
# 200; /metrics is well-formed text format 0.0.4; its counters start at 0,
# move as records flow and, once the output is in, equal what was sent:
# records in/out/dead-lettered, duplicates and clusters as the published
# results show them, index articles, the latency histogram's count; consumer
# lag appears for every input partition (librdkafka statistics) and drains to
# 0. After SIGTERM the endpoint is gone.
. "$(dirname "$0")/helpers.sh"

start_broker --brokers 1 --topic articles:4 --topic articles.clusters:4 \
  --topic articles.dlq:1
PORT=$(free_port)
[ -n "$PORT" ] || fail "no free port"
start_wiredup m --set metrics.listen=127.0.0.1:$PORT \
  --set kafka.statistics.interval.ms=300
M=$T/metrics.txt

# wait_http PATH CODE: bounded wait for PATH to answer CODE.
wait_http() {
  local code=
  for _ in $(seq 100); do
    code=$(scrape "$PORT" "$1" "$T/http.body")
    [ "$code" = "$2" ] && return 0
    kill -0 "$WD_PID" 2>/dev/null || fail "wiredup exited"
    sleep 0.1
  done
  fail "$1 answered ${code:-nothing}, want $2"
}
wait_http /healthz 200
grep -qx ok "$T/http.body" || fail "/healthz body: $(cat "$T/http.body")"
info "/healthz 200 ok"

# check_format FILE: every line a HELP/TYPE comment or a sample of the
# family just declared; counters end in _total; required families present.
check_format() {
  "$PY" - "$1" <<'EOF' || fail "bad exposition format: $(head -c 400 "$1")"
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
assert text.endswith("\n")
types, family = {}, None
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)$')
for line in text.splitlines():
    if line.startswith("# HELP "):
        family = line.split(" ")[2]
    elif line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ")
        assert name == family, line
        assert typ in ("counter", "gauge", "histogram"), line
        assert name not in types, "duplicate family " + name
        types[name] = typ
        assert (typ == "counter") == name.endswith("_total"), line
    else:
        m = sample.match(line)
        assert m, "bad sample line: " + line
        float(m.group(5).replace("Inf", "inf"))
        assert m.group(1).startswith(family), line + " outside " + family
        assert m.group(1).startswith("wiredup_"), line
need = {"wiredup_records_in_total": "counter", "wiredup_records_out_total": "counter",
        "wiredup_records_dead_lettered_total": "counter",
        "wiredup_duplicates_found_total": "counter", "wiredup_clusters_open": "gauge",
        "wiredup_index_articles": "gauge", "wiredup_index_bytes": "gauge",
        "wiredup_consumer_lag": "gauge",
        "wiredup_processing_latency_seconds": "histogram"}
for k, v in need.items():
    assert types.get(k) == v, "%s: %s, want %s" % (k, types.get(k), v)
EOF
}

# The engine's families appear once its state is loaded (a slow start, as
# under ASan, may still be loading when /healthz first answers): bounded wait.
for _ in $(seq 100); do
  [ "$(scrape "$PORT" /metrics "$M")" = 200 ] || fail "/metrics did not answer 200"
  [ -n "$(metric "$M" wiredup_index_articles)" ] && break
  sleep 0.1
done
check_format "$M"
[ "$(metric "$M" wiredup_records_in_total)" = 0 ] || fail "records in before any input: $(metric "$M" wiredup_records_in_total)"
[ "$(metric "$M" wiredup_records_out_total)" = 0 ] || fail "records out before any input"
info "/metrics well-formed, counters at 0"

# want_metrics WHAT=VALUE...: bounded wait until every sample has its value.
want_metrics() {
  local ok=0
  for _ in $(seq 60); do
    scrape "$PORT" /metrics "$M" >/dev/null
    ok=1
    for kv in "$@"; do
      [ "$(metric "$M" "${kv%=*}")" = "${kv##*=}" ] || { ok=0; break; }
    done
    [ $ok = 1 ] && return 0
    sleep 0.5
  done
  for kv in "$@"; do echo "  ${kv%=*} = $(metric "$M" "${kv%=*}") (want ${kv##*=})" >&2; done
  fail "metrics did not reach their expected values"
}

# expect_from_output N_IN N_OUT N_DEAD: the counters against the results
# actually published (a clean run: one result per article).
expect_from_output() {
  dump_values articles.clusters "$T/out.jsonl"
  local results dups news
  results=$(grep -c . "$T/out.jsonl")
  [ "$results" -eq "$2" ] || fail "$results results published, want $2"
  dups=$(grep -c '"duplicate_of":"' "$T/out.jsonl")
  news=$(grep -c '"duplicate_of":null' "$T/out.jsonl")
  [ "$dups" -gt 0 ] || fail "the generated articles should have duplicates"
  want_metrics wiredup_records_in_total="$1" wiredup_records_out_total="$2" \
    wiredup_records_dead_lettered_total="$3" wiredup_duplicates_found_total="$dups" \
    wiredup_clusters_open="$news" wiredup_index_articles="$2" \
    wiredup_processing_latency_seconds_count="$1" \
    'wiredup_processing_latency_seconds_bucket{le="+Inf"}'="$1"
  info "metrics match: in=$1 out=$2 dead=$3 duplicates=$dups clusters=$news"
}

# ---- batch 1: articles and three records for the dead-letter topic
N1=300
gen_articles 600 m 10 "$T/gen.jsonl"
head -n $N1 "$T/gen.jsonl" >"$T/b1.jsonl"
tail -n +$((N1 + 1)) "$T/gen.jsonl" >"$T/b2.jsonl"
keyed_from_jsonl "$T/b1.jsonl" "$T/b1.keyed"
printf 'bad1\tnot json\nbad2\t{"id":"x"}\nbad3\t[1,2]\n' >>"$T/b1.keyed"
produce_keyed articles "$T/b1.keyed"
wait_keys articles.clusters $N1 40
expect_from_output $((N1 + 3)) $N1 3
sum=$(metric "$M" wiredup_processing_latency_seconds_sum)
"$PY" -c "import sys; sys.exit(0 if float('$sum') > 0 else 1)" || fail "latency sum $sum"
bytes1=$(metric "$M" wiredup_index_bytes)

# ---- batch 2: the counters move on
N2=$(grep -c . "$T/b2.jsonl")
keyed_from_jsonl "$T/b2.jsonl" "$T/b2.keyed"
produce_keyed articles "$T/b2.keyed"
wait_keys articles.clusters $((N1 + N2)) 40
expect_from_output $((N1 + N2 + 3)) $((N1 + N2)) 3
bytes2=$(metric "$M" wiredup_index_bytes)
[ "$bytes2" -ge "$bytes1" ] && [ "$bytes2" -gt 0 ] || fail "index bytes $bytes1 -> $bytes2"

# ---- consumer lag: one sample per input partition, drained to 0
lag_samples=()
for p in 0 1 2 3; do lag_samples+=("wiredup_consumer_lag{topic=\"articles\",partition=\"$p\"}=0"); done
want_metrics "${lag_samples[@]}"
check_format "$M"
wait_http /healthz 200
info "consumer lag 0 on all 4 partitions"

stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC"
grep -q 'msg="metrics endpoint listening".*port='"$PORT" "$T/m.log" || fail "no listening line in the log"
[ "$(scrape "$PORT" /healthz "$T/http.body")" = 000 ] || fail "endpoint still answering after exit"
info "ok"
