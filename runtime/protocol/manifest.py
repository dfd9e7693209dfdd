"""The endpoint manifest (``GET /discover``): a typed, validated model.

Owns parsing and validation of the manifest JSON (manifest versions 1-4 of Restate's
``endpoint_manifest_schema.json``) into frozen dataclasses with durations as
``timedelta``. It does not fetch anything (``discovery``) and does not build rt's
registry: other code turns an :class:`EndpointManifest` into services.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import msgspec

from sdk.protocol import BadManifestError, negotiate_protocol_version


class ProtocolMode(enum.Enum):
    """How the endpoint wants to be invoked."""

    BIDI_STREAM = "BIDI_STREAM"
    REQUEST_RESPONSE = "REQUEST_RESPONSE"


class ServiceType(enum.Enum):
    """Service, virtual object or workflow."""

    SERVICE = "SERVICE"
    VIRTUAL_OBJECT = "VIRTUAL_OBJECT"
    WORKFLOW = "WORKFLOW"


class HandlerType(enum.Enum):
    """A keyed handler's kind (plain services have none)."""

    EXCLUSIVE = "EXCLUSIVE"
    SHARED = "SHARED"
    WORKFLOW = "WORKFLOW"


class OnMaxAttempts(enum.Enum):
    """What the retry policy does when attempts run out."""

    PAUSE = "PAUSE"
    KILL = "KILL"


@dataclass(frozen=True)
class RetryPolicy:
    """Invocation retry policy; None fields fall back to the runtime's defaults."""

    initial_interval: timedelta | None = None
    max_interval: timedelta | None = None
    max_attempts: int | None = None
    exponentiation_factor: float | None = None
    on_max_attempts: OnMaxAttempts | None = None

    @property
    def is_empty(self) -> bool:
        """True when the endpoint set no retry field."""
        return self == RetryPolicy()


@dataclass(frozen=True)
class Options:
    """Options a service or handler may set; None means "not set here"."""

    documentation: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    inactivity_timeout: timedelta | None = None
    abort_timeout: timedelta | None = None
    journal_retention: timedelta | None = None
    idempotency_retention: timedelta | None = None
    workflow_completion_retention: timedelta | None = None
    """Handlers of type WORKFLOW only."""
    enable_lazy_state: bool | None = None
    ingress_private: bool | None = None
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class InputPayload:
    """What a handler accepts as input."""

    required: bool = False
    content_type: str | None = "*/*"
    """Accepted content type (wildcards as in ``Accept``); None means no input at all."""
    json_schema: Any = None


@dataclass(frozen=True)
class OutputPayload:
    """What a handler returns."""

    content_type: str | None = "application/json"
    set_content_type_if_empty: bool = False
    json_schema: Any = None


@dataclass(frozen=True)
class HandlerManifest:
    """One handler of a service."""

    name: str
    ty: HandlerType | None
    """EXCLUSIVE/SHARED/WORKFLOW for keyed services (defaults applied); None for services."""
    input: InputPayload
    output: OutputPayload
    options: Options


@dataclass(frozen=True)
class ServiceManifest:
    """One service with its handlers."""

    name: str
    ty: ServiceType
    handlers: tuple[HandlerManifest, ...]
    options: Options

    def handler(self, name: str) -> HandlerManifest | None:
        """The handler called ``name``, if any."""
        return next((h for h in self.handlers if h.name == name), None)


@dataclass(frozen=True)
class EndpointManifest:
    """What an endpoint declared at discovery."""

    manifest_version: int
    """The manifest schema version the endpoint answered with (from its content type)."""
    protocol_mode: ProtocolMode | None
    min_protocol_version: int
    max_protocol_version: int
    services: tuple[ServiceManifest, ...]
    lambda_compression: str | None = None

    @property
    def protocol_version(self) -> int:
        """The invocation-protocol version rt uses with this endpoint (newest common)."""
        return negotiate_protocol_version(self.min_protocol_version, self.max_protocol_version)

    def service(self, name: str) -> ServiceManifest | None:
        """The service called ``name``, if any."""
        return next((s for s in self.services if s.name == name), None)


# ---------------------------------------------------------------------------
# The JSON as the endpoint writes it (camelCase, durations in ms).

_Ms = Annotated[int, msgspec.Meta(ge=0)]


class _RawOptions(msgspec.Struct, rename="camel", kw_only=True):
    documentation: str | None = None
    metadata: dict[str, str] | None = None
    inactivity_timeout: _Ms | None = None
    abort_timeout: _Ms | None = None
    journal_retention: _Ms | None = None
    idempotency_retention: _Ms | None = None
    enable_lazy_state: bool | None = None
    ingress_private: bool | None = None
    retry_policy_initial_interval: _Ms | None = None
    retry_policy_max_interval: _Ms | None = None
    retry_policy_max_attempts: Annotated[int, msgspec.Meta(ge=0)] | None = None
    retry_policy_exponentiation_factor: float | None = None
    retry_policy_on_max_attempts: OnMaxAttempts | None = None


class _RawInput(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    required: bool | None = None
    content_type: str | None = None
    json_schema: Any = None


class _RawOutput(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    content_type: str | None = None
    set_content_type_if_empty: bool | None = None
    json_schema: Any = None


class _RawHandler(_RawOptions, kw_only=True):
    name: str
    ty: HandlerType | None = None
    input: _RawInput | None = None
    output: _RawOutput | None = None
    workflow_completion_retention: _Ms | None = None


class _RawService(_RawOptions, kw_only=True):
    name: str
    ty: ServiceType
    handlers: list[_RawHandler]


class _RawManifest(msgspec.Struct, rename="camel", kw_only=True):
    protocol_mode: ProtocolMode | None = None
    min_protocol_version: Annotated[int, msgspec.Meta(ge=1)]
    max_protocol_version: Annotated[int, msgspec.Meta(ge=1)]
    services: list[_RawService]
    lambda_compression: str | None = None


_SERVICE_NAME = re.compile(r"([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*")
_HANDLER_NAME = re.compile(r"([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*")
_DEFAULT_HANDLER_TYPE: dict[ServiceType, HandlerType | None] = {
    ServiceType.SERVICE: None,
    ServiceType.VIRTUAL_OBJECT: HandlerType.EXCLUSIVE,
    ServiceType.WORKFLOW: HandlerType.WORKFLOW,
}
_ALLOWED_HANDLER_TYPES: dict[ServiceType, set[HandlerType | None]] = {
    ServiceType.SERVICE: {None},
    ServiceType.VIRTUAL_OBJECT: {HandlerType.EXCLUSIVE, HandlerType.SHARED},
    ServiceType.WORKFLOW: {HandlerType.WORKFLOW, HandlerType.SHARED},
}
_decoder = msgspec.json.Decoder(_RawManifest)


def parse_manifest(body: bytes, *, manifest_version: int) -> EndpointManifest:
    """Parse and validate a discovery response body.

    Args:
        body: the response body (JSON).
        manifest_version: the version the response's content type declared.

    Returns:
        The validated manifest.

    Raises:
        BadManifestError: not JSON, not the manifest schema, or inconsistent (duplicate
            names, handler kinds that do not fit the service type, options on the
            wrong handler kind).
        UnsupportedProtocolVersionError: no protocol version in common with rt.
    """
    try:
        raw = _decoder.decode(body)
    except msgspec.ValidationError as e:
        raise BadManifestError(f"the endpoint manifest does not match the schema: {e}") from None
    except msgspec.DecodeError as e:
        snippet = body[:200].decode("utf-8", "replace")
        raise BadManifestError(
            f"the discovery response is not JSON ({e}); it starts with {snippet!r}"
        ) from None
    negotiate_protocol_version(raw.min_protocol_version, raw.max_protocol_version)
    manifest = EndpointManifest(
        manifest_version=manifest_version,
        protocol_mode=raw.protocol_mode,
        min_protocol_version=raw.min_protocol_version,
        max_protocol_version=raw.max_protocol_version,
        services=tuple(_service(s) for s in raw.services),
        lambda_compression=raw.lambda_compression,
    )
    _check_unique("service", [s.name for s in manifest.services], "the endpoint")
    return manifest


def _service(raw: _RawService) -> ServiceManifest:
    if not _SERVICE_NAME.fullmatch(raw.name):
        raise BadManifestError(f"invalid service name {raw.name!r}")
    handlers = tuple(_handler(raw.name, raw.ty, h) for h in raw.handlers)
    _check_unique("handler", [h.name for h in handlers], f"service {raw.name!r}")
    if raw.ty is ServiceType.WORKFLOW:
        mains = [h.name for h in handlers if h.ty is HandlerType.WORKFLOW]
        if len(mains) != 1:
            raise BadManifestError(
                f"workflow {raw.name!r} must have exactly one WORKFLOW handler, has {mains}"
            )
    return ServiceManifest(raw.name, raw.ty, handlers, _options(raw))


def _handler(service: str, service_ty: ServiceType, raw: _RawHandler) -> HandlerManifest:
    where = f"handler {service}/{raw.name}"
    if not _HANDLER_NAME.fullmatch(raw.name):
        raise BadManifestError(f"invalid handler name {raw.name!r} in service {service!r}")
    ty = raw.ty if raw.ty is not None else _DEFAULT_HANDLER_TYPE[service_ty]
    if service_ty is ServiceType.SERVICE and raw.ty is HandlerType.EXCLUSIVE:
        ty = None  # what a plain service's handlers are anyway
    if ty not in _ALLOWED_HANDLER_TYPES[service_ty]:
        raise BadManifestError(
            f"{where} has type {ty.name if ty else None}, not allowed in a {service_ty.name}"
        )
    if raw.workflow_completion_retention is not None and ty is not HandlerType.WORKFLOW:
        raise BadManifestError(f"{where}: workflowCompletionRetention is for WORKFLOW handlers")
    if raw.idempotency_retention is not None and ty is HandlerType.WORKFLOW:
        raise BadManifestError(f"{where}: idempotencyRetention is not valid on WORKFLOW handlers")
    return HandlerManifest(
        name=raw.name,
        ty=ty,
        input=_input(raw.input),
        output=_output(raw.output),
        options=_options(raw, _ms(raw.workflow_completion_retention)),
    )


def _input(raw: _RawInput | None) -> InputPayload:
    if raw is None:
        return InputPayload()
    return InputPayload(bool(raw.required), raw.content_type, raw.json_schema)


def _output(raw: _RawOutput | None) -> OutputPayload:
    if raw is None:
        return OutputPayload()
    return OutputPayload(raw.content_type, bool(raw.set_content_type_if_empty), raw.json_schema)


def _options(raw: _RawOptions, workflow_retention: timedelta | None = None) -> Options:
    return Options(
        documentation=raw.documentation,
        metadata=dict(raw.metadata or {}),
        inactivity_timeout=_ms(raw.inactivity_timeout),
        abort_timeout=_ms(raw.abort_timeout),
        journal_retention=_ms(raw.journal_retention),
        idempotency_retention=_ms(raw.idempotency_retention),
        workflow_completion_retention=workflow_retention,
        enable_lazy_state=raw.enable_lazy_state,
        ingress_private=raw.ingress_private,
        retry_policy=RetryPolicy(
            initial_interval=_ms(raw.retry_policy_initial_interval),
            max_interval=_ms(raw.retry_policy_max_interval),
            max_attempts=raw.retry_policy_max_attempts,
            exponentiation_factor=raw.retry_policy_exponentiation_factor,
            on_max_attempts=raw.retry_policy_on_max_attempts,
        ),
    )


def _ms(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(milliseconds=value)


def _check_unique(what: str, names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BadManifestError(f"{where} declares {what} {name!r} twice")
        seen.add(name)
