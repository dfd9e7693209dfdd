"""``sdk.pipelines``: windows, TTL and enrichment joins as plain journaled SDK calls."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import msgspec
import pytest

import sdk as restate
from sdk import ObjectContext
from sdk.engine import Done, SendCommand
from sdk.pipelines import Enrichment, StateTTL, Window, Windows, now_ms, update
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
async def add_sampled(ctx: ObjectContext, amount: int) -> list[int]:
    """As examples/order_totals.py: the time taken first, then passed to ``add``."""
    at = await now_ms(ctx)
    windows = await MINUTE.add(ctx, amount, reduce=lambda a, x: (a or 0) + x, on_close=close,
                               at_ms=at)  # fmt: skip
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

    async def call(self, handler: str, arg: Any, at_s: float | list[float]) -> Any:
        """``at_s``: the clock, or its successive readings (the last one repeats)."""
        readings = [at_s] if isinstance(at_s, float) else list(at_s)

        def clock() -> float:
            return readings.pop(0) if len(readings) > 1 else readings[0]

        rt = FakeRuntime(
            obj.handlers[handler],
            input=msgspec.json.encode(arg),
            key="u1",
            state=self.state,
            clock=clock,
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


async def test_a_record_timed_just_before_the_end_counts_in_its_open_window() -> None:
    """Regression (the order-totals lost order): the record's time is taken at 179.999 s,
    the clock reads 180.001 s when it is added. Its window has not closed, so it counts
    (it used to be dropped as late: one order missing from the window results)."""
    o = Object()
    assert await o.call("add_sampled", 5, at_s=[179.999, 180.001]) == [120_000]
    assert len(o.sends) == 1 and o.sends[0].invoke_time_ms == 180_001  # closes at once
    assert await o.call("add_sampled", 2, at_s=[179.9995, 180.002]) == [120_000]
    assert await o.call("close", {"start_ms": 120_000, "end_ms": 180_000}, at_s=180.003) == 7
    # Now it has closed: a record timed inside it is late and not counted.
    assert await o.call("add_sampled", 1, at_s=[179.9999, 180.004]) == []
    assert len(o.sends) == 1


async def test_hopping_windows_and_late_records() -> None:
    o = Object()
    assert await o.call("hop", 1, at_s=125.0) == 3
    assert len(o.sends) == 3
    o.state["window:closed_until"] = b"180000"  # as if those windows had closed
    assert await o.call("hop", 1, at_s=125.0) == 0  # late: nothing counted, no new timer
    assert len(o.sends) == 3


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
