"""The documentation's service and object examples in examples/, driven over HTTP as their
docstrings say; those about durability are killed with kill -9 once mid-way.

One rt node per example file; tests/e2e/example_util.py says how effects are counted.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests.conftest import Infra
from tests.e2e.conftest import RtNode
from tests.e2e.example_util import (
    get,
    log_lines,
    post,
    post_all,
    send,
    start_example,
    wait_for_lines,
)


def test_subscription_service_runs_each_step_once_across_kill9(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = start_example(infra, prefix, tmp_path, nodes, "subscription_service.py")
    url = f"{node.url}/SubscriptionService/add"
    req = {"user_id": "alice", "credit_card": "4242", "subscriptions": ["news", "music"]}
    r = post(url, req)
    assert r.status_code == 200, r.text
    assert r.json()["subscriptions"] == ["news", "music"]
    assert log_lines(node, r"alice subscribed to (\w+)") == ["news", "music"]

    subs = [f"s{i:02d}" for i in range(40)]
    req = {"user_id": "bob", "credit_card": "5555", "subscriptions": subs}
    key = {"idempotency-key": "bob-signup"}
    inv_id = send(f"{url}/send", req, **key)
    wait_for_lines(node, r"bob subscribed to (\w+)", 5)
    node.kill9()
    before = log_lines(node, r"bob subscribed to (\w+)")
    payments_before = log_lines(node, r"recurring payment (\S+) on card 5555")
    assert len(before) < len(subs), "everything finished before the kill"

    node.start()
    r = post(url, req, **key)  # attaches to the same call
    assert r.status_code == 200, r.text
    assert r.headers["x-restate-id"] == inv_id
    after = Counter(log_lines(node, r"bob subscribed to (\w+)"))
    assert set(after) == set(subs)
    # Journaled steps never run again; only the one in flight at the kill may (at least once).
    assert all(after[s] == 1 for s in before[:-1]), after
    assert sum(n - 1 for n in after.values()) <= 1, after
    assert log_lines(node, r"recurring payment (\S+) on card 5555") == payments_before
    assert r.json()["payment_ref"] == f"pay-{payments_before[0]}"  # ctx.uuid() replayed


def test_shopping_cart_adds_one_at_a_time_and_totals_shared(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = start_example(infra, prefix, tmp_path, nodes, "shopping_cart.py")
    cart = f"{node.url}/ShoppingCart/alice"
    socks = {"product": "socks", "quantity": 2, "price": 450}
    r = post(f"{cart}/addItem", socks)
    assert (r.status_code, r.json()) == (200, 2)
    assert get(f"{cart}/getTotal") == 900
    items = [{"product": f"p{i}", "price": 100} for i in range(20)]
    results = post_all(f"{cart}/addItem", items)
    assert sorted(r.json() for r in results) == list(range(3, 23)), "an add was lost"
    assert get(f"{cart}/getTotal") == 900 + 2000
    r = post(f"{cart}/addItem", {"product": "x", "quantity": 0, "price": 1})
    assert r.status_code == 400

    r = post(f"{cart}/checkout")
    assert r.json() == {"items": 22, "total": 2900, "payment": "paid-alice-2900"}
    assert get(f"{cart}/getTotal") == 0
    r = post(f"{cart}/checkout")
    assert (r.status_code, r.json()["message"]) == (400, "the cart is empty")
    assert log_lines(node, r"\[cart\] charged (\d+) cents") == ["2900"]
    assert get(f"{node.url}/ShoppingCart/bob/getTotal") == 0


def test_greeter_object_counts_per_name(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = start_example(infra, prefix, tmp_path, nodes, "greeter_object.py")
    mary = f"{node.url}/GreeterObject/mary"
    assert post(f"{mary}/greet", "Hi").json() == "Hi mary, for the 1st time"
    greetings = post_all(f"{mary}/greet", ["Hello"] * 10)
    ordinals = sorted(int(re.findall(r"the (\d+)", r.json())[0]) for r in greetings)
    assert ordinals == list(range(2, 12)), "concurrent greets of one key overlapped"
    assert post(f"{mary}/greet", "Hey").json() == ("Hey mary, for the 12th time")
    r = post(f"{node.url}/GreeterObject/bob/greet", "Hi")
    assert r.json() == "Hi bob, for the 1st time"
    assert post(f"{mary}/ungreet").json() == "Goodbye mary, 11 greetings left"
    assert get(f"{mary}/count") == 11
    bob = f"{node.url}/GreeterObject/bob"
    assert post(f"{bob}/ungreet").json() == "Goodbye bob, 0 greetings left"
    assert post(f"{bob}/ungreet").json() == "Goodbye bob, 0 greetings left"


def test_user_account_refuses_to_overdraw(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = start_example(infra, prefix, tmp_path, nodes, "user_account.py")
    acct = f"{node.url}/UserAccount/alice"
    assert post(f"{acct}/deposit", 100).json() == 100
    assert post(f"{acct}/withdraw", 30).json() == 70
    r = post(f"{acct}/withdraw", 500)
    assert (r.status_code, r.json()["message"]) == (
        409,
        "insufficient funds: balance 70, requested 500",
    )
    assert post(f"{acct}/deposit", -5).status_code == 400
    assert get(f"{acct}/balance") == 70
    # Ten concurrent withdrawals of 10 from 70: exactly seven succeed, never below zero.
    results = post_all(f"{acct}/withdraw", [10] * 10)
    assert sorted(r.status_code for r in results) == [200] * 7 + [409] * 3
    assert sorted(r.json() for r in results if r.status_code == 200) == list(range(0, 70, 10))
    assert get(f"{acct}/balance") == 0


def test_role_update_compensates_in_reverse(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = start_example(infra, prefix, tmp_path, nodes, "role_update.py")
    alice = f"{node.url}/RoleUpdate/alice"
    update = {"role": "editor", "permissions": [{"key": "docs", "setting": "write"}]}
    r = post(f"{alice}/apply", update)
    assert r.json() == {"role": "editor", "permissions": {"docs": "write"}}

    done = len(log_lines(node, r"\[directory\] alice: (.*)"))
    update = {
        "role": "admin",
        "permissions": [
            {"key": "billing", "setting": "write"},
            {"key": "docs", "setting": "admin"},
            {"key": "nukes", "setting": "launch"},
        ],
    }
    r = post(f"{alice}/apply", update)
    assert (r.status_code, r.json()["message"]) == (400, "unknown permission 'nukes'")
    assert log_lines(node, r"\[directory\] alice: (.*)")[done:] == [
        "role editor -> admin",
        "billing none -> write",
        "docs write -> admin",
        "docs admin -> write",  # compensations, in reverse
        "billing write -> none",
        "role admin -> editor",
    ]
    assert get(f"{alice}/current") == {"role": "editor", "permissions": {"docs": "write"}}


def test_booking_saga_compensates_and_survives_kill9(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = start_example(infra, prefix, tmp_path, nodes, "booking.py")

    def trip(hotel: str) -> dict[str, str]:
        return {"customer": "alice", "flight": "LH123", "car": "compact", "hotel": hotel}

    r = post(f"{node.url}/Booking/t1/run", trip("Grand Hotel"))
    assert r.json() == {"flight": "flight-t1", "car": "car-t1", "hotel": "hotel-t1"}

    r = post(f"{node.url}/Booking/t2/run", trip("Overlook Hotel"))
    assert (r.status_code, r.json()["message"]) == (409, "no rooms left at Overlook Hotel")
    assert log_lines(node, r"\[booking\] t2: (.*)") == [
        "flight LH123 reserved",
        "car compact reserved",
        "hotel cancelled",
        "car cancelled",
        "flight cancelled",
    ]

    send(f"{node.url}/Booking/t3/run/send", trip("Grand Hotel"))
    wait_for_lines(node, r"\[booking\] t3: car")  # the flight is journaled by now
    node.kill9()
    assert not log_lines(node, r"\[booking\] t3: (hotel)"), "finished before the kill"
    node.start()
    assert get(f"{node.url}/restate/workflow/Booking/t3/attach") == {
        "flight": "flight-t3",
        "car": "car-t3",
        "hotel": "hotel-t3",
    }
    steps = Counter(log_lines(node, r"\[booking\] t3: (\w+)"))
    assert steps["flight"] == 1, steps
    assert 1 <= steps["car"] <= 2 and 1 <= steps["hotel"] <= 2, steps  # at least once
    assert not log_lines(node, r"\[booking\] t[13]: \w+ (cancelled)")
