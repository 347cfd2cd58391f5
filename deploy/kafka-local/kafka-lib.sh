# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Shared settings for kafka-up.sh, kafka-down.sh and kafka-smoke.sh. Sourced, not run.
#
# Environment (all optional):
#   KAFKA_PORT             client listener port on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller listener port (default KAFKA_PORT+1)
#   KAFKA_RUN_DIR          data, pid, config and log files (default .run/kafka-<port> here)
#   KAFKA_VERSION          org.apache.kafka:kafka_2.13 version (default 4.1.1)
#   KAFKA_LOG4J_VERSION    Log4j 2 version matching that Kafka (default: Kafka's, 2.24.3 for 4.1)
#   KAFKA_CACHE_DIR        jar cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/hookline)
#   KAFKA_LIBS_DIR         the jar folder itself (default $KAFKA_CACHE_DIR/kafka-<version>/libs)
#   KAFKA_MAVEN_ARGS       extra mvn arguments for the first fetch (e.g. -s settings.xml)
#   JAVA_HOME              Java 17 or newer; else `java` on PATH

KAFKA_LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_RUN_DIR_SET="${KAFKA_RUN_DIR:+1}"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
# Kafka's own Log4j 2 version per line (from kafka-server's POM); all of 4.x use SLF4J 1.7.
if [[ -z "${KAFKA_LOG4J_VERSION:-}" ]]; then
  case "$KAFKA_VERSION" in
    4.2.*) KAFKA_LOG4J_VERSION=2.25.3 ;;
    4.3.*) KAFKA_LOG4J_VERSION=2.25.4 ;;
    4.4.*) KAFKA_LOG4J_VERSION=2.25.5 ;;
    *) KAFKA_LOG4J_VERSION=2.24.3 ;; # 4.0, 4.1
  esac
fi
kafka_home="${HOME:-}"
[[ -n "$kafka_home" ]] || kafka_home="$(cd ~ && pwd)" # no HOME: bash asks the passwd database
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$kafka_home/.cache}/hookline}"
KAFKA_LIBS_DIR="${KAFKA_LIBS_DIR:-$KAFKA_CACHE_DIR/kafka-$KAFKA_VERSION/libs}"
KAFKA_RUN_DIR="${KAFKA_RUN_DIR:-$KAFKA_LOCAL_DIR/.run/kafka-$KAFKA_PORT}"
[[ "$KAFKA_RUN_DIR" == /* ]] || KAFKA_RUN_DIR="$PWD/$KAFKA_RUN_DIR"

KAFKA_PID_FILE="$KAFKA_RUN_DIR/kafka.pid"
KAFKA_DATA_DIR="$KAFKA_RUN_DIR/data"
KAFKA_LOG_FILE="$KAFKA_RUN_DIR/server.log"
KAFKA_STDOUT_FILE="$KAFKA_RUN_DIR/stdout.log"

kafka_log() { printf 'kafka-local: %s\n' "$*" >&2; }
kafka_die() { kafka_log "error: $*"; exit 1; }

# kafka_java sets JAVA to a Java 17+ binary or exits.
kafka_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    JAVA="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    JAVA="$(command -v java)"
  else
    kafka_die "no java found: install Java 17+ or set JAVA_HOME"
  fi
  local version major
  version="$("$JAVA" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
  major="${version%%.*}"
  [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$version")"
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] ||
    kafka_die "Kafka $KAFKA_VERSION needs Java 17+, $JAVA is '$version'"
}

# kafka_is_ours succeeds if pid $1 is the kafka.Kafka JVM of this run folder.
kafka_is_ours() {
  local cmd
  cmd="$({ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null)" || return 1
  [[ "$cmd" == *" kafka.Kafka $KAFKA_RUN_DIR/server.properties "* ]]
}

# kafka_pid prints the pid of this run folder's broker and succeeds if one runs.
# It trusts the pid file only if that pid is our JVM (a stale file is removed),
# and otherwise looks for a JVM started with our server.properties, so a broker
# whose pid file was lost can still be found and stopped.
kafka_pid() {
  local pid
  if [[ -f "$KAFKA_PID_FILE" ]]; then
    pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kafka_is_ours "$pid"; then
      echo "$pid"
      return 0
    fi
    rm -f "$KAFKA_PID_FILE"
  fi
  local dir
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    if kafka_is_ours "$pid"; then
      echo "$pid" >"$KAFKA_PID_FILE"
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# kafka_lock serialises kafka-up.sh and kafka-down.sh on one run folder (fd 8);
# the lock is released when the script exits. The broker must not inherit fd 8.
kafka_lock() {
  mkdir -p "$KAFKA_RUN_DIR"
  exec 8>"$KAFKA_RUN_DIR/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w "${1:-900}" 8 || kafka_die "timed out waiting for $KAFKA_RUN_DIR/.lock (another kafka-up/down on this folder)"
  fi
}

# kafka_port_open succeeds if something accepts TCP connections on 127.0.0.1:$1.
kafka_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# kafka_tool runs a Kafka CLI class against the cached jars, logging warnings to stderr.
kafka_tool() {
  kafka_java
  "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$KAFKA_LOCAL_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS_DIR/*" "$@"
}

# kafka_fetch fills KAFKA_LIBS_DIR with the broker's jars through Maven, unless a
# previous fetch of the same POM and versions completed there. The jars land in
# a temporary folder first and are moved into place whole, under a lock, so an
# interrupted or concurrent fetch never leaves a half-filled cache behind.
kafka_fetch() {
  local stamp marker
  stamp="$(cat "$KAFKA_LOCAL_DIR/pom.xml" - <<<"kafka=$KAFKA_VERSION log4j=$KAFKA_LOG4J_VERSION" | sha256sum | cut -c1-16)"
  marker="$KAFKA_LIBS_DIR/.complete"
  if [[ -f "$marker" && "$(cat "$marker")" == "$stamp" ]]; then
    return 0
  fi

  command -v mvn >/dev/null 2>&1 || kafka_die "jars for Kafka $KAFKA_VERSION are not cached in $KAFKA_LIBS_DIR and mvn is not installed"
  local parent
  parent="$(dirname "$KAFKA_LIBS_DIR")"
  mkdir -p "$parent"
  (
    flock -w 600 9 || kafka_die "timed out waiting for the lock on $parent/.fetch.lock"
    # Another process may have finished the fetch while this one waited.
    if [[ -f "$marker" && "$(cat "$marker")" == "$stamp" ]]; then
      exit 0
    fi
    local tmp mvn_log
    tmp="$(mktemp -d "$parent/.libs.XXXXXX")"
    mvn_log="$tmp.mvn.log"
    kafka_log "fetching Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS_DIR (first run only)"
    local attempt ok=0
    # KAFKA_MAVEN_ARGS lets a caller add e.g. '-s settings.xml' or '-Dmaven.repo.local=...'.
    # shellcheck disable=SC2086
    for attempt in 1 2; do
      if mvn -B -q -ntp -Dstyle.color=never ${KAFKA_MAVEN_ARGS:-} \
        -f "$KAFKA_LOCAL_DIR/pom.xml" \
        -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$KAFKA_LOG4J_VERSION" \
        dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
        ok=1
        break
      fi
      kafka_log "mvn failed (attempt $attempt of 2)"
    done
    if [[ "$ok" != 1 ]]; then
      tail -n 40 "$mvn_log" >&2
      if grep -qi 'offline' "$mvn_log"; then
        kafka_log "hint: Maven runs offline (-o or <offline>true</offline> in settings.xml); it must reach the registry once"
      fi
      rm -rf "$tmp" "$mvn_log"
      kafka_die "could not fetch Kafka $KAFKA_VERSION jars (full Maven output above)"
    fi
    rm -f "$mvn_log"
    ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 ||
      { rm -rf "$tmp"; kafka_die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing"; }
    echo "$stamp" >"$tmp/.complete"
    rm -rf "$KAFKA_LIBS_DIR"
    mv "$tmp" "$KAFKA_LIBS_DIR"
    kafka_log "cached $(find "$KAFKA_LIBS_DIR" -name '*.jar' | wc -l) jars in $KAFKA_LIBS_DIR"
  ) 9>"$parent/.fetch.lock"
}
