"""Fixtures for the ingress contract tests: a test registry and an in-memory backend.

The backend records what the ingress hands it and answers with whatever a
test configures; no Kafka, no Redis, no sockets (httpx talks ASGI directly).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from runtime.ingress.app import IngressApp, create_ingress_app
from runtime.ingress.backend import (
    InvocationOutcome,
    InvocationRequest,
    OutputResult,
    OutputStatus,
    SendResult,
    SendStatus,
)
from runtime.registry import HandlerInfo, HandlerKind, Registry, ServiceInfo, ServiceType
from sdk._ids import invocation_id_for

FIXED_ID = invocation_id_for(service="Greeter", key=None, uuid_part=bytes(range(16)))
NOW_MS = 1_700_000_000_000
"""The backend's clock: delayed sends execute at ``NOW_MS + delay``."""


def _service(
    name: str, ty: ServiceType, *handlers: HandlerInfo, public: bool = True
) -> ServiceInfo:
    return ServiceInfo(name, ty, {h.name: h for h in handlers}, public=public)


def make_registry() -> Registry:
    """Services covering every shape the ingress distinguishes."""
    return Registry(
        [
            _service(
                "Greeter",
                ServiceType.SERVICE,
                HandlerInfo("greet", None),
                HandlerInfo("noinput", None, input_required=False),
                HandlerInfo("raw", None, accept="*/*", content_type="application/octet-stream"),
                HandlerInfo("text", None, accept="text/plain", content_type="text/plain"),
                HandlerInfo("anytext", None, accept="text/*"),
                HandlerInfo("secret", None, public=False),
            ),
            _service(
                "Counter",
                ServiceType.VIRTUAL_OBJECT,
                HandlerInfo("add", HandlerKind.EXCLUSIVE),
                HandlerInfo("get", HandlerKind.SHARED, input_required=False),
                HandlerInfo("send", HandlerKind.EXCLUSIVE, input_required=False),
            ),
            _service(
                "Signup",
                ServiceType.WORKFLOW,
                HandlerInfo("run", HandlerKind.WORKFLOW),
                HandlerInfo("status", HandlerKind.SHARED, input_required=False),
            ),
            _service("Hidden", ServiceType.SERVICE, HandlerInfo("ping", None), public=False),
        ]
    )


@dataclass
class RecordingBackend:
    """An :class:`IngressBackend` that records requests and returns configured answers."""

    calls: list[InvocationRequest] = field(default_factory=list)
    sends: list[tuple[InvocationRequest, int | None]] = field(default_factory=list)
    attaches: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    resolved: list[tuple[str, bytes]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    call_answer: Callable[[InvocationRequest], InvocationOutcome] | None = None
    """Default: succeed with the request body echoed."""
    send_status: SendStatus = SendStatus.ACCEPTED
    attach_result: OutputResult = field(
        default_factory=lambda: OutputResult(OutputStatus.NOT_FOUND)
    )
    output_result: OutputResult = field(
        default_factory=lambda: OutputResult(OutputStatus.NOT_FOUND)
    )
    error: BaseException | None = None
    """Raised by every method when set (a broken Kafka, say)."""

    def _fail_if_configured(self) -> None:
        if self.error is not None:
            raise self.error

    async def call(self, request: InvocationRequest) -> InvocationOutcome:
        self.calls.append(request)
        self._fail_if_configured()
        if self.call_answer is not None:
            return self.call_answer(request)
        return InvocationOutcome(FIXED_ID, value=request.body)

    async def send(self, request: InvocationRequest, delay_ms: int | None) -> SendResult:
        self.sends.append((request, delay_ms))
        self._fail_if_configured()
        execution = NOW_MS + delay_ms if delay_ms else None
        return SendResult(FIXED_ID, self.send_status, execution)

    async def attach(self, invocation_id: str) -> OutputResult:
        self.attaches.append(invocation_id)
        self._fail_if_configured()
        return self.attach_result

    async def output(self, invocation_id: str) -> OutputResult:
        self.outputs.append(invocation_id)
        self._fail_if_configured()
        return self.output_result

    async def resolve_awakeable(self, awakeable_id: str, value: bytes) -> None:
        self.resolved.append((awakeable_id, value))
        self._fail_if_configured()

    async def reject_awakeable(self, awakeable_id: str, message: str) -> None:
        self.rejected.append((awakeable_id, message))
        self._fail_if_configured()


MAX_BODY = 1024
"""Body limit of the test app, small enough to exceed cheaply."""


@pytest.fixture
def registry() -> Registry:
    return make_registry()


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


@pytest.fixture
def app(registry: Registry, backend: RecordingBackend) -> IngressApp:
    return create_ingress_app(registry, backend, max_body_bytes=MAX_BODY)


def client_for(app: IngressApp, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://ingress")


@pytest.fixture
async def client(app: IngressApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


def assert_ingress_error(response: httpx.Response, status: int, message: str) -> None:
    """The exact ingress error shape: status, body and source header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-restate-error-source"] == "ingress"
    assert response.json() == {"code": status, "message": message, "source": "ingress"}
