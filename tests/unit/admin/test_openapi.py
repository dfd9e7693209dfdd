"""OpenAPI 3.1 documents of services' ingress endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest

from runtime.admin.app import create_admin_app
from runtime.admin.openapi import service_openapi
from runtime.registry import HandlerInfo, ServiceInfo, ServiceType
from tests.unit.admin.fakes import InMemoryAdminBackend, sample_registry


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_admin_app(sample_registry(), InMemoryAdminBackend())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://admin"
    ) as c:
        yield c


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


async def test_service_paths_and_schemas(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/services/Greeter/openapi")).json()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Greeter", "version": "1", "description": "Greets people."}
    assert "servers" not in doc
    # The private handler has no route.
    assert sorted(doc["paths"]) == ["/Greeter/greet", "/Greeter/greet/send"]

    call = doc["paths"]["/Greeter/greet"]["post"]
    assert call["operationId"] == "greet"
    assert call["description"] == "Say hello."
    assert call["parameters"] == [{"$ref": "#/components/parameters/idempotencyKeyHeader"}]
    body_schema = call["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/greetRequest"}
    assert call["requestBody"]["required"] is True
    request = _resolve(doc, body_schema["$ref"])
    assert request["title"] == "Greeting"
    # Local $refs point into the schema's new home, so they resolve in the document.
    lang_ref = request["properties"]["lang"]["$ref"]
    assert lang_ref == "#/components/schemas/greetRequest/$defs/Lang"
    assert _resolve(doc, lang_ref) == {"type": "string", "enum": ["en", "de"]}
    response = call["responses"]["200"]["content"]["application/json"]["schema"]
    assert _resolve(doc, response["$ref"]) == {"type": "string"}
    assert _resolve(doc, call["responses"]["default"]["$ref"])["description"] == "Error response"

    send = doc["paths"]["/Greeter/greet/send"]["post"]
    assert send["operationId"] == "greetSend"
    assert {"$ref": "#/components/parameters/delay"} in send["parameters"]
    send_response = _resolve(doc, send["responses"]["202"]["$ref"])
    schema = send_response["content"]["application/json"]["schema"]
    assert schema["required"] == ["invocationId", "status"]


async def test_keyed_paths(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/services/Counter/openapi")).json()
    assert sorted(doc["paths"]) == [
        "/Counter/{key}/add",
        "/Counter/{key}/add/send",
        "/Counter/{key}/get",
        "/Counter/{key}/get/send",
    ]
    get = doc["paths"]["/Counter/{key}/get"]["post"]
    assert get["parameters"][0] == {"$ref": "#/components/parameters/key"}
    assert _resolve(doc, get["parameters"][0]["$ref"])["in"] == "path"
    assert get["requestBody"]["required"] is False
    assert get["requestBody"]["content"] == {"application/json": {}}


async def test_workflow_has_no_idempotency_header(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/services/Signup/openapi")).json()
    assert "/Signup/{key}/run" in doc["paths"]
    for item in doc["paths"].values():
        refs = [p["$ref"] for p in item["post"]["parameters"]]
        assert "#/components/parameters/idempotencyKeyHeader" not in refs


async def test_private_service_has_no_paths(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/services/Hidden/openapi")).json()
    assert doc["paths"] == {}


def test_servers_and_boolean_schema() -> None:
    # ``true`` ("anything") is a valid JSON schema an SDK may hand over.
    anything = cast(dict[str, object], True)
    svc = ServiceInfo(
        "Echo",
        ServiceType.SERVICE,
        {"echo": HandlerInfo("echo", None, input_json_schema=anything, accept="text/plain")},
    )
    doc = service_openapi(svc, ingress_url="http://localhost:8080")
    assert doc["servers"] == [{"url": "http://localhost:8080", "description": "rt ingress"}]
    assert doc["components"]["schemas"]["echoRequest"] == {}
    content = doc["paths"]["/Echo/echo"]["post"]["requestBody"]["content"]
    assert content == {"text/plain": {"schema": {"$ref": "#/components/schemas/echoRequest"}}}


def test_handler_schemas_are_not_mutated() -> None:
    schema: dict[str, object] = {"$ref": "#/$defs/X", "$defs": {"X": {"type": "integer"}}}
    svc = ServiceInfo(
        "S", ServiceType.SERVICE, {"h": HandlerInfo("h", None, input_json_schema=schema)}
    )
    service_openapi(svc)
    assert schema["$ref"] == "#/$defs/X"
