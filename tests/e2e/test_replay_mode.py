"""Always-replay mode and deterministic combinators, on real Kafka and Redis.

The ``sdk.testing`` harness runs a multi-step app (run, call, sleep, awakeable,
select, state, a workflow promise) normally and in always-replay mode; the
combinator tests check that every replay of a handler took the same branch /
saw the same completion order as the first execution.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from sdk.testing import HttpError, Runtime
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

JSON = {"content-type": "application/json"}


_READ_ANY = """
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'list' then return redis.call('LINDEX', KEYS[1], 0) end
if t == 'string' then return redis.call('GET', KEYS[1]) end
return false
"""


def _wait(r: redis.Redis, key: str, timeout: float = 60.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # One script reads either kind: a TYPE then GET could see the key appear as a list
        # in between (WRONGTYPE).
        v = r.eval(_READ_ANY, 1, key)
        if v is not None:
            return bytes(v)
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {key}")


@pytest.mark.parametrize("always_replay", [False, True], ids=["normal", "always-replay"])
def test_harness_runs_a_multi_step_app(
    infra: Infra, redis_client: redis.Redis, prefix: str, always_replay: bool
) -> None:
    ns = prefix
    with Runtime(
        APPS / "replay_app.py",
        always_replay=always_replay,
        kafka_bootstrap=infra.kafka_bootstrap,
        redis_url=infra.redis_url,
        prefix=prefix,
        env={"RT_TEST_REDIS": infra.redis_url, "RT_TEST_NS": prefix},
    ) as rt:
        out = rt.call("Multi/m1/steps", 5)
        assert out == {
            "a": 5,
            "b": 10,
            "c": 11,
            "woke": "woke-m1",
            "branch": "fast",
            "value": "fast",
            "pq": [100, 200, 14],
        }
        assert rt.call("Signup/w1/run", "x@y") == "x@y confirmed with code-x@y"
        with pytest.raises(HttpError) as e:
            rt.call("Nope/handler", 1)
        assert e.value.status_code == 404
        counts = {
            k.decode().split(":runs:")[1]: int(redis_client.get(k) or 0)
            for k in redis_client.scan_iter(f"{ns}:runs:*")
        }
        assert counts == {
            "m1:one": 1,
            "m1:two": 1,
            "m1:p": 1,
            "m1:q": 1,
            "w1:send": 1,
            "w1:activate": 1,
        }
        starts = int(redis_client.get(f"{ns}:starts:m1") or 0)
        wf_starts = int(redis_client.get(f"{ns}:starts:w1") or 0)
        if always_replay:
            # run, call, sleep, awakeable, select, run: a replay after each await.
            assert starts >= 6, starts
            assert wf_starts >= 3, wf_starts
        else:
            assert starts == 1 and wf_starts == 1


@pytest.fixture
def cnode(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], replay_env: dict[str, str]
) -> RtNode:
    n = RtNode(infra, prefix, APPS / "cancel_app.py", tmp_path, **replay_env)
    nodes.append(n.start())
    return n


def _branches(r: redis.Redis, prefix: str, key: str) -> list[str]:
    return [b.decode() for b in r.lrange(f"{prefix}:branch:{key}", 0, -1)]


def test_select_sleep_vs_awakeable_timeout_branch_is_stable_on_replay(
    cnode: RtNode, redis_client: redis.Redis, prefix: str, replay_env: dict[str, str]
) -> None:
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(
            httpx.post, f"{cnode.url}/Racer/r1/race", content="300", headers=JSON, timeout=120
        )
        _wait(redis_client, f"{prefix}:branch:r1")  # the sleep won
        awk = _wait(redis_client, f"{prefix}:awk:race:r1").decode()
        r = httpx.post(
            f"{cnode.url}/Resolver/resolve", json=[awk, "late"], headers=JSON, timeout=60
        )
        assert r.status_code == 200
        resp = fut.result(120)
    assert resp.json() == "timeout"
    branches = _branches(redis_client, prefix, "r1")
    assert set(branches) == {"timeout"}
    if replay_env["RT_ALWAYS_REPLAY"] == "1":
        assert len(branches) >= 2  # replayed after the awakeable completed too: same branch
    assert [x.decode() for x in redis_client.lrange(f"{prefix}:saga:r1", 0, -1)] == [
        "after:timeout"
    ]


def test_select_sleep_vs_awakeable_awakeable_branch_is_stable_on_replay(
    cnode: RtNode, redis_client: redis.Redis, prefix: str, replay_env: dict[str, str]
) -> None:
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(
            httpx.post, f"{cnode.url}/Racer/r2/race", content="2500", headers=JSON, timeout=120
        )
        awk = _wait(redis_client, f"{prefix}:awk:race:r2").decode()
        r = httpx.post(f"{cnode.url}/Resolver/resolve", json=[awk, "now"], timeout=60)
        assert r.status_code == 200
        resp = fut.result(120)
    assert resp.json() == "awk"
    branches = _branches(redis_client, prefix, "r2")
    assert set(branches) == {"awk"}
    if replay_env["RT_ALWAYS_REPLAY"] == "1":
        assert len(branches) >= 2  # replayed after the sleep fired too: still "awk"
    assert [x.decode() for x in redis_client.lrange(f"{prefix}:saga:r2", 0, -1)] == ["after:awk"]


def test_as_completed_and_gather_are_deterministic(
    cnode: RtNode, redis_client: redis.Redis, prefix: str, replay_env: dict[str, str]
) -> None:
    r = httpx.post(f"{cnode.url}/Gatherer/g1/order", json=[900, 50, 400], headers=JSON, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json() == [50, 400, 900]
    orders = [o.decode() for o in redis_client.lrange(f"{prefix}:order:g1", 0, -1)]
    assert set(orders) == {"50,400,900"}
    if replay_env["RT_ALWAYS_REPLAY"] == "1":
        assert len(orders) >= 2
