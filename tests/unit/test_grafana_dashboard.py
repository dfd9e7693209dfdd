"""docs/grafana/rt-dashboard.json queries only metrics rt exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from runtime import metrics

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "rt-dashboard.json"

NODE_GAUGES = {
    "rt_partitions_owned",
    "rt_partitions_leading",
    "rt_partition_lag_records",
    "rt_partition_invocations_in_flight",
    "rt_partition_timers_pending",
    "rt_kafka_producer_queue_messages",
}


def _series_names() -> set[str]:
    """Every series name /metrics can export."""
    names = set(NODE_GAUGES)
    for family in metrics.REGISTRY.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "sum", "count"))
        else:
            names.add(family.name)
    return names


def test_every_query_names_an_exported_series() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _series_names()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    assert exprs
    for expr in exprs:
        for name in re.findall(r"\b((?:rt|process)_[a-z_]+)", expr):
            assert name in exported, f"{name} (in {expr!r}) is not exported"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
