"""Services for the cancellation, kill and combinator e2e tests.

What a handler did is recorded in Redis *outside* the journal (``RT_TEST_REDIS``
and ``RT_TEST_NS`` come from the test): ``ctx.run`` bodies push to a list, so a
test sees their order and that each ran exactly once; plain lines push on every
execution, so a test sees what each replay decided.
"""

from __future__ import annotations

import os
from datetime import timedelta

import redis

import sdk as restate
from sdk import Context, ObjectContext, TerminalError

_URL = os.environ.get("RT_TEST_REDIS")
_r = redis.Redis.from_url(_URL) if _URL else None
NS = os.environ.get("RT_TEST_NS", "test")


def _rec(tag: str, what: str) -> str:
    assert _r is not None, "needs RT_TEST_REDIS"
    _r.rpush(f"{NS}:saga:{tag}", what)
    return what


def _note(key: str, value: str) -> None:
    assert _r is not None, "needs RT_TEST_REDIS"
    _r.rpush(f"{NS}:{key}", value)


# --- a saga through a call chain of three: A calls B calls C ---------------------------

saga_c = restate.Service("SagaC")
saga_b = restate.Service("SagaB")
saga_a = restate.Service("SagaA")


async def _saga(ctx: Context, tag: str, name: str, steps: int, then: object) -> str:
    """Run ``steps`` journaled steps, then wait; on TerminalError undo them in reverse."""
    assert _r is not None
    _r.set(f"{NS}:id:{tag}:{name}", ctx.request().id)
    done: list[str] = []
    try:
        for i in range(1, steps + 1):
            step = f"{name}{i}"
            await ctx.run_typed(f"do-{step}", _rec, restate.RunOptions(), tag, f"do:{step}")
            done.append(step)
        if callable(then):
            return str(await then())
        return "unreachable"
    except TerminalError:
        for step in reversed(done):
            await ctx.run_typed(f"undo-{step}", _rec, restate.RunOptions(), tag, f"undo:{step}")
        raise


@saga_c.handler()
async def c_run(ctx: Context, tag: str) -> str:
    async def wait() -> str:
        awk_id, awk = ctx.awakeable(type_hint=str)
        assert _r is not None
        _r.set(f"{NS}:awk:{tag}", awk_id)
        return await awk

    return await _saga(ctx, tag, "c", 2, wait)


@saga_b.handler()
async def b_run(ctx: Context, tag: str) -> str:
    return await _saga(ctx, tag, "b", 2, lambda: ctx.service_call(c_run, tag))


@saga_a.handler()
async def a_run(ctx: Context, tag: str) -> str:
    return await _saga(ctx, tag, "a", 3, lambda: ctx.service_call(b_run, tag))


retrier = restate.Service("Retrier")


@retrier.handler(
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(minutes=5), max_interval=timedelta(minutes=5)
    )
)
async def flaky_saga(ctx: Context, tag: str) -> str:
    """Fails its first attempt (then backs off for minutes), waits forever on later ones."""
    assert _r is not None
    await ctx.run_typed("do-r1", _rec, restate.RunOptions(), tag, "do:r1")
    try:
        if int(_r.incr(f"{NS}:attempts:{tag}")) == 1:
            raise RuntimeError("transient failure")
        await ctx.sleep(timedelta(days=1))
        return "slept"
    except TerminalError:
        await ctx.run_typed("undo-r1", _rec, restate.RunOptions(), tag, "undo:r1")
        raise


# --- locks and kill ----------------------------------------------------------------------

locker = restate.VirtualObject("Locker")


@locker.handler()
async def hold(ctx: ObjectContext, tag: str) -> str:
    """Holds the key's lock until an awakeable nobody resolves."""
    assert _r is not None
    _r.set(f"{NS}:id:{tag}:hold", ctx.request().id)
    _, awk = ctx.awakeable(type_hint=str)
    ctx.set("held", True)
    await awk
    _note(f"after-hold:{tag}", "reached")  # a kill never gets here
    return "released"


@locker.handler()
async def quick(ctx: ObjectContext) -> str:
    return f"quick {ctx.key()}"


parent = restate.Service("Parent")


@parent.handler()
async def hold_via_call(ctx: Context, key: str) -> str:
    """Calls Locker/{key}/hold and waits for it: killing this kills the callee too."""
    assert _r is not None
    _r.set(f"{NS}:id:{key}:parent", ctx.request().id)
    return await ctx.object_call(hold, key, f"{key}-child")


resolver = restate.Service("Resolver")


@resolver.handler()
async def resolve(ctx: Context, req: list[str]) -> str:
    """``[awakeable_id, value]``: resolve an awakeable from a handler."""
    ctx.resolve_awakeable(req[0], req[1])
    return "ok"


@resolver.handler()
async def cancel(ctx: Context, invocation_id: str) -> str:
    """Cancel another invocation from a handler (``ctx.cancel_invocation``)."""
    ctx.cancel_invocation(invocation_id)
    return "ok"


# --- combinators, checked across replays ------------------------------------------------

racer = restate.VirtualObject("Racer")


@racer.handler()
async def race(ctx: ObjectContext, ms: int) -> str:
    """select(awakeable, sleep): the branch taken must be the same on every replay."""
    awk_id, awk = ctx.awakeable(type_hint=str)
    assert _r is not None
    _r.set(f"{NS}:awk:race:{ctx.key()}", awk_id)
    sleep = ctx.sleep(timedelta(milliseconds=ms))
    name, _ = await restate.select(awk=awk, timeout=sleep)
    _note(f"branch:{ctx.key()}", str(name))
    # Wait for the other one too: later replays see both completed and must still agree.
    if name == "timeout":
        await awk
    else:
        await sleep
    await ctx.run_typed("after", _rec, restate.RunOptions(), ctx.key(), f"after:{name}")
    return str(name)


sleeper = restate.Service("Sleeper")


@sleeper.handler()
async def nap(ctx: Context, ms: int) -> int:
    await ctx.sleep(timedelta(milliseconds=ms))
    return ms


gatherer = restate.VirtualObject("Gatherer")


@gatherer.handler()
async def order(ctx: ObjectContext, delays: list[int]) -> list[int]:
    """as_completed over calls with different delays: the order must not change on replay."""
    futures = [ctx.service_call(nap, d) for d in delays]
    seen: list[int] = []
    async for f in restate.as_completed(*futures):
        seen.append(await f)
    _note(f"order:{ctx.key()}", ",".join(map(str, seen)))
    done, pending = await restate.wait_completed(
        ctx.service_call(nap, 1), ctx.sleep(timedelta(days=1))
    )
    assert len(done) == 1 and len(pending) == 1
    gathered = await restate.gather(*(ctx.service_call(nap, d) for d in delays))
    total = [await g for g in gathered]
    assert total == delays
    return seen


app = restate.app(
    [saga_a, saga_b, saga_c, retrier, locker, parent, resolver, racer, sleeper, gatherer]
)
