"""Calls and sends over HTTP: path forms, bodies, headers, idempotency keys, delays, responses."""

from __future__ import annotations

import json

import httpx
import pytest

from runtime.ingress.backend import Failure, InvocationOutcome, InvocationRequest, SendStatus
from sdk._ids import workflow_invocation_id

from .conftest import FIXED_ID, NOW_MS, RecordingBackend, assert_ingress_error

JSON = {"content-type": "application/json"}


def only_call(backend: RecordingBackend) -> InvocationRequest:
    assert len(backend.calls) == 1 and not backend.sends
    return backend.calls[0]


def only_send(backend: RecordingBackend) -> tuple[InvocationRequest, int | None]:
    assert len(backend.sends) == 1 and not backend.calls
    return backend.sends[0]


# --- path forms of both families reach the backend with the right target


@pytest.mark.parametrize(
    ("path", "service", "handler", "key"),
    [
        ("/Greeter/greet", "Greeter", "greet", None),
        ("/restate/call/Greeter/greet", "Greeter", "greet", None),
        ("/Counter/k1/add", "Counter", "add", "k1"),
        ("/restate/call/Counter/k1/add", "Counter", "add", "k1"),
        ("/Signup/user%2F1/run", "Signup", "run", "user/1"),
        ("/restate/call/Signup/user%2F1/run", "Signup", "run", "user/1"),
        ("/Counter/k/send", "Counter", "send", "k"),  # handler named "send"
    ],
)
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_call_path_forms(
    client: httpx.AsyncClient,
    backend: RecordingBackend,
    path: str,
    service: str,
    handler: str,
    key: str | None,
    method: str,
) -> None:
    response = await client.request(method, path, content=b'"Ada"', headers=JSON)
    assert response.status_code == 200, response.text
    request = only_call(backend)
    assert (request.service, request.handler, request.key) == (service, handler, key)
    assert request.body == b'"Ada"'


@pytest.mark.parametrize(
    ("path", "service", "handler", "key"),
    [
        ("/Greeter/greet/send", "Greeter", "greet", None),
        ("/restate/send/Greeter/greet", "Greeter", "greet", None),
        ("/Counter/k1/add/send", "Counter", "add", "k1"),
        ("/restate/send/Counter/k1/add", "Counter", "add", "k1"),
        ("/Signup/u1/run/send", "Signup", "run", "u1"),
        ("/restate/send/Signup/u1/run", "Signup", "run", "u1"),
        ("/Counter/k/send/send", "Counter", "send", "k"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_send_path_forms(
    client: httpx.AsyncClient,
    backend: RecordingBackend,
    path: str,
    service: str,
    handler: str,
    key: str | None,
    method: str,
) -> None:
    response = await client.request(method, path, content=b"1", headers=JSON)
    assert response.status_code == 202, response.text
    request, delay = only_send(backend)
    assert (request.service, request.handler, request.key) == (service, handler, key)
    assert delay is None


# --- response shapes


async def test_call_success_response(client: httpx.AsyncClient, backend: RecordingBackend) -> None:
    backend.call_answer = lambda req: InvocationOutcome(FIXED_ID, value=b'{"greeting":"hi"}')
    response = await client.post("/Greeter/greet", content=b'"Ada"', headers=JSON)
    assert response.status_code == 200
    assert response.content == b'{"greeting":"hi"}'  # raw bytes, untouched
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-restate-id"] == FIXED_ID
    assert "x-restate-error-source" not in response.headers


async def test_call_content_type_comes_from_the_outcome(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    backend.call_answer = lambda req: InvocationOutcome(
        FIXED_ID, value=b"\x00\x01", content_type="application/octet-stream"
    )
    response = await client.post("/Greeter/raw", content=b"x")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01"


async def test_call_empty_output(client: httpx.AsyncClient, backend: RecordingBackend) -> None:
    backend.call_answer = lambda req: InvocationOutcome(FIXED_ID, value=b"")
    response = await client.post("/Greeter/noinput")
    assert (response.status_code, response.content) == (200, b"")


@pytest.mark.parametrize(
    ("failure", "status", "body"),
    [
        (
            Failure(503, "boom", {"reason": "x"}),
            503,
            {"code": 503, "message": "boom", "metadata": {"reason": "x"}, "source": "invocation"},
        ),
        (Failure(500, "oops"), 500, {"code": 500, "message": "oops", "source": "invocation"}),
        (Failure(418, "teapot"), 418, {"code": 418, "message": "teapot", "source": "invocation"}),
        (Failure(470, "custom"), 470, {"code": 470, "message": "custom", "source": "invocation"}),
        # cancellation, kill and promise conflicts are terminal outcomes like any other
        (
            Failure(409, "canceled"),
            409,
            {"code": 409, "message": "canceled", "source": "invocation"},
        ),
        (Failure(409, "killed"), 409, {"code": 409, "message": "killed", "source": "invocation"}),
        (
            Failure(409, "promise was already completed"),
            409,
            {"code": 409, "message": "promise was already completed", "source": "invocation"},
        ),
        # a failure must never read as success: codes below 400 become 500, body unchanged
        (Failure(200, "odd"), 500, {"code": 200, "message": "odd", "source": "invocation"}),
        (Failure(0, "zero"), 500, {"code": 0, "message": "zero", "source": "invocation"}),
    ],
)
async def test_terminal_failure_response(
    client: httpx.AsyncClient,
    backend: RecordingBackend,
    failure: Failure,
    status: int,
    body: dict[str, object],
) -> None:
    backend.call_answer = lambda req: InvocationOutcome(FIXED_ID, failure=failure)
    response = await client.post("/Greeter/greet", content=b"1", headers=JSON)
    assert response.status_code == status
    assert response.json() == body
    assert response.headers["x-restate-error-source"] == "invocation"
    assert response.headers["x-restate-id"] == FIXED_ID


async def test_failure_body_field_order(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    backend.call_answer = lambda req: InvocationOutcome(
        FIXED_ID, failure=Failure(503, "b", {"k": "v"})
    )
    response = await client.post("/Greeter/greet", content=b"1", headers=JSON)
    assert (
        response.content == b'{"code":503,"message":"b","metadata":{"k":"v"},"source":"invocation"}'
    )


async def test_send_response(client: httpx.AsyncClient, backend: RecordingBackend) -> None:
    response = await client.post("/Greeter/greet/send", content=b"1", headers=JSON)
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-restate-id"] == FIXED_ID
    assert (
        response.content
        == json.dumps(
            {"invocationId": FIXED_ID, "status": "Accepted"}, separators=(",", ":")
        ).encode()
    )


async def test_send_previously_accepted_is_still_202(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    backend.send_status = SendStatus.PREVIOUSLY_ACCEPTED
    response = await client.post("/Signup/u1/run/send", content=b"1", headers=JSON)
    assert response.status_code == 202
    assert response.json() == {"invocationId": FIXED_ID, "status": "PreviouslyAccepted"}


async def test_duplicate_workflow_run_call(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    from runtime.ingress.backend import DuplicateWorkflowRun

    def raise_duplicate(request: InvocationRequest) -> InvocationOutcome:
        raise DuplicateWorkflowRun(workflow_invocation_id("Signup", "u1"))

    backend.call_answer = raise_duplicate
    response = await client.post("/Signup/u1/run", content=b"1", headers=JSON)
    assert response.status_code == 409
    assert response.json() == {
        "code": 409,
        "message": "the workflow method was already invoked",
        "source": "invocation",
    }
    assert response.headers["x-restate-error-source"] == "invocation"
    assert response.headers["x-restate-id"] == workflow_invocation_id("Signup", "u1")


# --- delay


@pytest.mark.parametrize(
    ("query", "delay_ms"),
    [
        ("delay=PT10S", 10_000),
        ("delay=P1DT2H", 93_600_000),
        ("delay=10s", 10_000),
        ("delay=60+sec", 60_000),  # form-encoded space
        ("delay=60%20sec", 60_000),
        ("delay=500ms", 500),
        ("delay=5m", 300_000),
        ("delay=1h%2030m", 5_400_000),
        ("delay=1500", 1_500),  # bare integer: milliseconds
        ("DELAY=2s", 2_000),  # the name is case-insensitive
        ("delay=1s&delay=2s", 1_000),  # the first one wins
    ],
)
async def test_send_with_delay(
    client: httpx.AsyncClient, backend: RecordingBackend, query: str, delay_ms: int
) -> None:
    response = await client.post(f"/restate/send/Greeter/greet?{query}", content=b"1", headers=JSON)
    assert response.status_code == 202, response.text
    assert only_send(backend)[1] == delay_ms
    body = response.json()
    assert list(body) == ["invocationId", "executionTime", "status"]
    assert body["status"] == "Accepted"


async def test_execution_time_is_rfc3339(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    response = await client.post("/Greeter/greet/send?delay=PT10S", content=b"1", headers=JSON)
    assert NOW_MS + 10_000 == 1_700_000_010_000
    assert response.json()["executionTime"] == "2023-11-14T22:13:30.000Z"


async def test_zero_delay_has_no_execution_time(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    response = await client.post("/Greeter/greet/send?delay=0s", content=b"1", headers=JSON)
    assert response.status_code == 202
    assert only_send(backend)[1] == 0
    assert "executionTime" not in response.json()


@pytest.mark.parametrize(
    "path", ["/Greeter/greet?delay=10s", "/restate/call/Greeter/greet?delay=1"]
)
async def test_delay_on_call_is_400(
    client: httpx.AsyncClient, backend: RecordingBackend, path: str
) -> None:
    response = await client.post(path, content=b"1", headers=JSON)
    assert_ingress_error(
        response,
        400,
        "cannot use the delay query parameter with calls. The delay is supported only with sends",
    )
    assert not backend.calls


@pytest.mark.parametrize("value", ["soon", "P1M", "-5s", "", "10 parsecs"])
@pytest.mark.parametrize("path", ["/Greeter/greet/send", "/Greeter/greet"])
async def test_unparseable_delay_is_400(
    client: httpx.AsyncClient, backend: RecordingBackend, value: str, path: str
) -> None:
    response = await client.post(f"{path}?delay={value}", content=b"1", headers=JSON)
    assert response.status_code == 400
    assert response.json()["message"].startswith(
        "bad delay query parameter, must be a ISO8601 duration: "
    )
    assert response.headers["x-restate-error-source"] == "ingress"
    assert not backend.sends and not backend.calls


async def test_delay_past_year_9999_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/Greeter/greet/send?delay=P3000000D", content=b"1", headers=JSON)
    assert response.status_code == 400
    assert "after year 9999" in response.json()["message"]


# --- headers


async def test_headers_forwarded(client: httpx.AsyncClient, backend: RecordingBackend) -> None:
    response = await client.post(
        "/Greeter/greet?a=1&b=%20x",
        content=b"1",
        headers={
            "content-type": "application/json",
            "x-custom": "value",
            "Authorization": "Bearer t",
            "connection": "keep-alive",
            "idempotency-key": "k1",
            "idempotency-expires": "whenever",
            "x-restate-ingress-path": "/forged",
        },
    )
    assert response.status_code == 200
    headers = only_call(backend).headers
    assert headers["x-custom"] == "value"
    assert headers["authorization"] == "Bearer t"
    assert headers["content-type"] == "application/json"
    assert headers["x-restate-ingress-path"] == "/Greeter/greet?a=1&b=%20x"
    for dropped in ("host", "connection", "idempotency-key", "idempotency-expires"):
        assert dropped not in headers


async def test_ingress_path_without_query(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    await client.post("/restate/send/Counter/a%2Fb/add", content=b"1", headers=JSON)
    assert (
        only_send(backend)[0].headers["x-restate-ingress-path"] == "/restate/send/Counter/a%2Fb/add"
    )


async def test_repeated_headers_are_joined(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    headers = [("content-type", "application/json"), ("x-multi", "a"), ("x-multi", "b")]
    await client.post("/Greeter/greet", content=b"1", headers=headers)
    assert only_call(backend).headers["x-multi"] == "a, b"


async def test_non_ascii_header_value_is_400(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    headers = [(b"content-type", b"application/json"), (b"x-name", "café".encode())]
    response = await client.post("/Greeter/greet", content=b"1", headers=headers)
    assert_ingress_error(response, 400, "bad header x-name: failed to convert header to a str")
    assert not backend.calls


# --- idempotency keys


@pytest.mark.parametrize("path", ["/Greeter/greet", "/Greeter/greet/send", "/Counter/k/add"])
async def test_idempotency_key_passed(
    client: httpx.AsyncClient, backend: RecordingBackend, path: str
) -> None:
    response = await client.post(
        path, content=b"1", headers={**JSON, "idempotency-key": "order-42"}
    )
    assert response.status_code in (200, 202)
    requests = backend.calls or [r for r, _ in backend.sends]
    assert [r.idempotency_key for r in requests] == ["order-42"]


async def test_no_idempotency_key(client: httpx.AsyncClient, backend: RecordingBackend) -> None:
    await client.post("/Greeter/greet", content=b"1", headers=JSON)
    assert only_call(backend).idempotency_key is None


@pytest.mark.parametrize(
    "path", ["/Signup/u1/run", "/Signup/u1/run/send", "/restate/call/Signup/u1/run"]
)
async def test_idempotency_key_on_workflow_run_is_400(
    client: httpx.AsyncClient, backend: RecordingBackend, path: str
) -> None:
    response = await client.post(path, content=b"1", headers={**JSON, "idempotency-key": "k"})
    assert_ingress_error(
        response,
        400,
        "cannot use the idempotency key with workflow handlers. The handler invocation will "
        "already be idempotent by the workflow key itself.",
    )
    assert not backend.calls and not backend.sends


async def test_idempotency_key_on_shared_workflow_handler_is_fine(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    response = await client.post("/Signup/u1/status", headers={"idempotency-key": "k"})
    assert response.status_code == 200
    assert only_call(backend).idempotency_key == "k"


# --- bodies and content types


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        " application/json ",
    ],
)
async def test_json_content_type_parameters_ignored(
    client: httpx.AsyncClient, backend: RecordingBackend, content_type: str
) -> None:
    response = await client.post(
        "/Greeter/greet", content=b'{"a":1}', headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "json", "application/jsonx"]
)
async def test_content_type_mismatch_is_400(
    client: httpx.AsyncClient, backend: RecordingBackend, content_type: str
) -> None:
    response = await client.post(
        "/Greeter/greet", content=b"1", headers={"content-type": content_type}
    )
    assert_ingress_error(
        response,
        400,
        f"input validation error: Content-type '{content_type}' does not match 'application/json'",
    )
    assert not backend.calls


async def test_missing_content_type_with_body_is_400(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    response = await client.post("/Greeter/greet", content=b"1")
    assert_ingress_error(response, 400, "input validation error: Empty content-type")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream", "x/y"])
async def test_wildcard_accept_takes_anything(
    client: httpx.AsyncClient, backend: RecordingBackend, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/Greeter/raw", content=b"\xff\x00 not json", headers=headers)
    assert response.status_code == 200, response.text
    assert only_call(backend).body == b"\xff\x00 not json"


async def test_type_wildcard_accept(client: httpx.AsyncClient, backend: RecordingBackend) -> None:
    ok = await client.post("/Greeter/anytext", content=b"hi", headers={"content-type": "text/csv"})
    assert ok.status_code == 200
    bad = await client.post(
        "/Greeter/anytext", content=b"hi", headers={"content-type": "image/png"}
    )
    assert_ingress_error(
        bad, 400, "input validation error: Content-type 'image/png' does not match 'text/*'"
    )


async def test_non_json_handler_body_is_not_parsed(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    response = await client.post(
        "/Greeter/text", content=b"{nope", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/Greeter/greet", "/Counter/k/add", "/Greeter/greet/send"])
@pytest.mark.parametrize("headers", [{}, JSON])
async def test_empty_body_on_required_input_is_400(
    client: httpx.AsyncClient, backend: RecordingBackend, path: str, headers: dict[str, str]
) -> None:
    response = await client.post(path, headers=headers)
    assert_ingress_error(response, 400, "input validation error: Empty body not allowed")
    assert not backend.calls and not backend.sends


@pytest.mark.parametrize("headers", [{}, JSON, {"content-type": "text/plain"}])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_empty_body_on_optional_input_is_fine(
    client: httpx.AsyncClient, backend: RecordingBackend, headers: dict[str, str], method: str
) -> None:
    response = await client.request(method, "/Counter/k/get", headers=headers)
    assert response.status_code == 200, response.text
    assert only_call(backend).body == b""


async def test_optional_input_still_checks_a_body(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    response = await client.post("/Greeter/noinput", content=b"{", headers=JSON)
    assert response.status_code == 400
    ok = await client.post("/Greeter/noinput", content=b"null", headers=JSON)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"{", b"{'a': 1}", b"[1,]", b"NaN", b"undefined", b'"\xff"', b"\xef\xbb\xbf1", b"1 2"],
)
async def test_malformed_json_is_400(
    client: httpx.AsyncClient, backend: RecordingBackend, body: bytes
) -> None:
    response = await client.post("/Greeter/greet", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["message"].startswith("input validation error: malformed JSON body: ")
    assert response.headers["x-restate-error-source"] == "ingress"
    assert not backend.calls


@pytest.mark.parametrize(
    "body",
    [b"1", b'"s"', b"null", b"true", b' [1, {"a": [null]}] ', b"123456789012345678901234567890"],
)
async def test_well_formed_json_passes_untouched(
    client: httpx.AsyncClient, backend: RecordingBackend, body: bytes
) -> None:
    response = await client.post("/Greeter/greet", content=body, headers=JSON)
    assert response.status_code == 200
    assert only_call(backend).body == body


# --- the registry is read per request


async def test_services_added_later_are_callable(
    client: httpx.AsyncClient, registry: object
) -> None:
    from runtime.registry import HandlerInfo, Registry, ServiceInfo, ServiceType

    assert isinstance(registry, Registry)
    first = await client.post("/Late/h", content=b"1", headers=JSON)
    assert first.status_code == 404
    registry.add(ServiceInfo("Late", ServiceType.SERVICE, {"h": HandlerInfo("h", None)}))
    second = await client.post("/Late/h", content=b"1", headers=JSON)
    assert second.status_code == 200


async def test_trailing_slash_is_trimmed_everywhere(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    response = await client.post("/Greeter/greet/?x=1", content=b"1", headers=JSON)
    assert response.status_code == 200
    assert only_call(backend).headers["x-restate-ingress-path"] == "/Greeter/greet?x=1"


async def test_idempotent_call_carries_idempotency_expires(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    """Restate's ``idempotency-expires``: RFC 3339 UTC, on success and on failure."""
    expires = NOW_MS + 86_400_000
    backend.call_answer = lambda r: InvocationOutcome(
        FIXED_ID, value=r.body, idempotency_expires_ms=expires
    )
    headers = {**JSON, "idempotency-key": "k"}
    response = await client.post("/Greeter/greet", content=b"1", headers=headers)
    assert response.status_code == 200
    assert response.headers["idempotency-expires"] == "2023-11-15T22:13:20.000Z"
    backend.call_answer = lambda r: InvocationOutcome(
        FIXED_ID, failure=Failure(422, "no"), idempotency_expires_ms=expires
    )
    response = await client.post("/Greeter/greet", content=b"1", headers=headers)
    assert response.status_code == 422
    assert response.headers["idempotency-expires"] == "2023-11-15T22:13:20.000Z"


async def test_plain_call_has_no_idempotency_expires(client: httpx.AsyncClient) -> None:
    response = await client.post("/Greeter/greet", content=b"1", headers=JSON)
    assert response.status_code == 200 and "idempotency-expires" not in response.headers
