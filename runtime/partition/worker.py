"""A worker: this process's partition processors, fed by one consumer-group membership."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping

from confluent_kafka import Message

from runtime.metrics import PartitionGauges
from runtime.partition.membership import Membership
from runtime.partition.processor import PartitionProcessor, ProcessorDeps
from runtime.partition.trim import LogTrimmer

log = logging.getLogger("rt.worker")

BACKLOG_PAUSE = 20
"""Pause fetching a partition when this many consumed batches wait for its processor."""


class Worker:
    def __init__(
        self,
        deps: ProcessorDeps,
        kafka_config: dict[str, object],
        log_trim_after_s: float | None = None,
    ) -> None:
        self.deps = deps
        self._trimmer = (
            LogTrimmer(
                kafka_config,
                deps.producer.topics.log,
                log_trim_after_s,
                self._next_offsets,
                self._next_offsets_in_redis,
            )
            if log_trim_after_s is not None
            else None
        )
        self.worker_id = deps.worker_id or uuid.uuid4().hex[:12]
        self._kafka_config = kafka_config
        self.processors: dict[int, PartitionProcessor] = {}
        self._membership: Membership | None = None
        self.failure: asyncio.Future[BaseException] | None = None
        """Set when this worker can no longer process (its membership thread died)."""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.failure = loop.create_future()
        self._membership = Membership(
            dict(self._kafka_config),
            self.deps.producer.topics.log,
            f"{self.deps.prefix}.processors",
            loop,
            on_assign=self._assign,
            on_revoke=self._revoke,
            on_batch=self._batch,
            on_fatal=self._failed,
        )
        self._membership.start()
        if self._trimmer is not None:
            self._trimmer.start()

    def _next_offsets(self) -> dict[int, int]:
        """Per owned partition, the offset after the last applied (what may be trimmed)."""
        return {p: proc.applied_next for p, proc in self.processors.items()}

    async def _next_offsets_in_redis(self, partitions: Mapping[int, int]) -> dict[int, int]:
        """The same, read from Redis now (what a new owner would resume from)."""
        out = {}
        for p in partitions:
            _, applied = await self.deps.store.position(p)
            out[p] = applied + 1
        return out

    def gauges(self) -> list[PartitionGauges]:
        """What each owned partition reports to ``/metrics`` now."""
        highs = self._membership.high_watermarks() if self._membership is not None else {}
        out = []
        for p, proc in sorted(self.processors.items()):
            high = highs.get(p)
            lag = max(0, high - proc.applied_next) if high is not None else None
            out.append(PartitionGauges(p, proc.leading, lag, proc.halted is not None))
        return out

    def _failed(self, e: BaseException) -> None:
        if self.failure is not None and not self.failure.done():
            self.failure.set_result(e)

    async def wait_owned(self, count: int, timeout: float = 60.0) -> None:
        """Wait until this worker leads ``count`` partitions (tests and start-up)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            leading = sum(1 for p in self.processors.values() if p.leading)
            if leading >= count:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"worker leads {leading} of {count} partitions after {timeout}s")
            await asyncio.sleep(0.05)

    async def _assign(self, partition: int) -> int:
        proc = PartitionProcessor(partition, self.deps)
        proc.on_drained = self._drained
        self.processors[partition] = proc
        return await proc.take_over()

    async def _revoke(self, partition: int) -> None:
        proc = self.processors.pop(partition, None)
        if proc is not None:
            await proc.stop()

    def _batch(self, partition: int, batch: list[Message]) -> None:
        proc = self.processors.get(partition)
        if proc is None:
            return
        proc.offer(batch)
        if self._membership is not None and proc.backlog > BACKLOG_PAUSE:
            self._membership.pause(partition)

    def _drained(self, partition: int) -> None:
        if self._membership is not None:
            self._membership.resume(partition)

    async def stop(self) -> None:
        if self._trimmer is not None:
            await self._trimmer.stop()
        if self._membership is not None:
            await asyncio.to_thread(self._membership.stop)
            self._membership = None
        for p in list(self.processors):
            await self._revoke(p)
