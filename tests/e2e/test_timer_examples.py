"""The examples built on durable timers (examples/rate_limiter.py, signup_with_timers.py):
the waits keep their length and their deadline across a kill -9 of rt."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx

from tests.conftest import Infra
from tests.e2e.conftest import RtNode
from tests.e2e.example_util import (
    get,
    log_lines,
    send,
    start_example,
    wait_for_entry,
    wait_for_lines,
)


def _attach(node: RtNode, invocation_id: str) -> httpx.Response:
    return httpx.get(f"{node.url}/restate/invocation/{invocation_id}/attach", timeout=60)


def test_rate_limiter_waits_for_tokens_across_kill9(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = start_example(infra, prefix, tmp_path, nodes, "rate_limiter.py")
    lim = f"{node.url}/Limiter/emails"
    r = httpx.post(f"{lim}/configure", json={"rate": 0.5, "burst": 2}, timeout=30)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{lim}/reserve", json=3, timeout=30)
    assert (r.status_code, r.json()["message"]) == (400, "can reserve 1 to 2 tokens, not 3")
    assert httpx.post(f"{lim}/reserve", json=2, timeout=30).json() == 0.0  # starts full

    started = time.monotonic()
    first = send(f"{lim}/reserve/send", 2)  # the bucket is empty: 2 tokens take 4 s
    second = send(f"{lim}/reserve/send", 1)  # queued behind the first, then 2 s more
    # Another key has its own bucket (default: 1 token per second), and is not held up.
    assert httpx.post(f"{node.url}/Limiter/sms/reserve", json=1, timeout=30).json() == 0.0
    wait_for_entry(node, first, "Command: Sleep")
    node.kill9()
    node.start()

    r = _attach(node, first)
    assert r.status_code == 200, r.text
    assert r.json() >= 3.9, "the wait was cut short by the restart"
    assert time.monotonic() - started >= 4
    r = _attach(node, second)
    assert r.status_code == 200, r.text
    assert r.json() >= 1.9
    assert time.monotonic() - started >= 6
    bucket = httpx.get(f"{lim}/bucket", timeout=30).json()
    assert 0 <= bucket["tokens"] < 1  # just emptied (plus what refilled while waking up)


def test_signup_races_click_reminders_and_deadline_across_kill9(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = start_example(
        infra, prefix, tmp_path, nodes, "signup_with_timers.py",
        SIGNUP_REMINDER_SECONDS="2", SIGNUP_TIMEOUT_SECONDS="8",
    )  # fmt: skip
    wf = f"{node.url}/SignupWithTimers"
    user = {"name": "A", "email": "a@example.com"}
    started = time.monotonic()
    send(f"{wf}/alice/run/send", user)
    bob = send(f"{wf}/bob/run/send", {"name": "B", "email": "b@example.com"})

    # Alice clicks after her first reminder.
    secret = wait_for_lines(
        node, r"SignupWithTimers/alice/verify_email .* -d '\"([0-9a-f-]{36})\"'"
    )
    deadline = time.monotonic() + 30
    while (status := get(f"{wf}/alice/status"))["reminders"] == 0:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status["stage"] == "waiting"
    assert log_lines(node, r"reminder (1) to a@example.com")[:1] == ["1"]
    r = httpx.post(f"{wf}/alice/verify_email", json=secret[0], timeout=30)
    assert r.status_code == 200, r.text
    r = httpx.get(f"{node.url}/restate/workflow/SignupWithTimers/alice/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, True)
    r = httpx.post(f"{wf}/alice/verify_email", json=secret[0], timeout=30)
    assert r.status_code == 409

    # Bob never clicks; rt dies during his wait, and his deadline still holds.
    wait_for_entry(node, bob, "Command: Run", "reminder 1")
    node.kill9()
    node.start()
    r = httpx.get(f"{node.url}/restate/workflow/SignupWithTimers/bob/attach", timeout=60)
    assert (r.status_code, r.json()["message"]) == (
        408,
        "the e-mail address was not verified in time",
    )
    assert time.monotonic() - started >= 8
    reminders = Counter(log_lines(node, r"reminder (\d+) to b@example.com"))
    assert get(f"{wf}/bob/status") == {"stage": "expired", "reminders": len(reminders)}
    # One reminder per 2 s until the 8 s deadline; a deadline pushed back by the restart
    # would have let more through. The one in flight at the kill may have gone twice.
    assert set(reminders) == {str(i) for i in range(1, len(reminders) + 1)}
    assert 1 <= len(reminders) <= 4, reminders
    assert sum(reminders.values()) - len(reminders) <= 1, reminders
    assert len(log_lines(node, r"verification e-mail to b@example.com")) == 1
