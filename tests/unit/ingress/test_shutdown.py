"""The ingress while its node shuts down: new requests refused, waiting callers answered."""

from __future__ import annotations

import httpx

from runtime.ingress.app import IngressApp
from runtime.ingress.backend import ShuttingDown

from .conftest import FIXED_ID, RecordingBackend, assert_ingress_error

JSON = {"content-type": "application/json"}


async def test_a_draining_ingress_refuses_new_requests_before_the_backend(
    app: IngressApp, client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    app.draining = True
    r = await client.post("/Greeter/greet", content=b'"a"', headers=JSON)
    assert_ingress_error(
        r, 503, "the node is shutting down and takes no new requests, retry shortly"
    )
    assert r.headers["retry-after"] == "2"
    assert not backend.calls  # nothing written


async def test_a_call_cut_short_by_shutdown_is_a_503_naming_its_invocation(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    backend.error = ShuttingDown(FIXED_ID)
    r = await client.post("/Greeter/greet", content=b'"a"', headers=JSON)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert r.headers["x-restate-id"] == FIXED_ID
    assert r.headers["x-restate-error-source"] == "ingress"
    body = r.json()
    assert body["code"] == 503 and body["source"] == "ingress"
    assert f"/restate/invocation/{FIXED_ID}/attach" in body["message"]


async def test_an_attach_cut_short_by_shutdown_is_a_503(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    backend.error = ShuttingDown(FIXED_ID)
    r = await client.get(f"/restate/invocation/{FIXED_ID}/attach")
    assert r.status_code == 503 and r.headers["x-restate-id"] == FIXED_ID
