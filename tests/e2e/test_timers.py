"""Durable timers end to end: delayed sends (ingress and SDK), sleeps across kill -9,
and many delayed sends through a tiny in-memory cap (invariant 9).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

JSON = {"content-type": "application/json"}
APP = APPS / "timers_app.py"


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _count(r: redis.Redis, prefix: str, kind: str, tag: str) -> int:
    return int(r.get(f"{prefix}:{kind}:count:{tag}") or 0)


def _at(r: redis.Redis, prefix: str, kind: str, tag: str) -> int:
    raw = r.hget(f"{prefix}:{kind}:at", tag)
    assert raw is not None, f"{kind} {tag} never ran"
    return int(raw)


@pytest.mark.parametrize(
    ("delay", "ms"), [("PT2S", 2000), ("2s", 2000), ("1500ms", 1500), ("1800", 1800)]
)
def test_ingress_delayed_send_runs_once_not_before_its_delay(
    infra: Infra,
    prefix: str,
    tmp_path: Path,
    nodes: list[RtNode],
    redis_client: redis.Redis,
    delay: str,
    ms: int,
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    tag = f"d-{ms}"
    sent = int(time.time() * 1000)
    r = httpx.post(
        f"{node.url}/Stamp/hit/send?delay={delay}", content=f'"{tag}"', headers=JSON, timeout=30
    )
    assert r.status_code == 202, r.text
    assert "executionTime" in r.json()
    time.sleep(ms / 1000 * 0.5)
    assert _count(redis_client, prefix, "hit", tag) == 0, "ran before its delay"
    _wait(lambda: _count(redis_client, prefix, "hit", tag) == 1, 60, "the delayed send")
    assert _at(redis_client, prefix, "hit", tag) >= sent + ms
    time.sleep(1.0)
    assert _count(redis_client, prefix, "hit", tag) == 1


def test_bad_delay_is_a_400_and_sends_nothing(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    for bad in ("soon", "-5s", "P1M", "10q"):
        r = httpx.post(
            f"{node.url}/Stamp/hit/send?delay={bad}", content='"bad"', headers=JSON, timeout=30
        )
        assert r.status_code == 400, (bad, r.text)
    time.sleep(1.0)
    assert _count(redis_client, prefix, "hit", "bad") == 0


def test_sdk_send_delay_to_service_and_object(
    infra: Infra,
    prefix: str,
    tmp_path: Path,
    nodes: list[RtNode],
    redis_client: redis.Redis,
    replay_env: dict[str, str],
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path, **replay_env)
    nodes.append(node.start())
    sent = int(time.time() * 1000)
    r = httpx.post(
        f"{node.url}/Stamp/send_later",
        json={"ms": 2000, "tag": "sdk", "key": "k1"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    _wait(
        lambda: (
            _count(redis_client, prefix, "hit", "sdk-svc") == 1
            and _count(redis_client, prefix, "mark", "sdk-obj") == 1
        ),
        60,
        "both delayed sends",
    )
    assert _at(redis_client, prefix, "hit", "sdk-svc") >= sent + 2000
    assert _at(redis_client, prefix, "mark", "sdk-obj") >= sent + 2000


def test_pending_delayed_send_does_not_hold_the_object_lock(
    infra: Infra,
    prefix: str,
    tmp_path: Path,
    nodes: list[RtNode],
    redis_client: redis.Redis,
    replay_env: dict[str, str],
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path, **replay_env)
    nodes.append(node.start())
    with httpx.Client(timeout=30) as c:
        r = c.post(f"{node.url}/Locker/K/mark/send?delay=8s", content='"late"', headers=JSON)
        assert r.status_code == 202, r.text
        t0 = time.monotonic()
        r = c.post(f"{node.url}/Locker/K/poke", headers=JSON)
        took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert r.json() == "poked"
    assert took < 6, f"the immediate call waited {took:.1f}s behind the delayed send"
    assert _count(redis_client, prefix, "mark", "late") == 0
    _wait(lambda: _count(redis_client, prefix, "mark", "late") == 1, 60, "the delayed send")


def test_sleep_survives_kill9_and_fires_once_on_time(
    infra: Infra,
    prefix: str,
    tmp_path: Path,
    nodes: list[RtNode],
    redis_client: redis.Redis,
    replay_env: dict[str, str],
) -> None:
    first = RtNode(infra, prefix, APP, tmp_path, **replay_env)
    nodes.append(first.start())
    ids = []
    with httpx.Client(timeout=30) as c:
        for i in range(10):
            body = {"ms": 6000 + 200 * i, "tag": f"s{i}"}
            r = c.post(f"{first.url}/Sleeper/nap/send", json=body)
            assert r.status_code == 202, r.text
            ids.append(r.json()["invocationId"])
    time.sleep(2.0)  # all are asleep: their timers are in Redis and in the first worker's wheel
    first.kill9()
    second = RtNode(infra, prefix, APP, tmp_path, **replay_env)
    nodes.append(second.start())
    with httpx.Client(timeout=120) as c:
        for i, inv in enumerate(ids):
            r = c.get(f"{second.url}/restate/invocation/{inv}/attach")
            assert r.status_code == 200, r.text
            due = r.json()
            woke = _at(redis_client, prefix, "woke", f"s{i}")
            assert woke >= due, f"s{i} woke {due - woke} ms early"
            assert woke - due < 30_000, f"s{i} woke {woke - due} ms late"
    time.sleep(1.0)
    for i in range(10):
        assert _count(redis_client, prefix, "woke", f"s{i}") == 1


def test_many_delayed_sends_through_a_tiny_wheel_run_exactly_once(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    """600 delayed sends, 2 partitions, 40 timers in memory per partition at most."""
    node = RtNode(infra, prefix, APP, tmp_path, partitions=2, RT_TIMER_MEMORY_CAP="40")
    nodes.append(node.start())
    n = 600
    sent = int(time.time() * 1000)
    with httpx.Client(timeout=30) as c:
        for i in range(n):
            delay = 3000 + (i * 7919) % 4000  # out of order
            r = c.post(
                f"{node.url}/Stamp/hit/send?delay={delay}ms", content=f'"m{i}"', headers=JSON
            )
            assert r.status_code == 202, r.text
    _wait(
        lambda: sum(_count(redis_client, prefix, "hit", f"m{i}") for i in range(n)) >= n,
        120,
        "all delayed sends",
    )
    time.sleep(1.0)
    counts = [_count(redis_client, prefix, "hit", f"m{i}") for i in range(n)]
    assert counts == [1] * n
    for i in range(n):
        assert _at(redis_client, prefix, "hit", f"m{i}") >= sent + 3000 + (i * 7919) % 4000
