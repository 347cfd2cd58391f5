#!/usr/bin/env bash
# Checks a running broker with Kafka's own CLIs: lists topics, creates one,
# round-trips records through a consumer group, and commits transactions that a
# read_committed consumer then reads. Exits non-zero on the first failure.
# Uses KAFKA_PORT and the jar cache like kafka-up.sh; leaves a smoke-* topic behind
# (kafka-down.sh removes all data).
set -euo pipefail

# The braces make bash read the whole script before running it, so editing the
# file never disturbs a copy that is running.
{
# shellcheck source=kafka-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kafka-lib.sh"

bs="127.0.0.1:$KAFKA_PORT"
topic="smoke-$(date +%s)-$$"
kafka_pid >/dev/null || kafka_die "no broker running for $KAFKA_RUN_DIR; run kafka-up.sh first"

kafka_log "topics: $(kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --list | tr '\n' ' ')"

kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" \
  --create --topic "$topic" --partitions 3 >/dev/null
kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" \
  --create --topic "$topic-tx" --partitions 1 >/dev/null
kafka_log "created $topic and $topic-tx"

printf 'one\ntwo\nthree\n' |
  kafka_tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$bs" --topic "$topic"
got="$(kafka_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$bs" \
  --topic "$topic" --group "$topic-group" --from-beginning --max-messages 3 --timeout-ms 30000 2>/dev/null |
  sort | tr '\n' ' ')"
[[ "$got" == "one three two " ]] || kafka_die "console round trip read '$got'"
kafka_log "plain produce/consume with a group: ok"

# 100 records in transactions of ~50 ms each, all committed; read_committed must see them all.
kafka_tool org.apache.kafka.tools.ProducerPerformance --topic "$topic-tx" --num-records 100 \
  --record-size 64 --throughput -1 --transactional-id "$topic-txid" --transaction-duration-ms 50 \
  --producer-props bootstrap.servers="$bs" >/dev/null
n="$(kafka_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$bs" \
  --topic "$topic-tx" --from-beginning --isolation-level read_committed \
  --max-messages 100 --timeout-ms 30000 2>/dev/null | wc -l)"
[[ "$n" -eq 100 ]] || kafka_die "read_committed consumer read $n of 100 transactional records"
kafka_log "transactional produce, read_committed consume: ok"

kafka_tool org.apache.kafka.tools.TransactionsCommand --bootstrap-server "$bs" list |
  grep -q -- "$topic-txid" || kafka_die "TransactionsCommand does not list $topic-txid"
kafka_log "smoke test passed against $bs"
exit
}
