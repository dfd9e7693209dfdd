"""The workflow examples (examples/user_signup.py, payment.py) run as their docstrings say."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import RtNode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JSON = {"content-type": "application/json"}


def _wait_for_match(path: Path, pattern: str, timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, path.read_text(errors="replace"))
        if m:
            return m
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} never appeared in {path}")


def _get(url: str) -> object:
    r = httpx.get(url, timeout=60)
    assert r.status_code == 200, r.text
    return r.json() if r.content else None


def test_user_signup_waits_for_the_click(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, EXAMPLES / "user_signup.py", tmp_path)
    nodes.append(node.start())
    url = node.url
    user = '{"name": "Alice", "email": "alice@example.com"}'
    r = httpx.post(f"{url}/UserSignup/alice/run/send", content=user, headers=JSON, timeout=30)
    assert (r.status_code, r.json()["status"]) == (202, "Accepted")
    secret = _wait_for_match(node.log, r"UserSignup/alice/click .* -d '\"([0-9a-f-]{36})\"'")[1]
    assert _get(f"{url}/UserSignup/alice/get_stage") == "Waiting for e-mail click"
    r = httpx.get(f"{url}/restate/workflow/UserSignup/alice/output", timeout=30)
    assert r.status_code == 470
    r = httpx.post(f"{url}/UserSignup/alice/click", content=f'"{secret}"', headers=JSON, timeout=30)
    assert r.status_code == 200
    r = httpx.get(f"{url}/restate/workflow/UserSignup/alice/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, True)
    assert _get(f"{url}/UserSignup/alice/get_stage") == "User verified"
    # A second click, and a second sign-up for the same id, are refused.
    r = httpx.post(f"{url}/UserSignup/alice/click", content='"x"', headers=JSON, timeout=30)
    assert (r.status_code, r.json()["message"]) == (409, "promise was already completed")
    r = httpx.post(f"{url}/UserSignup/alice/run", content=user, headers=JSON, timeout=30)
    assert r.status_code == 409

    # A wrong secret fails the sign-up terminally.
    r = httpx.post(f"{url}/UserSignup/bob/run/send", content=user, headers=JSON, timeout=30)
    assert r.status_code == 202
    _wait_for_match(node.log, r"UserSignup/bob/click")
    httpx.post(f"{url}/UserSignup/bob/click", content='"guess"', headers=JSON, timeout=30)
    r = httpx.get(f"{url}/restate/workflow/UserSignup/bob/attach", timeout=60)
    assert (r.status_code, r.json()["message"]) == (400, "wrong secret from the e-mail link")
    assert _get(f"{url}/UserSignup/bob/get_stage") == "Verification failed"


def test_payment_approval_by_awakeable(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, EXAMPLES / "payment.py", tmp_path)
    nodes.append(node.start())
    url = node.url

    def start(pid: str, amount: int) -> None:
        body = f'{{"account": "acme", "amount": {amount}}}'
        r = httpx.post(f"{url}/Payment/{pid}/run/send", content=body, headers=JSON, timeout=30)
        assert r.status_code == 202, r.text

    def approval_id(pid: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            st = _get(f"{url}/Payment/{pid}/status")
            assert isinstance(st, dict)
            if st["approval_id"]:
                assert st["status"] == "awaiting approval"
                return str(st["approval_id"])
            time.sleep(0.1)
        raise AssertionError("no approval requested")

    def result(pid: str) -> object:
        r = httpx.get(f"{url}/restate/workflow/Payment/{pid}/attach", timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    r = httpx.post(
        f"{url}/Payment/small/run", content='{"account": "acme", "amount": 50}', headers=JSON,
        timeout=30,
    )  # fmt: skip
    assert r.json() == {"status": "paid", "transaction": "tx-small", "reason": None}

    start("big", 5000)
    aid = approval_id("big")
    assert httpx.get(f"{url}/restate/workflow/Payment/big/output", timeout=30).status_code == 470
    r = httpx.post(f"{url}/restate/awakeables/{aid}/resolve", content="true", timeout=30)
    assert r.status_code == 202
    assert result("big") == {"status": "paid", "transaction": "tx-big", "reason": None}
    assert _get(f"{url}/Payment/big/status") == {"status": "paid", "approval_id": None}

    start("huge", 90000)
    aid = approval_id("huge")
    r = httpx.post(
        f"{url}/restate/awakeables/{aid}/reject", content="over budget",
        headers={"content-type": "text/plain"}, timeout=30,
    )  # fmt: skip
    assert r.status_code == 202
    assert result("huge") == {"status": "rejected", "transaction": None, "reason": "over budget"}

    start("odd", 2000)
    aid = approval_id("odd")
    httpx.post(f"{url}/restate/awakeables/{aid}/resolve", content="false", timeout=30)
    assert result("odd") == {"status": "rejected", "transaction": None, "reason": "not approved"}
    charged = re.findall(r"\[payment\] charged (\d+) to acme", node.log.read_text())
    assert sorted(charged) == ["50", "5000"]
