"""What every rt server process builds the same way: its event loop, its HTTP server, its
Redis client.

The composition roots (``rt dev`` with its node, an HTTP ingress process) each assemble a
process from these; keeping them here lets one root serve without importing another
(``tests/unit/test_layers.py``). Owns no state and imports nothing of rt but the settings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import redis.asyncio as aioredis
import uvicorn

from runtime.settings import Settings


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
