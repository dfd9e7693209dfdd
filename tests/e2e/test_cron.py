"""Cron jobs end to end: ticks run, survive kill -9 without a burst or a repeat,
stop on delete; bad input is refused by the admin API and the CLI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

APP = APPS / "timers_app.py"
EVERY_MS = 2000


def _ticks(r: redis.Redis, prefix: str, job: str) -> list[tuple[str, int]]:
    """(invocation id, tick ms) of every run of the job's target, in run order."""
    out = []
    for raw in r.lrange(f"{prefix}:ticks:{job}", 0, -1):
        inv, tick = raw.decode().split()
        out.append((inv, int(tick)))
    return out


def _wait_ticks(r: redis.Redis, prefix: str, job: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(_ticks(r, prefix, job)) < n:
        assert time.monotonic() < deadline, f"only {len(_ticks(r, prefix, job))} ticks of {n}"
        time.sleep(0.1)


def _assert_once_per_tick(r: redis.Redis, prefix: str, job: str) -> list[int]:
    ticks = _ticks(r, prefix, job)
    ids = [i for i, _ in ticks]
    assert len(ids) == len(set(ids)), "a tick's invocation ran twice"
    times = [t for _, t in ticks]
    assert len(times) == len(set(times)), "one tick made two invocations"
    for inv in ids:
        assert int(r.get(f"{prefix}:tick:count:{inv}") or 0) == 1
    return sorted(times)


def test_interval_job_ticks_and_stops_when_removed(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    with httpx.Client(base_url=node.admin_url, timeout=30) as admin:
        r = admin.post(
            "/cron", json={"id": "every2", "every": "2s", "target": "Stamp/tick", "body": {"a": 1}}
        )
        assert r.status_code == 201, r.text
        job = r.json()
        assert job["id"] == "every2" and job["every_ms"] == EVERY_MS
        assert job["next_run"] is not None
        listed = admin.get("/cron").json()["jobs"]
        assert [j["id"] for j in listed] == ["every2"]

        _wait_ticks(redis_client, prefix, "every2", 3)
        times = _assert_once_per_tick(redis_client, prefix, "every2")
        assert all(b - a == EVERY_MS for a, b in zip(times, times[1:], strict=False))
        runs = redis_client.hgetall(f"{prefix}:tick:at")
        for inv, tick in _ticks(redis_client, prefix, "every2"):
            assert int(runs[inv.encode()]) >= tick, "a tick ran before its time"

        r = admin.delete("/cron/every2")
        assert r.status_code == 200, r.text
        time.sleep(1.0)  # a tick outboxed just before the delete may still start
        after = len(_ticks(redis_client, prefix, "every2"))
        time.sleep(3 * EVERY_MS / 1000)
        assert len(_ticks(redis_client, prefix, "every2")) == after, "ticked after rm"
        assert admin.get("/cron/every2").status_code == 404
        assert admin.delete("/cron/every2").status_code == 404
        assert admin.get("/cron").json()["jobs"] == []


def test_workflow_targets_a_run_per_tick_and_shared_handlers(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    """``{tick}`` in the key names each tick's workflow run; shared handlers need none."""
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    with httpx.Client(base_url=node.admin_url, timeout=30) as admin:
        made = admin.post(
            "/cron", json={"id": "rep", "every": "1s", "target": "Report/d-{tick}/run"}
        )
        assert made.status_code == 201, made.text
        assert made.json()["target"] == "Report/d-{tick}/run"
        pinged = admin.post("/cron", json={"id": "png", "every": "1s", "target": "Report/one/ping"})
        assert pinged.status_code == 201, pinged.text
        deadline = time.monotonic() + 60
        while (
            redis_client.llen(f"{prefix}:reports") < 3
            or redis_client.llen(f"{prefix}:pings:one") < 3
        ):
            assert time.monotonic() < deadline, "cron did not start 3 runs and 3 pings"
            time.sleep(0.1)
        assert admin.delete("/cron/rep").status_code == 200
        assert admin.delete("/cron/png").status_code == 200
    keys = [k.decode() for k in redis_client.lrange(f"{prefix}:reports", 0, -1)]
    assert len(keys) == len(set(keys)), "a workflow id ran twice"
    for key in keys:
        assert re.fullmatch(r"d-\d{8}T\d{6}Z", key), key
        out = httpx.get(f"{node.url}/restate/workflow/Report/{key}/output", timeout=30)
        assert (out.status_code, out.json()) == (200, key)
    pings = redis_client.lrange(f"{prefix}:pings:one", 0, -1)
    assert len(pings) == len(set(pings))


def test_cron_expression_with_seconds_ticks_on_its_marks(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    r = httpx.post(
        f"{node.admin_url}/cron",
        json={"id": "secs", "schedule": "*/3 * * * * *", "target": "Locker/K/mark", "body": "x"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 60
    while int(redis_client.get(f"{prefix}:mark:count:x") or 0) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    state = httpx.get(f"{node.admin_url}/cron/secs", timeout=30).json()
    assert state["last_invocation_id"] is not None
    assert state["next_run"].endswith("Z")
    assert int(state["next_run"][17:19]) % 3 == 0  # ...:SS on a multiple of 3 seconds


def test_ticks_survive_kill9_once_per_tick_without_a_burst(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    first = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(first.start())
    r = httpx.post(
        f"{first.admin_url}/cron",
        json={"id": "sturdy", "every": "2s", "target": "Stamp/tick", "body": None},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    _wait_ticks(redis_client, prefix, "sturdy", 2)
    first.kill9()
    killed_at = int(time.time() * 1000)
    time.sleep(9.0)  # four ticks are missed
    restarted_at = int(time.time() * 1000)
    second = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(second.start())
    before = len(_ticks(redis_client, prefix, "sturdy"))
    _wait_ticks(redis_client, prefix, "sturdy", before + 3)
    times = _assert_once_per_tick(redis_client, prefix, "sturdy")
    burst = [t for t in times if killed_at + EVERY_MS + 100 < t < restarted_at - EVERY_MS - 100]
    assert burst == [], f"missed ticks were replayed one by one: {burst}"
    after = [t for t in times if t > restarted_at - EVERY_MS]
    assert len(after) >= 3
    assert all(b - a == EVERY_MS for a, b in zip(after, after[1:], strict=False))
    assert all((t - times[0]) % EVERY_MS == 0 for t in times), "ticks left the job's grid"


def test_bad_cron_requests_are_refused_and_create_nothing(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    bad = [
        ({"schedule": "61 * * * *", "target": "Stamp/tick", "body": 1}, 400, "cron expression"),
        ({"schedule": "not cron", "target": "Stamp/tick", "body": 1}, 400, "cron expression"),
        ({"every": "soon", "target": "Stamp/tick", "body": 1}, 400, "every"),
        ({"every": "10ms", "target": "Stamp/tick", "body": 1}, 400, "at least"),
        ({"target": "Stamp/tick", "body": 1}, 400, "exactly one"),
        ({"every": "1s", "schedule": "* * * * *", "target": "Stamp/tick"}, 400, "exactly one"),
        ({"every": "5s", "target": "Nope/tick", "body": 1}, 404, "Nope"),
        ({"every": "5s", "target": "Stamp/nope", "body": 1}, 404, "nope"),
        ({"every": "5s", "target": "Locker/mark", "body": "x"}, 400, "virtual object"),
        ({"every": "5s", "target": "Stamp/k/tick", "body": 1}, 400, "service"),
        ({"every": "5s", "target": "Stamp/hit"}, 400, "needs an input"),
        ({"every": "5s", "target": "Stamp/tick", "id": "bad id!"}, 400, "job id"),
        ({"every": "5s", "target": "Stamp/tick", "color": "red"}, 400, "color"),
        ({"every": "5s", "target": "Report/daily/run"}, 400, "{tick}"),
        ({"every": "5s", "target": "Report/run"}, 400, "workflow"),
    ]
    with httpx.Client(base_url=node.admin_url, timeout=30) as admin:
        for body, status, needle in bad:
            r = admin.post("/cron", json=body)
            assert r.status_code == status, (body, r.text)
            assert needle in r.json()["message"], (body, r.text)
        assert admin.get("/cron").json() == {"jobs": []}


def _rt(node: RtNode, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RT_ADMIN_URL": node.admin_url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "cron", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_add_ls_rm_and_errors(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    out = _rt(node, "add", "Stamp/tick", "--every", "2s", "--id", "cli", "--body", '{"n": 1}')
    assert out.returncode == 0, out.stderr
    assert "cli" in out.stdout
    listed = _rt(node, "ls")
    assert listed.returncode == 0, listed.stderr
    assert "cli" in listed.stdout and "Stamp/tick" in listed.stdout
    _wait_ticks(redis_client, prefix, "cli", 1)
    removed = _rt(node, "rm", "cli")
    assert removed.returncode == 0, removed.stderr
    assert "No cron jobs" in _rt(node, "ls").stdout

    bad = _rt(node, "add", "Stamp/tick", "--schedule", "99 * * * *", "--body", "1")
    assert bad.returncode == 4  # refused by the API
    assert "invalid cron expression" in bad.stderr
    missing = _rt(node, "rm", "cli")
    assert missing.returncode == 3  # not found
    assert "no cron job" in missing.stderr
    usage = _rt(node, "add", "Stamp/tick")
    assert usage.returncode == 2
    assert "exactly one" in usage.stderr
    body = _rt(node, "add", "Stamp/tick", "--every", "2s", "--body", "{nope")
    assert body.returncode == 2
    assert "JSON" in body.stderr
    assert "No cron jobs" in _rt(node, "ls").stdout
