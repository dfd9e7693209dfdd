"""What the partition machine asks about deployed services, in one place.

A view over the service model (``runtime.registry``): whether a handler reads
state lazily, whether a service is a workflow, how long a completed invocation
is kept, and the target of a call or send. The registry resolves every option
(handler over service over runtime default); this module only asks. Owns these
lookups; may not change the registry or resolve an option itself.
"""

from __future__ import annotations

from runtime.log import records
from runtime.partition.status import InvocationStatus
from runtime.registry import Registry, ServiceType


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
        return svc is not None and svc.ty is ServiceType.WORKFLOW

    def retention_ms(self, st: InvocationStatus) -> int:
        """How long the completed ``st`` is kept (a workflow's, idempotent or journal);
        a service the registry does not know (any more) gets the runtime's defaults."""
        t = st.target
        return self._registry.retention_ms(
            t.service, t.handler, t.kind, idempotent=st.idempotency_key is not None
        )

    def call_target(self, service: str, handler: str, key: str | None) -> records.Target | None:
        """The target of a call or send, or None when no such handler is deployed."""
        svc = self._registry.get(service)
        if svc is None or svc.handler(handler) is None:
            return None
        return records.Target(service, handler, key, svc.target_kind(handler))
