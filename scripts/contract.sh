#!/usr/bin/env bash
# The API against its own /openapi.json: schemathesis generates requests for
# every operation, signed in as a verified admin, and fails on any 5xx, any
# status the document does not list, and any body, content type or header
# that does not match it. Runs the built `marquee-api` on a free loopback
# port over a fresh database and Redis prefix, and stops it on exit.
#
# Needs PostgreSQL and Redis (scripts/services.sh) and python3; installs the
# pinned schemathesis when missing. SCHEMATHESIS_MAX_EXAMPLES (default 25) and
# SCHEMATHESIS_MAX_TIME (seconds, default 90) bound the run.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-25}
max_time=${SCHEMATHESIS_MAX_TIME:-90}
target=${CARGO_TARGET_DIR:-target}
pg=${MARQUEE_CONTRACT_PG:-postgres://postgres@127.0.0.1:5432}

if ! python3 -m schemathesis.cli --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
cargo build --quiet -p marquee-api --bin marquee-api

run=contract_$$_$(date +%s)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
log=$(mktemp)
export MARQUEE_ENV=test
export MARQUEE__HTTP__PORT=$port MARQUEE__HTTP__PUBLIC_URL=$url MARQUEE__HTTP__METRICS_PORT=0
export MARQUEE__DATABASE__URL=$pg/marquee_$run MARQUEE__DATABASE__MIGRATE_ON_START=true
export MARQUEE__REDIS__KEY_PREFIX=marquee-$run

"$target/debug/marquee-api" serve >"$log" 2>&1 &
api=$!
cleanup() {
  kill -TERM "$api" 2>/dev/null || true
  wait "$api" 2>/dev/null || true
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS marquee_$run WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli --scan --pattern "marquee-$run*" 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1 || true
  rm -f "$log"
}
trap cleanup EXIT
fail() { echo "contract: $*"; tail -n 40 "$log"; exit 1; }

for _ in $(seq 1 60); do
  curl -fsS "$url/health/ready" >/dev/null 2>&1 && break
  kill -0 "$api" 2>/dev/null || fail "marquee-api exited early"
  sleep 0.5
done
curl -fsS "$url/health/ready" >/dev/null || fail "/health/ready is not 200"

# A verified admin reaches every handler past its role check.
email=contract@example.com
curl -fsS -X POST "$url/api/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\": \"$email\", \"password\": \"correct horse\", \"name\": \"Contract\"}" >/dev/null \
  || fail "register"
psql -q -v ON_ERROR_STOP=1 "$MARQUEE__DATABASE__URL" \
  -c "UPDATE users SET role = 'admin', email_verified_at = now() WHERE email = '$email'" >/dev/null \
  || fail "verify"
token=$(curl -fsS -X POST "$url/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\": \"$email\", \"password\": \"correct horse\"}" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') || fail "login"

status=0
python3 -m schemathesis.cli run "$url/openapi.json" --url "$url" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" --max-time "$max_time" \
  --seed 20240611 --workers 2 --generation-database none \
  --request-timeout 10 --no-color || status=$?
[ "$status" -eq 0 ] || tail -n 20 "$log"
exit "$status"
