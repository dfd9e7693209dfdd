"""Error responses of the ingress, in the exact shape Restate's ingress uses.

Every error answer carries a JSON body and an ``x-restate-error-source`` header
so clients can tell an error the ingress produced (``ingress``: bad request,
unknown service, overload — often safe to retry or fix) from the terminal
outcome of the durable invocation itself (``invocation``: the user's code and
message, never worth retrying)::

    {"code":404,"message":"service 'Foo' not found, ...","source":"ingress"}
    {"code":503,"message":"boom","metadata":{"reason":"x"},"source":"invocation"}

The messages below are copied from Restate's ``HandlerError`` (ingress-http
``handler/error.rs``) because clients and tests match on them; keep them
verbatim.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from starlette.responses import JSONResponse, Response

from runtime.ingress.backend import Failure

X_RESTATE_ERROR_SOURCE = "x-restate-error-source"
"""Response header naming who produced an error: ``ingress`` or ``invocation``."""

X_RESTATE_ID = "x-restate-id"
"""Response header carrying the invocation id of calls, sends, attaches and outputs."""

STATUS_NOT_READY = 470
"""Restate's own status: the invocation exists but its output is not there yet."""

NOT_FOUND_MESSAGE = "not found"
METHOD_NOT_ALLOWED_MESSAGE = "method not allowed"
WORKFLOW_ALREADY_INVOKED_MESSAGE = "the workflow method was already invoked"

BAD_SERVICE_PATH_MESSAGE = (
    "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler"
)
BAD_AWAKEABLES_PATH_MESSAGE = (
    "bad path, expected either /restate/awakeables/:id/resolve or /restate/awakeables/:id/reject"
)
BAD_INVOCATION_PATH_MESSAGE = (
    "bad path, expected either /restate/invocation/:invocation_id/output or "
    "/restate/invocation/:invocation_id/attach or "
    "/restate/invocation/:invocation_target/:idempotency_key/output or "
    "/restate/invocation/:invocation_target/:idempotency_key/attach"
)
BAD_WORKFLOW_PATH_MESSAGE = (
    "bad path, expected either /restate/workflow/:workflow_name/:workflow_key/output or "
    "/restate/workflow/:workflow_name/:workflow_key/attach"
)
BAD_RESTATE_API_PATH_MESSAGE = (
    "bad path, expected /restate/call/:service/:handler, /restate/send/:service/:handler, "
    "/restate/scope/:scope/call/:service/:handler, /restate/attach/:invocation_id, "
    "/restate/output/:invocation_id, or /restate/lookup"
)
PRIVATE_SERVICE_MESSAGE = "the invoked service is not public"
UNSUPPORTED_DELAY_MESSAGE = (
    "cannot use the delay query parameter with calls. The delay is supported only with sends"
)
BAD_DELAY_MESSAGE = "bad delay query parameter, must be a ISO8601 duration"
UNSUPPORTED_IDEMPOTENCY_KEY_MESSAGE = (
    "cannot use the idempotency key with workflow handlers. The handler invocation will "
    "already be idempotent by the workflow key itself."
)
INVOCATION_NOT_FOUND_MESSAGE = "invocation not found"
NOT_READY_MESSAGE = "the invocation exists but has not completed yet"
SCOPE_UNSUPPORTED_MESSAGE = "scoped invocations require vqueues to be enabled"
LIMIT_KEY_WITHOUT_SCOPE_MESSAGE = "limit-key requires a scope to be set"
SHUTTING_DOWN_MESSAGE = "the node is shutting down and takes no new requests, retry shortly"
RETRY_AFTER_S = 2
"""``Retry-After`` of 503 answers given while a node shuts down: another node (or this
one, restarted) takes its partitions over within seconds."""


class ErrorSource(StrEnum):
    """Who produced an error response (value of ``x-restate-error-source``)."""

    INGRESS = "ingress"
    INVOCATION = "invocation"


class IngressError(Exception):
    """An error the ingress answers itself, before or instead of the durable backend.

    Raised anywhere in request handling and turned into a response in one
    place, so each check reads as a single line and the shape cannot drift.

    Args:
        status: HTTP status of the answer (also the ``code`` field).
        message: Human-readable message; exact Restate wording where one exists.

    Example:
        >>> IngressError.service_not_found("Foo").status
        404
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        """Create the error; arguments as in the class docstring, plus extra ``headers``."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers

    def to_response(self) -> Response:
        """Render as ``{"code","message","source":"ingress"}`` with the source header."""
        return ingress_error_response(self.status, self.message, self.headers)

    @classmethod
    def shutting_down(cls, invocation_id: str | None = None) -> IngressError:
        """503 with ``Retry-After``: the node drains (SIGTERM).

        With ``invocation_id``, the request was accepted and its invocation goes on: the
        caller can attach to it (or retry with the same idempotency key).
        """
        retry = {"Retry-After": str(RETRY_AFTER_S)}
        if invocation_id is None:
            return cls(503, SHUTTING_DOWN_MESSAGE, retry)
        return cls(
            503,
            f"the node is shutting down before invocation {invocation_id} completed; it "
            f"goes on: get its result with GET /restate/invocation/{invocation_id}/attach "
            "(or retry the request with the same idempotency-key)",
            {**retry, X_RESTATE_ID: invocation_id},
        )

    @classmethod
    def not_found(cls) -> IngressError:
        """A path under a known prefix that names nothing (e.g. ``/restate/foo``)."""
        return cls(404, NOT_FOUND_MESSAGE)

    @classmethod
    def bad_path(cls, path: str) -> IngressError:
        """A path with fewer than 2 or more than 7 segments."""
        return cls(400, f"bad path: {path}")

    @classmethod
    def bad_service_path(cls) -> IngressError:
        """A legacy invocation path of the wrong shape (including anything after ``/send``)."""
        return cls(400, BAD_SERVICE_PATH_MESSAGE)

    @classmethod
    def bad_awakeables_path(cls) -> IngressError:
        """An awakeable path missing its id or action."""
        return cls(400, BAD_AWAKEABLES_PATH_MESSAGE)

    @classmethod
    def bad_invocation_path(cls) -> IngressError:
        """A ``/restate/invocation/...`` path of the wrong shape."""
        return cls(400, BAD_INVOCATION_PATH_MESSAGE)

    @classmethod
    def bad_workflow_path(cls) -> IngressError:
        """A ``/restate/workflow/...`` path of the wrong shape."""
        return cls(400, BAD_WORKFLOW_PATH_MESSAGE)

    @classmethod
    def bad_restate_api_path(cls) -> IngressError:
        """A ``/restate/call|send|attach|output|lookup`` path of the wrong shape."""
        return cls(400, BAD_RESTATE_API_PATH_MESSAGE)

    @classmethod
    def undecodable_key(cls, reason: str) -> IngressError:
        """A percent-encoded key segment that is not valid UTF-8."""
        return cls(400, f"bad path, cannot decode key: {reason}")

    @classmethod
    def service_not_found(cls, service: str) -> IngressError:
        """No service of that name is registered."""
        return cls(
            404,
            f"service '{service}' not found, make sure to register the service before calling it.",
        )

    @classmethod
    def handler_not_found(cls, service: str, handler: str) -> IngressError:
        """The service exists but has no handler of that name."""
        return cls(
            404,
            f"the service '{service}' exists, but the handler '{handler}' was not found, "
            "check that the handler exists in the latest registered service version.",
        )

    @classmethod
    def private_service(cls) -> IngressError:
        """The service or handler is not exposed to the ingress."""
        return cls(400, PRIVATE_SERVICE_MESSAGE)

    @classmethod
    def method_not_allowed(cls) -> IngressError:
        """The path exists but not for this HTTP method."""
        return cls(405, METHOD_NOT_ALLOWED_MESSAGE)

    @classmethod
    def input_validation(cls, reason: str) -> IngressError:
        """The body or its content-type does not fit the handler's input rules."""
        return cls(400, f"input validation error: {reason}")

    @classmethod
    def payload_too_large(cls, limit: int) -> IngressError:
        """The body is larger than the configured limit."""
        return cls(413, f"cannot read body: length limit exceeded, the limit is {limit} bytes")

    @classmethod
    def invalid_body(cls, what: str, reason: str) -> IngressError:
        """An attach/output/lookup target body that is not the expected JSON.

        Restate answers 500 here (its generic body-read error); a malformed
        request is the client's fault, so rt answers 400 with the same text.
        """
        return cls(400, f"cannot read body: invalid {what} body: {reason}")

    @classmethod
    def bad_header(cls, name: str, reason: str) -> IngressError:
        """A header whose value cannot be used (not visible ASCII, unparsable)."""
        return cls(400, f"bad header {name}: {reason}")

    @classmethod
    def unsupported_delay(cls) -> IngressError:
        """``?delay=`` on a call, which cannot be delayed while the caller waits."""
        return cls(400, UNSUPPORTED_DELAY_MESSAGE)

    @classmethod
    def bad_delay(cls, reason: str) -> IngressError:
        """An unparsable ``?delay=`` value."""
        return cls(400, f"{BAD_DELAY_MESSAGE}: {reason}")

    @classmethod
    def unsupported_idempotency_key(cls) -> IngressError:
        """``idempotency-key`` on a workflow's run handler (the workflow id already is one)."""
        return cls(400, UNSUPPORTED_IDEMPOTENCY_KEY_MESSAGE)

    @classmethod
    def bad_awakeable_id(cls, awakeable_id: str, reason: str) -> IngressError:
        """An awakeable id that does not parse."""
        return cls(400, f"bad awakeable id '{awakeable_id}': {reason}")

    @classmethod
    def bad_invocation_id(cls, invocation_id: str, reason: str) -> IngressError:
        """An invocation id that does not parse."""
        return cls(400, f"bad invocation id '{invocation_id}': {reason}")

    @classmethod
    def invocation_not_found(cls) -> IngressError:
        """Attach/output of an invocation that is unknown or already purged."""
        return cls(404, INVOCATION_NOT_FOUND_MESSAGE)

    @classmethod
    def not_ready(cls) -> IngressError:
        """Output of an invocation that is still running (Restate's 470)."""
        return cls(STATUS_NOT_READY, NOT_READY_MESSAGE)

    @classmethod
    def scope_unsupported(cls) -> IngressError:
        """A scoped request; rt has no flow-control scopes (Restate's default answer)."""
        return cls(400, SCOPE_UNSUPPORTED_MESSAGE)

    @classmethod
    def limit_key_without_scope(cls) -> IngressError:
        """A flow-control limit key, which only has a meaning inside a scope."""
        return cls(400, LIMIT_KEY_WITHOUT_SCOPE_MESSAGE)

    @classmethod
    def invocation_dispatch(cls, error: BaseException) -> IngressError:
        """The durable backend failed while accepting a call or send."""
        return cls(
            503,
            f"internal routing error: {_describe(error)}. If the request has an "
            "'idempotency-key', it can be safely retried, otherwise submitting it again "
            "may result in executing the invocation twice.",
        )

    @classmethod
    def read_dispatch(cls, error: BaseException) -> IngressError:
        """The durable backend failed while reading (attach, output): retrying is safe."""
        return cls(
            503, f"internal routing error: {_describe(error)}. You may safely retry the request."
        )

    @classmethod
    def write_dispatch(cls, error: BaseException) -> IngressError:
        """The durable backend failed while appending an awakeable completion."""
        return cls(
            503,
            f"internal routing error: {_describe(error)}. Submitting the request again may "
            "result in executing the operation twice.",
        )


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def ingress_error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """An error produced by the ingress: ``{"code","message","source":"ingress"}``.

    Args:
        status: HTTP status, repeated as ``code`` in the body.
        message: The message.
        headers: Extra headers (e.g. ``Allow`` on a 405).

    Returns:
        The JSON response with ``x-restate-error-source: ingress``.
    """
    body = {"code": status, "message": message, "source": ErrorSource.INGRESS.value}
    return JSONResponse(
        body,
        status_code=status,
        headers={**(headers or {}), X_RESTATE_ERROR_SOURCE: ErrorSource.INGRESS.value},
    )


def failure_http_status(code: int) -> int:
    """The HTTP status for a terminal failure with ``code``.

    Restate uses the user's code as the status whenever it is a syntactically
    valid one. rt also refuses codes below 400 (a terminal *failure* must
    never look like success or a redirect to an HTTP client) and falls back
    to 500, Restate's default terminal-error code. The body keeps the
    original code either way.
    """
    return code if 400 <= code <= 999 else 500


def invocation_failure_response(failure: Failure, invocation_id: str | None) -> Response:
    """The terminal failure of an invocation, as its caller or an attacher sees it.

    Args:
        failure: The terminal error: its code becomes the HTTP status.
        invocation_id: Sent back as ``x-restate-id`` when known.

    Returns:
        ``{"code","message","metadata"?,"source":"invocation"}``; ``metadata``
        is omitted when empty, as Restate does.
    """
    body: dict[str, Any] = {"code": failure.code, "message": failure.message}
    if failure.metadata:
        body["metadata"] = dict(failure.metadata)
    body["source"] = ErrorSource.INVOCATION.value
    headers = {X_RESTATE_ERROR_SOURCE: ErrorSource.INVOCATION.value}
    if invocation_id is not None:
        headers[X_RESTATE_ID] = invocation_id
    return JSONResponse(body, status_code=failure_http_status(failure.code), headers=headers)
