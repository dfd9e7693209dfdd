"""A service whose handler starts its own OpenTelemetry span and calls another service."""

from __future__ import annotations

from opentelemetry import trace

import sdk as restate
from sdk import Context

front = restate.Service("Front")
back = restate.Service("Back")


@back.handler()
async def leaf(ctx: Context, n: int) -> int:
    return n + 1


@front.handler()
async def work(ctx: Context, n: int) -> int:
    with trace.get_tracer("user-code").start_as_current_span("user span"):
        doubled = await ctx.run("double", lambda: n * 2)
    return await ctx.service_call(leaf, doubled)


app = restate.app([front, back])
