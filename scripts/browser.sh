#!/usr/bin/env bash
# Ensures Debian's Chromium and ChromeDriver are installed for the browser
# tests (`api/tests/pages`): installs `chromium` and `chromium-driver` with
# apt-get when either is missing. Idempotent; `just test` calls it.
set -euo pipefail
log() { printf 'browser: %s\n' "$*"; }

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; exit 1; fi
}
log "installing chromium and chromium-driver with apt-get"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
chromium --version
