#!/usr/bin/env python3
"""Machine-speed probe: times a fixed single-threaded pure-Python workload (JSON round trips,
dict/str work). The machine is shared, so its speed drifts; bench/suite.sh logs this before each
pass so that runs taken at different times (e.g. real Restate vs. the project) can be compared or
normalised. Lower is faster. Prints one JSON line."""

import json
import statistics
import sys
import time


def work():
    acc = 0
    d = {"name": "anchor", "n": 0, "items": list(range(20)), "nested": {"a": 1.5, "b": "x" * 16}}
    for i in range(20000):
        d["n"] = i
        s = json.dumps(d)
        acc += len(json.loads(s)["items"]) + len(s)
        acc += sum(hash(f"k{i}-{j}") & 1 for j in range(5))
    return acc


def main():
    label = sys.argv[1] if len(sys.argv) > 1 else "calibration"
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        work()
        times.append((time.perf_counter() - t0) * 1000)
    print(
        json.dumps(
            {
                "label": label,
                "calibration_ms": round(statistics.median(times), 1),
                "calibration_min_ms": round(min(times), 1),
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
    )


if __name__ == "__main__":
    main()
