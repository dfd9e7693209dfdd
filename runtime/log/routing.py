"""Where a target's records go: its kind and its routing key (shared by ingress and processors)."""

from __future__ import annotations

from runtime.log import records
from runtime.registry import HandlerKind, ServiceType
from sdk._ids import keyed_routing_key


def target_kind(service_ty: ServiceType, handler_kind: HandlerKind | None) -> str:
    if service_ty is ServiceType.SERVICE:
        return "service"
    if handler_kind is HandlerKind.SHARED:
        return "shared"
    if handler_kind is HandlerKind.WORKFLOW:
        return "workflow"
    return "exclusive"


def routing_key_of(target: records.Target, invocation_id: str) -> bytes:
    if target.key is None:
        return invocation_id.encode()
    return keyed_routing_key(target.service, target.key)
