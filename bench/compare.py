#!/usr/bin/env python3
"""Per-round rt/Restate comparison of suite.sh output (lines tagged system=..., round=...).

usage: python compare.py rt.jsonl restate.jsonl [more.jsonl ...]  -> markdown on stdout

For each scenario: medians over rounds of req/s, p50 and p99 for each system, the rt/Restate
throughput ratio of every round (same time window) and its median, and the p50 ratio.
Counter exactness checks (counter_totals.py, check_counter.py) are listed at the end.
"""

import json
import statistics
import sys
from collections import defaultdict

rows: dict = defaultdict(dict)  # (label) -> {(system, round): record}
order: list[str] = []
checks: list[dict] = []
calib: dict = defaultdict(list)
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if r.get("event"):
                continue
            if "calibration_ms" in r:
                continue
            if r.get("check"):
                checks.append({**r, "_file": path})
                continue
            sysname = r.get("system") or path
            rnd = r.get("round", "?")
            label = r.get("label") or r["path"]
            if label not in order:
                order.append(label)
            rows[label][(sysname, rnd)] = r


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def f(x, nd=None):
    if x is None:
        return "-"
    if nd is not None:
        return f"{x:.{nd}f}"
    return f"{x:.0f}" if abs(x) >= 100 else (f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}")


print(
    "| scenario | rt req/s | Restate req/s | rt/Restate req/s per round | median ratio | "
    "rt p50 / p99 ms | Restate p50 / p99 ms | rt p50 ÷ Restate p50 | errors rt / Restate |"
)
print("|---|---|---|---|---|---|---|---|---|")
for label in order:
    d = rows[label]
    rounds = sorted({k[1] for k in d}, key=lambda x: (len(str(x)), str(x)))
    rt = [d[("rt", r)] for r in rounds if ("rt", r) in d]
    rs = [d[("restate", r)] for r in rounds if ("restate", r) in d]
    ratios = [
        d[("rt", r)]["rps"] / d[("restate", r)]["rps"]
        for r in rounds
        if ("rt", r) in d and ("restate", r) in d and d[("restate", r)]["rps"]
    ]
    p50r = [
        d[("rt", r)]["p50_ms"] / d[("restate", r)]["p50_ms"]
        for r in rounds
        if ("rt", r) in d
        and ("restate", r) in d
        and d[("rt", r)].get("p50_ms")
        and d[("restate", r)].get("p50_ms")
    ]
    c = (rt or rs)[0]
    name = f"{label} (n={c['requests']}, c={c['concurrency']})"
    print(
        "| "
        + " | ".join(
            [
                name,
                f(med([x["rps"] for x in rt])),
                f(med([x["rps"] for x in rs])),
                ", ".join(f(x, 2) for x in ratios),
                f(med(ratios), 2) if ratios else "-",
                f"{f(med([x['p50_ms'] for x in rt]))} / {f(med([x['p99_ms'] for x in rt]))}",
                f"{f(med([x['p50_ms'] for x in rs]))} / {f(med([x['p99_ms'] for x in rs]))}",
                f(med(p50r), 2) if p50r else "-",
                f"{sum(x['errors'] for x in rt)} / {sum(x['errors'] for x in rs)}",
            ]
        )
        + " |"
    )

cpu = []
for label in order:
    d = rows[label]
    rt = [v for k, v in d.items() if k[0] == "rt"]
    rs = [v for k, v in d.items() if k[0] == "restate"]

    def ms_per_req(recs, *keys):
        vals = []
        for x in recs:
            tot = sum(x.get(k) or 0 for k in keys)
            if x.get("rps"):
                vals.append(tot * 10.0 / x["rps"])
        return med(vals)

    cpu.append(
        (
            label,
            ms_per_req(rt, "server_cpu_pct"),
            ms_per_req(rs, "server_cpu_pct", "sdk_cpu_pct"),
            med([x.get("sys_idle_pct") for x in rt]),
            med([x.get("sys_idle_pct") for x in rs]),
        )
    )
print()
print(
    "| scenario | rt CPU ms/req (rt dev + Kafka + Redis) | Restate CPU ms/req (server + SDK) | "
    "idle % of host during rt / Restate runs |"
)
print("|---|---|---|---|")
for label, a, b, ia, ib in cpu:
    print(f"| {label} | {f(a)} | {f(b)} | {f(ia)} / {f(ib)} |")

if checks:
    print()
    bad = [c for c in checks if not c.get("pass")]
    print(
        f"Counter checks: {len(checks) - len(bad)} of {len(checks)} passed"
        + ("" if not bad else "; FAILED: " + "; ".join(json.dumps(c) for c in bad))
    )
