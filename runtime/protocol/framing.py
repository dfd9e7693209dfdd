"""Moved to the SDK (``sdk._protocol``, seam :mod:`sdk.protocol`); kept so imports work."""

from sdk.protocol import (
    DEFAULT_MAX_FRAME_LENGTH,
    HEADER_SIZE,
    REQUESTED_ACK_FLAG,
    Frame,
    FrameDecoder,
    encode_message,
)

__all__ = [
    "DEFAULT_MAX_FRAME_LENGTH",
    "HEADER_SIZE",
    "REQUESTED_ACK_FLAG",
    "Frame",
    "FrameDecoder",
    "encode_message",
]
