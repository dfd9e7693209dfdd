#!/usr/bin/env bash
# The scenario suite against any server that speaks Restate's ingress URLs and serves
# bench/services.py (rt, or Restate via bench/restate.sh).
# Each pass runs every selected scenario once; after the Counter scenarios the stored counts are
# checked to be exact (counter_totals.py).
#
# env: BASE (default http://127.0.0.1:8080), RUNS (passes, default 1), OUT (jsonl, appended;
#      default bench/results/suite.jsonl),
#      PY (python with aiohttp; default: the repo .venv), CPU_ARGS ("--cpu-pid server=PID ..."),
#      ONLY (space-separated scenario names), SCALE (multiplier on request counts, may be
#      fractional, e.g. 0.5), TAGS ("system=rt round=1": copied into every output line),
#      CHECK (1: run counter_totals.py after counter scenarios; default 1)
# scenarios: greet_c1 greet_c32 greet_c128 counter_hot_c32 counter_1000k_c64 steps_c32
#            sleep100_c64 sleep100_c1
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=${BASE:-http://127.0.0.1:8080}
RUNS=${RUNS:-1}
OUT=${OUT:-$HERE/results/suite.jsonl}
mkdir -p "$(dirname "$OUT")"
PY=${PY:-$HERE/../.venv/bin/python}
CPU_ARGS=${CPU_ARGS:-}
ONLY=${ONLY:-}
SCALE=${SCALE:-1}
CHECK=${CHECK:-1}
TAG=${TAG:-$(date +%s)}
"$PY" -c 'import aiohttp' 2>/dev/null \
  || { echo "the load generator needs aiohttp: $PY -m pip install aiohttp" >&2; exit 1; }
TAG_ARGS=()
for t in ${TAGS:-}; do TAG_ARGS+=(--tag "$t"); done
n() { awk -v a="$1" -v s="$SCALE" 'BEGIN { v = int(a * s + 0.5); print (v < 1 ? 1 : v) }'; }
L() { "$PY" "$HERE/loadgen.py" --base "$BASE" $CPU_ARGS "${TAG_ARGS[@]}" "$@" | tee -a "$OUT"; }
C() { "$PY" "$HERE/counter_totals.py" --base "$BASE" "${TAG_ARGS[@]}" "$@" | tee -a "$OUT"; }
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

for pass in $(seq 1 "$RUNS"); do
  "$PY" "$HERE/calibrate.py" calibration | tee -a "$OUT"
  want greet_c1   && L --label greet_c1   --path /Greeter/greet --body '"anchor"' -n "$(n 1000)" -c 1   --warmup 50
  want greet_c32  && L --label greet_c32  --path /Greeter/greet --body '"anchor"' -n "$(n 4000)" -c 32  --warmup 200
  want greet_c128 && L --label greet_c128 --path /Greeter/greet --body '"anchor"' -n "$(n 4000)" -c 128 --warmup 200
  # single hot key: every add is serialised behind the previous one (fresh key per pass)
  if want counter_hot_c32; then
    L --label counter_hot_c32 --path '/Counter/{key}/add' --body 1 -n "$(n 2000)" -c 32 \
      --keys 1 --key-prefix "hot-$TAG-$pass-" --warmup 0
    [ "$CHECK" = 1 ] && C --label counter_hot_c32 --prefix "hot-$TAG-$pass-" --keys 1 -n "$(n 2000)" --warmup 0
  fi
  if want counter_1000k_c64; then
    L --label counter_1000k_c64 --path '/Counter/{key}/add' --body 1 -n "$(n 4000)" -c 64 \
      --keys 1000 --key-prefix "k-$TAG-" --warmup 200
    [ "$CHECK" = 1 ] && C --label counter_1000k_c64 --prefix "k-$TAG-" --keys 1000 -n "$(n 4000)" \
      --warmup 200 --passes "$pass"
  fi
  want steps_c32    && L --label steps_c32 --path '/Steps/{key}/run' --body 1 -n "$(n 2000)" -c 32 \
                         --keys 0 --key-prefix "wf-$TAG-$pass-" --warmup 100
  want sleep100_c64 && L --label sleep100_c64 --path /Sleeper/sleep --body 100 -n "$(n 2000)" -c 64 --warmup 100
  want sleep100_c1  && L --label sleep100_c1 --path /Sleeper/sleep --body 100 -n "$(n 100)" -c 1 --warmup 5
done
