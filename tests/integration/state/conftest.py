"""Fixtures for the state store tests: a store per test, and a cluster-mode Redis node."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from runtime.devstack import process
from runtime.state.store import PartitionStore, RetryPolicy
from tests.conftest import Infra

FAST_RETRY = RetryPolicy(attempts=20, deadline_s=10.0, initial_backoff_s=0.01, max_backoff_s=0.2)


@pytest.fixture
async def store(infra: Infra, prefix: str) -> AsyncIterator[PartitionStore]:
    """A store on the session Redis whose connections are named after the test's prefix."""
    s = await PartitionStore.connect(
        infra.redis_url, prefix=prefix, retry=FAST_RETRY, client_name=f"rt-state-{prefix}"
    )
    try:
        yield s
    finally:
        await s.aclose()


def _cluster_capable_port() -> int:
    """A free port <= 55535 whose cluster bus port (+10000) is free too: Redis 7.0 insists."""
    for _ in range(200):
        port = random.randint(20_000, 55_535)
        if process.port_is_free(port) and process.port_is_free(port + 10_000):
            return port
    raise RuntimeError("no free port pair for a cluster-mode Redis")


@pytest.fixture(scope="session")
def cluster_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """A single cluster-enabled redis-server: CLUSTER KEYSLOT needs cluster mode (Redis 7.0).

    Fails loudly, never skips, when redis-server cannot start.
    """
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise RuntimeError("redis-server not found; run ./scripts/setup.sh")
    data = tmp_path_factory.mktemp("redis-cluster-node")
    port = _cluster_capable_port()
    proc: subprocess.Popen[bytes] = process.spawn(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(data / "nodes.conf"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(data / "redis.log"),
        ],  # fmt: skip
        data / "redis.out",
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def ready() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        process.wait_until(ready, proc, 30.0, f"cluster-mode Redis on {port}", data / "redis.log")
        yield client
    finally:
        client.close()
        process.stop(proc)
