"""The contract between the HTTP ingress and the rest of the runtime.

The ingress parses and validates HTTP; everything durable happens behind this
protocol (Kafka produce, waiting for the result on Redis pub/sub). Keeping the
boundary explicit lets the ingress be tested alone and run as its own process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class InvocationRequest:
    service: str
    handler: str
    key: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Failure:
    code: int
    message: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvocationOutcome:
    """The final result of an invocation: ``value`` (raw bytes) or ``failure``."""

    invocation_id: str
    value: bytes | None = None
    failure: Failure | None = None
    content_type: str = "application/json"
    idempotency_expires_ms: int | None = None
    """For an idempotent call: when its stored result expires (the ``idempotency-expires``
    response header); None otherwise."""


class SendStatus(StrEnum):
    ACCEPTED = "Accepted"
    PREVIOUSLY_ACCEPTED = "PreviouslyAccepted"


@dataclass(frozen=True)
class SendResult:
    invocation_id: str
    status: SendStatus
    execution_time_ms: int | None = None


class OutputStatus(StrEnum):
    READY = "ready"
    NOT_READY = "not_ready"  # 470
    NOT_FOUND = "not_found"  # 404


@dataclass(frozen=True)
class OutputResult:
    status: OutputStatus
    outcome: InvocationOutcome | None = None


class DuplicateWorkflowRun(Exception):
    """A *call* of a workflow's run handler for an id that already ran (HTTP 409)."""


class ShuttingDown(Exception):
    """The node stops before the outcome of an accepted invocation is known (HTTP 503).

    The invocation goes on; the caller may attach to it or retry with its idempotency key.
    """

    def __init__(self, invocation_id: str) -> None:
        """Create the error for the invocation ``invocation_id``."""
        super().__init__(f"shutting down while {invocation_id} runs")
        self.invocation_id = invocation_id


class IngressBackend(Protocol):
    async def call(self, request: InvocationRequest) -> InvocationOutcome:
        """Submit durably and wait for the outcome (no polling).

        Raises DuplicateWorkflowRun for a second call of a workflow's run.
        """
        ...

    async def send(self, request: InvocationRequest, delay_ms: int | None) -> SendResult:
        """Submit durably and return once the invocation is in the log."""
        ...

    async def attach(self, invocation_id: str) -> OutputResult:
        """Wait for completion (NOT_FOUND if unknown); READY with the outcome."""
        ...

    async def output(self, invocation_id: str) -> OutputResult:
        """Peek: READY, NOT_READY (470) or NOT_FOUND (404)."""
        ...

    async def resolve_awakeable(self, awakeable_id: str, value: bytes) -> None:
        """Append the completion (to any well-formed id, as Restate: the owner drops a
        completion for an invocation it does not know, or one already completed)."""
        ...

    async def reject_awakeable(self, awakeable_id: str, message: str) -> None:
        """Append the failure (to any well-formed id, as ``resolve_awakeable``)."""
        ...
