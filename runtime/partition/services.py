"""What the partition machine asks about deployed services, in one place.

A view over the registry: whether a handler reads state lazily, whether a
service is a workflow, how long a completed invocation is kept, and the
target of a call or send. Owns these lookups; may not change the registry.
"""

from __future__ import annotations

from runtime.log import records
from runtime.log.routing import target_kind
from runtime.partition.status import InvocationStatus
from runtime.registry import Registry

DEFAULT_RETENTION_MS = 24 * 3600 * 1000
"""Retention of a completed invocation whose service is not (or no longer) known."""


class ServiceCatalog:
    """Lookups of the partition machine in the node's registry."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def lazy_state(self, st: InvocationStatus) -> bool:
        """The handler answers state reads key by key through the runtime (no snapshot)."""
        svc = self._registry.get(st.target.service)
        handler = svc.handler(st.target.handler) if svc is not None else None
        return handler is not None and handler.lazy_state

    def is_workflow(self, st: InvocationStatus | None) -> bool:
        if st is None:
            return False
        svc = self._registry.get(st.target.service)
        return svc is not None and svc.ty.value == "Workflow"

    def retention_ms(self, st: InvocationStatus) -> int:
        """How long the completed ``st`` is kept (a workflow's, idempotent or journal)."""
        svc = self._registry.get(st.target.service)
        if svc is None:
            return DEFAULT_RETENTION_MS
        if st.target.kind == "workflow":
            return int(svc.workflow_retention_s * 1000)
        h = svc.handler(st.target.handler)
        if st.idempotency_key is not None:
            over = h.idempotency_retention_s if h is not None else None
            return int((svc.idempotency_retention_s if over is None else over) * 1000)
        over = h.journal_retention_s if h is not None else None
        return int((svc.journal_retention_s if over is None else over) * 1000)

    def call_target(self, service: str, handler: str, key: str | None) -> records.Target | None:
        """The target of a call or send, or None when no such handler is deployed."""
        svc = self._registry.get(service)
        if svc is None or (h := svc.handler(handler)) is None:
            return None
        return records.Target(service, handler, key, target_kind(svc.ty, h.kind))
