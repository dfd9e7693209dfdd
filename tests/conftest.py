"""Session-scoped real Kafka and Redis for integration and e2e tests.

Started once per session by the same code ``rt dev`` uses (local processes
from Maven jars and Debian's redis-server), or taken from ``RT_KAFKA_BOOTSTRAP``
and ``RT_REDIS_URL`` when set. If they cannot start, the tests error loudly;
they are never skipped. Each test gets its own topic prefix, which also
namespaces its Redis keys.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from runtime.devstack.process import tail
from runtime.devstack.stack import DevStack


@dataclass
class Infra:
    kafka_bootstrap: str
    redis_url: str
    log_files: dict[str, Path]

    def kafka_config(self, **extra: Any) -> dict[str, Any]:
        return {"bootstrap.servers": self.kafka_bootstrap, **extra}


_STACK: DevStack | None = None


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    global _STACK
    stack = DevStack(
        state_dir=tmp_path_factory.mktemp("rt-infra"),
        kafka_bootstrap=os.environ.get("RT_KAFKA_BOOTSTRAP"),
        redis_url=os.environ.get("RT_REDIS_URL"),
    )
    stack.start()
    _STACK = stack
    assert stack.kafka_bootstrap and stack.redis_url
    try:
        yield Infra(stack.kafka_bootstrap, stack.redis_url, stack.log_files())
    finally:
        _STACK = None
        stack.stop()


@pytest.fixture
def prefix() -> str:
    """A unique topic prefix (and Redis key namespace) per test."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_client(infra: Infra) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(infra.redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and _STACK is not None and "infra" in getattr(item, "fixturenames", ()):
        for name, path in _STACK.log_files().items():
            report.sections.append((f"{name} log (tail)", tail(path, 60)))
    return report
