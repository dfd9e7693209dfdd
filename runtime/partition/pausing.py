"""Pausing and resuming an invocation: the partition side of ``Pause`` and ``Resume``.

An operator pauses an invocation (``PATCH /invocations/{id}/pause``) or its retry
policy does once its attempts are exhausted (``on_max_attempts="pause"``, applied
by the ``AttemptFailed`` transition). A paused invocation runs no attempt: its
running attempt is aborted (the records it still appends carry its attempt number
and are ignored, as any stale attempt's), a pending retry does not fire, and a
completion that arrives is journaled without waking it. It keeps its key's lock,
as in Restate, so later calls of an exclusive object key wait behind it.

Resuming (``PATCH /invocations/{id}/resume``) starts a new attempt at once, which
replays the journal, optionally on another deployment than the one it is pinned to
(a paused or suspended, pinned invocation only). A paused invocation's retry count
starts again from zero, so its retry policy applies afresh; a suspended one is
re-driven (it suspends again if what it waits for has not come); a backing-off one
retries now.

Both are records on the invocation's partition, so the status is decided in the
log: a paused invocation stays paused across crashes and take-overs (the new owner
starts only ``invoked`` attempts), and a resume is applied exactly once.

Pure like the machine; owns these two transitions.
"""

from __future__ import annotations

from runtime.log import records
from runtime.partition.effects import AbortAttempt, Batch
from runtime.partition.lifecycle import InvocationLifecycle
from runtime.partition.status import Status

PAUSABLE = frozenset({Status.INVOKED, Status.SUSPENDED, Status.BACKING_OFF})
"""Statuses a ``Pause`` applies to (Restate: "an invocation can be paused only when
running"; scheduled and inboxed ones have not started)."""

RESUMABLE = frozenset({Status.PAUSED, Status.SUSPENDED, Status.BACKING_OFF})
"""Statuses a ``Resume`` starts a new attempt of (a running one needs nothing)."""


def apply_pause(machine: InvocationLifecycle, rec: records.Pause, b: Batch) -> None:
    """Pause the invocation if it has started and not completed; otherwise nothing."""
    st = machine.active.get(rec.invocation_id)
    if st is None or st.status not in PAUSABLE:
        return
    inv_id = st.invocation_id
    if st.status is Status.INVOKED:
        machine._drop_speculations_after(inv_id, b)
        b.effects.append(AbortAttempt(inv_id))
    st.move(Status.PAUSED, machine._now)
    st.retry_at_ms = None  # a pending retry timer finds it paused and does nothing
    st.awaiting = []
    machine._save(st, b)


def apply_resume(machine: InvocationLifecycle, rec: records.Resume, b: Batch) -> None:
    """Start a new attempt of a paused, suspended or backing-off invocation now."""
    st = machine.active.get(rec.invocation_id)
    if st is None or st.status not in RESUMABLE:
        return
    if st.status is Status.PAUSED:
        st.retry_count = 0  # the retry policy starts over
    if (
        rec.deployment is not None
        and st.deployment is not None
        and st.status in (Status.PAUSED, Status.SUSPENDED)
    ):
        st.deployment = rec.deployment  # the operator moves it (e.g. onto a fixed version)
    st.move(Status.INVOKED, machine._now)
    st.retry_at_ms = None
    st.awaiting = []
    machine._restart(st, b)
