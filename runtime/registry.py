"""What the runtime knows about services: a plain, serialisable view of the SDK definitions.

The ingress, admin API and processors read this view, never the SDK objects
directly, so the same code serves in-process apps and (later) registered HTTP
deployments whose definitions arrive by discovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ServiceType(StrEnum):
    SERVICE = "Service"
    VIRTUAL_OBJECT = "VirtualObject"
    WORKFLOW = "Workflow"

    @property
    def keyed(self) -> bool:
        return self is not ServiceType.SERVICE


class HandlerKind(StrEnum):
    EXCLUSIVE = "Exclusive"
    SHARED = "Shared"
    WORKFLOW = "Workflow"  # a workflow's main (run) handler


@dataclass(frozen=True)
class HandlerInfo:
    name: str
    kind: HandlerKind | None  # None for plain services
    public: bool = True
    accept: str = "application/json"
    """Content types the input accepts (`*/*` for any)."""
    content_type: str = "application/json"
    """Content type of the output."""
    lazy_state: bool = False
    """``enable_lazy_state``: the runtime answers state reads key by key (no snapshot)."""
    input_required: bool = True
    """False when the handler takes no argument (or an Optional one): empty body allowed."""
    input_description: str | None = None
    output_description: str | None = None
    input_json_schema: dict[str, object] | None = None
    output_json_schema: dict[str, object] | None = None
    documentation: str | None = None
    idempotency_retention_s: float | None = None
    """Handler-level override of the service's idempotency retention (None: the service's)."""
    journal_retention_s: float | None = None
    """Handler-level override of the service's journal retention (None: the service's)."""


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    ty: ServiceType
    handlers: dict[str, HandlerInfo] = field(default_factory=dict)
    public: bool = True
    documentation: str | None = None
    idempotency_retention_s: float = 24 * 3600
    journal_retention_s: float = 24 * 3600
    workflow_retention_s: float = 24 * 3600
    inactivity_timeout_s: float | None = None
    abort_timeout_s: float | None = None

    def handler(self, name: str) -> HandlerInfo | None:
        return self.handlers.get(name)


class Registry:
    """Services by name (mutable: deployments can be added at run time)."""

    def __init__(self, services: list[ServiceInfo] | None = None) -> None:
        self._services: dict[str, ServiceInfo] = {s.name: s for s in services or []}

    def get(self, name: str) -> ServiceInfo | None:
        return self._services.get(name)

    def names(self) -> list[str]:
        return sorted(self._services)

    def all(self) -> list[ServiceInfo]:
        return [self._services[n] for n in sorted(self._services)]

    def add(self, service: ServiceInfo) -> None:
        self._services[service.name] = service
