#!/usr/bin/env bash
# Jaeger v2 (the OpenTelemetry-Collector-based backend) with in-memory storage, on loopback:
# OTLP gRPC and HTTP in, the query API and UI out. Built from source by the Go toolchain from
# the tools module in dev-tools/jaeger (its own go.mod, so Shopflow's stays clean), configured
# by dev-tools/jaeger/config.yaml.
# Usage: jaeger.sh install|start|stop|status|restart
#   SHOPFLOW_JAEGER_OTLP_GRPC_PORT (4317)   SHOPFLOW_JAEGER_OTLP_HTTP_PORT (4318)
#   SHOPFLOW_JAEGER_UI_PORT (16686, the UI and the HTTP query API /api/...)
#   SHOPFLOW_JAEGER_QUERY_GRPC_PORT (16685, the gRPC query API)
#   SHOPFLOW_JAEGER_MAX_TRACES (50000, older traces are evicted)  SHOPFLOW_JAEGER_LOG_LEVEL (warn)
#   SHOPFLOW_JAEGER_GOGC (400: the Go GC target of the Jaeger process, see below)
#   SHOPFLOW_JAEGER_UI_ASSETS (dev-tools/jaeger/ui: the page served on the UI port; the Go module
#   has no Jaeger UI assets, so this is a minimal trace view over the query API)
#   SHOPFLOW_TOOLS_CACHE (~/.cache/shopflow-tools: built binaries shared by every clone here)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export SHOPFLOW_JAEGER_OTLP_GRPC_PORT="${SHOPFLOW_JAEGER_OTLP_GRPC_PORT:-4317}"
export SHOPFLOW_JAEGER_OTLP_HTTP_PORT="${SHOPFLOW_JAEGER_OTLP_HTTP_PORT:-4318}"
export SHOPFLOW_JAEGER_UI_PORT="${SHOPFLOW_JAEGER_UI_PORT:-16686}"
export SHOPFLOW_JAEGER_QUERY_GRPC_PORT="${SHOPFLOW_JAEGER_QUERY_GRPC_PORT:-16685}"
export SHOPFLOW_JAEGER_MAX_TRACES="${SHOPFLOW_JAEGER_MAX_TRACES:-50000}"
export SHOPFLOW_JAEGER_LOG_LEVEL="${SHOPFLOW_JAEGER_LOG_LEVEL:-warn}"
# The in-memory store keeps up to MAX_TRACES traces live, and with Go's default GOGC=100 every
# collection marks all of them again: measured with 5,000 spans/s of Shopflow's shape, that
# was a third of Jaeger's CPU (16-17 us a span; 11 us at 400) on the two cores the services
# share with it. 400 lets the heap grow to five times what is live before collecting: the
# resident size with a full store went from 267 MB to 438 MB.
export SHOPFLOW_JAEGER_GOGC="${SHOPFLOW_JAEGER_GOGC:-400}"
J_MODULE="$REPO_ROOT/dev-tools/jaeger"
J_CONFIG="$J_MODULE/config.yaml"
# The Go module carries no Jaeger UI assets: serve the minimal trace view of dev-tools/jaeger/ui.
export SHOPFLOW_JAEGER_UI_ASSETS="${SHOPFLOW_JAEGER_UI_ASSETS:-$J_MODULE/ui}"
J_DIR="$SHOPFLOW_STATE_DIR/jaeger"
J_BIN="$J_DIR/bin/jaeger"
J_LOG="$LOG_DIR/jaeger.log"
J_PID="$RUN_DIR/jaeger.pid"
J_RUNNING_STAMP="$RUN_DIR/jaeger.stamp"
J_UI="http://127.0.0.1:$SHOPFLOW_JAEGER_UI_PORT"
TOOLS_CACHE="${SHOPFLOW_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shopflow-tools}"
START_TIMEOUT=60
# The version is stamped into the binary (`jaeger version`) the way Jaeger's own build does.
J_VERSION="$(sed -n 's#^[[:space:]]*github.com/jaegertracing/jaeger \(v[^ ]*\).*#\1#p' "$J_MODULE/go.mod")"
J_LDFLAGS="-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$J_VERSION"

# Debian's golang-go is older than the tools module requires, so a missing Go is reported.
ensure_go() {
  command -v go >/dev/null 2>&1 ||
    die "Go $(sed -n 's/^go //p' "$J_MODULE/go.mod") or newer is required to build Jaeger (https://go.dev/dl)"
}

# build_stamp identifies a binary: the tools module's requirements, the toolchain and the flags.
build_stamp() {
  { cat "$J_MODULE/go.mod" "$J_MODULE/go.sum"; go version; echo "$J_LDFLAGS"; } | sha256sum | cut -c1-16
}

# install puts the binary for this exact build stamp in the state dir: already there, copied from
# the machine-wide tools cache (another clone built it), or built once into that cache.
install() {
  local stamp cached
  ensure_go
  [ -n "$J_VERSION" ] || die "no github.com/jaegertracing/jaeger requirement in $J_MODULE/go.mod"
  stamp="$(build_stamp)"
  [ -x "$J_BIN" ] && [ "$(cat "$J_DIR/bin/.stamp" 2>/dev/null)" = "$stamp" ] && return 0
  cached="$TOOLS_CACHE/jaeger-$J_VERSION-$stamp"
  mkdir -p "$TOOLS_CACHE" "$J_DIR/bin"
  # One build at a time per machine: a second clone waits here, then finds the binary.
  exec 8>"$TOOLS_CACHE/jaeger.lock"
  flock 8
  [ -x "$cached" ] || build "$cached"
  flock -u 8
  cp "$cached" "$J_BIN.new" && mv -f "$J_BIN.new" "$J_BIN"
  echo "$stamp" >"$J_DIR/bin/.stamp"
  pid_alive "$J_PID" && say "note: jaeger is running the previous build; run '$0 restart' to use the new one"
  return 0
}

# build OUT compiles cmd/jaeger from the tools module into OUT (atomically).
build() {
  local out=$1 t0=$SECONDS
  say "building Jaeger $J_VERSION from source (first run on this machine only; minutes on 2 cores)"
  (cd "$J_MODULE" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath -ldflags "$J_LDFLAGS" -o "$out.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) \
    >"$LOG_DIR/jaeger-build.log" 2>&1 ||
    { tail -n 40 "$LOG_DIR/jaeger-build.log" >&2; rm -f "$out.tmp"; die "building Jaeger failed; see $LOG_DIR/jaeger-build.log"; }
  mv -f "$out.tmp" "$out"
  say "built Jaeger $J_VERSION in $((SECONDS - t0))s (cached in $TOOLS_CACHE)"
}

# running_stamp identifies what a started Jaeger runs: the binary, its config, UI page and GOGC.
running_stamp() {
  echo "$(cat "$J_DIR/bin/.stamp" 2>/dev/null)-$(stamp_of "$J_CONFIG" "$SHOPFLOW_JAEGER_UI_ASSETS/index.html")-gogc$SHOPFLOW_JAEGER_GOGC"
}

# ready: the query API answers and both OTLP receivers listen (receivers start last).
ready() {
  curl -fsS --max-time 3 "$J_UI/api/services" >/dev/null 2>&1 &&
    port_busy "$SHOPFLOW_JAEGER_OTLP_HTTP_PORT" && port_busy "$SHOPFLOW_JAEGER_OTLP_GRPC_PORT"
}

check_ports_free() {
  local var port
  for var in SHOPFLOW_JAEGER_OTLP_GRPC_PORT SHOPFLOW_JAEGER_OTLP_HTTP_PORT SHOPFLOW_JAEGER_UI_PORT \
    SHOPFLOW_JAEGER_QUERY_GRPC_PORT; do
    port="${!var}"
    port_busy "$port" && die "port $port is taken by another process; set $var"
  done
  return 0
}

start() {
  command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
  command -v flock >/dev/null 2>&1 || apt_install util-linux
  install
  if pid_alive "$J_PID"; then
    wait_for "$START_TIMEOUT" "jaeger" ready || die "jaeger (pid $(cat "$J_PID")) is not ready; see $J_LOG"
    [ "$(cat "$J_RUNNING_STAMP" 2>/dev/null)" = "$(running_stamp)" ] ||
      say "note: jaeger runs an older build or config; run '$0 restart' to apply"
    status
    return 0
  fi
  rm -f "$J_PID"
  check_ports_free
  say "starting on 127.0.0.1 (OTLP gRPC :$SHOPFLOW_JAEGER_OTLP_GRPC_PORT, HTTP :$SHOPFLOW_JAEGER_OTLP_HTTP_PORT, UI $J_UI)"
  : >"$J_LOG"
  # OTEL_* of the caller are meant for Shopflow, not for the collector's own SDK.
  # shellcheck disable=SC2046 # one -u NAME per variable
  setsid nohup env $(compgen -e | grep '^OTEL_' | sed 's/^/-u /') GOGC="$SHOPFLOW_JAEGER_GOGC" \
    "$J_BIN" --config="$J_CONFIG" >>"$J_LOG" 2>&1 </dev/null &
  echo $! >"$J_PID"
  running_stamp >"$J_RUNNING_STAMP"
  local deadline=$((SECONDS + START_TIMEOUT))
  until ready; do
    if ! pid_alive "$J_PID"; then
      tail -n 40 "$J_LOG" >&2
      rm -f "$J_PID" "$J_RUNNING_STAMP"
      die "jaeger exited during startup; see $J_LOG"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 40 "$J_LOG" >&2
      stop
      die "jaeger not ready after ${START_TIMEOUT}s; see $J_LOG"
    fi
    sleep 0.2
  done
  status
}

stop() {
  stop_pid jaeger "$J_PID" 20
  rm -f "$J_RUNNING_STAMP"
}

status() {
  if pid_alive "$J_PID" && ready; then
    printf '%-14s running  pid=%s  ui=%s  otlp=127.0.0.1:%s (grpc), http://127.0.0.1:%s (http)\n' jaeger \
      "$(cat "$J_PID")" "$J_UI" "$SHOPFLOW_JAEGER_OTLP_GRPC_PORT" "$SHOPFLOW_JAEGER_OTLP_HTTP_PORT"
    return 0
  fi
  if pid_alive "$J_PID"; then
    printf '%-14s starting pid=%s  (not answering on %s)\n' jaeger "$(cat "$J_PID")" "$J_UI"
  else
    printf '%-14s stopped\n' jaeger
  fi
  return 3
}

case "${1:-}" in
  install | start | stop | status) "$1" ;;
  restart) stop && start ;;
  *) echo "usage: $0 install|start|stop|status|restart" >&2; exit 2 ;;
esac
