"""Services for the shutdown and payload-limit e2e tests: invocations that never end,
and handlers that move large values through every path a payload takes."""

from __future__ import annotations

import asyncio

import sdk as restate
from sdk import Context, ObjectContext

stuck = restate.Service("Stuck")


@stuck.handler()
async def retrying(ctx: Context, msg: str) -> str:
    """Never ends: every attempt fails with a retryable error."""
    raise RuntimeError(f"not yet: {msg}")


@stuck.handler()
async def hanging(ctx: Context, msg: str) -> str:
    """Never ends: the attempt runs forever."""
    await asyncio.sleep(3600)
    return msg


big = restate.Service("Big")


@big.handler()
async def echo(ctx: Context, text: str) -> str:
    return text


@big.handler()
async def run_result(ctx: Context, size: int) -> int:
    """A ``ctx.run`` whose result is ``size`` characters long."""

    async def make() -> str:
        return "r" * size

    out = await ctx.run("make", make)
    return len(out)


@big.handler()
async def call_echo(ctx: Context, text: str) -> int:
    """Sends ``text`` as the argument of a call and gets it back as its result."""
    out = await ctx.service_call(echo, arg=text)
    return len(out)


blob = restate.VirtualObject("Blob")


@blob.handler()
async def put(ctx: ObjectContext, size: int) -> int:
    ctx.set("v", "s" * size)
    return size


@blob.handler()
async def length(ctx: ObjectContext) -> int:
    v = await ctx.get("v", type_hint=str)
    return len(v or "")


@blob.handler()
async def put_two(ctx: ObjectContext, size: int) -> int:
    """Two state values that each fit the limit but not together into one log record."""
    ctx.set("v", "a" * size)
    ctx.set("w", "b" * size)
    return 2 * size
