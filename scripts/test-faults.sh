#!/usr/bin/env bash
# Runs the fault and abuse suite (issue 14, e2e/faults_test.go): the real
# binaries as processes on a real Apache Kafka that the test starts from
# deploy/kafka-local on private ports and a data folder of its own, killed,
# restarted, scaled and fed misbehaving receivers under load.
#
#   scripts/test-faults.sh            the full set (10 kills per process)
#   HOOKLINE_FAULTS=quick scripts/test-faults.sh   the quick subset (3 kills)
#   FAULTS_RUN='security|log-scan' scripts/test-faults.sh   some scenarios
#
# Scenarios (subtests of TestFaults): dispatcher-sigkill, router-sigkill,
# rolling-sigterm, scale, broker-restart, broker-unreachable, receivers,
# bad-input, security, log-scan (every process log of the run read for
# secrets and signatures). The test's own output goes to
# bin/faults-<level>.log, which is scanned for signing secrets and
# signatures too.
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
run='^TestFaults$'
[[ -n "${FAULTS_RUN:-}" ]] && run="^TestFaults\$/^(${FAULTS_RUN})\$"
out="${report%.md}.log"
set +e
(cd e2e && HOOKLINE_FAULTS="$level" HOOKLINE_FAULTS_REPORT="$report" \
  go test -count=1 -timeout "${FAULTS_TIMEOUT:-60m}" -run "$run" -v .) 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
# The processes' logs are scanned by the log-scan scenario; this is the
# test's own output (including process logs it printed on a failure).
if grep -nE 'whsec_[A-Za-z0-9+/=]{8,}|v1,[A-Za-z0-9+/]{43}=' "$out" >/dev/null; then
  echo "== the fault suite's output holds a signing secret or a signature:" >&2
  grep -nE 'whsec_[A-Za-z0-9+/=]{8,}|v1,[A-Za-z0-9+/]{43}=' "$out" | head -5 >&2
  status=1
fi
echo "== fault suite ($level) finished in $((SECONDS - start))s with status $status ($(date -u +%F))"
[[ -f "$report" ]] && cat "$report"
exit "$status"
