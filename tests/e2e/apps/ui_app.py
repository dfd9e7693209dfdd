"""Services for the web UI's end-to-end test: a rich journal to show, an object to edit.

``Orders/place`` runs a step, fails its first two attempts (counted in Redis outside the
journal), calls ``Payments/charge``, sleeps, then waits on an awakeable nobody resolves,
so the test can find it in flight and cancel it; on cancellation it compensates.
"""

from __future__ import annotations

import os
from datetime import timedelta

import redis

import sdk as restate
from sdk import Context, ObjectContext, ObjectSharedContext, TerminalError

_URL = os.environ.get("RT_TEST_REDIS")
_r = redis.Redis.from_url(_URL) if _URL else None
NS = os.environ.get("RT_TEST_NS", "test")

payments = restate.Service("Payments")
orders = restate.Service("Orders")
cart = restate.VirtualObject("Cart")


@payments.handler()
async def charge(ctx: Context, order: str) -> str:
    """Charge the customer for an order."""
    return await ctx.run_typed("charge-card", lambda: f"charged:{order}")


@orders.handler()
async def place(ctx: Context, order: str) -> str:
    """Reserve, charge, settle, then wait for the warehouse (an awakeable)."""
    assert _r is not None, "needs RT_TEST_REDIS"
    await ctx.run_typed("reserve", lambda: f"reserved:{order}")
    if _r.incr(f"{NS}:attempts:{order}") <= 2:
        raise RuntimeError("payment gateway timed out")
    try:
        await ctx.service_call(charge, order)
        await ctx.sleep(timedelta(milliseconds=20), name="settle")
        awk_id, shipped = ctx.awakeable(type_hint=str)
        _r.set(f"{NS}:awk:{order}", awk_id)
        return await shipped
    except TerminalError:
        await ctx.run_typed("release", lambda: f"released:{order}")
        raise


@cart.handler()
async def add(ctx: ObjectContext, item: str) -> list[str]:
    """Add an item to the cart."""
    items: list[str] = (await ctx.get("items", type_hint=list[str])) or []
    items.append(item)
    ctx.set("items", items)
    return items


@cart.handler(kind="shared")
async def items(ctx: ObjectSharedContext) -> list[str]:
    """The items in the cart."""
    return (await ctx.get("items", type_hint=list[str])) or []


app = restate.app([payments, orders, cart])
