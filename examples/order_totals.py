"""Per-user order totals in 1-minute windows, written to a Kafka topic exactly once.

A stateful stream pipeline on a virtual object keyed by user: each order record
is folded into its tumbling window; the window closes on wall-clock time (a
durable timer armed by its first order), and its total goes to the output topic
through exactly-once egress. Lifetime totals expire after a period without
orders (state TTL).

Its ``add`` handler is what a subscription calls (record value = the order,
record key = the user); it can also be called over HTTP:

    rt dev examples/order_totals.py
    kafka-topics.sh --create --topic order-totals ...   # the output topic must exist
    curl -s localhost:8080/OrderTotals/alice/add -H 'content-type: application/json' \\
        -d '{"id": "o1", "amount": 12.5}'
    # about a minute later, on order-totals:
    # {"user": "alice", "window_start_ms": ..., "window_end_ms": ..., "orders": 1, "total": 12.5}

Environment: ``ORDER_TOTALS_TOPIC`` (default ``order-totals``), ``WINDOW_SECONDS``
(default 60), ``LIFETIME_TTL_SECONDS`` (default 86400).
"""

from __future__ import annotations

import os
from datetime import timedelta

import msgspec

import sdk as restate
from sdk import ObjectContext, ObjectSharedContext
from sdk.kafka import emit
from sdk.pipelines import StateTTL, Window, Windows, now_ms

TOPIC = os.environ.get("ORDER_TOTALS_TOPIC", "order-totals")
WINDOWS = Windows(size=timedelta(seconds=float(os.environ.get("WINDOW_SECONDS", "60"))))
LIFETIME = StateTTL(
    ttl=timedelta(seconds=float(os.environ.get("LIFETIME_TTL_SECONDS", "86400"))),
    keys=("lifetime",),
)


class Order(msgspec.Struct):
    id: str
    amount: float


class Totals(msgspec.Struct):
    orders: int = 0
    total: float = 0.0


def _fold(acc: Totals | None, order: Order) -> Totals:
    acc = acc or Totals()
    return Totals(acc.orders + 1, round(acc.total + order.amount, 2))


totals = restate.VirtualObject("OrderTotals")


@totals.handler()
async def add(ctx: ObjectContext, order: Order) -> None:
    """One order of user ``ctx.key()``: into its window and the lifetime total."""
    now = await now_ms(ctx)
    await WINDOWS.add(ctx, order, reduce=_fold, on_close=close, now=now, type_hint=Totals)
    lifetime = await ctx.get("lifetime", type_hint=Totals)
    ctx.set("lifetime", _fold(lifetime, order))
    await LIFETIME.touch(ctx, on_expire=expire, at_ms=now)


@totals.handler()
async def close(ctx: ObjectContext, window: Window) -> None:
    """The window's timer fired: emit its total (exactly once) and forget it."""
    acc = await WINDOWS.close(ctx, window, type_hint=Totals)
    if acc is None:
        return
    result = {
        "user": ctx.key(),
        "window_start_ms": window.start_ms,
        "window_end_ms": window.end_ms,
        "orders": acc.orders,
        "total": acc.total,
    }
    emit(ctx, TOPIC, result, key=ctx.key())


@totals.handler()
async def expire(ctx: ObjectContext, deadline: int) -> None:
    """TTL timer: drop the lifetime total if the user has been idle for the whole TTL."""
    await LIFETIME.expire(ctx, on_expire=expire)


@totals.handler(kind="shared")
async def lifetime(ctx: ObjectSharedContext) -> Totals | None:
    """The user's lifetime totals (None once expired)."""
    return await ctx.get("lifetime", type_hint=Totals)


app = restate.app([totals])
