"""Records on rt.log that rt did not write, or cannot read, on a real node.

- A foreign record (another producer's: not msgpack, or not an rt-shaped array) is
  skipped with an error naming topic, partition and offset, and counted
  (``rt_log_foreign_records_total``); the partition goes on.
- An rt-shaped record that does not decode (corrupted, or written by a newer rt) is never
  skipped: its partition halts there with an error naming topic, partition and offset,
  ``rt_partition_halted`` says so, later invocations of that partition wait (nothing
  lost), other partitions go on, and a restart does not skip it either.
"""

from __future__ import annotations

import time

import httpx
import msgspec
from confluent_kafka import Producer

from runtime.log.producer import partition_of_key
from sdk.ids import keyed_routing_key
from tests.conftest import Infra
from tests.e2e.conftest import RtNode
from tests.e2e.test_metrics import _scrape, _value

JSON = {"content-type": "application/json"}


def _produce(infra: Infra, topic: str, partition: int, value: bytes) -> None:
    p = Producer(infra.kafka_config())
    p.produce(topic, value=value, partition=partition)
    assert p.flush(30) == 0


def _keys_by_partition(partitions: int = 4) -> dict[int, str]:
    """One Counter key routed to each partition."""
    out: dict[int, str] = {}
    i = 0
    while len(out) < partitions:
        key = f"k{i}"
        out.setdefault(partition_of_key(keyed_routing_key("Counter", key), partitions), key)
        i += 1
    return out


def _add(node: RtNode, key: str, n: int, timeout: float = 30) -> httpx.Response:
    return httpx.post(
        f"{node.url}/Counter/{key}/add", content=str(n), headers=JSON, timeout=timeout
    )


def _wait(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_foreign_records_are_skipped_and_unreadable_ones_halt_only_their_partition(
    infra: Infra, core_node: RtNode, prefix: str
) -> None:
    node = core_node
    log_topic = f"{prefix}.log"
    keys = _keys_by_partition()
    for p in range(4):
        _produce(infra, log_topic, p, b'{"not": "rt"}' if p % 2 else b"")
    for p, key in keys.items():
        assert _add(node, key, 1).status_code == 200, p
    total = sum(
        _value(_scrape(node), "rt_log_foreign_records_total", partition=str(p)) for p in range(4)
    )
    assert total == 4
    assert f"{log_topic} partition 1 offset" in node.log.read_text()

    halted_p = 2
    _produce(infra, log_topic, halted_p, msgspec.msgpack.encode(["invoke", "garbled"]))
    _wait(lambda: _value(_scrape(node), "rt_partition_halted", partition=str(halted_p)) == 1)
    text = node.log.read_text()
    assert f"HALTED {log_topic} partition {halted_p} offset" in text
    assert "an rt 'invoke' record that does not decode" in text
    # The other partitions go on; the halted one applies nothing after the record.
    for p, key in keys.items():
        if p != halted_p:
            assert _add(node, key, 1).status_code == 200, p
    sent = httpx.post(
        f"{node.url}/Counter/{keys[halted_p]}/add/send", content="5", headers=JSON, timeout=30
    )
    assert sent.status_code == 202
    time.sleep(2)
    state = httpx.get(f"{node.admin_url}/services/Counter/state/{keys[halted_p]}", timeout=10)
    assert state.json()["state_utf8"].get("count") in (None, "1")  # the send waits
    assert node.proc is not None and node.proc.poll() is None  # the node stays up

    node.kill9()
    node.start()
    _wait(lambda: _value(_scrape(node), "rt_partition_halted", partition=str(halted_p)) == 1, 60)
    assert _value(_scrape(node), "rt_partition_halted", partition="0") == 0
