"""Translation between rt's journal entries and the protocol's messages, per attempt.

Owns the correspondence rt journal <-> protocol v5-v7 (table in
``docs/decisions/0018-service-protocol.md``): one rt command per protocol command,
so command indices agree; completions named by command index in rt and by
completion id on the wire. rt does not store completion ids: they are reconstructed
from the commands in journal order the way SDKs allocate them (from 1: two for a
call, one for every other completable command, including a state read answered
eagerly), and every new command's ids are checked against that reconstruction, so
an SDK that numbers differently fails loudly instead of replaying wrongly.

The callee's invocation id, which rt keeps in the Call/Send command, reaches the
endpoint as the protocol's invocation-id notification, sent right after the command
(live and on replay). Pure: no I/O.

Longer than our usual ~600 lines on purpose: it is one table read in both directions
(:class:`JournalTranslator` and ``_to_protocol``/``_to_rt`` per command kind, then the
field helpers they share); split in two, each row of the correspondence would live in
two files that must change together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from google.protobuf.message import Message

from sdk._journal import (
    AttachInvocationCommand,
    AwakeableCommand,
    CallCommand,
    CancelInvocationCommand,
    CancelSignal,
    ClearAllStateCommand,
    ClearStateCommand,
    Command,
    CompleteAwakeableCommand,
    CompletePromiseCommand,
    Completion,
    EmitCommand,
    Failure,
    GetInvocationOutputCommand,
    GetPromiseCommand,
    GetStateCommand,
    GetStateKeysCommand,
    InputCommand,
    JournalEntry,
    NamedSignal,
    OutputCommand,
    PeekPromiseCommand,
    Result,
    RunCommand,
    SendCommand,
    SendSignalCommand,
    SetStateCommand,
    SignalCommand,
    SleepCommand,
    StateKeys,
    Value,
    ValueOrFailure,
    Void,
)
from sdk._protocol.errors import ProtocolViolationError, UnsupportedFeatureError
from sdk._protocol.framing import Frame, encode_message
from sdk._protocol.generated import service_protocol_pb2 as pb
from sdk._protocol.messages import BUILTIN_SIGNAL_CANCEL, MessageType
from sdk._protocol.progress import (
    AttemptFailed,
    AwaitTree,
    CalleeIds,
    CalleeRef,
    Combinator,
    ErrorBehavior,
    RunProposal,
    Signal,
    Suspended,
)

# Completion kind of each completable rt command: the notification type on the wire
# and the results it may carry.
_COMPLETIONS: dict[type[Command], tuple[MessageType, tuple[type[Result], ...]]] = {
    GetStateCommand: (MessageType.GET_LAZY_STATE_COMPLETION, (Void, Value)),
    GetStateKeysCommand: (MessageType.GET_LAZY_STATE_KEYS_COMPLETION, (StateKeys,)),
    GetPromiseCommand: (MessageType.GET_PROMISE_COMPLETION, (Value, Failure)),
    PeekPromiseCommand: (MessageType.PEEK_PROMISE_COMPLETION, (Void, Value, Failure)),
    CompletePromiseCommand: (MessageType.COMPLETE_PROMISE_COMPLETION, (Void, Failure)),
    SleepCommand: (MessageType.SLEEP_COMPLETION, (Void,)),
    CallCommand: (MessageType.CALL_COMPLETION, (Value, Failure)),
    RunCommand: (MessageType.RUN_COMPLETION, (Value, Failure)),
    AttachInvocationCommand: (MessageType.ATTACH_INVOCATION_COMPLETION, (Value, Failure)),
    GetInvocationOutputCommand: (
        MessageType.GET_INVOCATION_OUTPUT_COMPLETION,
        (Void, Value, Failure),
    ),
}
_NEVER_COMPLETED = (
    InputCommand,
    OutputCommand,
    SetStateCommand,
    ClearStateCommand,
    ClearAllStateCommand,
    CompleteAwakeableCommand,
    CancelInvocationCommand,
    SendSignalCommand,
)


class JournalTranslator:
    """The state of one attempt's translation: commands seen and completion ids.

    Args:
        callee_ids: gives the invocation id of each call/send target.
    """

    def __init__(self, callee_ids: CalleeIds) -> None:
        self._callee_ids = callee_ids
        self.commands: list[Command] = []
        self._slots: dict[int, tuple[int, bool]] = {}
        """completion id -> (command index, is the invocation-id notification)."""
        self._result_ids: dict[int, int] = {}
        """command index -> completion id of its result."""
        self._completed: set[int] = set()
        self._signal_ids: set[str] = set()
        self._next_id = 1

    # ------------------------------------------------------------------
    # rt -> endpoint

    def replay(self, journal: Sequence[JournalEntry | Signal]) -> list[bytes]:
        """Frames replaying ``journal`` (rt entries) to the endpoint, in order.

        A state read completed right after its command (what eager state produces)
        replays as the protocol's eager read, with the value inline.

        Raises:
            ValueError: the journal is not one a remote endpoint can have produced
                (no Input first, a completion of an unknown or never-completed
                command, a command remote SDKs never issue).
        """
        frames: list[bytes] = []
        i = 0
        while i < len(journal):
            entry = journal[i]
            if isinstance(entry, Signal | Completion | CancelSignal | NamedSignal):
                frame = self.notification(entry)
                if frame is not None:
                    frames.append(frame)
                i += 1
                continue
            command = entry
            index, ids = self._register(command)
            nxt = journal[i + 1] if i + 1 < len(journal) else None
            if (
                isinstance(command, GetStateCommand | GetStateKeysCommand)
                and isinstance(nxt, Completion)
                and nxt.command_index == index
            ):
                frames.append(_eager_read(command, nxt.result))
                self._completed.add(index)
                i += 2
                continue
            frames.append(encode_message(_to_protocol(command, ids)))
            frames.extend(self._invocation_id_frames(command, ids))
            i += 1
        return frames

    def notification(self, entry: Completion | CancelSignal | NamedSignal | Signal) -> bytes | None:
        """The frame delivering one notification; None for a duplicate completion.

        Raises:
            ValueError: a completion of an unknown command, of a command that is
                never completed, or with a result that command cannot have.
        """
        if isinstance(entry, CancelSignal):
            msg = pb.NotificationMessage(signal_id=BUILTIN_SIGNAL_CANCEL, void=pb.Void())
            return encode_message(msg, kind=MessageType.SIGNAL_NOTIFICATION)
        if isinstance(entry, NamedSignal):
            if entry.id and entry.id in self._signal_ids:
                return None  # delivered already (in the journal the attempt started with)
            self._signal_ids.add(entry.id)
            msg = pb.NotificationMessage(signal_name=entry.name)
            _set_result(msg, entry.result)
            return encode_message(msg, kind=MessageType.SIGNAL_NOTIFICATION)
        if isinstance(entry, Signal):
            msg = pb.NotificationMessage()
            if entry.index is not None:
                msg.signal_id = entry.index
            else:
                msg.signal_name = entry.name or ""
            _set_result(msg, entry.result)
            return encode_message(msg, kind=MessageType.SIGNAL_NOTIFICATION)
        index = entry.command_index
        if index in self._completed:
            return None  # the first completion of a command wins
        if not 0 <= index < len(self.commands):
            raise ValueError(f"completion of command {index}, which the journal does not have")
        command = self.commands[index]
        kind = _COMPLETIONS.get(type(command))
        if kind is None:
            raise ValueError(f"completion of {command.describe()}, which is never completed")
        ty, allowed = kind
        if not isinstance(entry.result, allowed):
            raise ValueError(
                f"{command.describe()} cannot be completed with {type(entry.result).__name__}"
            )
        self._completed.add(index)
        msg = pb.NotificationMessage(completion_id=self._result_ids[index])
        _set_result(msg, entry.result)
        return encode_message(msg, kind=ty)

    def run_ack(self, proposal: RunProposal) -> bytes:
        """The frame telling the endpoint its run result is durable."""
        self._completed.add(proposal.command_index)
        if proposal.requested_ack:
            return encode_message(
                pb.ProposeRunCompletionAckMessage(completion_id=proposal.completion_id)
            )
        msg = pb.NotificationMessage(completion_id=proposal.completion_id)
        _set_result(msg, proposal.result)
        return encode_message(msg, kind=MessageType.RUN_COMPLETION)

    # ------------------------------------------------------------------
    # endpoint -> rt

    def command(self, frame: Frame) -> tuple[list[JournalEntry], list[bytes]]:
        """Translate a command the endpoint sent.

        Returns:
            The rt journal entries (the command, plus the completion of a state read
            answered eagerly) and frames to send back (the callee's invocation id).

        Raises:
            ProtocolViolationError: malformed, or numbered unlike rt's reconstruction.
            UnsupportedFeatureError: a feature rt's journal cannot record yet.
        """
        msg = frame.decode()
        index = len(self.commands)
        command, ids, completion = _to_rt(frame.type, msg, index, self._callee_ids)
        expected = self._allocate(command)
        if ids is not None and ids != expected:
            raise ProtocolViolationError(
                f"the endpoint numbered the completions of command {index} "
                f"({command.kind}) {list(ids)}, rt expected {list(expected)}: rt rebuilds "
                "completion ids on replay and cannot follow this SDK's numbering"
            )
        self._append(command, expected)
        entries: list[JournalEntry] = [command]
        if completion is not None:
            entries.append(Completion(index, completion))
            self._completed.add(index)
        return entries, self._invocation_id_frames(command, expected)

    def run_proposal(self, frame: Frame) -> RunProposal:
        """Translate a ``ProposeRunCompletion``.

        Raises:
            ProtocolViolationError: it names no pending run of this attempt.
        """
        msg = frame.decode()
        assert isinstance(msg, pb.ProposeRunCompletionMessage)
        slot = self._slots.get(msg.result_completion_id)
        if slot is None or slot[1] or not isinstance(self.commands[slot[0]], RunCommand):
            raise ProtocolViolationError(
                f"run completion proposed for completion id {msg.result_completion_id}, "
                "which is not a ctx.run of this invocation"
            )
        if slot[0] in self._completed:
            raise ProtocolViolationError(f"run of command {slot[0]} proposed a second time")
        which = msg.WhichOneof("result")
        if which is None:
            raise ProtocolViolationError("run completion proposed without a result")
        result: Value | Failure = Value(msg.value) if which == "value" else _failure(msg.failure)
        return RunProposal(slot[0], msg.result_completion_id, result, frame.requested_ack)

    def suspension(self, frame: Frame) -> Suspended:
        """Translate a ``SuspensionMessage`` (flat lists in v5/v6, a tree in v7)."""
        msg = frame.decode()
        assert isinstance(msg, pb.SuspensionMessage)
        tree = self._tree(msg.awaiting_on) if msg.HasField("awaiting_on") else None
        completions = list(msg.waiting_completions)
        signals = set(msg.waiting_signals)
        names = set(msg.waiting_named_signals)
        if tree is not None:
            _collect(msg.awaiting_on, completions, signals, names)
        ready = any(self._slot(cid)[1] for cid in completions)
        return Suspended(
            awaiting=frozenset(self._slot(cid)[0] for cid in completions),
            signals=frozenset(signals),
            named_signals=frozenset(names),
            awaiting_on=tree,
            ready=ready,
        )

    def _tree(self, future: pb.Future) -> AwaitTree:
        combinator = future.combinator_type or pb.FIRST_COMPLETED
        return AwaitTree(
            combinator=Combinator(combinator),
            commands=tuple(self._slot(cid)[0] for cid in future.waiting_completions),
            signals=tuple(future.waiting_signals),
            named_signals=tuple(future.waiting_named_signals),
            nested=tuple(self._tree(f) for f in future.nested_futures),
        )

    def _slot(self, completion_id: int) -> tuple[int, bool]:
        slot = self._slots.get(completion_id)
        if slot is None:
            raise ProtocolViolationError(
                f"the endpoint awaits completion id {completion_id}, which no command allocated"
            )
        return slot

    # ------------------------------------------------------------------
    # The endpoint's side (``sdk.app``): the same numbering, read the other way.

    def register(self, command: Command) -> tuple[int, tuple[int, ...]]:
        """Number a command the endpoint replays or issues: (index, completion ids).

        Raises:
            ValueError: not Input first, or a command remote endpoints never issue.
        """
        return self._register(command)

    def slot(self, completion_id: int) -> tuple[int, bool]:
        """(command index, is the invocation-id notification) of a completion id.

        Raises:
            ProtocolViolationError: no command allocated this id.
        """
        return self._slot(completion_id)

    def result_id(self, index: int) -> int | None:
        """The completion id carrying the result of command ``index`` (None: never completed)."""
        return self._result_ids.get(index)

    def replace_command(self, index: int, command: Command) -> None:
        """Swap the record of command ``index`` (a call's id learnt from its notification)."""
        self.commands[index] = command

    # ------------------------------------------------------------------

    def _register(self, command: Command) -> tuple[int, tuple[int, ...]]:
        index = len(self.commands)
        if index == 0 and not isinstance(command, InputCommand):
            raise ValueError(f"the journal starts with {command.kind}, not Input")
        if isinstance(command, _UNREPLAYABLE):
            raise ValueError(
                f"the journal holds {command.describe()}, which remote endpoints never issue"
            )
        ids = self._allocate(command)
        self._append(command, ids)
        return index, ids

    def _allocate(self, command: Command) -> tuple[int, ...]:
        count = 2 if isinstance(command, CallCommand) else 1
        if isinstance(command, _NEVER_COMPLETED):
            count = 0
        return tuple(range(self._next_id, self._next_id + count))

    def _append(self, command: Command, ids: tuple[int, ...]) -> None:
        index = len(self.commands)
        self.commands.append(command)
        self._next_id += len(ids)
        if isinstance(command, CallCommand | SendCommand):
            self._slots[ids[0]] = (index, True)
        if isinstance(command, SendCommand):
            return
        if ids:
            self._slots[ids[-1]] = (index, False)
            self._result_ids[index] = ids[-1]

    def _invocation_id_frames(self, command: Command, ids: tuple[int, ...]) -> list[bytes]:
        if not isinstance(command, CallCommand | SendCommand):
            return []
        msg = pb.NotificationMessage(completion_id=ids[0], invocation_id=command.invocation_id)
        return [encode_message(msg, kind=MessageType.CALL_INVOCATION_ID_COMPLETION)]


def attempt_failed(frame: Frame) -> AttemptFailed:
    """Translate an ``ErrorMessage``."""
    msg = frame.decode()
    assert isinstance(msg, pb.ErrorMessage)
    return AttemptFailed(
        code=msg.code,
        message=msg.message,
        stacktrace=msg.stacktrace,
        command_index=msg.related_command_index if msg.HasField("related_command_index") else None,
        command_name=msg.related_command_name if msg.HasField("related_command_name") else None,
        command_type=msg.related_command_type if msg.HasField("related_command_type") else None,
        retry_after=(
            timedelta(milliseconds=msg.next_retry_delay)
            if msg.HasField("next_retry_delay")
            else None
        ),
        behavior=ErrorBehavior(msg.behavior),
    )


# ---------------------------------------------------------------------------
# Single messages.

_UNREPLAYABLE = (AwakeableCommand, EmitCommand, SignalCommand)
"""rt commands with no protocol counterpart: in-process awakeables, Kafka egress and the
in-process wait for a named signal (remote SDKs wait for the notification itself)."""


def _to_protocol(command: Command, ids: tuple[int, ...]) -> Message:
    """The protocol message of an rt command (lazy form for state reads)."""
    rid = ids[-1] if ids else 0
    match command:
        case InputCommand(headers=headers, body=body):
            return pb.InputCommandMessage(headers=_headers(headers), value=pb.Value(content=body))
        case OutputCommand(result=result):
            out = pb.OutputCommandMessage()
            _set_value_or_failure(out.value, out.failure, result)
            return out
        case GetStateCommand(key=key):
            return pb.GetLazyStateCommandMessage(key=key.encode(), result_completion_id=rid)
        case SetStateCommand(key=key, value=value):
            return pb.SetStateCommandMessage(key=key.encode(), value=pb.Value(content=value))
        case ClearStateCommand(key=key):
            return pb.ClearStateCommandMessage(key=key.encode())
        case ClearAllStateCommand():
            return pb.ClearAllStateCommandMessage()
        case GetStateKeysCommand():
            return pb.GetLazyStateKeysCommandMessage(result_completion_id=rid)
        case RunCommand(name=name):
            return pb.RunCommandMessage(result_completion_id=rid, name=name)
        case SleepCommand(wake_up_time_ms=wake, name=name):
            return pb.SleepCommandMessage(
                wake_up_time=wake, result_completion_id=rid, name=name or ""
            )
        case CallCommand():
            call = pb.CallCommandMessage(
                service_name=command.service,
                handler_name=command.handler,
                parameter=command.param,
                headers=_headers(command.headers),
                key=command.key or "",
                invocation_id_notification_idx=ids[0],
                result_completion_id=ids[1],
            )
            if command.idempotency_key is not None:
                call.idempotency_key = command.idempotency_key
            return call
        case SendCommand():
            send = pb.OneWayCallCommandMessage(
                service_name=command.service,
                handler_name=command.handler,
                parameter=command.param,
                invoke_time=command.invoke_time_ms or 0,
                headers=_headers(command.headers),
                key=command.key or "",
                invocation_id_notification_idx=ids[0],
            )
            if command.idempotency_key is not None:
                send.idempotency_key = command.idempotency_key
            return send
        case CompleteAwakeableCommand(id=awakeable_id, result=result):
            complete = pb.CompleteAwakeableCommandMessage(awakeable_id=awakeable_id)
            _set_value_or_failure(complete.value, complete.failure, result)
            return complete
        case GetPromiseCommand(name=name):
            return pb.GetPromiseCommandMessage(key=name, result_completion_id=rid)
        case PeekPromiseCommand(name=name):
            return pb.PeekPromiseCommandMessage(key=name, result_completion_id=rid)
        case CompletePromiseCommand(name=name, result=result):
            promise = pb.CompletePromiseCommandMessage(key=name, result_completion_id=rid)
            _set_value_or_failure(promise.completion_value, promise.completion_failure, result)
            return promise
        case AttachInvocationCommand(invocation_id=target):
            return pb.AttachInvocationCommandMessage(invocation_id=target, result_completion_id=rid)
        case GetInvocationOutputCommand(invocation_id=target):
            return pb.GetInvocationOutputCommandMessage(
                invocation_id=target, result_completion_id=rid
            )
        case CancelInvocationCommand(invocation_id=target):
            return pb.SendSignalCommandMessage(
                target_invocation_id=target, idx=BUILTIN_SIGNAL_CANCEL, void=pb.Void()
            )
        case SendSignalCommand(invocation_id=target, name=name, result=result):
            signal = pb.SendSignalCommandMessage(target_invocation_id=target, name=name)
            _set_value_or_failure(signal.value, signal.failure, result)
            return signal
    raise ValueError(f"{command.describe()} has no service-protocol counterpart")


def _eager_read(command: GetStateCommand | GetStateKeysCommand, result: Result) -> bytes:
    if isinstance(command, GetStateKeysCommand):
        if not isinstance(result, StateKeys):
            raise ValueError(f"GetStateKeys completed with {type(result).__name__}")
        keys = pb.StateKeys(keys=[k.encode() for k in result.keys])
        return encode_message(pb.GetEagerStateKeysCommandMessage(value=keys))
    msg = pb.GetEagerStateCommandMessage(key=command.key.encode())
    match result:
        case Value(data=data):
            msg.value.content = data
        case Void():
            msg.void.SetInParent()
        case _:
            raise ValueError(f"{command.describe()} completed with {type(result).__name__}")
    return encode_message(msg)


def _to_rt(
    ty: MessageType, msg: Message, index: int, callee_ids: CalleeIds
) -> tuple[Command, tuple[int, ...] | None, Result | None]:
    """(rt command, completion ids the message carries, eager completion) of a command."""
    _check_name(ty, msg)
    match msg:
        case pb.OutputCommandMessage():
            return OutputCommand(result=_value_or_failure(msg, "value", "failure")), (), None
        case pb.GetLazyStateCommandMessage():
            return GetStateCommand(key=_text(msg.key)), (msg.result_completion_id,), None
        case pb.GetEagerStateCommandMessage():
            which = msg.WhichOneof("result")
            if which is None:
                raise ProtocolViolationError("eager state read without a result")
            value: Result = Value(msg.value.content) if which == "value" else Void()
            return GetStateCommand(key=_text(msg.key)), None, value
        case pb.SetStateCommandMessage():
            return SetStateCommand(key=_text(msg.key), value=msg.value.content), (), None
        case pb.ClearStateCommandMessage():
            return ClearStateCommand(key=_text(msg.key)), (), None
        case pb.ClearAllStateCommandMessage():
            return ClearAllStateCommand(), (), None
        case pb.GetLazyStateKeysCommandMessage():
            return GetStateKeysCommand(), (msg.result_completion_id,), None
        case pb.GetEagerStateKeysCommandMessage():
            keys = StateKeys([_text(k) for k in msg.value.keys])
            return GetStateKeysCommand(), None, keys
        case pb.RunCommandMessage():
            return RunCommand(name=msg.name), (msg.result_completion_id,), None
        case pb.SleepCommandMessage():
            sleep = SleepCommand(wake_up_time_ms=msg.wake_up_time, name=msg.name or None)
            return sleep, (msg.result_completion_id,), None
        case pb.CallCommandMessage():
            call = CallCommand(**_call_fields(msg, index, callee_ids))
            ids = (msg.invocation_id_notification_idx, msg.result_completion_id)
            return call, ids, None
        case pb.OneWayCallCommandMessage():
            send = SendCommand(
                **_call_fields(msg, index, callee_ids), invoke_time_ms=msg.invoke_time or None
            )
            return send, (msg.invocation_id_notification_idx,), None
        case pb.SendSignalCommandMessage():
            if msg.WhichOneof("signal_id") == "idx" and msg.idx == BUILTIN_SIGNAL_CANCEL:
                return CancelInvocationCommand(invocation_id=msg.target_invocation_id), (), None
            if msg.WhichOneof("signal_id") == "name":
                signal = SendSignalCommand(
                    invocation_id=msg.target_invocation_id,
                    name=msg.name,
                    result=_signal_result(msg),
                )
                return signal, (), None
            raise UnsupportedFeatureError(
                "the endpoint completes an awakeable of another invocation by signal index "
                "(a SendSignal with idx); rt's journal cannot record that yet"
            )
        case pb.CompleteAwakeableCommandMessage():
            result = _value_or_failure(msg, "value", "failure")
            return CompleteAwakeableCommand(id=msg.awakeable_id, result=result), (), None
        case pb.GetPromiseCommandMessage():
            return GetPromiseCommand(name=msg.key), (msg.result_completion_id,), None
        case pb.PeekPromiseCommandMessage():
            return PeekPromiseCommand(name=msg.key), (msg.result_completion_id,), None
        case pb.CompletePromiseCommandMessage():
            result = _value_or_failure(msg, "completion_value", "completion_failure", "completion")
            promise = CompletePromiseCommand(name=msg.key, result=result)
            return promise, (msg.result_completion_id,), None
        case pb.AttachInvocationCommandMessage():
            attach = AttachInvocationCommand(invocation_id=_target_id(msg, "attach"))
            return attach, (msg.result_completion_id,), None
        case pb.GetInvocationOutputCommandMessage():
            output = GetInvocationOutputCommand(invocation_id=_target_id(msg, "output"))
            return output, (msg.result_completion_id,), None
        case pb.InputCommandMessage():
            raise ProtocolViolationError("the endpoint sent an Input command; only rt sends it")
    raise ProtocolViolationError(f"the endpoint sent {ty.name}, which is not a command")


_NAMED = (MessageType.RUN_COMMAND, MessageType.SLEEP_COMMAND, MessageType.SEND_SIGNAL_COMMAND)


def _check_name(ty: MessageType, msg: Message) -> None:
    name = getattr(msg, "name", "")
    if name and ty not in _NAMED:
        raise UnsupportedFeatureError(
            f"the endpoint names its {ty.name} entry {name!r}; rt's journal keeps entry "
            "names only for ctx.run and sleep, and replay would then not match"
        )


def _call_fields(
    msg: pb.CallCommandMessage | pb.OneWayCallCommandMessage, index: int, callee_ids: CalleeIds
) -> dict[str, Any]:
    """The fields a Call and a Send command share, with rt's callee invocation id."""
    if msg.HasField("scope") or msg.HasField("limit_key"):
        raise UnsupportedFeatureError(
            "the endpoint's call or send uses a scope or limit key; rt's journal cannot record them"
        )
    target = CalleeRef(
        command_index=index,
        service=msg.service_name,
        handler=msg.handler_name,
        key=msg.key or None,
        idempotency_key=msg.idempotency_key if msg.HasField("idempotency_key") else None,
    )
    return {
        "service": target.service,
        "handler": target.handler,
        "key": target.key,
        "param": msg.parameter,
        "headers": _header_dict(msg.headers),
        "idempotency_key": target.idempotency_key,
        "invocation_id": callee_ids(target),
    }


def _target_id(
    msg: pb.AttachInvocationCommandMessage | pb.GetInvocationOutputCommandMessage, what: str
) -> str:
    if msg.WhichOneof("target") != "invocation_id":
        raise UnsupportedFeatureError(
            f"the endpoint's {what} names a workflow or idempotent request; rt's journal "
            "records only an invocation id as target"
        )
    return msg.invocation_id


def _text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise UnsupportedFeatureError(
            f"state key {raw!r} is not UTF-8; rt's state keys are text"
        ) from None


def _headers(headers: dict[str, str]) -> Iterable[pb.Header]:
    return [pb.Header(key=k, value=v) for k, v in headers.items()]


def _header_dict(headers: Iterable[pb.Header]) -> dict[str, str]:
    return {h.key: h.value for h in headers}


def _failure(f: pb.Failure) -> Failure:
    return Failure(code=f.code, message=f.message, metadata={m.key: m.value for m in f.metadata})


def _fill_failure(target: pb.Failure, failure: Failure) -> None:
    target.code = failure.code
    target.message = failure.message
    target.metadata.extend(pb.FailureMetadata(key=k, value=v) for k, v in failure.metadata.items())


def _value_or_failure(
    msg: Message, value_field: str, failure_field: str, oneof: str = "result"
) -> ValueOrFailure:
    which = msg.WhichOneof(oneof)
    if which == value_field:
        value: pb.Value = getattr(msg, value_field)
        return Value(value.content)
    if which == failure_field:
        return _failure(getattr(msg, failure_field))
    raise ProtocolViolationError(f"{type(msg).__name__} carries no result")


def _signal_result(msg: pb.SendSignalCommandMessage) -> ValueOrFailure:
    """A named signal's result; ``void`` is an empty value (rt journals a value or a failure)."""
    which = msg.WhichOneof("result")
    if which == "failure":
        return _failure(msg.failure)
    if which == "value":
        return Value(msg.value.content)
    return Value(b"")


def _set_value_or_failure(value: pb.Value, failure: pb.Failure, result: ValueOrFailure) -> None:
    if isinstance(result, Value):
        value.content = result.data
        value.SetInParent()
    else:
        _fill_failure(failure, result)
        failure.SetInParent()


def _set_result(msg: pb.NotificationMessage, result: Result) -> None:
    match result:
        case Value(data=data):
            msg.value.content = data
            msg.value.SetInParent()
        case Void():
            msg.void.SetInParent()
        case Failure():
            _fill_failure(msg.failure, result)
            msg.failure.SetInParent()
        case StateKeys(keys=keys):
            msg.state_keys.keys.extend(k.encode() for k in keys)
            msg.state_keys.SetInParent()


def _collect(future: pb.Future, completions: list[int], signals: set[int], names: set[str]) -> None:
    completions.extend(future.waiting_completions)
    signals.update(future.waiting_signals)
    names.update(future.waiting_named_signals)
    for nested in future.nested_futures:
        _collect(nested, completions, signals, names)
