"""Moved to the SDK (``sdk._protocol``, seam :mod:`sdk.protocol`); kept so imports work."""

from sdk.protocol import (
    JournalTranslator,
    attempt_failed,
)

__all__ = [
    "JournalTranslator",
    "attempt_failed",
]
