#!/usr/bin/env python3
"""Summarise loadgen.py JSON lines: median per label (and min..max spread across runs).

usage: python summarize.py results.jsonl [more.jsonl ...]  -> markdown table on stdout
"""

import json
import statistics
import sys
from collections import OrderedDict

rows = OrderedDict()
calib = []
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if "calibration_ms" in r:
                calib.append(r["calibration_ms"])
                continue
            rows.setdefault(r.get("label") or r["path"], []).append(r)

cols = ["rps", "p50_ms", "p90_ms", "p99_ms", "max_ms"]
extra = ["server_cpu_pct", "sdk_cpu_pct", "loadgen_cpu_pct", "server_rss_mib"]


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(x):
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


print(
    "| scenario | runs | req/s median (min–max) | p50 ms | p90 ms | p99 ms | max ms | errors "
    "| server CPU% | SDK CPU% | loadgen CPU% | server CPU ms/req | SDK CPU ms/req "
    "| server RSS MiB |"
)
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for label, rs in rows.items():
    c = rs[0]
    rps = [r["rps"] for r in rs]
    cells = [
        f"{label} (n={c['requests']}, c={c['concurrency']}, keys={c['keys']})",
        str(len(rs)),
        f"{fmt(med(rps))} ({fmt(min(rps))}–{fmt(max(rps))})",
    ]
    for k in cols[1:]:
        cells.append(fmt(med([r.get(k) for r in rs])))
    cells.append(str(sum(r["errors"] for r in rs)))
    for k in extra[:3]:
        cells.append(fmt(med([r.get(k) for r in rs])))
    for k in ("server_cpu_pct", "sdk_cpu_pct"):  # CPU milliseconds per completed request
        cells.append(
            fmt(
                med(
                    [
                        r[k] * 10.0 / r["rps"] if r.get(k) is not None and r["rps"] else None
                        for r in rs
                    ]
                )
            )
        )
    cells.append(fmt(med([r.get("server_rss_mib") for r in rs])))
    print("| " + " | ".join(cells) + " |")
if calib:
    print()
    print(
        "calibration (calibrate.py, lower = faster machine): "
        f"median {statistics.median(calib):.0f} ms, min {min(calib):.0f}, "
        f"max {max(calib):.0f}, n={len(calib)}"
    )
steal = [
    r.get("sys_steal_pct") for rs in rows.values() for r in rs if r.get("sys_steal_pct") is not None
]
if steal:
    print(
        f"hypervisor steal during runs: median {statistics.median(steal):.1f}% "
        f"(max {max(steal):.1f}%) of all CPUs"
    )
