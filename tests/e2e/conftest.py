"""Fixtures that run real rt nodes (``rt dev`` processes) against the session's Kafka and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from runtime.dev import read_info
from runtime.devstack.process import tail
from tests.conftest import Infra

APPS = Path(__file__).parent / "apps"


class RtNode:
    """One ``rt dev`` process = one worker + ingress + admin, sharing the test's prefix."""

    def __init__(
        self, infra: Infra, prefix: str, app: Path, workdir: Path, partitions: int = 4, **env: str
    ) -> None:
        # Port 0: the node binds free ports itself and reports them in its dev.json (a port
        # picked here could be taken by a parallel test before the node binds it).
        self.ingress_port = self.admin_port = 0
        name = f"node-{uuid.uuid4().hex[:8]}"
        self.state_dir = workdir / name
        self.log = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            "RT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "RT_REDIS_URL": infra.redis_url,
            "RT_TOPIC_PREFIX": prefix,
            "RT_PARTITIONS": str(partitions),
            "RT_TEST_REDIS": infra.redis_url,
            "RT_TEST_NS": prefix,
            **env,
        }
        self.app = app
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def args(self) -> list[str]:
        """The command line; a restart reuses the ports the first start bound."""
        return [
            sys.executable, "-m", "runtime.cli", "dev", str(self.app),
            "--state-dir", str(self.state_dir),
            "--ingress-port", str(self.ingress_port),
            "--admin-port", str(self.admin_port),
        ]  # fmt: skip

    def start(self, wait: bool = True) -> RtNode:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        self._learn_ports()
        if wait:
            self.wait_ready()
        return self

    def _until(self, ready: Callable[[], bool], timeout: float, what: str, every: float) -> None:
        """Poll ``ready`` while the node runs; fail with its log if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"rt node exited:\n{tail(self.log, 80)}")
            if ready():
                return
            time.sleep(every)
        raise AssertionError(f"rt node {what}:\n{tail(self.log, 80)}")

    def _learn_ports(self, timeout: float = 60) -> None:
        def written() -> bool:
            assert self.proc is not None
            info = read_info(self.state_dir, self.proc.pid)
            if info is None:
                return False
            self.ingress_port = info["ingress_port"]
            self.admin_port = info["admin_port"]
            return True

        self._until(written, timeout, "wrote no dev.json", every=0.05)

    def wait_ready(self, timeout: float = 60) -> None:
        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/restate/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        self._until(healthy, timeout, "not ready", every=0.1)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def nodes(infra: Infra, prefix: str, tmp_path: Path) -> Iterator[list[RtNode]]:
    """Factory list: ``node = RtNode(...); nodes.append(node.start())``; all stopped at the end."""
    started: list[RtNode] = []
    yield started
    for n in started:
        n.stop()


@pytest.fixture(params=["normal", "always-replay"])
def replay_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Env for ``RtNode(..., **replay_env)``: runs a test twice, normally and in always-replay
    mode (every handler suspends at every await and resumes by replay). Setting
    ``RT_ALWAYS_REPLAY=1`` in pytest's environment runs every ``RtNode`` that way instead."""
    return {"RT_ALWAYS_REPLAY": "1" if request.param == "always-replay" else "0"}


@pytest.fixture
def core_node(infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]) -> RtNode:
    node = RtNode(infra, prefix, APPS / "core_app.py", tmp_path)
    nodes.append(node.start())
    return node


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.failed:
        started = item.funcargs.get("nodes") if hasattr(item, "funcargs") else None
        for n in started or []:
            report.sections.append((f"rt node {n.ingress_port} log (tail)", tail(n.log, 60)))
            report.sections.append((f"rt node {n.ingress_port} admin", _admin_snapshot(n)))
    return report


def _admin_snapshot(node: RtNode) -> str:
    """What the node's admin API says about its invocations and subscriptions, for
    diagnosing a failed test (the node may be dead: then say so)."""
    parts = []
    for path in ("/invocations?limit=50", "/subscriptions"):
        try:
            r = httpx.get(f"{node.admin_url}{path}", timeout=5)
            parts.append(f"GET {path} -> {r.status_code}\n{r.text[:4000]}")
        except httpx.HTTPError as e:
            parts.append(f"GET {path} failed: {e}")
    return "\n".join(parts)
