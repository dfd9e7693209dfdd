"""Framing of the service protocol: 8-byte headers and a streaming frame decoder.

Owns the byte layout of a frame (NEVER CHANGE: it is the protocol's)::

    | type: u16 | flags: u16 | length: u32 | payload: length bytes (protobuf) |

big-endian, with flag bit 0x8000 meaning "requested ack". The payload is parsed by
the ``protobuf`` package; this module never reads varints itself. It knows nothing
of HTTP (``transport``) or of rt's journal (``translate``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from google.protobuf.message import DecodeError, Message

from sdk._protocol.errors import ProtocolViolationError
from sdk._protocol.messages import (
    CUSTOM_TYPE_MIN,
    MessageType,
    allows_ack,
    message_class,
    message_type_of,
)

HEADER_SIZE = 8
REQUESTED_ACK_FLAG = 0x8000
DEFAULT_MAX_FRAME_LENGTH = 64 * 1024 * 1024
"""Largest payload accepted by default; a garbage header must not make us buffer forever."""

_HEADER = struct.Struct(">HHI")


@dataclass(frozen=True, slots=True)
class Frame:
    """One message on the wire: its type, flags and undecoded protobuf payload."""

    type: MessageType
    flags: int
    payload: bytes

    @property
    def requested_ack(self) -> bool:
        """The sender asks to be told when this command or proposal is durable."""
        return bool(self.flags & REQUESTED_ACK_FLAG) and allows_ack(self.type)

    def decode(self) -> Message:
        """Parse the payload into the protobuf message of the frame's type.

        Raises:
            ProtocolViolationError: the payload is not a valid message of that type.
        """
        message = message_class(self.type)()
        try:
            message.ParseFromString(self.payload)
        except DecodeError as e:
            raise ProtocolViolationError(
                f"cannot decode a {self.type.name} message ({len(self.payload)} bytes): {e}"
            ) from None
        return message

    def encode(self) -> bytes:
        """The frame's bytes: header then payload."""
        return _HEADER.pack(self.type.value, self.flags, len(self.payload)) + self.payload


def encode_message(
    message: Message, *, kind: MessageType | None = None, requested_ack: bool = False
) -> bytes:
    """Frame one protobuf message.

    Args:
        message: the message to send.
        kind: the frame type; required for notifications (one protobuf class serves
            every notification kind), derived from the class otherwise.
        requested_ack: set the requested-ack flag.

    Returns:
        Header and payload, ready to write to the stream.
    """
    ty = kind if kind is not None else message_type_of(message)
    flags = REQUESTED_ACK_FLAG if requested_ack else 0
    return Frame(ty, flags, message.SerializeToString()).encode()


class FrameDecoder:
    """Turns a byte stream, fed in arbitrary chunks, into frames.

    Example:
        >>> decoder = FrameDecoder()
        >>> frames = decoder.feed(chunk)  # doctest: +SKIP
    """

    def __init__(self, *, max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH) -> None:
        self._buffer = bytearray()
        self._max = max_frame_length

    @property
    def buffered(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return every frame they complete, in order.

        Raises:
            ProtocolViolationError: an unknown or custom message type, or a frame
                longer than the limit (garbage on the stream).
        """
        self._buffer += data
        frames: list[Frame] = []
        offset = 0
        buf = self._buffer
        while len(buf) - offset >= HEADER_SIZE:
            type_id, flags, length = _HEADER.unpack_from(buf, offset)
            ty = _message_type(type_id)
            if length > self._max:
                raise ProtocolViolationError(
                    f"frame of type {ty.name} announces {length} bytes, more than the "
                    f"{self._max} bytes rt accepts: the stream is not Restate's protocol"
                )
            end = offset + HEADER_SIZE + length
            if len(buf) < end:
                break
            frames.append(Frame(ty, flags, bytes(buf[offset + HEADER_SIZE : end])))
            offset = end
        if offset:
            del buf[:offset]
        return frames


def _message_type(type_id: int) -> MessageType:
    try:
        return MessageType(type_id)
    except ValueError:
        kind = "custom entry" if type_id >= CUSTOM_TYPE_MIN else "message type"
        raise ProtocolViolationError(
            f"unknown {kind} 0x{type_id:04X} on the stream: not a message of Restate's "
            "service protocol that rt supports"
        ) from None
