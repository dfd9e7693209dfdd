"""A real admin API (in-memory backend) on a free port, for the CLI to talk to."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import APIRouter
from typer.testing import CliRunner

from runtime.admin.app import create_admin_app
from runtime.registry import Registry
from tests.unit.admin.fakes import InMemoryAdminBackend, sample_registry


@dataclass
class AdminServer:
    url: str
    backend: InMemoryAdminBackend


@contextlib.contextmanager
def serve_admin(
    registry: Registry, backend: InMemoryAdminBackend, routers: Sequence[APIRouter] = ()
) -> Iterator[AdminServer]:
    """Serve the admin app with uvicorn in a thread until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_admin_app(registry, backend, routers=routers),
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("admin test server did not start")
        time.sleep(0.01)
    try:
        yield AdminServer(f"http://127.0.0.1:{port}", backend)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def _module_server() -> Iterator[AdminServer]:
    with serve_admin(sample_registry(), InMemoryAdminBackend()) as server:
        yield server


@pytest.fixture
def admin(_module_server: AdminServer) -> AdminServer:
    """The shared server, with its backend emptied for this test."""
    b = _module_server.backend
    b.states.clear()
    b.writes.clear()
    b.fail_with = None
    b.after_get = None
    return _module_server


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200", "RT_ADMIN_URL": None})


@pytest.fixture
def dead_url() -> str:
    """A URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
