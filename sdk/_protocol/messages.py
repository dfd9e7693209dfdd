"""Message type ids of Restate's service protocol and the protobuf class of each.

Owns the table type id <-> message class (the ids are the protocol's, fixed by its
specification: NEVER CHANGE them) and which types may carry the requested-ack flag.
It does not frame bytes (``framing``) nor translate messages to rt's journal
(``translate``).
"""

from __future__ import annotations

import enum
from typing import TypeAlias

from google.protobuf.message import Message

from sdk._protocol.generated import service_protocol_pb2 as pb


class MessageType(enum.IntEnum):
    """The 16-bit type id in a frame header."""

    START = 0x0000
    SUSPENSION = 0x0001
    ERROR = 0x0002
    END = 0x0003
    COMMAND_ACK = 0x0004
    PROPOSE_RUN_COMPLETION = 0x0005
    AWAITING_ON = 0x0006
    PROPOSE_RUN_COMPLETION_ACK = 0x0007

    INPUT_COMMAND = 0x0400
    OUTPUT_COMMAND = 0x0401
    GET_LAZY_STATE_COMMAND = 0x0402
    SET_STATE_COMMAND = 0x0403
    CLEAR_STATE_COMMAND = 0x0404
    CLEAR_ALL_STATE_COMMAND = 0x0405
    GET_LAZY_STATE_KEYS_COMMAND = 0x0406
    GET_EAGER_STATE_COMMAND = 0x0407
    GET_EAGER_STATE_KEYS_COMMAND = 0x0408
    GET_PROMISE_COMMAND = 0x0409
    PEEK_PROMISE_COMMAND = 0x040A
    COMPLETE_PROMISE_COMMAND = 0x040B
    SLEEP_COMMAND = 0x040C
    CALL_COMMAND = 0x040D
    ONE_WAY_CALL_COMMAND = 0x040E
    SEND_SIGNAL_COMMAND = 0x0410
    RUN_COMMAND = 0x0411
    ATTACH_INVOCATION_COMMAND = 0x0412
    GET_INVOCATION_OUTPUT_COMMAND = 0x0413
    COMPLETE_AWAKEABLE_COMMAND = 0x0414

    GET_LAZY_STATE_COMPLETION = 0x8002
    GET_LAZY_STATE_KEYS_COMPLETION = 0x8006
    GET_PROMISE_COMPLETION = 0x8009
    PEEK_PROMISE_COMPLETION = 0x800A
    COMPLETE_PROMISE_COMPLETION = 0x800B
    SLEEP_COMPLETION = 0x800C
    CALL_COMPLETION = 0x800D
    CALL_INVOCATION_ID_COMPLETION = 0x800E
    RUN_COMPLETION = 0x8011
    ATTACH_INVOCATION_COMPLETION = 0x8012
    GET_INVOCATION_OUTPUT_COMPLETION = 0x8013
    SIGNAL_NOTIFICATION = 0xFBFF

    @property
    def is_command(self) -> bool:
        """Commands occupy 0x0400-0x7FFF."""
        return 0x0400 <= self.value < 0x8000

    @property
    def is_notification(self) -> bool:
        """Notifications occupy 0x8000-0xFBFF."""
        return 0x8000 <= self.value < 0xFC00


CUSTOM_TYPE_MIN = 0xFC00
"""Type ids from here on are SDK-defined custom entries (rt does not accept them)."""

BUILTIN_SIGNAL_CANCEL = 1
"""Signal index of the built-in cancellation signal."""

FIRST_USER_SIGNAL = 17
"""Signal indices 1-16 are reserved; SDKs number awakeables from 17."""


CommandMessage: TypeAlias = (
    pb.InputCommandMessage
    | pb.OutputCommandMessage
    | pb.GetLazyStateCommandMessage
    | pb.SetStateCommandMessage
    | pb.ClearStateCommandMessage
    | pb.ClearAllStateCommandMessage
    | pb.GetLazyStateKeysCommandMessage
    | pb.GetEagerStateCommandMessage
    | pb.GetEagerStateKeysCommandMessage
    | pb.GetPromiseCommandMessage
    | pb.PeekPromiseCommandMessage
    | pb.CompletePromiseCommandMessage
    | pb.SleepCommandMessage
    | pb.CallCommandMessage
    | pb.OneWayCallCommandMessage
    | pb.SendSignalCommandMessage
    | pb.RunCommandMessage
    | pb.AttachInvocationCommandMessage
    | pb.GetInvocationOutputCommandMessage
    | pb.CompleteAwakeableCommandMessage
)

_CLASSES: dict[MessageType, type[Message]] = {
    MessageType.START: pb.StartMessage,
    MessageType.SUSPENSION: pb.SuspensionMessage,
    MessageType.ERROR: pb.ErrorMessage,
    MessageType.END: pb.EndMessage,
    MessageType.COMMAND_ACK: pb.CommandAckMessage,
    MessageType.PROPOSE_RUN_COMPLETION: pb.ProposeRunCompletionMessage,
    MessageType.AWAITING_ON: pb.AwaitingOnMessage,
    MessageType.PROPOSE_RUN_COMPLETION_ACK: pb.ProposeRunCompletionAckMessage,
    MessageType.INPUT_COMMAND: pb.InputCommandMessage,
    MessageType.OUTPUT_COMMAND: pb.OutputCommandMessage,
    MessageType.GET_LAZY_STATE_COMMAND: pb.GetLazyStateCommandMessage,
    MessageType.SET_STATE_COMMAND: pb.SetStateCommandMessage,
    MessageType.CLEAR_STATE_COMMAND: pb.ClearStateCommandMessage,
    MessageType.CLEAR_ALL_STATE_COMMAND: pb.ClearAllStateCommandMessage,
    MessageType.GET_LAZY_STATE_KEYS_COMMAND: pb.GetLazyStateKeysCommandMessage,
    MessageType.GET_EAGER_STATE_COMMAND: pb.GetEagerStateCommandMessage,
    MessageType.GET_EAGER_STATE_KEYS_COMMAND: pb.GetEagerStateKeysCommandMessage,
    MessageType.GET_PROMISE_COMMAND: pb.GetPromiseCommandMessage,
    MessageType.PEEK_PROMISE_COMMAND: pb.PeekPromiseCommandMessage,
    MessageType.COMPLETE_PROMISE_COMMAND: pb.CompletePromiseCommandMessage,
    MessageType.SLEEP_COMMAND: pb.SleepCommandMessage,
    MessageType.CALL_COMMAND: pb.CallCommandMessage,
    MessageType.ONE_WAY_CALL_COMMAND: pb.OneWayCallCommandMessage,
    MessageType.SEND_SIGNAL_COMMAND: pb.SendSignalCommandMessage,
    MessageType.RUN_COMMAND: pb.RunCommandMessage,
    MessageType.ATTACH_INVOCATION_COMMAND: pb.AttachInvocationCommandMessage,
    MessageType.GET_INVOCATION_OUTPUT_COMMAND: pb.GetInvocationOutputCommandMessage,
    MessageType.COMPLETE_AWAKEABLE_COMMAND: pb.CompleteAwakeableCommandMessage,
}
_TYPES: dict[type[Message], MessageType] = {cls: ty for ty, cls in _CLASSES.items()}


def message_class(ty: MessageType) -> type[Message]:
    """The protobuf class of a frame of type ``ty`` (all notifications share one)."""
    if ty.is_notification:
        return pb.NotificationMessage
    return _CLASSES[ty]


def message_type_of(message: Message) -> MessageType:
    """The type id of a control or command message (notifications need their kind)."""
    return _TYPES[type(message)]


def allows_ack(ty: MessageType) -> bool:
    """Whether a frame of this type may carry the requested-ack flag."""
    return ty.is_command or ty is MessageType.PROPOSE_RUN_COMPLETION
