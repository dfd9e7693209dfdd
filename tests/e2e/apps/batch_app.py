"""Services fed by a subscription in the batched-execution e2e tests (``BATCH_EGRESS_TOPIC``).

``Mixed.step`` finishes inline for most records and blocks for some (a sleep, or an
awakeable resolved by another invocation), sends to an object of another key (on
another partition) and emits an egress record: a batch mixes all of these.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import sdk as restate
from sdk import Context, ObjectContext
from sdk.kafka import emit

TOPIC = os.environ.get("BATCH_EGRESS_TOPIC", "batch.out")

mixed = restate.VirtualObject("Mixed")
tally = restate.VirtualObject("Tally")
resolver = restate.Service("Resolver")


@mixed.handler()
async def step(ctx: ObjectContext, rec: dict[str, Any]) -> int:
    """Counts records per key in order; every 3rd runs a step, every 7th sleeps, every
    11th waits on an awakeable."""
    seq = rec["seq"]
    last = (await ctx.get("last")) or 0
    if seq != last + 1:
        ctx.set("errors", ((await ctx.get("errors")) or 0) + 1)
    stamp = await ctx.run("stamp", lambda: seq * 10) if seq % 3 == 0 else seq * 10
    if seq % 7 == 0:
        await ctx.sleep(timedelta(milliseconds=30))
    if seq % 11 == 0:
        awk_id, awk = ctx.awakeable(type_hint=str)
        ctx.service_send(resolve, awk_id)
        await awk
    count = ((await ctx.get("count")) or 0) + 1
    ctx.set("count", count)
    ctx.set("last", seq)
    ctx.set("stamps", ((await ctx.get("stamps")) or 0) + stamp)
    ctx.object_send(add, "total", 1)
    emit(ctx, TOPIC, {"key": ctx.key(), "seq": seq}, key=ctx.key())
    return int(count)


@tally.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    total = ((await ctx.get("total")) or 0) + n
    ctx.set("total", total)
    return int(total)


@resolver.handler()
async def resolve(ctx: Context, awk_id: str) -> None:
    ctx.resolve_awakeable(awk_id, "ok")
