"""Retention options are honoured: handler-level idempotency retention overrides the
service's, and completed invocations stay in Redis exactly as long as configured."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis

from runtime.log.producer import partition_of_invocation
from runtime.partition.processor import ANSWER_GRACE_MS
from runtime.state.keys import PartitionKeys
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


def _ttl_s(r: redis.Redis, prefix: str, inv_id: str) -> tuple[float, float]:
    """Seconds left of the completed invocation's status and journal in Redis (-0.002: no
    such key). The caller's answer may come before the completion is applied to Redis
    (it only waits for the log), so wait until the status carries its expiry."""
    keys = PartitionKeys(prefix, partition_of_invocation(inv_id, 4))
    deadline = time.monotonic() + 30
    while (status := r.pttl(keys.inv(inv_id))) == -1 and time.monotonic() < deadline:
        time.sleep(0.05)
    return status / 1000, r.pttl(keys.journal(inv_id)) / 1000


def test_journal_retention_default_and_zero_are_honoured(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    """A service without ``journal_retention`` keeps completed invocations for the runtime's
    ``default_journal_retention_s``; ``journal_retention=0`` drops the journal at once and
    keeps the status only for the short grace an ingress needs to read a lost answer. Redis
    expires both (its memory is bounded)."""
    node = RtNode(
        infra, prefix, APPS / "retention_app.py", tmp_path, RT_DEFAULT_JOURNAL_RETENTION_S="600"
    )
    nodes.append(node.start())
    ids = {}
    for svc in ("Plain", "Brief"):
        r = httpx.post(f"{node.url}/{svc}/echo", json="hi", timeout=60)
        assert r.status_code == 200 and r.json() == "hi", r.text
        ids[svc] = r.headers["x-restate-id"]
    plain = _ttl_s(redis_client, prefix, ids["Plain"])
    brief = _ttl_s(redis_client, prefix, ids["Brief"])
    grace = ANSWER_GRACE_MS / 1000
    assert all(grace < t <= 600 for t in plain), plain  # the setting, not the 24 h default
    status_ttl, journal_ttl = brief
    assert 0 < status_ttl <= grace, brief  # the status, for a caller whose answer got lost
    # The journal: gone at once. Its TTL is 1 ms, so read right after the apply Redis may
    # still answer 1 or 0 ms left; -0.002 (no such key) once it expired.
    assert journal_ttl <= 0.001, brief
    # Retained means readable: the output of a completed invocation.
    out = httpx.get(f"{node.url}/restate/invocation/{ids['Plain']}/output", timeout=30)
    assert out.status_code == 200 and out.json() == "hi"
    services = httpx.get(f"{node.admin_url}/services/Plain", timeout=30).json()
    assert services["journal_retention"] == "10m"
