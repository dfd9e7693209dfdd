"""HTTP ingress processes: the ingress served outside the node's event loop.

Why: one Python process runs the node's partition processors, invoker and
handlers; serving HTTP there too saturates its core while the host has others
idle (docs/benchmarks.md). The ingress is stateless — it reaches the worker
only through Kafka (``Invoke`` records) and Redis (answers on its own pub/sub
channel) — so any number of processes can serve it. ``rt dev`` with
``ingress_processes = N`` starts N of them as supervised children
(:class:`runtime.childproc.SupervisedChild`), each listening on the ingress
port with ``SO_REUSEPORT`` so the kernel spreads connections over them.

The child gets its spec (settings, Kafka, Redis, app files) as JSON on stdin,
loads the app files for the service registry, follows the registry topic for the
registered deployments (as every node does), prints ``ready`` once it serves and
drains on SIGTERM.

This module is the composition root of an ingress process: it imports no other root
(``cli``, ``dev``, ``node``); what it builds like ``rt dev`` does comes from
:mod:`runtime.serving` (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

from runtime import tracing
from runtime.childproc import SupervisedChild, die_with_parent
from runtime.logs import configure as configure_logging
from runtime.serving import Server, http_config, loop_factory, redis_client, release_waiters

log = logging.getLogger("rt.ingress.process")

MODULE = "runtime.ingress.process"


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other ingress processes can bind to as well."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def ingress_children(
    count: int, settings: Any, kafka_bootstrap: str, redis_url: str, app_files: list[Path]
) -> list[SupervisedChild]:
    """``count`` supervised ingress processes (not started yet)."""
    spec = json.dumps(
        {
            "settings": settings.model_dump(mode="json"),
            "kafka_bootstrap": kafka_bootstrap,
            "redis_url": redis_url,
            "app_files": [str(p) for p in app_files],
        }
    )
    return [SupervisedChild(f"ingress process {i}", MODULE, spec) for i in range(count)]


async def serve(spec: dict[str, Any]) -> None:
    """The child: the ingress app on a reuse-port socket until SIGTERM."""
    from runtime.ingress.app import create_ingress_app
    from runtime.ingress.auth import protect
    from runtime.ingress.errors import ingress_error_response
    from runtime.ingress.log_backend import LogIngressBackend
    from runtime.invoker.builtins import with_builtins
    from runtime.invoker.deployments import DeploymentCatalog
    from runtime.invoker.loader import load_services
    from runtime.invoker.services import registry_from_sdk
    from runtime.log.producer import LogProducer
    from runtime.log.registry_topic import RegistryFollower
    from runtime.log.topics import TopicNames
    from runtime.responses import ResponseListener
    from runtime.settings import Settings

    settings = Settings(**spec["settings"])
    registry = registry_from_sdk(
        with_builtins(load_services([Path(p) for p in spec["app_files"]])),
        settings.default_journal_retention_s,
    )
    redis = redis_client(settings, spec["redis_url"])
    kafka_config = settings.kafka_config(spec["kafka_bootstrap"])
    topics = TopicNames(settings.topic_prefix)
    # Registered deployments: followed like the node does (read only), so their services
    # are served here too.
    follower = RegistryFollower(kafka_config, topics.registry)
    DeploymentCatalog(registry, topics.registry, None).follow(follower)
    follower.start()
    producer = LogProducer(
        kafka_config,
        topics,
        settings.partitions,
        client_id=f"rt-ingress-{uuid.uuid4().hex[:8]}",
        max_record_bytes=settings.log_record_limit,
    )
    listener = ResponseListener(redis, settings.topic_prefix)
    backend = LogIngressBackend(registry, producer, redis, listener, settings.topic_prefix)
    await listener.start()
    await follower.wait_caught_up(60.0)
    app = create_ingress_app(registry, backend, max_body_bytes=settings.max_payload_bytes)
    server = Server(
        http_config(
            settings,
            protect(app, settings, "ingress", ingress_error_response),
            proxy_headers=False,  # the ingress never reads the client address
            access_log=False,
        )
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sock = reuseport_socket(settings.ingress_host, settings.ingress_port)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        print("ready", flush=True)
    parent = os.getppid()
    stopping = asyncio.create_task(stop.wait())
    while not task.done() and not stop.is_set():
        await asyncio.wait([task, stopping], timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
        if os.getppid() != parent:  # belt and braces next to PDEATHSIG
            stop.set()
    stopping.cancel()
    # Drain as the node does: no new requests, waiting callers answered (503) in time.
    app.draining = True
    server.should_exit = True
    await release_waiters(listener, settings)
    try:
        await task
    finally:
        await asyncio.to_thread(follower.stop)
        await listener.close()
        await asyncio.to_thread(producer.close)
        await redis.aclose(close_connection_pool=True)


def main() -> None:
    die_with_parent()
    configure_logging("ingress")
    spec = json.loads(sys.stdin.read())
    tracing.configure()  # as the parent did (it checked the variables before starting us)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(serve(spec))
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    main()
