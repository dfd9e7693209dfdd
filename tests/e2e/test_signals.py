"""Named signals end to end (real Kafka + Redis): ``docs/signals.md``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import redis

from sdk._ids import idempotent_invocation_id
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

JSON = {"content-type": "application/json"}
APP = APPS / "signals_app.py"


@pytest.fixture(params=["live", "always-replay"])
def sig_node(
    request: pytest.FixtureRequest, infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> RtNode:
    """The signals app, live and in always-replay mode (suspend and replay at every await)."""
    replay = "1" if request.param == "always-replay" else "0"
    node = RtNode(infra, prefix, APP, tmp_path, SIG_ALWAYS_REPLAY=replay)
    nodes.append(node.start())
    return node


def _post(url: str, body: str = "") -> httpx.Response:
    return httpx.post(url, content=body, headers=JSON, timeout=60)


def _send(url: str, path: str, body: str) -> str:
    r = _post(f"{url}/{path}/send", body)
    assert r.status_code == 202, r.text
    return str(r.json()["invocationId"])


def _wait_count(r: redis.Redis, key: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = r.get(key)
        if raw:
            return int(raw)
        time.sleep(0.05)
    raise AssertionError(f"{key} never counted")


def _journal_size(node: RtNode, invocation_id: str) -> int:
    r = httpx.get(f"{node.admin_url}/invocations/{invocation_id}", timeout=30)
    return int(r.json()["journal_size"]) if r.status_code == 200 else 0


def _result(url: str, invocation_id: str) -> object:
    r = httpx.get(f"{url}/restate/invocation/{invocation_id}/attach", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_signal_resolved_and_rejected_from_every_handler_kind(
    sig_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = sig_node.url
    waiter = _send(url, "Sig/wait", '"t1"')
    _wait_count(redis_client, f"{prefix}:waiting:t1")
    assert _post(f"{url}/Sig/resolve", f'["{waiter}", "go", "a"]').json() == "ok"
    assert _post(f"{url}/SigObj/k/reject", f'["{waiter}", "go", "nope"]').json() == "ok"
    assert _result(url, waiter) == "a+rejected:403:nope"

    flow = _send(url, "SigFlow/f1/run", '"t2"')
    _wait_count(redis_client, f"{prefix}:waiting:t2")
    assert _post(f"{url}/SigObj/k/shared_resolve", f'["{flow}", "go", "b"]').json() == "ok"
    assert _post(f"{url}/SigFlow/f1/poke", f'["{flow}", "go", "c"]').json() == "ok"
    r = httpx.get(f"{url}/restate/workflow/SigFlow/f1/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, "b+c")


def test_signals_sent_before_the_waiter_asks_are_kept(
    sig_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = sig_node.url
    waiter = _send(url, "Sig/late", '"t3"')
    assert _post(f"{url}/Sig/resolve", f'["{waiter}", "go", "first"]').json() == "ok"
    assert _post(f"{url}/Sig/resolve", f'["{waiter}", "go", "second"]').json() == "ok"
    assert redis_client.get(f"{prefix}:waiting:t3") is None  # still sleeping: kept for later
    assert _result(url, waiter) == "first+second"


def test_signal_races_a_timer(sig_node: RtNode) -> None:
    url = sig_node.url
    waiter = _send(url, "Sig/deadline", "60")
    assert _post(f"{url}/Sig/resolve", f'["{waiter}", "go", "x"]').json() == "ok"
    assert _result(url, waiter) == "signal:x"
    assert _result(url, _send(url, "Sig/deadline", "1")) == "timed out"


def test_signals_to_completed_unknown_and_malformed_ids(sig_node: RtNode) -> None:
    url = sig_node.url
    done = _send(url, "Sig/deadline", "0")
    assert _result(url, done) == "timed out"
    # Dropped: the sender cannot tell (fire and forget, as in Restate).
    assert _post(f"{url}/Sig/resolve", f'["{done}", "go", "late"]').json() == "ok"
    unknown = idempotent_invocation_id("Sig", "wait", None, "never-sent")
    assert _post(f"{url}/Sig/resolve", f'["{unknown}", "go", "x"]').json() == "ok"
    assert _result(url, done) == "timed out"
    # A malformed id is the sender's bug: it fails with 400 and sends nothing.
    for bad in ("inv_1", "nope"):
        r = _post(f"{url}/Sig/resolve", f'["{bad}", "go", "x"]')
        assert r.status_code == 400 and "bad invocation id" in r.json()["message"], r.text


def test_signal_wait_survives_kill9_between_wait_and_resolve(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    first = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(first.start())
    waiter = _send(first.url, "Sig/wait", '"k9"')
    assert _wait_count(redis_client, f"{prefix}:waiting:k9") == 1
    # Input, the "waiting" run and its result, the first ctx.signal: durable, so the run
    # has run for good (before that, a kill may rerun it: at least once).
    deadline = time.monotonic() + 30
    while _journal_size(first, waiter) < 4:
        assert time.monotonic() < deadline, "the wait was never journaled"
        time.sleep(0.05)
    first.kill9()

    second = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(second.start())
    url = second.url
    assert _post(f"{url}/Sig/resolve", f'["{waiter}", "go", "x"]').json() == "ok"
    assert _post(f"{url}/Sig/resolve", f'["{waiter}", "go", "y"]').json() == "ok"
    assert _result(url, waiter) == "x+y"
    assert redis_client.get(f"{prefix}:waiting:k9") == b"1"  # the journaled step never reran
