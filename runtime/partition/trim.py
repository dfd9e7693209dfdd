"""Log trimming: delete rt.log records that Redis applied long enough ago (opt-in).

Why: rt.log is kept forever by default (any partition can be rebuilt from it if
Redis is lost), so the broker's disk grows with every invocation. With
``log_trim_after_s`` set, each worker deletes the records of the partitions it
owns up to the offset that Redis had applied at least that long ago
(Kafka DeleteRecords).

Why the delay: Redis persists applies asynchronously (AOF ``everysec``), so the
offset it reports may be ahead of what survives a Redis crash by a second or
two. A record is deleted only once it was applied ``log_trim_after_s`` ago, long
past the fsync, so a Redis that restarts from its AOF always resumes inside the
log. A Redis restored from a backup older than that finds its position deleted;
the worker then stops with :class:`~runtime.partition.membership.LogOutOfRangeError`
instead of skipping records (ADR 0014).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

log = logging.getLogger("rt.trim")


class TrimPlan:
    """Which offsets may be deleted now: pure bookkeeping, no I/O.

    ``sample`` records each owned partition's next offset to apply (the one after
    the last applied) with the time it was seen; ``due`` returns, per partition,
    the newest offset seen at least ``after_s`` ago that is beyond what was
    already deleted (the trimmer caps it at what Redis holds when it deletes). A
    partition this worker stops owning is forgotten, so a new owner waits the full
    delay again.
    """

    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self._samples: dict[int, deque[tuple[float, int]]] = {}
        self._trimmed: dict[int, int] = {}

    def sample(self, now: float, next_offsets: Mapping[int, int]) -> None:
        for p in [p for p in self._samples if p not in next_offsets]:
            del self._samples[p]
            self._trimmed.pop(p, None)
        for p, offset in next_offsets.items():
            seen = self._samples.setdefault(p, deque())
            if not seen or seen[-1][1] < offset:
                seen.append((now, offset))

    def due(self, now: float) -> dict[int, int]:
        out: dict[int, int] = {}
        horizon = now - self.after_s
        for p, seen in self._samples.items():
            best = None
            while seen and seen[0][0] <= horizon:
                best = seen.popleft()[1]
            if best is not None and best > self._trimmed.get(p, 0):
                out[p] = best
        return out

    def trimmed(self, done: Mapping[int, int]) -> None:
        for p, offset in done.items():
            if p in self._samples:  # still owned
                self._trimmed[p] = max(offset, self._trimmed.get(p, 0))


class LogTrimmer:
    """One worker's trimming loop over the partitions it owns."""

    def __init__(
        self,
        kafka_config: dict[str, Any],
        topic: str,
        after_s: float,
        next_offsets: Callable[[], Mapping[int, int]],
        in_redis: Callable[[Mapping[int, int]], Awaitable[Mapping[int, int]]],
    ) -> None:
        self._admin = AdminClient(dict(kafka_config))
        self._topic = topic
        self._plan = TrimPlan(after_s)
        self._next_offsets = next_offsets
        self._in_redis = in_redis
        self.interval_s = min(60.0, max(0.5, after_s / 5))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rt-log-trim")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            now = time.monotonic()
            self._plan.sample(now, self._next_offsets())
            due = self._plan.due(now)
            if not due:
                continue
            try:
                # Never past what Redis holds now: it may have lost its last second of
                # applies (AOF everysec) after the offsets were sampled.
                held = await self._in_redis(due)
                due = {p: min(o, held.get(p, 0)) for p, o in due.items()}
                due = {p: o for p, o in due.items() if o > 0}
                if not due:
                    continue
                done = await asyncio.to_thread(self._delete, due)
            except Exception as e:  # noqa: BLE001 - the next round tries again
                log.warning("trimming %s failed (will retry): %s", self._topic, e)
                continue
            self._plan.trimmed(done)

    def _delete(self, due: Mapping[int, int]) -> dict[int, int]:
        """DeleteRecords for ``due``; returns the partitions done (others retried later)."""
        futures = self._admin.delete_records(
            [TopicPartition(self._topic, p, offset) for p, offset in sorted(due.items())],
            request_timeout=30,
            operation_timeout=30,
        )
        done: dict[int, int] = {}
        for tp, fut in futures.items():
            try:
                fut.result()
            except Exception as e:  # noqa: BLE001 - one partition failing keeps the others
                log.warning("trimming %s[%d] failed: %s", self._topic, tp.partition, e)
                continue
            done[tp.partition] = due[tp.partition]
        log.debug("trimmed %s up to %s", self._topic, done)
        return done
