"""The node's Prometheus metrics: every metric rt exports, defined in one place.

Components record into the metrics defined here (a counter increment or a
histogram observation, nothing that blocks); ``GET /metrics`` on the admin port
(``runtime.admin.prometheus``) renders :data:`REGISTRY` in the Prometheus text
format. Names follow Prometheus conventions: the ``rt_`` prefix, base units
(seconds, bytes), ``_total`` on counters. Labels have bounded cardinality:
service and handler names of registered services, HTTP status codes, partition
numbers, subscription ids and topic names — never an object key or an
invocation id.

What is counted where, and why there:

- Invocations are counted when the record that starts, completes or fails them
  is *applied* (the partition processor, after its Redis apply), so a record
  re-delivered after a take-over is never counted twice and a replaying owner
  counts what the previous owner had not applied.
- Attempts are timed by the invoker that runs them (in-process today).
- Gauges that describe the node now (owned partitions, consumer lag, the
  producer's queue, timers and invocations of the owned partitions) are read
  when Prometheus scrapes, by the sources the node registers with
  :func:`set_node_source`.

The registry is per process (as Prometheus client libraries are), not the
default global one: importing rt never adds metrics to an application's own.
This module holds definitions and the node source only; it may not import other
runtime modules (every component imports it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
"""Everything ``GET /metrics`` exports."""

for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    # The standard process_*/python_* series; they live on the default registry too,
    # but a collector may be registered on several registries.
    REGISTRY.register(_collector)

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""Content type of :func:`render`'s output."""

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""Seconds: from a Redis apply (sub-millisecond) to a slow handler attempt."""

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
"""Records per partition batch."""

# ---------------------------------------------------------------------- ingress

INGRESS_REQUESTS = Counter(
    "rt_ingress_requests",
    "HTTP requests answered by the ingress, by target and status code. service and "
    "handler are empty for requests that name no registered handler (awakeables, "
    "results, unknown paths).",
    ["service", "handler", "status"],
    registry=REGISTRY,
)
INGRESS_DURATION = Histogram(
    "rt_ingress_request_duration_seconds",
    "Time from receiving an ingress request to having its answer (a call includes the "
    "invocation's whole run).",
    ["service", "handler"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

# ------------------------------------------------------------------ invocations

INVOCATIONS_INVOKED = Counter(
    "rt_invocations_invoked",
    "Invocations whose Invoke record was applied (calls, sends, subscription records, "
    "delayed calls when they fire).",
    ["service", "handler"],
    registry=REGISTRY,
)
INVOCATIONS_COMPLETED = Counter(
    "rt_invocations_completed",
    "Invocations that completed, by outcome: success, or failure (a terminal error, "
    "a kill or a cancellation, retries exhausted).",
    ["service", "handler", "outcome"],
    registry=REGISTRY,
)
ATTEMPTS_FAILED = Counter(
    "rt_invocation_attempts_failed",
    "Attempts that failed with a retryable error (each is retried per the retry "
    "policy, or paused or failed when it is exhausted).",
    ["service", "handler"],
    registry=REGISTRY,
)
ATTEMPT_DURATION = Histogram(
    "rt_invocation_attempt_duration_seconds",
    "How long an attempt ran in this node, from its start to its end (completed, "
    "suspended, failed or aborted).",
    ["service", "handler"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
JOURNAL_ENTRIES = Counter(
    "rt_journal_entries_appended",
    "Journal entries applied (AppendJournal records' entries).",
    registry=REGISTRY,
)

# -------------------------------------------------------------------- partitions

PARTITION_BATCH_RECORDS = Histogram(
    "rt_partition_batch_records",
    "Records computed and applied together by a partition processor (one Redis apply).",
    buckets=BATCH_BUCKETS,
    registry=REGISTRY,
)
PARTITION_APPLY_DURATION = Histogram(
    "rt_partition_apply_duration_seconds",
    "Duration of a partition's atomic Redis apply (ops and applied offset in one call).",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
TIMER_FIRE_DELAY = Histogram(
    "rt_timer_fire_delay_seconds",
    "How late a durable timer fired: from its due time to the append of TimerFired.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

# --------------------------------------------------------- subscriptions, egress

SUBSCRIPTION_RECORDS = Counter(
    "rt_subscription_records",
    "Source records of a Kafka subscription that became invocations here.",
    ["subscription"],
    registry=REGISTRY,
)
FOREIGN_RECORDS = Counter(
    "rt_log_foreign_records",
    "Records on rt.log that are not rt's (another producer wrote them), skipped.",
    ["partition"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "rt_subscription_dead_letters",
    "Failed subscription invocations whose record was sent to the dead-letter topic.",
    registry=REGISTRY,
)
EGRESS_RECORDS = Counter(
    "rt_egress_records",
    "Records committed to user topics by the exactly-once egress (sdk.kafka.emit).",
    ["topic"],
    registry=REGISTRY,
)


# --------------------------------------------------------------- label children

M = TypeVar("M", Counter, Histogram)

_children: dict[tuple[str, tuple[str, ...]], Counter | Histogram] = {}


def labelled(metric: M, *values: str) -> M:
    """``metric.labels(*values)``, cached: ``prometheus_client`` resolves labels slowly
    (a lock and a tuple of validated strings per call) and the hot paths count every
    request, batch and attempt."""
    key = (metric._name, values)  # noqa: SLF001 - the metric's identity in the registry
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child  # type: ignore[return-value]


# ------------------------------------------------------------- the node, scraped


@dataclass(frozen=True, slots=True)
class PartitionGauges:
    """What one owned partition reports when scraped."""

    partition: int
    leading: bool
    lag: int | None
    """Records in rt.log past the last applied one (None: not known yet)."""
    halted: bool = False
    """A record rt must not skip could not be read: the partition applies nothing more."""


RedisCounts = Callable[[list[int]], Awaitable[dict[int, tuple[int, int]]]]
"""Reads (invocations in flight, timers pending) of the given partitions from Redis."""


@dataclass(slots=True)
class NodeSource:
    """Read at scrape time: the node's partitions and its producer's queue."""

    partitions: Callable[[], list[PartitionGauges]]
    producer_queue: Callable[[], int]
    redis_counts: RedisCounts | None = None
    extra: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Per partition, (in flight, timers) read by :func:`refresh` for the scrape."""


class _NodeCollector(Collector):
    def __init__(self) -> None:
        self.source: NodeSource | None = None

    def collect(self) -> Iterator[Metric]:
        src = self.source
        if src is None:
            return
        parts = src.partitions()
        owned = GaugeMetricFamily(
            "rt_partitions_owned", "rt.log partitions this node owns (assigned to it)."
        )
        owned.add_metric([], len(parts))
        leading = GaugeMetricFamily(
            "rt_partitions_leading",
            "Owned partitions whose take-over is applied (they run invocations).",
        )
        leading.add_metric([], sum(1 for p in parts if p.leading))
        lag = GaugeMetricFamily(
            "rt_partition_lag_records",
            "Offsets in rt.log after the last applied record of an owned partition "
            "(transaction markers included, so an idle partition may show a few).",
            labels=["partition"],
        )
        in_flight = GaugeMetricFamily(
            "rt_partition_invocations_in_flight",
            "Invocations not completed, per owned partition.",
            labels=["partition"],
        )
        timers = GaugeMetricFamily(
            "rt_partition_timers_pending",
            "Durable timers waiting (sleeps, delayed calls, retry backoffs, cron), per "
            "owned partition.",
            labels=["partition"],
        )
        halted = GaugeMetricFamily(
            "rt_partition_halted",
            "1 when an owned partition stopped at a record it cannot read (see the log).",
            labels=["partition"],
        )
        for p in parts:
            label = [str(p.partition)]
            halted.add_metric(label, 1 if p.halted else 0)
            if p.lag is not None:
                lag.add_metric(label, p.lag)
            extra = src.extra.get(p.partition)
            if extra is not None:
                in_flight.add_metric(label, extra[0])
                timers.add_metric(label, extra[1])
        queue = GaugeMetricFamily(
            "rt_kafka_producer_queue_messages",
            "Messages the node's rt.log producer holds that the broker has not acknowledged.",
        )
        queue.add_metric([], src.producer_queue())
        yield from (owned, leading, lag, in_flight, timers, queue, halted)


_NODE = _NodeCollector()
REGISTRY.register(_NODE)


def set_node_source(source: NodeSource | None) -> None:
    """Make ``source`` the node scraped (None when the node stops)."""
    _NODE.source = source


def node_source() -> NodeSource | None:
    """The node scraped, if one runs in this process."""
    return _NODE.source


async def refresh() -> None:
    """Read what the scrape reports from Redis (one round trip), before :func:`render`."""
    src = _NODE.source
    if src is None or src.redis_counts is None:
        return
    owned = [p.partition for p in src.partitions()]
    src.extra = await src.redis_counts(owned) if owned else {}


def render() -> bytes:
    """Every metric in the Prometheus text format (:data:`CONTENT_TYPE`)."""
    return generate_latest(REGISTRY)
