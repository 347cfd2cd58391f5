#!/usr/bin/env bash
# Runs the fault and abuse suite (issue 14, e2e/faults_test.go): the real
# binaries as processes on a real Apache Kafka that the test starts from
# deploy/kafka-local on private ports and a data folder of its own, killed,
# restarted, scaled and fed misbehaving receivers under load.
#
#   scripts/test-faults.sh            the full set (10 kills per process)
#   HOOKLINE_FAULTS=quick scripts/test-faults.sh   the quick subset (3 kills)
#
# Needs Go, Java 17 and Maven (for the broker's jars on first use). The table
# of results (the rows of RELIABILITY.md) is written to
# ${HOOKLINE_FAULTS_REPORT:-bin/faults-<level>.md} and printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

level="${HOOKLINE_FAULTS:-full}"
case "$level" in quick|full) ;; *) echo "HOOKLINE_FAULTS=$level: want quick or full" >&2; exit 2 ;; esac
command -v java >/dev/null || { echo "the fault suite needs Java 17 for the Kafka broker" >&2; exit 1; }
command -v mvn >/dev/null || { echo "the fault suite needs Maven to fetch the Kafka broker's jars" >&2; exit 1; }

mkdir -p bin
report="${HOOKLINE_FAULTS_REPORT:-$PWD/bin/faults-$level.md}"
rm -f "$report"
echo "== fault suite ($level) on real Apache Kafka; report: $report"
start=$SECONDS
status=0
(cd e2e && HOOKLINE_FAULTS="$level" HOOKLINE_FAULTS_REPORT="$report" \
  go test -count=1 -timeout "${FAULTS_TIMEOUT:-60m}" -run '^TestFaults$' -v .) || status=$?
echo "== fault suite ($level) finished in $((SECONDS - start))s with status $status ($(date -u +%F))"
[[ -f "$report" ]] && cat "$report"
exit "$status"
