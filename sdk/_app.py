"""The app: registry of services for the runtime, and a Restate service endpoint (private).

As an ASGI app it serves Restate's service protocol (ADR 0021 §2): ``GET /discover``
returns the endpoint manifest (Restate's shape, camelCase, version negotiated from
``Accept``), ``POST /invoke/{service}/{handler}`` runs one attempt (``sdk._server``),
``GET /health`` answers 200. With ``identity_keys``, discovery and invocations must
carry Restate's request-identity JWT (``sdk._protocol.identity``), else 401.
"""

from __future__ import annotations

import json
import re
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
from sdk._protocol.identity import IdentityError, IdentityVerifier
from sdk._protocol.versions import MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION
from sdk._serde_infer import codec_for, unwrap_optional
from sdk._server import SERVER_HEADER, invocation_version, serve_invocation, served_versions
from sdk.serde import DefaultSerde, MsgspecJsonSerde, PydanticJsonSerde, Serde

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MANIFEST_VERSIONS = (4, 3, 2)
"""Endpoint-manifest versions served, newest first (v1 only when asked for alone)."""
_MANIFEST_ACCEPT = re.compile(r"application/vnd\.restate\.endpointmanifest\.v(\d+)\+json")
_V3_FIELDS = frozenset(
    {
        "inactivityTimeout",
        "abortTimeout",
        "journalRetention",
        "idempotencyRetention",
        "workflowCompletionRetention",
        "enableLazyState",
        "ingressPrivate",
    }
)
_V4_FIELDS = frozenset(
    {
        "retryPolicyInitialInterval",
        "retryPolicyMaxInterval",
        "retryPolicyMaxAttempts",
        "retryPolicyExponentiationFactor",
        "retryPolicyOnMaxAttempts",
    }
)

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
        identity_keys: Restate request-identity public keys (``publickeyv1_...``); when
            given, ``/discover`` and ``/invoke`` answer 401 to requests not signed by one.

    Raises:
        ValueError: Duplicate service names, a workflow without a main handler, or a
            malformed identity key.
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
        self._verifier = IdentityVerifier(self.identity_keys)

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

    def discovery(self, mode: str | None = None) -> dict[str, Any]:
        """The manifest served at ``GET /discover``.

        Args:
            mode: ``"BIDI_STREAM"`` or ``"REQUEST_RESPONSE"``; default: as configured,
                else bidirectional.
        """
        if self.protocol is not None:
            mode = "REQUEST_RESPONSE" if self.protocol == "request_response" else "BIDI_STREAM"
        return {
            "protocolMode": mode or "BIDI_STREAM",
            "minProtocolVersion": MIN_PROTOCOL_VERSION,
            "maxProtocolVersion": MAX_PROTOCOL_VERSION,
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
        if parts == ["health"]:
            await _json(send, 200, {"status": "ok", "services": sorted(self.services)})
            return
        is_discover = parts == ["discover"]
        is_invoke = len(parts) == 3 and parts[0] == "invoke"
        if not (is_discover or is_invoke):
            await _json(send, 404, {"code": 404, "message": f"not found: {path}"})
            return
        headers = _headers(scope)
        if self._verifier.enabled:
            try:
                self._verifier.verify(headers, path)
            except IdentityError as e:
                await _json(send, 401, {"code": 401, "message": f"request identity: {e}"})
                return
        if is_discover:
            await self._discover(send, method, headers, scope.get("http_version", "1.1"))
        else:
            await self._invoke(scope, receive, send, method, parts[1], parts[2], headers)

    async def _discover(
        self, send: Send, method: str, headers: dict[str, str], http_version: str
    ) -> None:
        if method != "GET":
            await _json(send, 405, {"code": 405, "message": "method not allowed"})
            return
        mode = "REQUEST_RESPONSE" if http_version.startswith("1") else "BIDI_STREAM"
        manifest = self.discovery(mode)
        accepted = [int(v) for v in _MANIFEST_ACCEPT.findall(headers.get("accept", ""))]
        if not headers.get("accept") or "*/*" in headers.get("accept", ""):
            accepted = [*accepted, MANIFEST_VERSIONS[0]]  # anything: the newest
        candidates = [v for v in MANIFEST_VERSIONS if v in accepted]
        if not candidates and accepted == [1]:
            candidates = [1]
        if not candidates:
            await _json(
                send,
                415,
                {
                    "code": 415,
                    "message": (
                        "unsupported endpoint manifest version; this endpoint serves "
                        "application/vnd.restate.endpointmanifest.v4+json, v3 and v2"
                    ),
                },
            )
            return
        version = candidates[0]
        missing = _fields_beyond(manifest, version)
        if missing:
            await _json(
                send,
                415,
                {
                    "code": 415,
                    "message": (
                        f"the manifest needs fields that endpoint manifest v{version} "
                        f"lacks ({', '.join(sorted(missing))}); ask for a newer version"
                    ),
                },
            )
            return
        content_type = f"application/vnd.restate.endpointmanifest.v{version}+json"
        await _json(
            send,
            200,
            manifest,
            content_type=content_type,
            extra=[(b"x-restate-server", SERVER_HEADER)],
        )

    async def _invoke(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        service: str,
        handler: str,
        headers: dict[str, str],
    ) -> None:
        if method != "POST":
            await _json(send, 405, {"code": 405, "message": "method not allowed"})
            return
        try:
            definition = self.handler(service, handler)
        except KeyError as e:
            await _json(send, 404, {"code": 404, "message": str(e.args[0])})
            return
        content_type = headers.get("content-type", "")
        version = invocation_version(content_type)
        if version is None:
            await _json(
                send,
                415,
                {
                    "code": 415,
                    "message": (
                        f"unsupported content-type {content_type!r}; this endpoint serves "
                        f"{served_versions()}"
                    ),
                },
            )
            return
        request_response = self.protocol == "request_response" or not str(
            scope.get("http_version", "1.1")
        ).startswith("2")
        await serve_invocation(
            definition, version, receive, send, request_response=request_response
        )


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _fields_beyond(manifest: dict[str, Any], version: int) -> set[str]:
    """Option fields in ``manifest`` that manifest ``version`` does not have."""
    newer = (_V3_FIELDS | _V4_FIELDS) if version < 3 else _V4_FIELDS if version < 4 else set()
    found: set[str] = set()
    for service in manifest["services"]:
        found |= newer & service.keys()
        for handler in service["handlers"]:
            found |= newer & handler.keys()
    return found


async def _json(
    send: Send,
    status: int,
    body: Any,
    *,
    content_type: str = "application/json",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(data)).encode()),
                *(extra or []),
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
        protocol: ``"bidi"`` or ``"request_response"`` (advertised by discovery);
            None: from the HTTP version (HTTP/2 bidirectional, HTTP/1.1 request/response).
        identity_keys: Restate request-identity public keys (``publickeyv1_...``); when
            given, unsigned or badly signed requests are refused with 401.

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
