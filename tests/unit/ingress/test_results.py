"""Attach, output and lookup in every addressing form, and the health endpoint."""

from __future__ import annotations

import json

import httpx
import pytest

from runtime.ingress.backend import Failure, InvocationOutcome, OutputResult, OutputStatus
from sdk._ids import idempotent_invocation_id, workflow_invocation_id

from .conftest import FIXED_ID, RecordingBackend, assert_ingress_error

WF_ID = workflow_invocation_id("Signup", "u/1")
SVC_IDEM_ID = idempotent_invocation_id("Greeter", "greet", None, "idem 1")
OBJ_IDEM_ID = idempotent_invocation_id("Counter", "add", "k/1", "idem-2")

READY = OutputResult(OutputStatus.READY, InvocationOutcome(FIXED_ID, value=b'"done"'))

# (method, path, body, expected invocation id) for every way of naming an invocation
FORMS = [
    pytest.param("GET", f"/restate/attach/{FIXED_ID}", None, FIXED_ID, id="new-by-id"),
    pytest.param(
        "GET", f"/restate/invocation/{FIXED_ID}/{{mode}}", None, FIXED_ID, id="legacy-by-id"
    ),
    pytest.param(
        "GET",
        "/restate/invocation/Greeter/greet/idem%201/{mode}",
        None,
        SVC_IDEM_ID,
        id="legacy-idempotent-service",
    ),
    pytest.param(
        "GET",
        "/restate/invocation/Counter/k%2F1/add/idem-2/{mode}",
        None,
        OBJ_IDEM_ID,
        id="legacy-idempotent-object",
    ),
    pytest.param("GET", "/restate/workflow/Signup/u%2F1/{mode}", None, WF_ID, id="legacy-workflow"),
    pytest.param(
        "POST",
        "/restate/{mode}",
        {"target": "invocation", "invocationId": FIXED_ID},
        FIXED_ID,
        id="body-by-id",
    ),
    pytest.param(
        "POST",
        "/restate/{mode}",
        {
            "target": "idempotentInvocation",
            "service": "Greeter",
            "handler": "greet",
            "idempotencyKey": "idem 1",
        },
        SVC_IDEM_ID,
        id="body-idempotent-service",
    ),
    pytest.param(
        "POST",
        "/restate/{mode}",
        {
            "target": "idempotentInvocation",
            "service": "Counter",
            "key": "k/1",
            "handler": "add",
            "idempotencyKey": "idem-2",
        },
        OBJ_IDEM_ID,
        id="body-idempotent-object",
    ),
    pytest.param(
        "POST",
        "/restate/{mode}",
        {"target": "workflow", "workflowName": "Signup", "workflowKey": "u/1"},
        WF_ID,
        id="body-workflow",
    ),
]


BODY_FORMS = [form for form in FORMS if form.values[2] is not None]


def _path(path: str, mode: str) -> str:
    if path.startswith("/restate/attach/"):
        return path.replace("/attach/", f"/{mode}/")
    return path.format(mode=mode)


async def _request(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> httpx.Response:
    content = json.dumps(body).encode() if body is not None else None
    return await client.request(method, path, content=content)


@pytest.mark.parametrize(("method", "path", "body", "invocation_id"), FORMS)
async def test_attach_forms(
    client: httpx.AsyncClient,
    backend: RecordingBackend,
    method: str,
    path: str,
    body: dict[str, str] | None,
    invocation_id: str,
) -> None:
    backend.attach_result = READY
    response = await _request(client, method, _path(path, "attach"), body)
    assert response.status_code == 200, response.text
    assert response.content == b'"done"'
    assert response.headers["x-restate-id"] == FIXED_ID
    assert response.headers["content-type"] == "application/json"
    assert backend.attaches == [invocation_id] and not backend.outputs


@pytest.mark.parametrize(("method", "path", "body", "invocation_id"), FORMS)
async def test_output_forms(
    client: httpx.AsyncClient,
    backend: RecordingBackend,
    method: str,
    path: str,
    body: dict[str, str] | None,
    invocation_id: str,
) -> None:
    backend.output_result = READY
    response = await _request(client, method, _path(path, "output"), body)
    assert response.status_code == 200, response.text
    assert response.content == b'"done"'
    assert backend.outputs == [invocation_id] and not backend.attaches


@pytest.mark.parametrize(("method", "path", "body", "invocation_id"), BODY_FORMS)
async def test_lookup_forms(
    client: httpx.AsyncClient,
    backend: RecordingBackend,
    method: str,
    path: str,
    body: dict[str, str],
    invocation_id: str,
) -> None:
    response = await client.post("/restate/lookup", content=json.dumps(body).encode())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"invocationId": invocation_id}
    assert not backend.attaches and not backend.outputs  # pure computation


@pytest.mark.parametrize("mode", ["attach", "output"])
async def test_not_found(client: httpx.AsyncClient, backend: RecordingBackend, mode: str) -> None:
    response = await client.get(f"/restate/{mode}/{FIXED_ID}")
    assert_ingress_error(response, 404, "invocation not found")


async def test_output_not_ready_is_470(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    backend.output_result = OutputResult(OutputStatus.NOT_READY)
    response = await client.get("/restate/workflow/Signup/u1/output")
    assert_ingress_error(response, 470, "the invocation exists but has not completed yet")


async def test_attached_failure_is_the_invocation_failure(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    failure = Failure(409, "cancelled", {"by": "admin"})
    backend.attach_result = OutputResult(
        OutputStatus.READY, InvocationOutcome(FIXED_ID, failure=failure)
    )
    response = await client.get(f"/restate/attach/{FIXED_ID}")
    assert response.status_code == 409
    assert response.json() == {
        "code": 409,
        "message": "cancelled",
        "metadata": {"by": "admin"},
        "source": "invocation",
    }
    assert response.headers["x-restate-error-source"] == "invocation"
    assert response.headers["x-restate-id"] == FIXED_ID


async def test_ready_without_outcome_is_an_internal_error(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    backend.output_result = OutputResult(OutputStatus.READY)
    response = await client.get(f"/restate/output/{FIXED_ID}")
    assert response.status_code == 500
    assert response.json()["source"] == "ingress"


@pytest.mark.parametrize(
    "path", ["/restate/attach/inv_short", f"/restate/invocation/{FIXED_ID[:-1]}!/output"]
)
async def test_bad_invocation_id_in_path(
    client: httpx.AsyncClient, backend: RecordingBackend, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 400
    bad = path.split("/")[3]
    assert response.json()["message"].startswith(f"bad invocation id '{bad}': ")
    assert not backend.attaches and not backend.outputs


@pytest.mark.parametrize("endpoint", ["attach", "output", "lookup"])
async def test_bad_invocation_id_in_body(
    client: httpx.AsyncClient, backend: RecordingBackend, endpoint: str
) -> None:
    body = json.dumps({"target": "invocation", "invocationId": "inv_nope"})
    response = await client.post(f"/restate/{endpoint}", content=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("bad invocation id 'inv_nope': ")


@pytest.mark.parametrize(
    ("endpoint", "what"), [("attach", "request"), ("output", "request"), ("lookup", "lookup")]
)
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'{"target":"unknown"}',
        b'{"target":"workflow","workflowName":"W"}',
        b'{"target":"idempotentInvocation","service":"S","handler":"h"}',
        b'{"workflowName":"W","workflowKey":"k"}',
        b'{"target":"workflow","workflowName":1,"workflowKey":"k"}',
    ],
)
async def test_malformed_target_body(
    client: httpx.AsyncClient, backend: RecordingBackend, endpoint: str, what: str, body: bytes
) -> None:
    response = await client.post(f"/restate/{endpoint}", content=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"cannot read body: invalid {what} body: ")
    assert response.headers["x-restate-error-source"] == "ingress"
    assert not backend.attaches and not backend.outputs


@pytest.mark.parametrize(
    "body",
    [
        {"target": "workflow", "workflowName": "W", "workflowKey": "k", "scope": "s"},
        {
            "target": "idempotentInvocation",
            "service": "S",
            "handler": "h",
            "idempotencyKey": "i",
            "scope": "s",
        },
    ],
)
async def test_scoped_target_body_is_refused(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post("/restate/lookup", content=json.dumps(body).encode())
    assert_ingress_error(response, 400, "scoped invocations require vqueues to be enabled")


async def test_target_body_need_not_name_a_registered_service(client: httpx.AsyncClient) -> None:
    """A service may be gone while its completed invocations are still retained."""
    body = {"target": "workflow", "workflowName": "Removed", "workflowKey": "k"}
    response = await client.post("/restate/lookup", content=json.dumps(body).encode())
    assert response.json() == {"invocationId": workflow_invocation_id("Removed", "k")}


async def test_legacy_idempotent_path_needs_a_known_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/restate/invocation/Nope/h/idem/attach")
    assert_ingress_error(
        response,
        404,
        "service 'Nope' not found, make sure to register the service before calling it.",
    )


# --- health


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/restate/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"services": ["Counter", "Greeter", "Hidden", "Signup"]}
