# Marquee — `just run` to try it, `just test` before you push.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Lists the recipes.
default:
    @just --list

# Ensures PostgreSQL and Redis run on loopback (installs them when missing).
services:
    scripts/services.sh

# Builds, migrates and runs api + worker + scheduler; Ctrl-C stops all three.
run: services
    cargo build --workspace --bins
    scripts/run.sh

# The database `just prepare` checks queries against (migrations/ only).
sqlx_db := "postgres://postgres@127.0.0.1:5432/marquee_queries"

# fmt, the Kubernetes manifests, clippy -D warnings and every test (offline
# query data, Redis Cluster tests included), then stale `.sqlx/`,
# licences/bans/sources and the OpenAPI contract under schemathesis.
test: services tools k8s-tools browser
    cargo fmt --all -- --check
    just k8s-check
    SQLX_OFFLINE=true cargo clippy --workspace --all-targets --all-features -- -D warnings
    SQLX_OFFLINE=true MARQUEE_ENV=test cargo test --workspace --all-features
    just prepare-check
    cargo deny --log-level error check licenses bans sources
    scripts/contract.sh

# Fault tests that take over a minute each (the rest run in `just test`):
# real api/worker/scheduler processes over a private PostgreSQL and Redis.
test-faults: services
    SQLX_OFFLINE=true cargo test --workspace --all-features --no-run
    SQLX_OFFLINE=true MARQUEE_ENV=test cargo test -p marquee-api --all-features --test faults -- --ignored --nocapture

# Installs Debian's Chromium and ChromeDriver for the browser tests when missing.
browser:
    scripts/browser.sh

# Installs sqlx-cli and cargo-deny (pinned) when missing.
tools:
    scripts/tools.sh

# Installs kubectl, Node.js, kubernetes-validate and KEDA's schema (pinned) when missing.
k8s-tools:
    scripts/k8s-tools.sh

# Renders deploy/k8s's overlays and validates every object (Kubernetes and KEDA schemas, Marquee's rules).
k8s-check: k8s-tools
    .tools/k8s/bin/python scripts/k8s_check.py

# Regenerates `.sqlx/` (checked-query data for offline builds) after a query or migration changes.
prepare: services tools _queries-db
    DATABASE_URL={{sqlx_db}} cargo sqlx prepare --workspace -- --all-targets --all-features

# Fails when `.sqlx/` does not match the queries and migrations (run `just prepare`).
prepare-check: services tools _queries-db
    DATABASE_URL={{sqlx_db}} cargo sqlx prepare --check --workspace -- --all-targets --all-features

# A fresh database with exactly the migrations, for the query macros.
_queries-db:
    DATABASE_URL={{sqlx_db}} sqlx database reset -y --source migrations >/dev/null

# Security advisories from the RustSec database (needs the network).
audit: tools
    cargo deny check advisories

# Measures job throughput (lean and full task metadata), its scaling over 1, 2 and 4 workers and a Redis Cluster, the email pipeline, cached catalog reads, a booking rush (burst and steady), tickets and check-ins, waitlist promotion, the operator API over a big ledger, organizer analytics over 100,000 bookings and live fan-out to 2,000 streams; see docs/BENCHMARKS.md.
bench: services
    cargo build --release -p marquee-worker -p marquee-api --bins
    cargo bench -p marquee-worker --bench noop_throughput
    MARQUEE__REDIS__TASK_METADATA=full cargo bench -p marquee-worker --bench noop_throughput
    cargo bench -p marquee-worker --bench scaling
    cargo bench -p marquee-api --bench email_pipeline
    cargo bench -p marquee-api --bench catalog_reads
    cargo bench -p marquee-api --bench booking_rush
    cargo bench -p marquee-api --bench booking_steady
    cargo bench -p marquee-api --bench checkins
    cargo bench -p marquee-api --bench waitlist
    cargo bench -p marquee-api --bench ops_at_scale
    cargo bench -p marquee-api --bench stats_at_scale
    # 2,000 streams need more than the common 1,024 open files.
    bash -c 'ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec cargo bench -p marquee-api --bench live_fanout'

# Starts `just run` and checks what a new user would: ready, /docs, /openapi.json.
smoke: services
    cargo build --workspace --bins
    scripts/smoke.sh

# Loads demo accounts, venues and events (`just run` does it too).
seed: services
    cargo run -q -p marquee-api -- seed

# Creates the database and applies migrations.
migrate: services
    cargo run -q -p marquee-api -- migrate
