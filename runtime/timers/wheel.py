"""The timer wheel of one partition: durable timers in Redis, the near horizon in memory.

It is the partition's timer service (``runtime.partition.features.TimerService``):
the composition root builds one per partition through the factory it gives the
processor. The processor calls four things, all from its apply path:

* :meth:`TimerWheel.load` at take-over (reads the first batch of the horizon);
* :meth:`TimerWheel.prefetch` before computing a batch (Redis membership of the
  batch's fired timers that are not in memory: one ZMSCORE);
* :meth:`TimerWheel.add` / :meth:`TimerWheel.take` while computing it (the
  processor puts the matching ZADD / ZREM in the same atomic apply);
* :attr:`TimerWheel.lock`, held around prefetch, compute and apply, which the
  wheel also holds while it refills, so a refill never interleaves with an
  apply whose ZADD/ZREM it could not see.

Firing appends ``TimerFired(epoch, member)`` to the partition's log through the
``fire`` callback; the apply of the first such record takes the timer (ZREM)
and acts, later duplicates find it gone. A new owner's announce fences the old
owner's late fires (leader epoch), so a timer is acted on exactly once, at or
after its due time, across restarts and owner changes (invariant 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from runtime.metrics import TIMER_FIRE_DELAY
from runtime.state.store import PartitionStore
from runtime.timers.horizon import Horizon

log = logging.getLogger("rt.timers")

DEFAULT_CAP = 10_000
"""Timers held in memory per partition, at most."""
DEFAULT_WINDOW_MS = 30_000
"""How far ahead the horizon reaches when memory allows."""
MAX_SLEEP_S = 1.0
"""Longest nap of the wheel loop: bounds the effect of a clock jump."""


def now_ms() -> int:
    return int(time.time() * 1000)


class TimerWheel:
    """Fires one partition's timers; keeps at most ``cap`` of them in memory.

    Args:
        store: The Redis store (reads the partition's timer sorted set).
        partition: The partition.
        fire: Appends ``TimerFired`` for a member; its future fails if the append did.
        leading: Whether the owner may fire now (its AnnounceLeader is applied).
        cap: Most timers in memory.
        window_ms: Horizon length when memory allows.
    """

    def __init__(
        self,
        store: PartitionStore,
        partition: int,
        fire: Callable[[bytes], asyncio.Future[int]],
        leading: Callable[[], bool],
        *,
        cap: int = DEFAULT_CAP,
        window_ms: int = DEFAULT_WINDOW_MS,
    ) -> None:
        self._store = store
        self._partition = partition
        self._fire = fire
        self._leading = leading
        self.core = Horizon(cap, window_ms)
        self.lock = asyncio.Lock()
        self.fired_count = 0
        """TimerFired records appended by this wheel (duplicates included)."""
        self.taken_count = 0
        """Timers taken by applies (each exactly once)."""
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def in_memory(self) -> int:
        """Timers currently held in memory (never more than the cap)."""
        return len(self.core.members)

    # ------------------------------------------------------------------ processor API

    async def load(self) -> None:
        """Forget the memory and read the first horizon batch (take-over, Step 3)."""
        async with self.lock:
            self.core.reset()
            await self._refill_locked()

    async def prefetch(self, members: Sequence[bytes]) -> None:
        """Learn whether the batch's fired timers not in memory are pending. Hold :attr:`lock`."""
        unknown = self.core.unknown(members)
        if unknown:
            self.core.learn(unknown, await self._store.timers_pending(self._partition, unknown))

    def add(self, due_ms: int, member: bytes) -> None:
        """A timer whose ZADD is in the batch being applied."""
        if self.core.add(due_ms, member):
            self._wakeup.set()

    def take(self, member: bytes) -> bool:
        """True exactly once per pending timer: the caller then ZREMs it and acts."""
        taken = self.core.take(member)
        if taken:
            self.taken_count += 1
        return taken

    def discard(self, member: bytes) -> None:
        """A timer whose ZREM is in the batch being applied without firing (e.g. a cron
        job redefined): forget it, so it never fires."""
        self.core.take(member)

    def wake(self) -> None:
        """Re-check what is due (e.g. leadership was just gained)."""
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"rt-timers-{self._partition}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # ------------------------------------------------------------------ the loop

    async def _loop(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("partition %d: timer wheel step failed", self._partition)
                await asyncio.sleep(1.0)

    async def _step(self) -> None:
        self._wakeup.clear()
        now = now_ms()
        if self._leading():
            due_at = self.core.members
            for member in self.core.pop_due(now):
                TIMER_FIRE_DELAY.observe(max(0, now - due_at.get(member, now)) / 1000)
                self._fire_one(member)
        if self.core.refill_request(now) is not None:
            async with self.lock:
                await self._refill_locked()
            return
        wait_s = MAX_SLEEP_S
        nxt = self.core.next_due() if self._leading() else None
        if nxt is not None:
            wait_s = min(wait_s, max(0.0, (nxt - now) / 1000))
        if wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait_s)
        else:
            await asyncio.sleep(0)  # many due at once: let the applies run between slices

    def _fire_one(self, member: bytes) -> None:
        self.fired_count += 1
        try:
            fut = self._fire(member)
        except Exception:
            log.warning("partition %d: firing a timer failed", self._partition, exc_info=True)
            self.core.unfire(member)
            return

        def done(f: asyncio.Future[int]) -> None:
            if f.cancelled() or f.exception() is not None:
                self.core.unfire(member)
                self._wakeup.set()

        fut.add_done_callback(done)

    async def _refill_locked(self) -> None:
        req = self.core.refill_request(now_ms())
        if req is None:
            return
        entries = await self._store.timers_between(
            self._partition, req.min_ms, req.max_ms, req.limit
        )
        self.core.merge(entries, req)
        self._wakeup.set()
