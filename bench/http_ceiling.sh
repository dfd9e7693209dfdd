#!/usr/bin/env bash
# HTTP-layer cost: FastAPI catch-all vs bare ASGI on uvicorn (alternating, ROUNDS rounds).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$HERE/../.venv/bin/python
for r in $(seq 1 "${ROUNDS:-3}"); do
  for kind in fastapi asgi; do
    "$PY" "$HERE/http_ceiling.py" $kind 18090 & P=$!
    for _ in $(seq 1 50); do curl -s -o /dev/null localhost:18090/x && break; sleep 0.1; done
    "$PY" "$HERE/loadgen.py" --base http://127.0.0.1:18090 --path /Greeter/greet --body '"anchor"' -n 6000 -c 32 \
      --warmup 500 --cpu-pid server=$P --label "http_$kind" --tag round=$r \
      | "$PY" -c "import json,sys; d=json.loads(sys.stdin.read()); print(d['label'], 'round', d['round'], 'rps', d['rps'], 'p50', d['p50_ms'], 'server CPU us/req', round(d['server_cpu_pct']*10000/d['rps']/1, 0))"
    kill $P; wait $P 2>/dev/null
  done
done
