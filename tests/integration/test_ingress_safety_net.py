"""The ingress's safety net: a caller whose pub/sub answer never comes gets the stored result."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from runtime.ingress import log_backend
from runtime.ingress.backend import InvocationRequest
from runtime.ingress.log_backend import LogIngressBackend
from runtime.log import records
from runtime.log.producer import LogProducer, partition_of_invocation
from runtime.log.topics import TopicNames, ensure_topics
from runtime.partition.status import InvocationStatus, Outcome, Status, encode_status
from runtime.registry import HandlerInfo, HandlerKind, Registry, ServiceInfo, ServiceType
from runtime.responses import ResponseListener
from runtime.state.keys import PartitionKeys
from sdk._ids import idempotent_invocation_id
from tests.conftest import Infra

PARTITIONS = 4
REGISTRY = Registry(
    [
        ServiceInfo(
            "Counter",
            ServiceType.VIRTUAL_OBJECT,
            {"add": HandlerInfo("add", HandlerKind.EXCLUSIVE)},
        )
    ]
)


def completed(inv_id: str, value: bytes) -> bytes:
    target = records.Target("Counter", "add", "k", "exclusive")
    st = InvocationStatus(inv_id, target, Status.COMPLETED, 1, 1, outcome=Outcome(value=value))
    return encode_status(st)


async def test_lost_answers_are_read_from_the_stored_status(infra: Infra, prefix: str) -> None:
    """No processor runs here, so no answer is ever published: the callers get the results
    the (simulated) processor stored, after the safety interval, all in one sweep."""
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, PARTITIONS)
    producer = LogProducer(infra.kafka_config(), names, PARTITIONS)
    redis = aioredis.Redis.from_url(infra.redis_url)
    listener = ResponseListener(redis, prefix)
    await listener.start()
    backend = LogIngressBackend(REGISTRY, producer, redis, listener, prefix)
    reads = 0
    real = backend._stored_outcomes

    async def counting(ids: list[str]) -> list[object]:
        nonlocal reads
        reads += 1
        return await real(ids)  # type: ignore[return-value]

    backend._stored_outcomes = counting  # type: ignore[method-assign]
    try:
        ids = {
            f"idem-{i}": idempotent_invocation_id("Counter", "add", "k", f"idem-{i}")
            for i in range(5)
        }
        for n, inv_id in enumerate(ids.values()):
            if n < 4:  # the fifth stays "running": its caller keeps waiting
                key = PartitionKeys(prefix, partition_of_invocation(inv_id, PARTITIONS)).inv(inv_id)
                await redis.set(key, completed(inv_id, str(n).encode()))
        start = time.monotonic()
        calls = [
            asyncio.ensure_future(
                backend.call(InvocationRequest("Counter", "add", "k", b"1", idempotency_key=idem))
            )
            for idem in ids
        ]
        got = await asyncio.wait_for(
            asyncio.gather(*calls[:4]), log_backend.SAFETY_CHECK_INTERVAL_S + 5
        )
        assert time.monotonic() - start >= log_backend.SAFETY_CHECK_INTERVAL_S
        assert [c.value for c in got] == [b"0", b"1", b"2", b"3"]
        assert reads == 1, "one pipelined read for all due callers"
        assert not calls[4].done()
        calls[4].cancel()
        await asyncio.gather(calls[4], return_exceptions=True)
        assert not backend._watched  # a caller that gave up is no longer checked
    finally:
        await listener.close()
        await redis.aclose()
        producer.close()
