"""Batched execution (ADR 0020): the owner runs a consumed batch's attempts inline.

With batching on, an attempt the machine starts (``StartAttempt``) that may run
batched is not handed to the invoker as a live attempt: it is taken here, and
once the processor has run the batch's effects, :meth:`BatchRunner.flush` runs
the taken attempts on the owner's stack (``InlineInvoker.run_inline``), each on
its object's applied state. After an exclusive attempt ends cleanly, the next
calls queued for its key run too, in inbox order, each on the state the one
before ended with, as the attempt number the log gives them after a clean end
(``n + 2``, ADR 0013), until one is not eligible, blocks or fails. What they did
is written as one :class:`records.BatchCommit` (one item per attempt, in run
order), committed by a :class:`BatchProducing` in one Kafka transaction; the
machine applies it when it consumes it, as the ``AppendJournal``s it stands
for (``batch_commit``): nothing is visible before that apply.

A head attempt (the invocation's current attempt) that blocks goes on as a live
attempt of the invoker (its records appended as usual); a queued call run on a
predecessor's state that blocks is dropped, having run nothing outside (its
``ctx.run`` actions are held), and runs on the normal path when it gets the lock.

Which attempts run batched is decided here, by the leader, and needs no
agreement with a replaying owner: whether an item counts is decided by the log
alone when it is applied. Owns the taken attempts until they are committed; may
not change the machine's view, write Redis, or run effects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from runtime.log import records
from runtime.log.records import InvocationSource, TargetKind
from runtime.partition.contract import Attempt, AttemptHost
from runtime.partition.machine import PartitionMachine
from runtime.partition.speculation import SET_STATE_HANDLER, SPEC_STEP
from runtime.partition.status import InvocationStatus, Status

log = logging.getLogger("rt.processor")

BATCHED_KINDS = frozenset({TargetKind.EXCLUSIVE, TargetKind.SHARED, TargetKind.SERVICE})
"""Workflows never run batched (their promises and run-once rule stay on the normal path)."""


class InlineEnd(msgspec.Struct, frozen=True):
    """How an attempt run inline ended: its new entries, and a failure or its final state."""

    entries: list[bytes]
    state: dict[str, bytes] | None
    """The object's state after the attempt (keyed handlers), for the next call of the key."""
    failure: records.BatchFailure | None = None
    """The attempt failed (retry or not, as ``AttemptFailed`` would say); None: it returned."""


class InlineInvoker(Protocol):
    """An invoker that can run an attempt on the caller's stack."""

    def can_run_inline(self, service: str, handler: str) -> bool:
        """Whether attempts of this handler may run inline (deployed here, no replay mode)."""
        ...

    def run_inline(self, host: AttemptHost, attempt: Attempt, *, queued: bool) -> InlineEnd | None:
        """Run ``attempt`` (journal and state given) until it ends or blocks.

        Args:
            host: The partition hosting it (epoch, appends of a head that goes on live).
            attempt: The attempt, with its journal (the input) and its state.
            queued: A queued call run on a predecessor's state (it counts only if the
                predecessor's end is applied as it ran): its ``ctx.run`` actions are held.

        Returns:
            How it ended; None when it blocked: a head then goes on as a live attempt of
            the invoker, a queued call is dropped (it will run on the normal path).
        """
        ...


class BatchProducing(Protocol):
    """Commits a partition owner's batch records (``runtime.log.batch_producer``)."""

    async def init(self) -> None:
        """At take-over, before ``AnnounceLeader``: fence a previous owner's producer."""
        ...

    def commit(self, record: records.BatchCommit) -> asyncio.Future[None]:
        """Produce ``record`` to the owner's partition in a Kafka transaction; resolves
        when committed. Records are committed in the order given."""
        ...

    async def close(self) -> None:
        """Stop (an open transaction is aborted by the next owner's ``init``)."""
        ...


@dataclass(frozen=True)
class Batching:
    """What a partition needs for batched execution (given by the node when it is on)."""

    invoker: InlineInvoker
    producer: Callable[[int], BatchProducing]
    """Builds the batch producer of a partition."""
    max_items: int = 1000
    """Most attempts in one batch record."""


class BatchRunner:
    """Takes a partition's batchable attempts and runs them at the end of a batch.

    Args:
        machine: The partition's machine (its view: statuses, inboxes, first journals).
        host: The partition as an attempt host.
        invoker: Runs attempts inline.
        committer: Commits the batch records.
        start_live: Starts an attempt on the normal path (an inline run that raised).
        max_items: Most attempts in one batch record (bounds a record and the calls of
            a key run on assumed states; a consumed batch may give several records).
        leading: Whether the owner leads.
    """

    def __init__(
        self,
        machine: PartitionMachine,
        host: AttemptHost,
        invoker: InlineInvoker,
        committer: BatchProducing,
        *,
        start_live: Callable[[InvocationStatus, list[bytes]], None],
        max_items: int,
        leading: Callable[[], bool],
    ) -> None:
        self._machine = machine
        self._host = host
        self._invoker = invoker
        self._committer = committer
        self._start_live = start_live
        self._max_items = max_items
        self._leading = leading
        self._taken: list[tuple[InvocationStatus, list[bytes]]] = []
        self.commits = 0
        self.failed: BaseException | None = None
        """Why a commit failed (fenced, Kafka down): the processor stops."""

    @property
    def pending(self) -> bool:
        return bool(self._taken)

    def eligible(self, st: InvocationStatus, journal: list[bytes] | None) -> bool:
        """Whether the started attempt of ``st`` may run batched: a subscription's fresh
        invocation (input only) of a handler that runs inline, reading its state eagerly."""
        target = st.target
        return (
            journal is not None
            and st.source == InvocationSource.SUBSCRIPTION
            and target.kind in BATCHED_KINDS
            and target.handler != SET_STATE_HANDLER
            and not self._machine.services.lazy_state(st)
            and self._invoker.can_run_inline(target.service, target.handler)
        )

    def take(self, st: InvocationStatus, journal: list[bytes] | None) -> bool:
        """Called for a ``StartAttempt`` about to start: True if it runs batched."""
        if journal is None or not self.eligible(st, journal):
            return False
        self._taken.append((st, journal))
        return True

    async def flush(self) -> None:
        """Run the taken attempts (and the calls queued behind them) and commit them."""
        taken, self._taken = self._taken, []
        if not self._leading():
            return  # deposed meanwhile: the next owner starts them
        machine = self._machine
        oks = {st.object_key for st, _ in taken if st.object_key is not None}
        loaded = await asyncio.gather(*(machine.states.read(ok) for ok in oks if ok is not None))
        states = dict(zip([ok for ok in oks if ok is not None], loaded, strict=True))
        items: list[records.BatchItem] = []
        for st, journal in taken:
            if len(items) >= self._max_items:  # one record holds at most max_items
                self._commit(items)
                items = []
            ok = st.object_key
            state = dict(states[ok]) if ok is not None else None
            head = _attempt(st, st.attempt, journal, state)
            try:
                end = self._invoker.run_inline(self._host, head, queued=False)
            except Exception:
                log.exception("partition %d: inline run failed", machine.partition)
                self._start_live(st, journal)
                continue
            if end is None:
                continue  # blocked: goes on live
            items.append(_item(st.invocation_id, st.attempt, journal, end, -1))
            if ok is not None and st.takes_lock and end.failure is None:
                self._run_queued(ok, len(items) - 1, end.state, items)
        if items:
            self._commit(items)

    def _commit(self, items: list[records.BatchItem]) -> None:
        fut = self._committer.commit(records.BatchCommit(self._host.epoch, items))
        fut.add_done_callback(self._committed)

    def _run_queued(
        self,
        ok: tuple[str, str],
        pred: int,
        state: dict[str, bytes] | None,
        items: list[records.BatchItem],
    ) -> None:
        """Run the calls queued for ``ok`` behind item ``pred``, each on the state the one
        before ended with, while they are eligible, end cleanly and the batch has room."""
        machine = self._machine
        q = machine.inboxes.get(ok)
        if not q:
            return
        for inv_id in list(q):
            nxt = machine.active.get(inv_id)
            if nxt is None or nxt.status is not Status.INBOXED:
                continue  # skipped by the hand-off too
            first = machine.first_journal.get(inv_id)
            if (
                len(items) >= self._max_items
                or first is None
                or nxt.journal_len != 1
                or nxt.target.kind != TargetKind.EXCLUSIVE
                or not self.eligible(nxt, [first])
            ):
                return
            number = nxt.attempt + SPEC_STEP
            attempt = _attempt(nxt, number, [first], dict(state or {}))
            try:
                end = self._invoker.run_inline(self._host, attempt, queued=True)
            except Exception:
                log.exception("partition %d: inline run failed", machine.partition)
                return
            if end is None:
                return  # blocked: runs on the normal path when it gets the lock
            items.append(_item(inv_id, number, [first], end, pred))
            if end.failure is not None:
                return
            pred, state = len(items) - 1, end.state

    def _committed(self, fut: asyncio.Future[None]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            log.warning("partition %d: batch commit failed: %s", self._machine.partition, exc)
            self.failed = exc
            return
        self.commits += 1


def _attempt(
    st: InvocationStatus, number: int, journal: list[bytes], state: dict[str, bytes] | None
) -> Attempt:
    return Attempt(
        st.invocation_id,
        number,
        st.target,
        st.headers,
        st.idempotency_key,
        st.retry_count,
        journal,
        state,
    )


def _item(
    inv_id: str, attempt: int, journal: list[bytes], end: InlineEnd, after: int
) -> records.BatchItem:
    return records.BatchItem(inv_id, attempt, end.entries, len(journal), after, end.failure)
