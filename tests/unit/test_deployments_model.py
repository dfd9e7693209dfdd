"""Deployments as data: the registry-topic record (pinned) and the registry's versions.

A deployment record is rebuilt by every node at start-up, possibly by a newer rt from
records an older one wrote: its key prefix and field names never change.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.invoker import deployment_record as dr
from runtime.invoker.services import ManifestError
from runtime.registry import Defaults, HttpEndpoint, InProcessEndpoint, Registry

GREETER: dict[str, Any] = {
    "name": "Greeter",
    "ty": "SERVICE",
    "handlers": [{"name": "greet"}],
    "inactivityTimeout": 5000,
}
COUNTER: dict[str, Any] = {
    "name": "Counter",
    "ty": "VIRTUAL_OBJECT",
    "handlers": [{"name": "add"}, {"name": "get", "ty": "SHARED"}],
}
MANIFEST: dict[str, Any] = {
    "minProtocolVersion": 5,
    "maxProtocolVersion": 7,
    "services": [GREETER, COUNTER],
}


def _http(uri: str = "http://127.0.0.1:9080") -> HttpEndpoint:
    return HttpEndpoint(
        uri=uri,
        protocol_version=7,
        use_http_11=False,
        additional_headers={"x-api-key": "k"},
        min_protocol_version=5,
        max_protocol_version=7,
        sdk_version="restate-sdk-python/1.2.0",
    )


def _deployment(
    dep_id: str, revisions: dict[str, int], created: int, uri: str = "http://a:1"
) -> Any:
    return dr.build(dep_id, _http(uri), MANIFEST, revisions, Defaults(), created_at_ms=created)


def test_record_key_and_fields_are_pinned() -> None:
    dep = _deployment("dp_" + "a" * 26, {"Greeter": 2, "Counter": 1}, 1234)
    assert dr.record_key(dep.id) == b"deployment/dp_" + b"a" * 26
    raw = json.loads(dr.encode(dep))
    assert raw == {
        "id": "dp_" + "a" * 26,
        "endpoint": {
            "http": {
                "uri": "http://a:1",
                "protocol_version": 7,
                "additional_headers": {"x-api-key": "k"},
                "min_protocol_version": 5,
                "max_protocol_version": 7,
                "sdk_version": "restate-sdk-python/1.2.0",
            }
        },
        "manifest": MANIFEST,
        "revisions": {"Greeter": 2, "Counter": 1},
        "created_at_ms": 1234,
    }


def test_record_round_trips_with_services_rebuilt_from_the_manifest() -> None:
    dep = _deployment(dr.new_deployment_id(), {"Greeter": 2, "Counter": 1}, 99)
    back = dr.decode(dr.encode(dep), Defaults())
    assert back == dep
    greeter = back.service("Greeter")
    assert greeter is not None and greeter.revision == 2 and greeter.deployment_id == dep.id
    assert greeter.options.inactivity_timeout_ms == 5000


def test_in_process_record_round_trips() -> None:
    content = "abc123"
    dep_id = dr.content_deployment_id(content)
    assert dep_id == dr.content_deployment_id(content)  # every node names it alike
    dep = dr.build(
        dep_id, InProcessEndpoint(content, "app.py"), MANIFEST, {}, Defaults(), created_at_ms=1
    )
    back = dr.decode(dr.encode(dep), Defaults())
    assert back.in_process and back == dep


def test_ids_have_one_shape() -> None:
    dep_id = dr.new_deployment_id()
    assert dr.valid_deployment_id(dep_id)
    assert dep_id != dr.new_deployment_id()
    assert not dr.valid_deployment_id("dp_short")
    assert not dr.valid_deployment_id("xx_" + "a" * 26)


def test_undecodable_records_are_value_errors() -> None:
    with pytest.raises(ValueError, match="not a deployment record"):
        dr.decode(b"{nope", Defaults())
    bad = json.dumps(
        {"id": "dp_x", "endpoint": {"http": {"uri": "u", "protocol_version": 7}},
         "manifest": {"services": [{"name": "S"}]}, "revisions": {}}
    ).encode()  # fmt: skip
    with pytest.raises(ManifestError):
        dr.decode(bad, Defaults())
    with pytest.raises(ValueError, match="names no endpoint"):
        dr.decode(
            b'{"id":"dp_x","endpoint":{},"manifest":{"services":[]},"revisions":{}}', Defaults()
        )


def test_newest_revision_serves_new_invocations_and_older_ones_stay_known() -> None:
    reg = Registry()
    v1 = _deployment("dp_v1", {"Greeter": 1, "Counter": 1}, 1)
    reg.put_deployment(v1)
    assert reg.newest("Greeter") is v1
    assert reg.next_revision("Greeter") == 2 and reg.next_revision("Other") == 1
    v2 = dr.build(
        "dp_v2", _http(), {"services": [GREETER]}, {"Greeter": 2}, Defaults(), created_at_ms=2
    )
    reg.put_deployment(v2)
    assert reg.newest("Greeter") is v2 and reg.newest("Counter") is v1
    greeter = reg.get("Greeter")
    assert greeter is not None and greeter.deployment_id == "dp_v2"
    assert [d.id for d in reg.deployments()] == ["dp_v1", "dp_v2"]
    assert reg.remove_deployment("dp_v2") is v2
    assert reg.newest("Greeter") is v1 and reg.deployment("dp_v2") is None
    assert reg.remove_deployment("dp_v1") is v1
    assert reg.get("Greeter") is None


def test_a_deployment_wins_over_a_static_service_until_removed() -> None:
    from runtime.invoker.services import services_from_manifest

    static = services_from_manifest({"services": [GREETER]})[0]
    reg = Registry([static])
    dep = _deployment("dp_v1", {"Greeter": 1, "Counter": 1}, 1)
    reg.put_deployment(dep)
    assert reg.get("Greeter") == dep.service("Greeter")
    reg.remove_deployment("dp_v1")
    assert reg.get("Greeter") is static


def test_a_discovered_manifest_back_in_json_gives_the_same_services() -> None:
    from runtime.invoker.manifest_json import manifest_json
    from runtime.invoker.services import services_from_manifest
    from runtime.protocol import parse_manifest

    full: dict[str, Any] = {
        **MANIFEST,
        "services": [
            {
                **GREETER,
                "journalRetention": 60000,
                "ingressPrivate": True,
                "retryPolicyMaxAttempts": 3,
                "retryPolicyOnMaxAttempts": "PAUSE",
                "metadata": {"team": "a"},
            },
            {**COUNTER, "enableLazyState": True, "abortTimeout": 1000},
        ],
    }
    parsed = parse_manifest(json.dumps(full).encode(), manifest_version=4)
    assert services_from_manifest(manifest_json(parsed)) == services_from_manifest(full)
