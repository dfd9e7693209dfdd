"""``sdk.pipelines``: windows, TTL and enrichment joins as plain journaled SDK calls."""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

import sdk as restate
from sdk import ObjectContext
from sdk.engine import Done, SendCommand
from sdk.pipelines import Enrichment, StateTTL, Window, Windows, late_assignment, update
from tests.unit.sdk.fake_runtime import FakeRuntime, output_json

MINUTE = Windows(size=timedelta(minutes=1))
HOPPING = Windows(size=timedelta(minutes=1), hop=timedelta(seconds=20))
TTL = StateTTL(ttl=timedelta(seconds=30), keys=("seen",))


class Click(msgspec.Struct):
    page: str


class Profile(msgspec.Struct):
    name: str


JOIN = Enrichment(Click, Profile)

obj = restate.VirtualObject("Pipe")


@obj.handler()
async def add(ctx: ObjectContext, amount: int) -> list[int]:
    windows = await MINUTE.add(ctx, amount, reduce=lambda a, x: (a or 0) + x, on_close=close)
    await update(ctx, "count", lambda c: (c or 0) + 1, int)
    return [w.start_ms for w in windows]


@obj.handler()
async def hop(ctx: ObjectContext, amount: int) -> int:
    return len(await HOPPING.add(ctx, amount, reduce=lambda a, x: (a or 0) + x, on_close=close))


@obj.handler()
async def close(ctx: ObjectContext, window: Window) -> int | None:
    return await MINUTE.close(ctx, window, type_hint=int)


@obj.handler()
async def seen(ctx: ObjectContext) -> None:
    ctx.set("seen", True)
    await TTL.touch(ctx, on_expire=expire)


@obj.handler()
async def expire(ctx: ObjectContext, deadline: int) -> bool:
    return await TTL.expire(ctx, on_expire=expire)


@obj.handler()
async def click(ctx: ObjectContext, c: Click) -> list[str] | None:
    joined = await JOIN.on_record(ctx, c)
    return None if joined is None else [joined[0].page, joined[1].name]


@obj.handler()
async def profile(ctx: ObjectContext, p: Profile) -> list[list[str]]:
    return [[c.page, r.name] for c, r in await JOIN.on_row(ctx, p)]


class Object:
    """Runs handlers of one key in turn, carrying the state like the runtime does."""

    def __init__(self) -> None:
        self.state: dict[str, bytes] = {}
        self.sends: list[SendCommand] = []

    async def call(self, handler: str, arg: Any, at_s: float) -> Any:
        rt = FakeRuntime(
            obj.handlers[handler],
            input=msgspec.json.encode(arg),
            key="u1",
            state=self.state,
            clock=lambda: at_s,
        )
        status = await rt.run()
        assert isinstance(status, Done) and status.failure is None, status
        self.state = rt.state
        self.sends += [e for e in rt.journal if isinstance(e, SendCommand)]
        return output_json(status)


def test_window_assignment() -> None:
    assert MINUTE.windows_for(125_000) == [Window(120_000, 180_000)]
    assert HOPPING.windows_for(125_000) == [
        Window(80_000, 140_000),
        Window(100_000, 160_000),
        Window(120_000, 180_000),
    ]
    with pytest.raises(ValueError, match="hop"):
        Windows(size=timedelta(seconds=10), hop=timedelta(seconds=20))
    with pytest.raises(ValueError, match="size"):
        Windows(size=timedelta(0))


async def test_first_record_of_a_window_arms_one_wall_clock_timer() -> None:
    o = Object()
    assert await o.call("add", 5, at_s=125.0) == [120_000]
    assert await o.call("add", 7, at_s=170.0) == [120_000]
    assert len(o.sends) == 1  # one timer per window, not per record
    send = o.sends[0]
    assert (send.handler, send.key, send.invoke_time_ms) == ("close", "u1", 180_000)
    assert json.loads(send.param) == {"start_ms": 120_000, "end_ms": 180_000}
    assert await o.call("add", 1, at_s=185.0) == [180_000]  # next window, next timer
    assert len(o.sends) == 2
    # The timer fires: the total comes out once and the window is forgotten.
    assert await o.call("close", {"start_ms": 120_000, "end_ms": 180_000}, at_s=180.0) == 12
    assert await o.call("close", {"start_ms": 120_000, "end_ms": 180_000}, at_s=181.0) is None
    assert json.loads(o.state["count"]) == 3


async def test_hopping_windows_and_late_records() -> None:
    o = Object()
    assert await o.call("hop", 1, at_s=125.0) == 3
    assert len(o.sends) == 3
    o.state["window:closed_until"] = b"180000"  # as if those windows had closed
    # Late: counted at 180 s instead (three open windows, new timers), never dropped.
    assert await o.call("hop", 1, at_s=125.0) == 3
    assert [json.loads(s.param)["start_ms"] for s in o.sends[3:]] == [140_000, 160_000, 180_000]


def test_late_assignment_moves_a_late_record_to_the_earliest_open_instant() -> None:
    assert late_assignment(125_000, 125_000, 0, 0) == 125_000  # on time
    assert late_assignment(125_000, 130_000, 180_000, 0) == 180_000  # its window was closed
    assert late_assignment(100_000, 190_000, 120_000, 5_000) == 185_000  # past end + grace
    for at, now, closed, grace in [(59_999, 60_001, 0, 0), (1, 120_000, 60_000, 0)]:
        t = late_assignment(at, now, closed, grace)
        assert all(w.end_ms > closed and w.end_ms + grace > now for w in HOPPING.windows_for(t))


async def test_a_record_arriving_after_its_window_closed_lands_in_the_current_window() -> None:
    """Regression (ADR 0010): the close handler ran (closed_until = 180 s) and then a record
    stamped inside the closed window arrives: it must be emitted with the next window."""
    o = Object()
    assert await o.call("add", 5, at_s=179.0) == [120_000]
    assert await o.call("close", {"start_ms": 120_000, "end_ms": 180_000}, at_s=180.0) == 5
    o.state["window:closed_until"] = b"180000"
    # The record's own clock (e.g. another node's, or a replayed journaled time) says 179.9 s.
    assert await o.call("add", 7, at_s=179.9) == [180_000]
    assert await o.call("close", {"start_ms": 180_000, "end_ms": 240_000}, at_s=240.0) == 7


def _order_totals() -> Any:
    path = Path(__file__).resolve().parents[3] / "examples" / "order_totals.py"
    spec = importlib.util.spec_from_file_location("order_totals_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_order_totals_counts_an_order_whose_clock_reads_straddle_a_window_end() -> None:
    """Regression (ADR 0010): ``add`` read the journaled clock twice (its own ``now``, then
    ``Windows.add``'s); under load the two reads straddled the window end, the window counted
    as already closed and the order was dropped from every window (lifetime had it)."""
    ex = _order_totals()
    ticks = iter([59.999, 60.001, 60.002, 60.003])
    rt = FakeRuntime(
        ex.totals.handlers["add"],
        input=b'{"id": "o1", "amount": 5}',
        key="u1",
        state={},
        clock=lambda: next(ticks),
    )
    status = await rt.run()
    assert isinstance(status, Done) and status.failure is None, status
    assert json.loads(rt.state["lifetime"]) == {"orders": 1, "total": 5.0}
    window_state = {k: json.loads(v) for k, v in rt.state.items() if k.startswith("window:")}
    assert list(window_state.values()) == [{"orders": 1, "total": 5.0}]
    closes = [e for e in rt.journal if isinstance(e, SendCommand) and e.handler == "close"]
    assert len(closes) == 1
    w = json.loads(closes[0].param)
    assert f"window:{w['start_ms']}-{w['end_ms']}" in window_state
    assert closes[0].invoke_time_ms is not None and closes[0].invoke_time_ms >= w["end_ms"]


async def test_ttl_clears_state_only_after_a_full_idle_period() -> None:
    o = Object()
    await o.call("seen", None, at_s=100.0)
    assert len(o.sends) == 1 and o.sends[0].invoke_time_ms == 130_000
    await o.call("seen", None, at_s=120.0)  # touched again: no second timer
    assert len(o.sends) == 1
    assert await o.call("expire", 130_000, at_s=130.0) is False  # re-armed for 150 s
    assert len(o.sends) == 2 and o.sends[1].invoke_time_ms == 150_000
    assert "seen" in o.state
    assert await o.call("expire", 150_000, at_s=150.0) is True
    assert o.state == {}


async def test_enrichment_buffers_records_until_the_row_arrives() -> None:
    o = Object()
    assert await o.call("click", {"page": "/a"}, at_s=1.0) is None
    assert await o.call("click", {"page": "/b"}, at_s=2.0) is None
    assert await o.call("profile", {"name": "Ann"}, at_s=3.0) == [["/a", "Ann"], ["/b", "Ann"]]
    assert await o.call("click", {"page": "/c"}, at_s=4.0) == ["/c", "Ann"]
    assert await o.call("profile", {"name": "Bo"}, at_s=5.0) == []
    assert await o.call("click", {"page": "/d"}, at_s=6.0) == ["/d", "Bo"]
