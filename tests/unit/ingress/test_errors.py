"""The error table of Restate's ingress, row by row, plus 405s, 413s and framework errors.

Rows that are terminal outcomes of invocations (handler errors, cancellation,
duplicate workflow run) are in ``test_invoke.py``; not-found/not-ready of
attach and output in ``test_results.py``; awakeable ids in ``test_awakeables.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from runtime.ingress.app import IngressApp, create_ingress_app
from runtime.registry import Registry
from sdk._ids import awakeable_id

from .conftest import (
    FIXED_ID,
    MAX_BODY,
    RecordingBackend,
    assert_ingress_error,
    client_for,
    make_registry,
)

JSON = {"content-type": "application/json"}
AWAKEABLE = awakeable_id(FIXED_ID, 1)


# --- unknown service / handler, bad paths, private services


@pytest.mark.parametrize(
    "path", ["/Nope/greet", "/Nope/k/greet/send", "/restate/call/Nope/h", "/restate/send/Nope/h"]
)
async def test_unknown_service(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=b"1", headers=JSON)
    assert_ingress_error(
        response,
        404,
        "service 'Nope' not found, make sure to register the service before calling it.",
    )


@pytest.mark.parametrize(
    "path", ["/Greeter/nope", "/Greeter/nope/send", "/restate/call/Counter/k/nope"]
)
async def test_unknown_handler(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=b"1", headers=JSON)
    service = "Counter" if "Counter" in path else "Greeter"
    assert_ingress_error(
        response,
        404,
        f"the service '{service}' exists, but the handler 'nope' was not found, check that the "
        "handler exists in the latest registered service version.",
    )


@pytest.mark.parametrize("path", ["/Greeter/greet/sned", "/Greeter/greet/send/x", "/Counter/k"])
async def test_bad_service_path(
    client: httpx.AsyncClient, backend: RecordingBackend, path: str
) -> None:
    response = await client.post(path, content=b"1", headers=JSON)
    assert_ingress_error(
        response,
        400,
        "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler",
    )
    assert not backend.calls and not backend.sends


async def test_bad_path_segment_count(client: httpx.AsyncClient) -> None:
    assert_ingress_error(await client.get("/"), 400, "bad path: /")
    assert_ingress_error(await client.post("/Greeter"), 400, "bad path: /Greeter")


async def test_unknown_restate_verb_is_404(client: httpx.AsyncClient) -> None:
    assert_ingress_error(await client.get("/restate/nope"), 404, "not found")
    assert_ingress_error(await client.get("/openapi/x"), 404, "not found")


@pytest.mark.parametrize(
    "path", ["/Hidden/ping", "/Hidden/ping/send", "/Greeter/secret", "/restate/send/Greeter/secret"]
)
async def test_private_service(
    client: httpx.AsyncClient, backend: RecordingBackend, path: str
) -> None:
    response = await client.post(path, content=b"1", headers=JSON)
    assert_ingress_error(response, 400, "the invoked service is not public")
    assert not backend.calls and not backend.sends


async def test_private_check_comes_before_method_check(client: httpx.AsyncClient) -> None:
    response = await client.delete("/Hidden/ping")
    assert_ingress_error(response, 400, "the invoked service is not public")


# --- scopes and limit keys (Restate's answers with flow control off, which rt lacks)


async def test_scoped_paths_are_refused(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    response = await client.post("/restate/scope/s/call/Greeter/greet", content=b"1", headers=JSON)
    assert_ingress_error(response, 400, "scoped invocations require vqueues to be enabled")
    assert not backend.calls


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/Greeter/greet?limit-key=a", JSON),
        ("/Greeter/greet", {**JSON, "x-restate-limit-key": "a/b"}),
    ],
)
async def test_limit_key_without_scope(
    client: httpx.AsyncClient, backend: RecordingBackend, path: str, headers: dict[str, str]
) -> None:
    response = await client.post(path, content=b"1", headers=headers)
    assert_ingress_error(response, 400, "limit-key requires a scope to be set")
    assert not backend.calls


# --- 405


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/Greeter/greet"),
        ("DELETE", "/Counter/k/add"),
        ("PATCH", "/restate/send/Greeter/greet"),
        ("HEAD", "/Greeter/greet"),
        ("OPTIONS", "/Greeter/greet"),
        ("POST", "/restate/health"),
        ("GET", "/restate/awakeables/prom_x/resolve"),
        ("PUT", "/restate/a/prom_x/reject"),
        ("POST", f"/restate/attach/{FIXED_ID}"),
        ("POST", f"/restate/output/{FIXED_ID}"),
        ("POST", f"/restate/invocation/{FIXED_ID}/attach"),
        ("POST", "/restate/invocation/Greeter/greet/idem/output"),
        ("DELETE", "/restate/workflow/Signup/u1/attach"),
        ("GET", "/restate/attach"),
        ("GET", "/restate/output"),
        ("GET", "/restate/lookup"),
    ],
)
async def test_method_not_allowed(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    if method != "HEAD":
        assert_ingress_error(response, 405, "method not allowed")
    assert response.headers["x-restate-error-source"] == "ingress"


async def test_method_unknown_to_the_router_has_the_same_shape(client: httpx.AsyncClient) -> None:
    response = await client.request("TRACE", "/Greeter/greet")
    assert_ingress_error(response, 405, "method not allowed")


async def test_bad_id_is_checked_before_the_method(client: httpx.AsyncClient) -> None:
    response = await client.post("/restate/attach/inv_bad")
    assert response.status_code == 400


# --- 413


@pytest.mark.parametrize(
    "path",
    ["/Greeter/raw", f"/restate/a/{AWAKEABLE}/resolve", "/restate/lookup", "/restate/attach"],
)
async def test_body_too_large_by_content_length(
    client: httpx.AsyncClient, backend: RecordingBackend, path: str
) -> None:
    response = await client.post(path, content=b"x" * (MAX_BODY + 1))
    assert response.status_code == 413
    assert response.json() == {
        "code": 413,
        "message": f"cannot read body: length limit exceeded, the limit is {MAX_BODY} bytes",
        "source": "ingress",
    }
    assert response.headers["x-restate-error-source"] == "ingress"
    assert not backend.calls and not backend.resolved


async def test_declared_length_is_refused_before_reading(app: IngressApp) -> None:
    """A lying Content-Length over the limit is refused without touching the body."""
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        pulled += 1
        yield b"x"

    async with client_for(app) as client:
        response = await client.post(
            "/Greeter/raw", content=body(), headers={"content-length": str(MAX_BODY + 1)}
        )
    assert response.status_code == 413
    assert pulled == 0


async def test_body_too_large_while_streaming(app: IngressApp, backend: RecordingBackend) -> None:
    """Chunked, no Content-Length, and endless: refused as soon as the limit is passed."""
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"x" * 100

    async with client_for(app) as client:
        response = await client.post("/Greeter/raw", content=endless())
    assert response.status_code == 413
    assert response.json()["message"].startswith("cannot read body: length limit exceeded")
    assert pulled <= MAX_BODY // 100 + 2
    assert not backend.calls


async def test_chunked_body_within_limit(app: IngressApp, backend: RecordingBackend) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 128):
            yield b"y" * 128

    async with client_for(app) as client:
        response = await client.post("/Greeter/raw", content=chunks())
    assert response.status_code == 200
    assert backend.calls[0].body == b"y" * (MAX_BODY // 128 * 128)


async def test_body_exactly_at_the_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/Greeter/raw", content=b"z" * MAX_BODY)
    assert response.status_code == 200


async def test_invalid_content_length_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/Greeter/raw", content=b"", headers={"content-length": "ten"})
    assert_ingress_error(response, 400, "bad header content-length: invalid value 'ten'")


def test_negative_limit_refused() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        create_ingress_app(Registry(), RecordingBackend(), max_body_bytes=-1)


async def test_default_limit_is_10_mib(backend: RecordingBackend) -> None:
    app = create_ingress_app(make_registry(), backend)
    async with client_for(app) as client:
        at_limit = await client.post("/Greeter/raw", content=b"a" * (10 * 1024 * 1024))
        over = await client.post("/Greeter/raw", content=b"a" * (10 * 1024 * 1024 + 1))
    assert (at_limit.status_code, over.status_code) == (200, 413)


# --- the durable backend failing (internal routing error, 503)


@pytest.mark.parametrize(
    ("method", "path", "suffix"),
    [
        (
            "POST",
            "/Greeter/greet",
            "If the request has an 'idempotency-key', it can be safely retried, otherwise "
            "submitting it again may result in executing the invocation twice.",
        ),
        (
            "POST",
            "/Greeter/greet/send",
            "If the request has an 'idempotency-key', it can be safely retried, otherwise "
            "submitting it again may result in executing the invocation twice.",
        ),
        ("GET", f"/restate/attach/{FIXED_ID}", "You may safely retry the request."),
        ("GET", f"/restate/invocation/{FIXED_ID}/output", "You may safely retry the request."),
    ],
)
async def test_backend_failure_is_503(
    client: httpx.AsyncClient, backend: RecordingBackend, method: str, path: str, suffix: str
) -> None:
    backend.error = ConnectionError("broker down")
    response = await client.request(method, path, content=b"1", headers=JSON)
    assert_ingress_error(
        response, 503, f"internal routing error: ConnectionError: broker down. {suffix}"
    )


async def test_awakeable_backend_failure_is_503(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    backend.error = TimeoutError()
    response = await client.post(f"/restate/awakeables/{AWAKEABLE}/resolve", content=b"1")
    assert_ingress_error(
        response,
        503,
        "internal routing error: TimeoutError. Submitting the request again may result in "
        "executing the operation twice.",
    )


# --- unexpected errors and the ASGI protocol


async def test_unexpected_exception_is_a_500_without_internals(
    backend: RecordingBackend, caplog: pytest.LogCaptureFixture
) -> None:
    registry = make_registry()

    def broken(name: str) -> None:
        raise RuntimeError("secret internals")

    registry.get = broken  # type: ignore[method-assign]
    app = create_ingress_app(registry, backend)
    async with client_for(app, raise_app_exceptions=False) as client:
        response = await client.post("/Greeter/greet", json="x")
    assert_ingress_error(response, 500, "internal error")
    assert "secret" not in response.text
    assert "secret internals" in caplog.text  # logged for the operator


async def test_lifespan_events_are_acknowledged(app: IngressApp) -> None:
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
