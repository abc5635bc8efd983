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

# fmt check, clippy -D warnings, then every test against real services.
test: services
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    MARQUEE_ENV=test cargo test --workspace --all-features

# Measures job throughput, the email pipeline, cached catalog reads and a booking rush; see docs/BENCHMARKS.md.
bench: services
    cargo build --release -p marquee-worker -p marquee-api --bins
    cargo bench -p marquee-worker --bench noop_throughput
    cargo bench -p marquee-api --bench email_pipeline
    cargo bench -p marquee-api --bench catalog_reads
    cargo bench -p marquee-api --bench booking_rush

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
