"""Attempts that go wrong: a killed endpoint, garbage, silence, refusals.

The endpoint killed mid-stream is the real Python SDK; the rest are fakes, since no
real SDK sends garbage or stays silent on purpose.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.protocol import (
    AttemptAbortedError,
    EndpointResponseError,
    NewEntries,
    ProtocolMode,
    ProtocolViolationError,
    RemoteAttempt,
    RemoteEndpoint,
    Timeouts,
    TransportError,
)
from runtime.protocol.framing import encode_message
from runtime.protocol.generated import service_protocol_pb2 as pb
from sdk.engine import SleepCommand
from tests.integration.protocol.conftest import run_attempt, start_of
from tests.integration.protocol.endpoints import start_hypercorn
from tests.integration.protocol.fakes import (
    Receive,
    Scope,
    Send,
    closed_port,
    fixed,
    junk_server,
    respond,
    serve_asgi,
)

V7 = "application/vnd.restate.invocation.v7"


async def test_an_endpoint_killed_mid_stream_is_a_transport_error(tmp_path: Path) -> None:
    server = start_hypercorn(tmp_path)
    try:
        async with RemoteEndpoint(server.uri, protocol_version=7) as endpoint:
            attempt = await RemoteAttempt.open(
                endpoint, start_of("Sleeper", "nap", input=b"600000")
            )
            async for item in attempt:
                if isinstance(item, NewEntries) and isinstance(item.entries[0], SleepCommand):
                    break
            server.kill()
            with pytest.raises(TransportError, match="closed the connection mid-stream"):
                await attempt.__anext__()
            assert attempt.finished
            assert not await attempt.notify([])
    finally:
        server.stop()


async def test_garbage_in_the_response_is_a_protocol_error() -> None:
    app = fixed(200, {"content-type": V7}, b"\xde\xad\xbe\xef" * 8)
    async with serve_asgi(app) as uri, RemoteEndpoint(uri, protocol_version=7) as endpoint:
        with pytest.raises(ProtocolViolationError, match="unknown message type 0xDEAD"):
            await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"x"'))


async def test_a_response_cut_inside_a_frame_is_a_protocol_error() -> None:
    end = encode_message(pb.EndMessage())
    frame = encode_message(pb.OutputCommandMessage(value=pb.Value(content=b'"half"')))
    app = fixed(200, {"content-type": V7}, frame[:-3])
    async with serve_asgi(app) as uri, RemoteEndpoint(uri, protocol_version=7) as endpoint:
        with pytest.raises(ProtocolViolationError, match="without an End"):
            await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"x"'))
    assert end  # a whole End frame would have ended the attempt


async def test_a_runtime_only_message_from_the_endpoint_is_a_protocol_error() -> None:
    app = fixed(200, {"content-type": V7}, encode_message(pb.StartMessage()))
    async with serve_asgi(app) as uri, RemoteEndpoint(uri, protocol_version=7) as endpoint:
        with pytest.raises(ProtocolViolationError, match="START, which only the runtime sends"):
            await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"x"'))


async def test_the_wrong_content_type_is_a_protocol_error() -> None:
    app = fixed(200, {"content-type": "application/json"}, b"{}")
    async with serve_asgi(app) as uri, RemoteEndpoint(uri, protocol_version=7) as endpoint:
        with pytest.raises(ProtocolViolationError, match="content-type 'application/json'"):
            await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"x"'))


async def test_a_refused_protocol_version_is_reported() -> None:
    app = fixed(415, {"content-type": "text/plain"}, b"unsupported protocol version")
    async with serve_asgi(app) as uri, RemoteEndpoint(uri, protocol_version=7) as endpoint:
        with pytest.raises(EndpointResponseError, match="refused service protocol version 7") as e:
            await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"x"'))
    assert e.value.status == 415


async def test_a_server_that_does_not_speak_http2_is_a_transport_error() -> None:
    async with (
        junk_server(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"\x00" * 64) as uri,
        RemoteEndpoint(uri, protocol_version=7) as endpoint,
    ):
        with pytest.raises(TransportError, match=r"endpoint 127\.0\.0\.1:\d+"):
            await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"x"'))


async def test_a_refused_connection_is_a_transport_error() -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    async with RemoteEndpoint(uri, protocol_version=7) as endpoint:
        with pytest.raises(TransportError, match="cannot connect"):
            await RemoteAttempt.open(endpoint, start_of("Greeter", "greet", input=b'"x"'))


async def test_a_silent_endpoint_is_asked_to_suspend_then_aborted() -> None:
    request_ended = asyncio.Event()

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(b"content-type", V7.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if not message.get("more_body"):
                request_ended.set()

    timeouts = Timeouts(inactivity=timedelta(milliseconds=200), abort=timedelta(milliseconds=300))
    async with (
        serve_asgi(silent) as uri,
        RemoteEndpoint(uri, protocol_version=7, timeouts=timeouts) as endpoint,
    ):
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(AttemptAbortedError, match="abort timeout"):
            await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"x"'))
        assert 0.45 <= loop.time() - began < 3
        assert request_ended.is_set(), "inactivity did not close the request stream"


async def test_numbering_completions_unlike_rt_is_refused() -> None:
    body = encode_message(pb.RunCommandMessage(result_completion_id=5, name="r"))
    app = fixed(200, {"content-type": V7}, body)
    async with serve_asgi(app) as uri, RemoteEndpoint(uri, protocol_version=7) as endpoint:
        with pytest.raises(ProtocolViolationError, match=r"numbered .* \[5\], rt expected \[1\]"):
            await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"x"'))


async def test_an_error_status_over_http11_carries_the_body() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await respond(send, 503, {"content-type": "text/plain"}, b"overloaded")

    async with (
        serve_asgi(app) as uri,
        RemoteEndpoint(
            uri, protocol_version=7, mode=ProtocolMode.REQUEST_RESPONSE, use_http_11=True
        ) as endpoint,
    ):
        with pytest.raises(EndpointResponseError, match="overloaded") as e:
            await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"x"'))
    assert e.value.status == 503
