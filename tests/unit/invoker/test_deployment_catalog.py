"""Registration rules of the deployment catalog, without I/O (discovery is injected).

Writes to the registry topic are covered by tests/e2e/test_deployments.py; here every
case is either refused before anything is written or a dry run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.invoker import deployment_record as dr
from runtime.invoker.deployments import DeploymentCatalog, DeploymentError
from runtime.invoker.services import registry_from_manifest
from runtime.protocol import (
    DiscoveredEndpoint,
    EndpointUnreachableError,
    UnsupportedProtocolVersionError,
    parse_manifest,
)
from runtime.registry import Defaults, HttpEndpoint, Registry

URI = "http://127.0.0.1:9080"


def _manifest(counter_get: str = "SHARED", counter_ty: str = "VIRTUAL_OBJECT") -> dict[str, Any]:
    return {
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [
            {"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]},
            {
                "name": "Counter",
                "ty": counter_ty,
                "handlers": [{"name": "add"}, {"name": "get", "ty": counter_get}]
                if counter_ty != "SERVICE"
                else [{"name": "add"}, {"name": "get"}],
            },
        ],
    }


def _discovery(manifest: dict[str, Any]) -> Any:
    async def discover(uri: str, *, use_http_11: bool, headers: dict[str, str], **_: Any) -> Any:
        return DiscoveredEndpoint(
            uri=uri.rstrip("/"),
            use_http_11=use_http_11,
            manifest=parse_manifest(json.dumps(manifest).encode(), manifest_version=4),
            server="restate-sdk-python/1.2.0",
        )

    return discover


def _failing(exc: Exception) -> Any:
    async def discover(uri: str, **_: Any) -> Any:
        raise exc

    return discover


def _catalog(registry: Registry, discover: Any) -> DeploymentCatalog:
    return DeploymentCatalog(registry, "t.registry", None, discover_fn=discover)


async def test_dry_run_describes_a_new_deployment_at_next_revisions() -> None:
    catalog = _catalog(Registry(), _discovery(_manifest()))
    reg = await catalog.register(URI + "/", dry_run=True, additional_headers={"k": "v"})
    d = reg.deployment
    assert reg.created and dr.valid_deployment_id(d.id)
    assert isinstance(d.endpoint, HttpEndpoint)
    assert d.endpoint.uri == URI and d.endpoint.protocol_version == 7 and d.endpoint.bidi
    assert d.endpoint.additional_headers == {"k": "v"}
    assert [(s.name, s.revision) for s in d.services] == [("Greeter", 1), ("Counter", 1)]
    assert await catalog.all() == []  # nothing registered


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (EndpointUnreachableError("cannot reach endpoint x"), "discovery failed: cannot reach"),
        (UnsupportedProtocolVersionError("speaks 1..2"), "unsupported service protocol"),
    ],
)
async def test_discovery_failures_are_400s_naming_the_cause(exc: Exception, text: str) -> None:
    catalog = _catalog(Registry(), _failing(exc))
    with pytest.raises(DeploymentError, match=text) as info:
        await catalog.register(URI)
    assert info.value.status == 400


async def test_a_bad_uri_is_refused_before_discovery() -> None:
    catalog = _catalog(Registry(), _failing(AssertionError("no discovery")))
    with pytest.raises(DeploymentError, match="http://") as info:
        await catalog.register("ftp://x")
    assert info.value.status == 400


async def test_an_endpoint_with_no_services_is_refused() -> None:
    catalog = _catalog(Registry(), _discovery({**_manifest(), "services": []}))
    with pytest.raises(DeploymentError, match="serves no services"):
        await catalog.register(URI)


def _registered(registry: Registry, manifest: dict[str, Any], uri: str = URI) -> Any:
    endpoint = HttpEndpoint(
        uri=uri,
        protocol_version=7,
        min_protocol_version=5,
        max_protocol_version=7,
        sdk_version="restate-sdk-python/1.2.0",
    )
    from runtime.invoker.manifest_json import manifest_json

    canonical = manifest_json(parse_manifest(json.dumps(manifest).encode(), manifest_version=4))
    d = dr.build(
        dr.new_deployment_id(),
        endpoint,
        canonical,
        {"Greeter": 1, "Counter": 1},
        Defaults(),
        created_at_ms=1,
    )
    registry.put_deployment(d)
    return d


async def test_the_same_endpoint_and_manifest_is_the_registered_deployment() -> None:
    registry = Registry()
    existing = _registered(registry, _manifest())
    reg = await _catalog(registry, _discovery(_manifest())).register(URI)
    assert reg.deployment is existing and not reg.created and not reg.updated


async def test_another_manifest_at_a_registered_uri_needs_force() -> None:
    registry = Registry()
    existing = _registered(registry, _manifest())
    changed = _manifest()
    changed["services"][0]["handlers"].append({"name": "hello"})
    catalog = _catalog(registry, _discovery(changed))
    with pytest.raises(DeploymentError, match="force") as info:
        await catalog.register(URI)
    assert info.value.status == 409
    reg = await catalog.register(URI, force=True, dry_run=True)
    assert reg.deployment.id == existing.id and reg.updated
    assert [s.revision for s in reg.deployment.services] == [1, 1]


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (
            _manifest(counter_get="EXCLUSIVE"),
            "handler Counter/get changes kind from Shared to Exclusive",
        ),
        (
            _manifest(counter_ty="SERVICE"),
            "service Counter changes type from VirtualObject to Service",
        ),
    ],
)
async def test_breaking_changes_need_breaking(manifest: dict[str, Any], problem: str) -> None:
    registry = Registry()
    _registered(registry, _manifest(), uri="http://127.0.0.1:1111")
    catalog = _catalog(registry, _discovery(manifest))
    with pytest.raises(DeploymentError, match=problem) as info:
        await catalog.register(URI)
    assert info.value.status == 409
    reg = await catalog.register(URI, breaking=True, dry_run=True)
    assert [(s.name, s.revision) for s in reg.deployment.services] == [
        ("Greeter", 2),
        ("Counter", 2),
    ]


async def test_a_breaking_change_against_an_in_process_service_is_refused_too() -> None:
    registry = registry_from_manifest(_manifest())
    catalog = _catalog(registry, _discovery(_manifest(counter_get="EXCLUSIVE")))
    with pytest.raises(DeploymentError, match="Counter/get"):
        await catalog.register(URI)


async def test_removal_refuses_unknown_ids_and_pinned_deployments() -> None:
    registry = Registry()
    d = _registered(registry, _manifest())

    async def pinned(dep_id: str) -> int:
        return 2 if dep_id == d.id else 0

    catalog = DeploymentCatalog(registry, "t.registry", None, pinned, _discovery(_manifest()))
    with pytest.raises(DeploymentError) as info:
        await catalog.remove("dp_nope")
    assert info.value.status == 404
    with pytest.raises(DeploymentError, match="2 unfinished invocation") as info:
        await catalog.remove(d.id)
    assert info.value.status == 409
    assert registry.deployment(d.id) is d


async def test_an_in_place_update_must_serve_the_same_services_compatibly() -> None:
    registry = Registry()
    d = _registered(registry, _manifest())
    fewer = {**_manifest(), "services": _manifest()["services"][:1]}
    with pytest.raises(DeploymentError, match="same services") as info:
        await _catalog(registry, _discovery(fewer)).update(d.id, uri="http://127.0.0.1:9")
    assert info.value.status == 409
    with pytest.raises(DeploymentError, match="incompatible update: handler Counter/get"):
        await _catalog(registry, _discovery(_manifest(counter_get="EXCLUSIVE"))).update(d.id)
    other = _registered(registry, _manifest(), uri="http://127.0.0.1:7777")
    with pytest.raises(DeploymentError, match=f"{other.id} already registers") as info:
        await _catalog(registry, _discovery(_manifest())).update(d.id, uri="http://127.0.0.1:7777")
    assert info.value.status == 409
    same = await _catalog(registry, _discovery(_manifest())).update(
        d.id, uri="http://127.0.0.1:8", dry_run=True
    )
    assert same.id == d.id and isinstance(same.endpoint, HttpEndpoint)
    assert same.endpoint.uri == "http://127.0.0.1:8"
    assert registry.deployment(d.id) is d  # a dry run changes nothing


async def test_a_service_in_rts_reserved_namespace_is_refused() -> None:
    manifest = _manifest()
    manifest["services"].append({"name": "rt.Kafka", "ty": "VIRTUAL_OBJECT", "handlers": []})
    catalog = _catalog(Registry(), _discovery(manifest))
    with pytest.raises(DeploymentError, match="rt.Kafka.*reserved for rt's built-in") as e:
        await catalog.register(URI, dry_run=True)
    assert e.value.status == 400
