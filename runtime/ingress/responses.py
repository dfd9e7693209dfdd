"""Successful ingress answers (and invocation outcomes) in Restate's wire shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from runtime.ingress.backend import InvocationOutcome, SendResult
from runtime.ingress.errors import X_RESTATE_ID, invocation_failure_response
from runtime.ingress.headers import IDEMPOTENCY_EXPIRES

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339_ms(epoch_ms: int) -> str:
    """Format milliseconds since the epoch as RFC 3339 UTC with millisecond precision.

    Raises:
        OverflowError: Past year 9999, which RFC 3339 cannot express.

    Example:
        >>> rfc3339_ms(1_700_000_000_123)
        '2023-11-14T22:13:20.123Z'
    """
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome_response(outcome: InvocationOutcome) -> Response:
    """What a caller (or an attacher) of a completed invocation receives.

    Success: 200 with the handler's output bytes untouched, the output's
    content-type and ``x-restate-id``. Terminal failure: the failure's code as
    status and ``{"code","message","metadata"?,"source":"invocation"}``. Either way,
    for an idempotent call, ``idempotency-expires``: when the stored result expires
    (RFC 3339, UTC), as Restate sends it.

    Args:
        outcome: The final result from the backend.

    Returns:
        The response.
    """
    if outcome.failure is not None:
        response = invocation_failure_response(outcome.failure, outcome.invocation_id)
    else:
        response = Response(
            content=outcome.value or b"",
            status_code=200,
            media_type=outcome.content_type,
            headers={X_RESTATE_ID: outcome.invocation_id},
        )
    if outcome.idempotency_expires_ms is not None:
        response.headers[IDEMPOTENCY_EXPIRES] = rfc3339_ms(outcome.idempotency_expires_ms)
    return response


def send_response(result: SendResult) -> Response:
    """``202 {"invocationId","executionTime"?,"status"}`` with ``x-restate-id``.

    202 also for ``PreviouslyAccepted`` (a deduplicated send), as Restate does;
    ``executionTime`` only when the send was delayed.

    Args:
        result: What the backend accepted.

    Returns:
        The response.
    """
    body: dict[str, Any] = {"invocationId": result.invocation_id}
    if result.execution_time_ms is not None:
        body["executionTime"] = rfc3339_ms(result.execution_time_ms)
    body["status"] = result.status.value
    return JSONResponse(body, status_code=202, headers={X_RESTATE_ID: result.invocation_id})
