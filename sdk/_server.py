"""``POST /invoke/{service}/{handler}`` of ``sdk.app``: one attempt over Restate's protocol.

Owns the HTTP side of an attempt on the SDK's endpoint (ADR 0021 §2): check the
content type, read the start message and the replayed journal, run the handler with
rt's :class:`~sdk._engine.InvocationDriver`, stream what it produces back, and either
wait for notifications on the open request (bidirectional streaming, HTTP/2) or
suspend (request/response: HTTP/1.1, or once the runtime ended its request body).
The frames themselves are ``sdk._protocol.session``'s; nothing here imports the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import Any

from sdk._definitions import HandlerDefinition
from sdk._engine import Blocked, Done, Failed, InvocationDescriptor, InvocationDriver, Progress
from sdk._protocol.errors import ProtocolViolationError, UnsupportedFeatureError
from sdk._protocol.framing import Frame
from sdk._protocol.session import UNSUPPORTED_FEATURE_CODE, EndpointSession, Received
from sdk._protocol.versions import MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _server_header() -> bytes:
    try:
        return f"rt-sdk/{dist_version('rt-runtime')}".encode()
    except PackageNotFoundError:  # run from a source tree that is not installed
        return b"rt-sdk"


SERVER_HEADER = _server_header()
"""``x-restate-server`` of every invocation response."""

PROTOCOL_VIOLATION_CODE = 571
DRAIN_TIMEOUT_S = 10.0
"""How long an answered attempt waits for the runtime to end its request."""

_CONTENT_TYPE = re.compile(r"application/vnd\.restate\.invocation\.v(\d+)")


def invocation_version(content_type: str) -> int | None:
    """The protocol version a request's content type names, if rt's SDK serves it."""
    match = _CONTENT_TYPE.fullmatch(content_type.split(";")[0].strip())
    if match is None:
        return None
    version = int(match.group(1))
    return version if MIN_PROTOCOL_VERSION <= version <= MAX_PROTOCOL_VERSION else None


def served_versions() -> str:
    """How a 415 names what is served."""
    return ", ".join(
        f"application/vnd.restate.invocation.v{v}"
        for v in range(MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION + 1)
    )


class _Stream:
    """The request and response of one attempt (ASGI)."""

    def __init__(self, receive: Receive, send: Send, version: int) -> None:
        self._receive = receive
        self._send = send
        self.version = version
        self.request_ended = False
        self.disconnected = False
        self._started = False

    async def read(self) -> bytes:
        """The next request chunk; b"" once the body ended or the client went away."""
        if self.request_ended or self.disconnected:
            return b""
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.disconnected = True
            return b""
        if not message.get("more_body", False):
            self.request_ended = True
        body: bytes = message.get("body", b"")
        return body

    async def _drain(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self.request_ended and not self.disconnected:
                    await self.read()

    async def write(self, data: bytes, *, last: bool = False) -> None:
        """Send response bytes; ``last`` ends the response.

        The response ends only once the runtime has ended its request (it does so when
        it has the answer), or after :data:`DRAIN_TIMEOUT_S`: some HTTP/2 servers
        (hypercorn) drop a stream when its response ends and then fail the whole
        connection, other attempts included, on the request's last frame.
        """
        if not self._started:
            self._started = True
            content_type = f"application/vnd.restate.invocation.v{self.version}".encode()
            await self._send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", content_type),
                        (b"x-restate-server", SERVER_HEADER),
                    ],
                }
            )
        if data:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})
        if last:
            await self._drain(DRAIN_TIMEOUT_S)
            if not self.disconnected:
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})


async def serve_invocation(
    definition: HandlerDefinition,
    version: int,
    receive: Receive,
    send: Send,
    *,
    request_response: bool,
) -> None:
    """Run one attempt of ``definition``; the response is 200 whatever the handler does.

    Args:
        definition: the handler the path names.
        version: the protocol version of the request's content type (checked).
        receive: ASGI receive.
        send: ASGI send.
        request_response: suspend as soon as the handler blocks, even if the request
            is still open (``protocol="request_response"`` or HTTP/1.1).
    """
    stream = _Stream(receive, send, version)
    session = EndpointSession(version)
    live: list[Frame] = []
    try:
        while not session.replayed:
            chunk = await stream.read()
            if stream.disconnected:
                return
            live += session.feed(chunk)
            if not session.replayed and stream.request_ended:
                raise ProtocolViolationError("the request ended before the journal did")
    except UnsupportedFeatureError as e:
        await stream.write(session.error(UNSUPPORTED_FEATURE_CODE, str(e)), last=True)
        return
    except ProtocolViolationError as e:
        await stream.write(session.error(PROTOCOL_VIOLATION_CODE, str(e)), last=True)
        return
    driver = _driver(definition, session)
    try:
        await _run(driver, session, stream, live, request_response)
    finally:
        await driver.close()


def _driver(definition: HandlerDefinition, session: EndpointSession) -> InvocationDriver:
    start = session.start
    assert start is not None
    eager = None if start.partial_state else {e.key.decode(): e.value for e in start.state_map}
    descriptor = InvocationDescriptor(
        invocation_id=session.invocation_id,
        service=definition.service_name,
        handler=definition.name,
        key=start.key if definition.is_keyed else None,
        attempt=start.retry_count_since_last_stored_entry + 1,
        random_seed=session.random_seed,
        eager_state=eager,
        idempotency_key=start.idempotency_key if start.HasField("idempotency_key") else None,
    )
    return InvocationDriver(
        definition, descriptor, session.journal, always_replay=False, remote_id=start.id
    )


async def _run(
    driver: InvocationDriver,
    session: EndpointSession,
    stream: _Stream,
    live: list[Frame],
    request_response: bool,
) -> None:
    progress: Progress | None = driver.run_inline()
    if progress is None:
        progress = await driver.advance()
    pending = live
    while True:
        status = progress.status
        answer = session.answer(progress.new_entries)
        if isinstance(status, Done):
            await stream.write(answer + session.end(), last=True)
            return
        if isinstance(status, Failed):
            await stream.write(answer + _error(session, status), last=True)
            return
        assert isinstance(status, Blocked)
        await stream.write(answer)
        if request_response:
            await stream.write(
                session.suspension(status.awaiting, driver.named_signal_waits), last=True
            )
            return
        try:
            received = await _next_received(session, stream, pending)
        except UnsupportedFeatureError as e:
            await stream.write(session.error(UNSUPPORTED_FEATURE_CODE, str(e)), last=True)
            return
        except ProtocolViolationError as e:
            await stream.write(session.error(PROTOCOL_VIOLATION_CODE, str(e)), last=True)
            return
        pending = []
        if received is None:
            if not stream.disconnected:
                await stream.write(
                    session.suspension(status.awaiting, driver.named_signal_waits), last=True
                )
            return
        progress = await driver.advance(received.notifications, durable=received.durable)


async def _next_received(
    session: EndpointSession, stream: _Stream, pending: list[Frame]
) -> Received | None:
    """Wait for a notification or an ack on the open request; None when it ended."""
    received = session.receive(pending)
    while not received.notifications and not received.durable:
        chunk = await stream.read()
        if stream.disconnected or (not chunk and stream.request_ended):
            return None
        received = session.receive(session.feed(chunk))
    return received


def _error(session: EndpointSession, failed: Failed) -> bytes:
    retry_ms = None
    if failed.retry_after is not None:
        retry_ms = int(failed.retry_after.total_seconds() * 1000)
    return session.error(
        failed.code,
        failed.message,
        stacktrace=failed.stacktrace,
        command_index=failed.command_index,
        retry_after_ms=retry_ms,
    )
