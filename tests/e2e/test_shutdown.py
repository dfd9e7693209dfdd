"""Bounded shutdown of a real ``rt dev`` process (SIGTERM while callers wait).

A caller waiting on an invocation that never ends must get a retryable 503 (the
invocation goes on), the node must leave the consumer group and exit 0 within
``shutdown_timeout_s``; a second signal exits at once.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

APP = APPS / "shutdown_app.py"
BOUND_S = 8.0


class Caller(threading.Thread):
    """One HTTP call in the background; keeps the response (or the error)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.response = httpx.post(self.url, json="x", timeout=120)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


def _wait_running(node: RtNode, handler: str, timeout: float = 30) -> None:
    """Until the node's admin API lists an invocation of ``handler`` (the call is in)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{node.admin_url}/invocations?limit=50", timeout=5)
        if handler in r.text:
            return
        time.sleep(0.2)
    raise AssertionError(f"no invocation of {handler} listed: {r.text[:2000]}")


def _group_members(infra: Infra, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": infra.kafka_bootstrap})
    desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return len(desc.members)


@pytest.mark.parametrize(
    ("handler", "ingress_processes"), [("retrying", 0), ("hanging", 0), ("hanging", 1)]
)
def test_sigterm_answers_waiting_callers_503_and_exits_0_in_time(
    infra: Infra,
    prefix: str,
    tmp_path: Path,
    nodes: list[RtNode],
    handler: str,
    ingress_processes: int,
) -> None:
    node = RtNode(
        infra,
        prefix,
        APP,
        tmp_path,
        RT_SHUTDOWN_TIMEOUT_S=str(BOUND_S),
        RT_INGRESS_PROCESSES=str(ingress_processes),
    )
    nodes.append(node.start())
    caller = Caller(f"{node.url}/Stuck/{handler}")
    caller.start()
    _wait_running(node, handler)
    assert _group_members(infra, f"{prefix}.processors") == 1

    assert node.proc is not None
    started = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    code = node.proc.wait(BOUND_S + 5)
    took = time.monotonic() - started
    caller.join(10)

    assert code == 0, node.log.read_text()[-4000:]
    assert took < BOUND_S, f"took {took:.1f}s"
    assert caller.error is None, caller.error
    r = caller.response
    assert r is not None and r.status_code == 503, r
    assert r.headers["retry-after"].isdigit()
    body = r.json()
    assert body["code"] == 503 and body["source"] == "ingress"
    inv_id = r.headers["x-restate-id"]
    assert inv_id in body["message"] and "shutting down" in body["message"]
    # Left the group cleanly: no member lingers until its session times out.
    assert _group_members(infra, f"{prefix}.processors") == 0

    # The invocation went on: a restarted node resumes it, attach answers it is running.
    node.start()
    out = httpx.get(f"{node.url}/restate/invocation/{inv_id}/output", timeout=10)
    assert out.status_code == 470, out.text


def test_second_signal_exits_at_once(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    # A bound long enough that only the second signal can explain a quick exit.
    node = RtNode(infra, prefix, APP, tmp_path, RT_SHUTDOWN_TIMEOUT_S="120")
    nodes.append(node.start())
    caller = Caller(f"{node.url}/Stuck/hanging")
    caller.start()
    _wait_running(node, "hanging")
    assert node.proc is not None
    node.proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert node.proc.poll() is None, "drained before the second signal"
    started = time.monotonic()
    node.proc.send_signal(signal.SIGINT)
    code = node.proc.wait(10)
    assert time.monotonic() - started < 3
    assert code == 128 + signal.SIGINT, node.log.read_text()[-4000:]
    assert "exiting at once" in node.log.read_text()
