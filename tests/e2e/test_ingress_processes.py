"""``rt dev --ingress-processes N``: the ingress served by supervised processes of its own.

Counts stay exact through them, a killed ingress process is restarted while the other
keeps serving, and none outlives rt (SIGTERM, or kill -9 of the node).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode
from tests.e2e.procs import alive, child_pids

INGRESS = b"runtime.ingress.process"


def _ingress_pids(node: RtNode) -> set[int]:
    assert node.proc is not None
    return child_pids(node.proc.pid, INGRESS)


def _wait(cond, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _adds(url: str, key: str, n: int, tag: str) -> list[int]:
    """``n`` concurrent adds of 1 on fresh connections (spread over the processes), each
    with an idempotency key so a request cut by a killed process is retried safely."""

    async def go() -> list[int]:
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> int:
            async with sem:
                for _ in range(20):
                    try:
                        async with httpx.AsyncClient(timeout=30) as c:
                            r = await c.post(
                                f"{url}/Counter/{key}/add",
                                content="1",
                                headers={"content-type": "application/json",
                                         "idempotency-key": f"{tag}-{i}"},
                            )  # fmt: skip
                        return r.status_code
                    except httpx.TransportError:
                        await asyncio.sleep(0.2)
                return 0

        return await asyncio.gather(*(one(i) for i in range(n)))

    return asyncio.run(go())


def test_counts_exact_through_ingress_processes_and_a_killed_one_restarts(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, APPS / "core_app.py", tmp_path, RT_INGRESS_PROCESSES="2")
    nodes.append(node.start())
    pids = _wait(lambda: len(p := _ingress_pids(node)) == 2 and p, 30, "2 ingress processes")
    assert _adds(node.url, "k", 200, "a") == [200] * 200

    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    # The other process keeps serving while the victim is restarted.
    assert _adds(node.url, "k", 100, "b") == [200] * 100
    _wait(lambda: len(p := _ingress_pids(node)) == 2 and victim not in p, 30, "a restart")
    assert _adds(node.url, "k", 100, "c") == [200] * 100
    assert httpx.get(f"{node.url}/Counter/k/get", timeout=30).json() == 400
    # Admin API stays in the node.
    assert httpx.get(f"{node.admin_url}/health", timeout=30).status_code == 200

    survivors = _ingress_pids(node)
    node.stop()
    _wait(lambda: not any(alive(p) for p in survivors), 30, "ingress processes to exit")


def test_ingress_processes_die_with_a_killed_node(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, APPS / "core_app.py", tmp_path, RT_INGRESS_PROCESSES="1")
    nodes.append(node.start())
    pids = _wait(lambda: _ingress_pids(node), 30, "the ingress process")
    node.kill9()
    _wait(lambda: not any(alive(p) for p in pids), 30, "the ingress process to die (PDEATHSIG)")
