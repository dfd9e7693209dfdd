"""The partition's writes outside the fenced apply, done by a stale owner: nothing is lost.

``runtime/partition/housekeeping.py`` lists the writes that do not check the epoch and
argues why each is safe even when an owner that a new owner has already fenced does
it. These tests play that situation against real Redis and Kafka: the old owner
claimed the partition, applied its batch, then a new owner claimed it (so the old
one's next apply is refused) — and the old owner runs its housekeeping anyway.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from runtime.egress.sender import EgressSender
from runtime.log import records
from runtime.log.producer import LogProducer, partition_of_invocation
from runtime.log.topics import TopicNames, ensure_topics
from runtime.partition import journal as J
from runtime.partition.egress_outbox import EgressItem, EgressOutbox
from runtime.partition.housekeeping import (
    EGRESS_USED,
    egress_used,
    forget_sent,
    mark_egress_used,
)
from runtime.partition.machine import PartitionMachine
from runtime.partition.outbox import OutboxSender, outbox_entry
from runtime.partition.services import ServiceCatalog
from runtime.partition.state_cache import ObjectStates
from runtime.partition.status import InvocationStatus, Status
from runtime.registry import Registry
from runtime.state.keys import META_APPLIED, META_EPOCH
from runtime.state.reads import StateReads
from runtime.state.store import FencedError, HSet, PartitionStore, RPush
from runtime.subscriptions.dlq import H_INVOCATION, DlqOutbox
from runtime.subscriptions.mapping import invokes_of
from sdk.ids import invocation_id_for
from tests.conftest import Infra
from tests.e2e.egress_util import create_topic

PARTITIONS = 2


@pytest.fixture
async def store(infra: Infra, prefix: str) -> Any:
    s = await PartitionStore.connect(infra.redis_url, prefix=prefix)
    try:
        yield s
    finally:
        await s.aclose()


@pytest.fixture
def producer(infra: Infra, prefix: str) -> Iterator[LogProducer]:
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, PARTITIONS)
    p = LogProducer(infra.kafka_config(), names, PARTITIONS)
    try:
        yield p
    finally:
        p.close()


def _id_on(partition: int, tag: str) -> str:
    """An invocation id of ``partition``."""
    for i in range(1000):
        inv = invocation_id_for(service="S", key=f"{tag}-{i}")
        if partition_of_invocation(inv, PARTITIONS) == partition:
            return inv
    raise AssertionError("no id found")


async def _fenced_owners(store: PartitionStore, partition: int) -> tuple[int, int]:
    """The old owner's epoch and the new owner's, after the new one's claim."""
    old = await store.claim(partition)
    new = await store.claim(partition)
    with pytest.raises(FencedError):  # the old owner's applies are refused from now on
        await store.apply(partition, old, 1_000, [])
    return old, new


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _read(infra: Infra, topic: str, partition: int, count: int) -> list[Message]:
    """The first ``count`` records of a topic partition, then a second's wait for more."""
    c = Consumer(infra.kafka_config(**{"group.id": f"g-{uuid.uuid4().hex}"}))
    c.assign([TopicPartition(topic, partition, 0)])
    out: list[Message] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            m = c.poll(1.0 if len(out) >= count else 0.2)
            if m is None:
                if len(out) >= count:
                    break
                continue
            if m.error() is None:
                out.append(m)
    finally:
        c.close()
    return out


class _Timers:
    """The machine's timer index (no timers in these batches)."""

    def add(self, due_ms: int, member: bytes) -> None: ...

    def take(self, member: bytes) -> bool:
        return False

    def discard(self, member: bytes) -> None: ...


async def _no_state(_: list[tuple[str, str]]) -> list[dict[bytes, bytes]]:
    raise AssertionError("no state read here")


async def test_a_stale_owners_outbox_cleanup_at_worst_makes_a_new_owner_send_again(
    infra: Infra, prefix: str, store: PartitionStore, producer: LogProducer
) -> None:
    keys = store.keys(0)
    caller = _id_on(1, "caller")  # waits on partition 1 for two call results
    results = [records.Complete(caller, 1, b'"one"'), records.Complete(caller, 2, b'"two"')]
    items = [outbox_entry(keys, 1, caller.encode(), r, seq=n) for n, r in enumerate(results)]
    old = await store.claim(0)
    await store.apply(0, old, 7, [op for _, op in items])  # both results applied, not sent
    await store.claim(0)  # a new owner takes over: the old one is stale
    with pytest.raises(FencedError):
        await store.apply(0, old, 8, [])

    async def pending() -> set[str]:
        return {f.decode() for f in await store.hgetall(keys.outbox)}

    (one, _), (two, _) = items
    # The stale owner sends the first result and deletes its item: the delete is not
    # fenced, but it comes only after the broker's ack, so the record is in the log.
    await producer.append(1, caller.encode(), results[0])
    await forget_sent(store.redis, keys.outbox, one)
    assert await pending() == {two}
    # The new owner takes over the outbox now and sends what is left (the second); the
    # stale owner, which had not got to it yet, sends it too and deletes it.
    new_sender = OutboxSender(
        keys, producer, store, store.redis, leading=lambda: True, stopped=lambda: False
    )
    await new_sender.flush()
    await producer.append(1, caller.encode(), results[1])
    await forget_sent(store.redis, keys.outbox, two)

    async def empty() -> bool:
        return not await pending()

    await _until(empty, "the outbox empties")
    log = await asyncio.to_thread(_read, infra, producer.topics.log, 1, 3)
    got = [records.decode(m.value() or b"") for m in log]
    # Nothing lost; the second result twice, byte for byte the same record.
    assert got == [results[0], results[1], results[1]]

    # The target applies the duplicate as nothing: the first completion wins.
    machine = PartitionMachine(
        store.keys(1),
        PARTITIONS,
        ServiceCatalog(Registry()),
        _Timers(),
        ObjectStates(_no_state),
        invokes_of,
    )
    machine.epoch = 1
    invoke = records.Invoke(caller, records.Target("S", "h"), b"")
    start = [(0, records.AnnounceLeader(1, "w")), (1, invoke)]
    machine.apply(start, {}, 1_000)
    batch = machine.apply([(2 + n, rec) for n, rec in enumerate(got)], {}, 1_001)
    journaled = [op for op in batch.ops if isinstance(op, RPush)]
    assert [blob for op in journaled for blob in op.values] == [
        J.notification_entry(1, b'"one"', None),
        J.notification_entry(2, b'"two"', None),
    ]


async def test_a_stale_owners_dead_letter_cleanup_at_worst_sends_it_again(
    infra: Infra, prefix: str, store: PartitionStore
) -> None:
    dlq_topic = f"{prefix}.dlq"
    create_topic(infra, dlq_topic, partitions=1)
    keys = store.keys(0)
    failed = [_id_on(0, "failed-a"), _id_on(0, "failed-b")]
    stored = []
    ops: list[Any] = []
    for inv in failed:
        st = InvocationStatus(inv, records.Target("S", "h"), Status.COMPLETED, 0, 0, dlq=dlq_topic)
        field_, blob = DlqOutbox.pending(st, records.Failure(500, "boom"))
        stored.append((field_, blob))
        ops += [
            RPush(keys.journal(inv), [J.input_entry({}, inv.encode())]),
            HSet(keys.dlq, field_, blob),
        ]
    old = await store.claim(0)
    await store.apply(0, old, 3, ops)
    await store.claim(0)
    reads = StateReads(store.redis, prefix, PARTITIONS)
    dlq = DlqOutbox(infra.kafka_config(), reads, store.redis)
    try:
        # The stale owner sends the first dead letter: deleted only once acknowledged.
        dlq.send(keys, *stored[0])

        async def first_gone() -> bool:
            return stored[0][0] not in await reads.pending_dead_letters(0)

        await _until(first_gone, "the stale owner's dead letter is sent")
        # The new owner takes over and re-sends what is left (the second); the stale
        # owner, which had not got to it yet, sends it too.
        await dlq.flush(keys)
        dlq.send(keys, *stored[1])
        second = await asyncio.to_thread(_read, infra, dlq_topic, 0, 3)
    finally:
        await asyncio.to_thread(dlq.close)
    sent = [dict(m.headers() or [])[H_INVOCATION].decode() for m in second]
    # Nothing lost; the second twice (at least once: readers dedupe on the header).
    assert sent == [failed[0], failed[1], failed[1]]
    assert [m.value() for m in second] == [
        failed[0].encode(),
        failed[1].encode(),
        failed[1].encode(),
    ]
    assert await reads.pending_dead_letters(0) == {}


async def test_a_stale_owners_egress_mark_only_adds_a_fence_at_take_over(
    infra: Infra, prefix: str, store: PartitionStore, producer: LogProducer
) -> None:
    keys = store.keys(0)
    old, new = await _fenced_owners(store, 0)
    await store.apply(0, new, 5, [HSet(keys.meta, "leader", str(new).encode())])
    before = await store.hgetall(keys.meta)
    assert not egress_used(before)
    await mark_egress_used(store.redis, keys)  # the stale owner's first egress use
    meta = await store.hgetall(keys.meta)
    assert egress_used(meta) and meta[EGRESS_USED.encode()] == b"1"
    # The fencing fields are untouched: the new owner applies on, the old one cannot.
    for name in (META_EPOCH, META_APPLIED, "leader"):
        assert meta[name.encode()] == before[name.encode()]
    await store.apply(0, new, 6, [HSet(keys.meta, "leader", str(new).encode())])
    with pytest.raises(FencedError):
        await store.apply(0, old, 7, [])
    # What the mark makes the next owner do at take-over: start its egress producer at
    # once. With no open transaction to abort that costs one init_transactions, and the
    # producer then works as usual.
    out = f"{prefix}.out"
    create_topic(infra, out, partitions=1)

    async def mark_used() -> None:
        return None

    def no_append(_: records.Record) -> asyncio.Future[int]:
        raise AssertionError("not used here")

    async def owns() -> bool:
        return True

    sender = EgressSender(
        0,
        infra.kafka_config(),
        prefix,
        producer.topics.log,
        EgressOutbox(),
        no_append,
        mark_used,
        owns,
    )
    try:
        await sender.init()
        await asyncio.to_thread(
            sender._transaction, [("0" * 20 + ".0", EgressItem(out, b"k", b"v"))]
        )
    finally:
        await sender.stop()
    assert [m.value() for m in _read(infra, out, 0, 1)] == [b"v"]
