"""Input checks of the ``/deployments`` routes (a recording backend: nothing is discovered)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from runtime.admin.app import create_admin_app
from runtime.admin.deployments import deployments_router
from runtime.invoker.deployments import DeploymentError
from tests.unit.admin.fakes import InMemoryAdminBackend, sample_registry


class RecordingDeployments:
    """Records what reached the backend; every call past validation fails with 400."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def register(self, uri: str, **kw: Any) -> Any:
        self.calls.append(("register", {"uri": uri, **kw}))
        raise DeploymentError("endpoint unreachable")

    async def update(self, deployment_id: str, **kw: Any) -> Any:
        self.calls.append(("update", {"id": deployment_id, **kw}))
        raise DeploymentError("endpoint unreachable")


@pytest.fixture
def deployments() -> RecordingDeployments:
    return RecordingDeployments()


@pytest.fixture
async def client(deployments: RecordingDeployments) -> AsyncIterator[httpx.AsyncClient]:
    app = create_admin_app(
        sample_registry(),
        InMemoryAdminBackend(),
        routers=[deployments_router(deployments)],  # type: ignore[arg-type]
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
        yield c


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"": "x"}, "not a valid HTTP header name"),
        ({"bad name": "x"}, "not a valid HTTP header name"),
        ({"x-token": "caf\u00e9"}, "visible ASCII"),
        ({"x-token": "a\r\nx-injected: 1"}, "visible ASCII"),
        ({"x-token": " padded"}, "visible ASCII"),
    ],
)
async def test_invalid_additional_headers_are_400_and_reach_nothing(
    client: httpx.AsyncClient, deployments: RecordingDeployments, headers: Any, reason: str
) -> None:
    """Found by the API fuzzer: a non-ASCII header value failed discovery with a 500."""
    for response in (
        await client.post(
            "/deployments", json={"uri": "http://127.0.0.1:9/", "additional_headers": headers}
        ),
        await client.patch("/deployments/dp_x", json={"additional_headers": headers}),
    ):
        assert response.status_code == 400, response.text
        body = response.json()
        assert "additional_headers" in body["message"] and reason in body["message"]
        assert body["restate_code"] is None
    assert deployments.calls == []


async def test_valid_additional_headers_reach_the_backend(
    client: httpx.AsyncClient, deployments: RecordingDeployments
) -> None:
    headers = {"Authorization": "Bearer a.b-c", "x-empty": "", "x-inner": "a b\tc"}
    response = await client.post(
        "/deployments", json={"uri": "http://127.0.0.1:9/", "additional_headers": headers}
    )
    assert response.status_code == 400 and "unreachable" in response.json()["message"]
    assert deployments.calls[0][1]["additional_headers"] == headers
