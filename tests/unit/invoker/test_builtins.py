"""rt's built-in services are hosted next to the user's, and their namespace is rt's."""

from __future__ import annotations

from pathlib import Path

import pytest

import sdk
from runtime.invoker.builtins import with_builtins
from runtime.invoker.loader import AppLoadError, load_services
from runtime.invoker.services import registry_from_sdk
from runtime.registry import ServiceType


def test_every_node_hosts_rt_kafka_next_to_the_app() -> None:
    greeter = sdk.Service("Greeter")

    @greeter.handler()
    async def greet(ctx: sdk.Context, name: str) -> str:
        return name

    services = with_builtins([greeter])
    registry = registry_from_sdk(services)
    kafka = registry.get("rt.Kafka")
    assert kafka is not None and kafka.ty is ServiceType.VIRTUAL_OBJECT
    assert list(kafka.handlers) == ["emit"] and kafka.options.ingress_private
    assert registry.get("Greeter") is not None


def test_a_user_service_in_the_rt_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match=r"reserved for rt's built-in services: rename rt\.Mine"):
        with_builtins([sdk.Service("rt.Mine")])


def test_an_app_file_defining_one_fails_to_load(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("import sdk\nmine = sdk.VirtualObject('rt.Counter')\n")
    with pytest.raises(AppLoadError, match=r"rename rt\.Counter"):
        load_services([app])
