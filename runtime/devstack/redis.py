"""A local redis-server (Debian's package) with AOF on, bound to loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis

from runtime.devstack import process


@dataclass
class LocalRedis:
    """A redis-server process keeping its AOF under ``data_dir``."""

    data_dir: Path
    port: int = 0
    appendfsync: str = "everysec"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "redis.log"

    def _choose_port(self) -> None:
        saved = self.data_dir / "port.json"
        if not self.port and saved.exists():
            prev = int(json.loads(saved.read_text())["port"])
            if process.port_is_free(prev):
                self.port = prev
        if not self.port:
            self.port = process.free_port()
        saved.write_text(json.dumps({"port": self.port}))

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait for PING. Call from the main thread (parent-death signal)."""
        binary = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        if binary is None:
            raise RuntimeError(
                "redis-server not found; run ./scripts/setup.sh (apt-get install redis-server)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        process.start_on_picked_ports(
            lambda: self._start_once(binary, timeout),
            picked=not self.port,
            forget_ports=self._forget_port,
            logs=[self.log_file, self.data_dir / "redis.out"],
        )

    def _forget_port(self) -> None:
        self.port = 0
        (self.data_dir / "port.json").unlink(missing_ok=True)

    def _start_once(self, binary: str, timeout: float) -> None:
        self._choose_port()
        args = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--appenddirname", "appendonly",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.log_file),
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        self.proc = process.spawn(args, self.data_dir / "redis.out")
        process.wait_until(
            self._ready, self.proc, timeout, f"Redis on port {self.port}", self.log_file
        )

    def _ready(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5)
        try:
            info = client.info()
            # Ours, not another Redis that took the port first (then ours exits: retried).
            mine = self.proc is not None and info.get("process_id") == self.proc.pid
            return mine and not info.get("loading", 0)
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            process.stop(self.proc, timeout=20)
            self.proc = None
