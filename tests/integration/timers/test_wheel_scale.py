"""100,000 pending timers on one worker: bounded memory, each fired once, none early.

The timers are written to the partition's sorted set before the worker takes
the partition (as a previous owner would have left them); the real processor
then loads its horizon, fires through the real ``rt.log`` and applies the
``TimerFired`` records to the real Redis.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from runtime.log import records
from runtime.log.topics import TopicNames, ensure_topics
from runtime.node import Node
from runtime.partition.timer import Timer, timer_encoder
from runtime.settings import Settings
from runtime.state.keys import PartitionKeys
from tests.conftest import Infra

N = 100_000
CAP = 2_000


def _fired_records(infra: Infra, topic: str) -> list[tuple[bytes, int]]:
    """Every TimerFired on the log: (member, append time in ms)."""
    consumer = Consumer(
        infra.kafka_config(**{"group.id": f"g-{uuid.uuid4().hex}", "enable.auto.commit": False})
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    out: list[tuple[bytes, int]] = []
    pos = 0
    try:
        while pos < high:
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error():
                    continue
                pos = msg.offset() + 1
                rec = records.decode(msg.value())
                if isinstance(rec, records.TimerFired):
                    out.append((rec.timer_id, msg.timestamp()[1]))
    finally:
        consumer.close()
    return out


@pytest.mark.timeout(300)
async def test_100k_pending_timers_fire_once_with_bounded_memory(
    infra: Infra, prefix: str, redis_client: redis.Redis
) -> None:
    settings = Settings(topic_prefix=prefix, partitions=1, timer_memory_cap=CAP)
    ensure_topics(infra.kafka_config(), TopicNames(prefix), 1)
    key = PartitionKeys(prefix, 0).timers
    start = int(time.time() * 1000) + 8_000
    due = {
        timer_encoder.encode(Timer("sleep", f"nobody-{i}", 1)): start + i // 10 for i in range(N)
    }
    pipe = redis_client.pipeline(transaction=False)
    items = list(due.items())
    for i in range(0, N, 10_000):
        pipe.zadd(key, dict(items[i : i + 10_000]))
    pipe.execute()
    assert redis_client.zcard(key) == N

    node = Node(settings, infra.kafka_bootstrap, infra.redis_url, services=[])
    await node.start()
    try:
        assert node.worker is not None
        await node.worker.wait_owned(1, timeout=60)
        wheel = node.worker.processors[0].wheel
        peak = 0
        deadline = time.monotonic() + 240
        while redis_client.zcard(key) > 0:
            peak = max(peak, wheel.in_memory)
            assert wheel.in_memory <= CAP
            assert time.monotonic() < deadline, f"{redis_client.zcard(key)} timers left"
            await asyncio.sleep(0.05)
        assert wheel.core.high_water <= CAP
        assert peak > 0
        assert wheel.taken_count == N  # each of the N timers applied exactly once
        fired_by = wheel.fired_count
    finally:
        await node.stop()

    fired = _fired_records(infra, TopicNames(prefix).log)
    assert {m for m, _ in fired} == set(due)
    early = [(m, ts) for m, ts in fired if ts < due[m]]
    assert not early, f"{len(early)} timers fired before their due time"
    assert len(fired) == fired_by  # no other writer; duplicates (if any) were deduped on apply
