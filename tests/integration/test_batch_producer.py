"""The batch producer of a partition owner (ADR 0020), against a real Kafka.

Its records reach the partition in commit order, visible to read_committed readers
only once committed; a new owner's ``init`` fences the previous owner's producer, so
the deposed owner's next batch is refused and never becomes visible.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from runtime.log import records
from runtime.log.batch_producer import BatchFenced, BatchProducer
from runtime.log.topics import TopicNames, ensure_topics
from tests.conftest import Infra

PARTITIONS = 2


def _batch(epoch: int, inv: str) -> records.BatchCommit:
    return records.BatchCommit(epoch, [records.BatchItem(inv, 1, [b"x"], 1)])


def _committed(infra: Infra, topic: str, partition: int) -> list[records.Record]:
    c = Consumer(
        infra.kafka_config(
            **{"group.id": f"check-{time.time()}", "isolation.level": "read_committed",
               "enable.auto.commit": False}
        )
    )  # fmt: skip
    c.assign([TopicPartition(topic, partition, 0)])
    out: list[records.Record] = []
    idle_until = time.monotonic() + 3
    try:
        while time.monotonic() < idle_until:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                out.append(records.decode(m.value() or b""))
                idle_until = time.monotonic() + 1
    finally:
        c.close()
    return out


async def test_batches_commit_in_order_and_a_new_owner_fences_the_old_one(
    infra: Infra, prefix: str
) -> None:
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, PARTITIONS)
    old = BatchProducer(infra.kafka_config(), prefix, names.log, 1)
    new = BatchProducer(infra.kafka_config(), prefix, names.log, 1)
    try:
        await old.init()
        await asyncio.wait_for(
            asyncio.gather(*(old.commit(_batch(1, f"inv_{i}")) for i in range(5))), 60
        )
        await new.init()  # a new owner takes the partition over
        with pytest.raises(BatchFenced):
            await asyncio.wait_for(old.commit(_batch(1, "zombie")), 60)
        assert old.fenced
        await asyncio.wait_for(new.commit(_batch(2, "inv_new")), 60)
    finally:
        await old.close()
        await new.close()
    got = _committed(infra, names.log, 1)
    ids = [r.items[0].invocation_id for r in got if isinstance(r, records.BatchCommit)]
    assert ids == [*(f"inv_{i}" for i in range(5)), "inv_new"]
