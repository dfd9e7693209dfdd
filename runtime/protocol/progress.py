"""Moved to the SDK (``sdk._protocol``, seam :mod:`sdk.protocol`); kept so imports work."""

from sdk.protocol import (
    FINAL_PROGRESS,
    AttemptFailed,
    AttemptNotification,
    AttemptProgress,
    AttemptStart,
    AwaitTree,
    CalleeIds,
    CalleeRef,
    Combinator,
    Ended,
    ErrorBehavior,
    NewEntries,
    RunProposal,
    Signal,
    Suspended,
)

__all__ = [
    "FINAL_PROGRESS",
    "AttemptFailed",
    "AttemptNotification",
    "AttemptProgress",
    "AttemptStart",
    "AwaitTree",
    "CalleeIds",
    "CalleeRef",
    "Combinator",
    "Ended",
    "ErrorBehavior",
    "NewEntries",
    "RunProposal",
    "Signal",
    "Suspended",
]
