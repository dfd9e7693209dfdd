"""Answers to waiting ingress callers: in-process callers directly, others through Redis."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from runtime.partition.status import Outcome
from runtime.responses import Publisher, Response, ResponseListener, encode_response
from tests.conftest import Infra


def answer(request_id: str) -> bytes:
    return encode_response(Response(request_id, "inv_x", Outcome(value=b"42")))


async def test_local_callers_are_answered_without_redis(infra: Infra, prefix: str) -> None:
    client = aioredis.Redis.from_url(infra.redis_url)
    try:
        local = ResponseListener(client, prefix)  # never subscribed: Redis cannot deliver
        publisher = Publisher(client)
        publisher.add_local(local)
        rid, fut = local.expect()
        publisher.publish(local.channel, answer(rid))
        got = await asyncio.wait_for(fut, 1)
        assert got.request_id == rid and got.outcome == Outcome(value=b"42")
    finally:
        await client.aclose()


async def test_other_processes_callers_are_answered_through_redis(
    infra: Infra, prefix: str
) -> None:
    client = aioredis.Redis.from_url(infra.redis_url)
    try:
        remote = ResponseListener(client, prefix)
        await remote.start()
        local = ResponseListener(client, prefix)
        publisher = Publisher(client)
        publisher.add_local(local)
        rid, fut = remote.expect()
        publisher.publish(remote.channel, answer(rid))
        got = await asyncio.wait_for(fut, 10)
        assert got.request_id == rid
        await remote.close()
    finally:
        await client.aclose()
