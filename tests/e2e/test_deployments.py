"""Deployments end to end: the real restate-sdk (PyPI) served by hypercorn, registered with
``rt dev`` (no app file) by URL, called through rt's ingress.

Real parts only: the session's Kafka and Redis, ``rt dev`` processes, SDK endpoints in
child processes (tests/e2e/apps/remote_sdk.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Infra
from tests.e2e.conftest import RtNode
from tests.e2e.egress_util import committed_reader, read_json
from tests.e2e.egress_util import create_topic as create_out_topic
from tests.integration.protocol.endpoints import (
    EndpointProcess,
    start_hypercorn,
    start_node,
    start_uvicorn,
)
from tests.integration.protocol.fakes import fixed, serve_asgi

APP = "tests.e2e.apps.remote_sdk:app"
ROOT = Path(__file__).resolve().parents[2]


class BareNode(RtNode):
    """``rt server`` (or ``rt dev`` with no app file): every service comes by registration."""

    def __init__(self, *args: Any, command: str = "server", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command = command

    @property
    def args(self) -> list[str]:
        args = [a for a in super().args if a != str(self.app)]
        return [self.command if a == "dev" else a for a in args]


@pytest.fixture
def node(infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]) -> RtNode:
    n = BareNode(infra, prefix, Path("none.py"), tmp_path)
    nodes.append(n.start())
    return n


@pytest.fixture
def dev_node(infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]) -> RtNode:
    """``rt dev`` with no app file, serving its ingress from a process of its own."""
    n = BareNode(infra, prefix, Path("none.py"), tmp_path, command="dev", RT_INGRESS_PROCESSES="1")
    nodes.append(n.start())
    return n


def _endpoint(tmp: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> EndpointProcess:
    tmp.mkdir(parents=True, exist_ok=True)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    try:
        return start_hypercorn(tmp, APP)
    finally:
        for k in env:
            monkeypatch.delenv(k)


@pytest.fixture
def endpoints(tmp_path: Path) -> Iterator[list[EndpointProcess]]:
    started: list[EndpointProcess] = []
    yield started
    for e in started:
        e.stop()


def _register(node: RtNode, uri: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{node.admin_url}/deployments", json={"uri": uri, **body}, timeout=60)


def _call(node: RtNode, path: str, arg: Any = None, timeout: float = 60) -> Any:
    r = httpx.post(f"{node.url}/{path}", json=arg, timeout=timeout)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json() if r.content else None


def _rt(node: RtNode, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args, "--admin-url", node.admin_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**node.env, "COLUMNS": "250"},
    )


def _attach(node: RtNode, invocation_id: str, timeout: float = 60) -> Any:
    r = httpx.get(f"{node.url}/restate/invocation/{invocation_id}/attach", timeout=timeout)
    assert r.status_code == 200, r.text
    return r.json()


def test_registered_sdk_endpoint_serves_calls_sends_state_and_sleeps_and_survives_a_restart(
    node: RtNode,
    endpoints: list[EndpointProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ep = _endpoint(tmp_path / "v1", monkeypatch)
    endpoints.append(ep)

    r = _register(node, ep.uri)
    assert r.status_code == 201, r.text
    dep = r.json()
    dep_id = dep["id"]
    assert dep_id.startswith("dp_")
    assert {s["name"]: s["revision"] for s in dep["services"]} == {
        "Greeter": 1,
        "Counter": 1,
        "Signup": 1,
    }
    assert dep["min_protocol_version"] == 5 and dep["max_protocol_version"] >= 5

    again = _register(node, ep.uri + "/")  # the same endpoint and manifest: idempotent
    assert again.status_code == 200 and again.json()["id"] == dep_id

    services = httpx.get(f"{node.admin_url}/services", timeout=10).json()["services"]
    assert {s["name"]: s["deployment_id"] for s in services if s["name"] != "rt.Kafka"} == {
        "Greeter": dep_id,
        "Counter": dep_id,
        "Signup": dep_id,
    }
    # rt's built-in, hosted in process by every node (ADR 0021 §4).
    assert {s["name"] for s in services} >= {"rt.Kafka"}

    # call, state, call + send from a remote handler, sleep
    assert _call(node, "Greeter/greet", "bob") == "Hello bob from v1"
    assert _call(node, "Counter/k/add", 5) == 5
    assert _call(node, "Counter/k/add", 2) == 7
    assert _call(node, "Counter/k/get") == 7
    assert _call(node, "Greeter/count_for", "k2") == 1
    deadline = time.monotonic() + 30
    while _call(node, "Counter/k2/get") != 11:
        assert time.monotonic() < deadline, "the send from Greeter.count_for never ran"
        time.sleep(0.2)
    assert _call(node, "Greeter/double_twice", 3) == 12  # ctx.run results acknowledged
    started = time.monotonic()
    assert _call(node, "Greeter/greet_later", "ann") == "Hello ann, later"
    assert time.monotonic() - started >= 0.3

    # a send through the ingress, attached for its output
    sent = httpx.post(f"{node.url}/Greeter/greet/send", json="sue", timeout=30)
    assert sent.status_code == 202, sent.text
    assert _attach(node, sent.json()["invocationId"]) == "Hello sue from v1"

    described = httpx.get(f"{node.admin_url}/deployments/{dep_id}", timeout=30).json()
    assert described["uri"] == ep.uri and described["pinned_invocations"] == 0

    # the CLI
    ls = _rt(node, "deployments", "ls")
    assert ls.returncode == 0, ls.stderr
    assert dep_id in ls.stdout and ep.uri in ls.stdout and "Greeter@1" in ls.stdout
    describe = _rt(node, "deployments", "describe", dep_id)
    assert describe.returncode == 0, describe.stderr
    assert "Pinned invocations: 0" in describe.stdout
    register = _rt(node, "deployments", "register", ep.uri, "--yes")
    assert register.returncode == 0, register.stderr
    assert f"already exists with id {dep_id}" in register.stdout

    # registrations survive a restart (they live on the registry topic)
    node.stop()
    node.start()
    listed = httpx.get(f"{node.admin_url}/deployments", timeout=30).json()["deployments"]
    assert [d["id"] for d in listed] == [dep_id]
    assert _call(node, "Counter/k/add", 1) == 8

    removed = _rt(node, "deployments", "rm", dep_id)
    assert removed.returncode == 0, removed.stderr
    assert httpx.get(f"{node.admin_url}/deployments", timeout=30).json()["deployments"] == []
    gone = httpx.post(f"{node.url}/Greeter/greet", json="x", timeout=30)
    assert gone.status_code == 404


def test_registration_errors_name_their_cause_and_register_nothing(
    dev_node: RtNode,
    endpoints: list[EndpointProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = dev_node

    def refused(uri: str, status: int, text: str, **body: Any) -> None:
        r = _register(node, uri, **body)
        assert r.status_code == status, r.text
        assert text in r.json()["message"], r.json()

    refused("ftp://127.0.0.1:1", 400, "http://")
    refused("http://127.0.0.1:1", 400, "discovery failed: cannot reach endpoint")
    # an HTTP server that is not an SDK endpoint: rt's own admin API
    refused(node.admin_url, 400, "HTTP 404", use_http_11=True)
    refused(node.admin_url, 400, "discovery failed")  # HTTP/2 to an HTTP/1.1 server
    assert httpx.get(f"{node.admin_url}/deployments", timeout=30).json()["deployments"] == []

    v1 = _endpoint(tmp_path / "v1", monkeypatch)
    endpoints.append(v1)
    assert _register(node, v1.uri).status_code == 201
    # Counter.get turns exclusive: refused without breaking, nothing registered
    other = _endpoint(tmp_path / "breaking", monkeypatch, RT_TEST_BREAKING="1")
    endpoints.append(other)
    refused(other.uri, 409, "handler Counter/get changes kind from Shared to Exclusive")
    cli = _rt(node, "deployments", "register", other.uri, "--yes")
    assert cli.returncode == 1 and "breaking" in cli.stderr
    assert len(httpx.get(f"{node.admin_url}/deployments", timeout=30).json()["deployments"]) == 1
    # accepted with breaking: a new deployment, each service at revision 2
    r = _register(node, other.uri, breaking=True)
    assert r.status_code == 201, r.text
    assert {s["name"]: s["revision"] for s in r.json()["services"]} == {
        "Greeter": 2,
        "Counter": 2,
        "Signup": 2,
    }
    # the ingress process follows registrations too
    deadline = time.monotonic() + 30
    while True:
        r = httpx.post(f"{node.url}/Greeter/greet", json="ip", timeout=30)
        if r.status_code == 200:
            break
        assert r.status_code == 404 and time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert r.json() == "Hello ip from v1"
    unknown = _rt(node, "deployments", "rm", "dp_unknown")
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr


def test_an_invocation_stays_on_the_deployment_of_its_first_attempt(
    node: RtNode,
    endpoints: list[EndpointProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v1 = _endpoint(tmp_path / "v1", monkeypatch, RT_TEST_VERSION="v1")
    endpoints.append(v1)
    v1_id = _register(node, v1.uri).json()["id"]
    # Long enough that v2's start, registration and a call fit in it on a loaded host.
    sent = httpx.post(f"{node.url}/Greeter/version_after/send", json=12000, timeout=30)
    assert sent.status_code == 202, sent.text
    inv_id = sent.json()["invocationId"]
    # wait until it journaled its sleep on v1 (pinned there by the log)
    deadline = time.monotonic() + 30
    while (
        httpx.get(f"{node.admin_url}/deployments/{v1_id}", timeout=30).json()["pinned_invocations"]
        != 1
    ):
        assert time.monotonic() < deadline, "the invocation never got pinned to v1"
        time.sleep(0.1)

    v2 = _endpoint(tmp_path / "v2", monkeypatch, RT_TEST_VERSION="v2")
    endpoints.append(v2)
    r = _register(node, v2.uri)
    assert r.status_code == 201, r.text
    v2_id = r.json()["id"]
    assert v2_id != v1_id
    assert _call(node, "Greeter/greet", "new") == "Hello new from v2"  # new calls: v2

    refused = httpx.delete(f"{node.admin_url}/deployments/{v1_id}", timeout=30)
    assert refused.status_code == 409 and "pinned" in refused.json()["message"]
    described = httpx.get(f"{node.admin_url}/invocations/{inv_id}", timeout=30).json()
    assert described["pinned_deployment_id"] == v1_id

    # the old invocation resumes after its sleep on v1, not on v2
    assert _attach(node, inv_id) == "started on v1, finished on v1"
    described = httpx.get(f"{node.admin_url}/deployments/{v1_id}", timeout=30).json()
    assert described["pinned_invocations"] == 0
    assert httpx.delete(f"{node.admin_url}/deployments/{v1_id}", timeout=30).status_code == 202
    assert [d["id"] for d in httpx.get(f"{node.admin_url}/deployments").json()["deployments"]] == [
        v2_id
    ]


def test_a_typescript_sdk_endpoint_registers_and_serves(
    node: RtNode, endpoints: list[EndpointProcess], tmp_path: Path
) -> None:
    js = start_node(tmp_path)
    endpoints.append(js)
    r = _register(node, js.uri)
    assert r.status_code == 201, r.text
    assert r.json()["sdk_version"].startswith("restate-sdk-typescript/")
    assert _call(node, "JsGreeter/greet", "ts") == "Hello ts from JS"
    assert _call(node, "JsGreeter/twice", 3) == 12
    assert _call(node, "JsCounter/k/add", 4) == 4
    assert _call(node, "JsCounter/k/get") == 4
    assert _call(node, "JsSleeper/nap", 200) == "slept 200"


MANIFEST_V4 = "application/vnd.restate.endpointmanifest.v4+json"


BAD_ENDPOINTS = [
    (MANIFEST_V4, b"<html>hello</html>", "not JSON"),
    ("application/json", b'{"status": "ok"}', "not an endpoint manifest"),
    (
        MANIFEST_V4,
        json.dumps({"minProtocolVersion": 1, "maxProtocolVersion": 4, "services": []}).encode(),
        "unsupported service protocol",
    ),
]


async def test_bad_manifests_and_old_protocols_are_400s(node: RtNode) -> None:
    for content_type, body, text in BAD_ENDPOINTS:
        app = fixed(200, {"content-type": content_type}, body)
        async with serve_asgi(app) as uri, httpx.AsyncClient(timeout=60) as client:
            r = await client.post(
                f"{node.admin_url}/deployments", json={"uri": uri, "use_http_11": True}
            )
            assert r.status_code == 400, r.text
            assert text in r.json()["message"], r.json()
            listed = await client.get(f"{node.admin_url}/deployments")
            assert listed.json()["deployments"] == []


def _wait_pinned(node: RtNode, dep_id: str, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = httpx.get(f"{node.admin_url}/deployments/{dep_id}", timeout=30).json()
        if got["pinned_invocations"] == n:
            return
        assert time.monotonic() < deadline, f"pinned {got['pinned_invocations']}, not {n}"
        time.sleep(0.1)


def test_kill9_of_rt_or_of_the_endpoint_mid_handler_loses_nothing(
    node: RtNode,
    endpoints: list[EndpointProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ep = _endpoint(tmp_path / "a", monkeypatch)
    endpoints.append(ep)
    dep_id = _register(node, ep.uri).json()["id"]

    # rt dies while the invocation sleeps; the restarted node resumes it on its deployment
    sent = httpx.post(f"{node.url}/Greeter/version_after/send", json=2000, timeout=30)
    inv_id = sent.json()["invocationId"]
    _wait_pinned(node, dep_id, 1)
    node.kill9()
    node.start()
    assert _attach(node, inv_id) == "started on v1, finished on v1"

    # the endpoint dies mid-handler: attempts fail and back off until it is back (moved
    # to a new port, so the deployment is updated in place with PATCH)
    sent = httpx.post(f"{node.url}/Greeter/version_after/send", json=1500, timeout=30)
    inv_id = sent.json()["invocationId"]
    _wait_pinned(node, dep_id, 1)
    ep.kill()
    time.sleep(2.0)  # the sleep ends while the endpoint is down: the resumption fails
    revived = _endpoint(tmp_path / "b", monkeypatch)
    endpoints.append(revived)
    moved = httpx.patch(
        f"{node.admin_url}/deployments/{dep_id}", json={"uri": revived.uri}, timeout=60
    )
    assert moved.status_code == 200, moved.text
    assert _attach(node, inv_id) == "started on v1, finished on v1"
    assert _call(node, "Counter/z/add", 2) == 2


def test_remote_handlers_suspend_and_resume_at_every_await(
    infra: Infra,
    prefix: str,
    tmp_path: Path,
    nodes: list[RtNode],
    endpoints: list[EndpointProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``always_replay``: every attempt is asked to suspend at once (inactivity timeout 0),
    so the SDK suspends whenever it needs rt and each step resumes by replay."""
    node = BareNode(infra, prefix, Path("none.py"), tmp_path, RT_ALWAYS_REPLAY="1")
    nodes.append(node.start())
    py = _endpoint(tmp_path / "py", monkeypatch)
    js = start_node(tmp_path)
    endpoints.extend([py, js])
    assert _register(node, py.uri).status_code == 201
    assert _register(node, js.uri).status_code == 201
    assert _call(node, "Counter/k/add", 5) == 5
    assert _call(node, "Counter/k/add", 1) == 6
    assert _call(node, "Counter/k/get") == 6
    sent = httpx.post(f"{node.url}/Greeter/double_twice/send", json=3, timeout=30)
    inv_id = sent.json()["invocationId"]
    assert _attach(node, inv_id) == 12
    described = httpx.get(f"{node.admin_url}/invocations/{inv_id}", timeout=30).json()
    assert described["attempt"] >= 3  # suspended awaiting each run's ack, resumed by replay
    assert _call(node, "Greeter/count_for", "k2") == 1
    deadline = time.monotonic() + 30
    while _call(node, "Counter/k2/get") != 11:
        assert time.monotonic() < deadline, "the send from Greeter.count_for never ran"
        time.sleep(0.2)
    assert _call(node, "Greeter/greet_later", "ann") == "Hello ann, later"
    assert _call(node, "Greeter/version_after", 200) == "started on v1, finished on v1"
    assert _call(node, "JsGreeter/twice", 3) == 12
    assert _call(node, "JsSleeper/nap", 100) == "slept 100"
    assert _call(node, "JsCounter/j/add", 2) == 2


def test_remote_workflows_promises_and_cancellation(
    node: RtNode,
    endpoints: list[EndpointProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ep = _endpoint(tmp_path / "wf", monkeypatch)
    endpoints.append(ep)
    assert _register(node, ep.uri).status_code == 201

    started = httpx.post(f"{node.url}/Signup/alice/run/send", json="a@x.org", timeout=30)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 30
    while _call(node, "Signup/alice/email") != "a@x.org":
        assert time.monotonic() < deadline, "the workflow never stored its state"
        time.sleep(0.1)
    again = httpx.post(f"{node.url}/Signup/alice/run/send", json="b@x.org", timeout=30)
    assert again.json()["invocationId"] == started.json()["invocationId"]  # runs once per id
    assert _call(node, "Signup/alice/click", "bob") is None
    r = httpx.get(f"{node.url}/restate/workflow/Signup/alice/attach", timeout=60)
    assert r.status_code == 200 and r.json() == "a@x.org confirmed by bob"

    # cancelling a remote invocation that sleeps: the SDK sees the cancellation
    sent = httpx.post(f"{node.url}/Greeter/version_after/send", json=60000, timeout=30)
    inv_id = sent.json()["invocationId"]
    deadline = time.monotonic() + 30
    while httpx.get(f"{node.admin_url}/invocations/{inv_id}", timeout=30).json()["status"] not in (
        "suspended",
        "running",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancel = httpx.patch(f"{node.admin_url}/invocations/{inv_id}/cancel", timeout=30)
    assert cancel.status_code == 202, cancel.text
    r = httpx.get(f"{node.url}/restate/invocation/{inv_id}/attach", timeout=60)
    assert r.status_code == 409, (r.status_code, r.text)


def test_an_http11_endpoint_runs_request_response(
    node: RtNode, endpoints: list[EndpointProcess], tmp_path: Path
) -> None:
    """uvicorn serves HTTP/1.1 only: registered with --use-http1.1, every await that needs
    rt ends the request (the SDK suspends) and the next step is a new request."""
    ep = start_uvicorn(tmp_path)
    endpoints.append(ep)
    plain = _register(node, ep.uri)
    assert plain.status_code == 400 and "discovery failed" in plain.json()["message"]
    cli = _rt(node, "deployments", "register", ep.uri, "--use-http1.1", "--yes")
    assert cli.returncode == 0, cli.stderr
    listed = httpx.get(f"{node.admin_url}/deployments", timeout=30).json()["deployments"]
    assert [(d["http_version"], d["protocol_type"]) for d in listed] == [
        ("HTTP/1.1", "RequestResponse")
    ]
    assert _call(node, "Greeter/greet", "h1") == "Hello h1"
    assert _call(node, "Runner/double_twice", 5) == 20
    assert _call(node, "Sleeper/nap", 100) == "slept 100"
    assert _call(node, "Counter/c/add", 3) == 3
    assert _call(node, "Caller/call_greeter", "eve") == "Greeter said: Hello eve"


def test_rt_signs_its_requests_to_an_endpoint_that_requires_identity(
    infra: Infra,
    prefix: str,
    tmp_path: Path,
    nodes: list[RtNode],
    endpoints: list[EndpointProcess],
) -> None:
    key = tmp_path / "identity.pem"
    made = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "deployments", "keygen", "--out", str(key)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.split("Identity key:")[1].strip()
    assert key_id.startswith("publickeyv1_") and oct(key.stat().st_mode)[-3:] == "600"
    again = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "deployments", "keygen", "--out", str(key)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert again.returncode != 0 and "exists" in again.stderr
    for sub in ("ep", "u", "s"):
        (tmp_path / sub).mkdir()
    endpoints.append(
        start_hypercorn(
            tmp_path / "ep",
            "tests.integration.protocol.services_py_signed:app",
            {"RT_TEST_IDENTITY_KEY": key_id},
        )
    )
    uri = endpoints[-1].uri
    unsigned = BareNode(infra, prefix + "u", Path("none.py"), tmp_path / "u")
    nodes.append(unsigned.start())
    refused = _register(unsigned, uri)
    assert refused.status_code == 400
    assert "RT_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE" in refused.text

    node = BareNode(
        infra, prefix, Path("none.py"), tmp_path / "s",
        RT_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE=str(key),
    )  # fmt: skip
    nodes.append(node.start())
    assert _register(node, uri).status_code == 201
    assert _call(node, "Greeter/greet", "Eve") == "Hello Eve"
    assert _call(node, "Greeter/greet", "Bob") == "Hello Bob"


def test_rt_sdk_behind_an_endpoint_emits_to_kafka_through_the_built_in_exactly_once(
    infra: Infra,
    prefix: str,
    tmp_path: Path,
    node: RtNode,
    endpoints: list[EndpointProcess],
) -> None:
    topic = f"{prefix}.orders.out"
    create_out_topic(infra, topic, partitions=1)
    (tmp_path / "ep").mkdir()
    endpoints.append(
        start_hypercorn(tmp_path / "ep", "tests.e2e.apps.rt_sdk_emit:app", {"EMIT_TOPIC": topic})
    )
    assert _register(node, endpoints[-1].uri).status_code == 201
    for i in range(3):
        assert _call(node, "Orders/place", {"id": i}) == f"paid-{i}"
    node.kill9()  # the built-in's records survive an owner's crash, once each
    node.start()
    for i in range(3, 6):
        assert _call(node, "Orders/place", {"id": i}) == f"paid-{i}"

    reader = committed_reader(infra, topic)
    try:
        got = read_json(reader, 6, timeout=60)
    finally:
        reader.close()
    assert sorted(r["id"] for r in got) == list(range(6))
    assert all(r["receipt"] == f"paid-{r['id']}" for r in got)
    # rt.Kafka is rt's: not callable through the ingress, and its name cannot be taken.
    private = httpx.post(f"{node.url}/rt.Kafka/x/emit", json={}, timeout=10)
    assert private.status_code in (400, 403, 404), private.text
