"""Moved to the SDK (``sdk._protocol``, seam :mod:`sdk.protocol`); kept so imports work."""

from sdk.protocol import SIGNAL_AWAKEABLE_PREFIX as AWAKEABLE_PREFIX
from sdk.protocol import parse_signal_awakeable_id, signal_awakeable_id

__all__ = ["AWAKEABLE_PREFIX", "parse_signal_awakeable_id", "signal_awakeable_id"]
