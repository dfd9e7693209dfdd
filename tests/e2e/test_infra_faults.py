"""Restarting Redis and Kafka under traffic loses nothing and duplicates nothing (invariant 10).

These tests run their own Kafka and Redis (not the session's), so restarting them
does not disturb other tests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from runtime.dev import read_info
from runtime.devstack.process import tail
from runtime.devstack.stack import DevStack
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

JSON = {"content-type": "application/json"}


async def _add_with_retries(c: httpx.AsyncClient, url: str, key: str, idem: str) -> int:
    """What a careful client does: retry with the same idempotency key until answered."""
    deadline = time.monotonic() + 120
    while True:
        try:
            r = await c.post(
                f"{url}/Counter/{key}/add",
                content="1",
                headers={**JSON, "idempotency-key": idem},
                timeout=30,
            )
            if r.status_code == 200:
                return int(r.json())
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"request {idem} never answered"
        await asyncio.sleep(0.2)


@pytest.fixture
def own_stack(tmp_path: Path) -> DevStack:
    stack = DevStack(tmp_path / "stack")
    stack.start()
    yield stack  # type: ignore[misc]
    stack.stop()


def test_redis_and_kafka_restarts_under_traffic(
    own_stack: DevStack, tmp_path: Path, prefix: str
) -> None:
    assert own_stack.kafka_bootstrap and own_stack.redis_url
    infra = Infra(own_stack.kafka_bootstrap, own_stack.redis_url, own_stack.log_files())
    node = RtNode(infra, prefix, APPS / "core_app.py", tmp_path, partitions=2)
    node.start()
    try:
        keys = [f"f{i}" for i in range(5)]
        total = 150

        async def traffic() -> None:
            async with httpx.AsyncClient() as c:
                sem = asyncio.Semaphore(8)

                async def one(i: int) -> int:
                    async with sem:
                        await asyncio.sleep(0.02)
                        return await _add_with_retries(c, node.url, keys[i % 5], f"i{i}")

                await asyncio.gather(*(one(i) for i in range(total)))

        errors: list[BaseException] = []

        def run_traffic() -> None:
            try:
                asyncio.run(traffic())
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        # Faults from the main thread: the local servers die with the thread that forks them.
        t = threading.Thread(target=run_traffic)
        t.start()
        time.sleep(1.0)
        assert own_stack.redis is not None and own_stack.kafka is not None
        own_stack.redis.stop()  # SIGTERM: AOF flushed
        time.sleep(1.0)
        own_stack.redis.start()  # same port, same AOF
        time.sleep(1.0)
        own_stack.kafka.stop()
        time.sleep(1.0)
        own_stack.kafka.start()
        t.join(300)
        assert not t.is_alive() and not errors, errors
        with httpx.Client(timeout=30) as c:
            counts = [c.get(f"{node.url}/Counter/{k}/get").json() for k in keys]
        assert counts == [total // 5] * 5, tail(node.log, 80)
    finally:
        node.stop()


def test_rt_dev_survives_kill9_of_its_whole_process_group(tmp_path: Path) -> None:
    """Same --state-dir after kill -9 of rt dev, its Kafka and its Redis: state and timers kept."""
    state = tmp_path / "state"
    ports = {"ingress": 0, "admin": 0}  # the first start binds free ones; the restart reuses them
    env = {k: v for k, v in os.environ.items() if k not in ("RT_KAFKA_BOOTSTRAP", "RT_REDIS_URL")}
    log = tmp_path / "rtdev.log"

    def start() -> subprocess.Popen[bytes]:
        args = [
            sys.executable, "-m", "runtime.cli", "dev", str(APPS / "core_app.py"),
            "--state-dir", str(state), "--ingress-port", str(ports["ingress"]),
            "--admin-port", str(ports["admin"]), "--partitions", "2",
        ]  # fmt: skip
        with log.open("ab") as out:
            p = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert p.poll() is None, tail(log)
            info = read_info(state, p.pid)
            if info is None:
                time.sleep(0.2)
                continue
            ports["ingress"] = info["ingress_port"]
            ports["admin"] = info["admin_port"]
            ingress = ports["ingress"]
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{ingress}/restate/health", timeout=1).status_code
                    == 200
                ):
                    return p
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(tail(log))

    p = start()
    url = f"http://127.0.0.1:{ports['ingress']}"
    try:
        with httpx.Client(timeout=30) as c:
            for _ in range(3):
                assert (
                    c.post(f"{url}/Counter/kept/add", content="2", headers=JSON).status_code == 200
                )
            r = c.post(
                f"{url}/Sleepy/nap/send", content="4000", headers={**JSON, "idempotency-key": "nap"}
            )
            assert r.status_code == 202
            nap_id = r.json()["invocationId"]
            time.sleep(1.0)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
        p = start()
        with httpx.Client(timeout=60) as c:
            assert c.get(f"{url}/Counter/kept/get").json() == 6
            res = c.get(f"{url}/restate/invocation/{nap_id}/attach")
            assert res.status_code == 200 and res.json() == 4000
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
