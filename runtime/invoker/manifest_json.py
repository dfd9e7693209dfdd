"""A discovered endpoint manifest back in Restate's JSON shape, for the registry.

Discovery (:func:`runtime.protocol.discover`) validates an endpoint's manifest into
typed dataclasses; the service model (:mod:`runtime.invoker.services`, ADR 0017) and
the registry topic keep the manifest as Restate's JSON (camelCase fields, durations
in milliseconds), the one description every node rebuilds a deployment's services
from. Owns that conversion only; pure.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runtime.protocol import (
    EndpointManifest,
    HandlerManifest,
    InputPayload,
    Options,
    OutputPayload,
    ServiceManifest,
)


def manifest_json(manifest: EndpointManifest) -> dict[str, Any]:
    """The manifest as the endpoint's ``GET /discover`` JSON would state it.

    Example:
        >>> manifest_json(discovered.manifest)["services"][0]["name"]  # doctest: +SKIP
        'Greeter'
    """
    out: dict[str, Any] = {
        "minProtocolVersion": manifest.min_protocol_version,
        "maxProtocolVersion": manifest.max_protocol_version,
        "services": [_service(s) for s in manifest.services],
    }
    if manifest.protocol_mode is not None:
        out["protocolMode"] = manifest.protocol_mode.value
    return out


def _service(s: ServiceManifest) -> dict[str, Any]:
    return {
        "name": s.name,
        "ty": s.ty.value,
        "handlers": [_handler(h) for h in s.handlers],
        **_options(s.options),
    }


def _handler(h: HandlerManifest) -> dict[str, Any]:
    out: dict[str, Any] = {"name": h.name, **_options(h.options)}
    if h.ty is not None:
        out["ty"] = h.ty.value
    if h.options.workflow_completion_retention is not None:
        out["workflowCompletionRetention"] = _ms(h.options.workflow_completion_retention)
    out["input"] = _input(h.input)
    out["output"] = _output(h.output)
    return out


def _input(p: InputPayload) -> dict[str, Any]:
    out: dict[str, Any] = {"required": p.required}
    if p.content_type is not None:
        out["contentType"] = p.content_type
    if p.json_schema is not None:
        out["jsonSchema"] = p.json_schema
    return out


def _output(p: OutputPayload) -> dict[str, Any]:
    out: dict[str, Any] = {"setContentTypeIfEmpty": p.set_content_type_if_empty}
    if p.content_type is not None:
        out["contentType"] = p.content_type
    if p.json_schema is not None:
        out["jsonSchema"] = p.json_schema
    return out


def _options(o: Options) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "documentation": o.documentation,
        "metadata": dict(o.metadata) or None,
        "inactivityTimeout": _ms(o.inactivity_timeout),
        "abortTimeout": _ms(o.abort_timeout),
        "journalRetention": _ms(o.journal_retention),
        "idempotencyRetention": _ms(o.idempotency_retention),
        "enableLazyState": o.enable_lazy_state,
        "ingressPrivate": o.ingress_private,
        "retryPolicyInitialInterval": _ms(o.retry_policy.initial_interval),
        "retryPolicyMaxInterval": _ms(o.retry_policy.max_interval),
        "retryPolicyMaxAttempts": o.retry_policy.max_attempts,
        "retryPolicyExponentiationFactor": o.retry_policy.exponentiation_factor,
        "retryPolicyOnMaxAttempts": (
            o.retry_policy.on_max_attempts.value
            if o.retry_policy.on_max_attempts is not None
            else None
        ),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _ms(value: timedelta | None) -> int | None:
    return None if value is None else round(value.total_seconds() * 1000)
