"""Services for the API fuzz test (``tests/e2e/test_api_fuzz.py``).

One of each service type with typed inputs (a primitive, a pydantic model, no input,
an optional input) and a handler that fails terminally. Every handler answers at once:
the fuzzer calls them with whatever their JSON schema allows (and with what it does
not), so nothing here may sleep, call out or wait on anything the fuzzer cannot
complete.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

import sdk as restate
from sdk import (
    Context,
    ObjectContext,
    ObjectSharedContext,
    TerminalError,
    WorkflowContext,
    WorkflowSharedContext,
)


class Order(BaseModel):
    """A typed request body (pydantic validates what the fuzzer sends)."""

    item: str = Field(max_length=64)
    quantity: int = Field(ge=1, le=1000)
    note: str | None = None


echo = restate.Service("Echo")


@echo.handler()
async def text(ctx: Context, value: str) -> str:
    return value


@echo.handler()
async def number(ctx: Context, n: int) -> int:
    return n


@echo.handler()
async def order(ctx: Context, o: Order) -> Order:
    return o


@echo.handler()
async def nothing(ctx: Context) -> str:
    return "ok"


@echo.handler()
async def refuse(ctx: Context, reason: str) -> str:
    raise TerminalError(f"refused: {reason[:40]}", status_code=422)


tally = restate.VirtualObject("Tally")


@tally.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    count = int((await ctx.get("count")) or 0) + n
    ctx.set("count", count)
    return count


@tally.handler(kind="shared")
async def total(ctx: ObjectSharedContext) -> int:
    return int((await ctx.get("count")) or 0)


signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: WorkflowContext, email: str) -> str:
    ctx.set("email", email)
    return f"welcome {email[:40]}"


@signup.handler()
async def status(ctx: WorkflowSharedContext) -> str:
    return str((await ctx.get("email")) or "")


app = restate.app([echo, tally, signup])
