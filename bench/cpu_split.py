#!/usr/bin/env python3
"""CPU split of rt runs: rt's Python process vs its Kafka broker vs Redis (from loadgen lines run
with --cpu-pid server=<rt dev> --cpu-pid kafka=<java> --cpu-pid redis=<redis-server>, as run_rt.sh
does). `server` covers the whole tree, so Python = server - kafka - redis.

usage: python cpu_split.py rt.jsonl   -> markdown table of medians per scenario
"""

import json
import statistics
import sys
from collections import defaultdict

rows = defaultdict(list)
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            d = json.loads(line)
            if "rps" not in d or d.get("kafka_cpu_pct") is None or not d["rps"]:
                continue
            s, k, r = d["server_cpu_pct"], d["kafka_cpu_pct"], d.get("redis_cpu_pct") or 0.0
            rows[d["label"]].append((d["rps"], s - k - r, k, r, d.get("sys_idle_pct")))

med = statistics.median
print(
    "| scenario | runs | req/s | rt Python CPU % | Kafka CPU % | Redis CPU % "
    "| Python ms/req | Kafka ms/req | Redis ms/req | host idle % |"
)
print("|---|---|---|---|---|---|---|---|---|---|")
for label, v in rows.items():
    rps = med(x[0] for x in v)
    cells = [label, str(len(v)), f"{rps:.0f}"]
    cells += [f"{med(x[i] for x in v):.0f}" for i in (1, 2, 3)]
    cells += [f"{med(x[i] * 10 / x[0] for x in v):.2f}" for i in (1, 2, 3)]
    cells.append(f"{med(x[4] for x in v if x[4] is not None):.0f}")
    print("| " + " | ".join(cells) + " |")
