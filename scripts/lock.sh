#!/usr/bin/env bash
# Refresh requirements.lock from pyproject.toml: every package rt, its tests and its
# dev tools install, pinned with hashes (scripts/setup.sh installs exactly these).
#   scripts/lock.sh             add what pyproject.toml gained, keep the other pins
#   scripts/lock.sh --upgrade   move every pin to the newest version pyproject.toml allows
# tests/unit/test_lockfile.py fails when pyproject.toml changed and this was not run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q "pip-tools==7.7.0"
# pip-compile keeps the pins of an existing output file unless --upgrade is given.
[ -f requirements.lock ] && cp requirements.lock "$tmp/requirements.lock"
(cd "$tmp" && "$tmp/venv/bin/pip-compile" -q "$@" \
  --generate-hashes --allow-unsafe --strip-extras --all-build-deps \
  --no-emit-index-url --no-emit-find-links --extra dev \
  --output-file requirements.lock "$OLDPWD/pyproject.toml")
# rt itself (the dev extra names rt-runtime[test]) is installed from the work tree,
# never from the lock; the fingerprint ties the lock to pyproject.toml's requirements.
"$PY" scripts/lockfile.py finish "$tmp/requirements.lock" requirements.lock
echo "lock: requirements.lock written ($(grep -c '==' requirements.lock) pins)"
