"""Services that rt's own SDK serves over Restate's protocol in the endpoint tests.

Imported by the unit tests (ASGI in memory) and by the integration tests, which run
``served:app`` under real uvicorn and hypercorn processes.
"""

from __future__ import annotations

import os
from datetime import timedelta

import sdk as restate
from sdk import Context, ObjectContext, TerminalError
from sdk.exceptions import RetryableError
from sdk.kafka import RAW, emit
from sdk.pipelines import Window, Windows

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    return f"Hello {name}"


caller = restate.Service("Caller")


@caller.handler()
async def call_greeter(ctx: Context, name: str) -> str:
    call = ctx.service_call(greet, arg=name)
    callee = await call.invocation_id()
    greeting = await call
    ctx.service_send(greet, arg=f"{name} (sent)")
    return f"{greeting} from {callee}"


counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, delta: int) -> int:
    count = (await ctx.get("count", type_hint=int) or 0) + delta
    ctx.set("count", count)
    return count


runner = restate.Service("Runner")


@runner.handler()
async def double(ctx: Context, n: int) -> int:
    doubled = await ctx.run("double", lambda: n * 2)
    return await ctx.run("again", lambda: doubled * 2)


def _refuse() -> int:
    raise TerminalError("card declined", status_code=402)


@runner.handler()
async def charge(ctx: Context) -> int:
    return await ctx.run("charge", _refuse)


sleeper = restate.Service("Sleeper")


@sleeper.handler()
async def nap(ctx: Context, ms: int) -> str:
    await ctx.sleep(timedelta(milliseconds=ms))
    return "rested"


failing = restate.Service("Failing")


@failing.handler()
async def refuse(ctx: Context) -> None:
    raise TerminalError("not a teapot", status_code=418)


@failing.handler()
async def later(ctx: Context) -> None:
    raise RetryableError("busy", status_code=503, retry_after=timedelta(seconds=2))


publisher = restate.Service("Publisher")


@publisher.handler()
async def publish(ctx: Context, text: str) -> None:
    emit(ctx, "events", text.encode(), key=b"k", headers={"h": b"v"}, serde=RAW)


awaiter = restate.Service("Awaiter")


@awaiter.handler()
async def wait(ctx: Context) -> str:
    name, answer = ctx.awakeable(type_hint=str)
    return f"{name}={await answer}"


@awaiter.handler()
async def resolve(ctx: Context, name: str) -> None:
    ctx.resolve_awakeable(name, "yes")


@awaiter.handler()
async def signalled(ctx: Context) -> str:
    """Two named signals; no journal command waits for them behind the protocol."""
    first = await ctx.signal("go", type_hint=str)
    second = await ctx.signal("go", type_hint=str)
    return f"{first}+{second}"


@awaiter.handler()
async def send_signal(ctx: Context, target: str) -> None:
    ctx.resolve_signal(target, "go", "yes")


totals = restate.VirtualObject("Totals")
minutes = Windows(size=timedelta(minutes=1))


@totals.handler()
async def record(ctx: ObjectContext, amount: int) -> None:
    await minutes.add(ctx, amount, reduce=lambda acc, x: (acc or 0) + x, on_close=close)


@totals.handler()
async def close(ctx: ObjectContext, window: Window) -> None:
    total = await minutes.close(ctx, window, type_hint=int)
    if total is not None:
        emit(ctx, "totals", {"user": ctx.key(), "start": window.start_ms, "total": total})


SERVICES = [greeter, caller, counter, runner, sleeper, failing, publisher, awaiter, totals]

app = restate.app(
    SERVICES,
    identity_keys=[k for k in os.environ.get("RT_TEST_IDENTITY_KEYS", "").split(",") if k],
)
