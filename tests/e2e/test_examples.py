"""The examples in examples/ run as the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import RtNode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JSON = {"content-type": "application/json"}


def test_greeter_example(infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]) -> None:
    node = RtNode(infra, prefix, EXAMPLES / "greeter.py", tmp_path)
    nodes.append(node.start())
    r = httpx.post(f"{node.url}/Greeter/greet", content='"world"', headers=JSON, timeout=30)
    assert r.json() == "Hello world"


def test_counter_example_and_state_cli(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, EXAMPLES / "counter.py", tmp_path)
    nodes.append(node.start())
    with httpx.Client(timeout=30) as c:
        assert c.post(f"{node.url}/Counter/alice/add", content="5", headers=JSON).json() == 5
        assert c.post(f"{node.url}/Counter/alice/add", content="2", headers=JSON).json() == 7
        assert c.get(f"{node.url}/Counter/alice/get").json() == 7
    out = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "state", "get", "Counter", "alice", "--plain",
         "--admin-url", node.admin_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert '"count": 7' in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "services", "ls", "--admin-url", node.admin_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0 and "Counter" in out.stdout
