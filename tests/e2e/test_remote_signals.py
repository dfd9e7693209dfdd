"""Named signals on a restate-sdk (PyPI) endpoint registered by URL: ``docs/signals.md``.

The endpoint waits with ``ctx.signal`` (no journal command: it waits for the signal's
notification) and sends with ``ctx.resolve_signal`` / ``reject_signal`` (SendSignal by
name); rt journals arriving signals and resumes the suspended handler. In process and
remote handlers signal each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode
from tests.integration.protocol.endpoints import EndpointProcess, start_hypercorn

APP = "tests.e2e.apps.remote_signals:app"
JSON = {"content-type": "application/json"}


@pytest.fixture(params=["live", "always-replay"])
def node(
    request: pytest.FixtureRequest, infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> RtNode:
    """``rt dev`` with the in-process signals app; remote endpoints come by registration."""
    replay = "1" if request.param == "always-replay" else "0"
    n = RtNode(
        infra, prefix, APPS / "signals_app.py", tmp_path, RT_ALWAYS_REPLAY=replay,
        SIG_ALWAYS_REPLAY=replay,
    )  # fmt: skip
    nodes.append(n.start())
    return n


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[EndpointProcess]:
    (tmp_path / "ep").mkdir()
    ep = start_hypercorn(tmp_path / "ep", APP)
    yield ep
    ep.stop()


def _post(url: str, body: str) -> httpx.Response:
    return httpx.post(url, content=body, headers=JSON, timeout=60)


def _send(node: RtNode, path: str, body: str) -> str:
    r = _post(f"{node.url}/{path}/send", body)
    assert r.status_code == 202, r.text
    return str(r.json()["invocationId"])


def _attach(node: RtNode, invocation_id: str) -> object:
    r = httpx.get(f"{node.url}/restate/invocation/{invocation_id}/attach", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_remote_handlers_wait_for_and_send_named_signals(
    node: RtNode, endpoint: EndpointProcess
) -> None:
    r = httpx.post(f"{node.admin_url}/deployments", json={"uri": endpoint.uri}, timeout=60)
    assert r.status_code == 201, r.text

    # A remote waiter, resolved by a remote handler, rejected by a remote object handler.
    waiter = _send(node, "RemoteSignals/wait", "0")
    assert _post(f"{node.url}/RemoteSignals/resolve", f'["{waiter}", "go", "a"]').json() == "ok"
    r = _post(f"{node.url}/RemoteSignalSender/k/reject", f'["{waiter}", "go", "no"]')
    assert r.json() == "ok"
    assert _attach(node, waiter) == "a+rejected:403:no"

    # Signals that arrive while the remote handler sleeps are kept for it.
    waiter = _send(node, "RemoteSignals/wait", "1500")
    assert _post(f"{node.url}/RemoteSignals/resolve", f'["{waiter}", "go", "b"]').json() == "ok"
    assert _post(f"{node.url}/RemoteSignals/resolve", f'["{waiter}", "go", "c"]').json() == "ok"
    assert _attach(node, waiter) == "b+c"

    # In process and remote handlers signal each other.
    remote = _send(node, "RemoteSignals/wait", "0")
    assert _post(f"{node.url}/Sig/resolve", f'["{remote}", "go", "d"]').json() == "ok"
    assert _post(f"{node.url}/Sig/resolve", f'["{remote}", "go", "e"]').json() == "ok"
    assert _attach(node, remote) == "d+e"
    local = _send(node, "Sig/late", '"remote"')
    assert _post(f"{node.url}/RemoteSignals/resolve", f'["{local}", "go", "f"]').json() == "ok"
    assert _post(f"{node.url}/RemoteSignals/resolve", f'["{local}", "go", "g"]').json() == "ok"
    assert _attach(node, local) == "f+g"
