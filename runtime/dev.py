"""``rt dev``: one process that brings up a whole local rt.

Order of start-up: (1) Kafka and Redis, local processes unless configured;
(2) rt's topics; (3) the user's app, imported in-process; (4) ingress and
admin HTTP servers. SIGINT/SIGTERM stop them in reverse order, and the local
Kafka/Redis get SIGTERM so their logs are flushed. Data stays in the state dir.

Shutdown is bounded (``shutdown_timeout_s``, :class:`_Shutdown`): the first signal drains
(no new requests, waiting callers answered 503, partitions handed over by leaving the
consumer group, exit 0); a second signal, or a drain past the bound, exits at once.

A composition root: it wires a :class:`runtime.node.Node` and starts ingress processes
(:mod:`runtime.ingress.process`); no component imports it (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.admin.app import error_response as admin_error_response
from runtime.devstack.stack import DevStack
from runtime.ingress.auth import exposure_problem, protect
from runtime.ingress.errors import ingress_error_response
from runtime.log.topics import TopicNames, ensure_topics
from runtime.node import Node
from runtime.serving import Server, http_config, release_waiters
from runtime.settings import Settings

log = logging.getLogger("rt.dev")

INGRESS_READY_TIMEOUT_S = 60.0
LISTEN_BACKLOG = 2048  # uvicorn's default
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
FORCED_EXIT_CODE = 1
"""Exit status when the drain did not finish within ``shutdown_timeout_s``."""


def _write_stderr(text: str) -> None:
    """Write without Python's buffers: the process may ``os._exit`` right after."""
    with contextlib.suppress(OSError):
        os.write(sys.stderr.fileno(), text.encode())


def _exit_now(signum: int, frame: object = None) -> None:
    _write_stderr(f"rt dev: {signal.Signals(signum).name} again: exiting at once\n")
    os._exit(128 + signum)


class _Shutdown:
    """SIGINT/SIGTERM while ``rt dev`` serves.

    The first signal sets ``requested`` and arms a watchdog thread: a drain still running
    ``timeout_s`` later (a stuck request, Kafka away) ends the process with status 1. From
    then on another SIGINT/SIGTERM exits at once (``128 + signal``), also after the event
    loop closed. The local Kafka and Redis die with the process (``PR_SET_PDEATHSIG``).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self._loop = loop
        self._timeout_s = timeout_s
        self.requested = asyncio.Event()
        self._watchdog: threading.Timer | None = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            self._loop.add_signal_handler(sig, self._first, sig)

    def _first(self, signum: int) -> None:
        log.info(
            "%s: draining (at most %gs; send it again to exit at once)",
            signal.Signals(signum).name, self._timeout_s,
        )  # fmt: skip
        self._arm()
        for sig in STOP_SIGNALS:
            self._loop.add_signal_handler(sig, _exit_now, sig)
        self.requested.set()

    def _arm(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Timer(self._timeout_s, self._expired)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _expired(self) -> None:
        limit = f"{self._timeout_s:g}s (shutdown_timeout_s)"
        _write_stderr(f"rt dev: still draining after {limit}: exiting now\n")
        os._exit(FORCED_EXIT_CODE)

    def uninstall(self) -> None:
        """Back to default handling once the loop stops; after a first signal, a second
        one still exits at once."""
        for sig in STOP_SIGNALS:
            self._loop.remove_signal_handler(sig)
            if self.requested.is_set():
                signal.signal(sig, _exit_now)

    def cancel(self) -> None:
        """Everything is stopped: the watchdog has nothing left to bound."""
        if self._watchdog is not None:
            self._watchdog.cancel()


@dataclass
class DevRuntime:
    settings: Settings
    app_files: list[Path]
    fresh: bool = False
    services: list[Any] = field(default_factory=list)
    stack: DevStack | None = None
    _shutdown: _Shutdown | None = None
    _sockets: dict[str, socket.socket] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    def bind_ports(self) -> None:
        """Bind the ingress and admin ports now, before anything else starts.

        Why: checking that a port is free and binding it later is a race (another
        process, or the other of our two ports, can take it in between), and a port 0
        must become a real port before ``dev.json`` announces it. The HTTP servers serve
        on these sockets (see :func:`_bound_socket` for how each one holds its port). With
        ingress processes the ingress socket only reserves the port: the children bind and
        serve it (SO_REUSEPORT).
        """
        if self._sockets:
            return
        s = self.settings
        problem = exposure_problem(s)
        if problem is not None:
            raise RuntimeError(problem)
        shared = s.ingress_processes > 0
        try:
            for what, host, port, flag, reuse_port in (
                ("ingress", s.ingress_host, s.ingress_port, "--ingress-port", shared),
                ("admin", s.admin_host, s.admin_port, "--admin-port", False),
            ):
                try:
                    self._sockets[what] = _bound_socket(host, port, reuse_port=reuse_port)
                except OSError as e:
                    if e.errno != errno.EADDRINUSE:
                        raise
                    raise RuntimeError(
                        f"{what} port {host}:{port} is in use (choose another with {flag})"
                    ) from None
        except BaseException:
            self.close_sockets()
            raise
        self.settings = s.model_copy(
            update={
                "ingress_port": self._sockets["ingress"].getsockname()[1],
                "admin_port": self._sockets["admin"].getsockname()[1],
            }
        )

    def close_sockets(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def start_infrastructure(self) -> DevStack:
        """Start (or attach to) Kafka and Redis and create topics. Main thread only."""
        self.bind_ports()
        stack = DevStack(
            state_dir=self.state_dir,
            kafka_bootstrap=self.settings.kafka_bootstrap,
            redis_url=self.settings.redis_url,
            kafka_version=self.settings.kafka_version,
            redis_appendfsync=self.settings.redis_appendfsync,
        )
        if self.fresh:
            stack.wipe()
        self.stack = stack
        stack.start()
        assert stack.kafka_bootstrap is not None
        ensure_topics(
            self.settings.kafka_config(stack.kafka_bootstrap),
            TopicNames(self.settings.topic_prefix),
            self.settings.partitions,
            self.settings.replication_factor,
            max_record_bytes=self.settings.log_record_limit,
        )
        return stack

    def load_app(self) -> None:
        from runtime.invoker.loader import load_services

        self.services = load_services(self.app_files) if self.app_files else []

    def service_names(self) -> list[str]:
        return [s.name for s in self.services]

    def info(self) -> dict[str, Any]:
        assert self.stack is not None
        s = self.settings
        files = {k: str(v) for k, v in self.stack.log_files().items()}
        return {
            "kafka_bootstrap": self.stack.kafka_bootstrap,
            "redis_url": self.stack.redis_url,
            "ingress_url": f"{s.http_scheme}://{s.ingress_host}:{s.ingress_port}",
            "admin_url": f"{s.http_scheme}://{s.admin_host}:{s.admin_port}",
            "ingress_port": s.ingress_port,
            "admin_port": s.admin_port,
            "state_dir": str(self.state_dir.resolve()),
            "partitions": s.partitions,
            "topic_prefix": s.topic_prefix,
            "services": self.service_names(),
            "logs": files,
            "pid": os.getpid(),
        }

    def write_info(self) -> Path:
        """``dev.json`` in the state dir: URLs (real ports, also for port 0), logs, pid.

        Programs read it (``sdk.testing`` learns the ports, Kafka and Redis of the node it
        started from it, without importing the runtime): add keys, never rename or drop one.
        """
        path = self.state_dir / "dev.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.info(), indent=2) + "\n")
        tmp.replace(path)  # readers never see half a file
        return path

    async def serve(self, on_ready: Any = None) -> None:
        """Run the node (worker, ingress, admin) until SIGINT/SIGTERM, then drain it."""
        s = self.settings
        assert self.stack is not None
        assert self.stack.kafka_bootstrap is not None and self.stack.redis_url is not None
        self._shutdown = _Shutdown(asyncio.get_running_loop(), s.shutdown_timeout_s)
        self._shutdown.install()
        node = Node(s, self.stack.kafka_bootstrap, self.stack.redis_url, self.services)
        try:
            await node.start()
            try:
                await self._serve_http(node, on_ready)
            finally:
                # Leaves the consumer group: the partitions move to other nodes at once.
                await node.stop()
        finally:
            self._shutdown.uninstall()

    async def _serve_http(self, node: Node, on_ready: Any) -> None:
        s = self.settings
        self.bind_ports()
        assert self._shutdown is not None
        if s.ingress_processes > 0:
            await self._serve_with_ingress_processes(node, on_ready)
            return
        ingress_app = node.ingress_app()
        ingress = Server(
            http_config(
                s,
                protect(ingress_app, s, "ingress", ingress_error_response),
                host=s.ingress_host,
                port=s.ingress_port,
                # The ingress never reads the client address: skip uvicorn's per-request
                # X-Forwarded-* middleware and access-log call.
                proxy_headers=False,
                access_log=False,
            )
        )
        admin = self._admin_server(node)
        tasks = [
            asyncio.create_task(ingress.serve(sockets=[self._sockets["ingress"]])),
            asyncio.create_task(admin.serve(sockets=[self._sockets["admin"]])),
        ]
        while not (ingress.started and admin.started):
            if any(t.done() for t in tasks):
                for t in tasks:
                    if t.done() and t.exception() is not None:
                        raise RuntimeError(f"HTTP server failed to start: {t.exception()}")
                raise RuntimeError("HTTP server failed to start (see the log above)")
            await asyncio.sleep(0.02)
        if on_ready is not None:
            on_ready()
        stop_wait = asyncio.create_task(self._shutdown.requested.wait())
        failed = asyncio.create_task(node.failed())
        await asyncio.wait([stop_wait, failed, *tasks], return_when=asyncio.FIRST_COMPLETED)
        ingress_app.draining = True
        ingress.should_exit = True
        admin.should_exit = True
        if failed.done():  # callers waiting for answers would wait forever: drop them
            node.listener.abandon()
            ingress.force_exit = admin.force_exit = True
        else:
            await release_waiters(node.listener, s)
        await asyncio.gather(*tasks, return_exceptions=True)
        stop_wait.cancel()
        _raise_if_failed(failed)

    async def _serve_with_ingress_processes(self, node: Node, on_ready: Any) -> None:
        """The admin API here; the ingress in ``ingress_processes`` supervised children."""
        from runtime.ingress.process import ingress_children

        s = self.settings
        assert self.stack is not None and self.stack.kafka_bootstrap and self.stack.redis_url
        assert self._shutdown is not None
        children = ingress_children(
            s.ingress_processes, s, self.stack.kafka_bootstrap, self.stack.redis_url,
            [p.resolve() for p in self.app_files],
        )  # fmt: skip
        admin = self._admin_server(node)
        loop = asyncio.get_running_loop()
        for child in children:
            child.start()
        task = asyncio.create_task(admin.serve(sockets=[self._sockets["admin"]]))
        failed: asyncio.Task[BaseException] | None = None
        try:
            deadline = loop.time() + INGRESS_READY_TIMEOUT_S
            while not (admin.started and all(c.ready.is_set() for c in children)):
                if task.done():
                    raise RuntimeError(
                        f"admin API failed to start (is port {s.admin_port} in use?)"
                    )
                if loop.time() > deadline:
                    raise RuntimeError(
                        f"ingress processes not serving on port {s.ingress_port} after "
                        f"{INGRESS_READY_TIMEOUT_S:g}s (see the log above)"
                    )
                await asyncio.sleep(0.05)
            if on_ready is not None:
                on_ready()
            stop_wait = asyncio.create_task(self._shutdown.requested.wait())
            failed = asyncio.create_task(node.failed())
            await asyncio.wait([stop_wait, failed, task], return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            _raise_if_failed(failed)
        finally:
            admin.should_exit = True
            admin.force_exit = failed is not None and failed.done()
            # Each child drains as this process does (SIGTERM), within the same bound.
            await asyncio.gather(
                *(asyncio.to_thread(c.stop, s.shutdown_timeout_s) for c in children)
            )
            await asyncio.gather(task, return_exceptions=True)

    def _admin_server(self, node: Node) -> Server:
        s = self.settings
        app = protect(node.admin_app(), s, "admin", admin_error_response)
        return Server(http_config(s, app, host=s.admin_host, port=s.admin_port))

    def shutdown(self) -> None:
        self.close_sockets()
        if self.stack is not None:
            self.stack.stop()
        if self._shutdown is not None:
            self._shutdown.cancel()


def _raise_if_failed(failed: asyncio.Task[BaseException]) -> None:
    """Stop ``rt dev`` with the worker's failure (it exits non-zero and says why)."""
    if failed.done():
        raise RuntimeError(f"the worker stopped: {failed.result()}")
    failed.cancel()


def _bound_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A socket that holds ``host:port`` from now on.

    A bound socket that does not listen does not hold its port on Linux: any other socket
    with ``SO_REUSEADDR`` (most servers) can bind it too. So a port of our own listens at
    once (connections wait in the backlog until the server accepts); the ingress port
    shared with ingress processes is held by ``SO_REUSEPORT`` alone, which only sockets of
    the same user that also set it can join.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if not reuse_port:
            sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def read_info(state_dir: Path, pid: int) -> dict[str, Any] | None:
    """The ``dev.json`` that the ``rt dev`` process ``pid`` wrote, or None (not yet
    written, or left by an earlier process). How a parent that asked for port 0
    learns the real ports."""
    try:
        info: dict[str, Any] = json.loads((state_dir / "dev.json").read_text())
    except (OSError, ValueError):
        return None
    return info if info.get("pid") == pid else None
