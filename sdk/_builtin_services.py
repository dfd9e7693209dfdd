"""The definitions of rt's built-in services, hosted in-process by every rt node (private).

See ``sdk._builtins`` for the contract (ADR 0021 §4). Each handler is ordinary SDK code
and runs on rt's in-process path, where rt-only journal commands exist.
"""

from __future__ import annotations

from typing import Any

from sdk._builtins import KAFKA_EMIT, KAFKA_SERVICE, decode_emit
from sdk._definitions import ServiceDefinition, VirtualObject
from sdk.context import ObjectContext
from sdk.exceptions import TerminalError
from sdk.kafka import RAW, emit

kafka = VirtualObject(
    KAFKA_SERVICE,
    description="rt built-in: Kafka egress for handlers behind an HTTP endpoint (ADR 0021)",
    ingress_private=True,
)


@kafka.handler(name=KAFKA_EMIT)
async def _emit(ctx: ObjectContext, record: dict[str, Any]) -> None:
    try:
        decoded = decode_emit(record)
    except ValueError as e:
        raise TerminalError(str(e), status_code=400) from None
    emit(
        ctx,
        decoded.topic,
        decoded.value,
        key=decoded.key,
        headers=dict(decoded.headers or {}),
        serde=RAW,
    )


def builtin_services() -> list[ServiceDefinition]:
    """rt's built-in services, for a runtime to host next to the user's (in process).

    Returns:
        ``rt.Kafka`` (``emit``: the Kafka egress of remote handlers).
    """
    return [kafka]
