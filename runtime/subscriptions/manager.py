"""The node's subscriptions: validate and persist changes, run an intake per subscription.

The registry topic is the source of truth: the admin API writes a change
there (durably) and applies it locally at once; every other node applies it
when its :class:`RegistryFollower` reads it. Applying starts or stops this
node's :class:`IntakeRunner` for the subscription.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from connectors.serde import decoder_for
from runtime.log.registry_topic import RegistryFollower as TopicFollower
from runtime.log.topics import TopicNames
from runtime.registry import Registry
from runtime.subscriptions import registry as reg
from runtime.subscriptions.mapping import SinkTarget
from runtime.subscriptions.model import (
    REGISTRY_KEY_PREFIX,
    Subscription,
    SubscriptionError,
    new_subscription_id,
    parse_sink,
    parse_source,
    validate_options,
)
from runtime.subscriptions.worker import IntakeProcess

log = logging.getLogger("rt.subscriptions")

CATCH_UP_TIMEOUT_S = 30.0


class SubscriptionManager:
    """Creates, lists and removes subscriptions; runs their intake on this node."""

    def __init__(
        self,
        registry: Registry,
        kafka_config: dict[str, Any],
        topics: TopicNames,
        partitions: int,
        node_id: str,
        cluster_name: str = "default",
        follower: TopicFollower | None = None,
    ) -> None:
        self._registry = registry
        self._cluster_name = cluster_name
        self._kafka_config = kafka_config
        self._topics = topics
        self._partitions = partitions
        self._node_id = node_id
        self._subs: dict[str, Subscription] = {}
        self._runners: dict[str, IntakeProcess] = {}
        self._removed: set[str] = set()
        self._follower: TopicFollower | None = follower
        """The node's registry follower (shared, so that deployments are applied before the
        subscriptions that target them); None: this manager follows the topic itself."""
        self._own_follower = follower is None
        self._producer: Producer | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._producer = Producer(
            {**self._kafka_config, "enable.idempotence": True, "acks": "all", "log_level": 2}
        )
        if self._follower is None:
            loop = asyncio.get_running_loop()
            self._follower = TopicFollower(self._kafka_config, self._topics.registry, loop)
        self._follower.watch(REGISTRY_KEY_PREFIX, reg.subscription_watcher(self._on_change))
        if self._own_follower:
            self._follower.start()

    async def stop(self) -> None:
        if self._follower is not None and self._own_follower:
            await asyncio.to_thread(self._follower.stop)
        runners = list(self._runners.values())
        self._runners.clear()
        await asyncio.gather(*(asyncio.to_thread(r.stop) for r in runners))
        if self._producer is not None:
            await asyncio.to_thread(self._producer.flush, 10)

    async def caught_up(self, timeout: float = CATCH_UP_TIMEOUT_S) -> None:
        """Wait until the subscriptions stored before start-up are known."""
        if self._follower is not None:
            await asyncio.to_thread(self._follower.caught_up.wait, timeout)

    @property
    def runners(self) -> dict[str, IntakeProcess]:
        return dict(self._runners)

    # ------------------------------------------------------------------ admin operations

    async def all(self) -> list[Subscription]:
        await self.caught_up()
        return [self._subs[k] for k in sorted(self._subs)]

    async def get(self, sub_id: str) -> Subscription | None:
        await self.caught_up()
        return self._subs.get(sub_id)

    async def create(self, source: str, sink: str, options: dict[str, Any]) -> Subscription:
        """Validate, persist and start a subscription.

        Raises:
            SubscriptionError: Bad source/sink/options, unknown service, handler or topic
                (nothing is created).
        """
        cluster, topic = parse_source(source)
        if cluster != self._cluster_name:
            raise SubscriptionError(
                f"unknown Kafka cluster '{cluster}' in {source!r}: rt consumes from its own "
                f"Kafka, named '{self._cluster_name}' (setting kafka_cluster_name)"
            )
        service, handler = parse_sink(sink)
        opts = validate_options(options)
        self._sink_target(service, handler)
        sub = Subscription(new_subscription_id(), source, sink, opts)
        await asyncio.to_thread(self._check_topics, topic, sub.dlq)
        await self._write(sub.registry_key(), sub.encode())
        self._on_change(sub.id, sub)
        return sub

    async def delete(self, sub_id: str) -> bool:
        """Remove a subscription: its intake finishes the round in flight (offsets commit)."""
        await self.caught_up()
        sub = self._subs.get(sub_id)
        if sub is None:
            return False
        # Taken before the write: the registry follower may apply the removal while the
        # write is awaited, and would then stop the runner without this answer waiting.
        runner = self._runners.pop(sub_id, None)
        try:
            await self._write(sub.registry_key(), None)
        except BaseException:
            if runner is not None:
                self._runners[sub_id] = runner
            raise
        self._on_change(sub_id, None)
        if runner is not None:
            await asyncio.to_thread(runner.stop)  # answered once drained and committed
        return True

    # ------------------------------------------------------------------ validation

    def _sink_target(self, service: str, handler: str) -> SinkTarget:
        svc = self._registry.get(service)
        if svc is None:
            known = ", ".join(self._registry.names()) or "none"
            raise SubscriptionError(f"service '{service}' not found (known: {known})", 404)
        info = svc.handler(handler)
        if info is None:
            known = ", ".join(sorted(svc.handlers)) or "none"
            raise SubscriptionError(
                f"handler '{handler}' not found on service '{service}' (known: {known})", 404
            )
        if not svc.public or not info.public:
            raise SubscriptionError(
                f"handler '{service}/{handler}' is private (ingress_private): "
                "it cannot be invoked from the HTTP or Kafka ingress"
            )
        return SinkTarget(service, handler, svc.target_kind(handler))

    def _check_topics(self, topic: str, dlq: str | None) -> None:
        admin = AdminClient(self._kafka_config)
        md = admin.list_topics(topic, timeout=15)
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None or not tmd.partitions:
            raise SubscriptionError(f"topic '{topic}' does not exist in Kafka")
        if dlq is None:
            return
        if dlq == topic:
            raise SubscriptionError("the dlq topic must differ from the source topic")
        fut = admin.create_topics([NewTopic(dlq, num_partitions=len(tmd.partitions))])[dlq]
        try:
            fut.result(15)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise SubscriptionError(f"cannot create the dlq topic '{dlq}': {e}") from None

    async def _write(self, key: bytes, value: bytes | None) -> None:
        assert self._producer is not None, "start() first"
        await asyncio.to_thread(reg.write, self._producer, self._topics.registry, key, value, 30.0)

    # ------------------------------------------------------------------ applying changes

    def _on_change(self, sub_id: str, sub: Subscription | None) -> None:
        if sub is None:
            self._removed.add(sub_id)
            self._subs.pop(sub_id, None)
            runner = self._runners.pop(sub_id, None)
            if runner is not None:
                asyncio.get_running_loop().run_in_executor(None, runner.stop)
            return
        if sub_id in self._removed or sub_id in self._subs:
            return
        self._subs[sub_id] = sub
        try:
            target = self._sink_target(sub.service, sub.handler)
            decoder_for(  # validated here so a bad one is reported by the node
                sub.format,
                avro_schema=sub.options.get("avro.schema"),
                avro_schema_file=sub.options.get("avro.schema.file"),
                schema_registry_url=sub.options.get("schema.registry.url"),
            )
        except (SubscriptionError, ValueError) as e:
            log.error("subscription %s cannot run on this node: %s", sub_id, e)
            return
        runner = IntakeProcess(
            sub,
            target,
            self._kafka_config,
            self._topics,
            self._partitions,
            self._node_id,
        )
        self._runners[sub_id] = runner
        runner.start()
        log.info("subscription %s: %s -> %s started", sub_id, sub.source, sub.sink)
