"""Pause, resume, restart as new and batch actions end to end: admin API, CLI, kill -9."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from sdk.ids import invocation_id_for
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

JSON = {"content-type": "application/json"}


@pytest.fixture
def node(infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]) -> RtNode:
    n = RtNode(infra, prefix, APPS / "control_app.py", tmp_path)
    nodes.append(n.start())
    return n


@pytest.fixture
def r(infra: Infra) -> redis.Redis:
    return redis.Redis.from_url(infra.redis_url)


def wait_for(what: Callable[[], Any], timeout: float = 60.0, desc: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {desc}")


def send(node: RtNode, path: str, tag: str) -> str:
    resp = httpx.post(f"{node.url}/{path}/send", content=json.dumps(tag), headers=JSON, timeout=30)
    assert resp.status_code == 202, resp.text
    inv_id: str = resp.json()["invocationId"]
    return inv_id


def describe(node: RtNode, inv_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{node.admin_url}/invocations/{inv_id}", timeout=30)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def status_of(node: RtNode, inv_id: str) -> dict[str, Any] | None:
    """The description, None while the invocation's Invoke is not applied yet."""
    resp = httpx.get(f"{node.admin_url}/invocations/{inv_id}", timeout=30)
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def wait_status(node: RtNode, inv_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (d := status_of(node, inv_id)) is not None and d["status"] == status and d,
            timeout,
            f"{inv_id} to be {status}",
        )
    )


def patch(node: RtNode, inv_id: str, action: str, **params: object) -> httpx.Response:
    return httpx.patch(f"{node.admin_url}/invocations/{inv_id}/{action}", params=params, timeout=30)


def did(r: redis.Redis, prefix: str, tag: str) -> list[str]:
    return [b.decode() for b in r.lrange(f"{prefix}:did:{tag}", 0, -1)]


def output(node: RtNode, inv_id: str) -> str:
    d = describe(node, inv_id)
    assert d["completion_result"] == "success", d
    resp = httpx.get(f"{node.url}/restate/invocation/{inv_id}/output", timeout=30)
    return str(resp.json()) if resp.status_code == 200 else d["completion_result"]


def rt_cli(node: RtNode, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "invocations", *args,
         "--admin-url", node.admin_url],
        capture_output=True, text=True, timeout=120, input=stdin,
    )  # fmt: skip


def test_exhausted_retries_pause_then_resume_completes_from_the_journal(
    node: RtNode, r: redis.Redis, prefix: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    inv = send(node, "Gate/work", tag)
    d = wait_status(node, inv, "paused")
    # on_max_attempts="pause" after 3 attempts; the last failure says where and why.
    assert d["retry_count"] == 3 and d["attempt"] == 3
    assert d["last_failure"] == f"RuntimeError: gate {tag} is closed" or tag in d["last_failure"]
    assert d["last_failure_error_code"] == 500
    assert "RuntimeError" in d["last_failure_stacktrace"]
    assert d["last_failure_journal_size"] == 3  # input, the prepare run, its result
    listed = httpx.get(f"{node.admin_url}/invocations", params={"status": "paused"}).json()
    assert inv in [i["id"] for i in listed["invocations"]]
    shown = rt_cli(node, "describe", inv)
    assert shown.returncode == 0, shown.stderr
    assert "paused" in shown.stdout and "Stack trace:" in shown.stdout
    assert "journal entry 3" in shown.stdout
    ls = rt_cli(node, "ls", "--status", "paused")
    assert inv in ls.stdout

    time.sleep(0.5)  # paused: no attempt runs
    assert describe(node, inv)["attempt"] == 3
    assert patch(node, inv, "pause").status_code == 200  # already paused

    r.set(f"{prefix}:open:{tag}", 1)
    resumed = rt_cli(node, "resume", inv)
    assert resumed.returncode == 0, resumed.stderr
    done = wait_status(node, inv, "completed")
    assert done["completion_result"] == "success"
    assert did(r, prefix, tag) == ["prepare", "finish"]  # the journaled step never ran again
    assert patch(node, inv, "resume").status_code == 409  # completed
    assert patch(node, inv, "pause").status_code == 409


def test_an_operator_pauses_a_suspended_invocation_and_resumes_it(
    node: RtNode, r: redis.Redis, prefix: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    inv = send(node, "Sleeper/nap", tag)
    wait_for(lambda: did(r, prefix, tag) == ["before"], desc="the first step")
    resp = patch(node, inv, "pause")
    assert resp.status_code == 202, resp.text
    assert describe(node, inv)["status"] == "paused"
    time.sleep(3.5)  # the sleep's timer fires meanwhile: journaled, but nothing runs
    d = describe(node, inv)
    assert d["status"] == "paused" and did(r, prefix, tag) == ["before"]
    assert patch(node, inv, "resume").status_code == 200
    wait_status(node, inv, "completed")
    assert did(r, prefix, tag) == ["before", "after"]


def test_pause_and_resume_errors_change_nothing(node: RtNode) -> None:
    unknown = invocation_id_for(service="Gate", key=None)
    for action in ("pause", "resume", "restart-as-new"):
        assert patch(node, unknown, action).status_code == 404
        assert patch(node, "not-an-id", action).status_code == 400
    tag = uuid.uuid4().hex[:8]
    inv = send(node, "Sleeper/nap", tag)
    wait_for(lambda: status_of(node, inv) is not None, desc="the send to be applied")
    resp = patch(node, inv, "restart-as-new")
    assert resp.status_code == 409, resp.text  # still running
    resp = patch(node, inv, "resume", deployment="dp_nope")
    assert resp.status_code in (400, 409), resp.text
    wait_status(node, inv, "completed")


def test_a_paused_invocation_stays_paused_across_kill_9_and_resumes_once(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], r: redis.Redis
) -> None:
    node = RtNode(infra, prefix, APPS / "control_app.py", tmp_path)
    nodes.append(node.start())
    tag = uuid.uuid4().hex[:8]
    inv = send(node, "Sleeper/nap", tag)
    wait_for(lambda: did(r, prefix, tag) == ["before"], desc="the first step")
    assert patch(node, inv, "pause").status_code == 202
    node.kill9()
    node.start()
    time.sleep(3.5)  # past the sleep: a restarted owner must not run it
    d = describe(node, inv)
    assert d["status"] == "paused" and did(r, prefix, tag) == ["before"]
    assert patch(node, inv, "resume").status_code == 200
    node.kill9()  # right after the resume: it is in the log, applied once
    node.start()
    d = wait_status(node, inv, "completed")
    assert d["completion_result"] == "success"
    steps = did(r, prefix, tag)
    # "before" was journaled before the pause: never again. "after" ran in the resumed
    # attempt; a kill -9 before its result was journaled runs it again (at least once).
    assert steps[0] == "before" and steps.count("before") == 1
    assert steps[1:] and set(steps[1:]) == {"after"}


def test_restart_as_new_from_the_start_and_from_a_journal_prefix(
    node: RtNode, r: redis.Redis, prefix: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    inv = send(node, "Steps/three", tag)
    wait_status(node, inv, "completed")
    assert did(r, prefix, tag) == ["s1", "s2", "s3"]

    resp = patch(node, inv, "restart-as-new")
    assert resp.status_code == 200, resp.text
    fresh = resp.json()["new_invocation_id"]
    assert fresh != inv and fresh.startswith("inv_")
    d = wait_status(node, fresh, "completed")
    assert d["restarted_from"] == inv and d["completion_result"] == "success"
    assert did(r, prefix, tag) == ["s1", "s2", "s3"] * 2  # everything ran again

    # Entries: 0 input, 1 run s1, 2 its result, 3 run s2, 4 its result, 5 run s3, ...
    cli = rt_cli(node, "restart", inv, "--from", "3")
    assert cli.returncode == 0, cli.stderr
    partial = cli.stdout.split()[-1]
    assert partial.startswith("inv_") and partial not in (inv, fresh)
    d = wait_status(node, partial, "completed")
    assert d["completion_result"] == "success"
    assert did(r, prefix, tag) == ["s1", "s2", "s3"] * 2 + ["s3"]  # s1 and s2 replayed
    journal = httpx.get(
        f"{node.admin_url}/invocations/{partial}", params={"journal": "true"}
    ).json()["journal"]
    assert [e["name"] for e in journal if e["entry_type"] == "Command: Run"] == ["s1", "s2", "s3"]

    for bad in (99, 8):  # outside the journal; at or after the output
        resp = patch(node, inv, "restart-as-new", **{"from": bad})
        assert resp.status_code == 400, resp.text
    refused = rt_cli(node, "restart", inv, "--from", "99")
    assert refused.returncode != 0 and "outside the journal" in refused.stderr


def test_cli_batch_with_dry_run_and_yes(node: RtNode, r: redis.Redis, prefix: str) -> None:
    tags = [uuid.uuid4().hex[:8] for _ in range(3)]
    invs = [send(node, "Gate/work", t) for t in tags]
    for inv in invs:
        wait_status(node, inv, "paused")

    dry = rt_cli(node, "resume", "--service", "Gate", "--status", "paused", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: would resume 3 invocations" in dry.stdout
    assert all(inv in dry.stdout for inv in invs)
    assert all(describe(node, inv)["status"] == "paused" for inv in invs)

    refused = rt_cli(node, "resume", "--service", "Gate", "--status", "paused")
    assert refused.returncode != 0 and "confirmation" in refused.stderr  # stdin no terminal
    assert all(describe(node, inv)["status"] == "paused" for inv in invs)

    bad = rt_cli(node, "pause", "--status", "completed")
    assert bad.returncode == 2 and "does not apply" in bad.stderr
    nothing = rt_cli(node, "kill")
    assert nothing.returncode == 2 and "filter" in nothing.stderr

    for t in tags:
        r.set(f"{prefix}:open:{t}", 1)
    done = rt_cli(node, "resume", "--service", "Gate", "--handler", "work", "--status", "paused",
                  "--yes")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Resumed 3 invocations" in done.stdout
    for inv in invs:
        assert wait_status(node, inv, "completed")["completion_result"] == "success"

    # Batch pause, then batch kill, of running invocations.
    naps = [send(node, "Sleeper/doze", uuid.uuid4().hex[:8]) for _ in range(2)]
    for inv in naps:
        wait_for(
            lambda inv=inv: (d := status_of(node, inv)) and d["status"] in ("running", "suspended")
        )
    paused = rt_cli(node, "pause", "--service", "Sleeper", "--yes")
    assert paused.returncode == 0, paused.stderr
    assert "Paused 2 invocations" in paused.stdout
    assert all(describe(node, inv)["status"] == "paused" for inv in naps)
    killed = rt_cli(node, "kill", "--service", "Sleeper", "--status", "paused", "--yes")
    assert killed.returncode == 0, killed.stderr
    assert "Killed 2 invocations" in killed.stdout
    for inv in naps:
        d = wait_status(node, inv, "completed")
        assert d["completion_failure"] == "killed"
