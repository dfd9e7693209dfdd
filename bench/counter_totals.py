#!/usr/bin/env python3
"""Exactness check after the Counter scenarios of suite.sh: every key's count is what was sent.

The suite's counter scenarios send round-robin adds of 1: measured request i goes to key
i % K, warm-up request w (w = 0..W-1) to key (-1 - w) % K (loadgen.py uses negative indices
for warm-up). After `passes` passes over the same key prefix, key j must hold
passes * (#measured i with i % K == j + #warm-up w with (-1 - w) % K == j).

A count above the expectation means an add was applied twice; below, an add was lost (or a
request failed - the loadgen line's `errors` tells which). Prints one JSON line; exit 0 iff exact.

usage: python counter_totals.py --base URL --prefix hot-123-1- --keys 1 -n 2000 --warmup 0
"""

import argparse
import asyncio
import json
import sys

import aiohttp


def expected(keys: int, n: int, warmup: int, passes: int) -> list[int]:
    exp = [0] * keys
    for i in range(n):
        exp[i % keys] += 1
    for w in range(warmup):
        exp[(-1 - w) % keys] += 1
    return [passes * e for e in exp]


async def main(a) -> int:
    exp = expected(a.keys, a.n, a.warmup, a.passes)
    got: list[int | None] = [None] * a.keys
    errors: list[str] = []
    sem = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:

        async def one(j: int) -> None:
            async with sem:
                try:
                    async with s.get(f"{a.base}/Counter/{a.prefix}{j}/get") as r:
                        body = await r.text()
                        if r.status != 200:
                            errors.append(f"{a.prefix}{j}: {r.status} {body[:100]}")
                            return
                        got[j] = int(json.loads(body))
                except Exception as e:  # noqa: BLE001
                    errors.append(f"{a.prefix}{j}: {type(e).__name__}: {e}"[:200])

        await asyncio.gather(*(one(j) for j in range(a.keys)))
    wrong = [(j, got[j], exp[j]) for j in range(a.keys) if got[j] != exp[j]]
    out = {
        "check": "counter_totals",
        "label": a.label,
        "prefix": a.prefix,
        "keys": a.keys,
        "expected_total": sum(exp),
        "got_total": sum(g for g in got if g is not None),
        "wrong_keys": len(wrong),
        "wrong_samples": [
            {"key": f"{a.prefix}{j}", "got": g, "expected": e} for j, g, e in wrong[:5]
        ],
        "read_errors": errors[:3],
        "pass": not wrong and not errors,
    }
    for t in a.tag:
        k, _, v = t.partition("=")
        out[k] = v
    print(json.dumps(out), flush=True)
    return 0 if out["pass"] else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--base", default="http://127.0.0.1:8080")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--keys", type=int, required=True)
    ap.add_argument("-n", type=int, required=True, help="measured requests per pass")
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--label", default="")
    ap.add_argument("--tag", action="append", default=[])
    sys.exit(asyncio.run(main(ap.parse_args())))
