"""Appending to rt.log: every append resolves to its offset; reports reach the loop in batches."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from runtime.log import records
from runtime.log.producer import LogProducer
from runtime.log.topics import TopicNames, ensure_topics
from tests.conftest import Infra

PARTITIONS = 4
N = 2_000


async def test_concurrent_appends_resolve_to_their_offsets_in_few_wakeups(
    infra: Infra, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, PARTITIONS)
    loop = asyncio.get_running_loop()
    wakeups = 0
    real = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal wakeups
        wakeups += 1
        return real(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
    producer = LogProducer(infra.kafka_config(), names, PARTITIONS)
    try:
        futs = [
            (i % PARTITIONS, producer.append(i % PARTITIONS, b"", records.Cancel(f"inv_{i}")))
            for i in range(N)
        ]
        offsets = [(p, await asyncio.wait_for(f, 60)) for p, f in futs]
    finally:
        producer.close()
    by_partition: dict[int, list[int]] = defaultdict(list)
    for p, offset in offsets:
        by_partition[p].append(offset)
    for p, got in by_partition.items():
        assert got == list(range(N // PARTITIONS)), f"partition {p}"
    assert wakeups < N / 4, f"{wakeups} loop wake-ups for {N} appends"

    # What each future named is what the log holds there.
    c = Consumer(infra.kafka_config(**{"group.id": f"{prefix}-check", "enable.auto.commit": False}))
    try:
        c.assign([TopicPartition(names.log, 0, 0)])
        seen: list[records.Record] = []
        while len(seen) < N // PARTITIONS:
            m = c.poll(5)
            assert m is not None and m.error() is None
            seen.append(records.decode(m.value() or b""))
    finally:
        c.close()
    assert seen == [records.Cancel(f"inv_{i}") for i in range(0, N, PARTITIONS)]


async def test_close_right_after_append_still_produces_it(infra: Infra, prefix: str) -> None:
    """Appends wait for the end of their loop turn; a close from another thread before
    that turn ends (node shutdown: ``to_thread(producer.close)``) produces them first."""
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, PARTITIONS)
    producer = LogProducer(infra.kafka_config(), names, PARTITIONS)
    futs = [producer.append(1, b"", records.Cancel(f"inv_{i}")) for i in range(3)]
    closing = asyncio.get_running_loop().run_in_executor(None, producer.close)
    assert [await asyncio.wait_for(f, 30) for f in futs] == [0, 1, 2]
    await closing
