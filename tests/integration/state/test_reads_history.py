"""``StateReads.history`` on the real Redis: every partition's index merged newest first,
ties by id, time bounds, cursor positions, and ids whose status is gone skipped."""

from __future__ import annotations

import random

import redis
import redis.asyncio as aioredis

from runtime.log.producer import partition_of_invocation
from runtime.state.keys import PartitionKeys
from runtime.state.reads import StateReads
from sdk._ids import invocation_id_for
from tests.conftest import Infra

P = 5


def _seed(r: redis.Redis, prefix: str, n: int) -> list[tuple[int, str]]:
    """``n`` completed invocations over the partitions, many sharing a completion ms."""
    rng = random.Random(7)
    rows = []
    for _ in range(n):
        inv = invocation_id_for(service="S", key=None)
        done = 1_000 + rng.randrange(12)  # ties on purpose
        keys = PartitionKeys(prefix, partition_of_invocation(inv, P))
        r.zadd(keys.history, {inv: done})
        r.zadd(keys.history_expiry, {inv: done + 60_000})
        r.set(keys.inv(inv), f"status-{inv}".encode())
        r.rpush(keys.journal(inv), b"e0", b"e1")
        rows.append((done, inv))
    return sorted(rows, reverse=True)


async def _all(reads: StateReads, **kw: object) -> list[tuple[int, str]]:
    return [(c.completed_ms, c.invocation_id) async for c in reads.history(**kw)]  # type: ignore[arg-type]


async def test_history_merges_partitions_newest_first(
    infra: Infra, prefix: str, redis_client: redis.Redis
) -> None:
    expected = _seed(redis_client, prefix, 120)
    client = aioredis.Redis.from_url(infra.redis_url)
    try:
        reads = StateReads(client, prefix, P)
        for chunk in (1, 7, 500):
            assert await _all(reads, chunk=chunk) == expected
        got = [c async for c in reads.history(chunk=3)]
        assert all(c.status == f"status-{c.invocation_id}".encode() for c in got)
        assert {c.journal_length for c in got} == {2}
        # Bounds are inclusive here (the admin API makes its own exclusive).
        bounded = await _all(reads, newest_ms=1_008, oldest_ms=1_003, chunk=4)
        assert bounded == [row for row in expected if 1_003 <= row[0] <= 1_008]
        assert await _all(reads, newest_ms=1_002, oldest_ms=1_003) == []
        # A cursor continues strictly after its position, in the same order.
        for cut in (0, 1, 17, 60, 119):
            below = expected[cut]
            assert await _all(reads, below=below, chunk=5) == expected[cut + 1 :]
        # An id whose status expired (or was purged) is skipped.
        gone = expected[3][1]
        redis_client.delete(PartitionKeys(prefix, partition_of_invocation(gone, P)).inv(gone))
        assert await _all(reads, chunk=2) == [row for row in expected if row[1] != gone]
    finally:
        await client.aclose()
