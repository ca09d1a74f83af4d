#!/usr/bin/env bash
# PostgreSQL 15 from Debian packages, in a project-local data directory, on loopback.
# Usage: postgres.sh install|start|stop|status
#   SHOPFLOW_PG_PORT (default 5432)  SHOPFLOW_PG_DATABASES (default "orders inventory payments")
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PG_PORT="${SHOPFLOW_PG_PORT:-5432}"
PG_DATABASES="${SHOPFLOW_PG_DATABASES:-orders inventory payments}"
PG_DIR="$SHOPFLOW_STATE_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_SOCK="$PG_DIR/run"
PG_LOG="$LOG_DIR/postgres.log"

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$d" ] && printf '%s\n' "$d"
}

as_pg() { runuser -u postgres -- "$@"; }

install() {
  [ -n "$(pg_bin)" ] || apt_install postgresql
  [ -n "$(pg_bin)" ] || die "no PostgreSQL server binaries after install"
  mkdir -p "$PG_DIR"
  # The server runs as the postgres user: it must be able to reach its data directory.
  as_pg test -x "$PG_DIR" || die "user postgres cannot reach $PG_DIR; set SHOPFLOW_STATE_DIR to a path it can traverse"
  chown postgres: "$PG_DIR"
  mkdir -p "$PG_SOCK" && chown postgres: "$PG_SOCK"
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    say "initialising cluster in $PG_DATA"
    as_pg "$(pg_bin)/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
}

ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; }

running() { as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

start() {
  install
  if ! running; then
    port_busy "$PG_PORT" && die "port $PG_PORT is taken by another process; set SHOPFLOW_PG_PORT"
    touch "$PG_LOG" && chown postgres: "$PG_LOG"
    say "starting on 127.0.0.1:$PG_PORT"
    as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -o \
      "-p $PG_PORT -k $PG_SOCK -c listen_addresses=127.0.0.1 -c wal_level=logical \
       -c max_replication_slots=10 -c max_wal_senders=10 -c max_connections=200 \
       -c shared_buffers=256MB" start >/dev/null || { tail -n 30 "$PG_LOG" >&2; exit 1; }
  fi
  wait_for 30 "postgres" ready
  for db in $PG_DATABASES; do
    psql_q postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 ||
      psql_q postgres -qc "CREATE DATABASE \"$db\"" >/dev/null
  done
  head -n1 "$PG_DATA/postmaster.pid" >"$RUN_DIR/postgres.pid"
}

psql_q() { local db=$1; shift; "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" -v ON_ERROR_STOP=1 "$@"; }

stop() {
  if [ -s "$PG_DATA/PG_VERSION" ] && running; then
    as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null && say "postgres stopped"
  else
    say "postgres not running"
  fi
  rm -f "$RUN_DIR/postgres.pid"
}

status() {
  if [ -n "$(pg_bin)" ] && [ -s "$PG_DATA/PG_VERSION" ] && running && ready; then
    printf '%-14s running  pid=%s  postgres://postgres@127.0.0.1:%s  databases: %s\n' \
      postgres "$(head -n1 "$PG_DATA/postmaster.pid")" "$PG_PORT" "$PG_DATABASES"
  else
    printf '%-14s stopped\n' postgres; return 3
  fi
}

case "${1:-}" in
  install|start|stop|status) "$1" ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
