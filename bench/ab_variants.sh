#!/usr/bin/env bash
# A/B/C... of rt tuning knobs (bench/rt_variant.py), alternating variants each round.
#   VARIANTS="base linger1 c1jit" ROUNDS=3 ONLY="greet_c1 greet_c32" bench/ab_variants.sh
# variant names: base | linger<ms> | fetchwait<ms> | c1jit (Kafka JVM -XX:TieredStopAtLevel=1)
#   | batchthreads (rt's non-main threads SCHED_BATCH) | batchinfra (also Kafka's and Redis')
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/results/variants-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
export SCALE=${SCALE:-0.5} WARMUP_S=${WARMUP_S:-15} SERIAL_CHECK=${SERIAL_CHECK:-0}
for r in $(seq 1 "${ROUNDS:-3}"); do
  for v in ${VARIANTS:-base linger1}; do
    env=()
    case $v in
      base) ;;
      linger*) env=(RT_LAUNCHER="$HERE/rt_variant.py" RT_BENCH_LINGER_MS="${v#linger}") ;;
      fetchwait*) env=(RT_LAUNCHER="$HERE/rt_variant.py" RT_BENCH_FETCH_WAIT_MS="${v#fetchwait}") ;;
      c1jit) env=(RT_LAUNCHER="$HERE/rt_variant.py" RT_BENCH_KAFKA_JVM_EXTRA="-XX:TieredStopAtLevel=1") ;;
      batchthreads) env=(RT_LAUNCHER="$HERE/rt_variant.py" RT_BENCH_BATCH_THREADS=1) ;;
      batchinfra) env=(RT_LAUNCHER="$HERE/rt_variant.py" RT_BENCH_BATCH_THREADS=infra) ;;
      *) echo "unknown variant $v" >&2; exit 2 ;;
    esac
    echo "round $r variant $v" >&2
    env "${env[@]}" OUT="$OUT" TAGS="variant=$v round=$r" "$HERE/run_rt.sh" > /dev/null 2>&1
  done
done
"$HERE/../.venv/bin/python" - "$OUT" <<'PY'
import json, statistics, sys
from collections import defaultdict
d = defaultdict(list)
for l in open(sys.argv[1]):
    j = json.loads(l)
    if "rps" in j:
        py = j["server_cpu_pct"] - (j.get("kafka_cpu_pct") or 0) - (j.get("redis_cpu_pct") or 0)
        d[(j["label"], j["variant"])].append((j["rps"], j["p50_ms"], j["p99_ms"], py * 10 / j["rps"],
                                             (j.get("kafka_cpu_pct") or 0) * 10 / j["rps"]))
m = statistics.median
print("| scenario | variant | req/s per round | median req/s | p50 ms | p99 ms | Python ms/req | Kafka ms/req |")
print("|---|---|---|---|---|---|---|---|")
for (label, v), xs in sorted(d.items()):
    print(f"| {label} | {v} | {', '.join(f'{x[0]:.0f}' for x in xs)} | {m(x[0] for x in xs):.0f} | "
          f"{m(x[1] for x in xs):.1f} | {m(x[2] for x in xs):.1f} | {m(x[3] for x in xs):.2f} | {m(x[4] for x in xs):.2f} |")
PY
