"""The endpoint side of one attempt: protocol frames <-> rt's journal (pure, no I/O).

Owns what ``sdk.app`` makes of the bytes of ``POST /invoke/...``: the ``StartMessage``
and the journal the runtime replays (commands and notifications, translated into rt's
journal for the driver), the notifications and acks that arrive live on a
bidirectional stream, and the frames answering what the driver produced (commands,
eager state reads, run proposals, suspension, error, end). It numbers completions
with :class:`~sdk._protocol.translate.JournalTranslator`, so the endpoint and the
runtime agree on every completion id. HTTP is ``sdk._server``'s; see
``docs/decisions/0021-remote-sdk-and-builtins.md`` §2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec

from sdk import _ids
from sdk._engine import SIGNAL_WAKE
from sdk._journal import (
    NOTIFICATION_TYPES,
    CallCommand,
    CancelSignal,
    Command,
    Completion,
    Failure,
    GetStateCommand,
    GetStateKeysCommand,
    InputCommand,
    JournalEntry,
    NamedSignal,
    Notification,
    Result,
    RunCommand,
    SendCommand,
    StateKeys,
    Value,
    Void,
)
from sdk._protocol.errors import ProtocolViolationError
from sdk._protocol.framing import Frame, FrameDecoder, encode_message
from sdk._protocol.generated import service_protocol_pb2 as pb
from sdk._protocol.messages import BUILTIN_SIGNAL_CANCEL, FIRST_USER_SIGNAL, MessageType
from sdk._protocol.progress import CalleeRef
from sdk._protocol.translate import (
    JournalTranslator,
    _eager_read,
    _failure,
    _fill_failure,
    _to_protocol,
)

UNSUPPORTED_FEATURE_CODE = 573
"""ErrorMessage code for a journal entry rt's SDK cannot run yet (never silently wrong)."""


@dataclass(frozen=True)
class Received:
    """What live frames mean for the driver: notifications to feed, and run results made
    durable (every proposed ``ctx.run`` result acknowledged)."""

    notifications: tuple[Notification, ...] = ()
    durable: bool = False


class EndpointSession:
    """One attempt seen from the endpoint; feed it the request bytes as they arrive.

    Args:
        version: the negotiated invocation-protocol version (5-7).
    """

    def __init__(self, version: int) -> None:
        self.version = version
        self.start: pb.StartMessage | None = None
        self.journal: list[JournalEntry] = []
        """rt's journal of the replay, for the driver (only before it runs)."""
        self._decoder = FrameDecoder()
        self._translator = JournalTranslator(self._callee_id)
        self._positions: list[int] = []
        """Journal position of each command."""
        self._to_replay = 0
        self._proposed: set[int] = set()
        """Commands whose ``ctx.run`` result was proposed and is not acknowledged yet."""

    # -- the request --------------------------------------------------------

    @property
    def replayed(self) -> bool:
        """The start message and every replayed entry have arrived."""
        return self.start is not None and self._to_replay == 0

    @property
    def invocation_id(self) -> str:
        """The invocation's id as text (``debug_id``; rt and Restate send ``inv_...``)."""
        assert self.start is not None
        return self.start.debug_id or self.start.id.decode(errors="replace")

    @property
    def random_seed(self) -> int:
        """The seed of ``ctx.random()``: the runtime's from v6, else derived from the id."""
        assert self.start is not None
        if self.version >= 6:
            return self.start.random_seed
        return int.from_bytes(hashlib.sha256(self.invocation_id.encode()).digest()[:8], "big")

    def feed(self, data: bytes) -> list[Frame]:
        """Take request bytes; the replay is absorbed, later frames are returned (live).

        Raises:
            ProtocolViolationError: no start message first, garbage, a replayed entry
                that cannot be part of a journal.
            UnsupportedFeatureError: an entry rt's SDK cannot run yet.
        """
        live: list[Frame] = []
        for frame in self._decoder.feed(data):
            if self.start is None:
                if frame.type is not MessageType.START:
                    raise ProtocolViolationError(
                        f"the request starts with {frame.type.name}, not a StartMessage"
                    )
                start = frame.decode()
                assert isinstance(start, pb.StartMessage)
                if start.known_entries == 0:
                    raise ProtocolViolationError("the StartMessage announces no Input command")
                self.start = start
                self._to_replay = start.known_entries
            elif self._to_replay:
                self._to_replay -= 1
                self._replay(frame)
            else:
                live.append(frame)
        return live

    def _replay(self, frame: Frame) -> None:
        ty = frame.type
        if ty is MessageType.INPUT_COMMAND:
            msg = frame.decode()
            assert isinstance(msg, pb.InputCommandMessage)
            command = InputCommand(
                headers={h.key: h.value for h in msg.headers}, body=msg.value.content
            )
            try:
                self._translator.register(command)
            except ValueError as e:
                raise ProtocolViolationError(str(e)) from None
            self._append(command)
        elif ty.is_command:
            if not self._translator.commands:
                raise ProtocolViolationError(f"the journal starts with {ty.name}, not Input")
            entries, _ = self._translator.command(frame)
            self._append(*entries)
        elif ty.is_notification:
            notification = self._notification(frame, replay=True)
            if notification is not None:
                self.journal.append(notification)
        else:
            raise ProtocolViolationError(f"{ty.name} cannot be part of a replayed journal")

    def _append(self, *entries: JournalEntry) -> None:
        for entry in entries:
            if not isinstance(entry, NOTIFICATION_TYPES):
                self._positions.append(len(self.journal))
            self.journal.append(entry)

    def _callee_id(self, ref: CalleeRef) -> str:
        """A call's id until its invocation-id notification says otherwise (as in process)."""
        if ref.idempotency_key is not None:
            return _ids.idempotent_invocation_id(
                ref.service, ref.handler, ref.key, ref.idempotency_key
            )
        return _ids.child_invocation_id(self.invocation_id, ref.command_index, ref.service, ref.key)

    def receive(self, frames: Iterable[Frame]) -> Received:
        """Translate frames that arrived after the replay (bidirectional streaming).

        Raises:
            ProtocolViolationError: a message the runtime does not send mid-attempt, or
                a completion of nothing.
        """
        notifications: list[Notification] = []
        acked = False
        for frame in frames:
            ty = frame.type
            if ty is MessageType.PROPOSE_RUN_COMPLETION_ACK:
                msg = frame.decode()
                assert isinstance(msg, pb.ProposeRunCompletionAckMessage)
                self._proposed.discard(self._translator.slot(msg.completion_id)[0])
                acked = True
            elif ty is MessageType.COMMAND_ACK:
                continue
            elif ty.is_notification:
                notification = self._notification(frame, replay=False)
                if notification is not None:
                    notifications.append(notification)
                elif not self._proposed:
                    acked = True
            else:
                raise ProtocolViolationError(f"the runtime sent {ty.name} during the attempt")
        return Received(tuple(notifications), durable=acked and not self._proposed)

    def _notification(self, frame: Frame, *, replay: bool) -> Notification | None:
        msg = frame.decode()
        assert isinstance(msg, pb.NotificationMessage)
        which = msg.WhichOneof("id")
        if which == "signal_id":
            if msg.signal_id == BUILTIN_SIGNAL_CANCEL:
                return CancelSignal()
            if msg.signal_id < FIRST_USER_SIGNAL:
                raise ProtocolViolationError(f"signal {msg.signal_id} is reserved")
            # An awakeable of this invocation (ADR 0021 §2): negative, never a command.
            return Completion(-msg.signal_id, _result(msg))
        if which == "signal_name":
            # Kept in the driver's journal; no ctx.signal waits for it here (ADR 0027).
            result = _result(msg)
            if isinstance(result, StateKeys):
                raise ProtocolViolationError("a named signal carrying state keys")
            return NamedSignal(msg.signal_name, result)
        if which != "completion_id":
            raise ProtocolViolationError("a notification without completion id or signal")
        index, is_invocation_id = self._translator.slot(msg.completion_id)
        if is_invocation_id:
            if replay and msg.WhichOneof("result") == "invocation_id":
                self._learn_invocation_id(index, msg.invocation_id)
            return None
        if not replay and index in self._proposed:
            # v5/v6 acknowledge a proposed run result with its completion: the driver
            # already holds the result.
            self._proposed.discard(index)
            return None
        return Completion(index, _result(msg))

    def _learn_invocation_id(self, index: int, invocation_id: str) -> None:
        position = self._positions[index]
        command = self.journal[position]
        if isinstance(command, CallCommand | SendCommand):
            updated = msgspec.structs.replace(command, invocation_id=invocation_id)
            self.journal[position] = updated
            self._translator.replace_command(index, updated)

    # -- the response ---------------------------------------------------------

    def answer(self, entries: Sequence[JournalEntry]) -> bytes:
        """Frames for what the driver produced: commands (eager reads with their value)
        and ``ctx.run`` results as proposals.

        Raises:
            ValueError: an entry with no protocol counterpart (a driver bug).
        """
        out: list[bytes] = []
        i = 0
        while i < len(entries):
            entry = entries[i]
            i += 1
            if isinstance(entry, CancelSignal | NamedSignal):
                continue
            if isinstance(entry, Completion):
                out.append(self._proposal(entry))
                continue
            if isinstance(entry, InputCommand):
                continue  # always replayed: the runtime sends it
            index, ids = self._translator.register(entry)
            nxt = entries[i] if i < len(entries) else None
            if (
                isinstance(entry, GetStateCommand | GetStateKeysCommand)
                and isinstance(nxt, Completion)
                and nxt.command_index == index
            ):
                out.append(_eager_read(entry, nxt.result))
                i += 1
                continue
            out.append(encode_message(_to_protocol(entry, ids)))
        return b"".join(out)

    def _proposal(self, completion: Completion) -> bytes:
        index = completion.command_index
        command: Command | None = (
            self._translator.commands[index]
            if 0 <= index < len(self._translator.commands)
            else None
        )
        result_id = self._translator.result_id(index)
        if not isinstance(command, RunCommand) or result_id is None:
            raise ValueError(f"the driver completed command {index} itself, which is not a run")
        msg = pb.ProposeRunCompletionMessage(result_completion_id=result_id)
        result = completion.result
        if isinstance(result, Value):
            msg.value = result.data
        elif isinstance(result, Failure):
            _fill_failure(msg.failure, result)
        else:
            raise ValueError(f"a run result is a value or a failure, not {result!r}")
        self._proposed.add(index)
        return encode_message(msg, requested_ack=self.version >= 7)

    def suspension(self, awaiting: Iterable[int], named: Mapping[int, str] | None = None) -> bytes:
        """The ``SuspensionMessage``: the handler waits for any of ``awaiting`` (command
        indices; negative ones are awakeable signals, or the named signals ``named`` maps
        them to), an unacknowledged run result, or the cancellation signal."""
        completions: set[int] = set()
        signals = {BUILTIN_SIGNAL_CANCEL}  # cancellation always wakes it, as in other SDKs
        names: set[str] = set()
        named = named or {}
        for index in {*awaiting, *self._proposed}:
            if index == SIGNAL_WAKE:
                continue
            if index in named:
                names.add(named[index])
                continue
            if index < 0:
                signals.add(-index)
                continue
            result_id = self._translator.result_id(index)
            if result_id is not None:
                completions.add(result_id)
        msg = pb.SuspensionMessage(
            waiting_completions=sorted(completions),
            waiting_signals=sorted(signals),
            waiting_named_signals=sorted(names),
        )
        if self.version >= 7:
            msg.awaiting_on.CopyFrom(
                pb.Future(
                    waiting_completions=sorted(completions),
                    waiting_signals=sorted(signals),
                    waiting_named_signals=sorted(names),
                    combinator_type=pb.FIRST_COMPLETED,
                )
            )
        return encode_message(msg)

    @staticmethod
    def error(
        code: int,
        message: str,
        *,
        stacktrace: str | None = None,
        command_index: int | None = None,
        retry_after_ms: int | None = None,
    ) -> bytes:
        """An ``ErrorMessage``: the attempt failed (the runtime retries by its policy)."""
        msg = pb.ErrorMessage(code=code, message=message, stacktrace=stacktrace or "")
        if command_index is not None:
            msg.related_command_index = command_index
        if retry_after_ms is not None:
            msg.next_retry_delay = retry_after_ms
        return encode_message(msg)

    @staticmethod
    def end() -> bytes:
        """The ``EndMessage``: the invocation is complete."""
        return encode_message(pb.EndMessage())


def _result(msg: pb.NotificationMessage) -> Result:
    match msg.WhichOneof("result"):
        case "void":
            return Void()
        case "value":
            return Value(msg.value.content)
        case "failure":
            return _failure(msg.failure)
        case "state_keys":
            return StateKeys([k.decode() for k in msg.state_keys.keys])
    raise ProtocolViolationError("a notification without a result")
