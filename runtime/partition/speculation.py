"""Speculative hand-off of a key's lock (ADR 0013): which queued call may start early.

When the lock holder of an object key returns and appends its end, the head of
the key's inbox may start at once, as attempt ``n + 2``, on the state the
holder ended with. At the holder's end the machine adopts it (the holder ended
by that Output of that attempt) or drops it (anything else).

Numbering is decided by the log alone: after a clean end the next call's
attempt is ``n + 2`` whether or not this owner speculated, otherwise ``n + 1``;
so an owner replaying the log after a crash accepts exactly the speculative
entries that were valid. Nothing here is persisted.

Owns the speculations in flight and the rule deciding whether one may start.
Reads the machine's view (active invocations, locks, inboxes, first journal
entries); may not change it, nor run or stop an attempt (the processor does,
from the machine's effects).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import msgspec

from runtime.log.records import TargetKind
from runtime.partition.status import InvocationStatus, Status

SPEC_STEP = 2
"""Attempt number step of a hand-off after a clean end (a speculative attempt's number)."""
SET_STATE_HANDLER = "__rt_set_state"
"""The admin state replacement's pseudo handler (queued like an exclusive call)."""

ObjectKey = tuple[str, str]


class Speculation(msgspec.Struct, frozen=True):
    """A speculative attempt of the head of a key's inbox."""

    invocation_id: str
    attempt: int
    pred: tuple[str, int]
    """(invocation id, attempt) of the lock holder whose clean end it assumed."""


class SpeculationOffer(msgspec.Struct, frozen=True):
    """What may start speculatively: ``status``'s attempt ``attempt`` on ``state``."""

    status: InvocationStatus
    attempt: int
    journal: list[bytes]
    state: dict[str, bytes]
    pred: tuple[str, int]


class Handoff:
    """The speculations of one partition, at most one per object key.

    Args:
        active: The machine's active invocations (read only).
        locks: The machine's lock holders per object key (read only).
        inboxes: The machine's queued calls per object key (read only).
        first_journal: Input entries of invocations that never started (read only).
        lazy_state: Whether an invocation's handler reads state lazily.
    """

    def __init__(
        self,
        active: dict[str, InvocationStatus],
        locks: dict[ObjectKey, str],
        inboxes: dict[ObjectKey, deque[str]],
        first_journal: dict[str, bytes],
        lazy_state: Callable[[InvocationStatus], bool],
    ) -> None:
        self._active = active
        self._locks = locks
        self._inboxes = inboxes
        self._first = first_journal
        self._lazy = lazy_state
        self.by_key: dict[ObjectKey, Speculation] = {}

    def offer(self, pred_id: str, attempt: int, state: dict[str, bytes]) -> SpeculationOffer | None:
        """The lock holder ``pred_id`` returned and appended its end (attempt ``attempt``),
        ending with ``state``: what may start now, if anything.

        Its entries are appended after the holder's end on the same partition, so the
        machine sees them only after deciding, at that end, whether the speculation
        holds. Never for a key that already has one, a call that ran before, a lazy-state
        handler, the admin state replacement, or anything but an exclusive handler.
        """
        pred = self._active.get(pred_id)
        ok = pred.object_key if pred is not None else None
        if (
            pred is None
            or ok is None
            or ok in self.by_key
            or self._locks.get(ok) != pred_id
            or pred.status is not Status.INVOKED
            or pred.attempt != attempt
        ):
            return None
        q = self._inboxes.get(ok)
        nxt = self._active.get(q[0]) if q else None
        if (
            nxt is None
            or nxt.status is not Status.INBOXED
            or nxt.target.kind != TargetKind.EXCLUSIVE
            or nxt.target.handler == SET_STATE_HANDLER
            or nxt.journal_len != 1
            or self._lazy(nxt)
        ):
            return None
        first = self._first.get(nxt.invocation_id)
        if first is None:
            return None
        return SpeculationOffer(nxt, nxt.attempt + SPEC_STEP, [first], state, (pred_id, attempt))

    def started(
        self, ok: ObjectKey, invocation_id: str, attempt: int, pred: tuple[str, int]
    ) -> None:
        """The offered attempt runs: adopt or drop it at the holder's end."""
        self.by_key[ok] = Speculation(invocation_id, attempt, pred)

    def release(self, ok: ObjectKey) -> Speculation | None:
        """The key's lock is released: its speculation, if any (adopted or dropped now)."""
        return self.by_key.pop(ok, None) if self.by_key else None

    def drop_after(self, pred_id: str) -> list[Speculation]:
        """``pred_id`` runs again or failed: its end is not clean; the speculations that
        assumed it, forgotten (to be stopped)."""
        if not self.by_key:
            return []
        dropped = [s for s in self.by_key.values() if s.pred[0] == pred_id]
        for ok in [ok for ok, s in self.by_key.items() if s.pred[0] == pred_id]:
            del self.by_key[ok]
        return dropped
