"""Child-process helpers shared by the local Kafka and Redis launchers.

Children get ``PR_SET_PDEATHSIG`` so that a crashed or kill -9'd parent never
leaves an orphan JVM or redis-server behind; a clean stop sends SIGTERM first
so Kafka and Redis flush their logs.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM us when the parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # pragma: no cover - non-Linux
        pass


def spawn(
    args: Sequence[str], log_file: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a long-running child with stdout/stderr appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        return subprocess.Popen(
            list(args),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed for PDEATHSIG
            close_fds=True,
        )


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def start_on_picked_ports(
    start_once: Callable[[], None],
    *,
    picked: bool,
    forget_ports: Callable[[], None],
    logs: Sequence[Path],
    attempts: int = 3,
) -> None:
    """Run ``start_once``; if the child exited because its port was taken, forget the
    ports and try again (only if they were ``picked`` here, not configured).

    Why: a port picked by :func:`free_port` is free when picked, not when the child
    binds it; another process (a parallel test run) can take it in between.
    """
    for attempt in range(1, attempts + 1):
        sizes = {log: _size(log) for log in logs}  # the logs are appended to across runs
        try:
            start_once()
            return
        except RuntimeError:  # wait_until: the child exited during start-up
            lost = any("Address already in use" in _since(log, sizes[log]) for log in logs)
            if not (picked and lost and attempt < attempts):
                raise
            forget_ports()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _since(path: Path, offset: int) -> str:
    """What was appended to ``path`` after it had ``offset`` bytes."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    timeout: float,
    what: str,
    log_file: Path,
) -> None:
    """Poll ``ready`` until true; fail fast with the log tail if the process exits."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with code {proc.returncode} during start-up; "
                f"last lines of {log_file}:\n{tail(log_file)}"
            )
        if ready():
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    stop(proc)
    raise TimeoutError(
        f"{what} not ready after {timeout:.0f}s; last lines of {log_file}:\n{tail(log_file)}"
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True
