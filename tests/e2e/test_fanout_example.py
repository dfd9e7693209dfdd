"""examples/fanout.py: fan out N calls and gather; normal, always-replay, across kill -9."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import RtNode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JSON = {"content-type": "application/json"}


def test_fanout_gathers_results_and_failures(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], replay_env: dict[str, str]
) -> None:
    node = RtNode(infra, prefix, EXAMPLES / "fanout.py", tmp_path, **replay_env)
    nodes.append(node.start())
    job = {"items": ["kafka", "redis", "", "rt"]}
    r = httpx.post(f"{node.url}/FanOut/run", json=job, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json() == {"results": [5, 5, None, 2], "total": 12, "errors": ["item 2: empty item"]}
    items = [f"item-{'x' * (i % 7)}-{i}" for i in range(60)]
    r = httpx.post(f"{node.url}/FanOut/run", json={"items": items}, timeout=120)
    assert r.json() == {
        "results": [len(s) for s in items],
        "total": sum(map(len, items)),
        "errors": [],
    }


def test_fanout_survives_kill9_half_way(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, EXAMPLES / "fanout.py", tmp_path)
    nodes.append(node.start())
    n = 1000  # many results after the kill point, so a loaded machine cannot finish first
    items = [f"{'y' * (i % 11)}{i}" for i in range(n)]
    headers = {**JSON, "idempotency-key": "fan-1"}
    r = httpx.post(
        f"{node.url}/FanOut/run/send", json={"items": items}, headers=headers, timeout=60
    )
    inv_id = r.json()["invocationId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once some, not all, results are journaled
        d = httpx.get(f"{node.admin_url}/invocations/{inv_id}", timeout=30)
        if d.status_code == 200 and d.json()["journal_size"] >= 1 + n + 20:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the fan-out never got half-way")
    assert d.json()["status"] != "completed"
    node.kill9()
    node.start()
    r = httpx.post(f"{node.url}/FanOut/run", json={"items": items}, headers=headers, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [len(s) for s in items]
    assert r.headers["x-restate-id"] == inv_id
