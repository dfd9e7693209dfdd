"""Moved to the SDK (``sdk._protocol``, seam :mod:`sdk.protocol`); kept so imports work."""

from sdk.protocol import (
    BUILTIN_SIGNAL_CANCEL,
    CUSTOM_TYPE_MIN,
    FIRST_USER_SIGNAL,
    CommandMessage,
    MessageType,
    allows_ack,
    message_class,
    message_type_of,
)

__all__ = [
    "BUILTIN_SIGNAL_CANCEL",
    "CUSTOM_TYPE_MIN",
    "FIRST_USER_SIGNAL",
    "CommandMessage",
    "MessageType",
    "allows_ack",
    "message_class",
    "message_type_of",
]
