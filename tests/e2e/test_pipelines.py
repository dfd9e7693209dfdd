"""examples/order_totals.py: windows close on wall-clock time, results egress exactly once."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import httpx
from confluent_kafka import Consumer, Producer

from tests.conftest import Infra
from tests.e2e.conftest import RtNode
from tests.e2e.egress_util import committed_reader, create_topic, read_json
from tests.e2e.test_egress import _post_all

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WINDOW_S = 3
TTL_S = 6


def _read_until_orders(reader: Consumer, orders: int, timeout: float) -> list[dict[str, object]]:
    """Window results until they account for ``orders`` orders (windows close on their own
    timers, later under load), then a settle period that would catch a duplicate."""
    got: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got += read_json(reader, 1, timeout=5, settle=1)
        if sum(int(str(g["orders"])) for g in got) >= orders:
            break
    got += read_json(reader, 0, timeout=1, settle=WINDOW_S + 2)
    return got


def test_order_totals_windows_close_without_further_input_and_ttl_clears_state(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    topic = f"{prefix}.totals"
    create_topic(infra, topic)
    node = RtNode(
        infra, prefix, EXAMPLES / "order_totals.py", tmp_path,
        ORDER_TOTALS_TOPIC=topic, WINDOW_SECONDS=str(WINDOW_S), LIFETIME_TTL_SECONDS=str(TTL_S),
    )  # fmt: skip
    nodes.append(node.start())
    users = [f"u{i}" for i in range(8)]
    orders = [(u, n) for u in users for n in range(1, 11)]  # amounts 1.5 .. 10.5 per user
    reader = committed_reader(infra, topic)
    try:
        sent_at = time.time()
        results = []
        for u in users:  # the last user's TTL counts from when its orders start (load-proof)
            last_user_sent_at = time.time()
            results += _post_all(
                node.url,
                f"/OrderTotals/{u}/add",
                [f'{{"id": "{u}-{n}", "amount": {n + 0.5}}}' for n in range(1, 11)],
            )
        assert [r.status_code for r in results] == [200] * len(orders), results[0].text
        last_order_at = time.time()
        with httpx.Client(timeout=30) as c:
            life = c.get(f"{node.url}/OrderTotals/{users[-1]}/lifetime").json()
        assert life == {"orders": 10, "total": 60.0}
        # No further input from here on: every window must still close and come out.
        got = _read_until_orders(reader, len(orders), timeout=60)
    finally:
        reader.close()
    first_result_delay = time.time() - sent_at
    assert got, "no window closed"
    per_window = collections.Counter((r["user"], r["window_start_ms"]) for r in got)
    assert set(per_window.values()) == {1}, f"a window result came twice: {per_window}"
    for r in got:
        assert r["window_end_ms"] - r["window_start_ms"] == WINDOW_S * 1000
        assert r["window_end_ms"] <= last_order_at * 1000 + WINDOW_S * 1000
    by_user: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for r in got:
        by_user[r["user"]][0] += r["orders"]
        by_user[r["user"]][1] += r["total"]
    assert {u: (int(v[0]), round(v[1], 2)) for u, v in by_user.items()} == {
        u: (10, 60.0) for u in users
    }
    assert first_result_delay < 60

    # TTL: the lifetime total goes after TTL_S without orders (and not before).
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=30) as c:
        while True:
            r = c.get(f"{node.url}/OrderTotals/{users[-1]}/lifetime")
            assert r.status_code == 200, r.text
            if r.content in (b"", b"null"):  # a None result has an empty body
                break
            assert time.monotonic() < deadline, "lifetime state never expired"
            time.sleep(0.5)
    assert time.time() - last_user_sent_at >= TTL_S


def test_order_totals_fed_by_a_subscription_from_topic_to_topic(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    """The issue's shape: records from a source topic through a subscription, per-user window
    totals out to a topic (read_committed), each window exactly once, totals exact."""
    source, out = f"{prefix}.orders", f"{prefix}.totals"
    create_topic(infra, source, 4)
    create_topic(infra, out)
    node = RtNode(
        infra, prefix, EXAMPLES / "order_totals.py", tmp_path,
        ORDER_TOTALS_TOPIC=out, WINDOW_SECONDS=str(WINDOW_S),
    )  # fmt: skip
    nodes.append(node.start())
    users = [f"u{i}" for i in range(10)]
    prod = Producer(infra.kafka_config(**{"enable.idempotence": True}))
    for n in range(1, 21):
        for u in users:
            prod.produce(source, key=u.encode(), value=f'{{"id":"{u}-{n}","amount":{n}}}'.encode())
    assert prod.flush(30) == 0
    body = {
        "source": f"kafka://default/{source}",
        "sink": "service://OrderTotals/add",
        "options": {"auto.offset.reset": "earliest"},
    }
    r = httpx.post(f"{node.admin_url}/subscriptions", json=body, timeout=30)
    assert r.status_code == 201, r.text
    reader = committed_reader(infra, out)
    try:
        got = _read_until_orders(reader, 200, timeout=60)
    finally:
        reader.close()
    per_window = collections.Counter((g["user"], g["window_start_ms"]) for g in got)
    assert set(per_window.values()) == {1}, f"a window result came twice: {per_window}"
    by_user: dict[object, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for g in got:
        by_user[g["user"]][0] += float(str(g["orders"]))
        by_user[g["user"]][1] += float(str(g["total"]))
    assert {u: (int(v[0]), round(v[1], 2)) for u, v in by_user.items()} == {
        u: (20, 210.0) for u in users
    }


def test_a_record_stamped_in_an_already_closed_window_is_emitted_with_the_current_one(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    """Regression (ADR 0010): a record whose window's close timer already ran used to be
    dropped silently; it now lands in the current window, and every window comes out once."""
    topic = f"{prefix}.windows"
    create_topic(infra, topic)
    node = RtNode(
        infra, prefix, Path(__file__).parent / "apps" / "late_windows_app.py", tmp_path,
        WINDOW_TOPIC=topic, WINDOW_SECONDS="2",
    )  # fmt: skip
    nodes.append(node.start())
    reader = committed_reader(infra, topic)
    try:
        with httpx.Client(timeout=60) as c:
            first_at = int(time.time() * 1000)
            r = c.post(
                f"{node.url}/EventTotals/k1/add", json={"id": "a", "amount": 1, "at_ms": first_at}
            )
            assert r.status_code == 200, r.text
            [first_start] = r.json()
            [closed] = read_json(reader, 1, timeout=60, settle=0)
            assert (closed["start_ms"], closed["ids"]) == (first_start, ["a"])
            # Late: stamped inside the window that has just been emitted.
            r = c.post(
                f"{node.url}/EventTotals/k1/add", json={"id": "b", "amount": 2, "at_ms": first_at}
            )
            assert r.status_code == 200, r.text
            [late_start] = r.json()
            assert late_start > first_start
        got = read_json(reader, 1, timeout=60, settle=4)
    finally:
        reader.close()
    assert [(g["start_ms"], g["ids"], g["total"]) for g in got] == [(late_start, ["b"], 2.0)]
