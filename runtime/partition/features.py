"""What the partition's shell needs from the feature packages, as interfaces it defines.

The processor (``runtime.partition.processor``) starts a timer service and an
egress sender per partition and hands dead letters on, but it imports none of
``runtime.timers``, ``runtime.egress`` or ``runtime.subscriptions``: the
composition root (``runtime.node``) passes factories and hooks that satisfy
these protocols, the way it passes the subscription-batch expander
(:data:`runtime.partition.lifecycle.BatchExpander`). So the layers go one way
(ADR 0016) and the features can be replaced (in tests, or by another
implementation) without touching the partition.

Owns these protocols only; no behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from runtime.log import records
from runtime.partition.egress_outbox import EgressOutbox
from runtime.partition.lifecycle import DeadLetterFormat, TimerIndex
from runtime.state.keys import PartitionKeys
from runtime.state.store import PartitionStore

FireTimer = Callable[[bytes], asyncio.Future[int]]
"""Appends ``TimerFired`` for a timer member; the future fails if the append did."""
AppendRecord = Callable[[records.Record], asyncio.Future[int]]
"""Appends a record to the partition's own log partition."""


class TimerService(TimerIndex, Protocol):
    """Fires one partition's durable timers (``runtime.timers.wheel.TimerWheel``).

    The machine updates its index (:class:`TimerIndex`) while a batch is computed;
    the shell calls the rest from its apply path.
    """

    @property
    def lock(self) -> asyncio.Lock:
        """Held around prefetch, compute and apply; the service holds it while it reads
        Redis, so a read never interleaves with an apply whose ZADD/ZREM it cannot see."""
        ...

    async def load(self) -> None:
        """Take-over: forget the memory and read the first timers to fire."""
        ...

    async def prefetch(self, members: Sequence[bytes]) -> None:
        """Learn whether the batch's fired timers not in memory are pending (hold :attr:`lock`)."""
        ...

    def wake(self) -> None:
        """Re-check what is due (leadership was just gained)."""
        ...

    def start(self) -> None:
        """Start firing (only while the ``leading`` callback says so)."""
        ...

    async def stop(self) -> None: ...


class TimerServiceFactory(Protocol):
    """Builds the timer service of one partition (the composition root's settings inside)."""

    def __call__(
        self,
        store: PartitionStore,
        partition: int,
        fire: FireTimer,
        leading: Callable[[], bool],
        /,
    ) -> TimerService:
        """Args: the store (reads the timer set), the partition, how to fire a due timer,
        and whether the owner may fire now (its ``AnnounceLeader`` is applied)."""
        ...


class EgressSending(Protocol):
    """Writes one partition's egress outbox to user topics (``runtime.egress.sender``)."""

    async def init(self) -> None:
        """Fence a previous owner's transactional producer now (at take-over)."""
        ...

    def start(self) -> None:
        """Start sending (first use; a second call does nothing)."""
        ...

    def wake(self) -> None:
        """The outbox has new records."""
        ...

    def applied(self, token: str) -> None:
        """An ``EgressDone`` carrying ``token`` is applied."""
        ...

    async def stop(self) -> None: ...


class EgressSenderFactory(Protocol):
    """Builds the egress sender of one partition, on its first use."""

    def __call__(
        self,
        partition: int,
        outbox: EgressOutbox,
        append: AppendRecord,
        mark_used: Callable[[], Awaitable[None]],
        owns: Callable[[], Awaitable[bool]],
        /,
    ) -> EgressSending:
        """Args: the partition, its in-memory outbox (the machine keeps it), how to append
        the ``EgressDone`` barrier, what to await before the first transaction (the
        partition remembers that it has an egress producer to fence at take-over), and
        whether this node still owns the partition (checked before every producer init:
        a stale owner's init would fence the new owner)."""
        ...


class DeadLetters(DeadLetterFormat, Protocol):
    """The DLQ outbox hook: a pending item applied with the completion, sent after it
    (``runtime.subscriptions.dlq.DlqOutbox``)."""

    def send(self, keys: PartitionKeys, field_: str, blob: bytes) -> None:
        """Produce the dead letter stored under ``field_`` (only the leader calls it)."""
        ...

    async def flush(self, keys: PartitionKeys) -> None:
        """Produce every dead letter still stored (when the owner starts to lead)."""
        ...
