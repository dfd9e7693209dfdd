"""Real SDK endpoints for the protocol tests: child processes on free loopback ports.

- restate-sdk (Python) served by hypercorn: HTTP/2 cleartext, bidirectional streaming;
- the same app served by uvicorn: HTTP/1.1, request/response mode;
- @restatedev/restate-sdk (Node.js) over HTTP/2 cleartext, installed by scripts/setup.sh.

Each server binds port 0 and the port is read from its log, so parallel test runs
never race for ports.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
JS_DIR = Path(__file__).resolve().parent / "js"
_PORT_PATTERNS = (
    re.compile(r"Running on http://127\.0\.0\.1:(\d+)"),  # hypercorn
    re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)"),
    re.compile(r"RT_ENDPOINT_PORT=(\d+)"),  # services.mjs
)


@dataclass
class EndpointProcess:
    """A running endpoint server."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """kill -9, as a crash."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGINT: restate-sdk's app takes SIGTERM over for its own shutdown notice, so
            # hypercorn and uvicorn would only stop at the kill below.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _start(name: str, cmd: list[str], cwd: Path, log: Path, env: dict[str, str]) -> EndpointProcess:
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        for pattern in _PORT_PATTERNS:
            if match := pattern.search(text):
                return EndpointProcess(name, process, int(match.group(1)), log)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(
        f"{name} endpoint did not start; its log:\n{log.read_text(errors='replace')}"
    )


def _python_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def start_hypercorn(
    tmp: Path,
    app: str = "tests.integration.protocol.services_py:app",
    env: dict[str, str] | None = None,
) -> EndpointProcess:
    """restate-sdk app under hypercorn (h2c); long keep-alive: idle tests keep their connection."""
    config = tmp / "hypercorn.toml"
    config.write_text(
        'bind = "127.0.0.1:0"\n'
        "keep_alive_timeout = 3600\n"
        "keep_alive_max_requests = 1000000\n"
        "h2_max_concurrent_streams = 1000\n"
        "workers = 0\n"  # serve in this process: kill -9 of it kills the endpoint
    )
    cmd = [sys.executable, "-m", "hypercorn", "--config", str(config), app]
    return _start("hypercorn", cmd, ROOT, tmp / "hypercorn.log", {**_python_env(), **(env or {})})


def start_uvicorn(tmp: Path) -> EndpointProcess:
    """restate-sdk app under uvicorn: HTTP/1.1 only, so the SDK runs request/response."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.integration.protocol.services_py:app",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--lifespan",
        "off",
        "--http",
        "h11",
        "--no-access-log",
    ]
    return _start("uvicorn", cmd, ROOT, tmp / "uvicorn.log", _python_env())


def node_modules() -> Path:
    """Where scripts/setup.sh installed the TypeScript SDK (keyed by the lock file)."""
    digest = hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    path = cache / "rt" / "node" / digest / "node_modules"
    if not (path / "@restatedev" / "restate-sdk" / "package.json").is_file():
        raise RuntimeError(f"the TypeScript SDK is not installed in {path}: run ./scripts/setup.sh")
    return path


def start_node(tmp: Path) -> EndpointProcess:
    """services.mjs with the real @restatedev/restate-sdk (h2c, bidirectional)."""
    work = tmp / "js"
    work.mkdir()
    (work / "services.mjs").write_bytes((JS_DIR / "services.mjs").read_bytes())
    (work / "package.json").write_bytes((JS_DIR / "package.json").read_bytes())
    (work / "node_modules").symlink_to(node_modules())
    env = {**os.environ, "PORT": "0"}
    return _start("node", ["node", "services.mjs"], work, tmp / "node.log", env)
