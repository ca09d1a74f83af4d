#!/usr/bin/env bash
# Runs Shopflow's whole local stack: PostgreSQL, Kafka, Elasticsearch, Jaeger (traces) and the
# shopflow process.
# Usage: stack.sh up|infra|down|status|logs|run CMD...
#   up      install what is missing, start every server and shopflow, wait until healthy
#   infra   the same without the shopflow process (what `make test` needs)
#   run     start the servers, then run CMD with the SHOPFLOW_* variables pointing at them
#   down    stop everything, shopflow first
#   status  one line per component; exit 3 when any is down
#   logs    where each log lives, and the last lines of each
# Ports: SHOPFLOW_PG_PORT, SHOPFLOW_KAFKA_PORT, SHOPFLOW_KAFKA_CONTROLLER_PORT, SHOPFLOW_ES_PORT,
# SHOPFLOW_ES_TRANSPORT_PORT, SHOPFLOW_HTTP_PORT (8080), SHOPFLOW_JAEGER_OTLP_GRPC_PORT (4317),
# SHOPFLOW_JAEGER_OTLP_HTTP_PORT (4318), SHOPFLOW_JAEGER_UI_PORT (16686, UI and query API),
# SHOPFLOW_JAEGER_QUERY_GRPC_PORT (16685).
# Tracing: `up` and `run` point shopflow at that Jaeger with OTEL_EXPORTER_OTLP_ENDPOINT
# (http://127.0.0.1:4318), OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf) and OTEL_SERVICE_NAME
# (shopflow), each only when not set already; OTEL_SDK_DISABLED=true turns tracing off. `up`
# also sets SHOPFLOW_TRACE_UI_URL (the console's trace links) to the Jaeger UI when unset.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
S="$REPO_ROOT/scripts"

HTTP_PORT="${SHOPFLOW_HTTP_PORT:-8080}"
APP_PID="$RUN_DIR/shopflow.pid"
APP_LOG="$LOG_DIR/shopflow.log"

# The shopflow process is configured from the same ports the servers were started on.
export SHOPFLOW_HTTP_ADDR="${SHOPFLOW_HTTP_ADDR:-127.0.0.1:$HTTP_PORT}"
pg="postgres://postgres@127.0.0.1:${SHOPFLOW_PG_PORT:-5432}"
export SHOPFLOW_ORDERS_DATABASE_URL="${SHOPFLOW_ORDERS_DATABASE_URL:-$pg/orders}"
export SHOPFLOW_INVENTORY_DATABASE_URL="${SHOPFLOW_INVENTORY_DATABASE_URL:-$pg/inventory}"
export SHOPFLOW_PAYMENTS_DATABASE_URL="${SHOPFLOW_PAYMENTS_DATABASE_URL:-$pg/payments}"
export SHOPFLOW_KAFKA_BROKERS="${SHOPFLOW_KAFKA_BROKERS:-127.0.0.1:${SHOPFLOW_KAFKA_PORT:-9092}}"
export SHOPFLOW_ES_URLS="${SHOPFLOW_ES_URLS:-http://127.0.0.1:${SHOPFLOW_ES_PORT:-9200}}"
# Where scripts/jaeger.sh listens; internal/testenv reads these two to reach it.
export SHOPFLOW_JAEGER_OTLP_URL="${SHOPFLOW_JAEGER_OTLP_URL:-http://127.0.0.1:${SHOPFLOW_JAEGER_OTLP_HTTP_PORT:-4318}}"
export SHOPFLOW_JAEGER_QUERY_URL="${SHOPFLOW_JAEGER_QUERY_URL:-http://127.0.0.1:${SHOPFLOW_JAEGER_UI_PORT:-16686}}"

# otel_env turns tracing on towards the local Jaeger, keeping whatever OTEL_* the user set.
otel_env() {
  export OTEL_EXPORTER_OTLP_ENDPOINT="${OTEL_EXPORTER_OTLP_ENDPOINT:-$SHOPFLOW_JAEGER_OTLP_URL}"
  export OTEL_EXPORTER_OTLP_PROTOCOL="${OTEL_EXPORTER_OTLP_PROTOCOL:-http/protobuf}"
  export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-shopflow}"
}

# Debian's golang-go is older than go.mod requires, so a missing Go is reported, not installed.
ensure_go() {
  command -v go >/dev/null 2>&1 || die "Go $(sed -n 's/^go //p' "$REPO_ROOT/go.mod") or newer is required (https://go.dev/dl)"
}

infra() {
  apt_install curl ca-certificates
  "$S/postgres.sh" start
  "$S/kafka.sh" start
  "$S/elasticsearch.sh" start
  "$S/jaeger.sh" start
}

app_ready() { curl -fsS "http://$SHOPFLOW_HTTP_ADDR/readyz" >/dev/null; }

app_start() {
  ensure_go
  otel_env
  # The console's order journey links each trace to the local Jaeger's page for it.
  export SHOPFLOW_TRACE_UI_URL="${SHOPFLOW_TRACE_UI_URL:-$SHOPFLOW_JAEGER_QUERY_URL}"
  say "building shopflow"
  (cd "$REPO_ROOT" && go build -o "$REPO_ROOT/bin/shopflow" ./cmd/shopflow)
  if pid_alive "$APP_PID"; then
    say "restarting shopflow (pid $(cat "$APP_PID")) on the fresh build"
    stop_pid shopflow "$APP_PID" 30
  fi
  port_busy "$HTTP_PORT" && die "port $HTTP_PORT is taken by another process; set SHOPFLOW_HTTP_PORT"
  "$REPO_ROOT/bin/shopflow" topics >>"$APP_LOG" 2>&1 || { tail -n 20 "$APP_LOG" >&2; die "topic creation failed"; }
  local_auth "$REPO_ROOT/bin/shopflow"
  setsid nohup "$REPO_ROOT/bin/shopflow" serve >>"$APP_LOG" 2>&1 </dev/null &
  echo $! >"$APP_PID"
  wait_for 60 "shopflow readiness" app_ready || { tail -n 30 "$APP_LOG" >&2; exit 1; }
}

up() {
  local t0=$SECONDS
  infra
  app_start
  status || true
  cat <<MSG

Shopflow is up in $((SECONDS - t0))s.
  API            http://$SHOPFLOW_HTTP_ADDR   (GET /healthz, /readyz, /metrics)
  Token          bin/shopflow token --role all   (local signing key in $SHOPFLOW_STATE_DIR/auth; see README "Try it")
  Console        http://$SHOPFLOW_HTTP_ADDR/console   (sign in with the token of: bin/shopflow token --role admin)
  PostgreSQL     $pg  (databases orders, inventory, payments)
  Kafka          $SHOPFLOW_KAFKA_BROKERS
  Elasticsearch  $SHOPFLOW_ES_URLS
  Jaeger UI      $SHOPFLOW_JAEGER_QUERY_URL   (traces of service $OTEL_SERVICE_NAME, sent to $OTEL_EXPORTER_OTLP_ENDPOINT)
Logs: make logs   Health: make status   Stop: make down   Wipe all state: make clean
MSG
}

down() {
  stop_pid shopflow "$APP_PID" 30
  "$S/jaeger.sh" stop
  "$S/elasticsearch.sh" stop
  "$S/kafka.sh" stop
  "$S/postgres.sh" stop
}

status() {
  local rc=0
  "$S/postgres.sh" status || rc=3
  "$S/kafka.sh" status || rc=3
  "$S/elasticsearch.sh" status || rc=3
  "$S/jaeger.sh" status || rc=3
  if pid_alive "$APP_PID" && app_ready; then
    printf '%-14s running  pid=%s  http://%s\n' shopflow "$(cat "$APP_PID")" "$SHOPFLOW_HTTP_ADDR"
  else
    printf '%-14s stopped\n' shopflow; rc=3
  fi
  return $rc
}

logs() {
  for f in "$LOG_DIR"/*.log; do
    [ -e "$f" ] || continue
    printf '\n==> %s <==\n' "$f"
    tail -n "${LINES_PER_LOG:-10}" "$f"
  done
}

run() {
  infra
  ensure_go
  otel_env
  # The console's browser tests drive Debian's chromium.
  SHOPFLOW_CHROMIUM="$("$S/chromium.sh" ensure)"
  export SHOPFLOW_CHROMIUM
  # The OpenAPI conformance test (cmd/shopflow) runs schemathesis, from a venv of its own.
  SHOPFLOW_SCHEMATHESIS="$("$S/schemathesis.sh" ensure)"
  export SHOPFLOW_SCHEMATHESIS
  # The event catalog's test (internal/catalog) validates docs/events/asyncapi.yaml with the
  # reference AsyncAPI parser, run by node from a directory of its own.
  SHOPFLOW_ASYNCAPI_VALIDATE="$("$S/asyncapi.sh" ensure)"
  export SHOPFLOW_ASYNCAPI_VALIDATE
  cd "$REPO_ROOT"
  exec "$@"
}

case "${1:-}" in
  up|infra|down|status|logs) "$1" ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 up|infra|down|status|logs|run CMD..." >&2; exit 2 ;;
esac
