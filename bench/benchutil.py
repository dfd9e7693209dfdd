"""What the benchmark scripts share: Kafka + Redis, a managed ``rt dev``, percentiles, cleanup.

Benchmarks run as scripts (``python bench/x.py``), so this module is imported
from the script's own directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import redis

from runtime.devstack.process import free_port
from runtime.devstack.stack import DevStack

__all__ = ["drop_keys", "free_port", "kafka_and_redis", "pct", "rt_dev"]


@contextlib.contextmanager
def kafka_and_redis() -> Iterator[tuple[str, str]]:
    """``(bootstrap, redis_url)`` for one benchmark run.

    ``RT_KAFKA_BOOTSTRAP`` / ``RT_REDIS_URL`` when set; whatever is not set is
    started here for the run by rt's own devstack (the Kafka 4.3.1 KRaft broker and
    redis-server that ``rt dev`` and the tests use, data in a temporary directory)
    and stopped on exit.
    """
    with tempfile.TemporaryDirectory(prefix="rt-bench-stack-") as state:
        stack = DevStack(
            state_dir=Path(state),
            kafka_bootstrap=os.environ.get("RT_KAFKA_BOOTSTRAP"),
            redis_url=os.environ.get("RT_REDIS_URL"),
        )
        if stack.kafka_bootstrap is None or stack.redis_url is None:
            print("starting a local Kafka and Redis for this run", file=sys.stderr, flush=True)
        stack.start()
        try:
            assert stack.kafka_bootstrap is not None and stack.redis_url is not None
            yield stack.kafka_bootstrap, stack.redis_url
        finally:
            stack.stop()


def pct(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def drop_keys(r: redis.Redis, prefix: str) -> None:
    """Remove the run's Redis keys: the shared Redis should not grow with every run."""
    batch: list[bytes] = []
    for k in r.scan_iter(match=f"{prefix}:*", count=5000):
        batch.append(k)
        if len(batch) >= 1000:
            r.unlink(*batch)
            batch = []
    if batch:
        r.unlink(*batch)


def subscribe(admin_url: str, topic: str, handler: str) -> str:
    """Subscribe ``handler`` (``Service/handler``) to ``topic`` from its earliest record.

    Returns:
        The subscription id.
    """
    r = httpx.post(
        f"{admin_url}/subscriptions",
        json={
            "source": f"kafka://default/{topic}",
            "sink": f"service://{handler}",
            "options": {"auto.offset.reset": "earliest"},
        },
        timeout=60,
    )
    r.raise_for_status()
    sub_id: str = r.json()["id"]
    return sub_id


@contextlib.contextmanager
def rt_dev(
    app: Path, state: Path, env: Mapping[str, str], ingress: int, admin: int
) -> Iterator[subprocess.Popen[bytes]]:
    """``rt dev app`` on the given ports, healthy on entry, stopped with Ctrl-C on exit."""
    print(f"rt log: {state / 'rt.log'}", file=sys.stderr)
    with (state / "rt.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "dev", str(app), "--state-dir", str(state),
             "--ingress-port", str(ingress), "--admin-port", str(admin)],
            env=dict(env), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    url = f"http://127.0.0.1:{ingress}/restate/health"
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"rt did not start; see {state / 'rt.log'}")
                time.sleep(0.2)
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
