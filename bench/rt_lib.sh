# Sourced by run_rt.sh and profile_rt.sh: start/stop one fresh `rt dev bench/services.py`.
# env: RT_INGRESS_PORT (18080), RT_ADMIN_PORT (19070), PARTITIONS (8), RT_STATE_DIR (default: a
#      temporary directory, removed by rt_stop unless KEEP_STATE=1), VENV (repo .venv),
#      RT_ENDPOINT (1: the services are not loaded into rt; restate-sdk serves bench/services.py
#      under hypercorn on RT_ENDPOINT_PORT (19080) from the anchor's venv, exactly as for
#      Restate (bench/restate.sh install), and rt calls it over the service protocol after
#      `POST /deployments`), RESTATE_ANCHOR_DIR (~/.cache/rt-anchor)
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
VENV=${VENV:-$REPO/.venv}
RT_INGRESS_PORT=${RT_INGRESS_PORT:-18080}
RT_ADMIN_PORT=${RT_ADMIN_PORT:-19070}
PARTITIONS=${PARTITIONS:-8}
RT_PID=
RT_LOG=
KAFKA_PID=
REDIS_PID=
RT_CPU_ARGS=
RT_ENDPOINT=${RT_ENDPOINT:-0}
RT_ENDPOINT_PORT=${RT_ENDPOINT_PORT:-19080}
SDK_PID=
RT_STATE_OWNED=0   # 1 when rt_start made RT_STATE_DIR (and rt_stop may delete it)

# RT_SRC: run rt from a copy of runtime/ + sdk/ (see rt_snapshot) instead of the working tree,
# so every round of a comparison runs the same code while the tree is being edited.
RT_SRC=${RT_SRC:-}

# Copy runtime/, sdk/, connectors/ to a temp dir; prints the dir. Records the commit + diff.
rt_snapshot() {
  local d
  d=$(mktemp -d -t rt-src.XXXXXX)
  (cd "$REPO" && cp -r runtime sdk connectors "$d/" \
    && git rev-parse HEAD > "$d/COMMIT" 2>/dev/null; git diff HEAD -- runtime sdk connectors > "$d/DIFF" 2>/dev/null)
  echo "$d"
}

# One JSON line describing the rt code being measured.
rt_version_json() {
  local src=${RT_SRC:-$REPO} commit dirty tree
  if [ -f "$src/COMMIT" ]; then
    commit=$(cat "$src/COMMIT"); [ -s "$src/DIFF" ] && dirty=true || dirty=false
  else
    commit=$(cd "$REPO" && git rev-parse HEAD 2>/dev/null)
    [ -n "$(cd "$REPO" && git status --porcelain -- runtime sdk connectors 2>/dev/null)" ] && dirty=true || dirty=false
  fi
  tree=$(cd "$src" && find runtime sdk -name '*.py' -o -name '*.lua' | sort | xargs cat | sha1sum | cut -c1-12)
  echo "{\"event\": \"rt_version\", \"commit\": \"$commit\", \"dirty\": $dirty, \"src_sha\": \"$tree\", \"src\": \"$src\"}"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# One retry: `rt dev` start-up fails ~1 time in 64 (a random Kafka cluster id starting with '-'
# is taken for an option by kafka-storage format; see docs/benchmarks.md).
rt_start() {
  _rt_start_once && return 0
  echo "rt dev start-up failed; retrying once with a new state dir" >&2
  [ "$RT_STATE_OWNED" = 1 ] && rm -rf "$RT_STATE_DIR"
  RT_STATE_DIR=
  _rt_start_once
}

_rt_start_once() {
  for p in "$RT_INGRESS_PORT" "$RT_ADMIN_PORT"; do
    if port_busy "$p"; then echo "port $p is in use: set RT_INGRESS_PORT / RT_ADMIN_PORT" >&2; return 1; fi
  done
  if [ -z "${RT_STATE_DIR:-}" ]; then RT_STATE_DIR=$(mktemp -d -t rt-bench.XXXXXX); RT_STATE_OWNED=1; fi
  RT_LOG=$RT_STATE_DIR.log
  # rt dev: local Kafka 4.3.1 (KRaft, RF=1) + Redis (AOF appendfsync everysec) under the state dir
  # run from / so neither the cwd nor the repo shadows RT_SRC on sys.path
  # RT_LAUNCHER: a Python file run instead of `rt` (e.g. bench/rt_variant.py for A/B knobs)
  local launcher=("$VENV/bin/rt")
  [ -n "${RT_LAUNCHER:-}" ] && launcher=("$VENV/bin/python" "$(cd "$(dirname "$RT_LAUNCHER")" && pwd)/$(basename "$RT_LAUNCHER")")
  local app=("$BENCH_DIR/services.py")
  if [ "$RT_ENDPOINT" = 1 ]; then
    app=()
    _sdk_start || return 1
  fi
  (cd / && exec env ${RT_SRC:+PYTHONPATH=$RT_SRC} "${launcher[@]}" dev "${app[@]}" --state-dir "$RT_STATE_DIR" --fresh \
      --partitions "$PARTITIONS" --ingress-port "$RT_INGRESS_PORT" --admin-port "$RT_ADMIN_PORT" \
      > "$RT_LOG" 2>&1) &
  RT_PID=$!
  BASE=http://127.0.0.1:$RT_INGRESS_PORT
  for _ in $(seq 1 240); do
    if ! kill -0 "$RT_PID" 2>/dev/null; then
      echo "rt dev exited during start-up; log tail:" >&2; tail -30 "$RT_LOG" >&2; return 1
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/restate/health")" = 200 ]; then
      if [ "$RT_ENDPOINT" = 1 ]; then
        curl -sf -m 60 -X POST "http://127.0.0.1:$RT_ADMIN_PORT/deployments" \
          -H 'content-type: application/json' -d "{\"uri\": \"http://127.0.0.1:$RT_ENDPOINT_PORT\"}" \
          >/dev/null || { echo "registering the SDK endpoint with rt failed" >&2; rt_stop; return 1; }
      fi
      # first invocation also waits for every partition to have a leader
      curl -s -m 60 -X POST "$BASE/Greeter/greet" -H 'content-type: application/json' -d '"warm"' >/dev/null
      KAFKA_PID=$(pgrep -P "$RT_PID" java | head -1)
      REDIS_PID=$(pgrep -P "$RT_PID" redis-server | head -1)
      # CPU of the whole tree (comparable to Restate server + SDK) and of its parts
      RT_CPU_ARGS="--cpu-pid server=$RT_PID${KAFKA_PID:+ --cpu-pid kafka=$KAFKA_PID}${REDIS_PID:+ --cpu-pid redis=$REDIS_PID}${SDK_PID:+ --cpu-pid sdk=$SDK_PID}"
      echo "rt dev pid $RT_PID ready at $BASE (partitions=$PARTITIONS, state $RT_STATE_DIR, log $RT_LOG)" >&2
      return 0
    fi
    sleep 0.5
  done
  echo "rt dev not healthy after 120 s; log tail:" >&2; tail -30 "$RT_LOG" >&2
  rt_stop; return 1
}

# restate-sdk serving bench/services.py under hypercorn, as bench/restate.sh serves it.
_sdk_start() {
  local anchor=${RESTATE_ANCHOR_DIR:-$HOME/.cache/rt-anchor}
  [ -x "$anchor/venv/bin/hypercorn" ] || "$BENCH_DIR/restate.sh" install || return 1
  if port_busy "$RT_ENDPOINT_PORT"; then echo "port $RT_ENDPOINT_PORT is in use: set RT_ENDPOINT_PORT" >&2; return 1; fi
  cat > "$RT_STATE_DIR.hypercorn.toml" <<EOF
bind = "127.0.0.1:$RT_ENDPOINT_PORT"
workers = 1
h2_max_concurrent_streams = 2147483647
keep_alive_max_requests = 2147483647
keep_alive_timeout = 2147483647
EOF
  (cd "$BENCH_DIR" && exec "$anchor/venv/bin/hypercorn" --config "$RT_STATE_DIR.hypercorn.toml" services:app \
    > "$RT_STATE_DIR.sdk.log" 2>&1) &
  SDK_PID=$!
  for _ in $(seq 1 60); do port_busy "$RT_ENDPOINT_PORT" && return 0; sleep 0.25; done
  echo "the SDK endpoint did not start; see $RT_STATE_DIR.sdk.log" >&2
  return 1
}

_sdk_stop() {
  [ -n "$SDK_PID" ] || return 0
  kill "$SDK_PID" 2>/dev/null
  for _ in $(seq 1 40); do kill -0 "$SDK_PID" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$SDK_PID" 2>/dev/null
  wait "$SDK_PID" 2>/dev/null
  SDK_PID=
  rm -f "$RT_STATE_DIR.hypercorn.toml" "$RT_STATE_DIR.sdk.log"
}

rt_stop() {
  _sdk_stop
  [ -n "$RT_PID" ] || return 0
  kill -INT "$RT_PID" 2>/dev/null
  for _ in $(seq 1 60); do kill -0 "$RT_PID" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$RT_PID" 2>/dev/null; then echo "rt dev $RT_PID still alive, SIGKILL" >&2; kill -9 "$RT_PID"; fi
  wait "$RT_PID" 2>/dev/null
  RT_PID=
  if [ "${KEEP_STATE:-0}" != 1 ] && [ "$RT_STATE_OWNED" = 1 ] && [ -n "${RT_STATE_DIR:-}" ]; then
    rm -rf "$RT_STATE_DIR" "$RT_STATE_DIR.log"
  fi
}

# Scans the rt log for errors/tracebacks (prints a short tail when found).
rt_log_problems() {
  [ -n "$RT_LOG" ] && [ -f "$RT_LOG" ] || return 0
  if grep -qE "Traceback|ERROR|CRITICAL|crashed|fenced" "$RT_LOG"; then
    echo "--- rt log has errors ($RT_LOG):" >&2
    grep -nE "Traceback|ERROR|CRITICAL|crashed|fenced|WARNING" "$RT_LOG" | head -20 >&2
  fi
}

# Un-measured mixed load for WARMUP_S seconds (default 20): the same for rt and Restate. For rt it
# lets Kafka's JVM JIT-compile its hot paths (a fresh broker burns ~0.5 core in C2 for the first
# ~30 s, which otherwise lands on the first scenarios).
warm_up() {
  local base=$1 secs=${WARMUP_S:-20} py=${PY:-$VENV/bin/python}
  [ "$secs" -gt 0 ] 2>/dev/null || return 0
  local end=$(( $(date +%s) + secs ))
  while [ "$(date +%s)" -lt "$end" ]; do
    "$py" "$BENCH_DIR/loadgen.py" --base "$base" --path /Greeter/greet --body '"warm"' -n 400 -c 16 >/dev/null
    "$py" "$BENCH_DIR/loadgen.py" --base "$base" --path '/Counter/{key}/add' --body 1 -n 300 -c 16 \
      --keys 50 --key-prefix "warm-" >/dev/null
  done
}
