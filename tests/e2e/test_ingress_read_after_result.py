"""Once a caller has seen a result, every read of that invocation's output sees it.

A call is answered as soon as its output is durable in the log, possibly before the
partition has applied the completion to Redis; an output read right after must still
answer 200 (with the same result), never 470 "not ready"."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

ROUNDS = 150
DAY_S = 86_400.0


def _expires_s(response: httpx.Response) -> float:
    """The ``idempotency-expires`` header as seconds since the epoch (RFC 3339, UTC)."""
    text = response.headers["idempotency-expires"]
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text).timestamp()


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
            # Restate's idempotency-expires: completion plus the 24 h idempotency retention.
            assert abs(_expires_s(r) - (time.time() + DAY_S)) < 60, r.headers
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


def test_a_duplicate_idempotent_call_expires_with_the_first(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, APPS / "history_app.py", tmp_path)
    nodes.append(node.start())
    with httpx.Client(base_url=node.url, timeout=60) as http:
        headers = {"idempotency-key": "dup"}
        first = http.post("/Hist/echo", json="a", headers=headers)
        assert first.status_code == 200, first.text
        time.sleep(1.2)
        again = http.post("/Hist/echo", json="b", headers=headers)
        assert again.status_code == 200 and again.json() == "a", again.text
        # The stored result's expiry, not 1.2 s later (the first answer may have estimated
        # it before the completion was applied: within a second).
        assert abs(_expires_s(again) - _expires_s(first)) < 1.0
        brief = http.post("/Hist/brief", json="c", headers=headers)
        assert brief.status_code == 200, brief.text
        assert abs(_expires_s(brief) - (time.time() + 1)) < 5  # the handler's 1 s retention
        plain = http.post("/Hist/echo", json="d")
        assert "idempotency-expires" not in plain.headers
