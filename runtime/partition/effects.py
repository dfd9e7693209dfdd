"""What the partition machine hands back for one batch: Redis ops and effects, as data.

The machine (``runtime.partition.machine``) turns a batch of log records into
:class:`Batch`: the ops the processor applies to Redis in one atomic call, and
the effects it runs once that apply has returned (invariant 4: nothing is
visible before the record that caused it is durable and applied). Effects run
in the order they were emitted. This module is data only: it may not run an
effect, and holds no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from runtime.log import records
from runtime.partition.answers import ResponseStatus
from runtime.partition.egress_outbox import EgressItem
from runtime.partition.status import InvocationStatus, Outcome
from runtime.state.store import Op


class BecomeLeader(msgspec.Struct, frozen=True):
    """This owner's ``AnnounceLeader`` is applied: resume what the previous owner left."""


class StartAttempt(msgspec.Struct, frozen=True):
    """Start attempt ``attempt`` of an INVOKED invocation, if it is still its current one."""

    invocation_id: str
    attempt: int


class Notify(msgspec.Struct, frozen=True):
    """Feed a journaled notification to the live attempt ``attempt`` (if it runs here)."""

    invocation_id: str
    attempt: int
    entry: bytes


class AttemptApplied(msgspec.Struct, frozen=True):
    """The attempt's entries up to ``journal_len`` are applied (``ctx.run`` results may be
    observed from now on: invariant 5)."""

    invocation_id: str
    attempt: int
    journal_len: int


class AbortAttempt(msgspec.Struct, frozen=True):
    """Stop whatever attempt of the invocation runs here (killed, completed, replayed)."""

    invocation_id: str


class Adopt(msgspec.Struct, frozen=True):
    """The speculative attempt ``attempt`` is now the invocation's attempt (ADR 0013)."""

    invocation_id: str
    attempt: int


class DropSpeculation(msgspec.Struct, frozen=True):
    """The speculation ``attempt`` of the invocation did not hold: stop it (ADR 0013)."""

    invocation_id: str
    attempt: int


class Respond(msgspec.Struct, frozen=True):
    """Answer one ingress caller that is not waiting for a result (or gets one now)."""

    sink: records.IngressSink
    invocation_id: str
    outcome: Outcome | None = None
    status: ResponseStatus = ResponseStatus.DONE


class Answer(msgspec.Struct, frozen=True):
    """The invocation completed: answer its ingress callers (those answered early are not
    answered twice)."""

    invocation_id: str
    sinks: list[records.IngressSink]
    outcome: Outcome


class Produce(msgspec.Struct, frozen=True):
    """Produce an outbox record to another partition (``field`` of the outbox hash)."""

    field: str
    partition: int
    key: bytes
    record: records.Record
    seq: int


class QueueEgress(msgspec.Struct, frozen=True):
    """An applied egress record joins the in-memory outbox the egress sender reads."""

    field: str
    item: EgressItem


class EgressApplied(msgspec.Struct, frozen=True):
    """An ``EgressDone`` carrying ``token`` is applied (the egress sender waits for it)."""

    token: str


class DeadLetter(msgspec.Struct, frozen=True):
    """Produce the dead letter stored under ``field`` (a failed subscription invocation)."""

    field: str
    blob: bytes


Effect = (
    BecomeLeader
    | StartAttempt
    | Notify
    | AttemptApplied
    | AbortAttempt
    | Adopt
    | DropSpeculation
    | Respond
    | Answer
    | Produce
    | QueueEgress
    | EgressApplied
    | DeadLetter
)


@dataclass(slots=True)
class Tally:
    """What a batch did, counted for the node's metrics once it is applied (data only)."""

    invoked: list[records.Target] = field(default_factory=list)
    """Targets of the invocations created (duplicates of existing ones excluded)."""
    completed: list[InvocationStatus] = field(default_factory=list)
    """The invocations completed (their outcome set)."""
    attempts_failed: list[records.Target] = field(default_factory=list)
    """Targets of the current attempts that failed."""
    journal_entries: int = 0
    """Journal entries appended."""


@dataclass(slots=True)
class Batch:
    """The outcome of computing one batch of records."""

    ops: list[Op] = field(default_factory=list)
    """Redis ops, applied atomically with the batch's last offset."""
    effects: list[Effect] = field(default_factory=list)
    """Run in order once the ops are applied."""
    state_keys: set[tuple[str, str]] = field(default_factory=set)
    """Objects whose state the ops write (the state cache must not keep a read racing them)."""
    tally: Tally = field(default_factory=Tally)
    """Counted for the metrics after the apply (never read by the machine)."""
