"""Real faults: kill -9 of rt nodes, rebalances across worker processes, changed handler code.

Invariants 3, 5, 6 and 10 of ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import redis

from runtime.devstack.process import tail
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

JSON = {"content-type": "application/json"}


def _attach_all(url: str, ids: list[str], timeout: float = 120) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=timeout) as c:
            return await asyncio.gather(
                *(c.get(f"{url}/restate/invocation/{i}/attach") for i in ids)
            )

    return asyncio.run(go())


def test_kill9_mid_batch_completes_everything_without_rerunning_journaled_effects(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    first = RtNode(infra, prefix, APPS / "core_app.py", tmp_path)
    nodes.append(first.start())
    keys = [f"s{i}" for i in range(40)]
    ids = []
    with httpx.Client(timeout=30) as c:
        for k in keys:
            r = c.post(f"{first.url}/Steps/{k}/run/send", content="1", headers=JSON)
            assert r.status_code == 202, r.text
            ids.append(r.json()["invocationId"])
    # Let some invocations get part-way through their three journaled steps, then kill -9.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        started = len(redis_client.keys(f"{prefix}:effects:*"))
        if started >= 20:
            break
        time.sleep(0.02)
    first.kill9()
    before = {k.decode(): int(v) for k, v in _effects(redis_client, prefix).items()}
    assert before, "nothing ran before the kill"
    assert len(before) < 3 * len(keys), "everything finished before the kill; widen the window"

    second = RtNode(infra, prefix, APPS / "core_app.py", tmp_path)
    nodes.append(second.start())
    results = _attach_all(second.url, ids)
    assert [r.status_code for r in results] == [200] * len(ids), [r.text for r in results]
    assert [r.json() for r in results] == [4] * len(ids)

    counts = {k.decode(): int(v) for k, v in _effects(redis_client, prefix).items()}
    assert len(counts) == 3 * len(keys), "every step ran"
    reruns: dict[str, int] = {}
    for tag, n in counts.items():
        assert n in (1, 2), f"{tag} executed {n} times"
        if n == 2:
            key = tag.rsplit("-", 1)[0]
            reruns[key] = reruns.get(key, 0) + 1
    # Only the step in flight at the kill may run again (at-least-once); a journaled one never.
    assert all(v == 1 for v in reruns.values()), reruns
    for tag in before:
        key, step = tag.rsplit("-", 1)
        if f"{key}-{int(step) + 1}" in before:
            assert counts[tag] == 1, f"{tag} was journaled before the kill and ran again"


def _effects(r: redis.Redis, prefix: str) -> dict[bytes, bytes]:
    keys = r.keys(f"{prefix}:effects:*")
    if not keys:
        return {}
    vals = r.mget(keys)
    return {k.split(b":effects:")[1]: v for k, v in zip(keys, vals, strict=True)}


def test_two_workers_rebalance_without_overlap_or_loss(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    a = RtNode(infra, prefix, APPS / "core_app.py", tmp_path, partitions=4)
    nodes.append(a.start())
    keys = [f"r{i}" for i in range(4)]
    per_key = 60

    async def load(url: str, n: int, offset: int) -> list[int]:
        async with httpx.AsyncClient(timeout=120) as c:
            rs = await asyncio.gather(
                *(
                    c.post(
                        f"{url}/Counter/{keys[i % len(keys)]}/add",
                        content="1",
                        headers={**JSON, "idempotency-key": f"req-{offset + i}"},
                    )
                    for i in range(n)
                )
            )
        assert {r.status_code for r in rs} == {200}, [r.text for r in rs if r.status_code != 200]
        return [r.json() for r in rs]

    asyncio.run(load(a.url, per_key * len(keys) // 2, 0))
    b = RtNode(infra, prefix, APPS / "core_app.py", tmp_path, partitions=4)
    nodes.append(b.start())  # joins the group: partitions move from a to b mid-traffic
    asyncio.run(load(a.url, per_key * len(keys) // 2, 10_000))
    b.kill9()  # b's partitions move back to a after its session times out
    asyncio.run(load(a.url, 40, 20_000))

    with httpx.Client(timeout=30) as c:
        for k in keys:
            assert c.get(f"{a.url}/Counter/{k}/get").json() == per_key + 10, tail(a.log)
    for k in keys:
        spans = sorted(
            tuple(map(float, s.decode().split(":")))
            for s in redis_client.lrange(f"{prefix}:spans:{k}", 0, -1)
        )
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"two exclusive handlers of {k} overlapped across workers"


def test_changed_handler_code_fails_with_nondeterminism_and_never_continues(
    core_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    redis_client.set(f"{prefix}:drift:mode", "a")
    redis_client.set(f"{prefix}:drift:hold", "1")
    with httpx.Client(timeout=30) as c:
        r = c.post(
            f"{core_node.url}/Flaky/drift/send",
            content='"x"',
            headers={**JSON, "idempotency-key": "drift-1"},
        )
        assert r.status_code == 202
        inv = r.json()["invocationId"]
        deadline = time.monotonic() + 20
        while redis_client.get(f"{prefix}:effects:drift-a") is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        redis_client.set(f"{prefix}:drift:mode", "b")  # the code now journals a different run
        deadline = time.monotonic() + 60
        while "Non-deterministic journal at command 1" not in core_node.log.read_text():
            assert time.monotonic() < deadline, tail(core_node.log)
            time.sleep(0.1)
        time.sleep(1.0)  # a few more failed attempts
        assert "(570)" in core_node.log.read_text()
        out = c.get(f"{core_node.url}/restate/invocation/{inv}/output")
        assert out.status_code == 470, out.text  # not completed: never silently continued
        assert redis_client.get(f"{prefix}:effects:drift-b") is None, "diverged run executed"

        redis_client.set(f"{prefix}:drift:mode", "a")  # code restored: replay matches again
        redis_client.delete(f"{prefix}:drift:hold")
        res = c.get(f"{core_node.url}/restate/invocation/{inv}/attach", timeout=60)
        assert res.status_code == 200 and res.json() == "a"
    assert redis_client.get(f"{prefix}:effects:drift-a") == b"1", "journaled run re-executed"


def test_kill9_with_queued_calls_per_key_keeps_counts_exact(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    """Calls queued on a key run through speculative hand-offs (ADR 0013); a kill -9 in the
    middle leaves speculative entries in the log that the next owner must accept exactly
    when they were valid: every key still counts each call once, and an effect runs again
    only if it was in flight (at most the holder's and the speculative call's per key)."""
    first = RtNode(infra, prefix, APPS / "core_app.py", tmp_path)
    nodes.append(first.start())
    keys, per_key = [f"l{i}" for i in range(5)], 12
    ids: dict[str, list[str]] = {k: [] for k in keys}
    with httpx.Client(timeout=30) as c:
        for _ in range(per_key):
            for k in keys:
                r = c.post(f"{first.url}/Ledger/{k}/book/send", content="1", headers=JSON)
                assert r.status_code == 202, r.text
                ids[k].append(r.json()["invocationId"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(_effects(redis_client, prefix)) < 20:
        time.sleep(0.01)
    first.kill9()
    done_before = len(_effects(redis_client, prefix))
    assert 0 < done_before < len(keys) * per_key, "widen the window"

    second = RtNode(infra, prefix, APPS / "core_app.py", tmp_path)
    nodes.append(second.start())
    for k in keys:
        results = _attach_all(second.url, ids[k])
        assert [r.status_code for r in results] == [200] * per_key, [r.text for r in results]
        assert sorted(r.json() for r in results) == list(range(1, per_key + 1)), k
        r = httpx.get(f"{second.admin_url}/services/Ledger/state/{k}", timeout=30)
        assert r.status_code == 200, r.text
        assert bytes(r.json()["state"]["count"]) == str(per_key).encode(), r.text
    counts = {t.decode(): int(v) for t, v in _effects(redis_client, prefix).items()}
    assert len(counts) == len(keys) * per_key
    assert all(n in (1, 2) for n in counts.values()), counts
    assert sum(n - 1 for n in counts.values()) <= 2 * len(keys), counts
