#!/usr/bin/env bash
# Latency breakdown of rt's call path (bench/trace_rt.py) under one load shape.
#   bench/trace_latency.sh                                   # greet c=1, 1000 requests
#   LPATH='/Counter/{key}/add' BODY=1 KEYS=1000 C=64 N=4000 bench/trace_latency.sh
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
VENV=${VENV:-$REPO/.venv}
PORT=${RT_INGRESS_PORT:-18080}; APORT=${RT_ADMIN_PORT:-19070}
C=${C:-1}; N=${N:-1000}; LPATH=${LPATH:-/Greeter/greet}; BODY=${BODY:-'"anchor"'}; KEYS=${KEYS:-1}
OUTDIR=${OUTDIR:-$HERE/results/trace-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd)
STATE=$(mktemp -d /tmp/rt-bench.XXXXXX)
# RT_SRC: run a snapshot of runtime/ + sdk/ (rt_lib.sh rt_snapshot); from / so the cwd does not shadow it
(cd / && exec env ${RT_SRC:+PYTHONPATH=$RT_SRC} RT_TRACE_OUT=$OUTDIR/trace-c$C.json "$VENV/bin/python" \
  "$HERE/trace_rt.py" dev "$HERE/services.py" --state-dir "$STATE" --fresh --partitions "${PARTITIONS:-8}" \
  --ingress-port "$PORT" --admin-port "$APORT" > "$OUTDIR/rt.log" 2>&1) &
PID=$!
for _ in $(seq 1 240); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/restate/health")" = 200 ] && break
  kill -0 $PID 2>/dev/null || { tail -20 "$OUTDIR/rt.log"; exit 1; }
  sleep 0.5
done
curl -s -m 60 -X POST "http://127.0.0.1:$PORT/Greeter/greet" -H 'content-type: application/json' -d '"warm"' >/dev/null
"$VENV/bin/python" "$HERE/loadgen.py" --base "http://127.0.0.1:$PORT" --path "$LPATH" --body "$BODY" \
  -n "$N" -c "$C" --keys "$KEYS" --warmup "${WARMUP:-500}" --label "trace c=$C $LPATH" | tee "$OUTDIR/load-c$C.json" | cut -c1-330
kill -INT $PID; wait $PID
cat "$OUTDIR/trace-c$C.json"
rm -rf "$STATE"
