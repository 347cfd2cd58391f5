#!/usr/bin/env bash
# Starts a single-node Apache Kafka (KRaft, broker+controller) on 127.0.0.1 from
# Maven jars, in the background, and waits until it serves clients.
#
# Idempotent: if this broker is already running it says so and exits 0. The last
# line on stdout is always KAFKA_BROKERS=127.0.0.1:<port>; progress goes to stderr.
#
# Environment, beyond those listed in kafka-lib.sh:
#   KAFKA_HEAP_OPTS          JVM heap flags (default -Xms256m -Xmx1g)
#   KAFKA_START_TIMEOUT      seconds to wait for readiness (default 180)
#   KAFKA_EXTRA_PROPERTIES   lines appended to server.properties (later keys win)
set -euo pipefail

# The braces make bash read the whole script before running it, so editing the
# file never disturbs a copy that is running.
{
# shellcheck source=kafka-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kafka-lib.sh"

KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-180}"
brokers="127.0.0.1:$KAFKA_PORT"

# A second kafka-up.sh (or a kafka-down.sh) on the same folder waits here, then
# finds the broker running.
kafka_lock 900

if pid="$(kafka_pid)"; then
  kafka_log "already running (pid $pid), log: $KAFKA_LOG_FILE"
  echo "KAFKA_BROKERS=$brokers"
  exit 0
fi

for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
  if kafka_port_open "$port"; then
    kafka_die "port $port on 127.0.0.1 is taken by another process (not the broker of $KAFKA_RUN_DIR); set KAFKA_PORT / KAFKA_CONTROLLER_PORT"
  fi
done

kafka_java
started_at=$SECONDS
kafka_fetch

mkdir -p "$KAFKA_RUN_DIR" "$KAFKA_DATA_DIR"
props="$KAFKA_RUN_DIR/server.properties"
cat >"$props" <<EOF
# Written by kafka-up.sh on every start; edit KAFKA_EXTRA_PROPERTIES instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA_DIR

# One node: every internal topic has one replica.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Few internal partitions: the first group join and transaction are fast.
offsets.topic.num.partitions=5
transaction.state.log.num.partitions=5

# The router commits transactions back to back. A produce that reaches
# the broker before the previous transaction's markers are written waits
# out this server-side retry backoff (Kafka's default 20 ms), which made
# the tail of Hookline's produce-to-receive latency; see README, "The
# live path".
add.partitions.to.txn.retry.backoff.ms=1

# Tests join groups and create topics on the fly.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
num.network.threads=2
num.io.threads=4
EOF
if [[ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]]; then
  printf '\n# KAFKA_EXTRA_PROPERTIES\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$props"
fi

if [[ ! -f "$KAFKA_DATA_DIR/meta.properties" ]]; then
  # A Kafka Uuid: 16 random bytes, base64url without padding, not starting with '-'.
  cluster_id=-
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  format_log="$KAFKA_RUN_DIR/format.log"
  if ! kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$props" >"$format_log" 2>&1; then
    cat "$format_log" >&2
    kafka_die "formatting $KAFKA_DATA_DIR failed"
  fi
fi

# A fresh log per start, so the readiness check never sees an old run's line.
[[ -f "$KAFKA_LOG_FILE" ]] && mv -f "$KAFKA_LOG_FILE" "$KAFKA_LOG_FILE.prev"
: >"$KAFKA_LOG_FILE"

read -ra jvm_opts <<<"$KAFKA_HEAP_OPTS"
jvm_opts+=(
  -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
  -Dkafka.logs.dir="$KAFKA_RUN_DIR"
  -Dlog4j2.configurationFile="$KAFKA_LOCAL_DIR/server-log4j2.properties"
)
# The child writes its own pid before exec'ing java, so the pid file names the
# JVM whatever setsid does; setsid and nohup detach it from this shell's session.
# shellcheck disable=SC2016 # $$ and $@ are the child's
setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID_FILE" \
  "$JAVA" "${jvm_opts[@]}" -cp "$KAFKA_LIBS_DIR/*" kafka.Kafka "$props" \
  >"$KAFKA_STDOUT_FILE" 2>&1 </dev/null 8>&- &

show_logs() {
  kafka_log "--- tail of $KAFKA_LOG_FILE ---"
  tail -n 40 "$KAFKA_LOG_FILE" >&2 || true
  kafka_log "--- tail of $KAFKA_STDOUT_FILE ---"
  tail -n 20 "$KAFKA_STDOUT_FILE" >&2 || true
}

deadline=$((SECONDS + KAFKA_START_TIMEOUT))
pid=
while :; do
  [[ -z "$pid" && -s "$KAFKA_PID_FILE" ]] && pid="$(cat "$KAFKA_PID_FILE")"
  if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
    show_logs
    rm -f "$KAFKA_PID_FILE"
    kafka_die "the broker exited during startup"
  fi
  if [[ -n "$pid" ]] && grep -q 'Kafka Server started' "$KAFKA_LOG_FILE" && kafka_port_open "$KAFKA_PORT"; then
    break
  fi
  if ((SECONDS >= deadline)); then
    show_logs
    [[ -z "$pid" ]] && pid="$(kafka_pid || true)"
    if [[ -n "$pid" ]]; then
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$KAFKA_PID_FILE"
    fi
    kafka_die "the broker was not ready within ${KAFKA_START_TIMEOUT}s (KAFKA_START_TIMEOUT)"
  fi
  sleep 0.25
done

kafka_log "Kafka $KAFKA_VERSION up in $((SECONDS - started_at))s (pid $pid)"
kafka_log "log: $KAFKA_LOG_FILE"
stop_env=
[[ "$KAFKA_PORT" != 9092 ]] && stop_env="KAFKA_PORT=$KAFKA_PORT "
[[ -n "${KAFKA_RUN_DIR_SET:-}" ]] && stop_env+="KAFKA_RUN_DIR=$KAFKA_RUN_DIR "
kafka_log "stop: $stop_env$KAFKA_LOCAL_DIR/kafka-down.sh"
echo "KAFKA_BROKERS=$brokers"
exit
}
