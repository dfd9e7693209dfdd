"""What every rt server process builds the same way: its event loop, its HTTP server, its
Redis client.

The composition roots (``rt dev`` with its node, an HTTP ingress process) each assemble a
process from these; keeping them here lets one root serve without importing another
(``tests/unit/test_layers.py``). Owns no state and imports nothing of rt but the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

import redis.asyncio as aioredis
import uvicorn

from runtime.settings import Settings

log = logging.getLogger("rt.serving")

WAITERS_GRACE_SHARE = 1 / 3
"""Share of ``shutdown_timeout_s`` that waiting callers get to receive their answers
before the rest are answered 503; the remainder is for handing the partitions over."""
HTTP_DRAIN_SHARE = 1 / 2
"""Share of ``shutdown_timeout_s`` after which an HTTP server cancels what it still serves."""


def loop_factory() -> Any:
    """uvloop when installed (it is, with uvicorn[standard]): a faster event loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return None
    return uvloop.new_event_loop


class Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its caller (``rt dev`` runs two
    servers; an ingress process stops on its own SIGTERM handler)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def redis_client(settings: Settings, url: str) -> aioredis.Redis:
    """The shared client; a blocking pool waits for a free connection instead of failing."""
    kwargs: dict[str, Any] = {}
    if settings.redis_password:
        kwargs["password"] = settings.redis_password
    if settings.redis_ssl_ca_certs:
        kwargs["ssl_ca_certs"] = settings.redis_ssl_ca_certs
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=256, timeout=30, **kwargs)
    return aioredis.Redis(connection_pool=pool)


def http_config(settings: Settings, app: Any, **kwargs: Any) -> uvicorn.Config:
    """A uvicorn config for one of rt's servers: no lifespan, quiet, and bounded at shutdown.

    Args:
        settings: Gives the shutdown bound.
        app: The ASGI app.
        **kwargs: More :class:`uvicorn.Config` arguments (host, port, ...).

    Returns:
        The config; requests still running ``HTTP_DRAIN_SHARE`` of ``shutdown_timeout_s``
        after the server was told to exit are cancelled, so a stuck request cannot hold the
        process. With ``tls_certfile`` and ``tls_keyfile`` set it serves HTTPS.
    """
    if settings.tls_certfile is not None and settings.tls_keyfile is not None:
        kwargs.update(
            ssl_certfile=str(settings.tls_certfile), ssl_keyfile=str(settings.tls_keyfile)
        )
    return uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout_s * HTTP_DRAIN_SHARE)),
        **kwargs,
    )


class Waiters(Protocol):
    """Callers waiting for invocation results (``runtime.responses.ResponseListener``)."""

    @property
    def waiting(self) -> int:
        """How many still wait."""
        ...

    def abandon(self) -> int:
        """Answer every waiting caller now (their requests end with a retryable error)."""
        ...


async def release_waiters(waiters: Waiters, settings: Settings) -> None:
    """Give waiting callers a share of the shutdown bound to get their answers; then
    answer the others (503, their invocations go on) so the HTTP server can stop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.shutdown_timeout_s * WAITERS_GRACE_SHARE
    while waiters.waiting and loop.time() < deadline:
        await asyncio.sleep(0.05)
    n = waiters.abandon()
    if n:
        log.info("shutting down: %d waiting caller(s) answered 503 (their invocations go on)", n)
