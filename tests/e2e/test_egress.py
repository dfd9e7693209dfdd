"""Kafka egress from handlers: exactly once, never before the journal entry is durable.

Invariants 4 and 8 of ARCHITECTURE.md; docs/decisions/0005-egress-and-pipelines.md.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from runtime.log.producer import partition_of_invocation
from runtime.state.keys import PartitionKeys
from sdk.engine import EmitCommand, decode_entry
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode
from tests.e2e.egress_util import committed_reader, create_topic, read_json

JSON = {"content-type": "application/json"}
PARTITIONS = 4


def _node(infra: Infra, prefix: str, tmp_path: Path, topic: str) -> RtNode:
    return RtNode(
        infra, prefix, APPS / "egress_app.py", tmp_path, partitions=PARTITIONS, EGRESS_TOPIC=topic
    )


def _post_all(url: str, path: str, bodies: list[str], send: bool = False) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as c:
            sem = asyncio.Semaphore(32)

            async def one(body: str) -> httpx.Response:
                async with sem:
                    suffix = "/send" if send else ""
                    return await c.post(f"{url}{path}{suffix}", content=body, headers=JSON)

            return await asyncio.gather(*(one(b) for b in bodies))

    return asyncio.run(go())


def test_emitted_records_reach_the_topic_exactly_once_in_order(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    topic = f"{prefix}.out"
    create_topic(infra, topic)
    node = _node(infra, prefix, tmp_path, topic)
    nodes.append(node.start())
    reader = committed_reader(infra, topic)
    try:
        results = _post_all(node.url, "/Emitter/burst", ["200"] + ["10"] * 30)
        assert [r.status_code for r in results] == [200] * 31, [r.text for r in results]
        got = read_json(reader, 500, timeout=120)
    finally:
        reader.close()
    assert len(got) == 500
    counts = collections.Counter((r["inv"], r["i"]) for r in got)
    assert set(counts.values()) == {1}, "a record was written twice"
    by_inv: dict[str, list[int]] = collections.defaultdict(list)
    for r in got:
        by_inv[r["inv"]].append(r["i"])
    assert sorted(len(v) for v in by_inv.values()) == [10] * 30 + [200]
    # One key per invocation -> one output partition: emit order is kept.
    assert all(v == sorted(v) for v in by_inv.values())


def test_bad_topics_fail_the_handler_with_a_clear_terminal_error(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = _node(infra, prefix, tmp_path, f"{prefix}.out")
    nodes.append(node.start())
    with httpx.Client(timeout=60) as c:
        r = c.post(f"{node.url}/Emitter/to_topic", json=f"{prefix}.missing")
        assert r.status_code == 404, r.text
        assert f"topic '{prefix}.missing' does not exist" in r.json()["message"]
        r = c.post(f"{node.url}/Emitter/to_topic", json=f"{prefix}.log")
        assert r.status_code == 404, r.text
        assert "is internal" in r.json()["message"]
        r = c.post(f"{node.url}/Emitter/to_topic", json="bad topic!")
        assert r.status_code == 400, r.text
        assert "invalid topic name 'bad topic!'" in r.json()["message"]


class _VisibilityChecker(threading.Thread):
    """Reads the output topic while the test runs; for every record seen, the emitting
    invocation's journal in Redis (written by the apply, after the log append is durable)
    must already hold the EmitCommand with exactly that value."""

    def __init__(self, infra: Infra, topic: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.consumer = committed_reader(infra, topic)
        self.redis = redis.Redis.from_url(infra.redis_url)
        self.prefix = prefix
        self.seen = 0
        self.violations: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import json

        while not self.stop.is_set():
            m = self.consumer.poll(0.2)
            if m is None or m.error() is not None:
                continue
            value = m.value() or b""
            inv = json.loads(value)["inv"]
            keys = PartitionKeys(self.prefix, partition_of_invocation(inv, PARTITIONS))
            blobs: list[bytes] = self.redis.lrange(keys.journal(inv), 0, -1)  # type: ignore[assignment]
            journal = [decode_entry(b) for b in blobs]
            if not any(isinstance(e, EmitCommand) and e.value == value for e in journal):
                self.violations.append(f"{value!r} visible before its journal entry")
            self.seen += 1
        self.consumer.close()
        self.redis.close()


def test_kill9_mid_egress_keeps_every_record_exactly_once_and_never_early(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    topic = f"{prefix}.out"
    create_topic(infra, topic)
    first = _node(infra, prefix, tmp_path, topic)
    nodes.append(first.start())
    checker = _VisibilityChecker(infra, topic, prefix)
    checker.start()
    n = 200
    accepted = _post_all(first.url, "/Emitter/steps", [f'"k{i}"' for i in range(n)], send=True)
    assert [r.status_code for r in accepted] == [202] * n, [r.text for r in accepted]
    deadline = time.monotonic() + 60
    while checker.seen < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.kill9()
    seen_at_kill = checker.seen
    assert 0 < seen_at_kill < 3 * n, f"kill missed the egress window ({seen_at_kill} seen)"

    second = _node(infra, prefix, tmp_path, topic)
    restarted = time.monotonic()
    nodes.append(second.start())
    while checker.seen < 3 * n and time.monotonic() - restarted < 180:
        time.sleep(0.05)
    recovery_s = time.monotonic() - restarted
    print(f"egress kill -9: {seen_at_kill} records out before the kill, "
          f"all {3 * n} out {recovery_s:.1f}s after the restart")  # fmt: skip
    reader = committed_reader(infra, topic)
    try:
        got: list[Any] = read_json(reader, 3 * n, timeout=180, settle=5.0)
    finally:
        reader.close()
        checker.stop.set()
        checker.join(10)
    counts = collections.Counter((r["tag"], r["i"]) for r in got)
    missing = {(f"k{i}", j) for i in range(n) for j in range(3)} - set(counts)
    assert not missing, f"{len(missing)} records missing, e.g. {sorted(missing)[:5]}"
    dupes = {k: c for k, c in counts.items() if c > 1}
    assert not dupes, f"duplicates: {list(dupes.items())[:5]}"
    assert len(got) == 3 * n
    assert checker.violations == []
    assert checker.seen == 3 * n
    # A dead owner's open transaction is aborted at take-over, not after its timeout.
    assert recovery_s < 20 + 15, recovery_s


def test_partitions_moving_between_live_workers_mid_egress_keep_exactly_once(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    """A rebalance hands partitions to a new worker while the old one is still sending."""
    topic = f"{prefix}.out"
    create_topic(infra, topic)
    a = _node(infra, prefix, tmp_path, topic)
    nodes.append(a.start())
    checker = _VisibilityChecker(infra, topic, prefix)
    checker.start()
    n = 150

    def load(first: int) -> None:
        bodies = [f'"r{i}"' for i in range(first, first + n)]
        results = _post_all(a.url, "/Emitter/steps", bodies, send=True)
        assert [r.status_code for r in results] == [202] * n, [r.text for r in results]

    r = redis.Redis.from_url(infra.redis_url)

    def epochs() -> list[int]:
        metas = [r.hget(PartitionKeys(prefix, p).meta, "epoch") for p in range(PARTITIONS)]
        return [int(e or 0) for e in metas]  # type: ignore[arg-type]

    load(0)
    b = _node(infra, prefix, tmp_path, topic)
    nodes.append(b.start(wait=False))  # joins the group: partitions move to b mid-egress
    load(n)
    deadline = time.monotonic() + 60
    while max(epochs()) < 2:  # a second owner claimed a partition
        assert time.monotonic() < deadline, "no partition moved to the second worker"
        time.sleep(0.1)
    load(2 * n)
    b.stop()  # graceful leave: b's partitions move back to a
    moved_back = max(epochs())
    r.close()
    total = 3 * 3 * n
    reader = committed_reader(infra, topic)
    try:
        got: list[Any] = read_json(reader, total, timeout=240, settle=5.0)
    finally:
        reader.close()
        checker.stop.set()
        checker.join(10)
    counts = collections.Counter((r["tag"], r["i"]) for r in got)
    assert set(counts) == {(f"r{i}", j) for i in range(3 * n) for j in range(3)}
    assert set(counts.values()) == {1}, [k for k, c in counts.items() if c > 1][:5]
    assert checker.violations == []
    assert moved_back >= 2
