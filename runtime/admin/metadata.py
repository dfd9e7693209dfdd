"""Admin API wire models: Restate's ``ServiceMetadata`` shape built from the registry.

Field names follow Restate's admin API (``GET /services``) so tools written
against Restate's JSON read ours unchanged. Durations are rendered as friendly
strings (``"1day"``, ``"1h 30m"``) the way Restate's admin API prints them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from runtime.log.records import TargetKind
from runtime.registry import HandlerInfo, HandlerKind, RetryPolicy, ServiceInfo, ServiceType

IN_PROCESS_DEPLOYMENT_ID = "dp_inprocess"
"""Deployment id reported for services that run inside the rt node itself."""

SERVICE_REVISION = 1
"""Revision reported for every service: in-process services are never re-registered."""

VERSION_MISMATCH_HEADER = "x-rt-state-version-mismatch"
"""Set to ``true`` on the ``202`` of a conditional state write that was dropped (rt extension)."""


Byte = Annotated[int, Field(strict=True, ge=0, le=255)]
"""One byte of a state value in the admin API's JSON (an integer 0..255)."""


class RetryPolicyMetadata(BaseModel):
    """A resolved retry policy of failed attempts (Restate's ``retry_policy`` field names)."""

    model_config = ConfigDict(frozen=True)

    initial_interval: str
    """Delay before the first retry (friendly duration)."""
    exponentiation_factor: float
    """Growth of the delay from one retry to the next."""
    max_interval: str
    """Upper bound of a delay (friendly duration)."""
    max_attempts: int | None
    """Attempts in all, the first included; ``None``: retry forever."""
    on_max_attempts: str
    """``pause`` or ``kill`` once ``max_attempts`` attempts failed."""


def retry_policy_metadata(policy: RetryPolicy) -> RetryPolicyMetadata:
    """The admin view of a resolved retry policy.

    Args:
        policy: The policy, as the registry resolves it.

    Returns:
        Its metadata.
    """
    return RetryPolicyMetadata(
        initial_interval=friendly_duration(policy.initial_interval_s) or "0s",
        exponentiation_factor=policy.exponentiation_factor,
        max_interval=friendly_duration(policy.max_interval_s) or "0s",
        max_attempts=policy.max_attempts,
        on_max_attempts=policy.on_max_attempts.value,
    )


class HandlerMetadata(BaseModel):
    """One handler of a service, as ``GET /services/{name}/handlers`` returns it."""

    model_config = ConfigDict(frozen=True)

    name: str
    """The handler name."""
    ty: HandlerKind | None
    """Handler type; ``None`` for handlers of plain services."""
    documentation: str | None = None
    """Documentation of the handler, as propagated by the SDK."""
    input_description: str
    """Human readable description of the accepted input."""
    output_description: str
    """Human readable description of the output."""
    input_json_schema: Any = None
    """JSON schema of the input, when the SDK knows one."""
    output_json_schema: Any = None
    """JSON schema of the output, when the SDK knows one."""
    public: bool
    """Whether the handler can be invoked through the ingress."""
    journal_retention: str | None = None
    """How long this handler's completed invocations keep journal and status (resolved:
    handler over service over runtime default)."""
    idempotency_retention: str | None = None
    """How long this handler's idempotent results are kept (resolved)."""
    inactivity_timeout: str | None = None
    """Silence after which an attempt is asked to suspend (resolved)."""
    abort_timeout: str | None = None
    """Time after the inactivity timeout before an attempt is aborted; ``None``: never."""
    enable_lazy_state: bool | None = None
    """The runtime answers state reads key by key instead of sending a snapshot."""
    retry_policy: RetryPolicyMetadata | None = None
    """The retry policy of this handler's failed attempts (resolved)."""


class ServiceMetadata(BaseModel):
    """A registered service, as ``GET /services/{name}`` returns it."""

    model_config = ConfigDict(frozen=True)

    name: str
    """Fully qualified service name."""
    ty: ServiceType
    """Service type."""
    revision: int
    """Latest revision of the service."""
    deployment_id: str
    """Deployment exposing the latest revision."""
    public: bool
    """Whether the service can be invoked through the ingress."""
    documentation: str | None = None
    """Documentation of the service, as propagated by the SDK."""
    handlers: list[HandlerMetadata]
    """Handlers, in declaration order."""
    idempotency_retention: str | None
    """How long idempotent request results are kept (friendly duration)."""
    journal_retention: str | None
    """How long journals of completed invocations are kept (friendly duration)."""
    workflow_completion_retention: str | None
    """How long a completed workflow is kept; only set for workflows."""
    inactivity_timeout: str | None
    """Time without progress before the invocation is asked to suspend; ``None`` = default."""
    abort_timeout: str | None
    """Time after the inactivity timeout before the invocation is aborted; ``None`` = default."""
    retry_policy: RetryPolicyMetadata | None = None
    """The retry policy of failed attempts the service declares, over the runtime's default
    (a handler may declare its own)."""


class ListServicesResponse(BaseModel):
    """Body of ``GET /services``."""

    services: list[ServiceMetadata]


class ListHandlersResponse(BaseModel):
    """Body of ``GET /services/{name}/handlers``."""

    handlers: list[HandlerMetadata]


class ModifyServiceStateRequest(BaseModel):
    """Body of ``POST /services/{name}/state`` (Restate's ``ModifyServiceStateRequest``)."""

    object_key: str
    """Key of the virtual object or workflow whose state is replaced."""
    new_state: dict[str, list[Byte]]
    """The complete new state: key to value bytes (each 0..255). Keys not listed are deleted."""
    version: str | None = None
    """Expected current version (see :func:`state_version`); on mismatch nothing is written."""


class ObjectStateResponse(BaseModel):
    """Body of ``GET /services/{name}/state/{key}`` (an rt extension)."""

    service: str
    """Service name."""
    key: str
    """Object (or workflow) key."""
    state: dict[str, list[int]]
    """State entries: key to value bytes."""
    state_utf8: dict[str, str | None]
    """The same values decoded as UTF-8; ``None`` where the bytes are not valid UTF-8."""
    version: str
    """Opaque version of this state, for optimistic ``POST /services/{name}/state``."""


def friendly_duration(seconds: float | None) -> str | None:
    """Render a duration the way Restate's admin API does (humantime style).

    Args:
        seconds: The duration in seconds, or ``None``.

    Returns:
        ``None`` for ``None``, otherwise e.g. ``"1day"``, ``"2days 3h"``, ``"1m 30s"``,
        ``"250ms"`` or ``"0s"``.

    Raises:
        ValueError: If ``seconds`` is negative.

    Example:
        >>> friendly_duration(24 * 3600)
        '1day'
    """
    if seconds is None:
        return None
    if seconds < 0:
        raise ValueError(f"negative duration: {seconds}")
    total_ms = round(seconds * 1000)
    if total_ms == 0:
        return "0s"
    days, rest = divmod(total_ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    parts: list[str] = []
    if days:
        parts.append(f"{days}day" if days == 1 else f"{days}days")
    parts.extend(
        f"{value}{unit}"
        for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s"), (millis, "ms"))
        if value
    )
    return " ".join(parts)


def state_version(state: Mapping[str, bytes]) -> str:
    """The opaque version of an object's state, computed like Restate's ``StateMutationVersion``.

    A canonical SHA-256 over the entries sorted by key (index, ``0x01``, key,
    ``0x02``, value, ``0x03`` for each), URL-safe base64 without padding, so the
    same state gives the same version as Restate's CLI computes.

    Args:
        state: Key to value bytes.

    Returns:
        The version string.

    Example:
        >>> state_version({})
        '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU'
    """
    hasher = hashlib.sha256()
    for index, key in enumerate(sorted(state, key=str.encode)):
        hasher.update(index.to_bytes(8, "big"))
        hasher.update(b"\x01")
        hasher.update(key.encode())
        hasher.update(b"\x02")
        hasher.update(state[key])
        hasher.update(b"\x03")
    return base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode()


def _json_info(schema: object) -> str | None:
    if isinstance(schema, dict):
        title = schema.get("title")
        if isinstance(title, str):
            return f"JSON '{title}'"
        ty = schema.get("type")
        if isinstance(ty, str):
            return f"JSON {ty}"
    return None


def handler_metadata(
    handler: HandlerInfo, *, service_public: bool = True, service: ServiceInfo | None = None
) -> HandlerMetadata:
    """Build the admin view of one handler.

    Descriptions default the way Restate derives them: the schema's title
    (``JSON 'Greeting'``), else its type (``JSON object``), else the content type.
    A handler of a private service is reported private, as it is at the ingress.

    Args:
        handler: The registry's handler info.
        service_public: Whether the handler's service is public.
        service: The handler's service: with it, the options the handler runs with
            (retentions, timeouts, retry policy) are resolved and reported.

    Returns:
        The handler's metadata.
    """
    input_description = handler.input_description or _json_info(handler.input_json_schema)
    if input_description is None:
        input_description = handler.accept
        if not handler.input_required:
            input_description = f'one of ["none", "{handler.accept}"]'
    output_description = (
        handler.output_description or _json_info(handler.output_json_schema) or handler.content_type
    )
    resolved: dict[str, Any] = {}
    if service is not None:
        timeouts = service.timeouts(handler.name)
        resolved = {
            "journal_retention": _friendly_ms(
                service.retention_ms(handler.name, TargetKind.SERVICE, idempotent=False)
            ),
            "idempotency_retention": _friendly_ms(
                service.retention_ms(handler.name, TargetKind.SERVICE, idempotent=True)
            ),
            "inactivity_timeout": friendly_duration(timeouts.inactivity_s),
            "abort_timeout": friendly_duration(timeouts.abort_s),
            "enable_lazy_state": handler.lazy_state,
            "retry_policy": retry_policy_metadata(service.retry_policy(handler.name)),
        }
    return HandlerMetadata(
        **resolved,
        name=handler.name,
        ty=handler.kind,
        documentation=handler.documentation,
        input_description=input_description,
        output_description=output_description,
        input_json_schema=handler.input_json_schema,
        output_json_schema=handler.output_json_schema,
        public=handler.public and service_public,
    )


def service_metadata(service: ServiceInfo) -> ServiceMetadata:
    """Build the admin view of one service.

    Args:
        service: The registry's service info.

    Returns:
        The service's metadata (in-process services: revision 1, deployment
        ``dp_inprocess``).
    """
    workflow_retention = (
        _friendly_ms(service.workflow_retention_ms) if service.ty is ServiceType.WORKFLOW else None
    )
    declared = service.options
    return ServiceMetadata(
        name=service.name,
        ty=service.ty,
        revision=service.revision,
        deployment_id=service.deployment_id or IN_PROCESS_DEPLOYMENT_ID,
        public=service.public,
        documentation=service.documentation,
        handlers=[
            handler_metadata(h, service_public=service.public, service=service)
            for h in service.handlers.values()
        ],
        idempotency_retention=_friendly_ms(service.idempotency_retention_ms),
        journal_retention=_friendly_ms(service.journal_retention_ms),
        workflow_completion_retention=workflow_retention,
        inactivity_timeout=_friendly_ms(declared.inactivity_timeout_ms),
        abort_timeout=_friendly_ms(declared.abort_timeout_ms),
        retry_policy=retry_policy_metadata(service.retry_policy(None)),
    )


def _friendly_ms(ms: int | None) -> str | None:
    return friendly_duration(ms / 1000 if ms is not None else None)
