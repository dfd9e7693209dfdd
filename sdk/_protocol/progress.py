"""What a remote attempt reports, and what it takes beyond rt's journal types.

Owns the data types of a runtime-side attempt (``runtime.protocol.RemoteAttempt``):
the progress items an attempt yields (:class:`NewEntries`, :class:`RunProposal`, and
exactly one of :class:`Suspended`, :class:`AttemptFailed`, :class:`Ended` last), the
description of an attempt to start (:class:`AttemptStart`) and :class:`Signal`, the
one notification the protocol has that rt's journal cannot record yet.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeAlias

from sdk._journal import (
    Completion,
    Failure,
    JournalEntry,
    Notification,
    OutputCommand,
    Value,
    Void,
)


@dataclass(frozen=True)
class Signal:
    """A signal for the invocation: by index (awakeables, from 17) or by name.

    Remote SDKs (protocol v5+) create awakeables without a journal command: an
    awakeable is signal ``index`` of its invocation, resolved by a signal
    notification. rt's journal has no such notification yet (only
    :class:`~sdk.engine.CancelSignal`, which is signal 1), so this type exists only
    at the protocol layer until the journal gains one.
    """

    index: int | None = None
    name: str | None = None
    result: Value | Void | Failure = field(default_factory=Void)

    def __post_init__(self) -> None:
        if (self.index is None) == (self.name is None):
            raise ValueError("a Signal has exactly one of index and name")


AttemptNotification: TypeAlias = Notification | Signal
"""What :meth:`RemoteAttempt.notify` delivers."""


@dataclass(frozen=True)
class CalleeRef:
    """A call or send the endpoint just issued, for choosing the callee's invocation id."""

    command_index: int
    service: str
    handler: str
    key: str | None
    idempotency_key: str | None


CalleeIds: TypeAlias = Callable[[CalleeRef], str]
"""Gives the invocation id of a call/send target (rt derives ids deterministically)."""


@dataclass(frozen=True)
class AttemptStart:
    """Everything an attempt needs to know about the invocation.

    Attributes:
        invocation_id: rt's invocation id (``inv_...``).
        service: target service.
        handler: target handler.
        key: object/workflow key, None for plain services.
        journal: the journal so far, rt entries, ``InputCommand`` first; empty for a
            first attempt (then ``input``/``headers`` build the Input command, which the
            attempt reports as its first new entry).
        callee_ids: invocation ids for the calls and sends the endpoint issues.
        random_seed: seed of the handler's deterministic random.
        state: eager state (the object's whole state), or None for lazy state (the
            endpoint asks for each key).
        retry_count: attempts since the journal last grew.
        idempotency_key: the invocation's idempotency key, if any.
        input: request body for a first attempt.
        headers: request headers for a first attempt.
        since_last_entry: time since the journal last grew.
        inactivity_timeout: this handler's inactivity timeout (None: the endpoint's default).
        abort_timeout: this handler's abort timeout (None: the endpoint's default).
    """

    invocation_id: str
    service: str
    handler: str
    key: str | None
    journal: Sequence[JournalEntry | Signal]
    callee_ids: CalleeIds
    random_seed: int = 0
    state: Mapping[str, bytes] | None = None
    retry_count: int = 0
    idempotency_key: str | None = None
    input: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    since_last_entry: timedelta = timedelta(0)
    inactivity_timeout: timedelta | None = None
    abort_timeout: timedelta | None = None


# ---------------------------------------------------------------------------
# Progress.


@dataclass(frozen=True)
class NewEntries:
    """Journal entries the endpoint produced, to append in order.

    Commands, plus the completions of state reads it answered from eager state.

    Attributes:
        entries: the entries.
        position: journal position of the first one.
        ack_requested: command indices among them the endpoint wants acknowledged
            (:meth:`RemoteAttempt.ack_command`) once durable.
    """

    entries: tuple[JournalEntry, ...]
    position: int
    ack_requested: tuple[int, ...] = ()


@dataclass(frozen=True)
class RunProposal:
    """A ``ctx.run`` result: make :attr:`completion` durable, then :meth:`RemoteAttempt.ack`.

    The handler does not go past the run before the ack (output commit).
    """

    command_index: int
    completion_id: int
    result: Value | Failure
    requested_ack: bool

    @property
    def completion(self) -> Completion:
        """The journal entry recording the result."""
        return Completion(self.command_index, self.result)


class Combinator(enum.Enum):
    """How a suspended handler combines what it awaits (protocol v7)."""

    FIRST_COMPLETED = 1
    ALL_COMPLETED = 2
    FIRST_SUCCEEDED_OR_ALL_FAILED = 3
    ALL_SUCCEEDED_OR_FIRST_FAILED = 4


@dataclass(frozen=True)
class AwaitTree:
    """An await point: leaves are command indices and signals, nodes combine them."""

    combinator: Combinator
    commands: tuple[int, ...] = ()
    signals: tuple[int, ...] = ()
    named_signals: tuple[str, ...] = ()
    nested: tuple[AwaitTree, ...] = ()


@dataclass(frozen=True)
class Suspended:
    """The endpoint suspended; resume (a new attempt) when something awaited arrives.

    Attributes:
        awaiting: command indices whose completion it waits for.
        signals: signal indices it waits for (1 is cancellation, which always counts).
        named_signals: signal names it waits for.
        awaiting_on: the await point as a tree (protocol v7; None for v5/v6).
        ready: it waits for a call/send's invocation id, which a new attempt receives
            at once: resume now.
    """

    awaiting: frozenset[int]
    signals: frozenset[int] = frozenset()
    named_signals: frozenset[str] = frozenset()
    awaiting_on: AwaitTree | None = None
    ready: bool = False


class ErrorBehavior(enum.Enum):
    """What the endpoint asks the runtime to do after a failed attempt (v7)."""

    RETRY = 0
    PAUSE = 1
    FAIL = 2


@dataclass(frozen=True)
class AttemptFailed:
    """The endpoint failed the attempt (``ErrorMessage``); the journal so far is kept.

    Attributes:
        code: HTTP-like status; 570 journal mismatch, 571 protocol violation.
        message: what went wrong.
        stacktrace: the endpoint's stack trace, if it sent one.
        command_index: the command the failure relates to, if known.
        command_name: that command's display name, if any.
        command_type: that command's protocol message type id, if known.
        retry_after: the endpoint's delay before the next attempt, overriding the
            retry policy once.
        behavior: retry (default), pause, or fail the invocation.
    """

    code: int
    message: str
    stacktrace: str = ""
    command_index: int | None = None
    command_name: str | None = None
    command_type: int | None = None
    retry_after: timedelta | None = None
    behavior: ErrorBehavior = ErrorBehavior.RETRY


@dataclass(frozen=True)
class Ended:
    """The invocation is complete (``EndMessage``); ``output`` is its Output command."""

    output: OutputCommand | None


AttemptProgress: TypeAlias = NewEntries | RunProposal | Suspended | AttemptFailed | Ended
"""What iterating a :class:`RemoteAttempt` yields; the last item is one of the final three."""

FINAL_PROGRESS = (Suspended, AttemptFailed, Ended)
