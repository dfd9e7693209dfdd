"""Discovery against real SDK endpoints (Python and TypeScript) and every refusal."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from runtime.protocol import (
    BadEndpointUriError,
    BadManifestError,
    DiscoveryResponseError,
    EndpointUnreachableError,
    HandlerType,
    OnMaxAttempts,
    ProtocolMode,
    ServiceType,
    UnsupportedProtocolVersionError,
    discover,
)
from tests.integration.protocol.endpoints import EndpointProcess
from tests.integration.protocol.fakes import closed_port, fixed, junk_server, serve_asgi

MANIFEST_V4 = "application/vnd.restate.endpointmanifest.v4+json"


async def test_python_sdk_over_h2c_declares_its_services_and_options(
    python_h2: EndpointProcess,
) -> None:
    found = await discover(python_h2.uri)

    manifest = found.manifest
    assert found.server == "restate-sdk-python/1.2.0"
    assert manifest.manifest_version == 4
    assert (manifest.min_protocol_version, manifest.max_protocol_version) == (5, 7)
    assert manifest.protocol_version == 7
    assert found.protocol_mode is ProtocolMode.BIDI_STREAM
    names = {s.name: s for s in manifest.services}
    assert set(names) == {
        "Greeter",
        "Counter",
        "LazyCounter",
        "Runner",
        "Sleeper",
        "Caller",
        "Waiter",
        "Signup",
    }
    greeter = names["Greeter"]
    assert greeter.ty is ServiceType.SERVICE
    assert greeter.options.documentation == "Says hello"
    greet = greeter.handler("greet")
    assert greet is not None and greet.ty is None
    assert greet.input.content_type == "application/json"
    assert greet.input.json_schema == {"type": "string"}
    assert greet.output.json_schema == {"type": "string"}
    counter = names["Counter"]
    assert counter.ty is ServiceType.VIRTUAL_OBJECT
    assert [(h.name, h.ty) for h in counter.handlers] == [
        ("add", HandlerType.EXCLUSIVE),
        ("get", HandlerType.SHARED),
    ]
    assert counter.handler("get").input.content_type is None  # type: ignore[union-attr]
    assert counter.options.inactivity_timeout == timedelta(seconds=30)
    assert counter.options.abort_timeout == timedelta(minutes=2)
    assert counter.options.journal_retention == timedelta(hours=1)
    policy = counter.options.retry_policy
    assert policy.initial_interval == timedelta(milliseconds=100)
    assert policy.max_interval == timedelta(seconds=5)
    assert policy.max_attempts == 7
    assert policy.on_max_attempts is OnMaxAttempts.KILL
    assert names["LazyCounter"].options.enable_lazy_state is True
    signup = names["Signup"]
    assert signup.ty is ServiceType.WORKFLOW
    assert {h.name: h.ty for h in signup.handlers} == {
        "run": HandlerType.WORKFLOW,
        "status": HandlerType.SHARED,
    }


async def test_python_sdk_over_http11_is_request_response(python_http11: EndpointProcess) -> None:
    found = await discover(python_http11.uri, use_http_11=True)

    assert found.manifest.protocol_mode is ProtocolMode.REQUEST_RESPONSE
    assert found.protocol_mode is ProtocolMode.REQUEST_RESPONSE
    assert found.manifest.protocol_version == 7


async def test_typescript_sdk_declares_its_services(node_h2: EndpointProcess) -> None:
    found = await discover(node_h2.uri)

    manifest = found.manifest
    assert found.server is not None and found.server.startswith("restate-sdk-typescript/")
    assert (manifest.min_protocol_version, manifest.max_protocol_version) == (5, 7)
    assert found.protocol_mode is ProtocolMode.BIDI_STREAM
    names = {s.name: s for s in manifest.services}
    assert set(names) == {"JsGreeter", "JsCounter", "JsSleeper"}
    assert names["JsGreeter"].options.documentation == "Says hello from Node.js"
    assert {h.name: h.ty for h in names["JsCounter"].handlers} == {
        "add": HandlerType.EXCLUSIVE,
        "get": HandlerType.SHARED,
    }
    assert names["JsCounter"].options.inactivity_timeout == timedelta(seconds=30)


@pytest.mark.parametrize(
    "uri",
    ["ftp://127.0.0.1:9080", "127.0.0.1:9080", "http://", "https://127.0.0.1:9080", "http://h:x"],
)
async def test_a_bad_uri_is_refused_before_any_request(uri: str) -> None:
    with pytest.raises(BadEndpointUriError, match="bad endpoint URI"):
        await discover(uri)


async def test_an_unreachable_endpoint_is_named() -> None:
    port = closed_port()
    with pytest.raises(EndpointUnreachableError, match=f"127.0.0.1:{port}"):
        await discover(f"http://127.0.0.1:{port}")


async def test_an_endpoint_that_is_not_http_is_unreachable() -> None:
    async with junk_server(b"SSH-2.0-OpenSSH_9.6\r\n") as uri:
        with pytest.raises(EndpointUnreachableError):
            await discover(uri, timeout=5)


async def test_an_error_status_is_reported_with_its_body() -> None:
    async with serve_asgi(fixed(404, {"content-type": "text/plain"}, b"no such path")) as uri:
        with pytest.raises(DiscoveryResponseError, match="HTTP 404: is the URI the path") as e:
            await discover(uri, use_http_11=True)
    assert e.value.status == 404
    assert e.value.body == "no such path"


async def test_a_non_json_body_is_a_bad_manifest() -> None:
    app = fixed(200, {"content-type": MANIFEST_V4}, b"<html>hello</html>")
    async with serve_asgi(app) as uri:
        with pytest.raises(BadManifestError, match="not JSON"):
            await discover(uri)


async def test_a_response_that_is_not_a_manifest_says_so() -> None:
    app = fixed(200, {"content-type": "application/json"}, b'{"status": "ok"}')
    async with serve_asgi(app) as uri:
        with pytest.raises(BadManifestError, match="not an endpoint manifest"):
            await discover(uri)


async def test_a_manifest_of_the_wrong_shape_names_the_field() -> None:
    body = json.dumps({"minProtocolVersion": 5, "maxProtocolVersion": 7, "services": "Greeter"})
    async with serve_asgi(fixed(200, {"content-type": MANIFEST_V4}, body.encode())) as uri:
        with pytest.raises(BadManifestError, match=r"\$\.services"):
            await discover(uri)


async def test_an_endpoint_speaking_only_old_protocols_is_refused() -> None:
    body = json.dumps({"minProtocolVersion": 1, "maxProtocolVersion": 4, "services": []})
    async with serve_asgi(fixed(200, {"content-type": MANIFEST_V4}, body.encode())) as uri:
        with pytest.raises(UnsupportedProtocolVersionError, match="upgrade the SDK"):
            await discover(uri)


async def test_bidirectional_endpoint_over_http11_is_refused() -> None:
    body = json.dumps(
        {
            "protocolMode": "BIDI_STREAM",
            "minProtocolVersion": 5,
            "maxProtocolVersion": 7,
            "services": [],
        }
    )
    async with serve_asgi(fixed(200, {"content-type": MANIFEST_V4}, body.encode())) as uri:
        with pytest.raises(BadManifestError, match="HTTP/1.1 cannot carry"):
            await discover(uri, use_http_11=True)
