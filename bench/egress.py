"""Egress cost: request rate/latency with 0, 1 and 10 emitted records, and emit-to-visible lag.

Starts its own ``rt dev bench/egress_app.py`` against ``RT_KAFKA_BOOTSTRAP`` /
``RT_REDIS_URL`` (a local Kafka and Redis started for the run when those are not
set), runs each scenario for ``DURATION`` seconds at concurrency ``C`` over HTTP,
and reads the output topic with a read_committed consumer: lag = time a record
becomes visible - time its request was sent. From the repository root::

    .venv/bin/python -m bench.egress            # DURATION=15 C=16 PARTITIONS=4
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from bench.benchutil import kafka_and_redis
from tests.conftest import Infra
from tests.e2e.conftest import RtNode
from tests.e2e.egress_util import committed_reader, create_topic

DURATION = float(os.environ.get("DURATION", "15"))
C = int(os.environ.get("C", "16"))
PARTITIONS = int(os.environ.get("PARTITIONS", "4"))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


class Lag(threading.Thread):
    def __init__(self, infra: Infra, topic: str) -> None:
        super().__init__(daemon=True)
        self.since = time.time()
        self.consumer = committed_reader(infra, topic)
        self.lags: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            # consume() waits its whole timeout unless the batch fills: poll, then drain.
            first = self.consumer.poll(0.05)
            if first is None:
                continue
            for m in [first, *self.consumer.consume(1000, 0)]:
                if m.error() is None:
                    t = json.loads(m.value() or b"{}")["t"]
                    if t >= self.since:  # earlier scenarios' records are in the topic too
                        self.lags.append(time.time() - t)
        self.consumer.close()


async def load(url: str, handler: str, n: int) -> tuple[int, list[float]]:
    lat: list[float] = []
    end = time.monotonic() + DURATION
    async with httpx.AsyncClient(timeout=60) as client:

        async def worker() -> None:
            while time.monotonic() < end:
                t0 = time.time()
                r = await client.post(f"{url}/EgressBench/{handler}", json={"t": t0, "n": n})
                r.raise_for_status()
                lat.append(time.time() - t0)

        await asyncio.gather(*(worker() for _ in range(C)))
    return len(lat), lat


def main() -> None:
    with kafka_and_redis() as (bootstrap, redis_url):
        run(Infra(bootstrap, redis_url, {}))


def run(infra: Infra) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.out"
    create_topic(infra, topic, partitions=PARTITIONS)
    work = Path(tempfile.mkdtemp(prefix="rt-egress-bench-"))
    app = Path(__file__).parent / "egress_app.py"
    node = RtNode(infra, prefix, app, work, partitions=PARTITIONS, EGRESS_TOPIC=topic).start()
    try:
        asyncio.run(load(node.url, "noop", 0))  # warm-up
        for name, handler, n in [("no egress", "noop", 0), ("1 record", "emit_n", 1),
                                 ("10 records", "emit_n", 10)]:  # fmt: skip
            lag = Lag(infra, topic)
            lag.start()
            count, lat = asyncio.run(load(node.url, handler, n))
            time.sleep(3)
            lag.stop.set()
            lag.join()
            row = {
                "scenario": name,
                "c": C,
                "req_s": round(count / DURATION, 1),
                "p50_ms": round(statistics.median(lat) * 1000, 2),
                "p99_ms": round(pct(lat, 0.99) * 1000, 2),
                "records": len(lag.lags),
                "records_s": round(len(lag.lags) / DURATION, 1),
                "visible_p50_ms": round(pct(lag.lags, 0.5) * 1000, 2) if lag.lags else None,
                "visible_p99_ms": round(pct(lag.lags, 0.99) * 1000, 2) if lag.lags else None,
            }
            assert not n or len(lag.lags) == count * n, (len(lag.lags), count * n)
            print(json.dumps(row), flush=True)
    finally:
        node.stop()


if __name__ == "__main__":
    main()
