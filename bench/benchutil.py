"""What the benchmark scripts share: ports, percentiles, a managed ``rt dev``, key cleanup.

Benchmarks run as scripts (``python bench/x.py``), so this module is imported
from the script's own directory.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
