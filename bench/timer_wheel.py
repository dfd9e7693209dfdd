"""Timer wheel alone: N pending timers in one partition, fired through the real log.

Writes N timers into a fresh partition's sorted set (as a previous owner would
leave them; they reference no invocation, so applying them is just the dedupe
and the ZREM), starts one in-process worker with ``--cap`` timers of memory,
and reports:

- fire lateness: ``TimerFired`` append time (Kafka record timestamp) − due time;
- apply throughput: timers taken per second over the firing span;
- the wheel's peak in-memory count (≤ cap) while N were pending.

This isolates the wheel from handler execution (``bench/timers.py`` measures
the whole path, handler start − due). Kafka and Redis: ``RT_KAFKA_BOOTSTRAP`` /
``RT_REDIS_URL``, or a local pair started for the run when those are not set.
Usage, from the repository root::

    .venv/bin/python bench/timer_wheel.py --n 100000 --window 20 --cap 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import redis
from benchutil import drop_keys, kafka_and_redis, pct
from confluent_kafka import Consumer, TopicPartition

from runtime.log import records
from runtime.log.topics import TopicNames, ensure_topics
from runtime.node import Node
from runtime.partition.timer import Timer, timer_encoder
from runtime.settings import Settings
from runtime.state.keys import PartitionKeys


def _fired(bootstrap: str, topic: str) -> dict[bytes, int]:
    """First TimerFired append time per member."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex}",
         "enable.auto.commit": False}
    )  # fmt: skip
    consumer.assign([TopicPartition(topic, 0, 0)])
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    out: dict[bytes, int] = {}
    pos = 0
    try:
        while pos < high:
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error():
                    continue
                pos = (msg.offset() or 0) + 1
                rec = records.decode(msg.value() or b"")
                if isinstance(rec, records.TimerFired):
                    out.setdefault(rec.timer_id, msg.timestamp()[1])
    finally:
        consumer.close()
    return out


async def run(
    bootstrap: str, url: str, n: int, window_s: float, lead_s: float, cap: int
) -> dict[str, object]:
    prefix = f"bw{uuid.uuid4().hex[:8]}"
    ensure_topics({"bootstrap.servers": bootstrap}, TopicNames(prefix), 1)
    r = redis.Redis.from_url(url)
    key = PartitionKeys(prefix, 0).timers
    start = int(time.time() * 1000 + lead_s * 1000)
    due = {
        timer_encoder.encode(Timer("sleep", f"bench-{i}", 1)): start + int(window_s * 1000 * i / n)
        for i in range(n)
    }
    items = list(due.items())
    pipe = r.pipeline(transaction=False)
    for i in range(0, n, 10_000):
        pipe.zadd(key, dict(items[i : i + 10_000]))
    pipe.execute()

    settings = Settings(topic_prefix=prefix, partitions=1, timer_memory_cap=cap)
    node = Node(settings, bootstrap, url, services=[])
    await node.start()
    peak = 0
    try:
        assert node.worker is not None
        await node.worker.wait_owned(1, timeout=60)
        wheel = node.worker.processors[0].wheel
        while r.zcard(key) > 0:
            peak = max(peak, wheel.in_memory)
            await asyncio.sleep(0.02)
        taken = wheel.taken_count
        fired_records = wheel.fired_count
    finally:
        await node.stop()
    fired = _fired(bootstrap, TopicNames(prefix).log)
    drop_keys(r, prefix)
    lateness = [fired[m] - d for m, d in due.items()]
    span_s = (max(fired.values()) - min(fired.values())) / 1000
    return {
        "n": n,
        "cap": cap,
        "window_s": window_s,
        "peak_in_memory": peak,
        "taken": taken,
        "timer_fired_records": fired_records,
        "early": sum(1 for x in lateness if x < 0),
        "fire_lateness_ms": {
            "p50": pct(lateness, 50),
            "p90": pct(lateness, 90),
            "p99": pct(lateness, 99),
            "max": max(lateness),
        },
        "fired_per_s": round(n / span_s, 1) if span_s else None,
        "scheduled_per_s": round(n / window_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--window", type=float, default=20.0, help="seconds the due times span")
    ap.add_argument("--lead", type=float, default=10.0, help="seconds until the first is due")
    ap.add_argument("--cap", type=int, default=10_000, help="timers in memory at most")
    args = ap.parse_args()
    with kafka_and_redis() as (bootstrap, url):
        result = asyncio.run(run(bootstrap, url, args.n, args.window, args.lead, args.cap))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
