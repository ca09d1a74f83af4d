#!/usr/bin/env bash
# Elasticsearch 8.14.3, single node on loopback, run from Maven Central artifacts (server jar +
# transport-netty4) by the small launcher in dev-tools/elasticsearch (see its README.md).
# Usage: elasticsearch.sh install|start|stop|status|restart
#   SHOPFLOW_ES_PORT (default 9200)  SHOPFLOW_ES_TRANSPORT_PORT (default 9300)
#   SHOPFLOW_ES_HEAP (default 512m)  SHOPFLOW_ES_JAVA_OPTS (extra JVM flags)
#   JAVA_HOME (default /usr/lib/jvm/java-17-openjdk-amd64, else the `java` on PATH; needs a JDK 17-21)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ES_PORT="${SHOPFLOW_ES_PORT:-9200}"
ES_TRANSPORT_PORT="${SHOPFLOW_ES_TRANSPORT_PORT:-9300}"
ES_HEAP="${SHOPFLOW_ES_HEAP:-512m}"
ES_DIR="$SHOPFLOW_STATE_DIR/elasticsearch"
ES_LIB="$ES_DIR/lib"
ES_HOME="$ES_DIR/home"
ES_LOG="$LOG_DIR/elasticsearch.log"
ES_PID="$RUN_DIR/elasticsearch.pid"
ES_URL="http://127.0.0.1:$ES_PORT"
MODULE="$REPO_ROOT/dev-tools/elasticsearch"
START_TIMEOUT=120

# java_major JAVA_HOME prints the feature version of that JDK (17, 21, ...).
java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}

# es_java_home prints the JDK to build and run with: $JAVA_HOME, else Debian's OpenJDK 17, else the
# `java` on PATH. Elasticsearch 8.14 supports JDK 17-22; we require a JDK (javac) in 17..21 and
# install OpenJDK 17 when there is none.
es_java_home() {
  local jh="${JAVA_HOME:-}" major
  if [ -z "$jh" ]; then
    if [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]; then
      jh=/usr/lib/jvm/java-17-openjdk-amd64
    elif command -v java >/dev/null 2>&1; then
      jh="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
    fi
  fi
  if [ -n "$jh" ] && [ -x "$jh/bin/javac" ]; then
    major="$(java_major "$jh")"
    if [ "${major:-0}" -ge 17 ] 2>/dev/null && [ "$major" -le 21 ]; then
      printf '%s\n' "$jh"; return 0
    fi
    say "JDK at $jh is Java ${major:-?}; Elasticsearch 8.14 needs 17-21, using OpenJDK 17 instead"
  fi
  apt_install openjdk-17-jdk-headless >&2
  for jh in /usr/lib/jvm/java-17-openjdk-*; do
    [ -x "$jh/bin/javac" ] && { printf '%s\n' "$jh"; return 0; }
  done
  die "no JDK 17 found after installing openjdk-17-jdk-headless"
}

# source_stamp hashes the launcher's build inputs (pom.xml and every file under src/, names included).
source_stamp() {
  (cd "$MODULE" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16
}

install() {
  local jh stamp
  stamp="$(source_stamp)"
  if [ "$(cat "$ES_LIB/.stamp" 2>/dev/null)" = "$stamp" ] && [ -f "$ES_LIB/shopflow-es-launcher.jar" ]; then
    return 0
  fi
  jh="$(es_java_home)"
  ensure_maven
  say "building the launcher and resolving Elasticsearch jars with Maven (first run or launcher changed)"
  rm -rf "$ES_LIB.new"
  # package builds the launcher jar; copy-dependencies copies the plain runtime classpath (no fat jar:
  # the server jar's manifest is read at startup for the build info).
  # (Output goes to a log shown on failure: Maven 3.8 prints stray ANSI resets even with -q -B.)
  JAVA_HOME="$jh" mvn -q -B -f "$MODULE/pom.xml" package dependency:copy-dependencies \
    -DoutputDirectory="$ES_LIB.new" >"$LOG_DIR/elasticsearch-build.log" 2>&1 ||
    { cat "$LOG_DIR/elasticsearch-build.log" >&2; die "launcher build failed"; }
  cp "$MODULE/target/shopflow-es-launcher-1.0.0.jar" "$ES_LIB.new/shopflow-es-launcher.jar"
  echo "$stamp" >"$ES_LIB.new/.stamp"
  rm -rf "$ES_LIB"
  mv "$ES_LIB.new" "$ES_LIB"
  if pid_alive "$ES_PID"; then
    say "note: elasticsearch is running with the previous build; run '$0 restart' to use the new one"
  fi
}

# health prints the cluster health status (green/yellow/red), or fails when unreachable.
health() {
  local body
  body="$(curl -s --max-time 3 "$ES_URL/_cluster/health" 2>/dev/null)" || return 1
  printf '%s' "$body" | grep -o '"status":"[a-z]*"' | cut -d'"' -f4 | grep . || return 1
}

healthy() { case "$(health)" in green | yellow) return 0 ;; *) return 1 ;; esac; }

start() {
  command -v curl >/dev/null 2>&1 || apt_install curl
  install
  if pid_alive "$ES_PID"; then
    wait_for "$START_TIMEOUT" "elasticsearch health" healthy ||
      die "elasticsearch (pid $(cat "$ES_PID")) is not healthy; see $ES_LOG"
    status
    return 0
  fi
  rm -f "$ES_PID"
  port_busy "$ES_PORT" && die "port $ES_PORT is taken by another process; set SHOPFLOW_ES_PORT"
  port_busy "$ES_TRANSPORT_PORT" &&
    die "port $ES_TRANSPORT_PORT is taken by another process; set SHOPFLOW_ES_TRANSPORT_PORT"

  local jh
  jh="$(es_java_home)"
  mkdir -p "$ES_HOME" "$ES_DIR/tmp"
  say "starting on $ES_URL"
  : >"$ES_LOG"
  # shellcheck disable=SC2086 # SHOPFLOW_ES_JAVA_OPTS is a list of flags
  setsid nohup "$jh/bin/java" -Xms"$ES_HEAP" -Xmx"$ES_HEAP" -XX:+UseG1GC -Xss1m \
    -XX:-OmitStackTraceInFastThrow -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djava.io.tmpdir="$ES_DIR/tmp" \
    -Djava.locale.providers=SPI,COMPAT \
    -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true \
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
    -Djna.nosys=true \
    ${SHOPFLOW_ES_JAVA_OPTS:-} \
    -cp "$ES_LIB/*" dev.shopflow.es.Launcher "$ES_HOME" "$ES_PORT" "$ES_TRANSPORT_PORT" \
    >>"$ES_LOG" 2>&1 </dev/null &
  echo $! >"$ES_PID"

  local deadline=$((SECONDS + START_TIMEOUT))
  until healthy; do
    if ! pid_alive "$ES_PID"; then
      tail -n 40 "$ES_LOG" >&2
      rm -f "$ES_PID"
      die "elasticsearch exited during startup; see $ES_LOG"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 40 "$ES_LOG" >&2
      stop
      die "elasticsearch not healthy after ${START_TIMEOUT}s; see $ES_LOG"
    fi
    sleep 0.5
  done
  status
}

stop() { stop_pid elasticsearch "$ES_PID" 30; }

status() {
  local h
  if pid_alive "$ES_PID"; then
    h="$(health || echo unavailable)"
    printf '%-14s running  pid=%s  %s  health=%s\n' elasticsearch "$(cat "$ES_PID")" "$ES_URL" "$h"
    case "$h" in green | yellow) return 0 ;; *) return 3 ;; esac
  fi
  printf '%-14s stopped\n' elasticsearch
  return 3
}

case "${1:-}" in
  install | start | stop | status) "$1" ;;
  restart) stop && start ;;
  *) echo "usage: $0 install|start|stop|status|restart" >&2; exit 2 ;;
esac
