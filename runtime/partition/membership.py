"""Consumer-group membership for ``rt.log``: which partitions this worker owns.

A dedicated thread polls the consumer (librdkafka is blocking) and hands
batches to the asyncio loop. Rebalance callbacks run on that thread and block
on the loop for a bounded time (well under ``max.poll.interval.ms``):

- on assign: the processor of each new partition claims the Redis epoch, reads
  its applied offset and the consumer is positioned right after it (Redis, not
  Kafka's committed offsets, is the source of the position);
- on revoke/lost: the processors of those partitions are stopped before the
  callback returns, so two workers never drive a partition through us (a
  zombie is fenced anyway by the log epoch and the Redis epoch).

If that position is outside the log (records trimmed that Redis never applied, or a
log that is shorter than Redis says), the consumer must not jump to where the log
starts: it would skip records and the state would silently diverge. So the consumer
runs with ``auto.offset.reset = error`` and the membership fails with
:class:`LogOutOfRangeError` (the node stops and says why).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

log = logging.getLogger("rt.membership")

STATS_INTERVAL_MS = 5_000
"""How often librdkafka reports the consumer's statistics (the lag ``/metrics`` shows)."""

REBALANCE_STEP_TIMEOUT_S = 60.0


class LogOutOfRangeError(RuntimeError):
    """The offset Redis says comes next is not in rt.log (see the module docstring)."""

    def __init__(self, topic: str, partition: int, detail: str) -> None:
        super().__init__(
            f"partition {partition} of {topic}: the offset after the last one applied in Redis "
            f"is not in the log ({detail}). Records were deleted that Redis never applied "
            "(log trimming with a Redis restored from an older backup, or a lost Redis), or the "
            "log is not the one this Redis was built from. Refusing to go on: that would skip "
            "records. Restore Redis from a backup newer than the log's start "
            "(docs/operations.md)."
        )
        self.partition = partition


OnAssign = Callable[[int], Coroutine[Any, Any, int]]
"""Take a partition; return the next offset to read (applied + 1, or -1 for the beginning)."""
OnRevoke = Callable[[int], Coroutine[Any, Any, None]]
OnBatch = Callable[[int, list[Message]], None]


class Membership:
    def __init__(
        self,
        kafka_config: dict[str, Any],
        topic: str,
        group_id: str,
        loop: asyncio.AbstractEventLoop,
        on_assign: OnAssign,
        on_revoke: OnRevoke,
        on_batch: OnBatch,
        *,
        max_poll_interval_ms: int = 300_000,
        session_timeout_ms: int = 10_000,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._topic = topic
        self._loop = loop
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._on_batch = on_batch
        self._on_fatal = on_fatal
        self._consumer = Consumer(
            {
                **kafka_config,
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                # Never jump over records: a position outside the log is an error.
                "auto.offset.reset": "error",
                "fetch.wait.max.ms": 100,  # the broker answers as soon as a record arrives
                "fetch.error.backoff.ms": 50,
                "socket.nagle.disable": True,
                "session.timeout.ms": session_timeout_ms,
                "heartbeat.interval.ms": max(500, session_timeout_ms // 5),
                "max.poll.interval.ms": max_poll_interval_ms,
                "partition.assignment.strategy": "range",
                "log_level": 2,  # connection errors during broker restarts are expected noise
                "statistics.interval.ms": STATS_INTERVAL_MS,
                "stats_cb": self._stats,
            }
        )
        self._stable_offsets: dict[int, int] = {}
        self._stop = threading.Event()
        self._owned: set[int] = set()
        self._resume_at: dict[int, int] = {}
        self._paused: set[int] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rt-membership", daemon=True)
        self.fatal: BaseException | None = None

    @property
    def owned(self) -> set[int]:
        return set(self._owned)

    def high_watermarks(self) -> dict[int, int]:
        """Per partition, the offset after the last record consumers may read (the last
        stable offset: read_committed), as librdkafka's statistics last reported it
        (every :data:`STATS_INTERVAL_MS`). Read from any thread; never calls the consumer,
        which blocks while another thread polls it."""
        return dict(self._stable_offsets)

    def _stats(self, raw: str) -> None:
        """librdkafka's statistics (served by ``poll()`` on the membership thread)."""
        try:
            parts = json.loads(raw)["topics"][self._topic]["partitions"]
            self._stable_offsets = {
                int(p): int(v["ls_offset"])
                for p, v in parts.items()
                if int(p) >= 0 and int(v.get("ls_offset", -1)) >= 0
            }
        except (KeyError, TypeError, ValueError):
            pass  # not fetching the topic yet: nothing to report

    def start(self) -> None:
        self._consumer.subscribe(
            [self._topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(REBALANCE_STEP_TIMEOUT_S)

    def _out_of_range(self, consumer: Consumer, partition: int) -> LogOutOfRangeError:
        want = self._resume_at.get(partition, -1)
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(self._topic, partition), timeout=5, cached=False
            )
            held = f"offsets {low} to {high - 1}" if high > low else f"nothing before {high}"
            detail = f"resuming at offset {want}, the log holds {held}"
        except Exception:  # noqa: BLE001 - the error stands without the figures
            detail = f"resuming at offset {want}"
        return LogOutOfRangeError(self._topic, partition, detail)

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        positioned = []
        for tp in partitions:
            nxt = self._call(self._on_assign(tp.partition))
            self._resume_at[tp.partition] = nxt
            positioned.append(
                TopicPartition(tp.topic, tp.partition, nxt if nxt >= 0 else OFFSET_BEGINNING)
            )
            self._owned.add(tp.partition)
        consumer.assign(positioned)
        log.info("assigned partitions %s", sorted(tp.partition for tp in partitions))

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._owned.discard(tp.partition)
            try:
                self._call(self._on_revoke(tp.partition))
            except Exception:
                log.exception("stopping processor of partition %d failed", tp.partition)
        consumer.unassign()
        log.info("revoked partitions %s", sorted(tp.partition for tp in partitions))

    def pause(self, partition: int) -> None:
        """Back-pressure: stop fetching a partition whose processor is behind."""
        with self._lock:
            self._paused.add(partition)

    def resume(self, partition: int) -> None:
        with self._lock:
            self._paused.discard(partition)

    def _deliver(self, ready: list[tuple[int, list[Message]]]) -> None:
        """On the loop: hand each partition its batch; one failing never drops the others."""
        for partition, batch in ready:
            try:
                self._on_batch(partition, batch)
            except Exception:
                log.exception("partition %d: handing over a batch failed", partition)

    def _run(self) -> None:
        consumer = self._consumer
        paused_now: set[int] = set()
        try:
            while not self._stop.is_set():
                with self._lock:
                    want = self._paused & self._owned
                if want != paused_now:
                    to_pause = want - paused_now
                    to_resume = paused_now - want
                    if to_pause:
                        consumer.pause([TopicPartition(self._topic, p) for p in to_pause])
                    if to_resume:
                        consumer.resume([TopicPartition(self._topic, p) for p in to_resume])
                    paused_now = want
                # consume() waits for its whole timeout unless the batch fills up: block
                # in poll() for the first record, then drain what is already fetched.
                first = consumer.poll(0.05)
                if first is None:
                    continue
                msgs = [first, *consumer.consume(num_messages=1999, timeout=0)]
                by_partition: dict[int, list[Message]] = {}
                for m in msgs:
                    err = m.error()
                    if err is not None:
                        if err.code() == KafkaError._AUTO_OFFSET_RESET:
                            raise self._out_of_range(consumer, m.partition() or 0)
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("consumer error: %s", err)
                        continue
                    by_partition.setdefault(m.partition(), []).append(m)  # type: ignore[arg-type]
                ready = [(p, b) for p, b in by_partition.items() if p in self._owned]
                if ready:  # one loop wake-up (a self-pipe write) for all partitions
                    self._loop.call_soon_threadsafe(self._deliver, ready)
        except BaseException as e:  # noqa: BLE001 - surfaced to the worker
            self.fatal = e
            if isinstance(e, LogOutOfRangeError):
                log.error("%s", e)
            else:
                log.exception("membership thread died")
            if self._on_fatal is not None and not self._stop.is_set():
                self._loop.call_soon_threadsafe(self._on_fatal, e)
        finally:
            try:
                consumer.close()
            except Exception:  # noqa: BLE001
                log.exception("closing consumer failed")
