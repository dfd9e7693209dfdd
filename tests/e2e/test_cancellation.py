"""Cancel, kill and purge end to end: admin API, CLI, sagas, locks, propagation to callees."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from runtime.devstack.process import free_port
from sdk._ids import invocation_id_for
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

JSON = {"content-type": "application/json"}
APP = APPS / "cancel_app.py"


@pytest.fixture
def node(infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]) -> RtNode:
    n = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(n.start())
    return n


def wait_for(what: Callable[[], Any], timeout: float = 60.0, desc: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {desc}")


def rget(r: redis.Redis, key: str, timeout: float = 60.0) -> str:
    raw = wait_for(lambda: r.get(key), timeout, key)
    return bytes(raw).decode()


def describe(node: RtNode, inv_id: str) -> dict[str, Any]:
    r = httpx.get(f"{node.admin_url}/invocations/{inv_id}", timeout=30)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_completed(node: RtNode, inv_id: str, timeout: float = 60.0) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (d := describe(node, inv_id))["status"] == "completed" and d,
            timeout,
            f"{inv_id} to complete",
        )
    )


def call_async(pool: ThreadPoolExecutor, url: str, body: str) -> Future[httpx.Response]:
    return pool.submit(httpx.post, url, content=body, headers=JSON, timeout=120)


def rt_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def replay_node(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], replay_env: dict[str, str]
) -> RtNode:
    n = RtNode(infra, prefix, APP, tmp_path, **replay_env)
    nodes.append(n.start())
    return n


def test_cancel_propagates_through_a_chain_of_three_and_compensates_in_reverse(
    replay_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    """In always-replay mode every handler of the chain is suspended when the cancel comes."""
    node = replay_node
    with ThreadPoolExecutor(2) as pool:
        pending = call_async(pool, f"{node.url}/SagaA/a_run", '"t1"')
        rget(redis_client, f"{prefix}:awk:t1")  # C is waiting on its awakeable
        a_id = rget(redis_client, f"{prefix}:id:t1:a")
        b_id = rget(redis_client, f"{prefix}:id:t1:b")
        c_id = rget(redis_client, f"{prefix}:id:t1:c")
        r = httpx.patch(f"{node.admin_url}/invocations/{a_id}/cancel", timeout=30)
        assert r.status_code == 202, r.text
        resp = pending.result(120)
    assert resp.status_code == 409
    assert resp.json()["message"] == "cancelled"
    for inv_id in (a_id, b_id, c_id):
        d = wait_completed(node, inv_id)
        assert (d["completion_result"], d["completion_failure_code"]) == ("failure", 409)
        assert d["completion_failure"] == "cancelled"
    log = [x.decode() for x in redis_client.lrange(f"{prefix}:saga:t1", 0, -1)]
    per = {h: [e for e in log if e.split(":")[1][0] == h] for h in "abc"}
    assert per["a"] == ["do:a1", "do:a2", "do:a3", "undo:a3", "undo:a2", "undo:a1"]
    assert per["b"] == ["do:b1", "do:b2", "undo:b2", "undo:b1"]
    assert per["c"] == ["do:c1", "do:c2", "undo:c2", "undo:c1"]
    assert len(log) == 14  # every journaled step and compensation ran exactly once
    # Cancelling again: already completed.
    r = httpx.patch(f"{node.admin_url}/invocations/{a_id}/cancel", timeout=30)
    assert r.status_code == 409


def test_cancel_survives_a_kill9_during_compensation(
    node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    r = httpx.post(f"{node.url}/SagaA/a_run/send", content='"t9"', headers=JSON, timeout=30)
    a_id = r.json()["invocationId"]
    rget(redis_client, f"{prefix}:awk:t9")
    ids = [rget(redis_client, f"{prefix}:id:t9:{h}") for h in "abc"]
    assert ids[0] == a_id
    assert httpx.patch(f"{node.admin_url}/invocations/{a_id}/cancel").status_code == 202
    wait_for(lambda: redis_client.llen(f"{prefix}:saga:t9") > 7, desc="first compensation")
    node.kill9()
    node.start()
    for inv_id in ids:
        d = wait_completed(node, inv_id)
        assert (d["completion_failure_code"], d["completion_failure"]) == (409, "cancelled")
    log = [x.decode() for x in redis_client.lrange(f"{prefix}:saga:t9", 0, -1)]
    per = {h: [e for e in log if e.split(":")[1][0] == h] for h in "abc"}
    # ctx.run is at-least-once: a step cut by the crash may run again right after itself.
    dedup = {h: [e for i, e in enumerate(v) if i == 0 or v[i - 1] != e] for h, v in per.items()}
    assert dedup["a"] == ["do:a1", "do:a2", "do:a3", "undo:a3", "undo:a2", "undo:a1"]
    assert dedup["b"] == ["do:b1", "do:b2", "undo:b2", "undo:b1"]
    assert dedup["c"] == ["do:c1", "do:c2", "undo:c2", "undo:c1"]
    assert 14 <= len(log) <= 15, log


def test_a_handler_cancels_another_invocation(node: RtNode) -> None:
    r = httpx.post(f"{node.url}/Sleeper/nap/send", content="600000", headers=JSON, timeout=30)
    inv_id = r.json()["invocationId"]
    wait_for(lambda: httpx.get(f"{node.admin_url}/invocations/{inv_id}").status_code == 200)
    r = httpx.post(f"{node.url}/Resolver/cancel", json=inv_id, timeout=60)
    assert r.status_code == 200
    d = wait_completed(node, inv_id)
    assert (d["completion_failure_code"], d["completion_failure"]) == (409, "cancelled")


def test_cancel_of_a_backing_off_invocation_compensates_without_waiting_for_the_backoff(
    node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    r = httpx.post(f"{node.url}/Retrier/flaky_saga/send", content='"f1"', headers=JSON, timeout=30)
    inv_id = r.json()["invocationId"]
    wait_for(
        lambda: (
            httpx.get(f"{node.admin_url}/invocations/{inv_id}").json().get("status")
            == "backing-off"
        ),
        desc="backing-off",
    )
    d = describe(node, inv_id)
    assert d["last_failure"] == "RuntimeError: transient failure" and d["next_retry_at"] is not None
    t0 = time.monotonic()
    assert httpx.patch(f"{node.admin_url}/invocations/{inv_id}/cancel").status_code == 202
    d = wait_completed(node, inv_id, timeout=60)
    assert time.monotonic() - t0 < 60  # the backoff was 5 minutes
    assert (d["completion_failure_code"], d["completion_failure"]) == (409, "cancelled")
    log = [x.decode() for x in redis_client.lrange(f"{prefix}:saga:f1", 0, -1)]
    assert log == ["do:r1", "undo:r1"]


def test_kill_releases_the_lock_and_the_next_call_of_the_key_runs(
    node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    with ThreadPoolExecutor(4) as pool:
        held = call_async(pool, f"{node.url}/Locker/k1/hold", '"h1"')
        hold_id = rget(redis_client, f"{prefix}:id:h1:hold")
        queued = call_async(pool, f"{node.url}/Locker/k1/quick", "")
        time.sleep(1.0)
        assert not queued.done(), "quick ran while hold had the lock"
        assert describe(node, hold_id)["status"] in ("running", "suspended")
        t0 = time.monotonic()
        r = httpx.patch(f"{node.admin_url}/invocations/{hold_id}/kill", timeout=30)
        assert r.status_code == 200, r.text
        resp = held.result(60)
        assert resp.status_code == 409 and resp.json()["message"] == "killed"
        q = queued.result(60)
        elapsed = time.monotonic() - t0
    assert q.status_code == 200 and q.json() == "quick k1"
    assert elapsed < 10, f"the queued call took {elapsed:.1f}s after the kill"
    d = describe(node, hold_id)
    assert (d["status"], d["completion_failure_code"], d["completion_failure"]) == (
        "completed",
        409,
        "killed",
    )
    assert redis_client.lrange(f"{prefix}:after-hold:h1", 0, -1) == []
    r = httpx.patch(f"{node.admin_url}/invocations/{hold_id}/kill", timeout=30)
    assert r.status_code == 409


def test_kill_kills_the_callees_it_waits_on(
    node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    with ThreadPoolExecutor(2) as pool:
        pending = call_async(pool, f"{node.url}/Parent/hold_via_call", '"k2"')
        parent_id = rget(redis_client, f"{prefix}:id:k2:parent")
        child_id = rget(redis_client, f"{prefix}:id:k2-child:hold")
        r = httpx.delete(
            f"{node.admin_url}/invocations/{parent_id}", params={"mode": "Kill"}, timeout=30
        )
        assert r.status_code == 200, r.text
        assert pending.result(60).status_code == 409
    d = wait_completed(node, child_id)
    assert (d["completion_failure_code"], d["completion_failure"]) == (409, "killed")
    # The child's lock on Locker/k2 is free again.
    r = httpx.post(f"{node.url}/Locker/k2/quick", headers=JSON, timeout=60)
    assert r.json() == "quick k2"


def test_admin_status_codes_and_purge(node: RtNode, redis_client: redis.Redis, prefix: str) -> None:
    admin = node.admin_url
    unknown = invocation_id_for(service="Sleeper", key=None)
    with httpx.Client(timeout=30) as c:
        for method, path in (
            ("GET", ""),
            ("PATCH", "/cancel"),
            ("PATCH", "/kill"),
            ("PATCH", "/purge"),
        ):
            r = c.request(method, f"{admin}/invocations/{unknown}{path}")
            assert r.status_code == 404, (method, path, r.text)
            assert unknown in r.json()["message"]
            r = c.request(method, f"{admin}/invocations/inv_nope{path}")
            assert r.status_code == 400, (method, path, r.text)
            assert "Invalid invocation id" in r.json()["message"]
        r = c.delete(f"{admin}/invocations/{unknown}", params={"mode": "Explode"})
        assert r.status_code == 400

        # A completed invocation: cancel/kill 409, describe shows its result.
        r = c.post(
            f"{node.url}/Sleeper/nap", content="1", headers={**JSON, "idempotency-key": "i1"}
        )
        done_id = r.headers["x-restate-id"]
        # The caller is answered once the output is durable in the log; the status in
        # Redis follows when that record is applied.
        d = wait_completed(node, done_id)
        assert d["completion_result"] == "success"
        assert d["target"] == "Sleeper/nap" and d["idempotency_key"] == "i1"
        assert d["journal_size"] >= 3 and d["invoked_by"] == "ingress"
        assert c.patch(f"{admin}/invocations/{done_id}/cancel").status_code == 409
        assert c.patch(f"{admin}/invocations/{done_id}/kill").status_code == 409
        assert c.delete(f"{admin}/invocations/{done_id}").status_code == 409  # mode=Cancel

        # A running invocation: purge 409; cancel 202; then purge 200 and it is gone.
        r = c.post(f"{node.url}/Sleeper/nap/send", content="600000", headers=JSON)
        run_id = r.json()["invocationId"]
        wait_for(lambda: c.get(f"{admin}/invocations/{run_id}").status_code == 200)
        r = c.patch(f"{admin}/invocations/{run_id}/purge")
        assert r.status_code == 409 and "not completed" in r.json()["message"]
        assert c.patch(f"{admin}/invocations/{run_id}/cancel").status_code == 202
        d = wait_completed(node, run_id)
        assert d["completion_failure"] == "cancelled"
        assert c.patch(f"{admin}/invocations/{run_id}/purge").status_code == 200
        assert c.get(f"{admin}/invocations/{run_id}").status_code == 404
        assert c.patch(f"{admin}/invocations/{run_id}/purge").status_code == 404

        # Purge drops the idempotency record: the same key runs the handler again.
        r = c.delete(f"{admin}/invocations/{done_id}", params={"mode": "Purge"})
        assert r.status_code == 200
        assert c.get(f"{admin}/invocations/{done_id}").status_code == 404
        r = c.post(
            f"{node.url}/Sleeper/nap", content="2", headers={**JSON, "idempotency-key": "i1"}
        )
        assert r.json() == 2  # a new execution (the purged one returned 1)


def test_cli_describe_cancel_kill_purge(
    node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    admin = ["--admin-url", node.admin_url]
    r = httpx.post(f"{node.url}/Sleeper/nap/send", content="600000", headers=JSON, timeout=30)
    inv_id = r.json()["invocationId"]
    wait_for(lambda: httpx.get(f"{node.admin_url}/invocations/{inv_id}").status_code == 200)
    out = rt_cli("invocations", "describe", inv_id, *admin)
    assert out.returncode == 0, out.stderr
    assert "Sleeper/nap" in out.stdout and inv_id in out.stdout and "Journal size:" in out.stdout
    timeline = [line.split() for line in out.stdout.splitlines()]
    assert timeline[timeline.index(["#", "CMD", "ENTRY", "DETAIL"]) + 1][:3] == ["0", "0", "Input"]
    sleep = next(line for line in timeline if "Sleep" in line)
    assert "until" in sleep and sleep[-1] == "waiting"  # what the invocation waits on

    out = rt_cli("invocations", "cancel", inv_id, *admin)  # no --yes, stdin not a tty
    assert out.returncode == 1 and "--yes" in out.stderr
    assert describe(node, inv_id)["status"] != "completed"

    out = rt_cli("invocations", "cancel", inv_id, "--yes", *admin)
    assert out.returncode == 0, out.stderr
    assert "Cancelled 1 invocation" in out.stdout
    wait_completed(node, inv_id)
    out = rt_cli("invocations", "kill", inv_id, "--yes", *admin)
    assert out.returncode == 4 and "already completed" in out.stderr  # refused
    out = rt_cli("invocations", "describe", inv_id, *admin)
    assert out.returncode == 0 and "└ Cancel" in out.stdout, out.stderr
    assert "[409] cancelled" in out.stdout
    out = rt_cli("invocations", "describe", inv_id, "--no-journal", *admin)
    assert out.returncode == 0 and "Journal size:" in out.stdout and "Input" not in out.stdout
    out = rt_cli("invocations", "describe", inv_id, "--json", *admin)
    described = json.loads(out.stdout)
    assert described["id"] == inv_id and described["status"] == "completed"
    assert [e["entry_type"] for e in described["journal"]][:2] == [
        "Command: Input",
        "Command: Sleep",
    ]

    r = httpx.post(f"{node.url}/Sleeper/nap/send", content="600000", headers=JSON, timeout=30)
    kill_id = r.json()["invocationId"]
    wait_for(lambda: httpx.get(f"{node.admin_url}/invocations/{kill_id}").status_code == 200)
    out = rt_cli("invocations", "purge", kill_id, "--yes", *admin)
    assert out.returncode == 4 and "only completed ones can be purged" in out.stderr
    out = rt_cli("invocations", "kill", kill_id, "-y", *admin)
    assert out.returncode == 0, out.stderr
    assert "Killed 1 invocation" in out.stdout
    out = rt_cli("invocations", "purge", kill_id, "-y", *admin)
    assert out.returncode == 0 and "Purged 1 invocation" in out.stdout, out.stderr
    out = rt_cli("invocations", "describe", kill_id, *admin)
    assert out.returncode == 3 and "does not exist" in out.stderr and "404" in out.stderr

    out = rt_cli("invocations", "describe", "inv_bad", *admin)
    assert out.returncode == 4 and "Invalid invocation id" in out.stderr
    dead = f"http://127.0.0.1:{free_port()}"
    out = rt_cli("invocations", "cancel", inv_id, "--yes", "--admin-url", dead)
    assert out.returncode == 5 and "cannot reach the rt admin API" in out.stderr
    out = rt_cli("invocations", "describe", inv_id, "--admin-url", "ftp://x")
    assert out.returncode == 2 and "invalid admin URL" in out.stderr


def test_list_in_flight_invocations_filters_and_bad_input(
    node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    """``GET /invocations`` / ``rt invocations ls``: what has not completed, oldest first."""
    listing = f"{node.admin_url}/invocations"
    empty = {"invocations": [], "more": False, "total": 0, "next_cursor": None}
    assert httpx.get(listing, timeout=30).json() == empty
    naps = [httpx.post(f"{node.url}/Sleeper/nap/send", json=600_000, timeout=30) for _ in range(3)]
    nap_ids = [r.json()["invocationId"] for r in naps]
    with ThreadPoolExecutor(4) as pool:
        held = call_async(pool, f"{node.url}/Locker/k1/hold", '"h1"')
        hold_id = rget(redis_client, f"{prefix}:id:h1:hold")
        queued = call_async(pool, f"{node.url}/Locker/k1/quick", "")

        def listed(**query: object) -> list[dict[str, Any]]:
            r = httpx.get(listing, params=query, timeout=30)
            assert r.status_code == 200, r.text
            return list(r.json()["invocations"])

        seen: list[list[dict[str, Any]]] = [[]]

        def five() -> list[dict[str, Any]] | None:
            seen[0] = listed()
            return seen[0] if len(seen[0]) == 5 else None

        everything = wait_for(five, 90, desc="5 listed")
        assert everything, seen
        created = [d["created_at"] for d in everything]
        assert created == sorted(created)
        assert {d["id"] for d in everything} >= {hold_id, *nap_ids}
        assert {d["target"] for d in listed(service="Sleeper")} == {"Sleeper/nap"}
        assert len(listed(service="Sleeper")) == 3
        assert [d["id"] for d in listed(service="Locker", handler="hold", key="k1")] == [hold_id]
        pending = wait_for(lambda: listed(status="pending"), desc="the queued call pending")
        assert [d["target"] for d in pending] == ["Locker/k1/quick"]
        assert listed(key="nope") == []
        page = httpx.get(listing, params={"limit": 2}, timeout=30).json()
        assert len(page["invocations"]) == 2 and page["more"] is True
        for bad in ({"result": "killed"}, {"status": "nope"}, {"limit": 0}, {"limit": "x"}):
            r = httpx.get(listing, params=bad, timeout=30)
            assert r.status_code == 400, (bad, r.text)
            assert "message" in r.json()

        shown = rt_cli("invocations", "ls", "--service", "Locker", "--admin-url", node.admin_url)
        assert shown.returncode == 0, shown.stderr
        assert hold_id in shown.stdout and "Locker/k1/quick" in shown.stdout
        assert nap_ids[0] not in shown.stdout
        none = rt_cli("invocations", "ls", "--key", "nope", "--admin-url", node.admin_url)
        assert none.returncode == 0 and "No invocations in flight match" in none.stdout
        bad = rt_cli("invocations", "ls", "--status", "done", "--admin-url", node.admin_url)
        assert bad.returncode == 4 and "Invalid status 'done'" in bad.stderr

        # Restate's CLI form: a target (prefix) instead of an id acts on every match.
        admin = ["--admin-url", node.admin_url]
        none = rt_cli("invocations", "cancel", "Nope/x", "--yes", *admin)
        assert none.returncode == 1 and "no invocation in flight matches" in none.stderr
        unconfirmed = rt_cli("invocations", "kill", "Sleeper/nap", *admin)
        assert unconfirmed.returncode == 1 and "--yes" in unconfirmed.stderr
        assert len(listed(service="Sleeper")) == 3
        killed = rt_cli("invocations", "kill", "Sleeper/nap", "--yes", *admin)
        assert killed.returncode == 0, killed.stderr
        assert "Killed 3 invocations" in killed.stdout
        assert listed(service="Sleeper") == []
        purge = rt_cli("invocations", "purge", "Locker", "--yes", *admin)
        assert purge.returncode == 1 and "purge takes an invocation id" in purge.stderr
        r = httpx.patch(f"{node.admin_url}/invocations/{hold_id}/kill", timeout=30)
        assert r.status_code == 200, r.text
        assert held.result(60).status_code == 409 and queued.result(60).status_code == 200
    wait_for(lambda: listed() == [], desc="nothing in flight")
