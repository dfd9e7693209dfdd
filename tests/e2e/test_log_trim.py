"""Log trimming (``log_trim_after_s``): rt.log stops growing without losing anything, and a
Redis that is behind the trimmed log is refused instead of silently skipping records."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis
from confluent_kafka import Consumer, TopicPartition

from runtime.devstack.process import tail
from runtime.state.keys import META_APPLIED, PartitionKeys
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

PARTITIONS = 4
KEYS = [f"k{i}" for i in range(8)]


def _low_watermarks(infra: Infra, topic: str) -> list[int]:
    c = Consumer(infra.kafka_config(**{"group.id": f"wm-{uuid.uuid4().hex}"}))
    try:
        return [
            c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[0]
            for p in range(PARTITIONS)
        ]
    finally:
        c.close()


def _add_all(url: str, rounds: int) -> None:
    def one(key: str) -> None:
        with httpx.Client(timeout=60) as c:
            for _ in range(rounds):
                r = c.post(f"{url}/Counter/{key}/add", json=1)
                assert r.status_code == 200, r.text

    with ThreadPoolExecutor(len(KEYS)) as pool:
        list(pool.map(one, KEYS))


def test_trimmed_log_keeps_counts_exact_across_kill9_and_refuses_a_lost_redis(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    env = {"RT_LOG_TRIM_AFTER_S": "5"}
    node = RtNode(infra, prefix, APPS / "core_app.py", tmp_path, PARTITIONS, **env)
    nodes.append(node.start())
    topic = f"{prefix}.log"
    _add_all(node.url, 20)

    def applied_next() -> list[int]:
        metas = [
            redis_client.hget(PartitionKeys(prefix, p).meta, META_APPLIED)
            for p in range(PARTITIONS)
        ]
        return [int(a if a is not None else -1) + 1 for a in metas]

    # Traffic stopped: every partition is trimmed exactly up to what Redis applied (the
    # boundary a new owner resumes at), never beyond.
    deadline = time.monotonic() + 60
    while (lows := _low_watermarks(infra, topic)) != applied_next():
        assert all(low <= nxt for low, nxt in zip(lows, applied_next(), strict=True)), lows
        assert time.monotonic() < deadline, (
            f"not trimmed: {lows} {applied_next()}\n{tail(node.log)}"
        )
        time.sleep(0.5)
    assert all(low > 0 for low in lows), lows

    # kill -9 and restart: the new owners resume exactly at the log's start, nothing lost.
    node.kill9()
    node.start()
    _add_all(node.url, 5)
    counts = {k: httpx.get(f"{node.url}/Counter/{k}/get", timeout=30).json() for k in KEYS}
    assert counts == dict.fromkeys(KEYS, 25), counts

    # Redis loses everything: the partitions it must rebuild from a trimmed log are refused.
    node.stop()
    redis_client.delete(*redis_client.keys(f"{prefix}:*"))
    lost = RtNode(infra, prefix, APPS / "core_app.py", tmp_path, PARTITIONS, **env)
    nodes.append(lost.start(wait=False))
    assert lost.proc is not None
    code = lost.proc.wait(90)
    out = lost.log.read_text()
    assert code != 0 and "is not in the log" in out, out[-3000:]
    assert "Refusing to go on" in out
