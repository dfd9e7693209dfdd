"""Fake endpoints for what a real SDK never does: garbage, wrong answers, silence.

Tiny ASGI apps served in-process by hypercorn (HTTP/1.1 and h2c) on a socket bound
to a free loopback port, and a raw TCP server that answers with junk.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve_asgi(app: App) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (any free port); yields its URI."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket
    config.graceful_timeout = 0.5
    config.accesslog = None
    config.errorlog = None
    stop = asyncio.Event()

    async def lifespan_safe(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    task = asyncio.create_task(serve(lifespan_safe, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        await _wait_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)


async def _wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        return
    raise RuntimeError("fake endpoint did not start")


async def respond(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    """A complete response."""
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def fixed(status: int, headers: dict[str, str], body: bytes) -> App:
    """An app answering every request the same way, at once (the request may stay open)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, status, headers, body)

    return app


@contextlib.asynccontextmanager
async def junk_server(data: bytes) -> AsyncIterator[str]:
    """A TCP server that writes ``data`` to every connection and closes it."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
