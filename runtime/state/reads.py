"""The read side of the partitions' Redis state: the queries of the ingress, admin API and DLQ.

Processors write a partition's keys (``runtime.state.store``, fenced); everyone
else only reads the applied view, through :class:`StateReads`. It is the one
place outside the processor that knows where a value lives (the key layout is
``runtime.state.keys``) and which Redis command reads it, so the layout can
change in one package.

Values come back as stored: status, journal entry and cron blobs stay encoded
(their codecs belong to the layers that write them; this layer sits below
them). Reads are plain ``GET``/``HGETALL``/``LRANGE``/``LLEN`` — what a caller
gets is whatever the last apply left, never a partial apply (each apply is one
atomic script).

May import ``runtime.log`` (partitioning) and ``runtime.state.keys``; nothing above.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import NamedTuple

import redis.asyncio as aioredis

from runtime.log.producer import partition_of_invocation, partition_of_key
from runtime.log.routing import job_routing_key
from runtime.state.keys import META_APPLIED, META_EPOCH, META_LEADER, PartitionKeys
from sdk.ids import keyed_routing_key

ACTIVE_CHUNK = 500
"""Statuses read per pipelined round trip while listing active invocations."""


class ActiveInvocation(NamedTuple):
    """An invocation of a partition's ``active`` index, as read."""

    invocation_id: str
    status: bytes
    """The encoded status blob."""
    journal_length: int


class CompletedInvocation(NamedTuple):
    """An invocation of a partition's ``history`` index, as read."""

    invocation_id: str
    completed_ms: int
    """Its completion time (the index's score)."""
    status: bytes
    """The encoded status blob."""
    journal_length: int


class PartitionInfo(NamedTuple):
    """What a partition's Redis state says about it, as read (one consistent apply each)."""

    partition: int
    epoch: int
    """Fencing epoch: how many times an owner claimed the partition (0: never)."""
    leader_epoch: int
    """Epoch of the last owner whose ``AnnounceLeader`` was applied (0: none yet)."""
    applied: int
    """Offset of the last rt.log record applied (-1: none)."""
    active: int
    """Invocations not completed (the ``active`` index)."""
    timers: int
    """Durable timers waiting (sleeps, delayed calls, retries, cron ticks)."""
    dead_letters: int
    """Dead letters stored and not produced to their topic yet."""


class StateReads:
    """Read-only queries on the applied state of every partition.

    Args:
        redis: A client of the Redis holding the partitions' state.
        prefix: The cluster's key prefix (``Settings.topic_prefix``).
        partitions: The number of rt.log partitions.

    Raises:
        ValueError: On a prefix that :class:`PartitionKeys` refuses.

    Example:
        >>> reads = StateReads(redis, "rt", 8)  # doctest: +SKIP
        >>> blob = await reads.status("inv_1aB2...")  # doctest: +SKIP
    """

    def __init__(self, redis: aioredis.Redis, prefix: str, partitions: int) -> None:
        self._redis = redis
        self._keys = [PartitionKeys(prefix, p) for p in range(partitions)]
        self.partitions = partitions

    def keys(self, partition: int) -> PartitionKeys:
        """The keys of ``partition``."""
        return self._keys[partition]

    def _of(self, invocation_id: str) -> PartitionKeys:
        return self._keys[partition_of_invocation(invocation_id, self.partitions)]

    # -- invocations ------------------------------------------------------------------

    async def status(self, invocation_id: str) -> bytes | None:
        """The invocation's status blob; None when unknown (never existed, or purged)."""
        return _opt(await self._redis.get(self._of(invocation_id).inv(invocation_id)))

    async def statuses(self, invocation_ids: Sequence[str]) -> list[bytes | None]:
        """Status blobs of several invocations (any partitions) in one round trip."""
        if not invocation_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for inv_id in invocation_ids:
                pipe.get(self._of(inv_id).inv(inv_id))
            return [_opt(b) for b in await pipe.execute()]

    async def exists(self, invocation_id: str) -> bool:
        """True while the invocation has a status (until it is purged)."""
        return bool(await self._redis.exists(self._of(invocation_id).inv(invocation_id)))

    async def journal_length(self, invocation_id: str) -> int:
        """Entries in the invocation's journal (0 when it has none)."""
        return int(await self._redis.llen(self._of(invocation_id).journal(invocation_id)))

    async def journal(self, invocation_id: str) -> list[bytes]:
        """The invocation's journal entry blobs, in order (empty when gone)."""
        raw = await self._redis.lrange(self._of(invocation_id).journal(invocation_id), 0, -1)
        return [_raw(b) for b in raw]

    async def first_journal_entry(self, invocation_id: str) -> bytes | None:
        """The invocation's first journal entry (its input), None when gone."""
        return _opt(await self._redis.lindex(self._of(invocation_id).journal(invocation_id), 0))

    async def active(self, chunk: int = ACTIVE_CHUNK) -> AsyncIterator[ActiveInvocation]:
        """Every invocation in a partition's ``active`` index, with its journal length.

        The index holds invocations not completed when last written; one that
        completed and was purged since is skipped, one that completed is returned
        (the caller reads its status). Ids are read first, then statuses in chunks.
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys in self._keys:
                pipe.hkeys(keys.active)
            per_partition: list[list[bytes | str]] = await pipe.execute()
        ids = [
            (keys, _text(i))
            for keys, part_ids in zip(self._keys, per_partition, strict=True)
            for i in part_ids
        ]
        for start in range(0, len(ids), chunk):
            batch = ids[start : start + chunk]
            async with self._redis.pipeline(transaction=False) as pipe:
                for keys, inv_id in batch:
                    pipe.get(keys.inv(inv_id))
                    pipe.llen(keys.journal(inv_id))
                got = await pipe.execute()
            for n, (_, inv_id) in enumerate(batch):
                blob, size = got[2 * n], got[2 * n + 1]
                if blob is not None:
                    yield ActiveInvocation(inv_id, _raw(blob), int(size))

    async def history(
        self,
        *,
        newest_ms: int | None = None,
        oldest_ms: int | None = None,
        below: tuple[int, str] | None = None,
        chunk: int = ACTIVE_CHUNK,
    ) -> AsyncGenerator[CompletedInvocation, None]:
        """Completed invocations still retained, newest first, across every partition.

        Reads each partition's ``history`` index (ids by completion time) in pages of
        ``chunk``, merges them by (completion time, id), both descending, and reads
        the statuses of the merged ids ``chunk`` at a time. An id whose status is
        gone (expired or purged since the index was last trimmed) is skipped.

        Args:
            newest_ms: Only invocations completed at or before this time (epoch ms).
            oldest_ms: Only invocations completed at or after this time.
            below: Only those that come after this (completion ms, id) in the order:
                the position where a previous page ended (a cursor).
            chunk: Ids per round trip.
        """
        hi = newest_ms
        if below is not None:
            hi = below[0] if hi is None else min(hi, below[0])
        top: float | str = "+inf" if hi is None else hi
        bottom: float | str = "-inf" if oldest_ms is None else oldest_ms
        if hi is not None and oldest_ms is not None and hi < oldest_ms:
            return
        heads: dict[int, deque[tuple[int, str]]] = {p: deque() for p in range(self.partitions)}
        read = dict.fromkeys(range(self.partitions), 0)
        live = set(range(self.partitions))

        async def refill(parts: list[int]) -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                for p in parts:
                    pipe.zrevrangebyscore(
                        self._keys[p].history, top, bottom, start=read[p], num=chunk,
                        withscores=True,
                    )  # fmt: skip
                got: list[list[tuple[bytes | str, float]]] = await pipe.execute()
            for p, items in zip(parts, got, strict=True):
                read[p] += len(items)
                if len(items) < chunk:
                    live.discard(p)
                for member, score in items:
                    at = (int(score), _text(member))
                    if below is None or at < below:
                        heads[p].append(at)

        pending: list[tuple[int, str]] = []
        while True:
            empty = [p for p in live if not heads[p]]
            if empty:
                await refill(empty)
                continue  # a page may have held only ids at or above ``below``
            nonempty = [p for p in heads if heads[p]]
            if not nonempty:
                break
            p = max(nonempty, key=lambda q: heads[q][0])
            pending.append(heads[p].popleft())
            if len(pending) >= chunk:
                async for inv in self._resolve(pending):
                    yield inv
                pending = []
        async for inv in self._resolve(pending):
            yield inv

    async def _resolve(self, ids: list[tuple[int, str]]) -> AsyncIterator[CompletedInvocation]:
        if not ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, inv_id in ids:
                keys = self._of(inv_id)
                pipe.get(keys.inv(inv_id))
                pipe.llen(keys.journal(inv_id))
            got = await pipe.execute()
        for n, (done_ms, inv_id) in enumerate(ids):
            blob, size = got[2 * n], got[2 * n + 1]
            if blob is not None:
                yield CompletedInvocation(inv_id, done_ms, _raw(blob), int(size))

    # -- partitions -------------------------------------------------------------------

    async def partition_infos(self) -> list[PartitionInfo]:
        """Every partition's ownership, position and sizes, in one pipelined round trip.

        Each value is from one apply, but the partitions are not read at one
        instant: a total over them is approximate while they move.
        """
        fields = [META_EPOCH, META_LEADER, META_APPLIED]
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys in self._keys:
                pipe.hmget(keys.meta, fields)
                pipe.hlen(keys.active)
                pipe.zcard(keys.timers)
                pipe.hlen(keys.dlq)
            got = await pipe.execute()
        out = []
        for p in range(self.partitions):
            (epoch, leader, applied), active, timers, dlq = got[4 * p : 4 * p + 4]
            out.append(
                PartitionInfo(
                    partition=p,
                    epoch=int(epoch or 0),
                    leader_epoch=int(leader or 0),
                    applied=int(applied) if applied is not None else -1,
                    active=int(active),
                    timers=int(timers),
                    dead_letters=int(dlq),
                )
            )
        return out

    # -- objects ----------------------------------------------------------------------

    async def object_state(self, service: str, key: str) -> dict[str, bytes]:
        """The K/V state of a virtual object or workflow instance (empty if none)."""
        part = partition_of_key(keyed_routing_key(service, key), self.partitions)
        raw = await self._redis.hgetall(self._keys[part].state(service, key))
        return {_text(k): _raw(v) for k, v in raw.items()}

    # -- cron -------------------------------------------------------------------------

    async def cron_job(self, job_id: str) -> bytes | None:
        """The state blob of cron job ``job_id`` (on the partition of its records)."""
        part = partition_of_key(job_routing_key(job_id), self.partitions)
        return _opt(await self._redis.hget(self._keys[part].cron, job_id))

    async def cron_jobs(self) -> list[bytes]:
        """The state blobs of every cron job of every partition."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys in self._keys:
                pipe.hgetall(keys.cron)
            raws: list[dict[bytes | str, bytes | str]] = await pipe.execute()
        return [_raw(v) for raw in raws for v in raw.values()]

    # -- dead letters -----------------------------------------------------------------

    async def pending_dead_letters(self, partition: int) -> dict[str, bytes]:
        """The dead letters ``partition`` stored and has not produced yet: field -> blob."""
        raw = await self._redis.hgetall(self._keys[partition].dlq)
        return {_text(k): _raw(v) for k, v in raw.items()}


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _raw(v: bytes | str) -> bytes:
    return v if isinstance(v, bytes) else v.encode()


def _opt(v: bytes | str | None) -> bytes | None:
    return None if v is None else _raw(v)
