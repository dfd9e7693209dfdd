"""Build the service model (:mod:`runtime.registry`) from a discovery manifest.

The manifest is the one description of a deployment's services: what
``GET /discover`` returns (Restate's endpoint manifest: services, handlers,
their types, input/output and option fields, durations in milliseconds). An
in-process app is read through the very manifest its ``sdk.app`` serves
(:func:`registry_from_sdk`), so a remote deployment announcing the same
manifest yields the same registry entries.

A manifest from a remote endpoint is untrusted input: :func:`services_from_manifest`
checks every field it reads and raises :class:`ManifestError` naming it.
May import :mod:`runtime.registry` and the SDK's public ``sdk.app``; nothing else of rt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.registry import (
    Defaults,
    HandlerInfo,
    HandlerKind,
    OnMaxAttempts,
    Options,
    Registry,
    RetryOptions,
    ServiceInfo,
    ServiceType,
    handler_lazy_state,
    handler_public,
)
from sdk.engine import App

DAY_S = 24 * 3600.0

SERVICE_TYPES = {
    "SERVICE": ServiceType.SERVICE,
    "VIRTUAL_OBJECT": ServiceType.VIRTUAL_OBJECT,
    "WORKFLOW": ServiceType.WORKFLOW,
}
"""The manifest's service ``ty`` values."""
HANDLER_TYPES = {
    "EXCLUSIVE": HandlerKind.EXCLUSIVE,
    "SHARED": HandlerKind.SHARED,
    "WORKFLOW": HandlerKind.WORKFLOW,
}
"""The manifest's handler ``ty`` values."""
_DEFAULT_HANDLER_KIND = {
    ServiceType.SERVICE: None,
    ServiceType.VIRTUAL_OBJECT: HandlerKind.EXCLUSIVE,
    ServiceType.WORKFLOW: HandlerKind.WORKFLOW,
}
"""A handler without ``ty`` (the manifest schema's defaults)."""
_JSON = "application/json"


class ManifestError(ValueError):
    """A manifest that does not describe services the way Restate's schema says."""


def services_from_manifest(
    manifest: Mapping[str, Any], defaults: Defaults | None = None
) -> list[ServiceInfo]:
    """The services a discovery manifest describes.

    Args:
        manifest: The decoded JSON of ``GET /discover``.
        defaults: The runtime's defaults the entries resolve against.

    Returns:
        One entry per service, handlers in manifest order.

    Raises:
        ManifestError: A missing or mistyped field, with its path.

    Example:
        >>> greeter = {"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]}
        >>> services_from_manifest({"services": [greeter]})[0].handlers["greet"].kind is None
        True
    """
    d = defaults if defaults is not None else Defaults()
    services = _get(manifest, "services", list, "manifest", required=True)
    return [
        _service(_obj(s, f"services[{i}]"), d, f"services[{i}]") for i, s in enumerate(services)
    ]


def registry_from_manifest(
    manifest: Mapping[str, Any], defaults: Defaults | None = None
) -> Registry:
    """A :class:`Registry` of the services of ``manifest`` (see :func:`services_from_manifest`)."""
    d = defaults if defaults is not None else Defaults()
    return Registry(services_from_manifest(manifest, d), d)


def registry_from_sdk(services: list[Any], default_journal_retention_s: float = DAY_S) -> Registry:
    """The registry of an in-process app, read from the manifest its ``sdk.app`` serves.

    Args:
        services: The app's Service/VirtualObject/Workflow definitions.
        default_journal_retention_s: The ``default_journal_retention_s`` setting: the
            journal retention where neither a handler nor its service sets one.

    Returns:
        The registry.
    """
    manifest = App(services).discovery()
    return registry_from_manifest(
        manifest, Defaults(journal_retention_ms=round(default_journal_retention_s * 1000))
    )


def _service(entry: Mapping[str, Any], defaults: Defaults, where: str) -> ServiceInfo:
    name = _get(entry, "name", str, where, required=True)
    ty_text = _get(entry, "ty", str, where, required=True)
    ty = SERVICE_TYPES.get(ty_text)
    if ty is None:
        raise ManifestError(f"{where}.ty: unknown service type {ty_text!r}")
    options = _options(entry, where)
    handlers: dict[str, HandlerInfo] = {}
    for i, raw in enumerate(_get(entry, "handlers", list, where, required=True)):
        h = _handler(_obj(raw, f"{where}.handlers[{i}]"), ty, options, f"{where}.handlers[{i}]")
        if h.name in handlers:
            raise ManifestError(f"{where}.handlers[{i}]: duplicate handler {h.name!r}")
        handlers[h.name] = h
    return ServiceInfo(
        name=name,
        ty=ty,
        handlers=handlers,
        public=not options.ingress_private,
        documentation=_get(entry, "documentation", str, where) or None,
        options=options,
        defaults=defaults,
    )


def _handler(
    entry: Mapping[str, Any], ty: ServiceType, service: Options, where: str
) -> HandlerInfo:
    name = _get(entry, "name", str, where, required=True)
    kind_text = _get(entry, "ty", str, where)
    if kind_text is None:
        kind = _DEFAULT_HANDLER_KIND[ty]
    elif ty is ServiceType.SERVICE:
        raise ManifestError(f"{where}.ty: handlers of a plain service have no type")
    else:
        kind = HANDLER_TYPES.get(kind_text)
        if kind is None:
            raise ManifestError(f"{where}.ty: unknown handler type {kind_text!r}")
    options = _options(entry, where)
    accept, required, input_schema = _input(entry, where)
    content_type, output_schema = _output(entry, where)
    return HandlerInfo(
        name=name,
        kind=kind,
        public=handler_public(options, service),
        accept=accept,
        content_type=content_type,
        lazy_state=handler_lazy_state(options, service),
        input_required=required,
        input_json_schema=input_schema,
        output_json_schema=output_schema,
        documentation=_get(entry, "documentation", str, where) or None,
        options=options,
    )


def _input(entry: Mapping[str, Any], where: str) -> tuple[str, bool, dict[str, object] | None]:
    """(accept, required, schema). Absent: any content, optional (the schema's default);
    ``{}``: no input — an empty body, or a JSON one the handler never reads."""
    raw = entry.get("input")
    if raw is None:
        return "*/*", False, None
    inp = _obj(raw, f"{where}.input")
    accept = _get(inp, "contentType", str, f"{where}.input") or _JSON
    required = bool(_get(inp, "required", bool, f"{where}.input"))
    return accept, required, _schema(inp.get("jsonSchema"))


def _output(entry: Mapping[str, Any], where: str) -> tuple[str, dict[str, object] | None]:
    raw = entry.get("output")
    if raw is None:
        return _JSON, None
    out = _obj(raw, f"{where}.output")
    return _get(out, "contentType", str, f"{where}.output") or _JSON, _schema(out.get("jsonSchema"))


def _schema(value: object) -> dict[str, object] | None:
    # ``true`` (any JSON) and other non-object schemas describe nothing worth showing.
    return value if isinstance(value, dict) else None


def _options(entry: Mapping[str, Any], where: str) -> Options:
    on_max = _get(entry, "retryPolicyOnMaxAttempts", str, where)
    if on_max is not None and on_max not in ("PAUSE", "KILL"):
        raise ManifestError(f"{where}.retryPolicyOnMaxAttempts: expected PAUSE or KILL")
    retry = RetryOptions(
        initial_interval_ms=_ms(entry, "retryPolicyInitialInterval", where),
        max_interval_ms=_ms(entry, "retryPolicyMaxInterval", where),
        max_attempts=_ms(entry, "retryPolicyMaxAttempts", where),
        exponentiation_factor=_factor(entry, where),
        on_max_attempts=OnMaxAttempts(on_max.lower()) if on_max is not None else None,
    )
    metadata = _get(entry, "metadata", dict, where)
    if metadata is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ManifestError(f"{where}.metadata: expected a map of strings")
    return Options(
        inactivity_timeout_ms=_ms(entry, "inactivityTimeout", where),
        abort_timeout_ms=_ms(entry, "abortTimeout", where),
        journal_retention_ms=_ms(entry, "journalRetention", where),
        idempotency_retention_ms=_ms(entry, "idempotencyRetention", where),
        workflow_completion_retention_ms=_ms(entry, "workflowCompletionRetention", where),
        ingress_private=_get(entry, "ingressPrivate", bool, where),
        enable_lazy_state=_get(entry, "enableLazyState", bool, where),
        retry_policy=None if retry == _NO_RETRY else retry,
        metadata=metadata,
    )


_NO_RETRY = RetryOptions()


def _ms(entry: Mapping[str, Any], name: str, where: str) -> int | None:
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ManifestError(f"{where}.{name}: expected an integer >= 0, got {value!r}")
    return value


def _factor(entry: Mapping[str, Any], where: str) -> float | None:
    value = entry.get("retryPolicyExponentiationFactor")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ManifestError(f"{where}.retryPolicyExponentiationFactor: expected a number >= 0")
    return float(value)


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where}: expected an object")
    return value


def _get(
    entry: Mapping[str, Any], name: str, ty: type, where: str, *, required: bool = False
) -> Any:
    value = entry.get(name)
    if value is None:
        if required:
            raise ManifestError(f"{where}.{name}: missing")
        return None
    if not isinstance(value, ty) or (ty is int and isinstance(value, bool)):
        raise ManifestError(f"{where}.{name}: expected {ty.__name__}, got {value!r}")
    return value
