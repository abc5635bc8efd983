#!/usr/bin/env bash
# Installs the cargo tools `just test` and `just prepare` use, at pinned
# versions, when they are missing: sqlx-cli (offline query data, rustls and
# PostgreSQL only) and cargo-deny (licences, bans, sources). Idempotent.
set -euo pipefail

SQLX_CLI_VERSION=0.9.0
CARGO_DENY_VERSION=0.20.2
log() { printf 'tools: %s\n' "$*"; }

has() { # has <binary> <version>
  command -v "$1" >/dev/null && "$1" --version 2>/dev/null | grep -q "$2"
}

if ! has sqlx "$SQLX_CLI_VERSION"; then
  log "installing sqlx-cli $SQLX_CLI_VERSION"
  cargo install sqlx-cli --version "$SQLX_CLI_VERSION" --locked \
    --no-default-features --features rustls,postgres
fi
if ! has cargo-deny "$CARGO_DENY_VERSION"; then
  log "installing cargo-deny $CARGO_DENY_VERSION"
  cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked
fi
