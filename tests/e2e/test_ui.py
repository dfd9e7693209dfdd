"""The web UI in a real headless Chromium against a real rt node (Kafka, Redis, ``rt dev``).

Each test drives the pages the way a user does (links, forms, the confirmation dialog)
and checks the result through the public ingress or admin API. The main pages are saved
as screenshots (``tests/e2e/ui_browser.py`` says where).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode
from tests.e2e.egress_util import create_topic
from tests.e2e.ui_browser import VIEWPORT, chromium, shoot

APP = APPS / "ui_app.py"
JSON = {"content-type": "application/json"}
WAIT_MS = 30_000

expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def ui_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def ui_node(
    infra: Infra, ui_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RtNode]:
    """One node for the module's tests (starting one takes seconds)."""
    node = RtNode(infra, ui_prefix, APP, tmp_path_factory.mktemp("ui"))
    try:
        yield node.start()
    finally:
        node.stop()


@pytest.fixture
def nodes(ui_node: RtNode) -> list[RtNode]:
    """The conftest's name for the nodes whose logs a failed test report shows."""
    return [ui_node]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser, nodes: list[RtNode]) -> Iterator[Page]:
    """A fresh browser context on the node's UI; fails the test on any script error.

    Chromium logs every failed fetch as a console error; those are the API answering an
    error, which the UI shows in its banner (a test checks that), so they do not count.
    """
    context = browser.new_context(viewport=VIEWPORT, base_url=nodes[0].admin_url)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    p.on(
        "console",
        lambda m: (
            errors.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    try:
        yield p
    finally:
        context.close()
    assert errors == [], errors


def wait_for(what: Any, timeout: float = 60.0, desc: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {desc}")


def place_order(node: RtNode, r: redis.Redis, prefix: str, order: str) -> str:
    """Start ``Orders/place`` and wait until it waits on its awakeable; its id."""
    resp = httpx.post(f"{node.url}/Orders/place/send", json=order, timeout=30)
    assert resp.status_code in (200, 202), resp.text
    wait_for(lambda: r.get(f"{prefix}:awk:{order}"), desc=f"order {order} to wait")
    inv_id: str = resp.json()["invocationId"]
    return inv_id


def test_find_an_invocation_see_its_timeline_and_cancel_it(
    page: Page, ui_node: RtNode, redis_client: redis.Redis, ui_prefix: str
) -> None:
    inv_id = place_order(ui_node, redis_client, ui_prefix, "o-1")

    page.goto("/ui/#/invocations")
    page.get_by_label("Service").select_option("Orders")
    row = page.locator("tbody tr", has=page.locator(f"a:text-is('{inv_id}')"))
    expect(row).to_contain_text("Orders/place")
    expect(row).to_contain_text(re.compile("running|suspended"))
    expect(page).to_have_url(re.compile(r"#/invocations\?service=Orders$"))
    shoot(page, "invocations")

    row.get_by_role("link", name=inv_id).click()
    timeline = page.get_by_role("list", name="Journal")
    expect(timeline).to_contain_text("Run “reserve”")
    expect(timeline).to_contain_text("Call Payments/charge")
    expect(timeline).to_contain_text("Sleep “settle”")
    awakeable = timeline.locator("li[data-kind='Awakeable']")
    expect(awakeable).to_contain_text("waiting")
    expect(page.locator("dl.facts").nth(1)).to_contain_text("payment gateway timed out")
    expect(page.locator("dl.facts").nth(1)).to_contain_text("Retries2")
    shoot(page, "invocation")

    # To the callee and back to the caller through the links of both journals.
    call = timeline.locator("li[data-kind='Call']")
    callee_id = call.locator("a.mono").inner_text()
    call.get_by_role("link", name=callee_id).click()
    expect(page.locator("h1")).to_have_text(callee_id)
    expect(page.get_by_role("list", name="Journal")).to_contain_text("Run “charge-card”")
    page.locator("dl.facts").first.get_by_role("link", name=inv_id).click()
    expect(page.locator("h1")).to_have_text(inv_id)

    # Cancel, confirmed in the dialog: the handler compensates and completes with 409.
    page.get_by_role("button", name="Cancel", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Cancel this invocation?")
    shoot(page, "invocation-cancel-dialog", full_page=False)
    dialog.get_by_role("button", name="Cancel invocation").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".headline")).to_contain_text("completed")
    expect(page.locator(".headline")).to_contain_text("failure")
    expect(timeline).to_contain_text("Cancel signal")
    expect(timeline).to_contain_text("Run “release”")
    expect(timeline.locator("li[data-kind='Output']")).to_contain_text("[409] cancelled")
    expect(page.get_by_role("button", name="Purge")).to_be_visible()
    shoot(page, "invocation-cancelled")

    described = httpx.get(f"{ui_node.admin_url}/invocations/{inv_id}", timeout=10).json()
    assert (described["status"], described["completion_failure"]) == ("completed", "cancelled")


def test_keeping_an_invocation_when_the_dialog_is_dismissed(
    page: Page, ui_node: RtNode, redis_client: redis.Redis, ui_prefix: str
) -> None:
    inv_id = place_order(ui_node, redis_client, ui_prefix, "o-2")
    page.goto(f"/ui/#/invocations/{inv_id}")
    page.get_by_role("button", name="Kill").click()
    page.get_by_role("dialog").get_by_role("button", name="Keep it").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.wait_for_timeout(500)
    described = httpx.get(f"{ui_node.admin_url}/invocations/{inv_id}", timeout=10).json()
    assert described["status"] in ("running", "suspended")  # still waiting
    r = httpx.patch(f"{ui_node.admin_url}/invocations/{inv_id}/kill", timeout=30)
    assert r.status_code == 200, r.text


def test_edit_an_objects_state_and_read_it_back_through_the_ingress(
    page: Page, ui_node: RtNode
) -> None:
    resp = httpx.post(f"{ui_node.url}/Cart/alice/add", json="apple", timeout=30)
    assert resp.json() == ["apple"]

    page.goto("/ui/#/state")
    page.get_by_label("Service", exact=True).select_option("Cart")
    page.get_by_label("Key", exact=True).fill("alice")
    page.get_by_role("button", name="Load").click()
    value = page.get_by_label("Value of items")
    expect(value).to_have_value('["apple"]')
    value.fill('["apple", "pear"]')
    page.get_by_role("button", name="Add entry").click()
    page.get_by_label("State key").last.fill("note")
    page.get_by_label("Value of new entry").fill('"gift"')
    shoot(page, "state")
    page.get_by_role("button", name="Save state").click()
    expect(page.get_by_role("status")).to_contain_text("State written")
    expect(page.get_by_label("Value of note")).to_have_value('"gift"')

    got = httpx.post(f"{ui_node.url}/Cart/alice/items", timeout=30)
    assert got.status_code == 200, got.text
    assert got.json() == ["apple", "pear"]
    state = httpx.get(f"{ui_node.admin_url}/services/Cart/state/alice", timeout=10).json()
    assert state["state_utf8"] == {"items": '["apple", "pear"]', "note": '"gift"'}


def test_services_subscriptions_and_cron_pages(
    page: Page, ui_node: RtNode, infra: Infra, ui_prefix: str
) -> None:
    page.goto("/ui/#/services")
    expect(page.locator("tbody")).to_contain_text("Orders")
    page.get_by_role("link", name="Cart", exact=True).click()
    expect(page.locator("h1")).to_contain_text("VirtualObject")
    handlers = page.get_by_role("table", name="Handlers of Cart")
    expect(handlers).to_contain_text("Add an item to the cart.")
    expect(handlers).to_contain_text("Shared")
    expect(handlers).to_contain_text(
        "at most 1m; 70 attempts, then pause"
    )  # the resolved retry policy
    shoot(page, "service")

    topic = f"{ui_prefix}.orders"
    create_topic(infra, topic)
    page.goto("/ui/#/subscriptions")
    expect(page.locator("main")).to_contain_text("No subscriptions")
    page.get_by_label("Source").fill(f"kafka://default/{topic}")
    page.get_by_label("Sink").fill("service://Orders/place")
    page.get_by_label("Options").fill("auto.offset.reset=earliest")
    page.get_by_role("button", name="Create subscription").click()
    row = page.locator("tbody tr", has_text=topic)
    expect(row).to_contain_text("service://Orders/place")
    expect(row).to_contain_text("auto.offset.reset=earliest")
    shoot(page, "subscriptions")

    page.goto("/ui/#/cron")
    page.get_by_label("Id").fill("nightly-cart")
    page.get_by_label("Target").fill("Cart/bob/add")
    page.get_by_label("Schedule").fill("0 3 * * *")
    page.get_by_label("Body").fill('"milk"')
    page.get_by_role("button", name="Create cron job").click()
    cron_row = page.locator("tbody tr", has_text="nightly-cart")
    expect(cron_row).to_contain_text("0 3 * * *")
    expect(cron_row).to_contain_text("in ")
    shoot(page, "cron")
    cron_row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("main")).to_contain_text("No cron jobs")

    page.goto("/ui/#/subscriptions")
    row = page.locator("tbody tr", has_text=topic)
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("main")).to_contain_text("No subscriptions")
    assert httpx.get(f"{ui_node.admin_url}/subscriptions").json() == {"subscriptions": []}


def test_overview_shows_the_partitions_and_throughput(
    page: Page, ui_node: RtNode, redis_client: redis.Redis, ui_prefix: str
) -> None:
    place_order(ui_node, redis_client, ui_prefix, "o-3")  # something in flight
    stop = threading.Event()

    def load() -> None:  # keeps the processors busy while the overview measures
        with httpx.Client(base_url=ui_node.url, timeout=30) as c:
            n = 0
            while not stop.is_set():
                c.post(f"/Cart/load-{n % 8}/add", json=f"item-{n}")
                n += 1

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        page.goto(f"{ui_node.admin_url}/")  # the admin root redirects to the UI
        expect(page).to_have_url(re.compile(r"/ui/$"))
        parts = page.get_by_role("table", name="Partitions of rt.log")
        expect(parts.locator("tbody tr")).to_have_count(4)
        for p in range(4):
            expect(parts).to_contain_text(f"p{p}")
        expect(parts).to_contain_text("epoch 1")
        cards = page.locator(".cards")
        services = httpx.get(f"{ui_node.admin_url}/cluster", timeout=10).json()["services"]
        assert services == 4  # the app's three and the built-in rt.Kafka
        expect(cards).to_contain_text(f"Services{services}")
        expect(cards.locator(".card", has_text="In flight")).not_to_contain_text("In flight0")
        throughput = cards.locator(".card", has_text="Throughput")
        expect(throughput).to_contain_text(re.compile(r"[1-9][\d,.]* /s"))
        expect(page.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
        shoot(page, "overview")
    finally:  # a failed check must not leave the load running into the next test
        stop.set()
        worker.join(30)


def test_an_api_failure_shows_a_banner(page: Page) -> None:
    page.goto("/ui/#/services/NoSuchService")
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("404")
    expect(banner).to_contain_text("NoSuchService")
    page.goto("/ui/#/invocations/inv_1nvalid")
    expect(page.get_by_role("alert")).to_contain_text("Invalid invocation id")


def test_pause_and_resume_an_invocation_and_see_its_stack_trace(
    page: Page, ui_node: RtNode, redis_client: redis.Redis, ui_prefix: str
) -> None:
    inv_id = place_order(ui_node, redis_client, ui_prefix, "o-4")
    page.goto(f"/ui/#/invocations/{inv_id}")
    headline = page.locator(".headline")
    expect(headline).to_contain_text(re.compile("running|suspended"))
    expect(page.get_by_role("button", name="Restart as new")).to_have_count(0)

    # The two failed attempts left their stack trace, collapsed under the last failure.
    trace = page.locator("details.stacktrace")
    expect(trace.locator("pre")).to_be_hidden()
    trace.locator("summary").click()
    expect(trace.locator("pre")).to_contain_text("RuntimeError: payment gateway timed out")

    page.get_by_role("button", name="Pause").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Pause this invocation?")
    dialog.get_by_role("button", name="Pause invocation").click()
    expect(headline).to_contain_text("paused")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    shoot(page, "invocation-paused")
    described = httpx.get(f"{ui_node.admin_url}/invocations/{inv_id}", timeout=10).json()
    assert described["status"] == "paused"

    page.get_by_role("button", name="Resume").click()
    dialog.get_by_role("button", name="Resume invocation").click()
    expect(headline).to_contain_text(re.compile("running|suspended"))
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    described = httpx.get(f"{ui_node.admin_url}/invocations/{inv_id}", timeout=10).json()
    assert described["status"] in ("running", "suspended")
    r = httpx.patch(f"{ui_node.admin_url}/invocations/{inv_id}/kill", timeout=30)
    assert r.status_code == 200, r.text


def test_the_history_lists_completed_invocations_and_restarts_one(
    page: Page, ui_node: RtNode
) -> None:
    ids = []
    for n in range(26):  # one more than a page
        resp = httpx.post(f"{ui_node.url}/Cart/hist/add/send", json=f"h-{n}", timeout=30)
        assert resp.status_code in (200, 202), resp.text
        ids.append(resp.json()["invocationId"])

    def completed(inv: str) -> bool:
        d = httpx.get(f"{ui_node.admin_url}/invocations/{inv}", timeout=10).json()
        return bool(d["status"] == "completed")

    wait_for(lambda: all(completed(i) for i in ids), desc="the sends to complete")

    page.goto("/ui/#/invocations?service=Cart")
    page.get_by_role("link", name="Completed", exact=True).click()
    expect(page).to_have_url(re.compile(r"view=completed"))
    page.get_by_label("Key").fill("hist")
    page.get_by_label("Result").select_option("success")
    page.get_by_role("button", name="Filter").click()
    history = page.get_by_role("table", name="Completed invocations")
    rows = history.locator("tbody tr")
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text("Cart/hist/add")
    expect(rows.first).to_contain_text("success")
    newest = rows.first.locator("a.mono").inner_text()
    shoot(page, "invocations-completed")
    page.get_by_role("button", name="More").click()
    expect(rows).to_have_count(26)
    expect(page.get_by_role("button", name="More")).to_have_count(0)
    assert sorted(history.locator("tbody tr a.mono").all_inner_texts()) == sorted(ids)

    page.get_by_label("Result").select_option("killed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("main")).to_contain_text("No completed invocation matches")

    # Restart the newest as a new invocation, then follow the link to it.
    page.goto(f"/ui/#/invocations/{newest}")
    page.get_by_role("button", name="Restart as new").click()
    page.get_by_role("dialog").get_by_role("button", name="Restart invocation").click()
    restarted = page.locator("p.restarted")
    expect(restarted).to_contain_text("Restarted as inv_")
    new_id = restarted.locator("a.mono").inner_text()
    assert new_id != newest
    restarted.get_by_role("link", name=new_id).click()
    expect(page.locator("h1")).to_have_text(new_id)
    expect(page.locator(".headline")).to_contain_text("completed")
    expect(page.locator("dl.facts").first.get_by_role("link", name=newest)).to_be_visible()
    state = httpx.get(f"{ui_node.admin_url}/services/Cart/state/hist", timeout=10).json()
    assert len(json.loads(state["state_utf8"]["items"])) == 27  # the restart added one more
