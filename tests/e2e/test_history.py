"""The invocation history end to end: completed invocations are listed (newest first,
filtered, paged) through the admin API and the CLI, and leave the index with their
retention."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from runtime.log.producer import partition_of_invocation
from runtime.state.keys import PartitionKeys
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

P = 4


def _completed(node: RtNode, **params: Any) -> dict[str, Any]:
    r = httpx.get(
        f"{node.admin_url}/invocations", params={"status": "completed", **params}, timeout=30
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _wait_listed(node: RtNode, ids: set[str], timeout: float = 30) -> dict[str, Any]:
    """The answer to a call may come before its completion is applied: wait for the index."""
    deadline = time.monotonic() + timeout
    while True:
        body = _completed(node, limit=1000)
        if ids <= {d["id"] for d in body["invocations"]}:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_history_lists_filters_pages_and_trims(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    node = RtNode(infra, prefix, APPS / "history_app.py", tmp_path, partitions=P)
    nodes.append(node.start())
    post = lambda path, **kw: httpx.post(f"{node.url}{path}", timeout=60, **kw)  # noqa: E731
    ok = post("/Hist/echo", json="a")
    assert ok.status_code == 200, ok.text
    bad = post("/Hist/fail", json="b")
    assert bad.status_code == 422, bad.text
    nap = post("/Hist/nap/send")
    assert nap.status_code == 202, nap.text
    ids = {
        "ok": ok.headers["x-restate-id"],
        "bad": bad.headers["x-restate-id"],
        "nap": nap.json()["invocationId"],
    }
    killed = httpx.patch(f"{node.admin_url}/invocations/{ids['nap']}/kill", timeout=30)
    assert killed.status_code in (200, 202), killed.text
    body = _wait_listed(node, set(ids.values()))
    listed = [d["id"] for d in body["invocations"]]
    # Newest completion first: the kill came last, the echo first.
    assert listed.index(ids["nap"]) < listed.index(ids["bad"]) < listed.index(ids["ok"])
    kinds = {d["id"]: d["completion_kind"] for d in body["invocations"]}
    assert [kinds[ids[k]] for k in ("ok", "bad", "nap")] == ["success", "failure", "killed"]
    assert body["total"] is None and body["more"] is False

    # Filters.
    only = _completed(node, result="failure")
    assert [d["id"] for d in only["invocations"]] == [ids["bad"]]
    assert only["invocations"][0]["completion_failure"] == "no b"
    assert [d["id"] for d in _completed(node, handler="nap")["invocations"]] == [ids["nap"]]
    assert _completed(node, service="Other")["invocations"] == []
    ok_done = next(d for d in body["invocations"] if d["id"] == ids["ok"])["completed_at"]
    newer = [d["id"] for d in _completed(node, completed_after=ok_done)["invocations"]]
    assert ids["ok"] not in newer and ids["bad"] in newer

    # Pages by cursor: every completed invocation once, in order.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        page = _completed(node, **params)
        seen += [d["id"] for d in page["invocations"]]
        if not page["more"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == listed

    # Describe a completed one, with its journal and outcome.
    d = httpx.get(
        f"{node.admin_url}/invocations/{ids['bad']}", params={"journal": "true"}, timeout=30
    ).json()
    assert d["status"] == "completed" and d["completion_kind"] == "failure"
    assert d["journal"][0]["entry_type"] == "Command: Input"

    # The CLI.
    out = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "invocations", "ls", "--status", "failed",
         "--admin-url", node.admin_url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert ids["bad"] in out.stdout and ids["ok"] not in out.stdout

    # Trimmed with the retention: an idempotent call kept 1 s leaves the index once it
    # expired and its partition completes something else.
    brief = post("/Hist/brief", json="c", headers={"idempotency-key": "k1"})
    assert brief.status_code == 200, brief.text
    brief_id = brief.headers["x-restate-id"]
    _wait_listed(node, {brief_id})
    keys = PartitionKeys(prefix, partition_of_invocation(brief_id, P))
    assert redis_client.zscore(keys.history, brief_id) is not None
    time.sleep(1.5)
    deadline = time.monotonic() + 60
    while redis_client.zscore(keys.history, brief_id) is not None:
        assert time.monotonic() < deadline, "the expired invocation was never trimmed"
        post("/Hist/echo", json="x")  # lands on a random partition; some on brief's
    assert redis_client.zscore(keys.history_expiry, brief_id) is None
    assert brief_id not in {d["id"] for d in _completed(node, limit=1000)["invocations"]}

    # Purge removes an invocation from the index at once.
    purged = httpx.patch(f"{node.admin_url}/invocations/{ids['ok']}/purge", timeout=30)
    assert purged.status_code == 200, purged.text
    assert ids["ok"] not in {d["id"] for d in _completed(node, limit=1000)["invocations"]}
    ok_keys = PartitionKeys(prefix, partition_of_invocation(ids["ok"], P))
    assert redis_client.zscore(ok_keys.history, ids["ok"]) is None
