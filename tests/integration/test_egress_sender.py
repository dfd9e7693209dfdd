"""The egress sender against real Kafka: one transaction per batch, zombies fenced."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException

from runtime.egress.outbox import EgressItem, EgressOutbox
from runtime.egress.sender import EgressSender, Fenced, _Aborted
from runtime.log import records
from runtime.log.topics import TopicNames, ensure_topics
from tests.conftest import Infra
from tests.e2e.egress_util import create_topic


def _read_committed(infra: Infra, topic: str, settle: float = 3.0) -> list[Any]:
    c = Consumer(
        infra.kafka_config(
            **{
                "group.id": f"g-{uuid.uuid4().hex}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
            }
        )
    )
    c.subscribe([topic])
    out: list[Any] = []
    quiet_until = time.monotonic() + settle + 5
    try:
        while time.monotonic() < quiet_until:
            m = c.poll(0.2)
            if m is None or m.error() is not None:
                continue
            out.append(m)
            quiet_until = time.monotonic() + settle
    finally:
        c.close()
    return out


def _sender(
    infra: Infra, prefix: str, outbox: EgressOutbox, owner: dict[str, bool] | None = None
) -> EgressSender:
    """A sender of partition 0; ``owner["owns"]`` answers its ownership checks. Its
    ``EgressDone`` barriers are applied as soon as they are appended (no processor)."""

    async def mark_used() -> None:
        return None

    def append(rec: records.Record) -> asyncio.Future[int]:
        assert isinstance(rec, records.EgressDone)
        asyncio.get_running_loop().call_soon(sender.applied, rec.token)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(0)
        return done

    async def owns() -> bool:
        return True if owner is None else owner["owns"]

    sender = EgressSender(
        0, infra.kafka_config(), prefix, TopicNames(prefix).log, outbox, append, mark_used, owns
    )
    return sender


async def test_new_owner_fences_the_zombie_and_aborts_its_open_transaction(
    infra: Infra, prefix: str
) -> None:
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, partitions=2)
    out = f"{prefix}.out"
    create_topic(infra, out, partitions=1)
    batch = [(f"{i:020d}.000000", EgressItem(out, b"k", f"v{i}".encode())) for i in range(5)]

    zombie = _sender(infra, prefix, EgressOutbox())
    await zombie.init()
    zombie._transaction(batch[:2])  # committed: records + marker
    p = zombie._producer
    assert p is not None
    p.begin_transaction()  # left open, as a killed owner would
    p.produce(out, value=b"never-visible", key=b"k")
    p.flush(10)

    owner = _sender(infra, prefix, EgressOutbox())
    await owner.init()  # aborts the open transaction and fences the zombie
    with pytest.raises(KafkaException) as info:
        p.commit_transaction(10)
    assert info.value.args[0].fatal()
    with pytest.raises(Fenced):
        zombie._transaction(batch[2:])
    owner._transaction(batch[2:])

    values = [m.value() for m in _read_committed(infra, out)]
    assert values == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    markers = [
        records.decode(m.value())
        for m in _read_committed(infra, names.log)
        if m.partition() == 0 and m.value()
    ]
    assert markers == [
        records.EgressDone([f for f, _ in batch[:2]]),
        records.EgressDone([f for f, _ in batch[2:]]),
    ]
    await zombie.stop()
    await owner.stop()


async def test_a_record_kafka_refuses_is_dropped_after_three_tries_and_the_rest_flows(
    infra: Infra, prefix: str
) -> None:
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, partitions=1)
    out = f"{prefix}.out"
    create_topic(infra, out, partitions=1)
    batch = [
        ("00000000000000000001.000000", EgressItem(out, None, b"ok1")),
        ("00000000000000000001.000001", EgressItem(out, None, b"x" * 2_000_000)),  # too large
        ("00000000000000000001.000002", EgressItem(out, None, b"ok2")),
    ]
    sender = _sender(infra, prefix, EgressOutbox())
    await sender.init()
    for _ in range(3):
        with pytest.raises(_Aborted) as info:
            sender._transaction(batch)
        assert list(info.value.bad) == [batch[1][0]]
        sender._note_failures(info.value.bad)
    sender._transaction(batch)  # the refused record is dropped, the others committed
    assert [m.value() for m in _read_committed(infra, out)] == [b"ok1", b"ok2"]
    markers = [records.decode(m.value()) for m in _read_committed(infra, names.log)]
    assert markers == [records.EgressDone([f for f, _ in batch])]
    await sender.stop()


async def _until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_stale_owner_never_re_inits_and_a_fenced_owner_takes_the_id_back(
    infra: Infra, prefix: str
) -> None:
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, partitions=1)
    out = f"{prefix}.out"
    create_topic(infra, out, partitions=1)
    items = [(f"{i:020d}.000000", EgressItem(out, b"k", f"v{i}".encode())) for i in range(4)]

    # The old owner lost the partition (a take-over moved Redis's epoch) but does not
    # know yet; its producer then fails. It must not make a new one: that init would
    # fence the new owner's producer.
    stale_flag = {"owns": True}
    stale = _sender(infra, prefix, EgressOutbox(), stale_flag)
    await stale.init()
    owner_outbox = EgressOutbox()
    owner = _sender(infra, prefix, owner_outbox)
    await owner.init()  # the take-over: fences the stale producer
    stale_flag["owns"] = False
    owner.start()
    owner_outbox.add(*items[0])
    owner.wake()
    await _until(lambda: owner.transactions == 1)

    stale._producer = None  # as after its producer failed
    stale.start()
    await _until(lambda: stale.fenced)  # stopped at its ownership check, nothing fenced
    owner_outbox.add(*items[1])
    owner.wake()
    await _until(lambda: owner.transactions == 2)

    # A stale owner whose init raced the take-over (it checked just before) fences the
    # owner once; the owner, still owning, takes the transactional.id back and goes on.
    racer = _sender(infra, prefix, EgressOutbox())
    await racer.init()
    owner_outbox.add(*items[2])
    owner_outbox.add(*items[3])
    owner.wake()
    await _until(lambda: owner.transactions >= 3)
    with pytest.raises(Fenced):
        racer._transaction([items[0]])

    values = [m.value() for m in _read_committed(infra, out)]
    assert values == [b"v0", b"v1", b"v2", b"v3"]
    for s in (stale, owner, racer):
        await s.stop()
