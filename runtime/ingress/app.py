"""The HTTP ingress: Restate's ingress API (both path families) as a bare ASGI app.

Stateless — any number of ingress processes may run side by side. The app
holds only what :func:`create_ingress_app` is given (the service registry and
the durable backend); everything durable happens behind
:class:`~runtime.ingress.backend.IngressBackend`.

Every request goes to a single dispatcher, because the legacy paths cannot be
routed by shape alone: ``/A/b/send`` is a send to service ``A``'s handler ``b``
or a call of object ``A``'s handler ``send`` on key ``b``, depending on what
``A`` is. So, as in Restate, the path is parsed
first (:mod:`runtime.ingress.paths`, which looks the service up), then the
method is checked for what the path turned out to be. Request handling order
for invocations, also as in Restate: service → handler → public →
idempotency key → method → body (size, input rules) → delay → backend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from runtime import tracing
from runtime.ingress.backend import (
    DuplicateWorkflowRun,
    Failure,
    IngressBackend,
    InvocationRequest,
    OutputResult,
    OutputStatus,
    ShuttingDown,
)
from runtime.ingress.durations import DurationError, parse_duration_ms
from runtime.ingress.errors import (
    METHOD_NOT_ALLOWED_MESSAGE,
    WORKFLOW_ALREADY_INVOKED_MESSAGE,
    IngressError,
    ingress_error_response,
    invocation_failure_response,
)
from runtime.ingress.headers import (
    IDEMPOTENCY_KEY,
    X_RESTATE_LIMIT_KEY,
    first_header,
    forwarded_headers,
)
from runtime.ingress.inputs import read_body, validate_input
from runtime.ingress.metrics import TARGET_SCOPE_KEY, answered
from runtime.ingress.paths import normalize_path, parse_path
from runtime.ingress.responses import outcome_response, send_response
from runtime.ingress.targets import (
    AwakeableAction,
    AwakeableRequest,
    HealthRequest,
    InvocationQuery,
    InvokeKind,
    LookupRequest,
    RequestTarget,
    ResultByBodyRequest,
    ResultMode,
    ResultRequest,
    ServiceRequest,
    parse_target_body,
    validated_awakeable_id,
)
from runtime.registry import HandlerKind, Registry
from runtime.trace_context import TRACEPARENT
from sdk.engine import acknowledge_lifespan
from sdk.ids import workflow_invocation_id

log = logging.getLogger("rt.ingress")

SPAN_SCOPE_KEY = "rt.span"
"""ASGI scope key of the request's tracing span (ended when the answer is ready)."""

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
"""Largest request body accepted (10 MiB); larger ones get 413."""

ROUTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
"""Methods that reach the dispatcher, which answers 405 where they do not apply.

Anything more exotic is refused by the router, through the same 405 shape.
"""

DELAY_QUERY_PARAM = "delay"
LIMIT_KEY_QUERY_PARAM = "limit-key"

_LATEST_EXECUTION_MS = (
    datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
) // timedelta(milliseconds=1)
"""The last moment RFC 3339 (four-digit years) can express, for ``executionTime``."""


def create_ingress_app(
    registry: Registry,
    backend: IngressBackend,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> IngressApp:
    """Build the ingress ASGI app.

    Args:
        registry: Services that can be invoked; read on every request, so
            services added later become callable without a restart.
        backend: The durable side (Kafka + Redis in production, an in-memory
            fake in tests).
        max_body_bytes: Largest accepted request body; larger ones are
            answered 413, whether announced by Content-Length or streamed.

    Returns:
        The app. Every path belongs to the ingress API (``/openapi`` is
        reserved by Restate's ingress), so there are no docs routes.

    Raises:
        ValueError: ``max_body_bytes`` is negative.

    Example:
        >>> app = create_ingress_app(Registry(), backend)  # doctest: +SKIP
        >>> uvicorn.run(app, port=8080)  # doctest: +SKIP
    """
    if max_body_bytes < 0:
        raise ValueError("max_body_bytes must not be negative")
    return IngressApp(_Ingress(registry, backend, max_body_bytes))


class IngressApp:
    """The ingress as a bare ASGI callable: every HTTP request goes to one dispatcher.

    No web framework: the dispatcher parses the raw path and headers itself, so
    FastAPI's routing, dependency solving and middleware stack would only add
    cost — about 60 µs of CPU per request, a quarter of the node's loop at
    high concurrency (docs/benchmarks.md). Every error, including a method no
    route knows and an unexpected exception, is answered in the ingress shape
    ``{"code","message"}`` here.
    """

    def __init__(self, ingress: _Ingress) -> None:
        self._ingress = ingress
        self.draining = False
        """Set when the node shuts down: every new request is answered 503 (Retry-After)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await acknowledge_lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: not part of the ingress API
            await send({"type": "websocket.close", "code": 1003})
            return
        started = time.perf_counter()
        try:
            if self.draining:
                response = IngressError.shutting_down().to_response()
            elif scope["method"] not in ROUTED_METHODS:
                response = ingress_error_response(
                    405, METHOD_NOT_ALLOWED_MESSAGE, {"Allow": ", ".join(ROUTED_METHODS)}
                )
            else:
                response = await self._ingress.dispatch(Request(scope, receive))
        except Exception:
            log.exception("ingress: unexpected error on %s %s", scope["method"], scope["path"])
            response = ingress_error_response(500, "internal error")
        answered(scope, response.status_code, time.perf_counter() - started)
        span = scope.get(SPAN_SCOPE_KEY)
        if span is not None:
            span.end(response.status_code)
        await response(scope, receive, send)


def _raw_path(scope: Mapping[str, Any]) -> str:
    """The path as sent, percent-encoding intact (needed to keep ``%2F`` inside keys)."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        return raw.split(b"?", 1)[0].decode("latin-1")
    return quote(str(scope["path"]))


def _require_method(request: Request, *allowed: str) -> None:
    if request.method not in allowed:
        raise IngressError.method_not_allowed()


def _first_query_value(query: str, name: str) -> str | None:
    """The first value of a query parameter, name compared case-insensitively (as Restate)."""
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() == name:
            return value
    return None


def _delay_ms(query: str) -> int | None:
    """The ``?delay=`` of a request in milliseconds, None when absent.

    Raises:
        IngressError: 400 when unparsable, or so long the execution time
            would fall after year 9999 (not expressible in RFC 3339).
    """
    text = _first_query_value(query, DELAY_QUERY_PARAM)
    if text is None:
        return None
    try:
        delay_ms = parse_duration_ms(text)
    except DurationError as e:
        raise IngressError.bad_delay(str(e)) from None
    if delay_ms > _LATEST_EXECUTION_MS - int(time.time() * 1000):
        raise IngressError.bad_delay("the execution time would be after year 9999")
    return delay_ms


class _Ingress:
    """Request handling; one instance per app, holding only the registry and backend."""

    def __init__(self, registry: Registry, backend: IngressBackend, max_body_bytes: int) -> None:
        self._registry = registry
        self._backend = backend
        self._max_body_bytes = max_body_bytes

    async def dispatch(self, request: Request) -> Response:
        """Answer any request: parse the path, then handle what it names."""
        raw_path = normalize_path(_raw_path(request.scope))
        try:
            target = parse_path(raw_path, self._registry.get)
            return await self._handle(request, raw_path, target)
        except IngressError as e:
            return e.to_response()

    async def _handle(self, request: Request, raw_path: str, target: RequestTarget) -> Response:
        match target:
            case ServiceRequest():
                return await self._invoke(request, raw_path, target)
            case HealthRequest():
                _require_method(request, "GET")
                return JSONResponse({"services": self._registry.names()})
            case AwakeableRequest():
                return await self._complete_awakeable(request, target)
            case ResultRequest(mode=mode, query=query):
                _require_method(request, "GET")
                return await self._result(mode, query)
            case ResultByBodyRequest(mode=mode):
                _require_method(request, "POST")
                body = await read_body(request, self._max_body_bytes)
                return await self._result(mode, parse_target_body(body, "request"))
            case LookupRequest():
                _require_method(request, "POST")
                body = await read_body(request, self._max_body_bytes)
                query = parse_target_body(body, "lookup")
                return JSONResponse({"invocationId": query.invocation_id_of()})

    async def _invoke(self, request: Request, raw_path: str, target: ServiceRequest) -> Response:
        service = self._registry.get(target.service)
        if service is None:  # removed since the path was parsed
            raise IngressError.service_not_found(target.service)
        handler = service.handler(target.handler)
        if handler is None:
            raise IngressError.handler_not_found(target.service, target.handler)
        request.scope[TARGET_SCOPE_KEY] = (service.name, handler.name)
        if not (service.public and handler.public):
            raise IngressError.private_service()
        raw_headers = request.scope["headers"]
        idempotency_key = first_header(raw_headers, IDEMPOTENCY_KEY)
        if idempotency_key is not None and handler.kind is HandlerKind.WORKFLOW:
            raise IngressError.unsupported_idempotency_key()
        if target.scope is not None:
            raise IngressError.scope_unsupported()
        _require_method(request, "GET", "POST")

        body = await read_body(request, self._max_body_bytes)
        validate_input(handler, first_header(raw_headers, "content-type"), body)
        query = request.scope.get("query_string", b"").decode("latin-1")
        delay_ms = _delay_ms(query)
        if first_header(raw_headers, X_RESTATE_LIMIT_KEY) or _first_query_value(
            query, LIMIT_KEY_QUERY_PARAM
        ):
            raise IngressError.limit_key_without_scope()
        path_and_query = f"{raw_path}?{query}" if query else raw_path
        headers = forwarded_headers(raw_headers, path_and_query)
        span = tracing.ingress_span(
            request.method, service.name, handler.name, headers.get(TRACEPARENT)
        )
        if span is not None:  # the invocation's span will be this request's child
            request.scope[SPAN_SCOPE_KEY] = span
            headers[TRACEPARENT] = span.traceparent
        invocation = InvocationRequest(
            service=service.name,
            handler=handler.name,
            key=target.key,
            body=body,
            headers=headers,
            idempotency_key=idempotency_key,
        )

        if target.kind is InvokeKind.SEND:
            try:
                result = await self._backend.send(invocation, delay_ms)
            except Exception as e:
                log.warning("send to %s/%s failed", service.name, handler.name, exc_info=True)
                raise IngressError.invocation_dispatch(e) from e
            return send_response(result)

        if delay_ms is not None:
            raise IngressError.unsupported_delay()
        try:
            outcome = await self._backend.call(invocation)
        except DuplicateWorkflowRun:
            # Restate answers this as the run's own terminal outcome (source
            # "invocation"), with the run's deterministic id.
            run_id = workflow_invocation_id(service.name, target.key) if target.key else None
            return invocation_failure_response(
                Failure(409, WORKFLOW_ALREADY_INVOKED_MESSAGE), run_id
            )
        except ShuttingDown as e:
            raise IngressError.shutting_down(e.invocation_id) from None
        except Exception as e:
            log.warning("call to %s/%s failed", service.name, handler.name, exc_info=True)
            raise IngressError.invocation_dispatch(e) from e
        return outcome_response(outcome)

    async def _result(self, mode: ResultMode, query: InvocationQuery) -> Response:
        invocation_id = query.invocation_id_of()
        try:
            if mode is ResultMode.ATTACH:
                result: OutputResult = await self._backend.attach(invocation_id)
            else:
                result = await self._backend.output(invocation_id)
        except ShuttingDown as e:
            raise IngressError.shutting_down(e.invocation_id) from None
        except Exception as e:
            log.warning("%s of %s failed", mode.value, invocation_id, exc_info=True)
            raise IngressError.read_dispatch(e) from e
        match result.status:
            case OutputStatus.NOT_FOUND:
                raise IngressError.invocation_not_found()
            case OutputStatus.NOT_READY:
                raise IngressError.not_ready()
            case OutputStatus.READY if result.outcome is not None:
                return outcome_response(result.outcome)
        raise IngressError(500, f"internal error: the backend answered {result!r}")

    async def _complete_awakeable(self, request: Request, target: AwakeableRequest) -> Response:
        _require_method(request, "POST")
        awakeable_id = validated_awakeable_id(target.awakeable_id)
        body = await read_body(request, self._max_body_bytes)
        try:
            if target.action is AwakeableAction.RESOLVE:
                await self._backend.resolve_awakeable(awakeable_id, body)
            else:
                reason = body.decode("utf-8", errors="replace")
                await self._backend.reject_awakeable(awakeable_id, reason)
        except Exception as e:
            log.warning(
                "%s of awakeable %s failed", target.action.value, awakeable_id, exc_info=True
            )
            raise IngressError.write_dispatch(e) from e
        return Response(status_code=202)
