"""Thin helpers for stateful stream processing on virtual objects, timers and egress.

Everything here is ordinary SDK calls on an ``ObjectContext`` (state, journaled
time, delayed ``object_send``), so the usual guarantees hold: one record of a key
at a time, durable state, timers that fire after restarts. A subscription calls
an object handler per record with the record key as the object key; these
helpers keep the per-key bookkeeping short:

- :func:`update`: per-key aggregation (read, fold, write).
- :class:`Windows`: tumbling or hopping windows that close on **wall-clock** time:
  the first record of a window schedules a durable timer (a delayed send to the
  close handler), so a window closes even if no further record arrives.
- :class:`StateTTL`: expire state after a period without activity (one pending
  timer per key, re-armed lazily).
- :class:`Enrichment`: join a stream with the latest row of a keyed table input;
  stream records that arrive before their row wait for it.

Example (per-user order totals per minute; see ``examples/order_totals.py``)::

    windows = Windows(size=timedelta(minutes=1))

    @totals.handler()
    async def add(ctx: ObjectContext, order: Order) -> None:
        await windows.add(ctx, order.amount, reduce=lambda acc, x: (acc or 0) + x,
                          on_close=close)

    @totals.handler()
    async def close(ctx: ObjectContext, window: Window) -> None:
        total = await windows.close(ctx, window, type_hint=float)
        if total is not None:
            emit(ctx, "totals", {"user": ctx.key(), "start": window.start_ms, "total": total})
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

import msgspec

from sdk.context import HandlerType, ObjectContext

__all__ = [
    "Enrichment",
    "StateTTL",
    "Window",
    "Windows",
    "late_assignment",
    "now_ms",
    "update",
]

A = TypeVar("A")
S = TypeVar("S")
T = TypeVar("T")
V = TypeVar("V")


async def now_ms(ctx: ObjectContext) -> int:
    """Journaled wall-clock time in ms (``ctx.time()``): replays return the same value."""
    return int(await ctx.time() * 1000)


async def update(
    ctx: ObjectContext,
    name: str,
    fold: Callable[[T | None], T],
    type_hint: type[T] | None = None,
) -> T:
    """Per-key aggregation: ``state[name] = fold(state[name])``; returns the new value.

    Example:
        >>> count = await update(ctx, "count", lambda c: (c or 0) + 1, int)  # doctest: +SKIP
    """
    current = await ctx.get(name, type_hint=type_hint)
    new = fold(current)
    ctx.set(name, new)
    return new


class Window(msgspec.Struct, frozen=True):
    """A time window ``[start_ms, end_ms)``; the argument of a window's close handler."""

    start_ms: int
    end_ms: int

    @property
    def state_key(self) -> str:
        return f"window:{self.start_ms}-{self.end_ms}"


_CLOSED = "window:closed_until"
"""Windows ending at or before this time (ms) are closed: late records go to a later window."""


def late_assignment(at_ms: int, now_ms: int, closed_until_ms: int, grace_ms: int) -> int:
    """The time a record counts at: ``at_ms``, or the earliest still-open instant if later.

    A window ``[s, e)`` is open while ``e > closed_until_ms`` (its close handler has
    not run) and ``e + grace_ms > now_ms`` (its timer is not yet due). Every
    window containing ``max(at_ms, closed_until_ms, now_ms - grace_ms)`` ends after
    that instant, so it is open: a late record moves forward instead of vanishing.
    """
    return max(at_ms, closed_until_ms, now_ms - grace_ms)


@dataclass(frozen=True)
class Windows:
    """Tumbling (``hop=None``) or hopping windows of ``size``, closed on wall-clock time.

    Attributes:
        size: Window length.
        hop: Distance between window starts (hopping windows); None = ``size`` (tumbling).
        grace: How long after its end a window stays open for late records.

    Raises:
        ValueError: A non-positive size or hop, or a hop longer than the window.
    """

    size: timedelta
    hop: timedelta | None = None
    grace: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.size <= timedelta(0):
            raise ValueError("window size must be positive")
        if self.hop is not None and not timedelta(0) < self.hop <= self.size:
            raise ValueError("window hop must be positive and at most the window size")
        if self.grace < timedelta(0):
            raise ValueError("window grace must not be negative")

    @property
    def _size_ms(self) -> int:
        return int(self.size.total_seconds() * 1000)

    @property
    def _hop_ms(self) -> int:
        return int((self.hop or self.size).total_seconds() * 1000)

    def windows_for(self, at_ms: int) -> list[Window]:
        """The windows containing ``at_ms``, oldest first (aligned to the epoch)."""
        size, hop = self._size_ms, self._hop_ms
        start = at_ms - at_ms % hop
        out = []
        while start > at_ms - size:
            out.append(Window(start, start + size))
            start -= hop
        return out[::-1]

    async def add(
        self,
        ctx: ObjectContext,
        value: V,
        *,
        reduce: Callable[[A | None, V], A],
        on_close: HandlerType[Window, Any],
        at_ms: int | None = None,
        now: int | None = None,
        type_hint: type[A] | None = None,
    ) -> list[Window]:
        """Fold ``value`` into every window containing ``at_ms`` (default: now).

        The first record of a window arms its close timer: a delayed send of the
        :class:`Window` to ``on_close`` (a handler of this object), due at the
        window's end plus grace, in wall-clock time.

        A record is never dropped. If its windows have closed already (their end is
        at or before the last closed window's end, or their end plus grace is not
        after now), it counts as arriving at the earliest instant whose windows are
        still open, ``max(at_ms, closed_until, now - grace)``: with tumbling windows
        that is the current (not yet emitted) window. Each record therefore lands in
        exactly one emitted result per window it is assigned to.

        Args:
            at_ms: The record's time (event time); default ``now``.
            now: A journaled wall-clock time (ms) the handler already read; default
                reads ``ctx.time()``. Pass it rather than reading the clock twice: two
                reads can straddle a window end.

        Returns:
            The windows the value was added to (never empty).
        """
        if now is None:
            now = await now_ms(ctx)
        closed_until = await ctx.get(_CLOSED, type_hint=int) or 0
        grace_ms = int(self.grace.total_seconds() * 1000)
        at = late_assignment(now if at_ms is None else at_ms, now, closed_until, grace_ms)
        added = self.windows_for(at)
        for w in added:
            acc = await ctx.get(w.state_key, type_hint=type_hint)
            if acc is None:
                delay = timedelta(milliseconds=max(0, w.end_ms + grace_ms - now))
                ctx.object_send(on_close, ctx.key(), w, send_delay=delay)
            ctx.set(w.state_key, reduce(acc, value))
        return added

    async def close(
        self, ctx: ObjectContext, window: Window, type_hint: type[A] | None = None
    ) -> A | None:
        """Take the window's aggregate out of state (None if it has none); call once per timer."""
        acc = await ctx.get(window.state_key, type_hint=type_hint)
        ctx.clear(window.state_key)
        closed_until = await ctx.get(_CLOSED, type_hint=int) or 0
        if window.end_ms > closed_until:
            ctx.set(_CLOSED, window.end_ms)
        return acc


_TTL_DEADLINE = "ttl:deadline"
_TTL_TIMER = "ttl:timer"


@dataclass(frozen=True)
class StateTTL:
    """Expire an object's state ``ttl`` after its last :meth:`touch`.

    At most one expiry timer is pending per key: an expiry that finds the key
    touched since re-arms itself for the new deadline instead of clearing.

    Attributes:
        ttl: Inactivity period after which the state goes.
        keys: State keys to clear; None clears all of the object's state (open
            windows of :class:`Windows` included: list the keys when combining them).
    """

    ttl: timedelta
    keys: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.ttl <= timedelta(0):
            raise ValueError("ttl must be positive")

    async def touch(
        self, ctx: ObjectContext, on_expire: HandlerType[int, Any], at_ms: int | None = None
    ) -> None:
        """Record activity now (or at ``at_ms``, a journaled time you already have)."""
        now = await now_ms(ctx) if at_ms is None else at_ms
        deadline = now + int(self.ttl.total_seconds() * 1000)
        ctx.set(_TTL_DEADLINE, deadline)
        if await ctx.get(_TTL_TIMER, type_hint=int) is None:
            ctx.object_send(on_expire, ctx.key(), deadline, send_delay=self.ttl)
            ctx.set(_TTL_TIMER, deadline)

    async def expire(self, ctx: ObjectContext, on_expire: HandlerType[int, Any]) -> bool:
        """Body of the expiry handler: clear the state if the deadline passed, else re-arm.

        Returns:
            True when the state was cleared.
        """
        deadline = await ctx.get(_TTL_DEADLINE, type_hint=int)
        if deadline is None:
            ctx.clear(_TTL_TIMER)
            return False
        now = await now_ms(ctx)
        if now < deadline:
            ctx.object_send(
                on_expire, ctx.key(), deadline, send_delay=timedelta(milliseconds=deadline - now)
            )
            ctx.set(_TTL_TIMER, deadline)
            return False
        if self.keys is None:
            ctx.clear_all()
        else:
            for k in self.keys:
                ctx.clear(k)
            ctx.clear(_TTL_DEADLINE)
            ctx.clear(_TTL_TIMER)
        return True


@dataclass(frozen=True)
class Enrichment(Generic[S, T]):
    """Join a keyed stream with the latest row of a keyed table input (same key).

    Both inputs call handlers of one virtual object keyed by the join key, so they
    are serialized per key. Stream records that arrive before any row are buffered
    (at most ``max_buffer``; the oldest go first) and released when the row comes.

    Attributes:
        stream_type: Type of stream records (for decoding the buffer).
        table_type: Type of table rows.
        name: State key prefix (several joins can share one object).
        max_buffer: Stream records kept while waiting for a row.
    """

    stream_type: type[S]
    table_type: type[T]
    name: str = "join"
    max_buffer: int = 1000

    async def on_row(self, ctx: ObjectContext, row: T) -> list[tuple[S, T]]:
        """Store the table row; returns the buffered stream records joined with it."""
        ctx.set(f"{self.name}:row", row)
        waiting: list[S] | None = await ctx.get(
            f"{self.name}:waiting",
            type_hint=list[self.stream_type],  # type: ignore[name-defined]
        )
        if not waiting:
            return []
        ctx.clear(f"{self.name}:waiting")
        return [(s, row) for s in waiting]

    async def on_record(self, ctx: ObjectContext, record: S) -> tuple[S, T] | None:
        """Join a stream record with the current row, or buffer it (returns None)."""
        row = await ctx.get(f"{self.name}:row", type_hint=self.table_type)
        if row is not None:
            return (record, row)
        key = f"{self.name}:waiting"
        waiting: list[S] = (
            await ctx.get(key, type_hint=list[self.stream_type])  # type: ignore[name-defined]
            or []
        )
        waiting.append(record)
        ctx.set(key, waiting[-self.max_buffer :])
        return None
