"""Timer benchmark: N delayed sends due over a short window; firing lateness and throughput.

Starts ``rt dev bench/timer_services.py`` against the Kafka/Redis in
``RT_KAFKA_BOOTSTRAP`` / ``RT_REDIS_URL``, or a local pair started for the run
when those are not set (a fresh topic prefix per run), sends
N ``POST /BenchTimer/hit/send?delay=<ms>`` so that their due times spread
evenly over ``--window`` seconds starting ``--lead`` seconds from now (the lead
covers the time to submit them all, so every timer is pending before the first
is due), then waits for every handler to start.

Lateness = handler start (wall clock, written by the handler) − due time (the
``executionTime`` the ingress answered). Throughput = timers fired per second
over the firing span. Usage, from the repository root::

    .venv/bin/python bench/timers.py --n 10000 --window 10 --lead 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import redis
from benchutil import drop_keys, free_port, kafka_and_redis, pct, rt_dev

BENCH = Path(__file__).resolve().parent


async def _submit(url: str, n: int, lead_s: float, window_s: float, conc: int) -> dict[str, int]:
    start = time.time() * 1000 + lead_s * 1000
    due: dict[str, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            target = start + window_s * 1000 * i / n
            delay = max(1, int(target - time.time() * 1000))
            r = await client.post(
                f"{url}/BenchTimer/hit/send?delay={delay}ms",
                content=json.dumps(f"t{i}"),
                headers={"content-type": "application/json"},
            )
            r.raise_for_status()
            when = datetime.fromisoformat(r.json()["executionTime"].replace("Z", "+00:00"))
            due[f"t{i}"] = int(when.timestamp() * 1000)

    limits = httpx.Limits(max_connections=conc)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(conc)))
    return due


async def _fan_out(url: str, n: int, lead_s: float, window_s: float, chunks: int) -> None:
    """Schedule via ``chunks`` handlers that each issue n/chunks delayed sends (SDK send_delay)."""
    start = int(time.time() * 1000 + lead_s * 1000)
    per = n // chunks
    step = window_s * 1000 / n
    async with httpx.AsyncClient(timeout=300) as client:

        async def one(c: int) -> None:
            # Interleave the chunks so the due times of all chunks cover the window evenly.
            body = {"count": per, "first": start + int(c * step), "step": int(step * chunks) or 1,
                    "tag": f"c{c}-"}  # fmt: skip
            r = await client.post(f"{url}/BenchTimer/fan_out", json=body)
            r.raise_for_status()

        await asyncio.gather(*(one(c) for c in range(chunks)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--window", type=float, default=10.0, help="seconds the due times span")
    ap.add_argument("--lead", type=float, default=40.0, help="seconds until the first is due")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--timer-cap", type=int, default=10_000, help="RT_TIMER_MEMORY_CAP")
    ap.add_argument(
        "--via",
        choices=["fanout", "ingress"],
        default="fanout",
        help="schedule from handlers (ctx.service_send send_delay) or by ingress ?delay=",
    )
    ap.add_argument("--chunks", type=int, default=20, help="fan-out handlers (--via fanout)")
    args = ap.parse_args()
    with kafka_and_redis() as (bootstrap, redis_url):
        run(args, bootstrap, redis_url)


def run(args: argparse.Namespace, bootstrap: str, redis_url: str) -> None:
    prefix = f"bt{uuid.uuid4().hex[:8]}"
    key = f"{prefix}:bench:started"
    ingress, admin = free_port(), free_port()
    state = Path(tempfile.mkdtemp(prefix="rt-bench-timers-"))
    env = {
        **os.environ,
        "RT_KAFKA_BOOTSTRAP": bootstrap,
        "RT_REDIS_URL": redis_url,
        "RT_TOPIC_PREFIX": prefix,
        "RT_PARTITIONS": str(args.partitions),
        "RT_BENCH_REDIS": redis_url,
        "RT_BENCH_KEY": key,
        "RT_TIMER_MEMORY_CAP": str(args.timer_cap),
    }
    r = redis.Redis.from_url(redis_url)
    url = f"http://127.0.0.1:{ingress}"
    try:
        with rt_dev(BENCH / "timer_services.py", state, env, ingress, admin):
            t0 = time.monotonic()
            due: dict[str, int] = {}
            if args.via == "ingress":
                due = asyncio.run(_submit(url, args.n, args.lead, args.window, args.concurrency))
            else:
                args.n = args.n // args.chunks * args.chunks
                asyncio.run(_fan_out(url, args.n, args.lead, args.window, args.chunks))
            submit_s = time.monotonic() - t0
            if due and time.time() * 1000 > min(due.values()):
                print(f"warning: submitting took {submit_s:.1f}s, past the first due time; "
                      "raise --lead", file=sys.stderr)  # fmt: skip
            deadline = time.monotonic() + args.lead + args.window + 300
            while r.hlen(key) < args.n:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {r.hlen(key)} of {args.n} fired")
                time.sleep(0.2)
            started = {k.decode(): int(v) for k, v in r.hgetall(key).items()}
            if not due:  # fan-out tags carry their due time
                due = {t: int(t.split("|")[1]) for t in started}
    finally:
        r.delete(key)
        drop_keys(r, prefix)

    lateness = [started[t] - due[t] for t in due]
    span_s = (max(started.values()) - min(started.values())) / 1000
    result = {
        "n": args.n,
        "partitions": args.partitions,
        "timer_cap": args.timer_cap,
        "window_s": args.window,
        "via": args.via,
        "submit_s": round(submit_s, 1),
        "early": sum(1 for x in lateness if x < 0),
        "lateness_ms": {
            "p50": pct(lateness, 50),
            "p90": pct(lateness, 90),
            "p99": pct(lateness, 99),
            "max": max(lateness),
        },
        "fired_per_s": round(args.n / span_s, 1) if span_s > 0 else None,
        "scheduled_per_s": round(args.n / args.window, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
