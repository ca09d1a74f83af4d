#!/usr/bin/env bash
# Kill -9 drill: under a steady order load over HTTP, kill the shopflow process started by
# `make up` with SIGKILL, start it again at once, and report how long it took to be ready
# and how soon after that the sagas confirmed orders again (first OrderConfirmed recorded in
# the orders database after readiness), then the load's own summary.
# Usage: scripts/restart-drill.sh [RATE] [SECONDS_BEFORE_KILL] [TOTAL_SECONDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RATE="${1:-40}" BEFORE="${2:-20}" TOTAL="${3:-60}"
HTTP="http://${SHOPFLOW_HTTP_ADDR:-127.0.0.1:${SHOPFLOW_HTTP_PORT:-8080}}"
PID_FILE="$RUN_DIR/shopflow.pid"
ORDERS_DB="${SHOPFLOW_ORDERS_DATABASE_URL:-postgres://postgres@127.0.0.1:${SHOPFLOW_PG_PORT:-5432}/orders}"
pid_alive "$PID_FILE" || die "shopflow is not running: start it with make up"
curl -fsS "$HTTP/readyz" >/dev/null || die "shopflow is not ready"
(cd "$REPO_ROOT" && go build -o bin/shopflow-load ./cmd/shopflow-load)
local_auth "$REPO_ROOT/bin/shopflow" # the restarted process trusts the same local key as make up's
token="$("$REPO_ROOT/bin/shopflow" token --role catalog,payments,orders,read --ttl "$((TOTAL + 600))s")"
out="$(mktemp)"
"$REPO_ROOT/bin/shopflow-load" -url "$HTTP" -token "$token" -rate "$RATE" -duration "${TOTAL}s" -timeline >"$out" 2>&1 &
load=$!
sleep "$BEFORE"
kill -9 "$(cat "$PID_FILE")"
killed=$(date +%s.%N)
say "killed shopflow with SIGKILL; starting it again"
setsid nohup "$REPO_ROOT/bin/shopflow" serve >>"$LOG_DIR/shopflow.log" 2>&1 </dev/null &
echo $! >"$PID_FILE"
until curl -fsS "$HTTP/readyz" >/dev/null 2>&1; do sleep 0.1; done
ready=$(date +%s.%N)
first=""
for _ in $(seq 300); do
  first=$(psql "$ORDERS_DB" -Atc "SELECT extract(epoch FROM min(recorded_at)) FROM events
    WHERE event_type = 'OrderConfirmed' AND recorded_at > to_timestamp($ready)")
  [ -n "$first" ] && break
  sleep 0.1
done
wait "$load" || true
printf 'kill -9 → ready: %.2f s; ready → first confirmation: %s s\n' "$(echo "$ready - $killed" | bc)" \
  "$( [ -n "$first" ] && printf '%.2f' "$(echo "$first - $ready" | bc)" || echo 'none within 30')"
cat "$out"
rm -f "$out"
