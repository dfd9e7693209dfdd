"""Handlers whose completed invocations the history lists: success, terminal failure,
killed (a long sleep), and one with a 1 s idempotency retention (trimmed soon)."""

from __future__ import annotations

from datetime import timedelta

import sdk as restate
from sdk import Context, TerminalError

hist = restate.Service("Hist")


@hist.handler()
async def echo(ctx: Context, x: str) -> str:
    return x


@hist.handler()
async def fail(ctx: Context, x: str) -> str:
    raise TerminalError(f"no {x}", status_code=422)


@hist.handler()
async def nap(ctx: Context) -> None:
    await ctx.sleep(timedelta(hours=1))


@hist.handler(idempotency_retention=timedelta(seconds=1))
async def brief(ctx: Context, x: str) -> str:
    return x
