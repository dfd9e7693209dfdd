"""Coalesces concurrent single-key reads into one pipelined round trip.

When a batch of records starts hundreds of invocations at once, each attempt
asks for its object's state; one HGETALL per attempt would exhaust the Redis
connection pool and pay a round trip each. Reads issued in the same loop turn
go out together instead (and a key asked for twice is read once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_BATCH = 500


class BatchLoader(Generic[K, V]):
    def __init__(self, load_many: Callable[[list[K]], Awaitable[list[V]]]) -> None:
        self._load_many = load_many
        self._pending: dict[K, asyncio.Future[V]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V:
        fut = self._pending.get(key)
        if fut is None:
            loop = asyncio.get_running_loop()
            fut = self._pending[key] = loop.create_future()
            if not self._scheduled:
                self._scheduled = True
                loop.call_soon(self._flush)
        # Shielded: a cancelled caller must not cancel the read other callers share.
        return await asyncio.shield(fut)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        items = list(pending.items())
        for i in range(0, len(items), MAX_BATCH):
            task = asyncio.get_running_loop().create_task(self._load(items[i : i + MAX_BATCH]))
            self._tasks.add(task)  # the loop keeps only a weak reference
            task.add_done_callback(self._tasks.discard)

    async def _load(self, items: list[tuple[K, asyncio.Future[V]]]) -> None:
        try:
            values = await self._load_many([k for k, _ in items])
        except BaseException as e:
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(e)
                    fut.exception()  # retrieved: the callers re-raise it
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        for (_, fut), value in zip(items, values, strict=True):
            if not fut.done():
                fut.set_result(value)
