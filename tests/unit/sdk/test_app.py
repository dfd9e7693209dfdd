"""The app as an ASGI endpoint: discovery, health, routing (invocations: test_server)."""

from __future__ import annotations

from datetime import timedelta

import httpx

import sdk as restate
from sdk import Context, InvocationRetryPolicy
from tests.unit.sdk import handlers as h


def _client(app: restate.engine.App) -> httpx.AsyncClient:  # type: ignore[name-defined]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sdk")


async def test_discover() -> None:
    async with _client(h.APP) as client:
        r = await client.get("/discover")
    assert r.status_code == 200
    manifest = r.json()
    assert manifest["protocolMode"] == "REQUEST_RESPONSE"  # discovered over HTTP/1.1
    services = {s["name"]: s for s in manifest["services"]}
    assert services["Counter"]["ty"] == "VIRTUAL_OBJECT"
    handlers = {x["name"]: x for x in services["Counter"]["handlers"]}
    assert handlers["add"]["ty"] == "EXCLUSIVE"
    assert handlers["get"]["ty"] == "SHARED"
    assert handlers["add"]["input"] == {
        "required": True,
        "contentType": "application/json",
        "jsonSchema": {"type": "integer"},
    }
    assert handlers["get"]["input"] == {}
    signup = {x["name"]: x for x in services["Signup"]["handlers"]}
    assert signup["signup_run"]["ty"] == "WORKFLOW"
    assert "ty" not in services["Payments"]["handlers"][0]


async def test_discover_options() -> None:
    svc = restate.Service(
        "Opts",
        description="d",
        inactivity_timeout=timedelta(seconds=2),
        invocation_retry_policy=InvocationRetryPolicy(max_attempts=3, on_max_attempts="kill"),
    )

    @svc.handler(ingress_private=True, idempotency_retention=timedelta(hours=1))
    async def f(ctx: Context) -> None: ...

    app = restate.app([svc], protocol="request_response")
    m = app.discovery()
    assert m["protocolMode"] == "REQUEST_RESPONSE"
    s = m["services"][0]
    assert s["documentation"] == "d"
    assert s["inactivityTimeout"] == 2000
    assert s["retryPolicyMaxAttempts"] == 3 and s["retryPolicyOnMaxAttempts"] == "KILL"
    handler = s["handlers"][0]
    assert handler["ingressPrivate"] is True
    assert handler["idempotencyRetention"] == 3_600_000
    assert handler["output"] == {"setContentTypeIfEmpty": False}


async def test_health_and_routing() -> None:
    async with _client(h.APP) as client:
        health = await client.get("/health")
        invoke = await client.post("/invoke/Counter/add", content=b"1")
        unknown = await client.post("/invoke/Nope/add")
        wrong_method = await client.get("/invoke/Counter/add")
        missing = await client.get("/elsewhere")
    assert health.status_code == 200 and "Counter" in health.json()["services"]
    assert invoke.status_code == 415  # not the service protocol's content type
    assert "application/vnd.restate.invocation.v5" in invoke.json()["message"]
    assert unknown.status_code == 404
    assert wrong_method.status_code == 405
    assert missing.status_code == 404


async def test_mounted_under_a_prefix() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/restate/v1", app=h.APP)])
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://sdk") as client:
        r = await client.get("/restate/v1/discover")
    assert r.status_code == 200 and r.json()["services"]
