"""The durable core end to end: real Kafka, real Redis, real `rt dev` processes."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import redis

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

JSON = {"content-type": "application/json"}


async def _post(client: httpx.AsyncClient, url: str, body: str, **headers: str) -> httpx.Response:
    return await client.post(url, content=body, headers={**JSON, **headers}, timeout=60)


def test_greet_and_terminal_error(core_node: RtNode) -> None:
    r = httpx.post(f"{core_node.url}/Greeter/greet", content='"world"', headers=JSON, timeout=30)
    assert r.status_code == 200 and r.json() == "Hello world"
    assert r.headers["x-restate-id"].startswith("inv_")
    r = httpx.post(f"{core_node.url}/Greeter/fail", content='"x"', headers=JSON, timeout=30)
    assert r.status_code == 422
    assert r.json() == {"code": 422, "message": "bad input: x", "source": "invocation"}


def test_rt_dev_environment_reaches_handlers(infra: Infra, prefix: str, tmp_path, nodes) -> None:  # type: ignore[no-untyped-def]
    node = RtNode(infra, prefix, APPS / "core_app.py", tmp_path, RT_E2E_MARKER="visible")
    nodes.append(node.start())
    r = httpx.post(f"{node.url}/Greeter/env", content='"RT_E2E_MARKER"', headers=JSON, timeout=30)
    assert r.json() == "visible"


def test_counter_one_hot_key_exact_and_never_overlapping(
    core_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    async def go() -> list[int]:
        async with httpx.AsyncClient() as c:
            rs = await asyncio.gather(
                *(_post(c, f"{core_node.url}/Counter/hot/add", "1") for _ in range(1000))
            )
        return [r.json() for r in rs]

    results = asyncio.run(go())
    assert sorted(results) == list(range(1, 1001))
    r = httpx.get(f"{core_node.url}/Counter/hot/get", timeout=30)
    assert r.json() == 1000
    spans = sorted(
        tuple(map(float, s.decode().split(":")))
        for s in redis_client.lrange(f"{prefix}:spans:hot", 0, -1)
    )
    assert len(spans) == 1000
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, "two exclusive handlers of one key overlapped"


def test_counter_many_keys_exact(core_node: RtNode) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as c:
            await asyncio.gather(
                *(_post(c, f"{core_node.url}/Counter/k{i % 100}/add", "1") for i in range(1000))
            )
            gets = await asyncio.gather(
                *(c.get(f"{core_node.url}/Counter/k{i}/get", timeout=30) for i in range(100))
            )
        assert [g.json() for g in gets] == [10] * 100

    asyncio.run(go())


def test_shared_get_does_not_wait_behind_a_busy_exclusive_handler(core_node: RtNode) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as c:
            await _post(c, f"{core_node.url}/Counter/busy/add", "1")
            slow = asyncio.create_task(_post(c, f"{core_node.url}/Counter/busy/slow_add", "3000"))
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            r = await c.get(f"{core_node.url}/Counter/busy/get", timeout=30)
            took = time.monotonic() - t0
            assert r.json() == 1
            assert took < 1.5, f"shared get waited {took:.2f}s behind the exclusive handler"
            assert (await slow).json() == 2

    asyncio.run(go())


def test_calls_sends_sleep_and_retries(core_node: RtNode) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as c:
            r = await _post(c, f"{core_node.url}/Caller/call_add", '"cc"')
            assert r.status_code == 200 and r.json() == 1
            r = await _post(c, f"{core_node.url}/Caller/send_add", '"cc"')
            assert r.json().startswith("inv_")
            t0 = time.monotonic()
            r = await _post(c, f"{core_node.url}/Sleepy/nap", "300")
            assert r.json() == 300 and time.monotonic() - t0 >= 0.3
            r = await _post(c, f"{core_node.url}/Flaky/once", '"f"')
            assert r.json() == "ok f after 2"
            for _ in range(50):
                g = await c.get(f"{core_node.url}/Counter/cc/get", timeout=30)
                if g.json() == 2:
                    break
                await asyncio.sleep(0.1)
            assert g.json() == 2

    asyncio.run(go())


def test_idempotency_key_dedupes_concurrent_duplicates(
    core_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as c:
            rs = await asyncio.gather(
                *(
                    _post(
                        c, f"{core_node.url}/Counter/idem/add", "1", **{"idempotency-key": "once"}
                    )
                    for _ in range(50)
                )
            )
            assert {r.status_code for r in rs} == {200}
            assert {r.json() for r in rs} == {1}
            assert len({r.headers["x-restate-id"] for r in rs}) == 1
            g = await c.get(f"{core_node.url}/Counter/idem/get", timeout=30)
            assert g.json() == 1
            s = await _post(
                c, f"{core_node.url}/Counter/idem/add/send", "1", **{"idempotency-key": "once"}
            )
            assert s.status_code == 202 and s.json()["status"] == "PreviouslyAccepted"

    asyncio.run(go())


def test_handlers_calling_one_running_idempotent_invocation_all_get_its_result(
    core_node: RtNode,
) -> None:
    """Two handlers call the same idempotent invocation while it runs (same idempotency
    key: same invocation id). The second call is attached to the running invocation, as
    Restate attaches it, and gets the result when it completes (it used to wait forever)."""
    key = uuid.uuid4().hex

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient() as c:
            return await asyncio.gather(
                *(
                    c.post(
                        f"{core_node.url}/Caller/call_nap_once",
                        content=f'"{key}"',
                        headers=JSON,
                        timeout=30,
                    )
                    for _ in range(2)
                )
            )

    rs = asyncio.run(go())
    assert [(r.status_code, r.json()) for r in rs] == [(200, 3000), (200, 3000)]
    assert rs[0].headers["x-restate-id"] != rs[1].headers["x-restate-id"]  # two callers


def test_admin_state_and_services(core_node: RtNode) -> None:
    r = httpx.get(f"{core_node.admin_url}/services", timeout=10)
    names = {s["name"] for s in r.json()["services"]}
    assert {"Greeter", "Counter", "Steps"} <= names
    r = httpx.post(
        f"{core_node.admin_url}/services/Counter/state",
        json={"object_key": "adm", "new_state": {"count": list(b"41")}},
        timeout=10,
    )
    assert r.status_code == 202
    for _ in range(50):
        got = httpx.get(f"{core_node.url}/Counter/adm/get", timeout=10).json()
        if got == 41:
            break
        time.sleep(0.1)
    assert got == 41
    r = httpx.post(f"{core_node.url}/Counter/adm/add", content="1", headers=JSON, timeout=10)
    assert r.json() == 42


def test_lazy_state_is_answered_by_the_runtime(core_node: RtNode) -> None:
    with httpx.Client(timeout=30) as c:
        r = c.post(f"{core_node.url}/LazyCounter/z/bump", content="2", headers=JSON)
        assert r.status_code == 200, r.text
        assert r.json() == ["count", "seen-2"]
        r = c.post(f"{core_node.url}/LazyCounter/z/bump", content="3", headers=JSON)
        assert r.json() == ["count", "seen-2", "seen-3"]
        assert c.get(f"{core_node.url}/LazyCounter/z/peek").json() == 5


def test_always_replay_handler_suspends_and_resumes_by_replay(
    core_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    r = httpx.post(f"{core_node.url}/Replayer/chain", content='"rk"', headers=JSON, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json() == [len("replay-rk"), 10, 15]
    assert redis_client.get(f"{prefix}:effects:replay-rk") == b"1", "journaled run re-executed"


def test_abort_timeout_aborts_a_hung_attempt_and_retries(core_node: RtNode) -> None:
    t0 = time.monotonic()
    r = httpx.post(f"{core_node.url}/Slowpoke/once_slow", content='"x"', headers=JSON, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json() == 2
    assert time.monotonic() - t0 < 4.5, "the hung attempt was not aborted"


def test_run_result_racing_a_completion_is_kept_not_executed_again(
    infra: Infra,
    prefix: str,
    tmp_path,  # type: ignore[no-untyped-def]
    nodes,
    redis_client: redis.Redis,
    replay_env: dict[str, str],
) -> None:
    """A call's result is journaled while a ctx.run of the same handler runs: the run's
    result still goes into the journal (after it) instead of the attempt being replayed
    from the log's order, which ran the side effect a second time."""
    node = RtNode(infra, prefix, APPS / "core_app.py", tmp_path, **replay_env)
    nodes.append(node.start())
    with httpx.Client(timeout=60) as c:
        for key in ("r1", "r2"):
            r = c.post(f"{node.url}/RunRace/run_while_call_completes", content=f'"{key}"',
                       headers=JSON)  # fmt: skip
            assert r.status_code == 200, r.text
            assert r.json() == ["slow", f"Hello {key}"]
            assert redis_client.get(f"{prefix}:race:{key}") == b"1", "ctx.run executed twice"
            assert redis_client.get(f"{prefix}:effects:race-mark-{key}") == b"1"
