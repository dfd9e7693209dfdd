"""One rt node: worker (partition processors + invokers), ingress and admin.

The node follows the registry topic (deployments, subscriptions) with one follower,
and runs attempts in process (the app it loaded) or on registered HTTP deployments.

``rt dev`` runs one node in-process; tests start several in separate processes
against the same Kafka and Redis to exercise rebalances.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from runtime import metrics
from runtime.admin.app import create_admin_app
from runtime.egress.sender import EgressSender
from runtime.egress.topics import TopicCatalog
from runtime.ingress.app import IngressApp, create_ingress_app
from runtime.ingress.log_backend import LogIngressBackend
from runtime.invoker.builtins import with_builtins
from runtime.invoker.deployments import DeploymentCatalog, pinned_counter
from runtime.invoker.inprocess import InProcessInvoker
from runtime.invoker.remote import RemoteInvoker
from runtime.invoker.routing import RoutingInvoker
from runtime.invoker.services import registry_from_sdk
from runtime.log import records
from runtime.log.batch_producer import BatchProducer
from runtime.log.producer import LogProducer
from runtime.log.registry_topic import RegistryFollower
from runtime.log.topics import TopicNames
from runtime.partition.batching import Batching
from runtime.partition.egress_outbox import EgressOutbox
from runtime.partition.processor import ProcessorDeps
from runtime.partition.worker import Worker
from runtime.responses import Publisher, ResponseListener
from runtime.serving import redis_client
from runtime.settings import Settings
from runtime.state.reads import StateReads
from runtime.state.store import PartitionStore
from runtime.subscriptions.dlq import DlqOutbox
from runtime.subscriptions.manager import SubscriptionManager
from runtime.subscriptions.mapping import invokes_of
from runtime.timers.wheel import TimerWheel

log = logging.getLogger("rt.node")


@dataclass
class Node:
    settings: Settings
    kafka_bootstrap: str
    redis_url: str
    services: list[Any]
    run_worker: bool = True
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        self.services = with_builtins(self.services)  # rt.Kafka and the other built-ins
        self.registry = registry_from_sdk(self.services, self.settings.default_journal_retention_s)
        self.topics = TopicNames(self.settings.topic_prefix)
        self.kafka_config = self.settings.kafka_config(self.kafka_bootstrap)
        self.redis = redis_client(self.settings, self.redis_url)
        self.producer = LogProducer(
            self.kafka_config,
            self.topics,
            self.settings.partitions,
            client_id=f"rt-{self.worker_id}",
            max_record_bytes=self.settings.log_record_limit,
        )
        # Built only where handlers run: its admin client connects to Kafka.
        catalog = TopicCatalog(self.kafka_config, self.topics) if self.run_worker else None
        self.invoker = InProcessInvoker(
            self.services,
            self.registry,
            self.settings,
            topic_check=catalog.check if catalog else None,
        )
        signer = self.settings.request_signer()
        self.remote_invoker = RemoteInvoker(self.registry, self.settings.always_replay, signer)
        self.listener = ResponseListener(self.redis, self.settings.topic_prefix)
        publisher = Publisher(self.redis)
        publisher.add_local(self.listener)  # this process's callers skip the Redis hop
        self.backend = LogIngressBackend(
            self.registry, self.producer, self.redis, self.listener, self.settings.topic_prefix
        )
        self.reads = StateReads(self.redis, self.settings.topic_prefix, self.settings.partitions)
        self.dlq = DlqOutbox(self.kafka_config, self.reads, self.redis)
        self.registry_follower = RegistryFollower(self.kafka_config, self.topics.registry)
        self.deployments = DeploymentCatalog(
            self.registry,
            self.topics.registry,
            self.kafka_config,
            pinned_counter(self.reads),
            signer=signer,
        )
        self.deployments.follow(self.registry_follower)
        self.subscriptions = SubscriptionManager(
            self.registry,
            self.kafka_config,
            self.topics,
            self.settings.partitions,
            self.worker_id,
            cluster_name=self.settings.kafka_cluster_name,
            follower=self.registry_follower,
        )
        self._deps_args: dict[str, Any] = dict(
            prefix=self.settings.topic_prefix,
            partitions=self.settings.partitions,
            producer=self.producer,
            redis=self.redis,
            registry=self.registry,
            worker_id=self.worker_id,
            invoker=RoutingInvoker(self.invoker, self.remote_invoker),
            publisher=publisher,
            expand_batch=invokes_of,
            timers=self._timer_wheel,
            egress=self._egress_sender,
            dlq=self.dlq,
            batching=self._batching(),
        )
        self.store: PartitionStore | None = None
        self.worker: Worker | None = None

    def _batching(self) -> Batching | None:
        s = self.settings
        if not s.batched_execution:
            return None
        return Batching(
            self.invoker,
            lambda partition: BatchProducer(
                self.kafka_config, s.topic_prefix, self.topics.log, partition
            ),
            s.batch_max_invocations,
        )

    def _timer_wheel(
        self,
        store: PartitionStore,
        partition: int,
        fire: Callable[[bytes], asyncio.Future[int]],
        leading: Callable[[], bool],
    ) -> TimerWheel:
        s = self.settings
        return TimerWheel(
            store, partition, fire, leading, cap=s.timer_memory_cap, window_ms=s.timer_horizon_ms
        )

    def _egress_sender(
        self,
        partition: int,
        outbox: EgressOutbox,
        append: Callable[[records.Record], asyncio.Future[int]],
        mark_used: Callable[[], Awaitable[None]],
        owns: Callable[[], Awaitable[bool]],
    ) -> EgressSender:
        return EgressSender(
            partition,
            self.kafka_config,
            self.settings.topic_prefix,
            self.topics.log,
            outbox,
            append,
            mark_used,
            owns,
        )

    def ingress_app(self) -> IngressApp:
        return create_ingress_app(
            self.registry, self.backend, max_body_bytes=self.settings.max_payload_bytes
        )

    def admin_app(self) -> FastAPI:
        s = self.settings
        from runtime.admin.cron import LogCronBackend, cron_router
        from runtime.admin.deployments import deployments_router
        from runtime.admin.invocation_control import LogControlBackend, control_router
        from runtime.admin.invocations import invocations_router
        from runtime.admin.subscriptions import subscriptions_router

        cron = LogCronBackend(self.producer, self.redis, s.topic_prefix, s.partitions)
        return create_admin_app(
            self.registry,
            self.backend_admin(),
            ingress_url=f"{s.http_scheme}://{s.ingress_host}:{s.ingress_port}",
            routers=[
                invocations_router(self.invocations_admin()),
                control_router(
                    LogControlBackend(self.producer, self.redis, self.settings, self.registry)
                ),
                subscriptions_router(self.subscriptions),
                cron_router(self.registry, cron),
                deployments_router(self.deployments),
            ],
        )

    def backend_admin(self) -> Any:
        from runtime.admin.backend import LogAdminBackend

        return LogAdminBackend(self.registry, self.producer, self.redis, self.settings)

    def invocations_admin(self) -> Any:
        from runtime.admin.invocations import LogInvocationBackend

        return LogInvocationBackend(self.producer, self.redis, self.settings)

    async def start(self) -> None:
        self.store = await PartitionStore.from_settings(self.settings, url=self.redis_url)
        self.worker = Worker(
            ProcessorDeps(store=self.store, **self._deps_args),
            self.kafka_config,
            log_trim_after_s=self.settings.log_trim_after_s,
        )
        await self.listener.start()
        await self.subscriptions.start()  # watches the registry topic (before it is followed)
        self.registry_follower.start()
        # Deployments first: an attempt of a registered service must not start before
        # this node knows where the service runs.
        await self.deployments.caught_up()
        if self.run_worker:
            await self.worker.start()
            metrics.set_node_source(
                metrics.NodeSource(self.worker.gauges, self.producer.queued, self._redis_counts)
            )

    async def _redis_counts(self, partitions: list[int]) -> dict[int, tuple[int, int]]:
        """(invocations in flight, timers pending) of ``partitions``, for ``/metrics``."""
        wanted = set(partitions)
        return {
            info.partition: (info.active, info.timers)
            for info in await self.reads.partition_infos()
            if info.partition in wanted
        }

    async def failed(self) -> BaseException:
        """Wait until the worker fails for good (never returns while it is healthy)."""
        if self.worker is None or self.worker.failure is None:
            await asyncio.Event().wait()  # no worker here: nothing can fail
        assert self.worker is not None and self.worker.failure is not None
        return await asyncio.shield(self.worker.failure)

    async def stop(self) -> None:
        if self.worker is not None and metrics.node_source() is not None:
            metrics.set_node_source(None)
        await self.subscriptions.stop()
        await asyncio.to_thread(self.registry_follower.stop)
        if self.worker is not None and self.run_worker:
            await self.worker.stop()
        await self.invoker.close()
        await self.remote_invoker.close()
        await self.deployments.close()
        await self.listener.close()
        await asyncio.to_thread(self.producer.close)
        await asyncio.to_thread(self.dlq.close)
        if self.store is not None:
            await self.store.aclose()
        await self.redis.aclose(close_connection_pool=True)  # the pool was passed in
