#!/usr/bin/env bash
# Installs what `just k8s-check` uses to validate deploy/k8s, when missing:
# kubectl (Debian's kubernetes-client; any kubectl with `kustomize` will
# do), Node.js, and under .tools/ (git-ignored) kubernetes-validate from
# PyPI and @kubernetes-models/keda from npm, both pinned. Idempotent.
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=1.37.0
KEDA_MODELS_VERSION=0.4.2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
log() { printf 'k8s-tools: %s\n' "$*"; }

apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  log "installing $* with apt-get"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v kubectl >/dev/null || apt_install kubernetes-client
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv

mkdir -p "$TOOLS"
if ! "$TOOLS/k8s/bin/python" -c "import kubernetes_validate, yaml; \
assert kubernetes_validate.version.__version__ == '$KUBERNETES_VALIDATE_VERSION'" 2>/dev/null; then
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into .tools/k8s"
  rm -rf "$TOOLS/k8s"
  python3 -m venv "$TOOLS/k8s"
  "$TOOLS/k8s/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" PyYAML
fi
if ! grep -qs "\"version\": \"$KEDA_MODELS_VERSION\"" \
    "$TOOLS/keda/node_modules/@kubernetes-models/keda/package.json"; then
  log "installing @kubernetes-models/keda $KEDA_MODELS_VERSION into .tools/keda"
  rm -rf "$TOOLS/keda"
  mkdir -p "$TOOLS/keda"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/keda" \
    "@kubernetes-models/keda@$KEDA_MODELS_VERSION" >/dev/null
fi
