"""Turn SDK service definitions into the runtime's registry view."""

from __future__ import annotations

import types
import typing
from datetime import timedelta
from typing import Any

from runtime.registry import HandlerInfo, HandlerKind, Registry, ServiceInfo, ServiceType
from sdk import _definitions as sd

_TYPES = {
    sd.ServiceType.SERVICE: ServiceType.SERVICE,
    sd.ServiceType.VIRTUAL_OBJECT: ServiceType.VIRTUAL_OBJECT,
    sd.ServiceType.WORKFLOW: ServiceType.WORKFLOW,
}
_KINDS = {
    sd.HandlerKind.EXCLUSIVE: HandlerKind.EXCLUSIVE,
    sd.HandlerKind.SHARED: HandlerKind.SHARED,
    sd.HandlerKind.WORKFLOW: HandlerKind.WORKFLOW,
}
DAY_S = 24 * 3600.0


def _optional(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return type(None) in typing.get_args(hint)
    return hint is None or hint is type(None) or hint is typing.Any


def _schema(hint: Any) -> dict[str, object] | None:
    if hint is None or hint is typing.Any:
        return None
    try:
        from pydantic import TypeAdapter

        schema: dict[str, object] = TypeAdapter(hint).json_schema()
        return schema
    except Exception:  # noqa: BLE001 - a schema is documentation, never a reason to fail
        return None


def _seconds(td: timedelta | None, default: float | None) -> float | None:
    return td.total_seconds() if td is not None else default


def handler_info(h: sd.HandlerDefinition) -> HandlerInfo:
    eff = h.effective
    return HandlerInfo(
        name=h.name,
        kind=_KINDS[h.kind] if h.kind is not None else None,
        public=not eff.ingress_private,
        lazy_state=eff.enable_lazy_state,
        accept=h.options.accept,
        content_type=h.options.content_type,
        input_required=h.arity == 2 and not _optional(h.input_type),
        input_json_schema=_schema(h.input_type) if h.arity == 2 else None,
        output_json_schema=_schema(h.output_type),
        documentation=h.options.description or (h.fn.__doc__ or None),
        idempotency_retention_s=_seconds(h.options.idempotency_retention, None),
        journal_retention_s=_seconds(h.options.journal_retention, None),
    )


def service_info(
    svc: sd.ServiceDefinition, default_journal_retention_s: float = DAY_S
) -> ServiceInfo:
    o = svc.options
    main = next((h for h in svc.handlers.values() if h.kind is sd.HandlerKind.WORKFLOW), None)
    wf_retention = main.options.workflow_retention if main is not None else None
    return ServiceInfo(
        name=svc.name,
        ty=_TYPES[svc.service_type],
        handlers={name: handler_info(h) for name, h in svc.handlers.items()},
        public=not bool(o.ingress_private),
        documentation=o.description,
        idempotency_retention_s=_seconds(o.idempotency_retention, DAY_S) or DAY_S,
        journal_retention_s=_seconds(o.journal_retention, default_journal_retention_s) or 0.0,
        # Zero is a valid workflow retention (purge at once), unlike a missing option.
        workflow_retention_s=wf_retention.total_seconds() if wf_retention is not None else DAY_S,
        inactivity_timeout_s=_seconds(o.inactivity_timeout, None),
        abort_timeout_s=_seconds(o.abort_timeout, None),
    )


def registry_from_sdk(services: list[Any], default_journal_retention_s: float = DAY_S) -> Registry:
    """The runtime's view of the app's services; ``default_journal_retention_s`` applies
    where a service sets no ``journal_retention`` (the ``default_journal_retention_s``
    setting)."""
    return Registry([service_info(s, default_journal_retention_s) for s in services])
