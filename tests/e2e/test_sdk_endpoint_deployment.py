"""rt's own SDK registered by URL with rt: sdk.app under hypercorn and uvicorn, end to end.

A real ``rt dev`` node (real Kafka and Redis) registers ``tests.unit.sdk.served:app``
served by a real hypercorn (h2c, bidirectional) and a real uvicorn (HTTP/1.1,
request/response) through ``POST /deployments``, then runs its handlers through the
ingress: state across invocations, ctx.run, a durable sleep, a terminal error's code,
named signals.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode
from tests.integration.protocol.endpoints import EndpointProcess
from tests.integration.sdk_server.test_sdk_endpoint import _hypercorn, _uvicorn

JSON = {"content-type": "application/json"}


@pytest.fixture(params=["hypercorn-h2c", "uvicorn-http1.1"])
def endpoint(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EndpointProcess, bool]]:
    h2 = request.param == "hypercorn-h2c"
    tmp = tmp_path_factory.mktemp("sdk-endpoint")
    process = _hypercorn(tmp) if h2 else _uvicorn(tmp)
    yield process, not h2
    process.stop()


def test_rt_runs_its_own_sdk_registered_by_url(
    infra: Infra,
    prefix: str,
    tmp_path: Path,
    nodes: list[RtNode],
    endpoint: tuple[EndpointProcess, bool],
) -> None:
    process, http11 = endpoint
    node = RtNode(infra, prefix, APPS / "local_only_app.py", tmp_path)
    nodes.append(node.start())

    registered = httpx.post(
        f"{node.admin_url}/deployments",
        json={"uri": process.uri, "use_http_11": http11},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    services = {s["name"] for s in registered.json()["services"]}
    assert {"Greeter", "Counter", "Runner", "Sleeper", "Failing"} <= services

    def call(path: str, body: str = "") -> httpx.Response:
        return httpx.post(f"{node.url}{path}", content=body, headers=JSON, timeout=60)

    assert call("/Greeter/greet", '"Ada"').json() == "Hello Ada"
    assert call("/Counter/k1/add", "3").json() == 3
    assert call("/Counter/k1/add", "4").json() == 7
    assert call("/Runner/double", "5").json() == 20
    assert call("/Sleeper/nap", "200").json() == "rested"
    refused = httpx.post(f"{node.url}/Failing/refuse", timeout=60)
    assert refused.status_code == 418
    assert refused.json()["message"] == "not a teapot"
    assert call("/Local/ping").json() == "pong"  # the in-process app still serves

    # Named signals between two handlers of the endpoint (ADR 0027): the waiter issues no
    # command, suspends naming the signal, and takes both signals in order.
    sent = call("/Awaiter/signalled/send")
    assert sent.status_code == 202, sent.text
    waiter = sent.json()["invocationId"]
    assert call("/Awaiter/send_signal", f'"{waiter}"').status_code == 200
    assert call("/Awaiter/send_signal", f'"{waiter}"').status_code == 200
    r = httpx.get(f"{node.url}/restate/invocation/{waiter}/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, "yes+yes")
