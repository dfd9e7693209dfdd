"""Helpers for the tests that run the files in examples/ (one rt node per example).

The examples' simulated external calls print one line per call, so a test counts
from the node's log (appended to across restarts) how often each call ran.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import RtNode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JSON = {"content-type": "application/json"}


def start_example(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], app: str, **env: str
) -> RtNode:
    """Start ``rt dev examples/<app>``; the ``nodes`` fixture stops it."""
    node = RtNode(infra, prefix, EXAMPLES / app, tmp_path, partitions=4, **env)
    nodes.append(node.start())
    return node


def log_lines(node: RtNode, pattern: str) -> list[str]:
    """Every match of ``pattern`` (its first group, if it has one) in the node's log, in order."""
    return re.findall(pattern, node.log.read_text(errors="replace"))


def wait_for_lines(node: RtNode, pattern: str, n: int = 1, timeout: float = 30) -> list[str]:
    """Wait until ``pattern`` matches at least ``n`` times in the node's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = log_lines(node, pattern)
        if len(found) >= n:
            return found
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} lines {pattern!r} in the log")


def post(url: str, body: object = None, **headers: str) -> httpx.Response:
    """POST ``body`` as JSON (no body when None) and return the response."""
    if body is None:
        return httpx.post(url, headers=headers, timeout=60)
    return httpx.post(url, json=body, headers=headers, timeout=60)


def get(url: str) -> Any:
    """GET ``url``, which must answer 200, and return its JSON (None for no body)."""
    r = httpx.get(url, timeout=60)
    assert r.status_code == 200, r.text
    return r.json() if r.content else None


def post_all(url: str, bodies: Sequence[object]) -> list[httpx.Response]:
    """POST every JSON body to ``url`` at once."""

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as c:
            return await asyncio.gather(*(c.post(url, json=b) for b in bodies))

    return asyncio.run(go())


def send(url: str, body: object, **headers: str) -> str:
    """POST to ``url`` (a ``…/send`` path) and return the new invocation's id."""
    r = post(url, body, **headers)
    assert r.status_code == 202, r.text
    return str(r.json()["invocationId"])


def wait_for_entry(
    node: RtNode, invocation_id: str, entry_type: str, name: str | None = None, timeout: float = 30
) -> None:
    """Wait until the invocation's journal holds an entry of this type (and name): everything
    journaled before it is durable, so a kill -9 from then on cannot re-run those steps."""
    url = f"{node.admin_url}/invocations/{invocation_id}?journal=true"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(url, timeout=30)
        if r.status_code == 200 and any(
            e["entry_type"] == entry_type and (name is None or e["name"] == name)
            for e in r.json()["journal"]
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {entry_type} {name or ''} in the journal of {invocation_id}")
