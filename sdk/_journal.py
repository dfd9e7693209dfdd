"""The journal: commands issued by handler code and notifications completing them.

NEVER CHANGE a class name (it is the msgpack/JSON tag) or remove a field: journals
are persisted in Kafka records and Redis and replayed by newer SDKs. Add optional
fields with defaults only. ``tests/unit/sdk/test_journal_format.py`` pins the
encoding. The format is described in ``docs/decisions/0003-journal-and-replay-engine.md``.

A journal is an ordered list mixing

- **commands**, numbered by *command index* (0, 1, 2, ... in the order the
  handler issued them; index 0 is always :class:`InputCommand`), and
- **notifications**: :class:`Completion` (the result of command N) and
  :class:`CancelSignal`,

in exactly the order the runtime durably recorded them. Payloads are ``bytes``
produced by the handler's serdes; the runtime never decodes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

import msgspec

# ---------------------------------------------------------------------------
# Results carried by completions and by completing commands.


class Value(msgspec.Struct, frozen=True, tag=True):
    """A successful result: the serialized value."""

    data: bytes


class Void(msgspec.Struct, frozen=True, tag=True):
    """A successful result without a value (sleep fired, promise completed, state absent)."""


class Failure(msgspec.Struct, frozen=True, tag=True, omit_defaults=True):
    """A terminal failure: surfaces as ``TerminalError(message, code, metadata)``."""

    code: int
    message: str
    metadata: dict[str, str] = {}


class StateKeys(msgspec.Struct, frozen=True, tag=True):
    """The result of :class:`GetStateKeysCommand`."""

    keys: list[str]


Result: TypeAlias = Value | Void | Failure | StateKeys
"""What a :class:`Completion` carries."""

ValueOrFailure: TypeAlias = Value | Failure
"""What a completing command (Output, CompletePromise, CompleteAwakeable) carries."""


# ---------------------------------------------------------------------------
# Commands. ``_id_fields`` lists the identifying fields compared on replay.


class _Command(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    @property
    def kind(self) -> str:
        """The command kind without the ``Command`` suffix, e.g. ``Run``."""
        return type(self).__name__.removesuffix("Command")

    def identity(self) -> tuple[Any, ...]:
        """The fields the determinism check compares (kind first)."""
        return (self.kind, *(getattr(self, f) for f in _ID_FIELDS[type(self)]))

    def describe(self) -> str:
        """``Kind(field=value, ...)`` with the identifying fields, for error messages."""
        parts = []
        for f in _ID_FIELDS[type(self)]:
            v = getattr(self, f)
            if v is None and f in _OMIT_IF_NONE:
                continue
            parts.append(f"{f}={v!r}")
        return f"{self.kind}({', '.join(parts)})"


class InputCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Command 0: the invocation's input."""

    headers: dict[str, str] = {}
    body: bytes = b""


class OutputCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """The last command: the handler's result or terminal failure."""

    result: ValueOrFailure


class GetStateCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Read state ``key``; completed by the SDK (eager) or the runtime (lazy)."""

    key: str


class SetStateCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Write state ``key``."""

    key: str
    value: bytes


class ClearStateCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Delete state ``key``."""

    key: str


class ClearAllStateCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Delete every state key of the object/workflow."""


class GetStateKeysCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """List state keys; completed with :class:`StateKeys`."""


class RunCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """A ``ctx.run`` side effect; its result is a completion produced by the SDK."""

    name: str


class CallCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """A request-response call; completed with the callee's result."""

    service: str
    handler: str
    key: str | None = None
    param: bytes = b""
    headers: dict[str, str] = {}
    idempotency_key: str | None = None
    invocation_id: str
    """The callee's invocation id, derived deterministically by the SDK."""


class SendCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """A one-way call, optionally delayed; never completed."""

    service: str
    handler: str
    key: str | None = None
    param: bytes = b""
    headers: dict[str, str] = {}
    idempotency_key: str | None = None
    invoke_time_ms: int | None = None
    """Absolute time (ms since epoch) to start the callee, or None for now."""
    invocation_id: str


class SleepCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """A durable timer; completed with :class:`Void` when it fires."""

    wake_up_time_ms: int
    name: str | None = None


class AwakeableCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """An awakeable; completed when someone resolves/rejects ``id``."""

    id: str


class CompleteAwakeableCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Resolve or reject awakeable ``id``."""

    id: str
    result: ValueOrFailure


class GetPromiseCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Wait for workflow promise ``name``; completed when it is resolved/rejected."""

    name: str


class PeekPromiseCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Peek workflow promise ``name``; completed with its value, failure, or Void."""

    name: str


class CompletePromiseCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Resolve/reject promise ``name``; completed with Void, or Failure 409 if already done."""

    name: str
    result: ValueOrFailure


class AttachInvocationCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Wait for the result of another invocation."""

    invocation_id: str


class GetInvocationOutputCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Read the result of another invocation if done (Void when not completed yet)."""

    invocation_id: str


class CancelInvocationCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Ask the runtime to cancel another invocation; never completed."""

    invocation_id: str


class SignalCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Wait for the next named signal ``name`` of this invocation (``ctx.signal``).

    Never completed by a :class:`Completion`: the k-th ``Signal`` command of a name is
    completed by the k-th :class:`NamedSignal` of that name in the journal, wherever
    it is (a signal that arrives before its waiter waits in the journal).
    """

    name: str


class SendSignalCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Resolve or reject named signal ``name`` of invocation ``invocation_id``; never completed."""

    invocation_id: str
    name: str
    result: ValueOrFailure


class EmitCommand(_Command, frozen=True, tag=True, kw_only=True, omit_defaults=True):
    """Egress (rt extension): write one record to Kafka topic ``topic``; never completed.

    Serialized by the SDK (``sdk.kafka.emit``); the runtime writes it exactly
    once after the entry is durable (``docs/decisions/0005-egress-and-pipelines.md``).
    """

    topic: str
    key: bytes | None = None
    value: bytes = b""
    headers: dict[str, bytes] = {}


Command: TypeAlias = (
    InputCommand
    | OutputCommand
    | GetStateCommand
    | SetStateCommand
    | ClearStateCommand
    | ClearAllStateCommand
    | GetStateKeysCommand
    | RunCommand
    | CallCommand
    | SendCommand
    | SleepCommand
    | AwakeableCommand
    | CompleteAwakeableCommand
    | GetPromiseCommand
    | PeekPromiseCommand
    | CompletePromiseCommand
    | AttachInvocationCommand
    | GetInvocationOutputCommand
    | CancelInvocationCommand
    | EmitCommand
    | SignalCommand
    | SendSignalCommand
)

COMMAND_TYPES: tuple[type[_Command], ...] = (
    InputCommand,
    OutputCommand,
    GetStateCommand,
    SetStateCommand,
    ClearStateCommand,
    ClearAllStateCommand,
    GetStateKeysCommand,
    RunCommand,
    CallCommand,
    SendCommand,
    SleepCommand,
    AwakeableCommand,
    CompleteAwakeableCommand,
    GetPromiseCommand,
    PeekPromiseCommand,
    CompletePromiseCommand,
    AttachInvocationCommand,
    GetInvocationOutputCommand,
    CancelInvocationCommand,
    EmitCommand,
    SignalCommand,
    SendSignalCommand,
)

_ID_FIELDS: dict[type[_Command], tuple[str, ...]] = {
    InputCommand: (),
    OutputCommand: (),
    GetStateCommand: ("key",),
    SetStateCommand: ("key",),
    ClearStateCommand: ("key",),
    ClearAllStateCommand: (),
    GetStateKeysCommand: (),
    RunCommand: ("name",),
    CallCommand: ("service", "handler", "key"),
    SendCommand: ("service", "handler", "key"),
    SleepCommand: ("name",),
    AwakeableCommand: (),
    CompleteAwakeableCommand: ("id",),
    GetPromiseCommand: ("name",),
    PeekPromiseCommand: ("name",),
    CompletePromiseCommand: ("name",),
    AttachInvocationCommand: ("invocation_id",),
    GetInvocationOutputCommand: ("invocation_id",),
    CancelInvocationCommand: ("invocation_id",),
    EmitCommand: ("topic",),
    SignalCommand: ("name",),
    SendSignalCommand: ("invocation_id", "name"),
}
_OMIT_IF_NONE = frozenset({"key", "name"})

# Commands whose completion the handler can await (the others are never completed).
COMPLETABLE: frozenset[type[_Command]] = frozenset(
    {
        GetStateCommand,
        GetStateKeysCommand,
        RunCommand,
        CallCommand,
        SleepCommand,
        AwakeableCommand,
        GetPromiseCommand,
        PeekPromiseCommand,
        CompletePromiseCommand,
        AttachInvocationCommand,
        GetInvocationOutputCommand,
        SignalCommand,
    }
)


# ---------------------------------------------------------------------------
# Notifications.


class Completion(msgspec.Struct, frozen=True, tag=True):
    """The result of command ``command_index``.

    Produced by the runtime (call results, timers, awakeables, promises, lazy
    state) or by the SDK itself (``ctx.run`` results, state read from the eager
    snapshot). When several completions name the same command (an awakeable
    resolved twice), the first one in the journal wins.
    """

    command_index: int
    result: Result


class CancelSignal(msgspec.Struct, frozen=True, tag=True):
    """The built-in cancellation signal: the handler sees ``TerminalError("cancelled", 409)``."""


class NamedSignal(msgspec.Struct, frozen=True, tag=True, omit_defaults=True):
    """Named signal ``name`` arrived for this invocation (``ctx.resolve_signal`` /
    ``reject_signal`` of some handler), journaled when it arrived.

    It completes the :class:`SignalCommand` of the same name whose rank among those
    commands equals this signal's rank among the signals of that name (first with
    first, ...), so a signal that arrives before the handler waits for it is kept.
    """

    name: str
    result: Value | Void | Failure
    id: str = ""
    """Unique per signal sent (runtime-assigned): a second delivery of the same signal to a
    live attempt (it also read it from the journal) is ignored."""


Notification: TypeAlias = Completion | CancelSignal | NamedSignal
JournalEntry: TypeAlias = Command | Notification


NOTIFICATION_TYPES = (Completion, CancelSignal, NamedSignal)
"""For ``isinstance`` on hot paths (a ``A | B`` union is built anew on every evaluation)."""


def is_command(entry: JournalEntry) -> bool:
    """True for commands, False for notifications."""
    return not isinstance(entry, NOTIFICATION_TYPES)


# ---------------------------------------------------------------------------
# Codecs. msgpack is the storage format; JSON is for golden files and debugging.

_mp_encoder = msgspec.msgpack.Encoder()
_mp_entry_decoder = msgspec.msgpack.Decoder(JournalEntry)
_mp_journal_decoder = msgspec.msgpack.Decoder(list[JournalEntry])
_json_encoder = msgspec.json.Encoder()
_json_journal_decoder = msgspec.json.Decoder(list[JournalEntry])


def encode_entry(entry: JournalEntry) -> bytes:
    """Encode one entry as msgpack (what the runtime stores per entry)."""
    return _mp_encoder.encode(entry)


def decode_entry(data: bytes) -> JournalEntry:
    """Decode one msgpack entry; raises ``msgspec.DecodeError`` / ``ValidationError``."""
    entry: JournalEntry = _mp_entry_decoder.decode(data)
    return entry


def encode_journal(entries: Iterable[JournalEntry]) -> bytes:
    """Encode a whole journal as one msgpack array."""
    return _mp_encoder.encode(list(entries))


def decode_journal(data: bytes) -> list[JournalEntry]:
    """Decode a msgpack array written by :func:`encode_journal`."""
    return _mp_journal_decoder.decode(data)


def journal_to_json(entries: Iterable[JournalEntry]) -> bytes:
    """Encode a journal as JSON (payloads base64)."""
    return _json_encoder.encode(list(entries))


def journal_from_json(data: bytes | str) -> list[JournalEntry]:
    """Decode a JSON journal written by :func:`journal_to_json`."""
    return _json_journal_decoder.decode(data)
