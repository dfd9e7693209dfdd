"""The app: registry of services for the runtime, and an ASGI endpoint (private).

``GET /discover`` returns the service manifest (Restate's discovery shape,
camelCase), ``GET /health`` answers 200. ``POST /invoke/{service}/{handler}``
(the HTTP-endpoint invoker) is not implemented yet and answers 501.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import timedelta
from typing import Any, Literal

import pydantic

from sdk._definitions import (
    HandlerDefinition,
    HandlerKind,
    HandlerOptions,
    ServiceDefinition,
    ServiceOptions,
    ServiceType,
)
from sdk._serde_infer import codec_for, unwrap_optional
from sdk.serde import DefaultSerde, MsgspecJsonSerde, PydanticJsonSerde, Serde

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PROTOCOL_VERSION = 1
"""Version of rt's invocation protocol advertised by discovery."""

_SERVICE_TY = {
    ServiceType.SERVICE: "SERVICE",
    ServiceType.VIRTUAL_OBJECT: "VIRTUAL_OBJECT",
    ServiceType.WORKFLOW: "WORKFLOW",
}
_HANDLER_TY = {
    HandlerKind.EXCLUSIVE: "EXCLUSIVE",
    HandlerKind.SHARED: "SHARED",
    HandlerKind.WORKFLOW: "WORKFLOW",
}


class App:
    """The services of one deployment; also an ASGI application.

    The runtime's in-process invoker uses it as a registry
    (:meth:`handler`, :meth:`service_type`, :meth:`handler_kind`).

    Args:
        services: Service, VirtualObject and Workflow definitions.
        protocol: ``"bidi"`` or ``"request_response"`` (advertised by discovery).
        identity_keys: Accepted request-signing keys (kept, not enforced yet).

    Raises:
        ValueError: Duplicate service names, or a workflow without a main handler.
        TypeError: Something that is not a service definition.
    """

    def __init__(
        self,
        services: Iterable[ServiceDefinition],
        protocol: Literal["bidi", "request_response"] | None = None,
        identity_keys: list[str] | None = None,
    ) -> None:
        self.services: dict[str, ServiceDefinition] = {}
        for svc in services:
            if not isinstance(svc, ServiceDefinition):
                raise TypeError(f"app() takes Service/VirtualObject/Workflow objects, got {svc!r}")
            if svc.name in self.services:
                raise ValueError(f"duplicate service name {svc.name!r}")
            if svc.service_type is ServiceType.WORKFLOW and not any(
                h.kind is HandlerKind.WORKFLOW for h in svc.handlers.values()
            ):
                raise ValueError(f"workflow {svc.name!r} has no main handler (@workflow.main())")
            self.services[svc.name] = svc
        if protocol not in (None, "bidi", "request_response"):
            raise ValueError("protocol must be 'bidi' or 'request_response'")
        self.protocol = protocol
        self.identity_keys = list(identity_keys or [])

    # -- registry -------------------------------------------------------------

    def service(self, name: str) -> ServiceDefinition:
        """The service called ``name``.

        Raises:
            KeyError: Unknown service.
        """
        try:
            return self.services[name]
        except KeyError:
            raise KeyError(f"service {name!r} not found") from None

    def handler(self, service: str, handler: str) -> HandlerDefinition:
        """The handler ``service.handler``.

        Raises:
            KeyError: Unknown service or handler.
        """
        svc = self.service(service)
        try:
            return svc.handlers[handler]
        except KeyError:
            raise KeyError(f"handler {handler!r} not found in service {service!r}") from None

    def service_type(self, service: str) -> ServiceType:
        """The type of ``service`` (Service, VirtualObject or Workflow)."""
        return self.service(service).service_type

    def handler_kind(self, service: str, handler: str) -> HandlerKind | None:
        """Exclusive/shared/workflow for keyed services, None for plain services."""
        return self.handler(service, handler).kind

    # -- discovery ------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The manifest served at ``GET /discover``."""
        mode = "REQUEST_RESPONSE" if self.protocol == "request_response" else "BIDI_STREAM"
        return {
            "protocolMode": mode,
            "minProtocolVersion": PROTOCOL_VERSION,
            "maxProtocolVersion": PROTOCOL_VERSION,
            "services": [_service_manifest(s) for s in self.services.values()],
        }

    # -- ASGI -------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            await acknowledge_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope.get("path", "/")
        root = scope.get("root_path", "") or ""
        if root and path.startswith(root):
            path = path[len(root) :]
        method: str = scope.get("method", "GET")
        parts = [p for p in path.split("/") if p]
        if parts == ["discover"]:
            if method != "GET":
                await _json(send, 405, {"code": 405, "message": "method not allowed"})
                return
            await _json(send, 200, self.discovery())
        elif parts == ["health"]:
            await _json(send, 200, {"status": "ok", "services": sorted(self.services)})
        elif len(parts) == 3 and parts[0] == "invoke":
            await self._invoke(send, method, parts[1], parts[2])
        else:
            await _json(send, 404, {"code": 404, "message": f"not found: {path}"})

    async def _invoke(self, send: Send, method: str, service: str, handler: str) -> None:
        if method != "POST":
            await _json(send, 405, {"code": 405, "message": "method not allowed"})
            return
        try:
            self.handler(service, handler)
        except KeyError as e:
            await _json(send, 404, {"code": 404, "message": str(e.args[0])})
            return
        await _json(
            send,
            501,
            {
                "code": 501,
                "message": (
                    "rt does not serve POST /invoke over HTTP yet; run this app with the "
                    "in-process invoker (rt dev)"
                ),
            },
        )


async def _json(send: Send, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _ms(d: timedelta | None) -> int | None:
    return None if d is None else int(d.total_seconds() * 1000)


_OPTION_FIELDS: tuple[tuple[str, str], ...] = (
    ("inactivity_timeout", "inactivityTimeout"),
    ("abort_timeout", "abortTimeout"),
    ("journal_retention", "journalRetention"),
    ("idempotency_retention", "idempotencyRetention"),
    ("workflow_retention", "workflowCompletionRetention"),
    ("enable_lazy_state", "enableLazyState"),
    ("ingress_private", "ingressPrivate"),
)
"""Service and handler options as the manifest names them (Restate's endpoint manifest;
durations in milliseconds). The one place an option meets its manifest field."""


def _option_fields(o: ServiceOptions | HandlerOptions) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "documentation": o.description,
        "metadata": dict(o.metadata) if o.metadata else None,
    }
    for attr, name in _OPTION_FIELDS:
        value = getattr(o, attr, None)
        fields[name] = _ms(value) if isinstance(value, timedelta) else value
    policy = o.invocation_retry_policy
    if policy is not None:
        fields |= {
            "retryPolicyInitialInterval": _ms(policy.initial_interval),
            "retryPolicyMaxInterval": _ms(policy.max_interval),
            "retryPolicyMaxAttempts": policy.max_attempts,
            "retryPolicyExponentiationFactor": policy.exponentiation_factor,
            "retryPolicyOnMaxAttempts": (
                policy.on_max_attempts.upper() if policy.on_max_attempts else None
            ),
        }
    return fields


def _schema(serde: Serde[Any], hint: Any) -> Any:
    """The JSON schema of a payload: pydantic's for the type where it has one (titled, so
    tools can name it), else the codec's."""
    if isinstance(serde, PydanticJsonSerde | MsgspecJsonSerde):
        hint = serde.model
    elif isinstance(serde, DefaultSerde) and serde.type_hint is not None:
        hint = serde.type_hint
    if hint is None or hint is Any:
        return None
    try:
        return pydantic.TypeAdapter(hint).json_schema()
    except Exception:  # noqa: BLE001 - a schema is documentation, never a reason to fail
        return codec_for(hint).json_schema()


def _input_required(h: HandlerDefinition) -> bool:
    """A body must be sent: the handler takes an argument that is not Optional."""
    if h.arity == 1:
        return False
    hint = h.input_type
    if hint is None or hint is type(None) or hint is Any:
        return False
    return not unwrap_optional(hint)[1]


def _handler_manifest(h: HandlerDefinition) -> dict[str, Any]:
    o = h.options
    if h.arity == 1:
        inp: dict[str, Any] = {}
    else:
        inp = {
            "required": _input_required(h),
            "contentType": o.accept,
            "jsonSchema": _schema(h.input_serde, h.input_type),
        }
    if h.output_type is None or h.output_type is type(None):
        out: dict[str, Any] = {"setContentTypeIfEmpty": False}
    else:
        out = {
            "setContentTypeIfEmpty": False,
            "contentType": o.content_type,
            "jsonSchema": _schema(h.output_serde, h.output_type),
        }
    fields: dict[str, Any] = {
        "name": h.name,
        "ty": _HANDLER_TY[h.kind] if h.kind else None,
        "input": _drop_none(inp),
        "output": _drop_none(out),
        **_option_fields(o),
    }
    return _drop_none(fields)


def _service_manifest(s: ServiceDefinition) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": s.name,
        "ty": _SERVICE_TY[s.service_type],
        "handlers": [_handler_manifest(h) for h in s.handlers.values()],
        **_option_fields(s.options),
    }
    return _drop_none(fields)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def app(
    services: Iterable[ServiceDefinition],
    protocol: Literal["bidi", "request_response"] | None = None,
    identity_keys: list[str] | None = None,
) -> App:
    """Bundle services into an :class:`App` (a registry and an ASGI application).

    Args:
        services: Service, VirtualObject and Workflow definitions.
        protocol: ``"bidi"`` or ``"request_response"`` (advertised by discovery).
        identity_keys: Accepted request-signing keys (kept, not enforced yet).

    Returns:
        The app.

    Example:
        >>> application = app([greeter, counter])  # doctest: +SKIP
    """
    return App(services, protocol=protocol, identity_keys=identity_keys)


async def acknowledge_lifespan(receive: Receive, send: Send) -> None:
    """ASGI lifespan for an app with nothing to start or stop: acknowledge both events."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
