"""The compacted ``<prefix>.registry`` topic: write a record, follow the topic on every node.

The registry topic holds what every node must know the same way and keep across
restarts: deployments (``deployment/<id>``) and subscriptions
(``subscription/<id>``), one record per key, a removal being a tombstone. Every node
runs one :class:`RegistryFollower`: a thread that reads the topic from the beginning
(``assign()``, no consumer group, never committing) and reports each change, in log
order, to the watcher of its key prefix on the node's event loop. Until it has read
what the topic held at start-up it collapses the records per key, so a value that was
removed before the node started is never reported (a create followed by its tombstone,
not compacted yet, must not start anything for a moment).

Owns reading and writing the topic; the meaning of each key belongs to its watcher.
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

log = logging.getLogger("rt.registry")

OnRecord = Callable[[str, bytes | None], None]
"""A watcher: (key without its prefix, value or None for a removal)."""

FAILURES_BEFORE_TRACEBACK = 5


class RegistryWriteError(RuntimeError):
    """A registry change could not be made durable in the registry topic."""


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
    """A thread that reads the registry topic from the start and reports every change.

    Args:
        kafka_config: librdkafka settings (bootstrap servers, security).
        topic: The registry topic.
        loop: Where watchers are called (None: the loop running :meth:`start`).
    """

    def __init__(
        self,
        kafka_config: dict[str, Any],
        topic: str,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._topic = topic
        self._loop = loop
        self._watchers: dict[str, OnRecord] = {}
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
        self._backlog: dict[bytes, bytes | None] | None = {}
        """Until caught up: the latest value per key, in the order keys first appeared."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rt-registry", daemon=True)

    def watch(self, prefix: str, on_record: OnRecord) -> None:
        """Report records whose key starts with ``prefix`` (call before :meth:`start`)."""
        self._watchers[prefix] = on_record

    def start(self) -> None:
        """Start following (from the event loop, when none was given)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)

    async def wait_caught_up(self, timeout: float) -> bool:
        """Wait until the start-up state was reported (False when ``timeout`` passed)."""
        if not await asyncio.to_thread(self.caught_up.wait, timeout):
            return False
        await asyncio.sleep(0)  # the reports run on the loop before caught_up is set
        return True

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
        backlog, self._backlog = self._backlog or {}, None
        for key, value in backlog.items():
            self._report(key, value)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.caught_up.set)

    def _handle(self, key: Any, value: Any) -> None:
        if not isinstance(key, bytes):
            return
        if self._backlog is not None:
            self._backlog[key] = value if isinstance(value, bytes) else None
            return
        self._report(key, value if isinstance(value, bytes) else None)

    def _report(self, key: bytes, value: bytes | None) -> None:
        assert self._loop is not None
        try:
            text = key.decode()
        except UnicodeDecodeError:
            return
        for prefix, on_record in self._watchers.items():
            if text.startswith(prefix):
                self._loop.call_soon_threadsafe(on_record, text[len(prefix) :], value)
                return
