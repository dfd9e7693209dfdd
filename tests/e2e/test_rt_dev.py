"""`rt dev` as a user runs it: starts real Kafka + Redis, answers health, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from confluent_kafka import Consumer, Producer, TopicPartition

from runtime.dev import read_info
from runtime.devstack.process import pid_alive

RT = [sys.executable, "-m", "runtime.cli"]


def _children(pid: int) -> set[int]:
    """All descendants of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    stack = [pid]
    while stack:
        for c in parents.get(stack.pop(), []):
            out.add(c)
            stack.append(c)
    return out


class RtDev:
    def __init__(self, state_dir: Path, *extra: str) -> None:
        self.state_dir = state_dir
        self.ingress_port = self.admin_port = 0  # rt dev binds free ports, dev.json says which
        self.log = state_dir.parent / f"{state_dir.name}-rtdev.out"
        env = {
            k: v for k, v in os.environ.items() if k not in ("RT_KAFKA_BOOTSTRAP", "RT_REDIS_URL")
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    *RT,
                    "dev",
                    "--state-dir", str(state_dir),
                    "--ingress-port", str(self.ingress_port),
                    "--admin-port", str(self.admin_port),
                    "--partitions", "4",
                    *extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )  # fmt: skip

    def wait_ready(self, timeout: float = 90) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            info = read_info(self.state_dir, self.proc.pid)
            if info is None:
                time.sleep(0.2)
                continue
            self.ingress_port = info["ingress_port"]
            self.admin_port = info["admin_port"]
            try:
                r = httpx.get(f"http://127.0.0.1:{self.ingress_port}/restate/health", timeout=1)
                if r.status_code == 200:
                    return info
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"rt dev not ready:\n{self.log.read_text()}")


@pytest.fixture
def rt_dev_factory(tmp_path: Path) -> Iterator[list[RtDev]]:
    started: list[RtDev] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def test_rt_dev_starts_serves_and_stops_without_orphans(
    tmp_path: Path, rt_dev_factory: list[RtDev]
) -> None:
    dev = RtDev(tmp_path / "state")
    rt_dev_factory.append(dev)
    info = dev.wait_ready()
    assert set(info) >= {"kafka_bootstrap", "redis_url", "ingress_url", "admin_url"}
    assert dev.ingress_port > 0 and dev.admin_port > 0  # port 0 became real ports
    assert info["ingress_url"] == f"http://127.0.0.1:{dev.ingress_port}"
    assert httpx.get(f"{info['admin_url']}/health").json() == {"status": "ok"}
    # No app file: only rt's built-in services (ADR 0021 §4).
    assert httpx.get(f"{info['ingress_url']}/restate/health").json() == {"services": ["rt.Kafka"]}
    kids = _children(dev.proc.pid)
    assert len(kids) >= 2, "expected a JVM and a redis-server child"

    dev.proc.send_signal(signal.SIGINT)
    assert dev.proc.wait(timeout=60) == 0, dev.log.read_text()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p) for p in kids):
        time.sleep(0.1)
    assert not [p for p in kids if pid_alive(p)], "orphans left after Ctrl-C"


def test_rt_dev_sigterm_and_kill9_leave_no_orphans_and_keep_data(
    tmp_path: Path, rt_dev_factory: list[RtDev]
) -> None:
    state = tmp_path / "state"
    dev = RtDev(state)
    rt_dev_factory.append(dev)
    info = dev.wait_ready()
    r = redis.Redis.from_url(info["redis_url"])
    r.set("survivor", "yes")
    r.close()
    producer = Producer({"bootstrap.servers": info["kafka_bootstrap"], "acks": "all"})
    producer.produce("rt.log", key=b"k", value=b"kept", partition=0)
    assert producer.flush(10) == 0

    # SIGTERM: clean stop.
    kids = _children(dev.proc.pid)
    dev.proc.send_signal(signal.SIGTERM)
    dev.proc.wait(timeout=60)
    time.sleep(0.5)
    assert not [p for p in kids if pid_alive(p)]

    # Restart on the same state dir: data is there. Then kill -9: children die with it.
    dev2 = RtDev(state)
    rt_dev_factory.append(dev2)
    info2 = dev2.wait_ready()
    r = redis.Redis.from_url(info2["redis_url"])
    assert r.get("survivor") == b"yes"
    r.close()
    consumer = Consumer(
        {
            "bootstrap.servers": info2["kafka_bootstrap"],
            "group.id": "check",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition("rt.log", 0, 0)])
    values = []
    for _ in range(50):
        m = consumer.poll(0.2)
        if m is not None and not m.error():
            values.append(m.value())
        if b"kept" in values:
            break
    consumer.close()
    assert b"kept" in values
    kids = _children(dev2.proc.pid)
    dev2.proc.kill()
    dev2.proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(pid_alive(p) for p in kids):
        time.sleep(0.1)
    assert not [p for p in kids if pid_alive(p)], "orphans left after kill -9 of rt dev"

    # --fresh wipes it.
    dev3 = RtDev(state, "--fresh")
    rt_dev_factory.append(dev3)
    info3 = dev3.wait_ready()
    r = redis.Redis.from_url(info3["redis_url"])
    assert r.get("survivor") is None
    r.close()
    dev3.proc.send_signal(signal.SIGINT)
    assert dev3.proc.wait(timeout=60) == 0


def test_bad_cli_arguments_fail_clearly(tmp_path: Path) -> None:
    res = subprocess.run([*RT, "dev", "--partitions", "0"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "partitions" in res.stderr
    res = subprocess.run([*RT, "dev", str(tmp_path / "missing.py")], capture_output=True, text=True)
    assert res.returncode == 2
    assert "app file not found" in res.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            k: v for k, v in os.environ.items() if k not in ("RT_KAFKA_BOOTSTRAP", "RT_REDIS_URL")
        }
        res = subprocess.run(
            [*RT, "dev", "--state-dir", str(tmp_path / "s"), "--ingress-port", str(port),
             "--admin-port", "0"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
    assert res.returncode == 1
    assert f"ingress port 127.0.0.1:{port} is in use" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    res = subprocess.run([*RT, "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("rt ")
