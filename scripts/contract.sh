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
# Wherever cargo puts it (CARGO_TARGET_DIR, or a `build.target-dir` config).
target=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
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
  rm -rf "$log" "${work:-}"
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

# Real rows for path parameters, so generated requests reach the handlers'
# logic instead of 404: a published event with a venue, a hold, a booking,
# a task, an API key, a newsletter, and another user for the admin routes.
work=$(mktemp -d)
config=$work/schemathesis.toml
python3 - "$url" "$token" "$config" <<'PY' || fail "fixtures"
import datetime, json, sys, urllib.request
url, token, config = sys.argv[1:]
def call(method, path, body=None, headers=None, auth=True):
    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("content-type", "application/json")
    if auth:
        request.add_header("authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request) as response:
        return json.load(response)
venue = call("POST", "/api/v1/venues", {"name": "Hall", "sections": [{"name": "Floor", "rows": [{"label": "A", "seats": 8}]}]})
starts = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)).isoformat()
event = call("POST", "/api/v1/events", {"title": "Contract", "currency": "EUR", "max_per_order": 10, "starts_at": starts,
    "venue_id": venue["id"], "section_prices": [{"section_id": venue["sections"][0]["id"], "price_cents": 2500}],
    "ticket_types": [{"name": "GA", "price_cents": 1000, "capacity": 100}]})
call("POST", f"/api/v1/events/{event['id']}/publish")
ticket = call("GET", f"/api/v1/events/{event['id']}")["ticket_types"][0]["id"]
hold = lambda: call("POST", f"/api/v1/events/{event['id']}/holds", {"ticket_type_id": ticket, "quantity": 1})["id"]
paid = hold()
booking = call("POST", "/api/v1/bookings", {"hold_id": paid, "payment": {"method": "card", "token": "tok_ok"}}, {"idempotency-key": "contract"})
task = call("POST", "/api/v1/tasks", {"type": "message", "payload": {"to": "guest@example.com", "subject": "Hi", "text": "Hello"}})
call("POST", "/api/v1/subscription-contents", {"content_type": "news", "subject": "This week", "text": "Hello"})
key = call("POST", "/api/v1/api-keys", {"name": "app", "scopes": ["otp"]})
other = call("POST", "/api/v1/auth/register", {"email": "other@example.com", "password": "correct horse", "name": "Other"}, auth=False)
rows = [("events/\\{id\\}", "path.id", event["id"]), ("venues/\\{id\\}", "path.id", venue["id"]),
        ("holds/", "path.id", hold()), ("bookings/\\{id\\}", "path.id", booking["id"]),
        ("tasks/", "path.id", task["id"]), ("api-keys/", "path.id", key["id"]),
        ("subscription-contents/", "path.content_type", "news"), ("admin/users/", "path.id", other["user"]["id"])]
with open(config, "w") as out:
    for path, name, value in rows:
        out.write(f"""[[operations]]\ninclude-path-regex = '^/api/v1/{path}'\nparameters = {{ "{name}" = "{value}" }}\n\n""")
PY

status=0
# From a scratch folder: schemathesis keeps a cache in the working directory.
(cd "$work" && python3 -m schemathesis.cli --config-file "$config" run "$url/openapi.json" --url "$url" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" --max-time "$max_time" \
  --seed 20240611 --workers 2 --generation-database none \
  --request-timeout 10 --no-color) || status=$?
[ "$status" -eq 0 ] || tail -n 20 "$log"
exit "$status"
