"""``rt deployments register|ls|describe|rm`` against a served admin API.

The catalog is the real one (its rules, the admin router) with discovery injected and
its registry-topic writes kept in memory: no I/O beyond the local admin server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from runtime.admin.deployments import deployments_router
from runtime.cli import app
from runtime.invoker.deployments import DeploymentCatalog
from runtime.protocol import DiscoveredEndpoint, EndpointUnreachableError, parse_manifest
from runtime.registry import Registry
from tests.unit.admin.fakes import InMemoryAdminBackend
from tests.unit.cli.conftest import AdminServer, serve_admin

URI = "http://127.0.0.1:9080"
MANIFEST = {
    "minProtocolVersion": 5,
    "maxProtocolVersion": 7,
    "services": [
        {"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]},
        {"name": "Counter", "ty": "VIRTUAL_OBJECT", "handlers": [{"name": "add"}]},
    ],
}


class MemoryCatalog(DeploymentCatalog):
    """The catalog with its registry-topic writes kept in a list."""

    def __init__(self, registry: Registry, pinned: int = 0) -> None:
        async def discover(
            uri: str, *, use_http_11: bool, headers: dict[str, str], **_: Any
        ) -> Any:
            if "9999" in uri:
                raise EndpointUnreachableError(f"cannot reach endpoint {uri}: refused")
            return DiscoveredEndpoint(
                uri=uri,
                use_http_11=use_http_11,
                manifest=parse_manifest(json.dumps(MANIFEST).encode(), manifest_version=4),
                server="restate-sdk-python/1.2.0",
            )

        async def count(_: str) -> int:
            return self.pinned_now

        super().__init__(registry, "t.registry", None, count, discover)
        self.pinned_now = pinned
        self.writes: list[tuple[bytes, bytes | None]] = []

    async def _write(self, key: bytes, value: bytes | None) -> None:
        self.writes.append((key, value))


@pytest.fixture
def served() -> Iterator[tuple[AdminServer, MemoryCatalog]]:
    registry = Registry()
    catalog = MemoryCatalog(registry)
    with serve_admin(registry, InMemoryAdminBackend(), [deployments_router(catalog)]) as server:
        yield server, catalog


def _rt(runner: CliRunner, server: AdminServer, *args: str) -> Any:
    return runner.invoke(app, [*args, "--admin-url", server.url])


def test_register_previews_then_registers_once(
    runner: CliRunner, served: tuple[AdminServer, MemoryCatalog]
) -> None:
    server, catalog = served
    result = _rt(runner, server, "deployments", "register", URI, "--yes", "--header", "k: v")
    assert result.exit_code == 0, result.output
    assert "Endpoint http://127.0.0.1:9080 serves:" in result.stdout
    assert "Registered deployment dp_" in result.stdout
    assert "Greeter" in result.stdout and "Counter" in result.stdout
    assert len(catalog.writes) == 1
    record = json.loads(catalog.writes[0][1] or b"")
    assert record["endpoint"]["http"]["additional_headers"] == {"k": "v"}
    again = _rt(runner, server, "deployments", "register", URI, "--yes", "--header", "k: v")
    assert again.exit_code == 0, again.output
    assert f"Deployment already exists with id {record['id']}" in again.stdout
    assert len(catalog.writes) == 1


def test_register_asks_and_needs_yes_without_a_terminal(
    runner: CliRunner, served: tuple[AdminServer, MemoryCatalog]
) -> None:
    server, catalog = served
    result = _rt(runner, server, "deployments", "register", URI)
    assert result.exit_code == 1
    assert "pass --yes" in result.stderr
    assert catalog.writes == []


def test_register_errors_and_bad_headers(
    runner: CliRunner, served: tuple[AdminServer, MemoryCatalog]
) -> None:
    server, catalog = served
    result = _rt(runner, server, "deployments", "register", "http://127.0.0.1:9999", "--yes")
    assert result.exit_code == 1
    assert "discovery failed: cannot reach endpoint" in result.stderr
    assert "(HTTP 400)" in result.stderr
    bad = _rt(runner, server, "deployments", "register", URI, "--yes", "--header", "nocolon")
    assert bad.exit_code == 2 and "expected NAME:VALUE" in bad.stderr
    assert catalog.writes == []


def test_ls_describe_rm(runner: CliRunner, served: tuple[AdminServer, MemoryCatalog]) -> None:
    server, catalog = served
    empty = _rt(runner, server, "deployments", "ls")
    assert empty.exit_code == 0 and "No deployments" in empty.stdout
    assert _rt(runner, server, "deployments", "register", URI, "--yes").exit_code == 0
    dep_id = json.loads(catalog.writes[0][1] or b"")["id"]
    ls = _rt(runner, server, "deployments", "ls")
    assert ls.exit_code == 0, ls.output
    assert dep_id in ls.stdout and URI in ls.stdout and "Greeter@1, Counter@1" in ls.stdout
    catalog.pinned_now = 3
    describe = _rt(runner, server, "deployments", "describe", dep_id)
    assert describe.exit_code == 0, describe.output
    assert "Pinned invocations: 3" in describe.stdout
    assert "BidiStream over HTTP/2.0" in describe.stdout
    refused = _rt(runner, server, "deployments", "rm", dep_id)
    assert refused.exit_code == 1 and "3 unfinished invocation(s) pinned" in refused.stderr
    forced = _rt(runner, server, "deployments", "rm", dep_id, "--force")
    assert forced.exit_code == 0 and f"Removed deployment {dep_id}" in forced.stdout
    assert catalog.writes[-1] == (f"deployment/{dep_id}".encode(), None)
    missing = _rt(runner, server, "deployments", "describe", dep_id)
    assert missing.exit_code == 1 and "does not exist" in missing.stderr


def test_patch_moves_a_deployment_in_place(served: tuple[AdminServer, MemoryCatalog]) -> None:
    import httpx

    server, catalog = served
    created = httpx.post(f"{server.url}/deployments", json={"uri": URI}, timeout=10)
    assert created.status_code == 201, created.text
    dep_id = created.json()["id"]
    moved = httpx.patch(
        f"{server.url}/deployments/{dep_id}",
        json={"uri": "http://127.0.0.1:9081", "additional_headers": {"a": "b"}},
        timeout=10,
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["id"] == dep_id and body["uri"] == "http://127.0.0.1:9081"
    assert body["additional_headers"] == {"a": "b"}
    assert [s["revision"] for s in body["services"]] == [1, 1]
    assert len(catalog.writes) == 2
    unknown = httpx.patch(f"{server.url}/deployments/dp_x", json={}, timeout=10)
    assert unknown.status_code == 404
    unreachable = httpx.patch(
        f"{server.url}/deployments/{dep_id}", json={"uri": "http://127.0.0.1:9999"}, timeout=10
    )
    assert unreachable.status_code == 400 and "discovery failed" in unreachable.json()["message"]
    assert len(catalog.writes) == 2
