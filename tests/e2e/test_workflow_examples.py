"""The workflow examples (examples/user_signup.py, payment.py, payment_approval.py) run as
their docstrings say, and their waits survive kill -9."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import RtNode
from tests.e2e.example_util import (
    EXAMPLES,
    JSON,
    get,
    log_lines,
    send,
    start_example,
    wait_for_entry,
    wait_for_lines,
)


def test_user_signup_waits_for_the_click(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, EXAMPLES / "user_signup.py", tmp_path)
    nodes.append(node.start())
    url = node.url
    user = '{"name": "Alice", "email": "alice@example.com"}'
    r = httpx.post(f"{url}/UserSignup/alice/run/send", content=user, headers=JSON, timeout=30)
    assert (r.status_code, r.json()["status"]) == (202, "Accepted")
    secret = wait_for_lines(node, r"UserSignup/alice/click .* -d '\"([0-9a-f-]{36})\"'")[0]
    assert get(f"{url}/UserSignup/alice/get_stage") == "Waiting for e-mail click"
    r = httpx.get(f"{url}/restate/workflow/UserSignup/alice/output", timeout=30)
    assert r.status_code == 470
    r = httpx.post(f"{url}/UserSignup/alice/click", content=f'"{secret}"', headers=JSON, timeout=30)
    assert r.status_code == 200
    r = httpx.get(f"{url}/restate/workflow/UserSignup/alice/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, True)
    assert get(f"{url}/UserSignup/alice/get_stage") == "User verified"
    # A second click, and a second sign-up for the same id, are refused.
    r = httpx.post(f"{url}/UserSignup/alice/click", content='"x"', headers=JSON, timeout=30)
    assert (r.status_code, r.json()["message"]) == (409, "promise was already completed")
    r = httpx.post(f"{url}/UserSignup/alice/run", content=user, headers=JSON, timeout=30)
    assert r.status_code == 409

    # A wrong secret fails the sign-up terminally.
    r = httpx.post(f"{url}/UserSignup/bob/run/send", content=user, headers=JSON, timeout=30)
    assert r.status_code == 202
    wait_for_lines(node, r"UserSignup/bob/click")
    httpx.post(f"{url}/UserSignup/bob/click", content='"guess"', headers=JSON, timeout=30)
    r = httpx.get(f"{url}/restate/workflow/UserSignup/bob/attach", timeout=60)
    assert (r.status_code, r.json()["message"]) == (400, "wrong secret from the e-mail link")
    assert get(f"{url}/UserSignup/bob/get_stage") == "Verification failed"

    # A sign-up waiting for its click survives kill -9; the e-mail went out once.
    inv = send(f"{url}/UserSignup/carol/run/send", {"name": "Carol", "email": "c@example.com"})
    wait_for_entry(node, inv, "Command: GetPromise", "email-link")
    node.kill9()
    node.start()
    secrets = log_lines(node, r"UserSignup/carol/click .* -d '\"([0-9a-f-]{36})\"'")
    assert len(secrets) == 1
    r = httpx.post(f"{url}/UserSignup/carol/click", json=secrets[0], timeout=30)
    assert r.status_code == 200, r.text
    r = httpx.get(f"{url}/restate/workflow/UserSignup/carol/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, True)
    assert len(log_lines(node, r"UserSignup/carol/click")) == 1


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
            st = get(f"{url}/Payment/{pid}/status")
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
    assert get(f"{url}/Payment/big/status") == {"status": "paid", "approval_id": None}

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
    charged = log_lines(node, r"\[payment\] charged (\d+) to acme")
    assert sorted(charged) == ["50", "5000"]


def test_payment_approval_waits_for_approval_and_webhook_across_kill9(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = start_example(infra, prefix, tmp_path, nodes, "payment_approval.py")
    wf = f"{node.url}/PaymentApproval"
    order = {"account": "acme", "amount": 250}

    def attach(pid: str) -> object:
        r = httpx.get(f"{node.url}/restate/workflow/PaymentApproval/{pid}/attach", timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def post(path: str, body: object) -> httpx.Response:
        r = httpx.post(f"{wf}/{path}", json=body, timeout=30)
        assert r.status_code == 200, r.text
        return r

    r = httpx.post(f"{wf}/zero/run", json={"account": "acme", "amount": 0}, timeout=30)
    assert (r.status_code, r.json()["message"]) == (400, "the amount must be positive")

    send(f"{wf}/no/run/send", order)
    deadline = time.monotonic() + 30
    while get(f"{wf}/no/status") != "waiting for approval" and time.monotonic() < deadline:
        time.sleep(0.05)
    post("no/approve", False)
    assert attach("no") == {"status": "rejected", "reference": None}
    assert httpx.post(f"{wf}/no/approve", json=True, timeout=30).status_code == 409

    # Approved before `run` even started: the promise keeps the decision.
    post("early/approve", True)
    send(f"{wf}/early/run/send", order)
    wait_for_lines(node, r"\[provider\] charging .*/PaymentApproval/early/webhook")
    post("early/webhook", {"reference": "ch_early", "outcome": "failed"})
    assert attach("early") == {"status": "declined", "reference": "ch_early"}

    # Waiting for the provider's webhook when rt is killed.
    inv = send(f"{wf}/p1/run/send", order)
    post("p1/approve", True)
    wait_for_entry(node, inv, "Command: GetPromise", "settled")
    node.kill9()
    node.start()
    assert get(f"{wf}/p1/status") == "charging"
    event = {"reference": "ch_p1", "outcome": "succeeded"}
    assert post("p1/webhook", event).json() == "accepted"
    assert post("p1/webhook", event).json() == "duplicate"  # providers redeliver
    assert attach("p1") == {"status": "paid", "reference": "ch_p1"}
    assert get(f"{wf}/p1/status") == "paid"
    assert len(log_lines(node, r"\[provider\] charging .*/PaymentApproval/p1/webhook")) == 1
