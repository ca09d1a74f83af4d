#!/usr/bin/env bash
# PostgreSQL 15 from Debian packages, in a project-local data directory, on loopback.
# Usage: postgres.sh install|start|stop|crash|status|destroy
#   crash: an immediate stop (pg_ctl -m immediate: no checkpoint, recovery on the next start),
#   what the fault suite (make chaos) does to its own scratch server
#   SHOPFLOW_PG_PORT (default 5432)  SHOPFLOW_PG_DATABASES (default "orders inventory payments")
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PG_PORT="${SHOPFLOW_PG_PORT:-5432}"
PG_DATABASES="${SHOPFLOW_PG_DATABASES:-orders inventory payments}"
# The server runs as the postgres user, which must reach its data directory. When the
# checkout lies where it cannot (under /root, say), the data goes to /var/lib/shopflow and
# .shopflow/postgres links to it, so that `make clean` still finds it.
PG_DIR="$SHOPFLOW_STATE_DIR/postgres"

# resolve_dirs points the server's paths at the real data directory (through the link).
resolve_dirs() {
  PG_REAL="$(readlink -f "$PG_DIR" 2>/dev/null || printf '%s' "$PG_DIR")"
  PG_DATA="$PG_REAL/data"
  PG_SOCK="$PG_REAL/run"
  PG_LOG="$LOG_DIR/postgres.log"
  if [ -L "$PG_DIR" ]; then # the server writes its log where it can; logs/ links to it
    PG_LOG="$PG_REAL/postgres.log"
    ln -sfn "$PG_LOG" "$LOG_DIR/postgres.log"
  fi
}
resolve_dirs

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$d" ] && printf '%s\n' "$d"
}

as_pg() { runuser -u postgres -- "$@"; }

install() {
  [ -n "$(pg_bin)" ] || apt_install postgresql
  [ -n "$(pg_bin)" ] || die "no PostgreSQL server binaries after install"
  place_data_dir
  chown postgres: "$PG_REAL"
  mkdir -p "$PG_SOCK" && chown postgres: "$PG_SOCK"
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    say "initialising cluster in $PG_DATA"
    as_pg "$(pg_bin)/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
}

# place_data_dir creates PG_DIR, or a link to a directory the postgres user can reach.
place_data_dir() {
  [ -e "$PG_DIR" ] || mkdir -p "$PG_DIR"
  resolve_dirs
  as_pg test -x "$PG_REAL" && return 0
  [ -L "$PG_DIR" ] && die "user postgres cannot reach $PG_REAL"
  local target
  target="/var/lib/shopflow/postgres-$(printf '%s' "$SHOPFLOW_STATE_DIR" | sha256sum | cut -c1-12)"
  say "user postgres cannot reach $PG_DIR; keeping the data in $target"
  mkdir -p "$target"
  chmod 755 /var/lib/shopflow
  rmdir "$PG_DIR" 2>/dev/null || die "$PG_DIR is not empty and user postgres cannot reach it"
  ln -s "$target" "$PG_DIR"
  resolve_dirs
}

# destroy stops the server and deletes its data, also outside the checkout.
destroy() {
  stop
  if [ -L "$PG_DIR" ]; then rm -rf "$PG_REAL"; fi
  rm -rf "$PG_DIR"
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

crash() {
  running || die "postgres is not running"
  as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null && say "postgres stopped (immediate)"
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
  install|start|stop|crash|status|destroy) "$1" ;;
  *) echo "usage: $0 install|start|stop|crash|status|destroy" >&2; exit 2 ;;
esac
