#!/usr/bin/env bash
# Install everything rt needs on a fresh Debian/Ubuntu machine:
# Java 17+, Maven, redis-server, Chromium for the web UI's browser tests (apt, only if
# missing), a Python venv in .venv with
# rt and its dev tools at the versions of requirements.lock, and the Kafka broker jars
# (Maven Central -> ~/.cache/rt).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
"$PY" - <<'PYCHECK'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"rt needs Python >= 3.11, found {sys.version.split()[0]} (set PYTHON=python3.11)")
PYCHECK

java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  [ "${v%%.*}" -ge 17 ] 2>/dev/null
}

pkgs=()
java_ok || pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || pkgs+=(redis-server)
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
# Playwright drives this system browser; it never downloads one of its own.
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
if [ ${#pkgs[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${pkgs[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# Exactly the versions in requirements.lock (hashes checked), then rt itself from this
# tree; scripts/lock.sh refreshes the lock.
.venv/bin/python -m pip install -q --require-hashes --no-deps -r requirements.lock
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
.venv/bin/python -m pip check
.venv/bin/rt devstack fetch
# The protocol tests' TypeScript endpoint: the real Restate SDK from npm, installed once
# per lock file into the cache (never into the work tree).
js=tests/integration/protocol/js
node_dir="${XDG_CACHE_HOME:-$HOME/.cache}/rt/node/$(sha256sum "$js/package-lock.json" | cut -c1-12)"
if [ ! -f "$node_dir/node_modules/.package-lock.json" ]; then
  mkdir -p "$node_dir"
  cp "$js/package.json" "$js/package-lock.json" "$node_dir/"
  (cd "$node_dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
echo "Restate TypeScript SDK for tests in $node_dir"
echo "setup: done (activate with: source .venv/bin/activate)"
