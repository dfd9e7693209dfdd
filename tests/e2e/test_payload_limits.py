"""Payloads of several MiB through a real node, and the one limit that bounds them.

The node runs with ``max_payload_bytes`` = 4 MiB: inputs, outputs, state values,
``ctx.run`` results and call arguments up to it work end to end; a request body over it
is a 413 before anything is written; a value over it made by a handler ends the
invocation with a terminal error naming the limit, and the partition goes on.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

LIMIT = 4 << 20
MIB = 1 << 20


@pytest.fixture
def node(infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]) -> RtNode:
    n = RtNode(infra, prefix, APPS / "shutdown_app.py", tmp_path, RT_MAX_PAYLOAD_BYTES=str(LIMIT))
    nodes.append(n.start())
    # Ready to serve is not yet leading: each partition's take-over appends a record, which
    # must not land between a test's two reads of the log's end.
    deadline = time.monotonic() + 60
    while not all(
        p["leader_epoch"] > 0
        for p in httpx.get(f"{n.admin_url}/cluster", timeout=10).json()["partitions"]
    ):
        assert time.monotonic() < deadline, "the node leads no partition after 60 s"
        time.sleep(0.1)
    return n


def _json_string(total_bytes: int) -> bytes:
    """A JSON string whose encoding is exactly ``total_bytes`` long."""
    return b'"' + b"a" * (total_bytes - 2) + b'"'


def _log_end(infra: Infra, prefix: str) -> int:
    """Records ever written to the test's rt.log (sum of the high watermarks)."""
    c = Consumer({"bootstrap.servers": infra.kafka_bootstrap, "group.id": f"{prefix}-check"})
    try:
        md = c.list_topics(f"{prefix}.log", timeout=10).topics[f"{prefix}.log"]
        return sum(
            c.get_watermark_offsets(TopicPartition(f"{prefix}.log", p), timeout=10)[1]
            for p in md.partitions
        )
    finally:
        c.close()


def _post(node: RtNode, path: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{node.url}{path}",
        content=body,
        headers={"content-type": "application/json"},
        timeout=120,
    )


def test_inputs_and_outputs_up_to_the_limit_round_trip(node: RtNode) -> None:
    for size in (MIB, LIMIT - 1, LIMIT):  # 1 MiB, just under, at the limit
        body = _json_string(size)
        r = _post(node, "/Big/echo", body)
        assert r.status_code == 200, r.text[:500]
        assert r.content == body


def test_a_body_over_the_limit_is_413_before_anything_is_written(
    node: RtNode, infra: Infra, prefix: str
) -> None:
    before = _log_end(infra, prefix)
    r = _post(node, "/Big/echo", _json_string(LIMIT + 1))
    assert r.status_code == 413, r.text[:500]
    assert r.json() == {
        "code": 413,
        "message": f"cannot read body: length limit exceeded, the limit is {LIMIT} bytes",
        "source": "ingress",
    }
    # 10x the limit: refused on its Content-Length, before the body is read.
    with socket.create_connection(("127.0.0.1", node.ingress_port), timeout=30) as s:
        s.sendall(
            b"POST /Big/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % (10 * LIMIT) + b'"' + b"a" * 65536
        )
        head = s.recv(65536)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert _log_end(infra, prefix) == before


def test_state_values_run_results_and_call_arguments_of_several_mib(node: RtNode) -> None:
    three = 3 * MIB
    r = _post(node, "/Big/run_result", b"%d" % three)
    assert r.status_code == 200 and r.json() == three, r.text[:500]
    r = _post(node, "/Big/call_echo", json.dumps("c" * three).encode())
    assert r.status_code == 200 and r.json() == three, r.text[:500]
    r = _post(node, "/Blob/k/put", b"%d" % three)
    assert r.status_code == 200, r.text[:500]
    assert _post(node, "/Blob/k/length", b"").json() == three
    # Two values that fit one by one but not together in one record.
    r = _post(node, "/Blob/k2/put_two", b"%d" % three)
    assert r.status_code == 200 and r.json() == 2 * three, r.text[:500]
    assert _post(node, "/Blob/k2/length", b"").json() == three


def test_values_over_the_limit_made_by_handlers_are_terminal_errors(node: RtNode) -> None:
    r = _post(node, "/Big/run_result", b"%d" % (LIMIT + 100_000))
    assert r.status_code == 500, r.text[:500]
    body = r.json()
    assert body["source"] == "invocation"
    assert "a ctx.run result of" in body["message"]
    assert f"max_payload_bytes = {LIMIT} bytes" in body["message"]

    r = _post(node, "/Blob/k/put", b"%d" % (LIMIT + 100_000))
    assert r.status_code == 500, r.text[:500]
    assert "a state value of" in r.json()["message"]
    # The key (and its partition) goes on: the failed call changed nothing.
    assert _post(node, "/Blob/k/length", b"").json() == 0
    assert _post(node, "/Big/echo", b'"still here"').json() == "still here"
