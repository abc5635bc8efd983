#!/usr/bin/env bash
# Ensures PostgreSQL and Redis answer on loopback: starts them when they are
# installed but stopped, installs them with apt-get when missing (as root).
# Idempotent; `just run`, `just test` and `just bench` call it first.
set -euo pipefail

PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
log() { printf 'services: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; exit 1; fi
}

apt_install() {
  log "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; }

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_up; then return; fi
  local fresh=0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
    fresh=1
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ "$fresh" -eq 1 ]; then
    # A fresh Debian cluster asks for passwords on TCP; Marquee's dev and
    # test URLs connect as postgres without one, on loopback only.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && return; sleep 1; done
  log "PostgreSQL did not come up on 127.0.0.1:$PG_PORT"; exit 1
}

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

ensure_redis() {
  if command -v redis-cli >/dev/null && redis_up; then return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  local dir=${REDIS_DIR:-/tmp/marquee-redis}
  mkdir -p "$dir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$dir" --save "" --appendonly no --logfile "$dir/redis.log"
  for _ in $(seq 1 30); do redis_up && return; sleep 0.5; done
  log "Redis did not come up on 127.0.0.1:$REDIS_PORT"; exit 1
}

# run.sh and smoke.sh talk HTTP with curl.
command -v curl >/dev/null || apt_install curl
# The test of deploy/prometheus/alerts.yml runs promtool. Debian's package
# also ships a Prometheus server, which is left stopped.
if ! command -v promtool >/dev/null; then
  apt_install --no-install-recommends prometheus
  as_root pkill -x prometheus 2>/dev/null || true
fi
ensure_postgres
ensure_redis
# The tests' SMTP server (a real one: aiosmtpd) runs on Debian's python3.
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || apt_install python3-aiosmtpd
log "PostgreSQL 127.0.0.1:$PG_PORT and Redis 127.0.0.1:$REDIS_PORT are up"
