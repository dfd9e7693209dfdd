"""The partition's side of the invoker contract: it hosts attempts and runs their effects.

:class:`PartitionHost` is what an invoker sees of a partition
(:class:`runtime.partition.contract.AttemptHost`), and it turns the machine's
attempt effects (start, notify, applied, abort, adopt, drop a speculation)
into calls of the :class:`~runtime.partition.contract.Invoker`. Calls go one
way at a time: the host calls the invoker and the invoker returns; the invoker
calls the host and the host returns (a speculation is offered to the invoker,
which starts it itself).

Owns the hand-over of attempts; may not compute a transition (the machine
does), write Redis, or run a handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from runtime.log import records
from runtime.partition import effects as E
from runtime.partition.answers import Answers
from runtime.partition.batching import BatchRunner
from runtime.partition.contract import Attempt, Invoker
from runtime.partition.machine import PartitionMachine
from runtime.partition.status import InvocationStatus, Outcome, Status


def attempt_of(st: InvocationStatus, journal: list[bytes] | None) -> Attempt:
    """The current attempt of ``st`` as an invoker gets it."""
    return Attempt(
        st.invocation_id,
        st.attempt,
        st.target,
        st.headers,
        st.idempotency_key,
        st.retry_count,
        journal,
        deployment=st.deployment,
    )


class PartitionHost:
    """Hosts the attempts of one partition's invocations (an :class:`AttemptHost`).

    Args:
        machine: The partition's machine (its view decides what may start).
        invoker: Runs the attempts.
        answers: Answers ingress callers.
        append: Appends a record to the partition's log.
        load_journal: Reads an invocation's applied journal.
        epoch: The owner's epoch.
        leading: Whether the owner leads (only the leader runs attempts).
    """

    def __init__(
        self,
        machine: PartitionMachine,
        invoker: Invoker,
        answers: Answers,
        *,
        append: Callable[[records.Record], asyncio.Future[int]],
        load_journal: Callable[[str], Awaitable[list[bytes]]],
        epoch: Callable[[], int],
        leading: Callable[[], bool],
    ) -> None:
        self._machine = machine
        self._invoker = invoker
        self._answers = answers
        self._append = append
        self._load_journal = load_journal
        self._epoch = epoch
        self._leading = leading
        self.batch: BatchRunner | None = None
        """Batched execution (ADR 0020): takes the attempts that run batched."""

    # ------------------------------------------------------------------ AttemptHost

    @property
    def epoch(self) -> int:
        return self._epoch()

    def append(self, record: records.Record) -> asyncio.Future[int]:
        return self._append(record)

    async def load_journal(self, invocation_id: str) -> list[bytes]:
        return await self._load_journal(invocation_id)

    async def object_state(self, service: str, key: str) -> Mapping[str, bytes]:
        return await self._machine.states.read((service, key))

    def answer_early(self, invocation_id: str, outcome: Outcome) -> None:
        st = self._machine.active.get(invocation_id)
        if st is not None:
            self._answers.early(invocation_id, st.ingress_sinks, outcome)

    def offer_speculation(
        self, invocation_id: str, attempt: int, state: dict[str, bytes]
    ) -> Attempt | None:
        """See ADR 0013: nothing of the offered attempt is visible before the machine
        adopts it at the holder's end (no early answer; its records are rejected
        otherwise)."""
        if not self._leading():
            return None
        offer = self._machine.handoff.offer(invocation_id, attempt, state)
        if offer is None:
            return None
        st = offer.status
        return Attempt(
            st.invocation_id,
            offer.attempt,
            st.target,
            st.headers,
            st.idempotency_key,
            st.retry_count,
            offer.journal,
            offer.state,
            offer.pred,
        )

    def speculation_started(self, attempt: Attempt) -> None:
        ok = attempt.object_key
        assert ok is not None and attempt.after is not None, "not an offered speculation"
        self._machine.handoff.started(ok, attempt.invocation_id, attempt.number, attempt.after)

    # ------------------------------------------------------------------ effects

    def effect_handlers(self) -> dict[type, Callable[[Any], None]]:
        """How the machine's attempt effects run (the processor runs the others)."""
        return {
            E.StartAttempt: self.start,
            E.Notify: self.notify,
            E.AttemptApplied: self.applied,
            E.AbortAttempt: self.abort,
            E.Adopt: self.adopt,
            E.DropSpeculation: self.drop,
        }

    def start(self, e: E.StartAttempt) -> None:
        self._start(e.invocation_id, e.attempt)

    def start_all(self) -> None:
        """The owner leads: resume every attempt the previous owner left running."""
        for st in list(self._machine.active.values()):
            if st.status is Status.INVOKED:
                self._start(st.invocation_id, st.attempt)

    def _start(self, invocation_id: str, attempt: int) -> None:
        if not self._leading():
            return
        starting = self._machine.attempt_starting(invocation_id, attempt)
        if starting is None:
            return
        st, journal, dropped = starting
        for spec in dropped:  # it runs again: its end is not clean
            self._invoker.abort_attempt(spec.invocation_id, spec.attempt)
        if self.batch is not None and self.batch.take(st, journal):
            return
        self.start_live(st, journal)

    def start_live(self, st: InvocationStatus, journal: list[bytes] | None) -> None:
        """Start the current attempt of ``st`` as a live attempt of the invoker."""
        self._invoker.start(self, attempt_of(st, journal))

    def notify(self, e: E.Notify) -> None:
        if self._leading():
            self._invoker.notify(e.invocation_id, e.attempt, [e.entry])

    def applied(self, e: E.AttemptApplied) -> None:
        self._invoker.applied(e.invocation_id, e.attempt, e.journal_len)

    def abort(self, e: E.AbortAttempt) -> None:
        self._invoker.abort(e.invocation_id)

    def adopt(self, e: E.Adopt) -> None:
        """The speculative attempt is the invocation's attempt. If it has died meanwhile
        it left its record (end, failure or suspension) in the log; if it has ended, it
        returned the state it ended with: the next call may start on it."""
        st = self._machine.active.get(e.invocation_id)
        if not self._leading() or st is None:
            return
        ended_with = self._invoker.adopt(e.invocation_id, e.attempt)
        if ended_with is None or st.status is not Status.INVOKED or st.attempt != e.attempt:
            return
        nxt = self.offer_speculation(e.invocation_id, e.attempt, ended_with)
        if nxt is not None and self._invoker.speculate(self, nxt):
            self.speculation_started(nxt)

    def drop(self, e: E.DropSpeculation) -> None:
        self._invoker.abort_attempt(e.invocation_id, e.attempt)

    def abort_all(self) -> None:
        """The owner stops: stop every attempt of its invocations."""
        for invocation_id in list(self._machine.active):
            self._invoker.abort(invocation_id)
