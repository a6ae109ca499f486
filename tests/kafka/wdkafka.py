"""wdkafka.py - shared by the Kafka tests' kafka-python checks (helpers.sh
puts this directory on PYTHONPATH)."""
from kafka import KafkaConsumer


def read_topic(bootstrap, topic, want, **extra):
    """The records of `topic` from its beginning: until `want` have come
    (bounded: 8 s without a record ends it), then a short poll that catches
    any extras. `bootstrap` is a list of host:port; `extra` goes to
    KafkaConsumer."""
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                      auto_offset_reset="earliest", consumer_timeout_ms=8000,
                      fetch_max_wait_ms=10, enable_auto_commit=False, **extra)
    recs = []
    for r in c:
        recs.append(r)
        if len(recs) == want:
            break
    for batch in c.poll(timeout_ms=500).values():
        recs.extend(batch)
    c.close()
    return recs
