"""Subscriptions in the compacted ``<prefix>.registry`` topic: write, and follow on every node.

A subscription is the record ``subscription/<id>`` → its JSON; removal is a
tombstone. Every node reads the topic from the beginning and keeps following
it, so a subscription created through any node's admin API runs everywhere and
survives restarts. Other keys in the topic belong to other registries and are
ignored here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from runtime.subscriptions.model import REGISTRY_KEY_PREFIX, Subscription

log = logging.getLogger("rt.subscriptions.registry")

OnChange = Callable[[str, Subscription | None], None]

FAILURES_BEFORE_TRACEBACK = 5


class RegistryWriteError(RuntimeError):
    """A subscription change could not be made durable in the registry topic."""


def write(producer: Producer, topic: str, key: bytes, value: bytes | None, timeout: float) -> None:
    """Produce one registry record and wait until it is durable (acks=all)."""
    errors: list[KafkaError] = []

    def done(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    producer.produce(topic, key=key, value=value, on_delivery=done)
    if producer.flush(timeout) > 0:
        raise RegistryWriteError(f"writing to {topic} timed out after {timeout:g}s")
    if errors:
        raise RegistryWriteError(f"writing to {topic} failed: {errors[0]}")


class RegistryFollower:
    """A thread that reads the registry topic from the start and reports subscription changes."""

    def __init__(
        self,
        kafka_config: dict[str, Any],
        topic: str,
        loop: asyncio.AbstractEventLoop,
        on_change: OnChange,
    ) -> None:
        self._topic = topic
        self._loop = loop
        self._on_change = on_change
        self._consumer = Consumer(
            {
                **kafka_config,
                # Never joins a group or commits: assign() + read everything every time.
                "group.id": f"rt-registry-{uuid.uuid4().hex[:12]}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 100,
                "log_level": 2,
            }
        )
        self.caught_up = threading.Event()
        """Set once every record present at start-up has been reported."""
        self._backlog: dict[str, Subscription | None] | None = {}
        """Until caught up: the latest value per id, so a removed subscription never runs."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rt-registry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _high_watermarks(self) -> dict[int, int]:
        md = self._consumer.list_topics(self._topic, timeout=30)
        tmd = md.topics.get(self._topic)
        if tmd is None or tmd.error is not None:
            raise RegistryWriteError(f"registry topic {self._topic} is not available")
        out = {}
        for p in tmd.partitions:
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, p), timeout=30
            )
            out[p] = high
        return out

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._follow()
                return
            except (KafkaException, RegistryWriteError) as e:
                failures += 1
                # A topic created a moment ago may have no leader yet: one line, not a
                # traceback, until it looks like more than start-up.
                if failures < FAILURES_BEFORE_TRACEBACK:
                    log.warning("registry follower: %s; retrying", e)
                else:
                    log.exception("registry follower failed %d times, retrying", failures)
                self._stop.wait(min(0.25 * failures, 2.0))
        self._consumer.close()

    def _follow(self) -> None:
        highs = self._high_watermarks()
        self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in highs])
        pending = {p for p, h in highs.items() if h > 0}
        if not pending:
            self._report_backlog()
        while not self._stop.is_set():
            m = self._consumer.poll(0.2)
            if m is None:
                continue
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("registry consumer error: %s", err)
                continue
            self._handle(m.key(), m.value())
            p, off = m.partition(), m.offset()
            if p is not None and p in pending and off is not None and off + 1 >= highs[p]:
                pending.discard(p)
                if not pending:
                    self._report_backlog()
        self._consumer.close()

    def _report_backlog(self) -> None:
        """Report the start-up state once, collapsed: a create followed by its removal
        (uncompacted yet) must not start an intake that would consume for a moment."""
        backlog, self._backlog = self._backlog or {}, None
        for sub_id, sub in backlog.items():
            self._loop.call_soon_threadsafe(self._on_change, sub_id, sub)
        self._loop.call_soon_threadsafe(self.caught_up.set)

    def _handle(self, key: Any, value: Any) -> None:
        if not isinstance(key, bytes) or not key.startswith(REGISTRY_KEY_PREFIX.encode()):
            return
        sub_id = key[len(REGISTRY_KEY_PREFIX) :].decode()
        sub: Subscription | None = None
        if value is not None:
            try:
                sub = Subscription.decode(value)
            except (ValueError, KeyError):
                log.error("registry: undecodable subscription record %s, ignored", sub_id)
                return
        if self._backlog is not None:
            self._backlog[sub_id] = sub
            return
        self._loop.call_soon_threadsafe(self._on_change, sub_id, sub)
