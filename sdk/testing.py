"""Run your services on a real rt (Kafka + Redis) inside your tests.

:class:`Runtime` starts one rt node (``rt dev`` in a child process) with your
app loaded, against the Kafka and Redis named by ``RT_KAFKA_BOOTSTRAP`` /
``RT_REDIS_URL`` — or, when those are unset, ``rt dev`` starts a local Kafka and
Redis of its own and stops them with the node. Each runtime gets its own topic
prefix, so many can share one Kafka and Redis: set the two variables (or pass
``kafka_bootstrap`` / ``redis_url``) to start the brokers once per test session.

The harness talks to rt only as a user would: it runs the ``rt dev`` command and
reads the ports it bound from the ``dev.json`` it writes; it imports nothing of
the runtime.

``always_replay=True`` runs every handler as if its service had
``inactivity_timeout=timedelta(0)``: the attempt is suspended at every await
and resumed by replaying the journal from the start. A handler that is not
deterministic fails with a non-determinism error instead of passing by luck,
and every ``ctx.run`` is shown to execute exactly once across replays.
Restate's test harness offers the same switch.

Example:
    >>> from sdk.testing import Runtime
    >>> with Runtime("app.py", always_replay=True) as rt:  # doctest: +SKIP
    ...     assert rt.call("Greeter/greet", "world") == "Hello world"

With pytest, make a fixture of it in ``conftest.py``::

    from sdk.testing import runtime_fixture

    rt = runtime_fixture("app.py", always_replay=True)

    def test_greet(rt):
        assert rt.call("Greeter/greet", "world") == "Hello world"
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import httpx

__all__ = ["HttpError", "Runtime", "runtime_fixture"]

_JSON = {"content-type": "application/json"}
_STOP_TIMEOUT_S = 90.0
"""How long a node may take to stop, with the Kafka and Redis it started."""


class HttpError(Exception):
    """The ingress or admin API answered with an error status.

    Args:
        status_code: The HTTP status (for a handler's TerminalError: its code).
        message: The ``message`` of the JSON error body, else the body text.
        body: The raw body.
    """

    def __init__(self, status_code: int, message: str, body: bytes) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.body = body


def _group_alive(group: int) -> bool:
    """Whether a process of process group ``group`` is still running (zombies aside:
    whoever inherits an orphan may reap it late or never)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the parenthesised command name: state, ppid, pgrp, ...
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process exited while we looked
            continue
        if fields[2] == str(group) and fields[0] not in ("Z", "X"):
            return True
    return False


def _app_path(app: str | os.PathLike[str] | ModuleType) -> Path:
    if isinstance(app, ModuleType):
        file = getattr(app, "__file__", None)
        if not file:
            raise ValueError(f"module {app.__name__} has no source file to load")
        return Path(file).resolve()
    path = Path(app).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"app file not found: {path}")
    return path


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    message = response.text
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    raise HttpError(response.status_code, message, response.content)


class Runtime:
    """One rt node serving ``app`` on real Kafka and Redis, for tests.

    Args:
        app: The Python file defining the services (or an ``app``), or the
            imported module itself.
        always_replay: Suspend and replay at every await, for every service.
        partitions: Partitions of the runtime's log topic.
        kafka_bootstrap: Kafka to use (default ``RT_KAFKA_BOOTSTRAP``; unset → ``rt dev``
            starts a local one, which lives as long as the node).
        redis_url: Redis to use (default ``RT_REDIS_URL``; unset → ``rt dev`` starts a
            local one, which lives as long as the node).
        env: Extra environment variables for the node (your app sees them).
        prefix: Topic prefix / Redis key namespace (default: a fresh random one).
        startup_timeout: Seconds to wait for the node (and a local Kafka) to start.

    Attributes:
        url: The ingress base URL (``POST {url}/Service/handler``).
        admin_url: The admin API base URL.
        prefix: The topic prefix (also the Redis key namespace) of this runtime.
        kafka_bootstrap: The Kafka in use (once started, also a local one).
        redis_url: The Redis in use (once started, also a local one).
    """

    def __init__(
        self,
        app: str | os.PathLike[str] | ModuleType,
        *,
        always_replay: bool = False,
        partitions: int = 4,
        kafka_bootstrap: str | None = None,
        redis_url: str | None = None,
        env: Mapping[str, str] | None = None,
        prefix: str | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.app = _app_path(app)
        self.always_replay = always_replay
        self.partitions = partitions
        self.kafka_bootstrap = kafka_bootstrap or os.environ.get("RT_KAFKA_BOOTSTRAP")
        self.redis_url = redis_url or os.environ.get("RT_REDIS_URL")
        # What the node is told on every (re)start; unset → rt dev runs its own.
        self._brokers = {
            "RT_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "RT_REDIS_URL": self.redis_url,
        }
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.prefix = prefix or f"rtt{uuid.uuid4().hex[:10]}"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None
        self.ingress_port = 0
        self.admin_port = 0
        self.log_file: Path | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Runtime:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The ingress base URL."""
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        """The admin API base URL."""
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> None:
        """Start the node (and, if none is given, its Kafka/Redis); returns when the
        ingress answers."""
        self._tmp = tempfile.TemporaryDirectory(prefix="rt-testing-")
        try:
            self.ingress_port = self.admin_port = 0  # the node binds free ones: no race
            self.log_file = Path(self._tmp.name) / "node.log"
            self._http = httpx.Client(timeout=60)
            self._spawn()
        except BaseException:
            self.stop()
            raise

    @property
    def _state_dir(self) -> Path:
        assert self._tmp is not None
        return Path(self._tmp.name) / "state"

    def _spawn(self) -> None:
        assert self.log_file is not None
        env = {
            **os.environ,
            **self.extra_env,
            "RT_TOPIC_PREFIX": self.prefix,
            "RT_PARTITIONS": str(self.partitions),
            "RT_ALWAYS_REPLAY": "1" if self.always_replay else "0",
        }
        for name, value in self._brokers.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        args = [
            sys.executable, "-m", "runtime.cli", "dev", str(self.app),
            "--state-dir", str(self._state_dir),
            "--ingress-port", str(self.ingress_port),
            "--admin-port", str(self.admin_port),
        ]  # fmt: skip
        with self.log_file.open("ab") as out:
            # A session of its own: the node's Kafka, Redis and helper processes share its
            # process group, so the harness can tell when the last of them is gone.
            self._proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self._wait_ready()

    def _read_info(self) -> dict[str, Any] | None:
        """The ``dev.json`` our ``rt dev`` wrote (keys: docs/configuration.md), or None yet."""
        assert self._proc is not None
        try:
            info: dict[str, Any] = json.loads((self._state_dir / "dev.json").read_text())
        except (OSError, ValueError):
            return None
        return info if info.get("pid") == self._proc.pid else None  # not an earlier run's

    def _wait_ready(self) -> None:
        assert self._proc is not None and self._http is not None
        deadline = time.monotonic() + self.startup_timeout
        info = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the rt node exited at start-up:\n{self.logs()}")
            if info is None:
                # The node writes the ports it bound (port 0 → a free one) to dev.json.
                info = self._read_info()
                if info is None:
                    time.sleep(0.1)
                    continue
                self.ingress_port = info["ingress_port"]
                self.admin_port = info["admin_port"]
                self.kafka_bootstrap = info["kafka_bootstrap"]
                self.redis_url = info["redis_url"]
            try:
                if self._http.get(f"{self.url}/restate/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"the rt node did not start in {self.startup_timeout:g}s:\n{self.logs()}"
        )

    def kill9(self) -> None:
        """Kill the node with SIGKILL (a crash); :meth:`restart` brings it back.

        A Kafka and Redis that ``rt dev`` started for this runtime stop with it (they
        get SIGTERM, so no acknowledged write is lost) and restart with it.
        """
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(30)
        self._wait_group_gone()

    def restart(self) -> None:
        """Start the node again (after :meth:`kill9`) on the same ports and data."""
        self.kill9()
        self._spawn()

    def stop(self) -> None:
        """Stop the node (SIGTERM) and the Kafka/Redis it started, if any."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        if self._proc is not None:
            self._wait_group_gone()
        self._proc = None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _wait_group_gone(self) -> None:
        """Wait until every process the node started has exited (its Kafka and Redis
        stop on their own when it dies), then kill what is left.

        Why: a restarted node starts its Kafka and Redis on the same data, which the
        old ones must have let go of.
        """
        assert self._proc is not None
        group = self._proc.pid
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        killed = False
        while _group_alive(group):
            if time.monotonic() > deadline:
                if killed:
                    return  # stuck in the kernel: nothing more to do from here
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
                killed = True
                deadline = time.monotonic() + 10
            time.sleep(0.1)

    def logs(self, lines: int = 80) -> str:
        """The last lines of the node's log."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    # ------------------------------------------------------------------ clients

    @property
    def http(self) -> httpx.Client:
        """An HTTP client for anything not covered below."""
        if self._http is None:
            raise RuntimeError("the runtime is not started")
        return self._http

    def call(
        self,
        target: str,
        arg: Any = None,
        *,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Any:
        """Call a handler and return its JSON output.

        Args:
            target: ``Service/handler``, ``Object/key/handler`` or ``Workflow/id/run``.
            arg: The input, sent as JSON (``None`` sends no body).
            idempotency_key: Sent as the ``idempotency-key`` header.
            headers: Extra request headers.
            timeout: Seconds to wait for the result.

        Returns:
            The decoded JSON output (``None`` for an empty body).

        Raises:
            HttpError: The invocation failed (e.g. a TerminalError: its code and message).
        """
        r = self._request(
            "POST",
            f"{self.url}/{target}",
            content=b"" if arg is None else json.dumps(arg).encode(),
            headers=self._headers(idempotency_key, headers),
            timeout=timeout,
        )
        _raise_for(r)
        return r.json() if r.content else None

    def send(
        self,
        target: str,
        arg: Any = None,
        *,
        delay: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Send a one-way invocation; returns its invocation id.

        Args:
            target: As for :meth:`call`.
            arg: The input, sent as JSON.
            delay: ``?delay=`` (e.g. ``"10s"``, ``"PT1S"``).
            idempotency_key: Sent as the ``idempotency-key`` header.

        Returns:
            The ``inv_...`` id.

        Raises:
            HttpError: The ingress refused the request.
        """
        params = {"delay": delay} if delay is not None else None
        r = self._request(
            "POST",
            f"{self.url}/{target}/send",
            content=b"" if arg is None else json.dumps(arg).encode(),
            headers=self._headers(idempotency_key, None),
            params=params,
        )
        _raise_for(r)
        inv_id: str = r.json()["invocationId"]
        return inv_id

    def describe(self, invocation_id: str) -> dict[str, Any]:
        """``GET /invocations/{id}`` of the admin API."""
        r = self._request("GET", f"{self.admin_url}/invocations/{invocation_id}")
        _raise_for(r)
        body: dict[str, Any] = r.json()
        return body

    def cancel(self, invocation_id: str) -> int:
        """Cancel an invocation; returns the admin API's status code."""
        return self._patch(invocation_id, "cancel")

    def kill(self, invocation_id: str) -> int:
        """Kill an invocation; returns the admin API's status code."""
        return self._patch(invocation_id, "kill")

    def wait_completed(self, invocation_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll :meth:`describe` until the invocation completed; return the description."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                d = self.describe(invocation_id)
                if d["status"] == "completed":
                    return d
            except HttpError as e:
                if e.status_code != 404:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"invocation {invocation_id} did not complete in {timeout:g}s")
            time.sleep(0.05)

    def _patch(self, invocation_id: str, action: str) -> int:
        r = self._request("PATCH", f"{self.admin_url}/invocations/{invocation_id}/{action}")
        _raise_for(r)
        return r.status_code

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.TransportError as e:
            # Say whether the node is still up and what it logged: the usual question.
            rc = self._proc.poll() if self._proc is not None else None
            state = "running" if rc is None else f"exited with code {rc}"
            e.add_note(f"rt node ({state}), last lines of {self.log_file}:\n{self.logs(40)}")
            raise

    @staticmethod
    def _headers(idempotency_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        h = {**_JSON, **(extra or {})}
        if idempotency_key is not None:
            h["idempotency-key"] = idempotency_key
        return h


def runtime_fixture(
    app: str | os.PathLike[str] | ModuleType,
    *,
    always_replay: bool = False,
    scope: str = "module",
    **options: Any,
) -> Callable[..., Iterator[Runtime]]:
    """A pytest fixture yielding a started :class:`Runtime` (assign it in ``conftest.py``).

    Args:
        app: As for :class:`Runtime`.
        always_replay: As for :class:`Runtime`.
        scope: The pytest fixture scope.
        **options: Further :class:`Runtime` options.

    Returns:
        The fixture function.
    """
    import pytest

    @pytest.fixture(scope=scope)  # type: ignore[call-overload, untyped-decorator]
    def _runtime() -> Iterator[Runtime]:
        with Runtime(app, always_replay=always_replay, **options) as rt:
            yield rt

    return _runtime  # type: ignore[no-any-return]
