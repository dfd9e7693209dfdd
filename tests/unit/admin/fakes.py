"""An in-memory AdminBackend and a hand-built Registry for admin API and CLI tests."""

from __future__ import annotations

from collections.abc import Callable

from runtime.registry import (
    DAY_MS,
    HandlerInfo,
    HandlerKind,
    Options,
    Registry,
    ServiceInfo,
    ServiceType,
)
from runtime.state.reads import PartitionInfo


class InMemoryAdminBackend:
    """Object state in a dict; ``after_get`` lets a test change state behind a reader's back."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], dict[str, bytes]] = {}
        self.writes: list[tuple[str, str, dict[str, bytes]]] = []
        self.fail_with: Exception | None = None
        self.after_get: Callable[[str, str], None] | None = None
        self.partitions: list[PartitionInfo] = []

    async def get_state(self, service: str, key: str) -> dict[str, bytes]:
        if self.fail_with is not None:
            raise self.fail_with
        state = dict(self.states.get((service, key), {}))
        if self.after_get is not None:
            self.after_get(service, key)
        return state

    async def set_state(self, service: str, key: str, new_state: dict[str, bytes]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.writes.append((service, key, dict(new_state)))
        self.states[(service, key)] = dict(new_state)

    async def partition_infos(self) -> list[PartitionInfo]:
        if self.fail_with is not None:
            raise self.fail_with
        return list(self.partitions)


GREETING_SCHEMA: dict[str, object] = {
    "title": "Greeting",
    "type": "object",
    "properties": {"name": {"type": "string"}, "lang": {"$ref": "#/$defs/Lang"}},
    "required": ["name"],
    "$defs": {"Lang": {"type": "string", "enum": ["en", "de"]}},
}


def sample_registry() -> Registry:
    """A Service, a VirtualObject, a Workflow and a private Service."""
    return Registry(
        [
            ServiceInfo(
                "Greeter",
                ServiceType.SERVICE,
                {
                    "greet": HandlerInfo(
                        "greet",
                        None,
                        input_json_schema=GREETING_SCHEMA,
                        output_json_schema={"type": "string"},
                        documentation="Say hello.",
                    ),
                    "internal": HandlerInfo("internal", None, public=False),
                },
                documentation="Greets people.",
            ),
            ServiceInfo(
                "Counter",
                ServiceType.VIRTUAL_OBJECT,
                {
                    "add": HandlerInfo(
                        "add", HandlerKind.EXCLUSIVE, input_json_schema={"type": "integer"}
                    ),
                    "get": HandlerInfo(
                        "get",
                        HandlerKind.SHARED,
                        input_required=False,
                        output_json_schema={"type": "integer"},
                    ),
                },
                options=Options(inactivity_timeout_ms=60_000, abort_timeout_ms=90_500),
            ),
            ServiceInfo(
                "Signup",
                ServiceType.WORKFLOW,
                {
                    "run": HandlerInfo(
                        "run",
                        HandlerKind.WORKFLOW,
                        options=Options(workflow_completion_retention_ms=7 * DAY_MS),
                    ),
                    "status": HandlerInfo("status", HandlerKind.SHARED, input_required=False),
                },
                options=Options(journal_retention_ms=3_600_000),
            ),
            ServiceInfo(
                "Hidden",
                ServiceType.SERVICE,
                {"poke": HandlerInfo("poke", None, accept="*/*", content_type="text/plain")},
                public=False,
            ),
        ]
    )
