# shellcheck shell=bash
# Common helpers for the scripts that install, start and stop Shopflow's local stack.
# Sourced, not run. Every script keeps its state under $SHOPFLOW_STATE_DIR.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHOPFLOW_STATE_DIR="${SHOPFLOW_STATE_DIR:-$REPO_ROOT/.shopflow}"
LOG_DIR="$SHOPFLOW_STATE_DIR/logs"
RUN_DIR="$SHOPFLOW_STATE_DIR/run"
mkdir -p "$LOG_DIR" "$RUN_DIR"

say() { printf '%s %s\n' "[$(basename "$0" .sh)]" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# apt_install PKG... installs Debian packages that are missing (apt-get update once per run).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  if [ ! -f "$RUN_DIR/.apt-updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && touch "$RUN_DIR/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# java_home prints a Java 17 home (the Kafka and Elasticsearch builds used here target 17),
# installing OpenJDK 17 when none is present.
java_home() {
  local jh=/usr/lib/jvm/java-17-openjdk-amd64
  if [ ! -x "$jh/bin/java" ]; then
    apt_install openjdk-17-jdk-headless
  fi
  printf '%s\n' "$jh"
}

# ensure_maven installs Maven when it is missing.
ensure_maven() { command -v mvn >/dev/null 2>&1 || apt_install maven; }

# pid_alive PIDFILE succeeds when the file names a live process.
pid_alive() {
  local f=$1
  [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# stop_pid NAME PIDFILE [TIMEOUT]: SIGTERM, wait, then SIGKILL the whole process group.
stop_pid() {
  local name=$1 f=$2 timeout=${3:-30} pid
  if ! pid_alive "$f"; then rm -f "$f"; say "$name not running"; return 0; fi
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((timeout * 10))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$f"; say "$name stopped"; return 0; }
    sleep 0.1
  done
  say "$name did not stop in ${timeout}s; killing"
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

# port_busy PORT succeeds when something listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for SECONDS DESCRIPTION CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && { say "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 0.2
  done
}

# stamp_of FILE... prints a hash of the files' contents, to detect when a build input changed.
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# local_auth BIN: unless an issuer is configured (or authentication switched off), make sure
# the state directory holds the local development signing key and key set (BIN auth
# init-local keeps an existing key) and export the settings that make the shopflow process
# trust it; `shopflow token` then mints tokens with that key.
local_auth() {
  local bin=$1
  if [ -n "${SHOPFLOW_AUTH_ISSUER:-}" ] || [ "${SHOPFLOW_AUTH_DISABLED:-false}" = true ]; then return 0; fi
  "$bin" auth init-local "$SHOPFLOW_STATE_DIR/auth" >&2
  export SHOPFLOW_AUTH_ISSUER=shopflow-local SHOPFLOW_AUTH_JWKS_FILE="$SHOPFLOW_STATE_DIR/auth/jwks.json"
  export SHOPFLOW_AUTH_SIGNING_KEY="${SHOPFLOW_AUTH_SIGNING_KEY:-$SHOPFLOW_STATE_DIR/auth/signing-key.json}"
}
