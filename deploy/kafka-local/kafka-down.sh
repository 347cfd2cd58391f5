#!/usr/bin/env bash
# Stops the broker started by kafka-up.sh (SIGTERM, then SIGKILL after
# KAFKA_STOP_TIMEOUT seconds, default 30) and removes its data, so the next
# kafka-up.sh starts empty. Logs stay in the run folder for a look afterwards.
# Succeeds if the broker was not running. KAFKA_KEEP_DATA=1 keeps the data.
set -euo pipefail

# The braces make bash read the whole script before running it, so editing the
# file never disturbs a copy that is running.
{
# shellcheck source=kafka-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kafka-lib.sh"

KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
kafka_lock $((KAFKA_STOP_TIMEOUT + 900))

if pid="$(kafka_pid)"; then
  kafka_log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    kafka_log "still running after ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$KAFKA_PID_FILE"
  kafka_log "stopped"
else
  kafka_log "not running ($KAFKA_RUN_DIR)"
fi

if [[ "${KAFKA_KEEP_DATA:-0}" != 1 && -d "$KAFKA_DATA_DIR" ]]; then
  rm -rf "$KAFKA_DATA_DIR"
  kafka_log "removed $KAFKA_DATA_DIR"
fi
exit
}
