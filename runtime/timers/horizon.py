"""The in-memory near horizon of one partition's timers: pure bookkeeping, no I/O.

All pending timers of a partition live in its Redis sorted set (score = due
ms, ties ordered by member bytes, exactly as Python compares ``(due, member)``
tuples). Only a bounded prefix of that order is kept in memory:

* ``horizon`` is a key ``(due, member)``: **every** pending timer whose key is
  ``<= horizon`` is in memory. Timers beyond it are only in Redis and are read
  in batches (:meth:`Horizon.refill_request` / :meth:`Horizon.merge`) as time
  advances or memory frees up.
* ``len(members) <= cap`` always (:meth:`Horizon.add` evicts the latest quarter
  and pulls the horizon in when an add would exceed it).
* A timer in memory is pending in Redis (as of the applied state plus the batch
  being computed), so ``take`` of an in-memory timer is a sure hit. For a timer
  not in memory, the caller asks Redis first (:meth:`Horizon.unknown` then
  :meth:`Horizon.learn`), which keeps dedupe exact without holding every timer.

The async driver (``runtime.timers.wheel``) serialises refills with the
partition's applies, so a refill never races a ZADD/ZREM it cannot see.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Key = tuple[int, bytes]
"""Order of timers: due time in ms, then member bytes (the ZSET's own order)."""

NOTHING: Key = (-(2**62), b"")
"""Horizon before anything was read: no timer is known to be in memory."""


@dataclass(frozen=True)
class RefillRequest:
    """Read ``ZRANGEBYSCORE timers min_ms max_ms LIMIT 0 limit``."""

    min_ms: int
    max_ms: int
    limit: int


class Horizon:
    """Which timers are in memory, which are due, and what to read next from Redis.

    Args:
        cap: Most timers held in memory at once (hard bound).
        window_ms: How far ahead of now the horizon is pushed when room allows.

    Example:
        >>> h = Horizon(cap=4, window_ms=1000)
        >>> req = h.refill_request(now_ms=0)
        >>> h.merge([(b"a", 10.0)], req)
        >>> h.pop_due(now_ms=10)
        [b'a']
        >>> h.take(b"a")
        True
    """

    def __init__(self, cap: int, window_ms: int) -> None:
        if cap < 4:
            raise ValueError(f"cap must be >= 4, got {cap}")
        if window_ms < 2:
            raise ValueError(f"window_ms must be >= 2, got {window_ms}")
        self.cap = cap
        self.window_ms = window_ms
        self.batch = max(1, cap // 4)
        self.horizon: Key = NOTHING
        self.members: dict[bytes, int] = {}
        """In-memory timers: member -> due ms (includes those fired but not yet applied)."""
        self.in_flight: set[bytes] = set()
        """Fired (TimerFired appended or on its way) and not yet taken by an apply."""
        self.known: dict[bytes, bool] = {}
        """Redis membership of timers of the batch being applied that are not in memory."""
        self.high_water = 0
        """Largest ``len(members)`` ever seen (tests and metrics)."""
        self._heap: list[Key] = []

    # ------------------------------------------------------------------ state changes

    def reset(self) -> None:
        """Forget everything (a new owner starts from what Redis says)."""
        self.horizon = NOTHING
        self.members.clear()
        self.in_flight.clear()
        self.known.clear()
        self._heap.clear()

    def add(self, due_ms: int, member: bytes) -> bool:
        """A timer was added (its ZADD is in the batch being applied).

        Returns:
            True when it is held in memory, False when it stays only in Redis
            (beyond the horizon) until a refill reads it.
        """
        if member in self.members:
            return True
        if len(self.members) >= self.cap and (due_ms, member) <= self.horizon:
            self._evict()
            if len(self.members) >= self.cap:  # all of them fired, awaiting their apply
                self.horizon = NOTHING
        if (due_ms, member) > self.horizon:
            self.known[member] = True  # a TimerFired later in the same batch must find it
            return False
        self._insert(due_ms, member)
        return True

    def take(self, member: bytes) -> bool:
        """An applied TimerFired claims ``member``: True exactly once while it is pending.

        The caller must have called :meth:`learn` for members :meth:`unknown`
        reported, earlier in the same batch.
        """
        present = self.members.pop(member, None) is not None
        self.in_flight.discard(member)
        known = self.known.pop(member, False)
        return present or known

    def unknown(self, members: Iterable[bytes]) -> list[bytes]:
        """Members whose Redis membership must be read before a batch takes them.

        Members in memory are recorded as pending right away, so evicting them
        while the batch is computed cannot lose them.
        """
        self.known.clear()
        out: list[bytes] = []
        for m in members:
            if m in self.members:
                self.known[m] = True
            elif m not in self.known:
                out.append(m)
                self.known[m] = False
        return out

    def learn(self, members: Sequence[bytes], present: Sequence[bool]) -> None:
        """Record what Redis said about :meth:`unknown` members."""
        for m, p in zip(members, present, strict=True):
            self.known[m] = p

    # ------------------------------------------------------------------ firing

    def pop_due(self, now_ms: int, limit: int = 10_000) -> list[bytes]:
        """Timers due at ``now_ms`` not yet fired, earliest first; they become in flight."""
        out: list[bytes] = []
        heap = self._heap
        while heap and heap[0][0] <= now_ms and len(out) < limit:
            due, member = heapq.heappop(heap)
            if self.members.get(member) != due or member in self.in_flight:
                continue  # taken, evicted or re-armed since it was pushed
            self.in_flight.add(member)
            out.append(member)
        return out

    def unfire(self, member: bytes) -> None:
        """Firing failed (the append was not acknowledged): fire it again later."""
        if member in self.in_flight:
            self.in_flight.discard(member)
            due = self.members.get(member)
            if due is not None:
                heapq.heappush(self._heap, (due, member))

    def next_due(self) -> int | None:
        """Due time of the earliest in-memory timer not yet fired, if any."""
        heap = self._heap
        while heap:
            due, member = heap[0]
            if self.members.get(member) == due and member not in self.in_flight:
                return due
            heapq.heappop(heap)
        return None

    # ------------------------------------------------------------------ refill

    def refill_request(self, now_ms: int) -> RefillRequest | None:
        """What to read from Redis to push the horizon towards ``now + window``.

        Nothing while the horizon already reaches half a window ahead (an idle
        partition reads once per half window), nor while memory has less room
        than a refill batch and still holds unfired timers (reads stay batched).
        """
        target = now_ms + self.window_ms
        if self.horizon[0] >= now_ms + self.window_ms // 2:
            return None
        room = self.cap - len(self.members)
        waiting = len(self.members) - len(self.in_flight)
        if room <= 0 or (room < self.batch and waiting > 0):
            return None
        lo = max(self.horizon[0], NOTHING[0])
        # Timers at or after the horizon's due time already in memory are read again
        # (ties at the horizon, fired timers kept past an eviction): ask for them too.
        again = sum(1 for d in self.members.values() if d >= lo)
        return RefillRequest(lo, target, room + again)

    def merge(self, entries: Sequence[tuple[bytes, float]], req: RefillRequest) -> None:
        """Take in what Redis answered for ``req`` (``(member, score)``, in ZSET order)."""
        for member, score in entries:
            key = (int(score), member)
            if key <= self.horizon or member in self.members:
                continue
            self._insert(key[0], member)
        if len(entries) < req.limit:
            # Everything due up to max_ms is now in memory.
            self.horizon = max(self.horizon, (req.max_ms + 1, b""))
        elif entries:
            last = (int(entries[-1][1]), entries[-1][0])
            self.horizon = max(self.horizon, last)
        if len(self.members) > self.cap:
            self._evict()

    # ------------------------------------------------------------------ internals

    def _insert(self, due_ms: int, member: bytes) -> None:
        self.members[member] = due_ms
        heapq.heappush(self._heap, (due_ms, member))
        if len(self.members) > self.high_water:
            self.high_water = len(self.members)
        if len(self._heap) > 2 * self.cap + 64:
            self._compact()

    def _evict(self) -> None:
        """Drop the latest quarter of the unfired timers and pull the horizon in."""
        waiting = sorted((d, m) for m, d in self.members.items() if m not in self.in_flight)
        keep = max(0, len(waiting) - max(self.batch, len(self.members) - self.cap))
        for _due, member in waiting[keep:]:
            del self.members[member]
        self.horizon = waiting[keep - 1] if keep > 0 else NOTHING
        self._compact()

    def _compact(self) -> None:
        self._heap = [(d, m) for m, d in self.members.items() if m not in self.in_flight]
        heapq.heapify(self._heap)
