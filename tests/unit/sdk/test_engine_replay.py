"""Determinism: live vs always-replay vs replay from any persisted prefix."""

from __future__ import annotations

import collections
from datetime import timedelta
from typing import Any

import pytest

import sdk as restate
from sdk import Context, ObjectContext, RunOptions, TerminalError, is_internal_exception
from sdk.engine import (
    Blocked,
    CallCommand,
    CancelInvocationCommand,
    Command,
    Completion,
    Done,
    Failed,
    Failure,
    HandlerDefinition,
    InputCommand,
    Result,
    SendCommand,
    SleepCommand,
    Value,
    Void,
)
from tests.unit.sdk import handlers as h
from tests.unit.sdk.fake_runtime import FakeRuntime, Script, json_value, output_json

shop = restate.VirtualObject("Shop")
actions: collections.Counter[str] = collections.Counter()
log = restate.getLogger("tests.shop")


def act(name: str, value: Any) -> Any:
    actions[name] += 1
    return value


@shop.handler()
async def buy(ctx: ObjectContext, item: str) -> dict[str, Any]:
    log.info("buying %s", item)
    stock = await ctx.get("stock", type_hint=int) or 0
    price = await ctx.run_typed("price", act, RunOptions(), "price", 42)
    ctx.set("stock", stock + 1)

    reservation = ctx.object_call(h.reserve, key=item, arg=2)
    deadline = ctx.sleep(timedelta(seconds=10), name="deadline")
    winner, reserved = await restate.select(reserved=reservation, timeout=deadline)

    awakeable_id, approval = ctx.awakeable(type_hint=str)
    handle = ctx.service_send(h.charge, price, send_delay=timedelta(seconds=1))

    a = ctx.run_typed("a", act, RunOptions(), "a", 1)
    b = ctx.service_call(h.charge, 5)
    c = ctx.run_typed("c", act, RunOptions(), "c", 3)
    gathered = [await f for f in await restate.gather(a, b, c)]

    order = []
    async for f in restate.as_completed(
        ctx.sleep(timedelta(seconds=1), name="s1"), ctx.service_call(h.refund, 3)
    ):
        order.append(await f)

    done, pending = await restate.wait_completed(ctx.sleep(timedelta(seconds=2)), approval)
    approved = await approval
    keys = await ctx.state_keys()
    ctx.clear("tmp")
    return {
        "stock": stock,
        "price": price,
        "winner": winner,
        "reserved": reserved,
        "awakeable": awakeable_id,
        "send": await handle.invocation_id(),
        "gathered": gathered,
        "order": order,
        "wait_completed": [len(done), len(pending)],
        "approved": approved,
        "keys": keys,
        "random": ctx.random().randint(0, 10**6),
        "uuid": str(ctx.uuid()),
    }


def shop_script() -> Script:
    return Script(
        calls={
            ("Inventory", "reserve"): lambda c: Value(c.param),
            ("Payments", "charge"): lambda c: json_value(f'"charged {c.param.decode()}"'),
            ("Payments", "refund"): json_value('"refunded"'),
        },
        awakeables=[json_value('"approved"')],
    )


async def _run(handler: HandlerDefinition, **kw: Any) -> tuple[FakeRuntime, Any]:
    rt = FakeRuntime(handler, **kw)
    status = await rt.run()
    return rt, status


async def test_always_replay_matches_live() -> None:
    actions.clear()
    live, live_status = await _run(
        shop.handlers["buy"], input=b'"hat"', key="s1", state={"stock": b"4"}, script=shop_script()
    )
    live_actions = dict(actions)
    actions.clear()
    replayed, replay_status = await _run(
        shop.handlers["buy"],
        input=b'"hat"',
        key="s1",
        state={"stock": b"4"},
        script=shop_script(),
        always_replay=True,
    )
    assert isinstance(live_status, Done), live_status
    assert replay_status == live_status
    assert replayed.journal == live.journal
    assert dict(actions) == live_actions == {"price": 1, "a": 1, "c": 1}
    assert replayed.drivers_created > 5
    out = output_json(live_status)
    assert out["stock"] == 4 and out["price"] == 42
    assert out["winner"] == "reserved" and out["reserved"] == 2
    assert out["gathered"] == [1, "charged 5", 3]
    assert out["approved"] == "approved"
    assert out["keys"] == ["stock"]
    assert live.state == {"stock": b"5"}


async def test_replay_from_every_persisted_prefix() -> None:
    """A new driver given any journal the runtime could have persisted ends identically."""
    actions.clear()
    live, live_status = await _run(
        shop.handlers["buy"], input=b'"hat"', key="s1", state={"stock": b"4"}, script=shop_script()
    )
    boundaries = sorted({p.journal_length for p in live.progress_log})
    assert len(boundaries) > 5
    for cut in boundaries:
        rt = FakeRuntime(
            shop.handlers["buy"],
            input=b'"hat"',
            key="s1",
            state={"stock": b"4"},
            script=shop_script(),
        )
        rt.persist(live.journal[:cut])
        status = await rt.run()
        assert status == live_status, cut
        assert rt.journal == live.journal, cut


async def test_logging_suppressed_during_replay(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="tests.shop")
    await _run(
        shop.handlers["buy"],
        input=b'"hat"',
        key="s1",
        state={},
        script=shop_script(),
        always_replay=True,
    )
    assert [r.getMessage() for r in caplog.records if r.name == "tests.shop"] == ["buying hat"]


# --- combinators: the journal order decides ------------------------------------------

combi = restate.Service("Combinators")


@combi.handler()
async def three_sleeps(ctx: Context) -> list[str]:
    fs = {ctx.sleep(timedelta(seconds=i), name=f"s{i}"): f"s{i}" for i in (1, 2, 3)}
    order = []
    async for f in restate.as_completed(*fs):
        await f
        order.append(fs[f])  # type: ignore[index]
    return order


@combi.handler()
async def first_of_two(ctx: Context) -> str:
    name, _ = await restate.select(
        one=ctx.sleep(timedelta(seconds=1)), two=ctx.sleep(timedelta(seconds=2))
    )
    return str(name)


@combi.handler()
async def partial_wait(ctx: Context) -> list[int]:
    f1, f2, f3 = (ctx.sleep(timedelta(seconds=i)) for i in (1, 2, 3))
    done, pending = await restate.wait_completed(f1, f2, f3)
    return [len(done), len(pending)]


@combi.handler()
async def gather_failure(ctx: Context) -> list[str]:
    ok = ctx.service_call(h.charge, 1)
    bad = ctx.service_call(h.refund, 2)
    out = []
    for f in await restate.gather(ok, bad):
        try:
            out.append(await f)
        except TerminalError as e:
            out.append(f"{e.status_code} {e.message}")
    return out


@combi.handler()
async def foreign_future(ctx: Context) -> str:
    import asyncio

    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    try:
        await restate.gather(ctx.sleep(timedelta(seconds=1)), fut)  # type: ignore[arg-type]
    except TypeError as e:
        return str(e)
    return "accepted"


async def _feed_in_order(handler: HandlerDefinition, order: list[int]) -> tuple[Any, FakeRuntime]:
    """Block, then deliver completions for ``order`` (command indexes) in one batch."""
    rt = FakeRuntime(handler)
    p = await rt.step()
    assert isinstance(p.status, Blocked)
    rt.notify(*(Completion(i, Void()) for i in order))
    while True:
        p = await rt.step()
        if isinstance(p.status, Done | Failed):
            return p.status, rt
        assert isinstance(p.status, Blocked) and not p.status.awaiting, p.status


async def test_as_completed_follows_journal_order() -> None:
    status, rt = await _feed_in_order(combi.handlers["three_sleeps"], [3, 1, 2])
    assert output_json(status) == ["s3", "s1", "s2"]
    # Fresh replay of that journal: same order.
    replay = FakeRuntime(combi.handlers["three_sleeps"], journal=rt.journal[:-1])
    assert output_json(await replay.run()) == ["s3", "s1", "s2"]


async def test_select_picks_first_in_journal_not_lowest_index() -> None:
    status, rt = await _feed_in_order(combi.handlers["first_of_two"], [2, 1])
    assert output_json(status) == "two"
    replay = FakeRuntime(combi.handlers["first_of_two"], journal=rt.journal[:-1])
    assert output_json(await replay.run()) == "two"


async def test_wait_completed_sees_only_what_was_visible() -> None:
    """All three fired in one batch, but the await is satisfied by the first one."""
    status, rt = await _feed_in_order(combi.handlers["partial_wait"], [2, 1, 3])
    assert output_json(status) == [1, 2]
    replay = FakeRuntime(combi.handlers["partial_wait"], journal=rt.journal[:-1])
    assert output_json(await replay.run()) == [1, 2]


async def test_gather_waits_for_failures_too() -> None:
    script = Script(
        calls={
            ("Payments", "charge"): json_value('"charged 1"'),
            ("Payments", "refund"): Failure(400, "no refunds"),
        }
    )
    status = await FakeRuntime(combi.handlers["gather_failure"], script=script).run()
    assert output_json(status) == ["charged 1", "400 no refunds"]


async def test_combinators_reject_foreign_futures() -> None:
    out = output_json(await FakeRuntime(combi.handlers["foreign_future"]).run())
    assert "only futures created by the SDK context" in out


# --- cancellation --------------------------------------------------------------------------

cancel_svc = restate.Service("CancelTests")
compensated: list[str] = []


@cancel_svc.handler()
async def two_calls(ctx: Context) -> str:
    first = ctx.service_call(h.charge, 1)
    second = ctx.service_call(h.charge, 2)
    done = ctx.service_call(h.refund, 3)
    ctx.service_send(h.refund, 4)
    await done
    try:
        await restate.gather(first, second)
    except TerminalError as e:
        assert (e.status_code, e.message) == (409, "cancelled")
        await ctx.run_typed("compensate", lambda: compensated.append("x") or "undone")
        return "compensated"
    return "not cancelled"


def _never_charge(rt: FakeRuntime, index: int, cmd: Command) -> Result | None:
    if isinstance(cmd, CallCommand) and cmd.handler == "refund":
        return json_value('"refunded"')
    if isinstance(cmd, SleepCommand):
        return Void()
    return None


@pytest.mark.parametrize("always_replay", [False, True])
async def test_cancellation(always_replay: bool) -> None:
    compensated.clear()
    rt = FakeRuntime(
        cancel_svc.handlers["two_calls"], responder=_never_charge, always_replay=always_replay
    )
    status = await rt.run()
    assert isinstance(status, Blocked)
    rt.cancel()
    status = await rt.run()
    assert output_json(status) == "compensated"
    assert compensated == ["x"]
    calls = {i: c for i, c in enumerate(rt.commands()) if isinstance(c, CallCommand | SendCommand)}
    cancelled = [c.invocation_id for c in rt.commands() if isinstance(c, CancelInvocationCommand)]
    # Only the two in-flight request-response calls: not the completed call, not the send.
    assert cancelled == [calls[1].invocation_id, calls[2].invocation_id]


async def test_uncaught_cancellation_fails_with_409() -> None:
    rt = FakeRuntime(h.APP.handler("Orders", "guarded"), input=b"1")
    assert isinstance(await rt.run(), Blocked)
    rt.cancel()
    status = await rt.run()
    assert isinstance(status, Done)
    assert status.failure == Failure(409, "cancelled")


# --- suspension cannot be swallowed ----------------------------------------------------------

swallow = restate.Service("Swallow")
swallowed: list[str] = []


@swallow.handler()
async def broad_except(ctx: Context) -> str:
    try:
        await ctx.sleep(timedelta(seconds=1))
    except Exception:
        swallowed.append("Exception")
    try:
        await ctx.sleep(timedelta(seconds=2))
    except BaseException as e:
        if is_internal_exception(e):
            raise
        swallowed.append("BaseException")
    return "slept"


async def test_suspension_is_not_swallowed_by_except_exception() -> None:
    swallowed.clear()
    rt = FakeRuntime(swallow.handlers["broad_except"], always_replay=True)
    assert output_json(await rt.run()) == "slept"
    assert swallowed == []
    assert rt.drivers_created == 3


async def test_close_evicts_live_handler() -> None:
    swallowed.clear()
    rt = FakeRuntime(swallow.handlers["broad_except"], script=Script(sleeps_fire=False))
    status = await rt.run()
    assert isinstance(status, Blocked) and status.resumable
    assert rt.driver is not None
    await rt.driver.close()
    assert rt.driver.finished
    assert swallowed == []


# --- more determinism edges -----------------------------------------------------------------

raw = restate.Service("RawAsyncio")


@raw.handler()
async def raw_gather(ctx: Context) -> list[int]:
    import asyncio

    async def branch(i: int) -> int:
        await ctx.sleep(timedelta(seconds=i))
        return await ctx.run_typed(f"r{i}", act, RunOptions(), f"r{i}", i * 10)

    return list(await asyncio.gather(branch(1), branch(2)))


async def test_raw_asyncio_concurrency_works() -> None:
    actions.clear()
    live, live_status = await _run(raw.handlers["raw_gather"])
    replayed, replay_status = await _run(raw.handlers["raw_gather"], always_replay=True)
    assert output_json(live_status) == output_json(replay_status) == [10, 20]
    assert actions == {"r1": 2, "r2": 2}  # once per run of the scenario


async def test_handler_finishing_early_is_nondeterministic() -> None:
    """The journal has a command the (new) handler never issues."""
    rt = FakeRuntime(h.APP.handler("Payments", "charge"), input=b"1")
    rt.persist([InputCommand(body=b"1"), SleepCommand(wake_up_time_ms=1, name="old")])
    status = await rt.run()
    assert isinstance(status, Failed) and status.code == 570
    assert status.message == (
        "Non-deterministic journal at command 1: expected Sleep(name='old') "
        "but handler issued Output()"
    )
