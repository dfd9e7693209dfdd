"""runtime.metrics: the exported names, the cached label children, the node's gauges."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from runtime import metrics


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


EXPORTED = {
    "rt_ingress_requests": "counter",
    "rt_ingress_request_duration_seconds": "histogram",
    "rt_invocations_invoked": "counter",
    "rt_invocations_completed": "counter",
    "rt_invocation_attempts_failed": "counter",
    "rt_invocation_attempt_duration_seconds": "histogram",
    "rt_journal_entries_appended": "counter",
    "rt_partition_batch_records": "histogram",
    "rt_partition_apply_duration_seconds": "histogram",
    "rt_timer_fire_delay_seconds": "histogram",
    "rt_subscription_records": "counter",
    "rt_subscription_dead_letters": "counter",
    "rt_egress_records": "counter",
    "rt_log_foreign_records": "counter",
}
"""The families docs/metrics.md documents (counters are exported with ``_total``)."""


def test_the_documented_families_are_exported_with_base_units() -> None:
    families = {f.name: f.type for f in metrics.REGISTRY.collect() if f.name.startswith("rt_")}
    assert families == EXPORTED
    for name, kind in families.items():
        if kind == "histogram":  # durations in seconds, sizes in records
            assert name.endswith(("_seconds", "_records"))


def test_labelled_children_are_cached_and_count() -> None:
    child = metrics.labelled(metrics.EGRESS_RECORDS, "unit-topic")
    assert metrics.labelled(metrics.EGRESS_RECORDS, "unit-topic") is child
    before = _samples().get(("rt_egress_records_total", (("topic", "unit-topic"),)), 0.0)
    child.inc(3)
    assert _samples()[("rt_egress_records_total", (("topic", "unit-topic"),))] == before + 3


def test_node_gauges_are_read_at_scrape_time() -> None:
    parts = [
        metrics.PartitionGauges(0, leading=True, lag=7),
        metrics.PartitionGauges(3, leading=False, lag=None, halted=True),
    ]
    asked: list[list[int]] = []

    async def redis_counts(partitions: list[int]) -> dict[int, tuple[int, int]]:
        asked.append(partitions)
        return {0: (5, 2), 3: (0, 1)}

    metrics.set_node_source(metrics.NodeSource(lambda: parts, lambda: 11, redis_counts))
    try:
        asyncio.run(metrics.refresh())
        s = _samples()
    finally:
        metrics.set_node_source(None)
    assert asked == [[0, 3]]
    assert s[("rt_partitions_owned", ())] == 2
    assert s[("rt_partitions_leading", ())] == 1
    assert s[("rt_partition_lag_records", (("partition", "0"),))] == 7
    assert ("rt_partition_lag_records", (("partition", "3"),)) not in s  # not known yet
    assert s[("rt_partition_invocations_in_flight", (("partition", "0"),))] == 5
    assert s[("rt_partition_timers_pending", (("partition", "3"),))] == 1
    assert s[("rt_kafka_producer_queue_messages", ())] == 11
    assert s[("rt_partition_halted", (("partition", "0"),))] == 0
    assert s[("rt_partition_halted", (("partition", "3"),))] == 1
    assert ("rt_partitions_owned", ()) not in _samples()  # no node: no node gauges
