#!/usr/bin/env python3
"""Closed-loop asyncio HTTP load generator for Restate-style ingress URLs.

Kept from the first rt vs Restate measurements (the "anchor" figures); the measuring logic is
unchanged so rt and Restate figures stay comparable. Additions: --tag NAME=VALUE (copied into
the output line, e.g. system=rt round=2). Needs aiohttp (`pip install aiohttp`).

Works unchanged against any server that exposes the same URL shapes
(real Restate, or a re-implementation): it only does HTTP requests.

Each of `--concurrency` workers sends requests back-to-back until `--requests`
requests have been sent in total. The path template may contain `{key}` (and
`{i}`, the request index); the JSON body may contain `{key}` / `{i}` too.

Keys:
  --keys K (K >= 1)  keys are k0..k{K-1} (with --key-prefix), assigned round-robin
                     (request i -> key i % K) or uniformly at random (--key-dist random)
  --keys 0           a unique key per request: {prefix}{run_id}-{i} (use for workflows,
                     so a re-run never reuses a workflow id)

Output: exactly one JSON line on stdout, e.g.
  {"label": ..., "requests": 2000, "ok": 2000, "errors": 0, "rps": 812.3,
   "p50_ms": 38.1, "p90_ms": ..., "p99_ms": ..., "max_ms": ..., ...}

Optional: --cpu-pid NAME=PID (repeatable) reports CPU used by that process and all
of its descendants during the measured window (percent of one core) and their RSS
at the end, read from /proc (Linux only). The load generator's own CPU is always
reported as loadgen_cpu_pct.

Examples:
  python loadgen.py --base http://127.0.0.1:8080 --path /Greeter/greet \
      --body '"world"' -n 3000 -c 32
  python loadgen.py --base http://127.0.0.1:8080 --path /Counter/{key}/add \
      --body 1 -n 3000 -c 64 --keys 1000
  python loadgen.py --base http://127.0.0.1:8080 --path /Steps/{key}/run \
      --body 1 -n 2000 -c 32 --keys 0 --key-prefix wf-
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import sys
import time
from collections import Counter as _Counter

try:
    import aiohttp
except ImportError:  # pragma: no cover
    print("loadgen.py needs aiohttp: pip install aiohttp", file=sys.stderr)
    raise

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# ----------------------------------------------------------------- /proc helpers
def _proc_tree(root: int) -> list[int]:
    """root pid plus all descendants (scans /proc once)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return [root]
    for e in entries:
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat", "rb") as f:
                data = f.read().decode("latin-1")
            ppid = int(data[data.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(e))
        except (OSError, ValueError, IndexError):
            continue
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def _cpu_rss(pid: int) -> tuple[float, int]:
    """(cpu seconds user+sys, rss bytes) for pid and its descendants."""
    cpu, rss = 0.0, 0
    for p in _proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                data = f.read().decode("latin-1")
            fields = data[data.rindex(")") + 2 :].split()
            # fields[0] is state (field 3); utime=field 14, stime=15, rss=24
            cpu += (int(fields[11]) + int(fields[12])) / CLK_TCK
            rss += int(fields[21]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
    return cpu, rss


def _sys_cpu() -> list[int] | None:
    """aggregate /proc/stat cpu line: user nice system idle iowait irq softirq steal ..."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------- stats
def _pct(sorted_vals: list[float], p: float) -> float | None:
    if not sorted_vals:
        return None
    # nearest-rank percentile
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def _r(x, nd=2):
    return None if x is None else round(x, nd)


# ----------------------------------------------------------------- main loop
async def run(args) -> dict:
    run_id = args.run_id or format(int(time.time() * 1000) % (36**6), "x")
    keys = args.keys
    rng = random.Random(args.seed)
    base = args.base.rstrip("/")
    # content-type only when there is a body: real Restate answers 400 to a content-type
    # header on a handler that takes no input.
    headers = {"accept": "application/json"}
    for h in args.header or []:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    method = args.method.upper()
    _json_ct = {"content-type": args.content_type}

    def key_for(i: int) -> str:
        if keys <= 0:
            return f"{args.key_prefix}{run_id}-{i}"
        if args.key_dist == "random":
            return f"{args.key_prefix}{rng.randrange(keys)}"
        return f"{args.key_prefix}{i % keys}"

    def build(i: int) -> tuple[str, bytes | None, str]:
        key = key_for(i)
        path = args.path.replace("{key}", key).replace("{i}", str(i))
        body = None
        if args.body is not None:
            body = args.body.replace("{key}", key).replace("{i}", str(i)).encode()
        return base + path, body, key

    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = aiohttp.TCPConnector(
        limit=args.concurrency + 4, limit_per_host=0, force_close=False
    )
    lat_ok: list[float] = []
    statuses: _Counter = _Counter()
    exc_kinds: _Counter = _Counter()
    samples: list[str] = []
    bodies_checked = 0
    bad_bodies = 0

    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as sess:

        async def one(i: int, record: bool):
            nonlocal bodies_checked, bad_bodies
            url, body, key = build(i)
            t0 = time.perf_counter()
            try:
                if body is None:
                    ctx = sess.request(method, url, skip_auto_headers=("Content-Type",))
                else:
                    ctx = sess.request(method, url, data=body, headers=_json_ct)
                async with ctx as resp:
                    payload = await resp.read()
                    dt = (time.perf_counter() - t0) * 1000.0
                    if not record:
                        return
                    statuses[resp.status] += 1
                    if 200 <= resp.status < 300:
                        lat_ok.append(dt)
                        if args.expect is not None:
                            bodies_checked += 1
                            exp = args.expect.replace("{key}", key).replace("{i}", str(i))
                            if payload.decode(errors="replace") != exp:
                                bad_bodies += 1
                    elif len(samples) < 3:
                        samples.append(f"{resp.status} {payload[:200].decode(errors='replace')}")
            except Exception as e:  # noqa: BLE001 - count every failure
                if record:
                    exc_kinds[type(e).__name__] += 1
                    if len(samples) < 3:
                        samples.append(f"{type(e).__name__}: {e}"[:200])

        # warm-up (not measured); uses negative indices so unique keys never collide
        if args.warmup > 0:
            wi = iter(range(args.warmup))

            async def wworker():
                for i in wi:
                    await one(-1 - i, False)

            await asyncio.gather(*(wworker() for _ in range(min(args.concurrency, args.warmup))))

        cpu_before = {name: _cpu_rss(pid)[0] for name, pid in args.cpu_pids}
        self_before = _self_cpu()
        sys_before = _sys_cpu()
        counter = iter(range(args.requests))

        async def worker():
            for i in counter:
                await one(i, True)

        t_start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - t_start
        self_after = _self_cpu()
        sys_after = _sys_cpu()
        cpu_after = {name: _cpu_rss(pid) for name, pid in args.cpu_pids}

    lat_ok.sort()
    ok = len(lat_ok)
    errors = args.requests - ok
    out = {
        "label": args.label,
        "base": base,
        "path": args.path,
        "method": method,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "keys": keys if keys > 0 else "unique",
        "ok": ok,
        "errors": errors,
        "elapsed_s": _r(elapsed, 3),
        "rps": _r(ok / elapsed if elapsed > 0 else 0.0, 1),
        "p50_ms": _r(_pct(lat_ok, 50)),
        "p90_ms": _r(_pct(lat_ok, 90)),
        "p99_ms": _r(_pct(lat_ok, 99)),
        "max_ms": _r(lat_ok[-1] if lat_ok else None),
        "min_ms": _r(lat_ok[0] if lat_ok else None),
        "mean_ms": _r(sum(lat_ok) / ok if ok else None),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
    }
    if exc_kinds:
        out["exceptions"] = dict(exc_kinds)
    if samples:
        out["error_samples"] = samples
    if args.expect is not None:
        out["bad_bodies"] = bad_bodies
    out["loadgen_cpu_pct"] = _r(
        (self_after - self_before) / elapsed * 100.0 if elapsed > 0 else None, 1
    )
    for name, _pid in args.cpu_pids:
        cpu1, rss1 = cpu_after[name]
        out[f"{name}_cpu_pct"] = _r(
            (cpu1 - cpu_before[name]) / elapsed * 100.0 if elapsed > 0 else None, 1
        )
        out[f"{name}_rss_mib"] = _r(rss1 / 2**20, 1)
    if sys_before and sys_after:
        d = [b - a for a, b in zip(sys_before, sys_after, strict=True)]
        tot = sum(d) or 1
        # whole machine during the window, percent of all CPUs: idle (+iowait) and hypervisor steal
        out["sys_idle_pct"] = _r((d[3] + d[4]) / tot * 100.0, 1)
        out["sys_steal_pct"] = _r(d[7] / tot * 100.0, 1)
    for name, value in args.tags:
        out[name] = value
    out["ts"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return out


def parse(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--base", default="http://127.0.0.1:8080", help="ingress base URL")
    ap.add_argument("--path", required=True, help="path template, e.g. /Counter/{key}/add")
    ap.add_argument(
        "--body", default=None, help="raw JSON body (may contain {key}/{i}); omit for no body"
    )
    ap.add_argument("--method", default="POST")
    ap.add_argument(
        "--content-type", default="application/json", help="content-type sent with a body"
    )
    ap.add_argument(
        "-H", "--header", action="append", help="extra header 'Name: value' (repeatable)"
    )
    ap.add_argument("-n", "--requests", type=int, default=1000, help="measured requests")
    ap.add_argument(
        "-c", "--concurrency", type=int, default=1, help="in-flight requests (closed loop)"
    )
    ap.add_argument(
        "--keys", type=int, default=1, help="key-space size; 0 = unique key per request"
    )
    ap.add_argument("--key-prefix", default="k")
    ap.add_argument("--key-dist", choices=["roundrobin", "random"], default="roundrobin")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--run-id", default=None, help="token used in unique keys (default: time based)"
    )
    ap.add_argument("--warmup", type=int, default=0, help="un-measured requests sent first")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    ap.add_argument(
        "--expect",
        default=None,
        help="expected exact response body of 2xx replies (counts bad_bodies)",
    )
    ap.add_argument("--label", default="", help="free text copied into the output")
    ap.add_argument(
        "--cpu-pid",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="report CPU%% (incl. descendants) and RSS of this process",
    )
    ap.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra field copied into the output line (repeatable)",
    )
    a = ap.parse_args(argv)
    a.tags = [tuple(t.split("=", 1)) if "=" in t else (t, "") for t in a.tag]
    a.cpu_pids = []
    for spec in a.cpu_pid:
        name, _, pid = spec.partition("=")
        a.cpu_pids.append((name, int(pid)))
    if a.concurrency < 1 or a.requests < 1:
        ap.error("--requests and --concurrency must be >= 1")
    return a


def main(argv=None) -> int:
    args = parse(argv)
    out = asyncio.run(run(args))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
