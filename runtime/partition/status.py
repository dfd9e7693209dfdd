"""Invocation status: the one table the partition processor keeps per invocation.

Every status change goes through :meth:`InvocationStatus.move`, which refuses
illegal transitions, so a bug shows up as a clear error instead of a corrupt
state machine. Encoded with msgspec (stored in Redis); NEVER CHANGE field
order — add new fields at the end, with defaults.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from runtime.log.records import (
    CallerSink,
    Failure,
    FailureDetail,
    IngressSink,
    InvocationSource,
    Target,
    TargetKind,
)


class Status(StrEnum):
    SCHEDULED = "scheduled"  # delayed send waiting for its timer; holds no lock
    INBOXED = "inboxed"  # waiting for the object key's lock
    INVOKED = "invoked"  # an attempt is (or is about to be) running
    SUSPENDED = "suspended"  # no attempt running; waiting for a completion
    BACKING_OFF = "backing-off"  # failed attempt, next one at retry_at_ms
    PAUSED = "paused"  # paused by an operator, or retries exhausted (on_max_attempts="pause")
    COMPLETED = "completed"


_LEGAL: dict[Status, frozenset[Status]] = {
    Status.SCHEDULED: frozenset({Status.INBOXED, Status.INVOKED, Status.COMPLETED}),
    Status.INBOXED: frozenset({Status.INVOKED, Status.COMPLETED}),
    Status.INVOKED: frozenset(
        {Status.INVOKED, Status.SUSPENDED, Status.BACKING_OFF, Status.PAUSED, Status.COMPLETED}
    ),
    Status.SUSPENDED: frozenset({Status.INVOKED, Status.PAUSED, Status.COMPLETED}),
    Status.BACKING_OFF: frozenset({Status.INVOKED, Status.PAUSED, Status.COMPLETED}),
    Status.PAUSED: frozenset({Status.INVOKED, Status.COMPLETED}),
    Status.COMPLETED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A status change the state machine does not allow (a bug, never user error)."""


class Outcome(msgspec.Struct, frozen=True, array_like=True):
    value: bytes | None = None
    failure: Failure | None = None


class InvocationStatus(msgspec.Struct, array_like=True):
    invocation_id: str
    target: Target
    status: Status
    created_ms: int
    modified_ms: int
    source: str = InvocationSource.INGRESS
    idempotency_key: str | None = None
    headers: dict[str, str] = {}
    ingress_sinks: list[IngressSink] = []
    caller: CallerSink | None = None
    send: bool = False
    execute_at_ms: int | None = None
    inbox_seq: int = 0
    attempt: int = 0
    """Number of the current/last attempt (1-based); records of other attempts are ignored."""
    journal_len: int = 0
    awaiting: list[int] = []
    retry_count: int = 0
    retry_at_ms: int | None = None
    last_failure: Failure | None = None
    outcome: Outcome | None = None
    completed_ms: int | None = None
    retention_ms: int = 0
    parent_id: str | None = None
    cancel_requested: bool = False
    commands: int = 0
    """Commands journaled so far (the next command's index)."""
    completed: list[int] = []
    """Command indexes that already have a completion (duplicates are ignored)."""
    state_update: dict[str, bytes] | None = None
    """For the internal ``__rt_set_state`` pseudo-invocation: the new state map."""
    calls: dict[int, str] = {}
    """In-flight request-response calls (command index -> callee id): a kill kills them too."""
    awakeables: list[int] = []
    """Command indexes of the invocation's awakeables (what an awakeable id may complete)."""
    attachers: list[CallerSink] = []
    """Invocations waiting for this one's result (``ctx.attach_invocation``)."""
    dlq: str | None = None
    """Dead-letter topic of a subscription invocation (see ``records.Invoke.dlq``)."""
    deployment: str | None = None
    """The deployment the invocation is pinned to (``records.PinDeployment``); None until
    an attempt journals something. Every later attempt runs there."""
    last_failure_detail: FailureDetail | None = None
    """Stack trace and related command of ``last_failure``, with the journal's length then."""
    restarted_from: str | None = None
    """The completed invocation this one was restarted from (restart as new)."""
    signal_ids: list[str] = []
    """Ids of the named signals journaled (``records.Signal.id``): a re-sent one is dropped."""

    def move(self, to: Status, now_ms: int) -> None:
        if to not in _LEGAL[self.status]:
            raise IllegalTransition(
                f"invocation {self.invocation_id}: {self.status.value} -> {to.value} is not allowed"
            )
        self.status = to
        self.modified_ms = now_ms

    @property
    def object_key(self) -> tuple[str, str] | None:
        """(service, key) for keyed targets."""
        if self.target.key is None:
            return None
        return (self.target.service, self.target.key)

    @property
    def takes_lock(self) -> bool:
        """Exclusive object handlers serialize per key; shared handlers and services do not."""
        return self.target.kind == TargetKind.EXCLUSIVE


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(InvocationStatus)


def encode_status(s: InvocationStatus) -> bytes:
    return _enc.encode(s)


def decode_status(data: bytes) -> InvocationStatus:
    return _dec.decode(data)
