"""Appending to rt.log: every append resolves to its offset; reports reach the loop in batches."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from runtime.log import records
from runtime.log.producer import LogProducer, LogWriteError, RecordTooLargeError
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


def _max_message_bytes(infra: Infra, topic: str) -> int:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._config import ConfigResource
    from confluent_kafka.admin._resource import ResourceType

    res = ConfigResource(ResourceType.TOPIC, topic)
    admin = AdminClient(infra.kafka_config())
    configs = admin.describe_configs([res])[res].result(timeout=10)
    return int(configs["max.message.bytes"].value)


async def test_records_of_several_mib_are_appended_and_read_back(infra: Infra, prefix: str) -> None:
    """A payload far over Kafka's 1 MB default goes through the log and back (the
    consumer's default fetch sizes return a record larger than them)."""
    names = TopicNames(prefix)
    limit = 6 << 20
    ensure_topics(infra.kafka_config(), names, 1, max_record_bytes=limit)
    assert _max_message_bytes(infra, names.log) > limit
    assert _max_message_bytes(infra, names.registry) > limit
    producer = LogProducer(infra.kafka_config(), names, 1, max_record_bytes=limit)
    big = records.Complete("inv_big", 1, value=b"v" * (5 << 20))
    try:
        assert await asyncio.wait_for(producer.append(0, b"k", big), 60) == 0
    finally:
        producer.close()
    c = Consumer(infra.kafka_config(**{"group.id": f"{prefix}-check", "enable.auto.commit": False}))
    try:
        c.assign([TopicPartition(names.log, 0, 0)])
        m = c.poll(30)
        assert m is not None and m.error() is None
        assert records.decode(m.value() or b"") == big
    finally:
        c.close()


async def test_a_record_over_the_limit_fails_its_append_at_once(infra: Infra, prefix: str) -> None:
    """Before the limit was checked here, librdkafka refused the record inside a loop
    callback and the append's future (and whoever awaited it) waited forever."""
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, 1, max_record_bytes=1 << 20)
    producer = LogProducer(infra.kafka_config(), names, 1, max_record_bytes=1 << 20)
    try:
        fut = producer.append(0, b"", records.Complete("inv_x", 1, value=b"v" * (2 << 20)))
        with pytest.raises(RecordTooLargeError, match="over the limit of 1048576 bytes"):
            await asyncio.wait_for(fut, 5)
        # The producer goes on: the next append is durable.
        ok = producer.append(0, b"", records.Cancel("inv_y"))
        assert await asyncio.wait_for(ok, 30) == 0
    finally:
        producer.close()


async def test_a_record_refused_by_librdkafka_fails_its_append(infra: Infra, prefix: str) -> None:
    """librdkafka's own size check (a config whose message.max.bytes is below ours) fails
    the append instead of leaving it unresolved."""
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, 1)
    config = infra.kafka_config()
    producer = LogProducer(config, names, 1, max_record_bytes=4 << 20)
    # A client that refuses in produce(): what librdkafka does above its own limit.
    producer._producer = Producer({**config, "message.max.bytes": 1 << 20})
    try:
        fut = producer.append(0, b"", records.Complete("inv_z", 1, value=b"v" * (2 << 20)))
        with pytest.raises(LogWriteError, match="failed"):
            await asyncio.wait_for(fut, 10)
    finally:
        producer.close()


def test_existing_topics_are_raised_to_the_record_limit(infra: Infra, prefix: str) -> None:
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, 1, max_record_bytes=1 << 20)
    small = _max_message_bytes(infra, names.log)
    ensure_topics(infra.kafka_config(), names, 1, max_record_bytes=8 << 20)
    assert _max_message_bytes(infra, names.log) > 8 << 20 > small
    assert _max_message_bytes(infra, names.registry) > 8 << 20
    ensure_topics(infra.kafka_config(), names, 1, max_record_bytes=1 << 20)
    assert _max_message_bytes(infra, names.log) > 8 << 20  # never lowered
