"""``GET /metrics`` on a real node: what a Prometheus scrape sees after real traffic."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import RtNode

JSON = {"content-type": "application/json"}


def _scrape(node: RtNode) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(f"{node.admin_url}/metrics", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_invocations_attempts_and_partitions(core_node: RtNode) -> None:
    before = _scrape(core_node)
    for i in range(5):
        r = httpx.post(
            f"{core_node.url}/Greeter/greet", content=f'"m{i}"', headers=JSON, timeout=30
        )
        assert r.status_code == 200
    r = httpx.post(f"{core_node.url}/Greeter/fail", content='"x"', headers=JSON, timeout=30)
    assert r.status_code == 422
    r = httpx.post(f"{core_node.url}/Flaky/once", content='"f"', headers=JSON, timeout=60)
    assert r.status_code == 200
    # The failed attempt's warning names the invocation (runtime.logs).
    flaky_id = r.headers["x-restate-id"]
    assert f"WARNING rt.invoker [{flaky_id} Flaky/once] invocation" in core_node.log.read_text()
    assert httpx.post(f"{core_node.url}/Nope/x", content="1", timeout=30).status_code == 404
    after = _scrape(core_node)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    greet = {"service": "Greeter", "handler": "greet"}
    assert delta("rt_ingress_requests_total", **greet, status="200") == 5
    assert delta("rt_ingress_requests_total", service="Greeter", handler="fail", status="422") == 1
    # A path naming no registered handler is counted without a target (bounded labels).
    assert delta("rt_ingress_requests_total", service="", handler="", status="404") == 1
    assert delta("rt_ingress_request_duration_seconds_count", **greet) == 5
    assert delta("rt_invocations_invoked_total", **greet) == 5
    assert delta("rt_invocations_completed_total", **greet, outcome="success") == 5
    assert (
        delta(
            "rt_invocations_completed_total", service="Greeter", handler="fail", outcome="failure"
        )
        == 1
    )
    flaky = {"service": "Flaky", "handler": "once"}
    assert delta("rt_invocation_attempts_failed_total", **flaky) == 1
    assert delta("rt_invocation_attempt_duration_seconds_count", **flaky) == 2
    assert delta("rt_invocations_completed_total", **flaky, outcome="success") == 1
    assert delta("rt_journal_entries_appended_total") >= 7  # an Output per invocation at least
    assert delta("rt_partition_batch_records_count") >= 1
    assert delta("rt_partition_apply_duration_seconds_count") >= 1

    # The node's gauges: it owns all 4 partitions and leads them; nothing waits in them.
    assert _value(after, "rt_partitions_owned") == 4
    assert _value(after, "rt_partitions_leading") == 4
    for p in range(4):
        assert _value(after, "rt_partition_invocations_in_flight", partition=str(p)) == 0
        assert ("rt_partition_timers_pending", (("partition", str(p)),)) in after
    assert ("rt_kafka_producer_queue_messages", ()) in after
    # The lag comes from the consumer's statistics, reported every few seconds.
    deadline = time.monotonic() + 30
    while ("rt_partition_lag_records", (("partition", "0"),)) not in after:
        assert time.monotonic() < deadline, "no rt_partition_lag_records after 30 s"
        time.sleep(1)
        after = _scrape(core_node)
    for p in range(4):
        assert _value(after, "rt_partition_lag_records", partition=str(p)) >= 0
    assert _value(after, "process_resident_memory_bytes") > 0


def test_metrics_is_not_in_the_admin_openapi(core_node: RtNode) -> None:
    spec = httpx.get(f"{core_node.admin_url}/openapi", timeout=30).json()
    assert "/metrics" not in spec["paths"]
