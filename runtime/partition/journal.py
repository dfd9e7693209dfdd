"""What the partition machine needs to know about SDK journal entries.

The journal format belongs to the SDK (``sdk._journal``); this module maps each
entry to its partition-side effect (state writes, timers, calls, promises...)
so the machine's transition code reads as a small ``match``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.log.records import Failure as RecordFailure
from runtime.partition.status import Outcome
from sdk import engine as sj
from sdk.ids import InvalidIdError as InvalidIdError  # (re-exported: ids of journal entries)
from sdk.ids import parse_awakeable_id, parse_invocation_id

CANCEL_INDEX = -1
"""Pseudo command index of the built-in cancel signal."""

SIGNAL_WAKE = sj.SIGNAL_WAKE
"""Pseudo index in a suspension's ``awaiting``: any named signal resumes the invocation.
In an invocation's ``completed``: a named signal was journaled since its last suspension."""

decode = sj.decode_entry
is_command = sj.is_command
Completion = sj.Completion


def valid_invocation_id(text: str) -> bool:
    """A handler-supplied id that can be routed (a bad one must not crash the partition)."""
    try:
        parse_invocation_id(text)
    except InvalidIdError:
        return False
    return True


def input_entry(headers: dict[str, str], body: bytes) -> bytes:
    return sj.encode_entry(sj.InputCommand(headers=dict(headers), body=body))


def notification_entry(index: int, value: bytes | None, failure: RecordFailure | None) -> bytes:
    """The journal blob of a completion (or of the cancel signal for CANCEL_INDEX)."""
    if index == CANCEL_INDEX:
        return sj.encode_entry(sj.CancelSignal())
    result: sj.Result
    if failure is not None:
        result = sj.Failure(failure.code, failure.message, dict(failure.metadata))
    elif value:
        result = sj.Value(value)
    else:
        result = sj.Void()
    return sj.encode_entry(sj.Completion(index, result))


def signal_entry(
    name: str, value: bytes | None, failure: RecordFailure | None, signal_id: str = ""
) -> bytes:
    """The journal blob of a named signal that arrived for the invocation."""
    result: sj.Value | sj.Void | sj.Failure
    if failure is not None:
        result = sj.Failure(failure.code, failure.message, dict(failure.metadata))
    elif value is not None:
        result = sj.Value(value)
    else:
        result = sj.Void()
    return sj.encode_entry(sj.NamedSignal(name, result, signal_id))


def _split(result: sj.ValueOrFailure) -> tuple[bytes | None, RecordFailure | None]:
    if isinstance(result, sj.Failure):
        return None, RecordFailure(result.code, result.message, dict(result.metadata))
    return result.data, None


@dataclass(frozen=True)
class SetState:
    key: str
    value: bytes


@dataclass(frozen=True)
class ClearState:
    key: str


@dataclass(frozen=True)
class ClearAllState:
    pass


@dataclass(frozen=True)
class Output:
    outcome: Outcome


@dataclass(frozen=True)
class CallOrSend:
    service: str
    handler: str
    key: str | None
    param: bytes
    invocation_id: str
    send: bool
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    invoke_time_ms: int | None = None


@dataclass(frozen=True)
class Sleep:
    wake_up_ms: int


@dataclass(frozen=True)
class CompleteAwakeable:
    target_id: str
    target_index: int
    value: bytes | None
    failure: RecordFailure | None


@dataclass(frozen=True)
class SendSignal:
    target_id: str
    name: str
    value: bytes | None
    failure: RecordFailure | None


@dataclass(frozen=True)
class CancelInvocation:
    target_id: str


@dataclass(frozen=True)
class GetPromise:
    name: str


@dataclass(frozen=True)
class PeekPromise:
    name: str


@dataclass(frozen=True)
class CompletePromise:
    name: str
    value: bytes | None
    failure: RecordFailure | None


@dataclass(frozen=True)
class Awakeable:
    """The command creates an awakeable: only its index may be completed by an awakeable id."""


@dataclass(frozen=True)
class AttachInvocation:
    target_id: str
    peek: bool


@dataclass(frozen=True)
class GetState:
    key: str


@dataclass(frozen=True)
class GetStateKeys:
    pass


def state_keys_entry(index: int, keys: list[str]) -> bytes:
    """The completion of a lazy ``state_keys()``."""
    return sj.encode_entry(sj.Completion(index, sj.StateKeys(sorted(keys))))


@dataclass(frozen=True)
class Emit:
    """A Kafka egress record: goes to the partition's egress outbox."""

    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


Effect = (
    SetState
    | ClearState
    | ClearAllState
    | Output
    | CallOrSend
    | Sleep
    | CompleteAwakeable
    | SendSignal
    | CancelInvocation
    | GetPromise
    | PeekPromise
    | CompletePromise
    | GetState
    | GetStateKeys
    | Awakeable
    | AttachInvocation
    | Emit
    | None
)


def effect_of(entry: sj.JournalEntry) -> Effect:
    """The partition-side effect of a journal entry (None: journal-only)."""
    match entry:
        case sj.SetStateCommand(key=k, value=v):
            return SetState(k, v)
        case sj.ClearStateCommand(key=k):
            return ClearState(k)
        case sj.ClearAllStateCommand():
            return ClearAllState()
        case sj.OutputCommand(result=r):
            value, failure = _split(r)
            return Output(Outcome(value=value if failure is None else None, failure=failure))
        case sj.CallCommand() | sj.SendCommand():
            return CallOrSend(
                entry.service,
                entry.handler,
                entry.key,
                entry.param,
                entry.invocation_id,
                isinstance(entry, sj.SendCommand),
                dict(entry.headers),
                entry.idempotency_key,
                entry.invoke_time_ms if isinstance(entry, sj.SendCommand) else None,
            )
        case sj.SleepCommand(wake_up_time_ms=t):
            return Sleep(t)
        case sj.CompleteAwakeableCommand(id=aid, result=r):
            try:
                inv_id, index = parse_awakeable_id(aid)
            except InvalidIdError:
                return None  # completes nothing, like an unknown awakeable
            value, failure = _split(r)
            return CompleteAwakeable(inv_id, index, value, failure)
        case sj.CancelInvocationCommand(invocation_id=tid):
            return CancelInvocation(tid)
        case sj.SendSignalCommand(invocation_id=tid, name=n, result=r):
            value, failure = _split(r)
            return SendSignal(tid, n, value, failure)
        case sj.GetPromiseCommand(name=n):
            return GetPromise(n)
        case sj.PeekPromiseCommand(name=n):
            return PeekPromise(n)
        case sj.CompletePromiseCommand(name=n, result=r):
            value, failure = _split(r)
            return CompletePromise(n, value, failure)
        case sj.GetStateCommand(key=k):
            return GetState(k)
        case sj.GetStateKeysCommand():
            return GetStateKeys()
        case sj.AwakeableCommand():
            return Awakeable()
        case sj.AttachInvocationCommand(invocation_id=tid):
            return AttachInvocation(tid, peek=False)
        case sj.GetInvocationOutputCommand(invocation_id=tid):
            return AttachInvocation(tid, peek=True)
        case sj.EmitCommand(topic=t, key=k, value=v, headers=h):
            return Emit(t, k, v, dict(h))
        case _:
            return None
