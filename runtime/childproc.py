"""A child process that never outlives rt and is restarted when it dies.

rt moves work out of the node's event loop into processes of its own (a
subscription's intake, HTTP ingress processes). They share one lifecycle:

- spawned as ``python -m <module>`` from a supervisor thread, with a JSON spec
  on stdin (so no secret shows in ``ps``); the child's first act is
  :func:`die_with_parent` (``PR_SET_PDEATHSIG`` = SIGKILL): when the thread that
  spawned it dies — the whole node, even by kill -9 — the kernel kills the child.
  The child sets it itself rather than in a ``preexec_fn``: Python code between
  fork and exec of a process with many threads (librdkafka's) can deadlock;
- restarted after a pause when it exits on its own;
- ``stop`` sends SIGTERM (the child finishes what is in flight and exits) and
  waits, then kills what is left.

A child may print ``ready`` on a line of its own once it serves; :attr:`ready`
is set then (children that print nothing are never "ready").
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading

log = logging.getLogger("rt.childproc")

RESTART_PAUSE_S = 2.0
STOP_TIMEOUT_S = 60.0
READY_LINE = b"ready"
PARENT_ENV = "RT_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Call first thing in a child: the kernel SIGKILLs it when the spawning thread dies.

    If the parent is gone already (it died before this ran), exit at once.
    """
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    expected = os.environ.get(PARENT_ENV)
    if expected is not None and os.getppid() != int(expected):
        os._exit(1)


class SupervisedChild:
    """Runs ``python -m module`` with ``spec`` on stdin until :meth:`stop`, restarting it."""

    def __init__(self, name: str, module: str, spec: str) -> None:
        self.name = name
        self._module = module
        self._spec = spec.encode()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name=f"rt-{name}", daemon=True)
        self.ready = threading.Event()
        """Set when a child printed ``ready`` (cleared when it exits)."""
        self.starts = 0
        """How many children were spawned (1 + restarts)."""

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the child (it finishes what is in flight) and wait for it."""
        with self._lock:
            self._stop.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        self._thread.join(timeout)
        if proc is not None and proc.poll() is None:
            log.warning("%s did not stop in time, killing it", self.name)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(10)

    def _supervise(self) -> None:
        # The child is spawned from this thread, which lives as long as the child:
        # PR_SET_PDEATHSIG fires when the spawning *thread* exits.
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", self._module],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env={**os.environ, PARENT_ENV: str(os.getpid())},
                    close_fds=True,
                )
                self.starts += 1
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(self._spec)
                proc.stdin.close()
            for line in proc.stdout:  # until the child exits (its stdout closes)
                if line.strip() == READY_LINE:
                    self.ready.set()
                else:
                    sys.stdout.buffer.write(line)
                    sys.stdout.flush()
            code = proc.wait()
            self.ready.clear()
            if self._stop.is_set():
                return
            log.error("%s: process %d exited with %s, restarting", self.name, proc.pid, code)
            self._stop.wait(RESTART_PAUSE_S)
