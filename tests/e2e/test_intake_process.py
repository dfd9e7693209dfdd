"""The intake runs in its own process per subscription, supervised by the node.

Real Kafka, Redis and ``rt dev`` nodes; faults are real kill -9s of the intake
process or of the node.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import RtNode
from tests.e2e.procs import alive, child_pids
from tests.e2e.test_subscriptions import (
    APP,
    SMALL_ROUNDS,
    assert_exact,
    committed,
    create_topic,
    fill_keyed,
    subscribe,
    wait_counts,
)

WORKER = b"runtime.subscriptions.worker"


def intake_pids(node_pid: int) -> set[int]:
    """Live intake processes whose parent is ``node_pid``."""
    return child_pids(node_pid, WORKER)


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def node_pid(node: RtNode) -> int:
    assert node.proc is not None
    return node.proc.pid


def test_killed_intake_process_is_restarted_and_counts_stay_exact(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    topic = f"{prefix}.orders"
    create_topic(infra, topic, 8)
    expected = fill_keyed(infra, topic, 20_000)
    node = RtNode(infra, prefix, APP, tmp_path, **SMALL_ROUNDS)
    nodes.append(node.start())
    sub = subscribe(node, topic, "SeqCounter/add", **{"auto.offset.reset": "earliest"})
    group = f"{prefix}.sub.{sub['id']}"
    wait_for(lambda: len(intake_pids(node_pid(node))) == 1, 60, "the intake process")
    (first,) = intake_pids(node_pid(node))
    wait_for(lambda: committed(infra, group, topic) > 0, 120, "a first commit")
    os.kill(first, signal.SIGKILL)
    done = committed(infra, group, topic)
    assert 0 < done < 20_000, f"the kill did not land mid-intake ({done} committed)"
    # The node restarts it (same transactional ids: the new one fences the dead one).
    wait_for(lambda: len(intake_pids(node_pid(node)) - {first}) == 1, 60, "a restarted intake")
    assert not alive(first)
    states = wait_counts(node, expected, timeout=400)
    assert_exact(states, expected)
    assert committed(infra, group, topic) == 20_000


def test_intake_process_never_outlives_its_node_or_subscription(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    topic = f"{prefix}.orders"
    create_topic(infra, topic, 4)
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    # rm: the subscription's process drains and exits before the answer.
    sub = subscribe(node, topic, "SeqCounter/add")
    wait_for(lambda: len(intake_pids(node_pid(node))) == 1, 60, "the intake process")
    (removed,) = intake_pids(node_pid(node))
    r = httpx.delete(f"{node.admin_url}/subscriptions/{sub['id']}", timeout=90)
    assert r.status_code == 202, r.text
    assert not alive(removed)
    assert intake_pids(node_pid(node)) == set()
    # kill -9 of the node: the kernel kills its intake processes too (PR_SET_PDEATHSIG).
    subscribe(node, topic, "SeqCounter/add")
    subscribe(node, topic, "SeqCounter/add")
    wait_for(lambda: len(intake_pids(node_pid(node))) == 2, 60, "two intake processes")
    children = intake_pids(node_pid(node))
    node.kill9()
    wait_for(lambda: not any(alive(p) for p in children), 10, "the intake processes to die")
    # A clean stop (SIGTERM) stops them as well.
    node.start()
    wait_for(lambda: len(intake_pids(node_pid(node))) == 2, 60, "intake after the restart")
    children = intake_pids(node_pid(node))
    node.stop()
    assert not any(alive(p) for p in children)
