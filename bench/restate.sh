#!/usr/bin/env bash
# The comparison system: the real Restate 1.7.12 (server from npm) serving bench/services.py
# through restate-sdk 1.2.0 (PyPI) under hypercorn.
#
#   bench/restate.sh install   # once; skipped when the pinned versions are already there
#   bench/restate.sh start     # fresh server on :8080 (ingress) / :9070 (admin), SDK on :9080
#   bench/restate.sh stop
#
# env: RESTATE_ANCHOR_DIR (default ~/.cache/rt-anchor): where the npm packages, the SDK's venv,
#      the server's data, logs and the pid files (server.pid, sdk.pid) go.
# Durability: Restate fsyncs every log write (its default).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
D=${RESTATE_ANCHOR_DIR:-$HOME/.cache/rt-anchor}
SERVER_VERSION=1.7.12
SDK_VERSION=1.2.0

server_bin() {
  local b
  for b in "$D"/node_modules/@restatedev/restate-server-*/bin/restate-server; do
    [ -x "$b" ] && { echo "$b"; return 0; }
  done
  return 1
}

server_version() {
  node -p "require('$D/node_modules/@restatedev/restate-server/package.json').version" 2>/dev/null
}

sdk_version() {
  "$D/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("restate-sdk"))' 2>/dev/null
}

install() {
  mkdir -p "$D"
  if [ "$(server_version)" != "$SERVER_VERSION" ] || ! server_bin >/dev/null; then
    echo "installing restate-server $SERVER_VERSION (npm) into $D" >&2
    npm install --prefix "$D" --no-fund --no-audit --loglevel=error \
      "@restatedev/restate-server@$SERVER_VERSION" >&2
  fi
  if [ "$(sdk_version)" != "$SDK_VERSION" ]; then
    echo "installing restate-sdk $SDK_VERSION and hypercorn (PyPI) into $D/venv" >&2
    [ -x "$D/venv/bin/python" ] || python3 -m venv "$D/venv"
    "$D/venv/bin/pip" install -q "restate-sdk==$SDK_VERSION" hypercorn >&2
  fi
  server_bin >/dev/null || { echo "no restate-server binary for this platform in $D" >&2; exit 1; }
}

http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$@" || true; }

start() {
  install
  stop >/dev/null 2>&1 || true
  rm -rf "$D/data"
  cat > "$D/restate.toml" <<EOF
base-dir = "$D/data"
disable-telemetry = true
bind-address = "127.0.0.1:5122"
advertised-address = "http://127.0.0.1:5122/"

[ingress]
bind-address = "127.0.0.1:8080"

[admin]
bind-address = "127.0.0.1:9070"
EOF
  # restate-sdk's recommended hypercorn settings: with hypercorn's defaults HTTP/2
  # connections are recycled after 1,000 requests or 5 s idle, which breaks the
  # long-lived streams Restate keeps open (retries, multi-second stalls).
  cat > "$D/hypercorn.toml" <<EOF
bind = "127.0.0.1:9080"
workers = 1
h2_max_concurrent_streams = 2147483647
keep_alive_max_requests = 2147483647
keep_alive_timeout = 2147483647
EOF
  # The platform binary itself, not npm's node wrapper, so that the pid is the server's.
  nohup "$(server_bin)" -c "$D/restate.toml" --no-logo --log-disable-ansi-codes true \
    > "$D/server.log" 2>&1 &
  echo $! > "$D/server.pid"
  # bench/services.py imports restate-sdk when rt's sdk is not on the path (it is not here).
  (cd "$BENCH_DIR" && exec nohup "$D/venv/bin/hypercorn" --config "$D/hypercorn.toml" services:app \
    > "$D/sdk.log" 2>&1) &
  echo $! > "$D/sdk.pid"
  local ok=
  for _ in $(seq 1 120); do
    if [ "$(http_code http://127.0.0.1:9070/health)" = 200 ] \
       && (exec 3<>/dev/tcp/127.0.0.1/9080) 2>/dev/null; then ok=1; break; fi
    sleep 0.5
  done
  [ -n "$ok" ] || { echo "Restate did not start; see $D/server.log and $D/sdk.log" >&2; exit 1; }
  curl -sf -X POST http://127.0.0.1:9070/deployments -H 'content-type: application/json' \
    -d '{"uri": "http://127.0.0.1:9080"}' >/dev/null \
    || { echo "registering the SDK endpoint failed; see $D/sdk.log" >&2; exit 1; }
  for _ in $(seq 1 60); do
    [ "$(http_code -X POST http://127.0.0.1:8080/Greeter/greet -H 'content-type: application/json' -d '"warm"')" = 200 ] \
      && { echo "Restate $SERVER_VERSION ready: server pid $(cat "$D/server.pid"), sdk pid $(cat "$D/sdk.pid")" >&2; return 0; }
    sleep 0.5
  done
  echo "Restate does not answer Greeter/greet; see $D/server.log and $D/sdk.log" >&2
  exit 1
}

stop() {
  local name pid
  for name in sdk server; do
    [ -f "$D/$name.pid" ] || continue
    pid=$(cat "$D/$name.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$D/$name.pid"
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: bench/restate.sh install|start|stop   (RESTATE_ANCHOR_DIR=$D)" >&2; exit 2 ;;
esac
