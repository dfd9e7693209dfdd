"""Once a caller has seen a result, every read of that invocation's output sees it.

A call is answered as soon as its output is durable in the log, possibly before the
partition has applied the completion to Redis; an output read right after must still
answer 200 (with the same result), never 470 "not ready"."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

ROUNDS = 150


def test_output_read_right_after_the_call_sees_its_result(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, APPS / "history_app.py", tmp_path)
    nodes.append(node.start())
    not_ready = 0
    with httpx.Client(base_url=node.url, timeout=60) as http:
        for n in range(ROUNDS):
            key = f"k{n}"
            r = http.post("/Hist/echo", json=key, headers={"idempotency-key": key})
            assert r.status_code == 200, r.text
            inv = r.headers["x-restate-id"]
            reads = (
                http.get(f"/restate/invocation/{inv}/output"),
                http.get(f"/restate/invocation/Hist/echo/{key}/output"),
                http.get(f"/restate/invocation/{inv}/attach"),
            )
            for read in reads:
                not_ready += read.status_code == 470
                assert read.status_code in (200, 470), read.text
                if read.status_code == 200:
                    assert read.json() == key
    assert not_ready == 0, f"{not_ready} reads of {3 * ROUNDS} answered 470 after the result"
