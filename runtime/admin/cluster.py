"""``GET /cluster``: what this node knows about the cluster (an rt extension).

Restate shows the same in its UI from SQL over ``sys_*`` tables; rt answers one
JSON document built from the registry and the partitions' applied state in
Redis (``runtime.state.reads``), read in one pipelined round trip:

- the services and handlers the node serves;
- per partition: the fencing ``epoch`` (how many times an owner claimed it),
  the ``leader_epoch`` whose take-over was applied last, the ``applied_offset``
  in rt.log, the invocations ``in_flight``, ``timers`` waiting and dead
  letters not produced yet;
- the throughput now: rt.log records applied per second, per partition and in
  total, measured between this request and the oldest earlier request of the
  last :data:`RATE_WINDOW_S` seconds that this process answered (``null`` on
  the first request). Every step of an invocation is one or more records, so
  this is the processors' work rate, not invocations per second.

Which worker owns a partition, the nodes of the consumer group, Kafka lag and
latency are not reported: Redis does not hold them (the Prometheus metrics will).

Reads Redis only through its backend (``runtime.admin.backend``); owns no state but its
rate samples.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from fastapi import APIRouter
from pydantic import BaseModel

from runtime.registry import Registry
from runtime.version import __version__

if TYPE_CHECKING:
    # Type-only: the read model pulls in the Redis and Kafka clients.
    from runtime.state.reads import PartitionInfo

RATE_WINDOW_S = 30.0
"""Throughput is measured over at most this many seconds of earlier requests."""

RATE_MIN_S = 0.5
"""Samples closer than this give no rate (too noisy)."""


class ClusterBackend(Protocol):
    async def partition_infos(self) -> list[PartitionInfo]:
        """Every partition's applied state, in partition order."""
        ...


class PartitionView(BaseModel):
    """One rt.log partition as ``GET /cluster`` shows it."""

    partition: int
    epoch: int
    """Fencing epoch: claims of the partition so far (0: never owned)."""
    leader_epoch: int
    """Epoch of the owner whose take-over was applied last (0: none yet)."""
    applied_offset: int | None
    """Offset of the last rt.log record applied; ``null`` before the first."""
    in_flight: int
    """Invocations not completed."""
    timers: int
    """Durable timers waiting (sleeps, delayed calls, retry backoffs, cron ticks)."""
    pending_dead_letters: int
    """Dead letters stored and not yet produced to their topic."""
    applied_per_second: float | None
    """rt.log records applied per second lately; ``null`` until measurable."""


class ClusterOverview(BaseModel):
    """Body of ``GET /cluster``."""

    version: str
    """The rt version of the node answering."""
    sampled_at: str
    """When the partitions were read (RFC 3339, UTC)."""
    services: int
    handlers: int
    in_flight: int
    """Invocations not completed, over every partition."""
    timers: int
    pending_dead_letters: int
    applied_per_second: float | None
    """rt.log records applied per second over every partition; ``null`` until measurable."""
    rate_window_seconds: float | None
    """The span the rates were measured over."""
    partitions: list[PartitionView]


class RateSampler:
    """Applied offsets of earlier requests, to turn two reads into a rate.

    Args:
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, tuple[int, ...]]] = deque()

    def rates(self, applied: Sequence[int]) -> tuple[float, list[float | None]] | None:
        """Record ``applied`` (per partition) now; the rates since the oldest kept sample.

        Returns:
            ``(window_seconds, per-partition records/s)`` or None when no earlier sample
            is old enough. A partition whose offset went back (its state was reset)
            or that changed count has no rate.
        """
        now = self._clock()
        while self._samples and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        oldest = self._samples[0] if self._samples else None
        self._samples.append((now, tuple(applied)))
        if oldest is None or now - oldest[0] < RATE_MIN_S or len(oldest[1]) != len(applied):
            return None
        span = now - oldest[0]
        per: list[float | None] = [
            (cur - old) / span if cur >= old else None
            for cur, old in zip(applied, oldest[1], strict=True)
        ]
        return span, per


def cluster_router(registry: Registry, backend: ClusterBackend) -> APIRouter:
    """The ``GET /cluster`` route.

    Args:
        registry: The services the node serves.
        backend: Reads the partitions' applied state.

    Returns:
        A router to include in the admin app.
    """
    router = APIRouter()
    sampler = RateSampler()

    @router.get("/cluster")
    async def cluster() -> ClusterOverview:
        """Services, partitions (epochs, positions, sizes) and throughput now (rt extension)."""
        infos = await backend.partition_infos()  # a failure answers 500 with its message
        sampled_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        measured = sampler.rates([p.applied for p in infos])
        per: list[float | None] = measured[1] if measured else [None] * len(infos)
        known = [r for r in per if r is not None]
        services = registry.all()
        return ClusterOverview(
            version=__version__,
            sampled_at=sampled_at,
            services=len(services),
            handlers=sum(len(s.handlers) for s in services),
            in_flight=sum(p.active for p in infos),
            timers=sum(p.timers for p in infos),
            pending_dead_letters=sum(p.dead_letters for p in infos),
            applied_per_second=_round(sum(known)) if measured and known else None,
            rate_window_seconds=_round(measured[0]) if measured else None,
            partitions=[
                PartitionView(
                    partition=p.partition,
                    epoch=p.epoch,
                    leader_epoch=p.leader_epoch,
                    applied_offset=p.applied if p.applied >= 0 else None,
                    in_flight=p.active,
                    timers=p.timers,
                    pending_dead_letters=p.dead_letters,
                    applied_per_second=_round(rate) if rate is not None else None,
                )
                for p, rate in zip(infos, per, strict=True)
            ],
        )

    return router


def _round(x: float) -> float:
    return round(x, 2)
