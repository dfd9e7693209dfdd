"""Handler-level retention overrides the service's: the idempotency record expires on time."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode


def test_handler_idempotency_retention_overrides_service(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, APPS / "retention_app.py", tmp_path)
    nodes.append(node.start())

    def call(handler: str) -> int:
        r = httpx.post(f"{node.url}/Ticker/{handler}", headers={"idempotency-key": "k"}, timeout=60)
        assert r.status_code == 200, r.text
        return int(r.json())

    assert call("short") == 1 and call("short") == 1  # deduped while retained
    assert call("long") == 1 and call("long") == 1
    time.sleep(2.5)
    assert call("short") == 2, "the handler's 1 s retention should have expired"
    assert call("long") == 1, "the service's 1 h retention still holds"
