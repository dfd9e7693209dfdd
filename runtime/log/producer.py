"""Appending to ``rt.log``: an idempotent producer with awaitable delivery.

A record counts as durable when its delivery report arrives (acks=all,
idempotence on). librdkafka batches records per partition by itself
(``linger.ms``); callers just await the future. Partitions are chosen by rt
(``sdk._ids`` routing hash), never by the client's default partitioner.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from runtime.log import records
from runtime.log.topics import TopicNames
from sdk._ids import parse_invocation_id, partition_for_hash, routing_hash


class LogWriteError(RuntimeError):
    """A record could not be made durable."""


def partition_of_invocation(invocation_id: str, partitions: int) -> int:
    rhash, _ = parse_invocation_id(invocation_id)
    return partition_for_hash(rhash, partitions)


def partition_of_key(routing_key: bytes, partitions: int) -> int:
    return partition_for_hash(routing_hash(routing_key), partitions)


class LogProducer:
    """Thread-safe; delivery callbacks are served by one background poll thread."""

    def __init__(
        self,
        kafka_config: dict[str, Any],
        topics: TopicNames,
        partitions: int,
        *,
        linger_ms: float = 0.0,
        client_id: str = "rt",
    ) -> None:
        self.topics = topics
        self.partitions = partitions
        self._producer = Producer(
            {
                **kafka_config,
                "client.id": client_id,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": linger_ms,
                "compression.type": "none",
                "queue.buffering.max.messages": 1_000_000,
                "log_level": 2,  # connection errors during broker restarts are expected noise
            }
        )
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="rt-log-producer", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    def append(self, partition: int, key: bytes, record: records.Record) -> asyncio.Future[int]:
        """Produce ``record``; the future resolves to its offset once durable."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()

        def done(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                exc = LogWriteError(f"append to {self.topics.log}[{partition}] failed: {err}")
                loop.call_soon_threadsafe(_set_exc, fut, exc)
            else:
                loop.call_soon_threadsafe(_set_result, fut, msg.offset() or 0)

        value = records.encode(record)
        self._produce(partition, key, value, done)
        return fut

    def _produce(self, partition: int, key: bytes, value: bytes, done: Any) -> None:
        while True:
            try:
                self._producer.produce(
                    self.topics.log, value=value, key=key, partition=partition, on_delivery=done
                )
                return
            except BufferError:
                self._producer.poll(0.01)

    def flush(self, timeout: float = 30.0) -> int:
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        self._closed.set()
        self._thread.join(timeout=5)


def _set_result(fut: asyncio.Future[int], value: int) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exc(fut: asyncio.Future[int], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
