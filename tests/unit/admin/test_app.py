"""HTTP shape of the admin API (in-memory backend, hand-built registry)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from runtime.admin.app import VERSION_MISMATCH_HEADER, create_admin_app
from runtime.admin.metadata import state_version
from runtime.version import __version__
from tests.unit.admin.fakes import GREETING_SCHEMA, InMemoryAdminBackend, sample_registry


@pytest.fixture
def backend() -> InMemoryAdminBackend:
    return InMemoryAdminBackend()


@pytest.fixture
async def client(backend: InMemoryAdminBackend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_admin_app(sample_registry(), backend, ingress_url="http://127.0.0.1:8080")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
        yield c


def assert_error(response: httpx.Response, status: int, message_part: str) -> None:
    """Errors are Restate's ``{"message": ...}`` JSON, never FastAPI's ``{"detail": ...}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert "detail" not in body
    assert message_part in body["message"], body["message"]


async def test_health_and_version(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/version")).json() == {
        "version": __version__,
        "min_admin_api_version": 1,
        "max_admin_api_version": 1,
        "ingress_endpoint": "http://127.0.0.1:8080",
    }


DEFAULT_RETRY_POLICY = {
    "initial_interval": "500ms",
    "exponentiation_factor": 2.0,
    "max_interval": "1m",
    "max_attempts": 70,
    "on_max_attempts": "pause",
}
RESOLVED_COUNTER_OPTIONS = {
    "journal_retention": "1day",
    "idempotency_retention": "1day",
    "inactivity_timeout": "1m",
    "abort_timeout": "1m 30s 500ms",
    "enable_lazy_state": False,
    "retry_policy": DEFAULT_RETRY_POLICY,
}
"""What Counter's handlers run with: the service's options over the runtime's defaults."""


async def test_list_services_in_restate_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert [s["name"] for s in services] == ["Counter", "Greeter", "Hidden", "Signup"]
    counter = services[0]
    assert counter == {
        "name": "Counter",
        "ty": "VirtualObject",
        "revision": 1,
        "deployment_id": "dp_inprocess",
        "public": True,
        "documentation": None,
        "handlers": [
            {
                "name": "add",
                "ty": "Exclusive",
                "documentation": None,
                "input_description": "JSON integer",
                "output_description": "application/json",
                "input_json_schema": {"type": "integer"},
                "output_json_schema": None,
                "public": True,
                **RESOLVED_COUNTER_OPTIONS,
            },
            {
                "name": "get",
                "ty": "Shared",
                "documentation": None,
                "input_description": 'one of ["none", "application/json"]',
                "output_description": "JSON integer",
                "input_json_schema": None,
                "output_json_schema": {"type": "integer"},
                "public": True,
                **RESOLVED_COUNTER_OPTIONS,
            },
        ],
        "idempotency_retention": "1day",
        "journal_retention": "1day",
        "workflow_completion_retention": None,
        "inactivity_timeout": "1m",
        "abort_timeout": "1m 30s 500ms",
        "retry_policy": DEFAULT_RETRY_POLICY,
    }


async def test_get_service(client: httpx.AsyncClient) -> None:
    signup = (await client.get("/services/Signup")).json()
    assert signup["ty"] == "Workflow"
    assert signup["workflow_completion_retention"] == "7days"
    assert signup["journal_retention"] == "1h"
    assert signup["inactivity_timeout"] is None
    status = signup["handlers"][1]
    assert (status["journal_retention"], status["inactivity_timeout"]) == ("1h", "10s")
    assert status["abort_timeout"] is None
    assert [(h["name"], h["ty"]) for h in signup["handlers"]] == [
        ("run", "Workflow"),
        ("status", "Shared"),
    ]

    greeter = (await client.get("/services/Greeter")).json()
    assert greeter["documentation"] == "Greets people."
    greet = greeter["handlers"][0]
    assert greet["ty"] is None
    assert greet["input_description"] == "JSON 'Greeting'"
    assert greet["input_json_schema"] == GREETING_SCHEMA
    assert greet["output_description"] == "JSON string"
    assert greeter["handlers"][1]["public"] is False


async def test_private_service_reports_private_handlers(client: httpx.AsyncClient) -> None:
    hidden = (await client.get("/services/Hidden")).json()
    assert hidden["public"] is False
    assert hidden["handlers"][0]["public"] is False
    assert hidden["handlers"][0]["input_description"] == "*/*"
    assert hidden["handlers"][0]["output_description"] == "text/plain"


async def test_unknown_service_is_404_json(client: httpx.AsyncClient) -> None:
    for path in (
        "/services/Nope",
        "/services/Nope/handlers",
        "/services/Nope/handlers/x",
        "/services/Nope/openapi",
        "/services/Nope/state/k",
    ):
        assert_error(await client.get(path), 404, "The requested service 'Nope' does not exist")
    assert_error(
        await client.post("/services/Nope/state", json={"object_key": "k", "new_state": {}}),
        404,
        "'Nope' does not exist",
    )


async def test_handlers(client: httpx.AsyncClient) -> None:
    handlers = (await client.get("/services/Counter/handlers")).json()["handlers"]
    assert [h["name"] for h in handlers] == ["add", "get"]
    add = (await client.get("/services/Counter/handlers/add")).json()
    assert add == handlers[0]
    assert_error(
        await client.get("/services/Counter/handlers/nope"),
        404,
        "The requested handler 'nope' on service 'Counter' does not exist",
    )


async def test_unknown_route_and_method_are_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/nope"), 404, "No admin API endpoint at GET /nope")
    response = await client.delete("/services")
    assert_error(response, 405, "Method DELETE not allowed on /services")
    assert "GET" in response.headers["allow"]


async def test_openapi_of_the_admin_api_itself(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi")).json()
    assert "/services/{name}/state" in doc["paths"]


async def test_openapi_documents_errors_as_answered(client: httpx.AsyncClient) -> None:
    """Bad input is answered 400 in the ``{"message"}`` shape, and the document says so:
    no FastAPI 422 with ``{"detail"}`` (which the API never sends), a ``default`` error
    response on every operation."""
    doc = (await client.get("/openapi")).json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorDescriptionResponse"]["properties"]) == {"message", "restate_code"}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert "422" not in operation["responses"], (method, path)
            error = operation["responses"]["default"]["content"]["application/json"]
            assert error["schema"]["$ref"].endswith("/ErrorDescriptionResponse"), (method, path)
    response = await client.post("/services/Counter/state", json={"object_key": 1})
    assert_error(response, 400, "new_state")
    # A state write answers 202 without a body, and the document says so.
    assert "content" not in doc["paths"]["/services/{name}/state"]["post"]["responses"]["202"]


# --- state -----------------------------------------------------------------------------------


async def test_set_state_replaces_bytes(
    client: httpx.AsyncClient, backend: InMemoryAdminBackend
) -> None:
    response = await client.post(
        "/services/Counter/state",
        json={"object_key": "k1", "new_state": {"count": [53], "empty": [], "hi": [0, 255]}},
    )
    assert response.status_code == 202
    assert response.content == b""
    assert VERSION_MISMATCH_HEADER not in response.headers
    assert backend.writes == [("Counter", "k1", {"count": b"5", "empty": b"", "hi": b"\x00\xff"})]


async def test_set_state_for_workflow(
    client: httpx.AsyncClient, backend: InMemoryAdminBackend
) -> None:
    body = {"object_key": "wf-1", "new_state": {"s": [1]}}
    assert (await client.post("/services/Signup/state", json=body)).status_code == 202
    assert backend.states[("Signup", "wf-1")] == {"s": b"\x01"}


@pytest.mark.parametrize(
    ("new_state", "message"),
    [
        ({"a": [256]}, "The request field 'new_state.a[0]' is invalid"),
        ({"a": [1, -1]}, "'new_state.a[1]'"),
        ({"a": ["x"]}, "'new_state.a[0]'"),
        ({"a": [True]}, "'new_state.a[0]'"),
        ({"a": [1.5]}, "'new_state.a[0]'"),
        ({"a": "AQ=="}, "'new_state.a'"),
        ([1], "'new_state'"),
    ],
)
async def test_set_state_validates_bytes(
    client: httpx.AsyncClient, backend: InMemoryAdminBackend, new_state: Any, message: str
) -> None:
    response = await client.post(
        "/services/Counter/state", json={"object_key": "k", "new_state": new_state}
    )
    assert_error(response, 400, message)
    assert backend.writes == []


async def test_set_state_bad_bodies(
    client: httpx.AsyncClient, backend: InMemoryAdminBackend
) -> None:
    json_ct = {"content-type": "application/json"}
    assert_error(
        await client.post("/services/Counter/state", content=b"{nope", headers=json_ct),
        400,
        "The request body is not valid JSON",
    )
    assert_error(
        await client.post("/services/Counter/state", content=b"", headers=json_ct),
        400,
        "The request body is missing",
    )
    assert_error(
        await client.post("/services/Counter/state", json={"new_state": {}}),
        400,
        "The request field 'object_key' is invalid. Reason: Field required",
    )
    assert_error(
        await client.post(
            "/services/Counter/state", json={"object_key": "k", "new_state": {}, "version": 3}
        ),
        400,
        "'version'",
    )
    assert backend.writes == []


async def test_state_of_plain_service_is_400(client: httpx.AsyncClient) -> None:
    body = {"object_key": "k", "new_state": {}}
    assert_error(
        await client.post("/services/Greeter/state", json=body),
        400,
        "only virtual objects and workflows have state",
    )
    assert_error(await client.get("/services/Greeter/state/k"), 400, "service type Service")


async def test_get_state_extension(
    client: httpx.AsyncClient, backend: InMemoryAdminBackend
) -> None:
    entries = {"count": b"5", "name": '"Zoë"'.encode(), "raw": b"\xff\xfe"}
    backend.states[("Counter", "k/ü 1")] = entries
    response = await client.get("/services/Counter/state/k%2F%C3%BC%201")
    assert response.status_code == 200
    assert response.json() == {
        "service": "Counter",
        "key": "k/ü 1",
        "state": {"count": [53], "name": list('"Zoë"'.encode()), "raw": [255, 254]},
        "state_utf8": {"count": "5", "name": '"Zoë"', "raw": None},
        "version": state_version(entries),
    }


async def test_get_state_of_unknown_key_is_empty(client: httpx.AsyncClient) -> None:
    body = (await client.get("/services/Counter/state/none")).json()
    assert body["state"] == {}
    assert body["state_utf8"] == {}
    assert body["version"] == state_version({})


async def test_version_is_checked_at_admission(
    client: httpx.AsyncClient, backend: InMemoryAdminBackend
) -> None:
    backend.states[("Counter", "k")] = {"count": b"1"}
    current = (await client.get("/services/Counter/state/k")).json()["version"]

    stale = await client.post(
        "/services/Counter/state",
        json={"object_key": "k", "new_state": {"count": [50]}, "version": "stale"},
    )
    assert stale.status_code == 202
    assert stale.headers[VERSION_MISMATCH_HEADER] == "true"
    assert backend.writes == []

    fresh = await client.post(
        "/services/Counter/state",
        json={"object_key": "k", "new_state": {"count": [50]}, "version": current},
    )
    assert fresh.status_code == 202
    assert VERSION_MISMATCH_HEADER not in fresh.headers
    assert backend.states[("Counter", "k")] == {"count": b"2"}


async def test_backend_failure_is_500_json(
    client: httpx.AsyncClient, backend: InMemoryAdminBackend
) -> None:
    backend.fail_with = ConnectionError("redis is down")
    assert_error(
        await client.get("/services/Counter/state/k"),
        500,
        "Failed reading the state: ConnectionError: redis is down",
    )
    assert_error(
        await client.post("/services/Counter/state", json={"object_key": "k", "new_state": {}}),
        500,
        "ConnectionError: redis is down",
    )


async def test_registry_changes_show_up(backend: InMemoryAdminBackend) -> None:
    from runtime.registry import ServiceInfo, ServiceType

    registry = sample_registry()
    app = create_admin_app(registry, backend)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
        registry.add(ServiceInfo("Late", ServiceType.SERVICE))
        assert (await c.get("/services/Late")).status_code == 200
        assert "ingress_endpoint" not in (await c.get("/version")).json()
