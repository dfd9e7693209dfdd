#!/usr/bin/env python3
"""Correctness check for a Restate-style Counter virtual object (bench/services.py).

1. N concurrent Counter/<fresh key>/add(1) calls (concurrency C); then Counter/<key>/get must be N,
   and the set of values returned by add must be exactly {1..N} (each add saw a distinct count,
   i.e. exclusive handlers were serialised per key).
2. Idempotency: R concurrent add(1) with the same idempotency-key on another fresh key;
   get must be 1 and all R responses must be equal.
Prints one JSON line; exit code 0 iff all checks pass.

usage: python check_counter.py [--base http://127.0.0.1:8080] [-n 1000] [-c 32]
"""

import argparse
import asyncio
import json
import sys
import time

import aiohttp


async def main(a) -> int:
    tag = format(int(time.time() * 1000), "x")
    key, ikey = f"chk-{tag}", f"chk-idem-{tag}"
    # note: a handler without input (get) rejects a content-type header with 400 on real Restate
    hdr = {"content-type": "application/json"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:
        sem = asyncio.Semaphore(a.c)
        results, statuses = [], []

        async def add(k, extra=None):
            headers = {**hdr, **(extra or {})}
            async with sem, s.post(f"{a.base}/Counter/{k}/add", data=b"1", headers=headers) as r:
                statuses.append(r.status)
                results.append(await r.text())

        t0 = time.perf_counter()
        await asyncio.gather(*(add(key) for _ in range(a.n)))
        dt = time.perf_counter() - t0
        async with s.get(f"{a.base}/Counter/{key}/get") as r:
            got = json.loads(await r.text())
        seen = sorted(int(x) for x in results if x.strip().lstrip("-").isdigit())
        ok1 = got == a.n and seen == list(range(1, a.n + 1)) and all(st == 200 for st in statuses)

        results.clear()
        statuses.clear()
        await asyncio.gather(*(add(ikey, {"idempotency-key": f"idem-{tag}"}) for _ in range(a.r)))
        async with s.get(f"{a.base}/Counter/{ikey}/get") as r:
            got2 = json.loads(await r.text())
        ok2 = got2 == 1 and len(set(results)) == 1 and all(st == 200 for st in statuses)
    out = {
        "check": "counter",
        "base": a.base,
        "n": a.n,
        "c": a.c,
        "get": got,
        "distinct_add_results_ok": seen == list(range(1, a.n + 1)),
        "elapsed_s": round(dt, 3),
        "serial_ok": ok1,
        "idem_repeats": a.r,
        "idem_get": got2,
        "idem_ok": ok2,
        "pass": ok1 and ok2,
    }
    print(json.dumps(out))
    return 0 if out["pass"] else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8080")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-c", type=int, default=32)
    ap.add_argument("-r", type=int, default=20, help="idempotent repeats")
    sys.exit(asyncio.run(main(ap.parse_args())))
